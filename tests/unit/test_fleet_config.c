// SPDX-License-Identifier: GPL-2.0-only
/* Unit tests of the fleet's configuration: the store line, and the store revision saved. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "core/state.h"

#define HEAD "listen 127.0.0.1:8080\npool legacy 127.0.0.1:9001\n"

static int parse(struct config *cfg, const char *line, char *err, size_t len)
{
	char text[1024];

	snprintf(text, sizeof(text), HEAD "%s\n", line);
	return config_parse(cfg, "t.conf", text, err, len);
}

static void test_store_line(void **state)
{
	struct config cfg;
	char err[256];

	(void)state;
	assert_int_equal(parse(&cfg, "# no store", err, sizeof(err)), 0);
	assert_string_equal(cfg.store.endpoints, "");
	assert_string_equal(cfg.store.prefix, "/strg/default/");
	config_free(&cfg);
	assert_int_equal(parse(&cfg,
			       "store etcd http://10.0.0.1:2379,https://10.0.0.2:2379 prefix "
			       "/strg/shop node gw1 ca /ca.pem cert /c.pem key /k.pem",
			       err, sizeof(err)),
			 0);
	assert_string_equal(cfg.store.endpoints, "http://10.0.0.1:2379,https://10.0.0.2:2379");
	assert_string_equal(cfg.store.prefix, "/strg/shop/");
	assert_string_equal(cfg.store.node, "gw1");
	assert_string_equal(cfg.store.ca, "/ca.pem");
	assert_string_equal(cfg.store.key, "/k.pem");
	config_free(&cfg);
}

static void test_store_line_errors(void **state)
{
	static const char *const cases[][2] = {
		{"store etcd", "t.conf:3: store: expects etcd URL"},
		{"store consul http://a:1", "t.conf:3: store: expects etcd URL"},
		{"store etcd 10.0.0.1:2379", "is not an http:// or https:// URL"},
		{"store etcd http://a:1,ftp://b:2", "'ftp://b:2' is not an http://"},
		{"store etcd http://a:1 prefix strg", "prefix 'strg' is not an absolute key"},
		{"store etcd http://a:1 colour red", "unknown option 'colour'"},
		{"store etcd http://a:1 cert /c.pem", "cert and key go together"},
		{"store etcd http://a:1 node", "t.conf:3: store: expects etcd URL"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct config cfg;
		char err[256] = "";

		assert_int_not_equal(parse(&cfg, cases[i][0], err, sizeof(err)), 0);
		if (!strstr(err, cases[i][1]))
			fail_msg("'%s': '%s' does not say '%s'", cases[i][0], err, cases[i][1]);
		config_free(&cfg);
	}
}

/* The table saved with the revision it is of; read back with it. */
static void test_store_revision_saved(void **state)
{
	char dir[] = "/tmp/strg-fleet-config.XXXXXX", text[512], err[256];
	struct config a, b, *last = NULL;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(text, sizeof(text), HEAD "state-file %s/state\n", dir);
	assert_int_equal(config_parse(&a, "t.conf", text, err, sizeof(err)), 0);
	a.store_revision = 4242;
	assert_int_equal(state_save(&a, NULL), 0);
	assert_int_equal(config_parse(&b, "t.conf", text, err, sizeof(err)), 0);
	assert_int_equal(b.store_revision, 0);
	assert_int_equal(state_load(&b, &last, err, sizeof(err)), 0);
	assert_int_equal(b.store_revision, 4242);
	config_destroy(last);
	config_free(&a);
	config_free(&b);
	snprintf(text, sizeof(text), "%s/state", dir);
	unlink(text);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_store_line),
		cmocka_unit_test(test_store_line_errors),
		cmocka_unit_test(test_store_revision_saved),
	};

	return cmocka_run_group_tests_name("fleet_config", tests, NULL, NULL);
}
