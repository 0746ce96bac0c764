/* SPDX-License-Identifier: GPL-2.0-only */
/* Handing client connections to the kernel fast path and taking them back: a mechanism. */
#ifndef STRG_HANDOFF_H
#define STRG_HANDOFF_H

#include <stdbool.h>

#include "dataplane/conn.h"

/* Where a hand-back left the connection. */
enum hb {
	HB_USER = 0,   /* not handed over (no kernel path, or it failed): strgd keeps reading */
	HB_INPUT = 1,  /* bytes came up at once and wait in c->cin for strgd */
	HB_KERNEL = 2, /* the kernel holds it; strgd hears of it through events and watches */
};

/* Where sending on the tail of a kernel-carried request body stands. */
enum tail {
	TAIL_SENDING = 0,    /* a send is in flight */
	TAIL_DONE = 1,	     /* all owed bytes went to the backend */
	TAIL_NEED_INPUT = 2, /* owed bytes not read from the client yet */
	TAIL_FAILED = 3,     /* no backend to send them to, or a send failed */
};

/* The kernel is carrying an exchange (a request forwarded, its response under way). */
bool handoff_kernel_busy(const struct strg_conn *k);
/* ... on the backend connection of pool: strgd must not close that one now. */
bool handoff_kernel_busy_on(const struct strg_conn *k, unsigned pool);
/* The kernel's view of a spliced connection; false when there is none. */
bool handoff_kernel_state(struct conn *c, struct strg_conn *k);
/*
 * Between requests, with nothing buffered: give the connection to the kernel (the first time:
 * its sockets go into the sockhash; later: the kernel may classify again). Uncorks the last
 * response once the kernel has the connection.
 */
enum hb handoff_hand_back(struct conn *c);
/* Every byte written to the client socket (strgd's and the kernel's) was acknowledged. */
bool handoff_client_drained(struct conn *c, const struct strg_conn *k);
/* Send on the part of a body the kernel passed up inside a larger skb (strg_conn.tail_owed). */
enum tail handoff_send_tail(struct conn *c, const struct strg_conn *k);
enum tail handoff_on_tail_sent(struct conn *c, int res);

#endif
