// SPDX-License-Identifier: GPL-2.0-only
/*
 * The store follower: read the prefix whole at revision R, then watch from R + 1, each revision
 * applied whole or refused whole. A revision that only changes routes is applied to a copy of
 * the last table (its cost is the copy, not a decoding of every object); one that changes a pool
 * decodes the table again. Objects of a refused revision are not taken in: the next revision is
 * checked against the last good table. Compaction, a revision going backwards or another cluster
 * read everything again; an unchanged table is not handed over again.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "fleet/schema.h"
#include "fleet/store-t.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "lib/ring.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000

static bool stopping(struct store *st)
{
	bool stop;

	pthread_mutex_lock(&st->lock);
	stop = st->stop;
	pthread_mutex_unlock(&st->lock);
	return stop;
}

/* Sleep ms, or less when the store closes. */
static void nap(struct store *st, unsigned ms)
{
	struct timespec ts = wall_in(ms);

	pthread_mutex_lock(&st->lock);
	if (!st->stop)
		pthread_cond_timedwait(&st->cond, &st->lock, &ts);
	pthread_mutex_unlock(&st->lock);
}

static void wake(struct store *st)
{
	store_wake(&st->ring, st->wake_fd);
}

/* ---- contact ---- */

static void in_touch(struct store *st)
{
	uint64_t since;

	pthread_mutex_lock(&st->lock);
	since = st->status.stale_since_ms;
	st->status.stale_since_ms = 0;
	if (since)
		store_report_bump(st);
	pthread_mutex_unlock(&st->lock);
	if (!st->in_touch && since && st->ever_in_touch)
		pr_info("store: in touch with etcd (%s) again after %.1f s, at revision %" PRId64,
			etcd_endpoint(st->ew), (double)(wall_ms() - since) / 1000, st->seen);
	else if (!st->ever_in_touch)
		pr_info("store: in touch with etcd (%s), cluster %" PRIx64, etcd_endpoint(st->ew),
			st->cluster_id);
	st->in_touch = st->ever_in_touch = true;
}

static void out_of_touch(struct store *st, const char *why)
{
	int64_t rev;

	pthread_mutex_lock(&st->lock);
	if (!st->status.stale_since_ms) {
		st->status.stale_since_ms = wall_ms();
		store_report_bump(st);
	}
	rev = st->status.revision;
	pthread_mutex_unlock(&st->lock);
	if (st->in_touch)
		pr_warn("store: out of touch with etcd: %s; serving the table of revision %" PRId64
			" until it is back",
			why, rev);
	else if (!st->ever_in_touch && !st->said_stale)
		pr_warn("store: etcd cannot be reached (%s): serving the saved table of revision "
			"%" PRId64 ", stale, until it can",
			why, rev);
	st->said_stale = true;
	st->in_touch = false;
}

/* ---- tables ---- */

/* The message's changed routes join those worker 0 has not taken yet (lock held). */
static void changed_ids(struct store *st)
{
	uint32_t *v = NULL;

	if (!st->msg_full && !st->chg_full && st->msg_n)
		v = realloc(st->chg_ids, (st->chg_n + st->msg_n) * sizeof(*v));
	if (v) {
		memcpy(v + st->chg_n, st->msg_ids, st->msg_n * sizeof(*v));
		st->chg_ids = v;
		st->chg_n += st->msg_n;
	} else if (st->msg_n || st->msg_full) {
		st->chg_full = true; /* a full table, or no memory to say which */
	}
	st->msg_n = 0;
	st->msg_full = false;
}

/* A route the message being applied changed (all of them when it cannot be said). */
static void msg_id(struct store *st, uint32_t id)
{
	uint32_t *v = st->msg_ids;

	if (st->msg_n == st->msg_cap) {
		st->msg_cap = st->msg_cap ? st->msg_cap * 2 : 64;
		v = realloc(st->msg_ids, st->msg_cap * sizeof(*v));
	}
	if (!v) {
		st->msg_full = true;
		return;
	}
	st->msg_ids = v;
	v[st->msg_n++] = id;
}

