// SPDX-License-Identifier: GPL-2.0-only
/* A response kept for a comparison: its head, its body decoded up to a bound (httpcap.h). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/httpcap.h"

#define FNV64_BASIS 0xcbf29ce484222325ull
#define FNV64_PRIME 0x100000001b3ull
#define LINE_MAX_   8192u /* a chunk-size or trailer line */

/* The chunked decoder's states. */
enum {
	CK_SIZE = 0,	 /* hex digits of a chunk's size */
	CK_EXT = 1,	 /* the rest of the size line (extensions) to its LF */
	CK_DATA = 2,	 /* the chunk's bytes */
	CK_DATA_END = 3, /* the CRLF after them */
	CK_TRAILER = 4,	 /* trailer lines, to an empty one */
};

void httpcap_init(struct httpcap *c, enum http_method method, uint32_t max_body)
{
	*c = (struct httpcap){.method = method, .max_body = max_body, .hash = FNV64_BASIS};
}

void httpcap_free(struct httpcap *c)
{
	if (!c)
		return;
	free(c->head);
	free(c->body);
	c->head = c->body = NULL;
	c->head_len = c->head_cap = c->body_len = c->body_cap = 0;
}

static long bad(struct httpcap *c)
{
	c->state = HTTPCAP_BAD;
	return -1;
}

/* Room for n more bytes in a buffer growing by doubling to at most max. */
static int reserve(char **buf, uint32_t *cap, uint32_t len, uint32_t n, uint32_t max)
{
	uint32_t want = len + n, c = *cap ? *cap : 1024;
	char *p;

	if (want <= *cap)
		return 0;
	while (c < want)
		c *= 2;
	if (c > max)
		c = max;
	p = realloc(*buf, c);
	if (!p)
		return -1;
	*buf = p;
	*cap = c;
	return 0;
}

