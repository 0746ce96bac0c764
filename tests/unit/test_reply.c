// SPDX-License-Identifier: GPL-2.0-only
/* Unit tests of the growing reply text (lib/reply.c) and the latency quantiles
 * (observe/quantile.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "lib/reply.h"
#include "observe/quantile.h"

static void test_reply_grows_past_its_first_block(void **state)
{
	struct reply r = {0};
	size_t want = 0;

	(void)state;
	for (int i = 0; i < 2000; i++) {
		reply_printf(&r, "line %d\n", i);
		want += (size_t)snprintf(NULL, 0, "line %d\n", i);
	}
	assert_false(r.oom);
	assert_int_equal(r.len, want);
	assert_true(r.cap > r.len);
	assert_int_equal(r.buf[r.len], '\0');
	assert_memory_equal(r.buf + r.len - 10, "line 1999\n", 10);
	reply_free(&r);
	assert_null(r.buf);
	assert_int_equal(r.len, 0);
}

static void test_reply_error_replaces_the_text(void **state)
{
	struct reply r = {0};

	(void)state;
	reply_printf(&r, "ok\nhalf of a table");
	reply_error(&r, "no such route");
	assert_string_equal(r.buf, "error: no such route\n");
	assert_int_equal(r.len, strlen("error: no such route\n"));
	reply_free(&r);
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
		cmocka_unit_test(test_reply_grows_past_its_first_block),
		cmocka_unit_test(test_reply_error_replaces_the_text),
		cmocka_unit_test(test_quantile_within_one_bucket),
		cmocka_unit_test(test_quantile_across_buckets),
		cmocka_unit_test(test_quantile_needs_enough_samples),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
