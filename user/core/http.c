// SPDX-License-Identifier: GPL-2.0-only
/* Strict HTTP/1.1 request/response head parser and chunked-body scanner (RFC 9110, RFC 9112). */
#include <linux/types.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "strg/http_scan.h"
#include "core/http.h"

#define HTTP_TRAILER_LINE_MAX 8192u  /* one trailer field or chunk-size line */
#define HTTP_TRAILER_MAX      16384u /* the whole trailer section */
#define HTTP_CHUNK_SIZE_MAX   (1ull << 60)

/*
 * Outcomes of scanning the field lines, before the caller maps them to its status: a request
 * answers 400/431, a response is simply a bad gateway.
 */
enum head_err {
	HEAD_BAD = -1,	    /* syntax */
	HEAD_TOO_BIG = -2,  /* over max_head */
	HEAD_TOO_MANY = -3, /* over max_fields */
};

/* What the framing- and routing-relevant fields said, gathered over the whole head. */
struct head_info {
	unsigned n_host;
	size_t host_off, host_len; /* value of the last Host field */
	unsigned n_cl;		   /* Content-Length values, counting list elements */
	bool cl_bad;		   /* a Content-Length value that is not a valid length */
	bool cl_differs;	   /* two Content-Length values differ */
	uint64_t cl;		   /* the first Content-Length value */
	unsigned n_te;		   /* transfer codings listed */
	unsigned n_chunked;	   /* how many of them are "chunked" */
	bool te_bad;		   /* empty element, or chunked with parameters */
	bool te_last_chunked;	   /* the last coding listed is chunked */
	bool connection_close, connection_keep_alive;
	bool expect_continue, expect_other;
	bool upgrade;
};

static const char *const method_names[HTTP_M_COUNT] = {
	[HTTP_M_UNKNOWN] = "UNKNOWN", [HTTP_M_GET] = "GET",	[HTTP_M_HEAD] = "HEAD",
	[HTTP_M_POST] = "POST",	      [HTTP_M_PUT] = "PUT",	[HTTP_M_DELETE] = "DELETE",
	[HTTP_M_OPTIONS] = "OPTIONS", [HTTP_M_PATCH] = "PATCH", [HTTP_M_TRACE] = "TRACE",
	[HTTP_M_CONNECT] = "CONNECT",
};

void http_limits_default(struct http_limits *lim)
{
	lim->max_request_line = 8192;
	lim->max_head = 16384;
	lim->max_fields = 100;
}

const char *http_method_name(enum http_method m)
{
	if ((unsigned)m >= HTTP_M_COUNT)
		return method_names[HTTP_M_UNKNOWN];
	return method_names[m];
}

enum http_method http_method_lookup(const char *s, size_t len)
{
	if (len > 16)
		return HTTP_M_UNKNOWN;
	return (enum http_method)strg_method_id(s, (__u32)len);
}

bool http_idempotent(enum http_method m)
{
	return m == HTTP_M_GET || m == HTTP_M_HEAD || m == HTTP_M_OPTIONS || m == HTTP_M_TRACE ||
	       m == HTTP_M_PUT || m == HTTP_M_DELETE;
}

const char *http_reason(unsigned status)
{
	switch (status) {
	case 100:
		return "Continue";
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 413:
		return "Content Too Large";
	case 414:
		return "URI Too Long";
	case 417:
		return "Expectation Failed";
	case 429:
		return "Too Many Requests";
	case 431:
		return "Request Header Fields Too Large";
	case 501:
		return "Not Implemented";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	case 505:
		return "HTTP Version Not Supported";
	}
	return "Error";
}

int http_own_head(char *out, size_t len, unsigned status, const char *type, size_t body_len,
		  const char *extra)
{
	return snprintf(out, len,
			"HTTP/1.1 %u %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s"
			"Connection: close\r\n\r\n",
			status, http_reason(status), type, body_len, extra);
}

