// SPDX-License-Identifier: GPL-2.0-only
/* Five minutes of errors and p99 per route and pool, in steps (trend.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "observe/quantile.h"
#include "observe/trend.h"

/* A row's cumulative counters at the last step: the next step's point is the difference. */
struct base_row {
	uint32_t route_id;
	unsigned pool;
	uint64_t requests, s5xx;
	uint64_t lat[STRG_LAT_BUCKETS];
};

struct point {
	uint32_t route_id;
	unsigned pool;
	float err, p99;
};

struct step {
	struct point *p; /* sorted by route and pool */
	size_t n;
};

struct trend {
	uint64_t base_ns; /* the last step (0: none yet) */
	struct base_row *base;
	size_t nbase;
	struct step steps[TREND_POINTS];
	unsigned head, count; /* the oldest step at head */
};

struct trend *trend_new(void)
{
	return calloc(1, sizeof(struct trend));
}

void trend_free(struct trend *t)
{
	if (!t)
		return;
	for (unsigned i = 0; i < TREND_POINTS; i++)
		free(t->steps[i].p);
	free(t->base);
	free(t);
}

bool trend_due(const struct trend *t, uint64_t now_ns)
{
	return t && (!t->base_ns || now_ns - t->base_ns >= TREND_STEP_NS);
}

/* Route, then pool: the leading fields of base_row and point alike. */
static int key_cmp(uint32_t ra, unsigned pa, uint32_t rb, unsigned pb)
{
	if (ra != rb)
		return ra < rb ? -1 : 1;
	return (pa > pb) - (pa < pb);
}

static int base_cmp(const void *a, const void *b)
{
	const struct base_row *x = a, *y = b;

	return key_cmp(x->route_id, x->pool, y->route_id, y->pool);
}

static int point_cmp(const void *a, const void *b)
{
	const struct point *x = a, *y = b;

	return key_cmp(x->route_id, x->pool, y->route_id, y->pool);
}

/* What happened between the last step's counters (b, NULL: none) and now's. */
static struct point point_of(const struct base_row *b, const struct base_row *now)
{
	struct point p = {now->route_id, now->pool, -1, -1};
	double lat[STRG_LAT_BUCKETS], us;
	uint64_t req;

	if (!b || now->requests < b->requests || now->s5xx < b->s5xx)
		return p; /* new, or its counters started again (a reused slot) */
	req = now->requests - b->requests;
	if (req)
		p.err = (float)(100.0 * (double)(now->s5xx - b->s5xx) / (double)req);
	for (int i = 0; i < STRG_LAT_BUCKETS; i++)
		lat[i] = now->lat[i] >= b->lat[i] ? (double)(now->lat[i] - b->lat[i]) : 0;
	us = quantile_us(lat, 0.99);
	if (us >= 0)
		p.p99 = (float)(us / 1000.0);
	return p;
}

int trend_add(struct trend *t, uint64_t now_ns, const struct trend_counts *rows, size_t n)
{
	struct base_row *base = calloc(n ? n : 1, sizeof(*base));
	struct point *pts = calloc(n ? n : 1, sizeof(*pts));
	struct step *s;

	if (!base || !pts) {
		free(base);
		free(pts);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		base[i] = (struct base_row){rows[i].route_id, rows[i].pool, rows[i].v->requests,
					    rows[i].v->status[5]};
		memcpy(base[i].lat, rows[i].v->latency_us_log2, sizeof(base[i].lat));
	}
	qsort(base, n, sizeof(*base), base_cmp);
	for (size_t i = 0; i < n; i++)
		pts[i] = point_of(
			t->nbase ? bsearch(&base[i], t->base, t->nbase, sizeof(*base), base_cmp)
				 : NULL,
			&base[i]);
	/* The first call only sets the base: a point needs two readings. */
	if (t->base_ns) {
		if (t->count == TREND_POINTS) {
			free(t->steps[t->head].p);
			t->head = (t->head + 1) % TREND_POINTS;
			t->count--;
		}
		s = &t->steps[(t->head + t->count++) % TREND_POINTS];
		s->p = pts;
		s->n = n;
	} else {
		free(pts);
	}
	free(t->base);
	t->base = base;
	t->nbase = n;
	t->base_ns = now_ns;
	return 0;
}

unsigned trend_of(const struct trend *t, uint32_t route_id, unsigned pool, float *err, float *p99)
{
	struct point key = {.route_id = route_id, .pool = pool};
	unsigned k;

	for (k = 0; t && k < t->count; k++) {
		const struct step *s = &t->steps[(t->head + k) % TREND_POINTS];
		const struct point *p =
			s->n ? bsearch(&key, s->p, s->n, sizeof(key), point_cmp) : NULL;

		err[k] = p ? p->err : -1;
		p99[k] = p ? p->p99 : -1;
	}
	return k;
}
