// SPDX-License-Identifier: GPL-2.0-only
/* Active health checks on worker 0's io_uring (health.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dataplane/health.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "lib/notify.h"
#include "dataplane/worker.h"

/* One backend's check: a connection, a request, the status line of the answer. */
struct check {
	unsigned pool, idx;
	int fd;		   /* -1: idle */
	bool busy;	   /* an operation is in flight */
	bool cancelled;	   /* the timeout asked for its cancel */
	uint64_t next_ns;  /* when the next check starts */
	uint64_t deadline; /* when this one fails */
	size_t len, sent;
	char buf[384]; /* the request, then the answer's first bytes */
};

struct health {
	struct io_uring *ring;
	struct pool_runtime *prt;
	bool unserved[POOL_MAX]; /* the pool had no backend that serves at the last look */
	struct check checks[POOL_MAX][POOL_MAX_BACKENDS];
};

struct health *health_open(struct io_uring *ring, struct pool_runtime *prt)
{
	struct health *hc = calloc(1, sizeof(*hc));

	if (!hc)
		return NULL;
	hc->ring = ring;
	hc->prt = prt;
	for (unsigned p = 0; p < POOL_MAX; p++)
		for (unsigned i = 0; i < POOL_MAX_BACKENDS; i++) {
			hc->checks[p][i].pool = p;
			hc->checks[p][i].idx = i;
			hc->checks[p][i].fd = -1;
		}
	return hc;
}

void health_close(struct health *hc)
{
	if (!hc)
		return;
	for (unsigned p = 0; p < POOL_MAX; p++)
		for (unsigned i = 0; i < POOL_MAX_BACKENDS; i++)
			if (hc->checks[p][i].fd >= 0)
				close(hc->checks[p][i].fd);
	free(hc);
}

void health_changed(const struct pool *p, unsigned idx, enum backend_health h, const char *why)
{
	const char *name = idx < p->nbackends ? p->backends[idx].name : "?";

	if (h == HEALTH_DOWN)
		pr_warn("backend %s of pool %s ejected: %s", name, p->name, why);
	else
		pr_info("backend %s of pool %s admitted again: %s", name, p->name, why);
	notify_event(h == HEALTH_DOWN ? "backend-down" : "backend-up", NULL, p->name, name, why);
}

static void submit(struct health *hc, struct check *ck, unsigned op, const struct pool_backend *b)
{
	struct io_uring_sqe *sqe = ring_get_sqe(hc->ring);

	if (op == HEALTH_OP_CONNECT)
		io_uring_prep_connect(sqe, ck->fd, (const struct sockaddr *)&b->addr, b->addrlen);
	else if (op == HEALTH_OP_SEND)
		io_uring_prep_send(sqe, ck->fd, ck->buf + ck->sent, ck->len - ck->sent,
				   MSG_NOSIGNAL);
	else
		io_uring_prep_recv(sqe, ck->fd, ck->buf + ck->len, sizeof(ck->buf) - 1 - ck->len,
				   0);
	io_uring_sqe_set_data64(sqe, ring_tag(ck, op));
	ck->busy = true;
}

/* The check is over: its verdict moves the backend's streak, and maybe its health. */
static void finish(struct health *hc, const struct config *cfg, struct check *ck, bool pass,
		   const char *why)
{
	struct pool_runtime *rt = &hc->prt[ck->pool];
	const struct pool *p = ck->pool < cfg->npools ? &cfg->pools[ck->pool] : NULL;
	enum backend_health h = pool_health_of(rt, ck->idx);
	char text[160];

	if (ck->fd >= 0)
		close(ck->fd);
	ck->fd = -1;
	ck->busy = false;
	ck->cancelled = false;
	if (!p || !p->health.active || ck->idx >= p->nbackends)
		return;
	if (!pass)
		pool_check_failed(rt, ck->idx, why, now_ns());
	/* The streak counts passes while ejected, failures while healthy. */
	if ((h == HEALTH_DOWN) != pass) {
		rt->b[ck->idx].streak = 0;
		return;
	}
	rt->b[ck->idx].streak++;
	if (h == HEALTH_UP && rt->b[ck->idx].streak >= p->health.fall) {
		snprintf(text, sizeof(text), "health check failed %u times in a row (%s)",
			 rt->b[ck->idx].streak, why);
		rt->b[ck->idx].streak = 0;
		if (pool_set_health(rt, ck->idx, HEALTH_DOWN))
			health_changed(p, ck->idx, HEALTH_DOWN, text);
	} else if (h == HEALTH_DOWN && rt->b[ck->idx].streak >= p->health.rise &&
		   pool_hold_over(rt, ck->idx, now_ns())) {
		/* Passes during an ejection's hold count, but admit only once it is over. */
		snprintf(text, sizeof(text), "health check passed %u times in a row",
			 rt->b[ck->idx].streak);
		rt->b[ck->idx].streak = 0;
		__atomic_store_n(&rt->b[ck->idx].fails, 0, __ATOMIC_RELAXED);
		if (pool_admit(rt, ck->idx, now_ns()))
			health_changed(p, ck->idx, HEALTH_UP, text);
	}
}

