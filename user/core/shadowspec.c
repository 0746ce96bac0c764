// SPDX-License-Identifier: GPL-2.0-only
/* A route's shadow settings (shadowspec.h): defaults, the "shadow ..." words, their text. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/confword.h"
#include "core/http.h"
#include "core/shadowspec.h"
#include "lib/textcat.h"

uint32_t shadowspec_safe_methods(void)
{
	return (1u << HTTP_M_GET) | (1u << HTTP_M_HEAD) | (1u << HTTP_M_OPTIONS);
}

void shadowspec_defaults(struct route_shadow *sh, int pool, const char *name)
{
	*sh = (struct route_shadow){
		.on = true,
		.pool = pool,
		.permille = 1000,
		.methods = shadowspec_safe_methods(),
		.compare = SHADOW_CMP_ALL,
		.max_body = SHADOW_MAX_BODY_DEFAULT,
		.max_inflight = SHADOW_INFLIGHT_DEFAULT,
		.timeout_ms = SHADOW_TIMEOUT_DEFAULT,
		.noise_permille = SHADOW_NOISE_DEFAULT,
	};
	snprintf(sh->pool_name, sizeof(sh->pool_name), "%s", name);
}

bool shadowspec_copies(const struct route_shadow *sh, unsigned method)
{
	return sh && sh->on && method < 32 && (sh->methods & (1u << method));
}

bool shadowspec_listed(const char *list, const char *name, size_t len)
{
	const char *s = list, *end;

	for (; *s; s = *end ? end + 1 : end) {
		end = strchrnul(s, ',');
		if ((size_t)(end - s) == len && !strncasecmp(s, name, len))
			return true;
	}
	return false;
}

/* "status,headers" into compare bits; 0 when a word is not one of the three. */
static uint8_t compare_bits(const char *list)
{
	static const char *const names[] = {"status", "headers", "body"};
	const char *s = list, *end;
	uint8_t bits = 0, b;

	for (; *s; s = *end ? end + 1 : end) {
		end = strchrnul(s, ',');
		for (b = 0; b < 3; b++)
			if ((size_t)(end - s) == strlen(names[b]) && !strncmp(s, names[b], end - s))
				break;
		if (b == 3)
			return 0;
		bits |= (uint8_t)(1u << b);
		if (!*end)
			break;
	}
	return bits;
}

/* Header names (tokens), lower-cased into out; -EINVAL for an empty or odd name. */
static int header_list(const char *in, char *out, size_t size)
{
	size_t n = strlen(in);

	if (!n || n >= size || in[0] == ',' || in[n - 1] == ',' || strstr(in, ",,"))
		return -EINVAL;
	for (size_t i = 0; i <= n; i++) {
		unsigned char ch = (unsigned char)in[i];

		if (ch && ch != ',' && !isalnum(ch) && !strchr("!#$%&'*+-.^_`|~", ch))
			return -EINVAL;
		out[i] = (char)tolower(ch);
	}
	return 0;
}

/*
 * JSON paths ("meta.time", "$.items[*].id"): names, '.', "[*]" or "[N]"; the leading "$." is
 * dropped. -EINVAL for anything else.
 */
static int json_list(const char *in, char *out, size_t size)
{
	size_t o = 0, n = strlen(in);
	const char *s = in, *end;

	if (!n || in[0] == ',' || in[n - 1] == ',' || strstr(in, ",,") || strstr(in, ".."))
		return -EINVAL;
	for (; *s; s = *end ? end + 1 : end) {
		end = strchrnul(s, ',');
		if (!strncmp(s, "$.", 2) && end - s > 2)
			s += 2;
		if (end == s || *s == '.' || end[-1] == '.')
			return -EINVAL;
		for (const char *p = s; p < end; p++)
			if (!isalnum((unsigned char)*p) && !strchr("_-.[]*$@", *p))
				return -EINVAL;
		if (o + (size_t)(end - s) + 2 > size)
			return -EINVAL;
		o += (size_t)snprintf(out + o, size - o, "%s%.*s", o ? "," : "", (int)(end - s), s);
		if (!*end)
			break;
	}
	return o ? 0 : -EINVAL;
}

