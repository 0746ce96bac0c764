// SPDX-License-Identifier: GPL-2.0-only
/* Route table: routes grouped by path prefix in a hash table, one lookup per '/' boundary. */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/confword.h"
#include "core/http.h"
#include "core/route.h"
#include "lib/grow.h"
#include "lib/textcat.h"

#define FNV_BASIS 2166136261u
#define FNV_PRIME 16777619u
#define GOLDEN32  0x9e3779b1u
#define MIN_BITS  4

struct route_prefix;

/* A stored route; r comes first so the public pointer converts back to the node. */
struct route_node {
	struct route r;
	struct route_prefix *pfx;
	size_t host_len;
	char host[]; /* r.spec.host points here, r.spec.path to pfx->path */
};

/* The empty string the stored specs share (never freed). */
static const char empty[] = "";
/* The gateway options of every route that has none (never freed). */
static const struct routegw no_gw;

/* A stored copy of gw, or the shared empty one. NULL out of memory. */
static const struct routegw *own_gw(const struct routegw *gw)
{
	struct routegw *c;

	if (routegw_empty(gw))
		return &no_gw;
	c = malloc(sizeof(*c));
	if (c)
		*c = *gw;
	return c;
}

static void disown_gw(const struct routegw *gw)
{
	if (gw && gw != &no_gw)
		free((struct routegw *)gw);
}

/* A string for a stored spec: a copy, or the shared empty one. NULL out of memory. */
static const char *own(const char *s)
{
	return *s ? strdup(s) : empty;
}

static void disown(const char *s)
{
	if (s && s != empty)
		free((char *)s);
}

/* A stored copy of a shadow that is on; *err set when memory ran out. */
static const struct route_shadow *own_shadow(const struct route_shadow *sh, bool *err)
{
	struct route_shadow *c;

	if (!sh->on)
		return NULL;
	c = malloc(sizeof(*c));
	if (c)
		*c = *sh;
	*err = *err || !c;
	return c;
}

static void node_free(struct route_node *n)
{
	disown(n->r.spec.rewrite);
	disown(n->r.spec.trip);
	disown_gw(n->r.spec.gw);
	free((void *)n->r.spec.shadow);
	free(n);
}

/* What a route does, as against its key (methods, host, path, exact) and its strings. */
static void set_settings(struct route_stored *d, const struct route_spec *s)
{
	d->inactive = s->inactive;
	d->split = s->split;
	d->testers = s->testers;
	d->adapt = s->adapt;
	d->permille = s->permille;
	d->pool = s->pool;
	d->fallback = s->fallback;
	d->fallback_pool = s->fallback_pool;
	d->rb_err_permille = s->rb_err_permille;
	d->rb_p99_ms = s->rb_p99_ms;
	d->rb_window_s = s->rb_window_s;
	d->rb_min = s->rb_min;
	d->tripped = s->tripped;
}

const struct route_stored *route_spec_view(const struct route_spec *s, struct route_stored *v)
{
	*v = (struct route_stored){
		.methods = s->methods,
		.host = s->host,
		.path = s->path,
		.rewrite = s->rewrite,
		.trip = s->trip,
		.exact = s->exact,
		.gw = &s->gw,
		.shadow = s->shadow.on ? &s->shadow : NULL,
	};
	set_settings(v, s);
	return v;
}

void route_spec_from(const struct route_stored *s, struct route_spec *out)
{
	/*
	 * Everything but the gateway options' arrays, most of the struct, which only a route
	 * that has them fills: a table's clone would otherwise clear kilobytes per route.
	 */
	memset(out, 0, offsetof(struct route_spec, gw));
	memset((char *)&out->gw + sizeof(out->gw), 0,
	       sizeof(*out) - offsetof(struct route_spec, gw) - sizeof(out->gw));
	if (s->gw && !routegw_empty(s->gw)) {
		out->gw = *s->gw;
	} else {
		out->gw.nmatch = out->gw.nrule = out->gw.nallow = out->gw.ndeny = 0;
		memset(&out->gw.limit, 0, sizeof(out->gw.limit));
	}
	out->methods = s->methods;
	snprintf(out->host, sizeof(out->host), "%s", s->host);
	snprintf(out->path, sizeof(out->path), "%s", s->path);
	snprintf(out->rewrite, sizeof(out->rewrite), "%s", s->rewrite);
	snprintf(out->trip, sizeof(out->trip), "%s", s->trip);
	out->exact = s->exact;
	out->inactive = s->inactive;
	out->split = s->split;
	out->testers = s->testers;
	out->adapt = s->adapt;
	out->permille = s->permille;
	out->pool = s->pool;
	out->fallback = s->fallback;
	out->fallback_pool = s->fallback_pool;
	out->rb_err_permille = s->rb_err_permille;
	out->rb_p99_ms = s->rb_p99_ms;
	out->rb_window_s = s->rb_window_s;
	out->rb_min = s->rb_min;
	out->tripped = s->tripped;
	if (s->shadow)
		out->shadow = *s->shadow;
}

