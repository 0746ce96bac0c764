/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Small servers on an io_uring: each connection sends one request, gets one reply and is
 * closed. The control socket (one command line, on worker 0's ring) and the metrics listener
 * (one HTTP request, on a thread of its own) are two protocols of it. A request is handled only
 * once its protocol says it is complete. A connection has REQSRV_TIMEOUT_NS from its accept to
 * complete its request, however slowly its bytes come, and as long again to take its reply
 * (and for a held reply to be released): a peer that dribbles cannot keep its slot longer. At
 * most REQSRV_MAX_CONNS are served at once; a peer the protocol calls privileged (one that may
 * change strgd) takes the slot of an unprivileged connection when all are in use, so readers
 * cannot lock out a change.
 */
#ifndef STRG_REQSRV_H
#define STRG_REQSRV_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <liburing.h>

#include "lib/reply.h"
#include "lib/ring.h"

/* The operations a server tags its completions with, from its proto's op_base: accept, recv, send.
 */
#define REQSRV_OPS 3
/* Connections served at once; more are told so (the protocol's busy text) and closed. */
#define REQSRV_MAX_CONNS 64
/*
 * A connection that does not complete its request this long after its accept is closed; so is
 * one that does not take its whole reply this long after it was ready (or released, if held).
 */
#define REQSRV_TIMEOUT_NS (5 * 1000000000ull)
/* With shed_slow, a connection still sending its request after this long may give its slot up. */
#define REQSRV_SLOW_NS (1000000000ull)

/*
 * A reply body built once and sent to many connections (the metrics listener's views). Its
 * count is not atomic: a body is used on the thread of the server that sends it.
 */
struct reqsrv_body {
	unsigned refs; /* the owner's reference, plus one per connection sending it */
	size_t len;
	char *data; /* malloc'ed, freed with the last reference */
};

/* The request read so far, as the protocol sees it. */
struct reqsrv_req {
	char *buf; /* the bytes (buf[len] may be written: there is room for a NUL) */
	size_t len;
	bool eof;	   /* the peer stopped writing */
	bool overflowed;   /* more than the protocol's max arrived: what came before was dropped */
	struct ucred peer; /* the peer's credentials (Unix sockets; else pid 0, uid ~0) */
	uint64_t hold;	   /* REQ_HOLD: the protocol's token for its release() */
	uint64_t hold_ns;  /* REQ_HOLD: how long the reply may wait (0: REQSRV_TIMEOUT_NS) */
	/* Sent after the reply's text (then its head): a reference, set by the protocol. */
	struct reqsrv_body *body;
};

enum reqsrv_step {
	REQ_MORE,  /* incomplete: read on */
	REQ_REPLY, /* the reply is ready: send it, then close */
	REQ_HOLD,  /* the reply is held until the protocol releases it (reqsrv_release) */
};

struct reqsrv_proto {
	const char *name; /* log prefix: "ctl", "metrics" */
	const char *what; /* what a request is called in log lines: "command", "request" */
	size_t max;	  /* request bytes kept */
	unsigned op_base; /* its accept operation; recv is op_base + 1, send op_base + 2 */
	const char *busy; /* told to a connection over REQSRV_MAX_CONNS */
	/*
	 * When every slot is taken, a newcomer takes the slot of the connection that has been
	 * sending its request longest, if that is over REQSRV_SLOW_NS (anonymous peers: a slow
	 * one must not hold a slot a whole request is waiting for).
	 */
	bool shed_slow;
	/*
	 * The reply each connection keeps: a struct reply (0), or the size of the protocol's own
	 * struct that begins with one (what a held reply waits for, say).
	 */
	size_t reply_size;
	/* Look at the request; fill out and say what to do. */
	enum reqsrv_step (*request)(void *ctx, struct reqsrv_req *req, struct reply *out);
	/* Whether a held reply may go now; it may fill out (and req->body) at this point. */
	bool (*released)(void *ctx, struct reqsrv_req *req, struct reply *out);
	/* Whether the peer on fd outranks the others for a slot (NULL: nobody does). */
	bool (*privileged)(void *ctx, int fd, const struct ucred *peer);
};

struct reqsrv;
struct reqsrv_conn;

/*
 * Serve the listening socket fd on ring with proto and ctx (which outlive the server); unlink
 * is removed when the server closes (a Unix socket's path) unless NULL. NULL with errno set.
 */
struct reqsrv *reqsrv_open(struct io_uring *ring, const struct reqsrv_proto *proto, void *ctx,
			   int fd, const char *unlink_path);
/* Stop listening (and remove the socket's path); call after the ring is gone. */
void reqsrv_close(struct reqsrv *srv);
/* The listening socket (-1 once stopped). */
int reqsrv_fd(const struct reqsrv *srv);
/*
 * Stop accepting (a restart handed the socket to a new strgd): the accept is cancelled and this
 * process's descriptor closed, the socket file left where it is; open connections finish.
 */
void reqsrv_stop(struct reqsrv *srv);
/*
 * Stop taking connections for a while (pause) or take them again: meanwhile they wait in the
 * listen queue (for a restart's successor, which may take the socket over).
 */
void reqsrv_pause(struct reqsrv *srv, bool pause);
/* Connections open (0 for NULL). */
unsigned reqsrv_conns(const struct reqsrv *srv);
/* The ctx it was opened with. */
void *reqsrv_ctx(const struct reqsrv *srv);

/* A completion of one of the server's operations (op is one of its three). */
void reqsrv_on_cqe(struct reqsrv *srv, unsigned op, void *obj, int res, unsigned flags);
/* Send the held replies the protocol now releases. */
void reqsrv_release(struct reqsrv *srv);
/* The worker's timer: close connections past their deadline. */
void reqsrv_tick(struct reqsrv *srv, uint64_t now_ns);

/* A body of len bytes at data (taken over), one reference; NULL (data freed) without memory. */
struct reqsrv_body *reqsrv_body_new(char *data, size_t len);
struct reqsrv_body *reqsrv_body_get(struct reqsrv_body *b);
void reqsrv_body_put(struct reqsrv_body *b);

#endif
