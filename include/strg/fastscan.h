/* SPDX-License-Identifier: GPL-2.0-only */
/* Byte-at-a-time HTTP head scanners for the kernel fast path, shared with the cmocka tests. */
#ifndef STRG_FASTSCAN_H
#define STRG_FASTSCAN_H

/*
 * The BPF verdict program feeds one byte per bpf_loop() iteration, so the verifier checks each
 * step function once instead of once per byte. A scanner only ever answers "done" for a head
 * that user/core/http.c would accept with the same meaning; anything else is "pass" and strgd's
 * full parser handles the request (and rejects it when it must). The includer provides
 * __u8/__u32/__u64 (vmlinux.h in BPF, <linux/types.h> in user space).
 */
#include "http_scan.h"

#define STRG_FS_MAX_HEAD   2048u /* longest head the kernel classifies */
#define STRG_FS_MAX_DEPTH  16u	 /* path prefixes recorded (one per '/' boundary + the full path) */
#define STRG_FS_MAX_FIELDS 100u

/* Results of a step. */
#define STRG_FS_MORE 0	/* keep feeding */
#define STRG_FS_DONE 1	/* the byte just fed ended the head (final LF) */
#define STRG_FS_PASS -1 /* not for the fast path: hand the bytes to user space */

#define STRG_FNV_OFFSET 0xcbf29ce484222325ull
#define STRG_FNV_PRIME	0x100000001b3ull

/* FNV-1a 64, one byte: route keys hash path prefixes and lowercased hosts this way. */
static __always_inline __u64 strg_fnv_step(__u64 h, __u8 c)
{
	return (h ^ c) * STRG_FNV_PRIME;
}

/* Request-head scanner state; zero it, then feed bytes until DONE or PASS. */
struct strg_req_scan {
	__u32 state;	 /* internal: STRG_RQ_* or STRG_FS_ST_* */
	__u32 pos;	 /* bytes fed so far */
	__u32 method;	 /* STRG_M_* once the request line is done */
	__u32 path_len;	 /* bytes of the path, query excluded */
	__u32 ndepth;	 /* entries used in prefix_hash/prefix_len */
	__u32 nfields;	 /* header fields seen */
	__u32 seg;	 /* STRG_SEG_* of the current path segment */
	__u32 name_len;	 /* bytes of the current field name */
	__u32 host_seen; /* Host fields seen */
	__u32 tok_len;	 /* bytes of the current token (method, version, Host port) */
	__u64 word;	 /* method, version or lowercased name bytes 0-7, packed; Host port value */
	__u64 word2;	 /* lowercased name bytes 8-15, packed */
	__u64 content_length; /* body bytes that follow the head; 0 when there is none */
	__u32 has_length;     /* a Content-Length field was seen */
	__u32 pad;
	__u64 hash;	 /* running FNV of the path or of the host */
	__u64 name_hash; /* running FNV of the lowercased field name */
	__u64 host_hash; /* FNV of the lowercased Host value without port; 0 = none */
	__u64 prefix_hash[STRG_FS_MAX_DEPTH]; /* FNV of each '/'-bounded prefix, the full path last
					       */
	__u32 prefix_len[STRG_FS_MAX_DEPTH];
};

/* Response-head scanner state; zero it, set req_method, feed until DONE or PASS. */
struct strg_resp_scan {
	__u32 state;	  /* internal: STRG_RS_* or STRG_FS_ST_* */
	__u32 pos;	  /* bytes fed so far */
	__u32 req_method; /* STRG_M_* of the request answered: HEAD responses carry no body */
	__u32 status;	  /* status code once the status line is done */
	__u32 nfields;
	__u32 name_len;
	__u32 tok_len;	  /* bytes of the current token (version, status, Content-Length) */
	__u32 has_length; /* a Content-Length field was seen */
	__u64 name_hash;
	__u64 word;	      /* version or lowercased name bytes 0-7, packed */
	__u64 word2;	      /* lowercased name bytes 8-15, packed */
	__u64 content_length; /* body bytes that follow the head (0 when the response has none) */
};

