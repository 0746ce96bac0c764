/* SPDX-License-Identifier: GPL-2.0-only */
/* Map keys and values shared by the splice BPF program and strgd (pinned under /sys/fs/bpf/strg).
 */
#ifndef STRG_SPLICE_H
#define STRG_SPLICE_H

/* The includer provides __u32/__u64 (vmlinux.h in BPF, <linux/types.h> in user space). */

#define STRG_MAX_SOCKS	  65536
#define STRG_MAX_CONNS	  32768
#define STRG_POOLS_MAX	  16 /* equals POOL_MAX in user/core/pool.h */
#define STRG_BACKENDS_MAX 64 /* equals POOL_MAX_BACKENDS in user/core/pool.h */
#define STRG_KFAIL_KEYS	  (STRG_POOLS_MAX * STRG_BACKENDS_MAX)
#define STRG_MAX_WORKERS  64   /* strgd event loops, each with its own event ring */
#define STRG_ROUTE_SLOTS  1024 /* routes counted; a slot is reused after a delete */
/* One more slot after the routes' for requests strgd answered before finding a route. */
#define STRG_SLOT_UNROUTED  STRG_ROUTE_SLOTS
#define STRG_STATS_KEYS	    ((STRG_ROUTE_SLOTS + 1) * STRG_POOLS_MAX)
#define STRG_ROUTE_CANDS    4  /* routes sharing one path prefix that the kernel can tell apart */
#define STRG_LAT_BUCKETS    24 /* log2 buckets of microseconds: [0]=<1us ... [23]=>=2^22us */
#define STRG_STATUS_CLASSES 6  /* [0] unknown, [1] 1xx ... [5] 5xx */
#define STRG_LOG_PATH	    64 /* path bytes the kernel keeps for the access log */

/* Route map key: one path prefix of the published table. */
struct strg_route_key {
	__u32 len;  /* prefix length in bytes */
	__u32 pad;  /* zero */
	__u64 hash; /* FNV-1a 64 of the prefix bytes (strg_fnv_step) */
};

enum strg_cand_flags {
	STRG_CAND_EXACT = 1, /* matches the prefix itself only, not its children */
	STRG_CAND_USER = 2,  /* requests on this route need user space (adaptation, split...) */
	STRG_CAND_LIMIT = 4, /* the route has a rate limit: its bucket is limits[slot] */
};

/* One route on a prefix; candidates are stored best first (the user-space precedence order). */
struct strg_route_cand {
	__u64 host_hash; /* FNV-1a 64 of the lowercase host; 0 = any host */
	__u32 methods;	 /* bit (1 << STRG_M_*); 0 = every method */
	__u32 slot;	 /* stats slot of the route */
	__u32 route_id;	 /* the route's stable id, as `strgctl route show` prints it */
	__u16 pool;	 /* pool index */
	__u16 flags;	 /* enum strg_cand_flags */
	/* STRG_CAND_LIMIT: the bucket's GCRA (strg/gcra.h), ns */
	__u64 limit_interval_ns;
	__u64 limit_tolerance_ns;
};

struct strg_route_val {
	__u32 ncands;
	__u32 flags; /* STRG_CAND_USER: more routes on this prefix than the kernel holds */
	struct strg_route_cand cands[STRG_ROUTE_CANDS];
};

/*
 * A route's rate-limit bucket, per counters slot (the "limits" map, mmapped by strgd): the
 * verdict program and every strgd worker take from the same word with compare-and-swap
 * (strg_gcra_take), so the limit holds per host whichever path carries a request. strgd
 * zeroes a slot's word when a route starts using it, or its limit changes.
 */
struct strg_limit {
	__u64 tat_ns; /* written by both sides, compare-and-swap only */
};

/* Connection phase, kept by the verdict program and strgd together. */
enum strg_phase {
	STRG_PH_USER = 0,  /* strgd handles the connection: every byte is passed up */
	STRG_PH_IDLE = 1,  /* between requests: the next client bytes are classified */
	STRG_PH_KREQ = 2,  /* the kernel forwarded a request; its response head is due */
	STRG_PH_KBODY = 3, /* the kernel carries the response body (resp_left bytes to go) */
};

/* Per client connection, keyed by the client socket's cookie; written by the BPF side. */
struct strg_conn {
	__u64 passed;	   /* client bytes passed up to strgd since the socket was established */
	__u64 req_ns;	   /* bpf_ktime_get_ns() when the kernel forwarded the current request */
	__u64 req_end_ns;  /* the same clock when its last byte went to the backend, or was passed
			    * up for strgd to send on (tail_owed); 0 while body bytes are due */
	__u64 req_last_ns; /* the same clock when the last of its bytes came */
	__u64 req_body;	   /* its body's length (Content-Length), bytes */
	__u64 req_backend; /* cookie of the backend socket it went to: its body follows it there
			    * even once strgd forwards no new request to that backend */
	__u64 resp_left;   /* body bytes of the current kernel-carried response still due */
	__u64 out;	   /* response bytes the kernel redirected to the client */
	__u64 req_left;	   /* body bytes of the kernel-forwarded request still to redirect */
	__u64 tail_owed;   /* body bytes passed up inside a larger skb, for strgd to send on */
	__u64 resp_owed;   /* a response passed up mid-body: its body bytes still due (strgd sends
			    * these on and drops what follows); 0: passed up at its head */
	__u32 phase;	   /* enum strg_phase */
	__u32 pool;	   /* pool of the request the kernel forwarded */
	__u32 slot;	   /* stats slot of that request's route */
	__u32 method;	   /* STRG_M_* of that request */
	__u32 user_after;  /* a request was passed up while a kernel response was in flight */
	__u32 resp_passed; /* responses to kernel-forwarded requests passed up for strgd to
			    * finish (counted once each, at their head) */
	/* The access log (its sample picked the current kernel-forwarded request): */
	__u32 log;	    /* log it */
	__u32 route_id;	    /* its route */
	__u32 log_path_len; /* bytes of log_path used (the path, cut at STRG_LOG_PATH) */
	__u32 log_pad;
	__u64 log_in;		      /* request bytes: head and body */
	char log_path[STRG_LOG_PATH]; /* its path, without the query */
};

