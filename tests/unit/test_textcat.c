// SPDX-License-Identifier: GPL-2.0-only
/* Unit tests of appending to a fixed buffer (lib/textcat.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "lib/textcat.h"

/* Pieces land one after another; the result is the whole length. */
static void test_appends_in_order(void **state)
{
	char buf[32];
	size_t n = 0;

	(void)state;
	n = textcat_add(buf, sizeof(buf), n, "route %s", "/api");
	n = textcat_add(buf, sizeof(buf), n, " limit %d", 100);
	assert_int_equal(n, strlen("route /api limit 100"));
	assert_string_equal(buf, "route /api limit 100");
}

/* A short buffer holds a terminated prefix, and the length still counts every piece. */
static void test_short_buffer_counts_the_whole(void **state)
{
	char buf[8];
	size_t n = 0;

	(void)state;
	n = textcat_add(buf, sizeof(buf), n, "%s", "abcdef");
	n = textcat_add(buf, sizeof(buf), n, "%s", "ghijkl");
	n = textcat_add(buf, sizeof(buf), n, "%s", "mn");
	assert_int_equal(n, 14);
	assert_string_equal(buf, "abcdefg");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_appends_in_order),
		cmocka_unit_test(test_short_buffer_counts_the_whole),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
