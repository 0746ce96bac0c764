// SPDX-License-Identifier: GPL-2.0-only
/*
 * The kernel fast path: strgd puts a client connection and its backend connections in the
 * sockhash between two requests, and one sk_skb verdict program classifies each later request
 * head on the client side, redirects it to the connection's backend for the route's pool, and
 * carries the response back. Anything it cannot prove safe and complete is passed up to strgd,
 * which handles that request in user space.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "strg/fastscan.h"
#include "strg/gcra.h"
#include "strg/splice.h"

struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, STRG_MAX_SOCKS);
	__type(key, __u64); /* socket cookie */
	__type(value, __u64);
} socks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, STRG_MAX_SOCKS);
	__type(key, __u64); /* socket cookie */
	__type(value, struct strg_sock);
} sockinfo SEC(".maps");

/* Written by the BPF side (phase, counters); strgd creates and reads entries. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, STRG_MAX_CONNS);
	__type(key, __u64); /* client socket cookie */
	__type(value, struct strg_conn);
} conns SEC(".maps");

/* Written by strgd only: backends per pool and when the kernel may take over. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, STRG_MAX_CONNS);
	__type(key, __u64); /* client socket cookie */
	__type(value, struct strg_conn_ctl);
} conn_ctl SEC(".maps");

/*
 * The route tables: hashes of path prefixes that strgd creates, sized for the table, in two
 * slots; route_live names the one lookups read. strgd writes a change into the other slot and
 * switches it in with one store to route_live (user/kernel/routemap.c).
 */
struct route_map {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1); /* the template's: strgd sizes each published map itself */
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct strg_route_key);
	__type(value, struct strg_route_val);
};

/*
 * Unused by the program: declaring one makes clang emit the key and value types in BTF (through
 * the outer map alone they stay forward declarations), and strgd names the fields of each map it
 * publishes with them, so bpftool prints them.
 */
struct route_map route_map_btf SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct route_map);
} routes SEC(".maps");

/* Written by strgd only: 0 no table (every request passed up), else 1 + the live slot. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} route_live SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, STRG_STATS_KEYS);
	__type(key, __u32); /* slot * STRG_POOLS_MAX + pool */
	__type(value, struct strg_stats);
} kstats SEC(".maps");

/* Counters of the requests strgd carries itself: mmapped by strgd, no syscall per request. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, STRG_STATS_KEYS);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32); /* slot * STRG_POOLS_MAX + pool */
	__type(value, struct strg_stats);
} ustats SEC(".maps");

/*
 * Rate-limit buckets of the routes with a route-wide limit, per counters slot: taken here for
 * the requests the kernel carries and by strgd (mmapped) for the ones it carries.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, STRG_ROUTE_SLOTS);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32); /* the route's counters slot */
	__type(value, struct strg_limit);
} limits SEC(".maps");

/*
 * Passive health of requests the kernel carries: per backend (pool * STRG_BACKENDS_MAX + index),
 * the 5xx answers in a row. The verdict adds one per 5xx and zeroes it at any other final
 * status; strgd (mmapped) takes the count and zeroes it when it ejects the backend.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, STRG_KFAIL_KEYS);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, __u64); /* 8 bytes: an mmapped array's elements are 8-byte aligned */
} kfails SEC(".maps");

/*
 * Per live route and pool, named, for bpftool (strgd refreshes it every second; the program never
 * reads it: declaring it here gives its key and value their BTF).
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, (STRG_ROUTE_SLOTS + 1) * STRG_POOLS_MAX);
	__type(key, struct strg_counter_key);
	__type(value, struct strg_route_counters);
} counters SEC(".maps");

/*
 * strgd's only wake-up source for a connection the kernel owns: a pending recv on the socket
 * itself would be woken for every redirected skb as well.
 */
struct events_ring {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
};

