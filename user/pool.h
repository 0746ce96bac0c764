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

/*
 * What choosing a backend changes, kept apart from the pool's configuration (which every
 * worker shares read-only): one per pool, shared by the workers too, so the round robin and the
 * down marks are the pool's, whichever worker connects. The functions below take its lock.
 */
struct pool_runtime {
	atomic_flag lock;
	struct {
		uint64_t down_until_ns; /* CLOCK_MONOTONIC; 0 = not held down */
		int current;		/* smooth weighted round robin */
		/* counters (atomic, no lock): connects refused or failed, connects timed out, */
		/* responses that did not come within timeout server */
		uint64_t connect_errors, connect_timeouts, response_timeouts;
	} b[POOL_MAX_BACKENDS];
};

struct pool {
	char name[POOL_NAME_MAX + 1];
	unsigned nbackends;
	bool proxy_protocol; /* send a PROXY protocol v2 header on each new connection */
	struct pool_backend backends[POOL_MAX_BACKENDS];
};

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
