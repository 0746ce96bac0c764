/* SPDX-License-Identifier: GPL-2.0-only */
/* Backend pools: named sets of backends, round-robin choice, passive health (down after refusal).
 */
#ifndef STRG_POOL_H
#define STRG_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define POOL_NAME_MAX	  31
#define POOL_MAX_BACKENDS 64
#define POOL_MAX	  16

struct pool_backend {
	struct sockaddr_storage addr;
	socklen_t addrlen;
	char name[64];		/* "host:port" as configured, for logs */
	uint64_t down_until_ns; /* CLOCK_MONOTONIC; 0 = ready */
};

struct pool {
	char name[POOL_NAME_MAX + 1];
	unsigned nbackends;
	unsigned next;	     /* round-robin cursor */
	bool proxy_protocol; /* send a PROXY protocol v2 header on each new connection */
	struct pool_backend backends[POOL_MAX_BACKENDS];
};

/* Index of the next ready backend (round robin), or -1 when none is ready at now_ns. */
int pool_pick(struct pool *p, uint64_t now_ns);
/* A connect to this backend was refused or failed: skip it for hold_ns. */
void pool_mark_down(struct pool *p, unsigned idx, uint64_t now_ns, uint64_t hold_ns);
void pool_mark_up(struct pool *p, unsigned idx);
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

#endif