int http_own_body(char *out, size_t len, unsigned status)
{
	return snprintf(out, len, "%u %s\n", status, http_reason(status));
}

int http_own_head_keep(char *out, size_t len, unsigned status, const char *type, size_t body_len,
		       const char *extra)
{
	return snprintf(out, len,
			"HTTP/1.1 %u %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s\r\n",
			status, http_reason(status), type, body_len, extra);
}

const char *http_cookie(const char *v, size_t len, const char *name, size_t *out)
{
	size_t i = 0, nlen = strlen(name);

	while (i < len) {
		size_t start, eq, end;

		while (i < len && (v[i] == ' ' || v[i] == ';'))
			i++;
		start = i;
		while (i < len && v[i] != ';')
			i++;
		end = i;
		for (eq = start; eq < end && v[eq] != '='; eq++)
			;
		if (eq < end && eq - start == nlen && !memcmp(v + start, name, nlen)) {
			*out = end - eq - 1;
			return v + eq + 1;
		}
	}
	return NULL;
}

static size_t min_size(size_t a, size_t b)
{
	return a < b ? a : b;
}

/*
 * Next comma-separated element of a field value, OWS trimmed. Empty elements are returned as
 * such (length 0) so that callers decide whether to tolerate them. false at the end.
 */
static bool list_next(const char *v, size_t len, size_t *pos, const char **elem, size_t *elen)
{
	size_t s = *pos, e;

	if (s > len)
		return false;
	e = s;
	while (e < len && v[e] != ',')
		e++;
	*pos = e + 1;
	while (s < e && strg_is_ows(v[s]))
		s++;
	while (e > s && strg_is_ows(v[e - 1]))
		e--;
	*elem = v + s;
	*elen = e - s;
	return true;
}

/*
 * Host syntax (RFC 9110 7.2, RFC 3986 3.2.2): reg-name / IPv4 / "[" IPv6 "]", then an optional
 * port of 1-5 digits up to 65535. Stricter than the ABNF on purpose: reg-name is limited to
 * unreserved characters (no sub-delims, no percent-encoding), because the route table compares
 * hosts as sent and no DNS name needs them, while "ex%61mple.com" or "a,b" would otherwise be a
 * second spelling that misses a host route. An empty port ("host:") is rejected for the same
 * reason. Returns the length of the host without the port, or -1.
 */
static long check_host(const char *s, size_t len)
{
	size_t i, host_len, port_len;
	unsigned long port = 0;

	if (len == 0)
		return -1;
	if (s[0] == '[') {
		for (i = 1; i < len && s[i] != ']'; i++) {
			if (strg_hex_val(s[i]) < 0 && s[i] != ':' && s[i] != '.')
				return -1;
		}
		if (i == len || i < 3) /* no ']', or fewer than "[::]"-ish two chars inside */
			return -1;
		host_len = i + 1;
	} else {
		for (i = 0; i < len && s[i] != ':'; i++) {
			if (!strg_is_alpha(s[i]) && !strg_is_digit(s[i]) && s[i] != '-' &&
			    s[i] != '.' && s[i] != '_' && s[i] != '~')
				return -1;
		}
		if (i == 0)
			return -1;
		host_len = i;
	}
	if (host_len == len)
		return (long)host_len;
	if (s[host_len] != ':')
		return -1;
	port_len = len - host_len - 1;
	if (port_len == 0 || port_len > 5)
		return -1;
	for (i = host_len + 1; i < len; i++) {
		if (!strg_is_digit(s[i]))
			return -1;
		port = port * 10 + (unsigned long)(s[i] - '0');
	}
	if (port > 65535)
		return -1;
	return (long)host_len;
}

/*
 * Validate one field line buf[off..end) (end is past its CRLF) and record its offsets.
 * name ":" OWS value OWS; no whitespace before the colon (RFC 9112 5.1), no obs-fold (a line
 * starting with SP/HTAB has an empty name), and only field-content in the value, which rules
 * out NUL, CR, LF, other CTLs and DEL.
 */
