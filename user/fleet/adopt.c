// SPDX-License-Identifier: GPL-2.0-only
/* A table from the store made the draft's, changing only what differs (see adopt.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fleet/adopt.h"

/*
 * Backends by their configured name: a kept backend keeps its slot (and its runtime state); a
 * new one takes a slot never used or removed by an earlier change, never one removed now (open
 * connections still name it).
 */
static int adopt_backends(struct pool *d, const struct pool *t)
{
	bool free_slot[POOL_MAX_BACKENDS] = {0};
	int changes = 0;

	for (unsigned i = 0; i < POOL_MAX_BACKENDS; i++)
		free_slot[i] = i >= d->nbackends || d->backends[i].state == BACKEND_REMOVED;
	for (unsigned i = 0; i < d->nbackends; i++)
		if (d->backends[i].state != BACKEND_REMOVED &&
		    pool_backend_find(t, d->backends[i].name) < 0) {
			d->backends[i].state = BACKEND_REMOVED;
			changes++;
		}
	for (unsigned i = 0; i < t->nbackends; i++) {
		const struct pool_backend *b = &t->backends[i];
		int di = pool_backend_find(d, b->name);
		unsigned slot;

		if (b->state == BACKEND_REMOVED)
			continue;
		if (di >= 0) {
			changes += d->backends[di].state != b->state ||
				   d->backends[di].weight != b->weight;
			d->backends[di].state = b->state;
			d->backends[di].weight = b->weight;
			continue;
		}
		for (slot = 0; slot < POOL_MAX_BACKENDS && !free_slot[slot]; slot++)
			;
		if (slot == POOL_MAX_BACKENDS)
			return -ENOSPC;
		free_slot[slot] = false;
		d->backends[slot] = *b;
		/* Slots before a new one past the end are holes: removed, never used. */
		for (; d->nbackends < slot; d->nbackends++)
			d->backends[d->nbackends].state = BACKEND_REMOVED;
		if (slot == d->nbackends)
			d->nbackends++;
		changes++;
	}
	return changes;
}

/* Pools by name; map[i] is the draft's index of the table's pool i. */
static int adopt_pools(struct config *draft, const struct config *table, int map[POOL_MAX])
{
	int changes = 0, n;

	for (unsigned i = 0; i < table->npools; i++) {
		const struct pool *t = &table->pools[i];
		int di = config_pool_find(draft, t->name);

		if (di < 0) {
			if (draft->npools == POOL_MAX)
				return -ENOSPC;
			di = (int)draft->npools++;
			draft->pools[di] = *t;
			map[i] = di;
			changes++;
			continue;
		}
		map[i] = di;
		if (draft->pools[di].proxy_protocol != t->proxy_protocol ||
		    memcmp(&draft->pools[di].health, &t->health, sizeof(t->health)))
			changes++;
		draft->pools[di].proxy_protocol = t->proxy_protocol;
		draft->pools[di].health = t->health;
		n = adopt_backends(&draft->pools[di], t);
		if (n < 0)
			return n;
		changes += n;
	}
	return changes;
}

/* The table's spec of r with its pools as the draft numbers them. */
static void spec_mapped(const struct route *r, const int map[POOL_MAX], struct route_spec *s)
{
	route_spec_from(&r->spec, s);
	s->pool = map[s->pool];
	s->fallback_pool = map[s->fallback_pool];
}

static bool same_key(const struct route_stored *a, const struct route_stored *b)
{
	return a->methods == b->methods && a->exact == b->exact && !strcmp(a->host, b->host) &&
	       !strcmp(a->path, b->path);
}

struct walk {
	struct config *draft;
	const struct config *table;
	const int *map;
	int changes;
	int err;
};

/* A draft route the table lacks, or has under its id with another key, goes. */
static bool goes(const struct walk *w, const struct route *r)
{
	const struct route *t = route_table_get(w->table->routes, r->id);

	return !t || !same_key(&t->spec, &r->spec);
}

