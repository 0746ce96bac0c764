/* SPDX-License-Identifier: GPL-2.0-only */
/* The control socket's connections, served on the proxy's io_uring: one command, one reply. */
#ifndef STRG_CTLSRV_H
#define STRG_CTLSRV_H

#include <stdint.h>
#include <liburing.h>

#include "ctl.h"

/* Connections served at once; more are told so and closed. */
#define CTLSRV_MAX_CONNS 64
/* A connection that neither completes its command nor takes its reply this long is closed. */
#define CTLSRV_TIMEOUT_NS (5 * 1000000000ull)

struct ctlsrv;
struct ctl_conn;

/*
 * Serve the listening control socket fd (ctl_listen()) on ring with env, which must outlive
 * the server. NULL with errno set.
 */
struct ctlsrv *ctlsrv_open(struct io_uring *ring, struct ctl_env *env, int fd);
/* Stop listening and remove the socket; call after the ring is gone. */
void ctlsrv_close(struct ctlsrv *srv);

/* Completions of the ring operations RING_OP_CTL_ACCEPT, _RECV and _SEND. */
void ctlsrv_on_accept(struct ctlsrv *srv, int res, unsigned flags);
void ctlsrv_on_recv(struct ctlsrv *srv, struct ctl_conn *cc, int res);
void ctlsrv_on_send(struct ctlsrv *srv, struct ctl_conn *cc, int res);
/* Replies held until every worker runs with a change: send those that may go now. */
void ctlsrv_release(struct ctlsrv *srv);
/* The proxy's timer: close connections past their deadline. */
void ctlsrv_tick(struct ctlsrv *srv, uint64_t now_ns);

#endif
