// SPDX-License-Identifier: GPL-2.0-only
/*
 * Per-route, per-pool request counters. strgd counts what it answers or carries without a
 * syscall (into the kernel path's memory-mapped map when it is loaded, else into memory of its
 * own); the kernel counts what it carries in a per-CPU map; readers add the two up.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/splice.h"
#include "observe/shadowstats.h"
#include "observe/stats.h"

struct stats {
	struct splice *sp;	 /* NULL: user space only */
	struct strg_stats *user; /* STRG_STATS_KEYS entries, key = slot * STRG_POOLS_MAX + pool */
	bool own;		 /* user was allocated here */
	__u64 unsolicited[STRG_POOLS_MAX]; /* backend connections closed for unasked bytes */
	uint64_t trips[STRG_ROUTE_SLOTS];  /* automatic rollbacks of each slot's route */
	struct shadowstats *shadow;	   /* the shadowed routes' comparisons */
};

struct stats *stats_open(struct splice *sp)
{
	struct stats *st = calloc(1, sizeof(*st));

	if (!st)
		return NULL;
	st->sp = sp;
	st->shadow = shadowstats_new();
	if (!st->shadow) {
		free(st);
		return NULL;
	}
	st->user = sp ? splice_ustats(sp) : NULL;
	if (!st->user) {
		st->user = calloc(STRG_STATS_KEYS, sizeof(*st->user));
		st->own = true;
		if (!st->user) {
			shadowstats_free(st->shadow);
			free(st);
			errno = ENOMEM;
			return NULL;
		}
	}
	return st;
}

void stats_close(struct stats *st)
{
	if (!st)
		return;
	if (st->own)
		free(st->user);
	shadowstats_free(st->shadow);
	free(st);
}

struct shadowstats *stats_shadow(struct stats *st)
{
	return st ? st->shadow : NULL;
}

static inline void add(__u64 *counter, __u64 n)
{
	if (n)
		__atomic_fetch_add(counter, n, __ATOMIC_RELAXED);
}

static bool slot_key(uint32_t slot, unsigned pool, uint32_t *key)
{
	if (slot > STATS_SLOT_UNROUTED || pool >= STRG_POOLS_MAX)
		return false;
	*key = slot * STRG_POOLS_MAX + pool;
	return true;
}

void stats_count(struct stats *st, const struct stats_req *req)
{
	unsigned cls = req->status / 100;
	struct strg_stats *s;
	uint32_t key;

	if (!st || !slot_key(req->slot, req->pool, &key))
		return; /* a route beyond the counted slots */
	s = &st->user[key];
	if (req->route_id)
		s->route_id = req->route_id;
	s->pool = req->pool;
	/* Workers count into the same slots: adds are atomic (relaxed: counts, no ordering). */
	add(&s->requests, !req->kernel_counted);
	add(&s->passed, req->passed && !req->kernel_counted);
	add(&s->fallback, req->fallback);
	add(&s->limited, req->limited);
	add(&s->denied, req->denied);
	add(&s->bytes_in, req->bytes_in);
	add(&s->bytes_out, req->bytes_out);
	/* A response the kernel passed up mid-body: it counted its head already. */
	if (req->head_counted)
		return;
	add(&s->status[cls < STRG_STATUS_CLASSES ? cls : 0], 1);
	add(&s->latency_us_log2[strg_lat_bucket(req->latency_us)], 1);
	add(&s->latency_us_sum, req->latency_us);
}

void stats_slot_reset(struct stats *st, uint32_t slot)
{
	uint32_t key;

	if (!st || slot >= STRG_ROUTE_SLOTS)
		return;
	st->trips[slot] = 0;
	for (unsigned pool = 0; pool < STRG_POOLS_MAX && slot_key(slot, pool, &key); pool++) {
		memset(&st->user[key], 0, sizeof(st->user[key]));
		if (st->sp)
			splice_kstats_clear(st->sp, key);
	}
}

int stats_read(struct stats *st, uint32_t slot, unsigned pool, struct strg_stats *out)
{
	struct strg_stats k;
	uint32_t key;
	int err;

	memset(out, 0, sizeof(*out));
	if (!slot_key(slot, pool, &key))
		return -ERANGE;
	strg_stats_add(out, &st->user[key]);
	if (st->sp) {
		err = splice_kstats_read(st->sp, key, &k);
		if (err)
			return err;
		strg_stats_add(out, &k);
	}
	out->pool = pool;
	return 0;
}

void stats_unsolicited(struct stats *st, unsigned pool)
{
	if (st && pool < STRG_POOLS_MAX)
		add(&st->unsolicited[pool], 1);
}

uint64_t stats_unsolicited_count(const struct stats *st, unsigned pool)
{
	return st && pool < STRG_POOLS_MAX ? st->unsolicited[pool] : 0;
}

void stats_trip(struct stats *st, uint32_t slot)
{
	if (st && slot < STRG_ROUTE_SLOTS)
		st->trips[slot]++;
}

uint64_t stats_trips(const struct stats *st, uint32_t slot)
{
	return st && slot < STRG_ROUTE_SLOTS ? st->trips[slot] : 0;
}
