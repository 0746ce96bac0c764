// SPDX-License-Identifier: GPL-2.0-only
/* Unit tests of the growing reply text (lib/reply.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "lib/reply.h"

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reply_grows_past_its_first_block),
		cmocka_unit_test(test_reply_error_replaces_the_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