static int parse_field_line(const char *buf, size_t off, size_t end, struct http_field *f)
{
	size_t name_len, v, ve, i;

	name_len = strg_scan_token(buf + off, (__u32)(end - off));
	if (name_len == 0 || buf[off + name_len] != ':')
		return HEAD_BAD;
	v = off + name_len + 1;
	ve = end - 2;
	for (i = v; i < ve; i++) {
		if (!strg_is_field_content(buf[i]))
			return HEAD_BAD;
	}
	while (v < ve && strg_is_ows(buf[v]))
		v++;
	while (ve > v && strg_is_ows(buf[ve - 1]))
		ve--;
	if (name_len > UINT16_MAX || ve - v > UINT16_MAX)
		return HEAD_TOO_BIG;
	f->name_off = (uint32_t)off;
	f->name_len = (uint16_t)name_len;
	f->value_off = (uint32_t)v;
	f->value_len = (uint16_t)(ve - v);
	f->line_off = (uint32_t)off;
	f->line_len = (uint32_t)(end - off);
	return 0;
}

static bool name_is(const char *buf, const struct http_field *f, const char *lc_name)
{
	return strg_lc_eq(buf + f->name_off, f->name_len, lc_name, (__u32)strlen(lc_name));
}

static void note_content_length(struct head_info *hi, const char *v, size_t len)
{
	const char *e;
	size_t pos = 0, elen;
	__u64 n;

	while (list_next(v, len, &pos, &e, &elen)) {
		if (strg_parse_content_length(e, (__u32)min_size(elen, 20), &n) < 0) {
			hi->cl_bad = true;
			continue;
		}
		if (hi->n_cl++ == 0)
			hi->cl = n;
		else if (n != hi->cl)
			hi->cl_differs = true;
	}
}

/*
 * Transfer-Encoding elements in order over all TE fields. Empty elements, which RFC 9110 5.6.1
 * would have us skip, are rejected: the head is forwarded verbatim, and a TE value that two
 * parsers could read differently is the classic request-smuggling lever.
 */
static void note_transfer_encoding(struct head_info *hi, const char *v, size_t len)
{
	const char *e;
	size_t pos = 0, elen, tlen, p;
	bool chunked;

	while (list_next(v, len, &pos, &e, &elen)) {
		tlen = strg_scan_token(e, (__u32)elen);
		for (p = tlen; p < elen && strg_is_ows(e[p]); p++)
			;
		/* transfer-coding = token *( OWS ";" OWS transfer-parameter ) */
		if (tlen == 0 || (p < elen && e[p] != ';')) {
			hi->te_bad = true;
			continue;
		}
		chunked = strg_lc_eq(e, (__u32)tlen, "chunked", 7);
		if (chunked && tlen != elen)
			hi->te_bad = true; /* chunked takes no parameters */
		hi->n_te++;
		hi->n_chunked += chunked;
		hi->te_last_chunked = chunked;
	}
}

static void note_connection(struct head_info *hi, const char *v, size_t len)
{
	const char *e;
	size_t pos = 0, elen;

	while (list_next(v, len, &pos, &e, &elen)) {
		if (strg_lc_eq(e, (__u32)elen, "close", 5))
			hi->connection_close = true;
		else if (strg_lc_eq(e, (__u32)elen, "keep-alive", 10))
			hi->connection_keep_alive = true;
	}
}

static void note_field(struct head_info *hi, const char *buf, const struct http_field *f)
{
	const char *v = buf + f->value_off;

	if (name_is(buf, f, "host")) {
		hi->n_host++;
		hi->host_off = f->value_off;
		hi->host_len = f->value_len;
	} else if (name_is(buf, f, "content-length")) {
		note_content_length(hi, v, f->value_len);
	} else if (name_is(buf, f, "transfer-encoding")) {
		note_transfer_encoding(hi, v, f->value_len);
	} else if (name_is(buf, f, "connection")) {
		note_connection(hi, v, f->value_len);
	} else if (name_is(buf, f, "expect")) {
		if (strg_lc_eq(v, f->value_len, "100-continue", 12))
			hi->expect_continue = true;
		else
			hi->expect_other = true;
	} else if (name_is(buf, f, "upgrade")) {
		hi->upgrade = true;
	}
}

