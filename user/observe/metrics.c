// SPDX-License-Identifier: GPL-2.0-only
/*
 * One view of everything strgd counts (metrics_collect) and its three renderings: the table of
 * `strgctl stats`, the JSON of `strgctl stats -j` and /stats.json, and Prometheus' text format
 * (version 0.0.4) for /metrics.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernel/guard.h"
#include "lib/clock.h"
#include "observe/metrics.h"
#include "observe/promtext.h"
#include "observe/quantile.h"
#include "observe/shadowstats.h"
#include "observe/shadowview.h"
#include "core/route.h"
#include "lib/grow.h"
#include "lib/ring.h"
#include "kernel/splice.h"
#include "observe/stats.h"
#include "lib/version.h"

/* Rates cover at least this long (and at most twice it). */
#define METRICS_SAMPLE_NS (5 * 1000000000ull)

/* Requests and 5xx of one route and pool at a sample. */
struct sample_row {
	uint32_t route_id;
	unsigned pool;
	uint64_t requests, s5xx;
	uint64_t lat[STRG_LAT_BUCKETS];
};

struct sample {
	uint64_t t_ns; /* 0: none yet */
	struct sample_row *rows;
	size_t n;
};

struct metrics {
	struct sample older, last;
	struct trend *trend;	       /* five minutes of errors and p99, for the status page */
	uint64_t published_ns;	       /* the counters map was last refreshed */
	struct strg_counter_key *keys; /* the entries it holds */
	size_t nkeys;
};

/* The counters map refreshed this often. */
#define METRICS_PUBLISH_NS 1000000000ull

/* When this strgd's first view memory was made: its uptime's start (CLOCK_MONOTONIC). */
static uint64_t started_ns;

struct metrics *metrics_new(void)
{
	struct metrics *m = calloc(1, sizeof(struct metrics));

	if (!started_ns)
		started_ns = now_ns();
	if (m && !(m->trend = trend_new())) {
		free(m);
		return NULL;
	}
	return m;
}

void metrics_free(struct metrics *m)
{
	if (!m)
		return;
	free(m->older.rows);
	free(m->last.rows);
	free(m->keys);
	trend_free(m->trend);
	free(m);
}

/* A route's key text, allocated (NULL when out of memory). */
static char *route_key_dup(const struct route_stored *s)
{
	char text[ROUTE_TEXT_MAX];

	route_key_text(s, text, sizeof(text));
	return strdup(text);
}

static bool stats_empty(const struct strg_stats *v)
{
	uint64_t n = v->requests;

	for (int i = 0; i < STRG_STATUS_CLASSES; i++)
		n += v->status[i];
	return !n;
}

static int row_cmp(const void *a, const void *b)
{
	const struct sample_row *x = a, *y = b;

	if (x->route_id != y->route_id)
		return x->route_id < y->route_id ? -1 : 1;
	return (x->pool > y->pool) - (x->pool < y->pool);
}

static const struct sample_row *sample_find(const struct sample *s, uint32_t route_id,
					    unsigned pool)
{
	struct sample_row key = {.route_id = route_id, .pool = pool};

	if (!s->t_ns || !s->n)
		return NULL;
	return bsearch(&key, s->rows, s->n, sizeof(key), row_cmp);
}

/* The sample rates are taken against: the older one once it exists (a 5 to 10 s window). */
static const struct sample *rate_base(const struct metrics *m, uint64_t now_ns)
{
	if (!m)
		return NULL;
	if (m->older.t_ns)
		return &m->older;
	if (m->last.t_ns && now_ns - m->last.t_ns >= 1000000000ull)
		return &m->last;
	return NULL;
}

static int add_row(struct metrics_view *v, size_t *cap, const struct metrics_row *row)
{
	struct metrics_row *rows = grow_array(v->rows, cap, v->nrows + 1, sizeof(*rows), 32);

	if (!rows)
		return -ENOMEM;
	v->rows = rows;
	v->rows[v->nrows++] = *row;
	return 0;
}

static void route_cfg(const struct route_stored *s, struct metrics_route_cfg *c)
{
	c->pool = (unsigned)s->pool;
	c->split = s->split;
	c->testers = s->testers;
	c->inactive = s->inactive;
	c->permille = s->permille;
	c->fallback = s->fallback;
	c->fallback_pool = (unsigned)s->fallback_pool;
	c->rb_err_permille = s->rb_err_permille;
	c->rb_p99_ms = s->rb_p99_ms;
	c->rb_window_s = s->rb_window_s;
	c->rb_min = s->rb_min;
}

/* The rows of one route (or of the unrouted requests when rt is NULL), counters not yet read. */
static int frame_route(const struct metrics_src *src, const struct route *rt,
		       const struct sample *base, uint64_t now_ns, struct metrics_view *v,
		       size_t *cap)
{
	uint32_t slot = rt ? rt->slot : STATS_SLOT_UNROUTED;
	unsigned npools = rt ? src->cfg->npools : 1;

	if (rt && slot >= STRG_ROUTE_SLOTS) {
		/* Beyond the counted routes: routed, not counted; listed as such. */
		struct metrics_row row = {
			.route_id = rt->id, .slot = slot, .own = true, .rate = -1, .rate_5xx = -1};

		row.pool = (unsigned)rt->spec.pool;
		row.pool_name = src->cfg->pools[row.pool].name;
		if (!(row.route = route_key_dup(&rt->spec)))
			return -ENOMEM;
		if (add_row(v, cap, &row)) {
			free(row.route);
			return -ENOMEM;
		}
		return 0;
	}
	for (unsigned p = 0; p < npools && slot <= STATS_SLOT_UNROUTED; p++) {
		struct metrics_row row = {.slot = slot, .rate = -1, .rate_5xx = -1};
		const struct sample_row *b;

		row.own = rt && p == (unsigned)rt->spec.pool;
		row.route_id = rt ? rt->id : 0;
		row.counted = true;
		row.pool = p;
		row.pool_name = rt ? src->cfg->pools[p].name : "-";
		if (rt && !(row.route = route_key_dup(&rt->spec)))
			return -ENOMEM;
		if (rt) {
			struct pool_runtime *prt = src->prt ? &src->prt[p] : NULL;

			row.unserved = prt && src->cfg->pools[p].nbackends &&
				       !pool_available(&src->cfg->pools[p], prt, now_ns);
			row.tripped = rt->spec.tripped;
			route_cfg(&rt->spec, &row.cfg);
			row.trip = rt->spec.tripped ? strdup(rt->spec.trip) : NULL;
			row.rollbacks = stats_trips(src->st, slot);
		}
		b = base ? sample_find(base, row.route_id, p) : NULL;
		row.base_requests = b ? b->requests : 0;
		row.base_5xx = b ? b->s5xx : 0;
		if (b)
			memcpy(row.base_lat, b->lat, sizeof(row.base_lat));
		if (add_row(v, cap, &row)) {
			free(row.route);
			free(row.trip);
			return -ENOMEM;
		}
	}
	return 0;
}

