/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The shadow's figures as operators read them: strgctl shadow show (text and JSON, which
 * /stats.json and the status page carry too) and Prometheus' strg_shadow_* families.
 */
#ifndef STRG_SHADOWVIEW_H
#define STRG_SHADOWVIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#include "lib/reply.h"
#include "observe/shadowstats.h"

/* A shadowed route as a view names it, with its figures. */
struct shadowview_route {
	char *route;  /* its key: "[METHODS] [host H] PATH [exact]" */
	char *pool;   /* the shadow pool */
	char *legacy; /* the route's own pool */
	uint16_t permille, noise_permille, alert_permille;
	struct shadowstats_snap *snap;
};

/* One route: figures, fields (noise apart), latency side by side; the ring with ring. */
json_t *shadowview_json(const struct shadowview_route *r, bool ring);
void shadowview_text(const struct shadowview_route *r, bool ring, struct reply *out);
/* Every route's strg_shadow_* families (nothing when n is 0). */
void shadowview_prometheus(const struct shadowview_route *v, size_t n, struct reply *out);
/* The share of comparisons that mismatched, in per mille; -1 below SHADOWSTATS_MIN_ALERT. */
int shadowview_mismatch_permille(const struct shadowstats_snap *s);
void shadowview_route_free(struct shadowview_route *r);

#endif
