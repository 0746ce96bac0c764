// SPDX-License-Identifier: GPL-2.0-only
/* Unit tests for the strict HTTP/1.1 parser: request/response heads, limits, chunked framing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <linux/types.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strg/http_scan.h"
#include "core/http.h"

/* Expected result "the whole input is the head". */
#define OK INT_MAX

/* One request and what http_parse_request must answer; len 0 means strlen(raw). */
struct req_case {
	const char *name;
	const char *raw;
	int want;
	size_t len;
};

/* A row whose raw text holds a NUL, so strlen() cannot measure it. */
#define WITH_NUL(name, raw, want)                                                                  \
	{                                                                                          \
		name, raw, want, sizeof(raw) - 1                                                   \
	}

static struct http_request req;

static size_t case_len(const char *raw, size_t len)
{
	return len ? len : strlen(raw);
}

static int want_of(int want, size_t len)
{
	return want == OK ? (int)len : want;
}

/*
 * Run every row whole, then every proper prefix of it: a prefix must answer 0 or the row's own
 * rejection, never another status and never "complete" (the proxy parses again as bytes arrive).
 */
static void run_req_cases(const struct req_case *cases, size_t n, const struct http_limits *lim)
{
	unsigned failed = 0;
	size_t i, k, len;
	int r, want;

	for (i = 0; i < n; i++) {
		len = case_len(cases[i].raw, cases[i].len);
		want = want_of(cases[i].want, len);
		r = http_parse_request(cases[i].raw, len, lim, &req);
		if (r != want) {
			print_error("request case '%s': got %d, want %d\n", cases[i].name, r, want);
			failed++;
			continue;
		}
		for (k = 0; k < len; k++) {
			r = http_parse_request(cases[i].raw, k, lim, &req);
			if (r != 0 && (want > 0 || r != want)) {
				print_error("request case '%s': prefix %zu got %d, want 0 or %d\n",
					    cases[i].name, k, r, want);
				failed++;
				break;
			}
		}
	}
	assert_int_equal(failed, 0);
}

#define RUN_REQ(cases) run_req_cases(cases, sizeof(cases) / sizeof(cases[0]), NULL)

/* Parse a complete head that must be accepted. */
static void parse_ok(const char *raw)
{
	int r = http_parse_request(raw, strlen(raw), NULL, &req);

	if (r != (int)strlen(raw))
		print_error("'%s' -> %d\n", raw, r);
	assert_int_equal(r, (int)strlen(raw));
}

static void assert_span(const char *p, size_t len, const char *want)
{
	assert_non_null(p);
	if (len != strlen(want) || memcmp(p, want, len) != 0)
		print_error("got '%.*s', want '%s'\n", (int)len, p, want);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(p, want, len);
}

/* ---- request line ---- */