/* One ring per strgd worker (strgd fills the slots): events go to the connection's owner. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, STRG_MAX_WORKERS);
	__type(key, __u32);
	__array(values, struct events_ring);
} events SEC(".maps");

/* Per-CPU scratch: the head bytes and the scanner state (too big for the BPF stack). */
struct scratch {
	char buf[STRG_FS_MAX_HEAD];
	__u32 len;
	int verdict;
	struct strg_req_scan rq;
	struct strg_resp_scan rs;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch SEC(".maps");

static __always_inline struct strg_stats *stats_of(__u32 slot, __u32 pool)
{
	__u32 key = slot * STRG_POOLS_MAX + pool;

	if (slot >= STRG_ROUTE_SLOTS || pool >= STRG_POOLS_MAX)
		return NULL;
	return bpf_map_lookup_elem(&kstats, &key);
}

/* bpf_loop() wants its context on the stack: it carries the scratch pointer. */
struct loop_ctx {
	struct scratch *s;
};

static long req_step_cb(__u32 i, struct loop_ctx *lc)
{
	struct scratch *s = lc->s;
	int r;

	if (i >= STRG_FS_MAX_HEAD)
		return 1;
	r = strg_req_step(&s->rq, (__u8)s->buf[i]);
	if (r == STRG_FS_MORE)
		return 0;
	s->verdict = r;
	return 1;
}

static long resp_step_cb(__u32 i, struct loop_ctx *lc)
{
	struct scratch *s = lc->s;
	int r;

	if (i >= STRG_FS_MAX_HEAD)
		return 1;
	r = strg_resp_step(&s->rs, (__u8)s->buf[i]);
	if (r == STRG_FS_MORE)
		return 0;
	s->verdict = r;
	return 1;
}

/* Copy the first n bytes of the skb into the scratch buffer. */
static __always_inline int load_head(struct __sk_buff *skb, struct scratch *s, __u32 n)
{
	if (n > STRG_FS_MAX_HEAD)
		n = STRG_FS_MAX_HEAD;
	if (n == 0)
		return -1;
	s->len = n;
	return bpf_skb_load_bytes(skb, 0, s->buf, n);
}

static __always_inline bool cand_matches(const struct strg_route_cand *c, __u32 method,
					 __u64 host_hash, bool whole_path)
{
	if (c->methods && !(c->methods & (1u << method)))
		return false;
	if (c->host_hash && c->host_hash != host_hash)
		return false;
	if ((c->flags & STRG_CAND_EXACT) && !whole_path)
		return false;
	return true;
}

/* Best candidate at one prefix, or NULL; *user set when the prefix needs user space. */
static __always_inline const struct strg_route_cand *match_prefix(void *table, __u64 hash,
								  __u32 len, __u32 method,
								  __u64 host_hash, bool whole,
								  bool *user)
{
	struct strg_route_key key = {.len = len, .hash = hash};
	struct strg_route_val *v = bpf_map_lookup_elem(table, &key);

	if (!v)
		return NULL;
	if (v->flags & STRG_CAND_USER) {
		*user = true;
		return NULL;
	}
	for (int i = 0; i < STRG_ROUTE_CANDS; i++) {
		if (i >= v->ncands)
			break;
		if (cand_matches(&v->cands[i], method, host_hash, whole))
			return &v->cands[i];
	}
	return NULL;
}

/* Route of the scanned request: longest '/'-bounded prefix first, the root "/" last. */
static __always_inline const struct strg_route_cand *route_lookup(struct strg_req_scan *rq,
								  bool *user)
{
	const struct strg_route_cand *c;
	__u32 zero = 0, n = rq->ndepth, *live = bpf_map_lookup_elem(&route_live, &zero), slot;
	void *t = NULL;

	if (live && *live) {
		slot = *live - 1;
		t = bpf_map_lookup_elem(&routes, &slot);
	}
	if (!t) {
		*user = true; /* no table published: strgd routes everything */
		return NULL;
	}
	for (int i = STRG_FS_MAX_DEPTH - 1; i >= 0; i--) {
		if ((__u32)i >= n)
			continue;
		c = match_prefix(t, rq->prefix_hash[i], rq->prefix_len[i], rq->method,
				 rq->host_hash, rq->prefix_len[i] == rq->path_len, user);
		if (c || *user)
			return c;
	}
	/* The root: FNV-1a of "/". */
	return match_prefix(t, strg_fnv_step(STRG_FNV_OFFSET, '/'), 1, rq->method, rq->host_hash,
			    rq->path_len == 1, user);
}

/* The access log's sample: 0 off, else one kernel-carried request in N (set before loading). */
const volatile __u32 access_sample = 0;

/* Whether this request is logged, and what the log needs of it kept until its response. */
static __always_inline void log_pick(struct strg_conn *cn, const struct scratch *s, __u32 route_id)
{
	__u32 off = 0;

	cn->route_id = route_id;
	cn->log =
		access_sample && (access_sample == 1 || bpf_get_prandom_u32() % access_sample == 0);
	if (!cn->log)
		return;
	cn->log_in = (__u64)s->rq.pos + s->rq.content_length;
	/* The path follows the method and its space (at most "OPTIONS "). */
	for (int i = 0; i < 8; i++) {
		if (s->buf[i] == ' ') {
			off = (__u32)i + 1;
			break;
		}
	}
	off &= 15;
	__builtin_memcpy(cn->log_path, s->buf + off, STRG_LOG_PATH);
	cn->log_path_len = s->rq.path_len < STRG_LOG_PATH ? s->rq.path_len : STRG_LOG_PATH;
}

/* Room for an event in the ring of the worker that owns the connection, or NULL. */
static __always_inline void *event_reserve(const struct strg_sock *si, __u64 size)
{
	__u32 worker = si->worker;
	void *ring = bpf_map_lookup_elem(&events, &worker);

	return ring ? bpf_ringbuf_reserve(ring, size, 0) : NULL;
}

static __always_inline void log_response(const struct strg_sock *si, const struct strg_conn *cn,
					 __u32 status, __u64 bytes_out, __u64 us)
{
	struct strg_access_event *e = event_reserve(si, sizeof(*e));

	if (!e)
		return; /* full: this line is lost, the counters still have the request */
	e->ev.client = si->client;
	e->ev.kind = STRG_EV_ACCESS;
	e->ev.pool = cn->pool;
	e->route_id = cn->route_id;
	e->status = status;
	e->method = cn->method;
	e->path_len = cn->log_path_len;
	e->bytes_in = cn->log_in;
	e->bytes_out = bytes_out;
	e->latency_us = us;
	__builtin_memcpy(e->path, cn->log_path, STRG_LOG_PATH);
	bpf_ringbuf_submit(e, 0);
}

static __always_inline void notify(const struct strg_sock *si, __u32 kind, __u32 pool)
{
	struct strg_event *e = event_reserve(si, sizeof(*e));

	if (!e)
		return; /* full: strgd's timer still finds the connection */
	e->client = si->client;
	e->kind = kind;
	e->pool = pool;
	bpf_ringbuf_submit(e, 0);
}

static __always_inline int pass_client(struct __sk_buff *skb, const struct strg_sock *si,
				       struct strg_conn *cn, struct strg_conn_ctl *ctl)
{
	__sync_fetch_and_add(&cn->passed, (__u64)skb->len);
	/* Until strgd first hands the connection over it is reading anyway: no event needed. */
	if (ctl && ctl->idle_at != ~0ULL)
		notify(si, STRG_EV_CLIENT, 0);
	return SK_PASS;
}

/* A response the kernel forwarded the request of but cannot carry: strgd finishes it. */
static __always_inline int pass_backend(struct strg_sock *si, struct strg_conn *cn)
{
	__sync_fetch_and_add(&cn->resp_passed, 1);
	notify(si, STRG_EV_BACKEND, si->pool);
	return SK_PASS;
}

/*
 * Backend bytes while no request of the kernel's is outstanding on that backend: never for the
 * client. Dropped here; strgd closes that backend connection when told.
 */
static __always_inline int drop_unsolicited(struct strg_sock *si)
{
	notify(si, STRG_EV_UNSOLICITED, si->pool);
	return SK_DROP;
}

/*
 * strgd takes what follows once the response the kernel carries is done. Flag first, then look
 * at the phase; response_done() does the opposite, so one of the two sees the other and the
 * phase ends USER.
 */
static __always_inline int pass_after_response(struct __sk_buff *skb, const struct strg_sock *si,
					       struct strg_conn *cn, struct strg_conn_ctl *ctl)
{
	__sync_lock_test_and_set(&cn->user_after, 1);
	if (__sync_fetch_and_add(&cn->phase, 0) == STRG_PH_IDLE)
		__sync_val_compare_and_swap(&cn->phase, STRG_PH_IDLE, STRG_PH_USER);
	return pass_client(skb, si, cn, ctl);
}

/*
 * The rest of a body the kernel is carrying goes where its head went, even when strgd no longer
 * forwards new requests there (a drained backend finishes it).
 */
static __always_inline int request_body(struct __sk_buff *skb, const struct strg_sock *si,
					struct strg_conn *cn, struct strg_conn_ctl *ctl)
{
	__u64 backend_body = cn->req_backend;
	struct strg_stats *st;