/*
 * Walk the field lines from off up to the empty line that ends the head. Only the first
 * max_head bytes are looked at, so a head that does not end within them is too big whether or
 * not more bytes have arrived. fields may be NULL (responses keep no field table). Returns the
 * head length, 0 when more bytes are needed, or a head_err.
 */
static long scan_fields(const char *buf, size_t len, size_t off, size_t max_head,
			struct http_field *fields, unsigned max_fields, unsigned *nfields,
			struct head_info *hi)
{
	size_t win = min_size(len, max_head);
	struct http_field tmp, *f;
	const char *lf;
	size_t end;
	int err;

	for (;;) {
		if (off < win && strg_is_ows(buf[off]))
			return HEAD_BAD; /* obs-fold, or whitespace before the first field */
		lf = off < win ? memchr(buf + off, '\n', win - off) : NULL;
		if (!lf) {
			/* A CR that is not the last byte we have is a bare CR: no need to wait. */
			if (off < win && memchr(buf + off, '\r', win - off - 1))
				return HEAD_BAD;
			return len >= max_head ? HEAD_TOO_BIG : 0;
		}
		end = (size_t)(lf - buf) + 1;
		if (end - off < 2 || buf[end - 2] != '\r')
			return HEAD_BAD; /* bare LF */
		if (end - off == 2)
			return (long)end;
		if (*nfields >= max_fields)
			return HEAD_TOO_MANY;
		f = fields ? &fields[*nfields] : &tmp;
		err = parse_field_line(buf, off, end, f);
		if (err)
			return err;
		note_field(hi, buf, f);
		(*nfields)++;
		off = end;
	}
}

/* "HTTP/" DIGIT "." DIGIT; 0 for 1.0 and 1.1, -505 for other versions, -400 if malformed. */
static int parse_version(const char *v, size_t n, unsigned *minor)
{
	if (n != 8 || memcmp(v, "HTTP/", 5) != 0 || !strg_is_digit(v[5]) || v[6] != '.' ||
	    !strg_is_digit(v[7]))
		return -400;
	if (v[5] != '1' || (v[7] != '0' && v[7] != '1'))
		return -505;
	*minor = (unsigned)(v[7] - '0');
	return 0;
}

static const char slash_path[] = "/";

/*
 * absolute-form: "http" / "https" (any case) "://" authority path-abempty [ "?" query ].
 * The authority is where the request is routed (RFC 9112 3.2.2); no userinfo, no empty host.
 */
static int parse_absolute_form(struct http_request *req)
{
	const char *t = req->target;
	size_t n = req->target_len, a, ae;
	long host_len;
	int plen;

	if (n > 7 && strg_lc_eq(t, 7, "http://", 7))
		a = 7;
	else if (n > 8 && strg_lc_eq(t, 8, "https://", 8))
		a = 8;
	else
		return -400;
	for (ae = a; ae < n && t[ae] != '/' && t[ae] != '?'; ae++)
		;
	host_len = check_host(t + a, ae - a);
	if (host_len < 0)
		return -400;
	plen = strg_check_path(t + ae, (__u32)(n - ae));
	if (plen < 0)
		return -400;
	req->host = t + a;
	req->host_len = (size_t)host_len;
	req->authority_len = ae - a;
	req->default_port = a == 8 ? 443 : 80;
	if (plen == 0) {
		req->path = slash_path;
		req->path_len = 1;
	} else {
		req->path = t + ae;
		req->path_len = (size_t)plen;
	}
	return 0;
}

