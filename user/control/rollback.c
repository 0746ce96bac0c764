// SPDX-License-Identifier: GPL-2.0-only
/* Automatic rollback per route (rollback.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "lib/grow.h"
#include "observe/quantile.h"
#include "lib/notify.h"
#include "control/rollback.h"
#include "core/route.h"
#include "observe/stats.h"

/* Samples kept per route: the window is covered in this many steps (at least a second each). */
#define RB_STEPS 20

struct rb_sample {
	uint64_t t_ns;
	struct strg_stats v; /* the route's own pool: requests, 5xx, latency buckets */
};

/* What is watched of one route. */
struct rb_route {
	uint32_t id, slot;
	int pool;
	uint32_t window_s;
	unsigned n, head; /* samples kept, the oldest at head */
	struct rb_sample s[RB_STEPS + 1];
	bool seen; /* still in the table at the last tick */
};

struct rollback {
	struct rb_route *r;
	size_t n, cap;
};

struct rollback *rollback_new(void)
{
	return calloc(1, sizeof(struct rollback));
}

void rollback_free(struct rollback *rb)
{
	if (!rb)
		return;
	free(rb->r);
	free(rb);
}

static struct rb_route *state_of(struct rollback *rb, const struct route *rt)
{
	struct rb_route *st;

	for (size_t i = 0; i < rb->n; i++) {
		st = &rb->r[i];
		if (st->id != rt->id)
			continue;
		/* What it watches changed: start the window afresh. */
		if (st->slot != rt->slot || st->pool != rt->spec.pool ||
		    st->window_s != rt->spec.rb_window_s)
			st->n = st->head = 0;
		st->slot = rt->slot;
		st->pool = rt->spec.pool;
		st->window_s = rt->spec.rb_window_s;
		return st;
	}
	st = grow_array(rb->r, &rb->cap, rb->n + 1, sizeof(*rb->r), 8);
	if (!st)
		return NULL;
	rb->r = st;
	st = &rb->r[rb->n++];
	memset(st, 0, sizeof(*st)); /* a forgotten route's slot, reused */
	st->id = rt->id;
	st->slot = rt->slot;
	st->pool = rt->spec.pool;
	st->window_s = rt->spec.rb_window_s;
	return st;
}

struct trip_arg {
	uint32_t id;
	const char *why;
};

/* change_run: the draft's route becomes inactive and tripped, with the figures. */
static int trip_route(struct config *draft, void *arg)
{
	const struct trip_arg *t = arg;
	const struct route *rt = route_table_get(draft->routes, t->id);
	struct route_spec spec;

	if (!rt || rt->spec.tripped || rt->spec.inactive)
		return 0;
	route_spec_from(&rt->spec, &spec);
	spec.inactive = true;
	spec.tripped = true;
	snprintf(spec.trip, sizeof(spec.trip), "%s", t->why);
	return route_table_set(draft->routes, &spec) < 0 ? -1 : 1;
}

/* The oldest sample no older than the window, or the oldest there is. */
static const struct rb_sample *window_start(const struct rb_route *st, uint64_t now_ns)
{
	uint64_t window = (uint64_t)st->window_s * 1000000000ull;

	for (unsigned k = 0; k < st->n; k++) {
		const struct rb_sample *s = &st->s[(st->head + k) % (RB_STEPS + 1)];

		if (now_ns - s->t_ns <= window)
			return s;
	}
	return st->n ? &st->s[(st->head + st->n - 1) % (RB_STEPS + 1)] : NULL;
}

/* The latency part of the figures: p99 and its limit, or why it was not judged. */
static void p99_text(const struct route_stored *sp, double p99_us, char *out, size_t len)
{
	if (p99_us == QUANTILE_FEW) {
		snprintf(out, len, ", p99 not judged (fewer than %u requests)",
			 quantile_min_samples(0.99));
		return;
	}
	snprintf(out, len, ", p99 %.1f ms", p99_us < 0 ? 0 : p99_us / 1000.0);
	if (sp->rb_p99_ms)
		snprintf(out + strlen(out), len - strlen(out), " (limit %u ms)", sp->rb_p99_ms);
}

/* Over the window: trip when the limits are passed; the figures go to why. */
static bool over_limits(const struct route_stored *sp, const struct strg_stats *now,
			const struct strg_stats *then, char *why, size_t len)
{
	struct strg_stats d;
	double err, p99;
	uint64_t req = now->requests - then->requests;
	size_t n;
	bool trip;

	if (req < sp->rb_min || now->requests < then->requests)
		return false;
	memset(&d, 0, sizeof(d));
	for (int b = 0; b < STRG_LAT_BUCKETS; b++)
		d.latency_us_log2[b] = now->latency_us_log2[b] - then->latency_us_log2[b];
	err = (double)(now->status[5] - then->status[5]) * 100.0 / (double)req;
	/* Below the samples a p99 needs it is the window's maximum: not judged (quantile.h). */
	p99 = quantile_stats_us(&d, 0.99);
	trip = err * 10.0 > sp->rb_err_permille || (sp->rb_p99_ms && p99 > sp->rb_p99_ms * 1000.0);
	if (!trip)
		return false;
	n = (size_t)snprintf(why, len, "5xx %.1f%% of %llu requests over %us (limit %u.%u%%)", err,
			     (unsigned long long)req, sp->rb_window_s, sp->rb_err_permille / 10u,
			     sp->rb_err_permille % 10u);
	if (n < len)
		p99_text(sp, p99, why + n, len - n);
	return true;
}

