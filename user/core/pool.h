/* SPDX-License-Identifier: GPL-2.0-only */
/* Backend pools: named sets of backends, weighted round robin, passive health, admin states. */
#ifndef STRG_POOL_H
#define STRG_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>

#define POOL_NAME_MAX	  31
#define POOL_MAX_BACKENDS 64
#define POOL_MAX	  16
/* pool_pick's unit of weight: room for a slow start's ramp below a weight of 1 */
#define POOL_WEIGHT_SCALE 64

/* What an operator says of a backend; only "ready" ones get new connections. */
enum backend_state {
	BACKEND_READY = 0,
	BACKEND_DRAIN = 1,   /* no new connections; those open finish their requests */
	BACKEND_MAINT = 2,   /* likewise, for maintenance */
	BACKEND_REMOVED = 3, /* deleted: the slot is kept so in-flight references stay valid */
};

struct pool_backend {
	struct sockaddr_storage addr;
	socklen_t addrlen;
	char name[64]; /* "host:port" as configured, for logs */
	enum backend_state state;
	unsigned weight; /* share of new connections, 1-256 (0: none) */
};

/* A pool's health settings ("health" and "eject" in the configuration). */
struct pool_health {
	bool active;	      /* an HTTP check runs against each backend */
	char path[128];	      /* its request target */
	unsigned status;      /* the status that means healthy (0: any 2xx or 3xx) */
	uint32_t interval_ms; /* between two checks of a backend */
	uint32_t timeout_ms;  /* for the whole check (connect, request, status line) */
	unsigned rise, fall;  /* consecutive passes that admit, failures that eject */
	unsigned eject_after; /* consecutive failed requests that eject (0: never) */
	bool eject_5xx;	      /* 5xx answers and response timeouts count as failed requests
			       * (else connects that fail or time out only) */
	/* The hold of an ejection by failed requests grows with the ejections in a row: the k-th
	 * holds hold_ms << (k - 1), at most max_hold_ms; each decay_ms it serves without one
	 * takes one off k. A check does not admit a backend before its hold ends. */
	uint32_t hold_ms, max_hold_ms, decay_ms;
	uint32_t slowstart_ms; /* a backend let back in ramps to its weight over this (0: off) */
};

/* A backend's health: healthy, or ejected (by its failed requests or its checks). */
enum backend_health {
	HEALTH_UP = 0,
	HEALTH_DOWN = 1,
};

/*
 * What choosing a backend changes, kept apart from the pool's configuration (which every
 * worker shares read-only): one per pool, shared by the workers too, so the round robin, the
 * down marks and the health are the pool's, whichever worker connects. Functions that change
 * several fields take its lock; counters and gauges are atomic.
 */
struct pool_runtime {
	atomic_flag lock;
	uint64_t health_gen; /* incremented at every change of a backend's health (atomic) */
	struct {
		uint64_t down_until_ns; /* CLOCK_MONOTONIC; 0 = not held down */
		uint64_t hold_until_ns; /* the last ejection's hold ends (CLOCK_MONOTONIC) */
		uint64_t back_ns;	/* let back in after an ejection (0: never ejected) */
		unsigned run;		/* ejections in a row, as decayed (the hold's multiplier) */
		int current;		/* smooth weighted round robin */
		int health;		/* enum backend_health (atomic) */
		unsigned fails;		/* consecutive failed requests (passive health) */
		unsigned streak;	/* the active check's consecutive passes or failures */
		/* counters (atomic, no lock): connects refused or failed, connects timed out, */
		/* responses that did not come within timeout server, health changes */
		uint64_t connect_errors, connect_timeouts, response_timeouts, ejections, admissions;
		/* gauges (atomic): open backend connections, requests in flight on them */
		int64_t conns, inflight;
		/* the last failed health check: why ("" none yet), when (CLOCK_MONOTONIC); lock */
		char check_error[80];
		uint64_t check_error_ns;
	} b[POOL_MAX_BACKENDS];
};

struct pool {
	char name[POOL_NAME_MAX + 1];
	unsigned nbackends;
	bool proxy_protocol; /* send a PROXY protocol v2 header on each new connection */
	struct pool_health health;
	struct pool_backend backends[POOL_MAX_BACKENDS];
};

/* An empty pool named name, with the default health settings (no check, eject after 3). */
void pool_init(struct pool *p, const char *name);
/*
 * Index of the next backend for a new connection, or -1 when none is ready at now_ns: smooth
 * weighted round robin (equal weights give plain round robin) over backends that are "ready",
 * have a weight and are not held down after a refused connect.
 */
int pool_pick(const struct pool *p, struct pool_runtime *rt, uint64_t now_ns);
/* A connect to this backend failed (timeout: it timed out): counted, and skipped for hold_ns. */
void pool_connect_failed(const struct pool *p, struct pool_runtime *rt, unsigned idx, bool timeout,
			 uint64_t now_ns, uint64_t hold_ns);
