// SPDX-License-Identifier: GPL-2.0-only
/* The values of single words of the configuration grammar, parsed and said back (confword.h). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/confword.h"
#include "core/http.h"

#define CONFWORD_DURATION_MAX_MS 3600000u /* one hour: longer is a typo, not a timeout */

/* A number of milliseconds, or with a unit: "250ms", "30s", "2m". */
int confword_duration(const char *s, uint32_t *ms)
{
	uint64_t v = 0, mult;
	unsigned digits = 0;

	for (; *s >= '0' && *s <= '9' && digits < 12; s++, digits++)
		v = v * 10 + (uint64_t)(*s - '0');
	if (!digits)
		return -EINVAL;
	if (!*s || !strcmp(s, "ms"))
		mult = 1;
	else if (!strcmp(s, "s"))
		mult = 1000;
	else if (!strcmp(s, "m"))
		mult = 60000;
	else
		return -EINVAL;
	if (!v || v * mult > CONFWORD_DURATION_MAX_MS)
		return -ERANGE;
	*ms = (uint32_t)(v * mult);
	return 0;
}

int confword_uint(const char *s, uint32_t *out)
{
	uint64_t v = 0;
	unsigned digits = 0;

	for (; *s >= '0' && *s <= '9' && digits < 11; s++, digits++)
		v = v * 10 + (uint64_t)(*s - '0');
	if (!digits || *s || v > UINT32_MAX)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

int confword_percent(const char *s, uint16_t *permille)
{
	unsigned whole = 0, tenth = 0, digits = 0;

	for (; *s >= '0' && *s <= '9' && digits < 4; s++, digits++)
		whole = whole * 10 + (unsigned)(*s - '0');
	if (!digits)
		return -EINVAL;
	if (*s == '.') {
		if (s[1] < '0' || s[1] > '9')
			return -EINVAL;
		tenth = (unsigned)(s[1] - '0');
		s += 2;
	}
	if (*s || whole * 10 + tenth > 1000)
		return -EINVAL;
	*permille = (uint16_t)(whole * 10 + tenth);
	return 0;
}

/* Must stay in step with enum http_method; kept here so that no one needs http.c for it. */
static const struct {
	const char *name;
	enum http_method m;
} methods[] = {
	{"GET", HTTP_M_GET},	 {"HEAD", HTTP_M_HEAD},	    {"POST", HTTP_M_POST},
	{"PUT", HTTP_M_PUT},	 {"DELETE", HTTP_M_DELETE}, {"OPTIONS", HTTP_M_OPTIONS},
	{"PATCH", HTTP_M_PATCH}, {"TRACE", HTTP_M_TRACE},   {"CONNECT", HTTP_M_CONNECT},
};

static int method_bit(const char *s, size_t len, uint32_t *bit)
{
	size_t i;

	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		if (strlen(methods[i].name) == len &&
		    !memcmp(methods[i].name, s, len)) {
			*bit = 1u << methods[i].m;
			return 0;
		}
	}
	return -EINVAL;
}

int confword_methods(const char *s, uint32_t *mask)
{
	uint32_t m = 0, bit;
	const char *end;
	size_t len;

	/* Method names are case-sensitive (RFC 9110 9.1): "get" is not GET. */
	for (;; s = end + 1) {
		end = strchr(s, ',');
		len = end ? (size_t)(end - s) : strlen(s);
		if (method_bit(s, len, &bit))
			return -EINVAL;
		m |= bit;
		if (!end)
			break;
	}
	*mask = m;
	return 0;
}

size_t confword_methods_text(uint32_t mask, char *out, size_t len)
{
	size_t n = 0;

	if (len)
		out[0] = '\0';
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		if (!(mask & (1u << methods[i].m)))
			continue;
		n += (size_t)snprintf(out + (n < len ? n : len), n < len ? len - n : 0, "%s%s",
				      n ? "," : "", methods[i].name);
	}
	return n;
}
