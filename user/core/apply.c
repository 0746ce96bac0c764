// SPDX-License-Identifier: GPL-2.0-only
/*
 * Configuration edits applied to the live table, three-way (kubectl apply): the configuration
 * applied last time is the common ancestor of the file (the configuration's side) and the live
 * table (where runtime changes went). What only one side changed wins; where both changed the
 * same route or pool, the file wins and both versions are reported; but a route deactivated at
 * runtime or tripped by rollback is never made active again by an edit that does not say so.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/apply.h"
#include "core/state.h"

struct merge {
	struct config *live;
	const struct config *last, *file;
	unsigned flags;
	apply_say_fn say;
	void *ctx;
	int changes;
	int err;
};

static const char *pool_name_of(const struct config *cfg, int pool)
{
	return pool >= 0 && (unsigned)pool < cfg->npools ? cfg->pools[pool].name : "?";
}

static void text_of(const struct config *cfg, const struct route_stored *s, char *out, size_t len)
{
	route_spec_text(s, pool_name_of(cfg, s->pool), pool_name_of(cfg, s->fallback_pool), out,
			len);
}

bool apply_route_same(const struct config *ca, const struct route_stored *a,
		      const struct config *cb, const struct route_stored *b)
{
	struct route_stored x = *a;

	x.pool = b->pool;
	return route_spec_equal(&x, b) &&
	       !strcmp(pool_name_of(ca, a->pool), pool_name_of(cb, b->pool));
}

/* ---- pools ---- */

static const struct pool *pool_in(const struct config *cfg, const char *name)
{
	int i = cfg ? config_pool_find(cfg, name) : -1;

	return i < 0 ? NULL : &cfg->pools[i];
}

static bool has_backend(const struct pool *p, const char *name)
{
	return p && pool_backend_find(p, name) >= 0;
}

/* Same backends (by their configured names) and options. */
static bool pool_same(const struct pool *a, const struct pool *b)
{
	unsigned na = 0, nb = 0;

	if (a->proxy_protocol != b->proxy_protocol)
		return false;
	for (unsigned i = 0; i < a->nbackends; i++) {
		if (a->backends[i].state == BACKEND_REMOVED)
			continue;
		na++;
		if (!has_backend(b, a->backends[i].name))
			return false;
	}
	for (unsigned i = 0; i < b->nbackends; i++)
		nb += b->backends[i].state != BACKEND_REMOVED;
	return na == nb;
}

/* Whether a runtime change touched a backend (it is no longer ready with weight 1). */
static bool backend_touched(const struct pool_backend *b)
{
	return b->state != BACKEND_READY || b->weight != 1;
}

static void backend_add(struct merge *m, struct pool *live, const struct pool_backend *b)
{
	unsigned i;

	for (i = 0; i < live->nbackends && live->backends[i].state != BACKEND_REMOVED; i++)
		;
	if (i == POOL_MAX_BACKENDS) {
		m->say(m->ctx, "pool %s: no room for backend %s (max %d): not added", live->name,
		       b->name, POOL_MAX_BACKENDS);
		return;
	}
	live->backends[i] = *b;
	live->backends[i].state = BACKEND_READY;
	live->backends[i].weight = 1;
	if (i == live->nbackends)
		live->nbackends++;
}

