// SPDX-License-Identifier: GPL-2.0-only
/*
 * Unit tests of the shadow's counters: a field that differs as often between two answers of
 * legacy is noise, judged again at each view (what was compared before the noise was learned
 * counts as noise too); a field that differs only against modern is a mismatch, by kind; the
 * ring keeps the mismatches that later noise does not explain; in-flight copies are bounded;
 * reset keeps the noise; the alert fires once on the way up and once on the way down.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "observe/shadowstats.h"

#define SLOT 7
#define ID   42

/* A result with the named fields differing (body fields unless they start with "header "). */
static void result(struct shadowcmp_result *r, int n, ...)
{
	va_list ap;

	memset(r, 0, sizeof(*r));
	va_start(ap, n);
	for (int i = 0; i < n; i++) {
		const char *f = va_arg(ap, const char *);

		r->d[i].kind = strncmp(f, "header ", 7) ? SHADOWCMP_BODY : SHADOWCMP_HEADER;
		snprintf(r->d[i].field, sizeof(r->d[i].field), "%s", f);
		strcpy(r->d[i].a, "a");
		strcpy(r->d[i].b, "b");
	}
	va_end(ap);
	r->n = (unsigned)n;
}

static void record(struct shadowstats *s, const struct shadowcmp_result *lm,
		   const struct shadowcmp_result *ll)
{
	struct shadowstats_outcome o = {.slot = SLOT,
					.route_id = ID,
					.method = "GET",
					.path = "/x",
					.id = "r1",
					.legacy_us = 1000,
					.modern_us = 2000,
					.lm = lm,
					.ll = ll};

	shadowstats_record(s, &o);
}

static const struct shadowstats_field *field(const struct shadowstats_snap *s, const char *name)
{
	for (unsigned i = 0; i < s->nfields; i++)
		if (!strcmp(s->fields[i].name, name))
			return &s->fields[i];
	return NULL;
}

static void test_noise_is_judged_at_every_view(void **state)
{
	struct shadowstats *s = shadowstats_new();
	struct shadowstats_snap *v = malloc(sizeof(*v));
	struct shadowcmp_result time_only, time_price;

	(void)state;
	result(&time_only, 1, "body $.at");
	result(&time_price, 2, "body $.at", "body $.price");
	/* 100 comparisons before any noise sample: the timestamp looks like a mismatch... */
	for (int i = 0; i < 100; i++)
		record(s, i % 10 ? &time_only : &time_price, NULL);
	assert_int_equal(shadowstats_snapshot(s, SLOT, ID, v), 0);
	assert_int_equal(v->mismatches, 100);
	/* ...until legacy against legacy differs in it as often: then only price mismatches. */
	for (int i = 0; i < 10; i++)
		record(s, &time_only, &time_only);
	assert_int_equal(shadowstats_snapshot(s, SLOT, ID, v), 0);
	assert_int_equal(v->compared, 110);
	assert_int_equal(v->noise_pairs, 10);
	assert_true(field(v, "body $.at")->noise);
	assert_false(field(v, "body $.price")->noise);
	assert_int_equal(v->mismatches, 10);
	assert_int_equal(v->by_kind[SHADOWCMP_BODY], 10);
	assert_int_equal(v->noise_only, 100);
	assert_int_equal(v->matches, 0);
	/* The ring keeps the ten with a price among the last 32. */
	for (unsigned i = 0; i < v->nring; i++)
		assert_non_null(strstr(v->ring[i].d[1].field, "price"));
	assert_int_equal(v->nring, 3); /* 100 compared: the last 32 hold i = 70, 80, 90 */
	free(v);
	shadowstats_free(s);
}

/* A field that differs at random on both sides, legacy's sample smaller, is still noise. */
static void test_noise_allows_for_the_sample(void **state)
{
	assert_true(shadowstats_is_noise(490, 1000, 40, 100)); /* 49 % vs 40 % of 100 +- 9.8 */
	assert_false(shadowstats_is_noise(550, 1000, 40, 100));
	assert_false(shadowstats_is_noise(10, 1000, 0, 100)); /* never differs on legacy */
	assert_true(shadowstats_is_noise(1000, 1000, 100, 100));
	assert_false(shadowstats_is_noise(1000, 1000, 0, 0)); /* nothing learned yet */
	(void)state;
}

static void test_inflight_bound_reset_and_alert(void **state)
{
	struct shadowstats *s = shadowstats_new();
	struct shadowstats_snap *v = malloc(sizeof(*v));
	struct shadowcmp_result none, price;
	uint64_t compared, mism;

	(void)state;
	assert_true(shadowstats_take(s, SLOT, ID, 2));
	assert_true(shadowstats_take(s, SLOT, ID, 2));
	assert_false(shadowstats_take(s, SLOT, ID, 2));
	shadowstats_done(s, SLOT);
	assert_true(shadowstats_take(s, SLOT, ID, 2));
	shadowstats_drop(s, SLOT, ID, SHADOW_DROP_TIMEOUT);
	assert_int_equal(shadowstats_snapshot(s, SLOT, ID, v), 0);
	assert_int_equal(v->inflight, 2);
	assert_int_equal(v->dropped[SHADOW_DROP_INFLIGHT], 1);
	assert_int_equal(v->dropped[SHADOW_DROP_TIMEOUT], 1);
	result(&none, 0);
	result(&price, 1, "body $.price");
	for (int i = 0; i < 60; i++)
		record(s, i % 10 ? &none : &price, &none);
	/* 10 % against an alert of 5 %: up once, then quiet. */
	assert_int_equal(shadowstats_alert(s, SLOT, ID, 50, &compared, &mism), 1);
	assert_int_equal(compared, 60);
	assert_int_equal(mism, 6);
	assert_int_equal(shadowstats_alert(s, SLOT, ID, 50, &compared, &mism), 0);
	for (int i = 0; i < 100; i++)
		record(s, &none, NULL);
	assert_int_equal(shadowstats_alert(s, SLOT, ID, 50, &compared, &mism), -1);
	/* Reset: the comparisons go, the noise pairs stay. */
	shadowstats_reset(s, SLOT, ID);
	assert_int_equal(shadowstats_snapshot(s, SLOT, ID, v), 0);
	assert_int_equal(v->compared, 0);
	assert_int_equal(v->noise_pairs, 60);
	assert_int_equal(v->nring, 0);
	/* Another route in the slot starts afresh; an older one's copies change nothing. */
	shadowstats_drop(s, SLOT, ID + 1, SHADOW_DROP_ERROR);
	shadowstats_drop(s, SLOT, ID, SHADOW_DROP_ERROR);
	assert_int_equal(shadowstats_snapshot(s, SLOT, ID, v), -ENOENT);
	assert_int_equal(shadowstats_snapshot(s, SLOT, ID + 1, v), 0);
	assert_int_equal(v->noise_pairs, 0);
	assert_int_equal(v->dropped[SHADOW_DROP_ERROR], 1);
	free(v);
	shadowstats_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_noise_is_judged_at_every_view),
		cmocka_unit_test(test_noise_allows_for_the_sample),
		cmocka_unit_test(test_inflight_bound_reset_and_alert),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
