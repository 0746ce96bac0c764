/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Following the fleet's table in etcd, on threads of their own: one reads the prefix at a
 * revision and watches from the next, building each revision's table away from the workers and
 * handing finished tables to worker 0, which puts them in force like any change; the other
 * keeps this host's leased report (nodes/NAME) up to date.
 */
#ifndef STRG_FLEET_STORE_H
#define STRG_FLEET_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "core/config.h"

#define STORE_LEASE_TTL_S 10 /* a host that dies drops out of nodes/ within it */

struct reply;
struct store;

/* What this host reports (nodes/NAME), and views show. */
struct store_status {
	int64_t revision;	   /* the store's revision whose table is in force */
	uint64_t hash;		   /* of that table (fleet_schema_hash) */
	int64_t rejected_revision; /* the last revision refused (0: none) */
	char rejected[320];	   /* and why */
	uint64_t stale_since_ms;   /* out of touch with the store since (Unix ms; 0: in touch) */
	uint64_t tables;	   /* tables handed to worker 0 */
	bool lease;		   /* nodes/NAME is held */
	unsigned hosts;		   /* hosts reporting in nodes/ */
};

/*
 * Follow cfg->store, live being the table in force (from the state file or the configuration;
 * its store_revision is where it came from). A finished table wakes the ring wake_ring_fd
 * (RING_OP_ACK). listen is this host's address, for its report. NULL with errno.
 */
struct store *store_open(const struct config *live, int wake_ring_fd, const char *listen);
/* Stop both threads, withdraw the report (its lease revoked). */
void store_close(struct store *st);
/*
 * Worker 0: the newest finished table, taken (NULL: none new), and the routes changed since the
 * table taken before (*ids, which the caller frees; NULL when not known: adopt it whole).
 */
struct config *store_take(struct store *st, uint32_t **ids, size_t *nids);
/* Worker 0: the table taken is in force (err 0), or could not be put in force (-errno). */
void store_applied(struct store *st, const struct config *table, int err);
/* Worker 0 could not take it now (a restart under way): offered again at the next wake. */
void store_give_back(struct store *st, struct config *table);
void store_status(struct store *st, struct store_status *out);
/*
 * Worker 0: a change of the table (draft against live) for the store, written by the reporter
 * thread in one transaction whose compares hold only while no key it touches changed since
 * the revision in force here. Returns a ticket (> 0), 0 when the tables' objects are the same
 * (nothing for the store), or -errno with the reason in err. orphan: nobody asks for the
 * outcome (it is logged).
 */
int64_t store_submit(struct store *st, const struct config *live, const struct config *draft,
		     bool orphan, char *err, size_t errlen);
/*
 * Worker 0, for --dry-run: the transaction store_submit() would write for the same change, in
 * words on out (each key, its compare, what would be put), nothing written. 0 or -ENOMEM.
 */
int store_preview(struct store *st, const struct config *live, const struct config *draft,
		  struct reply *out);
/*
 * Worker 0: 1 while the change is on its way, 0 once in force here (*revision: written at), or
 * -errno with the reason in msg (-ECANCELED: a conflict, what changed meanwhile named).
 */
int store_outcome(struct store *st, int64_t ticket, int64_t *revision, char *msg, size_t len);
/*
 * This host's view of the fleet: {"node", "revision", "table_hash", "stale_since_ms",
 * "rejected_revision", "rejected", "nodes": [each nodes/NAME report as read from the store]}.
 * NULL when out of memory.
 */
json_t *store_view(struct store *st);

#endif
