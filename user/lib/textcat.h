/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Text built into a caller's fixed buffer with snprintf's contract: the route, gateway and
 * shadow texts append piece by piece and learn the whole length even when the buffer is short.
 */
#ifndef STRG_TEXTCAT_H
#define STRG_TEXTCAT_H

#include <stddef.h>

/*
 * Appends fmt at offset n of out (len bytes) and returns n plus the length the piece needs.
 * Once n reaches len nothing more is written, but the returned length still grows, so a
 * caller sizes its buffer from the final result as with snprintf.
 */
size_t textcat_add(char *out, size_t len, size_t n, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
