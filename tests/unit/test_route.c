// SPDX-License-Identifier: GPL-2.0-only
/* Unit tests for the route table: boundaries, precedence, ids, validation and size independence. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/confword.h"
#include "core/http.h"
#include "core/route.h"

#define M(x) (1u << HTTP_M_##x)

enum { LEGACY = 0, MODERN = 1, OTHER = 2, FOURTH = 3 };

static int add(struct route_table *t, uint32_t methods, const char *host, const char *path,
	       bool exact, int pool)
{
	struct route_spec s = {.methods = methods, .exact = exact, .pool = pool};

	assert_int_equal(route_path_set(&s, path), 0);
	assert_int_equal(route_host_set(&s, host), 0);
	return route_table_set(t, &s);
}

/* Pool of the route chosen for a request, or -1 when nothing matched. */
static int pick(const struct route_table *t, unsigned method, const char *host, const char *path)
{
	const struct route *r =
		route_table_lookup(t, method, host, strlen(host), path, strlen(path));

	return r ? r->spec.pool : -1;
}

/* Stored specs own strings sized to their content: replacing a route's rewrite and trip text
 * (longer, shorter, empty), cloning and deleting keep every string right (ASan watches). */
static void test_stored_strings_follow_changes(void **state)
{
	struct route_table *t = route_table_new(), *c;
	struct route_spec s = {.methods = 1u << HTTP_M_GET, .pool = MODERN, .adapt = true};
	const struct route *r;
	int id;

	(void)state;
	assert_int_equal(route_path_set(&s, "/v1/x"), 0);
	assert_int_equal(route_host_set(&s, "Api.Example.com"), 0);
	strcpy(s.rewrite, "/a");
	id = route_table_set(t, &s);
	assert_true(id > 0);
	strcpy(s.rewrite, "/a/much/longer/rewrite/than/before");
	s.tripped = true;
	s.inactive = true;
	strcpy(s.trip, "5xx 9.0% over 10 s (limit 5.0%)");
	assert_int_equal(route_table_set(t, &s), id);
	r = route_table_get(t, (uint32_t)id);
	assert_string_equal(r->spec.rewrite, "/a/much/longer/rewrite/than/before");
	assert_string_equal(r->spec.trip, "5xx 9.0% over 10 s (limit 5.0%)");
	assert_string_equal(r->spec.host, "api.example.com");
	assert_string_equal(r->spec.path, "/v1/x");
	c = route_table_clone(t);
	assert_non_null(c);
	s.rewrite[0] = '\0';
	s.tripped = false;
	s.trip[0] = '\0';
	assert_int_equal(route_table_set(t, &s), id);
	r = route_table_get(t, (uint32_t)id);
	assert_string_equal(r->spec.rewrite, "");
	assert_string_equal(r->spec.trip, "");
	/* The clone kept its own copies. */
	r = route_table_get(c, (uint32_t)id);
	assert_string_equal(r->spec.rewrite, "/a/much/longer/rewrite/than/before");
	assert_string_equal(r->spec.trip, "5xx 9.0% over 10 s (limit 5.0%)");
	assert_int_equal(route_table_del(c, (uint32_t)id), 0);
	assert_null(route_table_get(c, (uint32_t)id));
	route_table_free(c);
	route_table_free(t);
}

static struct route_table *table_with_default(void)
{
	struct route_table *t = route_table_new();

	assert_non_null(t);
	assert_int_equal(add(t, 0, "", "/", false, LEGACY), 1);
	return t;
}

/* Counters slots: stable while a route lives, freed by its deletion, reused lowest first. */
static void test_counter_slots_are_stable_and_reused(void **state)
{
	struct route_table *t = table_with_default();
	char path[32];
	int a, b, c;

	(void)state;
	assert_int_equal(route_table_get(t, 1)->slot, 0);
	a = add(t, 0, "", "/a", false, MODERN);
	b = add(t, 0, "", "/b", false, MODERN);
	assert_int_equal(route_table_get(t, (uint32_t)a)->slot, 1);
	assert_int_equal(route_table_get(t, (uint32_t)b)->slot, 2);
	assert_int_equal(add(t, 0, "", "/a", false, OTHER), a); /* replaced: same id, same slot */
	assert_int_equal(route_table_get(t, (uint32_t)a)->slot, 1);
	assert_int_equal(route_table_del(t, (uint32_t)a), 0);
	c = add(t, 0, "", "/c", false, MODERN);
	assert_int_equal(route_table_get(t, (uint32_t)c)->slot, 1); /* a's slot, a new id */
	for (unsigned i = 0; i < ROUTE_SLOTS; i++) {
		snprintf(path, sizeof(path), "/many/%u", i);
		add(t, 0, "", path, false, MODERN);
	}
	/* Past ROUTE_SLOTS routes the newest are routed but not counted. */
	assert_int_equal(route_table_get(t, (uint32_t)add(t, 0, "", "/last", false, MODERN))->slot,
			 ROUTE_SLOT_NONE);
	route_table_free(t);
}

