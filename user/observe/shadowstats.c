// SPDX-License-Identifier: GPL-2.0-only
/* The shadow's counters per route, shared by the workers, and their judgment (shadowstats.h). */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "observe/shadowstats.h"

#define OTHER (SHADOWSTATS_FIELDS - 1) /* the field bit of differences beyond the named */

/* A set of fields that differed together (bit i: fields[i]) and how often. */
struct sig {
	uint64_t mask, n;
};

/* One route's counters; its lock guards all but inflight. */
struct entry {
	pthread_mutex_t lock;
	_Atomic int64_t inflight;
	uint32_t route_id;
	uint64_t sent, compared, noise_pairs, cut, sig_over;
	uint64_t dropped[SHADOW_DROPS];
	unsigned nfields, nsigs;
	struct shadowstats_field fields[SHADOWSTATS_FIELDS];
	struct sig sigs[SHADOWSTATS_SIGS];
	double lat_legacy[STRG_LAT_BUCKETS], lat_modern[STRG_LAT_BUCKETS];
	unsigned ring_at, nring;
	struct shadowstats_record ring[SHADOWSTATS_RING];
	bool alerting; /* its mismatch rate was above its alert at the last look */
};

struct shadowstats {
	pthread_mutex_t lock; /* guards the creation of entries */
	struct entry *_Atomic by_slot[STRG_ROUTE_SLOTS];
};

static const char *const drop_names[SHADOW_DROPS] = {
	"inflight", "body", "refused", "timeout", "error", "legacy",
};

const char *shadowstats_drop_name(enum shadow_drop d)
{
	return (unsigned)d < SHADOW_DROPS ? drop_names[d] : "?";
}

struct shadowstats *shadowstats_new(void)
{
	struct shadowstats *s = calloc(1, sizeof(*s));

	if (s)
		pthread_mutex_init(&s->lock, NULL);
	return s;
}

void shadowstats_free(struct shadowstats *s)
{
	if (!s)
		return;
	for (unsigned i = 0; i < STRG_ROUTE_SLOTS; i++)
		free(s->by_slot[i]);
	free(s);
}

/* The comparisons' counters at zero (their inflight and noise learned kept when keep_noise). */
static void clear(struct entry *e, uint32_t route_id, bool keep_noise)
{
	e->route_id = route_id;
	e->sent = e->compared = e->cut = e->sig_over = 0;
	memset(e->dropped, 0, sizeof(e->dropped));
	memset(e->sigs, 0, sizeof(e->sigs));
	e->nsigs = 0;
	memset(e->lat_legacy, 0, sizeof(e->lat_legacy));
	memset(e->lat_modern, 0, sizeof(e->lat_modern));
	e->ring_at = e->nring = 0;
	e->alerting = false;
	for (unsigned i = 0; i < e->nfields; i++)
		e->fields[i].lm = 0;
	if (keep_noise)
		return;
	e->noise_pairs = 0;
	e->nfields = 0;
	memset(e->fields, 0, sizeof(e->fields));
}

/*
 * The route's entry, locked, made when create; one that counted for an older route in the slot
 * starts over. NULL: none (or out of memory).
 */
static struct entry *lock_entry(struct shadowstats *s, uint32_t slot, uint32_t route_id,
				bool create)
{
	struct entry *e;

	if (!s || slot >= STRG_ROUTE_SLOTS)
		return NULL;
	e = s->by_slot[slot];
	if (!e && create) {
		pthread_mutex_lock(&s->lock);
		e = s->by_slot[slot];
		if (!e && (e = calloc(1, sizeof(*e)))) {
			pthread_mutex_init(&e->lock, NULL);
			e->route_id = route_id;
			s->by_slot[slot] = e;
		}
		pthread_mutex_unlock(&s->lock);
	}
	if (!e)
		return NULL;
	pthread_mutex_lock(&e->lock);
	/* Ids only grow: a copy of a deleted route finishing late does not wipe its successor. */
	if (e->route_id != route_id && (!create || route_id < e->route_id)) {
		pthread_mutex_unlock(&e->lock);
		return NULL;
	}
	if (e->route_id != route_id)
		clear(e, route_id, false);
	return e;
}

bool shadowstats_take(struct shadowstats *s, uint32_t slot, uint32_t route_id, uint32_t max)
{
	struct entry *e = lock_entry(s, slot, route_id, true);
	bool ok;

	if (!e)
		return false;
	ok = e->inflight < (int64_t)max;
	if (ok) {
		e->inflight++;
	} else {
		e->dropped[SHADOW_DROP_INFLIGHT]++;
	}
	pthread_mutex_unlock(&e->lock);
	return ok;
}

void shadowstats_sent(struct shadowstats *s, uint32_t slot, uint32_t route_id)
{
	struct entry *e = lock_entry(s, slot, route_id, true);

	if (!e)
		return;
	e->sent++;
	pthread_mutex_unlock(&e->lock);
}

