// SPDX-License-Identifier: GPL-2.0-only
/*
 * Shadow copies on a worker's ring (shadow.h): the copy's request, its connections to the
 * shadow pool (and, for noise, to the route's pool again), the answers kept and compared.
 * Called by the exchange as the user's bytes pass and by the loop for the copies' completions
 * and the timer; nothing here calls the exchange back.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/httpcap.h"
#include "core/proxyproto.h"
#include "dataplane/conn.h"
#include "dataplane/shadow.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "lib/notify.h"
#include "observe/shadowcmp.h"
#include "observe/shadowstats.h"
#include "observe/stats.h"

#define RBUF_SIZE  16384
#define SHADOW_HDR "X-Strg-Shadow: 1\r\n"
#define LEGS	   2		   /* [0] the shadow pool, [1] the route's own pool again (noise) */
#define IDLE_MAX   16		   /* kept-alive copy connections per pool and worker */
#define IDLE_NS	   (4000000000ull) /* kept at most this long (backends keep theirs longer) */

/* A worker's copy connections kept alive between copies, per pool. */
struct shadow_idle {
	unsigned n[POOL_MAX];
	struct {
		int fd;
		uint8_t bidx;
		uint64_t since;
	} c[POOL_MAX][IDLE_MAX];
};

/* One connection of a copy: to the shadow pool, or to the route's pool for noise. */
struct shadow_leg {
	struct shadow_copy *sc;
	int pool;	  /* -1: no such leg */
	int fd;		  /* -1: none (yet, or any more) */
	uint8_t bidx;	  /* its backend in the pool */
	bool reusable;	  /* its answer ended the bytes it sent, and it keeps the connection */
	uint32_t pending; /* bit (op - SHADOW_OP_CONNECT) per operation in flight */
	uint32_t sent;
	bool done; /* its answer is whole, or it failed (why) */
	bool failed;
	enum shadow_drop why;
	uint64_t t_start, t_end; /* its connect began, its answer ended */
	char *rbuf;
	struct httpcap cap;
};

struct shadow_copy {
	struct shadow_copy *prev, *next; /* the worker's list */
	struct worker *w;
	uint32_t slot, route_id;
	struct route_shadow sh; /* the route's settings when the copy began */
	bool attached;		/* the user's exchange still feeds it (c->shadow) */
	bool user_done, user_ok;
	bool going;   /* the legs were started */
	bool dropped; /* given up before it went (its reason counted) */
	bool cancelled;
	uint64_t t_user, user_us; /* the user's request began; its answer's time */
	uint64_t deadline_ns;
	union conn_addr peer, local; /* for a pool that asks for the PROXY header */
	char *req;		     /* the request to send: head, X-Strg-Shadow, body */
	uint32_t req_len, req_cap;
	uint32_t head_len;   /* of it, the head's */
	struct httpcap user; /* the user's answer */
	struct shadow_leg leg[LEGS];
	char method[12], path[128], id[64];
};

static struct shadowstats *sstats(const struct worker *w)
{
	return stats_shadow(w->st);
}

static uint64_t next_random(struct worker *w)
{
	uint64_t x = w->shadow_rng ? w->shadow_rng : now_ns() | 1;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	w->shadow_rng = x;
	return x;
}

/* Keep a copy's connection for the next copy to the pool; false when there is no room. */
static bool idle_put(struct worker *w, int pool, int fd, uint8_t bidx)
{
	struct shadow_idle *id = w->shadow_idle;

	if (!id)
		id = w->shadow_idle = calloc(1, sizeof(*id));
	if (!id || pool < 0 || pool >= POOL_MAX || id->n[pool] == IDLE_MAX)
		return false;
	id->c[pool][id->n[pool]].fd = fd;
	id->c[pool][id->n[pool]].bidx = bidx;
	id->c[pool][id->n[pool]++].since = now_ns();
	return true;
}

/*
 * A kept connection to a backend of pool that still serves and whose peer has not closed it
 * (a peek sees nothing to read), or -1.
 */
