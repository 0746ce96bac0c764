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

/* Health settings with a growing hold: 100 ms, doubling up to 800 ms, a run decays per second. */
static void test_hold_setup(struct pool *p, unsigned n, bool check)
{
	test_pool_setup(p, n);
	p->health.active = check;
	p->health.eject_after = 3;
	p->health.hold_ms = 100;
	p->health.max_hold_ms = 800;
	p->health.decay_ms = 1000;
}

/* Three failures in a row at t; true when they ejected the backend. */
static bool fail3(struct pool *p, struct pool_runtime *rt, unsigned idx, uint64_t t)
{
	bool ejected = false;

	for (unsigned i = 0; i < 3; i++)
		ejected |= pool_request_failed(p, rt, idx, t);
	return ejected;
}

/* Without a check: each ejection in a row holds twice the last, up to max-hold. */
static void test_ejection_hold_grows(void **state)
{
	static const uint64_t holds[] = {100, 200, 400, 800, 800};
	struct pool p;
	struct pool_runtime rt = {0};
	uint64_t t = 1000 * MS;

	(void)state;
	test_hold_setup(&p, 2, false);
	for (unsigned k = 0; k < 5; k++) {
		assert_true(fail3(&p, &rt, 0, t));
		assert_int_equal(rt.b[0].run, k + 1);
		assert_true(rt.b[0].hold_until_ns == t + holds[k] * MS);
		/* Held: only the other backend is picked; failures in flight eject it no more. */
		assert_int_equal(pool_pick(&p, &rt, t + holds[k] * MS - 1), 1);
		assert_int_equal(pool_pick(&p, &rt, t + holds[k] * MS - 1), 1);
		assert_false(fail3(&p, &rt, 0, t + 1));
		/* A connect that was under way succeeds: the hold stays. */
		pool_mark_up(&p, &rt, 0);
		assert_true(pool_held_down(&rt, 0, t + holds[k] * MS - 1));
		t += holds[k] * MS;
		assert_false(pool_held_down(&rt, 0, t));
		t += 10 * MS; /* it fails again soon after */
	}
	assert_int_equal(__atomic_load_n(&rt.b[0].ejections, __ATOMIC_RELAXED), 5);
	/* Three quiet decay periods take three off the run: the next hold is the second's. */
	t += 3000 * MS;
	assert_true(fail3(&p, &rt, 0, t));
	assert_int_equal(rt.b[0].run, 3);
	assert_true(rt.b[0].hold_until_ns == t + 400 * MS);
	/* A long quiet time starts the run over. */
	t += 400 * MS + 60000 * MS;
	assert_true(fail3(&p, &rt, 0, t));
	assert_int_equal(rt.b[0].run, 1);
	assert_int_equal(pool_hold_ns(&p.health, 40), 800 * MS);
}

/* With a check: ejected until the check admits it, which it may not do before the hold ends. */
static void test_check_admits_after_hold(void **state)
{
	struct pool p;
	struct pool_runtime rt = {0};
	uint64_t t = 5000 * MS;

	(void)state;
	test_hold_setup(&p, 2, true);
	assert_true(fail3(&p, &rt, 0, t));
	assert_int_equal(pool_health_of(&rt, 0), HEALTH_DOWN);
	assert_false(fail3(&p, &rt, 0, t + 500 * MS)); /* already out: not ejected twice */
	assert_int_equal(rt.b[0].run, 1);
	assert_false(pool_hold_over(&rt, 0, t + 99 * MS));
	assert_true(pool_hold_over(&rt, 0, t + 100 * MS));
	assert_true(pool_admit(&rt, 0, t + 100 * MS));
	assert_false(pool_admit(&rt, 0, t + 100 * MS));
	assert_int_equal(pool_health_of(&rt, 0), HEALTH_UP);
	/* Ejected again at once: the hold doubles. */
	assert_true(fail3(&p, &rt, 0, t + 150 * MS));
	assert_false(pool_hold_over(&rt, 0, t + 349 * MS));
	assert_true(pool_hold_over(&rt, 0, t + 350 * MS));
	assert_int_equal(__atomic_load_n(&rt.b[0].ejections, __ATOMIC_RELAXED), 2);
	assert_int_equal(__atomic_load_n(&rt.b[0].admissions, __ATOMIC_RELAXED), 1);
}

/* A backend let back in ramps from a small share to its weight over slowstart. */
static void test_slowstart_ramps(void **state)
{
	static const struct {
		uint64_t at_ms;
		unsigned lo, hi; /* its picks of 1000 */
	} steps[] = {{0, 0, 20}, {100, 60, 110}, {500, 300, 370}, {1000, 495, 505}};
	struct pool p;
	struct pool_runtime rt = {0};
	uint64_t back = 10000 * MS;

	(void)state;
	test_hold_setup(&p, 2, true);
	p.health.slowstart_ms = 1000;
	assert_true(fail3(&p, &rt, 1, back - 200 * MS));
	assert_true(pool_admit(&rt, 1, back));
	for (size_t s = 0; s < sizeof(steps) / sizeof(steps[0]); s++) {
		unsigned n = 0;

		for (unsigned i = 0; i < 1000; i++)
			n += pool_pick(&p, &rt, back + steps[s].at_ms * MS) == 1;
		if (n < steps[s].lo || n > steps[s].hi)
			fail_msg("%llu ms into its slow start: %u picks of 1000, want %u to %u",
				 (unsigned long long)steps[s].at_ms, n, steps[s].lo, steps[s].hi);
	}
	/* Alone in its pool it still serves from the first moment. */
	p.nbackends = 1;
	assert_true(fail3(&p, &rt, 0, back));
	assert_true(pool_admit(&rt, 0, back + 100 * MS));
	assert_int_equal(pool_pick(&p, &rt, back + 100 * MS), 0);
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
		cmocka_unit_test(test_ejection_hold_grows),
		cmocka_unit_test(test_check_admits_after_hold),
		cmocka_unit_test(test_slowstart_ramps),
		cmocka_unit_test(test_parse_ipv4),
		cmocka_unit_test(test_parse_ipv6),
		cmocka_unit_test(test_parse_name),
		cmocka_unit_test(test_parse_rejects),
		cmocka_unit_test(test_split_says_which_part_is_wrong),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