	if (skb->len <= cn->req_left) {
		cn->req_left -= skb->len;
		cn->req_last_ns = bpf_ktime_get_ns();
		if (!cn->req_left)
			cn->req_end_ns = cn->req_last_ns;
		st = stats_of(cn->slot, cn->pool);
		if (st)
			st->bytes_in += skb->len;
		return bpf_sk_redirect_hash(skb, &socks, &backend_body, 0);
	}
	/*
	 * The body ends inside this skb and more follows: an skb cannot be split, so strgd sends
	 * the tail on and handles what follows. The request ended now.
	 */
	__sync_fetch_and_add(&cn->tail_owed, cn->req_left);
	cn->req_left = 0;
	cn->req_end_ns = bpf_ktime_get_ns();
	return pass_after_response(skb, si, cn, ctl);
}

/* The kernel carries the request whose head s holds to backend, by route candidate c. */
static __always_inline int kernel_request(struct __sk_buff *skb, struct strg_conn *cn,
					  struct scratch *s, const struct strg_route_cand *c,
					  __u64 backend)
{
	struct strg_stats *st;

	cn->pool = c->pool;
	cn->slot = c->slot;
	cn->method = s->rq.method;
	cn->req_ns = bpf_ktime_get_ns();
	cn->req_body = s->rq.content_length;
	cn->req_left = s->rq.content_length - (skb->len - s->rq.pos);
	cn->req_end_ns = cn->req_left ? 0 : cn->req_ns;
	cn->req_last_ns = cn->req_ns;
	cn->req_backend = backend;
	cn->user_after = 0;
	log_pick(cn, s, c->route_id);
	cn->phase = STRG_PH_KREQ;
	st = stats_of(c->slot, c->pool);
	if (st) {
		st->route_id = c->route_id;
		st->pool = c->pool;
		st->requests++;
		st->fast++;
		st->bytes_in += skb->len;
	}
	return bpf_sk_redirect_hash(skb, &socks, &backend, 0);
}

/*
 * A route with a limit: one request taken from its bucket, which strgd shares. Over the limit
 * (or the bucket too busy to take from) the request goes up, and strgd answers 429 when its
 * own take agrees: a refused take costs the bucket nothing.
 */
static __always_inline bool within_limit(const struct strg_route_cand *c)
{
	struct strg_limit *l;
	__u32 slot = c->slot;
	__u64 wait;

	if (!(c->flags & STRG_CAND_LIMIT))
		return true;
	l = bpf_map_lookup_elem(&limits, &slot);
	if (!l)
		return false;
	return strg_gcra_take(&l->tat_ns, bpf_ktime_get_ns(), c->limit_interval_ns,
			      c->limit_tolerance_ns, &wait) == STRG_GCRA_OK;
}

static __always_inline int client_bytes(struct __sk_buff *skb, const struct strg_sock *si,
					struct strg_conn *cn)
{
	__u64 client = si->client;
	struct strg_conn_ctl *ctl = bpf_map_lookup_elem(&conn_ctl, &client);
	const struct strg_route_cand *c;
	struct loop_ctx lc;
	struct scratch *s;
	__u32 zero = 0, phase = cn->phase;
	__u64 backend;
	bool user = false;

