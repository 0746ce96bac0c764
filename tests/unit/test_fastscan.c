// SPDX-License-Identifier: GPL-2.0-only
/* Unit tests for the kernel fast-path head scanners: what they accept, and that it is a subset. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <linux/types.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strg/fastscan.h"
#include "core/http.h"

#define MORE STRG_FS_MORE
#define DONE STRG_FS_DONE
#define PASS STRG_FS_PASS

/* One head and the scanner's expected answer; len from sizeof so that rows may hold NUL. */
struct req_row {
	const char *name;
	const char *raw;
	size_t len;
	int want;
};

#define REQ(name, raw, want)                                                                       \
	{                                                                                          \
		name, raw, sizeof(raw) - 1, want                                                   \
	}

struct resp_row {
	const char *name;
	const char *raw;
	size_t len;
	unsigned method; /* STRG_M_* of the request answered */
	int want;
	__u64 content_length; /* when DONE */
};

#define RESP(name, raw, method, want, cl)                                                          \
	{                                                                                          \
		name, raw, sizeof(raw) - 1, method, want, cl                                       \
	}

static struct http_request req;

static __u64 fnv_n(const char *s, size_t n)
{
	__u64 h = STRG_FNV_OFFSET;

	while (n--)
		h = strg_fnv_step(h, (__u8)*s++);
	return h;
}

static __u64 fnv(const char *s)
{
	return fnv_n(s, strlen(s));
}

static __u64 fnv_lower(const char *s, size_t n)
{
	__u64 h = STRG_FNV_OFFSET;

	while (n--)
		h = strg_fnv_step(h, strg_lower((__u8)*s++));
	return h;
}

static __u64 pack(const char *s)
{
	__u64 w = 0;

	while (*s)
		w = w << 8 | (__u8)*s++;
	return w;
}

/* Feed buf until the scanner answers; *at is how many bytes it took (len if it wants more). */
static int feed_req(struct strg_req_scan *s, const char *buf, size_t len, size_t *at)
{
	size_t i;
	int r;

	memset(s, 0, sizeof(*s));
	for (i = 0; i < len; i++) {
		r = strg_req_step(s, (__u8)buf[i]);
		if (r != MORE) {
			*at = i + 1;
			return r;
		}
	}
	*at = len;
	return MORE;
}

static int feed_resp(struct strg_resp_scan *s, unsigned method, const char *buf, size_t len,
		     size_t *at)
{
	size_t i;
	int r;

	memset(s, 0, sizeof(*s));
	s->req_method = method;
	for (i = 0; i < len; i++) {
		r = strg_resp_step(s, (__u8)buf[i]);
		if (r != MORE) {
			*at = i + 1;
			return r;
		}
	}
	*at = len;
	return MORE;
}

static int scan_req(const char *raw, struct strg_req_scan *s)
{
	size_t at, len = strlen(raw);
	int r = feed_req(s, raw, len, &at);

	/* DONE must come with the last byte of a whole head, never earlier. */
	if (r == DONE)
		assert_int_equal(at, len);
	return r;
}

static int scan_resp(const char *raw, unsigned method, struct strg_resp_scan *s)
{
	size_t at, len = strlen(raw);
	int r = feed_resp(s, method, raw, len, &at);

	if (r == DONE)
		assert_int_equal(at, len);
	return r;
}

/* A head of exactly n bytes: "GET / HTTP/1.1", Host, then one X-Pad field filling the rest. */
static char *padded_req(size_t n)
{
	static const char pre[] = "GET / HTTP/1.1\r\nHost: a\r\nX-Pad: ";
	size_t fixed = sizeof(pre) - 1 + 4, i;
	char *b = malloc(n + 1);

	assert_non_null(b);
	assert_true(n > fixed);
	memcpy(b, pre, sizeof(pre) - 1);
	for (i = sizeof(pre) - 1; i < n - 4; i++)
		b[i] = 'x';
	memcpy(b + n - 4, "\r\n\r\n", 5);
	return b;
}

/* "GET " path " HTTP/1.1", Host, and nfields extra fields. */
static char *req_with(const char *path, unsigned nfields)
{
	size_t cap = strlen(path) + 64 + nfields * 16, off;
	char *b = malloc(cap);
	unsigned i;

	assert_non_null(b);
	off = (size_t)snprintf(b, cap, "GET %s HTTP/1.1\r\nHost: a\r\n", path);
	for (i = 0; i < nfields; i++)
		off += (size_t)snprintf(b + off, cap - off, "X-%u: v\r\n", i);
	snprintf(b + off, cap - off, "\r\n");
	return b;
}

/* ---- constants ------------------------------------------------------------------------ */

/* Known answers from the FNV reference's FNV-1a 64 test vectors: strg_fnv_step is the real
 * FNV-1a, so the name hashes below (recomputed with it) are what any FNV-1a gives. */
static void test_fnv_step_gives_the_published_vectors(void **state)
{
	(void)state;
	assert_true(fnv("") == 0xcbf29ce484222325ull);
	assert_true(fnv("a") == 0xaf63dc4c8601ec8cull);
	assert_true(fnv("foobar") == 0x85944171f73967e8ull);
}

static void test_name_hashes_are_fnv_of_the_lowercase_names(void **state)
{
	(void)state;
	assert_true(STRG_FS_N_HOST == fnv("host"));
	assert_true(STRG_FS_N_CONTENT_LENGTH == fnv("content-length"));
	assert_true(STRG_FS_N_TRANSFER_ENCODING == fnv("transfer-encoding"));
	assert_true(STRG_FS_N_CONNECTION == fnv("connection"));
	assert_true(STRG_FS_N_EXPECT == fnv("expect"));
	assert_true(STRG_FS_N_UPGRADE == fnv("upgrade"));
	assert_true(STRG_FS_N_TE == fnv("te"));
	assert_true(STRG_FS_N_TRAILER == fnv("trailer"));
	assert_true(STRG_FS_N_PROXY_CONNECTION == fnv("proxy-connection"));
	assert_true(STRG_FS_N_KEEP_ALIVE == fnv("keep-alive"));
}