/*
 * Field names the scanners act on: FNV-1a 64 of the lowercase name (the unit tests recompute
 * each). A hash only ever triggers PASS, where a false match is harmless; the two names whose
 * match can lead to DONE (Host, Content-Length) are also compared byte for byte through their
 * packed bytes, because FNV is not collision-resistant and the names come from the peer.
 */
#define STRG_FS_N_HOST		    0x4077f8cc7eaf4d6full /* "host" */
#define STRG_FS_N_CONTENT_LENGTH    0x2d69a1e6ee916e7dull /* "content-length" */
#define STRG_FS_N_TRANSFER_ENCODING 0x8640bd735e9d802cull /* "transfer-encoding" */
#define STRG_FS_N_CONNECTION	    0xc7f597ea639b1b59ull /* "connection" */
#define STRG_FS_N_EXPECT	    0x208ad7977190aad8ull /* "expect" */
#define STRG_FS_N_UPGRADE	    0x7f7d77d7c2a03db7ull /* "upgrade" */
#define STRG_FS_N_TE		    0x08c83307b56ab672ull /* "te" */
#define STRG_FS_N_TRAILER	    0xdac5827ce61e8e00ull /* "trailer" */
#define STRG_FS_N_PROXY_CONNECTION  0x5bc2b1fc8570c386ull /* "proxy-connection" */
#define STRG_FS_N_KEEP_ALIVE	    0x9b912fcf8da69be0ull /* "keep-alive" */

/* Tokens packed big-endian into a __u64, first byte highest: "GET" is 0x474554. */
#define STRG_FS_W_GET	   0x474554ull
#define STRG_FS_W_HEAD	   0x48454144ull
#define STRG_FS_W_POST	   0x504f5354ull
#define STRG_FS_W_PUT	   0x505554ull
#define STRG_FS_W_DELETE   0x44454c455445ull
#define STRG_FS_W_OPTIONS  0x4f5054494f4e53ull
#define STRG_FS_W_PATCH	   0x5041544348ull
#define STRG_FS_W_TRACE	   0x5452414345ull
#define STRG_FS_W_HTTP11   0x485454502f312e31ull /* "HTTP/1.1" */
#define STRG_FS_W_HOST	   0x686f7374ull	 /* "host" */
#define STRG_FS_W_CONTENT_ 0x636f6e74656e742dull /* "content-" */
#define STRG_FS_W__LENGTH  0x6c656e677468ull	 /* "length" */
#define STRG_FS_W_CONNECTI 0x636f6e6e65637469ull /* "connecti" */
#define STRG_FS_W_ON	   0x6f6eull		 /* "on" */
#define STRG_FS_W_KEEP_ALI 0x6b6565702d616c69ull /* "keep-ali" */
#define STRG_FS_W_VE	   0x7665ull		 /* "ve" */

/*
 * Scanner states. Zero is each scanner's first state, so that a zeroed struct is ready; the
 * field-line states and the two final ones are shared by both scanners.
 */
#define STRG_RQ_METHOD	  0u
#define STRG_RQ_TARGET	  1u /* first byte of the request-target */
#define STRG_RQ_PATH	  2u
#define STRG_RQ_QUERY	  3u
#define STRG_RQ_VERSION	  4u
#define STRG_RQ_LINE_LF	  5u
#define STRG_RQ_HOST_OWS  6u /* OWS before the Host value */
#define STRG_RQ_HOST	  7u
#define STRG_RQ_PORT	  8u
#define STRG_RQ_HOST_TAIL 9u /* OWS after the Host value */

#define STRG_RS_VERSION	  0u
#define STRG_RS_STATUS	  1u
#define STRG_RS_REASON	  2u
#define STRG_RS_LINE_LF	  3u
#define STRG_RS_CONN_OWS  7u /* OWS before a Connection value */
#define STRG_RS_CONN	  8u
#define STRG_RS_CONN_TAIL 9u

