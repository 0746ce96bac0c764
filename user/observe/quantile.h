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

/* Quantile q (0-1) in microseconds of bucket counts (or rates); < 0 when they are all zero. */
double quantile_us(const double b[STRG_LAT_BUCKETS], double q);
/* The same of a counters entry's buckets. */
double quantile_stats_us(const struct strg_stats *v, double q);

#endif