static int idle_take(struct worker *w, int pool, uint8_t *bidx)
{
	struct shadow_idle *id = w->shadow_idle;
	const struct pool *p = &w->cfg->pools[pool];
	char b;

	while (id && id->n[pool]) {
		unsigned k = --id->n[pool];
		int fd = id->c[pool][k].fd;

		*bidx = id->c[pool][k].bidx;
		if (*bidx < p->nbackends && p->backends[*bidx].state == BACKEND_READY &&
		    recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) < 0 && errno == EAGAIN)
			return fd;
		close(fd);
	}
	return -1;
}

/* Kept connections past their time (all of them with all) are closed. */
static void idle_expire(struct worker *w, uint64_t now, bool all)
{
	struct shadow_idle *id = w->shadow_idle;

	for (unsigned p = 0; id && p < POOL_MAX; p++)
		for (unsigned k = 0; k < id->n[p];) {
			if (!all && now - id->c[p][k].since < IDLE_NS) {
				k++;
				continue;
			}
			close(id->c[p][k].fd);
			id->c[p][k] = id->c[p][--id->n[p]];
		}
}

static void leg_free(struct shadow_leg *l)
{
	if (l->fd >= 0 &&
	    !(l->reusable && !l->pending && idle_put(l->sc->w, l->pool, l->fd, l->bidx)))
		close(l->fd);
	l->fd = -1;
	free(l->rbuf);
	l->rbuf = NULL;
	httpcap_free(&l->cap);
}

static void copy_free(struct shadow_copy *sc)
{
	struct worker *w = sc->w;

	if (sc->prev)
		sc->prev->next = sc->next;
	else
		w->shadows = sc->next;
	if (sc->next)
		sc->next->prev = sc->prev;
	for (int i = 0; i < LEGS; i++)
		leg_free(&sc->leg[i]);
	httpcap_free(&sc->user);
	free(sc->req);
	shadowstats_done(sstats(w), sc->slot);
	free(sc);
}

/* Room for n more request bytes within the bound (head + max-body); false: over it. */
static bool req_room(struct shadow_copy *sc, uint32_t n)
{
	uint32_t want = sc->req_len + n;
	char *p;

	if (want > sc->req_cap) {
		uint32_t cap = sc->req_cap * 2 > want ? sc->req_cap * 2 : want;

		p = realloc(sc->req, cap);
		if (!p)
			return false;
		sc->req = p;
		sc->req_cap = cap;
	}
	return true;
}

/* The value of the request's X-Request-Id (else the one strgd made up) for the views. */
static void request_id(struct shadow_copy *sc, const struct conn *c, const struct http_request *req,
		       const char *buf)
{
	for (unsigned i = 0; i < req->nfields; i++) {
		const struct http_field *f = &req->fields[i];

		if (f->name_len == 12 && !strncasecmp(buf + f->name_off, "x-request-id", 12)) {
			snprintf(sc->id, sizeof(sc->id), "%.*s", (int)f->value_len,
				 buf + f->value_off);
			return;
		}
	}
	if (c->ri && c->ri->id_added)
		snprintf(sc->id, sizeof(sc->id), "%s", c->ri->id);
}

/* Whether the request is one the route's shadow copies; counts the drops it decides. */
static bool wanted(struct conn *c, const struct route *rt, const struct http_request *req,
		   unsigned bucket)
{
	const struct route_shadow *sh = rt->spec.shadow;

	if (!sh || conn_has(c, CF_FALLBACK) || c->pool != rt->spec.pool || req->upgrade ||
	    !shadowspec_copies(sh, req->method) || (bucket & 0xffff) >= sh->permille ||
	    rt->slot >= STRG_ROUTE_SLOTS || (unsigned)sh->pool >= c->w->cfg->npools)
		return false;
	if (req->body == HTTP_BODY_LENGTH && req->content_length > sh->max_body) {
		shadowstats_drop(sstats(c->w), rt->slot, rt->id, SHADOW_DROP_BODY);
		return false;
	}
	return shadowstats_take(sstats(c->w), rt->slot, rt->id, sh->max_inflight);
}

/* A copy on the worker's list; NULL (its in-flight place given back) when out of memory. */
static struct shadow_copy *copy_new(struct conn *c, const struct route *rt, uint32_t head_len)
{
	struct shadow_copy *sc = calloc(1, sizeof(*sc));