bool rollback_min_warning(const struct route_stored *sp, char *out, size_t len)
{
	unsigned need = quantile_min_samples(0.99);
	char key[ROUTE_TEXT_MAX];

	if (!sp->rb_err_permille || !sp->rb_p99_ms || sp->rb_min >= need)
		return false;
	route_key_text(sp, key, sizeof(key));
	snprintf(out, len,
		 "route %s: rollback min %u is below the %u requests a p99 needs: its p99 %u ms "
		 "is judged only in windows of %u requests or more (the 5xx ratio from %u)",
		 key, sp->rb_min, need, sp->rb_p99_ms, need, sp->rb_min);
	return true;
}

/* True when the route tripped: the table rt is in was replaced (rt and its neighbours freed). */
static bool watch(struct rollback *rb, struct change_pipe *chg, const struct route *rt,
		  uint64_t now_ns)
{
	struct rb_route *st = state_of(rb, rt);
	uint64_t step = (uint64_t)(rt->spec.rb_window_s + RB_STEPS - 1) / RB_STEPS * 1000000000ull;
	const struct rb_sample *then;
	struct strg_stats v;
	char why[160], route[ROUTE_TEXT_MAX];
	struct trip_arg t;
	unsigned pool;

	if (!st)
		return false;
	st->seen = true;
	if (rt->slot >= STRG_ROUTE_SLOTS ||
	    stats_read(chg->st, rt->slot, (unsigned)rt->spec.pool, &v))
		return false;
	then = window_start(st, now_ns);
	if (!st->n || now_ns - st->s[(st->head + st->n - 1) % (RB_STEPS + 1)].t_ns >= step) {
		struct rb_sample *s;

		if (st->n == RB_STEPS + 1) {
			st->head = (st->head + 1) % (RB_STEPS + 1);
			st->n--;
		}
		s = &st->s[(st->head + st->n) % (RB_STEPS + 1)];
		s->t_ns = now_ns;
		s->v = v;
		st->n++;
		then = window_start(st, now_ns);
	}
	if (!then || !over_limits(&rt->spec, &v, &then->v, why, sizeof(why)))
		return false;
	route_key_text(&rt->spec, route, sizeof(route));
	t.id = rt->id;
	t.why = why;
	pool = rt->spec.pool;
	if (change_run(chg, trip_route, &t, NULL) <= 0)
		return false;
	stats_trip(chg->st, st->slot);
	st->n = st->head = 0;
	pr_warn("route %u (%s) rolled back: %s; 'strgctl route activate %u' restores it", t.id,
		route, why, t.id);
	notify_event("route-tripped", route, chg->live->pools[pool].name, NULL, why);
	return true;
}

static bool seen_now(const struct rollback *rb, uint32_t id)
{
	for (size_t i = 0; i < rb->n; i++)
		if (rb->r[i].id == id)
			return rb->r[i].seen;
	return false;
}

/* Watches the routes not seen yet this tick; true when one tripped: list the new table again. */
static bool watch_pass(struct rollback *rb, struct change_pipe *chg, uint64_t now_ns)
{
	const struct route **routes;
	bool tripped = false;
	size_t n;

	routes = route_table_list(chg->live->routes, true, &n);
	if (!routes)
		return false;
	for (size_t i = 0; i < n && !tripped; i++)
		if (routes[i]->spec.rb_err_permille && !routes[i]->spec.inactive &&
		    !seen_now(rb, routes[i]->id))
			tripped = watch(rb, chg, routes[i], now_ns);
	free(routes);
	return tripped;
}

void rollback_tick(struct rollback *rb, struct change_pipe *chg, uint64_t now_ns)
{
	size_t k = 0;

	if (!rb || !chg->st)
		return;
	for (size_t i = 0; i < rb->n; i++)
		rb->r[i].seen = false;
	/* Each pass trips one route at most (it becomes inactive), or ends the tick. */
	while (watch_pass(rb, chg, now_ns))
		;
	/* Routes gone, or no longer watched (tripped, deactivated): forgotten (the counters keep
	 * their trips). */
	for (size_t i = 0; i < rb->n; i++)
		if (rb->r[i].seen)
			rb->r[k++] = rb->r[i];
	rb->n = k;
}
