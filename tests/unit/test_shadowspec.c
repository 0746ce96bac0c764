// SPDX-License-Identifier: GPL-2.0-only
/*
 * Unit tests of a route's shadow settings: the config line's words, their defaults, the route's
 * text read back to the same route, route patch's shadow and no-shadow, and the errors.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/config.h"
#include "core/http.h"
#include "core/routepatch.h"
#include "lib/words.h"

#define HEAD                                                                                       \
	"listen 127.0.0.1:8080\n"                                                                  \
	"pool legacy 127.0.0.1:9001\n"                                                             \
	"pool modern 127.0.0.1:9101\n"                                                             \
	"route / legacy\n"

/* The configuration of HEAD plus line, its route at path in *out; 0 or -EINVAL with err. */
static int parse(struct config *cfg, const char *line, const char *path, struct route_spec *out,
		 char *err, size_t len)
{
	char text[2048];
	int r;

	memset(cfg, 0, sizeof(*cfg));
	snprintf(text, sizeof(text), HEAD "%s\n", line);
	r = config_parse(cfg, "t.conf", text, err, len);
	for (uint32_t id = 1; !r && id < 8; id++) {
		const struct route *rt = route_table_get(cfg->routes, id);

		if (rt && !strcmp(rt->spec.path, path))
			route_spec_from(&rt->spec, out);
	}
	return r;
}

/* The route's text as route show and the state file write it. */
static const char *text_of(const struct config *cfg, const struct route_spec *s)
{
	static char out[ROUTE_TEXT_MAX];
	struct route_stored v;

	route_spec_text(route_spec_view(s, &v), cfg->pools[s->pool].name, NULL, out, sizeof(out));
	return out;
}

static void test_defaults_are_safe_and_bounded(void **state)
{
	struct config cfg;
	struct route_spec s = {0};
	char err[256];

	(void)state;
	assert_int_equal(
		parse(&cfg, "route /api legacy shadow modern", "/api", &s, err, sizeof(err)), 0);
	assert_true(s.shadow.on);
	assert_int_equal(s.shadow.pool, 1);
	assert_int_equal(s.shadow.permille, 1000);
	/* POST, PUT, DELETE and PATCH write: never copied unless named. */
	assert_int_equal(s.shadow.methods, shadowspec_safe_methods());
	assert_false(shadowspec_copies(&s.shadow, HTTP_M_POST));
	assert_false(shadowspec_copies(&s.shadow, HTTP_M_PUT));
	assert_true(shadowspec_copies(&s.shadow, HTTP_M_GET));
	assert_int_equal(s.shadow.compare, SHADOW_CMP_ALL);
	assert_int_equal(s.shadow.max_body, 256 * 1024);
	assert_int_equal(s.shadow.max_inflight, 64);
	assert_int_equal(s.shadow.noise_permille, 10);
	assert_int_equal(s.shadow.alert_permille, 0);
	assert_string_equal(
		text_of(&cfg, &s),
		"/api legacy shadow modern methods GET,HEAD,OPTIONS compare "
		"status,headers,body max-body 256k max-inflight 64 timeout 2s noise 1.0");
	config_free(&cfg);
}

/* Every option, in any order; the text puts them in the grammar's order and reads back equal. */
static void test_every_option_reads_back(void **state)
{
	const char *line = "route GET,POST /api legacy rollback 5% shadow modern alert 2.5% "
			   "noise 0 timeout 750ms max-inflight 8 max-body 1000 "
			   "ignore-json $.meta.time,items[*].id ignore-header X-Trace,date "
			   "compare body,status methods GET,POST percent 12.5 inactive";
	struct config cfg, again;
	struct route_spec s = {0}, t = {0};
	struct route_stored a, b;
	char err[256], line2[ROUTE_TEXT_MAX + 8];

	(void)state;
	assert_int_equal(parse(&cfg, line, "/api", &s, err, sizeof(err)), 0);
	assert_true(s.inactive);
	assert_int_equal(s.shadow.permille, 125);
	assert_true(shadowspec_copies(&s.shadow, HTTP_M_POST));
	assert_int_equal(s.shadow.compare, SHADOW_CMP_STATUS | SHADOW_CMP_BODY);
	assert_string_equal(s.shadow.ignore_headers, "x-trace,date");
	assert_string_equal(s.shadow.ignore_json, "meta.time,items[*].id");
	assert_true(shadowspec_listed(s.shadow.ignore_headers, "X-TRACE", 7));
	assert_false(shadowspec_listed(s.shadow.ignore_headers, "x-trac", 6));
	assert_int_equal(s.shadow.max_body, 1000);
	assert_int_equal(s.shadow.max_inflight, 8);
	assert_int_equal(s.shadow.timeout_ms, 750);
	assert_int_equal(s.shadow.noise_permille, 0);
	assert_int_equal(s.shadow.alert_permille, 25);
	snprintf(line2, sizeof(line2), "route %s", text_of(&cfg, &s));
	assert_int_equal(parse(&again, line2, "/api", &t, err, sizeof(err)), 0);
	assert_true(route_spec_equal(route_spec_view(&s, &a), route_spec_view(&t, &b)));
	config_free(&again);
	config_free(&cfg);
}

