// SPDX-License-Identifier: GPL-2.0-only
/* Unit tests for backend pools: weighted round robin, admin states, down marking, parsing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "core/pool.h"

#define MS 1000000ull

static void test_pool_setup(struct pool *p, unsigned n)
{
	memset(p, 0, sizeof(*p));
	strcpy(p->name, "test");
	p->nbackends = n;
	for (unsigned i = 0; i < n; i++)
		p->backends[i].weight = 1; /* as pool_backend_parse makes them */
}

static void test_round_robin_order(void **state)
{
	struct pool p;
	struct pool_runtime rt = {0};

	(void)state;
	test_pool_setup(&p, 3);
	assert_int_equal(pool_pick(&p, &rt, 1), 0);
	assert_int_equal(pool_pick(&p, &rt, 1), 1);
	assert_int_equal(pool_pick(&p, &rt, 1), 2);
	assert_int_equal(pool_pick(&p, &rt, 1), 0);
	assert_int_equal(pool_pick(&p, &rt, 1), 1);
}

static void test_single_backend_always_picked(void **state)
{
	struct pool p;
	struct pool_runtime rt = {0};

	(void)state;
	test_pool_setup(&p, 1);
	assert_int_equal(pool_pick(&p, &rt, 0), 0);
	assert_int_equal(pool_pick(&p, &rt, 0), 0);
}

static void test_down_backend_skipped_until_hold_ends(void **state)
{
	struct pool p;
	struct pool_runtime rt = {0};

	(void)state;
	test_pool_setup(&p, 3);
	pool_mark_down(&p, &rt, 1, 100 * MS, 50 * MS);
	assert_int_equal(pool_pick(&p, &rt, 120 * MS), 0);
	assert_int_equal(pool_pick(&p, &rt, 120 * MS), 2);
	assert_int_equal(pool_pick(&p, &rt, 120 * MS), 0);
	assert_int_equal(pool_pick(&p, &rt, 149 * MS), 2);
	/* At the end of the hold the backend is back in its turn. */
	assert_int_equal(pool_pick(&p, &rt, 150 * MS), 0);
	assert_int_equal(pool_pick(&p, &rt, 150 * MS), 1);
	assert_int_equal(pool_pick(&p, &rt, 150 * MS), 2);
}

static void test_all_down_then_recovery(void **state)
{
	struct pool p;
	struct pool_runtime rt = {0};
	unsigned i;

	(void)state;
	test_pool_setup(&p, 3);
	for (i = 0; i < 3; i++)
		pool_mark_down(&p, &rt, i, 10 * MS, (i + 1) * 100 * MS);
	assert_int_equal(pool_pick(&p, &rt, 10 * MS), -1);
	assert_int_equal(pool_pick(&p, &rt, 109 * MS), -1);
	assert_int_equal(pool_pick(&p, &rt, 110 * MS), 0);
	assert_int_equal(pool_pick(&p, &rt, 110 * MS), 0);
	/* Two ready again: they alternate; with the third back, each gets one of three picks. */
	assert_int_equal(pool_pick(&p, &rt, 210 * MS) + pool_pick(&p, &rt, 210 * MS), 0 + 1);
	pool_mark_up(&p, &rt, 2);
	unsigned seen = 0;
	for (i = 0; i < 3; i++)
		seen |= 1u << pool_pick(&p, &rt, 210 * MS);
	assert_int_equal(seen, 7);
}

/* Weights share new connections; drained, maintained and zero-weight backends get none. */
static void test_weights_and_admin_states(void **state)
{
	unsigned count[4] = {0};
	struct pool p;
	struct pool_runtime rt = {0};

	(void)state;
	test_pool_setup(&p, 4);
	p.backends[0].weight = 3;
	p.backends[1].weight = 1;
	p.backends[2].state = BACKEND_DRAIN;
	p.backends[3].weight = 0;
	for (unsigned i = 0; i < 400; i++)
		count[pool_pick(&p, &rt, 0)]++;
	assert_int_equal(count[0], 300);
	assert_int_equal(count[1], 100);
	assert_int_equal(count[2] + count[3], 0);
	p.backends[0].state = BACKEND_MAINT;
	p.backends[1].state = BACKEND_REMOVED;
	assert_int_equal(pool_pick(&p, &rt, 0), -1);
	p.backends[2].state = BACKEND_READY;
	assert_int_equal(pool_pick(&p, &rt, 0), 2);
}

static void test_empty_pool_and_bad_indexes(void **state)
{
	struct pool p;
	struct pool_runtime rt = {0};

	(void)state;
	test_pool_setup(&p, 0);
	assert_int_equal(pool_pick(&p, &rt, 0), -1);
	test_pool_setup(&p, 2);
	pool_mark_down(&p, &rt, 2, 0, 100);
	pool_mark_down(&p, &rt, 1000, 0, 100);
	pool_mark_up(&p, &rt, 5);
	assert_int_equal(rt.b[2].down_until_ns, 0);
	/* Two equal backends alternate. */
	assert_int_equal(pool_pick(&p, &rt, 0) + pool_pick(&p, &rt, 0), 0 + 1);
}