/* Which of the request-target forms this is; CONNECT (authority-form) never gets here. */
static int parse_target(struct http_request *req)
{
	const char *t = req->target;
	int plen;

	if (t[0] == '/') {
		plen = strg_check_path(t, (__u32)req->target_len);
		if (plen < 0)
			return -400;
		req->path = t;
		req->path_len = (size_t)plen;
		return 0;
	}
	if (t[0] == '*') {
		if (req->target_len != 1 || req->method != HTTP_M_OPTIONS)
			return -400;
		req->path = t;
		req->path_len = 1;
		return 0;
	}
	return parse_absolute_form(req);
}

/*
 * method SP request-target SP HTTP-version CRLF, buf[0..n) ending in CRLF. Syntax errors (400)
 * come first, then the version (505), then the method (501), then the target's form and path.
 */
static int parse_request_line(const char *buf, size_t n, struct http_request *req)
{
	size_t m, t, te, eol = n - 2;
	int err;

	m = strg_scan_token(buf, (__u32)eol);
	if (m == 0 || buf[m] != ' ')
		return -400;
	t = m + 1;
	for (te = t; te < eol && buf[te] != ' '; te++) {
		if (!strg_is_target_char(buf[te]))
			return -400;
	}
	if (te == t || te == eol)
		return -400;
	err = parse_version(buf + te + 1, eol - te - 1, &req->version_minor);
	if (err)
		return err;
	req->method_str = buf;
	req->method_len = m;
	req->method = http_method_lookup(buf, m);
	if (req->method == HTTP_M_UNKNOWN || req->method == HTTP_M_CONNECT)
		return -501; /* we do not tunnel */
	req->target = buf + t;
	req->target_len = te - t;
	req->line_len = n;
	return parse_target(req);
}

/* The port of a host[:port] whose host is host_len bytes long; dflt when none is given. */
static unsigned long authority_port(const char *s, size_t len, size_t host_len, unsigned dflt)
{
	unsigned long port = 0;

	if (host_len == len)
		return dflt;
	for (size_t i = host_len + 1; i < len; i++)
		port = port * 10 + (unsigned long)(s[i] - '0');
	return port;
}

/*
 * RFC 9112 3.2.2: the authority of an absolute-form target must be the Host field's value. A
 * request where they differ is refused, so no part of the chain routes by one while another
 * trusts the other. Hosts compare case-insensitively, ports after the scheme's default.
 */
static bool same_authority(const struct http_request *req, const char *host, size_t len,
			   size_t host_len)
{
	const char *auth = req->host;

	if (host_len != req->host_len)
		return false;
	for (size_t i = 0; i < host_len; i++)
		if (strg_lower(host[i]) != strg_lower(auth[i]))
			return false;
	return authority_port(host, len, host_len, req->default_port) ==
	       authority_port(auth, req->authority_len, req->host_len, req->default_port);
}

/*
 * Host rules (RFC 9112 3.2): exactly one Host in HTTP/1.1, at most one in HTTP/1.0, and a valid
 * one. With absolute-form the target's authority routes, and a Host that differs is refused.
 */
static int check_request_host(struct http_request *req, const char *buf, const struct head_info *hi)
{
	bool absolute = req->host != NULL;
	long host_len;

	if (hi->n_host > 1)
		return -400;
	if (hi->n_host == 0)
		return req->version_minor == 1 ? -400 : 0;
	if (hi->host_len == 0)
		return -400;
	host_len = check_host(buf + hi->host_off, hi->host_len);
	if (host_len < 0)
		return -400;
	if (absolute && !same_authority(req, buf + hi->host_off, hi->host_len, (size_t)host_len))
		return -400;
	if (!absolute) {
		req->host = buf + hi->host_off;
		req->host_len = (size_t)host_len;
	}
	return 0;
}

