// SPDX-License-Identifier: GPL-2.0-only
/*
 * The event loop: one io_uring ring that accepts clients, hands every completion of a
 * connection to its session, serves the control socket, ticks the timers, reloads on SIGHUP and
 * drains on SIGTERM.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conn.h"
#include "ctl.h"
#include "ctlsrv.h"
#include "log.h"
#include "proxy.h"
#include "reload.h"
#include "session.h"
#include "splice.h"

#define RING_ENTRIES 1024
#define TICK_NS	     (100 * 1000000ull)
#define DRAIN_NS     (30 * 1000000000ull) /* the longest a stop waits for connections */

volatile sig_atomic_t proxy_stop_requested;
volatile sig_atomic_t proxy_reload_requested;

/* The loop's own state; the connections see only the worker. */
struct proxy {
	struct worker w;
	int lfd;
	int events_fd;
	struct ctlsrv *ctl;	/* the control socket's server */
	struct ctl_env ctl_env; /* what its commands work on */
	bool accept_paused;	/* accept failed for lack of resources: retried on the tick */
	uint64_t stop_deadline;
	struct __kernel_timespec tick;
};

static void submit_accept(struct proxy *px)
{
	struct io_uring_sqe *sqe = ring_get_sqe(&px->w.ring);

	io_uring_prep_multishot_accept(sqe, px->lfd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, ring_tag(NULL, RING_OP_ACCEPT));
}

static void submit_tick(struct proxy *px)
{
	struct io_uring_sqe *sqe = ring_get_sqe(&px->w.ring);

	io_uring_prep_timeout(sqe, &px->tick, 0, 0);
	io_uring_sqe_set_data64(sqe, ring_tag(NULL, RING_OP_TIMER));
}

static void submit_events_poll(struct proxy *px)
{
	struct io_uring_sqe *sqe = ring_get_sqe(&px->w.ring);

	io_uring_prep_poll_add(sqe, px->events_fd, POLLIN);
	io_uring_sqe_set_data64(sqe, ring_tag(NULL, RING_OP_EVENTS));
}

static void on_timer(struct proxy *px)
{
	uint64_t now = now_ns();
	struct conn *c, *next;

	for (c = px->w.conns; c; c = next) {
		next = c->next;
		session_tick(c, now, px->stop_deadline);
	}
	ctlsrv_tick(px->ctl, now);
	submit_tick(px);
	if (px->accept_paused && !px->w.stopping)
		submit_accept(px);
}

static void on_accept(struct proxy *px, int res, unsigned flags)
{
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
	if (!(flags & IORING_CQE_F_MORE) && !px->w.stopping)
		submit_accept(px);
	px->accept_paused = false;
	if (px->w.stopping) {
		close(res);
		return;
	}
	session_open(&px->w, res);
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
		splice_events_consume(px->w.sp);
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
	session_on_cqe(c, op, cqe->res);
}

static void begin_stop(struct proxy *px)
{
	struct io_uring_sqe *sqe;

	px->w.stopping = true;
	px->w.stop_ns = now_ns();
	px->stop_deadline = px->w.stop_ns + DRAIN_NS;
	/* The kernel classifies no more: every next request comes up, to be answered "close". */
	if (px->w.sp)
		splice_classify_off(px->w.sp);
	pr_info("stopping: no new connections, %lu open", px->w.nconns);
	sqe = ring_get_sqe(&px->w.ring);
	io_uring_prep_cancel64(sqe, ring_tag(NULL, RING_OP_ACCEPT), 0);
	io_uring_sqe_set_data64(sqe, ring_tag(NULL, RING_OP_NONE));
	io_uring_submit(&px->w.ring);
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
	n = reload_run(px->w.cfg, &px->ctl_env.applied, px->ctl_env.config_path, false, log_say,
		       "reload: ");
	if (n < 0) {
		pr_warn("reload: configuration refused, nothing changed");
		return;
	}
	if (n > 0)
		ctl_publish(&px->ctl_env, NULL);
	pr_info("reload: done, %d change%s", n, n == 1 ? "" : "s");
}

static void run_loop(struct proxy *px)
{
	int err;

	while (!px->w.stopping || px->w.nconns) {
		struct io_uring_cqe *cqe;
		unsigned head, seen = 0;

		if (proxy_stop_requested && !px->w.stopping)
			begin_stop(px);
		if (proxy_reload_requested) {
			proxy_reload_requested = 0;
			reload(px);
		}
		err = io_uring_submit_and_wait(&px->w.ring, 1);
		if (err < 0 && err != -EINTR && err != -EAGAIN && err != -EBUSY) {
			pr_warn("io_uring: %s", strerror(-err));
			return;
		}
		io_uring_for_each_cqe(&px->w.ring, head, cqe)
		{
			dispatch(px, cqe);
			seen++;
		}
		io_uring_cq_advance(&px->w.ring, seen);
	}
}

int proxy_run(struct config *cfg, struct config **applied, const char *config_path, int listen_fd,
	      int ctl_fd, struct splice *sp, struct stats *st)
{
	struct proxy *px;
	int err;

	px = calloc(1, sizeof(*px));
	if (!px)
		return -ENOMEM;
	px->w.cfg = cfg;
	px->w.sp = sp;
	px->w.st = st;
	px->lfd = listen_fd;
	px->ctl_env.cfg = cfg;
	px->ctl_env.sp = sp;
	px->ctl_env.st = st;
	px->ctl_env.config_path = config_path;
	px->ctl_env.applied = *applied;
	px->tick.tv_nsec = TICK_NS;
	err = io_uring_queue_init(RING_ENTRIES, &px->w.ring, 0);
	if (err < 0) {
		free(px);
		return err;
	}
	submit_accept(px);
	px->ctl = ctlsrv_open(&px->w.ring, &px->ctl_env, ctl_fd);
	if (!px->ctl) {
		io_uring_queue_exit(&px->w.ring);
		free(px);
		return -ENOMEM;
	}
	if (sp) {
		px->events_fd = splice_events_open(sp, session_on_event, &px->w);
		if (px->events_fd < 0) {
			pr_warn("splice events: %s; connections stay in user space",
				strerror(-px->events_fd));
			px->w.sp = NULL;
		} else {
			submit_events_poll(px);
		}
	}
	submit_tick(px);
	run_loop(px);
	if (px->w.spurious)
		pr_info("%lu spurious wake-ups of spliced sockets", px->w.spurious);
	io_uring_queue_exit(&px->w.ring);
	ctlsrv_close(px->ctl); /* after the ring: no completion names its connections */
	connmap_free(&px->w.spliced);
	*applied = px->ctl_env.applied; /* a reload may have replaced it */
	free(px);
	return 0;
}
