// SPDX-License-Identifier: GPL-2.0-only
/* Unit tests of the three-way merge of configuration edits into the live table (kubectl apply). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/apply.h"
#include "core/http.h"

#define HEAD                                                                                       \
	"listen 127.0.0.1:8080\n"                                                                  \
	"pool legacy 127.0.0.1:9001 127.0.0.1:9002\n"                                              \
	"pool modern 127.0.0.1:9101\n"

/* What the merge reported, one line per entry. */
static char said[64][512];
static int nsaid;

static void say(void *ctx, const char *fmt, ...)
{
	va_list ap;

	(void)ctx;
	if (nsaid == 64)
		return;
	va_start(ap, fmt);
	vsnprintf(said[nsaid++], sizeof(said[0]), fmt, ap);
	va_end(ap);
}

static bool said_line(const char *needle)
{
	for (int i = 0; i < nsaid; i++)
		if (strstr(said[i], needle))
			return true;
	return false;
}

static void dump_said(void)
{
	for (int i = 0; i < nsaid; i++)
		print_message("said: %s\n", said[i]);
}

static void parse(struct config *cfg, const char *text)
{
	char err[256];

	if (config_parse(cfg, "t.conf", text, err, sizeof(err)))
		fail_msg("config: %s", err);
}

/* A strgctl-like change to live: "route ..." words. */
static void set(struct config *cfg, const char *line)
{
	char buf[256], *argv[16], err[256];
	struct route_spec spec;
	int argc = 0;

	snprintf(buf, sizeof(buf), "%s", line);
	for (char *w = strtok(buf, " "); w; w = strtok(NULL, " "))
		argv[argc++] = w;
	assert_int_equal(config_route_words(cfg, argc, argv, &spec, err, sizeof(err)), 0);
	assert_true(route_table_set(cfg->routes, &spec) > 0);
}

/* The live route on path (no methods, no host), as text, or "" when there is none. */
static const char *route_at(const struct config *cfg, const char *path)
{
	static char text[ROUTE_TEXT_MAX];
	struct route_spec key = {0};
	const struct route *rt;

	route_path_set(&key, path);
	rt = route_table_find(cfg->routes, &key);
	if (!rt)
		return "";
	route_spec_text(&rt->spec, cfg->pools[rt->spec.pool].name, NULL, text, sizeof(text));
	return text;
}

struct trio {
	struct config last, file, live;
};

/* last = the configuration applied before; live = last plus runtime changes; file = the edit. */
static void trio(struct trio *t, const char *last, const char *file)
{
	char text[2048];

	snprintf(text, sizeof(text), HEAD "%s", last);
	parse(&t->last, text);
	parse(&t->live, text);
	snprintf(text, sizeof(text), HEAD "%s", file);
	parse(&t->file, text);
	nsaid = 0;
}

static void trio_free(struct trio *t)
{
	config_free(&t->last);
	config_free(&t->file);
	config_free(&t->live);
}

static void test_each_side_keeps_what_only_it_changed(void **state)
{
	struct trio t;

	(void)state;
	trio(&t,
	     "route /kept legacy\n"
	     "route /by-config legacy\n"
	     "route /by-runtime legacy\n"
	     "route /gone legacy\n",
	     "route /kept legacy\n"
	     "route /by-config modern\n"
	     "route /by-runtime legacy\n"
	     "route /new modern percent 5\n");
	set(&t.live, "route /by-runtime modern inactive");
	set(&t.live, "route /runtime-only modern");
	assert_int_equal(apply_config(&t.live, &t.last, &t.file, 0, say, NULL), 3);
	dump_said();
	assert_string_equal(route_at(&t.live, "/kept"), "/kept legacy");
	assert_string_equal(route_at(&t.live, "/by-config"), "/by-config modern");
	assert_string_equal(route_at(&t.live, "/by-runtime"), "/by-runtime modern inactive");
	assert_string_equal(route_at(&t.live, "/runtime-only"), "/runtime-only modern");
	assert_string_equal(route_at(&t.live, "/new"), "/new modern percent 5.0");
	assert_string_equal(route_at(&t.live, "/gone"), "");
	assert_false(said_line("conflict"));
	assert_true(said_line("route added: /new modern percent 5.0"));
	assert_true(said_line(": /by-config legacy -> /by-config modern"));
	assert_true(said_line("removed: /gone legacy"));
	trio_free(&t);
}

