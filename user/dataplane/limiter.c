// SPDX-License-Identifier: GPL-2.0-only
/*
 * Rate limits (limiter.h): GCRA buckets (strg/gcra.h). The route-wide ones are one word per
 * counters slot, which the verdict program takes from too; the per-key ones live in a table of
 * LIMITER_KEYS entries in sets of eight, each set behind a spin lock (a take is a few loads and
 * stores: a mutex would cost more than the work).
 */
#include <linux/types.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/limiter.h"
#include "kernel/splice.h"
#include "strg/gcra.h"
#include "strg/splice.h"

#define SET_WAYS 8
#define NSETS	 (LIMITER_KEYS / SET_WAYS)

struct key_entry {
	uint64_t key; /* hash of the route id and the key's bytes; 0: free */
	__u64 tat;    /* the bucket */
};

struct key_set {
	uint32_t lock;
	struct key_entry e[SET_WAYS];
};

struct limiter {
	struct strg_limit *route; /* STRG_ROUTE_SLOTS buckets */
	bool own;		  /* route was allocated here */
	struct key_set *sets;
};

struct limiter *limiter_open(struct splice *sp)
{
	struct limiter *lm = calloc(1, sizeof(*lm));

	if (!lm)
		return NULL;
	lm->route = sp ? splice_limits(sp) : NULL;
	if (!lm->route) {
		lm->route = calloc(STRG_ROUTE_SLOTS, sizeof(*lm->route));
		lm->own = true;
	}
	lm->sets = calloc(NSETS, sizeof(*lm->sets));
	if (!lm->route || !lm->sets) {
		limiter_close(lm);
		errno = ENOMEM;
		return NULL;
	}
	return lm;
}

void limiter_close(struct limiter *lm)
{
	if (!lm)
		return;
	if (lm->own)
		free(lm->route);
	free(lm->sets);
	free(lm);
}

void limiter_slot_reset(struct limiter *lm, uint32_t slot)
{
	if (lm && slot < STRG_ROUTE_SLOTS)
		__atomic_store_n(&lm->route[slot].tat_ns, 0, __ATOMIC_RELAXED);
}

static unsigned retry_s(uint64_t wait_ns)
{
	uint64_t s = (wait_ns + 999999999ull) / 1000000000ull;

	return s ? (unsigned)(s > 86400 ? 86400 : s) : 1;
}

static uint64_t key_hash(uint32_t route_id, const char *key, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull ^ route_id;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)key[i]) * 0x100000001b3ull;
	h ^= h >> 29;
	return h ? h : 1;
}

static void set_lock(struct key_set *s)
{
	while (__atomic_exchange_n(&s->lock, 1, __ATOMIC_ACQUIRE))
		while (__atomic_load_n(&s->lock, __ATOMIC_RELAXED))
			__builtin_ia32_pause();
}

static void set_unlock(struct key_set *s)
{
	__atomic_store_n(&s->lock, 0, __ATOMIC_RELEASE);
}

/*
 * The key's entry in its set, or the one it takes over: a free one, else one whose bucket is
 * full again (it knows nothing a fresh one would not), else the one that fills soonest.
 */
static struct key_entry *entry_of(struct key_set *s, uint64_t key, uint64_t now)
{
	struct key_entry *victim = &s->e[0];

	for (int i = 0; i < SET_WAYS; i++)
		if (s->e[i].key == key)
			return &s->e[i];
	for (int i = 0; i < SET_WAYS; i++) {
		if (!s->e[i].key || s->e[i].tat <= now) {
			victim = &s->e[i];
			break;
		}
		if (s->e[i].tat < victim->tat)
			victim = &s->e[i];
	}
	victim->key = key;
	victim->tat = 0;
	return victim;
}

static unsigned take_key(struct limiter *lm, const struct route *rt, const char *key, size_t len,
			 uint64_t now, uint64_t iv, uint64_t tol)
{
	uint64_t h = key_hash(rt->id, key, len);
	__u64 next;
	struct key_set *s = &lm->sets[(h >> 32) % NSETS];
	struct key_entry *e;
	unsigned wait = 0;

	set_lock(s);
	e = entry_of(s, h, now);
	if (strg_gcra(e->tat, now, iv, tol, &next))
		e->tat = next;
	else
		wait = retry_s(e->tat - now - tol);
	set_unlock(s);
	return wait;
}

unsigned limiter_take(struct limiter *lm, const struct route *rt, const char *key, size_t len,
		      uint64_t now_ns)
{
	const struct routegw_limit *l = &rt->spec.gw->limit;
	uint64_t iv = routegw_interval_ns(l), tol = routegw_tolerance_ns(l);
	__u64 wait = 0;
	int r;

	if (!lm || !l->count)
		return 0;
	if (l->per != ROUTEGW_PER_ROUTE)
		return take_key(lm, rt, key, len, now_ns, iv, tol);
	/* Beyond the counted slots (the kernel passes such a route's requests up): a key's. */
	if (rt->slot >= STRG_ROUTE_SLOTS)
		return take_key(lm, rt, "", 0, now_ns, iv, tol);
	do {
		r = strg_gcra_take(&lm->route[rt->slot].tat_ns, now_ns, iv, tol, &wait);
	} while (r == STRG_GCRA_BUSY);
	return r == STRG_GCRA_OK ? 0 : retry_s(wait);
}
