// SPDX-License-Identifier: GPL-2.0-only
/*
 * Unit tests of latency as counted and read: the log2 bucket that strgd and the kernel both
 * count into (include/strg/splice.h) and the quantiles read from the buckets (observe/quantile.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>
#include <linux/types.h>

#include "observe/quantile.h"
#include "strg/splice.h"

/* Bucket b holds [2^(b-1), 2^b) us, bucket 0 below 1 us, the last one everything above. */
static void test_bucket_bounds(void **state)
{
	(void)state;
	assert_int_equal(strg_lat_bucket(0), 0);
	for (unsigned b = 1; b < STRG_LAT_BUCKETS - 1; b++) {
		assert_int_equal(strg_lat_bucket(1ull << (b - 1)), b);
		assert_int_equal(strg_lat_bucket((1ull << b) - 1), b);
	}
	assert_int_equal(strg_lat_bucket(1ull << (STRG_LAT_BUCKETS - 2)), STRG_LAT_BUCKETS - 1);
	assert_int_equal(strg_lat_bucket(UINT64_MAX), STRG_LAT_BUCKETS - 1);
}

/* A latency read back as a quantile lies in the bucket it was counted in (twice: p50 is judged
 * from two samples on). */
static void test_quantile_reads_back_the_bucket(void **state)
{
	static const uint64_t samples[] = {0, 1, 3, 100, 999, 1024, 250000, 4000000};
	struct strg_stats v;

	(void)state;
	for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
		unsigned b = strg_lat_bucket(samples[i]);
		double lo = b ? ldexp(1, (int)b - 1) : 0, hi = ldexp(1, (int)b), q;

		memset(&v, 0, sizeof(v));
		v.latency_us_log2[b] = 2;
		q = quantile_stats_us(&v, 0.5);
		assert_true(q >= lo && q <= hi);
	}
}

/* All requests in one bucket: the quantile moves linearly through it. */
static void test_quantile_within_one_bucket(void **state)
{
	struct strg_stats v;

	(void)state;
	memset(&v, 0, sizeof(v));
	v.latency_us_log2[11] = 100; /* [1024, 2048) us */
	assert_true(quantile_stats_us(&v, 0.5) == 1536.0);
	assert_true(quantile_stats_us(&v, 1.0) == 2048.0);
	assert_true(quantile_stats_us(&v, 0.0) == 1024.0);
}

/* p99 of 99 fast and 1 slow request lies at the fast bucket's top; p100 in the slow one. */
static void test_quantile_across_buckets(void **state)
{
	double b[STRG_LAT_BUCKETS] = {0};
	struct strg_stats v;

	(void)state;
	memset(&v, 0, sizeof(v));
	v.latency_us_log2[4] = 99; /* [8, 16) us */
	v.latency_us_log2[20] = 1;
	b[4] = 99;
	b[20] = 1;
	assert_true(quantile_stats_us(&v, 0.99) == 16.0);
	assert_true(quantile_us(b, 0.99) == 16.0);
	assert_true(quantile_us(b, 1.0) == 1048576.0);
	memset(b, 0, sizeof(b));
	assert_true(quantile_us(b, 0.5) < 0); /* nothing counted */
}

/* One slow request among 34 is their maximum, not their p99: p99 is not judged, p90 is. */
static void test_quantile_needs_enough_samples(void **state)
{
	double b[STRG_LAT_BUCKETS] = {0};

	(void)state;
	assert_int_equal(quantile_min_samples(0.99), 100);
	assert_int_equal(quantile_min_samples(0.95), 20);
	assert_int_equal(quantile_min_samples(0.9), 10);
	assert_int_equal(quantile_min_samples(0.5), 2);
	assert_int_equal(quantile_min_samples(1.0), 1);
	b[4] = 33; /* [8, 16) us */
	b[20] = 1; /* about a second */
	assert_true(quantile_us(b, 0.99) == QUANTILE_FEW);
	assert_true(quantile_us(b, 0.9) > 8.0 && quantile_us(b, 0.9) <= 16.0);
	b[4] = 99;
	assert_true(quantile_us(b, 0.99) == 16.0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bucket_bounds),
		cmocka_unit_test(test_quantile_reads_back_the_bucket),
		cmocka_unit_test(test_quantile_within_one_bucket),
		cmocka_unit_test(test_quantile_across_buckets),
		cmocka_unit_test(test_quantile_needs_enough_samples),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
