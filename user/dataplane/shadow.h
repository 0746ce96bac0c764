/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Shadow traffic: a copy of a request of a route with "shadow POOL" goes to a backend of that
 * pool on a connection of its own, once the user's request went to its own pool; the copy's
 * answer is read (its body kept up to max-body), compared with the user's answer
 * (observe/shadowcmp.h) and dropped. A share of the copies ("noise") also goes to the route's
 * own pool a second time: legacy against legacy says which fields differ on every call. The
 * user's exchange only hands bytes over as they pass: it never waits for a copy, and the next
 * request of its connection neither. A copy is never retried; the route's max-inflight, the
 * copy's timeout and max-body bound what copies cost, and every copy dropped is counted by
 * why (observe/shadowstats.h).
 */
#ifndef STRG_SHADOW_H
#define STRG_SHADOW_H

#include <stdbool.h>
#include <stdint.h>

#include "core/http.h"
#include "core/route.h"
#include "lib/ring.h"

/* A copy's connections' operations, in their range of the ring's (ring.h). */
enum shadow_op {
	SHADOW_OP_CONNECT = RING_OPS_SHADOW,
	SHADOW_OP_SEND,
	SHADOW_OP_RECV,
};
_Static_assert((unsigned)SHADOW_OP_RECV < (unsigned)RING_OPS_SHADOW_END,
	       "the shadow's range overflows");

struct conn;
struct worker;
struct shadow_copy;

/*
 * The request just routed (head: as forwarded, head_len bytes) is copied when its route has a
 * shadow that takes its method and its user's bucket (0-999, the canaries' sticky one); the
 * copy hangs on c->shadow until the user's exchange ends. Only for a request that its route's
 * own pool serves (no fallback, no tester's pin).
 */
void shadow_start(struct conn *c, const struct route *rt, const struct http_request *req,
		  const char *buf, const char *head, uint32_t head_len, unsigned bucket);
/* Body bytes of the user's request as they go up (framing and all); done: its last. */
void shadow_request_body(struct conn *c, const char *buf, uint32_t n);
/* The user's request went whole to its pool: the copy goes now. */
void shadow_request_sent(struct conn *c);
/* Bytes of the user's answer as they go down to the client (heads, body, framing). */
void shadow_response(struct conn *c, const char *buf, uint32_t n);
/* The user's exchange ended (complete: its answer is whole); the copy is on its own now. */
void shadow_user_end(struct conn *c, bool complete);
/* The user's connection goes (worker.h's conn_freeing): its copy, if any, ends as cut short. */
void shadow_conn_free(struct conn *c);
/* A completion of a copy's connection (SHADOW_OP_*). */
void shadow_on_cqe(struct worker *w, unsigned op, void *obj, int res);
/* The timer: copies past their timeout are given up. */
void shadow_tick(struct worker *w, uint64_t now_ns);
/*
 * Worker 0's timer: a route whose mismatch rate crossed its "alert" (either way) is logged and
 * told the notify command (events shadow-mismatch and shadow-match), once a second at most.
 */
void shadow_watch(struct worker *w, uint64_t now_ns);
/* The ring is gone: free every copy (no completion will name one). */
void shadow_free_all(struct worker *w);

#endif