static const struct req_case request_line_cases[] = {
	{"get_origin_form", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", OK},
	{"head", "HEAD /x HTTP/1.1\r\nHost: a\r\n\r\n", OK},
	{"post", "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", OK},
	{"put", "PUT /x HTTP/1.1\r\nHost: a\r\n\r\n", OK},
	{"delete", "DELETE /x HTTP/1.1\r\nHost: a\r\n\r\n", OK},
	{"options_path", "OPTIONS /x HTTP/1.1\r\nHost: a\r\n\r\n", OK},
	{"patch", "PATCH /x HTTP/1.1\r\nHost: a\r\n\r\n", OK},
	{"trace", "TRACE /x HTTP/1.1\r\nHost: a\r\n\r\n", OK},
	{"http10_without_host", "GET / HTTP/1.0\r\n\r\n", OK},
	{"http10_with_host", "GET / HTTP/1.0\r\nHost: a\r\n\r\n", OK},
	{"method_unknown_token_501", "FOO / HTTP/1.1\r\nHost: a\r\n\r\n", -501},
	{"method_lowercase_is_unknown_501", "get / HTTP/1.1\r\nHost: a\r\n\r\n", -501},
	{"method_connect_501", "CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n",
	 -501},
	{"method_with_tchar_symbols_501", "M-SEARCH * HTTP/1.1\r\nHost: a\r\n\r\n", -501},
	{"method_not_token_400", "G(T / HTTP/1.1\r\nHost: a\r\n\r\n", -400},
	{"method_with_ctl_400", "GE\x01T / HTTP/1.1\r\nHost: a\r\n\r\n", -400},
	{"method_empty_400", " / HTTP/1.1\r\nHost: a\r\n\r\n", -400},
	{"leading_empty_line_400", "\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", -400},
	{"tab_separator_400", "GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", -400},
	{"double_sp_after_method_400", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", -400},
	{"double_sp_before_version_400", "GET /  HTTP/1.1\r\nHost: a\r\n\r\n", -400},
	{"trailing_sp_after_version_400", "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", -400},
	{"missing_version_400", "GET /\r\nHost: a\r\n\r\n", -400},
	{"bare_lf_after_request_line_400", "GET / HTTP/1.1\nHost: a\r\n\r\n", -400},
	{"bare_cr_in_request_line_400", "GET / HTTP/1.1\r\r\nHost: a\r\n\r\n", -400},
	{"version_http1_400", "GET / HTTP/1\r\nHost: a\r\n\r\n", -400},
	{"version_lowercase_400", "GET / http/1.1\r\nHost: a\r\n\r\n", -400},
	{"version_trailing_garbage_400", "GET / HTTP/1.1x\r\nHost: a\r\n\r\n", -400},
	{"version_two_digit_minor_400", "GET / HTTP/1.10\r\nHost: a\r\n\r\n", -400},
	{"version_2_0_505", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", -505},
	{"version_1_2_505", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", -505},
	{"version_3_0_505", "GET / HTTP/3.0\r\nHost: a\r\n\r\n", -505},
	{"version_0_9_505", "GET / HTTP/0.9\r\nHost: a\r\n\r\n", -505},
};

static void test_request_line(void **state)
{
	(void)state;
	RUN_REQ(request_line_cases);
}

/* ---- request-target ---- */

static const struct req_case target_cases[] = {
	{"query", "GET /a/b?x=1&y=%20 HTTP/1.1\r\nHost: a\r\n\r\n", OK},
	{"pct_encoded_path", "GET /a%20b/%C3%A9 HTTP/1.1\r\nHost: a\r\n\r\n", OK},
	{"empty_segments", "GET //a//b/ HTTP/1.1\r\nHost: a\r\n\r\n", OK},
	{"three_dots_is_a_name", "GET /.../x HTTP/1.1\r\nHost: a\r\n\r\n", OK},
	{"dot_prefixed_names", "GET /.well-known/..a/a.b/.c HTTP/1.1\r\nHost: a\r\n\r\n", OK},
	{"dots_in_query_are_data", "GET /a?x=/../b HTTP/1.1\r\nHost: a\r\n\r\n", OK},
	{"odd_but_legal_chars", "GET /a|b{c}\"d\" HTTP/1.1\r\nHost: a\r\n\r\n", OK},
	{"options_asterisk", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", OK},
	{"absolute_http", "GET http://a.example/x?y HTTP/1.1\r\nHost: a.example\r\n\r\n", OK},
	{"absolute_https_uppercase",
	 "GET HTTPS://A.example:8443/x HTTP/1.1\r\nHost: a.EXAMPLE:8443\r\n\r\n", OK},
	{"absolute_default_port_spelled", "GET http://a/x HTTP/1.1\r\nHost: a:80\r\n\r\n", OK},
	{"absolute_https_default_port", "GET https://a:443/x HTTP/1.1\r\nHost: a\r\n\r\n", OK},
	{"absolute_host_differs_400", "GET http://other/x HTTP/1.1\r\nHost: api.example\r\n\r\n",
	 -400},
	{"absolute_host_port_differs_400", "GET http://a/x HTTP/1.1\r\nHost: a:8080\r\n\r\n", -400},
	{"absolute_host_longer_400", "GET http://a/x HTTP/1.1\r\nHost: a.b\r\n\r\n", -400},
	{"absolute_https_port_80_400", "GET https://a/x HTTP/1.1\r\nHost: a:80\r\n\r\n", -400},
	{"absolute_empty_path", "GET http://a.example HTTP/1.1\r\nHost: a.example\r\n\r\n", OK},
	{"absolute_query_only", "GET http://a.example?q HTTP/1.1\r\nHost: a.example\r\n\r\n", OK},
	{"absolute_empty_host_field_400", "GET http://a.example/ HTTP/1.1\r\nHost:\r\n\r\n", -400},
	{"absolute_http10_without_host", "GET http://a.example/ HTTP/1.0\r\n\r\n", OK},
	{"absolute_missing_host_field_400", "GET http://a.example/ HTTP/1.1\r\n\r\n", -400},
	{"absolute_invalid_host_field_400", "GET http://a.example/ HTTP/1.1\r\nHost: a b\r\n\r\n",
	 -400},
	{"absolute_other_scheme_400", "GET ftp://a.example/ HTTP/1.1\r\nHost: a\r\n\r\n", -400},
	{"absolute_empty_authority_400", "GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n", -400},
	{"absolute_userinfo_400", "GET http://u:p@a.example/ HTTP/1.1\r\nHost: a\r\n\r\n", -400},
	{"absolute_bad_port_400", "GET http://a.example:99999/ HTTP/1.1\r\nHost: a\r\n\r\n", -400},
	{"absolute_dot_segment_400", "GET http://a/x/../y HTTP/1.1\r\nHost: a\r\n\r\n", -400},
	{"authority_form_400", "GET a.example:80 HTTP/1.1\r\nHost: a.example\r\n\r\n", -400},
	{"relative_path_400", "GET a/b HTTP/1.1\r\nHost: a\r\n\r\n", -400},
	{"asterisk_with_get_400", "GET * HTTP/1.1\r\nHost: a\r\n\r\n", -400},
	{"asterisk_with_suffix_400", "OPTIONS *x HTTP/1.1\r\nHost: a\r\n\r\n", -400},
	{"target_ctl_400", "GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n", -400},
	{"target_htab_400", "GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n", -400},
	{"target_del_400", "GET /a\x7f HTTP/1.1\r\nHost: a\r\n\r\n", -400},
	{"target_non_ascii_400", "GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", -400},
	WITH_NUL("target_nul_400", "GET /a\0b HTTP/1.1\r\nHost: a\r\n\r\n", -400),
	{"target_fragment_400", "GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n", -400},
	{"dotdot_middle_400", "GET /a/../b HTTP/1.1\r\nHost: a\r\n\r\n", -400},
	{"dot_first_400", "GET /./x HTTP/1.1\r\nHost: a\r\n\r\n", -400},
	{"dotdot_alone_400", "GET /.. HTTP/1.1\r\nHost: a\r\n\r\n", -400},
	{"dot_alone_400", "GET /. HTTP/1.1\r\nHost: a\r\n\r\n", -400},
	{"dot_last_400", "GET /a/. HTTP/1.1\r\nHost: a\r\n\r\n", -400},
	{"dotdot_before_query_400", "GET /a/..?x HTTP/1.1\r\nHost: a\r\n\r\n", -400},
	{"dotdot_trailing_slash_400", "GET /a/../ HTTP/1.1\r\nHost: a\r\n\r\n", -400},
	{"pct_dotdot_400", "GET /%2e%2e/x HTTP/1.1\r\nHost: a\r\n\r\n", -400},
	{"pct_dot_upper_400", "GET /%2E/x HTTP/1.1\r\nHost: a\r\n\r\n", -400},
	{"pct_mixed_dotdot_400", "GET /a/.%2e HTTP/1.1\r\nHost: a\r\n\r\n", -400},
	{"pct_truncated_400", "GET /a%2 HTTP/1.1\r\nHost: a\r\n\r\n", -400},
	{"pct_alone_400", "GET /a% HTTP/1.1\r\nHost: a\r\n\r\n", -400},
	{"pct_not_hex_400", "GET /a%zz HTTP/1.1\r\nHost: a\r\n\r\n", -400},
	{"pct_bad_in_query_400", "GET /a?q=%g1 HTTP/1.1\r\nHost: a\r\n\r\n", -400},
};

static void test_request_target(void **state)
{
	(void)state;
	RUN_REQ(target_cases);
}

/* ---- header fields ---- */

static const struct req_case field_cases[] = {
	{"obs_text_value", "GET / HTTP/1.1\r\nHost: a\r\nX: caf\xc3\xa9\xff\r\n\r\n", OK},
	{"htab_in_value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\tb\r\n\r\n", OK},
	{"ows_around_value", "GET / HTTP/1.1\r\nHost: a\r\nX: \t v \t\r\n\r\n", OK},
	{"empty_value", "GET / HTTP/1.1\r\nHost: a\r\nX:\r\n\r\n", OK},
	{"name_with_tchars", "GET / HTTP/1.1\r\nHost: a\r\nX-a_b.c!#$%&'*+^`|~: v\r\n\r\n", OK},
	{"ws_before_colon_400", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", -400},
	{"tab_before_colon_400", "GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", -400},
	{"obs_fold_sp_400", "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", -400},
	{"obs_fold_htab_400", "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n\tb\r\n\r\n", -400},
	{"ws_before_first_field_400", "GET / HTTP/1.1\r\n Host: a\r\n\r\n", -400},
	{"empty_name_400", "GET / HTTP/1.1\r\nHost: a\r\n: v\r\n\r\n", -400},
	{"no_colon_400", "GET / HTTP/1.1\r\nHost: a\r\nFoo\r\n\r\n", -400},
	{"name_not_token_400", "GET / HTTP/1.1\r\nHost: a\r\nFo(o: v\r\n\r\n", -400},
	{"name_non_ascii_400", "GET / HTTP/1.1\r\nHost: a\r\nF\xc3\xb6: v\r\n\r\n", -400},
	{"bare_cr_in_value_400", "GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", -400},
	{"bare_cr_line_end_400", "GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", -400},
	{"bare_cr_final_400", "GET / HTTP/1.1\r\nHost: a\r\n\rX", -400},
	{"bare_lf_field_end_400", "GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n", -400},
	{"bare_lf_final_400", "GET / HTTP/1.1\r\nHost: a\r\n\n", -400},
	WITH_NUL("nul_in_value_400", "GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n", -400),
	{"ctl_in_value_400", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x01\r\n\r\n", -400},
	{"esc_in_value_400", "GET / HTTP/1.1\r\nHost: a\r\nX: \x1b[0m\r\n\r\n", -400},
	{"del_in_value_400", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x7f\r\n\r\n", -400},
	{"expect_100_continue", "GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\n\r\n", OK},
	{"expect_other_417", "GET / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n", -417},
	{"expect_empty_417", "GET / HTTP/1.1\r\nHost: a\r\nExpect:\r\n\r\n", -417},
};

static void test_fields(void **state)
{
	(void)state;
	RUN_REQ(field_cases);
}

/* ---- Host ---- */

static const struct req_case host_cases[] = {
	{"host_with_port", "GET / HTTP/1.1\r\nHost: a.example:8080\r\n\r\n", OK},
	{"host_ipv4", "GET / HTTP/1.1\r\nHost: 192.0.2.1:80\r\n\r\n", OK},
	{"host_ipv6", "GET / HTTP/1.1\r\nHost: [2001:db8::1]:443\r\n\r\n", OK},
	{"host_ipv6_no_port", "GET / HTTP/1.1\r\nHost: [::1]\r\n\r\n", OK},
	{"host_port_65535", "GET / HTTP/1.1\r\nHost: a:65535\r\n\r\n", OK},
	{"host_name_case_insensitive", "GET / HTTP/1.1\r\nhOST: a\r\n\r\n", OK},
	{"host_missing_400", "GET / HTTP/1.1\r\nX: a\r\n\r\n", -400},
	{"host_duplicate_400", "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", -400},
	{"host_duplicate_http10_400", "GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n", -400},
	{"host_empty_400", "GET / HTTP/1.1\r\nHost: \r\n\r\n", -400},
	{"host_list_400", "GET / HTTP/1.1\r\nHost: a, b\r\n\r\n", -400},
	{"host_space_400", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", -400},
	{"host_userinfo_400", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", -400},
	{"host_pct_encoded_400", "GET / HTTP/1.1\r\nHost: ex%61mple\r\n\r\n", -400},
	{"host_empty_port_400", "GET / HTTP/1.1\r\nHost: a:\r\n\r\n", -400},
	{"host_port_65536_400", "GET / HTTP/1.1\r\nHost: a:65536\r\n\r\n", -400},
	{"host_port_six_digits_400", "GET / HTTP/1.1\r\nHost: a:000080\r\n\r\n", -400},
	{"host_port_not_digits_400", "GET / HTTP/1.1\r\nHost: a:8x\r\n\r\n", -400},
	{"host_only_port_400", "GET / HTTP/1.1\r\nHost: :80\r\n\r\n", -400},
	{"host_ipv6_unterminated_400", "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", -400},
	{"host_ipv6_bad_char_400", "GET / HTTP/1.1\r\nHost: [::g]\r\n\r\n", -400},
	{"host_ipv6_junk_after_400", "GET / HTTP/1.1\r\nHost: [::1]x\r\n\r\n", -400},
};

static void test_host(void **state)
{
	(void)state;
	RUN_REQ(host_cases);
}

/* ---- framing ---- */

static const struct req_case framing_cases[] = {
	{"cl_zero", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", OK},
	{"cl_five", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n", OK},
	{"cl_max", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775807\r\n\r\n", OK},
	{"cl_19_digits_leading_zeros",
	 "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0000000000000000005\r\n\r\n", OK},
	{"cl_name_case", "POST / HTTP/1.1\r\nHost: a\r\ncontent-LENGTH: 5\r\n\r\n", OK},
	{"te_chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", OK},
	{"te_chunked_any_case", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ChUnKeD \r\n\r\n",
	 OK},
	{"cl_and_te_400",
	 "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
	 -400},
	{"te_and_cl_400",
	 "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
	 -400},
	{"cl_duplicate_identical_400",
	 "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", -400},
	{"cl_list_identical_400", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n",
	 -400},
	{"cl_list_differing_400", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\n",
	 -400},
	{"cl_duplicate_differing_400",
	 "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", -400},
	{"cl_plus_400", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n", -400},
	{"cl_negative_400", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", -400},
	{"cl_hex_400", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n", -400},
	{"cl_inner_space_400", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length:  5 5\r\n\r\n", -400},
	{"cl_trailing_letter_400", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5a\r\n\r\n",
	 -400},
	{"cl_empty_400", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n", -400},
	{"cl_trailing_comma_400", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5,\r\n\r\n", -400},
	{"cl_over_2p63_400",
	 "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775808\r\n\r\n", -400},
	{"cl_20_digits_400",
	 "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 00000000000000000005\r\n\r\n", -400},
	{"te_gzip_chunked_501",
	 "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", -501},
	{"te_gzip_then_chunked_fields_501",
	 "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: "
	 "chunked\r\n\r\n",
	 -501},
	{"te_unknown_501", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: foo\r\n\r\n", -501},
	{"te_chunked_not_last_400",
	 "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", -400},
	{"te_chunked_twice_400",
	 "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", -400},
	{"te_chunked_two_fields_400",
	 "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: "
	 "chunked\r\n\r\n",
	 -400},
	{"te_empty_400", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \r\n\r\n", -400},
	{"te_empty_element_400",
	 "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ,chunked\r\n\r\n", -400},
	{"te_trailing_comma_400",
	 "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked,\r\n\r\n", -400},
	{"te_chunked_with_params_400",
	 "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;q=1\r\n\r\n", -400},
	{"te_space_separated_400",
	 "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip chunked\r\n\r\n", -400},
	{"te_near_miss_501", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunke\r\n\r\n",
	 -501},
	{"te_in_http10_400", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", -400},
};

static void test_framing(void **state)
{
	(void)state;
	RUN_REQ(framing_cases);
}

/* ---- what the parser reports ---- */

static void test_origin_form_fields(void **state)
{
	const char *raw =
		"GET /v1/orders?id=7 HTTP/1.1\r\nHost: Shop.Example:8080\r\nX-A: 1\r\n\r\n";

	(void)state;
	parse_ok(raw);
	assert_int_equal(req.method, HTTP_M_GET);
	assert_span(req.method_str, req.method_len, "GET");
	assert_span(req.target, req.target_len, "/v1/orders?id=7");
	assert_span(req.path, req.path_len, "/v1/orders");
	assert_span(req.host, req.host_len, "Shop.Example"); /* port removed, case kept */
	assert_true(req.host > raw && req.host < raw + strlen(raw));
	assert_int_equal(req.version_minor, 1);
	assert_int_equal(req.line_len, strlen("GET /v1/orders?id=7 HTTP/1.1\r\n"));
	assert_int_equal(req.head_len, strlen(raw));
	assert_int_equal(req.body, HTTP_BODY_NONE);
	assert_true(req.keep_alive);
	assert_false(req.expect_continue);
	assert_false(req.upgrade);
}

static void test_field_offsets(void **state)
{
	const char *raw = "GET / HTTP/1.1\r\nHost: a\r\nX-Pad:  \t padded value \t \r\nE:\r\n\r\n";
	const struct http_field *f;

	(void)state;
	parse_ok(raw);
	assert_int_equal(req.nfields, 3);
	f = &req.fields[0];
	assert_span(raw + f->name_off, f->name_len, "Host");
	assert_span(raw + f->value_off, f->value_len, "a");
	assert_span(raw + f->line_off, f->line_len, "Host: a\r\n");
	f = &req.fields[1];
	assert_span(raw + f->name_off, f->name_len, "X-Pad");
	assert_span(raw + f->value_off, f->value_len, "padded value");
	assert_span(raw + f->line_off, f->line_len, "X-Pad:  \t padded value \t \r\n");
	f = &req.fields[2];
	assert_span(raw + f->name_off, f->name_len, "E");
	assert_int_equal(f->value_len, 0);
	assert_span(raw + f->line_off, f->line_len, "E:\r\n");
	/* The lines tile the head: request line, fields, final CRLF. */
	assert_int_equal(f->line_off + f->line_len + 2, req.head_len);
}

static void test_absolute_form_authority_wins(void **state)
{
	(void)state;
	parse_ok("GET http://Legacy.example:81/a/b?c HTTP/1.1\r\nHost: legacy.EXAMPLE:81\r\n\r\n");
	assert_span(req.host, req.host_len, "Legacy.example");
	assert_span(req.path, req.path_len, "/a/b");
	assert_span(req.target, req.target_len, "http://Legacy.example:81/a/b?c");
}

static void test_absolute_form_empty_path_is_slash(void **state)
{
	(void)state;
	parse_ok("GET http://a.example?x=1 HTTP/1.1\r\nHost: a.example\r\n\r\n");
	assert_span(req.path, req.path_len, "/");
	assert_span(req.host, req.host_len, "a.example");
	parse_ok("GET https://[::1]:8443 HTTP/1.1\r\nHost: [::1]:8443\r\n\r\n");
	assert_span(req.path, req.path_len, "/");
	assert_span(req.host, req.host_len, "[::1]");
}

static void test_asterisk_form_path(void **state)
{
	(void)state;
	parse_ok("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n");
	assert_int_equal(req.method, HTTP_M_OPTIONS);
	assert_span(req.path, req.path_len, "*");
}

static void test_http10_without_host_has_no_host(void **state)
{
	(void)state;
	parse_ok("GET /x HTTP/1.0\r\n\r\n");
	assert_null(req.host);
	assert_int_equal(req.host_len, 0);
	assert_int_equal(req.version_minor, 0);
	assert_false(req.keep_alive);
}

static void test_body_content_length(void **state)
{
	(void)state;
	parse_ok("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 42\r\n\r\n");
	assert_int_equal(req.body, HTTP_BODY_LENGTH);
	assert_int_equal(req.content_length, 42);
	parse_ok("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775807\r\n\r\n");
	assert_int_equal(req.body, HTTP_BODY_LENGTH);
	assert_true(req.content_length == 9223372036854775807ull);
}

static void test_body_content_length_zero_is_none(void **state)
{
	(void)state;
	parse_ok("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n");
	assert_int_equal(req.body, HTTP_BODY_NONE);
	assert_int_equal(req.content_length, 0);
}

static void test_body_chunked(void **state)
{
	(void)state;
	parse_ok("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n");
	assert_int_equal(req.body, HTTP_BODY_CHUNKED);
}

static void test_body_none_without_framing(void **state)
{
	(void)state;
	parse_ok("POST / HTTP/1.1\r\nHost: a\r\n\r\n");
	assert_int_equal(req.body, HTTP_BODY_NONE);
}

static void test_keep_alive_http11(void **state)
{
	(void)state;
	parse_ok("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
	assert_true(req.keep_alive);
	parse_ok("GET / HTTP/1.1\r\nHost: a\r\nConnection: Close\r\n\r\n");
	assert_false(req.keep_alive);
	parse_ok("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, close\r\n\r\n");
	assert_false(req.keep_alive);
	parse_ok("GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nConnection: , close\r\n\r\n");
	assert_false(req.keep_alive);
	parse_ok("GET / HTTP/1.1\r\nHost: a\r\nConnection: closed\r\n\r\n");
	assert_true(req.keep_alive);
}

static void test_keep_alive_http10(void **state)
{
	(void)state;
	parse_ok("GET / HTTP/1.0\r\n\r\n");
	assert_false(req.keep_alive);
	parse_ok("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
	assert_true(req.keep_alive);
	parse_ok("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n");
	assert_false(req.keep_alive);
}

static void test_expect_continue(void **state)
{
	(void)state;
	parse_ok("PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n");
	assert_true(req.expect_continue);
	/* RFC 9110 10.1.1: a 100-continue expectation in an HTTP/1.0 request is ignored. */
	parse_ok("PUT / HTTP/1.0\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n");
	assert_false(req.expect_continue);
}

static void test_upgrade_flag(void **state)
{
	(void)state;
	parse_ok("GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
	assert_true(req.upgrade);
}

static void test_body_bytes_after_head_not_counted(void **state)
{
	const char *head = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n";
	char buf[256];

	(void)state;
	snprintf(buf, sizeof(buf), "%shelloGET / HTTP/1.1\r\n", head);
	assert_int_equal(http_parse_request(buf, strlen(buf), NULL, &req), (int)strlen(head));
}

static void test_incomplete_returns_zero(void **state)
{
	(void)state;
	assert_int_equal(http_parse_request("", 0, NULL, &req), 0);
	assert_int_equal(http_parse_request("GET / HTTP/1.1\r", 15, NULL, &req), 0);
	assert_int_equal(http_parse_request("GET / HTTP/1.1\r\nHost: a\r\n\r", 26, NULL, &req), 0);
}

/* ---- limits ---- */

/* A request whose request line is exactly n bytes including CRLF. */
static char *request_with_line(size_t n, const char *rest)
{
	size_t fixed = strlen("GET / HTTP/1.1\r\n"), pad = n - fixed, rl = strlen(rest);
	char *buf = malloc(n + rl + 1);

	assert_non_null(buf);
	memcpy(buf, "GET /", 5);
	memset(buf + 5, 'a', pad);
	memcpy(buf + 5 + pad, " HTTP/1.1\r\n", 11);
	memcpy(buf + n, rest, rl + 1);
	return buf;
}

static void test_request_line_at_limit(void **state)
{
	struct http_limits lim;
	char *buf;

	(void)state;
	http_limits_default(&lim);
	buf = request_with_line(lim.max_request_line, "Host: a\r\n\r\n");
	assert_int_equal(http_parse_request(buf, strlen(buf), &lim, &req), (int)strlen(buf));
	free(buf);
}

static void test_request_line_over_limit_414(void **state)
{
	struct http_limits lim;
	char *buf;

	(void)state;
	http_limits_default(&lim);
	buf = request_with_line(lim.max_request_line + 1, "Host: a\r\n\r\n");
	assert_int_equal(http_parse_request(buf, strlen(buf), &lim, &req), -414);
	free(buf);
}

static void test_request_line_414_while_incomplete(void **state)
{
	struct http_limits lim = {.max_request_line = 64, .max_head = 1024, .max_fields = 10};
	char buf[128];

	(void)state;
	memcpy(buf, "GET /", 5);
	memset(buf + 5, 'a', sizeof(buf) - 5);
	/* 63 bytes without LF can still become a 64-byte line; 64 cannot. */
	assert_int_equal(http_parse_request(buf, 63, &lim, &req), 0);
	assert_int_equal(http_parse_request(buf, 64, &lim, &req), -414);
	assert_int_equal(http_parse_request(buf, sizeof(buf), &lim, &req), -414);
}

/* A head of exactly n bytes: request line, Host, one padding field, final CRLF. */
static char *head_of_size(size_t n)
{
	const char *pre = "GET / HTTP/1.1\r\nHost: a\r\nX: ";
	size_t pl = strlen(pre), pad = n - pl - 4;
	char *buf = malloc(n + 1);

	assert_non_null(buf);
	memcpy(buf, pre, pl);
	memset(buf + pl, 'v', pad);
	memcpy(buf + pl + pad, "\r\n\r\n", 5);
	return buf;
}

static void test_head_at_limit(void **state)
{
	struct http_limits lim;
	char *buf;

	(void)state;
	http_limits_default(&lim);
	buf = head_of_size(lim.max_head);
	assert_int_equal(strlen(buf), lim.max_head);
	assert_int_equal(http_parse_request(buf, strlen(buf), &lim, &req), (int)lim.max_head);
	free(buf);
}

static void test_head_over_limit_431(void **state)
{
	struct http_limits lim;
	char *buf;

	(void)state;
	http_limits_default(&lim);
	buf = head_of_size(lim.max_head + 1);
	assert_int_equal(http_parse_request(buf, strlen(buf), &lim, &req), -431);
	free(buf);
}

static void test_head_431_while_incomplete(void **state)
{
	struct http_limits lim = {.max_request_line = 64, .max_head = 128, .max_fields = 10};
	char *buf = head_of_size(400);

	(void)state;
	assert_int_equal(http_parse_request(buf, 127, &lim, &req), 0);
	assert_int_equal(http_parse_request(buf, 128, &lim, &req), -431);
	assert_int_equal(http_parse_request(buf, 300, &lim, &req), -431);
	free(buf);
}

/* A request with n "X: v" fields after Host (n + 1 fields in all). */
static char *request_with_fields(unsigned n)
{
	char *buf = malloc(64 + (size_t)n * 6), *p;
	unsigned i;

	assert_non_null(buf);
	p = buf + sprintf(buf, "GET / HTTP/1.1\r\nHost: a\r\n");
	for (i = 0; i < n; i++)
		p += sprintf(p, "X: v\r\n");
	strcpy(p, "\r\n");
	return buf;
}

static void test_max_fields(void **state)
{
	struct http_limits lim;
	char *buf;

	(void)state;
	http_limits_default(&lim);
	buf = request_with_fields(lim.max_fields - 1);
	assert_int_equal(http_parse_request(buf, strlen(buf), &lim, &req), (int)strlen(buf));
	assert_int_equal(req.nfields, lim.max_fields);
	free(buf);
	buf = request_with_fields(lim.max_fields);
	assert_int_equal(http_parse_request(buf, strlen(buf), &lim, &req), -431);
	free(buf);
}

static void test_max_fields_capped(void **state)
{
	struct http_limits lim = {
		.max_request_line = 8192, .max_head = 65536, .max_fields = 100000};
	char *buf;

	(void)state;
	buf = request_with_fields(HTTP_MAX_FIELDS_CAP - 1);
	assert_int_equal(http_parse_request(buf, strlen(buf), &lim, &req), (int)strlen(buf));
	assert_int_equal(req.nfields, HTTP_MAX_FIELDS_CAP);
	free(buf);
	buf = request_with_fields(HTTP_MAX_FIELDS_CAP);
	assert_int_equal(http_parse_request(buf, strlen(buf), &lim, &req), -431);
	free(buf);
}

static void test_limits_default(void **state)
{
	struct http_limits lim;

	(void)state;
	http_limits_default(&lim);
	assert_int_equal(lim.max_request_line, 8192);
	assert_int_equal(lim.max_head, 16384);
	assert_int_equal(lim.max_fields, 100);
	assert_true(lim.max_fields <= HTTP_MAX_FIELDS_CAP);
}

/* ---- methods and reasons ---- */

static void test_method_names_round_trip(void **state)
{
	int m;

	(void)state;
	/* Also proves STRG_M_* in http_scan.h still equal enum http_method. */
	for (m = HTTP_M_GET; m < HTTP_M_COUNT; m++) {
		const char *name = http_method_name(m);

		assert_int_equal(http_method_lookup(name, strlen(name)), m);
	}
	assert_int_equal(http_method_lookup("GETS", 4), HTTP_M_UNKNOWN);
	assert_int_equal(http_method_lookup("", 0), HTTP_M_UNKNOWN);
	assert_int_equal(http_method_lookup("Get", 3), HTTP_M_UNKNOWN);
	assert_string_equal(http_method_name(HTTP_M_COUNT), "UNKNOWN");
}

static void test_reasons(void **state)
{
	(void)state;
	assert_string_equal(http_reason(200), "OK");
	assert_string_equal(http_reason(400), "Bad Request");
	assert_string_equal(http_reason(408), "Request Timeout");
	assert_string_equal(http_reason(413), "Content Too Large");
	assert_string_equal(http_reason(414), "URI Too Long");
	assert_string_equal(http_reason(417), "Expectation Failed");
	assert_string_equal(http_reason(431), "Request Header Fields Too Large");
	assert_string_equal(http_reason(501), "Not Implemented");
	assert_string_equal(http_reason(502), "Bad Gateway");
	assert_string_equal(http_reason(503), "Service Unavailable");
	assert_string_equal(http_reason(504), "Gateway Timeout");
	assert_string_equal(http_reason(505), "HTTP Version Not Supported");
	assert_string_equal(http_reason(299), "Error");
}

/* ---- shared scanners (http_scan.h) ---- */

static void test_scan_tchar(void **state)
{
	const char *yes = "!#$%&'*+-.^_`|~09azAZ", *no = "\"(),/:;<=>?@[\\]{} \t\x7f\x80";
	unsigned c;

	(void)state;
	for (; *yes; yes++)
		assert_true(strg_is_tchar(*yes));
	for (; *no; no++)
		assert_false(strg_is_tchar(*no));
	for (c = 0; c < 0x20; c++)
		assert_false(strg_is_tchar(c));
}

static void test_scan_field_chars(void **state)
{
	unsigned c;

	(void)state;
	for (c = 0; c < 256; c++) {
		bool want = c == '\t' || (c >= 0x20 && c != 0x7f);

		assert_int_equal(!!strg_is_field_content(c), want);
	}
}

static void test_scan_content_length(void **state)
{
	__u64 v = 1;

	(void)state;
	assert_int_equal(strg_parse_content_length("0", 1, &v), 0);
	assert_true(v == 0);
	assert_int_equal(strg_parse_content_length("9223372036854775807", 19, &v), 0);
	assert_true(v == 9223372036854775807ull);
	assert_int_equal(strg_parse_content_length("9223372036854775808", 19, &v), -1);
	assert_int_equal(strg_parse_content_length("9999999999999999999", 19, &v), -1);
	assert_int_equal(strg_parse_content_length("", 0, &v), -1);
	assert_int_equal(strg_parse_content_length("1 ", 2, &v), -1);
}

static void test_scan_hex_and_lc_eq(void **state)
{
	(void)state;
	assert_int_equal(strg_hex_val('0'), 0);
	assert_int_equal(strg_hex_val('a'), 10);
	assert_int_equal(strg_hex_val('F'), 15);
	assert_int_equal(strg_hex_val('g'), -1);
	assert_int_equal(strg_hex_val(' '), -1);
	assert_true(strg_lc_eq("ChUnKeD", 7, "chunked", 7));
	assert_false(strg_lc_eq("chunked", 7, "chunke", 6));
	assert_false(strg_lc_eq("chunkeD", 7, "chunkex", 7));
	/* Only ASCII letters fold: '[' (0x5b) must not match '{' (0x7b). */
	assert_false(strg_lc_eq("[", 1, "{", 1));
}

static void test_scan_check_path(void **state)
{
	(void)state;
	assert_int_equal(strg_check_path("", 0), 0);
	assert_int_equal(strg_check_path("/a/b?c", 6), 4);
	assert_int_equal(strg_check_path("?c", 2), 0);
	assert_int_equal(strg_check_path("/a/..", 5), -1);
	assert_int_equal(strg_check_path("/a/..b", 6), 6);
	assert_int_equal(strg_check_path("/%2e%2E", 7), -1);
	assert_int_equal(strg_check_path("/%2e%2e%2e", 10), 10);
	assert_int_equal(strg_check_path("/a?%2", 5), -1);
}

/* ---- responses ---- */

struct resp_case {
	const char *name;
	const char *raw;
	enum http_method method;
	int want; /* OK, 0 or -502 */
	enum http_body body;
	bool keep_alive;
	uint64_t content_length;
	unsigned status;
};

static const struct resp_case resp_cases[] = {
	{"ok_length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", HTTP_M_GET, OK,
	 HTTP_BODY_LENGTH, true, 5, 200},
	{"length_zero", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", HTTP_M_GET, OK,
	 HTTP_BODY_NONE, true, 0, 200},
	{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", HTTP_M_GET, OK,
	 HTTP_BODY_CHUNKED, true, 0, 200},
	{"gzip_then_chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
	 HTTP_M_GET, OK, HTTP_BODY_CHUNKED, true, 0, 200},
	{"te_not_chunked_is_close", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
	 HTTP_M_GET, OK, HTTP_BODY_CLOSE, false, 0, 200},
	{"no_framing_is_close", "HTTP/1.1 200 OK\r\n\r\n", HTTP_M_GET, OK, HTTP_BODY_CLOSE, false,
	 0, 200},
	{"head_request_has_no_body", "HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", HTTP_M_HEAD,
	 OK, HTTP_BODY_NONE, true, 99, 200},
	{"status_204", "HTTP/1.1 204 No Content\r\n\r\n", HTTP_M_GET, OK, HTTP_BODY_NONE, true, 0,
	 204},
	{"status_304", "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", HTTP_M_GET, OK,
	 HTTP_BODY_NONE, true, 10, 304},
	{"status_100", "HTTP/1.1 100 Continue\r\n\r\n", HTTP_M_PUT, OK, HTTP_BODY_NONE, true, 0,
	 100},
	{"status_101", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n", HTTP_M_GET,
	 OK, HTTP_BODY_NONE, true, 0, 101},
	{"empty_reason", "HTTP/1.1 200 \r\nContent-Length: 1\r\n\r\n", HTTP_M_GET, OK,
	 HTTP_BODY_LENGTH, true, 1, 200},
	{"no_reason_no_sp", "HTTP/1.1 200\r\nContent-Length: 1\r\n\r\n", HTTP_M_GET, OK,
	 HTTP_BODY_LENGTH, true, 1, 200},
	{"reason_with_obs_text", "HTTP/1.1 404 Nicht gef\xc3\xbcnden\r\nContent-Length: 1\r\n\r\n",
	 HTTP_M_GET, OK, HTTP_BODY_LENGTH, true, 1, 404},
	{"connection_close", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\n",
	 HTTP_M_GET, OK, HTTP_BODY_LENGTH, false, 1, 200},
	{"http10_default_close", "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", HTTP_M_GET, OK,
	 HTTP_BODY_LENGTH, false, 1, 200},
	{"http10_keep_alive",
	 "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\n", HTTP_M_GET, OK,
	 HTTP_BODY_LENGTH, true, 1, 200},
	{"http10_keep_alive_but_close_delimited",
	 "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n", HTTP_M_GET, OK, HTTP_BODY_CLOSE,
	 false, 0, 200},
	{"identical_cl_duplicates_folded",
	 "HTTP/1.1 200 OK\r\nContent-Length: 7\r\nContent-Length: 7\r\n\r\n", HTTP_M_GET, OK,
	 HTTP_BODY_LENGTH, true, 7, 200},
	{"identical_cl_list_folded", "HTTP/1.1 200 OK\r\nContent-Length: 7, 7\r\n\r\n", HTTP_M_GET,
	 OK, HTTP_BODY_LENGTH, true, 7, 200},
	{"differing_cl_502", "HTTP/1.1 200 OK\r\nContent-Length: 7\r\nContent-Length: 8\r\n\r\n",
	 HTTP_M_GET, -502},
	{"invalid_cl_502", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", HTTP_M_GET, -502},
	{"cl_and_te_502",
	 "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", HTTP_M_GET,
	 -502},
	{"chunked_not_last_502", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
	 HTTP_M_GET, -502},
	{"te_in_http10_502", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", HTTP_M_GET,
	 -502},
	{"bare_lf_502", "HTTP/1.1 200 OK\nContent-Length: 1\r\n\r\n", HTTP_M_GET, -502},
	{"bare_lf_in_fields_502", "HTTP/1.1 200 OK\r\nContent-Length: 1\n\r\n", HTTP_M_GET, -502},
	{"obs_fold_502", "HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", HTTP_M_GET, -502},
	{"ctl_in_value_502", "HTTP/1.1 200 OK\r\nX: a\x01\r\n\r\n", HTTP_M_GET, -502},
	{"version_2_502", "HTTP/2.0 200 OK\r\n\r\n", HTTP_M_GET, -502},
	{"lowercase_version_502", "http/1.1 200 OK\r\n\r\n", HTTP_M_GET, -502},
	{"two_digit_status_502", "HTTP/1.1 20 OK\r\n\r\n", HTTP_M_GET, -502},
	{"status_not_digits_502", "HTTP/1.1 2x0 OK\r\n\r\n", HTTP_M_GET, -502},
	{"status_below_100_502", "HTTP/1.1 099 OK\r\n\r\n", HTTP_M_GET, -502},
	{"four_digit_status_502", "HTTP/1.1 2000 OK\r\n\r\n", HTTP_M_GET, -502},
	{"ctl_in_reason_502", "HTTP/1.1 200 O\x01K\r\n\r\n", HTTP_M_GET, -502},
};

static void test_responses(void **state)
{
	struct http_response resp;
	unsigned failed = 0;
	size_t i, k, len;
	int r, want;

	(void)state;
	for (i = 0; i < sizeof(resp_cases) / sizeof(resp_cases[0]); i++) {
		const struct resp_case *c = &resp_cases[i];

		len = strlen(c->raw);
		want = want_of(c->want, len);
		r = http_parse_response(c->raw, len, 16384, c->method, &resp);
		if (r != want) {
			print_error("response case '%s': got %d, want %d\n", c->name, r, want);
			failed++;
			continue;
		}
		if (r > 0 && (resp.body != c->body || resp.keep_alive != c->keep_alive ||
			      resp.content_length != c->content_length ||
			      resp.status != c->status || resp.head_len != len)) {
			print_error("response case '%s': body %d keep_alive %d cl %llu status %u\n",
				    c->name, resp.body, resp.keep_alive,
				    (unsigned long long)resp.content_length, resp.status);
			failed++;
			continue;
		}
		for (k = 0; k < len; k++) {
			r = http_parse_response(c->raw, k, 16384, c->method, &resp);
			if (r != 0 && (want > 0 || r != want)) {
				print_error("response case '%s': prefix %zu got %d\n", c->name, k,
					    r);
				failed++;
				break;
			}
		}
	}
	assert_int_equal(failed, 0);
}

static void test_response_max_head(void **state)
{
	const char *raw = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n";
	size_t len = strlen(raw);
	struct http_response resp;

	(void)state;
	assert_int_equal(http_parse_response(raw, len, len, HTTP_M_GET, &resp), (int)len);
	assert_int_equal(http_parse_response(raw, len, len - 1, HTTP_M_GET, &resp), -502);
	/* Incomplete and already at the limit. */
	assert_int_equal(http_parse_response(raw, 20, 20, HTTP_M_GET, &resp), -502);
	assert_int_equal(http_parse_response(raw, 19, 20, HTTP_M_GET, &resp), 0);
}

static void test_response_version_minor(void **state)
{
	const char *raw = "HTTP/1.0 200 OK\r\n\r\n";
	struct http_response resp;

	(void)state;
	assert_int_equal(http_parse_response(raw, strlen(raw), 16384, HTTP_M_GET, &resp),
			 (int)strlen(raw));
	assert_int_equal(resp.version_minor, 0);
}

/* ---- chunked bodies ---- */

struct chunk_case {
	const char *name;
	const char *body; /* a chunked body, followed by "NEXT" unless it is malformed */
	bool ok;
};

static const struct chunk_case chunk_cases[] = {
	{"single_chunk", "5\r\nhello\r\n0\r\n\r\n", true},
	{"two_chunks", "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", true},
	{"empty_body", "0\r\n\r\n", true},
	{"hex_upper_lower", "A\r\n0123456789\r\na\r\n0123456789\r\n0\r\n\r\n", true},
	{"leading_zeros", "0005\r\nhello\r\n000\r\n\r\n", true},
	{"extension", "5;name=value\r\nhello\r\n0;x\r\n\r\n", true},
	{"extension_quoted", "5;n=\"a b;c\"\r\nhello\r\n0\r\n\r\n", true},
	{"extension_bws", "5 ;n\r\nhello\r\n0\r\n\r\n", true},
	{"trailers", "5\r\nhello\r\n0\r\nX-Sum: 1\r\nY: 2\r\n\r\n", true},
	{"data_with_crlf_inside", "4\r\n\r\n\r\n\r\n0\r\n\r\n", true},
	{"empty_size_bad", "\r\nhello\r\n0\r\n\r\n", false},
	{"non_hex_size_bad", "g\r\nhello\r\n0\r\n\r\n", false},
	{"size_then_garbage_bad", "5x\r\nhello\r\n0\r\n\r\n", false},
	{"size_then_space_bad", "5 \r\nhello\r\n0\r\n\r\n", false},
	{"negative_size_bad", "-5\r\nhello\r\n0\r\n\r\n", false},
	{"size_prefix_0x_bad", "0x5\r\nhello\r\n0\r\n\r\n", false},
	{"size_overflow_bad", "10000000000000001\r\n", false},
	{"size_bare_lf_bad", "5\nhello\r\n0\r\n\r\n", false},
	{"size_bare_cr_bad", "5\rXhello\r\n0\r\n\r\n", false},
	{"extension_bare_lf_bad", "5;a\nhello\r\n0\r\n\r\n", false},
	{"extension_ctl_bad", "5;a\x01\r\nhello\r\n0\r\n\r\n", false},
	{"data_too_long_bad", "5\r\nhelloX\r\n0\r\n\r\n", false},
	{"data_lf_only_bad", "5\r\nhello\n0\r\n\r\n", false},
	{"data_cr_only_bad", "5\r\nhello\r0\r\n\r\n", false},
	{"trailer_bare_lf_bad", "0\r\nX: 1\n\r\n", false},
	{"trailer_obs_fold_bad", "0\r\nX: 1\r\n 2\r\n\r\n", false},
	{"trailer_ctl_bad", "0\r\nX: \x01\r\n\r\n", false},
	{"final_bare_lf_bad", "0\r\n\n", false},
	{"final_cr_garbage_bad", "0\r\n\rX", false},
};

/* Feed body+"NEXT" in pieces of `step` bytes; returns the body bytes counted or -1. */
static long feed_in_steps(const char *buf, size_t len, size_t step, bool *done)
{
	struct http_chunked c;
	size_t off = 0, n;
	long r, total = 0;

	http_chunked_init(&c);
	*done = false;
	while (off < len && !*done) {
		n = len - off < step ? len - off : step;
		r = http_chunked_feed(&c, buf + off, n, done);
		if (r < 0)
			return -1;
		if ((size_t)r != n && !*done)
			return -2; /* stopped early without finishing: a scanner bug */
		total += r;
		off += n;
	}
	return total;
}

static void test_chunked_cases(void **state)
{
	static const size_t steps[] = {1, 2, 3, 7, 4096};
	unsigned failed = 0;
	char buf[512];
	size_t i, s, len, body_len;
	bool done;
	long r;

	(void)state;
	for (i = 0; i < sizeof(chunk_cases) / sizeof(chunk_cases[0]); i++) {
		const struct chunk_case *c = &chunk_cases[i];

		body_len = strlen(c->body);
		len = (size_t)snprintf(buf, sizeof(buf), "%sNEXT", c->body);
		for (s = 0; s < sizeof(steps) / sizeof(steps[0]); s++) {
			r = feed_in_steps(buf, len, steps[s], &done);
			if (c->ok ? (r != (long)body_len || !done) : r != -1) {
				print_error("chunked case '%s' in steps of %zu: got %ld done %d\n",
					    c->name, steps[s], r, done);
				failed++;
			}
		}
	}
	assert_int_equal(failed, 0);
}

static void test_chunked_every_split(void **state)
{
	const char *body = "3;e=\"q\"\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nT: v\r\n\r\n";
	size_t len = strlen(body), k;
	struct http_chunked c;
	bool done;
	long a, b;

	(void)state;
	for (k = 0; k <= len; k++) {
		http_chunked_init(&c);
		a = http_chunked_feed(&c, body, k, &done);
		assert_int_equal(a, (long)k);
		assert_int_equal(done, k == len);
		b = http_chunked_feed(&c, body + k, len - k, &done);
		assert_int_equal(b, (long)(len - k));
		assert_true(done);
	}
}

static void test_chunked_stops_at_end(void **state)
{
	const char *buf = "1\r\nx\r\n0\r\n\r\nGET / HTTP/1.1\r\n";
	struct http_chunked c;
	bool done = false;

	(void)state;
	http_chunked_init(&c);
	assert_int_equal(http_chunked_feed(&c, buf, strlen(buf), &done), 11);
	assert_true(done);
	/* Once done, nothing more belongs to the body. */
	assert_int_equal(http_chunked_feed(&c, buf + 11, 3, &done), 0);
	assert_true(done);
}

static void test_chunked_large_chunk_counts_down(void **state)
{
	char data[4096];
	struct http_chunked c;
	bool done;
	int i;

	(void)state;
	memset(data, 'z', sizeof(data));
	http_chunked_init(&c);
	assert_int_equal(http_chunked_feed(&c, "100000\r\n", 8, &done), 8); /* 1 MiB chunk */
	for (i = 0; i < 256; i++)
		assert_int_equal(http_chunked_feed(&c, data, sizeof(data), &done), sizeof(data));
	assert_false(done);
	assert_int_equal(http_chunked_feed(&c, "\r\n0\r\n\r\n", 7, &done), 7);
	assert_true(done);
}

static void test_chunked_size_limit(void **state)
{
	struct http_chunked c;
	bool done;

	(void)state;
	/* 2^60 exactly is the largest chunk we accept. */
	http_chunked_init(&c);
	assert_int_equal(http_chunked_feed(&c, "1000000000000000\r\n", 18, &done), 18);
	assert_true(c.remaining == 1ull << 60);
	http_chunked_init(&c);
	assert_int_equal(http_chunked_feed(&c, "1000000000000001\r\n", 18, &done), -1);
	http_chunked_init(&c);
	assert_int_equal(http_chunked_feed(&c, "ffffffffffffffffff\r\n", 20, &done), -1);
}

static void test_chunked_size_line_bounded(void **state)
{
	char ext[9000];
	struct http_chunked c;
	bool done;

	(void)state;
	memset(ext, 'a', sizeof(ext));
	ext[0] = '1';
	ext[1] = ';';
	http_chunked_init(&c);
	assert_int_equal(http_chunked_feed(&c, ext, sizeof(ext), &done), -1);
}

static void test_chunked_trailer_bounded(void **state)
{
	char line[1002];
	struct http_chunked c;
	bool done;
	int i;

	(void)state;
	memset(line, 'v', sizeof(line));
	memcpy(line, "X: ", 3);
	memcpy(line + sizeof(line) - 2, "\r\n", 2);
	http_chunked_init(&c);
	assert_int_equal(http_chunked_feed(&c, "0\r\n", 3, &done), 3);
	/* 16 lines of 1002 bytes fit in 16 KiB; the 17th does not. */
	for (i = 0; i < 16; i++)
		assert_int_equal(http_chunked_feed(&c, line, sizeof(line), &done), sizeof(line));
	assert_int_equal(http_chunked_feed(&c, line, sizeof(line), &done), -1);
}

static void test_chunked_error_is_sticky(void **state)
{
	struct http_chunked c;
	bool done;

	(void)state;
	http_chunked_init(&c);
	assert_int_equal(http_chunked_feed(&c, "z", 1, &done), -1);
	assert_int_equal(http_chunked_feed(&c, "0\r\n\r\n", 5, &done), -1);
	assert_false(done);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_line),
		cmocka_unit_test(test_request_target),
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_host),
		cmocka_unit_test(test_framing),
		cmocka_unit_test(test_origin_form_fields),
		cmocka_unit_test(test_field_offsets),
		cmocka_unit_test(test_absolute_form_authority_wins),
		cmocka_unit_test(test_absolute_form_empty_path_is_slash),
		cmocka_unit_test(test_asterisk_form_path),
		cmocka_unit_test(test_http10_without_host_has_no_host),
		cmocka_unit_test(test_body_content_length),
		cmocka_unit_test(test_body_content_length_zero_is_none),
		cmocka_unit_test(test_body_chunked),
		cmocka_unit_test(test_body_none_without_framing),
		cmocka_unit_test(test_keep_alive_http11),
		cmocka_unit_test(test_keep_alive_http10),
		cmocka_unit_test(test_expect_continue),
		cmocka_unit_test(test_upgrade_flag),
		cmocka_unit_test(test_body_bytes_after_head_not_counted),
		cmocka_unit_test(test_incomplete_returns_zero),
		cmocka_unit_test(test_request_line_at_limit),
		cmocka_unit_test(test_request_line_over_limit_414),
		cmocka_unit_test(test_request_line_414_while_incomplete),
		cmocka_unit_test(test_head_at_limit),
		cmocka_unit_test(test_head_over_limit_431),
		cmocka_unit_test(test_head_431_while_incomplete),
		cmocka_unit_test(test_max_fields),
		cmocka_unit_test(test_max_fields_capped),
		cmocka_unit_test(test_limits_default),
		cmocka_unit_test(test_method_names_round_trip),
		cmocka_unit_test(test_reasons),
		cmocka_unit_test(test_scan_tchar),
		cmocka_unit_test(test_scan_field_chars),
		cmocka_unit_test(test_scan_content_length),
		cmocka_unit_test(test_scan_hex_and_lc_eq),
		cmocka_unit_test(test_scan_check_path),
		cmocka_unit_test(test_responses),
		cmocka_unit_test(test_response_max_head),
		cmocka_unit_test(test_response_version_minor),
		cmocka_unit_test(test_chunked_cases),
		cmocka_unit_test(test_chunked_every_split),
		cmocka_unit_test(test_chunked_stops_at_end),
		cmocka_unit_test(test_chunked_large_chunk_counts_down),
		cmocka_unit_test(test_chunked_size_limit),
		cmocka_unit_test(test_chunked_size_line_bounded),
		cmocka_unit_test(test_chunked_trailer_bounded),
		cmocka_unit_test(test_chunked_error_is_sticky),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
