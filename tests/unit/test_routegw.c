// SPDX-License-Identifier: GPL-2.0-only
/*
 * Unit tests of a route's gateway options: the words read and said back, bad values refused with
 * file:line, conditions against real request heads, access lists, the rate bucket (GCRA) and the
 * header rules' variables.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <linux/types.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "core/config.h"
#include "core/http.h"
#include "core/routegw.h"
#include "lib/words.h"
#include "strg/gcra.h"

#define HEAD                                                                                       \
	"listen 127.0.0.1:8080\n"                                                                  \
	"pool legacy 127.0.0.1:9001\n"                                                             \
	"pool modern 127.0.0.1:9101\n"

/* Parse HEAD plus one route line; 0 or the error (in err). */
static int parse_one(struct config *cfg, const char *route, char *err, size_t len)
{
	char text[ROUTE_TEXT_MAX + 256];

	snprintf(text, sizeof(text), HEAD "%s\n", route);
	return config_parse(cfg, "t.conf", text, err, len);
}

/* The text the table keeps of the route on /v1/x (the first one found). */
static void route_text(const struct config *cfg, const char *path, char *out, size_t len)
{
	for (uint32_t id = 1; id < 16; id++) {
		const struct route *rt = route_table_get(cfg->routes, id);

		if (rt && !strcmp(rt->spec.path, path)) {
			route_spec_text(&rt->spec, cfg->pools[rt->spec.pool].name, NULL, out, len);
			return;
		}
	}
	fail_msg("no route %s", path);
}

/* Every option read, and said back in one canonical order (conditions sorted). */
static void test_words_round_trip(void **state)
{
	struct config cfg, again;
	char err[256], text[ROUTE_TEXT_MAX], line[ROUTE_TEXT_MAX + 16], text2[ROUTE_TEXT_MAX];

	(void)state;
	if (parse_one(&cfg,
		      "route GET /v1/x modern query v 2 header X-Tenant acme cookie beta on "
		      "limit 100/s burst 20 per cookie sid allow 10.0.0.0/8,192.0.2.7 deny "
		      "10.9.0.0/16,2001:db8::/32 set-header X-From %{client} del-header "
		      "X-Debug set-response-header X-Route %{route} del-response-header Server",
		      err, sizeof(err)))
		fail_msg("config: %s", err);
	route_text(&cfg, "/v1/x", text, sizeof(text));
	assert_string_equal(text,
			    "GET /v1/x modern header x-tenant acme cookie beta on query v 2 limit "
			    "100/s burst 20 per cookie sid allow 10.0.0.0/8,192.0.2.7 deny "
			    "10.9.0.0/16,2001:db8::/32 set-header X-From %{client} del-header "
			    "X-Debug set-response-header X-Route %{route} del-response-header "
			    "Server");
	/* What was said back reads back the same. */
	snprintf(line, sizeof(line), "route %s", text);
	if (parse_one(&again, line, err, sizeof(err)))
		fail_msg("again: %s", err);
	route_text(&again, "/v1/x", text2, sizeof(text2));
	assert_string_equal(text, text2);
	config_free(&again);
	config_free(&cfg);
}

/* The default burst is a tenth of a second's worth (at least 1); units s, m, h. */
static void test_limit_defaults(void **state)
{
	struct config cfg;
	char err[256], text[ROUTE_TEXT_MAX];

	(void)state;
	assert_int_equal(parse_one(&cfg, "route /v1/x modern limit 100", err, sizeof(err)), 0);
	route_text(&cfg, "/v1/x", text, sizeof(text));
	assert_string_equal(text, "/v1/x modern limit 100/s burst 10");
	config_free(&cfg);
	assert_int_equal(
		parse_one(&cfg, "route /v1/x modern limit 600/m per address", err, sizeof(err)), 0);
	route_text(&cfg, "/v1/x", text, sizeof(text));
	assert_string_equal(text, "/v1/x modern limit 600/m burst 1 per address");
	config_free(&cfg);
}