#define STRG_FS_ST_FIELD    16u /* start of a field line, or the CR of the empty line */
#define STRG_FS_ST_NAME	    17u
#define STRG_FS_ST_VALUE    18u
#define STRG_FS_ST_FIELD_LF 19u
#define STRG_FS_ST_END_LF   20u /* LF of the empty line */
#define STRG_FS_ST_DONE	    21u
#define STRG_FS_ST_PASS	    22u
#define STRG_FS_ST_CL_OWS   23u /* OWS before the Content-Length digits */
#define STRG_FS_ST_CL	    24u
#define STRG_FS_ST_CL_TAIL  25u /* OWS after them */

static __always_inline int strg_fs_result(__u32 st)
{
	if (st == STRG_FS_ST_DONE)
		return STRG_FS_DONE;
	return st == STRG_FS_ST_PASS ? STRG_FS_PASS : STRG_FS_MORE;
}

/* The byte after a CR must be LF: a bare CR is read differently by different parsers. */
static __always_inline __u32 strg_fs_lf(__u8 c, __u32 next)
{
	return c == '\n' ? next : STRG_FS_ST_PASS;
}

/*
 * A field value the scanner does not interpret: field-content up to CR. This rejects NUL, bare
 * LF, DEL and the other CTLs, exactly the bytes user/core/http.c refuses in a value.
 */
static __always_inline __u32 strg_fs_value(__u8 c, __u32 stay, __u32 cr)
{
	if (c == '\r')
		return cr;
	return strg_is_field_content(c) ? stay : STRG_FS_ST_PASS;
}

/* OWS after a value the scanner interprets, then the CR ending the line. */
static __always_inline __u32 strg_fs_tail(__u8 c, __u32 stay)
{
	if (strg_is_ows(c))
		return stay;
	return c == '\r' ? STRG_FS_ST_FIELD_LF : STRG_FS_ST_PASS;
}

/*
 * Fields both scanners leave to strgd: they manage the connection or frame the body in ways
 * the kernel does not carry (h: FNV of the lowercased name, len its length).
 */
static __always_inline __u32 strg_fs_hop_field(__u64 h, __u32 len)
{
	switch (len) {
	case 7:
		return h == STRG_FS_N_UPGRADE || h == STRG_FS_N_TRAILER ? STRG_FS_ST_PASS
									: STRG_FS_ST_VALUE;
	case 10:
		return h == STRG_FS_N_CONNECTION || h == STRG_FS_N_KEEP_ALIVE ? STRG_FS_ST_PASS
									      : STRG_FS_ST_VALUE;
	case 16:
		return h == STRG_FS_N_PROXY_CONNECTION ? STRG_FS_ST_PASS : STRG_FS_ST_VALUE;
	case 17:
		return h == STRG_FS_N_TRANSFER_ENCODING ? STRG_FS_ST_PASS : STRG_FS_ST_VALUE;
	}
	return STRG_FS_ST_VALUE;
}

/*
 * One byte of a field name, for both scanners: 1 when it belongs to the name (hashed
 * lowercased, its first 16 bytes also packed into w1/w2 for exact comparisons), 0 for the colon
 * that ends a non-empty name, -1 for anything else (whitespace before the colon included: a
 * smuggling lever).
 */
static __always_inline int strg_fs_name_byte(__u64 *hash, __u32 *len, __u64 *w1, __u64 *w2, __u8 c)
{
	__u8 lc = strg_lower(c);

	if (c == ':' && *len)
		return 0;
	if (!strg_is_tchar(c))
		return -1;
	*hash = strg_fnv_step(*hash, lc);
	if (*len < 8)
		*w1 = *w1 << 8 | lc;
	else if (*len < 16)
		*w2 = *w2 << 8 | lc;
	(*len)++;
	return 1;
}

/*
 * One byte of a Content-Length value in state st (STRG_FS_ST_CL_*), for both scanners:
 * 1*DIGIT with OWS around it, no list, sign or inner space; 18 digits keep the value below
 * 2^63 without an overflow check.
 */
