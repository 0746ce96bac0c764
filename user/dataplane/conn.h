/* SPDX-License-Identifier: GPL-2.0-only */
/* A client connection: its sockets, buffers and state, and the operations on them. */
#ifndef STRG_CONN_H
#define STRG_CONN_H

#include <stdbool.h>
#include <stdint.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <liburing.h>
#include <linux/types.h>

#include "observe/accesslog.h"
#include "core/config.h"
#include "core/http.h"
#include "lib/ring.h"
#include "dataplane/kconn.h"
#include "dataplane/worker.h"
#include "strg/splice.h"

#define LINGER_NS (1000 * 1000000ull)
/* tcp_info.tcpi_state values (include/net/tcp_states.h, not exported to user space). */
#define STRG_TCP_ESTABLISHED 1
#define STRG_TCP_CLOSE_WAIT  8
#define BBUF_SIZE	     (64 * 1024)
#define REPLY_MAX	     256
#define INTERIM_MAX	     16 /* 1xx responses forwarded per request; more cut it off */
#define ADDED_HEADERS_MAX    192

/* A connection's operations, numbered in its range of the ring's (ring.h); bit op of its pending.
 */
enum conn_op {
	CONN_OP_CRECV = RING_OPS_CONN, /* recv from the client */
	CONN_OP_CSEND,		       /* send to the client */
	CONN_OP_BRECV,		       /* recv from the backend */
	CONN_OP_BSEND,		       /* send to the backend */
	CONN_OP_CONNECT,
	CONN_OP_WATCH, /* poll of a spliced backend socket: CONN_OP_WATCH + its pool's index */
	CONN_OP_WATCH_END = CONN_OP_WATCH + STRG_POOLS_MAX,
	CONN_OP_CWATCH = CONN_OP_WATCH_END, /* poll of a spliced client socket for its FIN */
};
_Static_assert((unsigned)CONN_OP_CWATCH < (unsigned)RING_OPS_CONN_END,
	       "a connection's operations fit its mask");

enum conn_state {
	ST_HEAD = 0,	/* between requests, or reading a request head (the session's) */
	ST_CONNECT = 1, /* connecting to a backend */
	ST_XFER = 2,	/* request going up, response coming down */
	ST_REPLY = 3,	/* sending a response strgd generated itself */
	ST_LINGER = 4,	/* write side shut, discarding input until EOF so the peer sees no RST */
	ST_CLOSING = 5, /* waiting for in-flight operations before freeing */
	ST_TAIL = 6,	/* sending on the end of a body the kernel carried (strg_conn.tail_owed) */
};

/* Named bits of conn.flags (the kernel's own: kconn.flags). */
enum conn_flags {
	CF_ADOPTED = 1u << 0,	      /* finishing a response the kernel passed up */
	CF_KWAIT = 1u << 1,	      /* holding passed-up bytes until the kernel's response ends */
	CF_EOF_WAIT = 1u << 2,	      /* client ended: closing once the kernel's bytes drained */
	CF_CUT_WAIT = 1u << 3,	      /* backend ended inside a kernel-carried response: likewise */
	CF_HANDING = 1u << 4,	      /* "auto": recv cancelled to hand the idle connection over */
	CF_REUSED = 1u << 5,	      /* the current backend connection served an earlier request */
	CF_CONNECT_TIMEOUT = 1u << 6, /* the last failed connect timed out (504, not 502) */
	CF_CLOSE_SENT = 1u << 7,      /* stopping: this response told the client to close */
	CF_TUNNEL = 1u << 8,	      /* 101: bytes flow both ways until both ends closed */
	CF_UPGRADE = 1u << 9,	      /* the request asked for an upgrade */
	CF_RESP_HEAD = 1u << 10,      /* the final response head was parsed */
	CF_RESP_STARTED = 1u << 11, /* response bytes went to the client: no reply of strgd's now */
	CF_INFLIGHT = 1u << 12,	    /* counted in its backend's in-flight gauge */
	CF_FALLBACK = 1u << 13,	    /* its route's pool had no backend: another pool serves it */
	CF_PARKED =
		1u << 14, /* idle in user space: recv cancelled, buffers let go, polled instead */
	CF_KHEAD = 1u << 15,	  /* the kernel counted this response's head (passed up mid-body) */
	CF_ADOPT_WAIT = 1u << 16, /* a response passed up mid-body waits for the kernel's bytes */
	CF_PIPED = 1u << 17,	  /* the response body goes backend -> pipe -> client (splice) */
	CF_REPLY_KEEP = 1u << 18, /* strgd's own answer ends the request, not the connection */
	CF_GW_ANSWER = 1u << 19,  /* that answer is the route's: access (403) or limit (429) */
};

/* Waiting on the kernel between requests: recheck() (session.c) says when it is over. */
#define CF_WAITS (CF_KWAIT | CF_EOF_WAIT | CF_CUT_WAIT | CF_ADOPT_WAIT)

