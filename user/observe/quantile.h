/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Latency quantiles from the counters' log2 buckets (strg_stats.latency_us_log2: bucket b holds
 * latencies in [2^(b-1), 2^b) microseconds, bucket 0 those below 1), linear within a bucket.
 * strgd's views, its automatic rollback and strgctl top all read them this one way.
 */
#ifndef STRG_QUANTILE_H
#define STRG_QUANTILE_H

#include <linux/types.h>

#include "strg/splice.h"

/*
 * The rule every view and the rollback follow: quantile q is judged only over at least
 * 1 / (1 - q) samples (p99: 100, p95: 20, p90: 10, p50: 2). With fewer, the q quantile of the
 * samples is their maximum: one slow request among 34 would be "the p99".
 */
unsigned quantile_min_samples(double q);
#define QUANTILE_NONE -1.0 /* nothing counted */
#define QUANTILE_FEW  -2.0 /* fewer samples than quantile_min_samples(q): not judged */

/* Quantile q (0-1) in microseconds of bucket counts; QUANTILE_NONE or QUANTILE_FEW (< 0). */
double quantile_us(const double b[STRG_LAT_BUCKETS], double q);
/* The same of a counters entry's buckets. */
double quantile_stats_us(const struct strg_stats *v, double q);

#endif
