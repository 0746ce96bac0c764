// SPDX-License-Identifier: GPL-2.0-only
/* Unit tests of the saved route table: round trip, the state file winning, and its errors. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/config.h"
#include "core/route.h"
#include "core/state.h"

static const char base[] = "listen 127.0.0.1:8080\n"
			   "pool legacy 127.0.0.1:9001\n"
			   "pool modern 127.0.0.1:9101\n"
			   "route / legacy\n"
			   "route GET /v1/a modern\n";

static char dir[] = "/tmp/strg-state-test.XXXXXX";

/* What state_load() says was applied; most tests only need it freed. */
static struct config *last;

static int load_state(struct config *cfg, char *err, size_t len)
{
	int ret = state_load(cfg, &last, err, len);

	config_destroy(last);
	last = NULL;
	return ret;
}

static void load(struct config *cfg, const char *state)
{
	char text[1024], err[256];

	snprintf(text, sizeof(text), "%sstate-file %s\n", base, state);
	assert_int_equal(config_parse(cfg, "t.conf", text, err, sizeof(err)), 0);
}

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

static uint32_t pool_of(const struct config *cfg, unsigned method, const char *host,
			const char *path)
{
	const struct route *rt = route_table_lookup(cfg->routes, method, host,
						    host ? strlen(host) : 0, path, strlen(path));

	assert_non_null(rt);
	return (uint32_t)rt->spec.pool;
}

static void test_saved_table_wins_at_start(void **state)
{
	struct config a, b;
	char path[128], err[256];

	(void)state;
	snprintf(path, sizeof(path), "%s/state", dir);
	load(&a, path);
	assert_int_equal(state_load(&a, &last, err, sizeof(err)), 0); /* no file yet: the config */
	assert_null(last);
	set(&a, "route GET,HEAD host Api.Example.com /v1/orders modern exact");
	set(&a, "route POST /v1/a modern");
	assert_int_equal(state_save(&a, NULL), 0);

	load(&b, path);
	assert_int_equal(state_load(&b, &last, err, sizeof(err)), 0);
	assert_int_equal(route_table_count(b.routes), 4);
	assert_int_equal(pool_of(&b, 1 /* GET */, "api.example.com", "/v1/orders"), 1);
	assert_int_equal(pool_of(&b, 1, "other", "/v1/orders"), 0);
	assert_int_equal(pool_of(&b, 3 /* POST */, NULL, "/v1/a/x"), 1);
	/* No record of what was applied: the configuration read counts as applied. */
	assert_non_null(last);
	assert_int_equal(route_table_count(last->routes), 2);
	config_destroy(last);
	last = NULL;
	config_free(&a);
	config_free(&b);
	unlink(path);
}

/* Pools, backends' admin states and weights come back too; the state's pools replace the file's. */
static void test_pools_and_backends_come_back(void **state)
{
	struct config a, b;
	char path[128], err[256];
	struct pool *p;

	(void)state;
	snprintf(path, sizeof(path), "%s/pools", dir);
	load(&a, path);
	assert_int_equal(load_state(&a, err, sizeof(err)), 0);
	p = &a.pools[a.npools++];
	memset(p, 0, sizeof(*p));
	strcpy(p->name, "canary");
	assert_int_equal(pool_backend_parse(&p->backends[p->nbackends++], "127.0.0.1:9301"), 0);
	a.pools[1].backends[0].state = BACKEND_DRAIN;
	a.pools[1].backends[0].weight = 7;
	set(&a, "route /v1/c canary");
	assert_int_equal(state_save(&a, NULL), 0);

	load(&b, path);
	assert_int_equal(load_state(&b, err, sizeof(err)), 0);
	assert_int_equal(b.npools, 3);
	assert_string_equal(b.pools[2].name, "canary");
	assert_int_equal(b.pools[2].nbackends, 1);
	assert_int_equal(b.pools[1].backends[0].state, BACKEND_DRAIN);
	assert_int_equal(b.pools[1].backends[0].weight, 7);
	assert_int_equal(pool_of(&b, 1, NULL, "/v1/c/1"), 2);
	config_free(&a);
	config_free(&b);
	unlink(path);
}

static uint32_t id_of(const struct config *cfg, const char *path)
{
	const struct route *rt = route_table_lookup(cfg->routes, 1, NULL, 0, path, strlen(path));

	assert_non_null(rt);
	return rt->id;
}

