// SPDX-License-Identifier: GPL-2.0-only
/* Unit tests of the five-minute trend of errors and p99 per route and pool (observe/trend.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>
#include <linux/types.h>

#include "observe/trend.h"
#include "strg/splice.h"

#define S (1000000000ull)

/* Add n requests to v: k of them 5xx, all in latency bucket b. */
static void count(struct strg_stats *v, uint64_t n, uint64_t k, unsigned b)
{
	v->requests += n;
	v->status[5] += k;
	v->status[2] += n - k;
	v->latency_us_log2[b] += n;
}

static void step(struct trend *t, uint64_t at, struct strg_stats *a, struct strg_stats *b)
{
	struct trend_counts rows[2] = {{7, 1, a}, {7, 0, b}};

	assert_true(trend_due(t, at));
	assert_int_equal(trend_add(t, at, rows, b ? 2 : 1), 0);
	assert_false(trend_due(t, at + TREND_STEP_NS - 1));
}

/* Each step's point is what happened since the step before, per route and pool. */
static void test_points_are_per_step(void **state)
{
	struct strg_stats modern, legacy;
	float err[TREND_POINTS], p99[TREND_POINTS];
	struct trend *t = trend_new();

	(void)state;
	memset(&modern, 0, sizeof(modern));
	memset(&legacy, 0, sizeof(legacy));
	step(t, 1 * S, &modern, &legacy); /* the base: no point yet */
	assert_int_equal(trend_of(t, 7, 1, err, p99), 0);
	count(&modern, 200, 20, 19); /* 10 % 5xx, about 0.4 s */
	count(&legacy, 50, 0, 10);   /* too few for a p99 */
	step(t, 11 * S, &modern, &legacy);
	count(&modern, 100, 0, 10); /* fast again, no error */
	step(t, 21 * S, &modern, &legacy);
	assert_int_equal(trend_of(t, 7, 1, err, p99), 2);
	assert_true(err[0] > 9.99f && err[0] < 10.01f);
	assert_true(p99[0] > 262.0f && p99[0] <= 524.3f);
	assert_true(err[1] == 0.0f);
	assert_true(p99[1] > 0.5f && p99[1] <= 1.03f);
	assert_int_equal(trend_of(t, 7, 0, err, p99), 2);
	assert_true(err[0] == 0.0f && p99[0] < 0); /* 50 requests: no p99 */
	assert_true(err[1] < 0 && p99[1] < 0);	   /* no request */
	assert_int_equal(trend_of(t, 8, 0, err, p99), 2);
	assert_true(err[0] < 0 && err[1] < 0); /* never seen */
	trend_free(t);
}

/* Five minutes are kept, the oldest step dropped; counters that went back start afresh. */
static void test_keeps_five_minutes(void **state)
{
	float err[TREND_POINTS], p99[TREND_POINTS];
	struct trend *t = trend_new();
	struct strg_stats v;

	(void)state;
	memset(&v, 0, sizeof(v));
	step(t, S, &v, NULL);
	for (unsigned i = 1; i <= TREND_POINTS + 5; i++) {
		count(&v, 10, i == TREND_POINTS + 5 ? 10 : 0, 5);
		step(t, S + i * TREND_STEP_NS, &v, NULL);
	}
	assert_int_equal(trend_of(t, 7, 1, err, p99), TREND_POINTS);
	assert_true(err[0] == 0.0f && err[TREND_POINTS - 1] == 100.0f);
	memset(&v, 0, sizeof(v)); /* the slot was reused: no point from a negative difference */
	count(&v, 5, 0, 5);
	step(t, S + (TREND_POINTS + 6) * TREND_STEP_NS, &v, NULL);
	assert_int_equal(trend_of(t, 7, 1, err, p99), TREND_POINTS);
	assert_true(err[TREND_POINTS - 1] < 0);
	trend_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_points_are_per_step),
		cmocka_unit_test(test_keeps_five_minutes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
