// SPDX-License-Identifier: GPL-2.0-only
/* Unit tests of the per-source connection limit (srclimit.h) against a plain array model. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/srclimit.h"

static struct sockaddr_in v4(uint32_t host)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(host)};

	return sin;
}

static void test_limit_per_address(void **state)
{
	struct srclimit *sl = srclimit_new(2);
	struct sockaddr_in a = v4(0x0a000001), b = v4(0x0a000002);
	struct sockaddr_in6 a6 = {.sin6_family = AF_INET6};

	(void)state;
	assert_non_null(sl);
	assert_true(srclimit_take(sl, (struct sockaddr *)&a));
	assert_true(srclimit_take(sl, (struct sockaddr *)&a));
	assert_false(srclimit_take(sl, (struct sockaddr *)&a));
	assert_true(srclimit_take(sl, (struct sockaddr *)&b)); /* another address: its own count */
	/* ::ffff:10.0.0.1 is the same source as 10.0.0.1 */
	inet_pton(AF_INET6, "::ffff:10.0.0.1", &a6.sin6_addr);
	assert_false(srclimit_take(sl, (struct sockaddr *)&a6));
	assert_int_equal(srclimit_refused(sl), 2);
	srclimit_give(sl, (struct sockaddr *)&a);
	assert_true(srclimit_take(sl, (struct sockaddr *)&a6));
	srclimit_free(sl);
}

static void test_zero_means_no_limit(void **state)
{
	struct srclimit *sl = srclimit_new(0);
	struct sockaddr_in a = v4(0x7f000001);

	(void)state;
	for (int i = 0; i < 1000; i++)
		assert_true(srclimit_take(sl, (struct sockaddr *)&a));
	srclimit_give(sl, (struct sockaddr *)&a);
	assert_int_equal(srclimit_refused(sl), 0);
	srclimit_free(sl);
}

/* Random takes and gives over many addresses (the table grows, deletions shift probe runs)
 * agree with a plain count per address. */
static void test_random_churn_matches_model(void **state)
{
	enum { N = 3000, MAX = 3 };
	static unsigned count[N];
	struct srclimit *sl = srclimit_new(MAX);
	unsigned long refused = 0;

	(void)state;
	srand(7);
	memset(count, 0, sizeof(count));
	for (int step = 0; step < 200000; step++) {
		unsigned i = (unsigned)rand() % N;
		struct sockaddr_in a = v4(0xc0a80000u + i * 7919u);

		if (rand() % 2) {
			bool ok = srclimit_take(sl, (struct sockaddr *)&a);

			assert_int_equal(ok, count[i] < MAX);
			if (ok)
				count[i]++;
			else
				refused++;
		} else if (count[i]) {
			srclimit_give(sl, (struct sockaddr *)&a);
			count[i]--;
		}
	}
	assert_int_equal(srclimit_refused(sl), refused);
	srclimit_free(sl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_limit_per_address),
		cmocka_unit_test(test_zero_means_no_limit),
		cmocka_unit_test(test_random_churn_matches_model),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
