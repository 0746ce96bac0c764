/* SPDX-License-Identifier: GPL-2.0-only */
/* A client connection of the proxy, and the functions the proxy's modules share about it. */
#ifndef STRG_CONN_H
#define STRG_CONN_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <liburing.h>
#include <linux/types.h>

#include "config.h"
#include "connmap.h"
#include "ctl.h"
#include "http.h"
#include "ring.h"
#include "strg/splice.h"

#define RING_ENTRIES 1024
#define TICK_NS	     (100 * 1000000ull)
#define LINGER_NS    (1000 * 1000000ull)
#define DRAIN_NS     (30 * 1000000000ull)
/* Stopping: how long a connection between requests may stay quiet before it is closed. */
#define STOP_IDLE_NS (1000 * 1000000ull)
/* tcp_info.tcpi_state values (include/net/tcp_states.h, not exported to user space). */
#define STRG_TCP_ESTABLISHED 1
#define STRG_TCP_CLOSE_WAIT  8
/* "splice auto": idle this long between requests, a connection is handed to the kernel. */
#define SPLICE_IDLE_NS	  (1000 * 1000000ull)
#define BBUF_SIZE	  (64 * 1024)
#define REPLY_MAX	  256
#define ADDED_HEADERS_MAX 128

enum conn_state {
	ST_HEAD = 0,	/* reading a request head */
	ST_CONNECT = 1, /* connecting to a backend */
	ST_XFER = 2,	/* request going up, response coming down */
	ST_REPLY = 3,	/* sending a response strgd generated itself */
	ST_LINGER = 4,	/* write side shut, discarding input until EOF so the peer sees no RST */
	ST_CLOSING = 5, /* waiting for in-flight operations before freeing */
	ST_TAIL = 6,	/* sending on the end of a body the kernel carried (strg_conn.tail_owed) */
};

struct upstream {
	int fd;		  /* connected backend socket, -1 when none */
	int bidx;	  /* index of the backend in its pool */
	bool unsolicited; /* it sent bytes no request asked for: closed after this exchange */
};

struct proxy;

struct conn {
	struct conn *prev, *next;
	struct proxy *px;
	unsigned long id;
	int cfd;
	char peer[INET6_ADDRSTRLEN];
	uint32_t pending; /* bit (1 << ring_op) per operation in flight; one of each kind at most */
	enum conn_state state;
	uint64_t deadline_ns;

	char *cbuf; /* client bytes: [cstart, cend) not yet consumed */
	uint32_t cstart, cend, ccap;
	char *bbuf; /* backend bytes: [bstart, bend) not yet forwarded */
	uint32_t bstart, bend;
	char *hbuf; /* [PROXY header][request head as forwarded], the head at PROXYPROTO_V2_MAX */
	uint32_t hoff;				       /* where the bytes to send start in hbuf */
	uint32_t hlen;				       /* bytes to send from hoff */
	uint32_t hsent;				       /* of which sent */
	uint32_t head_len;			       /* bytes of the head alone */
	struct sockaddr_storage peer_addr, local_addr; /* the client's connection, for PROXY v2 */
	char reply[REPLY_MAX];
	uint32_t rlen, rsent;

	struct upstream up[POOL_MAX];
	int pool; /* pool of the current request, -1 between requests */
	int bfd;  /* backend socket of the current request */
	bool reused;
	bool connect_timed_out;
	unsigned tries;

	/* current request */
	enum http_method method;
	bool req_keep_alive;
	bool req_upgrade;
	enum http_body req_body;
	uint64_t req_left;
	struct http_chunked req_ch;
	uint32_t up_left; /* body bytes handed to the current backend send, not yet sent */
	bool up_done_pending;
	bool req_done;
	bool client_eof;
	uint32_t route_id;
	uint32_t route_slot; /* counters slot of that route */
	char reqline[128];   /* -v: "METHOD target" of the current request, for its log line */

	/* current response */
	bool resp_head;
	bool resp_started;
	bool resp_done;
	bool resp_keep;
	bool tunnel;
	bool backend_eof;
	bool close_sent; /* strgd stopping: this response told the client to close */
	unsigned status;
	enum http_body resp_body;
	uint64_t resp_left;
	struct http_chunked resp_ch;
	uint32_t down_left;
	bool down_done_pending;

	/* user-space counters of the current exchange */
	uint64_t t_req;	 /* head parsed */
	uint64_t t_resp; /* response head seen */
	uint64_t nin;	 /* request bytes sent up */
	uint64_t nout;	 /* response bytes sent down */

