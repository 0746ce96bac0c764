// SPDX-License-Identifier: GPL-2.0-only
/* A reply of any size (reply.h): a growing text that turns into an error when memory runs out. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/grow.h"
#include "lib/reply.h"

static bool reply_room(struct reply *r, size_t more)
{
	char *buf;

	if (r->oom)
		return false;
	buf = grow_array(r->cap ? r->buf : NULL, &r->cap, r->len + more + 1, 1, 4096);
	if (!buf) {
		reply_error(r, "out of memory for the reply");
		return false;
	}
	r->buf = buf;
	return true;
}

void reply_vprintf(struct reply *r, const char *fmt, va_list ap)
{
	va_list again;
	int n;

	va_copy(again, ap);
	n = vsnprintf(NULL, 0, fmt, again);
	va_end(again);
	if (n < 0 || !reply_room(r, (size_t)n))
		return;
	vsnprintf(r->buf + r->len, (size_t)n + 1, fmt, ap);
	r->len += (size_t)n;
}

void reply_printf(struct reply *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	reply_vprintf(r, fmt, ap);
	va_end(ap);
}

void reply_error(struct reply *r, const char *msg)
{
	static char oom[] = "error: out of memory for the reply\n";
	size_t n = strlen(msg) + 9; /* "error: ", msg, newline, NUL */
	char *buf = grow_array(r->cap ? r->buf : NULL, &r->cap, n, 1, n);

	if (!buf) {
		/* Not even the message fits: a static text, never freed. */
		if (r->cap)
			free(r->buf);
		r->buf = oom;
		r->len = sizeof(oom) - 1;
		r->cap = 0;
		r->oom = true;
		return;
	}
	r->buf = buf;
	r->len = (size_t)snprintf(r->buf, r->cap, "error: %s\n", msg);
	r->oom = false;
}

void reply_free(struct reply *r)
{
	if (r->cap)
		free(r->buf);
	memset(r, 0, sizeof(*r));
}
