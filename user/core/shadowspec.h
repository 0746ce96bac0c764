/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A route's shadow ("route ... shadow POOL ..."): the settings of the copy of its requests that
 * goes to another pool to be compared with the user's answer, their parser and their text.
 */
#ifndef STRG_SHADOWSPEC_H
#define STRG_SHADOWSPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/pool.h"

/*
 * The shadow's options, after "shadow POOL" in a route line (ROUTE_GRAMMAR's SHADOW-OPTIONS), in
 * any order: the parser's errors, strgctl's help and the manual page say them in these words.
 */
#define SHADOW_GRAMMAR                                                                             \
	"[percent P] [methods M,...] [compare status|headers|body,...] [ignore-header H,...] "     \
	"[ignore-json PATH,...] [max-body N] [max-inflight N] [timeout T] [noise P] [alert ERR%]"

#define SHADOW_LIST_MAX		256 /* bytes of an ignore list, commas included */
#define SHADOW_TEXT_MAX		(2 * SHADOW_LIST_MAX + 320) /* shadowspec_text's longest */
#define SHADOW_MAX_BODY_DEFAULT (256 * 1024) /* bytes of a body kept for the comparison */
#define SHADOW_MAX_BODY_MAX	(16u << 20)
#define SHADOW_INFLIGHT_DEFAULT 64
#define SHADOW_INFLIGHT_MAX	4096
#define SHADOW_TIMEOUT_DEFAULT	2000 /* ms */
#define SHADOW_TIMEOUT_MAX	60000
#define SHADOW_NOISE_DEFAULT	10 /* per mille of the copies that also go to the route's pool */

/* What the comparison looks at: bits of route_shadow.compare. */
enum shadow_compare {
	SHADOW_CMP_STATUS = 1,
	SHADOW_CMP_HEADERS = 2,
	SHADOW_CMP_BODY = 4,
	SHADOW_CMP_ALL = 7,
};

struct route_shadow {
	bool on;			   /* the route has a shadow */
	int pool;			   /* index of the pool the copies go to */
	char pool_name[POOL_NAME_MAX + 1]; /* its name, for the route's text */
	uint16_t permille;		   /* the route's users copied, by their sticky bucket */
	uint32_t methods;		   /* bit (1u << enum http_method) of the methods copied */
	uint8_t compare;		   /* enum shadow_compare bits */
	char ignore_headers[SHADOW_LIST_MAX]; /* "x-a,x-b", lower case; "" none */
	char ignore_json[SHADOW_LIST_MAX];    /* "meta.time,items[*].id"; "" none */
	uint32_t max_body;		      /* bytes of each body kept and compared */
	uint32_t max_inflight;		      /* copies of this route in flight per strgd */
	uint32_t timeout_ms;		      /* a copy's answer is due within this */
	uint16_t noise_permille; /* copies sent to the route's pool twice, to learn noise */
	uint16_t alert_permille; /* a mismatch rate above it is notified (0: never) */
};

/* The methods copied unless the route names others: the safe ones, which change nothing. */
uint32_t shadowspec_safe_methods(void);
/* A shadow's settings at their defaults, copying to pool (index) named name. */
void shadowspec_defaults(struct route_shadow *sh, int pool, const char *name);

/*
 * "shadow POOL [options]" from argv[*i] (the word "shadow") into sh, POOL one of pools (npools of
 * them); *i moves past the words it took (options in any order, each once). 0, or -EINVAL with
 * why (len bytes) saying what is wrong ("shadow: ...").
 */
int shadowspec_parse(int argc, char **argv, int *i, const struct pool *pools, unsigned npools,
		     struct route_shadow *sh, char *why, size_t len);
/*
 * " shadow POOL ..." with every setting (an operator sees the limits in force), appended at
 * out + n with snprintf semantics: returns the length the whole text needs.
 */
size_t shadowspec_text(const struct route_shadow *sh, char *out, size_t len, size_t n);
/* Whether word is one of the shadow's options (percent, methods, ... alert). */
bool shadowspec_is_option(const char *word);
/* Same settings (both off counts as the same; the pool by its name). */
bool shadowspec_equal(const struct route_shadow *a, const struct route_shadow *b);
/* Whether a request with this method (enum http_method) is copied. */
bool shadowspec_copies(const struct route_shadow *sh, unsigned method);
/* Whether name (len bytes, any case) is in the comma list (lower case). */
bool shadowspec_listed(const char *list, const char *name, size_t len);

#endif
