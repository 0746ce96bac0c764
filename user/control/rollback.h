/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Automatic rollback per route ("route ... rollback ERR% [p99 MS] [window T] [min N]"): worker 0
 * watches each such route's own pool in the counters (strgd's and the kernel's, added up) over a
 * sliding window; with at least min requests in it, more than ERR % of 5xx (strgd's own 502, 503
 * and 504 included) or a p99 above MS (judged only over 100 requests or more, quantile.h) trips
 * the route: it becomes inactive (its requests fall through to the next match), marked tripped
 * with the figures, until an operator activates or sets it again.
 */
#ifndef STRG_ROLLBACK_H
#define STRG_ROLLBACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "control/change.h"
#include "core/route.h"

struct rollback;

struct rollback *rollback_new(void);
void rollback_free(struct rollback *rb);
/*
 * Whether the route's rollback watches a p99 with a min below the samples a p99 needs
 * (quantile_min_samples): then out says so, for strgd's start and `route set`.
 */
bool rollback_min_warning(const struct route_stored *sp, char *out, size_t len);
/*
 * The timer (every tick): sample the watched routes of chg's live table in its counters, trip
 * those over their limits (a change through the pipeline).
 */
void rollback_tick(struct rollback *rb, struct change_pipe *chg, uint64_t now_ns);

#endif