static void test_packed_words_are_their_tokens(void **state)
{
	(void)state;
	assert_true(STRG_FS_W_GET == pack("GET"));
	assert_true(STRG_FS_W_HEAD == pack("HEAD"));
	assert_true(STRG_FS_W_POST == pack("POST"));
	assert_true(STRG_FS_W_PUT == pack("PUT"));
	assert_true(STRG_FS_W_DELETE == pack("DELETE"));
	assert_true(STRG_FS_W_OPTIONS == pack("OPTIONS"));
	assert_true(STRG_FS_W_PATCH == pack("PATCH"));
	assert_true(STRG_FS_W_TRACE == pack("TRACE"));
	assert_true(STRG_FS_W_HTTP11 == pack("HTTP/1.1"));
	assert_true(STRG_FS_W_HOST == pack("host"));
	assert_true(STRG_FS_W_CONTENT_ == pack("content-"));
	assert_true(STRG_FS_W_CONNECTI == pack("connecti"));
	assert_true(STRG_FS_W_ON == pack("on"));
	assert_true(STRG_FS_W_KEEP_ALI == pack("keep-ali"));
	assert_true(STRG_FS_W_VE == pack("ve"));
	assert_true(STRG_FS_W__LENGTH == pack("length"));
}

/* ---- accepted request forms ------------------------------------------------------------ */

static void test_req_every_known_method_but_connect_is_done(void **state)
{
	static const struct {
		const char *m;
		unsigned id;
	} ms[] = {
		{"GET", STRG_M_GET},	 {"HEAD", STRG_M_HEAD},	    {"POST", STRG_M_POST},
		{"PUT", STRG_M_PUT},	 {"DELETE", STRG_M_DELETE}, {"OPTIONS", STRG_M_OPTIONS},
		{"PATCH", STRG_M_PATCH}, {"TRACE", STRG_M_TRACE},
	};
	struct strg_req_scan s;
	char buf[128];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ms) / sizeof(ms[0]); i++) {
		snprintf(buf, sizeof(buf), "%s /x HTTP/1.1\r\nHost: a\r\n\r\n", ms[i].m);
		assert_int_equal(scan_req(buf, &s), DONE);
		assert_int_equal(s.method, ms[i].id);
	}
}

static void test_req_prefixes_are_fnv_of_each_slash_bounded_prefix(void **state)
{
	static const char raw[] = "GET /v1/getSalesLeads/7?x=1 HTTP/1.1\r\nHost: a\r\n\r\n";
	struct strg_req_scan s;

	(void)state;
	assert_int_equal(scan_req(raw, &s), DONE);
	assert_int_equal(s.path_len, 19);
	assert_int_equal(s.ndepth, 3);
	assert_int_equal(s.prefix_len[0], 3);
	assert_int_equal(s.prefix_len[1], 17);
	assert_int_equal(s.prefix_len[2], 19);
	assert_true(s.prefix_hash[0] == fnv("/v1"));
	assert_true(s.prefix_hash[1] == fnv("/v1/getSalesLeads"));
	assert_true(s.prefix_hash[2] == fnv("/v1/getSalesLeads/7"));
}

static void test_req_root_path_records_no_prefix(void **state)
{
	struct strg_req_scan s;

	(void)state;
	assert_int_equal(scan_req("GET / HTTP/1.1\r\nHost: a\r\n\r\n", &s), DONE);
	assert_int_equal(s.path_len, 1);
	assert_int_equal(s.ndepth, 0);
	assert_int_equal(scan_req("GET /?q=/x/y HTTP/1.1\r\nHost: a\r\n\r\n", &s), DONE);
	assert_int_equal(s.path_len, 1);
	assert_int_equal(s.ndepth, 0);
}

static void test_req_trailing_slash_records_the_full_path_last(void **state)
{
	struct strg_req_scan s;

	(void)state;
	assert_int_equal(scan_req("GET /v1/a/ HTTP/1.1\r\nHost: a\r\n\r\n", &s), DONE);
	assert_int_equal(s.ndepth, 3);
	assert_true(s.prefix_hash[0] == fnv("/v1") && s.prefix_len[0] == 3);
	assert_true(s.prefix_hash[1] == fnv("/v1/a") && s.prefix_len[1] == 5);
	assert_true(s.prefix_hash[2] == fnv("/v1/a/") && s.prefix_len[2] == 6);
	assert_int_equal(s.path_len, 6);
}

static void test_req_query_is_not_part_of_the_path(void **state)
{
	struct strg_req_scan s;

	(void)state;
	assert_int_equal(scan_req("GET /a/b?c/d=e?f HTTP/1.1\r\nHost: a\r\n\r\n", &s), DONE);
	assert_int_equal(s.path_len, 4);
	assert_int_equal(s.ndepth, 2);
	assert_true(s.prefix_hash[1] == fnv("/a/b"));
}

static void test_req_host_hash_is_lowercase_without_port(void **state)
{
	struct strg_req_scan s;

	(void)state;
	assert_int_equal(scan_req("GET / HTTP/1.1\r\nHost: API.Example.com:8080\r\n\r\n", &s),
			 DONE);
	assert_true(s.host_hash == fnv("api.example.com"));
	assert_int_equal(scan_req("GET / HTTP/1.1\r\nhOST:\t api.example.com \t\r\n\r\n", &s),
			 DONE);
	assert_true(s.host_hash == fnv("api.example.com"));
}

static void test_req_other_fields_with_ows_are_ignored(void **state)
{
	struct strg_req_scan s;

	(void)state;
	assert_int_equal(scan_req("GET /p HTTP/1.1\r\nUser-Agent:  curl/8 \r\nAccept:*/*\r\n"
				  "Host: h\r\nX-Empty:\r\nCookie: a=b;\tc=d\r\n\r\n",
				  &s),
			 DONE);
	assert_int_equal(s.nfields, 5);
	assert_int_equal(s.host_seen, 1);
	assert_true(s.host_hash == fnv("h"));
}

static void test_req_done_comes_at_the_end_of_the_head_not_the_buffer(void **state)
{
	static const char raw[] = "GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\n";
	struct strg_req_scan s;
	size_t at;

	(void)state;
	/* The caller compares pos with its length and passes the pipelined request. */
	assert_int_equal(feed_req(&s, raw, sizeof(raw) - 1, &at), DONE);
	assert_int_equal(at, 27);
	assert_int_equal(s.pos, 27);
}

static void test_req_depth_16_is_done_and_17_passes(void **state)
{
	char *b16 = req_with("/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p", 0);
	char *b17 = req_with("/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q", 0);
	char *b16s = req_with("/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/", 0);
	struct strg_req_scan s;

	(void)state;
	assert_int_equal(scan_req(b16, &s), DONE);
	assert_int_equal(s.ndepth, 16);
	assert_true(s.prefix_hash[15] == fnv("/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p"));
	assert_int_equal(scan_req(b17, &s), PASS);
	assert_int_equal(scan_req(b16s, &s), DONE);
	free(b16);
	free(b17);
	free(b16s);
}