/* Ids survive a restart, and one that was handed out is never handed out again. */
static void test_route_ids_are_stable(void **state)
{
	struct config a, b;
	char path[128], err[256];
	uint32_t x, z;

	(void)state;
	snprintf(path, sizeof(path), "%s/ids", dir);
	load(&a, path);
	assert_int_equal(load_state(&a, err, sizeof(err)), 0);
	set(&a, "route /v1/x modern");
	set(&a, "route /v1/y modern");
	set(&a, "route /v1/z modern percent 12.5 testers");
	x = id_of(&a, "/v1/x");
	z = id_of(&a, "/v1/z");
	/* The last route handed out goes: its id must not come back for a new route. */
	assert_int_equal(route_table_del(a.routes, id_of(&a, "/v1/y")), 0);
	assert_int_equal(route_table_del(a.routes, z), 0);
	assert_int_equal(state_save(&a, NULL), 0);

	load(&b, path);
	assert_int_equal(load_state(&b, err, sizeof(err)), 0);
	assert_int_equal(id_of(&b, "/v1/x"), x);
	assert_int_equal(id_of(&b, "/v1/a"), id_of(&a, "/v1/a"));
	set(&b, "route /v1/w modern");
	assert_true(id_of(&b, "/v1/w") > z);
	config_free(&a);
	config_free(&b);
	unlink(path);
}

/* A saved line reads back as the same spec, options and all. */
static void test_spec_text_round_trips(void **state)
{
	static const char *const lines[] = {
		"GET,HEAD host api.example.com /v1/orders modern percent 12.5 exact rewrite /v2 "
		"testers inactive",
		"/v1/a\"b\\c legacy strip-prefix",
		"POST /x modern percent 0.0 testers",
		"/ legacy",
	};
	char text[ROUTE_TEXT_MAX], line[ROUTE_TEXT_MAX + 8], err[256];
	struct route_spec spec, again;
	struct route_stored v1, v2;
	struct config cfg;
	char *argv[32];

	(void)state;
	load(&cfg, "/nonexistent/state");
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		int argc = 0;

		snprintf(line, sizeof(line), "route %s", lines[i]);
		for (char *w = strtok(line, " "); w; w = strtok(NULL, " "))
			argv[argc++] = w;
		assert_int_equal(config_route_words(&cfg, argc, argv, &spec, err, sizeof(err)), 0);
		route_spec_text(route_spec_view(&spec, &v1), cfg.pools[spec.pool].name, NULL, text,
				sizeof(text));
		assert_string_equal(text, lines[i]);
		snprintf(line, sizeof(line), "route %s", text);
		argc = 0;
		for (char *w = strtok(line, " "); w; w = strtok(NULL, " "))
			argv[argc++] = w;
		assert_int_equal(config_route_words(&cfg, argc, argv, &again, err, sizeof(err)), 0);
		assert_true(route_spec_equal(route_spec_view(&spec, &v1),
					     route_spec_view(&again, &v2)));
	}
	/* snprintf-style: a short buffer is cut, the length needed is returned. */
	assert_int_equal(route_spec_text(route_spec_view(&spec, &v1), "legacy", NULL, text, 4),
			 strlen("/ legacy"));
	assert_string_equal(text, "/ l");
	config_free(&cfg);
}

/* The guard's settings come back from the state file and replace the configuration's. */
static void test_guard_settings_come_back(void **state)
{
	struct config a, b;
	char path[128], err[256], t[GUARD_NET_TEXT];
	struct guard_net n;

	(void)state;
	snprintf(path, sizeof(path), "%s/guard", dir);
	load(&a, path);
	assert_int_equal(load_state(&a, err, sizeof(err)), 0);
	snprintf(a.guard.iface, sizeof(a.guard.iface), "eth7");
	a.guard.mode = GUARD_MODE_GENERIC;
	a.guard.keep = true;
	assert_int_equal(guard_net_parse("2001:db8::/32", &n, err, sizeof(err)), 0);
	guard_list_add(&a.guard.deny, &n);
	assert_int_equal(guard_net_parse("10.9.0.0/16", &n, err, sizeof(err)), 0);
	guard_list_add(&a.guard.allow, &n);
	a.guard.syn_rate = 20;
	a.guard.syn_burst = 4;
	assert_int_equal(state_save(&a, NULL), 0);

	load(&b, path);
	assert_int_equal(load_state(&b, err, sizeof(err)), 0);
	assert_string_equal(b.guard.iface, "eth7");
	assert_int_equal(b.guard.mode, GUARD_MODE_GENERIC);
	assert_true(b.guard.keep);
	assert_int_equal(b.guard.deny.n, 1);
	assert_string_equal(guard_net_text(&b.guard.deny.v[0], t, sizeof(t)), "2001:db8::/32");
	assert_int_equal(b.guard.allow.n, 1);
	assert_string_equal(guard_net_text(&b.guard.allow.v[0], t, sizeof(t)), "10.9.0.0/16");
	assert_int_equal(b.guard.syn_rate, 20);
	assert_int_equal(b.guard.syn_burst, 4);
	assert_int_equal(b.guard.pkt_rate, 0);
	config_free(&a);
	config_free(&b);
	unlink(path);
}