/* An inactive route is skipped: its requests fall through to the next match, finally "/". */
static void test_inactive_route_falls_through(void **state)
{
	struct route_table *t = table_with_default();
	struct route_spec s;
	int outer, inner;

	(void)state;
	outer = add(t, 0, "", "/v1/orders", false, OTHER);
	inner = add(t, M(GET), "", "/v1/orders/new", false, MODERN);
	assert_int_equal(pick(t, HTTP_M_GET, "", "/v1/orders/new/7"), MODERN);
	route_spec_from(&route_table_get(t, (uint32_t)inner)->spec, &s);
	s.inactive = true;
	assert_int_equal(route_table_set(t, &s), inner); /* same key: same id */
	assert_int_equal(pick(t, HTTP_M_GET, "", "/v1/orders/new/7"), OTHER);
	route_spec_from(&route_table_get(t, (uint32_t)outer)->spec, &s);
	s.inactive = true;
	assert_int_equal(route_table_set(t, &s), outer);
	assert_int_equal(pick(t, HTTP_M_GET, "", "/v1/orders/new/7"), LEGACY);
	s.inactive = false;
	assert_int_equal(route_table_set(t, &s), outer);
	assert_int_equal(pick(t, HTTP_M_GET, "", "/v1/orders/new/7"), OTHER);
	assert_int_equal(route_table_count(t), 3);
	route_table_free(t);
}

/* A dark launch: percent 0 with testers takes no user, but every tester, whatever the bucket. */
static void test_testers_are_in_every_share(void **state)
{
	struct route_table *t = table_with_default();
	struct route_spec s;
	const struct route *r;
	int dark, plain;

	(void)state;
	assert_false(route_table_has_testers(t));
	dark = add(t, M(GET), "", "/v1/dark", false, MODERN);
	route_spec_from(&route_table_get(t, (uint32_t)dark)->spec, &s);
	s.split = true;
	s.permille = 0;
	s.testers = true;
	assert_int_equal(route_table_set(t, &s), dark);
	assert_true(route_table_has_testers(t));
	plain = add(t, M(GET), "", "/v1/plain", false, MODERN);
	route_spec_from(&route_table_get(t, (uint32_t)plain)->spec, &s);
	s.split = true;
	s.permille = 100;
	assert_int_equal(route_table_set(t, &s), plain);
	for (unsigned b = 0; b < 1000; b += 37) {
		r = route_table_lookup_user(t, HTTP_M_GET, "", 0, "/v1/dark/x", 10, b);
		assert_int_equal(r->spec.pool, LEGACY);
		r = route_table_lookup_user(t, HTTP_M_GET, "", 0, "/v1/dark/x", 10,
					    b | ROUTE_TESTER);
		assert_int_equal(r->id, (uint32_t)dark);
		/* Without "testers" the tester's own bucket decides. */
		r = route_table_lookup_user(t, HTTP_M_GET, "", 0, "/v1/plain", 9, b | ROUTE_TESTER);
		assert_int_equal(r->spec.pool, b < 100 ? MODERN : LEGACY);
	}
	route_spec_from(&route_table_get(t, (uint32_t)dark)->spec, &s);
	s.testers = false;
	assert_int_equal(route_table_set(t, &s), dark);
	assert_false(route_table_has_testers(t));
	route_table_free(t);
}

/*
 * A canary's users outside its share are served by the next match but counted under the canary:
 * both halves of the endpoint side by side. A route that does not match (method) or is inactive
 * names no counter; a request that no split passed over counts under the route that serves it.
 */
static void test_split_fall_through_counts_under_the_split(void **state)
{
	struct route_table *t = table_with_default();
	const struct route *r, *counted;
	struct route_spec s;
	int canary;

	(void)state;
	canary = add(t, M(GET), "", "/v1/canary", false, MODERN);
	route_spec_from(&route_table_get(t, (uint32_t)canary)->spec, &s);
	s.split = true;
	s.permille = 500;
	assert_int_equal(route_table_set(t, &s), canary);
	for (unsigned b = 0; b < 1000; b += 99) {
		r = route_table_lookup_counted(t, HTTP_M_GET, "", 0, "/v1/canary/x", 12, b, NULL,
					       &counted);
		assert_int_equal(r->spec.pool, b < 500 ? MODERN : LEGACY);
		assert_int_equal(counted->id, (uint32_t)canary);
	}
	r = route_table_lookup_counted(t, HTTP_M_POST, "", 0, "/v1/canary/x", 12, 900, NULL,
				       &counted);
	assert_int_equal(r->spec.pool, LEGACY);
	assert_ptr_equal(counted, r);
	r = route_table_lookup_counted(t, HTTP_M_GET, "", 0, "/v2", 3, 900, NULL, &counted);
	assert_ptr_equal(counted, r);
	s.inactive = true;
	assert_int_equal(route_table_set(t, &s), canary);
	r = route_table_lookup_counted(t, HTTP_M_GET, "", 0, "/v1/canary/x", 12, 100, NULL,
				       &counted);
	assert_int_equal(r->spec.pool, LEGACY);
	assert_ptr_equal(counted, r);
	route_table_free(t);
}

static void test_boundaries_split_at_slash_only(void **state)
{
	struct route_table *t = table_with_default();

	(void)state;
	add(t, 0, "", "/v1/getSalesLeads", false, MODERN);
	assert_int_equal(pick(t, HTTP_M_GET, "", "/v1/getSalesLeads"), MODERN);
	assert_int_equal(pick(t, HTTP_M_GET, "", "/v1/getSalesLeads/7"), MODERN);
	assert_int_equal(pick(t, HTTP_M_GET, "", "/v1/getSalesLeads/"), MODERN);
	assert_int_equal(pick(t, HTTP_M_GET, "", "/v1/getSalesLeads//7"), MODERN);
	assert_int_equal(pick(t, HTTP_M_GET, "", "/v1/getSalesLeadsX"), LEGACY);
	assert_int_equal(pick(t, HTTP_M_GET, "", "/v1/getSalesLead"), LEGACY);
	assert_int_equal(pick(t, HTTP_M_GET, "", "/v1"), LEGACY);
	assert_int_equal(pick(t, HTTP_M_GET, "", "/V1/getSalesLeads"), LEGACY);
	route_table_free(t);
}

