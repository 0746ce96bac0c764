/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The shadow's comparison of two answers to one request (the user's and the copy's, or the
 * user's and a second one of the same pool's, for noise): the status; the headers, less those
 * that differ on every answer and those the route ignores; the body, as JSON structurally when
 * both sides are JSON (ignoring the route's paths), else by its bytes; a body over the bound by
 * its length and a hash of what was kept. Each difference is named as a field, which the
 * statistics count (shadowstats.h). Pure code.
 */
#ifndef STRG_SHADOWCMP_H
#define STRG_SHADOWCMP_H

#include <stdbool.h>
#include <stdint.h>

#include "core/httpcap.h"

#define SHADOWCMP_FIELD_MAX 96	/* "status", "header content-type", "body $.items[*].id" */
#define SHADOWCMP_VALUE_MAX 120 /* a side's value as shown, cut */
#define SHADOWCMP_DIFFS_MAX 32	/* differences named per comparison; more are only counted */

enum shadowcmp_kind {
	SHADOWCMP_STATUS = 0,
	SHADOWCMP_HEADER = 1,
	SHADOWCMP_BODY = 2,
	SHADOWCMP_KINDS = 3,
};

struct shadowcmp_diff {
	enum shadowcmp_kind kind;
	char field[SHADOWCMP_FIELD_MAX];
	char a[SHADOWCMP_VALUE_MAX], b[SHADOWCMP_VALUE_MAX]; /* "(none)" when absent */
};

struct shadowcmp_result {
	unsigned n;    /* differences in d */
	unsigned more; /* and beyond them */
	bool cut;      /* a body was over the bound: compared by length and prefix hash */
	bool json;     /* the bodies were compared as JSON */
	struct shadowcmp_diff d[SHADOWCMP_DIFFS_MAX];
};

/* What a route compares (route_shadow's settings). */
struct shadowcmp_opts {
	uint8_t compare;	    /* enum shadow_compare bits */
	const char *ignore_headers; /* "x-a,x-b" ("" none) */
	const char *ignore_json;    /* "meta.time,items[*].id" ("" none) */
};

/* Compare answer a with answer b (both done) into out. */
void shadowcmp_compare(const struct shadowcmp_opts *o, const struct httpcap *a,
		       const struct httpcap *b, struct shadowcmp_result *out);
/* Whether the header differs on every answer (Date, Server, request ids, framing...). */
bool shadowcmp_always_differs(const char *name, size_t len);
/* Whether a value of this header is never shown (Authorization, Cookie, Set-Cookie). */
bool shadowcmp_secret(const char *name, size_t len);

#endif