/*
 * Request framing (RFC 9112 6.1-6.3), strict because strgd hands the head on verbatim: any
 * message two parsers could delimit differently is refused. Several Content-Length values are
 * refused even when equal, which the RFC would let us fold: no client needs it, and one rule
 * without exceptions is easier to trust. Only a lone "chunked" is a coding we can forward.
 */
static int check_request_framing(struct http_request *req, const struct head_info *hi)
{
	bool te = hi->n_te || hi->te_bad;

	if (te && req->version_minor == 0)
		return -400;
	if (te && (hi->n_cl || hi->cl_bad))
		return -400;
	if (hi->cl_bad || hi->n_cl > 1)
		return -400;
	if (te) {
		if (hi->te_bad || hi->n_chunked > 1 || (hi->n_chunked && !hi->te_last_chunked))
			return -400;
		if (hi->n_te != hi->n_chunked)
			return -501;
		req->body = HTTP_BODY_CHUNKED;
	} else if (hi->n_cl) {
		req->content_length = hi->cl;
		req->body = hi->cl ? HTTP_BODY_LENGTH : HTTP_BODY_NONE;
	}
	return 0;
}

static void reset_request(struct http_request *req)
{
	/* The field table is large and only the first nfields entries are meaningful. */
	memset(req, 0, offsetof(struct http_request, fields));
	req->body = HTTP_BODY_NONE;
}

static int finish_request(struct http_request *req, const char *buf, const struct head_info *hi)
{
	int err;

	err = check_request_host(req, buf, hi);
	if (!err)
		err = check_request_framing(req, hi);
	if (err)
		return err;
	if (hi->expect_other)
		return -417;
	req->expect_continue = hi->expect_continue && req->version_minor == 1;
	req->upgrade = hi->upgrade;
	if (req->version_minor == 1)
		req->keep_alive = !hi->connection_close;
	else
		req->keep_alive = hi->connection_keep_alive && !hi->connection_close;
	return 0;
}

int http_parse_request(const char *buf, size_t len, const struct http_limits *lim,
		       struct http_request *req)
{
	struct http_limits def;
	struct head_info hi = {0};
	size_t max_line, max_head, win, line_len;
	unsigned max_fields;
	const char *lf;
	long head;
	int err;

	if (!lim) {
		http_limits_default(&def);
		lim = &def;
	}
	reset_request(req);
	/* The return value is an int, and the field offsets are 32 bits. */
	max_head = min_size(lim->max_head, INT_MAX);
	max_line = lim->max_request_line;
	max_fields = lim->max_fields < HTTP_MAX_FIELDS_CAP ? lim->max_fields : HTTP_MAX_FIELDS_CAP;

	win = min_size(len, max_line);
	lf = win ? memchr(buf, '\n', win) : NULL;
	if (!lf) {
		if (len >= max_line)
			return -414;
		return len >= max_head ? -431 : 0;
	}
	line_len = (size_t)(lf - buf) + 1;
	if (line_len < 2 || buf[line_len - 2] != '\r')
		return -400;
	if (line_len > max_head)
		return -431;
	err = parse_request_line(buf, line_len, req);
	if (err)
		return err;

	head = scan_fields(buf, len, line_len, max_head, req->fields, max_fields, &req->nfields,
			   &hi);
	if (head == HEAD_BAD)
		return -400;
	if (head < 0)
		return -431;
	if (head == 0)
		return 0;
	err = finish_request(req, buf, &hi);
	if (err)
		return err;
	req->head_len = (size_t)head;
	return (int)head;
}