static void test_longest_prefix_wins(void **state)
{
	struct route_table *t = table_with_default();

	(void)state;
	add(t, 0, "", "/v1", false, MODERN);
	add(t, 0, "", "/v1/orders/items", false, FOURTH);
	add(t, 0, "", "/v1/orders", false, OTHER);
	assert_int_equal(pick(t, HTTP_M_GET, "", "/v1/x"), MODERN);
	assert_int_equal(pick(t, HTTP_M_GET, "", "/v1/orders"), OTHER);
	assert_int_equal(pick(t, HTTP_M_GET, "", "/v1/orders/7"), OTHER);
	assert_int_equal(pick(t, HTTP_M_GET, "", "/v1/orders/items"), FOURTH);
	assert_int_equal(pick(t, HTTP_M_GET, "", "/v1/orders/items/3/x"), FOURTH);
	assert_int_equal(pick(t, HTTP_M_GET, "", "/v1/orders/itemsX"), OTHER);
	assert_int_equal(pick(t, HTTP_M_GET, "", "/v2/orders"), LEGACY);
	route_table_free(t);
}

static void test_longer_prefix_beats_more_specific_route(void **state)
{
	struct route_table *t = table_with_default();

	(void)state;
	add(t, M(GET), "api.example.com", "/api", false, MODERN);
	add(t, 0, "", "/api/v2", false, OTHER);
	assert_int_equal(pick(t, HTTP_M_GET, "api.example.com", "/api/v2/x"), OTHER);
	assert_int_equal(pick(t, HTTP_M_GET, "api.example.com", "/api/v3"), MODERN);
	route_table_free(t);
}

static void test_same_prefix_host_then_methods_then_exact(void **state)
{
	struct route_table *t = table_with_default();

	(void)state;
	add(t, 0, "", "/api", false, LEGACY + 10);
	add(t, M(GET), "", "/api", false, MODERN);
	add(t, 0, "api.example.com", "/api", false, OTHER);
	add(t, M(GET), "", "/api", true, FOURTH);
	/* Host-specific all-methods beats any-host GET. */
	assert_int_equal(pick(t, HTTP_M_GET, "api.example.com", "/api/x"), OTHER);
	/* Any host: GET routes beat the all-methods one; the exact GET beats the prefix GET. */
	assert_int_equal(pick(t, HTTP_M_GET, "www.example.com", "/api"), FOURTH);
	assert_int_equal(pick(t, HTTP_M_GET, "www.example.com", "/api/x"), MODERN);
	assert_int_equal(pick(t, HTTP_M_POST, "www.example.com", "/api"), LEGACY + 10);
	route_table_free(t);
}

static void test_smaller_method_set_breaks_ties(void **state)
{
	struct route_table *t = table_with_default();

	(void)state;
	add(t, M(GET) | M(HEAD), "", "/x", false, MODERN);
	add(t, M(GET), "", "/x", false, OTHER);
	assert_int_equal(pick(t, HTTP_M_GET, "", "/x"), OTHER);
	assert_int_equal(pick(t, HTTP_M_HEAD, "", "/x"), MODERN);
	route_table_free(t);
}

static void test_methods_filter_and_fall_through(void **state)
{
	struct route_table *t = table_with_default();
	uint32_t mask;

	(void)state;
	assert_int_equal(confword_methods("GET,HEAD", &mask), 0);
	assert_int_equal(mask, M(GET) | M(HEAD));
	add(t, mask, "", "/v1/getSalesLeads", false, MODERN);
	assert_int_equal(pick(t, HTTP_M_GET, "", "/v1/getSalesLeads"), MODERN);
	assert_int_equal(pick(t, HTTP_M_HEAD, "", "/v1/getSalesLeads/1"), MODERN);
	assert_int_equal(pick(t, HTTP_M_POST, "", "/v1/getSalesLeads"), LEGACY);
	assert_int_equal(pick(t, HTTP_M_UNKNOWN, "", "/v1/getSalesLeads"), LEGACY);
	assert_int_equal(pick(t, 77, "", "/v1/getSalesLeads"), LEGACY);
	route_table_free(t);
}

static void test_methods_parse(void **state)
{
	uint32_t mask = 12345;

	(void)state;
	assert_int_equal(confword_methods("GET", &mask), 0);
	assert_int_equal(mask, M(GET));
	assert_int_equal(
		confword_methods("GET,HEAD,POST,PUT,DELETE,OPTIONS,PATCH,TRACE,CONNECT", &mask), 0);
	assert_int_equal(mask, ((1u << HTTP_M_COUNT) - 1) & ~1u);
	mask = 7;
	assert_int_equal(confword_methods("GETT", &mask), -EINVAL);
	assert_int_equal(confword_methods("get", &mask), -EINVAL);
	assert_int_equal(confword_methods("GET,", &mask), -EINVAL);
	assert_int_equal(confword_methods(",GET", &mask), -EINVAL);
	assert_int_equal(confword_methods("GET,,HEAD", &mask), -EINVAL);
	assert_int_equal(confword_methods("", &mask), -EINVAL);
	assert_int_equal(mask, 7);
}