/* Bad values: one line with file:line, nothing half-read. */
static void test_bad_values_refused(void **state)
{
	static const struct {
		const char *route, *want;
	} bad[] = {
		{"route /v1/x modern allow 10.0.0.0/33",
		 "t.conf:4: route: allow: bad CIDR '10.0.0.0/33'"},
		{"route /v1/x modern deny 10.0.0.300",
		 "t.conf:4: route: deny: bad CIDR '10.0.0.300'"},
		{"route /v1/x modern allow 10.0.0.0/8,,10.1.0.0/16",
		 "t.conf:4: route: allow: bad list"},
		{"route /v1/x modern limit 0", "t.conf:4: route: limit: bad rate '0'"},
		{"route /v1/x modern limit 5/d", "t.conf:4: route: limit: bad rate '5/d'"},
		{"route /v1/x modern limit 5 burst x", "t.conf:4: route: limit: bad burst 'x'"},
		{"route /v1/x modern limit 5 limit 6", "t.conf:4: route: limit: given twice"},
		{"route /v1/x modern limit 5 per user", "t.conf:4: route: limit: per expects"},
		{"route /v1/x modern set-header Content-Length 5",
		 "t.conf:4: route: set-header: Content-Length frames the message"},
		{"route /v1/x modern set-header X(y) 5",
		 "t.conf:4: route: set-header: bad header name"},
		{"route /v1/x modern set-header X-A %{user}", "t.conf:4: route: bad header value"},
		{"route /v1/x modern set-header X-A a\x01z", "t.conf:4: control character in line"},
		{"route /v1/x modern header X-Tenant", "t.conf:4: route: header: missing value"},
		{"route /v1/x modern cookie a b;c", "t.conf:4: route: cookie a: bad value"},
		{"route /v1/x modern header a 1 header b 2 header c 3 header d 4 header e 5",
		 "t.conf:4: route: more than 4 header, cookie and query conditions"},
	};
	struct config cfg;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(err, 0, sizeof(err));
		if (!parse_one(&cfg, bad[i].route, err, sizeof(err))) {
			config_free(&cfg);
			fail_msg("accepted: %s", bad[i].route);
		}
		config_free(&cfg);
		if (strncmp(err, bad[i].want, strlen(bad[i].want)))
			fail_msg("%s:\n got  %s\n want %s...", bad[i].route, err, bad[i].want);
		assert_null(strchr(err, '\n'));
	}
}

/* A CR in the middle of a line is refused, not split into two words. */
static void test_cr_in_line_refused(void **state)
{
	struct config cfg;
	char err[256];

	(void)state;
	assert_int_not_equal(
		parse_one(&cfg, "route /v1/x modern set-header X-A a\rb", err, sizeof(err)), 0);
	config_free(&cfg);
	assert_non_null(strstr(err, "t.conf:4:"));
}

/* A parsed request head and its buffer, for the conditions. */
struct head {
	struct http_request req;
	char buf[1024];
};

static void parse_head(struct head *h, const char *text)
{
	struct http_limits lim;

	http_limits_default(&lim);
	snprintf(h->buf, sizeof(h->buf), "%s", text);
	assert_true(http_parse_request(h->buf, strlen(h->buf), &lim, &h->req) > 0);
}

static bool holds(const char *words, const char *head_text)
{
	struct routegw gw = {0};
	char line[256], err[256], *argv[32];
	struct head h;
	int argc, i = 0;

	snprintf(line, sizeof(line), "%s", words);
	argc = words_split(line, argv, 32, false);
	if (routegw_parse(argc, argv, &i, &gw, err, sizeof(err)))
		fail_msg("%s: %s", words, err);
	parse_head(&h, head_text);
	return routegw_matches(&gw, &h.req, h.buf);
}

