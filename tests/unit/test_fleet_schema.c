// SPDX-License-Identifier: GPL-2.0-only
/*
 * Unit tests of the fleet's objects: a table through its objects and back, refusals named by
 * key with the parser's reason, the hash's independence from order, the difference of two tables.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/apply.h"
#include "fleet/schema.h"

static const char conf[] =
	"listen 127.0.0.1:8080\n"
	"pool legacy 127.0.0.1:9001 127.0.0.1:9002\n"
	"pool modern 127.0.0.1:9101 proxy-protocol\n"
	"health modern http /healthz status 204 interval 2s timeout 500ms rise 2 fall 3\n"
	"eject legacy after 5 5xx\n"
	"route / legacy\n"
	"route GET,HEAD host api.example.com /v1/users modern percent 12.5 exact rewrite /users "
	"testers fallback legacy rollback 5% p99 300 window 20s min 40\n"
	"route /v2 modern strip-prefix fallback none shadow legacy percent 5 ignore-json meta.t "
	"alert 2% inactive\n";

static struct config *parse(const char *text)
{
	struct config *cfg = calloc(1, sizeof(*cfg));
	char err[256];

	assert_non_null(cfg);
	if (config_parse(cfg, "t.conf", text, err, sizeof(err)))
		fail_msg("config: %s", err);
	return cfg;
}

static void add(struct fleet_objs *o, const char *name, const char *json)
{
	assert_int_equal(fleet_objs_add(o, name, json, strlen(json), 0), 0);
}

/* Decode objs, expecting a refusal whose text has want. */
static void refused(struct fleet_objs *o, const char *want)
{
	char err[FLEET_ERR_MAX] = "";
	int ret;

	fleet_objs_sort(o);
	assert_null(fleet_schema_decode(o, &ret, err, sizeof(err)));
	assert_int_equal(ret, -EINVAL);
	if (!strstr(err, want))
		fail_msg("refusal '%s' does not say '%s'", err, want);
}

static void base(struct fleet_objs *o)
{
	memset(o, 0, sizeof(*o));
	add(o, "pools/legacy", "{\"schema\":1,\"backends\":[{\"addr\":\"127.0.0.1:9001\"}]}");
	add(o, "pools/modern",
	    "{\"schema\":1,\"backends\":[{\"addr\":\"127.0.0.1:9101\",\"state\":\"drain\","
	    "\"weight\":3}]}");
	add(o, "routes/1", "{\"schema\":1,\"path\":\"/\",\"pool\":\"legacy\"}");
}

static void test_roundtrip(void **state)
{
	struct config *t = parse(conf), *back;
	struct fleet_objs o, o2;
	char err[FLEET_ERR_MAX];
	int ret;

	(void)state;
	t->pools[1].backends[0].state = BACKEND_MAINT;
	t->pools[0].backends[1].weight = 7;
	assert_int_equal(fleet_schema_encode(t, &o), 0);
	assert_int_equal(o.n, 5);
	assert_string_equal(o.v[0].name, "pools/legacy");
	assert_string_equal(o.v[2].name, "routes/1");
	back = fleet_schema_decode(&o, &ret, err, sizeof(err));
	if (!back)
		fail_msg("decode: %s", err);
	assert_int_equal(fleet_schema_encode(back, &o2), 0);
	assert_int_equal(o.n, o2.n);
	for (size_t i = 0; i < o.n; i++)
		assert_string_equal(o.v[i].value, o2.v[i].value);
	assert_int_equal(fleet_schema_hash(t), fleet_schema_hash(back));
	assert_int_equal(back->pools[1].backends[0].state, BACKEND_MAINT);
	assert_int_equal(back->pools[0].backends[1].weight, 7);
	assert_true(back->pools[1].proxy_protocol);
	assert_int_equal(back->pools[1].health.interval_ms, 2000);
	assert_int_equal(back->pools[0].health.eject_after, 5);
	/* Route ids are the keys'. */
	for (uint32_t id = 1; id <= 3; id++) {
		const struct route *a = route_table_get(t->routes, id),
				   *b = route_table_get(back->routes, id);

		assert_non_null(b);
		assert_true(apply_route_same(t, &a->spec, back, &b->spec));
		assert_int_equal(!a->spec.shadow, !b->spec.shadow);
	}
	fleet_objs_free(&o);
	fleet_objs_free(&o2);
	config_destroy(t);
	config_destroy(back);
}

