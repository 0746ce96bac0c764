/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A reply of any size, built a piece at a time: the control socket's replies, the metrics
 * listener's pages and the views written into them. Out of memory, it says so instead.
 */
#ifndef STRG_REPLY_H
#define STRG_REPLY_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

/* How JSON replies are written (strgctl -j, /stats.json): compact, reals to 9 digits. */
#define REPLY_JSON_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(9))

struct reply {
	char *buf;
	size_t len, cap; /* cap 0 with a buf: a static text, never freed */
	bool oom;	 /* it could not grow: it says so instead */
};

/* Append (it grows as needed). */
void reply_printf(struct reply *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void reply_vprintf(struct reply *r, const char *fmt, va_list ap);
/* Make the reply the one line "error: msg". */
void reply_error(struct reply *r, const char *msg);
/* Free the text; the reply is empty again. */
void reply_free(struct reply *r);

#endif