	if (!sc) {
		shadowstats_done(sstats(c->w), rt->slot);
		return NULL;
	}
	sc->w = c->w;
	sc->slot = rt->slot;
	sc->route_id = rt->id;
	sc->sh = *rt->spec.shadow;
	sc->req_cap = head_len + (uint32_t)sizeof(SHADOW_HDR) + 1024;
	sc->req = malloc(sc->req_cap);
	sc->t_user = now_ns();
	sc->peer = c->peer_addr;
	for (int i = 0; i < LEGS; i++) {
		sc->leg[i] = (struct shadow_leg){.sc = sc, .pool = -1, .fd = -1};
		httpcap_init(&sc->leg[i].cap, c->method, sc->sh.max_body);
	}
	httpcap_init(&sc->user, c->method, sc->sh.max_body);
	sc->next = c->w->shadows;
	if (sc->next)
		sc->next->prev = sc;
	c->w->shadows = sc;
	if (!sc->req) {
		copy_free(sc);
		return NULL;
	}
	return sc;
}

void shadow_start(struct conn *c, const struct route *rt, const struct http_request *req,
		  const char *buf, const char *head, uint32_t head_len, unsigned bucket)
{
	struct shadow_copy *sc;
	socklen_t len = sizeof(union conn_addr);

	if (c->shadow || !wanted(c, rt, req, bucket))
		return;
	sc = copy_new(c, rt, head_len);
	if (!sc) {
		/* copy_new gave the in-flight place back (copy_free) or never had one to give. */
		shadowstats_drop(sstats(c->w), rt->slot, rt->id, SHADOW_DROP_ERROR);
		return;
	}
	/* The head as forwarded, one field more before its empty line. */
	memcpy(sc->req, head, head_len - 2);
	memcpy(sc->req + head_len - 2, SHADOW_HDR "\r\n", sizeof(SHADOW_HDR) + 1);
	sc->req_len = head_len + (uint32_t)sizeof(SHADOW_HDR) - 1;
	sc->head_len = sc->req_len;
	snprintf(sc->method, sizeof(sc->method), "%.*s", (int)req->method_len, req->method_str);
	snprintf(sc->path, sizeof(sc->path), "%.*s", (int)req->path_len, req->path);
	request_id(sc, c, req, buf);
	if (getsockname(c->cd[CLIENT].fd, &sc->local.sa, &len) || len > sizeof(sc->local))
		sc->local.sa.sa_family = AF_UNSPEC;
	sc->attached = true;
	/* A share of the copies is sent to the route's own pool twice: its noise. */
	sc->leg[0].pool = sc->sh.pool;
	if (sc->sh.noise_permille && next_random(c->w) % 1000 < sc->sh.noise_permille)
		sc->leg[1].pool = rt->spec.pool;
	c->shadow = sc;
}

/* Given up before it went: counted, let go of by the connection. */
static void drop_early(struct conn *c, enum shadow_drop why)
{
	struct shadow_copy *sc = c->shadow;

	shadowstats_drop(sstats(c->w), sc->slot, sc->route_id, why);
	c->shadow = NULL;
	copy_free(sc);
}

void shadow_request_body(struct conn *c, const char *buf, uint32_t n)
{
	struct shadow_copy *sc = c->shadow;

	/* The bound is on what is held: a body longer than max-body is never buffered past it. */
	if (sc->going)
		return;
	if (sc->req_len + n > sc->head_len + sc->sh.max_body || !req_room(sc, n)) {
		drop_early(c, SHADOW_DROP_BODY);
		return;
	}
	memcpy(sc->req + sc->req_len, buf, n);
	sc->req_len += n;
}

/* ---- the copy's connections ---- */

static void submit(struct shadow_leg *l, unsigned op, const struct pool_backend *b)
{
	struct io_uring_sqe *sqe = ring_get_sqe(&l->sc->w->ring);

	if (op == SHADOW_OP_CONNECT)
		io_uring_prep_connect(sqe, l->fd, (const struct sockaddr *)&b->addr, b->addrlen);
	else if (op == SHADOW_OP_SEND)
		io_uring_prep_send(sqe, l->fd, l->sc->req + l->sent, l->sc->req_len - l->sent,
				   MSG_NOSIGNAL);
	else
		io_uring_prep_recv(sqe, l->fd, l->rbuf, RBUF_SIZE, 0);
	io_uring_sqe_set_data64(sqe, ring_tag(l, op));
	l->pending |= 1u << (op - SHADOW_OP_CONNECT);
}

