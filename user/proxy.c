// SPDX-License-Identifier: GPL-2.0-only
/*
 * The user-space proxy's event loop: one io_uring ring that accepts clients, dispatches every
 * completion to its connection, ticks the timers and drains on SIGTERM.
 */
#include <errno.h>
#include <stdarg.h>
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
#include "ctl.h"
#include "ctlsrv.h"
#include "log.h"
#include "proxy.h"
#include "proxyproto.h"
#include "reload.h"
#include "splice.h"

volatile sig_atomic_t proxy_stop_requested;
volatile sig_atomic_t proxy_reload_requested;

static void submit_accept(struct proxy *px);

/* ---- timers ---- */

/*
 * A connection the kernel holds, at its deadline: the kernel's own exchanges keep it alive, and
 * they have the timeouts of strgd's: a response head due for timeout server gets strgd's 504, a
 * response that stopped moving for that long is cut. Checked at least every timeout server, so
 * a kernel-carried request gets its 504 within one to two timeouts.
 */
static void expire_kernel(struct conn *c, const struct strg_conn *k)
{
	const struct config *cfg = c->px->cfg;
	uint64_t now = now_ns(), server = ms_ns(cfg->server_timeout_ms);
	uint64_t idle = ms_ns(cfg->idle_timeout_ms);

	if (k->phase == STRG_PH_KREQ && now - k->req_ns >= server) {
		handoff_kernel_timeout(c, k);
		return;
	}
	if (k->phase == STRG_PH_KBODY) {
		if (k->out == c->last_kout && now - c->last_kout_ns >= server) {
			pr_info("conn %lu: pool %s: timed out inside a response the kernel carried",
				c->id, cfg->pools[k->pool < POOL_MAX ? k->pool : 0].name);
			conn_close(c);
			return;
		}
		if (k->out != c->last_kout) {
			c->last_kout = k->out;
			c->last_kout_ns = now;
		}
	}
	if (k->req_ns != c->last_kreq_ns) {
		c->last_kreq_ns = k->req_ns;
		c->active_ns = now; /* the kernel carried a request meanwhile */
	}
	if (!handoff_kernel_busy(k) && now - c->active_ns >= idle) {
		conn_close(c); /* idle keep-alive connection */
		return;
	}
	c->deadline_ns = now + server < c->active_ns + idle ? now + server : c->active_ns + idle;
	if (k->phase == STRG_PH_KREQ && k->req_ns + server < c->deadline_ns)
		c->deadline_ns = k->req_ns + server;
}

static void expire(struct conn *c)
{
	switch (c->state) {
	case ST_HEAD:
		if (c->cstart == c->cend || c->kwait) {
			struct strg_conn k;

			if (handoff_kernel_state(c, &k)) {
				expire_kernel(c, &k);
				return;
			}
			conn_close(c); /* idle keep-alive connection */
			return;
		}
		conn_reply(c, 408);
		return;
	case ST_CONNECT:
		conn_cancel_op(
			c, RING_OP_CONNECT); /* exchange_on_connect sees -ECANCELED: a timeout */
		c->deadline_ns = 0;
		return;
	case ST_XFER:
		if (c->resp_started) {
			pr_info("conn %lu: pool %s: timed out inside the response", c->id,
				c->px->cfg->pools[c->pool].name);
			conn_close(c);
			return;
		}
		pr_info("conn %lu: pool %s: %s timed out", c->id, c->px->cfg->pools[c->pool].name,
			c->req_done ? "response" : "request body");
		conn_reply(c, c->req_done ? 504 : 408);
		return;
	default:
		conn_close(c);
		return;
	}
}