static void test_host_case_insensitive_and_exact_length(void **state)
{
	struct route_table *t = table_with_default();
	const struct route *r;
	int id;

	(void)state;
	id = add(t, 0, "Api.Example.COM", "/", false, MODERN);
	r = route_table_get(t, id);
	assert_non_null(r);
	assert_string_equal(r->spec.host, "api.example.com");
	assert_int_equal(pick(t, HTTP_M_GET, "API.example.com", "/x"), MODERN);
	assert_int_equal(pick(t, HTTP_M_GET, "api.example.com", "/"), MODERN);
	assert_int_equal(pick(t, HTTP_M_GET, "api.example.co", "/x"), LEGACY);
	assert_int_equal(pick(t, HTTP_M_GET, "api.example.com.evil", "/x"), LEGACY);
	assert_int_equal(pick(t, HTTP_M_GET, "", "/x"), LEGACY);
	/* A NULL host with length 0 is an absent Host: only any-host routes match. */
	r = route_table_lookup(t, HTTP_M_GET, NULL, 0, "/x", 2);
	assert_non_null(r);
	assert_int_equal(r->spec.pool, LEGACY);
	route_table_free(t);
}

static void test_host_validation(void **state)
{
	struct route_spec s = {0};

	(void)state;
	assert_int_equal(route_host_set(&s, "a-b_c.example.com"), 0);
	assert_int_equal(route_host_set(&s, "10.0.0.1"), 0);
	assert_int_equal(route_host_set(&s, "[::1]"), 0);
	assert_int_equal(route_host_set(&s, "[2001:DB8::1]"), 0);
	assert_string_equal(s.host, "[2001:db8::1]");
	assert_int_equal(route_host_set(&s, ""), 0);
	assert_string_equal(s.host, "");
	assert_int_equal(route_host_set(&s, "example.com:80"), -EINVAL);
	assert_int_equal(route_host_set(&s, "a..b"), -EINVAL);
	assert_int_equal(route_host_set(&s, ".a"), -EINVAL);
	assert_int_equal(route_host_set(&s, "a."), -EINVAL);
	assert_int_equal(route_host_set(&s, "a b"), -EINVAL);
	assert_int_equal(route_host_set(&s, "[zz::1]"), -EINVAL);
	assert_int_equal(route_host_set(&s, "[::1"), -EINVAL);
}

static void test_exact_matches_only_itself(void **state)
{
	struct route_table *t = table_with_default();

	(void)state;
	add(t, M(GET), "", "/v1/x", true, MODERN);
	assert_int_equal(pick(t, HTTP_M_GET, "", "/v1/x"), MODERN);
	assert_int_equal(pick(t, HTTP_M_GET, "", "/v1/x/"), LEGACY);
	assert_int_equal(pick(t, HTTP_M_GET, "", "/v1/x/1"), LEGACY);
	assert_int_equal(pick(t, HTTP_M_GET, "", "/v1/xy"), LEGACY);
	add(t, 0, "", "/", true, OTHER);
	assert_int_equal(pick(t, HTTP_M_GET, "", "/"), OTHER);
	assert_int_equal(pick(t, HTTP_M_GET, "", ""), OTHER);
	assert_int_equal(pick(t, HTTP_M_GET, "", "/a"), LEGACY);
	route_table_free(t);
}

static void test_default_route_matches_everything(void **state)
{
	struct route_table *t = table_with_default();

	(void)state;
	assert_int_equal(pick(t, HTTP_M_GET, "", "/"), LEGACY);
	assert_int_equal(pick(t, HTTP_M_GET, "", ""), LEGACY);
	assert_int_equal(pick(t, HTTP_M_GET, "", "*"), LEGACY);
	assert_int_equal(pick(t, HTTP_M_GET, "", "x/y"), LEGACY);
	assert_int_equal(pick(t, HTTP_M_GET, "", "//"), LEGACY);
	assert_int_equal(pick(t, HTTP_M_UNKNOWN, "any.host", "/a/b/c/d/e/f"), LEGACY);
	route_table_free(t);
}

static void test_empty_table_matches_nothing(void **state)
{
	struct route_table *t = route_table_new();

	(void)state;
	assert_non_null(t);
	assert_null(route_table_lookup(t, HTTP_M_GET, "", 0, "/x", 2));
	assert_null(route_table_lookup(t, HTTP_M_GET, "", 0, "", 0));
	add(t, M(GET), "", "/", false, MODERN);
	assert_null(route_table_lookup(t, HTTP_M_POST, "", 0, "/x", 2));
	route_table_free(t);
}

static void test_default_route_cannot_be_deleted(void **state)
{
	struct route_table *t = table_with_default();
	int exact, host, get;

	(void)state;
	exact = add(t, 0, "", "/", true, MODERN);
	host = add(t, 0, "h.example", "/", false, MODERN);
	get = add(t, M(GET), "", "/", false, MODERN);
	assert_int_equal(route_table_del(t, 1), -EPERM);
	assert_int_equal(route_table_del(t, exact), 0);
	assert_int_equal(route_table_del(t, host), 0);
	assert_int_equal(route_table_del(t, get), 0);
	assert_int_equal(route_table_count(t), 1);
	assert_int_equal(route_table_del(t, 999), -ENOENT);
	assert_int_equal(route_table_del(t, 0), -ENOENT);
	/* The default route can be re-pointed, which is how legacy is swapped out. */
	assert_int_equal(add(t, 0, "", "/", false, MODERN), 1);
	assert_int_equal(pick(t, HTTP_M_GET, "", "/x"), MODERN);
	route_table_free(t);
}