/* Bring pool live to the file's version f, from the previous version a (NULL: unknown). */
static void pool_update(struct merge *m, struct pool *live, const struct pool *a,
			const struct pool *f)
{
	bool dry = m->flags & APPLY_DRY;

	for (unsigned i = 0; i < f->nbackends; i++) {
		const struct pool_backend *b = &f->backends[i];

		if (has_backend(a, b->name))
			continue; /* the file did not add it: live decides */
		if (has_backend(live, b->name))
			continue;
		m->say(m->ctx, "%spool %s: backend %s added", dry ? "would do: " : "", f->name,
		       b->name);
		m->changes++;
		if (!dry)
			backend_add(m, live, b);
	}
	for (unsigned i = 0; a && i < a->nbackends; i++) {
		const struct pool_backend *b = &a->backends[i];
		int li = pool_backend_find(live, b->name);

		if (has_backend(f, b->name) || li < 0)
			continue;
		if (backend_touched(&live->backends[li]))
			m->say(m->ctx,
			       "conflict: pool %s backend %s: changed at runtime (state %s, weight "
			       "%u), "
			       "removed from the configuration: the configuration wins",
			       f->name, b->name, pool_state_name(live->backends[li].state),
			       live->backends[li].weight);
		m->say(m->ctx, "%spool %s: backend %s removed", dry ? "would do: " : "", f->name,
		       b->name);
		m->changes++;
		if (!dry)
			live->backends[li].state = BACKEND_REMOVED;
	}
	if (live->proxy_protocol != f->proxy_protocol) {
		m->say(m->ctx, "%spool %s: proxy-protocol %s", dry ? "would do: " : "", f->name,
		       f->proxy_protocol ? "on" : "off");
		m->changes++;
		if (!dry)
			live->proxy_protocol = f->proxy_protocol;
	}
}

static void pools_from_file(struct merge *m)
{
	struct config *live = m->live;
	bool dry = m->flags & APPLY_DRY;

	for (unsigned i = 0; i < m->file->npools; i++) {
		const struct pool *f = &m->file->pools[i];
		const struct pool *a = pool_in(m->last, f->name);
		int li = config_pool_find(live, f->name);

		if (li < 0) {
			m->say(m->ctx, "%spool %s added", dry ? "would do: " : "", f->name);
			m->changes++;
			if (dry)
				continue;
			if (live->npools == POOL_MAX) {
				m->say(m->ctx, "pool %s: too many pools (max %d): not added",
				       f->name, POOL_MAX);
				m->err = -ENOSPC;
				continue;
			}
			live->pools[live->npools++] = *f;
			continue;
		}
		/* Health settings come from the file alone (nothing changes them at runtime). */
		if (memcmp(&live->pools[li].health, &f->health, sizeof(f->health))) {
			m->say(m->ctx, "%spool %s: health settings from the configuration",
			       dry ? "would do: " : "", f->name);
			if (!dry)
				live->pools[li].health = f->health;
		}
		if (a && pool_same(a, f))
			continue; /* the file did not change it: runtime changes stand */
		if (pool_same(&live->pools[li], f))
			continue;
		if (!a || !pool_same(&live->pools[li], a))
			m->say(m->ctx,
			       "conflict: pool %s: changed at runtime and in the configuration: "
			       "the "
			       "configuration wins",
			       f->name);
		pool_update(m, &live->pools[li], a, f);
	}
}

/* ---- routes ---- */

/* The route in cfg with the key of spec s from config from (pools by name), or NULL. */
static const struct route *route_in(const struct config *cfg, const struct config *from,
				    const struct route_stored *s)
{
	struct route_spec key;

	(void)from;
	route_spec_from(s, &key);
	if (!cfg)
		return NULL;
	key.pool = 0; /* the key leaves the pool out */
	return route_table_find(cfg->routes, &key);
}

/* A route's state as off has it: inactive, and tripped with its figures when off was. */
static void keep_off(struct route_spec *s, const struct route_stored *off)
{
	s->inactive = true;
	s->tripped = off->tripped;
	snprintf(s->trip, sizeof(s->trip), "%s", off->tripped ? off->trip : "");
}

/* s from config from, with its pool re-numbered for cfg; -ENOENT when cfg lacks that pool. */
static int respec(const struct config *cfg, const struct config *from, const struct route_stored *s,
		  struct route_spec *out)
{
	route_spec_from(s, out);
	out->pool = config_pool_find(cfg, pool_name_of(from, s->pool));
	return out->pool < 0 ? -ENOENT : 0;
}

/* The file's version f of a route into live; off: it stays inactive (and tripped) as l is. */
static void route_set_live(struct merge *m, const struct route_stored *f, const struct route *l,
			   bool off)
{
	struct route_spec s;
	int id;

	if (m->flags & APPLY_DRY)
		return;
	if (respec(m->live, m->file, f, &s) < 0) {
		m->err = -ENOENT;
		return;
	}
	if (off)
		keep_off(&s, &l->spec);
	id = route_table_set(m->live->routes, &s);
	if (id < 0)
		m->err = id;
}