static int keep_route(const struct route *t, void *arg)
{
	struct walk *w = arg;
	const struct route *d = route_table_get(w->draft->routes, t->id);
	struct route_spec s;
	struct route_stored view;
	int ret;

	spec_mapped(t, w->map, &s);
	if (d && route_spec_equal(&d->spec, route_spec_view(&s, &view)))
		return 0;
	/* Same id and key: set replaces it in place (its id and slot stay). */
	ret = d ? route_table_set(w->draft->routes, &s)
		: route_table_restore(w->draft->routes, &s, t->id);
	w->changes++;
	return ret < 0 ? ret : 0;
}

static int rebuild_routes(struct walk *w)
{
	struct route_table *old = w->draft->routes, *nt = route_table_new();
	int err;

	if (!nt)
		return -ENOMEM;
	w->draft->routes = nt;
	err = route_table_each(w->table->routes, keep_route, w);
	if (err) {
		w->draft->routes = old;
		route_table_free(nt);
		return err;
	}
	route_table_free(old);
	return 0;
}

struct drops {
	const struct walk *w;
	uint32_t *ids;
	size_t n;
	bool rebuild;
};

/* route_table_each: list the draft's routes that go (the table is not changed while walked). */
static int list_drop(const struct route *r, void *arg)
{
	struct drops *d = arg;

	if (!goes(d->w, r))
		return 0;
	/* The default route under another id cannot be deleted: rebuilt whole. */
	d->rebuild |= route_is_default(&r->spec);
	d->ids[d->n++] = r->id;
	return 0;
}

/* The draft's routes made the table's: the ones that go are listed before any goes. */
static int adopt_routes(struct config *draft, const struct config *table, const int *map)
{
	struct walk w = {.draft = draft, .table = table, .map = map};
	struct drops d = {.w = &w};
	int err = 0;

	d.ids = malloc((route_table_count(draft->routes) + 1) * sizeof(*d.ids));
	if (!d.ids)
		return -ENOMEM;
	route_table_each(draft->routes, list_drop, &d);
	for (size_t i = 0; i < d.n && !err && !d.rebuild; i++) {
		err = route_table_del(draft->routes, d.ids[i]);
		w.changes++;
	}
	free(d.ids);
	if (!err)
		err = d.rebuild ? rebuild_routes(&w)
				: route_table_each(table->routes, keep_route, &w);
	if (!err)
		route_table_reserve_ids(draft->routes, route_table_next_id(table->routes));
	return err ? err : w.changes + (int)d.rebuild;
}

/*
 * Only the routes ids names: the draft was the table before they changed. Those that go, or
 * change their key, go first (a key may move from one id to another), then the table's are
 * put. -EPERM when the default route would go (the caller adopts the whole table instead).
 */
static int adopt_some(struct config *draft, const struct config *table, const int *map,
		      const uint32_t *ids, size_t nids)
{
	struct walk w = {.draft = draft, .table = table, .map = map};
	int err = 0;

	for (size_t i = 0; i < nids && !err; i++) {
		const struct route *d = route_table_get(draft->routes, ids[i]);

		if (!d || !goes(&w, d))
			continue;
		err = route_is_default(&d->spec) ? -EPERM : route_table_del(draft->routes, ids[i]);
		w.changes++;
	}
	for (size_t i = 0; i < nids && !err; i++) {
		const struct route *t = route_table_get(table->routes, ids[i]);

		if (t)
			err = keep_route(t, &w);
	}
	if (!err)
		route_table_reserve_ids(draft->routes, route_table_next_id(table->routes));
	return err ? err : w.changes;
}

int fleet_adopt_some(struct config *draft, const struct config *table, const uint32_t *ids,
		     size_t nids)
{
	int map[POOL_MAX] = {0};
	int pools = adopt_pools(draft, table, map), routes;

	if (pools < 0)
		return pools;
	routes = adopt_some(draft, table, map, ids, nids);
	if (routes < 0)
		return routes;
	draft->store_revision = table->store_revision;
	return pools + routes;
}

int fleet_adopt(struct config *draft, const struct config *table)
{
	int map[POOL_MAX] = {0};
	int pools = adopt_pools(draft, table, map), routes;

	if (pools < 0)
		return pools;
	routes = adopt_routes(draft, table, map);
	if (routes < 0)
		return routes;
	draft->store_revision = table->store_revision;
	return pools + routes;
}