static void test_replace_keeps_id(void **state)
{
	struct route_table *t = table_with_default();
	int a, b, c;

	(void)state;
	a = add(t, M(GET) | M(HEAD), "", "/v1/a", false, MODERN);
	b = add(t, M(GET) | M(HEAD), "", "/v1/a/", false, OTHER);
	assert_int_equal(a, b);
	assert_int_equal(route_table_count(t), 2);
	assert_int_equal(route_table_get(t, a)->spec.pool, OTHER);
	assert_int_equal(pick(t, HTTP_M_GET, "", "/v1/a"), OTHER);
	/* Any difference in the key makes a new route. */
	c = add(t, M(GET), "", "/v1/a", false, MODERN);
	assert_int_not_equal(c, a);
	assert_int_not_equal(add(t, M(GET) | M(HEAD), "", "/v1/a", true, MODERN), a);
	assert_int_not_equal(add(t, M(GET) | M(HEAD), "h", "/v1/a", false, MODERN), a);
	assert_int_equal(add(t, M(GET) | M(HEAD), "", "/v1/a", false, LEGACY), a);
	assert_int_equal(route_table_count(t), 5);
	route_table_free(t);
}

static void test_ids_stable_and_never_reused(void **state)
{
	struct route_table *t = table_with_default();
	int a, b, c, d;

	(void)state;
	a = add(t, 0, "", "/a", false, MODERN);
	b = add(t, 0, "", "/b", false, OTHER);
	c = add(t, 0, "", "/c", false, FOURTH);
	assert_int_equal(a, 2);
	assert_int_equal(b, 3);
	assert_int_equal(c, 4);
	assert_int_equal(route_table_del(t, b), 0);
	assert_int_equal(route_table_del(t, b), -ENOENT);
	assert_null(route_table_get(t, b));
	assert_string_equal(route_table_get(t, a)->spec.path, "/a");
	assert_string_equal(route_table_get(t, c)->spec.path, "/c");
	assert_int_equal(pick(t, HTTP_M_GET, "", "/b"), LEGACY);
	assert_int_equal(pick(t, HTTP_M_GET, "", "/c/1"), FOURTH);
	d = add(t, 0, "", "/b", false, OTHER);
	assert_int_equal(d, 5);
	assert_int_equal(route_table_count(t), 4);
	route_table_free(t);
}

static void test_path_set_validation(void **state)
{
	static const char *const bad[] = {
		"",	 "a",	  "a/b",  "//",	  "/a//b", "/a//",  "/./a", "/a/.",
		"/a/..", "/../x", "/a?b", "/a#b", "/a b",  "/a\tb", "/.",   "/..",
	};
	struct route_spec s = {0};
	char deep[ROUTE_DEPTH_MAX * 2 + 3], longp[ROUTE_PATH_MAX + 3];
	unsigned i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		strcpy(s.path, "/unchanged");
		assert_int_equal(route_path_set(&s, bad[i]), -EINVAL);
		assert_string_equal(s.path, "/unchanged");
	}
	assert_int_equal(route_path_set(&s, "/a/"), 0);
	assert_string_equal(s.path, "/a");
	assert_int_equal(route_path_set(&s, "/"), 0);
	assert_string_equal(s.path, "/");
	assert_int_equal(route_path_set(&s, "/v1/getSalesLeads"), 0);
	assert_string_equal(s.path, "/v1/getSalesLeads");
	assert_int_equal(route_path_set(&s, "/.well-known/a..b/%2e"), 0);

	for (i = 0; i < ROUTE_DEPTH_MAX; i++)
		memcpy(deep + 2 * i, "/x", 2);
	deep[2 * ROUTE_DEPTH_MAX] = '\0';
	assert_int_equal(route_path_set(&s, deep), 0);
	strcat(deep, "/y");
	assert_int_equal(route_path_set(&s, deep), -EINVAL);

	longp[0] = '/';
	memset(longp + 1, 'a', ROUTE_PATH_MAX - 1);
	longp[ROUTE_PATH_MAX] = '\0';
	assert_int_equal(route_path_set(&s, longp), 0);
	strcat(longp, "/");
	assert_int_equal(route_path_set(&s, longp), 0);
	longp[ROUTE_PATH_MAX] = 'a';
	assert_int_equal(route_path_set(&s, longp), -EINVAL);
}

