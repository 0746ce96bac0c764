/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A response kept for a comparison (the shadow's): its final head, and its body decoded from
 * its framing, kept up to a bound; past the bound only the body's length counts. Fed the bytes
 * as they pass, in any slices; pure code, no I/O.
 */
#ifndef STRG_HTTPCAP_H
#define STRG_HTTPCAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/http.h"

#define HTTPCAP_HEAD_MAX 16384 /* a longer head is not kept: the capture fails */

enum httpcap_state {
	HTTPCAP_HEAD = 0, /* reading the head (1xx heads are passed over) */
	HTTPCAP_BODY = 1,
	HTTPCAP_DONE = 2, /* the whole response went by */
	HTTPCAP_BAD = 3,  /* not a response strgd would pass on, or a head over the bound */
};

struct httpcap {
	enum http_method method; /* of the request it answers (HEAD: no body) */
	uint32_t max_body;	 /* body bytes kept */
	enum httpcap_state state;
	char *head; /* the final head (status line to empty line), or what came of it so far */
	uint32_t head_len, head_cap;
	unsigned status;
	bool keep_alive; /* its sender keeps the connection for another message */
	enum http_body framing;
	uint64_t left;	 /* HTTP_BODY_LENGTH: bytes still due; chunked: of the current chunk */
	int chunk_state; /* the chunked decoder's (httpcap.c) */
	uint32_t line;	 /* bytes of the chunk-size or trailer line so far */
	char *body;	 /* its first max_body bytes, decoded */
	uint32_t body_len, body_cap;
	uint64_t body_total; /* the decoded body's whole length */
	uint64_t hash;	     /* FNV-1a 64 of the bytes kept */
};

void httpcap_init(struct httpcap *c, enum http_method method, uint32_t max_body);
/*
 * The next len bytes of the response. Returns how many belong to it (the rest would start
 * another message), or -1 when it cannot be kept (state HTTPCAP_BAD). Memory: the head, and
 * at most max_body bytes of body.
 */
long httpcap_feed(struct httpcap *c, const char *buf, size_t len);
/* Its sender closed: a body delimited by the close ends; anything else unfinished is bad. */
void httpcap_eof(struct httpcap *c);
static inline bool httpcap_done(const struct httpcap *c)
{
	return c->state == HTTPCAP_DONE;
}
/* The body was longer than what was kept. */
static inline bool httpcap_cut(const struct httpcap *c)
{
	return c->body_total > c->body_len;
}
/* The value of header name (any case) in the head, or NULL; *len its length. */
const char *httpcap_header(const struct httpcap *c, const char *name, size_t *len);
void httpcap_free(struct httpcap *c);

#endif