void shadowstats_done(struct shadowstats *s, uint32_t slot)
{
	struct entry *e = s && slot < STRG_ROUTE_SLOTS ? s->by_slot[slot] : NULL;

	if (e)
		e->inflight--;
}

void shadowstats_drop(struct shadowstats *s, uint32_t slot, uint32_t route_id, enum shadow_drop why)
{
	struct entry *e = lock_entry(s, slot, route_id, true);

	if (!e)
		return;
	if ((unsigned)why < SHADOW_DROPS)
		e->dropped[why]++;
	pthread_mutex_unlock(&e->lock);
}

/* The field's index, added when new; OTHER when the table is full. */
static unsigned field_of(struct entry *e, const struct shadowcmp_diff *d)
{
	for (unsigned i = 0; i < e->nfields; i++)
		if (!strcmp(e->fields[i].name, d->field))
			return i;
	if (e->nfields == OTHER)
		return OTHER;
	snprintf(e->fields[e->nfields].name, sizeof(e->fields[0].name), "%s", d->field);
	e->fields[e->nfields].kind = d->kind;
	return e->nfields++;
}

static void count_sig(struct entry *e, uint64_t mask)
{
	for (unsigned i = 0; i < e->nsigs; i++)
		if (e->sigs[i].mask == mask) {
			e->sigs[i].n++;
			return;
		}
	if (e->nsigs == SHADOWSTATS_SIGS) {
		e->sig_over++;
		return;
	}
	e->sigs[e->nsigs].mask = mask;
	e->sigs[e->nsigs++].n = 1;
}

bool shadowstats_is_noise(uint64_t lm, uint64_t compared, uint64_t ll, uint64_t pairs)
{
	double p, q;

	if (!pairs || !ll || !compared)
		return false;
	p = (double)ll / (double)pairs;
	q = (double)lm / (double)compared;
	/* Two standard errors of the noise sample's rate: a field that differs at random on
	 * both sides is not called a mismatch because the smaller sample ran low. */
	return q <= p + 2.0 * sqrt(p * (1.0 - p) / (double)pairs) + 1e-9;
}

/* The bits of the fields that are noise now. */
static uint64_t noise_mask(const struct entry *e)
{
	uint64_t m = 0;

	for (unsigned i = 0; i < e->nfields; i++)
		if (shadowstats_is_noise(e->fields[i].lm, e->compared, e->fields[i].ll,
					 e->noise_pairs))
			m |= 1ull << i;
	return m;
}

static void keep_record(struct entry *e, const struct shadowstats_outcome *o)
{
	struct shadowstats_record *r = &e->ring[e->ring_at];
	const struct shadowcmp_result *lm = o->lm;
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	memset(r, 0, sizeof(*r));
	r->at_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	snprintf(r->id, sizeof(r->id), "%s", o->id ? o->id : "");
	snprintf(r->method, sizeof(r->method), "%s", o->method ? o->method : "");
	snprintf(r->path, sizeof(r->path), "%s", o->path ? o->path : "");
	r->status_a = o->status_a;
	r->status_b = o->status_b;
	r->cut = lm->cut;
	r->n = lm->n < SHADOWSTATS_SHOWN ? lm->n : SHADOWSTATS_SHOWN;
	r->more = lm->n - r->n + lm->more;
	memcpy(r->d, lm->d, r->n * sizeof(r->d[0]));
	e->ring_at = (e->ring_at + 1) % SHADOWSTATS_RING;
	if (e->nring < SHADOWSTATS_RING)
		e->nring++;
}

/* A legacy-vs-modern comparison: its fields, its set, and the ring when it is a mismatch. */
static void count_lm(struct entry *e, const struct shadowstats_outcome *o)
{
	uint64_t mask = 0;

	e->compared++;
	e->cut += o->lm->cut;
	for (unsigned i = 0; i < o->lm->n; i++) {
		unsigned f = field_of(e, &o->lm->d[i]);

		if (!(mask & (1ull << f)))
			e->fields[f].lm += f != OTHER;
		mask |= 1ull << f;
	}
	if (o->lm->more)
		mask |= 1ull << OTHER;
	if (mask)
		count_sig(e, mask);
	if (mask & ~noise_mask(e))
		keep_record(e, o);
}

static void count_ll(struct entry *e, const struct shadowcmp_result *ll)
{
	uint64_t seen = 0;

	e->noise_pairs++;
	for (unsigned i = 0; i < ll->n; i++) {
		unsigned f = field_of(e, &ll->d[i]);

		if (f != OTHER && !(seen & (1ull << f)))
			e->fields[f].ll++;
		seen |= 1ull << f;
	}
}