static void test_bad_values_say_file_line(void **state)
{
	static const struct {
		const char *line, *want;
	} bad[] = {
		{"route /a legacy shadow",
		 "t.conf:5: route: shadow: expects a pool, then [percent P]"},
		{"route /a legacy shadow spare", "t.conf:5: route: shadow: unknown pool 'spare'"},
		{"route /a legacy shadow modern percent 101", "bad percent '101'"},
		{"route /a legacy shadow modern methods GET,FETCH", "bad methods 'GET,FETCH'"},
		{"route /a legacy shadow modern compare status,cookies", "bad compare"},
		{"route /a legacy shadow modern ignore-header a,,b", "bad ignore-header"},
		{"route /a legacy shadow modern ignore-json a..b", "bad ignore-json"},
		{"route /a legacy shadow modern max-body 0", "bad max-body '0'"},
		{"route /a legacy shadow modern max-body 17m", "bad max-body '17m'"},
		{"route /a legacy shadow modern max-inflight 0", "bad max-inflight '0'"},
		{"route /a legacy shadow modern timeout 61s", "bad timeout '61s'"},
		{"route /a legacy shadow modern noise 100.5", "bad noise '100.5'"},
		{"route /a legacy shadow modern alert 0%", "bad alert '0%'"},
		{"route /a legacy shadow modern noise 1 noise 2", "'noise' given twice"},
		{"route /a legacy shadow modern timeout", "'timeout' needs a value"},
		{"route /a legacy shadow modern percent 5 exact", "unexpected 'exact'"},
	};
	struct config cfg;
	struct route_spec s;
	char err[512];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = parse(&cfg, bad[i].line, "/a", &s, err, sizeof(err));

		if (r != -EINVAL || !strstr(err, bad[i].want) || strncmp(err, "t.conf:5: ", 10))
			fail_msg("%s: got %d '%s', want '%s'", bad[i].line, r, err, bad[i].want);
		config_free(&cfg);
	}
}

/* route patch: shadow replaces the shadow whole, no-shadow drops it, the rest stays. */
static void test_patch_adds_and_drops_shadow(void **state)
{
	struct config cfg;
	struct route_spec s = {0};
	char err[256], words[] = "shadow modern percent 10 timeout 1s", off[] = "no-shadow";
	char *argv[16];
	int n;

	(void)state;
	assert_int_equal(parse(&cfg, "route /api legacy testers", "/api", &s, err, sizeof(err)), 0);
	n = words_split(words, argv, 16, false);
	assert_int_equal(routepatch_apply(&cfg, n, argv, &s, err, sizeof(err)), 0);
	assert_true(s.shadow.on && s.testers);
	assert_int_equal(s.shadow.permille, 100);
	assert_int_equal(s.shadow.timeout_ms, 1000);
	n = words_split(off, argv, 16, false);
	assert_int_equal(routepatch_apply(&cfg, n, argv, &s, err, sizeof(err)), 0);
	assert_false(s.shadow.on);
	assert_true(s.testers);
	config_free(&cfg);
}

/* The table stores its own copy of a shadow: a change of the spec later changes nothing in it. */
static void test_table_owns_its_copy(void **state)
{
	struct route_table *t = route_table_new(), *c;
	struct route_spec s = {0};
	const struct route *r;
	int id;

	(void)state;
	assert_non_null(t);
	assert_int_equal(route_path_set(&s, "/x"), 0);
	shadowspec_defaults(&s.shadow, 1, "modern");
	id = route_table_set(t, &s);
	assert_true(id > 0);
	s.shadow.max_inflight = 3;
	r = route_table_get(t, (uint32_t)id);
	assert_non_null(r->spec.shadow);
	assert_int_equal(r->spec.shadow->max_inflight, 64);
	c = route_table_clone(t);
	assert_non_null(route_table_get(c, (uint32_t)id)->spec.shadow);
	s.shadow.on = false;
	assert_int_equal(route_table_set(t, &s), id);
	assert_null(route_table_get(t, (uint32_t)id)->spec.shadow);
	assert_non_null(route_table_get(c, (uint32_t)id)->spec.shadow);
	route_table_free(c);
	route_table_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_are_safe_and_bounded),
		cmocka_unit_test(test_every_option_reads_back),
		cmocka_unit_test(test_bad_values_say_file_line),
		cmocka_unit_test(test_patch_adds_and_drops_shadow),
		cmocka_unit_test(test_table_owns_its_copy),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