/*
 * A counted row's counters and rates; false when the row goes (its counters cannot be read, or
 * it is another pool's of the route that counted nothing).
 */
static bool count_row(struct stats *st, const struct metrics_view *v, uint64_t now_ns,
		      struct metrics_row *row)
{
	double dt = (double)(now_ns - v->base_ns) / 1e9;

	if (stats_read(st, row->slot, row->pool, &row->v) < 0)
		return false;
	if (stats_empty(&row->v) && !row->own)
		return false;
	/* A route whose slot was reused, or counters cleared: no rate this time. */
	if (v->base_ns && dt > 0 && row->v.requests >= row->base_requests &&
	    row->v.status[5] >= row->base_5xx) {
		row->rate = (double)(row->v.requests - row->base_requests) / dt;
		row->rate_5xx = (double)(row->v.status[5] - row->base_5xx) / dt;
	}
	return true;
}

int metrics_count(struct stats *st, uint64_t now_ns, struct metrics_view *v)
{
	size_t kept = 0;

	if (!st || v->counted)
		return -EINVAL;
	for (size_t i = 0; i < v->nrows; i++) {
		struct metrics_row *row = &v->rows[i];

		if (!row->counted || count_row(st, v, now_ns, row)) {
			v->rows[kept++] = *row;
			continue;
		}
		free(row->route);
		free(row->trip);
	}
	v->nrows = kept;
	for (size_t i = 0; i < v->nshadow; i++)
		shadowstats_snapshot(stats_shadow(st), v->shadow[i].snap->slot,
				     v->shadow[i].snap->route_id, v->shadow[i].snap);
	v->window_s = v->base_ns ? (double)(now_ns - v->base_ns) / 1e9 : 0;
	v->counted = true;
	return 0;
}

/* The backend's last failed health check, for the views. */
static void check_error(struct pool_runtime *rt, unsigned i, uint64_t now_ns,
			struct metrics_backend *b)
{
	uint64_t when = pool_check_error(rt, i, b->check_error, sizeof(b->check_error));

	b->check_error_age_s = when && now_ns >= when ? (double)(now_ns - when) / 1e9 : -1;
}

static int collect_backends(const struct metrics_src *src, uint64_t now_ns, struct metrics_view *v)
{
	struct pool_runtime *prt = src->prt;
	size_t n = 0;

	for (unsigned p = 0; p < src->cfg->npools; p++)
		n += src->cfg->pools[p].nbackends;
	v->backends = calloc(n ? n : 1, sizeof(*v->backends));
	if (!v->backends)
		return -ENOMEM;
	for (unsigned p = 0; p < src->cfg->npools; p++) {
		const struct pool *pl = &src->cfg->pools[p];

		for (unsigned i = 0; i < pl->nbackends; i++) {
			struct metrics_backend *b = &v->backends[v->nbackends];

			if (pl->backends[i].state == BACKEND_REMOVED)
				continue;
			b->pool = pl->name;
			b->name = pl->backends[i].name;
			b->state = pl->backends[i].state;
			b->weight = pl->backends[i].weight;
			if (prt) {
				b->held_down = pool_held_down(&prt[p], i, now_ns);
				b->connect_errors = __atomic_load_n(&prt[p].b[i].connect_errors,
								    __ATOMIC_RELAXED);
				b->connect_timeouts = __atomic_load_n(&prt[p].b[i].connect_timeouts,
								      __ATOMIC_RELAXED);
				b->response_timeouts = __atomic_load_n(
					&prt[p].b[i].response_timeouts, __ATOMIC_RELAXED);
				b->ejections =
					__atomic_load_n(&prt[p].b[i].ejections, __ATOMIC_RELAXED);
				b->healthy = pool_health_of(&prt[p], i) == HEALTH_UP;
				b->health = pool_health_word(&prt[p], i, now_ns);
				b->hold_left_ms = pool_hold_left_ns(&prt[p], i, now_ns) / 1000000;
				b->ejection_run = pool_ejection_run(&prt[p], i);
				b->conns = __atomic_load_n(&prt[p].b[i].conns, __ATOMIC_RELAXED);
				b->inflight =
					__atomic_load_n(&prt[p].b[i].inflight, __ATOMIC_RELAXED);
				check_error(&prt[p], i, now_ns, b);
			}
			v->nbackends++;
		}
	}
	return 0;
}