static void on_timer(struct proxy *px)
{
	uint64_t now = now_ns();
	struct conn *c, *next;
	struct io_uring_sqe *sqe;

	for (c = px->conns; c; c = next) {
		next = c->next;
		if (c->state == ST_CLOSING)
			continue;
		if (c->state == ST_HEAD && (c->kwait || c->eof_wait || c->cut_wait)) {
			handoff_recheck(c);
			continue;
		}
		if (px->sp && c->splice_at && now >= c->splice_at && c->state == ST_HEAD &&
		    c->cstart == c->cend && (c->pending & (1u << RING_OP_CRECV)) && !px->stopping) {
			/* Idle: take back the pending recv; its completion hands the connection
			 * over. */
			c->splice_at = 0;
			c->handing = true;
			conn_cancel_op(c, RING_OP_CRECV);
			continue;
		}
		/*
		 * Stopping: a connection between requests gets a moment for the request its
		 * client may be sending (answered with "Connection: close"); one that stays
		 * quiet for it is closed. No request is in flight on it then.
		 */
		if (px->stopping && c->state == ST_HEAD && c->cstart == c->cend &&
		    now - (c->active_ns > px->stop_ns ? c->active_ns : px->stop_ns) >=
			    STOP_IDLE_NS) {
			struct strg_conn k;

			if (handoff_kernel_state(c, &k) &&
			    (handoff_kernel_busy(&k) || k.passed != c->rx_total))
				continue;
			conn_close(c);
			continue;
		}
		if ((c->deadline_ns && now >= c->deadline_ns) ||
		    (px->stopping && now >= px->stop_deadline))
			expire(c);
	}
	ctlsrv_tick(px->ctl, now);
	sqe = ring_get_sqe(&px->ring);
	io_uring_prep_timeout(sqe, &px->tick, 0, 0);
	io_uring_sqe_set_data64(sqe, ring_tag(NULL, RING_OP_TIMER));
	if (px->accept_paused && !px->stopping)
		submit_accept(px);
}

/* ---- accept and dispatch ---- */

static void submit_accept(struct proxy *px)
{
	struct io_uring_sqe *sqe = ring_get_sqe(&px->ring);

	io_uring_prep_multishot_accept(sqe, px->lfd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, ring_tag(NULL, RING_OP_ACCEPT));
}

static void on_accept(struct proxy *px, int res, unsigned flags)
{
	struct conn *c;

	if (res < 0) {
		if (res == -ECANCELED)
			return;
		/*
		 * Out of descriptors or memory: accepting again at once would spin. Try again on
		 * the next timer tick, and say so once per episode, not per attempt.
		 */
		if (!px->accept_paused)
			pr_warn("accept: %s; pausing new connections", strerror(-res));
		px->accept_paused = true;
		return;
	}
	if (!(flags & IORING_CQE_F_MORE) && !px->stopping)
		submit_accept(px);
	px->accept_paused = false;
	if (px->stopping) {
		close(res);
		return;
	}
	c = conn_new(px, res);
	if (!c) {
		pr_warn("accept: out of memory, dropping connection");
		close(res);
		return;
	}
	c->state = ST_HEAD;
	c->deadline_ns = now_ns() + ms_ns(px->cfg->idle_timeout_ms);
	conn_recv_client(c);
}

static void submit_events_poll(struct proxy *px)
{
	struct io_uring_sqe *sqe = ring_get_sqe(&px->ring);

	io_uring_prep_poll_add(sqe, px->events_fd, POLLIN);
	io_uring_sqe_set_data64(sqe, ring_tag(NULL, RING_OP_EVENTS));
}

static void dispatch(struct proxy *px, struct io_uring_cqe *cqe)
{
	uint64_t ud = io_uring_cqe_get_data64(cqe);
	enum ring_op op = ring_tag_op(ud);
	struct conn *c = ring_tag_obj(ud);

	switch (op) {
	case RING_OP_NONE:
		return;
	case RING_OP_ACCEPT:
		on_accept(px, cqe->res, cqe->flags);
		return;
	case RING_OP_TIMER:
		on_timer(px);
		return;
	case RING_OP_CTL_ACCEPT:
		ctlsrv_on_accept(px->ctl, cqe->res, cqe->flags);
		return;
	case RING_OP_CTL_RECV:
		ctlsrv_on_recv(px->ctl, ring_tag_obj(ud), cqe->res);
		return;
	case RING_OP_CTL_SEND:
		ctlsrv_on_send(px->ctl, ring_tag_obj(ud), cqe->res);
		return;
	case RING_OP_EVENTS:
		splice_events_consume(px->sp);
		submit_events_poll(px);
		return;
	default:
		break;
	}
	c->pending &= ~(1u << op);
	if (c->state == ST_CLOSING) {
		if (!c->pending)
			conn_free(c);
		return;
	}
	switch (op) {
	case RING_OP_CRECV:
		exchange_on_crecv(c, cqe->res);
		break;
	case RING_OP_CSEND:
		exchange_on_csend(c, cqe->res);
		break;
	case RING_OP_BRECV:
		exchange_on_brecv(c, cqe->res);
		break;
	case RING_OP_BSEND:
		exchange_on_bsend(c, cqe->res);
		break;
	case RING_OP_CONNECT:
		if (c->state == ST_CONNECT)
			exchange_on_connect(c, cqe->res);
		break;
	case RING_OP_CWATCH:
		/* The client's FIN (or queued bytes with it): recv sorts out which. */
		if (c->state == ST_HEAD && cqe->res > 0)
			conn_recv_client(c);
		break;
	default:
		if (op >= RING_OP_WATCH && op < RING_OP_WATCH_END)
			handoff_on_watch(c, op - RING_OP_WATCH, cqe->res);
		break;
	}
}

