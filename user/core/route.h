/* SPDX-License-Identifier: GPL-2.0-only */
/* Route table: method + host + path-prefix matching whose lookup cost is independent of its size.
 */
#ifndef STRG_ROUTE_H
#define STRG_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/routegw.h"
#include "core/shadowspec.h"

#define ROUTE_PATH_MAX 1024
#define ROUTE_HOST_MAX 255
/* Segments in a route's path: bounds the per-request boundary walk here and in the BPF lookup. */
#define ROUTE_DEPTH_MAX 32

/*
 * The route grammar, after the word "route" (strg.conf) or "route set" (strgctl): the parser's
 * errors, strgctl's help and the manual page say it in these words (a unit test holds the page
 * to it).
 */
#define ROUTE_GRAMMAR                                                                              \
	"[METHODS] [host HOST] PATH POOL [percent P] [exact] [strip-prefix | rewrite NEW] "        \
	"[testers] [fallback POOL | none] [rollback ERR% [p99 MS] [window T] [min "                \
	"N]] " ROUTEGW_GRAMMAR " [shadow POOL [SHADOW-OPTIONS]] [inactive]"
/* How a change names a route: its id, or its key. */
#define ROUTE_KEY_GRAMMAR                                                                          \
	"ID | [METHODS] [host HOST] PATH [exact] [header NAME VALUE|~PREFIX] [cookie NAME VALUE] " \
	"[query NAME VALUE]"

/* What an operator (config line or strgctl) asks for. */
struct route_spec {
	uint32_t methods;	       /* bit (1u << enum http_method); 0 = every method */
	char host[ROUTE_HOST_MAX + 1]; /* lower case, no port; "" = any host */
	char path[ROUTE_PATH_MAX + 1]; /* starts with '/', no trailing '/' unless it is "/" */
	bool exact;		       /* match the path itself only, not its children */
	bool inactive; /* kept but skipped: requests fall through to the next match */
	bool split;    /* only users whose bucket is below permille take the route */
	bool testers;  /* the tester header may pin a request of this route to any pool */
	bool adapt;    /* forward the path with the prefix replaced by rewrite ("" strips it) */
	char rewrite[ROUTE_PATH_MAX + 1];
	uint16_t permille; /* with split: the share of users, 0-1000 ("percent" x 10) */
	int pool;	   /* index of the pool the route sends to */
	/* When the pool has no backend that serves: the next matching route (the default), */
	/* none (strgd answers 503), or the pool fallback_pool. */
	uint8_t fallback; /* enum route_fallback */
	int fallback_pool;
	/* Automatic rollback: over the last rb_window_s seconds, with at least rb_min requests, */
	/* more than rb_err_permille of 5xx, or a p99 above rb_p99_ms, trips the route. */
	uint16_t rb_err_permille; /* 0: no rollback */
	uint32_t rb_p99_ms;	  /* 0: latency not watched */
	uint32_t rb_window_s;
	uint32_t rb_min;
	bool tripped;	/* rolled back by strgd (then also inactive) until an operator acts */
	char trip[160]; /* what tripped it: the figures over the window */
	/* Gateway options: conditions (part of the key), limit, access, header rules. */
	struct routegw gw;
	struct route_shadow shadow; /* a copy of its requests to another pool (.on), compared */
};

enum route_fallback {
	ROUTE_FALLBACK_NEXT = 0,
	ROUTE_FALLBACK_NONE = 1,
	ROUTE_FALLBACK_POOL = 2,
};

/*
 * A spec as the table stores it: the same settings, its strings sized to their content (never
 * NULL; owned by the table, valid while the route exists in it). route_spec_of() gives the full
 * struct route_spec back for changes and texts.
 */
struct route_stored {
	uint32_t methods;
	const char *host, *path, *rewrite, *trip;
	bool exact, inactive, split, testers, adapt;
	uint16_t permille;
	int pool;
	uint8_t fallback;
	int fallback_pool;
	uint16_t rb_err_permille;
	uint32_t rb_p99_ms, rb_window_s, rb_min;
	bool tripped;
	const struct routegw *gw; /* never NULL: a shared empty one when the route has none */
	const struct route_shadow *shadow; /* NULL: none */
};

