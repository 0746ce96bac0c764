// SPDX-License-Identifier: GPL-2.0-only
/*
 * Unit tests of the shadow's capture of an answer (core/httpcap.c) and of the comparison of two
 * (observe/shadowcmp.c): framing decoded in any slices, bodies bounded, every kind of difference
 * named as its field, headers that always differ and ignored ones passed over, JSON compared by
 * structure with ignored paths, secrets redacted.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/httpcap.h"
#include "core/shadowspec.h"
#include "observe/shadowcmp.h"

/* An answer captured from text fed in slices of step bytes (0: whole). */
static void capture(struct httpcap *c, const char *text, size_t step, uint32_t max_body)
{
	size_t len = strlen(text), at = 0;

	httpcap_init(c, HTTP_M_GET, max_body);
	while (at < len) {
		size_t n = step && len - at > step ? step : len - at;
		long used = httpcap_feed(c, text + at, n);

		assert_true(used >= 0);
		at += (size_t)used;
		if ((size_t)used < n)
			break;
	}
}

static void test_framings_decode_in_any_slices(void **state)
{
	const char *chunked = "HTTP/1.1 100 Continue\r\n\r\n"
			      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
			      "5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nX-T: 1\r\n\r\n";
	const char *length = "HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nhello, worldNEXT";

	(void)state;
	for (size_t step = 0; step < 9; step++) {
		struct httpcap a, b;

		capture(&a, chunked, step, 1024);
		capture(&b, length, step, 1024);
		assert_true(httpcap_done(&a) && httpcap_done(&b));
		assert_int_equal(a.status, 200);
		assert_int_equal(a.body_total, 12);
		assert_memory_equal(a.body, "hello, world", 12);
		assert_int_equal(a.hash, b.hash);
		assert_int_equal(b.body_len, 12); /* NEXT is another message's */
		httpcap_free(&a);
		httpcap_free(&b);
	}
}

/* Past max_body the capture keeps nothing more, but counts the length. */
static void test_body_over_the_bound_is_not_kept(void **state)
{
	char *text = malloc(200000);
	struct httpcap c;
	int n;

	(void)state;
	n = sprintf(text, "HTTP/1.1 200 OK\r\nContent-Length: 150000\r\n\r\n");
	memset(text + n, 'x', 150000);
	text[n + 150000] = '\0';
	capture(&c, text, 4096, 1000);
	assert_true(httpcap_done(&c));
	assert_true(httpcap_cut(&c));
	assert_int_equal(c.body_len, 1000);
	assert_true(c.body_cap <= 1000);
	assert_int_equal(c.body_total, 150000);
	httpcap_free(&c);
	free(text);
}

static void test_close_delimited_and_bad(void **state)
{
	struct httpcap c;

	(void)state;
	capture(&c, "HTTP/1.1 200 OK\r\n\r\nuntil the end", 3, 100);
	assert_false(httpcap_done(&c));
	httpcap_eof(&c);
	assert_true(httpcap_done(&c));
	assert_int_equal(c.body_total, 13);
	httpcap_free(&c);
	capture(&c, "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort", 0, 100);
	httpcap_eof(&c);
	assert_int_equal(c.state, HTTPCAP_BAD);
	httpcap_free(&c);
	httpcap_init(&c, HTTP_M_GET, 100);
	assert_int_equal(httpcap_feed(&c, "NOT HTTP AT ALL\r\n\r\n", 19), -1);
	httpcap_free(&c);
}

static const struct shadowcmp_opts all = {SHADOW_CMP_ALL, "", ""};

/* The comparison of two answers given as text. */
static void compare(const struct shadowcmp_opts *o, const char *a, const char *b,
		    struct shadowcmp_result *r, uint32_t max_body)
{
	struct httpcap ca, cb;

	capture(&ca, a, 0, max_body);
	capture(&cb, b, 0, max_body);
	assert_true(httpcap_done(&ca) && httpcap_done(&cb));
	shadowcmp_compare(o, &ca, &cb, r);
	httpcap_free(&ca);
	httpcap_free(&cb);
}

static const struct shadowcmp_diff *field(const struct shadowcmp_result *r, const char *name)
{
	for (unsigned i = 0; i < r->n; i++)
		if (!strcmp(r->d[i].field, name))
			return &r->d[i];
	return NULL;
}

