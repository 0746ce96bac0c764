/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What strgd counts, gathered into one view and written out the ways operators read it:
 * strgctl's table and JSON (which /stats.json serves too) and Prometheus' text format. Every view
 * comes from the same counters: strgd's and the kernel's, per route and pool, added up.
 */
#ifndef STRG_METRICS_H
#define STRG_METRICS_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>
#include <linux/types.h>

#include "core/config.h"
#include "core/pool.h"
#include "lib/reply.h"
#include "observe/trend.h"
#include "strg/guard.h"
#include "strg/splice.h"

/* A route's settings as the views show them (copied: a view outlives the configuration). */
struct metrics_route_cfg {
	unsigned pool, fallback_pool; /* pool indexes */
	bool split, testers, inactive;
	uint16_t permille;	  /* with split: the share of users, 0-1000 */
	uint8_t fallback;	  /* enum route_fallback */
	uint16_t rb_err_permille; /* 0: no rollback */
	uint32_t rb_p99_ms, rb_window_s, rb_min;
};

/* One route and pool (or the requests no route took: route_id 0, route NULL). */
struct metrics_row {
	uint32_t route_id;
	uint32_t slot; /* its counters' slot (STATS_SLOT_UNROUTED for the unrouted row) */
	char *route;   /* its stable text: "[METHODS] [host H] PATH [exact]" */
	bool counted;  /* within the counted routes (the first STRG_ROUTE_SLOTS) */
	bool own;      /* the route's own pool */
	unsigned pool;
	const char *pool_name; /* "-" for the unrouted row */
	struct strg_stats v;
	double rate, rate_5xx; /* requests and 5xx per second over the last window; < 0 unknown */
	uint64_t base_requests, base_5xx; /* at the start of that window (a frame's, for rates) */
	uint64_t base_lat[STRG_LAT_BUCKETS]; /* the latency buckets then: the window's quantiles */
	bool unserved;	    /* the pool has no backend that serves: the route falls back */
	bool tripped;	    /* the route: rolled back by strgd */
	char *trip;	    /* its figures then (NULL when not tripped) */
	uint64_t rollbacks; /* times strgd rolled the route back */
	struct metrics_route_cfg cfg; /* the route's settings */
	/* Its trend (trend.h), oldest first: 5xx in percent and p99 in ms per step, < 0 none. */
	float trend_err[TREND_POINTS], trend_p99[TREND_POINTS];
	unsigned ntrend;
};

struct metrics_backend {
	const char *pool, *name;
	enum backend_state state;
	bool held_down;	    /* refused a connect lately: skipped until its down-hold ends */
	bool healthy;	    /* not ejected by its health */
	const char *health; /* pool_health_word: "healthy", "held-down" or "ejected" */
	unsigned weight;
	uint64_t connect_errors, connect_timeouts, response_timeouts, ejections;
	uint64_t hold_left_ms;	  /* what is left of its ejection's hold (0: none) */
	unsigned ejection_run;	  /* its ejections in a row, as decayed: the hold's multiplier */
	int64_t conns, inflight;  /* open backend connections, requests in flight on them */
	char check_error[80];	  /* the last failed health check ("" none) */
	double check_error_age_s; /* how long ago it failed; < 0 never */
};

struct metrics_worker {
	unsigned long connections, kernel, accepted;
	unsigned ring;		    /* enum ring_feature: what its io_uring runs with */
	unsigned long enters, cqes; /* its loop's io_uring_enter calls and completions */
	unsigned long piped;	    /* response body bytes it spliced through pipes */
};

/* The fleet's store as this host follows it: numbers only (observe knows nothing of etcd). */
struct metrics_store {
	bool on;		   /* a 'store' line: this host is in a fleet */
	int64_t revision;	   /* the store's revision whose table is in force here */
	bool connected;		   /* in touch with the store */
	double stale_s;		   /* out of touch for this long (0: in touch) */
	int64_t rejected_revision; /* the last revision refused (0: none) */
	unsigned hosts;		   /* hosts reporting in nodes/ */
};