void shadowstats_record(struct shadowstats *s, const struct shadowstats_outcome *o)
{
	struct entry *e = lock_entry(s, o->slot, o->route_id, true);

	if (!e)
		return;
	if (o->ll)
		count_ll(e, o->ll);
	if (o->lm) {
		count_lm(e, o);
		if (o->legacy_us)
			e->lat_legacy[strg_lat_bucket(o->legacy_us)]++;
		if (o->modern_us)
			e->lat_modern[strg_lat_bucket(o->modern_us)]++;
	}
	pthread_mutex_unlock(&e->lock);
}

void shadowstats_reset(struct shadowstats *s, uint32_t slot, uint32_t route_id)
{
	struct entry *e = lock_entry(s, slot, route_id, false);

	if (!e)
		return;
	clear(e, route_id, true);
	pthread_mutex_unlock(&e->lock);
}

/* Whether a kept record still is a mismatch: a difference in a field that is not noise now. */
static bool still_mismatch(const struct shadowstats_snap *s, const struct shadowstats_record *r)
{
	if (r->more)
		return true;
	for (unsigned k = 0; k < r->n; k++) {
		unsigned i = 0;

		while (i < s->nfields && strcmp(s->fields[i].name, r->d[k].field))
			i++;
		if (i == s->nfields || !s->fields[i].noise)
			return true;
	}
	return false;
}

/* The ring, newest first, less the records that later noise explains. */
static void keep_mismatches(const struct entry *e, struct shadowstats_snap *out)
{
	for (unsigned i = 0; i < e->nring; i++) {
		const struct shadowstats_record *r =
			&e->ring[(e->ring_at + SHADOWSTATS_RING - 1 - i) % SHADOWSTATS_RING];

		if (still_mismatch(out, r))
			out->ring[out->nring++] = *r;
	}
}

/* The comparisons judged with the noise known now. */
static void judge(const struct entry *e, struct shadowstats_snap *out)
{
	uint64_t noise = noise_mask(e), kind_mask[SHADOWCMP_KINDS] = {0};

	for (unsigned i = 0; i < e->nfields; i++) {
		out->fields[i].noise = (noise >> i) & 1;
		kind_mask[e->fields[i].kind] |= 1ull << i;
	}
	kind_mask[SHADOWCMP_BODY] |= 1ull << OTHER; /* never noise: named nowhere */
	out->mismatches = e->sig_over;
	for (unsigned i = 0; i < e->nsigs; i++) {
		uint64_t real = e->sigs[i].mask & ~noise;

		if (!real) {
			out->noise_only += e->sigs[i].n;
			continue;
		}
		out->mismatches += e->sigs[i].n;
		for (unsigned k = 0; k < SHADOWCMP_KINDS; k++)
			if (real & kind_mask[k])
				out->by_kind[k] += e->sigs[i].n;
	}
	out->matches = e->compared - out->mismatches - out->noise_only;
}

int shadowstats_snapshot(struct shadowstats *s, uint32_t slot, uint32_t route_id,
			 struct shadowstats_snap *out)
{
	struct entry *e = lock_entry(s, slot, route_id, false);

	memset(out, 0, sizeof(*out));
	out->route_id = route_id;
	out->slot = slot;
	if (!e)
		return -ENOENT;
	out->inflight = e->inflight;
	out->sent = e->sent;
	out->compared = e->compared;
	out->noise_pairs = e->noise_pairs;
	out->cut = e->cut;
	memcpy(out->dropped, e->dropped, sizeof(out->dropped));
	out->nfields = e->nfields;
	memcpy(out->fields, e->fields, sizeof(out->fields));
	for (unsigned i = 0; i < e->nsigs; i++)
		if (e->sigs[i].mask & (1ull << OTHER))
			out->other_fields += e->sigs[i].n;
	memcpy(out->lat_legacy, e->lat_legacy, sizeof(out->lat_legacy));
	memcpy(out->lat_modern, e->lat_modern, sizeof(out->lat_modern));
	judge(e, out);
	keep_mismatches(e, out);
	pthread_mutex_unlock(&e->lock);
	return 0;
}

int shadowstats_alert(struct shadowstats *s, uint32_t slot, uint32_t route_id,
		      uint16_t alert_permille, uint64_t *compared, uint64_t *mismatches)
{
	struct entry *e = lock_entry(s, slot, route_id, false);
	struct shadowstats_snap *j;
	bool above;
	int flip = 0;

	if (!e)
		return 0;
	j = calloc(1, sizeof(*j));
	if (j) {
		judge(e, j);
		*compared = e->compared;
		*mismatches = j->mismatches;
		above = e->compared >= SHADOWSTATS_MIN_ALERT &&
			j->mismatches * 1000 > (uint64_t)alert_permille * e->compared;
		flip = above == e->alerting ? 0 : above ? 1 : -1;
		e->alerting = above;
		free(j);
	}
	pthread_mutex_unlock(&e->lock);
	return flip;
}
