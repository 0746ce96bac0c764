// SPDX-License-Identifier: GPL-2.0-only
/*
 * The metrics listener (metricsrv.h): its thread and ring, the HTTP protocol on the small-server
 * base (reqsrv.c: a strictly parsed request head, the proxy's own parser; GET or HEAD of
 * /metrics, /stats.json or /; one response with its length, then the connection is closed) and
 * the snapshots its views are rendered from.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <liburing.h>

#include "core/http.h"
#include "lib/clock.h"
#include "lib/listen.h"
#include "lib/log.h"
#include "observe/metrics.h"
#include "observe/metricsrv.h"
#include "lib/reqsrv.h"
#include "lib/ring.h"

#define TICK_NS (100 * 1000000ull)

/* A held request's token: the snapshot it waits for, and what it asked (below). */
#define HOLD_PROM  1u /* /metrics, else /stats.json */
#define HOLD_HEAD  2u /* HEAD: no body */
#define HOLD_SHIFT 2

/* The status page (statuspage.html, linked in by statuspage.S). */
extern const char strg_status_page[];

/* The view every reader of one interval is served, each format rendered on first need. */
struct snapshot {
	struct metrics_view v;
	int err; /* 0: v holds a counted view; else why there is none (503) */
	struct reqsrv_body *prom, *json;
};

struct metricsrv {
	int fd;	      /* the listening socket, for a restart's hand-over (worker 0 reads it) */
	int owner_fd; /* worker 0's ring: frames are asked of it */
	int efd;      /* eventfd: worker 0 wrote a frame, or wants the thread to stop (accepting) */
	struct stats *st;
	pthread_t thread;
	/* Written by worker 0 and the thread alike: under lock. */
	pthread_mutex_t lock;
	struct metrics_view *frame; /* handed over by worker 0, not taken yet */
	int frame_err;
	bool stop, stop_accepting;
	/* The thread's own. */
	struct io_uring ring;
	struct reqsrv *srv;
	struct http_limits lim;
	struct http_request req; /* scratch for the parser */
	struct __kernel_timespec tick;
	struct snapshot snap;
	uint64_t built;	   /* snapshots taken so far: the current one is number built */
	uint64_t wanted;   /* the newest snapshot a held request waits for */
	bool asking;	   /* a frame was asked of worker 0 and has not come */
	uint64_t asked_ns; /* when the last one was asked */
	uint64_t eventfd_buf;
	struct reqsrv_body *page; /* the status page */
	bool running;
};

static void respond_head(struct reply *out, unsigned status, const char *type, const char *extra,
			 size_t len)
{
	char head[512], more[128];

	snprintf(more, sizeof(more), "Cache-Control: no-store\r\n%s", extra);
	http_own_head(head, sizeof(head), status, type, len, more);
	reply_printf(out, "%s", head);
}

static void respond_text(struct reply *out, unsigned status, const char *extra, bool head_only)
{
	char body[64];
	int n = http_own_body(body, sizeof(body), status);

	respond_head(out, status, "text/plain; charset=utf-8", extra, (size_t)n);
	if (!head_only)
		reply_printf(out, "%s", body);
}

/* A shared body: its head in out, a reference for the connection unless head_only. */
static void respond_body(struct reqsrv_req *rq, struct reply *out, const char *type,
			 struct reqsrv_body *b, bool head_only)
{
	respond_head(out, 200, type, "", b->len);
	if (!head_only)
		rq->body = reqsrv_body_get(b);
}

static bool path_is(const struct http_request *req, const char *path)
{
	return req->path_len == strlen(path) && !memcmp(req->path, path, req->path_len);
}

/* ---- snapshots ---- */

static void snapshot_free(struct snapshot *s)
{
	if (!s->err)
		metrics_view_free(&s->v);
	reqsrv_body_put(s->prom);
	reqsrv_body_put(s->json);
	memset(s, 0, sizeof(*s));
	s->err = -ENOENT;
}

/* Prometheus' text or the JSON of the current snapshot, rendered the first time it is asked. */
static struct reqsrv_body *rendered(struct metricsrv *ms, bool prom)
{
	struct snapshot *s = &ms->snap;

