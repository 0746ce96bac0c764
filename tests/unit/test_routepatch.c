// SPDX-License-Identifier: GPL-2.0-only
/* Unit tests of route patch: the options named change, the others stay; surprises are found. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/routepatch.h"
#include "lib/words.h"

#define HEAD                                                                                       \
	"listen 127.0.0.1:8080\n"                                                                  \
	"pool legacy 127.0.0.1:9001\n"                                                             \
	"pool modern 127.0.0.1:9101\n"                                                             \
	"pool spare 127.0.0.1:9201\n"

static struct config cfg;
static struct route_spec spec;

static int setup(void **state)
{
	char err[256];

	(void)state;
	if (config_parse(&cfg, "t.conf",
			 HEAD "route GET /v1/x modern percent 5.0 testers fallback spare\n", err,
			 sizeof(err)))
		fail_msg("config: %s", err);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	config_free(&cfg);
	return 0;
}

/* The configuration's route /v1/x, whatever its id. */
static const struct route *mine(void)
{
	for (uint32_t id = 1; id < 8; id++) {
		const struct route *rt = route_table_get(cfg.routes, id);

		if (rt && !strcmp(rt->spec.path, "/v1/x"))
			return rt;
	}
	fail_msg("no route /v1/x");
	return NULL;
}

/* The route of the configuration, patched with the words of line: 0 or -EINVAL (err). */
static int patch(const char *line, char *err, size_t len)
{
	char buf[512], *argv[40];
	int n;

	snprintf(buf, sizeof(buf), "%s", line);
	n = words_split(buf, argv, 40, false);
	assert_true(n >= 0);
	route_spec_from(&mine()->spec, &spec);
	return routepatch_apply(&cfg, n, argv, &spec, err, len);
}

/* The patched spec as the configuration would write it. */
static const char *text(void)
{
	static char out[ROUTE_TEXT_MAX];
	struct route_stored v;

	route_spec_view(&spec, &v);
	route_spec_text(&v, cfg.pools[spec.pool].name,
			spec.fallback == ROUTE_FALLBACK_POOL ? cfg.pools[spec.fallback_pool].name
							     : NULL,
			out, sizeof(out));
	return out;
}

static void patch_ok(const char *line, const char *want)
{
	char err[512] = "";

	if (patch(line, err, sizeof(err)))
		fail_msg("patch '%s': %s", line, err);
	assert_string_equal(text(), want);
}

static void patch_fails(const char *line, const char *want)
{
	char err[512] = "";

	assert_int_equal(patch(line, err, sizeof(err)), -EINVAL);
	if (!strstr(err, want))
		fail_msg("patch '%s': '%s' lacks '%s'", line, err, want);
}

/* Gateway options: each kind named replaces the route's own, no-* removes it, the rest stays. */
static void test_patch_gateway_options(void **state)
{
	const char *base = "GET /v1/x modern percent 5.0 testers fallback spare";
	char want[512];

	(void)state;
	snprintf(want, sizeof(want), "%s limit 100/s burst 10 deny 10.0.0.0/8", base);
	patch_ok("limit 100 deny 10.0.0.0/8", want);
	route_table_set(cfg.routes, &spec);
	snprintf(want, sizeof(want), "%s limit 5/m burst 1 deny 10.0.0.0/8", base);
	patch_ok("limit 5/m", want);
	snprintf(want, sizeof(want), "%s limit 100/s burst 10 set-header X-A 1 del-header X-B",
		 base);
	patch_ok("no-deny set-header X-A 1 del-header X-B", want);
	snprintf(want, sizeof(want), "%s", base);
	patch_ok("no-limit no-deny no-header-rules", want);
	patch_fails("header X-T a", "part of the route's key");
	patch_fails("limit 5 percent 9 allow 10.0.0.0/99", "allow: bad CIDR");
}

