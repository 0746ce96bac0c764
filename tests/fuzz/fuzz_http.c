// SPDX-License-Identifier: GPL-2.0-only
/*
 * libFuzzer harness: the request and response head parsers and the chunked-body scanner.
 * The first input byte picks the target; the rest is the bytes. Beyond "no crash, no
 * sanitizer report", each checks the promises its callers rely on.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/http.h"

static struct http_request req;

static void request(const char *buf, size_t len)
{
	struct http_limits lim;
	int n;

	http_limits_default(&lim);
	n = http_parse_request(buf, len, &lim, &req);
	if (n <= 0)
		return;
	/* A head is inside the buffer, and what points into it stays inside it. */
	if ((size_t)n > len || req.head_len != (size_t)n || req.target < buf ||
	    req.target + req.target_len > buf + n ||
	    (req.host_len && (req.host < buf || req.host + req.host_len > buf + n)) ||
	    req.nfields > lim.max_fields)
		abort();
	for (unsigned i = 0; i < req.nfields; i++)
		if (req.fields[i].line_off + req.fields[i].line_len > (size_t)n)
			abort();
}

static void response(const char *buf, size_t len, unsigned method)
{
	struct http_response resp;
	int n = http_parse_response(buf, len, 65536, (enum http_method)method, &resp);

	if (n > 0 && ((size_t)n > len || resp.head_len != (size_t)n || resp.status < 100 ||
		      resp.status > 999))
		abort();
}

/* The same body fed whole and in two pieces must be judged the same. */
static void chunked(const char *buf, size_t len)
{
	struct http_chunked a, b;
	bool done_a = false, done_b = false;
	size_t cut = len ? (uint8_t)buf[0] % (len + 1) : 0;
	long ra, rb1, rb2 = 0;

	http_chunked_init(&a);
	http_chunked_init(&b);
	ra = http_chunked_feed(&a, buf, len, &done_a);
	rb1 = http_chunked_feed(&b, buf, cut, &done_b);
	if (rb1 >= 0 && !done_b && cut < len)
		rb2 = http_chunked_feed(&b, buf + cut, len - cut, &done_b);
	if (ra > (long)len)
		abort();
	if ((ra < 0) != (rb1 < 0 || rb2 < 0))
		abort();
	if (ra >= 0 && (done_a != done_b || (done_a && ra != rb1 + rb2)))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data + 1;
	size_t len;

	if (!size)
		return 0;
	len = size - 1;
	switch (data[0] % 4) {
	case 0:
		request(buf, len);
		break;
	case 1:
		response(buf, len, HTTP_M_GET);
		break;
	case 2:
		response(buf, len, HTTP_M_HEAD);
		break;
	default:
		chunked(buf, len);
		break;
	}
	return 0;
}