/* Every route whose path is exactly this prefix, in precedence order: the first match wins. */
struct route_prefix {
	uint32_t hash;
	uint32_t len;
	unsigned n;
	size_t cap;
	struct route_node **routes;
	char path[];
};

/* Open addressing, linear probing; p == NULL marks a free slot. */
struct pfx_slot {
	uint32_t hash;
	struct route_prefix *p;
};

/* Same scheme keyed by id; ids start at 1 so id 0 marks a free slot. */
struct id_slot {
	uint32_t id;
	struct route_node *n;
};

struct route_table {
	struct pfx_slot *pfx;
	unsigned pfx_bits;
	size_t npfx;
	struct id_slot *ids;
	unsigned id_bits;
	size_t nroutes;
	size_t ntesters; /* routes with "testers": the tester header matters only when > 0 */
	uint32_t next_id;
	/*
	 * Upper bounds over the stored prefixes (not lowered on delete): a request never hashes
	 * boundaries that are longer or deeper than any prefix could be.
	 */
	uint32_t max_len;
	uint32_t max_depth;
	uint64_t slot_used[ROUTE_SLOTS / 64]; /* counters slots held by routes */
};

#define SLOT_ANY (ROUTE_SLOT_NONE - 1) /* route_insert: take the lowest free slot */

static uint32_t slot_take(struct route_table *t, uint32_t want)
{
	if (want == SLOT_ANY) {
		for (want = 0; want < ROUTE_SLOTS; want++)
			if (!(t->slot_used[want / 64] & (1ull << (want % 64))))
				break;
	}
	if (want >= ROUTE_SLOTS)
		return ROUTE_SLOT_NONE;
	t->slot_used[want / 64] |= 1ull << (want % 64);
	return want;
}

static void slot_give(struct route_table *t, uint32_t slot)
{
	if (slot < ROUTE_SLOTS)
		t->slot_used[slot / 64] &= ~(1ull << (slot % 64));
}

#define ROUTE_METHODS_VALID (((1u << HTTP_M_COUNT) - 1) & ~1u)

static inline uint32_t fnv_step(uint32_t h, unsigned char c)
{
	return (h ^ c) * FNV_PRIME;
}

static uint32_t fnv_hash(const char *s, size_t len)
{
	uint32_t h = FNV_BASIS;

	while (len--)
		h = fnv_step(h, (unsigned char)*s++);
	return h;
}

/* Fibonacci hashing: FNV-1a's low bits alone cluster on paths that differ only at the end. */
static inline size_t slot_of(uint32_t h, unsigned bits)
{
	return (uint32_t)(h * GOLDEN32) >> (32 - bits);
}

static struct route_prefix *pfx_find(const struct route_table *t, uint32_t hash, const char *path,
				     size_t len)
{
	size_t mask = ((size_t)1 << t->pfx_bits) - 1;
	size_t i = slot_of(hash, t->pfx_bits);
	const struct pfx_slot *s;

	for (;; i = (i + 1) & mask) {
		s = &t->pfx[i];
		if (!s->p)
			return NULL;
		if (s->hash == hash && s->p->len == len && !memcmp(s->p->path, path, len))
			return s->p;
	}
}

static void pfx_place(struct pfx_slot *slots, unsigned bits, struct route_prefix *p)
{
	size_t mask = ((size_t)1 << bits) - 1;
	size_t i = slot_of(p->hash, bits);

	while (slots[i].p)
		i = (i + 1) & mask;
	slots[i].hash = p->hash;
	slots[i].p = p;
}

