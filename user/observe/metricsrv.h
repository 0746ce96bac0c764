/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The metrics listener ("metrics ADDR:PORT"): one HTTP/1.1 request per connection, answered and
 * closed, on a thread of its own (its own io_uring, at a lower CPU priority than the workers).
 * GET /metrics is Prometheus' text format, /stats.json the JSON of `strgctl stats -j`, / the
 * status page. Every reader of a view gets the same snapshot, taken after its request arrived:
 * at most one per METRICSRV_INTERVAL_NS whatever the number of readers. Worker 0 only reads the
 * frame of each snapshot off the live configuration (metrics_frame, no syscall per route); the
 * counters are read, each format rendered once per snapshot and the replies sent, however big
 * and however slowly taken, on the listener's thread.
 */
#ifndef STRG_METRICSRV_H
#define STRG_METRICSRV_H

#include "core/config.h"
#include "lib/reqsrv.h"
#include "lib/ring.h"
#include "observe/metrics.h"

/* Worker 0's ring is asked for a frame with this operation (the listener's own come before it). */
#define METRICSRV_OP_FRAME (RING_OPS_METRICS + REQSRV_OPS)
_Static_assert(METRICSRV_OP_FRAME < RING_OPS_END, "the metrics listener's range overflows");

/* The longest request head the listener reads; longer ones get 431. */
#define METRICSRV_HEAD_MAX 8192
/* Snapshots are taken at most this often; a reader waits at most this long for a fresh one. */
#define METRICSRV_INTERVAL_NS (1000000000ull)
/* The listener thread's nice value: the workers' data path comes first. */
#define METRICSRV_NICE 10

struct metricsrv;

/*
 * Listen on cfg->metrics (or on fd, a listening socket a restart handed over, when >= 0) and
 * serve it on a thread of its own. Frames are asked of the ring owner_ring_fd (worker 0's) with
 * a METRICSRV_OP_FRAME completion, answered by metricsrv_frame(); the listener counts them with st
 * (which outlives the server). NULL with errno set (the bind's error when the address cannot be
 * had).
 */
struct metricsrv *metricsrv_open(struct stats *st, const struct config *cfg, int fd,
				 int owner_ring_fd);
/* Worker 0, at a METRICSRV_OP_FRAME completion: read the frame the listener asked for, of src. */
void metricsrv_frame(struct metricsrv *ms, struct metrics *m, const struct metrics_src *src);
/* The listening socket (-1 once stopped). */
int metricsrv_fd(const struct metricsrv *ms);
/* Stop accepting (a restart handed the socket to a new strgd); open connections finish. */
void metricsrv_stop(struct metricsrv *ms);
/* Stop the thread, close every connection and the socket. NULL is fine. */
void metricsrv_close(struct metricsrv *ms);

#endif