static void test_set_rejects_malformed_spec(void **state)
{
	struct route_table *t = route_table_new();
	struct route_spec s = {0};

	(void)state;
	assert_non_null(t);
	strcpy(s.path, "noslash");
	assert_int_equal(route_table_set(t, &s), -EINVAL);
	strcpy(s.path, "/a/../b");
	assert_int_equal(route_table_set(t, &s), -EINVAL);
	strcpy(s.path, "/a");
	s.methods = 1u << HTTP_M_UNKNOWN;
	assert_int_equal(route_table_set(t, &s), -EINVAL);
	s.methods = 1u << 31;
	assert_int_equal(route_table_set(t, &s), -EINVAL);
	s.methods = 0;
	s.pool = -1;
	assert_int_equal(route_table_set(t, &s), -EINVAL);
	s.pool = 0;
	strcpy(s.host, "bad host");
	assert_int_equal(route_table_set(t, &s), -EINVAL);
	/* An upper-case host in a spec is stored lower case. */
	strcpy(s.host, "EXAMPLE.com");
	assert_int_equal(route_table_set(t, &s), 1);
	assert_string_equal(route_table_get(t, 1)->spec.host, "example.com");
	assert_int_equal(route_table_count(t), 1);
	route_table_free(t);
}

static void test_find_by_key(void **state)
{
	struct route_table *t = table_with_default();
	struct route_spec s = {.methods = M(GET)};
	int id;

	(void)state;
	id = add(t, M(GET), "x.example", "/a", false, MODERN);
	strcpy(s.path, "/a/");
	strcpy(s.host, "X.example");
	assert_non_null(route_table_find(t, &s));
	assert_int_equal(route_table_find(t, &s)->id, id);
	s.exact = true;
	assert_null(route_table_find(t, &s));
	route_table_free(t);
}

static int count_cb(const struct route *r, void *arg)
{
	unsigned *n = arg;

	(void)r;
	return ++*n == 3 ? 42 : 0;
}

static int sum_cb(const struct route *r, void *arg)
{
	*(unsigned long *)arg += r->id;
	return 0;
}

static void test_each_visits_all_and_stops(void **state)
{
	struct route_table *t = table_with_default();
	unsigned long sum = 0;
	unsigned n = 0;

	(void)state;
	add(t, 0, "", "/a", false, MODERN);
	add(t, M(GET), "", "/a", false, MODERN);
	add(t, 0, "", "/b/c", false, MODERN);
	add(t, 0, "", "/d", true, MODERN);
	assert_int_equal(route_table_each(t, sum_cb, &sum), 0);
	assert_int_equal(sum, 1 + 2 + 3 + 4 + 5);
	assert_int_equal(route_table_each(t, count_cb, &n), 42);
	assert_int_equal(n, 3);
	route_table_free(t);
}

static void test_clone_is_independent_and_keeps_ids(void **state)
{
	struct route_table *t = table_with_default(), *c;
	int a, b;

	(void)state;
	a = add(t, 0, "", "/a", false, MODERN);
	b = add(t, M(GET), "", "/a", false, OTHER);
	assert_int_equal(route_table_del(t, a), 0);
	c = route_table_clone(t);
	assert_non_null(c);
	assert_int_equal(route_table_count(c), 2);
	assert_string_equal(route_table_get(c, b)->spec.path, "/a");
	assert_int_equal(pick(c, HTTP_M_GET, "", "/a"), OTHER);
	/* The id counter is copied too, so the clone never reissues an id. */
	assert_int_equal(add(c, 0, "", "/z", false, MODERN), b + 1);
	assert_int_equal(add(c, 0, "", "/a", false, MODERN), b + 2);
	assert_int_equal(pick(c, HTTP_M_POST, "", "/a"), MODERN);
	assert_int_equal(pick(t, HTTP_M_POST, "", "/a"), LEGACY);
	assert_int_equal(route_table_count(t), 2);
	route_table_free(c);
	route_table_free(t);
}

#define BIG 10000

static void big_path(char *buf, size_t len, unsigned i)
{
	snprintf(buf, len, "/v%u/svc%u/res%u", i % 3, i / 10, i % 10);
}

static void test_ten_thousand_routes(void **state)
{
	struct route_table *t = table_with_default();
	char path[64], req[80];
	unsigned i;
	int id;

	(void)state;
	for (i = 0; i < BIG; i++) {
		big_path(path, sizeof(path), i);
		id = add(t, i % 2 ? M(GET) : 0, "", path, false, (int)(i + 10));
		assert_int_equal(id, (int)i + 2);
	}
	assert_int_equal(route_table_count(t), BIG + 1);
	for (i = 0; i < BIG; i++) {
		big_path(path, sizeof(path), i);
		snprintf(req, sizeof(req), "%s/item/%u", path, i);
		assert_int_equal(pick(t, HTTP_M_GET, "h", req), (int)(i + 10));
		assert_int_equal(pick(t, HTTP_M_POST, "h", path), i % 2 ? LEGACY : (int)(i + 10));
		snprintf(req, sizeof(req), "%sX", path);
		assert_int_equal(pick(t, HTTP_M_GET, "h", req), LEGACY);
	}
	/* Remove every other route: the rest still answer, the removed fall to "/". */
	for (i = 0; i < BIG; i += 2)
		assert_int_equal(route_table_del(t, i + 2), 0);
	assert_int_equal(route_table_count(t), BIG / 2 + 1);
	for (i = 0; i < BIG; i++) {
		big_path(path, sizeof(path), i);
		assert_int_equal(pick(t, HTTP_M_GET, "", path), i % 2 ? (int)(i + 10) : LEGACY);
		if (i % 2)
			assert_int_equal(route_table_get(t, i + 2)->spec.pool, (int)(i + 10));
		else
			assert_null(route_table_get(t, i + 2));
	}
	route_table_free(t);
}