static __always_inline __u32 strg_fs_length(__u64 *value, __u32 *ndigits, __u32 st, __u8 c)
{
	if (st != STRG_FS_ST_CL_TAIL && strg_is_digit(c)) {
		if (*ndigits >= 18)
			return STRG_FS_ST_PASS;
		*value = *value * 10 + (c - '0');
		(*ndigits)++;
		return STRG_FS_ST_CL;
	}
	if (st == STRG_FS_ST_CL_OWS) /* empty, or not a number */
		return strg_is_ows(c) ? STRG_FS_ST_CL_OWS : STRG_FS_ST_PASS;
	return strg_fs_tail(c, STRG_FS_ST_CL_TAIL);
}

/*
 * reg-name restricted to unreserved characters, as user/core/http.c's check_host: IPv6 literals,
 * sub-delims and percent-encoding are rare enough to leave to user space.
 */
static __always_inline int strg_fs_is_host_char(__u8 c)
{
	return strg_is_alpha(c) || strg_is_digit(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

static __always_inline __u32 strg_rq_method(struct strg_req_scan *s, __u8 c)
{
	if (c >= 'A' && c <= 'Z' && s->tok_len < 7) {
		s->word = s->word << 8 | c;
		s->tok_len++;
		return STRG_RQ_METHOD;
	}
	if (c != ' ')
		return STRG_FS_ST_PASS;
	/* CONNECT is missing on purpose: tunnels are strgd's business. */
	switch (s->word) {
	case STRG_FS_W_GET:
		s->method = STRG_M_GET;
		break;
	case STRG_FS_W_HEAD:
		s->method = STRG_M_HEAD;
		break;
	case STRG_FS_W_POST:
		s->method = STRG_M_POST;
		break;
	case STRG_FS_W_PUT:
		s->method = STRG_M_PUT;
		break;
	case STRG_FS_W_DELETE:
		s->method = STRG_M_DELETE;
		break;
	case STRG_FS_W_OPTIONS:
		s->method = STRG_M_OPTIONS;
		break;
	case STRG_FS_W_PATCH:
		s->method = STRG_M_PATCH;
		break;
	case STRG_FS_W_TRACE:
		s->method = STRG_M_TRACE;
		break;
	default:
		return STRG_FS_ST_PASS;
	}
	return STRG_RQ_TARGET;
}

/* Remember the path so far as a route-lookup key; more keys than slots is user space's. */
static __always_inline int strg_rq_record(struct strg_req_scan *s)
{
	__u32 i = s->ndepth;

	if (i >= STRG_FS_MAX_DEPTH)
		return -1;
	s->prefix_hash[i] = s->hash;
	s->prefix_len[i] = s->path_len;
	s->ndepth = i + 1;
	return 0;
}

/*
 * The path ends at '?' or SP. "/" records nothing: the root route is the lookup's fallback. A
 * trailing '/' is recorded as it is, and matches no route since route paths never end in '/'.
 */
static __always_inline __u32 strg_rq_path_end(struct strg_req_scan *s, __u8 c)
{
	if (s->seg == STRG_SEG_DOT || s->seg == STRG_SEG_DOTS)
		return STRG_FS_ST_PASS;
	if (s->path_len > 1 && strg_rq_record(s))
		return STRG_FS_ST_PASS;
	if (c == '?')
		return STRG_RQ_QUERY;
	s->word = 0;
	s->tok_len = 0;
	return STRG_RQ_VERSION;
}

/*
 * A path byte. The router matches raw paths, so anything whose routed form could differ from
 * what the backend serves (dot segments, empty segments, any percent-encoding) is left to
 * strgd, which rejects or routes it with the full rules of strg_check_path.
 */
static __always_inline __u32 strg_rq_path(struct strg_req_scan *s, __u8 c)
{
	if (c == '/') {
		/* The segment just ended must be a real name: not "", "." or "..". */
		if (s->seg != STRG_SEG_OTHER || strg_rq_record(s))
			return STRG_FS_ST_PASS;
		s->seg = STRG_SEG_START;
	} else if (c == '?' || c == ' ') {
		return strg_rq_path_end(s, c);
	} else if (c == '%' || !strg_is_target_char(c)) {
		return STRG_FS_ST_PASS;
	} else if (c == '.' && s->seg < STRG_SEG_OTHER) {
		s->seg++;
	} else {
		s->seg = STRG_SEG_OTHER;
	}
	s->hash = strg_fnv_step(s->hash, c);
	s->path_len++;
	return STRG_RQ_PATH;
}

static __always_inline __u32 strg_rq_target(struct strg_req_scan *s, __u8 c)
{
	/* origin-form only: absolute-form carries its own host, '*' is OPTIONS-only. */
	if (c != '/')
		return STRG_FS_ST_PASS;
	s->hash = strg_fnv_step(STRG_FNV_OFFSET, c);
	s->path_len = 1;
	s->seg = STRG_SEG_START;
	return STRG_RQ_PATH;
}

static __always_inline __u32 strg_rq_query(struct strg_req_scan *s, __u8 c)
{
	if (c == ' ') {
		s->word = 0;
		s->tok_len = 0;
		return STRG_RQ_VERSION;
	}
	return c != '%' && strg_is_target_char(c) ? STRG_RQ_QUERY : STRG_FS_ST_PASS;
}

/* HTTP/1.0 is left to strgd: its keep-alive and Host rules differ. */
static __always_inline __u32 strg_rq_version(struct strg_req_scan *s, __u8 c)
{
	if (c == '\r')
		return s->tok_len == 8 && s->word == STRG_FS_W_HTTP11 ? STRG_RQ_LINE_LF
								      : STRG_FS_ST_PASS;
	if (s->tok_len >= 8)
		return STRG_FS_ST_PASS;
	s->word = s->word << 8 | c;
	s->tok_len++;
	return STRG_RQ_VERSION;
}

static __always_inline __u32 strg_rq_new_line(struct strg_req_scan *s, __u8 c)
{
	s->name_hash = STRG_FNV_OFFSET;
	s->name_len = 0;
	s->word = 0;
	s->word2 = 0;
	return strg_fs_lf(c, STRG_FS_ST_FIELD);
}

/*
 * Where a request field's value goes, by name. Fields that frame a body, manage the
 * connection or ask for an interim response all send the request to strgd.
 */
static __always_inline __u32 strg_rq_field(struct strg_req_scan *s)
{
	__u64 h = s->name_hash;

	switch (s->name_len) {
	case 2:
		return h == STRG_FS_N_TE ? STRG_FS_ST_PASS : STRG_FS_ST_VALUE;
	case 4:
		if (h != STRG_FS_N_HOST || s->word != STRG_FS_W_HOST)
			return STRG_FS_ST_VALUE;
		/* Two Hosts are a 400 in strgd, and which one a backend reads is anyone's guess. */
		if (s->host_seen++)
			return STRG_FS_ST_PASS;
		s->hash = STRG_FNV_OFFSET;
		return STRG_RQ_HOST_OWS;
	case 6:
		return h == STRG_FS_N_EXPECT ? STRG_FS_ST_PASS : STRG_FS_ST_VALUE;
	case 14:
		if (h != STRG_FS_N_CONTENT_LENGTH)
			return STRG_FS_ST_VALUE;
		/*
		 * The kernel carries a body of exactly this length, so the name must be exactly
		 * content-length, not a hash twin; one field only (strgd rejects duplicates).
		 */
		if (s->word != STRG_FS_W_CONTENT_ || s->word2 != STRG_FS_W__LENGTH ||
		    s->has_length++)
			return STRG_FS_ST_PASS;
		s->tok_len = 0;
		s->content_length = 0;
		return STRG_FS_ST_CL_OWS;
	}
	return strg_fs_hop_field(h, s->name_len);
}

static __always_inline __u32 strg_rq_name(struct strg_req_scan *s, __u8 c)
{
	int r = strg_fs_name_byte(&s->name_hash, &s->name_len, &s->word, &s->word2, c);

	if (r > 0)
		return STRG_FS_ST_NAME;
	return r == 0 ? strg_rq_field(s) : STRG_FS_ST_PASS;
}

static __always_inline __u32 strg_rq_line_start(struct strg_req_scan *s, __u8 c)
{
	if (c == '\r')
		return STRG_FS_ST_END_LF;
	/* SP or HTAB here is obs-fold, which strgd rejects: strg_rq_name passes it. */
	if (++s->nfields > STRG_FS_MAX_FIELDS)
		return STRG_FS_ST_PASS;
	return strg_rq_name(s, c);
}

/* Host bytes, lowercased into the hash; host_hash follows so it is final at any end. */
static __always_inline __u32 strg_rq_host(struct strg_req_scan *s, __u8 c)
{
	if (strg_fs_is_host_char(c)) {
		s->hash = strg_fnv_step(s->hash, strg_lower(c));
		s->host_hash = s->hash;
		return STRG_RQ_HOST;
	}
	if (s->state == STRG_RQ_HOST_OWS) /* an empty Host, or an IPv6 literal */
		return strg_is_ows(c) ? STRG_RQ_HOST_OWS : STRG_FS_ST_PASS;
	if (c == ':') {
		s->word = 0;
		s->tok_len = 0;
		return STRG_RQ_PORT;
	}
	return strg_fs_tail(c, STRG_RQ_HOST_TAIL);
}

/* 1-5 digits up to 65535, as check_host wants; the port plays no part in routing. */
static __always_inline __u32 strg_rq_port(struct strg_req_scan *s, __u8 c)
{
	if (strg_is_digit(c)) {
		if (s->tok_len >= 5)
			return STRG_FS_ST_PASS;
		s->word = s->word * 10 + (c - '0');
		s->tok_len++;
		return STRG_RQ_PORT;
	}
	if (s->tok_len == 0 || s->word > 65535)
		return STRG_FS_ST_PASS;
	return strg_fs_tail(c, STRG_RQ_HOST_TAIL);
}

/* The end of the head; HTTP/1.1 without Host is a 400 that strgd sends. */
static __always_inline __u32 strg_rq_end(struct strg_req_scan *s, __u8 c)
{
	if (c != '\n' || s->host_seen != 1)
		return STRG_FS_ST_PASS;
	return STRG_FS_ST_DONE;
}

/* Feed one byte of a request head; STRG_FS_MORE, STRG_FS_DONE or STRG_FS_PASS. */
static __always_inline int strg_req_step(struct strg_req_scan *s, __u8 c)
{
	__u32 st;

	if (s->pos++ >= STRG_FS_MAX_HEAD)
		s->state = STRG_FS_ST_PASS;
	switch (s->state) {
	case STRG_RQ_METHOD:
		st = strg_rq_method(s, c);
		break;
	case STRG_RQ_TARGET:
		st = strg_rq_target(s, c);
		break;
	case STRG_RQ_PATH:
		st = strg_rq_path(s, c);
		break;
	case STRG_RQ_QUERY:
		st = strg_rq_query(s, c);
		break;
	case STRG_RQ_VERSION:
		st = strg_rq_version(s, c);
		break;
	case STRG_RQ_LINE_LF:
	case STRG_FS_ST_FIELD_LF:
		st = strg_rq_new_line(s, c);
		break;
	case STRG_FS_ST_FIELD:
		st = strg_rq_line_start(s, c);
		break;
	case STRG_FS_ST_NAME:
		st = strg_rq_name(s, c);
		break;
	case STRG_FS_ST_VALUE:
		st = strg_fs_value(c, STRG_FS_ST_VALUE, STRG_FS_ST_FIELD_LF);
		break;
	case STRG_RQ_HOST_OWS:
	case STRG_RQ_HOST:
		st = strg_rq_host(s, c);
		break;
	case STRG_RQ_PORT:
		st = strg_rq_port(s, c);
		break;
	case STRG_RQ_HOST_TAIL:
		st = strg_fs_tail(c, STRG_RQ_HOST_TAIL);
		break;
	case STRG_FS_ST_CL_OWS:
	case STRG_FS_ST_CL:
	case STRG_FS_ST_CL_TAIL:
		st = strg_fs_length(&s->content_length, &s->tok_len, s->state, c);
		break;
	case STRG_FS_ST_END_LF:
		st = strg_rq_end(s, c);
		break;
	default: /* DONE was answered once; after it, and after PASS, the bytes are strgd's */
		st = STRG_FS_ST_PASS;
		break;
	}
	s->state = st;
	return strg_fs_result(st);
}

/* "HTTP/1.1" SP: HTTP/1.0 responses may be close-delimited and keep-alive differs, so pass. */
static __always_inline __u32 strg_rs_version(struct strg_resp_scan *s, __u8 c)
{
	if (s->tok_len < 8) {
		s->word = s->word << 8 | c;
		s->tok_len++;
		return STRG_RS_VERSION;
	}
	if (c != ' ' || s->word != STRG_FS_W_HTTP11)
		return STRG_FS_ST_PASS;
	s->tok_len = 0;
	return STRG_RS_STATUS;
}

/* 3DIGIT, then SP reason or CRLF; 1xx (interim, 101 upgrades) is strgd's to relay. */
static __always_inline __u32 strg_rs_status(struct strg_resp_scan *s, __u8 c)
{
	if (s->tok_len == 3) {
		if (c == ' ')
			return STRG_RS_REASON;
		return c == '\r' ? STRG_RS_LINE_LF : STRG_FS_ST_PASS;
	}
	if (!strg_is_digit(c) || (s->tok_len == 0 && c < '2'))
		return STRG_FS_ST_PASS;
	s->status = s->status * 10 + (c - '0');
	s->tok_len++;
	return STRG_RS_STATUS;
}

static __always_inline __u32 strg_rs_new_line(struct strg_resp_scan *s, __u8 c)
{
	s->name_hash = STRG_FNV_OFFSET;
	s->name_len = 0;
	s->word = 0;
	s->word2 = 0;
	return strg_fs_lf(c, STRG_FS_ST_FIELD);
}

/*
 * Where a response field's value goes, by name. Anything that could delimit the body other
 * than a single Content-Length, or that manages the connection, goes to strgd.
 */
static __always_inline __u32 strg_rs_field(struct strg_resp_scan *s)
{
	__u64 h = s->name_hash;

	switch (s->name_len) {
	case 10:
		/*
		 * "Connection: keep-alive" only restates HTTP/1.1's default (servers such as
		 * nginx send it on every answer): the kernel carries it. Any other value may
		 * close the connection, which is strgd's to handle.
		 */
		if (h == STRG_FS_N_CONNECTION && s->word == STRG_FS_W_CONNECTI &&
		    s->word2 == STRG_FS_W_ON) {
			s->word = 0;
			s->word2 = 0;
			s->tok_len = 0;
			return STRG_RS_CONN_OWS;
		}
		break;
	case 14:
		if (h != STRG_FS_N_CONTENT_LENGTH || s->word != STRG_FS_W_CONTENT_ ||
		    s->word2 != STRG_FS_W__LENGTH)
			return STRG_FS_ST_VALUE;
		/* strgd folds equal duplicates; the kernel keeps to the one unambiguous form. */
		if (s->has_length++)
			return STRG_FS_ST_PASS;
		s->tok_len = 0;
		return STRG_FS_ST_CL_OWS;
	}
	return strg_fs_hop_field(h, s->name_len);
}

static __always_inline __u32 strg_rs_name(struct strg_resp_scan *s, __u8 c)
{
	int r = strg_fs_name_byte(&s->name_hash, &s->name_len, &s->word, &s->word2, c);

	if (r > 0)
		return STRG_FS_ST_NAME;
	return r == 0 ? strg_rs_field(s) : STRG_FS_ST_PASS;
}

static __always_inline __u32 strg_rs_line_start(struct strg_resp_scan *s, __u8 c)
{
	if (c == '\r')
		return STRG_FS_ST_END_LF;
	if (++s->nfields > STRG_FS_MAX_FIELDS)
		return STRG_FS_ST_PASS;
	return strg_rs_name(s, c);
}

/* A Connection value: exactly "keep-alive" in any case, with OWS around it. */
static __always_inline __u32 strg_rs_conn(struct strg_resp_scan *s, __u8 c)
{
	if (s->state == STRG_RS_CONN_OWS && strg_is_ows(c))
		return STRG_RS_CONN_OWS;
	if (strg_is_tchar(c)) {
		if (s->tok_len >= 10)
			return STRG_FS_ST_PASS;
		if (s->tok_len < 8)
			s->word = s->word << 8 | strg_lower(c);
		else
			s->word2 = s->word2 << 8 | strg_lower(c);
		s->tok_len++;
		return STRG_RS_CONN;
	}
	if (s->tok_len != 10 || s->word != STRG_FS_W_KEEP_ALI || s->word2 != STRG_FS_W_VE)
		return STRG_FS_ST_PASS;
	return strg_fs_tail(c, STRG_RS_CONN_TAIL);
}

/*
 * The end of the head. HEAD answers, 204 and 304 have no body whatever Content-Length says
 * (RFC 9110 6.4.1); any other status without one is delimited by the close, which strgd handles.
 */
static __always_inline __u32 strg_rs_end(struct strg_resp_scan *s, __u8 c)
{
	if (c != '\n')
		return STRG_FS_ST_PASS;
	if (s->req_method == STRG_M_HEAD || s->status == 204 || s->status == 304) {
		s->content_length = 0;
		return STRG_FS_ST_DONE;
	}
	return s->has_length ? STRG_FS_ST_DONE : STRG_FS_ST_PASS;
}

/* Feed one byte of a response head. */
static __always_inline int strg_resp_step(struct strg_resp_scan *s, __u8 c)
{
	__u32 st;

	if (s->pos++ >= STRG_FS_MAX_HEAD)
		s->state = STRG_FS_ST_PASS;
	switch (s->state) {
	case STRG_RS_VERSION:
		st = strg_rs_version(s, c);
		break;
	case STRG_RS_STATUS:
		st = strg_rs_status(s, c);
		break;
	case STRG_RS_REASON:
		st = strg_fs_value(c, STRG_RS_REASON, STRG_RS_LINE_LF);
		break;
	case STRG_RS_LINE_LF:
	case STRG_FS_ST_FIELD_LF:
		st = strg_rs_new_line(s, c);
		break;
	case STRG_FS_ST_FIELD:
		st = strg_rs_line_start(s, c);
		break;
	case STRG_FS_ST_NAME:
		st = strg_rs_name(s, c);
		break;
	case STRG_FS_ST_VALUE:
		st = strg_fs_value(c, STRG_FS_ST_VALUE, STRG_FS_ST_FIELD_LF);
		break;
	case STRG_FS_ST_CL_OWS:
	case STRG_FS_ST_CL:
	case STRG_FS_ST_CL_TAIL:
		st = strg_fs_length(&s->content_length, &s->tok_len, s->state, c);
		break;
	case STRG_RS_CONN_OWS:
	case STRG_RS_CONN:
		st = strg_rs_conn(s, c);
		break;
	case STRG_RS_CONN_TAIL:
		st = strg_fs_tail(c, STRG_RS_CONN_TAIL);
		break;
	case STRG_FS_ST_END_LF:
		st = strg_rs_end(s, c);
		break;
	default: /* DONE was answered once; after it, and after PASS, the bytes are strgd's */
		st = STRG_FS_ST_PASS;
		break;
	}
	s->state = st;
	return strg_fs_result(st);
}

#endif