struct metrics_view {
	struct metrics_row
		*rows; /* routes in id order, each route's pools; the unrouted row last */
	size_t nrows;
	struct metrics_backend *backends;
	size_t nbackends;
	uint64_t unsolicited[POOL_MAX]; /* backend connections closed for bytes none asked for */
	const char *pool_names[POOL_MAX];
	unsigned npools;
	struct metrics_worker *workers;
	unsigned nworkers;
	uint64_t generation; /* of the route table and pools: each change adds one */
	bool kernel;	     /* the kernel path is loaded */
	bool xdp;	     /* the XDP guard is loaded: its counters follow */
	struct metrics_store store;
	char xdp_iface[16]; /* where it is attached ("" nowhere) */
	struct guard_count xdp_counts[GUARD_REASONS];
	double window_s;   /* what the rates cover (0: no rates yet) */
	uint64_t base_ns;  /* a frame's: when the rates' window began (0: no rates) */
	bool counted;	   /* a frame's: the counters were read (metrics_count) */
	char host[64];	   /* the machine strgd runs on */
	uint64_t uptime_s; /* since this strgd started */
	char *strings;	   /* the names it points to, when detached (metrics_view_detach) */
	struct shadowview_route *shadow; /* the shadowed routes (their own copies of names) */
	size_t nshadow;
};

struct shadowview_route;

/* The rates' memory: counts taken every few seconds on worker 0's timer. */
struct metrics;
struct guard;
struct splice;
struct stats;

/*
 * What a view is read from, on the thread that owns it (worker 0): the live configuration, the
 * counters, the kernel path and the guard (NULL: not loaded), the pools' runtime state, and each
 * worker's connection counts, which its owner reads for the view (atomically: workers run on).
 */
struct metrics_src {
	const struct config *cfg;
	struct stats *st;
	struct splice *sp;
	struct guard *gd;
	struct pool_runtime *prt; /* per pool, shared by the workers (NULL: none yet) */
	unsigned nworkers;
	void (*read_worker)(const struct metrics_src *src, unsigned i, struct metrics_worker *out);
	/* In a fleet: the store's numbers (NULL: not in one). */
	void (*read_store)(void *ctx, struct metrics_store *out);
	void *store_ctx;
	const void *workers; /* what read_worker() reads */
};

struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);
/* Called often (the worker's timer); takes a new sample when the last is old enough. */
void metrics_tick(struct metrics *m, const struct metrics_src *src, uint64_t now_ns);

/* Gather the view (m may be NULL: no rates): metrics_frame, then metrics_count. 0 or -errno. */
int metrics_collect(struct metrics *m, const struct metrics_src *src, uint64_t now_ns,
		    struct metrics_view *out);
/*
 * What a view needs of the live configuration, read on the thread that owns it (worker 0): every
 * route's rows with their slots, names and rollback state, the rates' base, backends, workers,
 * the guard's counters. Cheap (no syscall per route). 0 or -errno.
 */
int metrics_frame(struct metrics *m, const struct metrics_src *src, uint64_t now_ns,
		  struct metrics_view *out);
/*
 * Fill a frame with the counters of st (any thread: they are read atomically, the kernel's with
 * a syscall each) and its rates as of now_ns; rows of other pools that counted nothing go.
 */
int metrics_count(struct stats *st, uint64_t now_ns, struct metrics_view *v);
/*
 * Copy the names a view borrows from the configuration into memory of its own, so that it
 * outlives the configuration (another thread renders it). 0 or -ENOMEM.
 */
int metrics_view_detach(struct metrics_view *v);
void metrics_view_free(struct metrics_view *v);

/* The views. */
json_t *metrics_json(const struct metrics_view *v);
/*
 * A route's rollback limits as the JSON views give them (strgctl route show -j, stats -j):
 * null without rollback (err_permille 0).
 */
json_t *metrics_rollback_json(uint16_t err_permille, uint32_t p99_ms, uint32_t window_s,
			      uint32_t min);
void metrics_text(const struct metrics_view *v, struct reply *r);
void metrics_prometheus(const struct metrics_view *v, struct reply *r);

#endif