/* Hand a copy of the accepted table to worker 0, unless the one in force is the same. */
static void hand_over(struct store *st, int64_t revision, uint64_t hash)
{
	struct config *copy;

	st->table->store_revision = revision;
	if (hash == st->handed_hash) {
		/* The table in force is this revision's too. */
		pthread_mutex_lock(&st->lock);
		if (st->status.revision != revision)
			store_report_bump(st);
		st->status.revision = revision;
		pthread_mutex_unlock(&st->lock);
		return;
	}
	copy = config_clone(st->table);
	if (!copy) {
		pr_warn("store: revision %" PRId64 ": out of memory, not applied", revision);
		return;
	}
	st->handed_hash = hash;
	pthread_mutex_lock(&st->lock);
	changed_ids(st);
	config_destroy(st->ready); /* an older one not taken yet: this one holds it */
	st->ready = copy;
	st->ready_hash = hash;
	pthread_mutex_unlock(&st->lock);
	wake(st);
}

static void refuse(struct store *st, int64_t revision, const char *why)
{
	pthread_mutex_lock(&st->lock);
	st->status.rejected_revision = revision;
	snprintf(st->status.rejected, sizeof(st->status.rejected), "%s", why);
	store_report_bump(st);
	pthread_mutex_unlock(&st->lock);
	pr_warn("store: revision %" PRId64 " refused, the table in force stays: %s", revision, why);
}

/* The name below the prefix of a key, or NULL when the key is not below it. */
static const char *rel(const struct store *st, const char *key)
{
	size_t n = strlen(st->set.prefix);

	return strncmp(key, st->set.prefix, n) ? NULL : key + n;
}

static void nodes_put(struct store *st, const char *name, const struct etcd_kv *kv, bool gone)
{
	pthread_mutex_lock(&st->lock);
	if (gone)
		fleet_objs_remove(&st->nodes, name);
	else
		fleet_objs_put(&st->nodes, name, kv->value, kv->value_len, kv->mod_revision);
	pthread_mutex_unlock(&st->lock);
}

/* Offer this host's table to an empty prefix: only while no pool or route is there. */
static int offer(struct store *st)
{
	struct fleet_objs o;
	struct etcd_cmp cmp[2];
	struct etcd_op *ops;
	char pools[160], routes[160], (*keys)[192];
	int err;

	if (!st->offer || fleet_schema_encode(st->offer, &o))
		return -ENODATA;
	snprintf(pools, sizeof(pools), "%spools/", st->set.prefix);
	snprintf(routes, sizeof(routes), "%sroutes/", st->set.prefix);
	cmp[0] = (struct etcd_cmp){.key = pools, .prefix = true};
	cmp[1] = (struct etcd_cmp){.key = routes, .prefix = true};
	ops = calloc(o.n + 1, sizeof(*ops));
	keys = calloc(o.n + 1, sizeof(*keys));
	for (size_t i = 0; ops && keys && i < o.n; i++) {
		snprintf(keys[i], sizeof(keys[i]), "%s%s", st->set.prefix, o.v[i].name);
		ops[i] = (struct etcd_op){.kind = ETCD_PUT,
					  .key = keys[i],
					  .value = o.v[i].value,
					  .value_len = o.v[i].len};
	}
	err = ops && keys ? etcd_txn(st->ew, cmp, 2, ops, o.n, NULL) : -ENOMEM;
	if (!err)
		pr_info("store: %s was empty: this host's table offered to it (%zu objects)",
			st->set.prefix, o.n);
	free(ops);
	free(keys);
	fleet_objs_free(&o);
	return err == -ECANCELED ? 0 : err;
}

