/* SPDX-License-Identifier: GPL-2.0-only */
/* io_uring helpers: an SQE getter that never fails, and operation tags packed into user_data. */
#ifndef STRG_RING_H
#define STRG_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <liburing.h>

/*
 * A completion's operation: a small number stored in the top bits of user_data, above any
 * user-space address (at most 57 bits, with five-level paging), so objects need no particular
 * alignment. This file numbers only what every event loop has; each module numbers its own
 * operations from the base of its range below, in its own header, so that one switch in the event
 * loop dispatches them all and no module's operations are listed here.
 */
enum ring_op {
	RING_OP_NONE = 0,  /* completions nobody waits for (cancel requests) */
	RING_OP_TIMER = 1, /* the loop's own timer */
	RING_OP_WAKE = 2,  /* another thread: look again (a new configuration is live, ...) */
	RING_OP_ACK = 3,   /* another thread: done (a worker took the configuration, a save) */
};

/* The ranges of the modules' operations: [base, end). */
enum ring_range {
	RING_OPS_LOOP = 4, /* the daemon's event loop (daemon/proxy.c) */
	RING_OPS_CONN = 8, /* a connection's, a bit each of its pending mask (dataplane/conn.h) */
	RING_OPS_CONN_END = 32, /* (the mask has 32 bits) */
	RING_OPS_HEALTH = 32,	/* active health checks (dataplane/health.h) */
	RING_OPS_CTL = 36,	/* the control socket's server: accept, recv, send (reqsrv.h) */
	RING_OPS_METRICS = 40,	/* the metrics listener: accept, recv, send, and its frames */
	RING_OPS_SHADOW = 44,	/* shadow copies' connections (dataplane/shadow.h) */
	RING_OPS_SHADOW_END = 48,
	RING_OPS_END = 48,
};

#define RING_OP_SHIFT 58
#define RING_OBJ_MASK ((1ull << RING_OP_SHIFT) - 1)
_Static_assert(RING_OPS_END <= 1u << (64 - RING_OP_SHIFT), "operations beyond the tag's bits");

/* The operations of a range count from its base; every one is below 1 << (64 - RING_OP_SHIFT). */
static inline uint64_t ring_tag(void *obj, unsigned op)
{
	return (uint64_t)(uintptr_t)obj | (uint64_t)op << RING_OP_SHIFT;
}

static inline unsigned ring_tag_op(uint64_t ud)
{
	return (unsigned)(ud >> RING_OP_SHIFT);
}

static inline void *ring_tag_obj(uint64_t ud)
{
	return (void *)(uintptr_t)(ud & RING_OBJ_MASK);
}

/* Next free SQE; when the submission queue is full, submit what is queued and try again. */
struct io_uring_sqe *ring_get_sqe(struct io_uring *ring);

/*
 * What an event loop's ring runs with, as named bits: each is asked of the kernel when the ring
 * is set up (ring_open) or started (ring_start), and left off, with the ring working without
 * it, when the kernel refuses. The loop's completions never depend on one being on.
 */
enum ring_feature {
	RING_F_SINGLE_ISSUER = 1u << 0, /* one thread submits: the kernel takes no lock for it */
	RING_F_DEFER_TASKRUN = 1u << 1, /* completion work runs when the loop waits, in a batch */
	RING_F_COOP_TASKRUN = 1u << 2,	/* (without the two above) no interrupt to run it */
	RING_F_REG_FD = 1u << 3, /* the ring's descriptor registered: no fd lookup per enter */
	RING_F_SPLICE =
		1u << 4, /* bodies moved between sockets through a pipe (IORING_OP_SPLICE) */
	RING_F_ALL = (1u << 5) - 1,
};

/*
 * Set ring up with entries SQEs and what of want (enum ring_feature) the kernel takes:
 * SINGLE_ISSUER with DEFER_TASKRUN, else COOP_TASKRUN, else none. A ring another thread will
 * drive (other_thread) starts disabled, so that thread becomes its single issuer in ring_start.
 * Returns 0 or -errno; *feat gets the features on.
 */
int ring_open(struct io_uring *ring, unsigned entries, unsigned want, bool other_thread,
	      unsigned *feat);
/* On the thread that drives ring, before its first submission: enable it, register its fd. */
int ring_start(struct io_uring *ring, unsigned want, unsigned *feat);
/* The features as words ("single-issuer,defer-taskrun,registered-fd"; "none"), in buf. */
const char *ring_feature_text(unsigned feat, char *buf, size_t len);
/*
 * The features named in words (comma-separated, as ring_feature_text writes them) into *feat;
 * -EINVAL at a word that names none (*feat then holds those before it).
 */
int ring_feature_parse(const char *words, unsigned *feat);
/* Whether this kernel carries out op (IORING_OP_*) on rings (IORING_REGISTER_PROBE). */
bool ring_op_supported(struct io_uring *ring, unsigned op);

#endif
