/* SPDX-License-Identifier: GPL-2.0-only */
/* HTTP/1.1 message-head parsing and body framing (RFC 9112): pure functions, no I/O. */
#ifndef STRG_HTTP_H
#define STRG_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Known methods. A syntactically valid method outside this set is answered with 501.
 * The bit (1u << method) is what route tables store in their method masks.
 */
enum http_method {
	HTTP_M_UNKNOWN = 0,
	HTTP_M_GET = 1,
	HTTP_M_HEAD = 2,
	HTTP_M_POST = 3,
	HTTP_M_PUT = 4,
	HTTP_M_DELETE = 5,
	HTTP_M_OPTIONS = 6,
	HTTP_M_PATCH = 7,
	HTTP_M_TRACE = 8,
	HTTP_M_CONNECT = 9,
	HTTP_M_COUNT = 10,
};

/* How the body of a message is delimited. */
enum http_body {
	HTTP_BODY_NONE = 0,    /* no body at all */
	HTTP_BODY_LENGTH = 1,  /* exactly content_length bytes */
	HTTP_BODY_CHUNKED = 2, /* chunked transfer coding, ends with the last chunk + trailers */
	HTTP_BODY_CLOSE = 3,   /* responses only: until the server closes */
};

/* Limits; http_limits_default() fills in the documented defaults. */
struct http_limits {
	uint32_t max_request_line; /* bytes of the request line incl. CRLF; over it: 414 */
	uint32_t max_head;	   /* bytes of the whole head (header block); over it: 431 */
	uint32_t max_fields;	   /* header fields; over it: 431 */
};

#define HTTP_MAX_FIELDS_CAP 256 /* hard upper bound on max_fields (array size) */

/* One header field: offsets into the parsed buffer. */
struct http_field {
	uint32_t name_off;
	uint16_t name_len;
	uint32_t value_off; /* value with surrounding OWS removed */
	uint16_t value_len;
	uint32_t line_off; /* start of the field line */
	uint32_t line_len; /* length of the field line including its CRLF */
};

/* Parsed request head; every pointer points into the caller's buffer. */
struct http_request {
	enum http_method method;
	const char *method_str;
	size_t method_len;
	const char *target; /* request-target as sent */
	size_t target_len;
	const char *path; /* path of the target without query ("/" for asterisk-form is not used) */
	size_t path_len;
	const char *host; /* host from absolute-form authority or the Host field, port removed */
	size_t host_len;
	size_t authority_len;	/* absolute-form: host[:port] from host on */
	unsigned default_port;	/* absolute-form: the scheme's port (80 or 443) */
	unsigned version_minor; /* 0 or 1 (HTTP/1.0 or HTTP/1.1) */
	enum http_body body;
	uint64_t content_length;
	bool keep_alive;      /* connection stays open after this exchange (version + Connection) */
	bool expect_continue; /* Expect: 100-continue */
	bool upgrade;	      /* Upgrade field present */
	size_t line_len;      /* bytes of the request line including CRLF */
	size_t head_len;      /* bytes of the whole head including the empty line */
	unsigned nfields;
	struct http_field fields[HTTP_MAX_FIELDS_CAP];
};

/* Parsed response head. */
struct http_response {
	unsigned status;
	unsigned version_minor;
	enum http_body body; /* already accounts for HEAD requests and 1xx/204/304 */
	uint64_t content_length;
	bool keep_alive; /* the server keeps the connection after this response */
	size_t head_len;
};

/* Streaming chunked-coding scanner: tracks where a chunked body ends while bytes pass verbatim. */
struct http_chunked {
	uint64_t remaining; /* bytes left in the current chunk's data */
	int state;	    /* internal */
	uint32_t line_len;  /* bytes seen of the current size/trailer line (bounded) */
};

void http_limits_default(struct http_limits *lim);
/* Whether a request with this method may be sent again (RFC 9110, 9.2.2). */
bool http_idempotent(enum http_method m);

/*
 * Parse a request head at the start of buf[0..len).
 * Returns the head length (> 0) when the head is complete and valid, 0 when more bytes are needed
 * (and no limit is exceeded yet), or -STATUS (-400, -414, -431, -501, -505) when the request must
 * be rejected with that status and the connection closed.
 */
int http_parse_request(const char *buf, size_t len, const struct http_limits *lim,
		       struct http_request *req);

/*
 * Parse a response head. req_method is the method of the request it answers (HEAD has no body).
 * Returns head length, 0 when incomplete, or -502 when the response is malformed or ambiguous.
 * max_head bounds the head size (over it: -502).
 */
int http_parse_response(const char *buf, size_t len, size_t max_head, enum http_method req_method,
			struct http_response *resp);

void http_chunked_init(struct http_chunked *c);

/*
 * Feed body bytes to the chunked scanner. Returns how many of them belong to the body (<= len);
 * *done is set once the last chunk and trailer section ended (the rest of buf is the next
 * message). Returns -1 on malformed chunked coding.
 */
long http_chunked_feed(struct http_chunked *c, const char *buf, size_t len, bool *done);

const char *http_method_name(enum http_method m);
/* Look a method token up; HTTP_M_UNKNOWN when not one of the known methods. */
enum http_method http_method_lookup(const char *s, size_t len);
/* Reason phrase for the statuses strgd generates itself. */
const char *http_reason(unsigned status);
/*
 * The head of a response of strgd's own, closing the connection: status line, Content-Type,
 * Content-Length, the header lines extra ("" or lines that each end in CRLF), "Connection:
 * close" and the empty line. snprintf-style: the length the text needs.
 */
int http_own_head(char *out, size_t len, unsigned status, const char *type, size_t body_len,
		  const char *extra);
/* The text/plain body of strgd's own error responses, "404 Not Found\n". snprintf-style. */
int http_own_body(char *out, size_t len, unsigned status);
/*
 * The same head for a connection that lives on after it (no "Connection: close"): for answers
 * that end a request, not the connection (429, 403).
 */
int http_own_head_keep(char *out, size_t len, unsigned status, const char *type, size_t body_len,
		       const char *extra);
/* The value of cookie name in a Cookie field's value ("a=1; b=2"), its length in *out; NULL. */
const char *http_cookie(const char *v, size_t len, const char *name, size_t *out);

#endif