/*
 * Whether a route an operator deactivated (or strgd tripped) stays inactive under the file's
 * edit: yes, unless the edit itself activates it, its line losing the word "inactive" it had.
 */
static bool stays_off(const struct route *a, const struct route *l, const struct route *fr)
{
	return l->spec.inactive && !fr->spec.inactive && !(a && a->spec.inactive);
}

/* The file's version of route l with l's inactive state (and trip) kept, as text. */
static void text_off(struct merge *m, const struct route *fr, const struct route *l, char *out,
		     size_t len)
{
	struct route_spec s;
	struct route_stored v;

	route_spec_from(&fr->spec, &s);
	keep_off(&s, &l->spec);
	text_of(m->file, route_spec_view(&s, &v), out, len);
}

static void say_kept_off(struct merge *m, const struct route *l, const char *lt, const char *ft)
{
	if (l->spec.tripped)
		m->say(m->ctx,
		       "conflict: route %u: '%s' at runtime, '%s' in the configuration: the "
		       "configuration's settings win, but the route stays inactive: strgd rolled "
		       "it back (%s); 'strgctl route activate %u' routes it again",
		       l->id, lt, ft, l->spec.trip, l->id);
	else
		m->say(m->ctx,
		       "conflict: route %u: '%s' at runtime, '%s' in the configuration: the "
		       "configuration's settings win, but the route stays inactive (deactivated at "
		       "runtime); 'strgctl route activate %u' routes it again",
		       l->id, lt, ft, l->id);
}

static void route_from_file(struct merge *m, const struct route *fr)
{
	const char *would = m->flags & APPLY_DRY ? "would do: " : "";
	const struct route *a = route_in(m->last, m->file, &fr->spec);
	const struct route *l = route_in(m->live, m->file, &fr->spec);
	char ft[ROUTE_TEXT_MAX], lt[ROUTE_TEXT_MAX];
	bool off;

	if (a && apply_route_same(m->last, &a->spec, m->file, &fr->spec))
		return; /* the file did not change it: runtime changes stand */
	text_of(m->file, &fr->spec, ft, sizeof(ft));
	if (!l) {
		m->say(m->ctx, "%sroute added: %s", would, ft);
		m->changes++;
		route_set_live(m, &fr->spec, NULL, false);
		return;
	}
	if (apply_route_same(m->live, &l->spec, m->file, &fr->spec))
		return;
	text_of(m->live, &l->spec, lt, sizeof(lt));
	off = stays_off(a, l, fr);
	if (off) {
		say_kept_off(m, l, lt, ft);
		text_off(m, fr, l, ft, sizeof(ft));
		if (!strcmp(ft, lt))
			return; /* the edit was about its state alone */
	} else if (!a || !apply_route_same(m->live, &l->spec, m->last, &a->spec)) {
		m->say(m->ctx,
		       "conflict: route %u: '%s' at runtime, '%s' in the configuration: the "
		       "configuration wins",
		       l->id, lt, ft);
	}
	m->say(m->ctx, "%sroute %u: %s -> %s", would, l->id, lt, ft);
	m->changes++;
	route_set_live(m, &fr->spec, l, off);
}

static void route_gone_from_file(struct merge *m, const struct route *ar)
{
	const char *would = m->flags & APPLY_DRY ? "would do: " : "";
	const struct route *l = route_in(m->live, m->last, &ar->spec);
	char at[ROUTE_TEXT_MAX], lt[ROUTE_TEXT_MAX];
	uint32_t id;
	int err;

	if (route_in(m->file, m->last, &ar->spec) || !l)
		return;
	text_of(m->last, &ar->spec, at, sizeof(at));
	text_of(m->live, &l->spec, lt, sizeof(lt));
	if (!apply_route_same(m->live, &l->spec, m->last, &ar->spec))
		m->say(m->ctx,
		       "conflict: route %u: '%s' at runtime, removed from the configuration (was "
		       "'%s'): the configuration wins",
		       l->id, lt, at);
	m->say(m->ctx, "%sroute %u removed: %s", would, l->id, lt);
	m->changes++;
	if (m->flags & APPLY_DRY)
		return;
	id = l->id;
	err = route_table_del(m->live->routes, id);
	if (err)
		m->err = err;
}

