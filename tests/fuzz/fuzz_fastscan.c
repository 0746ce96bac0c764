// SPDX-License-Identifier: GPL-2.0-only
/*
 * libFuzzer differential harness: the kernel's byte scanners (include/strg/fastscan.h, compiled
 * into the BPF program) against strgd's parsers. The kernel may only carry what strgd would
 * have accepted with the same meaning: where a scanner says DONE, the parser must accept the
 * same bytes as a head of the same length, method, path, host and body (what the scanner does
 * not finish, the kernel passes up to strgd). Any divergence aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <linux/types.h>

#include "core/http.h"
#include "strg/fastscan.h"

static struct http_request req;

static __u64 lower_hash(const char *s, size_t n)
{
	__u64 h = STRG_FNV_OFFSET;

	for (size_t i = 0; i < n; i++) {
		char c = s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] + 32) : s[i];

		h = strg_fnv_step(h, (__u8)c);
	}
	return h;
}

static void request(const char *buf, size_t len)
{
	struct strg_req_scan s;
	size_t at = len;
	int r = STRG_FS_MORE, p;

	memset(&s, 0, sizeof(s));
	for (size_t i = 0; i < len && r == STRG_FS_MORE; i++) {
		r = strg_req_step(&s, (__u8)buf[i]);
		at = i + 1;
	}
	/* Only DONE is carried: MORE at the end of what arrived is passed up like PASS. */
	if (r != STRG_FS_DONE)
		return;
	p = http_parse_request(buf, len, NULL, &req);
	if (p != (int)at || (unsigned)req.method != s.method || req.path_len != s.path_len ||
	    req.body != (s.content_length ? HTTP_BODY_LENGTH : HTTP_BODY_NONE) ||
	    (s.content_length && req.content_length != s.content_length) || !req.host ||
	    lower_hash(req.host, req.host_len) != s.host_hash)
		abort();
}

static void response(const char *buf, size_t len, unsigned method)
{
	struct strg_resp_scan s;
	struct http_response resp;
	size_t at = len;
	int r = STRG_FS_MORE, p;

	memset(&s, 0, sizeof(s));
	s.req_method = method;
	for (size_t i = 0; i < len && r == STRG_FS_MORE; i++) {
		r = strg_resp_step(&s, (__u8)buf[i]);
		at = i + 1;
	}
	if (r != STRG_FS_DONE)
		return;
	p = http_parse_response(buf, len, 65536, (enum http_method)method, &resp);
	if (p != (int)at || resp.status != s.status ||
	    (resp.body == HTTP_BODY_LENGTH ? resp.content_length : 0) != s.content_length ||
	    (resp.body != HTTP_BODY_LENGTH && resp.body != HTTP_BODY_NONE))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!size)
		return 0;
	if (data[0] & 1)
		request((const char *)data + 1, size - 1);
	else
		response((const char *)data + 1, size - 1, data[0] & 2 ? STRG_M_HEAD : STRG_M_GET);
	return 0;
}