	if (cn->req_left)
		return request_body(skb, si, cn, ctl);
	/* Pipelined while the kernel carries a response: strgd takes this request after it. */
	if (phase == STRG_PH_KREQ || phase == STRG_PH_KBODY)
		return pass_after_response(skb, si, cn, ctl);
	if (phase == STRG_PH_USER) {
		/* strgd hands back only once it consumed every byte passed to it. */
		if (!ctl || ctl->idle_at != cn->passed)
			return pass_client(skb, si, cn, ctl);
		if (__sync_val_compare_and_swap(&cn->phase, STRG_PH_USER, STRG_PH_IDLE) !=
		    STRG_PH_USER)
			return pass_client(skb, si, cn, ctl);
	}
	s = bpf_map_lookup_elem(&scratch, &zero);
	/* The head must lie in the first STRG_FS_MAX_HEAD bytes; body bytes may follow it. */
	if (!s || !ctl || load_head(skb, s, skb->len))
		goto to_user;
	__builtin_memset(&s->rq, 0, sizeof(s->rq));
	s->verdict = STRG_FS_PASS;
	lc.s = s;
	bpf_loop(s->len, req_step_cb, &lc, 0);
	/* Complete, and nothing after the head but (part of) its Content-Length body. */
	if (s->verdict != STRG_FS_DONE || s->rq.pos > skb->len ||
	    skb->len - s->rq.pos > s->rq.content_length)
		goto to_user;
	c = route_lookup(&s->rq, &user);
	if (!c || user || (c->flags & STRG_CAND_USER) || c->pool >= STRG_POOLS_MAX)
		goto to_user;
	backend = ctl->backend[c->pool & (STRG_POOLS_MAX - 1)];
	if (backend && within_limit(c))
		return kernel_request(skb, cn, s, c, backend);
to_user:
	cn->phase = STRG_PH_USER;
	return pass_client(skb, si, cn, ctl);
}

/* v when below max, else 0; the barrier stops clang from folding the check into an earlier one. */
static __always_inline __u32 index_below(__u32 v, __u32 max)
{
	asm volatile("" : "+r"(v));
	if (v >= max)
		v = 0;
	return v;
}

/* The kernel-carried response is complete: idle again, or strgd's turn if it holds a request. */
static __always_inline void response_done(const struct strg_sock *si, struct strg_conn *cn)
{
	__sync_lock_test_and_set(&cn->phase, STRG_PH_IDLE);
	if (__sync_fetch_and_add(&cn->user_after, 0)) {
		__sync_val_compare_and_swap(&cn->phase, STRG_PH_IDLE, STRG_PH_USER);
		notify(si, STRG_EV_CLIENT, 0); /* the request strgd held back may go now */
	}
}

/* More of a response body the kernel carries (phase KBODY). */
static __always_inline int response_body(struct __sk_buff *skb, struct strg_sock *si,
					 struct strg_conn *cn, struct strg_stats *st)
{
	__u64 client = si->client;