/* Grow before an insert so the insert itself cannot fail; the load stays at or below 1/2. */
static int pfx_reserve(struct route_table *t)
{
	unsigned bits = t->pfx_bits;
	struct pfx_slot *slots;
	size_t i;

	if ((t->npfx + 1) * 2 <= (size_t)1 << bits)
		return 0;
	slots = calloc((size_t)1 << (bits + 1), sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	for (i = 0; i < (size_t)1 << bits; i++)
		if (t->pfx[i].p)
			pfx_place(slots, bits + 1, t->pfx[i].p);
	free(t->pfx);
	t->pfx = slots;
	t->pfx_bits = bits + 1;
	return 0;
}

/*
 * Backward-shift deletion: move later members of the probe run into the hole when the hole lies
 * between their home slot and where they sit, so lookups never need tombstones.
 */
static void pfx_remove(struct route_table *t, const struct route_prefix *p)
{
	size_t mask = ((size_t)1 << t->pfx_bits) - 1;
	size_t i = slot_of(p->hash, t->pfx_bits);
	size_t j, home;

	while (t->pfx[i].p != p)
		i = (i + 1) & mask;
	for (j = i;;) {
		j = (j + 1) & mask;
		if (!t->pfx[j].p)
			break;
		home = slot_of(t->pfx[j].hash, t->pfx_bits);
		if (((j - home) & mask) >= ((j - i) & mask)) {
			t->pfx[i] = t->pfx[j];
			i = j;
		}
	}
	t->pfx[i].p = NULL;
	t->npfx--;
}

static struct route_node *id_find(const struct route_table *t, uint32_t id)
{
	size_t mask = ((size_t)1 << t->id_bits) - 1;
	size_t i = slot_of(id, t->id_bits);

	if (!id)
		return NULL;
	for (;; i = (i + 1) & mask) {
		if (!t->ids[i].id)
			return NULL;
		if (t->ids[i].id == id)
			return t->ids[i].n;
	}
}

static void id_place(struct id_slot *slots, unsigned bits, uint32_t id, struct route_node *n)
{
	size_t mask = ((size_t)1 << bits) - 1;
	size_t i = slot_of(id, bits);

	while (slots[i].id)
		i = (i + 1) & mask;
	slots[i].id = id;
	slots[i].n = n;
}

static int id_reserve(struct route_table *t)
{
	unsigned bits = t->id_bits;
	struct id_slot *slots;
	size_t i;

	if ((t->nroutes + 1) * 2 <= (size_t)1 << bits)
		return 0;
	slots = calloc((size_t)1 << (bits + 1), sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	for (i = 0; i < (size_t)1 << bits; i++)
		if (t->ids[i].id)
			id_place(slots, bits + 1, t->ids[i].id, t->ids[i].n);
	free(t->ids);
	t->ids = slots;
	t->id_bits = bits + 1;
	return 0;
}

/* Same backward shift as pfx_remove(). */
static void id_remove(struct route_table *t, uint32_t id)
{
	size_t mask = ((size_t)1 << t->id_bits) - 1;
	size_t i = slot_of(id, t->id_bits);
	size_t j, home;

	while (t->ids[i].id != id)
		i = (i + 1) & mask;
	for (j = i;;) {
		j = (j + 1) & mask;
		if (!t->ids[j].id)
			break;
		home = slot_of(t->ids[j].id, t->id_bits);
		if (((j - home) & mask) >= ((j - i) & mask)) {
			t->ids[i] = t->ids[j];
			i = j;
		}
	}
	t->ids[i].id = 0;
	t->ids[i].n = NULL;
}

struct route_table *route_table_new(void)
{
	struct route_table *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->pfx_bits = MIN_BITS;
	t->id_bits = MIN_BITS;
	t->next_id = 1;
	t->pfx = calloc((size_t)1 << MIN_BITS, sizeof(*t->pfx));
	t->ids = calloc((size_t)1 << MIN_BITS, sizeof(*t->ids));
	if (!t->pfx || !t->ids) {
		route_table_free(t);
		errno = ENOMEM;
		return NULL;
	}
	return t;
}

void route_table_free(struct route_table *t)
{
	struct route_prefix *p;
	size_t i;
	unsigned k;

	if (!t)
		return;
	for (i = 0; t->pfx && i < (size_t)1 << t->pfx_bits; i++) {
		p = t->pfx[i].p;
		if (!p)
			continue;
		for (k = 0; k < p->n; k++)
			node_free(p->routes[k]);
		free(p->routes);
		free(p);
	}
	free(t->pfx);
	free(t->ids);
	free(t);
}

bool route_is_default(const struct route_stored *s)
{
	return !s->methods && !s->host[0] && !s->exact && !strcmp(s->path, "/") &&
	       !(s->gw && s->gw->nmatch);
}

void route_default_spec(struct route_spec *spec)
{
	memset(spec, 0, sizeof(*spec));
	strcpy(spec->path, "/");
}

const struct route *route_table_default(const struct route_table *t)
{
	struct route_spec spec;

	route_default_spec(&spec);
	return route_table_find(t, &spec);
}

bool route_spec_equal(const struct route_stored *a, const struct route_stored *b)
{
	return a->methods == b->methods && !strcmp(a->host, b->host) && !strcmp(a->path, b->path) &&
	       a->exact == b->exact && a->inactive == b->inactive && a->split == b->split &&
	       a->permille == b->permille && a->testers == b->testers && a->adapt == b->adapt &&
	       !strcmp(a->rewrite, b->rewrite) && a->pool == b->pool &&
	       a->fallback == b->fallback &&
	       (a->fallback != ROUTE_FALLBACK_POOL || a->fallback_pool == b->fallback_pool) &&
	       a->rb_err_permille == b->rb_err_permille && a->rb_p99_ms == b->rb_p99_ms &&
	       a->rb_window_s == b->rb_window_s && a->rb_min == b->rb_min &&
	       a->tripped == b->tripped && routegw_equal(a->gw, b->gw) &&
	       shadowspec_equal(a->shadow, b->shadow);
}

size_t route_key_text(const struct route_stored *s, char *out, size_t len)
{
	char methods[96];
	size_t n;

	confword_methods_text(s->methods, methods, sizeof(methods));
	n = (size_t)snprintf(out, len, "%s%s%s%s%s%s%s", methods, methods[0] ? " " : "",
			     s->host[0] ? "host " : "", s->host, s->host[0] ? " " : "", s->path,
			     s->exact ? " exact" : "");
	if (s->gw && s->gw->nmatch)
		n += routegw_key_text(s->gw, out + (n < len ? n : len), n < len ? len - n : 0);
	return n;
}

size_t route_spec_text(const struct route_stored *s, const char *pool, const char *fallback,
		       char *out, size_t len)
{
	size_t n = confword_methods_text(s->methods, out, len);

	if (n)
		n = textcat_add(out, len, n, " ");
	if (s->host[0])
		n = textcat_add(out, len, n, "host %s ", s->host);
	n = textcat_add(out, len, n, "%s %s", s->path, pool);
	if (s->split)
		n = textcat_add(out, len, n, " percent %u.%u", s->permille / 10u,
				s->permille % 10u);
	if (s->exact)
		n = textcat_add(out, len, n, " exact");
	if (s->adapt && s->rewrite[0])
		n = textcat_add(out, len, n, " rewrite %s", s->rewrite);
	else if (s->adapt)
		n = textcat_add(out, len, n, " strip-prefix");
	if (s->testers)
		n = textcat_add(out, len, n, " testers");
	if (s->fallback == ROUTE_FALLBACK_NONE)
		n = textcat_add(out, len, n, " fallback none");
	else if (s->fallback == ROUTE_FALLBACK_POOL)
		n = textcat_add(out, len, n, " fallback %s", fallback ? fallback : "?");
	if (s->rb_err_permille) {
		n = textcat_add(out, len, n, " rollback %u.%u%%", s->rb_err_permille / 10u,
				s->rb_err_permille % 10u);
		if (s->rb_p99_ms)
			n = textcat_add(out, len, n, " p99 %u", s->rb_p99_ms);
		n = textcat_add(out, len, n, " window %us min %u", s->rb_window_s, s->rb_min);
	}
	if (s->gw)
		n += routegw_text(s->gw, out + (n < len ? n : len), n < len ? len - n : 0);
	n = shadowspec_text(s->shadow, out, len, n);
	if (s->inactive)
		n = textcat_add(out, len, n, " inactive");
	if (s->tripped)
		n = textcat_add(out, len, n, " tripped");
	return n;
}

/* 4 = has a host, 2 = has a method set, 1 = exact: the precedence order within one prefix. */
static unsigned route_rank(const struct route_node *n)
{
	return (n->host_len ? 4 : 0) | (n->r.spec.methods ? 2 : 0) | (n->r.spec.exact ? 1 : 0);
}

/* < 0 when a goes before b. A smaller method set is the more specific; ids keep it total. */
static int route_cmp(const struct route_node *a, const struct route_node *b)
{
	unsigned ra = route_rank(a), rb = route_rank(b);
	int pa = __builtin_popcount(a->r.spec.methods), pb = __builtin_popcount(b->r.spec.methods);

	if (ra != rb)
		return ra > rb ? -1 : 1;
	/* More conditions are the more specific: after host, methods and exact, before ties. */
	if (a->r.spec.gw->nmatch != b->r.spec.gw->nmatch)
		return a->r.spec.gw->nmatch > b->r.spec.gw->nmatch ? -1 : 1;
	if (pa != pb)
		return pa < pb ? -1 : 1;
	return a->r.id < b->r.id ? -1 : 1;
}

static void prefix_link(struct route_prefix *p, struct route_node *n)
{
	unsigned i = 0;

	while (i < p->n && route_cmp(p->routes[i], n) < 0)
		i++;
	memmove(&p->routes[i + 1], &p->routes[i], (p->n - i) * sizeof(*p->routes));
	p->routes[i] = n;
	p->n++;
	n->pfx = p;
}

static void prefix_unlink(struct route_prefix *p, const struct route_node *n)
{
	unsigned i = 0;

	while (p->routes[i] != n)
		i++;
	p->n--;
	memmove(&p->routes[i], &p->routes[i + 1], (p->n - i) * sizeof(*p->routes));
}

static unsigned path_depth(const char *path, size_t len)
{
	unsigned d = 0;

	if (len == 1)
		return 0;
	while (len--)
		d += *path++ == '/';
	return d;
}

/* Find or create the prefix for a path and make room in it for one more route. */
static struct route_prefix *prefix_get(struct route_table *t, const char *path, bool *created)
{
	size_t len = strlen(path);
	uint32_t hash = fnv_hash(path, len);
	struct route_prefix *p = pfx_find(t, hash, path, len);
	struct route_node **routes;

	*created = !p;
	if (!p) {
		p = calloc(1, sizeof(*p) + len + 1);
		if (!p)
			return NULL;
		p->hash = hash;
		p->len = len;
		memcpy(p->path, path, len + 1);
	}
	routes = grow_array(p->routes, &p->cap, (size_t)p->n + 1, sizeof(*routes), 2);
	if (!routes) {
		if (*created)
			free(p);
		return NULL;
	}
	p->routes = routes;
	return p;
}

/* Add a validated spec under a given id; every allocation happens before anything is linked. */
static int route_insert(struct route_table *t, const struct route_spec *s, uint32_t id,
			uint32_t slot)
{
	struct route_prefix *p;
	struct route_node *n;
	bool created, nomem = false;
	int err;

	err = pfx_reserve(t);
	if (!err)
		err = id_reserve(t);
	if (err)
		return err;
	n = calloc(1, sizeof(*n) + strlen(s->host) + 1);
	if (!n)
		return -ENOMEM;
	n->r.spec.rewrite = own(s->rewrite);
	n->r.spec.trip = own(s->trip);
	n->r.spec.gw = own_gw(&s->gw);
	n->r.spec.shadow = own_shadow(&s->shadow, &nomem);
	p = n->r.spec.rewrite && n->r.spec.trip && n->r.spec.gw && !nomem
		    ? prefix_get(t, s->path, &created)
		    : NULL;
	if (!p) {
		node_free(n);
		return -ENOMEM;
	}
	n->r.id = id;
	n->r.slot = slot_take(t, slot);
	n->host_len = strlen(s->host);
	memcpy(n->host, s->host, n->host_len + 1);
	n->r.spec.host = n->host;
	n->r.spec.path = p->path;
	n->r.spec.methods = s->methods;
	n->r.spec.exact = s->exact;
	set_settings(&n->r.spec, s);
	if (created) {
		pfx_place(t->pfx, t->pfx_bits, p);
		t->npfx++;
	}
	prefix_link(p, n);
	id_place(t->ids, t->id_bits, id, n);
	t->nroutes++;
	t->ntesters += s->testers;
	if (p->len > t->max_len)
		t->max_len = p->len;
	if (path_depth(p->path, p->len) > t->max_depth)
		t->max_depth = path_depth(p->path, p->len);
	return 0;
}

/*
 * Give c t's hash table sizes. Copied in t's slot order into smaller tables, entries would
 * arrive sorted by their home slot there and pile up in one probe run: each insert then walks
 * it, and a clone of 50 000 routes took seconds instead of milliseconds.
 */
static int presize(struct route_table *c, const struct route_table *t)
{
	struct pfx_slot *pfx = calloc((size_t)1 << t->pfx_bits, sizeof(*pfx));
	struct id_slot *ids = calloc((size_t)1 << t->id_bits, sizeof(*ids));

	if (!pfx || !ids) {
		free(pfx);
		free(ids);
		return -ENOMEM;
	}
	free(c->pfx);
	free(c->ids);
	c->pfx = pfx;
	c->ids = ids;
	c->pfx_bits = t->pfx_bits;
	c->id_bits = t->id_bits;
	return 0;
}

struct route_table *route_table_clone(const struct route_table *t)
{
	struct route_table *c = route_table_new();
	const struct route_prefix *p;
	size_t i;
	unsigned k;
	int err;

	if (!c)
		return NULL;
	if (presize(c, t)) {
		route_table_free(c);
		errno = ENOMEM;
		return NULL;
	}
	c->next_id = t->next_id;
	for (i = 0; i < (size_t)1 << t->pfx_bits; i++) {
		p = t->pfx[i].p;
		for (k = 0; p && k < p->n; k++) {
			struct route_spec full;

			route_spec_from(&p->routes[k]->r.spec, &full);
			err = route_insert(c, &full, p->routes[k]->r.id, p->routes[k]->r.slot);
			if (err) {
				route_table_free(c);
				errno = -err;
				return NULL;
			}
		}
	}
	return c;
}

/* A shadow as the parser makes them: its strings ended, its numbers in their ranges. */
static bool shadow_valid(const struct route_shadow *sh)
{
	return sh->pool >= 0 && memchr(sh->pool_name, 0, sizeof(sh->pool_name)) &&
	       memchr(sh->ignore_headers, 0, sizeof(sh->ignore_headers)) &&
	       memchr(sh->ignore_json, 0, sizeof(sh->ignore_json)) && sh->permille <= 1000 &&
	       sh->methods && !(sh->methods & ~ROUTE_METHODS_VALID) && sh->compare &&
	       !(sh->compare & ~SHADOW_CMP_ALL) && sh->max_body &&
	       sh->max_body <= SHADOW_MAX_BODY_MAX && sh->max_inflight &&
	       sh->max_inflight <= SHADOW_INFLIGHT_MAX && sh->timeout_ms &&
	       sh->noise_permille <= 1000 && sh->alert_permille <= 1000;
}

/* Copy a caller's spec into canonical form, rejecting what route_path_set/host_set would. */
int route_spec_normalize(struct route_spec *out, const struct route_spec *in)
{
	int err;

	if (!memchr(in->path, 0, sizeof(in->path)) || !memchr(in->host, 0, sizeof(in->host)))
		return -EINVAL;
	if ((in->methods & ~ROUTE_METHODS_VALID) || in->pool < 0)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	out->methods = in->methods;
	out->exact = in->exact;
	out->inactive = in->inactive;
	out->split = in->split;
	out->testers = in->testers;
	out->adapt = in->adapt;
	if (in->adapt && !memchr(in->rewrite, 0, sizeof(in->rewrite)))
		return -EINVAL;
	if (in->adapt)
		strcpy(out->rewrite, in->rewrite);
	out->permille = in->split ? in->permille : 0;
	if (in->split && in->permille > 1000)
		return -EINVAL;
	out->pool = in->pool;
	if (in->fallback > ROUTE_FALLBACK_POOL ||
	    (in->fallback == ROUTE_FALLBACK_POOL && in->fallback_pool < 0) ||
	    in->rb_err_permille > 1000 || !memchr(in->trip, 0, sizeof(in->trip)))
		return -EINVAL;
	out->fallback = in->fallback;
	out->fallback_pool = in->fallback == ROUTE_FALLBACK_POOL ? in->fallback_pool : 0;
	out->rb_err_permille = in->rb_err_permille;
	out->rb_p99_ms = in->rb_err_permille ? in->rb_p99_ms : 0;
	out->rb_window_s = in->rb_err_permille ? in->rb_window_s : 0;
	out->rb_min = in->rb_err_permille ? in->rb_min : 0;
	out->tripped = in->tripped;
	strcpy(out->trip, in->tripped ? in->trip : "");
	if (in->shadow.on && !shadow_valid(&in->shadow))
		return -EINVAL;
	if (in->shadow.on)
		out->shadow = in->shadow;
	out->gw = in->gw;
	err = routegw_normalize(&out->gw);
	if (!err)
		err = route_path_set(out, in->path);
	if (!err)
		err = route_host_set(out, in->host);
	return err;
}

static struct route_node *node_find(const struct route_table *t, const struct route_spec *s)
{
	size_t len = strlen(s->path);
	struct route_prefix *p = pfx_find(t, fnv_hash(s->path, len), s->path, len);
	struct route_node *n;
	unsigned k;

	for (k = 0; p && k < p->n; k++) {
		n = p->routes[k];
		if (n->r.spec.methods == s->methods && n->r.spec.exact == s->exact &&
		    !strcmp(n->r.spec.host, s->host) && routegw_key_equal(n->r.spec.gw, &s->gw))
			return n;
	}
	return NULL;
}

int route_table_set(struct route_table *t, const struct route_spec *spec)
{
	struct route_spec s;
	struct route_node *n;
	int err;

	err = route_spec_normalize(&s, spec);
	if (err)
		return err;
	n = node_find(t, &s);
	if (n) {
		/* Same key: the order among the prefix's routes holds, only the target changes. */
		const char *rewrite = own(s.rewrite), *trip = own(s.trip);
		const struct routegw *gw = own_gw(&s.gw);
		bool nomem = false;
		const struct route_shadow *shadow = own_shadow(&s.shadow, &nomem);

		if (!rewrite || !trip || !gw || nomem) {
			disown(rewrite);
			disown(trip);
			disown_gw(gw);
			free((void *)shadow);
			return -ENOMEM;
		}
		t->ntesters += (size_t)s.testers - (size_t)n->r.spec.testers;
		disown(n->r.spec.rewrite);
		disown(n->r.spec.trip);
		disown_gw(n->r.spec.gw);
		free((void *)n->r.spec.shadow);
		n->r.spec.rewrite = rewrite;
		n->r.spec.trip = trip;
		n->r.spec.gw = gw;
		n->r.spec.shadow = shadow;
		set_settings(&n->r.spec, &s);
		return (int)n->r.id;
	}
	/* Ids are returned as int: refuse to hand out one that would read as an error. */
	if (t->next_id > INT_MAX)
		return -EOVERFLOW;
	err = route_insert(t, &s, t->next_id, SLOT_ANY);
	if (err)
		return err;
	return (int)t->next_id++;
}

int route_table_restore(struct route_table *t, const struct route_spec *spec, uint32_t id)
{
	struct route_spec s;
	int err;

	if (!id || id > INT_MAX || id_find(t, id))
		return -EEXIST;
	err = route_spec_normalize(&s, spec);
	if (err)
		return err;
	if (node_find(t, &s))
		return -EEXIST;
	err = route_insert(t, &s, id, SLOT_ANY);
	if (err)
		return err;
	if (t->next_id <= id)
		t->next_id = id + 1;
	return (int)id;
}

uint32_t route_table_next_id(const struct route_table *t)
{
	return t->next_id;
}

void route_table_reserve_ids(struct route_table *t, uint32_t next_id)
{
	if (next_id > t->next_id)
		t->next_id = next_id;
}

int route_table_del(struct route_table *t, uint32_t id)
{
	struct route_node *n = id_find(t, id);
	struct route_prefix *p;

	if (!n)
		return -ENOENT;
	/* Without it a request could match nothing: the default route can only be re-pointed. */
	if (route_is_default(&n->r.spec))
		return -EPERM;
	p = n->pfx;
	prefix_unlink(p, n);
	if (!p->n) {
		pfx_remove(t, p);
		free(p->routes);
		free(p);
	}
	id_remove(t, id);
	slot_give(t, n->r.slot);
	t->nroutes--;
	t->ntesters -= n->r.spec.testers;
	node_free(n);
	return 0;
}

size_t route_table_count(const struct route_table *t)
{
	return t->nroutes;
}

bool route_table_has_testers(const struct route_table *t)
{
	return t->ntesters > 0;
}

const struct route *route_table_get(const struct route_table *t, uint32_t id)
{
	struct route_node *n = id_find(t, id);

	return n ? &n->r : NULL;
}

const struct route *route_table_find(const struct route_table *t, const struct route_spec *spec)
{
	struct route_spec s;
	struct route_node *n;

	if (route_spec_normalize(&s, spec))
		return NULL;
	n = node_find(t, &s);
	return n ? &n->r : NULL;
}

int route_table_each(const struct route_table *t, int (*fn)(const struct route *r, void *arg),
		     void *arg)
{
	const struct route_prefix *p;
	size_t i;
	unsigned k;
	int ret;

	for (i = 0; i < (size_t)1 << t->pfx_bits; i++) {
		p = t->pfx[i].p;
		for (k = 0; p && k < p->n; k++) {
			ret = fn(&p->routes[k]->r, arg);
			if (ret)
				return ret;
		}
	}
	return 0;
}

static int id_order(const void *a, const void *b)
{
	uint32_t x = (*(const struct route *const *)a)->id,
		 y = (*(const struct route *const *)b)->id;

	return x < y ? -1 : x > y;
}

const struct route **route_table_list(const struct route_table *t, bool by_id, size_t *n)
{
	const struct route **v = calloc(t->nroutes + 1, sizeof(*v));
	const struct route_prefix *p;

	*n = 0;
	if (!v)
		return NULL;
	for (size_t i = 0; i < (size_t)1 << t->pfx_bits; i++) {
		p = t->pfx[i].p;
		for (unsigned k = 0; p && k < p->n; k++)
			v[(*n)++] = &p->routes[k]->r;
	}
	if (by_id)
		qsort(v, *n, sizeof(*v), id_order);
	return v;
}

static bool host_equal(const char *lower, const char *host, size_t len)
{
	unsigned char c;
	size_t i;

	for (i = 0; i < len; i++) {
		c = (unsigned char)host[i];
		if (c >= 'A' && c <= 'Z')
			c += 'a' - 'A';
		if (c != (unsigned char)lower[i])
			return false;
	}
	return true;
}

/* What one lookup looks for, and the split route it passed over first (when asked). */
struct lookup {
	uint32_t mbit;
	const char *host;
	size_t host_len;
	unsigned bucket;
	route_skip_fn skip;
	void *ctx;
	const struct route **passed;
	const struct route_head *head; /* NULL: routes with conditions take nothing */
};

static const struct route *prefix_match(const struct route_prefix *p, const struct lookup *q,
					bool full)
{
	bool tester = q->bucket & ROUTE_TESTER;
	unsigned bucket = q->bucket & ~ROUTE_TESTER;
	const struct route_node *n;
	unsigned k;

	for (k = 0; k < p->n; k++) {
		n = p->routes[k];
		if (n->r.spec.inactive)
			continue;
		if (n->r.spec.methods && !(n->r.spec.methods & q->mbit))
			continue;
		if (n->host_len && (n->host_len != q->host_len ||
				    !host_equal(n->r.spec.host, q->host, q->host_len)))
			continue;
		if (n->r.spec.exact && !full)
			continue;
		if (n->r.spec.gw->nmatch &&
		    !(q->head && routegw_matches(n->r.spec.gw, q->head->req, q->head->buf)))
			continue;
		/* A tester is in every share of a route that lets testers pick its pool. */
		if (n->r.spec.split && bucket >= n->r.spec.permille &&
		    !(tester && n->r.spec.testers)) {
			if (q->passed && !*q->passed)
				*q->passed = &n->r;
			continue;
		}
		if (q->skip && q->skip(&n->r, q->ctx))
			continue;
		return &n->r;
	}
	return NULL;
}

struct route_cand {
	uint32_t len;
	uint32_t hash;
};

/*
 * Collect the request path's prefixes that could be stored, shortest first, hashing the path once:
 * FNV-1a of a prefix is the running hash at its end. Collection stops at an empty segment (no
 * stored prefix has one), past the longest or deepest stored prefix, and "/" is left to the caller.
 */
static unsigned route_cands(const struct route_table *t, const char *path, size_t len,
			    struct route_cand *c)
{
	size_t lim = len < t->max_len ? len : t->max_len;
	uint32_t h;
	unsigned n = 0;
	size_t i;

	if (len < 2 || path[0] != '/')
		return 0;
	h = fnv_step(FNV_BASIS, '/');
	for (i = 1; i <= lim; i++) {
		if (i == len || path[i] == '/') {
			if (path[i - 1] == '/' || n == t->max_depth)
				break;
			c[n].len = i;
			c[n].hash = h;
			n++;
		}
		if (i < lim)
			h = fnv_step(h, (unsigned char)path[i]);
	}
	return n;
}

const struct route *route_table_lookup(const struct route_table *t, unsigned method,
				       const char *host, size_t host_len, const char *path,
				       size_t path_len)
{
	return route_table_lookup_user(t, method, host, host_len, path, path_len, 0);
}

const struct route *route_table_lookup_user(const struct route_table *t, unsigned method,
					    const char *host, size_t host_len, const char *path,
					    size_t path_len, unsigned bucket)
{
	return route_table_lookup_skip(t, method, host, host_len, path, path_len, bucket, NULL,
				       NULL, NULL);
}

static const struct route *lookup(const struct route_table *t, const char *path, size_t path_len,
				  const struct lookup *q)
{
	struct route_cand c[ROUTE_DEPTH_MAX];
	const struct route_prefix *p;
	const struct route *r;
	unsigned n;

	if (!path_len) {
		path = "/";
		path_len = 1;
	}
	n = route_cands(t, path, path_len, c);
	while (n--) {
		p = pfx_find(t, c[n].hash, path, c[n].len);
		if (!p)
			continue;
		r = prefix_match(p, q, c[n].len == path_len);
		if (r)
			return r;
	}
	p = pfx_find(t, fnv_step(FNV_BASIS, '/'), "/", 1);
	if (!p)
		return NULL;
	return prefix_match(p, q, path_len == 1 && path[0] == '/');
}

const struct route *route_table_lookup_skip(const struct route_table *t, unsigned method,
					    const char *host, size_t host_len, const char *path,
					    size_t path_len, unsigned bucket,
					    const struct route_head *head, route_skip_fn skip,
					    void *ctx)
{
	struct lookup q = {.mbit = method < 32 ? 1u << method : 0,
			   .host = host,
			   .host_len = host_len,
			   .bucket = bucket,
			   .skip = skip,
			   .ctx = ctx,
			   .head = head};

	return lookup(t, path, path_len, &q);
}

const struct route *route_table_lookup_counted(const struct route_table *t, unsigned method,
					       const char *host, size_t host_len, const char *path,
					       size_t path_len, unsigned bucket,
					       const struct route_head *head,
					       const struct route **counted)
{
	struct lookup q = {.mbit = method < 32 ? 1u << method : 0,
			   .host = host,
			   .host_len = host_len,
			   .bucket = bucket,
			   .passed = counted,
			   .head = head};
	const struct route *r;

	*counted = NULL;
	r = lookup(t, path, path_len, &q);
	if (!*counted)
		*counted = r;
	return r;
}

static bool segment_ok(const char *s, size_t len)
{
	size_t i;

	if (!len || (len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
		return false;
	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f || s[i] == '?' || s[i] == '#')
			return false;
	return true;
}

int route_path_set(struct route_spec *spec, const char *path)
{
	size_t len = strnlen(path, ROUTE_PATH_MAX + 2);
	unsigned depth = 0;
	size_t i, j;

	if (!len || path[0] != '/')
		return -EINVAL;
	/* Strip one trailing '/' only: "/a//" must still show its empty segment. */
	if (len > 1 && path[len - 1] == '/' && path[len - 2] != '/')
		len--;
	if (len > ROUTE_PATH_MAX)
		return -EINVAL;
	for (i = 1; len > 1 && i <= len; i = j + 1) {
		for (j = i; j < len && path[j] != '/'; j++)
			;
		if (!segment_ok(path + i, j - i) || ++depth > ROUTE_DEPTH_MAX)
			return -EINVAL;
	}
	/* memmove: callers may normalise spec->path in place. */
	memmove(spec->path, path, len);
	spec->path[len] = '\0';
	return 0;
}

static bool dns_name_ok(const char *s, size_t len)
{
	size_t label = 0, i;
	char c;

	for (i = 0; i < len; i++) {
		c = s[i];
		if (c == '.') {
			if (!label)
				return false;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_'))
			return false;
		if (++label > 63)
			return false;
	}
	return label > 0;
}

static bool ip6_literal_ok(const char *s, size_t len)
{
	char buf[INET6_ADDRSTRLEN];
	struct in6_addr a;

	if (len < 4 || s[len - 1] != ']' || len - 2 >= sizeof(buf))
		return false;
	memcpy(buf, s + 1, len - 2);
	buf[len - 2] = '\0';
	return inet_pton(AF_INET6, buf, &a) == 1;
}

int route_host_set(struct route_spec *spec, const char *host)
{
	size_t len = strnlen(host, ROUTE_HOST_MAX + 1);
	size_t i;

	if (len > ROUTE_HOST_MAX)
		return -EINVAL;
	if (len && !(host[0] == '[' ? ip6_literal_ok(host, len) : dns_name_ok(host, len)))
		return -EINVAL;
	/* Stored lower case so a lookup folds only the request's side. */
	for (i = 0; i < len; i++)
		spec->host[i] =
			(host[i] >= 'A' && host[i] <= 'Z') ? host[i] + ('a' - 'A') : host[i];
	spec->host[len] = '\0';
	return 0;
}
