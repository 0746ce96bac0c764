/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The metrics listener ("metrics ADDR:PORT"): one HTTP/1.1 request per connection, answered and
 * closed, on worker 0's io_uring. GET /metrics is Prometheus' text format, /stats.json the JSON of
 * `strgctl stats -j`, / the status page.
 */
#ifndef STRG_METRICSRV_H
#define STRG_METRICSRV_H

#include <liburing.h>

#include "ctl.h"
#include "reqsrv.h"

/* The longest request head the listener reads; longer ones get 431. */
#define METRICSRV_HEAD_MAX 8192

/*
 * Listen on cfg->metrics (or on fd, a listening socket a restart handed over, when >= 0) and
 * serve it on ring with env (which outlives the server). NULL with errno set (the bind's error
 * when the address cannot be had).
 */
struct reqsrv *metricsrv_open(struct io_uring *ring, struct ctl_env *env, const struct config *cfg,
			      int fd);
void metricsrv_close(struct reqsrv *srv);

#endif