/* A shadowed route's names and settings; its figures come with the counters. */
static int frame_shadow(const struct config *cfg, const struct route *rt, struct metrics_view *v)
{
	const struct route_shadow *sh = rt->spec.shadow;
	struct shadowview_route *r, *grown;

	if (!sh || rt->slot >= STRG_ROUTE_SLOTS)
		return 0;
	grown = realloc(v->shadow, (v->nshadow + 1) * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	v->shadow = grown;
	r = &v->shadow[v->nshadow];
	*r = (struct shadowview_route){.permille = sh->permille,
				       .noise_permille = sh->noise_permille,
				       .alert_permille = sh->alert_permille};
	r->route = route_key_dup(&rt->spec);
	r->pool = strdup(sh->pool_name);
	r->legacy = strdup(cfg->pools[rt->spec.pool].name);
	r->snap = calloc(1, sizeof(*r->snap));
	v->nshadow++;
	if (!r->route || !r->pool || !r->legacy || !r->snap)
		return -ENOMEM;
	r->snap->route_id = rt->id;
	r->snap->slot = rt->slot;
	return 0;
}

int metrics_frame(struct metrics *m, const struct metrics_src *src, uint64_t now_ns,
		  struct metrics_view *out)
{
	const struct sample *base = rate_base(m, now_ns);
	const struct route **routes;
	size_t n, cap = 0;
	int err = 0;

	memset(out, 0, sizeof(*out));
	if (!src->st)
		return -ENOENT;
	routes = route_table_list(src->cfg->routes, true, &n);
	if (!routes)
		return -ENOMEM;
	for (size_t i = 0; i < n && !err; i++)
		err = frame_route(src, routes[i], base, now_ns, out, &cap);
	for (size_t i = 0; i < n && !err; i++)
		err = frame_shadow(src->cfg, routes[i], out);
	free(routes);
	if (!err)
		err = frame_route(src, NULL, base, now_ns, out, &cap);
	if (!err)
		err = collect_backends(src, now_ns, out);
	out->npools = src->cfg->npools;
	for (unsigned p = 0; p < src->cfg->npools; p++) {
		out->pool_names[p] = src->cfg->pools[p].name;
		out->unsolicited[p] = stats_unsolicited_count(src->st, p);
	}
	out->workers = calloc(src->nworkers ? src->nworkers : 1, sizeof(*out->workers));
	if (!err && !out->workers)
		err = -ENOMEM;
	for (unsigned i = 0; !err && i < src->nworkers; i++) {
		src->read_worker(src, i, &out->workers[i]);
		out->nworkers++;
	}
	out->generation = src->cfg->gen;
	if (src->read_store)
		src->read_store(src->store_ctx, &out->store);
	if (gethostname(out->host, sizeof(out->host) - 1))
		out->host[0] = '\0';
	out->uptime_s =
		started_ns && now_ns > started_ns ? (now_ns - started_ns) / 1000000000ull : 0;
	out->kernel = src->sp != NULL;
	if (src->gd && !guard_counts(src->gd, out->xdp_counts)) {
		out->xdp = true;
		snprintf(out->xdp_iface, sizeof(out->xdp_iface), "%s", guard_iface(src->gd));
	}
	out->base_ns = base ? base->t_ns : 0;
	for (size_t i = 0; m && i < out->nrows; i++)
		if (out->rows[i].route_id)
			out->rows[i].ntrend =
				trend_of(m->trend, out->rows[i].route_id, out->rows[i].pool,
					 out->rows[i].trend_err, out->rows[i].trend_p99);
	if (err)
		metrics_view_free(out);
	return err;
}

int metrics_collect(struct metrics *m, const struct metrics_src *src, uint64_t now_ns,
		    struct metrics_view *out)
{
	int err = metrics_frame(m, src, now_ns, out);

	if (!err && (err = metrics_count(src->st, now_ns, out)))
		metrics_view_free(out);
	return err;
}

/* Copies s to *at (advancing it) when at is set; the bytes it takes either way. */
static size_t arena_put(char **at, const char **s)
{
	size_t n = strlen(*s) + 1;

	if (*at) {
		memcpy(*at, *s, n);
		*s = *at;
		*at += n;
	}
	return n;
}

/* Every name a view borrows: sized with at NULL, then copied. */
static size_t arena_walk(struct metrics_view *v, char *at)
{
	size_t n = 0;

	for (size_t i = 0; i < v->nrows; i++)
		n += arena_put(&at, &v->rows[i].pool_name);
	for (size_t i = 0; i < v->nbackends; i++)
		n += arena_put(&at, &v->backends[i].pool) + arena_put(&at, &v->backends[i].name);
	for (unsigned p = 0; p < v->npools; p++)
		n += arena_put(&at, &v->pool_names[p]);
	return n;
}

int metrics_view_detach(struct metrics_view *v)
{
	if (v->strings)
		return 0;
	v->strings = malloc(arena_walk(v, NULL) + 1);
	if (!v->strings)
		return -ENOMEM;
	arena_walk(v, v->strings);
	return 0;
}

void metrics_view_free(struct metrics_view *v)
{
	for (size_t i = 0; i < v->nrows; i++) {
		free(v->rows[i].route);
		free(v->rows[i].trip);
	}
	free(v->rows);
	free(v->backends);
	free(v->workers);
	free(v->strings);
	for (size_t i = 0; i < v->nshadow; i++)
		shadowview_route_free(&v->shadow[i]);
	free(v->shadow);
	memset(v, 0, sizeof(*v));
}

/*
 * The counters map bpftool reads: every row of the view, named; entries of routes and pools that
 * are gone are removed.
 */
static void publish(struct metrics *m, const struct metrics_src *src, const struct metrics_view *v)
{
	struct strg_counter_key *keys = calloc(v->nrows ? v->nrows : 1, sizeof(*keys));
	size_t n = 0;

	if (!keys)
		return;
	for (size_t i = 0; i < v->nrows; i++) {
		struct strg_route_counters val;

		memset(&val, 0, sizeof(val));
		keys[n] = (struct strg_counter_key){v->rows[i].route_id, v->rows[i].pool};
		snprintf(val.route, sizeof(val.route), "%s",
			 v->rows[i].route_id ? v->rows[i].route : "(no route)");
		snprintf(val.pool, sizeof(val.pool), "%s", v->rows[i].pool_name);
		val.stats = v->rows[i].v;
		if (!splice_counters_set(src->sp, &keys[n], &val))
			n++;
	}
	for (size_t i = 0; i < m->nkeys; i++) {
		bool kept = false;

		for (size_t j = 0; j < n && !kept; j++)
			kept = keys[j].route_id == m->keys[i].route_id &&
			       keys[j].pool == m->keys[i].pool;
		if (!kept)
			splice_counters_del(src->sp, &m->keys[i]);
	}
	free(m->keys);
	m->keys = keys;
	m->nkeys = n;
}

/* The trend's step: every route's rows (the unrouted requests have no trend). */
static void trend_step(struct metrics *m, const struct metrics_view *v, uint64_t now_ns)
{
	struct trend_counts *c = calloc(v->nrows ? v->nrows : 1, sizeof(*c));
	size_t n = 0;

	if (!c)
		return;
	for (size_t i = 0; i < v->nrows; i++)
		if (v->rows[i].route_id && v->rows[i].counted)
			c[n++] = (struct trend_counts){v->rows[i].route_id, v->rows[i].pool,
						       &v->rows[i].v};
	trend_add(m->trend, now_ns, c, n);
	free(c);
}

void metrics_tick(struct metrics *m, const struct metrics_src *src, uint64_t now_ns)
{
	struct metrics_view v;
	struct sample s = {.t_ns = now_ns};
	bool sample, pub, trend;

	if (!m)
		return;
	sample = !m->last.t_ns || now_ns - m->last.t_ns >= METRICS_SAMPLE_NS;
	pub = src->sp && now_ns - m->published_ns >= METRICS_PUBLISH_NS;
	trend = trend_due(m->trend, now_ns);
	if ((!sample && !pub && !trend) || metrics_collect(NULL, src, now_ns, &v))
		return;
	if (trend)
		trend_step(m, &v, now_ns);
	if (pub) {
		publish(m, src, &v);
		m->published_ns = now_ns;
	}
	s.rows = sample ? calloc(v.nrows ? v.nrows : 1, sizeof(*s.rows)) : NULL;
	if (s.rows) {
		for (size_t i = 0; i < v.nrows; i++) {
			struct sample_row *w = &s.rows[s.n++];

			*w = (struct sample_row){v.rows[i].route_id, v.rows[i].pool,
						 v.rows[i].v.requests, v.rows[i].v.status[5]};
			memcpy(w->lat, v.rows[i].v.latency_us_log2, sizeof(w->lat));
		}
		qsort(s.rows, s.n, sizeof(*s.rows), row_cmp);
		free(m->older.rows);
		m->older = m->last;
		m->last = s;
	}
	metrics_view_free(&v);
}

/* ---- strgctl stats, JSON (/stats.json too) ---- */

static json_t *rate_json(double r)
{
	return r < 0 ? json_null() : json_real(round(r * 100) / 100);
}

static json_t *quantile_json(const struct strg_stats *v, double q)
{
	double us = quantile_stats_us(v, q);

	return us < 0 ? json_null() : json_real(round(us) / 1000);
}

/*
 * Over the rates' window (the last 5 to 10 s): requests, 5xx and latency quantiles (null where
 * quantile.h's rule leaves them unjudged); null when there is no window yet. What a view shows
 * "now", where the lifetime figures would lag an incident by minutes.
 */
static json_t *window_json(const struct metrics_row *r)
{
	struct strg_stats d;

	if (r->rate < 0)
		return json_null();
	memset(&d, 0, sizeof(d));
	for (int i = 0; i < STRG_LAT_BUCKETS; i++)
		d.latency_us_log2[i] = r->v.latency_us_log2[i] >= r->base_lat[i]
					       ? r->v.latency_us_log2[i] - r->base_lat[i]
					       : 0;
	return json_pack("{s:I, s:I, s:o, s:o}", "requests",
			 (json_int_t)(r->v.requests - r->base_requests), "5xx",
			 (json_int_t)(r->v.status[5] - r->base_5xx), "p50_ms",
			 quantile_json(&d, 0.5), "p99_ms", quantile_json(&d, 0.99));
}

static json_t *trend_values(const float *x, unsigned n, int digits)
{
	json_t *a = json_array();
	double scale = digits ? 100.0 : 1.0;

	for (unsigned i = 0; a && i < n; i++)
		json_array_append_new(a, x[i] < 0 ? json_null()
						  : json_real(round(x[i] * scale) / scale));
	return a;
}

/* The last five minutes in steps, oldest first: null until strgd has a step. */
static json_t *trend_json(const struct metrics_row *r)
{
	if (!r->ntrend)
		return json_null();
	return json_pack("{s:I, s:o, s:o}", "step_s", (json_int_t)(TREND_STEP_NS / 1000000000ull),
			 "errors_percent", trend_values(r->trend_err, r->ntrend, 2), "p99_ms",
			 trend_values(r->trend_p99, r->ntrend, 2));
}

static json_t *row_json(const struct metrics_row *r)
{
	json_t *lat = json_array();

	for (int i = 0; i < STRG_LAT_BUCKETS; i++)
		json_array_append_new(lat, json_integer((json_int_t)r->v.latency_us_log2[i]));
	json_t *o = json_pack(
		"{s:s, s:I, s:I, s:I, s:I, s:I, s:{s:I, s:I, s:I, s:I, s:I, s:I}, s:o, "
		"s:I, s:I, s:b, "
		"s:o, s:o, s:o, s:o, s:o}",
		"pool", r->pool_name, "requests", (json_int_t)r->v.requests, "kernel",
		(json_int_t)r->v.fast, "passed", (json_int_t)r->v.passed, "bytes_in",
		(json_int_t)r->v.bytes_in, "bytes_out", (json_int_t)r->v.bytes_out, "status",
		"unknown", (json_int_t)r->v.status[0], "1xx", (json_int_t)r->v.status[1], "2xx",
		(json_int_t)r->v.status[2], "3xx", (json_int_t)r->v.status[3], "4xx",
		(json_int_t)r->v.status[4], "5xx", (json_int_t)r->v.status[5], "latency_us_log2",
		lat, "latency_us_sum", (json_int_t)r->v.latency_us_sum, "fallback",
		(json_int_t)r->v.fallback, "unserved", r->unserved, "rate", rate_json(r->rate),
		"rate_5xx", rate_json(r->rate_5xx), "p50_ms", quantile_json(&r->v, 0.5), "p90_ms",
		quantile_json(&r->v, 0.9), "p99_ms", quantile_json(&r->v, 0.99));

	if (o) {
		json_object_set_new(o, "limited", json_integer((json_int_t)r->v.limited));
		json_object_set_new(o, "denied", json_integer((json_int_t)r->v.denied));
		json_object_set_new(o, "window", window_json(r));
		json_object_set_new(o, "trend", trend_json(r));
	}
	return o;
}

json_t *metrics_rollback_json(uint16_t err_permille, uint32_t p99_ms, uint32_t window_s,
			      uint32_t min)
{
	if (!err_permille)
		return json_null();
	return json_pack("{s:f, s:I, s:I, s:I, s:I}", "error_percent", err_permille / 10.0,
			 "p99_ms", (json_int_t)p99_ms, "window_s", (json_int_t)window_s, "min",
			 (json_int_t)min, "p99_min", (json_int_t)quantile_min_samples(0.99));
}

/* What the route does: its pool, share, testers, fallback and rollback limits. */
static json_t *settings_json(const struct metrics_view *v, const struct metrics_row *r)
{
	const struct metrics_route_cfg *c = &r->cfg;
	const char *fb = c->fallback == ROUTE_FALLBACK_NONE ? "none"
			 : c->fallback == ROUTE_FALLBACK_POOL && c->fallback_pool < v->npools
				 ? v->pool_names[c->fallback_pool]
				 : "next";
	json_t *rb =
		metrics_rollback_json(c->rb_err_permille, c->rb_p99_ms, c->rb_window_s, c->rb_min);

	return json_pack("{s:s, s:f, s:b, s:b, s:s, s:o}", "pool",
			 c->pool < v->npools ? v->pool_names[c->pool] : "?", "percent",
			 c->split ? c->permille / 10.0 : 100.0, "testers", c->testers, "active",
			 !c->inactive, "fallback", fb, "rollback", rb);
}

/* The last failed health check: null when none, else why and how long ago. */
/* A worker in stats -j: its connections, and its io_uring's features and batching. */
static json_t *worker_json(unsigned i, const struct metrics_worker *w)
{
	char ring[96];

	return json_pack("{s:I, s:I, s:I, s:I, s:s, s:I, s:I, s:I}", "worker", (json_int_t)i,
			 "connections", (json_int_t)w->connections, "kernel", (json_int_t)w->kernel,
			 "accepted", (json_int_t)w->accepted, "ring",
			 ring_feature_text(w->ring, ring, sizeof(ring)), "enters",
			 (json_int_t)w->enters, "completions", (json_int_t)w->cqes, "piped_bytes",
			 (json_int_t)w->piped);
}

static json_t *check_error_json(const struct metrics_backend *b)
{
	if (b->check_error_age_s < 0)
		return json_null();
	return json_pack("{s:s, s:f}", "error", b->check_error, "age_s",
			 round(b->check_error_age_s * 10) / 10);
}

/* The XDP guard: null when it is not loaded, else where it is attached and its counters. */
static json_t *xdp_json(const struct metrics_view *v)
{
	json_t *counts;

	if (!v->xdp)
		return json_null();
	counts = json_object();
	for (unsigned i = 0; counts && i < GUARD_REASONS; i++)
		json_object_set_new(counts, guard_reason_name(i),
				    json_pack("{s:I, s:I}", "packets",
					      (json_int_t)v->xdp_counts[i].packets, "bytes",
					      (json_int_t)v->xdp_counts[i].bytes));
	return json_pack("{s:s, s:o}", "attached", v->xdp_iface, "counters", counts);
}

json_t *metrics_json(const struct metrics_view *v)
{
	json_t *routes = json_array(), *unrouted = json_array(), *pools = json_array();
	json_t *backends = json_array(), *workers = json_array(), *cur = NULL,
	       *shadow = json_array();
	uint32_t cur_id = 0;

	for (size_t i = 0; i < v->nrows; i++) {
		const struct metrics_row *r = &v->rows[i];

		if (!r->route_id) {
			json_array_append_new(unrouted, row_json(r));
			continue;
		}
		if (!cur || cur_id != r->route_id) {
			cur = json_pack("{s:I, s:s, s:b, s:b, s:o, s:I, s:[]}", "id",
					(json_int_t)r->route_id, "route", r->route, "counted",
					r->counted, "tripped", r->tripped, "trip",
					r->trip ? json_pack("{s:s}", "figures", r->trip)
						: json_null(),
					"rollbacks", (json_int_t)r->rollbacks, "pools");
			json_object_set_new(cur, "settings", settings_json(v, r));
			json_array_append_new(routes, cur);
			cur_id = r->route_id;
		}
		json_array_append_new(json_object_get(cur, "pools"), row_json(r));
	}
	for (unsigned p = 0; p < v->npools; p++)
		json_array_append_new(pools, json_pack("{s:s, s:I}", "pool", v->pool_names[p],
						       "unsolicited_closed",
						       (json_int_t)v->unsolicited[p]));
	for (size_t i = 0; i < v->nbackends; i++) {
		const struct metrics_backend *b = &v->backends[i];

		json_array_append_new(
			backends,
			json_pack("{s:s, s:s, s:s, s:b, s:b, s:s, s:I, s:I, s:I, s:I, s:I, s:I, "
				  "s:I, s:I, "
				  "s:I}",
				  "pool", b->pool, "backend", b->name, "state",
				  pool_state_name(b->state), "down", b->held_down || !b->healthy,
				  "healthy", b->healthy, "health",
				  b->health ? b->health : "healthy", "weight",
				  (json_int_t)b->weight, "connect_errors",
				  (json_int_t)b->connect_errors, "connect_timeouts",
				  (json_int_t)b->connect_timeouts, "response_timeouts",
				  (json_int_t)b->response_timeouts, "ejections",
				  (json_int_t)b->ejections, "ejections_in_a_row",
				  (json_int_t)b->ejection_run, "hold_left_ms",
				  (json_int_t)b->hold_left_ms, "connections", (json_int_t)b->conns,
				  "inflight", (json_int_t)b->inflight));
		json_object_set_new(json_array_get(backends, json_array_size(backends) - 1),
				    "check_error", check_error_json(b));
	}
	for (unsigned i = 0; i < v->nworkers; i++)
		json_array_append_new(workers, worker_json(i, &v->workers[i]));
	for (size_t i = 0; i < v->nshadow; i++)
		json_array_append_new(shadow, shadowview_json(&v->shadow[i], true));
	return json_pack("{s:o, s:o, s:o, s:o, s:o, s:I, s:b, s:f, s:o, s:s, s:s, s:I, s:o}",
			 "routes", routes, "unrouted", unrouted, "pools", pools, "backends",
			 backends, "workers", workers, "generation", (json_int_t)v->generation,
			 "kernel", v->kernel, "window_s", round(v->window_s * 10) / 10, "xdp",
			 xdp_json(v), "host", v->host, "version", STRG_VERSION, "uptime_s",
			 (json_int_t)v->uptime_s, "shadow", shadow);
}

static void ms_text(char *out, size_t len, const struct strg_stats *v, double q)
{
	double us = quantile_stats_us(v, q);

	if (us < 0)
		snprintf(out, len, "-");
	else
		snprintf(out, len, "%.*f", us < 10000 ? 2 : 0, us / 1000);
}

void metrics_text(const struct metrics_view *v, struct reply *r)
{
	reply_printf(r, "%-5s %-32s %-8s %10s %8s %10s %8s %8s %8s %8s %8s %8s %8s %8s\n", "ID",
		     "ROUTE", "POOL", "REQUESTS", "RATE/S", "KERNEL", "1XX", "2XX", "3XX", "4XX",
		     "5XX", "P50MS", "P90MS", "P99MS");
	for (size_t i = 0; i < v->nrows; i++) {
		const struct metrics_row *w = &v->rows[i];
		char id[16], rate[16], p50[16], p90[16], p99[16];

		snprintf(id, sizeof(id), "%u", w->route_id);
		if (w->rate < 0)
			snprintf(rate, sizeof(rate), "-");
		else
			snprintf(rate, sizeof(rate), "%.1f", w->rate);
		ms_text(p50, sizeof(p50), &w->v, 0.5);
		ms_text(p90, sizeof(p90), &w->v, 0.9);
		ms_text(p99, sizeof(p99), &w->v, 0.99);
		reply_printf(
			r,
			"%-5s %-32s %-8s %10llu %8s %10llu %8llu %8llu %8llu %8llu %8llu %8s %8s "
			"%8s\n",
			w->route_id ? id : "-", w->route_id ? w->route : "(no route)", w->pool_name,
			(unsigned long long)w->v.requests, rate, (unsigned long long)w->v.fast,
			(unsigned long long)w->v.status[1], (unsigned long long)w->v.status[2],
			(unsigned long long)w->v.status[3], (unsigned long long)w->v.status[4],
			(unsigned long long)w->v.status[5], p50, p90, p99);
	}
	/* strgd's own answers for the routes' limits and access lists (in 4XX above too). */
	for (size_t i = 0; i < v->nrows; i++)
		if (v->rows[i].v.limited || v->rows[i].v.denied)
			reply_printf(
				r, "route %u %s, pool %s: %llu limited (429), %llu denied (403)\n",
				v->rows[i].route_id, v->rows[i].route, v->rows[i].pool_name,
				(unsigned long long)v->rows[i].v.limited,
				(unsigned long long)v->rows[i].v.denied);
	for (unsigned p = 0; p < v->npools; p++)
		if (v->unsolicited[p])
			reply_printf(
				r,
				"pool %s: %llu backend connections closed for bytes no request "
				"asked for\n",
				v->pool_names[p], (unsigned long long)v->unsolicited[p]);
	for (unsigned i = 0; i < v->nworkers; i++)
		reply_printf(r, "%sworker %u: %lu connections (%lu held by the kernel)%s",
			     i ? "; " : "", i, v->workers[i].connections, v->workers[i].kernel,
			     i + 1 == v->nworkers ? "\n" : "");
	if (v->xdp) {
		reply_printf(r, "xdp %s:", v->xdp_iface[0] ? v->xdp_iface : "(not attached)");
		for (unsigned i = 0; i < GUARD_REASONS; i++)
			reply_printf(r, " %s %llu", guard_reason_name(i),
				     (unsigned long long)v->xdp_counts[i].packets);
		reply_printf(r, " packets\n");
	}
	if (v->window_s > 0)
		reply_printf(
			r,
			"rates over the last %.0f s; latency from the end of the request to the "
			"response head\n",
			v->window_s);
}

/* ---- Prometheus text format 0.0.4 ---- */

/* The labels of a row: route="...",pool="..." (the unrouted row: route="",pool=""). */
static void row_labels(struct reply *r, const struct metrics_row *w)
{
	reply_printf(r, "route=\"");
	promtext_label(r, w->route_id ? w->route : "");
	reply_printf(r, "\",pool=\"");
	promtext_label(r, w->route_id ? w->pool_name : "");
	reply_printf(r, "\"");
}

static void per_row(struct reply *r, const struct metrics_view *v, const char *name,
		    const char *extra, size_t off)
{
	for (size_t i = 0; i < v->nrows; i++) {
		const struct metrics_row *w = &v->rows[i];

		reply_printf(r, "%s{", name);
		row_labels(r, w);
		reply_printf(r, "%s} %llu\n", extra,
			     (unsigned long long)*(const __u64 *)((const char *)&w->v + off));
	}
}

static void backend_labels(struct reply *r, const struct metrics_backend *b)
{
	reply_printf(r, "pool=\"");
	promtext_label(r, b->pool);
	reply_printf(r, "\",backend=\"");
	promtext_label(r, b->name);
	reply_printf(r, "\"");
}

/* Once per route: its rollbacks, or whether it is tripped. */
static void per_route(struct reply *r, const struct metrics_view *v, const char *name, bool tripped)
{
	for (size_t i = 0; i < v->nrows; i++) {
		const struct metrics_row *w = &v->rows[i];

		if (!w->route_id || (i && v->rows[i - 1].route_id == w->route_id))
			continue;
		reply_printf(r, "%s{route=\"", name);
		promtext_label(r, w->route);
		reply_printf(r, "\"} %llu\n",
			     tripped ? (unsigned long long)w->tripped
				     : (unsigned long long)w->rollbacks);
	}
}

static void prom_requests(const struct metrics_view *v, struct reply *r)
{
	static const char *const code[STRG_STATUS_CLASSES] = {"unknown", "1xx", "2xx",
							      "3xx",	 "4xx", "5xx"};

	promtext_help(
		r, "strg_http_requests_total", "counter",
		"Requests per route, pool and status class (unknown: no response head), whoever "
		"answered them.");
	for (size_t i = 0; i < v->nrows; i++)
		for (int c = 0; c < STRG_STATUS_CLASSES; c++) {
			/* Always the classes operators alert on; the others once they counted. */
			if (!v->rows[i].v.status[c] && c != 2 && c != 4 && c != 5)
				continue;
			reply_printf(r, "strg_http_requests_total{");
			row_labels(r, &v->rows[i]);
			reply_printf(r, ",code=\"%s\"} %llu\n", code[c],
				     (unsigned long long)v->rows[i].v.status[c]);
		}
	promtext_help(r, "strg_http_requests_kernel_total", "counter",
		      "Requests the kernel classified and carried (the rest strgd carried in user "
		      "space).");
	per_row(r, v, "strg_http_requests_kernel_total", "", offsetof(struct strg_stats, fast));
	promtext_help(r, "strg_http_requests_passed_total", "counter",
		      "Requests the kernel passed up to strgd.");
	per_row(r, v, "strg_http_requests_passed_total", "", offsetof(struct strg_stats, passed));
	promtext_help(
		r, "strg_http_requests_fallback_total", "counter",
		"Requests of the route another pool served: the route's own pool had no backend.");
	per_row(r, v, "strg_http_requests_fallback_total", "",
		offsetof(struct strg_stats, fallback));
	promtext_help(
		r, "strg_http_requests_limited_total", "counter",
		"strgd's 429 answers: requests over the route's rate limit (also in code 4xx).");
	per_row(r, v, "strg_http_requests_limited_total", "", offsetof(struct strg_stats, limited));
	promtext_help(
		r, "strg_http_requests_denied_total", "counter",
		"strgd's 403 answers: clients the route's allow or deny list refused (also in code "
		"4xx).");
	per_row(r, v, "strg_http_requests_denied_total", "", offsetof(struct strg_stats, denied));
	promtext_help(r, "strg_route_rollbacks_total", "counter",
		      "Times strgd rolled the route back (its rollback limits were passed).");
	per_route(r, v, "strg_route_rollbacks_total", false);
	promtext_help(r, "strg_route_tripped", "gauge",
		      "1 while the route stays rolled back by strgd.");
	per_route(r, v, "strg_route_tripped", true);
	promtext_help(r, "strg_http_received_bytes_total", "counter",
		      "Request bytes from clients.");
	per_row(r, v, "strg_http_received_bytes_total", "", offsetof(struct strg_stats, bytes_in));
	promtext_help(r, "strg_http_sent_bytes_total", "counter", "Response bytes to clients.");
	per_row(r, v, "strg_http_sent_bytes_total", "", offsetof(struct strg_stats, bytes_out));
}

static void prom_latency(const struct metrics_view *v, struct reply *r)
{
	promtext_help(
		r, "strg_http_request_duration_seconds", "histogram",
		"End of the request to the response head (or strgd's own 502/504); buckets at "
		"powers of two microseconds.");
	for (size_t i = 0; i < v->nrows; i++) {
		const struct metrics_row *w = &v->rows[i];
		uint64_t cum = 0;

		for (int b = 0; b < STRG_LAT_BUCKETS; b++) {
			cum += w->v.latency_us_log2[b];
			reply_printf(r, "strg_http_request_duration_seconds_bucket{");
			row_labels(r, w);
			if (b == STRG_LAT_BUCKETS - 1)
				reply_printf(r, ",le=\"+Inf\"} %llu\n", (unsigned long long)cum);
			else
				reply_printf(r, ",le=\"%.6f\"} %llu\n", ldexp(1, b) / 1e6,
					     (unsigned long long)cum);
		}
		reply_printf(r, "strg_http_request_duration_seconds_sum{");
		row_labels(r, w);
		reply_printf(r, "} %.6f\n", (double)w->v.latency_us_sum / 1e6);
		reply_printf(r, "strg_http_request_duration_seconds_count{");
		row_labels(r, w);
		reply_printf(r, "} %llu\n", (unsigned long long)cum);
	}
}

static void prom_backends(const struct metrics_view *v, struct reply *r)
{
	static const struct {
		const char *name, *help;
		size_t off;
	} counters[] = {
		{"strg_upstream_connect_errors_total", "Backend connects refused or failed.",
		 offsetof(struct metrics_backend, connect_errors)},
		{"strg_upstream_connect_timeouts_total", "Backend connects that timed out.",
		 offsetof(struct metrics_backend, connect_timeouts)},
		{"strg_upstream_response_timeouts_total",
		 "Responses that did not start within timeout server (504).",
		 offsetof(struct metrics_backend, response_timeouts)},
		{"strg_backend_ejections_total",
		 "Times the backend was ejected (failed requests in a row, or its health check).",
		 offsetof(struct metrics_backend, ejections)},
	};

	for (size_t c = 0; c < sizeof(counters) / sizeof(counters[0]); c++) {
		promtext_help(r, counters[c].name, "counter", counters[c].help);
		for (size_t i = 0; i < v->nbackends; i++) {
			reply_printf(r, "%s{", counters[c].name);
			backend_labels(r, &v->backends[i]);
			reply_printf(r, "} %llu\n",
				     (unsigned long long)*(
					     const uint64_t *)((const char *)&v->backends[i] +
							       counters[c].off));
		}
	}
	promtext_help(
		r, "strg_backend_up", "gauge",
		"1 when the backend takes new connections (ready, healthy, not held down after a "
		"refused connect), else 0.");
	for (size_t i = 0; i < v->nbackends; i++) {
		reply_printf(r, "strg_backend_up{");
		backend_labels(r, &v->backends[i]);
		reply_printf(r, ",state=\"%s\"} %d\n", pool_state_name(v->backends[i].state),
			     v->backends[i].state == BACKEND_READY && !v->backends[i].held_down &&
				     v->backends[i].healthy);
	}
	promtext_help(
		r, "strg_backend_ejection_hold_seconds", "gauge",
		"What is left of the hold of the backend's last ejection by failed requests (0: "
		"none).");
	for (size_t i = 0; i < v->nbackends; i++) {
		reply_printf(r, "strg_backend_ejection_hold_seconds{");
		backend_labels(r, &v->backends[i]);
		reply_printf(r, "} %.3f\n", (double)v->backends[i].hold_left_ms / 1000.0);
	}
	promtext_help(r, "strg_backend_ejections_in_a_row", "gauge",
		      "The backend's ejections in a row (less one per decay period it served): the "
		      "hold's "
		      "multiplier.");
	for (size_t i = 0; i < v->nbackends; i++) {
		reply_printf(r, "strg_backend_ejections_in_a_row{");
		backend_labels(r, &v->backends[i]);
		reply_printf(r, "} %u\n", v->backends[i].ejection_run);
	}
	promtext_help(r, "strg_backend_connections", "gauge",
		      "Open connections to the backend, and requests in flight on them "
		      "(state=inflight).");
	for (size_t i = 0; i < v->nbackends; i++) {
		reply_printf(r, "strg_backend_connections{");
		backend_labels(r, &v->backends[i]);
		reply_printf(r, ",state=\"open\"} %lld\n", (long long)v->backends[i].conns);
		reply_printf(r, "strg_backend_connections{");
		backend_labels(r, &v->backends[i]);
		reply_printf(r, ",state=\"inflight\"} %lld\n", (long long)v->backends[i].inflight);
	}
	promtext_help(r, "strg_pool_unsolicited_closed_total", "counter",
		      "Backend connections closed because they sent bytes no request asked for.");
	for (unsigned p = 0; p < v->npools; p++) {
		reply_printf(r, "strg_pool_unsolicited_closed_total{pool=\"");
		promtext_label(r, v->pool_names[p]);
		reply_printf(r, "\"} %llu\n", (unsigned long long)v->unsolicited[p]);
	}
}

/* In a fleet: what this host runs of the store's table, and whether it is in touch. */
static void store_prometheus(const struct metrics_view *v, struct reply *r)
{
	promtext_help(r, "strg_store_revision", "gauge",
		      "The store's revision whose table is in force on this host.");
	reply_printf(r, "strg_store_revision %lld\n", (long long)v->store.revision);
	promtext_help(r, "strg_store_connected", "gauge",
		      "1 while this host is in touch with the store.");
	reply_printf(r, "strg_store_connected %d\n", v->store.connected);
	promtext_help(r, "strg_store_stale_seconds", "gauge",
		      "How long this host has been out of touch with the store (0: in touch).");
	reply_printf(r, "strg_store_stale_seconds %.3f\n", v->store.stale_s);
	promtext_help(r, "strg_store_rejected_revision", "gauge",
		      "The last revision of the store this host refused (0: none).");
	reply_printf(r, "strg_store_rejected_revision %lld\n",
		     (long long)v->store.rejected_revision);
	promtext_help(r, "strg_fleet_hosts", "gauge", "Hosts reporting in the store (nodes/).");
	reply_printf(r, "strg_fleet_hosts %u\n", v->store.hosts);
}

void metrics_prometheus(const struct metrics_view *v, struct reply *r)
{
	prom_requests(v, r);
	prom_latency(v, r);
	prom_backends(v, r);
	shadowview_prometheus(v->shadow, v->nshadow, r);
	promtext_help(r, "strg_connections_open", "gauge",
		      "Client connections open, per worker (kernel: of which the kernel holds).");
	for (unsigned i = 0; i < v->nworkers; i++) {
		reply_printf(r, "strg_connections_open{worker=\"%u\",holder=\"strgd\"} %lu\n", i,
			     v->workers[i].connections - v->workers[i].kernel);
		reply_printf(r, "strg_connections_open{worker=\"%u\",holder=\"kernel\"} %lu\n", i,
			     v->workers[i].kernel);
	}
	promtext_help(r, "strg_connections_accepted_total", "counter",
		      "Client connections accepted.");
	for (unsigned i = 0; i < v->nworkers; i++)
		reply_printf(r, "strg_connections_accepted_total{worker=\"%u\"} %lu\n", i,
			     v->workers[i].accepted);
	if (v->xdp) {
		promtext_help(r, "strg_xdp_packets_total", "counter",
			      "Packets the XDP guard saw, by verdict (dropped: denied, rate_syn, "
			      "rate_packets, malformed).");
		for (unsigned i = 0; i < GUARD_REASONS; i++)
			reply_printf(r, "strg_xdp_packets_total{verdict=\"%s\"} %llu\n",
				     guard_reason_name(i),
				     (unsigned long long)v->xdp_counts[i].packets);
		promtext_help(r, "strg_xdp_bytes_total", "counter",
			      "Bytes of the packets the XDP guard saw, by verdict.");
		for (unsigned i = 0; i < GUARD_REASONS; i++)
			reply_printf(r, "strg_xdp_bytes_total{verdict=\"%s\"} %llu\n",
				     guard_reason_name(i),
				     (unsigned long long)v->xdp_counts[i].bytes);
		promtext_help(r, "strg_xdp_attached", "gauge",
			      "1 when the XDP guard is attached to an interface.");
		reply_printf(r, "strg_xdp_attached %d\n", v->xdp_iface[0] != 0);
	}
	promtext_help(r, "strg_route_table_generation", "gauge",
		      "Generation of the route table and pools: each change adds one.");
	reply_printf(r, "strg_route_table_generation %llu\n", (unsigned long long)v->generation);
	if (v->store.on)
		store_prometheus(v, r);
	promtext_help(r, "strg_build_info", "gauge", "strgd's version and data path.");
	reply_printf(r, "strg_build_info{version=\"%s\",kernel_path=\"%s\"} 1\n", STRG_VERSION,
		     v->kernel ? "loaded" : "off");
}