/* The case that surprised an operator: adding a rollback keeps the 5 % split and testers. */
static void test_patch_keeps_unnamed_options(void **state)
{
	(void)state;
	patch_ok("rollback 5%",
		 "GET /v1/x modern percent 5.0 testers fallback spare rollback 5.0% window 10s "
		 "min 20");
	patch_ok("rollback 2% p99 800 min 200",
		 "GET /v1/x modern percent 5.0 testers fallback spare rollback 2.0% p99 800 "
		 "window 10s min 200");
	patch_ok("percent 50", "GET /v1/x modern percent 50.0 testers fallback spare");
	patch_ok("pool legacy", "GET /v1/x legacy percent 5.0 testers fallback spare");
	patch_ok("no-testers fallback next", "GET /v1/x modern percent 5.0");
	patch_ok("fallback none strip-prefix",
		 "GET /v1/x modern percent 5.0 strip-prefix testers fallback none");
	patch_ok("rewrite /v2 pool spare fallback modern",
		 "GET /v1/x spare percent 5.0 rewrite /v2 testers fallback modern");
}

static void test_patch_refuses(void **state)
{
	(void)state;
	patch_fails("", "name an option");
	patch_fails("bogus", "unexpected 'bogus'");
	patch_fails("percent", "'percent' needs a value");
	patch_fails("percent 101", "bad percent '101'");
	patch_fails("percent 5 percent 6", "'percent' conflicts");
	patch_fails("testers no-testers", "'no-testers' conflicts");
	patch_fails("pool nosuch", "unknown pool 'nosuch'");
	/* The whole route is checked: its own pool cannot be its fallback. */
	patch_fails("pool spare", "route patch: fallback 'spare' is the route's own pool");
	patch_fails("rollback 0%", "bad error rate");
	/* A failed patch leaves the spec as it was. */
	assert_string_equal(text(), "GET /v1/x modern percent 5.0 testers fallback spare");
}

/* What routepatch_surprises() found, one line each. */
static char found[4][320];
static int nfound;

static void collect(void *ctx, const char *line)
{
	(void)ctx;
	if (nfound < 4)
		snprintf(found[nfound++], sizeof(found[0]), "%s", line);
}

static int surprises(const char *line)
{
	struct route_spec old;
	char err[512];

	route_spec_from(&mine()->spec, &old);
	if (patch(line, err, sizeof(err)))
		fail_msg("patch '%s': %s", line, err);
	nfound = 0;
	return routepatch_surprises(&cfg, 7, &old, &spec, collect, NULL);
}

static void test_surprises(void **state)
{
	(void)state;
	assert_int_equal(surprises("rollback 5%"), 0);
	assert_int_equal(surprises("percent 4.9"), 0);
	assert_int_equal(surprises("percent 5.1"), 1);
	assert_string_equal(found[0],
			    "route 7 now sends 5.1 % of its users to pool modern (was 5.0 %)");
	assert_int_equal(surprises("percent 100 no-testers"), 2);
	assert_string_equal(found[0],
			    "route 7 now sends 100.0 % of its users to pool modern (was 5.0 %)");
	assert_non_null(strstr(found[1], "route 7 drops testers"));
	assert_int_equal(surprises("pool legacy"), 1);
	assert_string_equal(found[0], "route 7 now sends 5.0 % of its users to pool legacy (it "
				      "sent 5.0 % to modern)");
	/* A split made whole: route set without percent. */
	spec.split = false;
	spec.permille = 0;
	spec.pool = 1;
	nfound = 0;
	{
		struct route_spec old;

		route_spec_from(&mine()->spec, &old);
		assert_int_equal(routepatch_surprises(&cfg, 7, &old, &spec, collect, NULL), 1);
		/* An inactive route made active again sends users where it sent none. */
		old.inactive = true;
		old.split = false;
		nfound = 0;
		assert_int_equal(routepatch_surprises(&cfg, 7, &old, &spec, collect, NULL), 1);
		assert_string_equal(found[0], "route 7 now sends 100.0 % of its users to pool "
					      "modern (was 0.0 %)");
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_patch_keeps_unnamed_options, setup, teardown),
		cmocka_unit_test_setup_teardown(test_patch_refuses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_patch_gateway_options, setup, teardown),
		cmocka_unit_test_setup_teardown(test_surprises, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
