/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Sets of the store's objects (key below the prefix, JSON text, mod revision), sorted by key:
 * an order-independent hash of a set, and the difference of two sets as one transaction's puts
 * and deletes.
 */
#ifndef STRG_FLEET_OBJS_H
#define STRG_FLEET_OBJS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One object: its key below the prefix ("routes/7"), its JSON text. */
struct fleet_obj {
	char *name;
	char *value; /* NUL-terminated */
	size_t len;
	int64_t mod_revision; /* the store's, when read from it (0: not) */
};

/* Objects sorted by name. */
struct fleet_objs {
	struct fleet_obj *v;
	size_t n;
};

/* Whether a key below the prefix is one of the table's objects (pools/, routes/). */
bool fleet_objs_is_table(const char *name);
/* One object's share of a set's hash (a set's hash is the sum of its objects'). */
uint64_t fleet_obj_hash(const struct fleet_obj *ob);
/* The hash of a set's table objects: the same whatever order they were added in. */
uint64_t fleet_objs_hash(const struct fleet_objs *objs);
/*
 * What turns from into to: the objects of to to put (new or changed) and the objects of from
 * to delete (gone from to). Both lists point into from and to; put_prev has, for each put,
 * the mod_revision of from's object of that name (0: none), for a compare. 0 or -ENOMEM.
 */
struct fleet_diff {
	const struct fleet_obj **put;
	size_t nput;
	const struct fleet_obj **del;
	size_t ndel;
	int64_t *put_prev;
};
int fleet_objs_diff(const struct fleet_objs *from, const struct fleet_objs *to,
		    struct fleet_diff *d);
void fleet_diff_free(struct fleet_diff *d);

/* Sort by name (after adding objects in any order). */
void fleet_objs_sort(struct fleet_objs *o);
/* Append a copy; 0 or -ENOMEM. */
int fleet_objs_add(struct fleet_objs *o, const char *name, const char *value, size_t len,
		   int64_t mod_revision);
/* Add or replace (the set stays sorted); 0 or -ENOMEM. */
int fleet_objs_put(struct fleet_objs *o, const char *name, const char *value, size_t len,
		   int64_t mod_revision);
/*
 * n changes at once: chg[i] put (added or replaced), or removed when gone[i]; the set stays
 * sorted, merged in one pass (a revision of many new keys costs one walk, not one per key).
 * 0 or -ENOMEM.
 */
int fleet_objs_update(struct fleet_objs *o, const struct fleet_obj *chg, const bool *gone,
		      size_t n);
/* Remove the object named name, if there is one. */
void fleet_objs_remove(struct fleet_objs *o, const char *name);
/* A deep copy; 0 or -ENOMEM. */
int fleet_objs_copy(const struct fleet_objs *from, struct fleet_objs *to);
/* The object named name, or NULL (objs sorted). */
const struct fleet_obj *fleet_objs_find(const struct fleet_objs *o, const char *name);
void fleet_objs_free(struct fleet_objs *o);

#endif