	if (s->err)
		return NULL;
	if (prom && !s->prom) {
		struct reply text = {0};

		metrics_prometheus(&s->v, &text);
		if (text.oom)
			reply_free(&text);
		else
			s->prom = reqsrv_body_new(text.buf, text.len);
	} else if (!prom && !s->json) {
		json_t *doc = metrics_json(&s->v);
		char *text = doc ? json_dumps(doc, REPLY_JSON_FLAGS) : NULL;

		json_decref(doc);
		if (text)
			s->json = reqsrv_body_new(text, strlen(text));
	}
	return prom ? s->prom : s->json;
}

/* A frame came from worker 0 (or its failure): count it, and it is the current snapshot. */
static void snapshot_take(struct metricsrv *ms, struct metrics_view *frame, int err)
{
	snapshot_free(&ms->snap);
	if (frame) {
		ms->snap.v = *frame;
		free(frame);
		err = metrics_count(ms->st, now_ns(), &ms->snap.v);
		if (err)
			metrics_view_free(&ms->snap.v);
	}
	ms->snap.err = err;
	ms->built++;
}

/* Ask worker 0 for a frame when a reader waits for a newer snapshot and the interval allows. */
static void ask_if_due(struct metricsrv *ms)
{
	uint64_t now = now_ns();
	struct io_uring_sqe *sqe;

	if (ms->asking || ms->wanted <= ms->built ||
	    (ms->asked_ns && now - ms->asked_ns < METRICSRV_INTERVAL_NS))
		return;
	sqe = ring_get_sqe(&ms->ring);
	io_uring_prep_msg_ring(sqe, ms->owner_fd, 0, ring_tag(ms, METRICSRV_OP_FRAME), 0);
	io_uring_sqe_set_data64(sqe, ring_tag(NULL, METRICSRV_OP_FRAME));
	ms->asking = true;
	ms->asked_ns = now;
}

void metricsrv_frame(struct metricsrv *ms, struct metrics *m, const struct metrics_src *src)
{
	struct metrics_view *v = malloc(sizeof(*v));
	uint64_t one = 1;
	int err = v ? metrics_frame(m, src, now_ns(), v) : -ENOMEM;

	if (!err && (err = metrics_view_detach(v)))
		metrics_view_free(v);
	if (err) {
		free(v);
		v = NULL;
	}
	pthread_mutex_lock(&ms->lock);
	if (ms->frame) { /* not taken yet: cannot happen, one is asked at a time */
		metrics_view_free(ms->frame);
		free(ms->frame);
	}
	ms->frame = v;
	ms->frame_err = err;
	pthread_mutex_unlock(&ms->lock);
	if (write(ms->efd, &one, sizeof(one)) < 0)
		pr_warn("metrics: waking the listener: %s", strerror(errno));
}

/* ---- the protocol ---- */

/* A view: held until a snapshot taken after this request's arrival exists. */
static enum reqsrv_step hold_view(struct metricsrv *ms, struct reqsrv_req *rq, bool prom,
				  bool head_only)
{
	/* A frame asked already may have been read before this request came: the one after. */
	uint64_t seq = ms->built + (ms->asking ? 2 : 1);

	rq->hold = seq << HOLD_SHIFT | (prom ? HOLD_PROM : 0) | (head_only ? HOLD_HEAD : 0);
	if (seq > ms->wanted)
		ms->wanted = seq;
	ask_if_due(ms);
	return REQ_HOLD;
}

static enum reqsrv_step http_request(void *ctx, struct reqsrv_req *rq, struct reply *out)
{
	struct metricsrv *ms = ctx;
	struct http_request *req = &ms->req;
	bool head_only;
	int n;

	if (rq->overflowed) {
		respond_text(out, 431, "", false);
		return REQ_REPLY;
	}
	n = http_parse_request(rq->buf, rq->len, &ms->lim, req);
	if (n == 0)
		return REQ_MORE;
	if (n < 0) {
		respond_text(out, (unsigned)-n, "", false);
		return REQ_REPLY;
	}
	head_only = req->method == HTTP_M_HEAD;
	if (req->method != HTTP_M_GET && !head_only)
		respond_text(out, 405, "Allow: GET, HEAD\r\n", false);
	else if (path_is(req, "/metrics") || path_is(req, "/stats.json"))
		return hold_view(ms, rq, path_is(req, "/metrics"), head_only);
	else if (path_is(req, "/"))
		respond_body(rq, out, "text/html; charset=utf-8", ms->page, head_only);
	else
		respond_text(out, 404, "", head_only);
	return REQ_REPLY;
}