/* The message one side sends in an exchange: how it is framed and how far it got. */
struct msg_dir {
	uint64_t left;		/* HTTP_BODY_LENGTH: body bytes still due */
	struct http_chunked ch; /* HTTP_BODY_CHUNKED: where the chunks are */
	enum http_body body;	/* how the body is delimited */
	uint32_t inflight;	/* bytes handed to the send in flight, not yet sent */
	bool done_pending;	/* the send in flight ends the message */
	bool done;		/* the whole message went through */
	bool eof;		/* its sender closed its end (client: request, backend: response) */
	bool keep;		/* it lets the connection live on */
};

/* What the access log and -v say of the current request; kept while the connection lives. */
struct reqinfo {
	bool known;	     /* method and path below are this request's (else "-") */
	bool log;	     /* the access log's sample picked it */
	bool id_added;	     /* strgd made the id up and sends it upstream in X-Request-Id */
	uint16_t path_len;   /* the path in target[] (the access log's) */
	uint16_t target_len; /* path and query (-v's) */
	uint64_t kernel_in;  /* request bytes the kernel forwarded (a response strgd finishes) */
	char method[12];
	char target[ALOG_PATH_MAX]; /* the request target as sent (cut at ALOG_PATH_MAX) */
	char id[ALOG_ID_MAX];
	uint8_t host_len, agent_len;
	char host[ALOG_HOST_MAX];   /* the Host field (cut) */
	char agent[ALOG_AGENT_MAX]; /* the User-Agent field (cut) */
};

struct upstream {
	int fd;		  /* connected backend socket, -1 when none */
	uint8_t bidx;	  /* index of the backend in its pool (< POOL_MAX_BACKENDS) */
	bool unsolicited; /* it sent bytes no request asked for: closed after this exchange */
};

/* An address of the client's connection, IPv4 or IPv6 (28 bytes, not a sockaddr_storage's 128). */
union conn_addr {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
};

/*
 * One side of the connection and what flows from it, as liburing's proxy example keeps a
 * conn_dir per side: the client's (its request, sent up) and the current backend's (its
 * response, sent down).
 */
struct conn_dir {
	char *buf;		  /* bytes read from it; [start, end) not consumed yet */
	uint32_t start, end, cap; /* cap: the buffer's size (the backend's: BBUF_SIZE) */
	int fd;			  /* its socket (backend: the current request's, -1 when none) */
	struct msg_dir msg;	  /* the message it sends in the current exchange */
	uint64_t fwd;		  /* bytes sent on to the other side (down: strgd's answer too) */
};

/* The sides, as indices of conn.cd. */
enum conn_side {
	CLIENT = 0,
	BACKEND = 1,
};

/*
 * A pipe a response body goes through (limit splice-body): the backend's bytes are spliced in,
 * then out to the client, never copied to strgd's buffers. size 0: none open.
 */
struct conn_pipe {
	int rd, wr;    /* its ends */
	uint32_t size; /* its capacity, bytes */
	uint32_t fill; /* bytes spliced in and not out yet */
	bool polled;   /* the operation in flight is a poll for the socket's readiness */
};

/* Bytes strgd sends of its own making: len at data, of which sent. */
struct outbuf {
	char *data;
	uint32_t len, sent;
};

struct conn {
	struct conn *prev, *next;
	struct worker *w;
	unsigned long id;
	uint32_t pending; /* bit (1 << ring_op) per operation in flight; one of each kind at most */
	uint32_t flags;	  /* enum conn_flags */
	enum conn_state state;
	uint64_t deadline_ns;
	struct conn_dir cd[2];	   /* by enum conn_side */
	union conn_addr peer_addr; /* the client's address (PROXY v2, X-Forwarded-For, logs) */

	/*
	 * The head to send, in the mapping after the buffers: [PROXY header][request head as
	 * forwarded], the head itself at PROXYPROTO_V2_MAX; what goes to the backend starts at
	 * head_off.
	 */
	struct outbuf head;
	uint32_t head_off;
	uint32_t head_len;   /* bytes of the head alone */
	struct outbuf reply; /* strgd's own answer (REPLY_MAX bytes, allocated when it answers) */

	struct upstream up[POOL_MAX];
	int pool;     /* pool of the current request, -1 between requests */
	int alt_pool; /* where a retry may go when the pool has no other backend (-1: none) */
	unsigned tries;
	unsigned interims; /* 1xx responses forwarded for the current request */

	/* the current exchange */
	enum http_method method; /* of the current request */
	unsigned status;
	uint32_t route_id;
	uint32_t route_slot; /* counters slot of that route */
	uint32_t resp_rules; /* id of the route whose response rules the response takes (0: none) */
	struct reqinfo *ri;  /* what the access log and -v say of it (allocated when wanted) */
	uint64_t head_ns;    /* the current head's first bytes came (0: none yet) */
	uint64_t t_req;	     /* head parsed */
	uint64_t t_in;	     /* the request's bytes last came from the client */
	uint64_t t_req_end;  /* its last byte came (0: not yet): latency counts from here */
	uint64_t t_resp;     /* response head seen */
	uint64_t last_out;   /* response bytes of the last exchange that ended */