/* A route as stored: the spec plus its stable id (unique for the table's life). */
struct route {
	uint32_t id;
	uint32_t slot; /* counters slot: stable while the route exists, freed by its deletion */
	struct route_stored spec;
};

/* The full spec of a stored one (a copy: changes to it change nothing in the table). */
void route_spec_from(const struct route_stored *s, struct route_spec *out);

#define ROUTE_SLOTS	1024	   /* equals STRG_ROUTE_SLOTS, the counters maps' route dimension */
#define ROUTE_SLOT_NONE UINT32_MAX /* more routes than slots: this one is not counted */

struct route_table;

/* Constructors return NULL with errno set. */
struct route_table *route_table_new(void);
/*
 * Deep copy with the same ids and id counter: build a changed table beside the live one, then swap
 * the pointer, so a request sees the old table or the new one, never a mix.
 */
struct route_table *route_table_clone(const struct route_table *t);
void route_table_free(struct route_table *t);

/*
 * Add a route, or replace the one with the same method set, host, path and exact flag (it keeps
 * its id). Returns the route's id (>= 0) or -errno (-EINVAL for a malformed spec).
 */
int route_table_set(struct route_table *t, const struct route_spec *spec);
/*
 * Add a route under a given id (a saved table read back): -EEXIST when the id or the route is
 * taken. Ids handed out later are above it. Returns the id or -errno.
 */
int route_table_restore(struct route_table *t, const struct route_spec *spec, uint32_t id);
/* The id the next new route gets; ids are never handed out twice in a table's life. */
uint32_t route_table_next_id(const struct route_table *t);
/* Hand out no id below next_id from now on (a saved counter read back). */
void route_table_reserve_ids(struct route_table *t, uint32_t next_id);
/* Remove the route with this id; -ENOENT when none, -EPERM for the default route "/" of any host.
 */
int route_table_del(struct route_table *t, uint32_t id);
/* Number of routes. */
size_t route_table_count(const struct route_table *t);
/* Whether some route has "testers" (requests need their tester header looked at). */
bool route_table_has_testers(const struct route_table *t);
/* Route by id, or NULL. */
const struct route *route_table_get(const struct route_table *t, uint32_t id);
/* The route with the same method set, host, path and exact flag as spec (pool ignored), or NULL. */
const struct route *route_table_find(const struct route_table *t, const struct route_spec *spec);
/*
 * Every route in an array the caller frees (*n of them): grouped by path, each path's routes in
 * precedence order (the order a lookup tries them), or in id order with by_id. NULL with errno
 * set. The pointers stay valid until the table changes.
 */
const struct route **route_table_list(const struct route_table *t, bool by_id, size_t *n);
/* Visit every route (order unspecified); stops early when fn returns non-zero and returns that. */
int route_table_each(const struct route_table *t, int (*fn)(const struct route *r, void *arg),
		     void *arg);

/*
 * Best route for a request: the longest matching prefix (at '/' boundaries, or exact), then the
 * route with a host over one without, then one with a method set over one without, then an exact
 * route over a prefix route; left ties go to the smaller method set, then the older route. method
 * is an enum http_method value; host is compared case-insensitively, without port; the path is
 * compared byte for byte, without decoding, and "" counts as "/". Returns NULL only when nothing
 * matches (a table with a "/" route always matches). The pointer stays valid until that route is
 * deleted or the table freed.
 */
/*
 * The same, for a user in bucket (0-999, a sticky hash of the user): a split route takes the
 * request only when bucket < its permille, else the request falls through to the next match.
 * Raising a route's share therefore only ever adds buckets to it. With ROUTE_TESTER or-ed into
 * bucket (the request names a pool in the tester header), a split route with "testers" takes
 * the request whatever its share: a dark launch (percent 0 testers) reaches its testers.
 */
