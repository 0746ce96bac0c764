/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Small servers on a worker's io_uring: each connection sends one request, gets one reply and is
 * closed. The control socket (one command line) and the metrics listener (one HTTP request) are
 * two protocols of it. A request is handled only once its protocol says it is complete; a silent
 * peer is closed after REQSRV_TIMEOUT_NS and at most REQSRV_MAX_CONNS are served at once.
 */
#ifndef STRG_REQSRV_H
#define STRG_REQSRV_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <liburing.h>

#include "ctl.h"
#include "ring.h"

/* Connections served at once; more are told so (the protocol's busy text) and closed. */
#define REQSRV_MAX_CONNS 64
/* A connection that neither completes its request nor takes its reply this long is closed. */
#define REQSRV_TIMEOUT_NS (5 * 1000000000ull)

/* The request read so far, as the protocol sees it. */
struct reqsrv_req {
	char *buf; /* the bytes (buf[len] may be written: there is room for a NUL) */
	size_t len;
	bool eof;	   /* the peer stopped writing */
	bool overflowed;   /* more than the protocol's max arrived: what came before was dropped */
	struct ucred peer; /* the peer's credentials (Unix sockets; else pid 0, uid ~0) */
	uint64_t hold_ns;  /* REQ_HOLD: how long the reply may wait (0: REQSRV_TIMEOUT_NS) */
};

enum reqsrv_step {
	REQ_MORE,  /* incomplete: read on */
	REQ_REPLY, /* the reply is ready: send it, then close */
	REQ_HOLD,  /* the reply is held until the protocol releases it (reqsrv_release) */
};

struct reqsrv_proto {
	const char *name;     /* log prefix: "ctl", "metrics" */
	const char *what;     /* what a request is called in log lines: "command", "request" */
	size_t max;	      /* request bytes kept */
	enum ring_op op_base; /* its accept operation; recv is op_base + 1, send op_base + 2 */
	const char *busy;     /* told to a connection over REQSRV_MAX_CONNS */
	/* Look at the request; fill out and say what to do. */
	enum reqsrv_step (*request)(void *ctx, struct reqsrv_req *req, struct ctl_reply *out);
	/* Whether a held reply may go now (the protocol may complete it first). */
	bool (*released)(void *ctx, struct ctl_reply *out);
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
void reqsrv_on_cqe(struct reqsrv *srv, enum ring_op op, void *obj, int res, unsigned flags);
/* Send the held replies the protocol now releases. */
void reqsrv_release(struct reqsrv *srv);
/* The worker's timer: close connections past their deadline. */
void reqsrv_tick(struct reqsrv *srv, uint64_t now_ns);

#endif