/* The same answer framed otherwise, with another date, server and request id: no difference. */
static void test_what_always_differs_is_passed_over(void **state)
{
	struct shadowcmp_result r;

	(void)state;
	compare(&all,
		"HTTP/1.1 200 OK\r\nDate: Mon, 1 Jan 2024 00:00:00 GMT\r\nServer: monolith\r\n"
		"X-Request-Id: a1\r\nSet-Cookie: s=1\r\nContent-Type: text/plain\r\n"
		"Content-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nDate: Tue, 2 Jan 2024 00:00:01 "
		"GMT\r\nServer: svc\r\nx-request-id: b2\r\nTransfer-Encoding: chunked\r\n\r\n"
		"2\r\nok\r\n0\r\n\r\n",
		&r, 1024);
	assert_int_equal(r.n, 0);
}

static void test_status_headers_body_named(void **state)
{
	struct shadowcmp_opts no_trace = {SHADOW_CMP_ALL, "x-trace", ""};
	struct shadowcmp_result r;
	const struct shadowcmp_diff *d;

	(void)state;
	compare(&no_trace,
		"HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nX-Trace: 1\r\nX-Old: y\r\n"
		"Content-Length: 3\r\n\r\nabc",
		"HTTP/1.1 404 Not Found\r\nCache-Control: no-store\r\nX-Trace: 2\r\n"
		"Authorization: Bearer secret\r\nContent-Length: 3\r\n\r\nabd",
		&r, 1024);
	assert_non_null(d = field(&r, "status"));
	assert_string_equal(d->a, "200");
	assert_string_equal(d->b, "404");
	assert_non_null(d = field(&r, "header cache-control"));
	assert_string_equal(d->b, "no-store");
	assert_non_null(d = field(&r, "header x-old"));
	assert_string_equal(d->b, "(none)");
	assert_non_null(d = field(&r, "header authorization"));
	assert_string_equal(d->a, "(none)");
	assert_string_equal(d->b, "(redacted)");
	assert_null(field(&r, "header x-trace"));
	assert_non_null(d = field(&r, "body"));
	assert_string_equal(d->b, "abd");
	assert_int_equal(r.n, 5);
}

/* An answer with a JSON body of its own length. */
static const char *json_answer(char *out, size_t size, const char *body)
{
	snprintf(out, size,
		 "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
		 "\r\n%s",
		 strlen(body), body);
	return out;
}

/* JSON: order of members does not matter; each differing leaf is its field, ignored paths not. */
static void test_json_compared_by_structure(void **state)
{
	struct shadowcmp_opts o = {SHADOW_CMP_BODY, "", "meta.time,items[*].id"};
	struct shadowcmp_result r;
	const struct shadowcmp_diff *d;
	char a[512], b[512];

	(void)state;
	compare(&o,
		json_answer(a, sizeof(a),
			    "{\"meta\":{\"time\":1,\"v\":1},\"items\":[{\"id\":7,\"price\":3},"
			    "{\"id\":8,\"price\":4}],\"extra\":true,\"x\":1}"),
		json_answer(b, sizeof(b),
			    "{\"x\":1,\"items\":[{\"price\":3,\"id\":9},{\"id\":10,\"price\":5}],"
			    "\"meta\":{\"v\":1,\"time\":2}}"),
		&r, 4096);
	assert_true(r.json);
	assert_non_null(d = field(&r, "body $.items[*].price"));
	assert_string_equal(d->a, "4");
	assert_string_equal(d->b, "5");
	assert_non_null(d = field(&r, "body $.extra"));
	assert_string_equal(d->b, "(none)");
	assert_int_equal(r.n, 2);
	compare(&o, json_answer(a, sizeof(a), "[1,2,3]"), json_answer(b, sizeof(b), "[1,2]"), &r,
		4096);
	assert_non_null(d = field(&r, "body $"));
	assert_string_equal(d->a, "3 items");
	assert_int_equal(r.n, 1);
}

/* Bodies over the bound: by length and the prefix's hash, said so. */
static void test_cut_bodies_by_length_and_prefix(void **state)
{
	struct shadowcmp_result r;

	(void)state;
	compare(&all, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789",
		"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n0123456789X", &r, 4);
	assert_true(r.cut);
	assert_non_null(field(&r, "body"));
	compare(&all, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789",
		"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123XXXXXX", &r, 4);
	assert_true(r.cut);
	assert_int_equal(r.n, 0); /* what was kept is the same */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_framings_decode_in_any_slices),
		cmocka_unit_test(test_body_over_the_bound_is_not_kept),
		cmocka_unit_test(test_close_delimited_and_bad),
		cmocka_unit_test(test_what_always_differs_is_passed_over),
		cmocka_unit_test(test_status_headers_body_named),
		cmocka_unit_test(test_json_compared_by_structure),
		cmocka_unit_test(test_cut_bodies_by_length_and_prefix),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
