// SPDX-License-Identifier: GPL-2.0-only
/*
 * Handing client connections to the kernel fast path between requests, taking back what the
 * verdict passes up, and closing spliced connections without cutting the kernel's bytes short.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/sockios.h>
#include <linux/tcp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "conn.h"
#include "log.h"
#include "proxy.h"
#include "proxyproto.h"
#include "splice.h"

static bool take_over(struct conn *c);
static bool client_drained(struct conn *c, const struct strg_conn *k);
static void watch_client(struct conn *c);
static void watch_backends(struct conn *c);
static void adopt_response(struct conn *c, unsigned pool, const struct strg_conn *k);

/* ---- kernel fast path ---- */

bool handoff_kernel_busy(const struct strg_conn *k)
{
	return k->phase == STRG_PH_KREQ || k->phase == STRG_PH_KBODY;
}

/* The kernel's view of a spliced connection; false when there is none. */
bool handoff_kernel_state(struct conn *c, struct strg_conn *k)
{
	return c->spliced && splice_conn_get(c->px->sp, c->cookie, k) == 0;
}

/*
 * Hand a connection to the kernel: its state, its backends, then the client socket itself. Only
 * between requests with nothing buffered; the response strgd sent last is corked until this is
 * done, so the client's next request cannot overtake it.
 */