static void begin_stop(struct proxy *px)
{
	struct io_uring_sqe *sqe;

	px->stopping = true;
	px->stop_ns = now_ns();
	px->stop_deadline = px->stop_ns + DRAIN_NS;
	/* The kernel classifies no more: every next request comes up, to be answered "close". */
	if (px->sp)
		splice_classify_off(px->sp);
	pr_info("stopping: no new connections, %lu open", px->nconns);
	sqe = ring_get_sqe(&px->ring);
	io_uring_prep_cancel64(sqe, ring_tag(NULL, RING_OP_ACCEPT), 0);
	io_uring_sqe_set_data64(sqe, ring_tag(NULL, RING_OP_NONE));
	io_uring_submit(&px->ring);
	close(px->lfd);
	px->lfd = -1;
}

int proxy_listen(const struct config *cfg)
{
	int fd, one = 1;

	fd = socket(cfg->listen.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)&cfg->listen, cfg->listen_len) < 0 ||
	    listen(fd, 4096) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

/* SIGHUP: the configuration file again, applied like strgctl reload; an invalid one changes
 * nothing. */
static void reload(struct proxy *px)
{
	int n;

	pr_info("reload: reading %s (SIGHUP)", px->ctl_env.config_path);
	n = reload_run(&px->ctl_env, false, log_say, "reload: ");
	if (n < 0) {
		pr_warn("reload: configuration refused, nothing changed");
		return;
	}
	if (n > 0)
		ctl_publish(&px->ctl_env, NULL);
	pr_info("reload: done, %d change%s", n, n == 1 ? "" : "s");
}

int proxy_run(struct config *cfg, const char *config_path, int listen_fd, int ctl_fd,
	      struct splice *sp, struct stats *st)
{
	struct proxy *px;
	struct io_uring_sqe *sqe;
	int err;

	px = calloc(1, sizeof(*px));
	if (!px)
		return -ENOMEM;
	px->cfg = cfg;
	px->sp = sp;
	px->st = st;
	px->lfd = listen_fd;
	px->ctl_env.cfg = cfg;
	px->ctl_env.sp = sp;
	px->ctl_env.st = st;
	px->ctl_env.config_path = config_path;
	px->tick.tv_nsec = TICK_NS;
	err = io_uring_queue_init(RING_ENTRIES, &px->ring, 0);
	if (err < 0) {
		free(px);
		return err;
	}
	submit_accept(px);
	px->ctl = ctlsrv_open(&px->ring, &px->ctl_env, ctl_fd);
	if (!px->ctl) {
		io_uring_queue_exit(&px->ring);
		free(px);
		return -ENOMEM;
	}
	if (sp) {
		px->events_fd = splice_events_open(sp, handoff_on_event, px);
		if (px->events_fd < 0) {
			pr_warn("splice events: %s; connections stay in user space",
				strerror(-px->events_fd));
			px->sp = NULL;
		} else {
			submit_events_poll(px);
		}
	}
	sqe = ring_get_sqe(&px->ring);
	io_uring_prep_timeout(sqe, &px->tick, 0, 0);
	io_uring_sqe_set_data64(sqe, ring_tag(NULL, RING_OP_TIMER));

	while (!px->stopping || px->nconns) {
		struct io_uring_cqe *cqe;
		unsigned head, seen = 0;

		if (proxy_stop_requested && !px->stopping)
			begin_stop(px);
		if (proxy_reload_requested) {
			proxy_reload_requested = 0;
			reload(px);
		}
		err = io_uring_submit_and_wait(&px->ring, 1);
		if (err < 0 && err != -EINTR && err != -EAGAIN && err != -EBUSY) {
			pr_warn("io_uring: %s", strerror(-err));
			break;
		}
		io_uring_for_each_cqe(&px->ring, head, cqe)
		{
			dispatch(px, cqe);
			seen++;
		}
		io_uring_cq_advance(&px->ring, seen);
		err = 0;
	}
	if (px->spurious)
		pr_info("%lu spurious wake-ups of spliced sockets", px->spurious);
	io_uring_queue_exit(&px->ring);
	ctlsrv_close(px->ctl); /* after the ring: no completion names its connections */
	connmap_free(&px->spliced);
	free(px);
	return err;
}
