// SPDX-License-Identifier: GPL-2.0-only
/*
 * Handing client connections to the kernel fast path between requests and taking back what the
 * verdict passes up: the mechanism. When to do it is the session's decision (session.c).
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
#include <sys/socket.h>

#include "dataplane/handoff.h"
#include "lib/log.h"
#include "kernel/splice.h"

bool handoff_kernel_busy(const struct strg_conn *k)
{
	return k->phase == STRG_PH_KREQ || k->phase == STRG_PH_KBODY;
}

bool handoff_kernel_busy_on(const struct strg_conn *k, unsigned pool)
{
	return handoff_kernel_busy(k) && k->pool == pool;
}

bool handoff_kernel_state(struct conn *c, struct strg_conn *k)
{
	return conn_has(c, CF_SPLICED) && splice_conn_get(c->w->sp, c->cookie, k) == 0;
}

/*
 * A backend socket joins the splice, once nothing unasked-for waits on it; one the kernel
 * stopped forwarding to (still in the sockhash) takes requests again when it serves again.
 */
static void splice_backend(struct conn *c, unsigned p)
{
	uint64_t bc;
	int err;

	if (c->up[p].fd < 0 || c->ctl.backend[p])
		return;
	/* Bytes queued before the insert would never pass the verdict: check first. */
	if (!conn_backend_reusable(c, (int)p)) {
		conn_drop_backend(c, (int)p);
		return;
	}
	if (c->up[p].cookie) {
		c->ctl.backend[p] = c->up[p].cookie;
		return;
	}
	err = splice_backend_add(c->w->sp, c->cookie, c->w->idx, p, c->up[p].fd, &bc);
	if (err < 0) {
		pr_debug("conn %lu: backend not spliced: %s", c->id, strerror(-err));
		return;
	}
	c->ctl.backend[p] = bc;
	c->up[p].cookie = bc;
}

/*
 * Hand a connection to the kernel: its state, its backends, then the client socket itself. Only
 * between requests with nothing buffered; the response strgd sent last is corked until this is
 * done, so the client's next request cannot overtake it.
 */