static void test_hold_saturates(void **state)
{
	struct pool p;
	struct pool_runtime rt = {0};

	(void)state;
	test_pool_setup(&p, 1);
	pool_mark_down(&p, &rt, 0, UINT64_MAX - 5, 100);
	assert_true(rt.b[0].down_until_ns == UINT64_MAX);
	assert_int_equal(pool_pick(&p, &rt, UINT64_MAX - 1), -1);
}

static void test_parse_ipv4(void **state)
{
	struct pool_backend b;
	const struct sockaddr_in *sin = (const struct sockaddr_in *)&b.addr;

	(void)state;
	assert_int_equal(pool_backend_parse(&b, "127.0.0.1:9001"), 0);
	assert_int_equal(sin->sin_family, AF_INET);
	assert_int_equal(ntohs(sin->sin_port), 9001);
	assert_int_equal(ntohl(sin->sin_addr.s_addr), INADDR_LOOPBACK);
	assert_int_equal(b.addrlen, sizeof(struct sockaddr_in));
	assert_string_equal(b.name, "127.0.0.1:9001");
	assert_int_equal(pool_backend_parse(&b, "10.1.2.3:65535"), 0);
	assert_int_equal(ntohs(sin->sin_port), 65535);
}

static void test_parse_ipv6(void **state)
{
	struct pool_backend b;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&b.addr;

	(void)state;
	assert_int_equal(pool_backend_parse(&b, "[::1]:9001"), 0);
	assert_int_equal(sin6->sin6_family, AF_INET6);
	assert_int_equal(ntohs(sin6->sin6_port), 9001);
	assert_true(IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr));
	assert_int_equal(b.addrlen, sizeof(struct sockaddr_in6));
	assert_string_equal(b.name, "[::1]:9001");
}

static void test_parse_name(void **state)
{
	struct pool_backend b;
	const struct sockaddr_in *sin = (const struct sockaddr_in *)&b.addr;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&b.addr;

	(void)state;
	assert_int_equal(pool_backend_parse(&b, "localhost:9001"), 0);
	assert_string_equal(b.name, "localhost:9001");
	if (b.addr.ss_family == AF_INET) {
		assert_int_equal(ntohs(sin->sin_port), 9001);
		assert_int_equal(ntohl(sin->sin_addr.s_addr) >> 24, 127);
	} else {
		assert_int_equal(b.addr.ss_family, AF_INET6);
		assert_int_equal(ntohs(sin6->sin6_port), 9001);
		assert_true(IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr));
	}
}

static void test_parse_rejects(void **state)
{
	static const char *const bad[] = {
		"127.0.0.1",
		"127.0.0.1:",
		"127.0.0.1:0",
		"127.0.0.1:65536",
		"127.0.0.1:99999999999",
		"127.0.0.1:80x",
		"127.0.0.1:+80",
		"127.0.0.1: 80",
		":80",
		"::1:80",
		"[::1]9001",
		"[::1",
		"[]:80",
		"[127.0.0.1]:80",
		"[::1]:",
		"abcdefghijklmnopqrstuvwxyz.abcdefghijklmnopqrstuvwxyz.example:80",
	};
	struct pool_backend b;
	unsigned i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&b, 0x5a, sizeof(b));
		if (pool_backend_parse(&b, bad[i]) != -EINVAL)
			fail_msg("'%s' was accepted", bad[i]);
		/* A failed parse leaves the backend as it was. */
		assert_int_equal(((unsigned char *)&b)[0], 0x5a);
	}
}

static void test_split_says_which_part_is_wrong(void **state)
{
	char host[64];
	uint16_t port = 0;

	(void)state;
	assert_int_equal(pool_addr_split("[fe80::1]:80", host, sizeof(host), &port), 0);
	assert_string_equal(host, "fe80::1");
	assert_int_equal(port, 80);
	assert_int_equal(pool_addr_split("example.com:443", host, sizeof(host), &port), 0);
	assert_string_equal(host, "example.com");
	assert_int_equal(port, 443);
	assert_int_equal(pool_addr_split("h:0", host, sizeof(host), &port), -ERANGE);
	assert_int_equal(pool_addr_split("h:65536", host, sizeof(host), &port), -ERANGE);
	assert_int_equal(pool_addr_split("h:", host, sizeof(host), &port), -ERANGE);
	assert_int_equal(pool_addr_split("h:http", host, sizeof(host), &port), -ERANGE);
	assert_int_equal(pool_addr_split("h", host, sizeof(host), &port), -EINVAL);
	assert_int_equal(pool_addr_split(":1", host, sizeof(host), &port), -EINVAL);
	assert_int_equal(pool_addr_split("a:b:1", host, sizeof(host), &port), -EINVAL);
	assert_int_equal(pool_addr_split("toolong:1", host, 4, &port), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_robin_order),
		cmocka_unit_test(test_weights_and_admin_states),
		cmocka_unit_test(test_single_backend_always_picked),
		cmocka_unit_test(test_down_backend_skipped_until_hold_ends),
		cmocka_unit_test(test_all_down_then_recovery),
		cmocka_unit_test(test_empty_pool_and_bad_indexes),
		cmocka_unit_test(test_hold_saturates),
		cmocka_unit_test(test_parse_ipv4),
		cmocka_unit_test(test_parse_ipv6),
		cmocka_unit_test(test_parse_name),
		cmocka_unit_test(test_parse_rejects),
		cmocka_unit_test(test_split_says_which_part_is_wrong),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