/* Read the prefix whole and take its table (or refuse it). */
static int sync_all(struct store *st)
{
	struct fleet_objs objs = {0};
	struct etcd_range r;
	char err[FLEET_ERR_MAX];
	struct config *t;
	int ret = etcd_range_prefix(st->ew, st->set.prefix, 0, &r);

	if (ret)
		return ret;
	for (size_t i = 0; i < r.n && !ret; i++) {
		const char *name = rel(st, r.kvs[i].key);

		if (name && fleet_objs_is_table(name))
			ret = fleet_objs_add(&objs, name, r.kvs[i].value, r.kvs[i].value_len,
					     r.kvs[i].mod_revision);
		else if (name && !strncmp(name, "nodes/", 6))
			nodes_put(st, name, &r.kvs[i], false);
	}
	if (!ret && !objs.n && st->offer) {
		ret = offer(st);
		config_destroy(st->offer);
		st->offer = NULL;
		etcd_range_free(&r);
		fleet_objs_free(&objs);
		return ret ? ret : STORE_RESYNC;
	}
	if (st->cluster_id && st->cluster_id != r.hdr.cluster_id)
		pr_warn("store: etcd's cluster id changed (%" PRIx64 " -> %" PRIx64 ")",
			st->cluster_id, r.hdr.cluster_id);
	st->cluster_id = r.hdr.cluster_id;
	st->seen = r.hdr.revision;
	etcd_range_free(&r);
	if (ret) {
		fleet_objs_free(&objs);
		return ret;
	}
	config_destroy(st->offer); /* a fleet's table is there: this host's is not offered */
	st->offer = NULL;
	fleet_objs_free(&st->good);
	st->good = objs;
	t = fleet_schema_decode(&st->good, &ret, err, sizeof(err));
	config_destroy(st->table);
	st->table = t;
	st->synced = true;
	in_touch(st);
	if (!t) {
		refuse(st, st->seen, err);
		return 0;
	}
	pr_info("store: read %s at revision %" PRId64 ": %zu objects", st->set.prefix, st->seen,
		st->good.n);
	st->table_hash = fleet_schema_hash(t);
	st->msg_full = true;
	hand_over(st, st->seen, st->table_hash);
	return 0;
}

/* The objects with one revision's table events made. */
static int objs_with(struct fleet_objs *o, const struct store *st, const struct etcd_event *ev,
		     size_t n)
{
	struct fleet_obj *chg = calloc(n + 1, sizeof(*chg));
	bool *gone = calloc(n + 1, sizeof(*gone));
	size_t k = 0;
	int err = chg && gone ? 0 : -ENOMEM;

	for (size_t i = 0; i < n && !err; i++) {
		const char *name = rel(st, ev[i].kv.key);

		if (!name || !fleet_objs_is_table(name))
			continue;
		chg[k] = (struct fleet_obj){.name = (char *)name,
					    .value = ev[i].kv.value,
					    .len = ev[i].kv.value_len,
					    .mod_revision = ev[i].kv.mod_revision};
		gone[k++] = ev[i].deleted;
	}
	if (!err)
		err = fleet_objs_update(o, chg, gone, k);
	free(chg);
	free(gone);
	return err;
}

/* A route as it was before a revision touched it: to undo a refused revision. */
struct undo {
	uint32_t id;
	bool existed;
	struct route_spec spec;
};

static int route_event(struct config *t, const struct etcd_event *ev, const char *name, char *err,
		       size_t errlen)
{
	struct fleet_obj ob = {
		.name = (char *)name, .value = ev->kv.value, .len = ev->kv.value_len};

	return ev->deleted ? fleet_schema_route_del(t, name, err, errlen)
			   : fleet_schema_route_put(t, &ob, err, errlen);
}

/*
 * A revision that changes routes only, made to the table in place (no copy of a large table per
 * revision), its hash moved by the routes' shares; undone whole when one of them is refused.
 */
