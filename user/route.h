/* SPDX-License-Identifier: GPL-2.0-only */
/* Route table: method + host + path-prefix matching whose lookup cost is independent of its size.
 */
#ifndef STRG_ROUTE_H
#define STRG_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ROUTE_PATH_MAX 1024
#define ROUTE_HOST_MAX 255
/* Segments in a route's path: bounds the per-request boundary walk here and in the BPF lookup. */
#define ROUTE_DEPTH_MAX 32

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
};

/* A route as stored: the spec plus its stable id (unique for the table's life). */
struct route {
	uint32_t id;
	uint32_t slot; /* counters slot: stable while the route exists, freed by its deletion */
	struct route_spec spec;
};

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
/* Remove the route with this id; -ENOENT when none, -EPERM for the default route "/" of any host.
 */
int route_table_del(struct route_table *t, uint32_t id);
/* Number of routes. */
size_t route_table_count(const struct route_table *t);
/* Route by id, or NULL. */
const struct route *route_table_get(const struct route_table *t, uint32_t id);
/* The route with the same method set, host, path and exact flag as spec (pool ignored), or NULL. */
const struct route *route_table_find(const struct route_table *t, const struct route_spec *spec);
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
 * Raising a route's share therefore only ever adds buckets to it.
 */
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
/* Parse "GET,HEAD" into a method mask; 0 on success, -EINVAL on an unknown method. */
int route_methods_parse(const char *s, uint32_t *mask);

#endif