	if (skb->len > cn->resp_left) {
		/*
		 * The end of the body and bytes nobody asked for in one skb, which cannot be split
		 * here: strgd sends on what the response is owed, drops the rest.
		 */
		cn->resp_owed = cn->resp_left;
		cn->phase = STRG_PH_USER;
		return pass_backend(si, cn);
	}
	cn->resp_left -= skb->len;
	__sync_fetch_and_add(&cn->out, (__u64)skb->len);
	if (st)
		st->bytes_out += skb->len;
	if (!cn->resp_left)
		response_done(si, cn);
	return bpf_sk_redirect_hash(skb, &socks, &client, 0);
}

/* A 5xx extends the backend's run of them, another final status ends it (kfails). */
static __always_inline void count_failure(const struct strg_sock *si, __u32 status)
{
	__u32 key = si->pool * STRG_BACKENDS_MAX + si->backend;
	__u64 *run;

	if (status < 200 || si->pool >= STRG_POOLS_MAX || si->backend >= STRG_BACKENDS_MAX)
		return;
	run = bpf_map_lookup_elem(&kfails, &key);
	if (!run)
		return;
	if (status >= 500)
		__sync_fetch_and_add(run, 1);
	else if (*run)
		*run = 0;
}

/* A response head the kernel carries: its status class, latency and bytes; its log line. */
static __always_inline void count_response(struct __sk_buff *skb, struct strg_sock *si,
					   struct strg_conn *cn, struct scratch *s,
					   struct strg_stats *st, __u32 head)
{
	/* Latency runs from the end of the request: the client's pace is not the pool's. */
	__u64 now = bpf_ktime_get_ns(), end = cn->req_end_ns;
	__u64 us = end && now > end ? (now - end) / 1000 : 0;
	__u32 cls = index_below(s->rs.status / 100, STRG_STATUS_CLASSES);