/* The guard's lists merge three-way; a limit the file changed wins, one it did not is kept. */
static void test_guard_settings(void **state)
{
	struct trio t;
	struct guard_net n;
	char err[128];

	(void)state;
	trio(&t, "deny 192.0.2.0/24 10.0.0.0/8\nlimit syn 100 burst 10\nlimit packets 1000\n",
	     "deny 10.0.0.0/8 198.51.100.0/24\nlimit syn 50 burst 5\nlimit packets 1000\n");
	assert_int_equal(guard_net_parse("203.0.113.0/24", &n, err, sizeof(err)), 0);
	guard_list_add(&t.live.guard.allow, &n); /* strgctl allow add */
	t.live.guard.pkt_rate = 5000;		 /* strgctl limit set packets 5000 */
	assert_int_equal(apply_config(&t.live, &t.last, &t.file, 0, say, NULL), 3);
	dump_said();
	assert_int_equal(t.live.guard.deny.n, 2);
	assert_int_equal(guard_net_parse("198.51.100.0/24", &n, err, sizeof(err)), 0);
	assert_true(guard_list_has(&t.live.guard.deny, &n));
	assert_int_equal(t.live.guard.allow.n, 1);
	assert_int_equal(t.live.guard.syn_rate, 50);
	assert_int_equal(t.live.guard.syn_burst, 5);
	assert_int_equal(t.live.guard.pkt_rate, 5000);
	assert_true(said_line("deny 192.0.2.0/24 removed"));
	assert_true(said_line("deny 198.51.100.0/24 added"));
	assert_true(said_line("limit syn: 100/s burst 10 -> 50/s burst 5"));
	trio_free(&t);
}

static void test_both_changed_the_file_wins_and_says_so(void **state)
{
	struct trio t;

	(void)state;
	trio(&t, "route /both legacy\nroute /dropped legacy\n", "route /both modern exact\n");
	set(&t.live, "route /both modern percent 50");
	set(&t.live, "route /dropped modern");
	/* An exact route is another key: /both (prefix) was removed by the file, changed live. */
	assert_int_equal(apply_config(&t.live, &t.last, &t.file, 0, say, NULL), 3);
	dump_said();
	assert_string_equal(route_at(&t.live, "/both"), "");
	assert_string_equal(route_at(&t.live, "/dropped"), "");
	assert_true(said_line("conflict: route"));
	assert_true(said_line("'/both modern percent 50.0' at runtime, removed from the "
			      "configuration (was '/both legacy')"));
	trio_free(&t);

	trio(&t, "route GET /x legacy\n", "route GET /x modern percent 10\n");
	set(&t.live, "route GET /x legacy percent 50");
	assert_int_equal(apply_config(&t.live, &t.last, &t.file, 0, say, NULL), 1);
	assert_true(said_line("'GET /x legacy percent 50.0' at runtime, 'GET /x modern percent "
			      "10.0' in the configuration: the configuration wins"));
	trio_free(&t);
}

/* The route of cfg on path, its full spec (it must exist). */
static const struct route *live_route(const struct config *cfg, const char *path)
{
	struct route_spec key = {0};
	const struct route *rt;

	route_path_set(&key, path);
	rt = route_table_find(cfg->routes, &key);
	assert_non_null(rt);
	return rt;
}

/*
 * A route deactivated at runtime or tripped by strgd stays inactive when the file edits it;
 * the file's other settings apply, and the conflict says how to route it again. Only an edit
 * that removes "inactive" from the route's line activates it.
 */
static void test_reload_never_reactivates(void **state)
{
	struct trio t;
	const struct route *rt;

	(void)state;
	trio(&t,
	     "route /off legacy\nroute /trip modern percent 5\nroute /was-off modern inactive\n",
	     "route /off modern\nroute /trip modern percent 50\nroute /was-off modern\n"
	     "route /runtime modern\n");
	set(&t.live, "route /off legacy inactive");
	set(&t.live, "route /trip modern percent 5 tripped");
	set(&t.live, "route /runtime legacy inactive");
	assert_int_equal(apply_config(&t.live, &t.last, &t.file, 0, say, NULL), 4);
	dump_said();
	assert_string_equal(route_at(&t.live, "/off"), "/off modern inactive");
	assert_string_equal(route_at(&t.live, "/trip"),
			    "/trip modern percent 50.0 inactive tripped");
	rt = live_route(&t.live, "/trip");
	assert_string_equal(rt->spec.trip, "before strgd's last start");
	assert_string_equal(route_at(&t.live, "/was-off"), "/was-off modern");
	assert_string_equal(route_at(&t.live, "/runtime"), "/runtime modern inactive");
	assert_true(said_line("'/off legacy inactive' at runtime, '/off modern' in the "
			      "configuration: the configuration's settings win, but the route "
			      "stays inactive (deactivated at runtime)"));
	assert_true(said_line("but the route stays inactive: strgd rolled it back (before "
			      "strgd's last start)"));
	assert_true(said_line(": /off legacy inactive -> /off modern inactive"));
	assert_false(said_line("conflict: route 3"));
	trio_free(&t);

	/* The dry run says the same and changes nothing. */
	trio(&t, "route /off legacy\n", "route /off modern\n");
	set(&t.live, "route /off legacy inactive");
	assert_int_equal(apply_config(&t.live, &t.last, &t.file, APPLY_DRY, say, NULL), 1);
	assert_true(said_line("would do: route "));
	assert_true(said_line(": /off legacy inactive -> /off modern inactive"));
	assert_string_equal(route_at(&t.live, "/off"), "/off legacy inactive");
	trio_free(&t);

	/* An edit of its state alone: nothing to change, the conflict still said. */
	trio(&t, "route /off legacy\n", "route /off legacy inactive\n");
	set(&t.live, "route /off legacy inactive");
	assert_int_equal(apply_config(&t.live, &t.last, &t.file, 0, say, NULL), 0);
	trio_free(&t);
}