/* A route's gateway options travel whole ("gateway": its words) and read back the same. */
static void test_gateway_roundtrip(void **state)
{
	struct config *t = parse(
			      "listen 127.0.0.1:8080\n"
			      "pool legacy 127.0.0.1:9001\n"
			      "pool modern 127.0.0.1:9101\n"
			      "route / legacy\n"
			      "route /v3 modern header X-Tenant acme query v 2 limit 50/s burst 5 "
			      "per cookie sid allow 10.0.0.0/8 deny 10.1.0.0/16 set-header X-From "
			      "%{client} del-response-header Server\n"
			      "route /v3 legacy\n"),
		      *back;
	struct fleet_objs o;
	char err[FLEET_ERR_MAX];
	int ret;

	(void)state;
	assert_int_equal(fleet_schema_encode(t, &o), 0);
	back = fleet_schema_decode(&o, &ret, err, sizeof(err));
	if (!back)
		fail_msg("decode: %s", err);
	for (uint32_t id = 1; id <= 3; id++) {
		const struct route *a = route_table_get(t->routes, id),
				   *b = route_table_get(back->routes, id);

		assert_non_null(b);
		assert_true(apply_route_same(t, &a->spec, back, &b->spec));
	}
	assert_int_equal(route_table_get(back->routes, 2)->spec.gw->limit.count, 50);
	fleet_objs_free(&o);
	config_destroy(t);
	config_destroy(back);
}

static void test_decode_hand_written(void **state)
{
	struct fleet_objs o;
	struct config *t;
	char err[FLEET_ERR_MAX];
	const struct route *r;
	int ret;

	(void)state;
	base(&o);
	add(&o, "routes/42",
	    "{\"schema\":1,\"methods\":\"GET\",\"path\":\"/api/\",\"pool\":\"modern\","
	    "\"percent\":5,\"tripped\":\"5xx 30% over 10s (host a)\"}");
	add(&o, "nodes/a", "not a table object, not JSON either");
	fleet_objs_sort(&o);
	t = fleet_schema_decode(&o, &ret, err, sizeof(err));
	if (!t)
		fail_msg("decode: %s", err);
	r = route_table_get(t->routes, 42);
	assert_non_null(r);
	assert_string_equal(r->spec.path, "/api");
	assert_int_equal(r->spec.permille, 50);
	assert_true(r->spec.tripped && r->spec.inactive);
	assert_string_equal(r->spec.trip, "5xx 30% over 10s (host a)");
	assert_int_equal(t->pools[1].backends[0].state, BACKEND_DRAIN);
	assert_int_equal(t->pools[1].backends[0].weight, 3);
	assert_true(route_table_next_id(t->routes) > 42);
	config_destroy(t);
	fleet_objs_free(&o);
}