static int routes_changed(struct store *st, const struct etcd_event *ev, size_t n, char *err,
			  size_t errlen)
{
	struct config *t = st->table;
	struct undo *u = calloc(n + 1, sizeof(*u));
	uint64_t h = st->table_hash;
	size_t nu = 0;
	int ret = u ? 0 : -ENOMEM;

	for (size_t i = 0; i < n && !ret; i++) {
		const char *name = rel(st, ev[i].kv.key);
		const struct route *r;
		unsigned long id;
		char *end;

		if (!name || strncmp(name, "routes/", 7))
			continue;
		id = strtoul(name + 7, &end, 10);
		r = !*end && id && id <= UINT32_MAX ? route_table_get(t->routes, (uint32_t)id)
						    : NULL;
		u[nu].id = (uint32_t)id;
		u[nu].existed = r != NULL;
		if (r)
			route_spec_from(&r->spec, &u[nu].spec);
		h -= fleet_schema_route_hash(t, u[nu++].id);
		ret = route_event(t, &ev[i], name, err, errlen);
	}
	for (size_t k = nu; ret && k-- > 0;)
		fleet_schema_route_set(t, u[k].id, u[k].existed ? &u[k].spec : NULL);
	for (size_t k = 0; !ret && k < nu; k++)
		h += fleet_schema_route_hash(t, u[k].id);
	if (!ret)
		st->table_hash = h;
	for (size_t k = 0; !ret && k < nu; k++)
		msg_id(st, u[k].id);
	if (ret == -ENOMEM)
		snprintf(err, errlen, "out of memory");
	free(u);
	return ret;
}

/*
 * One revision's events (n of them, all of revision rev), applied whole or refused whole: true
 * when the table changed.
 */
static bool apply_revision(struct store *st, const struct etcd_event *ev, size_t n, int64_t rev)
{
	bool table = false, pools = false;
	struct fleet_objs cand = {0};
	char err[FLEET_ERR_MAX] = "";
	struct config *t = NULL;
	int ret = 0;

	st->seen = rev;
	for (size_t i = 0; i < n; i++) {
		const char *name = rel(st, ev[i].kv.key);

		if (name && !strncmp(name, "nodes/", 6))
			nodes_put(st, name, &ev[i].kv, ev[i].deleted);
		table |= name && fleet_objs_is_table(name);
		pools |= name && !strncmp(name, "pools/", 6);
	}
	if (!table)
		return false;
	if (st->table && !pools) {
		ret = routes_changed(st, ev, n, err, sizeof(err));
		if (!ret && objs_with(&st->good, st, ev, n))
			ret = -ENOMEM;
	} else {
		ret = fleet_objs_copy(&st->good, &cand);
		ret = ret ? ret : objs_with(&cand, st, ev, n);
		t = ret ? NULL : fleet_schema_decode(&cand, &ret, err, sizeof(err));
		/* Without a good table the objects follow the store, refused or not. */
		if (t || !st->table) {
			fleet_objs_free(&st->good);
			st->good = cand;
			cand = (struct fleet_objs){0};
		}
		if (t) {
			config_destroy(st->table);
			st->table = t;
			st->table_hash = fleet_schema_hash(t);
			st->msg_full = true;
		}
	}
	fleet_objs_free(&cand);
	if (ret) {
		refuse(st, rev, err[0] ? err : strerror(-ret));
		return false;
	}
	st->table->store_revision = rev;
	return true;
}

static int on_watch(void *arg, const struct etcd_watch_msg *m)
{
	struct store *st = arg;
	int64_t last = 0;
	size_t i = 0;

	if (m->canceled) {
		if (m->compact_revision)
			pr_info("store: revision %" PRId64 " was compacted (to %" PRId64
				"): reading %s again",
				st->seen + 1, m->compact_revision, st->set.prefix);
		else
			pr_warn("store: etcd ended the watch (%s): reading %s again",
				m->cancel_reason ? m->cancel_reason : "no reason given",
				st->set.prefix);
		return STORE_RESYNC;
	}
	if (m->hdr.cluster_id && m->hdr.cluster_id != st->cluster_id) {
		pr_warn("store: another etcd cluster answers (%" PRIx64 "): reading %s again",
			m->hdr.cluster_id, st->set.prefix);
		return STORE_RESYNC;
	}
	if (m->hdr.revision && m->hdr.revision < st->seen) {
		pr_warn("store: etcd's revision went back (%" PRId64 " after %" PRId64
			"): reading %s again",
			m->hdr.revision, st->seen, st->set.prefix);
		return STORE_RESYNC;
	}
	in_touch(st);
	if (m->progress && m->hdr.revision > st->seen)
		st->seen = m->hdr.revision;
	/* A message holds whole revisions, in order: each applied (or refused) on its own, the
	 * table handed over once, as of the last revision applied. */
	while (i < m->n) {
		size_t j = i;

		while (j < m->n && m->events[j].kv.mod_revision == m->events[i].kv.mod_revision)
			j++;
		if (apply_revision(st, &m->events[i], j - i, m->events[i].kv.mod_revision))
			last = m->events[i].kv.mod_revision;
		i = j;
	}
	if (last)
		hand_over(st, last, st->table_hash);
	return 0;
}