static void test_dry_run_reports_and_changes_nothing(void **state)
{
	struct trio t;

	(void)state;
	trio(&t, "route /a legacy\n", "route /a modern\nroute /b modern\n");
	assert_int_equal(apply_config(&t.live, &t.last, &t.file, APPLY_DRY, say, NULL), 2);
	assert_string_equal(route_at(&t.live, "/a"), "/a legacy");
	assert_string_equal(route_at(&t.live, "/b"), "");
	assert_true(said_line("would do: route added: /b modern"));
	trio_free(&t);
}

static void test_pools_and_backends(void **state)
{
	struct trio t;
	char text[1024];
	int pi;

	(void)state;
	trio(&t, "", "");
	config_free(&t.file);
	snprintf(text, sizeof(text),
		 "listen 127.0.0.1:8080\n"
		 "pool legacy 127.0.0.1:9001 127.0.0.1:9003\n" /* 9002 out, 9003 in */
		 "pool modern 127.0.0.1:9101 proxy-protocol\n"
		 "pool canary 127.0.0.1:9201\n"
		 "route /c canary\n");
	parse(&t.file, text);
	/* Runtime: 9001 drained (the file keeps it: stays drained), 9002 weight 3 (file drops). */
	t.live.pools[0].backends[0].state = BACKEND_DRAIN;
	t.live.pools[0].backends[1].weight = 3;
	assert_true(apply_config(&t.live, &t.last, &t.file, 0, say, NULL) > 0);
	dump_said();
	assert_int_equal(t.live.pools[0].backends[0].state, BACKEND_DRAIN);
	assert_int_equal(pool_backend_find(&t.live.pools[0], "127.0.0.1:9002"), -1);
	assert_true(pool_backend_find(&t.live.pools[0], "127.0.0.1:9003") >= 0);
	assert_true(said_line("conflict: pool legacy backend 127.0.0.1:9002"));
	assert_true(t.live.pools[1].proxy_protocol);
	pi = config_pool_find(&t.live, "canary");
	assert_int_equal(pi, 2);
	assert_string_equal(route_at(&t.live, "/c"), "/c canary");
	trio_free(&t);
}

static void test_dropped_pool_goes_at_start_only(void **state)
{
	struct trio t;
	char text[1024];

	(void)state;
	trio(&t, "", "");
	config_free(&t.last);
	config_free(&t.live);
	snprintf(text, sizeof(text),
		 HEAD "pool old 127.0.0.1:9301\npool canary 127.0.0.1:9201\nroute /c canary\n");
	parse(&t.last, text);
	parse(&t.live, text);
	config_free(&t.file);
	snprintf(text, sizeof(text), HEAD "pool canary 127.0.0.1:9201\nroute /c canary\n");
	parse(&t.file, text);
	assert_int_equal(apply_config(&t.live, &t.last, &t.file, 0, say, NULL), 0);
	assert_int_equal(config_pool_find(&t.live, "old"), 2);
	assert_true(said_line("pool old: gone from the configuration: removed at the next start"));
	assert_int_equal(apply_config(&t.live, &t.last, &t.file, APPLY_DROP_POOLS, say, NULL), 1);
	assert_int_equal(config_pool_find(&t.live, "old"), -1);
	/* The route's pool index followed the pool that moved down. */
	assert_string_equal(route_at(&t.live, "/c"), "/c canary");
	trio_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_each_side_keeps_what_only_it_changed),
		cmocka_unit_test(test_guard_settings),
		cmocka_unit_test(test_both_changed_the_file_wins_and_says_so),
		cmocka_unit_test(test_reload_never_reactivates),
		cmocka_unit_test(test_dry_run_reports_and_changes_nothing),
		cmocka_unit_test(test_pools_and_backends),
		cmocka_unit_test(test_dropped_pool_goes_at_start_only),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