	/* between exchanges: the session's timers */
	uint64_t active_ns;    /* last exchange of strgd's or the kernel's (idle timeout) */
	uint64_t bidle_ns;     /* when its backend connections are next looked at for idleness */
	uint64_t splice_at;    /* "auto": when an idle connection goes to the kernel */
	uint64_t eof_deadline; /* until when an end waits for the kernel's bytes to drain */
	struct conn_pipe pipe; /* a bulk body's way past the buffers (CF_PIPED) */
	struct kconn k;	       /* the kernel's half (the hand-off's) */
	struct shadow_copy *shadow; /* the current request's copy, while the exchange feeds it */
};

/* Bytes read from a side and not consumed yet. */
static inline uint32_t conn_unread(const struct conn *c, enum conn_side side)
{
	return c->cd[side].end - c->cd[side].start;
}

static inline bool conn_has(const struct conn *c, uint32_t flag)
{
	return (c->flags & flag) != 0;
}

static inline void conn_set(struct conn *c, uint32_t flag, bool on)
{
	c->flags = on ? c->flags | flag : c->flags & ~flag;
}

/* The flags, the kernel's half's too, as words ("kwait,spliced"), for logs. */
const char *conn_flags_text(const struct conn *c, char *buf, size_t len);

/* Submissions: each marks its operation pending. */
void conn_submit(struct conn *c, struct io_uring_sqe *sqe, unsigned op);
void conn_recv_client(struct conn *c);
/* Poll the client socket for events (POLLRDHUP: its FIN; POLLIN too: bytes), CONN_OP_CWATCH. */
void conn_watch_client(struct conn *c, unsigned events);
void conn_send_client(struct conn *c, const char *buf, uint32_t len);
void conn_recv_backend(struct conn *c);
void conn_send_backend(struct conn *c, const char *buf, uint32_t len);
void conn_cancel_op(struct conn *c, unsigned op);
/*
 * The pipe for a bulk response body: open it (0 or -errno), splice up to len bytes from the
 * backend into it (as CONN_OP_BRECV) and len of what it holds out to the client (as
 * CONN_OP_CSEND), close it. The splices never wait (SPLICE_F_NONBLOCK: -EAGAIN when the socket
 * is not ready; 0 at the backend's end); conn_pipe_poll waits for a side's readiness instead,
 * as that side's operation, with pipe.polled set.
 */
int conn_pipe_open(struct conn *c);
void conn_pipe_in(struct conn *c, uint32_t len);
void conn_pipe_out(struct conn *c, uint32_t len);
void conn_pipe_poll(struct conn *c, enum conn_side side);
void conn_pipe_close(struct conn *c);
/*
 * Send n bytes of what came from one side on to the other: from its buffer's start, counted in
 * its message's inflight. Then, as each send completes (res > 0), the rest: true once all went.
 */
void conn_pass_on(struct conn *c, enum conn_side from, uint32_t n);
bool conn_passed_on(struct conn *c, enum conn_side from, uint32_t res);

/* Life: buffers (a mapping released while the kernel holds the connection) and the end. */
struct conn *conn_new(struct worker *w, int fd);
int conn_buffers(struct conn *c);
void conn_buffers_release(struct conn *c);
void conn_free(struct conn *c);
void conn_close(struct conn *c);
void conn_linger(struct conn *c);
/*
 * The request's access-log and -v record, when one of them wants it: taken from the parsed head
 * (req NULL: a head strgd could not parse). NULL when neither wants it.
 */
struct reqinfo *conn_reqinfo(struct conn *c, const struct http_request *req, const char *buf);
/* The same for a request the kernel forwarded and strgd finishes (k: the kernel's view). */
void conn_reqinfo_kernel(struct conn *c, const struct strg_conn *k);
/* The client's address as text ("?" when unknown), in buf. */
const char *conn_peer(const struct conn *c, char buf[INET6_ADDRSTRLEN]);
/* Answer with a status of strgd's own and close (counted like any request). */
void conn_reply(struct conn *c, unsigned status);
/*
 * The same with extra header lines (each ending in CRLF), and with keep the connection lives on
 * once it is sent (CF_REPLY_KEEP: the exchange then ends as a complete one).
 */
void conn_answer(struct conn *c, unsigned status, const char *extra, bool keep);
/* Count the current exchange's request once (routed or not). */
void conn_count(struct conn *c, unsigned status);

/* Backend connections. */
/* Close the backend connection of a pool; the kernel stops using it first. */
void conn_drop_backend(struct conn *c, int pool);
bool conn_backend_reusable(struct conn *c, int pool);
void conn_unsolicited(struct conn *c, int pool, const char *how);

#endif
