// SPDX-License-Identifier: GPL-2.0-only
/*
 * Handing client connections to the kernel fast path between requests and taking back what the
 * verdict passes up: the mechanism, with the one rule for who carries a connection after an
 * exchange (handoff_takes). The session applies the rule and decides when (session.c); nothing
 * here calls back into it or into the exchange.
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

bool handoff_kernel_state(struct conn *c, struct strg_conn *k)
{
	return kconn_state(&c->k, c->w, k);
}

/*
 * "auto": whether the worker is busy enough that user space carries its connections. The
 * kernel path pays a kernel worker's wake-up per redirected message, user space one
 * io_uring_enter per batch of completions, so past some concurrency user space costs less per
 * request (measured at c256 with 2 workers, README "Performance"). With hysteresis: a worker
 * near the threshold does not flip at every connection that opens or closes.
 */
static bool worker_busy(struct worker *w)
{
	if (w->nconns >= SPLICE_AUTO_USER_CONNS)
		w->auto_user = true;
	else if (w->nconns <= SPLICE_AUTO_KERNEL_CONNS)
		w->auto_user = false;
	return w->auto_user;
}

/*
 * The rule for who carries a connection's requests, as the response's size and the worker's
 * load say. Always the kernel once it holds the connection and with "splice always"; with
 * "auto" the kernel after responses shorter than SPLICE_AUTO_BULK (it carries small exchanges
 * with less CPU and latency than user space) unless the worker is busy (worker_busy), user
 * space after longer ones (it moves bulk faster) until the connection idles; never without the
 * kernel path.
 */
bool handoff_takes(const struct conn *c, uint64_t len)
{
	if (kconn_spliced(&c->k))
		return true;
	if (!c->w->sp)
		return false;
	switch (c->w->cfg->splice) {
	case SPLICE_ALWAYS:
		return true;
	case SPLICE_AUTO:
		return len < SPLICE_AUTO_BULK && !worker_busy(c->w);
	default:
		return false;
	}
}

void handoff_hold(struct conn *c, uint64_t len)
{
	if (handoff_takes(c, len))
		kconn_cork(&c->k, c->cd[CLIENT].fd);
}

void handoff_release(struct conn *c)
{
	kconn_uncork(&c->k, c->cd[CLIENT].fd);
}

void handoff_detach(struct conn *c, unsigned pool)
{
	kconn_detach(&c->k, c->w, pool);
}

/*
 * A backend socket joins the splice, once nothing unasked-for waits on it; one the kernel
 * stopped forwarding to (still in the sockhash) takes requests again when it serves again.
 */
static void splice_backend(struct conn *c, unsigned p)
{
	uint64_t bc;
	int err;

	if (c->up[p].fd < 0 || c->k.ctl.backend[p])
		return;
	/* Bytes queued before the insert would never pass the verdict: check first. */
	if (!conn_backend_reusable(c, (int)p)) {
		conn_drop_backend(c, (int)p);
		return;
	}
	if (c->k.bcookie[p]) {
		c->k.ctl.backend[p] = c->k.bcookie[p];
		return;
	}
	err = splice_backend_add(c->w->sp, c->k.cookie, c->w->idx, p, c->up[p].bidx, c->up[p].fd,
				 &bc);
	if (err < 0) {
		pr_debug("conn %lu: backend not spliced: %s", c->id, strerror(-err));
		return;
	}
	c->k.ctl.backend[p] = bc;
	c->k.bcookie[p] = bc;
}

/*
 * Hand a connection to the kernel: its state, its backends, then the client socket itself. Only
 * between requests with nothing buffered; the response strgd sent last is corked until this is
 * done, so the client's next request cannot overtake it.
 */