#define ROUTE_TESTER (1u << 16)
/*
 * The request's head, for routes with conditions (header, cookie, query): such a route takes a
 * request only when all its conditions hold, and never in a lookup without a head (NULL).
 * Among routes of one prefix, a route with more conditions goes before one with fewer once
 * host, methods and exact have been weighed (route_cmp, route.c).
 */
struct http_request;
struct route_head {
	const struct http_request *req;
	const char *buf; /* the head's bytes, which req's offsets point into */
};
/* Lookup with a filter: a matching route for which skip() says true is passed over. */
typedef bool (*route_skip_fn)(const struct route *r, void *ctx);
const struct route *route_table_lookup_skip(const struct route_table *t, unsigned method,
					    const char *host, size_t host_len, const char *path,
					    size_t path_len, unsigned bucket,
					    const struct route_head *head, route_skip_fn skip,
					    void *ctx);
/*
 * The same, also naming the route the request counts under: the first split route that matched it
 * but not its bucket (the legacy half of a canary is counted beside the modern half), else the
 * route returned (NULL when none matched).
 */
const struct route *route_table_lookup_counted(const struct route_table *t, unsigned method,
					       const char *host, size_t host_len, const char *path,
					       size_t path_len, unsigned bucket,
					       const struct route_head *head,
					       const struct route **counted);
const struct route *route_table_lookup_user(const struct route_table *t, unsigned method,
					    const char *host, size_t host_len, const char *path,
					    size_t path_len, unsigned bucket);
const struct route *route_table_lookup(const struct route_table *t, unsigned method,
				       const char *host, size_t host_len, const char *path,
				       size_t path_len);

/*
 * Normalise and validate a path prefix given by an operator into spec->path: must start with
 * '/', no '?' or '#', no "." or ".." segments, no empty segments, no control bytes or spaces, at
 * most ROUTE_DEPTH_MAX segments; a trailing '/' is removed. Returns 0 or -EINVAL.
 */
int route_path_set(struct route_spec *spec, const char *path);
/*
 * Validate a host name given by an operator into spec->host, lower-cased: a DNS name or an IP
 * literal ("[::1]" for IPv6), without port; "" means any host. Returns 0 or -EINVAL.
 */
int route_host_set(struct route_spec *spec, const char *host);
/*
 * The route's key as counters and logs name it, stable for its life:
 * "[METHODS] [host H] PATH [exact]". snprintf semantics.
 */
size_t route_key_text(const struct route_stored *s, char *out, size_t len);
/*
 * The spec in the configuration's route syntax, without the word "route":
 * "[METHODS] [host H] PATH POOL [percent P] [exact] [strip-prefix|rewrite NEW] [testers]
 * [inactive]", pool being the name of spec->pool. snprintf-style return.
 */
size_t route_spec_text(const struct route_stored *spec, const char *pool, const char *fallback,
		       char *out, size_t len);
/*
 * The default route: "/" for every method and host, not exact. It takes every request nothing
 * else takes, so a table always has it: it can be re-pointed, never deleted, split or disabled.
 */
bool route_is_default(const struct route_stored *spec);
/*
 * Copy in into the canonical form the table stores (out must not be in): what route_table_set()
 * would store, found without a table. 0 or -EINVAL.
 */
int route_spec_normalize(struct route_spec *out, const struct route_spec *in);
/* The default route's key in spec (its settings zero, pool 0). */
void route_default_spec(struct route_spec *spec);
/* The table's default route, or NULL when it has none yet. */
const struct route *route_table_default(const struct route_table *t);
/* Same route and same target, options and state. */
bool route_spec_equal(const struct route_stored *a, const struct route_stored *b);
/*
 * A full spec seen as a stored one (for the functions above): view's strings point into s, so
 * it is valid while s is.
 */
const struct route_stored *route_spec_view(const struct route_spec *s, struct route_stored *view);

/* Longest text route_spec_text() writes. */
#define ROUTE_TEXT_MAX                                                                             \
	(2 * ROUTE_PATH_MAX + ROUTE_HOST_MAX + 160 + ROUTEGW_TEXT_MAX + SHADOW_TEXT_MAX)

#endif