static void test_refusals(void **state)
{
	static const char *const cases[][3] = {
		{"routes/2", "{\"schema\":1,\"path\":\"/x\",\"pool\":\"nowhere\"}",
		 "routes/2: route: unknown pool 'nowhere'"},
		{"routes/2", "{\"schema\":1,\"path\":\"/a/../b\",\"pool\":\"modern\"}",
		 "routes/2: route: bad path"},
		{"routes/2", "{\"schema\":2,\"path\":\"/x\",\"pool\":\"modern\"}",
		 "routes/2: schema 2 is newer"},
		{"routes/2", "{\"path\":\"/x\",\"pool\":\"modern\"}", "routes/2: no \"schema\""},
		{"routes/2", "{\"schema\":1,\"path\":\"/x\",\"pool\":\"modern\",\"colour\":1}",
		 "routes/2: unknown field \"colour\""},
		{"routes/2", "{\"schema\":1,\"path\":\"/x\",\"pool\":\"modern\",\"percent\":101}",
		 "routes/2: route: bad percent"},
		{"routes/2", "{\"schema\":1,\"path\":\"/x y\",\"pool\":\"modern\"}",
		 "routes/2: no \"path\""},
		{"routes/2", "{\"schema\":1,\"path\":\"/\",\"pool\":\"modern\"}",
		 "routes/2: the same route (methods, host, path, exact) as routes/1"},
		{"routes/x", "{\"schema\":1,\"path\":\"/x\",\"pool\":\"modern\"}",
		 "routes/x: not a route id"},
		{"routes/2", "{\"schema\":1,", "routes/2: not a JSON object"},
		{"pools/p", "{\"schema\":1,\"backends\":[]}",
		 "pools/p: \"backends\" is not a list"},
		{"pools/p", "{\"schema\":1,\"backends\":[{\"addr\":\"nohost\"}]}", "pools/p: pool"},
		{"pools/p",
		 "{\"schema\":1,\"backends\":[{\"addr\":\"127.0.0.1:1\",\"state\":\"dead\"}]}",
		 "pools/p: backend 1: state 'dead'"},
		{"pools/p",
		 "{\"schema\":1,\"backends\":[{\"addr\":\"127.0.0.1:1\"}],\"health\":{\"path\":"
		 "\"/h\",\"interval_ms\":100,\"timeout_ms\":500}}",
		 "pools/p: health: timeout 500ms is longer than interval 100ms"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fleet_objs o;

		base(&o);
		add(&o, cases[i][0], cases[i][1]);
		refused(&o, cases[i][2]);
		fleet_objs_free(&o);
	}
}

static void test_needs_default_route_and_pools(void **state)
{
	struct fleet_objs o = {0};

	(void)state;
	add(&o, "pools/legacy", "{\"schema\":1,\"backends\":[{\"addr\":\"127.0.0.1:9001\"}]}");
	add(&o, "routes/3", "{\"schema\":1,\"path\":\"/x\",\"pool\":\"legacy\"}");
	refused(&o, "no default route");
	fleet_objs_free(&o);
	add(&o, "routes/1", "{\"schema\":1,\"path\":\"/\",\"pool\":\"legacy\"}");
	refused(&o, "no pools");
	fleet_objs_free(&o);
}

/* The same objects added in another order: the same hash; one byte changed: another. */
static void test_hash_order_independent(void **state)
{
	struct config *t = parse(conf);
	struct fleet_objs o, rev = {0};
	uint64_t h;

	(void)state;
	assert_int_equal(fleet_schema_encode(t, &o), 0);
	h = fleet_objs_hash(&o);
	assert_int_equal(h, fleet_schema_hash(t));
	for (size_t i = o.n; i-- > 0;)
		add(&rev, o.v[i].name, o.v[i].value);
	add(&rev, "nodes/x", "{}"); /* not the table's */
	assert_int_equal(fleet_objs_hash(&rev), h);
	rev.v[0].value[rev.v[0].len - 2] ^= 1;
	assert_int_not_equal(fleet_objs_hash(&rev), h);
	fleet_objs_free(&o);
	fleet_objs_free(&rev);
	config_destroy(t);
}

static void test_diff(void **state)
{
	struct config *a = parse(conf), *b = parse(conf);
	struct route_spec spec;
	struct fleet_objs oa, ob;
	struct fleet_diff d;
	char err[256];
	char *argv[] = {"route", "/new", "modern"};

	(void)state;
	assert_int_equal(config_route_words(b, 3, argv, &spec, err, sizeof(err)), 0);
	assert_int_equal(route_table_set(b->routes, &spec), 4);
	assert_int_equal(route_table_del(b->routes, 3), 0);
	b->pools[0].backends[0].state = BACKEND_DRAIN;
	assert_int_equal(fleet_schema_encode(a, &oa), 0);
	assert_int_equal(fleet_schema_encode(b, &ob), 0);
	oa.v[0].mod_revision = 17; /* pools/legacy, as read from the store */
	assert_int_equal(fleet_objs_diff(&oa, &ob, &d), 0);
	assert_int_equal(d.nput, 2);
	assert_string_equal(d.put[0]->name, "pools/legacy");
	assert_int_equal(d.put_prev[0], 17);
	assert_string_equal(d.put[1]->name, "routes/4");
	assert_int_equal(d.put_prev[1], 0);
	assert_int_equal(d.ndel, 1);
	assert_string_equal(d.del[0]->name, "routes/3");
	fleet_diff_free(&d);
	/* A table against itself: nothing. */
	assert_int_equal(fleet_objs_diff(&oa, &oa, &d), 0);
	assert_int_equal(d.nput + d.ndel, 0);
	fleet_diff_free(&d);
	fleet_objs_free(&oa);
	fleet_objs_free(&ob);
	config_destroy(a);
	config_destroy(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_decode_hand_written),
		cmocka_unit_test(test_gateway_roundtrip),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_needs_default_route_and_pools),
		cmocka_unit_test(test_hash_order_independent),
		cmocka_unit_test(test_diff),
	};

	return cmocka_run_group_tests_name("fleet_schema", tests, NULL, NULL);
}
