// SPDX-License-Identifier: GPL-2.0-only
/* Appending to a fixed buffer with snprintf's contract (textcat.h). */
#include "lib/textcat.h"

#include <stdarg.h>
#include <stdio.h>

size_t textcat_add(char *out, size_t len, size_t n, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vsnprintf(out + (n < len ? n : len), n < len ? len - n : 0, fmt, ap);
	va_end(ap);
	return n + (r > 0 ? (size_t)r : 0);
}