/* This backend did not answer within timeout server: counted. */
void pool_response_timeout(struct pool_runtime *rt, unsigned idx);
/* Whether it is held down at now_ns (for views: down marks expire by themselves). */
bool pool_held_down(struct pool_runtime *rt, unsigned idx, uint64_t now_ns);
/*
 * A backend's health in the one word every view uses: "ejected" (its health check or its failed
 * requests took it out), "held-down" (a refused connect: skipped until down-hold ends) or
 * "healthy". A backend is down (no new connection goes to it) unless healthy.
 */
const char *pool_health_word(struct pool_runtime *rt, unsigned idx, uint64_t now_ns);
/* A health check of this backend failed: why, kept for the views (pool_check_error). */
void pool_check_failed(struct pool_runtime *rt, unsigned idx, const char *why, uint64_t now_ns);
/* The last failed check's reason into out ("" when none): returns when it failed (0: never). */
uint64_t pool_check_error(struct pool_runtime *rt, unsigned idx, char *out, size_t len);
/* Whether an open connection to this backend may carry another request (ready and healthy). */
bool pool_backend_serves(const struct pool *p, struct pool_runtime *rt, unsigned idx);
/* Whether any backend would take a new connection at now_ns (else the route falls back). */
bool pool_available(const struct pool *p, struct pool_runtime *rt, uint64_t now_ns);
/*
 * A request to this backend failed (connect, timeout, or a 5xx when the pool counts those):
 * after p->health.eject_after in a row it is ejected for its hold (pool_health's growing
 * hold), then the pool's check admits it again when it has one, else it serves again at the
 * hold's end. Returns true when this ejected it.
 */
bool pool_request_failed(const struct pool *p, struct pool_runtime *rt, unsigned idx,
			 uint64_t now_ns);
/*
 * Why pool_request_failed ejected it, for the log and notify: the failures, the last one
 * (what), the hold and its place in the run ("... held 8s (ejection 3 in a row)").
 */
void pool_ejection_text(const struct pool *p, struct pool_runtime *rt, unsigned idx,
			const char *what, char *buf, size_t len);
/* The hold of the run-th ejection in a row (run >= 1) under h. */
uint64_t pool_hold_ns(const struct pool_health *h, unsigned run);
/* Whether a check may admit this backend at now_ns (no hold in force). */
bool pool_hold_over(struct pool_runtime *rt, unsigned idx, uint64_t now_ns);
/* What is left of its ejection's hold at now_ns (0: none), and its run of ejections. */
uint64_t pool_hold_left_ns(struct pool_runtime *rt, unsigned idx, uint64_t now_ns);
unsigned pool_ejection_run(struct pool_runtime *rt, unsigned idx);
/* Its check admits it again: healthy, its slow start begins. True when that changed it. */
bool pool_admit(struct pool_runtime *rt, unsigned idx, uint64_t now_ns);
/* Its weight at now_ns, times POOL_WEIGHT_SCALE: ramping during a slow start. */
unsigned pool_weight_now(const struct pool *p, struct pool_runtime *rt, unsigned idx,
			 uint64_t now_ns);
/* A request to this backend went well: its run of failures is over. */
void pool_request_ok(struct pool_runtime *rt, unsigned idx);
/* Set a backend's health; true when that changed it (counted, health_gen moves on). */
bool pool_set_health(struct pool_runtime *rt, unsigned idx, enum backend_health h);
enum backend_health pool_health_of(struct pool_runtime *rt, unsigned idx);
/* Gauges: a backend connection opened (+1) or closed (-1); a request started or ended. */
void pool_conns_add(struct pool_runtime *rt, unsigned idx, int delta);
void pool_inflight_add(struct pool_runtime *rt, unsigned idx, int delta);
/* Skip this backend for hold_ns. */
void pool_mark_down(const struct pool *p, struct pool_runtime *rt, unsigned idx, uint64_t now_ns,
		    uint64_t hold_ns);
void pool_mark_up(const struct pool *p, struct pool_runtime *rt, unsigned idx);
/*
 * Parse "host:port" / "[v6]:port" into a backend. 0 or -EINVAL. A name is resolved once, here,
 * and its first address (getaddrinfo's order) is used.
 */
int pool_backend_parse(struct pool_backend *b, const char *text);
/*
 * Split "host:port" / "[v6]:port" without resolving (host without brackets). 0, -EINVAL when the
 * text is malformed, -ERANGE when the port is not 1..65535: lets callers say which part is wrong.
 */
int pool_addr_split(const char *text, char *host, size_t hostlen, uint16_t *port);
/* The backend named text ("host:port" as configured), or -1. Removed backends are not found. */
int pool_backend_find(const struct pool *p, const char *text);
/* Parse "ready", "drain" or "maint". 0 or -EINVAL. */
int pool_state_parse(const char *s, enum backend_state *out);
const char *pool_state_name(enum backend_state s);

#endif