static void routes(struct merge *m)
{
	size_t nf = 0, na = 0;
	const struct route **f = route_table_list(m->file->routes, true, &nf);
	const struct route **a = m->last ? route_table_list(m->last->routes, true, &na) : NULL;

	if (!f || (m->last && !a)) {
		m->err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < nf; i++)
		route_from_file(m, f[i]);
	for (size_t i = 0; i < na; i++)
		route_gone_from_file(m, a[i]);
out:
	free(f);
	free(a);
}

/* ---- pools the file dropped ---- */

static bool pool_used(const struct config *cfg, int pool)
{
	size_t n;
	const struct route **v = route_table_list(cfg->routes, false, &n);
	bool used = !v; /* when in doubt, it stays */

	for (size_t i = 0; v && i < n && !used; i++)
		used = v[i]->spec.pool == pool;
	free(v);
	return used;
}

/* Remove pool idx, renumbering the routes' pools after it (no connection may hold any). */
static int pool_remove(struct config *cfg, int idx)
{
	size_t n;
	const struct route **v = route_table_list(cfg->routes, false, &n);
	int err = v ? 0 : -ENOMEM;
	struct route_spec s;

	/* Re-pointing keeps a route where it is: the list stays valid while it is walked. */
	for (size_t i = 0; !err && i < n; i++) {
		route_spec_from(&v[i]->spec, &s);
		if (s.pool > idx) {
			s.pool--;
			err = route_table_set(cfg->routes, &s) < 0 ? -ENOMEM : 0;
		}
	}
	free(v);
	if (err)
		return err;
	memmove(&cfg->pools[idx], &cfg->pools[idx + 1],
		(cfg->npools - (unsigned)idx - 1) * sizeof(cfg->pools[0]));
	cfg->npools--;
	return 0;
}

static void pools_gone_from_file(struct merge *m)
{
	for (unsigned i = 0; m->last && i < m->last->npools; i++) {
		const char *name = m->last->pools[i].name;
		int li = config_pool_find(m->live, name);

		if (pool_in(m->file, name) || li < 0)
			continue;
		if (pool_used(m->live, li)) {
			m->say(m->ctx,
			       "pool %s: gone from the configuration but still used by a route: "
			       "kept",
			       name);
			continue;
		}
		if (!(m->flags & APPLY_DROP_POOLS)) {
			m->say(m->ctx,
			       "pool %s: gone from the configuration: removed at the next "
			       "start (connections may hold it)",
			       name);
			continue;
		}
		m->say(m->ctx, "%spool %s removed", m->flags & APPLY_DRY ? "would do: " : "", name);
		m->changes++;
		if (!(m->flags & APPLY_DRY) && pool_remove(m->live, li))
			m->err = -ENOMEM;
	}
}

/* One guard list, three-way: what the file added or dropped since last, done to live. */
static void guard_list_apply(struct merge *m, const char *what, struct guard_list *live,
			     const struct guard_list *last, const struct guard_list *file)
{
	bool dry = m->flags & APPLY_DRY;
	char t[GUARD_NET_TEXT];

	for (unsigned i = 0; i < last->n; i++) {
		if (guard_list_has(file, &last->v[i]) || !guard_list_has(live, &last->v[i]))
			continue;
		m->say(m->ctx, "%s%s %s removed", dry ? "would do: " : "", what,
		       guard_net_text(&last->v[i], t, sizeof(t)));
		m->changes++;
		if (!dry)
			guard_list_del(live, &last->v[i]);
	}
	for (unsigned i = 0; i < file->n; i++) {
		if (guard_list_has(last, &file->v[i]) || guard_list_has(live, &file->v[i]))
			continue;
		m->say(m->ctx, "%s%s %s added", dry ? "would do: " : "", what,
		       guard_net_text(&file->v[i], t, sizeof(t)));
		m->changes++;
		if (!dry && guard_list_add(live, &file->v[i]) < 0)
			m->err = -ENOMEM;
	}
}

