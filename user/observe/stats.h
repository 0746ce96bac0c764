/* SPDX-License-Identifier: GPL-2.0-only */
/* Per-route, per-pool request counters: those strgd keeps, those the kernel keeps, their sum. */
#ifndef STRG_STATS_H
#define STRG_STATS_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/types.h>

#include "core/route.h"
#include "strg/splice.h"

struct splice;
struct shadowstats;

/* Counters of requests no route could be found for (malformed heads, timeouts in a head). */
#define STATS_SLOT_UNROUTED STRG_SLOT_UNROUTED

/* One request strgd answered or carried, as counted. */
struct stats_req {
	uint32_t slot;	   /* the route's counters slot, or STATS_SLOT_UNROUTED */
	uint32_t route_id; /* 0 when unrouted */
	unsigned pool;	   /* pool index (0 when unrouted) */
	uint64_t bytes_in, bytes_out;
	unsigned status;     /* 0 when no response head was seen */
	uint64_t latency_us; /* end of the request to the response head (strg_stats) */
	bool passed;	     /* the kernel passed the request up to strgd */
	bool kernel_counted; /* the kernel counted the request already (strgd finished its
			      * response): status, bytes and latency only */
	bool head_counted;   /* the kernel counted its response head too: bytes only */
	bool fallback;	     /* served by another pool: the route's own had no backend */
	bool limited;	     /* strgd answered 429: over the route's limit */
	bool denied;	     /* strgd answered 403: the route's access lists refused the client */
};

struct stats;

/*
 * strgd's counters: in the kernel path's memory-mapped map when sp is loaded (bpftool and the
 * kernel's own counters sit beside them), else in memory of their own. NULL with errno set.
 */
struct stats *stats_open(struct splice *sp);
void stats_close(struct stats *st);

/* Count one request (no syscall). */
void stats_count(struct stats *st, const struct stats_req *req);
/* A slot starts counting for a new route: clear what an earlier route left in it. */
void stats_slot_reset(struct stats *st, uint32_t slot);
/* A backend connection of pool was closed: it sent bytes no request asked for. */
void stats_unsolicited(struct stats *st, unsigned pool);
uint64_t stats_unsolicited_count(const struct stats *st, unsigned pool);
/* Automatic rollback tripped the route of slot (worker 0 only, as is the count's reader). */
void stats_trip(struct stats *st, uint32_t slot);
/* How often it did since strgd started, or since the slot began counting for its route. */
uint64_t stats_trips(const struct stats *st, uint32_t slot);
/* The shadowed routes' counters (shadowstats.h), kept with the others. */
struct shadowstats *stats_shadow(struct stats *st);
/* strgd's and the kernel's counters of a slot and pool, added up. 0 or -errno. */
int stats_read(struct stats *st, uint32_t slot, unsigned pool, struct strg_stats *out);

#endif
