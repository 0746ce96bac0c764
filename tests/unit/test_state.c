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
#include <unistd.h>

#include "config.h"
#include "state.h"

static const char base[] = "listen 127.0.0.1:8080\n"
			   "pool legacy 127.0.0.1:9001\n"
			   "pool modern 127.0.0.1:9101\n"
			   "route / legacy\n"
			   "route GET /v1/a modern\n";

static char dir[] = "/tmp/strg-state-test.XXXXXX";

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
	assert_int_equal(state_load(&a, err, sizeof(err)), 0); /* no file yet: the config */
	set(&a, "route GET,HEAD host Api.Example.com /v1/orders modern exact");
	set(&a, "route POST /v1/a modern");
	assert_int_equal(state_save(&a), 0);

	load(&b, path);
	assert_int_equal(state_load(&b, err, sizeof(err)), 0);
	assert_int_equal(route_table_count(b.routes), 4);
	assert_int_equal(pool_of(&b, 1 /* GET */, "api.example.com", "/v1/orders"), 1);
	assert_int_equal(pool_of(&b, 1, "other", "/v1/orders"), 0);
	assert_int_equal(pool_of(&b, 3 /* POST */, NULL, "/v1/a/x"), 1);
	/* The configuration's own routes are kept aside to tell sources apart. */
	assert_int_equal(route_table_count(b.boot_routes), 2);
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
	assert_int_equal(state_load(&a, err, sizeof(err)), 0);
	p = &a.pools[a.npools++];
	memset(p, 0, sizeof(*p));
	strcpy(p->name, "canary");
	assert_int_equal(pool_backend_parse(&p->backends[p->nbackends++], "127.0.0.1:9301"), 0);
	a.pools[1].backends[0].state = BACKEND_DRAIN;
	a.pools[1].backends[0].weight = 7;
	set(&a, "route /v1/c canary");
	assert_int_equal(state_save(&a), 0);

	load(&b, path);
	assert_int_equal(state_load(&b, err, sizeof(err)), 0);
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

static void test_bad_state_file_names_its_line(void **state)
{
	static const struct {
		const char *text;
		const char *want;
	} cases[] = {
		{"route / legacy\nroute GET /x nosuch\n",
		 ":2: route: unknown pool 'nosuch' (pools are defined before routes)"},
		{"# comment\nlisten 127.0.0.1:1\n",
		 ":2: expected 'pool', 'backend' or 'route', not 'listen'"},
		{"pool legacy\nbackend legacy 127.0.0.1:1 state sleepy weight 1\n",
		 ":2: bad backend line (backend POOL ADDR state S weight N)"},
		{"pool legacy\npool legacy\n", ":2: bad or repeated pool line"},
		{"route GET /x modern\n", ": no default route '/'"},
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
		assert_int_not_equal(state_load(&cfg, err, sizeof(err)), 0);
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
		cmocka_unit_test(test_bad_state_file_names_its_line),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
