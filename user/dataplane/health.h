/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Active health checks ("health POOL http PATH ..."), run by worker 0 on its io_uring: every
 * interval each backend of such a pool gets "GET PATH" on a fresh connection; fall failures in
 * a row eject it, rise passes in a row admit it again. The verdicts land in the pools' shared
 * runtime (pool_set_health), where every worker's next choice sees them.
 */
#ifndef STRG_HEALTH_H
#define STRG_HEALTH_H

#include <stdint.h>
#include <liburing.h>

#include "core/config.h"
#include "core/pool.h"
#include "lib/ring.h"

struct health;

/* An active check's operations, in their range of the ring's (ring.h). */
enum health_op {
	HEALTH_OP_CONNECT = RING_OPS_HEALTH,
	HEALTH_OP_SEND,
	HEALTH_OP_RECV,
};
_Static_assert((unsigned)HEALTH_OP_RECV < (unsigned)RING_OPS_CTL, "health's range overflows");

/* A checker on ring for the pools' runtime prt (POOL_MAX entries). NULL when out of memory. */
struct health *health_open(struct io_uring *ring, struct pool_runtime *prt);
/* Call after the ring is gone (no completion names a check any more). */
void health_close(struct health *hc);
/* The timer: start the checks that are due under cfg, give up on those past their timeout. */
void health_tick(struct health *hc, const struct config *cfg, uint64_t now_ns);
struct splice;
/*
 * Passive health of the requests the kernel carried (sp NULL: none): a backend of a pool that
 * counts 5xx whose kernel-carried answers were 5xx eject_after times in a row is ejected, as
 * strgd's own failed requests eject it. The timer of worker 0.
 */
void health_kernel_failures(const struct config *cfg, struct pool_runtime *prt, struct splice *sp,
			    uint64_t now_ns);
/* A backend's health changed (why: what did it): logged, and told the notify command. */
void health_changed(const struct pool *p, unsigned idx, enum backend_health h, const char *why);
/* A completion of HEALTH_OP_CONNECT, _SEND or _RECV. */
void health_on_cqe(struct health *hc, const struct config *cfg, unsigned op, void *obj, int res);

#endif
