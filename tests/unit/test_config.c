// SPDX-License-Identifier: GPL-2.0-only
/* Unit tests for the config parser: the documented sample, defaults, and every error message. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"

#define M(x) (1u << HTTP_M_##x)

static const char sample[] = "listen 127.0.0.1:8080\n"
			     "pool legacy 127.0.0.1:9001 127.0.0.1:9002\n"
			     "pool modern 127.0.0.1:9101\n"
			     "route / legacy\n"
			     "route GET,HEAD /v1/getSalesLeads modern\n"
			     "route /v1/getMarketingEvents modern\n"
			     "route GET host api.example.com /v1/x modern exact\n"
			     "timeout connect 3000      # ms; also: server, client, idle\n"
			     "timeout server 30s        # accept a unit suffix ms/s/m too\n"
			     "limit request-line 8192   # also: head, fields\n"
			     "down-hold 2000            # ms a refused backend is skipped\n";

/* Name of the pool chosen for a request. */
static const char *route_to(const struct config *cfg, unsigned method, const char *host,
			    const char *path)
{
	const struct route *r =
		route_table_lookup(cfg->routes, method, host, strlen(host), path, strlen(path));

	assert_non_null(r);
	assert_true(r->spec.pool >= 0 && (unsigned)r->spec.pool < cfg->npools);
	return cfg->pools[r->spec.pool].name;
}

