/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A route's gateway options acted on in user space (core/routegw.h): who may use it, its rate
 * limit, and its header rules on the head forwarded and the response head returned. The
 * exchange (exchange.c) calls these; they answer nothing themselves.
 */
#ifndef STRG_GATEWAY_H
#define STRG_GATEWAY_H

#include <stddef.h>
#include <stdint.h>

#include "core/http.h"
#include "core/route.h"

struct conn;

/* What the route says of the request: go on, or strgd's answer. */
struct gateway_verdict {
	unsigned status;  /* 0: go on; 403 (access) or 429 (limit) */
	unsigned retry_s; /* 429: Retry-After */
};

/* Access first (a refused client costs the bucket nothing), then the limit. */
struct gateway_verdict gateway_admit(struct conn *c, const struct route *rt,
				     const struct http_request *req, const char *buf);

/*
 * The request's field lines (from after its request line to before the empty line: src, len
 * bytes) copied to out without those a request rule of rt names. Returns the bytes written.
 */
size_t gateway_request_fields(const struct route *rt, const struct http_request *req,
			      const char *src, size_t len, char *out);
/* The fields rt's set-header rules add, at out (at most ROUTEGW_HEAD_ROOM). Bytes written. */
size_t gateway_request_added(struct conn *c, const struct route *rt, const struct http_request *req,
			     const char *buf, char *out);
/*
 * The response head at head (len bytes, whole) rewritten by the response rules of the route
 * with id route_id into out (cap bytes). Returns its length, or -1 when nothing is to be done
 * or it does not fit (the head then goes as it is).
 */
int gateway_response_head(struct conn *c, uint32_t route_id, const char *head, uint32_t len,
			  char *out, size_t cap);

#endif
