/* SPDX-License-Identifier: GPL-2.0-only */
/* io_uring helpers: an SQE getter that never fails, and operation tags packed into user_data. */
#ifndef STRG_RING_H
#define STRG_RING_H

#include <stdint.h>
#include <liburing.h>

/*
 * Operation kinds; stored in the top bits of user_data, above any user-space address (at most 57
 * bits, with five-level paging), so objects need no particular alignment.
 */
enum ring_op {
	RING_OP_NONE = 0, /* completions we ignore (cancel requests) */
	RING_OP_ACCEPT = 1,
	RING_OP_TIMER = 2,
	RING_OP_CRECV = 3, /* recv from the client */
	RING_OP_CSEND = 4, /* send to the client */
	RING_OP_BRECV = 5, /* recv from the backend */
	RING_OP_BSEND = 6, /* send to the backend */
	RING_OP_CONNECT = 7,
	RING_OP_WATCH = 8, /* poll of a spliced backend socket; RING_OP_WATCH + pool index */
	RING_OP_WATCH_END = 24,
	RING_OP_CWATCH = 24,	 /* poll of a spliced client socket for its FIN */
	RING_OP_EVENTS = 25,	 /* the splice's event ring buffer (not a connection's) */
	RING_OP_CTL_ACCEPT = 26, /* the control socket's listener */
	RING_OP_CTL_RECV = 27,	 /* a control connection (struct ctl_conn) */
	RING_OP_CTL_SEND = 28,
	RING_OP_WAKE = 29,	  /* another worker: a new configuration is live */
	RING_OP_ACK = 30,	  /* to worker 0: a worker took the new configuration */
	RING_OP_HTTP_ACCEPT = 31, /* the metrics listener (metricsrv.c) */
	RING_OP_HTTP_RECV = 32,
	RING_OP_HTTP_SEND = 33,
	RING_OP_HC_CONNECT = 34, /* an active health check (health.c) */
	RING_OP_HC_SEND = 35,
	RING_OP_HC_RECV = 36,
	RING_OP_METRICS = 37, /* to worker 0: the metrics listener asks for a frame (metricsrv.c) */
	RING_OP_RESTART = 40, /* strgctl restart: the new strgd's answer (proxy.c) */
};

#define RING_OP_SHIFT 58
#define RING_OBJ_MASK ((1ull << RING_OP_SHIFT) - 1)

static inline uint64_t ring_tag(void *obj, enum ring_op op)
{
	return (uint64_t)(uintptr_t)obj | (uint64_t)op << RING_OP_SHIFT;
}

static inline enum ring_op ring_tag_op(uint64_t ud)
{
	return (enum ring_op)(ud >> RING_OP_SHIFT);
}

static inline void *ring_tag_obj(uint64_t ud)
{
	return (void *)(uintptr_t)(ud & RING_OBJ_MASK);
}

/* Next free SQE; when the submission queue is full, submit what is queued and try again. */
struct io_uring_sqe *ring_get_sqe(struct io_uring *ring);

#endif
