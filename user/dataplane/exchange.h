/* SPDX-License-Identifier: GPL-2.0-only */
/* One request and its response in user space: a mechanism the session drives. */
#ifndef STRG_EXCHANGE_H
#define STRG_EXCHANGE_H

#include "dataplane/conn.h"

/* What an exchange step came to; the session decides what follows. */
enum xout {
	XO_BUSY = 0,	   /* going on (operations in flight), or ending the connection itself */
	XO_DONE_KEEP = 1,  /* request and response complete; the connection may take another */
	XO_DONE_CLOSE = 2, /* complete, and the connection must end */
};

/* Forget the last exchange: ready for the next request. */
void exchange_reset(struct conn *c);
/*
 * Parse the request head in the client's buffer, route it and forward it (reusing or connecting
 * the pool's backend connection); an incomplete head arms a read, a refused one gets strgd's
 * answer.
 */
enum xout exchange_start(struct conn *c);
/* A completion of the exchange's own operations (connect, client and backend send/recv). */
enum xout exchange_on_cqe(struct conn *c, unsigned op, int res);
/* Finish a response the kernel passed up (k: its view) on the backend socket of pool. */
void exchange_adopt(struct conn *c, unsigned pool, const struct strg_conn *k);
/* strgd's answer (504, 502) for a request the kernel forwarded whose backend failed it. */
void exchange_kernel_failed(struct conn *c, const struct strg_conn *k, unsigned status);
/* The exchange's deadline passed (connect, request body, response): what the state calls for. */
void exchange_expire(struct conn *c);

#endif
