/* SPDX-License-Identifier: GPL-2.0-only */
/* Handing client connections to the kernel fast path and taking them back: a mechanism. */
#ifndef STRG_HANDOFF_H
#define STRG_HANDOFF_H

#include <stdbool.h>
#include <stdint.h>

#include "dataplane/conn.h"

/*
 * "splice auto": a response this long or longer keeps its connection in user space, which
 * carries bulk faster (README.md, "Data paths"); shorter ones go to the kernel.
 */
#define SPLICE_AUTO_BULK (128 * 1024ull)
/*
 * "splice auto" on a busy worker: with this many open client connections or more it keeps
 * them in user space, where one io_uring_enter carries a batch of them, until it holds this
 * few or fewer; between the two it keeps its last choice (README.md, "Data paths").
 */
#define SPLICE_AUTO_USER_CONNS	 96
#define SPLICE_AUTO_KERNEL_CONNS 48

/* Where a hand-back left the connection. */
enum hb {
	HB_USER = 0,   /* not handed over (no kernel path, or it failed): strgd keeps reading */
	HB_INPUT = 1,  /* bytes came up at once and wait in the client's buffer */
	HB_KERNEL = 2, /* the kernel holds it; strgd hears of it through events and watches */
};

/* Where sending on the tail of a kernel-carried request body stands. */
enum tail {
	TAIL_SENDING = 0,    /* a send is in flight */
	TAIL_DONE = 1,	     /* all owed bytes went to the backend */
	TAIL_NEED_INPUT = 2, /* owed bytes not read from the client yet */
	TAIL_FAILED = 3,     /* no backend to send them to, or a send failed */
};

/* The kernel's view of a spliced connection; false when there is none. */
bool handoff_kernel_state(struct conn *c, struct strg_conn *k);
/*
 * Who carries the connection's requests after an exchange whose response was len bytes (head
 * and body): true when the kernel takes it between requests (the session then hands it back).
 */
bool handoff_takes(const struct conn *c, uint64_t len);
/*
 * The last bytes of a response (len bytes in all) go out and the connection lives on: when the
 * kernel is to take it next, they are held (TCP_CORK) until the hand-back, so the client's next
 * request cannot overtake it.
 */
void handoff_hold(struct conn *c, uint64_t len);
/* What was held goes out now: strgd keeps the connection, or it ends. */
void handoff_release(struct conn *c);
/*
 * Between requests, with nothing buffered: give the connection to the kernel (the first time:
 * its sockets go into the sockhash; later: the kernel may classify again). Releases what was
 * held once the kernel has the connection.
 */
enum hb handoff_hand_back(struct conn *c);
/*
 * Every byte for the client socket (strgd's and the kernel's redirected ones) is in it: sent,
 * or queued in its send queue behind which a send of strgd's lands in order.
 */
bool handoff_client_drained(struct conn *c, const struct strg_conn *k);
/*
 * Send on the part of a body the kernel passed up inside a larger skb (strg_conn.tail_owed), and
 * the outcome of each send.
 */
enum tail handoff_send_tail(struct conn *c, const struct strg_conn *k);
enum tail handoff_on_tail_sent(struct conn *c, int res);

/* The kernel stops forwarding to the pool's backend connection (closed once it is idle). */
void handoff_detach(struct conn *c, unsigned pool);

#endif