	/* kernel fast path (spliced connections only) */
	bool spliced;
	bool adopted;  /* finishing a response the kernel passed up */
	bool kwait;    /* holding passed-up bytes until the kernel's response is done */
	bool eof_wait; /* client ended; closing once the kernel's bytes drained */
	bool cut_wait; /* backend ended inside a kernel-carried response; likewise */
	uint64_t eof_deadline;
	uint64_t cookie;       /* client socket cookie */
	uint64_t rx_total;     /* bytes read from the client socket */
	uint64_t tx_total;     /* bytes strgd itself sent to the client */
	uint64_t last_kreq_ns; /* the kernel's last request, when last looked at */
	uint64_t active_ns;    /* last exchange of strgd's or the kernel's (idle timeout) */
	uint64_t last_kout;    /* strg_conn.out when last looked at, and since when */
	uint64_t last_kout_ns;
	uint64_t tail_sent; /* body tail bytes sent on for the kernel (see strg_conn.tail_owed) */
	bool corked;	    /* TCP_CORK holds the end of a response until the hand-back */
	bool handing;	    /* "auto": recv cancelled to hand the idle connection to the kernel */
	uint64_t splice_at; /* "auto": when an idle connection goes to the kernel */
	uint32_t resp_passed_seen;
	uint64_t acked_base; /* tcpi_bytes_acked of the client socket before any data */
	struct strg_conn_ctl ctl;
};

struct proxy {
	struct io_uring ring;
	struct config *cfg;
	struct splice *sp;	/* NULL: user-space path only */
	struct stats *st;	/* per-route counters */
	struct connmap spliced; /* client socket cookie -> spliced connection */
	int events_fd;
	struct ctlsrv *ctl;	/* the control socket's server */
	struct ctl_env ctl_env; /* what its commands work on */
	int lfd;
	bool stopping;
	uint64_t stop_ns;   /* when the stop began */
	bool accept_paused; /* accept failed for lack of resources: retried on the timer tick */
	uint64_t stop_deadline;
	struct conn *conns;
	unsigned long nconns;
	unsigned long next_id;
	unsigned long spurious; /* recvs that woke with EAGAIN on spliced sockets */
	struct __kernel_timespec tick;
	struct http_request req; /* scratch for the parser: large, used synchronously */
};

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t ms_ns(uint32_t ms)
{
	return (uint64_t)ms * 1000000ull;
}

/* conn.c: submissions, life and end of a connection */
void conn_submit(struct conn *c, struct io_uring_sqe *sqe, enum ring_op op);
void conn_recv_client(struct conn *c);
void conn_send_client(struct conn *c, const char *buf, uint32_t len);
void conn_recv_backend(struct conn *c);
void conn_send_backend(struct conn *c, const char *buf, uint32_t len);
void conn_cancel_op(struct conn *c, enum ring_op op);
struct conn *conn_new(struct proxy *px, int fd);
int conn_buffers(struct conn *c);
void conn_buffers_release(struct conn *c);
void conn_free(struct conn *c);
void conn_close(struct conn *c);
void conn_linger(struct conn *c);
void conn_reply(struct conn *c, unsigned status);
void conn_count(struct conn *c, unsigned status);

/* exchange.c: one request and its response, in user space */
void exchange_reset(struct conn *c);
void exchange_request(struct conn *c);
void exchange_on_connect(struct conn *c, int res);
void exchange_on_crecv(struct conn *c, int res);
void exchange_on_bsend(struct conn *c, int res);
void exchange_on_brecv(struct conn *c, int res);
void exchange_on_csend(struct conn *c, int res);

/* handoff.c: handing connections to the kernel fast path and back */
bool handoff_kernel_busy(const struct strg_conn *k);
bool handoff_kernel_state(struct conn *c, struct strg_conn *k);
void handoff_connected(struct conn *c);
void handoff_drop_backend(struct conn *c, int pool);
void handoff_hand_back(struct conn *c);
void handoff_recheck(struct conn *c);
void handoff_input(struct conn *c);
void handoff_on_tail_sent(struct conn *c, int res);
bool handoff_now(const struct conn *c);
void handoff_cork(struct conn *c);
void handoff_uncork(struct conn *c);
void handoff_on_watch(struct conn *c, unsigned pool, int res);
void handoff_on_event(void *ctx, const struct strg_event *ev);
void handoff_kernel_timeout(struct conn *c, const struct strg_conn *k);
bool conn_backend_reusable(struct conn *c, int pool);
void conn_unsolicited(struct conn *c, int pool, const char *how);

#endif