static int watch(struct store *st)
{
	int ret = etcd_watch(st->ew, st->set.prefix, st->seen + 1, 0, on_watch, st);

	if (ret == STORE_RESYNC) {
		st->synced = false;
		return 0;
	}
	if (ret == -EINTR && !stopping(st)) {
		/* The reporter could not reach etcd: this watch may be silent, not idle. */
		etcd_watch_rearm(st->ew);
		return -ETIMEDOUT;
	}
	return ret ? ret : -ECONNRESET;
}

static void *follow(void *arg)
{
	struct store *st = arg;
	unsigned backoff = BACKOFF_MIN_MS, seed = (unsigned)getpid() ^ (unsigned)wall_ms();
	int err;

	while (!stopping(st)) {
		err = st->synced ? watch(st) : sync_all(st);
		if (err == STORE_RESYNC || !err) {
			backoff = BACKOFF_MIN_MS;
			continue;
		}
		if (stopping(st))
			break;
		out_of_touch(st, etcd_error(st->ew)[0] ? etcd_error(st->ew) : strerror(-err));
		/* Half the back-off plus a random half: hosts cut off together do not come back
		 * in step. */
		nap(st, backoff / 2 + (unsigned)rand_r(&seed) % (backoff / 2 + 1));
		backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
	}
	return NULL;
}

/* ---- worker 0's side ---- */

struct config *store_take(struct store *st, uint32_t **ids, size_t *nids)
{
	struct config *t;

	pthread_mutex_lock(&st->lock);
	t = st->ready;
	st->ready = NULL;
	st->taken_hash = st->ready_hash;
	*ids = t && !st->chg_full ? st->chg_ids : NULL;
	*nids = *ids ? st->chg_n : 0;
	if (t) {
		if (!*ids)
			free(st->chg_ids);
		st->chg_ids = NULL;
		st->chg_n = 0;
		st->chg_full = false;
	}
	pthread_mutex_unlock(&st->lock);
	return t;
}

void store_give_back(struct store *st, struct config *table)
{
	pthread_mutex_lock(&st->lock);
	st->chg_full = true; /* what it changed is not known any more: adopted whole */
	if (st->ready)
		config_destroy(table); /* a newer one came meanwhile */
	else
		st->ready = table;
	pthread_mutex_unlock(&st->lock);
}

void store_applied(struct store *st, const struct config *table, int err)
{
	pthread_mutex_lock(&st->lock);
	if (!err) {
		st->status.revision = table->store_revision;
		st->status.hash = st->taken_hash;
		st->status.tables++;
	} else {
		st->status.rejected_revision = table->store_revision;
		snprintf(st->status.rejected, sizeof(st->status.rejected),
			 "could not be put in force: %s", strerror(-err));
	}
	store_report_bump(st);
	pthread_mutex_unlock(&st->lock);
}

json_t *store_view(struct store *st)
{
	json_t *nodes = json_array(), *v;
	char hash[20];

	pthread_mutex_lock(&st->lock);
	for (size_t i = 0; nodes && i < st->nodes.n; i++) {
		json_t *j = json_loads(st->nodes.v[i].value, 0, NULL);

		if (json_is_object(j))
			json_array_append(nodes, j);
		json_decref(j);
	}
	snprintf(hash, sizeof(hash), "%016" PRIx64, st->status.hash);
	v = json_pack("{s:s, s:I, s:s, s:I, s:I, s:s, s:o*}", "node", st->set.node, "revision",
		      (json_int_t)st->status.revision, "table_hash", hash, "stale_since_ms",
		      (json_int_t)st->status.stale_since_ms, "rejected_revision",
		      (json_int_t)st->status.rejected_revision, "rejected", st->status.rejected,
		      "nodes", nodes);
	pthread_mutex_unlock(&st->lock);
	return v;
}

