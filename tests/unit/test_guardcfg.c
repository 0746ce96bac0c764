// SPDX-License-Identifier: GPL-2.0-only
/* Unit tests of the XDP guard's settings: CIDRs, their sets, the merge, the limits' words. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/guardcfg.h"

static struct guard_net net(const char *text)
{
	struct guard_net n;
	char err[128];

	assert_int_equal(guard_net_parse(text, &n, err, sizeof(err)), 0);
	return n;
}

static const char *text(const char *in)
{
	static char buf[GUARD_NET_TEXT];
	struct guard_net n = net(in);

	return guard_net_text(&n, buf, sizeof(buf));
}

static void test_parse_and_text(void **state)
{
	struct guard_net n;
	char err[128];

	(void)state;
	assert_string_equal(text("10.0.0.0/8"), "10.0.0.0/8");
	assert_string_equal(text("192.0.2.7"), "192.0.2.7/32");
	assert_string_equal(text("2001:db8::/32"), "2001:db8::/32");
	assert_string_equal(text("::1"), "::1/128");
	assert_string_equal(text("0.0.0.0/0"), "0.0.0.0/0");
	assert_string_equal(text("::/0"), "::/0");
	n = net("10.1.0.0/16");
	assert_int_equal(n.len, 96 + 16);
	static const char *const bad[] = {
		"",	  "/8",		  "10.0.0.0/",	 "10.0.0.0/33", "::/129",    "10.0.0.0/8x",
		"10.0.0", "host.example", "10.0.0.0/-1", "10.0.0.0/+8", "1.2.3.4/ 8"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(guard_net_parse(bad[i], &n, err, sizeof(err)), -EINVAL);
		assert_non_null(strstr(err, "bad address or network"));
	}
	assert_int_equal(guard_net_parse("10.1.2.3/8", &n, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "'10.1.2.3/8' has host bits set (the network is 10.0.0.0/8)");
}

static void test_contains(void **state)
{
	struct guard_net n = net("192.0.2.0/24"), v6 = net("2001:db8:1::/48"), all = net("::/0");
	uint8_t a[16];

	(void)state;
	memset(a, 0, sizeof(a));
	a[10] = a[11] = 0xff;
	a[12] = 192, a[13] = 0, a[14] = 2, a[15] = 200;
	assert_true(guard_net_contains(&n, a));
	a[14] = 3;
	assert_false(guard_net_contains(&n, a));
	assert_true(guard_net_contains(&all, a));
	inet_pton(AF_INET6, "2001:db8:1:ffff::1", a);
	assert_true(guard_net_contains(&v6, a));
	inet_pton(AF_INET6, "2001:db8:2::1", a);
	assert_false(guard_net_contains(&v6, a));
}

static void test_list_is_a_sorted_set(void **state)
{
	struct guard_list l = {0};
	struct guard_net a = net("10.0.0.0/8"), b = net("10.0.0.0/16"), c = net("::1");

	(void)state;
	assert_int_equal(guard_list_add(&l, &c), 1);
	assert_int_equal(guard_list_add(&l, &b), 1);
	assert_int_equal(guard_list_add(&l, &a), 1);
	assert_int_equal(guard_list_add(&l, &a), 0);
	assert_int_equal(l.n, 3);
	assert_true(guard_list_has(&l, &b));
	assert_int_equal(guard_list_del(&l, &b), 1);
	assert_int_equal(guard_list_del(&l, &b), 0);
	assert_false(guard_list_has(&l, &b));
	assert_true(guard_list_has(&l, &a) && guard_list_has(&l, &c));
	/* Random adds and deletes agree with a plain membership array. */
	static bool in[4096];
	struct guard_list r = {0};

	memset(in, 0, sizeof(in));
	srand(3);
	for (int step = 0; step < 40000; step++) {
		unsigned i = (unsigned)rand() % 4096;
		struct guard_net x = {.len = 128};

		x.addr[0] = 0x20;
		x.addr[14] = (uint8_t)(i >> 8);
		x.addr[15] = (uint8_t)i;
		if (rand() % 2)
			assert_int_equal(guard_list_add(&r, &x), !in[i]), in[i] = true;
		else
			assert_int_equal(guard_list_del(&r, &x), in[i]), in[i] = false;
	}
	for (unsigned i = 1; i < r.n; i++)
		assert_true(memcmp(r.v[i - 1].addr, r.v[i].addr, 16) < 0);
	guard_list_free(&r);
	guard_list_free(&l);
}

static void test_three_way_merge(void **state)
{
	struct guard_list live = {0}, base = {0}, file = {0};
	struct guard_net kept = net("10.0.0.0/8"), dropped = net("192.0.2.0/24"),
			 added = net("198.51.100.0/24"), runtime = net("203.0.113.0/24");

	(void)state;
	guard_list_add(&base, &kept);
	guard_list_add(&base, &dropped);
	guard_list_add(&live, &kept);
	guard_list_add(&live, &dropped);
	guard_list_add(&live, &runtime); /* strgctl deny add */
	guard_list_add(&file, &kept);
	guard_list_add(&file, &added); /* the file dropped one and added one */
	assert_int_equal(guard_list_merge(&live, &base, &file), 2);
	assert_int_equal(live.n, 3);
	assert_true(guard_list_has(&live, &kept));
	assert_true(guard_list_has(&live, &added));
	assert_true(guard_list_has(&live, &runtime));
	assert_false(guard_list_has(&live, &dropped));
	assert_int_equal(guard_list_merge(&live, &file, &file), 0); /* nothing edited: nothing */
	guard_list_free(&live);
	guard_list_free(&base);
	guard_list_free(&file);
}

static void test_limit_words(void **state)
{
	char w1[] = "100", w2[] = "burst", w3[] = "20", w4[] = "0", w5[] = "50/s", err[128];
	char *a[] = {w1, w2, w3}, *zero[] = {w4}, *slash[] = {w5}, *b0[] = {w1, w2, w4};
	uint32_t rate, burst;

	(void)state;
	assert_int_equal(guard_limit_parse(3, a, &rate, &burst, err, sizeof(err)), 0);
	assert_int_equal(rate, 100);
	assert_int_equal(burst, 20);
	assert_int_equal(guard_limit_parse(1, a, &rate, &burst, err, sizeof(err)), 0);
	assert_int_equal(burst, 100); /* a second's worth */
	assert_int_equal(guard_limit_parse(1, slash, &rate, &burst, err, sizeof(err)), 0);
	assert_int_equal(rate, 50);
	assert_int_equal(guard_limit_parse(1, zero, &rate, &burst, err, sizeof(err)), 0);
	assert_int_equal(rate, 0);
	assert_int_equal(guard_limit_parse(2, a, &rate, &burst, err, sizeof(err)), -EINVAL);
	assert_int_equal(guard_limit_parse(3, b0, &rate, &burst, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "burst 0 would refuse everything (at least 1)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_and_text),	     cmocka_unit_test(test_contains),
		cmocka_unit_test(test_list_is_a_sorted_set), cmocka_unit_test(test_three_way_merge),
		cmocka_unit_test(test_limit_words),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
