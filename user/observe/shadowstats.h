/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What the shadow counts, per route, for every worker together: copies sent and dropped by
 * reason, copies in flight (the max-inflight bound), comparisons and their differences by field,
 * legacy-vs-legacy differences (noise), the two sides' latency, the last mismatches. A field
 * whose legacy-vs-modern difference rate does not exceed its legacy-vs-legacy rate (allowing for
 * the noise sample's error) is noise, not a mismatch; a comparison is a mismatch when one of its
 * fields is not noise, judged again at every view, so what was learned later counts for what
 * was compared before.
 */
#ifndef STRG_SHADOWSTATS_H
#define STRG_SHADOWSTATS_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/types.h>

#include "observe/shadowcmp.h"
#include "strg/splice.h"

#define SHADOWSTATS_FIELDS    64  /* fields named per route; later ones count as "other" */
#define SHADOWSTATS_SIGS      128 /* distinct sets of differing fields counted per route */
#define SHADOWSTATS_RING      32  /* the last mismatches kept per route */
#define SHADOWSTATS_SHOWN     8	  /* differences kept of each */
#define SHADOWSTATS_MIN_ALERT 50  /* comparisons before a mismatch rate is judged */

/* Why a copy went nowhere, or its answer could not be compared. */
enum shadow_drop {
	SHADOW_DROP_INFLIGHT = 0, /* max-inflight copies of the route were in flight */
	SHADOW_DROP_BODY = 1,	  /* the request's body was longer than max-body */
	SHADOW_DROP_REFUSED = 2,  /* the shadow pool refused the connection, or had no backend */
	SHADOW_DROP_TIMEOUT = 3,  /* no whole answer within the shadow's timeout */
	SHADOW_DROP_ERROR = 4,	  /* the shadow closed, reset or answered what is not HTTP */
	SHADOW_DROP_LEGACY = 5,	  /* the user's own exchange did not complete: nothing to compare */
	SHADOW_DROPS = 6,
};

/* Its word in the views ("inflight", "body", "refused", "timeout", "error", "legacy"). */
const char *shadowstats_drop_name(enum shadow_drop d);

/* One mismatch as the views show it. */
struct shadowstats_record {
	uint64_t at_ms; /* wall clock */
	char id[64];	/* the request id ("" none) */
	char method[12];
	char path[128];
	unsigned status_a, status_b; /* legacy's, modern's */
	unsigned n, more;	     /* differences in d, and beyond them */
	bool cut;
	struct shadowcmp_diff d[SHADOWSTATS_SHOWN];
};

/* What one copy came to (shadowstats_record). */
struct shadowstats_outcome {
	uint32_t slot, route_id;
	const char *method, *path, *id;
	uint64_t legacy_us, modern_us;	   /* the two answers' times */
	const struct shadowcmp_result *lm; /* legacy vs modern */
	const struct shadowcmp_result *ll; /* legacy vs legacy, when the copy sampled noise */
	unsigned status_a, status_b;
};

struct shadowstats_field {
	char name[SHADOWCMP_FIELD_MAX];
	enum shadowcmp_kind kind;
	uint64_t lm, ll; /* comparisons where it differed: legacy vs modern, legacy vs legacy */
	bool noise;	 /* (a view's) judged noise */
};

/* One route's figures at one time. */
struct shadowstats_snap {
	uint32_t route_id, slot;
	int64_t inflight;
	uint64_t sent, compared, noise_pairs, cut;
	uint64_t dropped[SHADOW_DROPS];
	uint64_t matches, mismatches, noise_only; /* of compared: the three add up */
	uint64_t by_kind[SHADOWCMP_KINDS];	  /* mismatches with a field of that kind */
	uint64_t other_fields;			  /* differences beyond the named fields */
	unsigned nfields;
	struct shadowstats_field fields[SHADOWSTATS_FIELDS];
	double lat_legacy[STRG_LAT_BUCKETS], lat_modern[STRG_LAT_BUCKETS];
	unsigned nring; /* newest first */
	struct shadowstats_record ring[SHADOWSTATS_RING];
};

struct shadowstats;

/* Constructors return NULL with errno set. */
struct shadowstats *shadowstats_new(void);
void shadowstats_free(struct shadowstats *s);

/*
 * A copy of the route (slot, id) may start when fewer than max are in flight: true, and it is
 * counted in flight until shadowstats_done(). False: dropped, counted so.
 */
bool shadowstats_take(struct shadowstats *s, uint32_t slot, uint32_t route_id, uint32_t max);
void shadowstats_done(struct shadowstats *s, uint32_t slot);
/* The copy went to the shadow pool. */
void shadowstats_sent(struct shadowstats *s, uint32_t slot, uint32_t route_id);
void shadowstats_drop(struct shadowstats *s, uint32_t slot, uint32_t route_id,
		      enum shadow_drop why);
void shadowstats_record(struct shadowstats *s, const struct shadowstats_outcome *o);
/* Forget the route's comparisons (noise learned is kept): "shadow again" after a fix. */
void shadowstats_reset(struct shadowstats *s, uint32_t slot, uint32_t route_id);
/* The route's figures, judged now. 0, or -ENOENT when it has none. */
int shadowstats_snapshot(struct shadowstats *s, uint32_t slot, uint32_t route_id,
			 struct shadowstats_snap *out);
/*
 * The route's mismatch rate against its alert (per mille) now: 1 when it went above (with at
 * least SHADOWSTATS_MIN_ALERT comparisons), -1 when it came back below, 0 when it stayed.
 * *compared and *mismatches say the figures.
 */
int shadowstats_alert(struct shadowstats *s, uint32_t slot, uint32_t route_id,
		      uint16_t alert_permille, uint64_t *compared, uint64_t *mismatches);
/* Whether a field is noise (lm of compared, ll of pairs): the rule the views follow. */
bool shadowstats_is_noise(uint64_t lm, uint64_t compared, uint64_t ll, uint64_t pairs);

#endif