static bool take_over(struct conn *c)
{
	struct proxy *px = c->px;
	socklen_t len = sizeof(struct tcp_info);
	struct tcp_info ti;
	uint64_t bc;
	int outq = 0;

	c->cookie = splice_cookie(c->cfd);
	if (!c->cookie || splice_conn_begin(px->sp, c->cookie) < 0)
		return false;
	memset(&c->ctl, 0, sizeof(c->ctl));
	for (unsigned p = 0; p < px->cfg->npools; p++) {
		/* Bytes queued before the insert would never pass the verdict: check first. */
		if (c->up[p].fd >= 0 && !conn_backend_reusable(c, (int)p))
			handoff_drop_backend(c, (int)p);
		if (c->up[p].fd >= 0 &&
		    splice_backend_add(px->sp, c->cookie, p, c->up[p].fd, &bc) == 0)
			c->ctl.backend[p] = bc;
	}
	/* The kernel counts from here: bytes read, written and acknowledged start at zero. */
	c->rx_total = 0;
	c->tx_total = 0;
	c->acked_base = 0;
	if (getsockopt(c->cfd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 &&
	    ioctl(c->cfd, SIOCOUTQ, &outq) == 0)
		c->acked_base = ti.tcpi_bytes_acked + (uint64_t)outq;
	c->ctl.idle_at = 0;
	if (splice_ctl_set(px->sp, c->cookie, &c->ctl) < 0 ||
	    connmap_put(&px->spliced, c->cookie, c) < 0)
		goto out_forget;
	if (splice_client_insert(px->sp, c->cookie, c->cfd) < 0) {
		connmap_del(&px->spliced, c->cookie);
		goto out_forget;
	}
	c->spliced = true;
	return true;
out_forget:
	splice_conn_forget(px->sp, c->cookie, &c->ctl);
	memset(&c->ctl, 0, sizeof(c->ctl));
	return false;
}

/* A new backend connection joins the splice, so the kernel can send the pool's requests to it. */
void handoff_connected(struct conn *c)
{
	uint64_t bc;
	int err;

	if (!c->spliced)
		return;
	err = splice_backend_add(c->px->sp, c->cookie, (unsigned)c->pool, c->bfd, &bc);
	if (err < 0) {
		pr_debug("conn %lu: backend not spliced: %s", c->id, strerror(-err));
		return;
	}
	c->ctl.backend[c->pool] = bc;
	splice_ctl_set(c->px->sp, c->cookie, &c->ctl);
}

/* Close the backend connection of a pool; the kernel stops using it first. */
void handoff_drop_backend(struct conn *c, int pool)
{
	if (c->up[pool].fd < 0)
		return;
	c->up[pool].unsolicited = false;
	if (c->spliced && c->ctl.backend[pool]) {
		uint64_t bc = c->ctl.backend[pool];

		c->ctl.backend[pool] = 0;
		splice_ctl_set(c->px->sp, c->cookie, &c->ctl);
		splice_sock_forget(c->px->sp, bc);
	}
	close(c->up[pool].fd);
	c->up[pool].fd = -1;
}

/*
 * Between requests with nothing buffered: every byte the kernel passed up has been consumed, so
 * it may classify the next request itself. It compares this count with its own.
 */
void handoff_hand_back(struct conn *c)
{
	struct strg_conn k;
	ssize_t n;

	if (c->cstart != c->cend) {
		handoff_uncork(c);
		return;
	}
	if (!c->spliced) {
		if (!c->px->sp || !take_over(c)) {
			handoff_uncork(c);
			conn_recv_client(c); /* stays in user space */
			return;
		}
		handoff_uncork(c); /* the kernel now sees the client's next request */
		/*
		 * Bytes that arrived just before the insert wait in the queue until something
		 * reads or more arrive: a read runs them through the verdict now. What it passes
		 * up lands here.
		 */
		n = recv(c->cfd, c->cbuf, c->ccap, MSG_DONTWAIT);
		if (n > 0) {
			c->cstart = 0;
			c->cend = (uint32_t)n;
			c->rx_total = (uint64_t)n;
			handoff_input(c);
			return;
		}
	} else {
		c->ctl.idle_at = c->rx_total;
		splice_ctl_set(c->px->sp, c->cookie, &c->ctl);
		handoff_uncork(c);
	}
	/* The kernel's exchanges have timeouts too: look at least every timeout server. */
	c->active_ns = now_ns();
	if (c->deadline_ns > c->active_ns + ms_ns(c->px->cfg->server_timeout_ms))
		c->deadline_ns = c->active_ns + ms_ns(c->px->cfg->server_timeout_ms);
	/*
	 * No recv stays armed on a socket the kernel owns: it would wake for every redirected
	 * skb. Passed-up bytes announce themselves through the event ring; only a FIN is polled
	 * for. Bytes passed before idle_at was written come with no new event: read them now.
	 */
	if (handoff_kernel_state(c, &k)) {
		c->resp_passed_seen = k.resp_passed; /* strgd's own exchange passed those up */
		if (k.passed != c->rx_total) {
			conn_recv_client(c);
			return;
		}
	}
	watch_client(c);
	watch_backends(c);
	/* The kernel owns the connection: an idle keep-alive connection costs strgd no buffers. */
	if (!(c->pending & ((1u << RING_OP_CRECV) | (1u << RING_OP_CSEND) | (1u << RING_OP_BRECV) |
			    (1u << RING_OP_BSEND))))
		conn_buffers_release(c);
}

/* Bytes written into the client socket by anyone (strgd or the kernel's redirects). */
static bool client_drained(struct conn *c, const struct strg_conn *k)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	int outq = 0;

	if (getsockopt(c->cfd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0 ||
	    ioctl(c->cfd, SIOCOUTQ, &outq) < 0)
		return true;
	/* A reset peer takes nothing more: there is nothing left to wait for. */
	if (ti.tcpi_state != STRG_TCP_ESTABLISHED && ti.tcpi_state != STRG_TCP_CLOSE_WAIT)
		return true;
	return ti.tcpi_bytes_acked + (uint64_t)outq - c->acked_base >= c->tx_total + k->out;
}

/*
 * Poll the kernel for a connection waiting on it: passed-up bytes held back while its response
 * was in flight, or a client EOF that must not cut the redirected bytes short.
 */
void handoff_recheck(struct conn *c)
{
	struct strg_conn k;

	if (!handoff_kernel_state(c, &k)) {
		c->kwait = false;
		if (c->eof_wait)
			conn_close(c);
		else
			exchange_request(c);
		return;
	}
	/* The backend went away inside the response: the client gets what was sent, then EOF. */
	if (c->cut_wait) {
		if (client_drained(c, &k) || now_ns() > c->eof_deadline)
			conn_linger(c);
		return;
	}
	if (handoff_kernel_busy(&k))
		return;
	if (c->eof_wait) {
		/* Bounded: a client that stopped reading does not hold strgd past its timeout. */
		if (client_drained(c, &k) || now_ns() > c->eof_deadline)
			conn_linger(c);
		return;
	}
	if (c->kwait) {
		c->kwait = false;
		handoff_input(c);
	}
}

/*
 * Bytes read between requests on a spliced connection. The end of a body the kernel carried
 * goes on to its backend first; a request that arrived while the kernel still carries a
 * response waits for it; with nothing left, the kernel owns the connection again.
 */
void handoff_input(struct conn *c)
{
	struct strg_conn k;

	if (!c->spliced || !handoff_kernel_state(c, &k)) {
		exchange_request(c);
		return;
	}
	if (k.tail_owed != c->tail_sent) {
		uint64_t owed = k.tail_owed - c->tail_sent;
		uint32_t avail = c->cend - c->cstart;

		if (!avail) {
			conn_recv_client(c);
			return;
		}
		if (k.pool >= c->px->cfg->npools || c->up[k.pool].fd < 0) {
			conn_close(c);
			return;
		}
		c->state = ST_TAIL;
		c->bfd = c->up[k.pool].fd;
		c->up_left = owed < avail ? (uint32_t)owed : avail;
		conn_send_backend(c, c->cbuf + c->cstart, c->up_left);
		return;
	}
	if (handoff_kernel_busy(&k) && c->cstart != c->cend) {
		c->kwait = true;
		return;
	}
	if (c->cstart == c->cend) {
		handoff_hand_back(c);
		return;
	}
	exchange_request(c);
}

void handoff_on_tail_sent(struct conn *c, int res)
{
	if (res <= 0) {
		conn_close(c);
		return;
	}
	c->cstart += (uint32_t)res;
	c->tail_sent += (uint64_t)res;
	c->up_left -= (uint32_t)res;
	if (c->up_left) {
		conn_send_backend(c, c->cbuf + c->cstart, c->up_left);
		return;
	}
	c->state = ST_HEAD;
	c->bfd = -1;
	handoff_input(c);
}

/*
 * A client answered by strgd on a spliced connection sends its next request the moment the
 * response ends, often before strgd handed the connection back, and that request then takes
 * the slow path. Corking the last bytes until the hand-back is written closes that window.
 */
/*
 * Whether the kernel takes the connection as soon as an exchange ends: always once spliced,
 * and after the first request with "splice always" ("auto" waits for the connection to idle).
 */
bool handoff_now(const struct conn *c)
{
	return c->spliced || (c->px->sp && c->px->cfg->splice == SPLICE_ALWAYS);
}

void handoff_cork(struct conn *c)
{
	int one = 1;

	if (!handoff_now(c) || !c->req_done || !c->req_keep_alive || !c->resp_keep ||
	    c->px->stopping || c->corked)
		return;
	c->corked = setsockopt(c->cfd, IPPROTO_TCP, TCP_CORK, &one, sizeof(one)) == 0;
}

void handoff_uncork(struct conn *c)
{
	int zero = 0;

	if (!c->corked)
		return;
	c->corked = false;
	setsockopt(c->cfd, IPPROTO_TCP, TCP_CORK, &zero, sizeof(zero));
}

static void watch_client(struct conn *c)
{
	struct io_uring_sqe *sqe;

	if (c->pending & (1u << RING_OP_CWATCH))
		return;
	sqe = ring_get_sqe(&c->px->ring);
	io_uring_prep_poll_add(sqe, c->cfd, POLLRDHUP);
	conn_submit(c, sqe, RING_OP_CWATCH);
}

static void watch_backends(struct conn *c)
{
	struct io_uring_sqe *sqe;

	if (!c->spliced)
		return;
	for (unsigned p = 0; p < c->px->cfg->npools; p++) {
		enum ring_op op = (enum ring_op)(RING_OP_WATCH + p);

		if (c->up[p].fd < 0 || (c->pending & (1u << op)))
			continue;
		sqe = ring_get_sqe(&c->px->ring);
		io_uring_prep_poll_add(sqe, c->up[p].fd, POLLRDHUP);
		conn_submit(c, sqe, op);
	}
}

/*
 * A spliced backend became readable while strgd was idle: either the kernel passed up a
 * response it could not carry (chunked, close-delimited, interim...), which strgd finishes, or
 * the backend closed its end.
 */
/* Finish a response that the kernel passed up on the backend socket of pool. */
static void adopt_response(struct conn *c, unsigned pool, const struct strg_conn *k)
{
	if (conn_buffers(c) < 0) {
		conn_close(c);
		return;
	}
	exchange_reset(c);
	c->pool = (int)pool;
	c->bfd = c->up[pool].fd;
	c->reused = true;
	c->adopted = true;
	c->method = (enum http_method)k->method;
	/* The kernel counted the request; strgd counts what it sees of the response. */
	c->route_slot = k->slot;
	c->route_id = 0;
	c->t_req = k->req_ns ? k->req_ns : now_ns();
	c->req_keep_alive = true;
	c->req_body = HTTP_BODY_NONE;
	c->req_done = true;
	if (k->resp_owed) {
		/* Passed up mid-body: send on what the response is still owed, nothing more. */
		c->resp_head = true;
		c->resp_started = true;
		c->resp_body = HTTP_BODY_LENGTH;
		c->resp_left = k->resp_owed;
		c->resp_keep = true; /* the kernel carries keep-alive responses only */
		c->status = 0;	     /* the kernel counted its head */
	}
	c->state = ST_XFER;
	c->deadline_ns = now_ns() + ms_ns(c->px->cfg->server_timeout_ms);
	conn_recv_backend(c);
}

/* A spliced backend's FIN while strgd was idle. */
void handoff_on_watch(struct conn *c, unsigned pool, int res)
{
	struct strg_conn k;

	if (c->state != ST_HEAD || c->up[pool].fd < 0 || res < 0)
		return; /* busy: the exchange reads it; the watch is armed again when idle */
	if (!handoff_kernel_state(c, &k)) {
		conn_close(c);
		return;
	}
	if (k.resp_passed != c->resp_passed_seen) {
		c->resp_passed_seen = k.resp_passed;
		adopt_response(c, pool, &k); /* a response and its FIN: finish it first */
		return;
	}
	if (k.pool == pool && k.phase == STRG_PH_KREQ) {
		conn_reply(c, 502); /* it closed with the kernel's request unanswered */
		return;
	}
	if (k.pool == pool && k.phase == STRG_PH_KBODY) {
		/*
		 * It ended inside the response: the bytes the kernel redirected may still wait on
		 * the client socket, so the connection ends only once they drained (bounded).
		 */
		c->cut_wait = true;
		c->eof_deadline = now_ns() + ms_ns(c->px->cfg->client_timeout_ms);
		handoff_recheck(c);
		return;
	}
	pr_debug("conn %lu: idle backend of pool %s closed", c->id, c->px->cfg->pools[pool].name);
	handoff_drop_backend(c, (int)pool);
}

/*
 * The backend of a request the kernel forwarded stayed silent past timeout server: that backend
 * connection is closed (so a late answer goes nowhere) and the client gets strgd's 504, counted
 * under the kernel's route and pool, then the connection ends.
 */
void handoff_kernel_timeout(struct conn *c, const struct strg_conn *k)
{
	int pool = k->pool < (unsigned)c->px->cfg->npools ? (int)k->pool : 0;

	pr_info("conn %lu: pool %s: response timed out (kernel-carried request)", c->id,
		c->px->cfg->pools[pool].name);
	handoff_drop_backend(c, pool);
	exchange_reset(c);
	c->pool = pool;
	c->method = (enum http_method)k->method;
	c->route_slot = k->slot;
	c->route_id = 0;
	c->t_req = k->req_ns;
	c->adopted = true; /* the kernel counted the request */
	if (conn_buffers(c) < 0) {
		conn_close(c);
		return;
	}
	conn_reply(c, 504);
}

/* The verdict passed something up for a connection the kernel owns. */
void handoff_on_event(void *ctx, const struct strg_event *ev)
{
	struct conn *c = connmap_get(&((struct proxy *)ctx)->spliced, ev->client);
	struct strg_conn k;

	if (c && ev->kind == STRG_EV_UNSOLICITED && ev->pool < STRG_POOLS_MAX &&
	    c->up[ev->pool].fd >= 0) {
		/* Closed now when idle, else once strgd's exchange with it is over. */
		c->up[ev->pool].unsolicited = true;
		if (c->state == ST_HEAD) {
			conn_unsolicited(c, (int)ev->pool, "dropped by the kernel");
			handoff_drop_backend(c, (int)ev->pool);
		}
		return;
	}
	if (!c || c->state != ST_HEAD)
		return; /* busy: the exchange in progress reads it, or hand-back looks */
	if (c->kwait || c->eof_wait || c->cut_wait) {
		handoff_recheck(c);
		return;
	}
	if (ev->kind == STRG_EV_CLIENT) {
		/* Nothing unread (the event was for bytes already consumed): stay out of the way.
		 */
		if (handoff_kernel_state(c, &k) && k.passed == c->rx_total) {
			if (!handoff_kernel_busy(&k))
				handoff_hand_back(c);
			return;
		}
		conn_recv_client(c);
		return;
	}
	if (ev->pool >= STRG_POOLS_MAX || c->up[ev->pool].fd < 0 || !handoff_kernel_state(c, &k))
		return;
	if (k.resp_passed != c->resp_passed_seen) {
		c->resp_passed_seen = k.resp_passed;
		adopt_response(c, ev->pool, &k);
		return;
	}
	/*
	 * No response passed up: either the event is for bytes strgd's finished exchange already
	 * read, or the backend sent what nobody asked for, still queued on it.
	 */
	if (!conn_backend_reusable(c, (int)ev->pool))
		handoff_drop_backend(c, (int)ev->pool);
}