/* Decoded body bytes: all counted, the first max_body kept and hashed. */
static int keep(struct httpcap *c, const char *p, size_t n)
{
	uint32_t room = c->max_body - c->body_len, k = n < room ? (uint32_t)n : room;

	c->body_total += n;
	if (!k)
		return 0;
	if (reserve(&c->body, &c->body_cap, c->body_len, k, c->max_body))
		return -1;
	memcpy(c->body + c->body_len, p, k);
	for (uint32_t i = 0; i < k; i++)
		c->hash = (c->hash ^ (uint8_t)p[i]) * FNV64_PRIME;
	c->body_len += k;
	return 0;
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	ch = (char)(ch | 0x20);
	return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

/* One byte of a chunked body's framing (not its data): -1 malformed. */
static int chunk_byte(struct httpcap *c, char ch)
{
	int h;

	if (++c->line > LINE_MAX_)
		return -1;
	switch (c->chunk_state) {
	case CK_SIZE:
		h = hexval(ch);
		if (h >= 0 && c->left >= (1ull << 56))
			return -1;
		if (h >= 0) {
			c->left = c->left * 16 + (uint64_t)h;
			return 0;
		}
		if (c->line == 1)
			return -1;
		c->chunk_state = CK_EXT;
		/* fall through */
	case CK_EXT:
		if (ch != '\n')
			return 0;
		c->line = 0;
		c->chunk_state = c->left ? CK_DATA : CK_TRAILER;
		return 0;
	case CK_DATA_END:
		if (ch == '\n') {
			c->line = 0;
			c->chunk_state = CK_SIZE;
		}
		return ch == '\r' || ch == '\n' ? 0 : -1;
	default: /* CK_TRAILER: an empty line (CRLF or LF alone) ends the body */
		if (ch == '\n') {
			if (c->line <= 2)
				c->state = HTTPCAP_DONE;
			c->line = 0;
		}
		return 0;
	}
}

/* Chunked body bytes: how many belong to it, or -1. */
static long chunked(struct httpcap *c, const char *buf, size_t len)
{
	size_t i = 0, n;

	while (i < len && c->state == HTTPCAP_BODY) {
		if (c->chunk_state == CK_DATA) {
			n = len - i < c->left ? len - i : (size_t)c->left;
			if (keep(c, buf + i, n))
				return -1;
			i += n;
			c->left -= n;
			if (!c->left)
				c->chunk_state = CK_DATA_END;
			continue;
		}
		if (chunk_byte(c, buf[i++]))
			return -1;
	}
	return (long)i;
}

static long body(struct httpcap *c, const char *buf, size_t len)
{
	size_t n;

	switch (c->framing) {
	case HTTP_BODY_LENGTH:
		n = len < c->left ? len : (size_t)c->left;
		if (keep(c, buf, n))
			return -1;
		c->left -= n;
		if (!c->left)
			c->state = HTTPCAP_DONE;
		return (long)n;
	case HTTP_BODY_CHUNKED:
		return chunked(c, buf, len);
	case HTTP_BODY_CLOSE:
		return keep(c, buf, len) ? -1 : (long)len;
	default:
		c->state = HTTPCAP_DONE;
		return 0;
	}
}

/* The head so far plus buf: once whole, its length is kept and the rest is body. */
static long head(struct httpcap *c, const char *buf, size_t len)
{
	size_t take = len < HTTPCAP_HEAD_MAX - c->head_len ? len : HTTPCAP_HEAD_MAX - c->head_len;
	struct http_response resp;
	uint32_t before = c->head_len;
	int n;

	if (!take || reserve(&c->head, &c->head_cap, c->head_len, (uint32_t)take, HTTPCAP_HEAD_MAX))
		return bad(c);
	memcpy(c->head + c->head_len, buf, take);
	c->head_len += (uint32_t)take;
	n = http_parse_response(c->head, c->head_len, HTTPCAP_HEAD_MAX, c->method, &resp);
	if (n < 0 || (n == 0 && c->head_len == HTTPCAP_HEAD_MAX))
		return bad(c);
	if (n == 0)
		return (long)take;
	c->head_len = (uint32_t)n;
	if (resp.status < 200) { /* an interim head: the final one follows */
		c->head_len = 0;
		return (long)((uint32_t)n - before);
	}
	c->status = resp.status;
	c->framing = resp.body;
	c->keep_alive = resp.keep_alive;
	c->left = resp.content_length;
	c->state = HTTPCAP_BODY;
	if (resp.body == HTTP_BODY_NONE)
		c->state = HTTPCAP_DONE;
	return (long)((uint32_t)n - before);
}

long httpcap_feed(struct httpcap *c, const char *buf, size_t len)
{
	size_t used = 0;
	long n;

	while (used < len && (c->state == HTTPCAP_HEAD || c->state == HTTPCAP_BODY)) {
		n = c->state == HTTPCAP_HEAD ? head(c, buf + used, len - used)
					     : body(c, buf + used, len - used);
		if (n < 0)
			return bad(c);
		used += (size_t)n;
		if (!n && c->state == HTTPCAP_BODY)
			break;
	}
	return c->state == HTTPCAP_BAD ? -1 : (long)used;
}

void httpcap_eof(struct httpcap *c)
{
	if (c->state == HTTPCAP_BODY && c->framing == HTTP_BODY_CLOSE)
		c->state = HTTPCAP_DONE;
	else if (c->state != HTTPCAP_DONE)
		c->state = HTTPCAP_BAD;
}

const char *httpcap_header(const struct httpcap *c, const char *name, size_t *len)
{
	size_t nlen = strlen(name);
	const char *p = c->head, *end = c->head + c->head_len, *eol, *v;

	for (; p && p < end; p = eol + 1) {
		eol = memchr(p, '\n', (size_t)(end - p));
		if (!eol)
			break;
		if ((size_t)(eol - p) <= nlen || p[nlen] != ':' || strncasecmp(p, name, nlen))
			continue;
		for (v = p + nlen + 1; v < eol && (*v == ' ' || *v == '\t'); v++)
			;
		*len = (size_t)(eol - v);
		while (*len && (v[*len - 1] == '\r' || v[*len - 1] == ' ' || v[*len - 1] == '\t'))
			(*len)--;
		return v;
	}
	return NULL;
}