static bool view_released(void *ctx, struct reqsrv_req *rq, struct reply *out)
{
	struct metricsrv *ms = ctx;
	bool prom = rq->hold & HOLD_PROM, head_only = rq->hold & HOLD_HEAD;
	struct reqsrv_body *b;

	if (rq->hold >> HOLD_SHIFT > ms->built)
		return false;
	b = rendered(ms, prom);
	if (!b)
		respond_text(out, 503, "", head_only);
	else
		respond_body(rq, out,
			     prom ? "text/plain; version=0.0.4; charset=utf-8" : "application/json",
			     b, head_only);
	return true;
}

static const struct reqsrv_proto http_proto = {
	.name = "metrics",
	.what = "request",
	.max = METRICSRV_HEAD_MAX,
	.op_base = RING_OPS_METRICS,
	.busy = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: "
		"close\r\n\r\n",
	.shed_slow = true,
	.request = http_request,
	.released = view_released,
};

/* ---- the thread ---- */

static void submit_tick(struct metricsrv *ms)
{
	struct io_uring_sqe *sqe = ring_get_sqe(&ms->ring);

	io_uring_prep_timeout(sqe, &ms->tick, 0, 0);
	io_uring_sqe_set_data64(sqe, ring_tag(NULL, RING_OP_TIMER));
}

static void submit_wake(struct metricsrv *ms)
{
	struct io_uring_sqe *sqe = ring_get_sqe(&ms->ring);

	io_uring_prep_read(sqe, ms->efd, &ms->eventfd_buf, sizeof(ms->eventfd_buf), 0);
	io_uring_sqe_set_data64(sqe, ring_tag(NULL, RING_OP_WAKE));
}

/* The eventfd: a frame to take, or worker 0 wants the thread to stop (accepting). */
static void on_wake(struct metricsrv *ms)
{
	struct metrics_view *frame;
	bool stop, stop_accepting, got;
	int err;

	pthread_mutex_lock(&ms->lock);
	frame = ms->frame;
	err = ms->frame_err;
	got = frame || err;
	ms->frame = NULL;
	ms->frame_err = 0;
	stop = ms->stop;
	stop_accepting = ms->stop_accepting;
	pthread_mutex_unlock(&ms->lock);
	if (stop_accepting)
		reqsrv_stop(ms->srv);
	if (stop) {
		ms->running = false;
		return;
	}
	if (got) {
		ms->asking = false;
		snapshot_take(ms, frame, err);
		reqsrv_release(ms->srv);
	}
	ask_if_due(ms);
	submit_wake(ms);
}

static void dispatch(struct metricsrv *ms, struct io_uring_cqe *cqe)
{
	uint64_t ud = io_uring_cqe_get_data64(cqe);
	unsigned op = ring_tag_op(ud);

	switch (op) {
	case RING_OPS_METRICS ... RING_OPS_METRICS + REQSRV_OPS - 1:
		reqsrv_on_cqe(ms->srv, op, ring_tag_obj(ud), cqe->res, cqe->flags);
		return;
	case RING_OP_TIMER:
		reqsrv_tick(ms->srv, now_ns());
		ask_if_due(ms);
		submit_tick(ms);
		return;
	case RING_OP_WAKE:
		on_wake(ms);
		return;
	case METRICSRV_OP_FRAME: /* an ask sent, or not: then the next tick asks again */
		if (cqe->res < 0) {
			pr_warn("metrics: asking worker 0 for a frame: %s", strerror(-cqe->res));
			ms->asking = false;
		}
		return;
	default: /* RING_OP_NONE: cancels */
		return;
	}
}