/* "HTTP/1." DIGIT SP 3DIGIT [ SP reason-phrase ] CRLF; the bare "HTTP/1.1 200" is tolerated. */
static int parse_status_line(const char *buf, size_t n, struct http_response *resp)
{
	size_t eol = n - 2, i;

	if (eol < 12 || memcmp(buf, "HTTP/1.", 7) != 0 || !strg_is_digit(buf[7]) || buf[8] != ' ')
		return -1;
	if (!strg_is_digit(buf[9]) || !strg_is_digit(buf[10]) || !strg_is_digit(buf[11]) ||
	    buf[9] == '0')
		return -1;
	if (eol > 12 && buf[12] != ' ')
		return -1;
	for (i = 13; i < eol; i++) {
		if (!strg_is_field_content(buf[i]))
			return -1;
	}
	resp->version_minor = (unsigned)(buf[7] - '0');
	resp->status = (unsigned)((buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0'));
	return 0;
}

/*
 * Response framing (RFC 9112 6.3). Strict like requests, except that identical Content-Length
 * duplicates are folded as the RFC allows, since backends do emit them and they are unambiguous.
 * A coding list not ending in chunked is delimited by the close, as the RFC says.
 */
static int response_body(struct http_response *resp, enum http_method req_method,
			 const struct head_info *hi)
{
	bool te = hi->n_te || hi->te_bad;
	unsigned s = resp->status;

	if (te && (resp->version_minor == 0 || hi->n_cl || hi->cl_bad))
		return -1;
	if (hi->cl_bad || hi->cl_differs)
		return -1;
	if (te && (hi->te_bad || hi->n_chunked > 1 || (hi->n_chunked && !hi->te_last_chunked)))
		return -1;
	if (req_method == HTTP_M_HEAD || s < 200 || s == 204 || s == 304)
		resp->body = HTTP_BODY_NONE;
	else if (te)
		resp->body = hi->n_chunked ? HTTP_BODY_CHUNKED : HTTP_BODY_CLOSE;
	else if (hi->n_cl)
		resp->body = hi->cl ? HTTP_BODY_LENGTH : HTTP_BODY_NONE;
	else
		resp->body = HTTP_BODY_CLOSE;
	if (hi->n_cl)
		resp->content_length = hi->cl;
	return 0;
}

int http_parse_response(const char *buf, size_t len, size_t max_head, enum http_method req_method,
			struct http_response *resp)
{
	struct head_info hi = {0};
	size_t win, line_len;
	unsigned nfields = 0;
	const char *lf;
	long head;

	memset(resp, 0, sizeof(*resp));
	max_head = min_size(max_head, INT_MAX);
	win = min_size(len, max_head);
	lf = win ? memchr(buf, '\n', win) : NULL;
	if (!lf)
		return len >= max_head ? -502 : 0;
	line_len = (size_t)(lf - buf) + 1;
	if (line_len < 2 || buf[line_len - 2] != '\r' || parse_status_line(buf, line_len, resp))
		return -502;
	head = scan_fields(buf, len, line_len, max_head, NULL, UINT_MAX, &nfields, &hi);
	if (head <= 0)
		return head == 0 ? 0 : -502;
	if (response_body(resp, req_method, &hi))
		return -502;
	if (resp->version_minor >= 1)
		resp->keep_alive = !hi.connection_close;
	else
		resp->keep_alive = hi.connection_keep_alive && !hi.connection_close;
	if (resp->body == HTTP_BODY_CLOSE)
		resp->keep_alive = false;
	resp->head_len = (size_t)head;
	return (int)head;
}

/*
 * Chunked scanner states. In the trailer states `remaining` is free (the last chunk has no
 * data) and counts the trailer section's bytes instead, to bound it.
 */
enum chunk_state {
	CS_SIZE0 = 0, /* first hex digit of a chunk-size */
	CS_SIZE,      /* more hex digits, ';', BWS or CR */
	CS_SIZE_WS,   /* BWS after the size: only ';' may follow */
	CS_EXT,	      /* chunk extensions, skipped up to CR */
	CS_SIZE_LF,   /* LF ending the size line */
	CS_DATA,
	CS_DATA_CR, /* CRLF after the data */
	CS_DATA_LF,
	CS_TRL_START, /* start of a trailer line, or CR of the final empty line */
	CS_TRL_LINE,
	CS_TRL_LF,
	CS_END_LF, /* LF of the final empty line */
	CS_DONE,
	CS_ERROR,
};

void http_chunked_init(struct http_chunked *c)
{
	c->state = CS_SIZE0;
	c->remaining = 0;
	c->line_len = 0;
}

/* One byte of a size or trailer line; returns the next state (CS_ERROR when malformed). */
static int chunk_line_byte(struct http_chunked *c, __u8 b)
{
	int d;

	if (++c->line_len > HTTP_TRAILER_LINE_MAX)
		return CS_ERROR;
	switch (c->state) {
	case CS_SIZE0:
	case CS_SIZE:
		d = strg_hex_val(b);
		if (d >= 0) {
			if (c->remaining > (HTTP_CHUNK_SIZE_MAX - (uint64_t)d) / 16)
				return CS_ERROR;
			c->remaining = c->remaining * 16 + (uint64_t)d;
			return CS_SIZE;
		}
		if (c->state == CS_SIZE0)
			return CS_ERROR;
		if (b == '\r')
			return CS_SIZE_LF;
		if (b == ';')
			return CS_EXT;
		return strg_is_ows(b) ? CS_SIZE_WS : CS_ERROR;
	case CS_SIZE_WS:
		if (b == ';')
			return CS_EXT;
		return strg_is_ows(b) ? CS_SIZE_WS : CS_ERROR;
	case CS_EXT:
		if (b == '\r')
			return CS_SIZE_LF;
		return strg_is_field_content(b) ? CS_EXT : CS_ERROR;
	case CS_SIZE_LF:
		if (b != '\n')
			return CS_ERROR;
		c->line_len = 0;
		return c->remaining ? CS_DATA : CS_TRL_START;
	}
	return CS_ERROR;
}

/* One byte of the trailer section (RFC 9112 7.1.2), checked loosely but bounded. */
static int chunk_trailer_byte(struct http_chunked *c, __u8 b)
{
	if (++c->remaining > HTTP_TRAILER_MAX || ++c->line_len > HTTP_TRAILER_LINE_MAX)
		return CS_ERROR;
	switch (c->state) {
	case CS_TRL_START:
		if (b == '\r')
			return CS_END_LF;
		return strg_is_tchar(b) ? CS_TRL_LINE : CS_ERROR;
	case CS_TRL_LINE:
		if (b == '\r')
			return CS_TRL_LF;
		return strg_is_field_content(b) ? CS_TRL_LINE : CS_ERROR;
	case CS_TRL_LF:
		c->line_len = 0;
		return b == '\n' ? CS_TRL_START : CS_ERROR;
	case CS_END_LF:
		return b == '\n' ? CS_DONE : CS_ERROR;
	}
	return CS_ERROR;
}

long http_chunked_feed(struct http_chunked *c, const char *buf, size_t len, bool *done)
{
	size_t i = 0, n;

	while (i < len && c->state != CS_DONE && c->state != CS_ERROR) {
		switch (c->state) {
		case CS_DATA:
			n = min_size(len - i, c->remaining);
			c->remaining -= n;
			i += n;
			if (!c->remaining)
				c->state = CS_DATA_CR;
			continue;
		case CS_DATA_CR:
			c->state = buf[i] == '\r' ? CS_DATA_LF : CS_ERROR;
			break;
		case CS_DATA_LF:
			c->state = buf[i] == '\n' ? CS_SIZE0 : CS_ERROR;
			break;
		case CS_TRL_START:
		case CS_TRL_LINE:
		case CS_TRL_LF:
		case CS_END_LF:
			c->state = chunk_trailer_byte(c, (__u8)buf[i]);
			break;
		default:
			c->state = chunk_line_byte(c, (__u8)buf[i]);
			break;
		}
		i++;
	}
	*done = c->state == CS_DONE;
	if (c->state == CS_ERROR)
		return -1;
	return (long)i;
}
