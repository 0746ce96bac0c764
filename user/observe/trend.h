/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Five minutes of each route and pool's error ratio and p99, in 10 s steps, kept by worker 0 from
 * the counters it reads for the views (metrics.c): the status page draws them from its first
 * paint, where a trend the page kept itself would start empty.
 */
#ifndef STRG_TREND_H
#define STRG_TREND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>

#include "strg/splice.h"

#define TREND_POINTS  30		   /* steps kept: five minutes */
#define TREND_STEP_NS (10 * 1000000000ull) /* one step */

/* One route and pool's counters (cumulative) at a step. */
struct trend_counts {
	uint32_t route_id;
	unsigned pool;
	const struct strg_stats *v;
};

struct trend;

struct trend *trend_new(void);
void trend_free(struct trend *t);
/* Whether a step is due at now_ns (the first one, or TREND_STEP_NS after the last). */
bool trend_due(const struct trend *t, uint64_t now_ns);
/*
 * Close a step at now_ns with the counters of every route and pool (n of them, in any order):
 * each one's point is what happened since the last step. 0 or -ENOMEM (the step is lost).
 */
int trend_add(struct trend *t, uint64_t now_ns, const struct trend_counts *rows, size_t n);
/*
 * The points of one route and pool, oldest first, the newest last: err[i] in percent of the
 * step's requests, p99[i] in ms; < 0 where the step had no request, or too few for a p99
 * (quantile.h), or the row did not exist. Returns how many (at most TREND_POINTS).
 */
unsigned trend_of(const struct trend *t, uint32_t route_id, unsigned pool, float *err, float *p99);

#endif