/* Deleting in random order must not lose the routes that share probe runs with the deleted. */
static void test_random_deletes_keep_the_rest(void **state)
{
	enum { N = 5000 };
	struct route_table *t = table_with_default();
	unsigned char *live = calloc(N + 2, 1);
	char path[64];
	unsigned i, k, left = N;
	const struct route *r;

	(void)state;
	assert_non_null(live);
	srand(11);
	for (i = 2; i < N + 2; i++) {
		snprintf(path, sizeof(path), "/p%u/q", i);
		assert_int_equal(add(t, 0, "", path, false, (int)i), (int)i);
		live[i] = 1;
	}
	while (left > N / 3) {
		k = 2 + rand() % N;
		if (!live[k])
			continue;
		assert_int_equal(route_table_del(t, k), 0);
		live[k] = 0;
		left--;
		if (left % 500)
			continue;
		for (i = 2; i < N + 2; i++) {
			r = route_table_get(t, i);
			snprintf(path, sizeof(path), "/p%u/q/1", i);
			assert_int_equal(r != NULL, live[i]);
			assert_int_equal(pick(t, HTTP_M_GET, "", path), live[i] ? (int)i : LEGACY);
		}
	}
	assert_int_equal(route_table_count(t), left + 1);
	route_table_free(t);
	free(live);
}

/*
 * Ids keep growing while few routes live: once the id range outgrows the id index, ids collide in
 * it and deletions have to move the survivors correctly.
 */
static void test_churn_keeps_ids_reachable(void **state)
{
	enum { LIVE = 100, STEPS = 6000 };
	struct route_table *t = table_with_default();
	uint32_t ids[LIVE];
	char path[64];
	unsigned i, k, step;

	(void)state;
	srand(3);
	for (i = 0; i < LIVE; i++) {
		snprintf(path, sizeof(path), "/c/%u", i);
		ids[i] = (uint32_t)add(t, 0, "", path, false, (int)i);
	}
	for (step = 0; step < STEPS; step++) {
		k = rand() % LIVE;
		assert_int_equal(route_table_del(t, ids[k]), 0);
		assert_null(route_table_get(t, ids[k]));
		snprintf(path, sizeof(path), "/c/%u", LIVE + step);
		ids[k] = (uint32_t)add(t, 0, "", path, false, (int)(LIVE + step));
		if (step % 97)
			continue;
		for (i = 0; i < LIVE; i++) {
			assert_non_null(route_table_get(t, ids[i]));
			snprintf(path, sizeof(path), "/c/%d",
				 route_table_get(t, ids[i])->spec.pool);
			assert_int_equal(pick(t, HTTP_M_GET, "", path),
					 route_table_get(t, ids[i])->spec.pool);
		}
	}
	assert_int_equal(route_table_count(t), LIVE + 1);
	route_table_free(t);
}

/* Reference matcher: the documented rules applied to every route, O(n). */
struct ref {
	struct route_spec spec;
	uint32_t id;
	bool live;
};

static bool ref_matches(const struct ref *r, unsigned method, const char *host, const char *path)
{
	size_t pl = strlen(r->spec.path), ql = strlen(path);
	bool full, pre;

	if (!ql) {
		path = "/";
		ql = 1;
	}
	if (r->spec.methods && !(method < 32 && (r->spec.methods & (1u << method))))
		return false;
	if (r->spec.host[0] && strcasecmp(r->spec.host, host))
		return false;
	if (!strcmp(r->spec.path, "/")) {
		full = ql == 1 && path[0] == '/';
		pre = true;
	} else {
		full = pl == ql && !memcmp(path, r->spec.path, pl);
		pre = ql >= pl && !memcmp(path, r->spec.path, pl) && (ql == pl || path[pl] == '/');
	}
	return r->spec.exact ? full : pre;
}

/* true when a should win over b. */
static bool ref_better(const struct ref *a, const struct ref *b)
{
	size_t la = strcmp(a->spec.path, "/") ? strlen(a->spec.path) : 0;
	size_t lb = strcmp(b->spec.path, "/") ? strlen(b->spec.path) : 0;
	int pa = __builtin_popcount(a->spec.methods), pb = __builtin_popcount(b->spec.methods);

	if (la != lb)
		return la > lb;
	if (!a->spec.host[0] != !b->spec.host[0])
		return a->spec.host[0];
	if (!a->spec.methods != !b->spec.methods)
		return a->spec.methods;
	if (a->spec.exact != b->spec.exact)
		return a->spec.exact;
	if (pa != pb)
		return pa < pb;
	return a->id < b->id;
}

static const char *const segs[] = {"a", "b", "ab", "v1"};
static const char *const req_segs[] = {"a", "b", "ab", "v1", "", "ax", "A"};
static const char *const hosts[] = {"", "x.com", "y.com"};
static const char *const req_hosts[] = {"", "x.com", "X.Com", "y.com", "z.com"};
static const uint32_t masks[] = {0, M(GET), M(GET) | M(HEAD), M(POST), M(HEAD)};

static void rand_path(char *buf, size_t len, const char *const *v, unsigned nv, unsigned depth)
{
	size_t n = 0;
	unsigned i;

	buf[0] = '\0';
	for (i = 0; i < depth; i++)
		n += snprintf(buf + n, len - n, "/%s", v[rand() % nv]);
	if (!depth)
		snprintf(buf, len, "/");
}