static bool take_over(struct conn *c)
{
	struct worker *w = c->w;
	struct kconn *k = &c->k;
	socklen_t len = sizeof(struct tcp_info);
	struct tcp_info ti;
	int outq = 0;

	k->cookie = splice_cookie(c->cd[CLIENT].fd);
	if (!k->cookie || splice_conn_begin(w->sp, k->cookie, w->idx) < 0)
		return false;
	memset(&k->ctl, 0, sizeof(k->ctl));
	for (unsigned p = 0; p < w->cfg->npools; p++)
		splice_backend(c, p);
	/* The kernel counts from here: bytes read, written and acknowledged start at zero. */
	k->rx = 0;
	k->tx = 0;
	k->acked_base = 0;
	if (getsockopt(c->cd[CLIENT].fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 &&
	    ioctl(c->cd[CLIENT].fd, SIOCOUTQ, &outq) == 0)
		k->acked_base = ti.tcpi_bytes_acked + (uint64_t)outq;
	k->ctl.idle_at = 0;
	if (splice_ctl_set(w->sp, k->cookie, &k->ctl) < 0 ||
	    connmap_put(&w->spliced, k->cookie, c) < 0)
		goto out_forget;
	if (splice_client_insert(w->sp, k->cookie, c->cd[CLIENT].fd) < 0) {
		connmap_del(&w->spliced, k->cookie);
		goto out_forget;
	}
	k->flags |= KF_SPLICED;
	return true;
out_forget:
	splice_conn_forget(w->sp, k->cookie, &k->ctl);
	memset(&k->ctl, 0, sizeof(k->ctl));
	memset(k->bcookie, 0, sizeof(k->bcookie));
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
		kconn_resp_passed(&c->k, &k); /* strgd's own exchange passed those up */
		if (kconn_unread(&c->k, &k)) {
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

/*
 * Bytes that arrived just before the insert wait in the queue until something reads or more
 * arrive: a read runs them through the verdict now. What it passes up lands in the client's buffer.
 */
static bool read_passed(struct conn *c)
{
	struct conn_dir *cl = &c->cd[CLIENT];
	ssize_t n = recv(cl->fd, cl->buf, cl->cap, MSG_DONTWAIT);

	if (n <= 0)
		return false;
	cl->start = 0;
	cl->end = (uint32_t)n;
	c->k.rx = (uint64_t)n;
	return true;
}

/*
 * Again between requests on a connection the kernel holds: backend connections strgd opened
 * meanwhile join the splice (one the kernel still carries a request on is left alone: it is let
 * go between requests only), and the kernel may classify again.
 */
static void give_back(struct conn *c)
{
	struct strg_conn k;
	bool known = handoff_kernel_state(c, &k);

	for (unsigned p = 0; p < c->w->cfg->npools; p++)
		if (!known || !kconn_busy_on(&k, p))
			splice_backend(c, p);
	c->k.ctl.idle_at = c->k.rx;
	splice_ctl_set(c->w->sp, c->k.cookie, &c->k.ctl);
}

enum hb handoff_hand_back(struct conn *c)
{
	if (conn_unread(c, CLIENT)) {
		handoff_release(c);
		return HB_INPUT;
	}
	if (!kconn_spliced(&c->k)) {
		if (!c->w->sp || !take_over(c)) {
			handoff_release(c);
			return HB_USER;
		}
		handoff_release(c); /* the kernel now sees the client's next request */
		if (read_passed(c))
			return HB_INPUT;
	} else {
		give_back(c);
		handoff_release(c);
	}
	park(c);
	return HB_KERNEL;
}

bool handoff_client_drained(struct conn *c, const struct strg_conn *k)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	int outq = 0;

	if (getsockopt(c->cd[CLIENT].fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0 ||
	    ioctl(c->cd[CLIENT].fd, SIOCOUTQ, &outq) < 0)
		return true;
	/* A reset peer takes nothing more: there is nothing left to wait for. */
	if (ti.tcpi_state != STRG_TCP_ESTABLISHED && ti.tcpi_state != STRG_TCP_CLOSE_WAIT)
		return true;
	return ti.tcpi_bytes_acked + (uint64_t)outq - c->k.acked_base >= c->k.tx + k->out;
}

enum tail handoff_send_tail(struct conn *c, const struct strg_conn *k)
{
	uint64_t owed = kconn_tail_owed(&c->k, k);
	uint32_t avail = conn_unread(c, CLIENT);

	if (!avail)
		return TAIL_NEED_INPUT;
	if (k->pool >= c->w->cfg->npools || c->up[k->pool].fd < 0)
		return TAIL_FAILED;
	c->state = ST_TAIL;
	c->cd[BACKEND].fd = c->up[k->pool].fd;
	conn_pass_on(c, CLIENT, owed < avail ? (uint32_t)owed : avail);
	return TAIL_SENDING;
}

enum tail handoff_on_tail_sent(struct conn *c, int res)
{
	if (res <= 0)
		return TAIL_FAILED;
	c->k.tail_sent += (uint64_t)res;
	if (!conn_passed_on(c, CLIENT, (uint32_t)res))
		return TAIL_SENDING;
	c->state = ST_HEAD;
	c->cd[BACKEND].fd = -1;
	return TAIL_DONE;
}
