/* SPDX-License-Identifier: GPL-2.0-only */
/* What the connections of one event loop share: its ring, the configuration, the kernel path. */
#ifndef STRG_WORKER_H
#define STRG_WORKER_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <liburing.h>

#include "core/config.h"
#include "lib/clock.h"
#include "lib/connmap.h"
#include "core/http.h"

struct conn;
struct shadow_copy;
struct shadow_idle;
struct splice;
struct stats;
struct limiter;

struct worker {
	unsigned idx;	   /* 0 to workers - 1; worker 0 also serves the control socket */
	unsigned nworkers; /* connection ids are idx + k * nworkers: unique across workers */
	struct io_uring ring;
	struct config *cfg;
	struct splice *sp;	/* NULL: user-space path only */
	struct stats *st;	/* per-route counters */
	struct connmap spliced; /* client socket cookie -> connection the kernel holds */
	struct conn *conns;	/* every open connection */
	unsigned long nconns;
	unsigned long accepted; /* connections accepted since the start (read by worker 0) */
	unsigned long next_id;
	unsigned long spurious;	  /* recvs that woke with EAGAIN on spliced sockets */
	unsigned ring_feat;	  /* enum ring_feature: what its ring runs with */
	unsigned long enters;	  /* io_uring_enter calls of its loop (read by worker 0) */
	unsigned long cqes;	  /* completions its loop handled: cqes / enters = the batch */
	unsigned long piped;	  /* response body bytes spliced through pipes (read by worker 0) */
	bool stopping;		  /* SIGTERM: no new connections, the open ones finish */
	bool auto_user;		  /* "splice auto": busy, its connections stay in user space */
	uint64_t stop_ns;	  /* when the stop began */
	struct pool_runtime *prt; /* per pool: backend choice and down marks (shared) */
	struct srclimit *srclimit; /* connections per source address (shared; NULL: no limit) */
	struct limiter *limiter;   /* the routes' rate-limit buckets (shared) */
	struct http_request req;   /* scratch for the parser: large, used synchronously */
	int xout; /* enum xout of the exchange step running (exchange.c): not in the connection,
		   * which the step may have closed and freed */
	struct __kernel_timespec
		connect_ts;		 /* timeout connect, for the connects' linked timeouts */
	struct shadow_copy *shadows;	 /* copies of requests in flight (shadow.c) */
	struct shadow_idle *shadow_idle; /* copy connections kept alive between copies */
	uint64_t shadow_rng;		 /* which copies also sample noise */
	/*
	 * Called by conn_free before a connection goes (NULL: nothing): what a layer above hangs on
	 * it lets go (the shadow's copy: shadow_conn_free). A hook, so that conn.c stays below
	 * them.
	 */
	void (*conn_freeing)(struct conn *c);
};

#endif
