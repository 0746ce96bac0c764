/* SPDX-License-Identifier: GPL-2.0-only */
/* HTTP/1.1 character classes and scanners shared by strgd's parser and the BPF request scanner. */
#ifndef STRG_HTTP_SCAN_H
#define STRG_HTTP_SCAN_H

/*
 * No includes on purpose: this header is compiled by clang -target bpf as well as by the host
 * compiler. The includer provides __u8/__u32/__u64, through <linux/types.h> in user space or
 * vmlinux.h in BPF programs. Every helper is a pure function over a caller-owned buffer, with
 * loops bounded by STRG_SCAN_MAX so the verifier can prove termination.
 */

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

/*
 * The longest span any helper here scans. A BPF includer may lower it before including this
 * header to shrink what the verifier walks; longer inputs are rejected, never truncated.
 */
#ifndef STRG_SCAN_MAX
#define STRG_SCAN_MAX 65535u
#endif

/* Method ids; they equal enum http_method in user/core/http.h (the unit tests check every one). */
#define STRG_M_UNKNOWN 0u
#define STRG_M_GET     1u
#define STRG_M_HEAD    2u
#define STRG_M_POST    3u
#define STRG_M_PUT     4u
#define STRG_M_DELETE  5u
#define STRG_M_OPTIONS 6u
#define STRG_M_PATCH   7u
#define STRG_M_TRACE   8u
#define STRG_M_CONNECT 9u

/* len clipped to STRG_SCAN_MAX: the loop bound that both the verifier and static checkers see. */
static __always_inline __u32 strg_scan_bound(__u32 len)
{
	return len < STRG_SCAN_MAX ? len : STRG_SCAN_MAX;
}

/* 0x7fffffffffffffff: Content-Length must fit a signed 64-bit offset everywhere it travels. */
#define STRG_CONTENT_LENGTH_MAX 0x7fffffffffffffffull

static __always_inline int strg_is_digit(__u8 c)
{
	return c >= '0' && c <= '9';
}