static void start(struct health *hc, const struct pool *p, struct check *ck, uint64_t now_ns)
{
	const struct pool_backend *b = &p->backends[ck->idx];
	char host[80];
	int n;

	ck->next_ns = now_ns + ms_ns(p->health.interval_ms);
	ck->deadline = now_ns + ms_ns(p->health.timeout_ms);
	ck->fd = socket(b->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (ck->fd < 0)
		return;
	snprintf(host, sizeof(host), "%s", b->name);
	n = snprintf(ck->buf, sizeof(ck->buf),
		     "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: strg-health\r\n"
		     "Connection: close\r\n\r\n",
		     p->health.path, host);
	ck->len = n > 0 && (size_t)n < sizeof(ck->buf) ? (size_t)n : 0;
	ck->sent = 0;
	submit(hc, ck, HEALTH_OP_CONNECT, b);
}

/* A pool lost its last backend that serves, or got one back: its routes fall back, or stop. */
static void watch_fallback(struct health *hc, const struct config *cfg, unsigned p, uint64_t now_ns)
{
	const struct pool *pl = &cfg->pools[p];
	bool unserved = pl->nbackends && !pool_available(pl, &hc->prt[p], now_ns);

	if (unserved == hc->unserved[p])
		return;
	hc->unserved[p] = unserved;
	if (unserved)
		pr_warn("pool %s has no backend that serves: its routes fall back", pl->name);
	else
		pr_info("pool %s serves again: its routes no longer fall back", pl->name);
	notify_event(unserved ? "fallback-start" : "fallback-end", NULL, pl->name, NULL,
		     unserved ? "no backend of the pool serves" : "a backend serves again");
}

void health_tick(struct health *hc, const struct config *cfg, uint64_t now_ns)
{
	if (!hc)
		return;
	for (unsigned p = 0; p < cfg->npools && p < POOL_MAX; p++) {
		const struct pool *pl = &cfg->pools[p];

		watch_fallback(hc, cfg, p, now_ns);
		if (!pl->health.active)
			continue;
		for (unsigned i = 0; i < pl->nbackends && i < POOL_MAX_BACKENDS; i++) {
			struct check *ck = &hc->checks[p][i];

			if (pl->backends[i].state == BACKEND_REMOVED)
				continue;
			if (ck->fd >= 0) {
				/* Past its timeout: cancel what is in flight; its completion fails
				 * it. */
				if (now_ns >= ck->deadline && ck->busy && !ck->cancelled) {
					struct io_uring_sqe *sqe = ring_get_sqe(hc->ring);

					io_uring_prep_cancel64(sqe, ring_tag(ck, HEALTH_OP_CONNECT),
							       0);
					io_uring_sqe_set_data64(sqe, ring_tag(NULL, RING_OP_NONE));
					sqe = ring_get_sqe(hc->ring);
					io_uring_prep_cancel64(sqe, ring_tag(ck, HEALTH_OP_SEND),
							       0);
					io_uring_sqe_set_data64(sqe, ring_tag(NULL, RING_OP_NONE));
					sqe = ring_get_sqe(hc->ring);
					io_uring_prep_cancel64(sqe, ring_tag(ck, HEALTH_OP_RECV),
							       0);
					io_uring_sqe_set_data64(sqe, ring_tag(NULL, RING_OP_NONE));
					ck->cancelled = true;
				}
				continue;
			}
			if (now_ns >= ck->next_ns)
				start(hc, pl, ck, now_ns);
		}
	}
}

/* "HTTP/1.x NNN": the status, or 0 when the bytes are not a status line (yet). */
static unsigned status_of(const char *buf, size_t len)
{
	if (len < 12 || memcmp(buf, "HTTP/1.", 7) || buf[8] != ' ')
		return 0;
	if (buf[9] < '1' || buf[9] > '5' || buf[10] < '0' || buf[10] > '9' || buf[11] < '0' ||
	    buf[11] > '9')
		return 0;
	return (unsigned)((buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0'));
}

void health_on_cqe(struct health *hc, const struct config *cfg, unsigned op, void *obj, int res)
{
	struct check *ck = obj;
	const struct pool *p = ck->pool < cfg->npools ? &cfg->pools[ck->pool] : NULL;
	char why[96];
	unsigned status;

	ck->busy = false;
	if (ck->fd < 0)
		return;
	if (!p || ck->idx >= p->nbackends) {
		finish(hc, cfg, ck, false, "pool changed");
		return;
	}
	if (res < 0 || ck->cancelled) {
		snprintf(why, sizeof(why), "%s: %s",
			 op == HEALTH_OP_CONNECT ? "connect"
			 : op == HEALTH_OP_SEND	 ? "send"
						 : "recv",
			 ck->cancelled ? "timed out" : strerror(-res));
		finish(hc, cfg, ck, false, why);
		return;
	}
	switch (op) {
	case HEALTH_OP_CONNECT:
		submit(hc, ck, HEALTH_OP_SEND, NULL);
		return;
	case HEALTH_OP_SEND:
		ck->sent += (size_t)res;
		if (ck->sent < ck->len) {
			submit(hc, ck, HEALTH_OP_SEND, NULL);
			return;
		}
		ck->len = 0;
		submit(hc, ck, HEALTH_OP_RECV, NULL);
		return;
	default:
		break;
	}
	ck->len += (size_t)res;
	status = status_of(ck->buf, ck->len);
	if (!status && res > 0 && ck->len + 1 < sizeof(ck->buf) && ck->len < 12) {
		submit(hc, ck, HEALTH_OP_RECV, NULL);
		return;
	}
	if (!status) {
		finish(hc, cfg, ck, false, res ? "not an HTTP answer" : "closed without an answer");
		return;
	}
	if (p->health.status ? status == p->health.status : status >= 200 && status < 400) {
		finish(hc, cfg, ck, true, "passed");
		return;
	}
	snprintf(why, sizeof(why), "answered %u", status);
	finish(hc, cfg, ck, false, why);
}
