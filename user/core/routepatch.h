/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * "route patch": the options of one route changed, the others kept (routepatch.c), and what a
 * change of a route does to its users, said loudly when it sends more of them to a pool.
 */
#ifndef STRG_ROUTEPATCH_H
#define STRG_ROUTEPATCH_H

#include <stddef.h>

#include "core/config.h"
#include "core/route.h"

/* The options route patch takes, after the route's key (strgctl help, strgctl(8)). */
#define ROUTEPATCH_GRAMMAR                                                                         \
	"[pool POOL] [percent P] [strip-prefix | rewrite NEW | no-rewrite] [testers | "            \
	"no-testers] "                                                                             \
	"[fallback POOL | none | next] [rollback ERR% [p99 MS] [window T] [min N] | no-rollback] " \
	"[limit RATE [burst N] [per ...] | no-limit] [allow CIDR,... | no-allow] "                 \
	"[deny CIDR,... | no-deny] [HEADER-RULE... | no-header-rules] "                            \
	"[shadow POOL [OPTIONS] | no-shadow]"

/*
 * Apply the options argv[0..argc) (ROUTEPATCH_GRAMMAR, any order, each at most once) to s,
 * the route's full spec, then check the whole route as route set would: 0, or -EINVAL with the
 * reason in err. The route's state (inactive, tripped) is kept.
 */
int routepatch_apply(struct config *cfg, int argc, char **argv, struct route_spec *s, char *err,
		     size_t errlen);

/* The share of a route's users its pool gets, in permille: 0 while the route is inactive. */
unsigned routepatch_share(const struct route_spec *s);

/*
 * What a change from old to now does that could surprise: more users sent to a pool (percent
 * up, a split made whole, the route active again, another pool) or testers dropped. Each finding
 * is one line without its newline, passed to fn; returns how many.
 */
int routepatch_surprises(const struct config *cfg, uint32_t id, const struct route_spec *old,
			 const struct route_spec *now, void (*fn)(void *ctx, const char *line),
			 void *ctx);

#endif