static void test_conditions_hold(void **state)
{
	(void)state;
	assert_true(holds("header X-Tenant acme",
			  "GET / HTTP/1.1\r\nHost: a\r\nx-tenant: acme\r\n\r\n"));
	assert_false(holds("header X-Tenant acme",
			   "GET / HTTP/1.1\r\nHost: a\r\nX-Tenant: acme2\r\n\r\n"));
	assert_false(holds("header X-Tenant acme",
			   "GET / HTTP/1.1\r\nHost: a\r\nX-Tenant: Acme\r\n\r\n"));
	assert_true(holds("header X-Tenant ~ac",
			  "GET / HTTP/1.1\r\nHost: a\r\nX-Tenant: acme2\r\n\r\n"));
	assert_false(holds("header X-Tenant ~ac", "GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
	assert_true(holds("cookie beta on",
			  "GET / HTTP/1.1\r\nHost: a\r\nCookie: a=1; beta=on\r\n\r\n"));
	assert_false(
		holds("cookie beta on", "GET / HTTP/1.1\r\nHost: a\r\nCookie: beta=off\r\n\r\n"));
	assert_false(holds("cookie beta on", "GET / HTTP/1.1\r\nHost: a\r\nX-beta: on\r\n\r\n"));
	assert_true(holds("query v 2", "GET /x?a=1&v=2 HTTP/1.1\r\nHost: a\r\n\r\n"));
	assert_false(holds("query v 2", "GET /x?a=1&v=22 HTTP/1.1\r\nHost: a\r\n\r\n"));
	assert_false(holds("query v 2", "GET /x?vv=2 HTTP/1.1\r\nHost: a\r\n\r\n"));
	assert_false(holds("query v 2", "GET /x HTTP/1.1\r\nHost: a\r\n\r\n"));
	/* All must hold. */
	assert_true(holds("header X-T a query v 2",
			  "GET /x?v=2 HTTP/1.1\r\nHost: a\r\nX-T: a\r\n\r\n"));
	assert_false(holds("header X-T a query v 2",
			   "GET /x?v=3 HTTP/1.1\r\nHost: a\r\nX-T: a\r\n\r\n"));
}

static bool admits(const char *words, const char *addr)
{
	struct routegw gw = {0};
	char line[256], err[256], *argv[32];
	struct sockaddr_in6 s6 = {.sin6_family = AF_INET6};
	struct sockaddr_in s4 = {.sin_family = AF_INET};
	int argc, i = 0;

	snprintf(line, sizeof(line), "%s", words);
	argc = words_split(line, argv, 32, false);
	if (routegw_parse(argc, argv, &i, &gw, err, sizeof(err)))
		fail_msg("%s: %s", words, err);
	if (inet_pton(AF_INET, addr, &s4.sin_addr) == 1)
		return routegw_admits(&gw, (struct sockaddr *)&s4);
	assert_int_equal(inet_pton(AF_INET6, addr, &s6.sin6_addr), 1);
	return routegw_admits(&gw, (struct sockaddr *)&s6);
}

/* Deny first, then the allow list when there is one; a v4 client on a v6 socket is v4. */
static void test_access_lists(void **state)
{
	(void)state;
	assert_true(admits("allow 10.0.0.0/8", "10.200.0.1"));
	assert_false(admits("allow 10.0.0.0/8", "11.0.0.1"));
	assert_true(admits("allow 10.0.0.0/8", "::ffff:10.1.2.3"));
	assert_false(admits("allow 10.0.0.0/8 deny 10.1.0.0/16", "10.1.2.3"));
	assert_true(admits("deny 10.1.0.0/16", "10.2.0.1"));
	assert_false(admits("deny 10.1.0.0/16", "10.1.255.255"));
	assert_true(admits("allow 2001:db8::/32", "2001:db8:1::5"));
	assert_false(admits("allow 2001:db8::/32", "2001:db9::5"));
	assert_true(admits("allow 10.1.2.3", "10.1.2.3"));
	assert_false(admits("allow 10.1.2.3", "10.1.2.4"));
	assert_true(admits("allow 10.1.2.0/23", "10.1.3.9")); /* a prefix not on a byte */
	assert_false(admits("allow 10.1.2.0/23", "10.1.4.9"));
}

/* A bucket of rate r and burst b lets b through at once, then one per 1/r; refused ones cost none.
 */
static void test_gcra_bucket(void **state)
{
	struct routegw_limit l = {.count = 100, .unit = 's', .burst = 5};
	__u64 tat = 0, wait = 0, iv = routegw_interval_ns(&l), tol = routegw_tolerance_ns(&l);
	__u64 now = 1000000000ull;
	unsigned ok = 0;

	(void)state;
	assert_int_equal(iv, 10000000ull);
	for (int i = 0; i < 20; i++)
		ok += strg_gcra_take(&tat, now, iv, tol, &wait) == STRG_GCRA_OK;
	assert_int_equal(ok, 5);
	assert_true(wait > 0 && wait <= iv);
	/* One second later: 100 more conform over that second, at most the burst at once. */
	ok = 0;
	for (__u64 t = now + 1000000000ull; t < now + 2000000000ull; t += 1000000ull)
		ok += strg_gcra_take(&tat, t, iv, tol, &wait) == STRG_GCRA_OK;
	assert_in_range(ok, 100, 105);
}

static void test_expand_variables(void **state)
{
	struct routegw_vars v = {"192.0.2.1", "abc", "GET /v1/x", "modern"};
	char out[64];

	(void)state;
	routegw_expand("%{client}|%{request_id}|%{route}%{sp}%{pool}|50%|%x", &v, out, sizeof(out));
	assert_string_equal(out, "192.0.2.1|abc|GET /v1/x modern|50%|%x");
	assert_int_equal(routegw_expand("%{route}%{route}", &v, out, 8), 7);
}

/* Conditions are part of the key: two routes may differ by them alone; more go first. */
static void test_conditions_in_key_and_order(void **state)
{
	struct config cfg;
	char err[256], text[ROUTE_TEXT_MAX];
	struct head h;
	const struct route *r;
	struct route_head rh = {&h.req, h.buf};

	(void)state;
	if (config_parse(&cfg, "t.conf",
			 HEAD "route /v1/x modern\n"
			      "route /v1/x legacy header X-Tenant acme\n"
			      "route /v1/x modern header X-Tenant acme cookie beta on\n",
			 err, sizeof(err)))
		fail_msg("config: %s", err);
	parse_head(&h, "GET /v1/x/1 HTTP/1.1\r\nHost: a\r\nX-Tenant: acme\r\n\r\n");
	r = route_table_lookup_counted(cfg.routes, HTTP_M_GET, "a", 1, "/v1/x/1", 7, 0, &rh, &r);
	route_key_text(&r->spec, text, sizeof(text));
	assert_string_equal(text, "/v1/x header x-tenant acme");
	parse_head(&h,
		   "GET /v1/x/1 HTTP/1.1\r\nHost: a\r\nX-Tenant: acme\r\nCookie: beta=on\r\n\r\n");
	r = route_table_lookup_counted(cfg.routes, HTTP_M_GET, "a", 1, "/v1/x/1", 7, 0, &rh, &r);
	route_key_text(&r->spec, text, sizeof(text));
	assert_string_equal(text, "/v1/x header x-tenant acme cookie beta on");
	parse_head(&h, "GET /v1/x/1 HTTP/1.1\r\nHost: a\r\nX-Tenant: other\r\n\r\n");
	r = route_table_lookup_counted(cfg.routes, HTTP_M_GET, "a", 1, "/v1/x/1", 7, 0, &rh, &r);
	route_key_text(&r->spec, text, sizeof(text));
	assert_string_equal(text, "/v1/x");
	/* Without a head, no route with conditions takes a request. */
	r = route_table_lookup(cfg.routes, HTTP_M_GET, "a", 1, "/v1/x/1", 7);
	assert_int_equal(r->spec.gw->nmatch, 0);
	config_free(&cfg);
	/* The same conditions in another order are the same route: a duplicate. */
	assert_int_not_equal(config_parse(&cfg, "t.conf",
					  HEAD "route /v1/x legacy header a 1 query b 2\n"
					       "route /v1/x modern query b 2 header A 1\n",
					  err, sizeof(err)),
			     0);
	config_free(&cfg);
	assert_non_null(strstr(err, "t.conf:5: route: duplicate of the route on line 4"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_words_round_trip),
		cmocka_unit_test(test_limit_defaults),
		cmocka_unit_test(test_bad_values_refused),
		cmocka_unit_test(test_cr_in_line_refused),
		cmocka_unit_test(test_conditions_hold),
		cmocka_unit_test(test_access_lists),
		cmocka_unit_test(test_gcra_bucket),
		cmocka_unit_test(test_expand_variables),
		cmocka_unit_test(test_conditions_in_key_and_order),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