/* Per client connection, keyed by the client socket's cookie; written by strgd only. */
struct strg_conn_ctl {
	__u64 backend[STRG_POOLS_MAX]; /* backend socket cookie per pool; 0 = none */
	__u64 idle_at; /* the kernel may classify once strg_conn.passed equals this (~0: never) */
};

enum strg_sock_role {
	STRG_ROLE_CLIENT = 1,
	STRG_ROLE_BACKEND = 2,
};

/* Per socket in the sockhash, keyed by its cookie. */
struct strg_sock {
	__u64 client;  /* cookie of the client socket of the connection */
	__u32 role;    /* enum strg_sock_role */
	__u32 pool;    /* backends: the pool they belong to */
	__u32 worker;  /* the strgd worker that owns the connection: its event ring */
	__u32 backend; /* backends: its index in the pool (kfails) */
};

/* Events the verdict sends strgd through the ring buffer. */
enum strg_event_kind {
	STRG_EV_CLIENT = 1,  /* client bytes were passed up, or the kernel's response ended while
			      * strgd held a request back: read the client socket */
	STRG_EV_BACKEND = 2, /* backend bytes were passed up: a response for strgd to finish */
	STRG_EV_UNSOLICITED = 3, /* a backend sent bytes no request asked for; the kernel dropped
				  * them: close that backend connection */
	STRG_EV_ACCESS = 4,	 /* a request the kernel carried, for the access log
				  * (struct strg_access_event) */
};

struct strg_event {
	__u64 client; /* client socket cookie */
	__u32 kind;   /* enum strg_event_kind */
	__u32 pool;   /* STRG_EV_BACKEND: the backend's pool */
};

/* STRG_EV_ACCESS: what the access log says of a request the kernel carried. */
struct strg_access_event {
	struct strg_event ev; /* client, kind, pool */
	__u32 route_id;
	__u32 status;
	__u32 method;	/* STRG_M_* */
	__u32 path_len; /* bytes of path used */
	__u64 bytes_in, bytes_out;
	__u64 latency_us; /* request head to response head (the access log's duration) */
	char path[STRG_LOG_PATH];
};

/* Counters per route slot and pool (key = slot * STRG_POOLS_MAX + pool). */
struct strg_stats {
	__u32 route_id; /* route the slot held when these were counted */
	__u32 pool;
	__u64 requests;
	__u64 bytes_in;	 /* request bytes from clients (heads and bodies) */
	__u64 bytes_out; /* response bytes to clients */
	__u64 fast;	 /* requests classified and carried by the kernel */
	__u64 passed;	 /* requests the kernel passed up to strgd */
	__u64 status[STRG_STATUS_CLASSES];
	/*
	 * Latency: from the end of the request (its last byte forwarded) to the response head,
	 * or to strgd's own 502/504 when it gave up waiting; 0 for a response that came before
	 * the request ended and for strgd's other answers (README "Watching a cutover").
	 */
	__u64 latency_us_log2[STRG_LAT_BUCKETS];
	__u64 latency_us_sum; /* of the same latencies, microseconds */
	__u64 fallback; /* requests of the route another pool served: its own had no backend */
	__u64 limited;	/* strgd's 429s: over the route's limit (strgd counts; also in 4xx) */
	__u64 denied;	/* strgd's 403s: refused by the route's allow/deny lists (also in 4xx) */
};

/*
 * The "counters" map, for operators' tools (bpftool): per live route and pool, strgd's and the
 * kernel's counts added up, named, refreshed by strgd every second.
 */
struct strg_counter_key {
	__u32 route_id; /* 0: the requests no route took */
	__u32 pool;	/* pool index */
};

struct strg_route_counters {
	char route[96]; /* the route's text, "[METHODS] [host H] PATH [exact]" (cut to fit) */
	char pool[32];	/* the pool's name */
	struct strg_stats stats;
};

/*
 * The latency bucket of us microseconds, for strgd and the kernel alike: b such that
 * 2^(b-1) <= us < 2^b, bucket 0 below 1 us, the last bucket everything from 2^(STRG_LAT_BUCKETS
 * - 2) us up. A bounded loop, which the verifier accepts.
 */
static inline __attribute__((always_inline)) __u32 strg_lat_bucket(__u64 us)
{
	__u32 b = 0;

	for (int i = 0; i < STRG_LAT_BUCKETS - 1; i++) {
		if (us < 1)
			break;
		us >>= 1;
		b++;
	}
	return b;
}

/* Add the counts of b to a (per-CPU values, or strgd's and the kernel's). */
static inline void strg_stats_add(struct strg_stats *a, const struct strg_stats *b)
{
	if (b->route_id)
		a->route_id = b->route_id;
	a->requests += b->requests;
	a->bytes_in += b->bytes_in;
	a->bytes_out += b->bytes_out;
	a->fast += b->fast;
	a->passed += b->passed;
	for (int i = 0; i < STRG_STATUS_CLASSES; i++)
		a->status[i] += b->status[i];
	for (int i = 0; i < STRG_LAT_BUCKETS; i++)
		a->latency_us_log2[i] += b->latency_us_log2[i];
	a->latency_us_sum += b->latency_us_sum;
	a->fallback += b->fallback;
	a->limited += b->limited;
	a->denied += b->denied;
}

#endif
