/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The values of single words of the configuration grammar (numbers, durations, percentages,
 * method lists), parsed and said back: below config, route and the option parsers they call,
 * which all read them alike.
 */
#ifndef STRG_CONFWORD_H
#define STRG_CONFWORD_H

#include <stddef.h>
#include <stdint.h>

/* "250ms", "30s", "2m" or milliseconds: 0, -EINVAL, or -ERANGE (not 1 ms to an hour). */
int confword_duration(const char *s, uint32_t *ms);
/* "12.5" -> 125 per mille: 0 to 100 with at most one decimal. 0 or -EINVAL. */
int confword_percent(const char *s, uint16_t *permille);
/* A decimal number that fits 32 bits: 0 or -EINVAL. */
int confword_uint(const char *s, uint32_t *out);
/* Parse "GET,HEAD" into a method mask; 0 on success, -EINVAL on an unknown method. */
int confword_methods(const char *s, uint32_t *mask);
/* "GET,HEAD" of a mask ("" for none), snprintf-style: returns the length the text needs. */
size_t confword_methods_text(uint32_t mask, char *out, size_t len);

#endif