/* "256k", "1m" or bytes: 1 byte to SHADOW_MAX_BODY_MAX. */
static int body_size(const char *s, uint32_t *out)
{
	char num[16];
	size_t n = strlen(s);
	uint32_t v, mult = 1;

	if (!n || n >= sizeof(num))
		return -EINVAL;
	strcpy(num, s);
	if (num[n - 1] == 'k' || num[n - 1] == 'K')
		mult = 1024;
	else if (num[n - 1] == 'm' || num[n - 1] == 'M')
		mult = 1024 * 1024;
	if (mult > 1)
		num[n - 1] = '\0';
	if (confword_uint(num, &v) || !v || (uint64_t)v * mult > SHADOW_MAX_BODY_MAX)
		return -EINVAL;
	*out = v * mult;
	return 0;
}

/* "5%" or "5": 0.1 to 100 percent, in per mille. */
static int rate(const char *s, uint16_t *permille)
{
	char pct[16];
	size_t n = strlen(s);

	if (!n || n >= sizeof(pct))
		return -EINVAL;
	strcpy(pct, s);
	if (pct[n - 1] == '%')
		pct[n - 1] = '\0';
	return confword_percent(pct, permille) || !*permille ? -EINVAL : 0;
}

/* The error's text into why (len bytes); returns -EINVAL. */
static int say(char *why, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int say(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* The index of the pool named name, or -1. */
static int pool_index(const struct pool *pools, unsigned npools, const char *name)
{
	for (unsigned k = 0; k < npools; k++)
		if (!strcmp(pools[k].name, name))
			return (int)k;
	return -1;
}

/* The option k with its value v into sh: 0, or -EINVAL after saying why. */
static int one_option(const char *k, const char *v, struct route_shadow *sh, char *why, size_t len)
{
	uint32_t n;

	if (!strcmp(k, "percent")) {
		if (confword_percent(v, &sh->permille))
			return say(why, len,
				   "shadow: bad percent '%s' (0 to 100, one "
				   "decimal)",
				   v);
	} else if (!strcmp(k, "methods")) {
		if (confword_methods(v, &sh->methods) || !sh->methods)
			return say(why, len, "shadow: bad methods '%s' (like GET,HEAD)", v);
	} else if (!strcmp(k, "compare")) {
		sh->compare = compare_bits(v);
		if (!sh->compare)
			return say(why, len,
				   "shadow: bad compare '%s' (status, headers, "
				   "body, comma-separated)",
				   v);
	} else if (!strcmp(k, "ignore-header")) {
		if (header_list(v, sh->ignore_headers, sizeof(sh->ignore_headers)))
			return say(why, len,
				   "shadow: bad ignore-header '%.64s' (header "
				   "names, comma-separated)",
				   v);
	} else if (!strcmp(k, "ignore-json")) {
		if (json_list(v, sh->ignore_json, sizeof(sh->ignore_json)))
			return say(why, len,
				   "shadow: bad ignore-json '%.64s' (paths like "
				   "meta.time or items[*].id, comma-separated)",
				   v);
	} else if (!strcmp(k, "max-body")) {
		if (body_size(v, &sh->max_body))
			return say(why, len,
				   "shadow: bad max-body '%s' (1 to 16m bytes, "
				   "k and m suffixes)",
				   v);
	} else if (!strcmp(k, "max-inflight")) {
		if (confword_uint(v, &n) || !n || n > SHADOW_INFLIGHT_MAX)
			return say(why, len, "shadow: bad max-inflight '%s' (1 to %u)", v,
				   SHADOW_INFLIGHT_MAX);
		sh->max_inflight = n;
	} else if (!strcmp(k, "timeout")) {
		if (confword_duration(v, &n) || n > SHADOW_TIMEOUT_MAX)
			return say(why, len, "shadow: bad timeout '%s' (1ms to 60s)", v);
		sh->timeout_ms = n;
	} else if (!strcmp(k, "noise")) {
		if (confword_percent(v, &sh->noise_permille))
			return say(why, len,
				   "shadow: bad noise '%s' (0 to 100 percent, "
				   "one decimal)",
				   v);
	} else if (rate(v, &sh->alert_permille)) {
		return say(why, len, "shadow: bad alert '%s' (0.1%% to 100%%)", v);
	}
	return 0;
}

/* Which option a word is (its index), or -1. */
static int option_of(const char *w)
{
	static const char *const opts[] = {
		"percent",  "methods",	    "compare", "ignore-header", "ignore-json",
		"max-body", "max-inflight", "timeout", "noise",		"alert",
	};

	for (int k = 0; k < (int)(sizeof(opts) / sizeof(opts[0])); k++)
		if (!strcmp(w, opts[k]))
			return k;
	return -1;
}

bool shadowspec_is_option(const char *word)
{
	return option_of(word) >= 0;
}

int shadowspec_parse(int argc, char **argv, int *i, const struct pool *pools, unsigned npools,
		     struct route_shadow *sh, char *why, size_t len)
{
	const char *pool = *i + 1 < argc ? argv[*i + 1] : NULL;
	unsigned seen = 0;
	int k, p;

	if (!pool || option_of(pool) >= 0)
		return say(why, len, "shadow: expects a pool, then %s", SHADOW_GRAMMAR);
	p = pool_index(pools, npools, pool);
	if (p < 0)
		return say(why, len, "shadow: unknown pool '%.64s'", pool);
	shadowspec_defaults(sh, p, pool);
	for (*i += 2; *i < argc && (k = option_of(argv[*i])) >= 0; *i += 2) {
		if (seen & (1u << k))
			return say(why, len, "shadow: '%s' given twice", argv[*i]);
		seen |= 1u << k;
		if (*i + 1 >= argc)
			return say(why, len, "shadow: '%s' needs a value", argv[*i]);
		if (one_option(argv[*i], argv[*i + 1], sh, why, len))
			return -EINVAL;
	}
	return 0;
}

static size_t compare_text(uint8_t bits, char *out, size_t len, size_t n)
{
	static const char *const names[] = {"status", "headers", "body"};
	bool first = true;

	n = textcat_add(out, len, n, " compare ");
	for (unsigned b = 0; b < 3; b++)
		if (bits & (1u << b)) {
			n = textcat_add(out, len, n, "%s%s", first ? "" : ",", names[b]);
			first = false;
		}
	return n;
}

size_t shadowspec_text(const struct route_shadow *sh, char *out, size_t len, size_t n)
{
	char methods[96];

	if (!sh || !sh->on)
		return n;
	n = textcat_add(out, len, n, " shadow %s", sh->pool_name);
	if (sh->permille != 1000)
		n = textcat_add(out, len, n, " percent %u.%u", sh->permille / 10u,
				sh->permille % 10u);
	confword_methods_text(sh->methods, methods, sizeof(methods));
	n = textcat_add(out, len, n, " methods %s", methods);
	n = compare_text(sh->compare, out, len, n);
	if (sh->ignore_headers[0])
		n = textcat_add(out, len, n, " ignore-header %s", sh->ignore_headers);
	if (sh->ignore_json[0])
		n = textcat_add(out, len, n, " ignore-json %s", sh->ignore_json);
	if (sh->max_body % 1024)
		n = textcat_add(out, len, n, " max-body %u", sh->max_body);
	else
		n = textcat_add(out, len, n, " max-body %uk", sh->max_body / 1024);
	n = textcat_add(out, len, n, " max-inflight %u", sh->max_inflight);
	if (sh->timeout_ms % 1000)
		n = textcat_add(out, len, n, " timeout %ums", sh->timeout_ms);
	else
		n = textcat_add(out, len, n, " timeout %us", sh->timeout_ms / 1000);
	n = textcat_add(out, len, n, " noise %u.%u", sh->noise_permille / 10u,
			sh->noise_permille % 10u);
	if (sh->alert_permille)
		n = textcat_add(out, len, n, " alert %u.%u%%", sh->alert_permille / 10u,
				sh->alert_permille % 10u);
	return n;
}

bool shadowspec_equal(const struct route_shadow *a, const struct route_shadow *b)
{
	bool aon = a && a->on, bon = b && b->on;

	if (!aon || !bon)
		return aon == bon;
	/* By the pool's name: the same table in two configurations may number pools apart. */
	return !strcmp(a->pool_name, b->pool_name) && a->permille == b->permille &&
	       a->methods == b->methods && a->compare == b->compare &&
	       !strcmp(a->ignore_headers, b->ignore_headers) &&
	       !strcmp(a->ignore_json, b->ignore_json) && a->max_body == b->max_body &&
	       a->max_inflight == b->max_inflight && a->timeout_ms == b->timeout_ms &&
	       a->noise_permille == b->noise_permille && a->alert_permille == b->alert_permille;
}
