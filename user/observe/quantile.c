// SPDX-License-Identifier: GPL-2.0-only
/* Latency quantiles from log2 buckets (quantile.h). */
#include <math.h>

#include "observe/quantile.h"

unsigned quantile_min_samples(double q)
{
	if (q >= 1)
		return 1;
	/* The margin keeps 1 / (1 - 0.99), 100.000...01 in binary, at 100. */
	return q <= 0 ? 1 : (unsigned)ceil(1.0 / (1.0 - q) - 1e-6);
}

double quantile_us(const double b[STRG_LAT_BUCKETS], double q)
{
	double total = 0, cum = 0, rank;

	for (int i = 0; i < STRG_LAT_BUCKETS; i++)
		total += b[i];
	if (total <= 0)
		return QUANTILE_NONE;
	if (total < quantile_min_samples(q))
		return QUANTILE_FEW;
	rank = q * total;
	for (int i = 0; i < STRG_LAT_BUCKETS; i++) {
		double lo = i ? ldexp(1, i - 1) : 0, hi = ldexp(1, i);

		if (b[i] > 0 && cum + b[i] >= rank)
			return lo + (hi - lo) * (rank - cum) / b[i];
		cum += b[i];
	}
	return ldexp(1, STRG_LAT_BUCKETS - 1);
}

double quantile_stats_us(const struct strg_stats *v, double q)
{
	double b[STRG_LAT_BUCKETS];

	for (int i = 0; i < STRG_LAT_BUCKETS; i++)
		b[i] = (double)v->latency_us_log2[i];
	return quantile_us(b, q);
}
