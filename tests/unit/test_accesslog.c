// SPDX-License-Identifier: GPL-2.0-only
/* The access log's lines: fields, escaping (JSON stays valid on any bytes), sampling, reopen. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <jansson.h>

#include "observe/accesslog.h"
#include "core/config.h"

static char dir[] = "/tmp/strg-alog-XXXXXX";
static char path[128];

static void open_log_query(bool json, unsigned sample, bool query)
{
	struct config cfg;

	memset(&cfg, 0, sizeof(cfg));
	snprintf(cfg.access_log, sizeof(cfg.access_log), "%s", path);
	cfg.access_log_json = json;
	cfg.access_log_sample = sample;
	cfg.access_log_query = query;
	assert_int_equal(alog_open(&cfg), 0);
}

static void open_log(bool json, unsigned sample)
{
	open_log_query(json, sample, false);
}

/* The whole file, NUL-terminated (the caller frees it). */
static char *slurp(const char *p)
{
	FILE *f = fopen(p, "r");
	char *buf = calloc(1, 1 << 20);
	size_t n;

	assert_non_null(f);
	assert_non_null(buf);
	n = fread(buf, 1, (1 << 20) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static const char odd_path[] = "/a\"b\\c\x01\xc3\xa9";

static struct alog_entry entry(void)
{
	struct alog_entry e = {
		.client = "10.0.0.7",
		.method = "GET",
		.path = odd_path,
		.path_len = sizeof(odd_path) - 1,
		.route = "GET,HEAD /v1/orders",
		.pool = "modern",
		.backend = "10.0.1.5:80",
		.status = 503,
		.bytes_in = 85,
		.bytes_out = 154,
		.host = "shop.example:8080",
		.host_len = 17,
		.agent = "curl/8.5 (x\"y)",
		.agent_len = 14,
		.query = "q=1&token=s3cret",
		.query_len = 16,
		.head_us = 840,
		.duration_us = 43210,
		.kernel = true,
		.id = "abc123",
	};
	return e;
}

static int setup(void **state)
{
	(void)state;
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/access.log", dir);
	return 0;
}

static int teardown(void **state)
{
	char old[160];

	(void)state;
	alog_close();
	snprintf(old, sizeof(old), "%s.1", path);
	unlink(old);
	unlink(path);
	rmdir(dir);
	return 0;
}

static void test_json_line_is_valid_json_with_every_field(void **state)
{
	struct alog_entry e = entry();
	json_error_t jerr;
	json_t *doc;
	char *text;

	(void)state;
	unlink(path);
	open_log(true, 1);
	alog_write(&e);
	alog_close();
	text = slurp(path);
	assert_non_null(strchr(text, '\n'));
	doc = json_loads(text, JSON_DISABLE_EOF_CHECK, &jerr);
	if (!doc)
		fail_msg("not JSON (%s): %s", jerr.text, text);
	assert_string_equal(json_string_value(json_object_get(doc, "client")), "10.0.0.7");
	assert_string_equal(json_string_value(json_object_get(doc, "route")),
			    "GET,HEAD /v1/orders");
	/* Control and non-ASCII bytes become \u00XX: the path reads back byte for byte. */
	assert_string_equal(json_string_value(json_object_get(doc, "path")),
			    "/a\"b\\c\x01\xc3\x83\xc2\xa9");
	assert_int_equal(json_integer_value(json_object_get(doc, "status")), 503);
	assert_int_equal(json_integer_value(json_object_get(doc, "bytes_in")), 85);
	assert_int_equal(json_integer_value(json_object_get(doc, "bytes_out")), 154);
	assert_true(json_is_true(json_object_get(doc, "kernel")));
	assert_true(json_real_value(json_object_get(doc, "duration_ms")) > 43.209);
	assert_true(json_real_value(json_object_get(doc, "duration_ms")) < 43.211);
	assert_true(json_real_value(json_object_get(doc, "head_ms")) > 0.839);
	assert_true(json_real_value(json_object_get(doc, "head_ms")) < 0.841);
	assert_string_equal(json_string_value(json_object_get(doc, "host")), "shop.example:8080");
	assert_string_equal(json_string_value(json_object_get(doc, "user_agent")),
			    "curl/8.5 (x\"y)");
	/* The query is off by default: it may carry secrets. */
	assert_null(json_object_get(doc, "query"));
	assert_string_equal(json_string_value(json_object_get(doc, "request_id")), "abc123");
	assert_int_equal(strlen(json_string_value(json_object_get(doc, "time"))), 24);
	json_decref(doc);
	free(text);
}

static void test_text_line_escapes_and_names_fields(void **state)
{
	struct alog_entry e = entry();
	char *text;

	(void)state;
	unlink(path);
	open_log(false, 1);
	e.route = NULL;
	e.pool = NULL;
	e.backend = NULL;
	e.status = 0;
	e.kernel = false;
	alog_write(&e);
	alog_close();
	text = slurp(path);
	if (!strstr(text,
		    " 10.0.0.7 GET /a\\\"b\\\\c\\x01\\xc3\\xa9 - route=- pool=- backend=- in=85 "
		    "out=154 ms=43.210 path=user id=abc123 head_ms=0.840 host=shop.example:8080 "
		    "ua=\"curl/8.5 (x\\\"y)\"\n"))
		fail_msg("text line: %s", text);
	free(text);
}

/* With "query": the query after the path, in both formats; no Host or agent: "-". */
static void test_query_when_asked_and_absent_fields(void **state)
{
	struct alog_entry e = entry();
	json_error_t jerr;
	json_t *doc;
	char *text;

	(void)state;
	unlink(path);
	open_log_query(false, 1, true);
	e.host = NULL;
	e.agent = NULL;
	alog_write(&e);
	alog_close();
	text = slurp(path);
	if (!strstr(text, " head_ms=0.840 host=- ua=\"-\" query=\"q=1&token=s3cret\"\n"))
		fail_msg("text line: %s", text);
	free(text);
	unlink(path);
	open_log_query(true, 1, true);
	e.query = NULL;
	alog_write(&e);
	alog_close();
	text = slurp(path);
	doc = json_loads(text, JSON_DISABLE_EOF_CHECK, &jerr);
	if (!doc)
		fail_msg("not JSON (%s): %s", jerr.text, text);
	assert_string_equal(json_string_value(json_object_get(doc, "query")), "");
	assert_string_equal(json_string_value(json_object_get(doc, "host")), "-");
	assert_string_equal(json_string_value(json_object_get(doc, "user_agent")), "-");
	json_decref(doc);
	free(text);
}

static void test_sampling_and_ids(void **state)
{
	char a[ALOG_ID_MAX], b[ALOG_ID_MAX];
	unsigned picked = 0;

	(void)state;
	assert_false(alog_wants()); /* closed: off */
	assert_int_equal(alog_sample(), 0);
	open_log(false, 10);
	for (int i = 0; i < 10000; i++)
		picked += alog_wants();
	/* One in ten, at random: 1 000 expected; bounds far outside any plausible run. */
	assert_true(picked > 700 && picked < 1300);
	alog_close();
	alog_new_id(a);
	alog_new_id(b);
	assert_int_equal(strlen(a), 32);
	assert_string_not_equal(a, b);
}

static void test_reopen_writes_to_the_new_file(void **state)
{
	struct alog_entry e = entry();
	char old[160], *t1, *t2;

	(void)state;
	unlink(path);
	open_log(false, 1);
	alog_write(&e);
	snprintf(old, sizeof(old), "%s.1", path);
	assert_int_equal(rename(path, old), 0); /* what logrotate does before the signal */
	assert_int_equal(alog_reopen(), 0);
	e.id = "second";
	alog_write(&e);
	alog_close();
	t1 = slurp(old);
	t2 = slurp(path);
	assert_non_null(strstr(t1, "id=abc123"));
	assert_null(strstr(t1, "id=second"));
	assert_non_null(strstr(t2, "id=second"));
	free(t1);
	free(t2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_line_is_valid_json_with_every_field),
		cmocka_unit_test(test_text_line_escapes_and_names_fields),
		cmocka_unit_test(test_query_when_asked_and_absent_fields),
		cmocka_unit_test(test_sampling_and_ids),
		cmocka_unit_test(test_reopen_writes_to_the_new_file),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
