// SPDX-License-Identifier: GPL-2.0-only
/* Sets of the store's objects: sorted by key, hashed without regard to order, compared. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fleet/objs.h"

bool fleet_objs_is_table(const char *name)
{
	return !strncmp(name, "pools/", 6) || !strncmp(name, "routes/", 7);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct fleet_obj *)a)->name, ((const struct fleet_obj *)b)->name);
}

void fleet_objs_sort(struct fleet_objs *o)
{
	if (o->n)
		qsort(o->v, o->n, sizeof(o->v[0]), by_name);
}

int fleet_objs_add(struct fleet_objs *o, const char *name, const char *value, size_t len,
		   int64_t mod_revision)
{
	struct fleet_obj *v = realloc(o->v, (o->n + 1) * sizeof(*v)), *ob;

	if (!v)
		return -ENOMEM;
	o->v = v;
	ob = &v[o->n];
	ob->name = strdup(name);
	ob->value = malloc(len + 1);
	if (!ob->name || !ob->value) {
		free(ob->name);
		free(ob->value);
		return -ENOMEM;
	}
	memcpy(ob->value, value, len);
	ob->value[len] = '\0';
	ob->len = len;
	ob->mod_revision = mod_revision;
	o->n++;
	return 0;
}

const struct fleet_obj *fleet_objs_find(const struct fleet_objs *o, const char *name)
{
	struct fleet_obj key = {.name = (char *)name};

	return o->n ? bsearch(&key, o->v, o->n, sizeof(o->v[0]), by_name) : NULL;
}

void fleet_objs_free(struct fleet_objs *o)
{
	for (size_t i = 0; i < o->n; i++) {
		free(o->v[i].name);
		free(o->v[i].value);
	}
	free(o->v);
	o->v = NULL;
	o->n = 0;
}

/* FNV-1a 64 of the key, a NUL and the text, then mixed (splitmix64's finaliser) so that a sum
 * of many keeps its bits spread. */
