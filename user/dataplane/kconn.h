/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The kernel's half of a client connection: what strgd keeps of a connection the kernel holds or
 * may hold, and the operations on it that need nothing more (cork, detach, forget). The hand-off
 * (handoff.c) owns it: only handoff.c and kconn.c write its fields; conn.c drops and forgets
 * through the functions here, the session reads and counts through them.
 */
#ifndef STRG_KCONN_H
#define STRG_KCONN_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/types.h>

#include "core/pool.h"
#include "strg/splice.h"

struct worker;

/* Named bits of kconn.flags. */
enum kconn_flags {
	KF_SPLICED = 1u << 0, /* the kernel holds the connection between requests */
	KF_CORKED = 1u << 1,  /* TCP_CORK holds the end of a response until the hand-back */
};

struct kconn {
	uint32_t flags;		   /* enum kconn_flags */
	uint32_t resp_passed_seen; /* strg_conn.resp_passed when last looked at */
	uint64_t cookie;	   /* the client socket's cookie (0 until first spliced) */
	uint64_t rx;	      /* bytes read from the client socket (since the kernel took it) */
	uint64_t tx;	      /* bytes strgd itself sent to the client (likewise) */
	uint64_t acked_base;  /* tcpi_bytes_acked of the client socket before any of those */
	uint64_t tail_sent;   /* body tail bytes sent on for the kernel (see strg_conn.tail_owed) */
	uint64_t last_req_ns; /* strg_conn.req_ns when last looked at */
	uint64_t last_out, last_out_ns; /* strg_conn.out when last looked at, and since when */
	uint64_t bcookie[POOL_MAX];	/* each backend socket's cookie while in the sockhash */
	struct strg_conn_ctl ctl;	/* what the kernel was last told (splice_ctl_set) */
};

static inline bool kconn_spliced(const struct kconn *k)
{
	return (k->flags & KF_SPLICED) != 0;
}

/* The kernel is carrying an exchange (a request forwarded, its response under way). */
static inline bool kconn_busy(const struct strg_conn *s)
{
	return s->phase == STRG_PH_KREQ || s->phase == STRG_PH_KBODY;
}

/* ... on the backend connection of pool: strgd must not close that one now. */
static inline bool kconn_busy_on(const struct strg_conn *s, unsigned pool)
{
	return kconn_busy(s) && s->pool == pool;
}

/*
 * The pool's backend socket is in the sockhash: what arrives on it goes through the verdict and
 * the socket's psock, which a splice from the socket would bypass.
 */
static inline bool kconn_holds_backend(const struct kconn *k, unsigned pool)
{
	return k->bcookie[pool] != 0;
}

/* The kernel's view of a spliced connection (s); false when there is none. */
bool kconn_state(const struct kconn *k, struct worker *w, struct strg_conn *s);
/* A recv (read) or send on the client socket completed with res: the kernel counts it too. */
void kconn_count(struct kconn *k, bool read, int res);
/* The kernel passed up client bytes strgd has not read yet. */
static inline bool kconn_unread(const struct kconn *k, const struct strg_conn *s)
{
	return s->passed != k->rx;
}

/* The kernel passed a response up since the last look (which this one is). */
bool kconn_resp_passed(struct kconn *k, const struct strg_conn *s);
/* The kernel carried a request since the last look (which this one is). */
bool kconn_requested(struct kconn *k, const struct strg_conn *s);
/* The response the kernel carries has not moved for limit_ns, as of now (looked at now). */
bool kconn_stalled(struct kconn *k, const struct strg_conn *s, uint64_t now, uint64_t limit_ns);
/* Body bytes of the request the kernel carries that strgd still owes its backend. */
static inline uint64_t kconn_tail_owed(const struct kconn *k, const struct strg_conn *s)
{
	return s->tail_owed - k->tail_sent;
}

/* TCP_CORK on the client socket fd: holds a response's last bytes until the hand-back. */
void kconn_cork(struct kconn *k, int fd);
void kconn_uncork(struct kconn *k, int fd);
/*
 * The kernel forwards no new request to the pool's backend connection; it stays open and in the
 * splice, so a response to a request forwarded before still comes back.
 */
void kconn_detach(struct kconn *k, struct worker *w, unsigned pool);
/* ... and whether it still forwards to it (detach pending). */
static inline bool kconn_attached(const struct kconn *k, unsigned pool)
{
	return kconn_spliced(k) && k->ctl.backend[pool];
}

/* The pool's backend socket is about to close: the kernel stops using it and forgets it. */
void kconn_drop(struct kconn *k, struct worker *w, unsigned pool, int fd);
/* The connection ends: the kernel forgets it. */
void kconn_forget(struct kconn *k, struct worker *w);

#endif
