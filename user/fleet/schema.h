/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The route table as objects in the store, one key each under the fleet's prefix:
 * "pools/NAME" and "routes/ID", JSON with a schema version. Decoding validates with the
 * configuration's own parser, so an object is refused for the reason a configuration line would
 * be, named by its key; the table's order-independent hash.
 */
#ifndef STRG_FLEET_SCHEMA_H
#define STRG_FLEET_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "fleet/objs.h"

#define FLEET_SCHEMA  1 /* the objects' "schema": newer ones are refused */
#define FLEET_ERR_MAX 320

/*
 * The table the objects make: a new configuration holding their pools and routes (route ids
 * are the keys'), or NULL with -errno in *ret and "KEY: reason" in err (-EINVAL: an object is
 * refused; the table needs a default route '/' and pools for every route). Objects that are not
 * the table's are ignored. Free with config_destroy().
 */
struct config *fleet_schema_decode(const struct fleet_objs *objs, int *ret, char *err,
				   size_t errlen);
/*
 * One revision's change of a route, made to table t in place: routes/ID put (it replaces the
 * route of that id) or deleted. -EINVAL with "KEY: reason" in err when refused (t may then be
 * partly changed: work on a copy).
 */
int fleet_schema_route_put(struct config *t, const struct fleet_obj *ob, char *err, size_t errlen);
int fleet_schema_route_del(struct config *t, const char *name, char *err, size_t errlen);
/* Route id of t made spec again, or removed (spec NULL): to undo a refused revision. */
int fleet_schema_route_set(struct config *t, uint32_t id, const struct route_spec *spec);
/* The table's objects, sorted by name. 0 or -ENOMEM. */
int fleet_schema_encode(const struct config *t, struct fleet_objs *out);
/* One route's object (for a change of one route); NULL with errno. */
char *fleet_schema_route_json(const struct config *t, const struct route *r);
/*
 * The table's hash: the same for the same pools and routes whatever their order or the order
 * they came in (a node reports it; equal hashes mean equal tables).
 */
uint64_t fleet_schema_hash(const struct config *t);
/*
 * The share of route id of table t in its hash (0: no such route): a revision that changes a
 * few routes changes the hash by their shares alone.
 */
uint64_t fleet_schema_route_hash(const struct config *t, uint32_t id);
#endif
