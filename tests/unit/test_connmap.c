// SPDX-License-Identifier: GPL-2.0-only
/* Unit tests of the cookie -> connection map against a plain array model. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>

#include "lib/connmap.h"

static void test_put_get_del_roundtrip(void **state)
{
	struct connmap m = {0};
	int a, b;

	(void)state;
	assert_int_equal(connmap_put(&m, 7, &a), 0);
	assert_int_equal(connmap_put(&m, 8, &b), 0);
	assert_ptr_equal(connmap_get(&m, 7), &a);
	assert_ptr_equal(connmap_get(&m, 8), &b);
	assert_null(connmap_get(&m, 9));
	connmap_del(&m, 7);
	assert_null(connmap_get(&m, 7));
	assert_ptr_equal(connmap_get(&m, 8), &b);
	connmap_del(&m, 12345); /* absent: nothing happens */
	assert_int_equal((int)m.n, 1);
	connmap_free(&m);
}

/* Random puts and deletes over sequential cookies (as the kernel hands them out) stay exact. */
static void test_random_churn_matches_model(void **state)
{
	enum { N = 5000 };
	static char present[N + 1];
	struct connmap m = {0};

	(void)state;
	srand(42);
	for (int round = 0; round < 200000; round++) {
		uint64_t k = 1 + (uint64_t)(rand() % N);

		if (present[k]) {
			assert_ptr_equal(connmap_get(&m, k), &present[k]);
			connmap_del(&m, k);
			present[k] = 0;
		} else {
			assert_null(connmap_get(&m, k));
			assert_int_equal(connmap_put(&m, k, &present[k]), 0);
			present[k] = 1;
		}
	}
	for (uint64_t k = 1; k <= N; k++)
		assert_ptr_equal(connmap_get(&m, k), present[k] ? &present[k] : NULL);
	connmap_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_get_del_roundtrip),
		cmocka_unit_test(test_random_churn_matches_model),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