uint64_t fleet_obj_hash(const struct fleet_obj *ob)
{
	uint64_t h = 0xcbf29ce484222325ull;
	const unsigned char *p = (const unsigned char *)ob->name;

	for (size_t i = 0, n = strlen(ob->name) + 1; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	p = (const unsigned char *)ob->value;
	for (size_t i = 0; i < ob->len; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebull;
	return h ^ (h >> 31);
}

uint64_t fleet_objs_hash(const struct fleet_objs *objs)
{
	uint64_t sum = 0;

	/* A sum does not depend on the order of its terms. */
	for (size_t i = 0; i < objs->n; i++)
		if (fleet_objs_is_table(objs->v[i].name))
			sum += fleet_obj_hash(&objs->v[i]);
	return sum;
}

void fleet_diff_free(struct fleet_diff *d)
{
	free(d->put);
	free(d->del);
	free(d->put_prev);
	memset(d, 0, sizeof(*d));
}

int fleet_objs_diff(const struct fleet_objs *from, const struct fleet_objs *to,
		    struct fleet_diff *d)
{
	size_t i = 0, j = 0;

	memset(d, 0, sizeof(*d));
	d->put = calloc(to->n + 1, sizeof(*d->put));
	d->put_prev = calloc(to->n + 1, sizeof(*d->put_prev));
	d->del = calloc(from->n + 1, sizeof(*d->del));
	if (!d->put || !d->put_prev || !d->del) {
		fleet_diff_free(d);
		return -ENOMEM;
	}
	/* One merge walk over both sorted sets. */
	while (i < from->n || j < to->n) {
		int c;

		/* Only the table's objects: node reports and the like are not the table. */
		if (i < from->n && !fleet_objs_is_table(from->v[i].name)) {
			i++;
			continue;
		}
		if (j < to->n && !fleet_objs_is_table(to->v[j].name)) {
			j++;
			continue;
		}
		c = i == from->n ? 1 : j == to->n ? -1 : strcmp(from->v[i].name, to->v[j].name);

		if (c < 0) {
			d->del[d->ndel++] = &from->v[i++];
		} else if (c > 0) {
			d->put[d->nput++] = &to->v[j++];
		} else {
			if (from->v[i].len != to->v[j].len ||
			    memcmp(from->v[i].value, to->v[j].value, to->v[j].len)) {
				d->put_prev[d->nput] = from->v[i].mod_revision;
				d->put[d->nput++] = &to->v[j];
			}
			i++;
			j++;
		}
	}
	return 0;
}

/* Where name is, or would go, in the sorted set. */
static size_t place_of(const struct fleet_objs *o, const char *name, bool *found)
{
	size_t lo = 0, hi = o->n;

	*found = false;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(o->v[mid].name, name);

		if (!c) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int fleet_objs_put(struct fleet_objs *o, const char *name, const char *value, size_t len,
		   int64_t mod_revision)
{
	bool found;
	size_t at = place_of(o, name, &found);
	struct fleet_obj ob;
	int err;

	if (found) {
		char *v = malloc(len + 1);

		if (!v)
			return -ENOMEM;
		memcpy(v, value, len);
		v[len] = '\0';
		free(o->v[at].value);
		o->v[at].value = v;
		o->v[at].len = len;
		o->v[at].mod_revision = mod_revision;
		return 0;
	}
	err = fleet_objs_add(o, name, value, len, mod_revision);
	if (err)
		return err;
	ob = o->v[o->n - 1];
	memmove(&o->v[at + 1], &o->v[at], (o->n - 1 - at) * sizeof(ob));
	o->v[at] = ob;
	return 0;
}

void fleet_objs_remove(struct fleet_objs *o, const char *name)
{
	bool found;
	size_t at = place_of(o, name, &found);

	if (!found)
		return;
	free(o->v[at].name);
	free(o->v[at].value);
	memmove(&o->v[at], &o->v[at + 1], (o->n - at - 1) * sizeof(o->v[0]));
	o->n--;
}

int fleet_objs_copy(const struct fleet_objs *from, struct fleet_objs *to)
{
	memset(to, 0, sizeof(*to));
	for (size_t i = 0; i < from->n; i++)
		if (fleet_objs_add(to, from->v[i].name, from->v[i].value, from->v[i].len,
				   from->v[i].mod_revision)) {
			fleet_objs_free(to);
			return -ENOMEM;
		}
	return 0;
}

/* Sorted by name: qsort's comparison of pointers to objects. */
static int by_name_ptr(const void *a, const void *b)
{
	return strcmp((*(const struct fleet_obj *const *)a)->name,
		      (*(const struct fleet_obj *const *)b)->name);
}

/* Merge the sorted new objects add (taken over) into o: one pass over both. */
static int merge_in(struct fleet_objs *o, struct fleet_obj **add, size_t nadd)
{
	struct fleet_obj *v = malloc((o->n + nadd + 1) * sizeof(*v));
	size_t i = 0, j = 0, k = 0;

	if (!v)
		return -ENOMEM;
	while (i < o->n || j < nadd) {
		if (j == nadd || (i < o->n && strcmp(o->v[i].name, add[j]->name) < 0))
			v[k++] = o->v[i++];
		else
			v[k++] = *add[j++];
	}
	free(o->v);
	o->v = v;
	o->n = k;
	return 0;
}

int fleet_objs_update(struct fleet_objs *o, const struct fleet_obj *chg, const bool *gone, size_t n)
{
	struct fleet_objs added = {0};
	struct fleet_obj **add = NULL;
	size_t removed = 0, k = 0;
	int err = 0;

	for (size_t i = 0; i < n && !err; i++) {
		bool found;
		size_t at = place_of(o, chg[i].name, &found);

		if (found && gone[i]) {
			free(o->v[at].value);
			o->v[at].value = NULL; /* removed below, in one pass */
			removed++;
		} else if (found) {
			err = fleet_objs_put(o, chg[i].name, chg[i].value, chg[i].len,
					     chg[i].mod_revision);
		} else if (!gone[i]) {
			err = fleet_objs_add(&added, chg[i].name, chg[i].value, chg[i].len,
					     chg[i].mod_revision);
		}
	}
	for (size_t i = 0; removed && i < o->n; i++) {
		if (o->v[i].value)
			o->v[k++] = o->v[i];
		else
			free(o->v[i].name);
	}
	if (removed)
		o->n = k;
	add = !err && added.n ? malloc(added.n * sizeof(*add)) : NULL;
	if (!err && added.n && !add)
		err = -ENOMEM;
	for (size_t i = 0; add && i < added.n; i++)
		add[i] = &added.v[i];
	if (add) {
		qsort(add, added.n, sizeof(*add), by_name_ptr);
		err = merge_in(o, add, added.n);
	}
	if (!err && add) {
		free(added.v); /* the objects moved into o */
		added.v = NULL;
		added.n = 0;
	}
	free(add);
	fleet_objs_free(&added);
	return err;
}
