/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The routes' rate limits as strgd takes them (routegw.h's limit): one bucket per route, the
 * same word the verdict program takes from when the kernel path is loaded, and per-key buckets
 * (per address, cookie or header) in a bounded table all workers share.
 */
#ifndef STRG_LIMITER_H
#define STRG_LIMITER_H

#include <stddef.h>
#include <stdint.h>

#include "core/route.h"

struct splice;
struct limiter;

/* Keys the per-key table holds; when a set is full the key least worth keeping gives way. */
#define LIMITER_KEYS 65536

/* The route buckets: the kernel's map when sp is loaded, else memory of its own. NULL + errno. */
struct limiter *limiter_open(struct splice *sp);
void limiter_close(struct limiter *lm);

/*
 * One request of route rt (with a limit) from its bucket: the route's, or key's (len bytes)
 * within it. 0 when it conforms, else the whole seconds until one would (>= 1, Retry-After).
 */
unsigned limiter_take(struct limiter *lm, const struct route *rt, const char *key, size_t len,
		      uint64_t now_ns);
/* A slot starts serving a new route or a new limit: its bucket starts full. */
void limiter_slot_reset(struct limiter *lm, uint32_t slot);

#endif