static void test_bad_state_file_names_its_line(void **state)
{
	static const struct {
		const char *text;
		const char *want;
	} cases[] = {
		{"route / legacy\nroute GET /x nosuch\n",
		 ":2: route: unknown pool 'nosuch' (start with --state discard"},
		{"# comment\nlisten 127.0.0.1:1\n",
		 ":2: expected 'pool', 'backend', 'next-id', 'route' or 'guard', not 'listen'"},
		{"route / legacy\nguard\ndeny 10.0.0.1/8\n",
		 ":3: deny: '10.0.0.1/8' has host bits set (the network is 10.0.0.0/8)"},
		{"route / legacy\ndeny 10.0.0.0/8\n",
		 ":2: expected 'pool', 'backend', 'next-id', 'route' or 'guard', not 'deny'"},
		{"route / legacy\nguard\nguard\n", ":3: bad or repeated guard line"},
		{"pool legacy\nbackend legacy 127.0.0.1:1 state sleepy weight 1\n",
		 ":2: bad backend line (backend POOL ADDR state S weight N)"},
		{"pool legacy\npool legacy\n", ":2: bad or repeated pool line"},
		{"route GET /x modern\n# end of state\n", ": no default route '/'"},
		{"pool legacy\nnext-id 3\nroute / legacy\n",
		 ": cut short: its last line is missing (truncated?)"},
		{"", ": empty"},
		{"route / legacy\n# end of state\nroute /x legacy\n",
		 ":3: text after the end line"},
		{"route / legacy id 3\nroute /x legacy id 3\n",
		 ":2: route id 3 or its route appears twice"},
		{"route / legacy id 0\n", ":1: bad route id '0'"},
		{"next-id x\nroute / legacy\n", ":1: bad next-id line (next-id N)"},
	};
	char path[128], err[256];
	struct config cfg;

	(void)state;
	snprintf(path, sizeof(path), "%s/bad", dir);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		FILE *f = fopen(path, "w");

		assert_non_null(f);
		fputs(cases[i].text, f);
		fclose(f);
		load(&cfg, path);
		assert_int_not_equal(load_state(&cfg, err, sizeof(err)), 0);
		if (!strstr(err, cases[i].want) || strncmp(err, path, strlen(path))) {
			print_error("case %zu: got '%s', want '%s%s'\n", i, err, path,
				    cases[i].want);
			fail();
		}
		/* A refused state file leaves the configuration's table in force. */
		assert_int_equal(route_table_count(cfg.routes), 2);
		config_free(&cfg);
	}
	unlink(path);
	/* A directory where the file should be: named, with the way out. */
	assert_int_equal(mkdir(path, 0700), 0);
	load(&cfg, path);
	assert_int_not_equal(load_state(&cfg, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "not a regular file (start with --state discard"));
	config_free(&cfg);
	rmdir(path);
}

/*
 * A route an older strgd saved with a fallback to its own pool (the configuration refuses it
 * now) still loads from the state file, in its routes and its applied configuration alike:
 * an upgrade does not stop at it.
 */
static void test_older_saved_route_still_loads(void **state)
{
	static const char text[] = "pool legacy\npool modern\nnext-id 3\nroute / legacy id 1\n"
				   "route /x modern fallback modern id 2\n"
				   "applied pool legacy 127.0.0.1:9001\n"
				   "applied pool modern 127.0.0.1:9101\n"
				   "applied route / legacy\n"
				   "applied route /x modern fallback modern\n"
				   "# end of state\n";
	char path[128], err[256];
	struct config cfg;
	FILE *f;

	(void)state;
	snprintf(path, sizeof(path), "%s/older", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	load(&cfg, path);
	if (load_state(&cfg, err, sizeof(err)))
		fail_msg("refused: %s", err);
	assert_int_equal(route_table_count(cfg.routes), 2);
	assert_int_equal(route_table_get(cfg.routes, 2)->spec.fallback, ROUTE_FALLBACK_POOL);
	config_free(&cfg);
	unlink(path);
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	return rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_saved_table_wins_at_start),
		cmocka_unit_test(test_pools_and_backends_come_back),
		cmocka_unit_test(test_route_ids_are_stable),
		cmocka_unit_test(test_spec_text_round_trips),
		cmocka_unit_test(test_guard_settings_come_back),
		cmocka_unit_test(test_bad_state_file_names_its_line),
		cmocka_unit_test(test_older_saved_route_still_loads),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