static void leg_fail(struct shadow_leg *l, enum shadow_drop why)
{
	if (l->done)
		return;
	l->done = true;
	l->failed = true;
	l->why = why;
	l->t_end = now_ns();
	if (l->fd >= 0)
		shutdown(l->fd, SHUT_RDWR);
}

/* A PROXY v2 header first when the pool asks for one, as the user's connections send. */
static int proxy_header(struct shadow_leg *l, const struct pool *p)
{
	struct shadow_copy *sc = l->sc;
	char pp[PROXYPROTO_V2_MAX];
	int n;

	if (!p->proxy_protocol || l->sent)
		return 0;
	n = proxyproto_v2(pp, sizeof(pp), &sc->peer.sa, &sc->local.sa);
	if (n < 0 || !req_room(sc, (uint32_t)n))
		return -1;
	/* Both legs send the same bytes: the header goes at the request's front once. */
	memmove(sc->req + n, sc->req, sc->req_len);
	memcpy(sc->req, pp, (size_t)n);
	sc->req_len += (uint32_t)n;
	return 0;
}

static void leg_start(struct shadow_leg *l)
{
	struct worker *w = l->sc->w;
	const struct pool *p = &w->cfg->pools[l->pool];
	int idx, one = 1;

	l->t_start = now_ns();
	l->rbuf = malloc(RBUF_SIZE);
	/* A kept connection first (not to a pool that wants a PROXY header per connection). */
	if (l->rbuf && !p->proxy_protocol && (l->fd = idle_take(w, l->pool, &l->bidx)) >= 0) {
		submit(l, SHADOW_OP_SEND, NULL);
		submit(l, SHADOW_OP_RECV, NULL);
		return;
	}
	idx = pool_pick(p, &w->prt[l->pool], now_ns());
	if (idx < 0) {
		leg_fail(l, SHADOW_DROP_REFUSED);
		return;
	}
	l->bidx = (uint8_t)idx;
	l->fd = l->rbuf ? socket(p->backends[idx].addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)
			: -1;
	if (l->fd < 0) {
		leg_fail(l, SHADOW_DROP_ERROR);
		return;
	}
	setsockopt(l->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	submit(l, SHADOW_OP_CONNECT, &p->backends[idx]);
}

static void copy_maybe_end(struct shadow_copy *sc);

void shadow_request_sent(struct conn *c)
{
	struct shadow_copy *sc = c->shadow;
	struct worker *w = c->w;

	if (sc->going)
		return;
	sc->going = true;
	sc->deadline_ns = now_ns() + ms_ns(sc->sh.timeout_ms);
	shadowstats_sent(sstats(w), sc->slot, sc->route_id);
	/* The PROXY header, when a pool wants it, is the same for both legs' pools or none. */
	if ((w->cfg->pools[sc->leg[0].pool].proxy_protocol ||
	     (sc->leg[1].pool >= 0 && w->cfg->pools[sc->leg[1].pool].proxy_protocol)) &&
	    proxy_header(&sc->leg[0], &w->cfg->pools[sc->leg[0].pool]) < 0)
		leg_fail(&sc->leg[0], SHADOW_DROP_ERROR);
	for (int i = 0; i < LEGS; i++)
		if (sc->leg[i].pool >= 0 && !sc->leg[i].done)
			leg_start(&sc->leg[i]);
}

void shadow_response(struct conn *c, const char *buf, uint32_t n)
{
	struct shadow_copy *sc = c->shadow;

	if (sc->user.state == HTTPCAP_HEAD || sc->user.state == HTTPCAP_BODY)
		httpcap_feed(&sc->user, buf, n);
}

void shadow_user_end(struct conn *c, bool complete)
{
	struct shadow_copy *sc = c->shadow;

	if (!sc)
		return;
	c->shadow = NULL;
	sc->attached = false;
	if (!sc->going) {
		/* The user's request never went whole to its pool: no copy either. */
		shadowstats_drop(sstats(c->w), sc->slot, sc->route_id, SHADOW_DROP_LEGACY);
		copy_free(sc);
		return;
	}
	if (complete && sc->user.state == HTTPCAP_BODY)
		httpcap_eof(&sc->user); /* an answer delimited by its connection's close */
	sc->user_done = true;
	sc->user_ok = complete && httpcap_done(&sc->user);
	sc->user_us = (now_ns() - sc->t_user) / 1000;
	copy_maybe_end(sc);
}

void shadow_conn_free(struct conn *c)
{
	shadow_user_end(c, false);
}

/* ---- the end: compare, count, free ---- */

static void compare_and_count(struct shadow_copy *sc)
{
	struct shadowcmp_opts o = {sc->sh.compare, sc->sh.ignore_headers, sc->sh.ignore_json};
	struct shadowcmp_result *lm = calloc(2, sizeof(*lm)), *ll = lm ? lm + 1 : NULL;
	const struct shadow_leg *m = &sc->leg[0], *n = &sc->leg[1];
	struct shadowstats_outcome out = {.slot = sc->slot,
					  .route_id = sc->route_id,
					  .method = sc->method,
					  .path = sc->path,
					  .id = sc->id,
					  .legacy_us = sc->user_us,
					  .modern_us = (m->t_end - m->t_start) / 1000,
					  .status_a = sc->user.status,
					  .status_b = m->cap.status};

	if (!lm) {
		shadowstats_drop(sstats(sc->w), sc->slot, sc->route_id, SHADOW_DROP_ERROR);
		return;
	}
	shadowcmp_compare(&o, &sc->user, &m->cap, lm);
	out.lm = lm;
	if (n->pool >= 0 && n->done && !n->failed) {
		shadowcmp_compare(&o, &sc->user, &n->cap, ll);
		out.ll = ll;
	}
	shadowstats_record(sstats(sc->w), &out);
	free(lm);
}

/* Once the user's exchange and every leg ended: the outcome is counted and the copy freed. */
static void copy_maybe_end(struct shadow_copy *sc)
{
	const struct shadow_leg *m = &sc->leg[0];

	if (!sc->user_done)
		return;
	for (int i = 0; i < LEGS; i++)
		if (sc->leg[i].pool >= 0 && !sc->leg[i].done)
			return;
	if (!sc->dropped) {
		sc->dropped = true;
		if (!sc->user_ok)
			shadowstats_drop(sstats(sc->w), sc->slot, sc->route_id, SHADOW_DROP_LEGACY);
		else if (m->failed)
			shadowstats_drop(sstats(sc->w), sc->slot, sc->route_id, m->why);
		else
			compare_and_count(sc);
	}
	for (int i = 0; i < LEGS; i++)
		if (sc->leg[i].pending)
			return; /* freed when the last completion comes */
	copy_free(sc);
}

static void leg_recv(struct shadow_leg *l, int res)
{
	long used;

	if (res == 0) {
		httpcap_eof(&l->cap);
		if (httpcap_done(&l->cap))
			l->done = true, l->t_end = now_ns();
		else
			leg_fail(l, SHADOW_DROP_ERROR);
		return;
	}
	used = httpcap_feed(&l->cap, l->rbuf, (size_t)res);
	if (used < 0) {
		leg_fail(l, SHADOW_DROP_ERROR);
		return;
	}
	if (httpcap_done(&l->cap)) {
		l->done = true;
		l->t_end = now_ns();
		/* Nothing beyond the answer, all of the request sent: the next copy may use it. */
		l->reusable = used == res && l->cap.keep_alive && l->sent == l->sc->req_len;
		if (!l->reusable)
			shutdown(l->fd, SHUT_RDWR);
		return;
	}
	submit(l, SHADOW_OP_RECV, NULL);
}

/* A completion of the leg's operation op (its bit already cleared). */
static void leg_step(struct shadow_leg *l, unsigned op, int res)
{
	if (l->done)
		return;
	if (res < 0) {
		bool refused = op == SHADOW_OP_CONNECT && res != -ECANCELED;

		leg_fail(l, l->sc->cancelled || res == -ECANCELED ? SHADOW_DROP_TIMEOUT
			    : refused				  ? SHADOW_DROP_REFUSED
								  : SHADOW_DROP_ERROR);
		return;
	}
	switch (op) {
	case SHADOW_OP_CONNECT:
		submit(l, SHADOW_OP_SEND, NULL);
		submit(l, SHADOW_OP_RECV, NULL);
		return;
	case SHADOW_OP_SEND:
		l->sent += (uint32_t)res;
		if (l->sent < l->sc->req_len)
			submit(l, SHADOW_OP_SEND, NULL);
		return;
	default:
		leg_recv(l, res);
		return;
	}
}

void shadow_on_cqe(struct worker *w, unsigned op, void *obj, int res)
{
	struct shadow_leg *l = obj;

	(void)w;
	l->pending &= ~(1u << (op - SHADOW_OP_CONNECT));
	leg_step(l, op, res);
	copy_maybe_end(l->sc);
}

static void cancel_leg(struct shadow_leg *l)
{
	for (unsigned op = SHADOW_OP_CONNECT; op <= SHADOW_OP_RECV; op++) {
		struct io_uring_sqe *sqe;

		if (!(l->pending & (1u << (op - SHADOW_OP_CONNECT))))
			continue;
		sqe = ring_get_sqe(&l->sc->w->ring);
		io_uring_prep_cancel64(sqe, ring_tag(l, op), 0);
		io_uring_sqe_set_data64(sqe, ring_tag(NULL, RING_OP_NONE));
	}
	leg_fail(l, SHADOW_DROP_TIMEOUT);
}

void shadow_tick(struct worker *w, uint64_t now_ns)
{
	struct shadow_copy *sc, *next;

	for (sc = w->shadows; sc; sc = next) {
		next = sc->next;
		if (!sc->going || sc->cancelled || now_ns < sc->deadline_ns)
			continue;
		sc->cancelled = true;
		for (int i = 0; i < LEGS; i++)
			if (sc->leg[i].pool >= 0 && !sc->leg[i].done)
				cancel_leg(&sc->leg[i]);
		copy_maybe_end(sc);
	}
	idle_expire(w, now_ns, false);
}

void shadow_free_all(struct worker *w)
{
	idle_expire(w, 0, true);
	free(w->shadow_idle);
	w->shadow_idle = NULL;
	for (struct conn *c = w->conns; c; c = c->next)
		c->shadow = NULL;
	while (w->shadows) {
		struct shadow_copy *sc = w->shadows;

		for (int i = 0; i < LEGS; i++)
			sc->leg[i].pending = 0;
		copy_free(sc);
	}
}

/* One shadowed route with an alert: its rate looked at, a crossing logged and notified. */
static int watch_route(const struct route *rt, void *arg)
{
	struct worker *w = arg;
	const struct route_shadow *sh = rt->spec.shadow;
	uint64_t compared = 0, mism = 0;
	char key[ROUTE_TEXT_MAX], why[200];
	int flip;

	if (!sh || !sh->alert_permille || rt->slot >= STRG_ROUTE_SLOTS)
		return 0;
	flip = shadowstats_alert(sstats(w), rt->slot, rt->id, sh->alert_permille, &compared, &mism);
	if (!flip)
		return 0;
	route_key_text(&rt->spec, key, sizeof(key));
	snprintf(why, sizeof(why),
		 "%llu of %llu comparisons with %s mismatched (%.2f %%, alert above %u.%u %%)",
		 (unsigned long long)mism, (unsigned long long)compared, sh->pool_name,
		 compared ? 100.0 * (double)mism / (double)compared : 0.0, sh->alert_permille / 10u,
		 sh->alert_permille % 10u);
	if (flip > 0)
		pr_warn("route %u %s: shadow: %s", rt->id, key, why);
	else
		pr_info("route %u %s: shadow: back under its alert: %s", rt->id, key, why);
	notify_event(flip > 0 ? "shadow-mismatch" : "shadow-match", key, sh->pool_name, NULL, why);
	return 0;
}

void shadow_watch(struct worker *w, uint64_t now_ns)
{
	static uint64_t next;

	if (now_ns < next)
		return;
	next = now_ns + 1000000000ull;
	route_table_each(w->cfg->routes, watch_route, w);
}