static void *run(void *arg)
{
	struct metricsrv *ms = arg;
	sigset_t all;

	/* strgd's signals are for the workers, which look at what they set on every turn. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), METRICSRV_NICE) < 0)
		pr_debug("metrics: nice %d: %s", METRICSRV_NICE, strerror(errno));
	submit_tick(ms);
	submit_wake(ms);
	while (ms->running) {
		struct io_uring_cqe *cqe;
		unsigned head, seen = 0;
		int err = io_uring_submit_and_wait(&ms->ring, 1);

		if (err < 0 && err != -EINTR && err != -EAGAIN && err != -EBUSY) {
			pr_warn("metrics: io_uring: %s", strerror(-err));
			break;
		}
		io_uring_for_each_cqe(&ms->ring, head, cqe)
		{
			dispatch(ms, cqe);
			seen++;
		}
		io_uring_cq_advance(&ms->ring, seen);
	}
	return NULL;
}

/* ---- setting up and tearing down ---- */

/* Everything but the thread and the listening socket; -errno. */
static int metricsrv_init(struct metricsrv *ms, struct stats *st, int owner_ring_fd)
{
	char *page = strdup(strg_status_page);
	int err;

	ms->owner_fd = owner_ring_fd;
	ms->st = st;
	ms->snap.err = -ENOENT;
	ms->tick.tv_nsec = TICK_NS;
	ms->running = true;
	http_limits_default(&ms->lim);
	pthread_mutex_init(&ms->lock, NULL);
	ms->page = page ? reqsrv_body_new(page, strlen(page)) : NULL;
	ms->efd = eventfd(0, EFD_CLOEXEC);
	if (!ms->page || ms->efd < 0)
		return ms->efd < 0 ? -errno : -ENOMEM;
	err = io_uring_queue_init(64, &ms->ring, 0);
	if (err < 0)
		return err;
	ms->srv = reqsrv_open(&ms->ring, &http_proto, ms, ms->fd, NULL);
	if (!ms->srv)
		return -ENOMEM;
	return 0;
}

static void metricsrv_free(struct metricsrv *ms)
{
	if (ms->ring.ring_fd > 0)
		io_uring_queue_exit(&ms->ring);
	if (ms->srv)
		reqsrv_close(ms->srv); /* after the ring: no completion names its connections */
	else if (ms->fd >= 0)
		close(ms->fd);
	if (ms->efd >= 0)
		close(ms->efd);
	snapshot_free(&ms->snap);
	reqsrv_body_put(ms->page);
	if (ms->frame) {
		metrics_view_free(ms->frame);
		free(ms->frame);
	}
	pthread_mutex_destroy(&ms->lock);
	free(ms);
}

struct metricsrv *metricsrv_open(struct stats *st, const struct config *cfg, int fd,
				 int owner_ring_fd)
{
	struct metricsrv *ms = calloc(1, sizeof(*ms));
	int err;

	if (fd < 0)
		fd = listen_tcp(&cfg->metrics, cfg->metrics_len, 64, false);
	if (!ms || fd < 0) {
		err = fd < 0 ? -fd : ENOMEM;
		if (fd >= 0)
			close(fd);
		free(ms);
		errno = err;
		return NULL;
	}
	ms->fd = fd;
	ms->efd = -1;
	err = metricsrv_init(ms, st, owner_ring_fd);
	if (!err)
		err = -pthread_create(&ms->thread, NULL, run, ms);
	if (err) {
		metricsrv_free(ms);
		errno = -err;
		return NULL;
	}
	return ms;
}

int metricsrv_fd(const struct metricsrv *ms)
{
	return ms ? ms->fd : -1;
}

/* Tell the thread to stop (accepting, or altogether). */
static void tell(struct metricsrv *ms, bool stop)
{
	uint64_t one = 1;

	pthread_mutex_lock(&ms->lock);
	ms->stop_accepting = true;
	ms->stop |= stop;
	pthread_mutex_unlock(&ms->lock);
	if (write(ms->efd, &one, sizeof(one)) < 0)
		pr_warn("metrics: waking the listener: %s", strerror(errno));
}

void metricsrv_stop(struct metricsrv *ms)
{
	if (!ms || ms->fd < 0)
		return;
	ms->fd = -1; /* the thread closes it */
	tell(ms, false);
}

void metricsrv_close(struct metricsrv *ms)
{
	if (!ms)
		return;
	tell(ms, true);
	pthread_join(ms->thread, NULL);
	metricsrv_free(ms);
}