/* ---- life ---- */

static struct etcd *client(const struct store_settings *s, uint32_t timeout_ms)
{
	struct etcd_opts o = {.endpoints = s->endpoints,
			      .ca = s->ca,
			      .cert = s->cert,
			      .key = s->key,
			      .request_timeout_ms = timeout_ms};

	return etcd_open(&o);
}

static int store_init(struct store *st, const struct config *live, int wake_fd, const char *listen)
{
	int err;

	st->set = live->store;
	if (!st->set.node[0] && gethostname(st->set.node, sizeof(st->set.node) - 1))
		snprintf(st->set.node, sizeof(st->set.node), "strgd-%d", (int)getpid());
	snprintf(st->listen, sizeof(st->listen), "%s", listen);
	st->wake_fd = wake_fd;
	st->status.revision = live->store_revision;
	st->status.hash = st->handed_hash = fleet_schema_hash(live);
	st->status.stale_since_ms = wall_ms(); /* until the first read */
	st->offer = config_clone(live);
	st->ew = client(&st->set, 10000); /* reads of a large prefix take their time */
	/* Each member tried in turn: a cut-off host knows it within the lease's TTL. */
	st->er = client(&st->set, 1000);
	if (!st->ew || !st->er || !st->offer)
		return -ENOMEM;
	err = io_uring_queue_init(4, &st->ring, 0);
	if (err)
		return err;
	err = io_uring_queue_init(4, &st->rring, 0);
	if (err) {
		io_uring_queue_exit(&st->ring);
		return err;
	}
	pthread_mutex_init(&st->lock, NULL);
	pthread_cond_init(&st->cond, NULL);
	return 0;
}

struct store *store_open(const struct config *live, int wake_ring_fd, const char *listen)
{
	struct store *st = calloc(1, sizeof(*st));
	int err = st ? store_init(st, live, wake_ring_fd, listen) : -ENOMEM;

	if (!err)
		err = -pthread_create(&st->follower, NULL, follow, st);
	if (!err && pthread_create(&st->reporter, NULL, store_report_run, st)) {
		err = -EAGAIN;
		pthread_mutex_lock(&st->lock);
		st->stop = true;
		pthread_mutex_unlock(&st->lock);
		etcd_watch_stop(st->ew);
		pthread_join(st->follower, NULL);
	}
	if (err) {
		if (st) {
			etcd_close(st->ew);
			etcd_close(st->er);
			config_destroy(st->offer);
		}
		free(st);
		errno = -err;
		return NULL;
	}
	pr_info("store: following etcd %s, prefix %s, as node %s (table of revision %" PRId64
		" in force)",
		st->set.endpoints, st->set.prefix, st->set.node, live->store_revision);
	return st;
}

void store_close(struct store *st)
{
	if (!st)
		return;
	pthread_mutex_lock(&st->lock);
	st->stop = true;
	pthread_cond_broadcast(&st->cond);
	pthread_mutex_unlock(&st->lock);
	etcd_watch_stop(st->ew);
	pthread_join(st->follower, NULL);
	pthread_join(st->reporter, NULL);
	etcd_close(st->ew);
	etcd_close(st->er);
	io_uring_queue_exit(&st->ring);
	io_uring_queue_exit(&st->rring);
	store_jobs_free(st);
	config_destroy(st->table);
	config_destroy(st->ready);
	config_destroy(st->offer);
	fleet_objs_free(&st->good);
	fleet_objs_free(&st->nodes);
	free(st->msg_ids);
	free(st->chg_ids);
	pthread_mutex_destroy(&st->lock);
	pthread_cond_destroy(&st->cond);
	free(st);
}
