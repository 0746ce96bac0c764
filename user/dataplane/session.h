/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A client connection's owner: it decides, for each request, whether strgd carries it in user
 * space (exchange.h) or the kernel does (handoff.h), and reacts to what both report.
 */
#ifndef STRG_SESSION_H
#define STRG_SESSION_H

#include <stdint.h>

#include "dataplane/conn.h"

/* "splice auto": idle this long between requests, a connection is handed to the kernel. */
#define SPLICE_IDLE_NS (1000 * 1000000ull)
/* Idle this long in user space between requests, a connection lets go of its buffers. */
#define PARK_IDLE_NS (1000 * 1000000ull)
/* Stopping: how long a connection between requests may stay quiet before it is closed. */
#define STOP_IDLE_NS (1000 * 1000000ull)

/* A client connection was accepted on worker w. */
void session_open(struct worker *w, int fd);
/* A completion of one of the connection's operations. */
void session_on_cqe(struct conn *c, unsigned op, int res);
/* The verdict passed something up (ctx: the worker). */
void session_on_event(void *ctx, const struct strg_event *ev);
/*
 * Backends that may serve no more (drained, in maintenance, ejected): every connection between
 * requests closes its connection to them, the kernel's first stopping to use it; a request
 * the kernel passed up or will pass up then goes to another backend. False while some
 * connection still had a request on one (call again on the next tick).
 */
bool session_sweep_backends(struct worker *w);
/* Connections closed at once when descriptors run out. */
#define SHED_BATCH 32
/*
 * Descriptors ran out: close up to n connections that do the least, slow heads first (the
 * longest in coming), then connections idle between requests (the longest idle). Returns how
 * many were closed.
 */
unsigned session_shed(struct worker *w, unsigned n, uint64_t now);
/* The timer: deadlines, the hand-over of idle connections, the stop. */
void session_tick(struct conn *c, uint64_t now, uint64_t stop_deadline);

#endif
