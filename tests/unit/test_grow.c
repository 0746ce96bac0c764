// SPDX-License-Identifier: GPL-2.0-only
/* Unit tests of the growing arrays (lib/grow.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>

#include "lib/grow.h"

/* Doubling from first; the elements kept, the new ones zeroed; no move while there is room. */
static void test_doubles_keeps_and_zeroes(void **state)
{
	size_t cap = 0, n = 0;
	int *v = NULL, *w;

	(void)state;
	for (int i = 0; i < 1000; i++) {
		w = grow_array(v, &cap, n + 1, sizeof(*v), 8);
		assert_non_null(w);
		assert_true(cap >= n + 1);
		assert_true(cap == 8 || cap % 16 == 0); /* 8, 16, 32, ... */
		for (size_t k = n; k < cap; k++)
			assert_int_equal(w[k], 0);
		v = w;
		v[n++] = i + 1;
	}
	assert_int_equal(cap, 1024);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(v[i], i + 1);
	assert_ptr_equal(grow_array(v, &cap, 1024, sizeof(*v), 8), v);
	assert_int_equal(cap, 1024);
	free(v);
}

/* One call may grow by many doublings; a size that overflows fails and leaves the array be. */
static void test_big_steps_and_overflow(void **state)
{
	size_t cap = 0;
	char *v = grow_array(NULL, &cap, 5000, 1, 64);

	(void)state;
	assert_non_null(v);
	assert_int_equal(cap, 8192);
	v[4999] = 'x';
	assert_null(grow_array(v, &cap, SIZE_MAX / 2 + 2, 1, 64));
	assert_null(grow_array(v, &cap, SIZE_MAX / 8, 16, 64));
	assert_int_equal(cap, 8192);
	assert_int_equal(v[4999], 'x');
	free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_doubles_keeps_and_zeroes),
		cmocka_unit_test(test_big_steps_and_overflow),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