static __always_inline int strg_is_alpha(__u8 c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* SP or HTAB: the OWS/BWS of RFC 9110 5.6.3. */
static __always_inline int strg_is_ows(__u8 c)
{
	return c == ' ' || c == '\t';
}

static __always_inline __u8 strg_lower(__u8 c)
{
	return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

/* tchar of RFC 9110 5.6.2: what methods, field names and codings are made of. */
static __always_inline int strg_is_tchar(__u8 c)
{
	if (strg_is_alpha(c) || strg_is_digit(c))
		return 1;
	switch (c) {
	case '!':
	case '#':
	case '$':
	case '%':
	case '&':
	case '\'':
	case '*':
	case '+':
	case '-':
	case '.':
	case '^':
	case '_':
	case '`':
	case '|':
	case '~':
		return 1;
	}
	return 0;
}

/* field-vchar (VCHAR / obs-text): obs-text is allowed because real clients send UTF-8 values. */
static __always_inline int strg_is_field_vchar(__u8 c)
{
	return (c > 0x20 && c < 0x7f) || c >= 0x80;
}

/* What a field value may contain between its first and last field-vchar. */
static __always_inline int strg_is_field_content(__u8 c)
{
	return strg_is_field_vchar(c) || strg_is_ows(c);
}

/*
 * A byte allowed in a request-target as sent. Deliberately only the RFC 9112 3.2 wire rules
 * (no CTL, SP, DEL or non-ASCII) plus no '#': clients send unencoded '|', '{' or '"' in
 * practice, and those cannot change how a path is routed, while a fragment has no business on
 * the wire.
 */
static __always_inline int strg_is_target_char(__u8 c)
{
	return c > 0x20 && c < 0x7f && c != '#';
}

/* Value of a hex digit, or -1: chunk sizes and percent-encoding. */
static __always_inline int strg_hex_val(__u8 c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Length of the run of tchar at the start of s[0..len). */
static __always_inline __u32 strg_scan_token(const char *s, __u32 len)
{
	__u32 i, n = strg_scan_bound(len);

	for (i = 0; i < n; i++) {
		if (!strg_is_tchar(s[i]))
			break;
	}
	return i;
}

/* s[0..len) equals lit[0..len) byte for byte; lit is a literal the caller knows is long enough. */
static __always_inline int strg_bytes_eq(const char *s, const char *lit, __u32 len)
{
	__u32 i, n = strg_scan_bound(len);

	for (i = 0; i < n; i++) {
		if (s[i] != lit[i])
			return 0;
	}
	return i == len;
}

/* s[0..len) equals the lowercase literal lit[0..lit_len) ignoring ASCII case. */
static __always_inline int strg_lc_eq(const char *s, __u32 len, const char *lit, __u32 lit_len)
{
	__u32 i, n = strg_scan_bound(len);

	if (len != lit_len)
		return 0;
	for (i = 0; i < n; i++) {
		if (strg_lower(s[i]) != (__u8)lit[i])
			return 0;
	}
	return i == len;
}

/* Method token to STRG_M_*; methods are case-sensitive (RFC 9110 9.1), so "get" is unknown. */
static __always_inline __u32 strg_method_id(const char *s, __u32 len)
{
	switch (len) {
	case 3:
		if (strg_bytes_eq(s, "GET", 3))
			return STRG_M_GET;
		if (strg_bytes_eq(s, "PUT", 3))
			return STRG_M_PUT;
		break;
	case 4:
		if (strg_bytes_eq(s, "HEAD", 4))
			return STRG_M_HEAD;
		if (strg_bytes_eq(s, "POST", 4))
			return STRG_M_POST;
		break;
	case 5:
		if (strg_bytes_eq(s, "PATCH", 5))
			return STRG_M_PATCH;
		if (strg_bytes_eq(s, "TRACE", 5))
			return STRG_M_TRACE;
		break;
	case 6:
		if (strg_bytes_eq(s, "DELETE", 6))
			return STRG_M_DELETE;
		break;
	case 7:
		if (strg_bytes_eq(s, "OPTIONS", 7))
			return STRG_M_OPTIONS;
		if (strg_bytes_eq(s, "CONNECT", 7))
			return STRG_M_CONNECT;
		break;
	}
	return STRG_M_UNKNOWN;
}

/*
 * Content-Length value: 1*DIGIT, at most 19 digits and at most 2^63-1. Signs, hex, spaces and
 * lists are the caller's to reject before (they are not digits here either). 0 or -1.
 */
static __always_inline int strg_parse_content_length(const char *s, __u32 len, __u64 *out)
{
	__u64 v = 0;
	__u32 i;

	if (len == 0 || len > 19)
		return -1;
	for (i = 0; i < len; i++) {
		__u8 c = s[i];

		if (!strg_is_digit(c))
			return -1;
		if (v > (STRG_CONTENT_LENGTH_MAX - (c - '0')) / 10)
			return -1;
		v = v * 10 + (c - '0');
	}
	*out = v;
	return 0;
}

/* Where strg_check_path is within a path segment; ordered so that a '.' moves one step on. */
#define STRG_SEG_START 0u /* just after '/' */
#define STRG_SEG_DOT   1u /* "." so far */
#define STRG_SEG_DOTS  2u /* ".." so far */
#define STRG_SEG_OTHER 3u /* anything else, "..." included */

/* Bytes from s[i] on are a well-formed percent-encoding ("%" HEXDIG HEXDIG), i < len. */
static __always_inline int strg_is_pct_encoded(const char *s, __u32 i, __u32 len)
{
	return len - i >= 3 && strg_hex_val(s[i + 1]) >= 0 && strg_hex_val(s[i + 2]) >= 0;
}

/*
 * Check the path-and-query part of a request target, which starts with '/' or '?' or is empty:
 * target chars only, percent-encoding well-formed, and no "." or ".." path segment. The router
 * matches raw paths without normalizing them, so "/public/../admin" would match a "/public" route
 * and reach "/admin" once the backend resolved it; rejecting dot-segments (also spelled %2e)
 * keeps what we route on equal to what the backend serves. The path and the query are two loops
 * with little state each, so that the verifier's state pruning keeps up. Returns the length of
 * the path (the offset of '?', or len), or -1 when invalid.
 */
static __always_inline int strg_check_path(const char *s, __u32 len)
{
	__u32 i, path_len, seg = STRG_SEG_OTHER;
	__u8 c;

	if (len > STRG_SCAN_MAX)
		return -1;
	for (i = 0; i < len; i++) {
		c = s[i];
		if (c == '?')
			break;
		if (!strg_is_target_char(c))
			return -1;
		if (c == '%') {
			if (!strg_is_pct_encoded(s, i, len))
				return -1;
			c = (s[i + 1] == '2' && strg_lower(s[i + 2]) == 'e') ? '.' : 'x';
			i += 2;
		}
		if (c == '/') {
			if (seg == STRG_SEG_DOT || seg == STRG_SEG_DOTS)
				return -1;
			seg = STRG_SEG_START;
		} else if (c == '.' && seg < STRG_SEG_OTHER) {
			seg++;
		} else {
			seg = STRG_SEG_OTHER;
		}
	}
	if (seg == STRG_SEG_DOT || seg == STRG_SEG_DOTS)
		return -1;
	path_len = i;
	for (; i < len; i++) {
		c = s[i];
		if (!strg_is_target_char(c))
			return -1;
		if (c == '%') {
			if (!strg_is_pct_encoded(s, i, len))
				return -1;
			i += 2;
		}
	}
	return (int)path_len;
}

#endif