static bool take_over(struct conn *c)
{
	struct worker *w = c->w;
	socklen_t len = sizeof(struct tcp_info);
	struct tcp_info ti;
	int outq = 0;

	c->cookie = splice_cookie(c->cfd);
	if (!c->cookie || splice_conn_begin(w->sp, c->cookie, w->idx) < 0)
		return false;
	memset(&c->ctl, 0, sizeof(c->ctl));
	for (unsigned p = 0; p < w->cfg->npools; p++)
		splice_backend(c, p);
	/* The kernel counts from here: bytes read, written and acknowledged start at zero. */
	c->rx_total = 0;
	c->tx_total = 0;
	c->acked_base = 0;
	if (getsockopt(c->cfd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 &&
	    ioctl(c->cfd, SIOCOUTQ, &outq) == 0)
		c->acked_base = ti.tcpi_bytes_acked + (uint64_t)outq;
	c->ctl.idle_at = 0;
	if (splice_ctl_set(w->sp, c->cookie, &c->ctl) < 0 ||
	    connmap_put(&w->spliced, c->cookie, c) < 0)
		goto out_forget;
	if (splice_client_insert(w->sp, c->cookie, c->cfd) < 0) {
		connmap_del(&w->spliced, c->cookie);
		goto out_forget;
	}
	c->flags |= CF_SPLICED;
	return true;
out_forget:
	splice_conn_forget(w->sp, c->cookie, &c->ctl);
	memset(&c->ctl, 0, sizeof(c->ctl));
	for (unsigned p = 0; p < POOL_MAX; p++)
		c->up[p].cookie = 0;
	return false;
}

static void watch_backends(struct conn *c)
{
	struct io_uring_sqe *sqe;

	for (unsigned p = 0; p < c->w->cfg->npools; p++) {
		unsigned op = (unsigned)(CONN_OP_WATCH + p);

		if (c->up[p].fd < 0 || (c->pending & (1u << op)))
			continue;
		sqe = ring_get_sqe(&c->w->ring);
		io_uring_prep_poll_add(sqe, c->up[p].fd, POLLRDHUP);
		conn_submit(c, sqe, op);
	}
}

/*
 * The kernel holds the connection: no recv stays armed on a socket it owns (it would wake for
 * every redirected skb); passed-up bytes announce themselves through the event ring, a FIN
 * through the watches. Bytes passed before idle_at was written come with no new event: they are
 * read now.
 */
static void park(struct conn *c)
{
	struct strg_conn k;

	if (handoff_kernel_state(c, &k)) {
		c->resp_passed_seen = k.resp_passed; /* strgd's own exchange passed those up */
		if (k.passed != c->rx_total) {
			conn_recv_client(c);
			return;
		}
	}
	conn_watch_client(c, POLLRDHUP);
	watch_backends(c);
	/* An idle keep-alive connection the kernel holds costs strgd no buffers. */
	if (!(c->pending & ((1u << CONN_OP_CRECV) | (1u << CONN_OP_CSEND) | (1u << CONN_OP_BRECV) |
			    (1u << CONN_OP_BSEND))))
		conn_buffers_release(c);
}

enum hb handoff_hand_back(struct conn *c)
{
	ssize_t n;

	if (c->cin.start != c->cin.end) {
		conn_uncork(c);
		return HB_INPUT;
	}
	if (!conn_has(c, CF_SPLICED)) {
		if (!c->w->sp || !take_over(c)) {
			conn_uncork(c);
			return HB_USER;
		}
		conn_uncork(c); /* the kernel now sees the client's next request */
		/*
		 * Bytes that arrived just before the insert wait in the queue until something
		 * reads or more arrive: a read runs them through the verdict now. What it passes
		 * up lands here.
		 */
		n = recv(c->cfd, c->cin.data, c->cin.cap, MSG_DONTWAIT);
		if (n > 0) {
			c->cin.start = 0;
			c->cin.end = (uint32_t)n;
			c->rx_total = (uint64_t)n;
			return HB_INPUT;
		}
	} else {
		struct strg_conn k;
		bool known = handoff_kernel_state(c, &k);

		/*
		 * Backend connections strgd opened meanwhile join the splice; one the kernel still
		 * carries a request on is left alone (it is let go between requests only).
		 */
		for (unsigned p = 0; p < c->w->cfg->npools; p++)
			if (!known || !handoff_kernel_busy_on(&k, p))
				splice_backend(c, p);
		c->ctl.idle_at = c->rx_total;
		splice_ctl_set(c->w->sp, c->cookie, &c->ctl);
		conn_uncork(c);
	}
	park(c);
	return HB_KERNEL;
}

bool handoff_client_drained(struct conn *c, const struct strg_conn *k)
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

enum tail handoff_send_tail(struct conn *c, const struct strg_conn *k)
{
	uint64_t owed = k->tail_owed - c->tail_sent;
	uint32_t avail = c->cin.end - c->cin.start;

	if (!avail)
		return TAIL_NEED_INPUT;
	if (k->pool >= c->w->cfg->npools || c->up[k->pool].fd < 0)
		return TAIL_FAILED;
	c->state = ST_TAIL;
	c->bfd = c->up[k->pool].fd;
	c->req.inflight = owed < avail ? (uint32_t)owed : avail;
	conn_send_backend(c, c->cin.data + c->cin.start, c->req.inflight);
	return TAIL_SENDING;
}

enum tail handoff_on_tail_sent(struct conn *c, int res)
{
	if (res <= 0)
		return TAIL_FAILED;
	c->cin.start += (uint32_t)res;
	c->tail_sent += (uint64_t)res;
	c->req.inflight -= (uint32_t)res;
	if (c->req.inflight) {
		conn_send_backend(c, c->cin.data + c->cin.start, c->req.inflight);
		return TAIL_SENDING;
	}
	c->state = ST_HEAD;
	c->bfd = -1;
	return TAIL_DONE;
}