/* One limit: the file's when it changed it since last, else live's. */
static void guard_limit_apply(struct merge *m, const char *what, uint32_t *rate, uint32_t *burst,
			      uint32_t last_rate, uint32_t last_burst, uint32_t file_rate,
			      uint32_t file_burst)
{
	char a[48], b[48];

	if ((file_rate == last_rate && file_burst == last_burst) ||
	    (file_rate == *rate && file_burst == *burst))
		return;
	m->say(m->ctx, "%slimit %s: %s -> %s", m->flags & APPLY_DRY ? "would do: " : "", what,
	       guard_limit_text(*rate, *burst, a, sizeof(a)),
	       guard_limit_text(file_rate, file_burst, b, sizeof(b)));
	m->changes++;
	if (!(m->flags & APPLY_DRY)) {
		*rate = file_rate;
		*burst = file_burst;
	}
}

/* The XDP guard's settings: lists and limits three-way; the interface the file's if it moved. */
static void guard(struct merge *m)
{
	struct guard_settings *g = &m->live->guard;
	const struct guard_settings *l = &m->last->guard, *f = &m->file->guard;

	guard_list_apply(m, "deny", &g->deny, &l->deny, &f->deny);
	guard_list_apply(m, "allow", &g->allow, &l->allow, &f->allow);
	guard_limit_apply(m, "syn", &g->syn_rate, &g->syn_burst, l->syn_rate, l->syn_burst,
			  f->syn_rate, f->syn_burst);
	guard_limit_apply(m, "packets", &g->pkt_rate, &g->pkt_burst, l->pkt_rate, l->pkt_burst,
			  f->pkt_rate, f->pkt_burst);
	if ((strcmp(f->iface, l->iface) || f->mode != l->mode || f->keep != l->keep) &&
	    (strcmp(f->iface, g->iface) || f->mode != g->mode || f->keep != g->keep)) {
		m->say(m->ctx, "%sxdp: '%s' -> '%s'", m->flags & APPLY_DRY ? "would do: " : "",
		       g->iface, f->iface);
		m->changes++;
		if (!(m->flags & APPLY_DRY)) {
			memcpy(g->iface, f->iface, sizeof(g->iface));
			g->mode = f->mode;
			g->keep = f->keep;
		}
	}
}

int apply_config(struct config *live, const struct config *last, const struct config *file,
		 unsigned flags, apply_say_fn say, void *ctx)
{
	struct merge m = {
		.live = live, .last = last, .file = file, .flags = flags, .say = say, .ctx = ctx};

	/* Pools first: the file's routes may name a pool it adds. */
	pools_from_file(&m);
	routes(&m);
	pools_gone_from_file(&m);
	guard(&m);
	return m.err ? m.err : m.changes;
}

int apply_boot(struct config *cfg, struct config **applied, bool dry, apply_say_fn say, void *ctx,
	       char *err, size_t errlen)
{
	struct config *file = config_clone(cfg), *last = NULL;
	int ret;

	if (!file) {
		snprintf(err, errlen, "%s", strerror(ENOMEM));
		return -ENOMEM;
	}
	ret = state_load(cfg, &last, err, errlen);
	if (ret < 0) {
		config_destroy(file);
		return ret;
	}
	ret = last ? apply_config(cfg, last, file, APPLY_DROP_POOLS | (dry ? APPLY_DRY : 0), say,
				  ctx)
		   : 0;
	config_destroy(last);
	if (ret < 0) {
		snprintf(err, errlen, "%s: merging the configuration's edits: %s", cfg->state,
			 strerror(-ret));
		config_destroy(file);
		return ret;
	}
	*applied = file;
	return ret;
}