static void test_req_100_fields_are_done_and_101_pass(void **state)
{
	char *b100 = req_with("/", 99);
	char *b101 = req_with("/", 100);
	struct strg_req_scan s;

	(void)state;
	assert_int_equal(scan_req(b100, &s), DONE);
	assert_int_equal(s.nfields, 100);
	assert_int_equal(http_parse_request(b100, strlen(b100), NULL, &req), (int)strlen(b100));
	assert_int_equal(scan_req(b101, &s), PASS);
	free(b100);
	free(b101);
}

static void test_req_head_of_2048_is_done_and_2049_passes(void **state)
{
	char *b2048 = padded_req(2048), *b2049 = padded_req(2049);
	struct strg_req_scan s;
	size_t at;

	(void)state;
	assert_int_equal(scan_req(b2048, &s), DONE);
	assert_int_equal(feed_req(&s, b2049, 2049, &at), PASS);
	assert_int_equal(at, 2049);
	free(b2048);
	free(b2049);
}

/* ---- requests: the table ---------------------------------------------------------------- */

#define RL "GET /a HTTP/1.1\r\n"
#define H  "Host: a\r\n"

static const struct req_row req_rows[] = {
	/* accepted */
	REQ("root", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", DONE),
	REQ("plain GET", "GET /v1/users HTTP/1.1\r\nHost: example.com\r\n\r\n", DONE),
	REQ("HEAD", "HEAD /index.html HTTP/1.1\r\nHost: example.com\r\n\r\n", DONE),
	REQ("POST without body", "POST /api/items HTTP/1.1\r\nHost: a\r\n\r\n", DONE),
	REQ("PUT", "PUT /a/b HTTP/1.1\r\nHost: a\r\n\r\n", DONE),
	REQ("DELETE", "DELETE /items/42 HTTP/1.1\r\nHost: a\r\n\r\n", DONE),
	REQ("OPTIONS path", "OPTIONS /x HTTP/1.1\r\nHost: a\r\n\r\n", DONE),
	REQ("PATCH", "PATCH /x HTTP/1.1\r\nHost: a\r\n\r\n", DONE),
	REQ("TRACE", "TRACE /x HTTP/1.1\r\nHost: a\r\n\r\n", DONE),
	REQ("query", "GET /search?q=a/b&x=1 HTTP/1.1\r\nHost: a\r\n\r\n", DONE),
	REQ("query with ?", "GET /a?b?c HTTP/1.1\r\nHost: a\r\n\r\n", DONE),
	REQ("empty query", "GET /a? HTTP/1.1\r\nHost: a\r\n\r\n", DONE),
	REQ("dot segment in query", "GET /a?/../b HTTP/1.1\r\nHost: a\r\n\r\n", DONE),
	REQ("host OWS", "GET /a HTTP/1.1\r\nHost:   a.example   \r\n\r\n", DONE),
	REQ("host HTAB", "GET /a HTTP/1.1\r\nHost:\texample.com\t\r\n\r\n", DONE),
	REQ("host no OWS", "GET /a HTTP/1.1\r\nHost:a\r\n\r\n", DONE),
	REQ("host port", "GET /a HTTP/1.1\r\nHost: example.com:8080\r\n\r\n", DONE),
	REQ("host port OWS", "GET /a HTTP/1.1\r\nHost: example.com:80 \r\n\r\n", DONE),
	REQ("host mixed case", "GET /a HTTP/1.1\r\nHost: API.Example.COM:443\r\n\r\n", DONE),
	REQ("host IPv4", "GET /a HTTP/1.1\r\nHost: 10.0.0.1:80\r\n\r\n", DONE),
	REQ("host port 65535", "GET /a HTTP/1.1\r\nHost: a:65535\r\n\r\n", DONE),
	REQ("host port 00080", "GET /a HTTP/1.1\r\nHost: a:00080\r\n\r\n", DONE),
	REQ("host unreserved", "GET /a HTTP/1.1\r\nHost: a-b_c~d.e\r\n\r\n", DONE),
	REQ("host name lowercase", "GET /a HTTP/1.1\r\nhost: a\r\n\r\n", DONE),
	REQ("host name uppercase", "GET /a HTTP/1.1\r\nHOST: a\r\n\r\n", DONE),
	REQ("host after others", RL "Accept: */*\r\nUser-Agent: t\r\nHost: a\r\n\r\n", DONE),
	REQ("obs-text value", RL H "X-Name: caf\xc3\xa9\r\n\r\n", DONE),
	REQ("empty value", RL H "X-Empty:\r\n\r\n", DONE),
	REQ("tab in value", RL H "X-Tab: a\tb\r\n\r\n", DONE),
	REQ("tchar name", RL H "X-Foo_Bar!#$%&'*+.^`|~: v\r\n\r\n", DONE),
	REQ("Hostile is not Host", RL H "Hostile: x\r\n\r\n", DONE),
	REQ("Content-Type is not CL", RL H "Content-Type: text/plain\r\n\r\n", DONE),
	REQ("Connections is not Connection", RL H "Connections: close\r\n\r\n", DONE),
	REQ("trailing slash", "GET /v1/a/ HTTP/1.1\r\nHost: a\r\n\r\n", DONE),
	REQ("dots inside names", "GET /.well-known/a..b/.../c. HTTP/1.1\r\nHost: a\r\n\r\n", DONE),
	REQ("unencoded target chars", "GET /a|b{c}\"d HTTP/1.1\r\nHost: a\r\n\r\n", DONE),
	/* passed: framing, connection management, interim responses */
	REQ("Content-Length 0", RL H "Content-Length: 0\r\n\r\n", DONE),
	REQ("Content-Length body", "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n",
	    DONE),
	REQ("Content-Length with OWS",
	    "PUT /a HTTP/1.1\r\nHost: a\r\nContent-Length:\t 12 \r\n\r\n", DONE),
	REQ("Content-Length empty", RL H "Content-Length:\r\n\r\n", PASS),
	REQ("Content-Length sign", RL H "Content-Length: +3\r\n\r\n", PASS),
	REQ("Content-Length hex", RL H "Content-Length: 0x3\r\n\r\n", PASS),
	REQ("Content-Length inner SP", RL H "Content-Length: 1 2\r\n\r\n", PASS),
	REQ("Content-Length 19 digits", RL H "Content-Length: 1234567890123456789\r\n\r\n", PASS),
	REQ("Content-Length upper case name", RL H "CONTENT-LENGTH: 2\r\n\r\n", DONE),
	REQ("Transfer-Encoding", RL H "Transfer-Encoding: chunked\r\n\r\n", PASS),
	REQ("TE mixed case", RL H "tRaNsFeR-eNcOdInG: chunked\r\n\r\n", PASS),
	REQ("CL + TE", RL H "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n", PASS),
	REQ("TE + CL", RL H "Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n", PASS),
	REQ("duplicate CL", RL H "Content-Length: 4\r\nContent-Length: 4\r\n\r\n", PASS),
	REQ("CL list", RL H "Content-Length: 4, 5\r\n\r\n", PASS),
	REQ("Connection close", RL H "Connection: close\r\n\r\n", PASS),
	REQ("Connection keep-alive", RL H "Connection: keep-alive\r\n\r\n", PASS),
	REQ("Expect 100-continue", RL H "Expect: 100-continue\r\n\r\n", PASS),
	REQ("Expect other", RL H "Expect: nothing\r\n\r\n", PASS),
	REQ("Upgrade", RL H "Upgrade: websocket\r\n\r\n", PASS),
	REQ("TE field", RL H "TE: trailers\r\n\r\n", PASS),
	REQ("Trailer", RL H "Trailer: X\r\n\r\n", PASS),
	REQ("Proxy-Connection", RL H "Proxy-Connection: close\r\n\r\n", PASS),
	REQ("Keep-Alive", RL H "Keep-Alive: timeout=5\r\n\r\n", PASS),
	/* passed: Host */
	REQ("two Hosts", RL H H "\r\n", PASS),
	REQ("two Hosts differing", RL "Host: a\r\nHost: b\r\n\r\n", PASS),
	REQ("no Host", RL "Accept: */*\r\n\r\n", PASS),
	REQ("no fields", RL "\r\n", PASS),
	REQ("empty Host", RL "Host:\r\n\r\n", PASS),
	REQ("blank Host", RL "Host:   \r\n\r\n", PASS),
	REQ("IPv6 Host", RL "Host: [::1]:80\r\n\r\n", PASS),
	REQ("userinfo in Host", RL "Host: u@a\r\n\r\n", PASS),
	REQ("empty port", RL "Host: a:\r\n\r\n", PASS),
	REQ("six-digit port", RL "Host: a:000080\r\n\r\n", PASS),
	REQ("port 65536", RL "Host: a:65536\r\n\r\n", PASS),
	REQ("space in Host", RL "Host: a b\r\n\r\n", PASS),
	REQ("Host list", RL "Host: a,b\r\n\r\n", PASS),
	REQ("pct in Host", RL "Host: ex%61mple.com\r\n\r\n", PASS),
	REQ("port then junk", RL "Host: a:80x\r\n\r\n", PASS),
	REQ("space before port", RL "Host: a :80\r\n\r\n", PASS),
	/* passed: request line */
	REQ("HTTP/1.0", "GET /a HTTP/1.0\r\nHost: a\r\n\r\n", PASS),
	REQ("HTTP/2.0", "GET /a HTTP/2.0\r\nHost: a\r\n\r\n", PASS),
	REQ("lowercase version", "GET /a http/1.1\r\nHost: a\r\n\r\n", PASS),
	REQ("SP after version", "GET /a HTTP/1.1 \r\nHost: a\r\n\r\n", PASS),
	REQ("short version", "GET /a HTTP/1.\r\nHost: a\r\n\r\n", PASS),
	REQ("unknown method", "FOO /a HTTP/1.1\r\nHost: a\r\n\r\n", PASS),
	REQ("lowercase method", "get /a HTTP/1.1\r\nHost: a\r\n\r\n", PASS),
	REQ("CONNECT", "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", PASS),
	REQ("long method", "GETTTTTTT /a HTTP/1.1\r\nHost: a\r\n\r\n", PASS),
	REQ("method prefix", "GE /a HTTP/1.1\r\nHost: a\r\n\r\n", PASS),
	REQ("empty method", " /a HTTP/1.1\r\nHost: a\r\n\r\n", PASS),
	REQ("two SP", "GET  /a HTTP/1.1\r\nHost: a\r\n\r\n", PASS),
	REQ("HTAB separator", "GET\t/a HTTP/1.1\r\nHost: a\r\n\r\n", PASS),
	REQ("SP in target", "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", PASS),
	REQ("pct in path", "GET /a%20b HTTP/1.1\r\nHost: a\r\n\r\n", PASS),
	REQ("pct in query", "GET /a?b=%20 HTTP/1.1\r\nHost: a\r\n\r\n", PASS),
	REQ("bad pct", "GET /a%zz HTTP/1.1\r\nHost: a\r\n\r\n", PASS),
	REQ("encoded dot segment", "GET /a/%2e%2e/b HTTP/1.1\r\nHost: a\r\n\r\n", PASS),
	REQ("dot segment", "GET /a/./b HTTP/1.1\r\nHost: a\r\n\r\n", PASS),
	REQ("dot-dot segment", "GET /a/../b HTTP/1.1\r\nHost: a\r\n\r\n", PASS),
	REQ("dot-dot path", "GET /.. HTTP/1.1\r\nHost: a\r\n\r\n", PASS),
	REQ("dot path", "GET /. HTTP/1.1\r\nHost: a\r\n\r\n", PASS),
	REQ("trailing dot segment", "GET /a/. HTTP/1.1\r\nHost: a\r\n\r\n", PASS),
	REQ("dot-dot before query", "GET /a/..?x HTTP/1.1\r\nHost: a\r\n\r\n", PASS),
	REQ("leading //", "GET //a HTTP/1.1\r\nHost: a\r\n\r\n", PASS),
	REQ("inner //", "GET /a//b HTTP/1.1\r\nHost: a\r\n\r\n", PASS),
	REQ("fragment", "GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n", PASS),
	REQ("NUL in path", "GET /a\0b HTTP/1.1\r\nHost: a\r\n\r\n", PASS),
	REQ("non-ASCII in path", "GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", PASS),
	REQ("absolute-form", "GET http://a/b HTTP/1.1\r\nHost: a\r\n\r\n", PASS),
	REQ("asterisk-form", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", PASS),
	REQ("bare LF request line", "GET /a HTTP/1.1\nHost: a\r\n\r\n", PASS),
	REQ("bare CR request line", "GET /a HTTP/1.1\rHost: a\r\n\r\n", PASS),
	/* passed: field syntax, the smuggling classics */
	REQ("obs-fold", RL H "X-A: a\r\n b\r\n\r\n", PASS),
	REQ("obs-fold HTAB", RL H "X-A: a\r\n\tb\r\n\r\n", PASS),
	REQ("SP before first field", RL " Host: a\r\n\r\n", PASS),
	REQ("SP before colon", RL "Host : a\r\n\r\n", PASS),
	REQ("HTAB before colon", RL H "X-A\t: a\r\n\r\n", PASS),
	REQ("empty name", RL H ": a\r\n\r\n", PASS),
	REQ("non-tchar name", RL H "X(a): b\r\n\r\n", PASS),
	REQ("no colon", RL H "X-A\r\n\r\n", PASS),
	REQ("bare LF field", RL "Host: a\n\r\n", PASS),
	REQ("bare LF end", RL H "\n", PASS),
	REQ("bare CR value", RL H "X-A: a\rb\r\n\r\n", PASS),
	REQ("bare CR end", RL H "\r\r\n", PASS),
	REQ("NUL in value", RL H "X-A: a\0b\r\n\r\n", PASS),
	REQ("NUL in name", RL H "X\0A: b\r\n\r\n", PASS),
	REQ("DEL in value", RL H "X-A: a\x7f\r\n\r\n", PASS),
	REQ("CTL in value", RL H "X-A: a\x01\r\n\r\n", PASS),
	REQ("LF in Host", RL "Host: a\nb\r\n\r\n", PASS),
};

/*
 * The key property: DONE only where http_parse_request accepts the same head with the same
 * meaning, and PASS wherever it rejects. Run on the table and on its mutations below.
 */
static unsigned check_req_subset(const char *name, const char *buf, size_t len)
{
	struct strg_req_scan s;
	size_t at, i, mlen;
	int r, p;

	r = feed_req(&s, buf, len, &at);
	p = http_parse_request(buf, len, NULL, &req);
	if (p < 0 && r != PASS) {
		print_error("%s: parser says %d, scanner %d\n", name, p, r);
		return 1;
	}
	if (r != DONE)
		return 0;
	mlen = (size_t)req.method_len;
	if (p != (int)at || (unsigned)req.method != s.method ||
	    req.body != (s.content_length ? HTTP_BODY_LENGTH : HTTP_BODY_NONE) ||
	    (s.content_length && req.content_length != s.content_length) ||
	    req.path != buf + mlen + 1 || req.path_len != s.path_len || !req.host ||
	    fnv_lower(req.host, req.host_len) != s.host_hash) {
		print_error("%s: scanner DONE at %zu, parser %d disagrees\n", name, at, p);
		return 1;
	}
	/* Every recorded key is a real prefix of the parser's path, ending before a '/'. */
	for (i = 0; i < s.ndepth; i++) {
		if (s.prefix_len[i] > req.path_len ||
		    fnv_n(req.path, s.prefix_len[i]) != s.prefix_hash[i] ||
		    (i + 1 < s.ndepth && req.path[s.prefix_len[i]] != '/')) {
			print_error("%s: prefix %zu wrong\n", name, i);
			return 1;
		}
	}
	if (s.path_len > 1 && (!s.ndepth || s.prefix_len[s.ndepth - 1] != s.path_len)) {
		print_error("%s: full path not recorded last\n", name);
		return 1;
	}
	return 0;
}

static void test_req_rows_scan_as_expected(void **state)
{
	struct strg_req_scan s;
	unsigned failed = 0;
	size_t i, at;
	int r;

	(void)state;
	for (i = 0; i < sizeof(req_rows) / sizeof(req_rows[0]); i++) {
		const struct req_row *row = &req_rows[i];

		r = feed_req(&s, row->raw, row->len, &at);
		if (r != row->want || (r == DONE && at != row->len)) {
			print_error("%s: scanner %d at %zu, want %d\n", row->name, r, at,
				    row->want);
			failed++;
		}
	}
	assert_int_equal(failed, 0);
}

static void test_req_done_is_a_subset_of_the_strict_parser(void **state)
{
	unsigned failed = 0, rejected = 0, done = 0;
	struct strg_req_scan s;
	size_t i, at;

	(void)state;
	for (i = 0; i < sizeof(req_rows) / sizeof(req_rows[0]); i++) {
		const struct req_row *row = &req_rows[i];

		failed += check_req_subset(row->name, row->raw, row->len);
		rejected += http_parse_request(row->raw, row->len, NULL, &req) < 0;
		done += feed_req(&s, row->raw, row->len, &at) == DONE;
	}
	assert_int_equal(failed, 0);
	/* The table must exercise both sides of the property. */
	assert_true(rejected >= 40);
	assert_true(done >= 30);
}

/* xorshift64: the mutation tests must be reproducible. */
static __u64 rnd_next(__u64 *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* Bytes that matter to a head's syntax, weighted towards the ones that make smuggling. */
static const char mut_bytes[] = " \t\r\n:/.?%#,;@[]\0\x01\x7f\x80\xff"
				"AaHhTt0159-_~";

/* Replace, insert, delete or duplicate a byte at a random place; returns the new length. */
static size_t mutate(char *b, size_t len, size_t cap, __u64 *x)
{
	size_t at = (size_t)(rnd_next(x) % len);
	char c = mut_bytes[rnd_next(x) % (sizeof(mut_bytes) - 1)];

	switch (rnd_next(x) % 4) {
	case 0:
		b[at] = c;
		return len;
	case 1:
		if (len + 1 > cap)
			return len;
		memmove(b + at + 1, b + at, len - at);
		b[at] = c;
		return len + 1;
	case 2:
		memmove(b + at, b + at + 1, len - at - 1);
		return len - 1;
	default:
		if (len + 1 > cap)
			return len;
		memmove(b + at + 1, b + at, len - at);
		return len + 1;
	}
}

static void test_req_mutated_heads_keep_the_subset_property(void **state)
{
	unsigned failed = 0, n_done = 0, n_rej = 0, k, m;
	struct strg_req_scan s;
	__u64 x = 0x9e3779b97f4a7c15ull;
	char b[256], name[64];
	size_t i, len, at;

	(void)state;
	for (i = 0; i < sizeof(req_rows) / sizeof(req_rows[0]); i++) {
		for (k = 0; k < 400 && !failed; k++) {
			len = req_rows[i].len;
			if (len > sizeof(b) - 8)
				break;
			memcpy(b, req_rows[i].raw, len);
			for (m = 0; m <= k % 3; m++)
				len = mutate(b, len, sizeof(b), &x);
			snprintf(name, sizeof(name), "%s, mutation %u", req_rows[i].name, k);
			failed += check_req_subset(name, b, len);
			n_done += feed_req(&s, b, len, &at) == DONE;
			n_rej += http_parse_request(b, len, NULL, &req) < 0;
		}
	}
	assert_int_equal(failed, 0);
	assert_true(n_done > 1000 && n_rej > 1000);
}

static void test_req_after_pass_or_done_every_byte_passes(void **state)
{
	struct strg_req_scan s;
	size_t i, at;
	unsigned c;
	int r;

	(void)state;
	for (i = 0; i < sizeof(req_rows) / sizeof(req_rows[0]); i++) {
		r = feed_req(&s, req_rows[i].raw, req_rows[i].len, &at);
		if (r == MORE)
			continue;
		for (c = 0; c < 256; c++)
			assert_int_equal(strg_req_step(&s, (__u8)c), PASS);
		/* The answer is about the head: nothing recorded changes after it. */
		assert_int_equal(s.pos, at + 256);
	}
}

static void test_req_prefix_of_a_head_is_more_not_done(void **state)
{
	static const char raw[] = "GET /v1/a?b HTTP/1.1\r\nHost: A.b:1\r\nX: y\r\n\r\n";
	struct strg_req_scan s;
	size_t n, at;

	(void)state;
	for (n = 0; n < sizeof(raw) - 1; n++)
		assert_int_equal(feed_req(&s, raw, n, &at), MORE);
	assert_int_equal(feed_req(&s, raw, sizeof(raw) - 1, &at), DONE);
}

/* ---- responses ------------------------------------------------------------------------ */

static void test_resp_length_is_taken_from_content_length(void **state)
{
	struct strg_resp_scan s;

	(void)state;
	assert_int_equal(
		scan_resp("HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n", STRG_M_GET, &s), DONE);
	assert_int_equal(s.status, 200);
	assert_true(s.content_length == 1234);
	assert_int_equal(scan_resp("HTTP/1.1 200 OK\r\nContent-Length: 999999999999999999\r\n\r\n",
				   STRG_M_GET, &s),
			 DONE);
	assert_true(s.content_length == 999999999999999999ull);
}

static void test_resp_head_204_304_have_no_body_whatever_the_length(void **state)
{
	struct strg_resp_scan s;

	(void)state;
	assert_int_equal(
		scan_resp("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", STRG_M_HEAD, &s), DONE);
	assert_true(s.content_length == 0);
	assert_int_equal(
		scan_resp("HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n", STRG_M_GET, &s),
		DONE);
	assert_true(s.content_length == 0);
	assert_int_equal(scan_resp("HTTP/1.1 304 Not Modified\r\n\r\n", STRG_M_GET, &s), DONE);
	assert_true(s.content_length == 0);
}

static const struct resp_row resp_rows[] = {
	RESP("200 CL", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", STRG_M_GET, DONE, 5),
	RESP("200 CL 0", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", STRG_M_GET, DONE, 0),
	RESP("404", "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\n", STRG_M_GET, DONE, 9),
	RESP("500", "HTTP/1.1 500 Oops\r\nContent-Length: 2\r\n\r\n", STRG_M_POST, DONE, 2),
	RESP("302 Location", "HTTP/1.1 302 Found\r\nLocation: /x\r\nContent-Length: 0\r\n\r\n",
	     STRG_M_GET, DONE, 0),
	RESP("empty reason", "HTTP/1.1 200 \r\nContent-Length: 1\r\n\r\n", STRG_M_GET, DONE, 1),
	RESP("no reason", "HTTP/1.1 200\r\nContent-Length: 1\r\n\r\n", STRG_M_GET, DONE, 1),
	RESP("reason with HTAB and obs-text",
	     "HTTP/1.1 200 O\tK \xc3\xa9\r\nContent-Length: 1\r\n\r\n", STRG_M_GET, DONE, 1),
	RESP("HEAD with CL", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", STRG_M_HEAD, DONE,
	     0),
	RESP("HEAD without CL", "HTTP/1.1 200 OK\r\n\r\n", STRG_M_HEAD, DONE, 0),
	RESP("204", "HTTP/1.1 204 No Content\r\n\r\n", STRG_M_DELETE, DONE, 0),
	RESP("204 with CL", "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", STRG_M_GET,
	     DONE, 0),
	RESP("304", "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n", STRG_M_GET, DONE, 0),
	RESP("304 with CL", "HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\n", STRG_M_GET,
	     DONE, 0),
	RESP("CL OWS", "HTTP/1.1 200 OK\r\nContent-Length:  \t12 \t\r\n\r\n", STRG_M_GET, DONE, 12),
	RESP("CL no OWS", "HTTP/1.1 200 OK\r\nContent-Length:12\r\n\r\n", STRG_M_GET, DONE, 12),
	RESP("CL leading zeros", "HTTP/1.1 200 OK\r\nContent-Length: 007\r\n\r\n", STRG_M_GET, DONE,
	     7),
	RESP("CL 18 digits", "HTTP/1.1 200 OK\r\nContent-Length: 123456789012345678\r\n\r\n",
	     STRG_M_GET, DONE, 123456789012345678ull),
	RESP("CL uppercase", "HTTP/1.1 200 OK\r\nCONTENT-LENGTH: 3\r\n\r\n", STRG_M_GET, DONE, 3),
	RESP("other fields",
	     "HTTP/1.1 200 OK\r\nServer: s\r\nDate: Mon, 01 Jan 2024 00:00:00 GMT\r\n"
	     "Set-Cookie: a=b; Path=/\r\nContent-Type: text/html\r\nContent-Length: 4\r\n\r\n",
	     STRG_M_GET, DONE, 4),
	RESP("Content-Lengths is not CL", "HTTP/1.1 200 OK\r\nContent-Lengths: 3\r\n\r\n",
	     STRG_M_GET, PASS, 0),
	RESP("Content-Lengtx is not CL",
	     "HTTP/1.1 200 OK\r\nContent-Lengtx: 3\r\nContent-Length: 4\r\n\r\n", STRG_M_GET, DONE,
	     4),
	RESP("status 999", "HTTP/1.1 999 X\r\nContent-Length: 1\r\n\r\n", STRG_M_GET, DONE, 1),
	/* passed */
	RESP("HTTP/1.0", "HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\n", STRG_M_GET, PASS, 0),
	RESP("http/1.1", "http/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", STRG_M_GET, PASS, 0),
	RESP("HTTP/2", "HTTP/2 200 OK\r\nContent-Length: 5\r\n\r\n", STRG_M_GET, PASS, 0),
	RESP("100 Continue", "HTTP/1.1 100 Continue\r\n\r\n", STRG_M_POST, PASS, 0),
	RESP("101 Switching", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: ws\r\n\r\n", STRG_M_GET,
	     PASS, 0),
	RESP("199", "HTTP/1.1 199 X\r\nContent-Length: 0\r\n\r\n", STRG_M_GET, PASS, 0),
	RESP("099", "HTTP/1.1 099 X\r\nContent-Length: 0\r\n\r\n", STRG_M_GET, PASS, 0),
	RESP("two-digit status", "HTTP/1.1 20 OK\r\nContent-Length: 0\r\n\r\n", STRG_M_GET, PASS,
	     0),
	RESP("four-digit status", "HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n", STRG_M_GET, PASS,
	     0),
	RESP("letter in status", "HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n", STRG_M_GET, PASS,
	     0),
	RESP("two SP", "HTTP/1.1  200 OK\r\nContent-Length: 0\r\n\r\n", STRG_M_GET, PASS, 0),
	RESP("close-delimited", "HTTP/1.1 200 OK\r\n\r\n", STRG_M_GET, PASS, 0),
	RESP("chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", STRG_M_GET, PASS,
	     0),
	RESP("CL + TE",
	     "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
	     STRG_M_GET, PASS, 0),
	RESP("equal duplicate CL",
	     "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n", STRG_M_GET, PASS,
	     0),
	RESP("differing duplicate CL",
	     "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", STRG_M_GET, PASS,
	     0),
	RESP("CL list", "HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\n", STRG_M_GET, PASS, 0),
	RESP("CL sign", "HTTP/1.1 200 OK\r\nContent-Length: +3\r\n\r\n", STRG_M_GET, PASS, 0),
	RESP("CL negative", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", STRG_M_GET, PASS, 0),
	RESP("CL empty", "HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n", STRG_M_GET, PASS, 0),
	RESP("CL hex", "HTTP/1.1 200 OK\r\nContent-Length: 0x5\r\n\r\n", STRG_M_GET, PASS, 0),
	RESP("CL inner SP", "HTTP/1.1 200 OK\r\nContent-Length: 1 2\r\n\r\n", STRG_M_GET, PASS, 0),
	RESP("CL 19 digits", "HTTP/1.1 200 OK\r\nContent-Length: 1234567890123456789\r\n\r\n",
	     STRG_M_GET, PASS, 0),
	RESP("CL overflow", "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
	     STRG_M_GET, PASS, 0),
	RESP("Connection close",
	     "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\n", STRG_M_GET, PASS,
	     0),
	RESP("Connection keep-alive restates the default",
	     "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\n", STRG_M_GET,
	     DONE, 1),
	RESP("Connection Keep-Alive with OWS",
	     "HTTP/1.1 200 OK\r\nconnection:\t Keep-Alive \r\nContent-Length: 2\r\n\r\n",
	     STRG_M_GET, DONE, 2),
	RESP("Connection keep-alive, close",
	     "HTTP/1.1 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 1\r\n\r\n",
	     STRG_M_GET, PASS, 0),
	RESP("Connection keep-alivex",
	     "HTTP/1.1 200 OK\r\nConnection: keep-alivex\r\nContent-Length: 1\r\n\r\n", STRG_M_GET,
	     PASS, 0),
	RESP("Connection keep", "HTTP/1.1 200 OK\r\nConnection: keep\r\nContent-Length: 1\r\n\r\n",
	     STRG_M_GET, PASS, 0),
	RESP("Connection empty", "HTTP/1.1 200 OK\r\nConnection:\r\nContent-Length: 1\r\n\r\n",
	     STRG_M_GET, PASS, 0),
	RESP("Keep-Alive", "HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5\r\nContent-Length: 1\r\n\r\n",
	     STRG_M_GET, PASS, 0),
	RESP("Upgrade", "HTTP/1.1 200 OK\r\nUpgrade: h2c\r\nContent-Length: 1\r\n\r\n", STRG_M_GET,
	     PASS, 0),
	RESP("Trailer", "HTTP/1.1 200 OK\r\nTrailer: X\r\nContent-Length: 1\r\n\r\n", STRG_M_GET,
	     PASS, 0),
	RESP("Proxy-Connection",
	     "HTTP/1.1 200 OK\r\nProxy-Connection: close\r\nContent-Length: 1\r\n\r\n", STRG_M_GET,
	     PASS, 0),
	RESP("obs-fold", "HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 1\r\n\r\n", STRG_M_GET,
	     PASS, 0),
	RESP("SP before colon", "HTTP/1.1 200 OK\r\nContent-Length : 1\r\n\r\n", STRG_M_GET, PASS,
	     0),
	RESP("bare LF", "HTTP/1.1 200 OK\nContent-Length: 1\r\n\r\n", STRG_M_GET, PASS, 0),
	RESP("bare LF end", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\n", STRG_M_GET, PASS, 0),
	RESP("bare CR", "HTTP/1.1 200 OK\r\nX: a\rb\r\nContent-Length: 1\r\n\r\n", STRG_M_GET, PASS,
	     0),
	RESP("NUL in value", "HTTP/1.1 200 OK\r\nX: a\0b\r\nContent-Length: 1\r\n\r\n", STRG_M_GET,
	     PASS, 0),
	RESP("DEL in reason", "HTTP/1.1 200 O\x7fK\r\nContent-Length: 1\r\n\r\n", STRG_M_GET, PASS,
	     0),
	RESP("CTL in reason", "HTTP/1.1 200 O\x01K\r\nContent-Length: 1\r\n\r\n", STRG_M_GET, PASS,
	     0),
};

static unsigned check_resp_subset(const char *name, const char *buf, size_t len, unsigned method)
{
	struct http_response resp;
	struct strg_resp_scan s;
	size_t at;
	int r, p;

	r = feed_resp(&s, method, buf, len, &at);
	p = http_parse_response(buf, len, 16384, (enum http_method)method, &resp);
	if (p < 0 && r != PASS) {
		print_error("%s: parser says %d, scanner %d\n", name, p, r);
		return 1;
	}
	if (r != DONE)
		return 0;
	if (p != (int)at || resp.status != s.status ||
	    (s.content_length == 0 && resp.body != HTTP_BODY_NONE) ||
	    (s.content_length != 0 &&
	     (resp.body != HTTP_BODY_LENGTH || resp.content_length != s.content_length))) {
		print_error("%s: scanner DONE at %zu, parser %d disagrees\n", name, at, p);
		return 1;
	}
	return 0;
}

static void test_resp_rows_scan_as_expected(void **state)
{
	struct strg_resp_scan s;
	unsigned failed = 0;
	size_t i, at;
	int r;

	(void)state;
	for (i = 0; i < sizeof(resp_rows) / sizeof(resp_rows[0]); i++) {
		const struct resp_row *row = &resp_rows[i];

		r = feed_resp(&s, row->method, row->raw, row->len, &at);
		if (r != row->want ||
		    (r == DONE && (at != row->len || s.content_length != row->content_length))) {
			print_error("%s: scanner %d at %zu, want %d\n", row->name, r, at,
				    row->want);
			failed++;
		}
	}
	assert_int_equal(failed, 0);
}

static void test_resp_done_is_a_subset_of_the_strict_parser(void **state)
{
	unsigned failed = 0;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(resp_rows) / sizeof(resp_rows[0]); i++)
		failed += check_resp_subset(resp_rows[i].name, resp_rows[i].raw, resp_rows[i].len,
					    resp_rows[i].method);
	assert_int_equal(failed, 0);
}

static void test_resp_mutated_heads_keep_the_subset_property(void **state)
{
	unsigned failed = 0, n_done = 0, k, m;
	struct strg_resp_scan s;
	__u64 x = 0x2545f4914f6cdd1dull;
	char b[256], name[64];
	size_t i, len, at;

	(void)state;
	for (i = 0; i < sizeof(resp_rows) / sizeof(resp_rows[0]); i++) {
		for (k = 0; k < 400 && !failed; k++) {
			len = resp_rows[i].len;
			memcpy(b, resp_rows[i].raw, len);
			for (m = 0; m <= k % 3; m++)
				len = mutate(b, len, sizeof(b), &x);
			snprintf(name, sizeof(name), "%s, mutation %u", resp_rows[i].name, k);
			failed += check_resp_subset(name, b, len, resp_rows[i].method);
			n_done += feed_resp(&s, resp_rows[i].method, b, len, &at) == DONE;
		}
	}
	assert_int_equal(failed, 0);
	assert_true(n_done > 1000);
}

static void test_resp_after_pass_or_done_every_byte_passes(void **state)
{
	struct strg_resp_scan s;
	size_t i, at;
	unsigned c;
	int r;

	(void)state;
	for (i = 0; i < sizeof(resp_rows) / sizeof(resp_rows[0]); i++) {
		r = feed_resp(&s, resp_rows[i].method, resp_rows[i].raw, resp_rows[i].len, &at);
		assert_int_not_equal(r, MORE);
		for (c = 0; c < 256; c++)
			assert_int_equal(strg_resp_step(&s, (__u8)c), PASS);
	}
}

static void test_resp_over_2048_bytes_passes(void **state)
{
	static const char pre[] = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nX-Pad: ";
	struct strg_resp_scan s;
	char b[2100];
	size_t at, n;

	(void)state;
	for (n = 2048; n <= 2049; n++) {
		memset(b, 'x', sizeof(b));
		memcpy(b, pre, sizeof(pre) - 1);
		memcpy(b + n - 4, "\r\n\r\n", 4);
		assert_int_equal(feed_resp(&s, STRG_M_GET, b, n, &at), n == 2048 ? DONE : PASS);
		assert_int_equal(at, n);
	}
}

static void test_resp_101_fields_pass(void **state)
{
	struct strg_resp_scan s;
	char b[1024];
	size_t off, at;
	unsigned i;

	(void)state;
	off = (size_t)snprintf(b, sizeof(b), "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n");
	for (i = 0; i < 99; i++)
		off += (size_t)snprintf(b + off, sizeof(b) - off, "X%u:\r\n", i);
	memcpy(b + off, "\r\n", 2);
	assert_int_equal(feed_resp(&s, STRG_M_GET, b, off + 2, &at), DONE);
	off += (size_t)snprintf(b + off, sizeof(b) - off, "Y:\r\n\r\n");
	assert_int_equal(feed_resp(&s, STRG_M_GET, b, off, &at), PASS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fnv_step_gives_the_published_vectors),
		cmocka_unit_test(test_name_hashes_are_fnv_of_the_lowercase_names),
		cmocka_unit_test(test_packed_words_are_their_tokens),
		cmocka_unit_test(test_req_every_known_method_but_connect_is_done),
		cmocka_unit_test(test_req_prefixes_are_fnv_of_each_slash_bounded_prefix),
		cmocka_unit_test(test_req_root_path_records_no_prefix),
		cmocka_unit_test(test_req_trailing_slash_records_the_full_path_last),
		cmocka_unit_test(test_req_query_is_not_part_of_the_path),
		cmocka_unit_test(test_req_host_hash_is_lowercase_without_port),
		cmocka_unit_test(test_req_other_fields_with_ows_are_ignored),
		cmocka_unit_test(test_req_done_comes_at_the_end_of_the_head_not_the_buffer),
		cmocka_unit_test(test_req_depth_16_is_done_and_17_passes),
		cmocka_unit_test(test_req_100_fields_are_done_and_101_pass),
		cmocka_unit_test(test_req_head_of_2048_is_done_and_2049_passes),
		cmocka_unit_test(test_req_rows_scan_as_expected),
		cmocka_unit_test(test_req_done_is_a_subset_of_the_strict_parser),
		cmocka_unit_test(test_req_mutated_heads_keep_the_subset_property),
		cmocka_unit_test(test_req_after_pass_or_done_every_byte_passes),
		cmocka_unit_test(test_req_prefix_of_a_head_is_more_not_done),
		cmocka_unit_test(test_resp_length_is_taken_from_content_length),
		cmocka_unit_test(test_resp_head_204_304_have_no_body_whatever_the_length),
		cmocka_unit_test(test_resp_rows_scan_as_expected),
		cmocka_unit_test(test_resp_done_is_a_subset_of_the_strict_parser),
		cmocka_unit_test(test_resp_mutated_heads_keep_the_subset_property),
		cmocka_unit_test(test_resp_after_pass_or_done_every_byte_passes),
		cmocka_unit_test(test_resp_over_2048_bytes_passes),
		cmocka_unit_test(test_resp_101_fields_pass),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