static void test_sample_parses(void **state)
{
	const struct sockaddr_in *sin;
	struct config cfg;
	char err[256] = "untouched";
	int legacy, modern;

	(void)state;
	assert_int_equal(config_parse(&cfg, "strg.conf", sample, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	sin = (const struct sockaddr_in *)&cfg.listen;
	assert_int_equal(sin->sin_family, AF_INET);
	assert_int_equal(ntohs(sin->sin_port), 8080);
	assert_int_equal(cfg.listen_len, sizeof(struct sockaddr_in));

	assert_int_equal(cfg.npools, 2);
	legacy = config_pool_find(&cfg, "legacy");
	modern = config_pool_find(&cfg, "modern");
	assert_int_equal(legacy, 0);
	assert_int_equal(modern, 1);
	assert_int_equal(config_pool_find(&cfg, "other"), -1);
	assert_int_equal(cfg.pools[legacy].nbackends, 2);
	assert_string_equal(cfg.pools[legacy].backends[0].name, "127.0.0.1:9001");
	assert_string_equal(cfg.pools[legacy].backends[1].name, "127.0.0.1:9002");
	assert_int_equal(cfg.pools[modern].nbackends, 1);
	assert_string_equal(cfg.pools[modern].backends[0].name, "127.0.0.1:9101");

	assert_int_equal(route_table_count(cfg.routes), 4);
	assert_string_equal(route_to(&cfg, HTTP_M_GET, "", "/"), "legacy");
	assert_string_equal(route_to(&cfg, HTTP_M_GET, "", "/v1/getSalesLeads"), "modern");
	assert_string_equal(route_to(&cfg, HTTP_M_HEAD, "", "/v1/getSalesLeads/7"), "modern");
	assert_string_equal(route_to(&cfg, HTTP_M_POST, "", "/v1/getSalesLeads"), "legacy");
	assert_string_equal(route_to(&cfg, HTTP_M_POST, "", "/v1/getMarketingEvents/3"), "modern");
	assert_string_equal(route_to(&cfg, HTTP_M_GET, "API.example.com", "/v1/x"), "modern");
	assert_string_equal(route_to(&cfg, HTTP_M_GET, "api.example.com", "/v1/x/1"), "legacy");
	assert_string_equal(route_to(&cfg, HTTP_M_GET, "other.example", "/v1/x"), "legacy");

	assert_int_equal(cfg.connect_timeout_ms, 3000);
	assert_int_equal(cfg.server_timeout_ms, 30000);
	assert_int_equal(cfg.client_timeout_ms, 30000);
	assert_int_equal(cfg.idle_timeout_ms, 60000);
	assert_int_equal(cfg.head_timeout_ms, 10000);
	assert_int_equal(cfg.backend_idle_ms, 5000);
	assert_int_equal(cfg.per_source_max, 0);
	assert_int_equal(cfg.body_buffer, 16384);
	assert_int_equal(cfg.splice_body, 131072);
	assert_int_equal(cfg.body_timeout_ms, 20000);
	assert_int_equal(cfg.body_rate, 500);
	assert_int_equal(cfg.down_hold_ms, 2000);
	assert_int_equal(cfg.limits.max_request_line, 8192);
	assert_int_equal(cfg.limits.max_head, 16384);
	assert_int_equal(cfg.limits.max_fields, 100);
	config_free(&cfg);
}

static void test_values_and_units(void **state)
{
	static const char text[] = "listen [::1]:8443\n"
				   "pool legacy [::1]:9001\n"
				   "timeout connect 250ms\n"
				   "timeout server 45s\n"
				   "timeout client 2m\n"
				   "timeout idle 60m\n"
				   "timeout head 3s\n"
				   "timeout backend-idle 500ms\n"
				   "limit per-source 64\n"
				   "limit body-buffer 0\n"
				   "timeout body 1m\n"
				   "limit body-rate 0\n"
				   "limit splice-body 0\n"
				   "limit request-line 4096\n"
				   "limit head 65536\n"
				   "limit fields 256\n"
				   "down-hold 1\n";
	const struct sockaddr_in6 *sin6;
	struct config cfg;
	char err[256];

	(void)state;
	assert_int_equal(config_parse(&cfg, "t.conf", text, err, sizeof(err)), 0);
	sin6 = (const struct sockaddr_in6 *)&cfg.listen;
	assert_int_equal(sin6->sin6_family, AF_INET6);
	assert_int_equal(ntohs(sin6->sin6_port), 8443);
	assert_int_equal(cfg.connect_timeout_ms, 250);
	assert_int_equal(cfg.server_timeout_ms, 45000);
	assert_int_equal(cfg.client_timeout_ms, 120000);
	assert_int_equal(cfg.idle_timeout_ms, 3600000);
	assert_int_equal(cfg.head_timeout_ms, 3000);
	assert_int_equal(cfg.backend_idle_ms, 500);
	assert_int_equal(cfg.per_source_max, 64);
	assert_int_equal(cfg.body_buffer, 0);
	assert_int_equal(cfg.body_timeout_ms, 60000);
	assert_int_equal(cfg.body_rate, 0);
	assert_int_equal(cfg.splice_body, 0);
	assert_int_equal(cfg.limits.max_request_line, 4096);
	assert_int_equal(cfg.limits.max_head, 65536);
	assert_int_equal(cfg.limits.max_fields, 256);
	assert_int_equal(cfg.down_hold_ms, 1);
	assert_false(cfg.pools[0].proxy_protocol);
	assert_int_equal(cfg.splice, SPLICE_AUTO);
	config_free(&cfg);
}

/* "proxy-protocol" closes a pool line; "splice" picks the data path. */
static void test_pool_options_and_splice(void **state)
{
	static const char text[] = "listen 127.0.0.1:8080\n"
				   "pool legacy 127.0.0.1:9001 127.0.0.1:9002 proxy-protocol\n"
				   "pool modern 127.0.0.1:9101\n"
				   "splice always\n";
	struct config cfg;
	char err[256];

	(void)state;
	assert_int_equal(config_parse(&cfg, "t.conf", text, err, sizeof(err)), 0);
	assert_true(cfg.pools[0].proxy_protocol);
	assert_int_equal(cfg.pools[0].nbackends, 2);
	assert_false(cfg.pools[1].proxy_protocol);
	assert_int_equal(cfg.splice, SPLICE_ALWAYS);
	config_free(&cfg);
}

/* "percent P" keeps one decimal, as per mille; "sticky" names the user's key. */
static void test_percent_and_sticky(void **state)
{
	static const char text[] = "listen 127.0.0.1:8080\n"
				   "pool legacy 127.0.0.1:9001\n"
				   "pool modern 127.0.0.1:9101\n"
				   "sticky cookie uid\n"
				   "route GET /v1/a modern percent 12.5\n"
				   "route /v1/b modern percent 0 exact\n";
	const struct route *a, *b;
	struct config cfg;
	char err[256];

	(void)state;
	assert_int_equal(config_parse(&cfg, "t.conf", text, err, sizeof(err)), 0);
	assert_int_equal(cfg.sticky, STICKY_COOKIE);
	assert_string_equal(cfg.sticky_name, "uid");
	a = route_table_lookup_user(cfg.routes, HTTP_M_GET, NULL, 0, "/v1/a", 5, 124);
	b = route_table_lookup_user(cfg.routes, HTTP_M_GET, NULL, 0, "/v1/a", 5, 125);
	assert_true(a->spec.split && a->spec.permille == 125 && a->spec.pool == 1);
	assert_int_equal(b->spec.pool, 0); /* bucket 125 is past 12.5 %: falls through to '/' */
	b = route_table_lookup_user(cfg.routes, HTTP_M_GET, NULL, 0, "/v1/b", 5, 0);
	assert_int_equal(b->spec.pool, 0); /* percent 0: nobody */
	config_free(&cfg);
}

static void test_metrics_and_access_log(void **state)
{
	static const char text[] = "listen 127.0.0.1:8080\npool legacy 127.0.0.1:9001\n"
				   "metrics 127.0.0.1:9100\n"
				   "access-log /var/log/strg/access.log json sample 100\n";
	struct sockaddr_in *sin;
	struct config cfg;
	char err[256];

	(void)state;
	assert_int_equal(config_parse(&cfg, "strg.conf", text, err, sizeof(err)), 0);
	assert_int_not_equal(cfg.metrics_len, 0);
	sin = (struct sockaddr_in *)&cfg.metrics;
	assert_int_equal(ntohs(sin->sin_port), 9100);
	assert_string_equal(cfg.access_log, "/var/log/strg/access.log");
	assert_true(cfg.access_log_json);
	assert_int_equal(cfg.access_log_sample, 100);
	config_free(&cfg);
	/* Off unless configured. */
	assert_int_equal(config_parse(&cfg, "strg.conf",
				      "listen 127.0.0.1:8080\n"
				      "pool legacy 127.0.0.1:9001\n",
				      err, sizeof(err)),
			 0);
	assert_int_equal(cfg.metrics_len, 0);
	assert_string_equal(cfg.access_log, "");
	config_free(&cfg);
}

static void test_health_fallback_rollback(void **state)
{
	static const char text[] =
		"listen 127.0.0.1:8080\npool legacy 127.0.0.1:9001\n"
		"pool modern 127.0.0.1:9101\n"
		"health modern http /healthz status 204 interval 500ms rise 3 fall 4 "
		"timeout 200ms\n"
		"eject modern after 5 5xx hold 1s max-hold 1m decay 20s slowstart 10s\n"
		"notify exec /usr/local/sbin/strg-notify\n"
		"notify coalesce 0\n"
		"route GET /v1/orders modern percent 50 fallback legacy rollback 2.5% "
		"p99 800 window 20s min 30\n"
		"route /v1/pay modern fallback none\n";
	const struct route *rt;
	struct route_spec key = {0};
	struct config cfg;
	char err[256];

	(void)state;
	assert_int_equal(config_parse(&cfg, "strg.conf", text, err, sizeof(err)), 0);
	assert_true(cfg.pools[1].health.active);
	assert_string_equal(cfg.pools[1].health.path, "/healthz");
	assert_int_equal(cfg.pools[1].health.status, 204);
	assert_int_equal(cfg.pools[1].health.interval_ms, 500);
	assert_int_equal(cfg.pools[1].health.timeout_ms, 200);
	assert_int_equal(cfg.pools[1].health.rise, 3);
	assert_int_equal(cfg.pools[1].health.fall, 4);
	assert_int_equal(cfg.pools[1].health.eject_after, 5);
	assert_true(cfg.pools[1].health.eject_5xx);
	assert_false(cfg.pools[0].health.active);
	assert_int_equal(cfg.pools[1].health.hold_ms, 1000);
	assert_int_equal(cfg.pools[1].health.max_hold_ms, 60000);
	assert_int_equal(cfg.pools[1].health.decay_ms, 20000);
	assert_int_equal(cfg.pools[1].health.slowstart_ms, 10000);
	assert_int_equal(cfg.pools[0].health.eject_after, 3); /* the defaults */
	assert_int_equal(cfg.pools[0].health.hold_ms, 2000);
	assert_int_equal(cfg.pools[0].health.max_hold_ms, 120000);
	assert_int_equal(cfg.pools[0].health.decay_ms, 30000);
	assert_int_equal(cfg.pools[0].health.slowstart_ms, 0);
	assert_string_equal(cfg.notify, "/usr/local/sbin/strg-notify");
	assert_int_equal(cfg.notify_coalesce_ms, 0);
	route_path_set(&key, "/v1/orders");
	key.methods = 1u << HTTP_M_GET;
	rt = route_table_find(cfg.routes, &key);
	assert_non_null(rt);
	assert_int_equal(rt->spec.fallback, ROUTE_FALLBACK_POOL);
	assert_int_equal(rt->spec.fallback_pool, 0);
	assert_int_equal(rt->spec.rb_err_permille, 25);
	assert_int_equal(rt->spec.rb_p99_ms, 800);
	assert_int_equal(rt->spec.rb_window_s, 20);
	assert_int_equal(rt->spec.rb_min, 30);
	{
		/* The text the state file keeps reads back the same (a tripped route too). */
		char line[ROUTE_TEXT_MAX + 128], spec_text[ROUTE_TEXT_MAX], again[ROUTE_TEXT_MAX];
		struct route_stored sp = rt->spec;
		struct config c2;
		const struct route *r2;

		sp.inactive = sp.tripped = true;
		route_spec_text(&sp, "modern", "legacy", spec_text, sizeof(spec_text));
		assert_string_equal(spec_text,
				    "GET /v1/orders modern percent 50.0 fallback legacy rollback "
				    "2.5% p99 800 window 20s min 30 inactive tripped");
		snprintf(line, sizeof(line),
			 "listen 127.0.0.1:8080\npool legacy 127.0.0.1:9001\n"
			 "pool modern 127.0.0.1:9101\nroute %s\n",
			 spec_text);
		assert_int_equal(config_parse(&c2, "state", line, err, sizeof(err)), 0);
		r2 = route_table_find(c2.routes, &key);
		assert_non_null(r2);
		assert_true(r2->spec.tripped && r2->spec.inactive);
		route_spec_text(&r2->spec, "modern", "legacy", again, sizeof(again));
		assert_string_equal(again, spec_text);
		config_free(&c2);
	}
	memset(&key, 0, sizeof(key));
	route_path_set(&key, "/v1/pay");
	rt = route_table_find(cfg.routes, &key);
	assert_non_null(rt);
	assert_int_equal(rt->spec.fallback, ROUTE_FALLBACK_NONE);
	assert_int_equal(rt->spec.rb_err_permille, 0);
	config_free(&cfg);
}

static void test_comments_blank_lines_crlf(void **state)
{
	static const char text[] = "# strg test config\n"
				   "\n"
				   "   \t  \n"
				   "\t# indented comment\n"
				   "listen 127.0.0.1:8080# no space needed? no: part of the word\n";
	static const char ok[] = "# strg test config\r\n"
				 "\r\n"
				 "  listen\t127.0.0.1:8080   # comment after words\r\n"
				 "pool legacy 127.0.0.1:9001 #127.0.0.1:9002\n"
				 "pool modern 127.0.0.1:9003\t# tab before\n"
				 "\n"
				 "route GET /x modern";
	struct config cfg;
	char err[256];

	(void)state;
	/* '#' starts a comment only at the start of a word. */
	assert_int_equal(config_parse(&cfg, "c.conf", text, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "c.conf:5: listen: expects one ADDRESS:PORT");
	config_free(&cfg);
	assert_int_equal(config_parse(&cfg, "c.conf", ok, err, sizeof(err)), 0);
	assert_int_equal(cfg.pools[0].nbackends, 1);
	assert_int_equal(cfg.pools[1].nbackends, 1);
	assert_string_equal(route_to(&cfg, HTTP_M_GET, "", "/x"), "modern");
	assert_string_equal(route_to(&cfg, HTTP_M_GET, "", "/y"), "legacy");
	config_free(&cfg);
}

static void test_default_route_added(void **state)
{
	static const char text[] = "listen 127.0.0.1:8080\n"
				   "pool modern 127.0.0.1:9101\n"
				   "pool legacy 127.0.0.1:9001\n"
				   "route GET / modern\n"
				   "route / modern exact\n"
				   "route host a.example / modern\n";
	struct route_spec def = {.path = "/"};
	const struct route *r;
	struct config cfg;
	char err[256];

	(void)state;
	assert_int_equal(config_parse(&cfg, "d.conf", text, err, sizeof(err)), 0);
	assert_int_equal(route_table_count(cfg.routes), 4);
	r = route_table_find(cfg.routes, &def);
	assert_non_null(r);
	assert_int_equal(r->spec.pool, config_pool_find(&cfg, "legacy"));
	assert_string_equal(route_to(&cfg, HTTP_M_POST, "", "/a"), "legacy");
	assert_string_equal(route_to(&cfg, HTTP_M_GET, "", "/a"), "modern");
	/* Added last, so it does not take the first id from the routes the file lists. */
	assert_int_equal(r->id, 4);
	assert_int_equal(route_table_del(cfg.routes, r->id), -EPERM);
	config_free(&cfg);
}

static void test_explicit_default_to_another_pool(void **state)
{
	static const char text[] = "listen 127.0.0.1:8080\n"
				   "pool modern 127.0.0.1:9101\n"
				   "route / modern\n";
	struct config cfg;
	char err[256];

	(void)state;
	assert_int_equal(config_parse(&cfg, "d.conf", text, err, sizeof(err)), 0);
	assert_int_equal(route_table_count(cfg.routes), 1);
	assert_string_equal(route_to(&cfg, HTTP_M_GET, "", "/z"), "modern");
	config_free(&cfg);
}

struct bad_case {
	const char *text;
	const char *msg;
};

#define BASE "listen 127.0.0.1:8080\npool legacy 127.0.0.1:9001\n"
/* Filler for the length and word-count limits: 16 bytes each. */
#define N16 "abcdefghijklmnop"
#define S16 "/abcdefghijklmno"
#define W16 "w w w w w w w w "

static const struct bad_case bad_cases[] = {
	{BASE "route / legacy\nlisen 127.0.0.1:1\n", "strg.conf:4: unknown directive 'lisen'"},
	{"pool legacy 127.0.0.1:9001\npool legacy 127.0.0.1:9002\n",
	 "strg.conf:2: pool 'legacy' defined twice"},
	{BASE "pool modern 127.0.0.1:9101\n\nroute v1/orders modern\n",
	 "strg.conf:5: route: path must start with '/'"},
	{"listen 127.0.0.1:0\n", "strg.conf:1: listen: bad port in '127.0.0.1:0' (1-65535)"},
	{"listen 127.0.0.1\n",
	 "strg.conf:1: listen: bad address '127.0.0.1' (want host:port or [v6]:port)"},
	{"listen 127.0.0.1:80 127.0.0.1:81\n", "strg.conf:1: listen: expects one ADDRESS:PORT"},
	{BASE "listen 127.0.0.1:81\n", "strg.conf:3: listen: given twice"},
	{"pool legacy 127.0.0.1:65536\n",
	 "strg.conf:1: pool 'legacy': bad port in '127.0.0.1:65536' (1-65535)"},
	{"pool legacy ::1:80\n",
	 "strg.conf:1: pool 'legacy': bad address '::1:80' (want host:port or [v6]:port)"},
	{"pool legacy 127.0.0.1:1 127.0.0.1:1\n",
	 "strg.conf:1: pool 'legacy': backend '127.0.0.1:1' listed twice"},
	{"pool legacy\n", "strg.conf:1: pool: expects a NAME and at least one backend"},
	{"pool legacy proxy-protocol\n",
	 "strg.conf:1: pool: expects a NAME and at least one backend"},
	{"pool legacy proxy-protocol 127.0.0.1:1\n",
	 "strg.conf:1: pool 'legacy': bad address 'proxy-protocol' (want host:port or [v6]:port)"},
	{BASE "pool modern 127.0.0.1:9101\nroute /x modern percent 100.5\n",
	 "strg.conf:4: route: bad percent '100.5' (0 to 100, one decimal)"},
	{BASE "pool modern 127.0.0.1:9101\nroute /x modern percent 1.25\n",
	 "strg.conf:4: route: bad percent '1.25' (0 to 100, one decimal)"},
	{BASE "route / legacy percent 50\n",
	 "strg.conf:3: route: the default route '/' takes every request"},
	{BASE "sticky cookie\n",
	 "strg.conf:3: sticky: expects 'cookie NAME', 'header NAME' or 'address'"},
	{BASE "splice sometimes\n",
	 "strg.conf:3: splice: unknown mode 'sometimes' (always, auto or never)"},
	{"pool leg/acy 127.0.0.1:1\n",
	 "strg.conf:1: pool: bad name 'leg/acy' (up to 31 of A-Z a-z 0-9 - _ .)"},
	{BASE "route GETT /x legacy\n", "strg.conf:3: route: unknown method 'GETT'"},
	{BASE "route GET,get /x legacy\n", "strg.conf:3: route: unknown method 'get'"},
	{BASE "route GET,,HEAD /x legacy\n", "strg.conf:3: route: bad method list 'GET,,HEAD'"},
	{BASE "route GET,HEAD /x legacy\n\nroute HEAD,GET /x/ legacy\n",
	 "strg.conf:5: route: duplicate of the route on line 3"},
	{BASE "route /x modern\n",
	 "strg.conf:3: route: unknown pool 'modern' (pools are defined before routes)"},
	{BASE "route /a/../b legacy\n",
	 "strg.conf:3: route: bad path '/a/../b' (no '?', '#', spaces, dot or empty segments)"},
	{BASE "route host a.example:80 /x legacy\n",
	 "strg.conf:3: route: bad host 'a.example:80' (a name or IP literal, no port)"},
	{BASE "route /x legacy exact now\n", "strg.conf:3: route: unexpected 'now'"},
	{BASE "route /x\n", "strg.conf:3: route: expects " ROUTE_GRAMMAR},
	{BASE "route GET host\n", "strg.conf:3: route: expects " ROUTE_GRAMMAR},
	{BASE "timeout connect 0\n", "strg.conf:3: timeout connect: '0' out of range (1ms to 60m)"},
	{BASE "timeout idle 61m\n", "strg.conf:3: timeout idle: '61m' out of range (1ms to 60m)"},
	{BASE "timeout server 30h\n",
	 "strg.conf:3: timeout server: bad duration '30h' (a number, then ms, s or m)"},
	{BASE "timeout server -1\n",
	 "strg.conf:3: timeout server: bad duration '-1' (a number, then ms, s or m)"},
	{BASE "timeout read 5s\n",
	 "strg.conf:3: timeout: unknown kind 'read' (connect, server, client, idle, head, "
	 "backend-idle, body)"},
	{BASE "timeout connect\n", "strg.conf:3: timeout: expects KIND DURATION"},
	{BASE "deny 10.1.2.3/8\n",
	 "strg.conf:3: deny: '10.1.2.3/8' has host bits set (the network is 10.0.0.0/8)"},
	{BASE "allow example.com\n",
	 "strg.conf:3: allow: bad address or network 'example.com' (ADDR or ADDR/LEN, IPv4 or "
	 "IPv6)"},
	{BASE "deny\n", "strg.conf:3: deny: expects ADDR[/LEN]..."},
	{BASE "limit syn 10 burst\n",
	 "strg.conf:3: limit syn: expects RATE [burst N] (per second, 0 for no limit)"},
	{BASE "xdp eth0 mode turbo\n",
	 "strg.conf:3: xdp: unexpected 'mode' (mode native|generic, keep)"},
	{BASE "xdp\n", "strg.conf:3: xdp: expects IFACE [mode native|generic] [keep]"},
	{BASE "timeout head 0\n", "strg.conf:3: timeout head: '0' out of range (1ms to 60m)"},
	{BASE "limit body-buffer 2000000\n",
	 "strg.conf:3: limit body-buffer: 2000000 out of range (0 to 1048576)"},
	{BASE "limit fields 0\n", "strg.conf:3: limit fields: 0 out of range (1 to 256)"},
	{BASE "limit head 99999999999\n", "strg.conf:3: limit head: bad number '99999999999'"},
	{BASE "limit request-line 8k\n", "strg.conf:3: limit request-line: bad number '8k'"},
	{BASE "limit body 1\n",
	 "strg.conf:3: limit: unknown kind 'body' (request-line, head, fields, kernel-routes, "
	 "per-source, body-buffer, body-rate, splice-body, syn, packets)"},
	{BASE "down-hold 0\n", "strg.conf:3: down-hold: '0' out of range (1ms to 60m)"},
	{BASE "down-hold soon\n",
	 "strg.conf:3: down-hold: bad duration 'soon' (a number, then ms, s or m)"},
	{BASE "limit head 4096\n",
	 "strg.conf: limit request-line (8192) is larger than limit head (4096)"},
	{"pool legacy 127.0.0.1:9001\nroute / legacy\n", "strg.conf: no 'listen' directive"},
	{"listen 127.0.0.1:8080\npool modern 127.0.0.1:9101\nroute /x modern\n",
	 "strg.conf: no default route '/' and no pool 'legacy'"},
	{BASE "route\x01 / legacy\n", "strg.conf:3: control character in line"},
	/* 129 words: refused while splitting, before the directive is looked at. */
	{BASE W16 W16 W16 W16 W16 W16 W16 W16 W16 W16 W16 W16 W16 W16 W16 W16 "w\n",
	 "strg.conf:3: too many words on one line (max 128)"},
	/* A bracketed address must be IPv6: no resolver is asked, so this fails everywhere. */
	{"listen [127.0.0.1]:8080\n", "strg.conf:1: listen: cannot resolve '[127.0.0.1]:8080'"},
	{"pool legacy [::1]:1 [10.0.0.1]:2\n",
	 "strg.conf:1: pool 'legacy': cannot resolve '[10.0.0.1]:2'"},
	{BASE "tester-header\n", "strg.conf:3: tester-header: expects a header name"},
	{BASE "tester-header X-A X-B\n", "strg.conf:3: tester-header: expects a header name"},
	{BASE "tester-header " N16 N16 N16 N16 "\n",
	 "strg.conf:3: tester-header: expects a header name"},
	{BASE "sticky header " N16 N16 N16 N16 "\n",
	 "strg.conf:3: sticky: name longer than 63 bytes"},
	{BASE "route GET\n", "strg.conf:3: route: expects " ROUTE_GRAMMAR},
	{BASE "route GETGETGETGETGETGET /x legacy\n",
	 "strg.conf:3: route: unknown method 'GETGETGETGETGETGET'"},
	{BASE "route /x legacy rewrite v2/x\n",
	 "strg.conf:3: route: bad rewrite 'v2/x' (a path like the route's)"},
	{BASE "route /x legacy strip-prefix rewrite /y\n",
	 "strg.conf:3: route: unexpected 'rewrite'"},
	{BASE "limit fields\n", "strg.conf:3: limit: expects KIND NUMBER"},
	{BASE "down-hold 1s 2s\n", "strg.conf:3: down-hold: expects DURATION"},
	{BASE "control run/strgd.sock\n", "strg.conf:3: control: expects an absolute path"},
	{BASE "state-file\n", "strg.conf:3: state-file: expects an absolute path"},
	{BASE "control " S16 S16 S16 S16 S16 S16 "/abcdefghijk\n",
	 "strg.conf:3: control: path longer than 107 bytes"},
	{BASE "state-file " S16 S16 S16 S16 S16 S16 S16 S16 S16 S16 S16 S16 S16 S16 S16 S16 "\n",
	 "strg.conf:3: state-file: path longer than 255 bytes"},
	{BASE "control-group write root\n",
	 "strg.conf:3: control-group: expects 'read GROUP' or 'change GROUP'"},
	{BASE "control-group read\n",
	 "strg.conf:3: control-group: expects 'read GROUP' or 'change GROUP'"},
	{BASE "control-group change strg-no-such-group\n",
	 "strg.conf:3: control-group: no group 'strg-no-such-group'"},
	{BASE "splice\n", "strg.conf:3: splice: expects always, auto or never"},
	{BASE "metrics\n", "strg.conf:3: metrics: expects one ADDRESS:PORT"},
	{BASE "metrics 127.0.0.1:0\n", "strg.conf:3: metrics: bad port in '127.0.0.1:0' (1-65535)"},
	{BASE "metrics 127.0.0.1:9100\nmetrics 127.0.0.1:9101\n",
	 "strg.conf:4: metrics: given twice"},
	{BASE "access-log\n",
	 "strg.conf:3: access-log: expects PATH or stderr, then [json] [sample N] [query]"},
	{BASE "access-log var/log/strg\n",
	 "strg.conf:3: access-log: 'var/log/strg' is not an absolute path or stderr"},
	{BASE "access-log /x" S16 S16 S16 S16 S16 S16 S16 S16 S16 S16 S16 S16 S16 S16 S16 S16 "\n",
	 "strg.conf:3: access-log: path longer than 255 bytes"},
	{BASE "access-log stderr yaml\n",
	 "strg.conf:3: access-log: unknown option 'yaml' (json, sample N, query)"},
	{BASE "access-log stderr sample\n",
	 "strg.conf:3: access-log: unknown option 'sample' (json, sample N, query)"},
	{BASE "access-log stderr sample 0\n",
	 "strg.conf:3: access-log: sample '0' is not 1 to 1000000"},
	{BASE "access-log stderr sample 1x\n",
	 "strg.conf:3: access-log: sample '1x' is not 1 to 1000000"},
	{BASE "health legacy tcp\n", "strg.conf:3: health: expects POOL http PATH [status N] "
				     "[interval T] [rise N] [fall N] [timeout T]"},
	{BASE "health nowhere http /h\n",
	 "strg.conf:3: health: unknown pool 'nowhere' (define it with 'pool' first)"},
	{BASE "health legacy http h\n",
	 "strg.conf:3: health: bad path 'h' (an absolute path, at most 127 bytes)"},
	{BASE "health legacy http /h every 2s\n",
	 "strg.conf:3: health: unknown option 'every' (status, interval, rise, fall, timeout, each "
	 "with a value)"},
	{BASE "health legacy http /h status 700\n",
	 "strg.conf:3: health: status 700 is not 100 to 599"},
	{BASE "health legacy http /h rise 0\n", "strg.conf:3: health: rise 0 is not 1 to 100"},
	{BASE "health legacy http /h interval 2x\n",
	 "strg.conf:3: health: interval: bad value '2x'"},
	{BASE "health legacy http /h interval 1s timeout 2s\n",
	 "strg.conf:3: health: timeout 2000ms is longer than interval 1000ms"},
	{BASE "eject legacy 3\n", "strg.conf:3: eject: expects POOL after N [5xx] [hold T] "
				  "[max-hold T] [decay T] [slowstart T]"},
	{BASE "eject legacy after 3 5xx hold\n", "strg.conf:3: eject: hold: expects a duration"},
	{BASE "eject legacy after 3 linger 2s\n",
	 "strg.conf:3: eject: unknown option 'linger' (hold, max-hold, decay, slowstart)"},
	{BASE "eject legacy after 3 hold 0\n",
	 "strg.conf:3: eject: hold '0' out of range (1ms to 60m)"},
	{BASE "eject legacy after 3 decay 2h\n",
	 "strg.conf:3: eject: decay: bad duration '2h' (a number, then ms, s or m)"},
	{BASE "eject legacy after 3 hold 10s max-hold 5s\n",
	 "strg.conf:3: eject: max-hold 5000ms is shorter than hold 10000ms"},
	{BASE "notify coalesce soon\n",
	 "strg.conf:3: notify: coalesce: bad duration 'soon' (0, or 1ms to 60m)"},
	{BASE "eject nowhere after 3\n",
	 "strg.conf:3: eject: unknown pool 'nowhere' (define it with 'pool' first)"},
	{BASE "eject legacy after x\n", "strg.conf:3: eject: 'x' is not 0 to 1000"},
	{BASE "notify run /x\n", "strg.conf:3: notify: expects 'exec' and an absolute path, or "
				 "'coalesce' and a duration"},
	{BASE "route /x legacy fallback nowhere\n",
	 "strg.conf:3: route: unknown fallback pool 'nowhere'"},
	{BASE "pool modern 127.0.0.1:9101\nroute /x modern fallback modern\n",
	 "strg.conf:4: route: fallback 'modern' is the route's own pool (name another pool, or "
	 "'fallback none')"},
	{BASE "metrics 127.0.0.1:8080\n",
	 "strg.conf:3: metrics: 127.0.0.1:8080 takes the port of 'listen' (give each a port of its "
	 "own)"},
	{BASE "metrics 0.0.0.0:8080\n",
	 "strg.conf:3: metrics: 0.0.0.0:8080 takes the port of 'listen' (give each a port of its "
	 "own)"},
	{"metrics [::]:8080\n" BASE,
	 "strg.conf:2: listen: 127.0.0.1:8080 takes the port of 'metrics' (give each a port of its "
	 "own)"},
	{BASE "route /x legacy rollback lots\n",
	 "strg.conf:3: route: rollback: bad error rate 'lots' (0.1% to 100%)"},
	{BASE "route /x legacy rollback 5% p99 0\n",
	 "strg.conf:3: route: rollback: p99 '0' is not 1 to 3600000 ms"},
	{BASE "route /x legacy rollback 5% window 1500ms\n",
	 "strg.conf:3: route: rollback: window '1500ms' is not whole seconds from 1s to 60m"},
	{BASE "route /x legacy rollback 5% min 0\n",
	 "strg.conf:3: route: rollback: min '0' is not 1 to 1000000"},
	{BASE "route / legacy rollback 5%\n",
	 "strg.conf:3: route: the default route '/' takes every request"},
};

static void test_error_messages(void **state)
{
	struct config cfg;
	char err[1024];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		memset(err, 'x', sizeof(err));
		if (config_parse(&cfg, "strg.conf", bad_cases[i].text, err, sizeof(err)) != -EINVAL)
			fail_msg("case %zu accepted: %s", i, bad_cases[i].text);
		if (strcmp(err, bad_cases[i].msg))
			fail_msg("case %zu:\n got  \"%s\"\n want \"%s\"", i, err, bad_cases[i].msg);
		config_free(&cfg);
	}
}

/* Parse text with stderr sent to a file; returns what the parser logged (its warnings). */
static char *parse_logged(const char *text, int *ret)
{
	static char out[2048];
	char path[] = "/tmp/strg-test-config-XXXXXX", err[256];
	int fd = mkstemp(path), saved = dup(2);
	struct config cfg;
	ssize_t n;

	assert_true(fd >= 0 && saved >= 0);
	unlink(path);
	fflush(stderr);
	dup2(fd, 2);
	*ret = config_parse(&cfg, "strg.conf", text, err, sizeof(err));
	config_free(&cfg);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	n = pread(fd, out, sizeof(out) - 1, 0);
	close(fd);
	out[n > 0 ? n : 0] = '\0';
	return out;
}

/* A unitless timeout is milliseconds: server, client and idle under 100 ms are warned about,
 * naming file and line, and the file is still accepted. */
static void test_short_timeouts_warned(void **state)
{
	const char *out;
	int ret;

	(void)state;
	out = parse_logged(BASE "timeout server 30\ntimeout client 50ms\ntimeout idle 99\n"
				"timeout connect 20\ntimeout idle 100\n",
			   &ret);
	assert_int_equal(ret, 0);
	assert_non_null(strstr(out, "strg.conf:3: timeout server 30 is 30 ms (a number without a "
				    "unit is milliseconds, as in HAProxy); did you mean 30s?"));
	assert_non_null(strstr(out, "strg.conf:4: timeout client 50ms is under 100 ms: most "
				    "requests will time out"));
	assert_non_null(strstr(out, "strg.conf:5: timeout idle 99 is 99 ms"));
	/* connect may well be short; 100 ms is not under the bound. */
	assert_null(strstr(out, "strg.conf:6:"));
	assert_null(strstr(out, "strg.conf:7:"));
	out = parse_logged(BASE "timeout server 30s\ntimeout client 100\n", &ret);
	assert_int_equal(ret, 0);
	assert_string_equal(out, "");
}

static void test_too_many_backends_and_pools(void **state)
{
	char *text = malloc(64 * 1024), err[256];
	struct config cfg;
	size_t n = 0;
	int i;

	(void)state;
	assert_non_null(text);
	n += sprintf(text + n, "listen 127.0.0.1:8080\npool legacy");
	for (i = 0; i < POOL_MAX_BACKENDS; i++)
		n += sprintf(text + n, " 127.0.0.1:%d", 10000 + i);
	n += sprintf(text + n, "\n");
	for (i = 1; i < POOL_MAX; i++)
		n += sprintf(text + n, "pool p%d 127.0.0.1:%d\n", i, 20000 + i);
	assert_int_equal(config_parse(&cfg, "m.conf", text, err, sizeof(err)), 0);
	assert_int_equal(cfg.npools, POOL_MAX);
	assert_int_equal(cfg.pools[0].nbackends, POOL_MAX_BACKENDS);
	config_free(&cfg);

	sprintf(text + n, "pool one-more 127.0.0.1:1\n");
	assert_int_equal(config_parse(&cfg, "m.conf", text, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "m.conf:18: pool 'one-more': too many pools (max 16)");
	config_free(&cfg);

	n = sprintf(text, "pool legacy");
	for (i = 0; i <= POOL_MAX_BACKENDS; i++)
		n += sprintf(text + n, " 127.0.0.1:%d", 10000 + i);
	assert_int_equal(config_parse(&cfg, "m.conf", text, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "m.conf:1: pool 'legacy': too many backends (max 64)");
	config_free(&cfg);
	free(text);
}

static void test_long_line_rejected(void **state)
{
	char *text = malloc(20000), err[256];
	struct config cfg;

	(void)state;
	assert_non_null(text);
	memset(text, ' ', 20000);
	memcpy(text, "# ok\n#", 6);
	text[19999] = '\0';
	assert_int_equal(config_parse(&cfg, "l.conf", text, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "l.conf:2: line too long (max 8192 bytes)");
	config_free(&cfg);
	free(text);
}

static void test_small_or_no_error_buffer(void **state)
{
	struct config cfg;
	char err[12];

	(void)state;
	assert_int_equal(config_parse(&cfg, "strg.conf", "bogus\n", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "strg.conf:1");
	config_free(&cfg);
	assert_int_equal(config_parse(&cfg, "strg.conf", "bogus\n", NULL, 0), -EINVAL);
	config_free(&cfg);
}

static void test_many_routes(void **state)
{
	enum { N = 10000 };
	char *text = malloc(N * 48 + 128), err[256], path[64];
	struct config cfg;
	size_t n;
	int i;

	(void)state;
	assert_non_null(text);
	n = sprintf(text, "listen 127.0.0.1:8080\npool legacy 127.0.0.1:1\npool modern [::1]:2\n");
	for (i = 0; i < N; i++)
		n += sprintf(text + n, "route %s/v1/svc%d/res%d modern\n", i % 2 ? "GET " : "", i,
			     i % 7);
	assert_int_equal(config_parse(&cfg, "big.conf", text, err, sizeof(err)), 0);
	assert_int_equal(route_table_count(cfg.routes), N + 1);
	for (i = 0; i < N; i += 97) {
		snprintf(path, sizeof(path), "/v1/svc%d/res%d/1", i, i % 7);
		assert_string_equal(route_to(&cfg, HTTP_M_GET, "", path), "modern");
		assert_string_equal(route_to(&cfg, HTTP_M_POST, "", path),
				    i % 2 ? "legacy" : "modern");
	}
	config_free(&cfg);
	free(text);
}

static void test_load_file(void **state)
{
	char path[] = "/tmp/strg-test-XXXXXX", err[512], want[600];
	struct config cfg;
	FILE *f;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	fputs(sample, f);
	fclose(f);
	assert_int_equal(config_load(&cfg, path, err, sizeof(err)), 0);
	assert_int_equal(route_table_count(cfg.routes), 4);
	config_free(&cfg);

	f = fopen(path, "w");
	assert_non_null(f);
	fputs("listen 127.0.0.1:1\npool legacy 127.0.0.1:2\nroute / nowhere\n", f);
	fclose(f);
	assert_int_equal(config_load(&cfg, path, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want),
		 "%s:3: route: unknown pool 'nowhere' (pools are defined "
		 "before routes)",
		 path);
	assert_string_equal(err, want);
	config_free(&cfg);

	f = fopen(path, "w");
	assert_non_null(f);
	fwrite("listen 127.0.0.1:1\n\0x\n", 1, 22, f);
	fclose(f);
	assert_int_equal(config_load(&cfg, path, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s: contains a NUL byte", path);
	assert_string_equal(err, want);
	config_free(&cfg);

	/* Larger than config files get (64 MiB): refused before reading; sparse, so cheap. */
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)(64 << 20) + 1), 0);
	close(fd);
	assert_int_equal(config_load(&cfg, path, err, sizeof(err)), -EFBIG);
	snprintf(want, sizeof(want), "%s: %s", path, strerror(EFBIG));
	assert_string_equal(err, want);
	config_free(&cfg);

	unlink(path);
	assert_int_equal(config_load(&cfg, path, err, sizeof(err)), -ENOENT);
	snprintf(want, sizeof(want), "%s: %s", path, strerror(ENOENT));
	assert_string_equal(err, want);
	config_free(&cfg);
}

/* strgctl's "route set" words: the same messages as a route line, without "file:line: ". */
static void test_route_words_errors(void **state)
{
	static const struct {
		int argc;
		const char *argv[6];
		const char *msg;
	} cases[] = {
		{3, {"set", "/x", "nowhere"}, "route: unknown pool 'nowhere'"},
		{2, {"set", "/x"}, "route: expects " ROUTE_GRAMMAR},
		{4, {"set", "POST,", "/x", "legacy"}, "route: bad method list 'POST,'"},
		{5,
		 {"set", "/x", "legacy", "rewrite", "/a?b"},
		 "route: bad rewrite '/a?b' (a path like the route's)"},
		{4,
		 {"set", "/", "legacy", "inactive"},
		 "route: the default route '/' takes every request"},
		{5,
		 {"set", "/x", "legacy", "fallback", "legacy"},
		 "route: fallback 'legacy' is the route's own pool (name another pool, or "
		 "'fallback "
		 "none')"},
	};
	struct route_spec spec;
	struct config cfg;
	char *argv[6], err[1024];
	size_t i;
	int j;

	(void)state;
	assert_int_equal(config_parse(&cfg, "strg.conf", BASE, err, sizeof(err)), 0);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (j = 0; j < cases[i].argc; j++)
			argv[j] = (char *)cases[i].argv[j];
		memset(err, 'x', sizeof(err));
		if (config_route_words(&cfg, cases[i].argc, argv, &spec, err, sizeof(err)) !=
		    -EINVAL)
			fail_msg("case %zu accepted", i);
		if (strcmp(err, cases[i].msg))
			fail_msg("case %zu:\n got  \"%s\"\n want \"%s\"", i, err, cases[i].msg);
	}
	config_free(&cfg);
}

static void test_free_is_safe(void **state)
{
	struct config cfg;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	config_free(&cfg);
	config_free(&cfg);
	config_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sample_parses),
		cmocka_unit_test(test_pool_options_and_splice),
		cmocka_unit_test(test_percent_and_sticky),
		cmocka_unit_test(test_values_and_units),
		cmocka_unit_test(test_comments_blank_lines_crlf),
		cmocka_unit_test(test_metrics_and_access_log),
		cmocka_unit_test(test_health_fallback_rollback),
		cmocka_unit_test(test_default_route_added),
		cmocka_unit_test(test_explicit_default_to_another_pool),
		cmocka_unit_test(test_error_messages),
		cmocka_unit_test(test_short_timeouts_warned),
		cmocka_unit_test(test_too_many_backends_and_pools),
		cmocka_unit_test(test_long_line_rejected),
		cmocka_unit_test(test_small_or_no_error_buffer),
		cmocka_unit_test(test_many_routes),
		cmocka_unit_test(test_load_file),
		cmocka_unit_test(test_route_words_errors),
		cmocka_unit_test(test_free_is_safe),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
