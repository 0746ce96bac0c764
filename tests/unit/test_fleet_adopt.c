// SPDX-License-Identifier: GPL-2.0-only
/* Unit tests of a store's table put into a draft: places kept, only differences changed. */
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
#include "fleet/adopt.h"
#include "fleet/schema.h"

static struct config *parse(const char *text)
{
	struct config *cfg = calloc(1, sizeof(*cfg));
	char err[256];

	assert_non_null(cfg);
	if (config_parse(cfg, "t.conf", text, err, sizeof(err)))
		fail_msg("config: %s", err);
	return cfg;
}

static const char live_conf[] = "listen 127.0.0.1:8080\n"
				"pool legacy 127.0.0.1:9001 127.0.0.1:9002\n"
				"pool old 127.0.0.1:9201\n"
				"pool modern 127.0.0.1:9101\n"
				"route / legacy\n"
				"route /a modern\n"
				"route /gone old\n";

/* The store's: pools in another order, one new; /a changed, /gone gone, /b new. */
static const char table_conf[] = "listen 127.0.0.1:8080\n"
				 "pool modern 127.0.0.1:9101 127.0.0.1:9102\n"
				 "pool legacy 127.0.0.1:9002\n"
				 "pool extra 127.0.0.1:9301\n"
				 "route / legacy\n"
				 "route /a modern percent 5\n"
				 "route /b extra\n";

static void test_adopt_keeps_places(void **state)
{
	struct config *d = parse(live_conf), *t = parse(table_conf);
	const struct route *a_before = route_table_get(d->routes, 2), *a, *b;
	uint32_t slot = a_before->slot;
	int n;

	(void)state;
	t->store_revision = 42;
	n = fleet_adopt(d, t);
	assert_true(n > 0);
	/* Pools keep their index; the new one is added; the unused one stays. */
	assert_int_equal(d->npools, 4);
	assert_string_equal(d->pools[0].name, "legacy");
	assert_string_equal(d->pools[1].name, "old");
	assert_string_equal(d->pools[2].name, "modern");
	assert_string_equal(d->pools[3].name, "extra");
	/* legacy lost 9001 (its slot kept, removed), modern gained 9102. */
	assert_int_equal(d->pools[0].backends[0].state, BACKEND_REMOVED);
	assert_int_equal(pool_backend_find(&d->pools[0], "127.0.0.1:9002"), 1);
	assert_int_equal(pool_backend_find(&d->pools[2], "127.0.0.1:9102"), 1);
	/* Routes: /a changed in place (id and slot), /gone gone, /b in under the table's id. */
	a = route_table_get(d->routes, 2);
	assert_non_null(a);
	assert_int_equal(a->slot, slot);
	assert_int_equal(a->spec.permille, 50);
	assert_int_equal(a->spec.pool, 2);
	/* /gone had id 3, /b has it in the table: the id now names /b, in pool extra. */
	b = route_table_get(d->routes, 3);
	assert_non_null(b);
	assert_string_equal(b->spec.path, "/b");
	assert_int_equal(b->spec.pool, 3);
	assert_int_equal(route_table_count(d->routes), 3);
	assert_int_equal(d->store_revision, 42);
	/* The same table again: nothing to change. */
	assert_int_equal(fleet_adopt(d, t), 0);
	config_destroy(d);
	config_destroy(t);
}

/* A table whose default route has another id: the routes are rebuilt, the result the same. */
static void test_adopt_default_route_other_id(void **state)
{
	struct config *d = parse(live_conf), *t = calloc(1, sizeof(*t));
	struct fleet_objs o = {0};
	char err[FLEET_ERR_MAX];
	const char *objs[][2] = {
		{"pools/legacy", "{\"schema\":1,\"backends\":[{\"addr\":\"127.0.0.1:9001\"}]}"},
		{"routes/7", "{\"schema\":1,\"path\":\"/\",\"pool\":\"legacy\"}"},
		{"routes/9", "{\"schema\":1,\"path\":\"/a\",\"pool\":\"legacy\"}"},
	};
	int ret;

	(void)state;
	free(t);
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(fleet_objs_add(&o, objs[i][0], objs[i][1], strlen(objs[i][1]), 0),
				 0);
	fleet_objs_sort(&o);
	t = fleet_schema_decode(&o, &ret, err, sizeof(err));
	assert_non_null(t);
	assert_true(fleet_adopt(d, t) > 0);
	assert_int_equal(route_table_count(d->routes), 2);
	assert_non_null(route_table_get(d->routes, 7));
	assert_non_null(route_table_get(d->routes, 9));
	assert_true(route_table_next_id(d->routes) >= 10);
	assert_int_equal(fleet_adopt(d, t), 0);
	fleet_objs_free(&o);
	config_destroy(d);
	config_destroy(t);
}

/* A backend replaced by another in one change: the new one never takes the slot just freed. */
static void test_adopt_never_reuses_a_slot_freed_now(void **state)
{
	struct config *d = parse("listen 127.0.0.1:8080\npool legacy 127.0.0.1:9001\n"),
		      *t = parse("listen 127.0.0.1:8080\npool legacy 127.0.0.1:9002\n"),
		      *back = parse("listen 127.0.0.1:8080\npool legacy 127.0.0.1:9001\n");

	(void)state;
	assert_true(fleet_adopt(d, t) > 0);
	assert_int_equal(d->pools[0].backends[0].state, BACKEND_REMOVED);
	assert_int_equal(pool_backend_find(&d->pools[0], "127.0.0.1:9002"), 1);
	/* Back again: 9001 comes back in a slot removed by an earlier change (slot 0). */
	assert_true(fleet_adopt(d, back) > 0);
	assert_int_equal(pool_backend_find(&d->pools[0], "127.0.0.1:9001"), 0);
	assert_int_equal(d->pools[0].backends[1].state, BACKEND_REMOVED);
	config_destroy(d);
	config_destroy(t);
	config_destroy(back);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_adopt_keeps_places),
		cmocka_unit_test(test_adopt_default_route_other_id),
		cmocka_unit_test(test_adopt_never_reuses_a_slot_freed_now),
	};

	return cmocka_run_group_tests_name("fleet_adopt", tests, NULL, NULL);
}