	if (st) {
		st->status[cls]++;
		st->latency_us_log2[index_below(strg_lat_bucket(us), STRG_LAT_BUCKETS)]++;
		st->latency_us_sum += us;
		st->bytes_out += skb->len;
	}
	if (cn->log)
		log_response(si, cn, s->rs.status, (__u64)head + s->rs.content_length,
			     (now - cn->req_ns) / 1000);
	count_failure(si, s->rs.status);
}

static __always_inline int backend_bytes(struct __sk_buff *skb, struct strg_sock *si,
					 struct strg_conn *cn)
{
	__u64 client = si->client, body;
	__u32 zero = 0, head, phase = cn->phase;
	struct strg_stats *st;
	struct loop_ctx lc;
	struct scratch *s;

	/*
	 * strgd's own exchange (or one it took over): it reads these itself. The event lets it
	 * see bytes that come while it has no exchange going: unasked for.
	 */
	if (phase == STRG_PH_USER) {
		notify(si, STRG_EV_BACKEND, si->pool);
		return SK_PASS;
	}
	/* Between requests, or from a pool the kernel's request did not go to: nobody asked. */
	if (phase == STRG_PH_IDLE || si->pool != cn->pool)
		return drop_unsolicited(si);
	/* Only the bytes the kernel carries are counted here: no lookup for passed ones. */
	st = stats_of(cn->slot, cn->pool);
	if (phase == STRG_PH_KBODY)
		return response_body(skb, si, cn, st);
	s = bpf_map_lookup_elem(&scratch, &zero);
	if (!s || load_head(skb, s, skb->len))
		goto to_user;
	__builtin_memset(&s->rs, 0, sizeof(s->rs));
	s->rs.req_method = cn->method;
	s->verdict = STRG_FS_PASS;
	lc.s = s;
	bpf_loop(s->len, resp_step_cb, &lc, 0);
	if (s->verdict != STRG_FS_DONE)
		goto to_user;
	head = s->rs.pos;
	if (head > skb->len)
		goto to_user;
	body = skb->len - head;
	if (body > s->rs.content_length)
		goto to_user; /* more than the response: strgd reads it from its head */
	count_response(skb, si, cn, s, st, head);
	cn->resp_left = s->rs.content_length - body;
	__sync_fetch_and_add(&cn->out, (__u64)skb->len);
	if (cn->resp_left)
		cn->phase = STRG_PH_KBODY;
	else
		response_done(si, cn);
	return bpf_sk_redirect_hash(skb, &socks, &client, 0);
to_user:
	/* strgd reads this response from the backend socket and finishes it. */
	cn->resp_owed = 0;
	cn->phase = STRG_PH_USER;
	return pass_backend(si, cn);
}

/* libbpf 1.1 does not know "sk_skb/verdict": plain "sk_skb", attached as BPF_SK_SKB_VERDICT. */
SEC("sk_skb")
int strg_verdict(struct __sk_buff *skb)
{
	__u64 cookie = bpf_get_socket_cookie(skb);
	struct strg_sock *si = bpf_map_lookup_elem(&sockinfo, &cookie);
	struct strg_conn *cn;
	__u64 client;

	/*
	 * A FIN comes as an skb of no bytes (tests/kernel, fin_runs_verdict_on_empty_skb): it
	 * is neither a request nor a response, and changes no state; strgd sees the end through
	 * its POLLRDHUP watch.
	 */
	if (!si || !skb->len)
		return SK_PASS;
	client = si->client;
	cn = bpf_map_lookup_elem(&conns, &client);
	if (!cn)
		return SK_PASS;
	if (si->role == STRG_ROLE_CLIENT)
		return client_bytes(skb, si, cn);
	return backend_bytes(skb, si, cn);
}

char LICENSE[] SEC("license") = "GPL";