static void test_random_against_reference(void **state)
{
	enum { NR = 400, NQ = 20000 };
	struct ref *refs = calloc(NR, sizeof(*refs));
	struct route_table *t = route_table_new();
	const struct route *got;
	const struct ref *best;
	char path[128];
	unsigned i, k, method;
	const char *host;
	int id;

	(void)state;
	assert_non_null(refs);
	assert_non_null(t);
	srand(7);
	for (i = 0; i < NR; i++) {
		struct route_spec s = {.methods = masks[rand() % 5], .exact = rand() % 4 == 0};

		rand_path(path, sizeof(path), segs, 4, i ? rand() % 5 : 0);
		assert_int_equal(route_path_set(&s, path), 0);
		strcpy(s.host, i ? hosts[rand() % 3] : "");
		if (!i) {
			s.methods = 0;
			s.exact = false;
		}
		s.pool = (int)i;
		id = route_table_set(t, &s);
		assert_true(id > 0);
		/* A repeated key replaces the earlier route; mirror that. */
		for (k = 0; k < i; k++)
			if (refs[k].live && refs[k].id == (uint32_t)id)
				refs[k].live = false;
		refs[i].spec = s;
		refs[i].id = (uint32_t)id;
		refs[i].live = true;
		/* Delete some routes as we go so removals are exercised too. */
		if (i > 10 && rand() % 5 == 0) {
			k = 1 + rand() % i;
			if (refs[k].live && refs[k].id != 1) {
				assert_int_equal(route_table_del(t, refs[k].id), 0);
				refs[k].live = false;
			}
		}
	}
	for (i = 0; i < NQ; i++) {
		rand_path(path, sizeof(path), req_segs, 7, rand() % 6);
		if (rand() % 5 == 0)
			strcat(path, "/");
		method = 1 + rand() % 4;
		host = req_hosts[rand() % 5];
		best = NULL;
		for (k = 0; k < NR; k++)
			if (refs[k].live && ref_matches(&refs[k], method, host, path) &&
			    (!best || ref_better(&refs[k], best)))
				best = &refs[k];
		got = route_table_lookup(t, method, host, strlen(host), path, strlen(path));
		assert_non_null(best);
		assert_non_null(got);
		if (got->id != best->id)
			fail_msg("method %u host '%s' path '%s': got route %u (%s), want %u (%s)",
				 method, host, path, got->id, got->spec.path, best->id,
				 best->spec.path);
	}
	route_table_free(t);
	free(refs);
}

/*
 * strg.conf(5) states the route grammar in the words of ROUTE_GRAMMAR, the text the parser's
 * errors and strgctl's help give: its ".B route" line, without the font changes, is that text.
 */
static void test_grammar_is_the_manuals(void **state)
{
	char line[4096], text[2048];
	bool found = false;
	FILE *f = fopen(STRG_SRCDIR "/user/man/strg.conf.5", "r");

	(void)state;
	assert_non_null(f);
	while (!found && fgets(line, sizeof(line), f)) {
		size_t n = 0;

		if (strncmp(line, ".B route ", 9))
			continue;
		for (const char *p = line + 3; *p && *p != '\n' && n + 1 < sizeof(text); p++) {
			if (p[0] == '\\' && p[1] == 'f' && p[2]) {
				p += 2; /* \fR, \fP, \fI, \fB: a font, no text */
				continue;
			}
			if (p[0] == '\\' && p[1] == '-')
				p++;
			text[n++] = *p;
		}
		text[n] = '\0';
		found = true;
	}
	fclose(f);
	assert_true(found);
	assert_string_equal(text, "route " ROUTE_GRAMMAR);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_boundaries_split_at_slash_only),
		cmocka_unit_test(test_longest_prefix_wins),
		cmocka_unit_test(test_longer_prefix_beats_more_specific_route),
		cmocka_unit_test(test_same_prefix_host_then_methods_then_exact),
		cmocka_unit_test(test_smaller_method_set_breaks_ties),
		cmocka_unit_test(test_methods_filter_and_fall_through),
		cmocka_unit_test(test_methods_parse),
		cmocka_unit_test(test_host_case_insensitive_and_exact_length),
		cmocka_unit_test(test_host_validation),
		cmocka_unit_test(test_exact_matches_only_itself),
		cmocka_unit_test(test_default_route_matches_everything),
		cmocka_unit_test(test_inactive_route_falls_through),
		cmocka_unit_test(test_testers_are_in_every_share),
		cmocka_unit_test(test_split_fall_through_counts_under_the_split),
		cmocka_unit_test(test_counter_slots_are_stable_and_reused),
		cmocka_unit_test(test_empty_table_matches_nothing),
		cmocka_unit_test(test_default_route_cannot_be_deleted),
		cmocka_unit_test(test_replace_keeps_id),
		cmocka_unit_test(test_ids_stable_and_never_reused),
		cmocka_unit_test(test_path_set_validation),
		cmocka_unit_test(test_set_rejects_malformed_spec),
		cmocka_unit_test(test_find_by_key),
		cmocka_unit_test(test_each_visits_all_and_stops),
		cmocka_unit_test(test_clone_is_independent_and_keeps_ids),
		cmocka_unit_test(test_ten_thousand_routes),
		cmocka_unit_test(test_random_deletes_keep_the_rest),
		cmocka_unit_test(test_churn_keeps_ids_reachable),
		cmocka_unit_test(test_random_against_reference),
		cmocka_unit_test(test_stored_strings_follow_changes),
		cmocka_unit_test(test_grammar_is_the_manuals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
