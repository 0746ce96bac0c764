// SPDX-License-Identifier: GPL-2.0-only
/*
 * The user-space proxy: a single io_uring loop that accepts clients, parses each request head,
 * routes it to a pool, forwards it over a per-pool backend connection and streams both bodies.
 *
 * One exchange (request + response) runs at a time per client connection: pipelined requests
 * wait in the client buffer until the previous response is complete, which keeps responses in
 * order even when consecutive requests go to different pools.
 */
#include <errno.h>
#include <netinet/in.h>
#include <linux/tcp.h>
#include <arpa/inet.h>
#include <linux/sockios.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "proxy.h"
#include "ring.h"
#include "connmap.h"
#include "proxyproto.h"
#include "splice.h"

#define RING_ENTRIES 1024
#define TICK_NS	     (100 * 1000000ull)
#define LINGER_NS    (1000 * 1000000ull)
#define DRAIN_NS     (30 * 1000000000ull)
/* tcp_info.tcpi_state values (include/net/tcp_states.h, not exported to user space). */
#define STRG_TCP_ESTABLISHED 1
#define STRG_TCP_CLOSE_WAIT  8
/* "splice auto": idle this long between requests, a connection is handed to the kernel. */
#define SPLICE_IDLE_NS	  (1000 * 1000000ull)
#define BBUF_SIZE	  (64 * 1024)
#define REPLY_MAX	  256
#define ADDED_HEADERS_MAX 128

volatile sig_atomic_t proxy_stop_requested;

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
	int fd;	  /* connected backend socket, -1 when none */
	int bidx; /* index of the backend in its pool */
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

	/* current response */
	bool resp_head;
	bool resp_started;
	bool resp_done;
	bool resp_keep;
	bool tunnel;
	bool backend_eof;
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
	uint64_t eof_deadline;
	uint64_t cookie;   /* client socket cookie */
	uint64_t rx_total; /* bytes read from the client socket */
	uint64_t tx_total; /* bytes strgd itself sent to the client */
	uint64_t last_kreq_ns;
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
	struct connmap spliced; /* client socket cookie -> spliced connection */
	int events_fd;
	int lfd;
	bool stopping;
	uint64_t stop_deadline;
	struct conn *conns;
	unsigned long nconns;
	unsigned long next_id;
	unsigned long spurious; /* recvs that woke with EAGAIN on spliced sockets */
	struct __kernel_timespec tick;
	struct http_request req; /* scratch for the parser: large, used synchronously */
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t ms_ns(uint32_t ms)
{
	return (uint64_t)ms * 1000000ull;
}

static void conn_close(struct conn *c);
static int conn_buffers(struct conn *c);
static void conn_buffers_release(struct conn *c);
static void conn_reply(struct conn *c, unsigned status);
static void try_request(struct conn *c);
static void pump_up(struct conn *c);
static void pump_down(struct conn *c);
static void connect_next(struct conn *c);
static void watch_backends(struct conn *c);
static void watch_client(struct conn *c);
static void head_input(struct conn *c);
static void cork_last_bytes(struct conn *c);
static void uncork(struct conn *c);
static void exchange_reset(struct conn *c);
static void conn_linger(struct conn *c);

/* ---- submission helpers: each marks its operation pending ---- */

static void submit(struct conn *c, struct io_uring_sqe *sqe, enum ring_op op)
{
	io_uring_sqe_set_data64(sqe, ring_tag(c, op));
	c->pending |= 1u << op;
}

static void submit_crecv(struct conn *c)
{
	struct io_uring_sqe *sqe;

	if (c->pending & (1u << RING_OP_CRECV))
		return;
	if (conn_buffers(c) < 0) {
		pr_warn("conn %lu: out of memory", c->id);
		conn_close(c);
		return;
	}
	if (c->cstart == c->cend) {
		c->cstart = 0;
		c->cend = 0;
	} else if (c->cend == c->ccap && c->cstart > 0 && !(c->pending & (1u << RING_OP_BSEND))) {
		memmove(c->cbuf, c->cbuf + c->cstart, c->cend - c->cstart);
		c->cend -= c->cstart;
		c->cstart = 0;
	}
	sqe = ring_get_sqe(&c->px->ring);
	io_uring_prep_recv(sqe, c->cfd, c->cbuf + c->cend, c->ccap - c->cend, 0);
	submit(c, sqe, RING_OP_CRECV);
}

static void submit_csend(struct conn *c, const char *buf, uint32_t len)
{
	struct io_uring_sqe *sqe = ring_get_sqe(&c->px->ring);

	io_uring_prep_send(sqe, c->cfd, buf, len, MSG_NOSIGNAL);
	submit(c, sqe, RING_OP_CSEND);
}

static void submit_brecv(struct conn *c)
{
	struct io_uring_sqe *sqe;

	if (c->pending & (1u << RING_OP_BRECV))
		return;
	if (c->bstart == c->bend) {
		c->bstart = 0;
		c->bend = 0;
	} else if (c->bend == BBUF_SIZE && c->bstart > 0) {
		memmove(c->bbuf, c->bbuf + c->bstart, c->bend - c->bstart);
		c->bend -= c->bstart;
		c->bstart = 0;
	}
	sqe = ring_get_sqe(&c->px->ring);
	io_uring_prep_recv(sqe, c->bfd, c->bbuf + c->bend, BBUF_SIZE - c->bend, 0);
	submit(c, sqe, RING_OP_BRECV);
}

static void submit_bsend(struct conn *c, const char *buf, uint32_t len)
{
	struct io_uring_sqe *sqe = ring_get_sqe(&c->px->ring);

	io_uring_prep_send(sqe, c->bfd, buf, len, MSG_NOSIGNAL);
	submit(c, sqe, RING_OP_BSEND);
}

static void cancel_op(struct conn *c, enum ring_op op)
{
	struct io_uring_sqe *sqe;

	if (!(c->pending & (1u << op)))
		return;
	sqe = ring_get_sqe(&c->px->ring);
	io_uring_prep_cancel64(sqe, ring_tag(c, op), 0);
	io_uring_sqe_set_data64(sqe, ring_tag(NULL, RING_OP_NONE));
}

/* ---- connection life ---- */

static struct conn *conn_new(struct proxy *px, int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct conn *c;
	int one = 1;

	/* 64-byte aligned: the low 6 bits of a completion's user_data carry the operation. */
	c = aligned_alloc(64, (sizeof(*c) + 63) & ~(size_t)63);
	if (!c)
		return NULL;
	memset(c, 0, sizeof(*c));
	c->ccap = px->cfg->limits.max_head + px->cfg->limits.max_request_line + 4096;
	if (conn_buffers(c) < 0) {
		free(c);
		return NULL;
	}
	c->px = px;
	c->id = ++px->next_id;
	c->cfd = fd;
	c->pool = -1;
	c->bfd = -1;
	for (int i = 0; i < POOL_MAX; i++)
		c->up[i].fd = -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	strcpy(c->peer, "?");
	sl = sizeof(c->local_addr);
	getsockname(fd, (struct sockaddr *)&c->local_addr, &sl);
	sl = sizeof(ss);
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0) {
		c->peer_addr = ss;
		if (ss.ss_family == AF_INET)
			inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, c->peer,
				  sizeof(c->peer));
		else if (ss.ss_family == AF_INET6)
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, c->peer,
				  sizeof(c->peer));
	}
	c->next = px->conns;
	if (px->conns)
		px->conns->prev = c;
	px->conns = c;
	px->nconns++;
	return c;
}

static size_t conn_buffers_size(const struct conn *c)
{
	return ((size_t)c->ccap + BBUF_SIZE + PROXYPROTO_V2_MAX + c->ccap + ADDED_HEADERS_MAX +
		4095) &
	       ~(size_t)4095;
}

/*
 * The per-connection buffers, one mapping (client bytes, backend bytes, head to send). A
 * mapping, not malloc: releasing it when the kernel takes a connection over gives the memory
 * back to the system, where free() would keep it in the heap.
 */
static int conn_buffers(struct conn *c)
{
	char *m;

	if (c->cbuf)
		return 0;
	m = mmap(NULL, conn_buffers_size(c), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		 -1, 0);
	if (m == MAP_FAILED)
		return -ENOMEM;
	c->cbuf = m;
	c->bbuf = m + c->ccap;
	c->hbuf = c->bbuf + BBUF_SIZE;
	return 0;
}

static void conn_buffers_release(struct conn *c)
{
	if (!c->cbuf)
		return;
	munmap(c->cbuf, conn_buffers_size(c));
	c->cbuf = NULL;
	c->bbuf = NULL;
	c->hbuf = NULL;
}

static void conn_free(struct conn *c)
{
	struct proxy *px = c->px;

	if (c->prev)
		c->prev->next = c->next;
	else
		px->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	px->nconns--;
	if (c->spliced) {
		splice_conn_forget(px->sp, c->cookie, &c->ctl);
		connmap_del(&px->spliced, c->cookie);
	}
	for (int i = 0; i < POOL_MAX; i++)
		if (c->up[i].fd >= 0)
			close(c->up[i].fd);
	close(c->cfd);
	conn_buffers_release(c);
	free(c);
}

/* Cancel whatever is in flight; the connection is freed once the last completion arrived. */
static void conn_close(struct conn *c)
{
	c->state = ST_CLOSING;
	for (int op = RING_OP_CRECV; op <= RING_OP_CWATCH; op++)
		cancel_op(c, (enum ring_op)op);
	if (!c->pending)
		conn_free(c);
}

/* Stop talking to the current backend: its socket may hold half a request, never reuse it. */
static void backend_abandon(struct conn *c)
{
	cancel_op(c, RING_OP_BRECV);
	cancel_op(c, RING_OP_BSEND);
	cancel_op(c, RING_OP_CONNECT);
	if (c->pool >= 0 && c->up[c->pool].fd >= 0) {
		/* Wakes the cancelled operations; the fd itself is closed with the connection. */
		shutdown(c->up[c->pool].fd, SHUT_RDWR);
	}
}

/* Shut our write side and read until the client's EOF, so unread input does not turn into RST. */
static void conn_linger(struct conn *c)
{
	shutdown(c->cfd, SHUT_WR);
	c->state = ST_LINGER;
	c->deadline_ns = now_ns() + LINGER_NS;
	c->cstart = 0;
	c->cend = 0;
	submit_crecv(c);
}

/* Answer with a status of our own and close; only possible before any response byte went out. */
static void conn_reply(struct conn *c, unsigned status)
{
	const char *reason = http_reason(status);
	char body[64];
	int blen, n;

	if (c->resp_started || c->state >= ST_REPLY) {
		conn_close(c);
		return;
	}
	backend_abandon(c);
	blen = snprintf(body, sizeof(body), "%u %s\n", status, reason);
	n = snprintf(c->reply, sizeof(c->reply),
		     "HTTP/1.1 %u %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
		     "Connection: close\r\n\r\n%s",
		     status, reason, blen, c->method == HTTP_M_HEAD ? "" : body);
	c->rlen = (uint32_t)n;
	c->rsent = 0;
	c->state = ST_REPLY;
	c->deadline_ns = now_ns() + ms_ns(c->px->cfg->client_timeout_ms);
	if (!(c->pending & (1u << RING_OP_CSEND)))
		submit_csend(c, c->reply, c->rlen);
}

/* ---- kernel fast path ---- */

static bool kernel_busy(const struct strg_conn *k)
{
	return k->phase == STRG_PH_KREQ || k->phase == STRG_PH_KBODY;
}

/* The kernel's view of a spliced connection; false when there is none. */
static bool kernel_state(struct conn *c, struct strg_conn *k)
{
	return c->spliced && splice_conn_get(c->px->sp, c->cookie, k) == 0;
}

/*
 * Hand a connection to the kernel: its state, its backends, then the client socket itself. Only
 * between requests with nothing buffered; the response strgd sent last is corked until this is
 * done, so the client's next request cannot overtake it.
 */
static bool splice_take_over(struct conn *c)
{
	struct proxy *px = c->px;
	socklen_t len = sizeof(struct tcp_info);
	struct tcp_info ti;
	uint64_t bc;
	int outq = 0;

	c->cookie = splice_cookie(c->cfd);
	if (!c->cookie || splice_conn_begin(px->sp, c->cookie) < 0)
		return false;
	memset(&c->ctl, 0, sizeof(c->ctl));
	for (unsigned p = 0; p < px->cfg->npools; p++)
		if (c->up[p].fd >= 0 &&
		    splice_backend_add(px->sp, c->cookie, p, c->up[p].fd, &bc) == 0)
			c->ctl.backend[p] = bc;
	/* The kernel counts from here: bytes read, written and acknowledged start at zero. */
	c->rx_total = 0;
	c->tx_total = 0;
	c->acked_base = 0;
	if (getsockopt(c->cfd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 &&
	    ioctl(c->cfd, SIOCOUTQ, &outq) == 0)
		c->acked_base = ti.tcpi_bytes_acked + (uint64_t)outq;
	c->ctl.idle_at = 0;
	if (splice_ctl_set(px->sp, c->cookie, &c->ctl) < 0 ||
	    connmap_put(&px->spliced, c->cookie, c) < 0)
		goto out_forget;
	if (splice_client_insert(px->sp, c->cookie, c->cfd) < 0) {
		connmap_del(&px->spliced, c->cookie);
		goto out_forget;
	}
	c->spliced = true;
	return true;
out_forget:
	splice_conn_forget(px->sp, c->cookie, &c->ctl);
	memset(&c->ctl, 0, sizeof(c->ctl));
	return false;
}

/* A new backend connection joins the splice, so the kernel can send the pool's requests to it. */
static void splice_connected(struct conn *c)
{
	uint64_t bc;
	int err;

	if (!c->spliced)
		return;
	err = splice_backend_add(c->px->sp, c->cookie, (unsigned)c->pool, c->bfd, &bc);
	if (err < 0) {
		pr_debug("conn %lu: backend not spliced: %s", c->id, strerror(-err));
		return;
	}
	c->ctl.backend[c->pool] = bc;
	splice_ctl_set(c->px->sp, c->cookie, &c->ctl);
}

/* Close the backend connection of a pool; the kernel stops using it first. */
static void backend_drop(struct conn *c, int pool)
{
	if (c->up[pool].fd < 0)
		return;
	if (c->spliced && c->ctl.backend[pool]) {
		uint64_t bc = c->ctl.backend[pool];

		c->ctl.backend[pool] = 0;
		splice_ctl_set(c->px->sp, c->cookie, &c->ctl);
		splice_sock_forget(c->px->sp, bc);
	}
	close(c->up[pool].fd);
	c->up[pool].fd = -1;
}

/*
 * Between requests with nothing buffered: every byte the kernel passed up has been consumed, so
 * it may classify the next request itself. It compares this count with its own.
 */
static void splice_hand_back(struct conn *c)
{
	struct strg_conn k;
	ssize_t n;

	if (c->cstart != c->cend) {
		uncork(c);
		return;
	}
	if (!c->spliced) {
		if (!c->px->sp || !splice_take_over(c)) {
			uncork(c);
			submit_crecv(c); /* stays in user space */
			return;
		}
		uncork(c); /* the kernel now sees the client's next request */
		/*
		 * Bytes that arrived just before the insert wait in the queue until something
		 * reads or more arrive: a read runs them through the verdict now. What it passes
		 * up lands here.
		 */
		n = recv(c->cfd, c->cbuf, c->ccap, MSG_DONTWAIT);
		if (n > 0) {
			c->cstart = 0;
			c->cend = (uint32_t)n;
			c->rx_total = (uint64_t)n;
			head_input(c);
			return;
		}
	} else {
		c->ctl.idle_at = c->rx_total;
		splice_ctl_set(c->px->sp, c->cookie, &c->ctl);
		uncork(c);
	}
	/*
	 * No recv stays armed on a socket the kernel owns: it would wake for every redirected
	 * skb. Passed-up bytes announce themselves through the event ring; only a FIN is polled
	 * for. Bytes passed before idle_at was written come with no new event: read them now.
	 */
	if (kernel_state(c, &k)) {
		c->resp_passed_seen = k.resp_passed; /* strgd's own exchange passed those up */
		if (k.passed != c->rx_total) {
			submit_crecv(c);
			return;
		}
	}
	watch_client(c);
	watch_backends(c);
	/* The kernel owns the connection: an idle keep-alive connection costs strgd no buffers. */
	if (!(c->pending & ((1u << RING_OP_CRECV) | (1u << RING_OP_CSEND) | (1u << RING_OP_BRECV) |
			    (1u << RING_OP_BSEND))))
		conn_buffers_release(c);
}

/* Bytes written into the client socket by anyone (strgd or the kernel's redirects). */
static bool client_drained(struct conn *c, const struct strg_conn *k)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	int outq = 0;

	if (getsockopt(c->cfd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0 ||
	    ioctl(c->cfd, SIOCOUTQ, &outq) < 0)
		return true;
	/* A reset peer takes nothing more: there is nothing left to wait for. */
	if (ti.tcpi_state != STRG_TCP_ESTABLISHED && ti.tcpi_state != STRG_TCP_CLOSE_WAIT)
		return true;
	return ti.tcpi_bytes_acked + (uint64_t)outq - c->acked_base >= c->tx_total + k->out;
}

/*
 * Poll the kernel for a connection waiting on it: passed-up bytes held back while its response
 * was in flight, or a client EOF that must not cut the redirected bytes short.
 */
static void splice_recheck(struct conn *c)
{
	struct strg_conn k;

	if (!kernel_state(c, &k)) {
		c->kwait = false;
		if (c->eof_wait)
			conn_close(c);
		else
			try_request(c);
		return;
	}
	if (kernel_busy(&k))
		return;
	if (c->eof_wait) {
		/* Bounded: a client that stopped reading does not hold strgd past its timeout. */
		if (client_drained(c, &k) || now_ns() > c->eof_deadline)
			conn_linger(c);
		return;
	}
	if (c->kwait) {
		c->kwait = false;
		head_input(c);
	}
}

/*
 * Bytes read between requests on a spliced connection. The end of a body the kernel carried
 * goes on to its backend first; a request that arrived while the kernel still carries a
 * response waits for it; with nothing left, the kernel owns the connection again.
 */
static void head_input(struct conn *c)
{
	struct strg_conn k;

	if (!c->spliced || !kernel_state(c, &k)) {
		try_request(c);
		return;
	}
	if (k.tail_owed != c->tail_sent) {
		uint64_t owed = k.tail_owed - c->tail_sent;
		uint32_t avail = c->cend - c->cstart;

		if (!avail) {
			submit_crecv(c);
			return;
		}
		if (k.pool >= c->px->cfg->npools || c->up[k.pool].fd < 0) {
			conn_close(c);
			return;
		}
		c->state = ST_TAIL;
		c->bfd = c->up[k.pool].fd;
		c->up_left = owed < avail ? (uint32_t)owed : avail;
		submit_bsend(c, c->cbuf + c->cstart, c->up_left);
		return;
	}
	if (kernel_busy(&k) && c->cstart != c->cend) {
		c->kwait = true;
		return;
	}
	if (c->cstart == c->cend) {
		splice_hand_back(c);
		return;
	}
	try_request(c);
}

static void on_tail_sent(struct conn *c, int res)
{
	if (res <= 0) {
		conn_close(c);
		return;
	}
	c->cstart += (uint32_t)res;
	c->tail_sent += (uint64_t)res;
	c->up_left -= (uint32_t)res;
	if (c->up_left) {
		submit_bsend(c, c->cbuf + c->cstart, c->up_left);
		return;
	}
	c->state = ST_HEAD;
	c->bfd = -1;
	head_input(c);
}

/*
 * A client answered by strgd on a spliced connection sends its next request the moment the
 * response ends, often before strgd handed the connection back, and that request then takes
 * the slow path. Corking the last bytes until the hand-back is written closes that window.
 */
/*
 * Whether the kernel takes the connection as soon as an exchange ends: always once spliced,
 * and after the first request with "splice always" ("auto" waits for the connection to idle).
 */
static bool hands_back_now(const struct conn *c)
{
	return c->spliced || (c->px->sp && c->px->cfg->splice == SPLICE_ALWAYS);
}

static void cork_last_bytes(struct conn *c)
{
	int one = 1;

	if (!hands_back_now(c) || !c->req_done || !c->req_keep_alive || !c->resp_keep ||
	    c->px->stopping || c->corked)
		return;
	c->corked = setsockopt(c->cfd, IPPROTO_TCP, TCP_CORK, &one, sizeof(one)) == 0;
}

static void uncork(struct conn *c)
{
	int zero = 0;

	if (!c->corked)
		return;
	c->corked = false;
	setsockopt(c->cfd, IPPROTO_TCP, TCP_CORK, &zero, sizeof(zero));
}

static void watch_client(struct conn *c)
{
	struct io_uring_sqe *sqe;

	if (c->pending & (1u << RING_OP_CWATCH))
		return;
	sqe = ring_get_sqe(&c->px->ring);
	io_uring_prep_poll_add(sqe, c->cfd, POLLRDHUP);
	submit(c, sqe, RING_OP_CWATCH);
}

static void watch_backends(struct conn *c)
{
	struct io_uring_sqe *sqe;

	if (!c->spliced)
		return;
	for (unsigned p = 0; p < c->px->cfg->npools; p++) {
		enum ring_op op = (enum ring_op)(RING_OP_WATCH + p);

		if (c->up[p].fd < 0 || (c->pending & (1u << op)))
			continue;
		sqe = ring_get_sqe(&c->px->ring);
		io_uring_prep_poll_add(sqe, c->up[p].fd, POLLRDHUP);
		submit(c, sqe, op);
	}
}

/*
 * A spliced backend became readable while strgd was idle: either the kernel passed up a
 * response it could not carry (chunked, close-delimited, interim...), which strgd finishes, or
 * the backend closed its end.
 */
/* Finish a response that the kernel passed up on the backend socket of pool. */
static void adopt_response(struct conn *c, unsigned pool, const struct strg_conn *k)
{
	if (conn_buffers(c) < 0) {
		conn_close(c);
		return;
	}
	exchange_reset(c);
	c->pool = (int)pool;
	c->bfd = c->up[pool].fd;
	c->reused = true;
	c->adopted = true;
	c->method = (enum http_method)k->method;
	c->req_keep_alive = true;
	c->req_body = HTTP_BODY_NONE;
	c->req_done = true;
	c->state = ST_XFER;
	c->deadline_ns = now_ns() + ms_ns(c->px->cfg->server_timeout_ms);
	submit_brecv(c);
}

/* A spliced backend's FIN while strgd was idle. */
static void on_watch(struct conn *c, unsigned pool, int res)
{
	struct strg_conn k;

	if (c->state != ST_HEAD || c->up[pool].fd < 0 || res < 0)
		return; /* busy: the exchange reads it; the watch is armed again when idle */
	if (!kernel_state(c, &k)) {
		conn_close(c);
		return;
	}
	if (k.resp_passed != c->resp_passed_seen) {
		c->resp_passed_seen = k.resp_passed;
		adopt_response(c, pool, &k); /* a response and its FIN: finish it first */
		return;
	}
	if (k.pool == pool && k.phase == STRG_PH_KREQ) {
		conn_reply(c, 502); /* it closed with the kernel's request unanswered */
		return;
	}
	if (k.pool == pool && k.phase == STRG_PH_KBODY) {
		conn_close(c); /* it closed inside the response */
		return;
	}
	pr_debug("conn %lu: idle backend of pool %s closed", c->id, c->px->cfg->pools[pool].name);
	backend_drop(c, (int)pool);
}

/* The verdict passed something up for a connection the kernel owns. */
static void on_event(void *ctx, const struct strg_event *ev)
{
	struct conn *c = connmap_get(&((struct proxy *)ctx)->spliced, ev->client);
	struct strg_conn k;

	if (!c || c->state != ST_HEAD)
		return; /* busy: the exchange in progress reads it, or hand-back looks */
	if (c->kwait || c->eof_wait) {
		splice_recheck(c);
		return;
	}
	if (ev->kind == STRG_EV_CLIENT) {
		/* Nothing unread (the event was for bytes already consumed): stay out of the way.
		 */
		if (kernel_state(c, &k) && k.passed == c->rx_total) {
			if (!kernel_busy(&k))
				splice_hand_back(c);
			return;
		}
		submit_crecv(c);
		return;
	}
	if (ev->pool < STRG_POOLS_MAX && c->up[ev->pool].fd >= 0 && kernel_state(c, &k) &&
	    k.resp_passed != c->resp_passed_seen) {
		c->resp_passed_seen = k.resp_passed;
		adopt_response(c, ev->pool, &k);
	}
}

/* ---- request side ---- */

static void exchange_reset(struct conn *c)
{
	c->pool = -1;
	c->bfd = -1;
	c->reused = false;
	c->connect_timed_out = false;
	c->tries = 0;
	c->method = HTTP_M_UNKNOWN;
	c->hlen = 0;
	c->hsent = 0;
	c->up_left = 0;
	c->up_done_pending = false;
	c->req_done = false;
	c->resp_head = false;
	c->resp_started = false;
	c->resp_done = false;
	c->resp_keep = false;
	c->tunnel = false;
	c->backend_eof = false;
	c->status = 0;
	c->down_left = 0;
	c->down_done_pending = false;
	c->adopted = false;
	c->t_req = 0;
	c->t_resp = 0;
	c->nin = 0;
	c->nout = 0;
	c->bstart = 0;
	c->bend = 0;
}

/* Copy the head minus its final CRLF, then the headers a proxy adds, then the CRLF. */
static void build_head(struct conn *c, const struct http_request *req, size_t head_len)
{
	char *head = c->hbuf + PROXYPROTO_V2_MAX;
	size_t n = head_len - 2;
	int added;

	memcpy(head, c->cbuf + c->cstart, n);
	added = snprintf(head + n, ADDED_HEADERS_MAX,
			 "X-Forwarded-For: %s\r\nX-Forwarded-Proto: http\r\nVia: 1.%u strg\r\n\r\n",
			 c->peer, req->version_minor);
	c->head_len = (uint32_t)(n + (size_t)added);
	c->hoff = PROXYPROTO_V2_MAX;
	c->hlen = c->head_len;
	c->hsent = 0;
}

static void try_request(struct conn *c)
{
	struct proxy *px = c->px;
	struct http_request *req = &px->req;
	const struct route *rt;
	int n;

	n = http_parse_request(c->cbuf + c->cstart, c->cend - c->cstart, &px->cfg->limits, req);
	if (n == 0) {
		c->deadline_ns = now_ns() + ms_ns(px->cfg->client_timeout_ms);
		submit_crecv(c);
		return;
	}
	if (n < 0) {
		pr_info("conn %lu: %s: rejected request with %d", c->id, c->peer, -n);
		c->method = HTTP_M_UNKNOWN;
		conn_reply(c, (unsigned)-n);
		return;
	}
	rt = route_table_lookup(px->cfg->routes, req->method, req->host, req->host_len, req->path,
				req->path_len);
	if (!rt) {
		c->method = req->method;
		conn_reply(c, 404);
		return;
	}
	c->method = req->method;
	c->route_id = rt->id;
	c->t_req = now_ns();
	c->pool = rt->spec.pool;
	c->req_keep_alive = req->keep_alive;
	c->req_upgrade = req->upgrade;
	c->req_body = req->body;
	c->req_left = req->content_length;
	http_chunked_init(&c->req_ch);
	c->req_done = req->body == HTTP_BODY_NONE;
	pr_debug("conn %lu: %.*s %.*s -> route %u pool %s", c->id, (int)req->method_len,
		 req->method_str, (int)req->target_len, req->target, rt->id,
		 px->cfg->pools[c->pool].name);
	build_head(c, req, (size_t)n);
	c->cstart += (uint32_t)n;
	if (c->up[c->pool].fd >= 0) {
		c->bfd = c->up[c->pool].fd;
		c->reused = true;
		c->state = ST_XFER;
		c->deadline_ns = now_ns() + ms_ns(px->cfg->server_timeout_ms);
		submit_bsend(c, c->hbuf + c->hoff, c->hlen);
		submit_brecv(c);
		return;
	}
	connect_next(c);
}

static void connect_next(struct conn *c)
{
	struct proxy *px = c->px;
	struct pool *p = &px->cfg->pools[c->pool];
	struct io_uring_sqe *sqe;
	int idx, fd, one = 1;

	idx = pool_pick(p, now_ns());
	if (idx < 0) {
		if (!c->tries)
			pr_warn("conn %lu: pool %s has no ready backend", c->id, p->name);
		conn_reply(c, c->tries ? (c->connect_timed_out ? 504 : 502) : 503);
		return;
	}
	fd = socket(p->backends[idx].addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		pr_warn("conn %lu: socket: %s", c->id, strerror(errno));
		conn_reply(c, 503);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->up[c->pool].fd = fd;
	c->up[c->pool].bidx = idx;
	c->bfd = fd;
	c->reused = false;
	c->state = ST_CONNECT;
	c->deadline_ns = now_ns() + ms_ns(px->cfg->connect_timeout_ms);
	sqe = ring_get_sqe(&px->ring);
	io_uring_prep_connect(sqe, fd, (struct sockaddr *)&p->backends[idx].addr,
			      p->backends[idx].addrlen);
	submit(c, sqe, RING_OP_CONNECT);
}

/*
 * A new backend connection starts with the PROXY v2 header when its pool asks for one: the
 * backend then knows the client on every request of the connection, the kernel's included.
 */
static void head_for_new_connection(struct conn *c, const struct pool *p)
{
	char pp[PROXYPROTO_V2_MAX];
	int n;

	c->hoff = PROXYPROTO_V2_MAX;
	c->hlen = c->head_len;
	c->hsent = 0;
	if (!p->proxy_protocol)
		return;
	n = proxyproto_v2(pp, sizeof(pp), (struct sockaddr *)&c->peer_addr,
			  (struct sockaddr *)&c->local_addr);
	if (n < 0) {
		pr_warn("conn %lu: no PROXY header for a client of this address family", c->id);
		return;
	}
	c->hoff -= (uint32_t)n;
	c->hlen += (uint32_t)n;
	memcpy(c->hbuf + c->hoff, pp, (size_t)n);
}

static void on_connect(struct conn *c, int res)
{
	struct pool *p = &c->px->cfg->pools[c->pool];
	int idx = c->up[c->pool].bidx;

	if (res < 0) {
		bool timeout = res == -ECANCELED;

		pr_warn("conn %lu: backend %s of pool %s: connect: %s", c->id,
			p->backends[idx].name, p->name, timeout ? "timed out" : strerror(-res));
		pool_mark_down(p, (unsigned)idx, now_ns(), ms_ns(c->px->cfg->down_hold_ms));
		close(c->up[c->pool].fd);
		c->up[c->pool].fd = -1;
		c->bfd = -1;
		c->tries++;
		c->connect_timed_out = timeout;
		connect_next(c);
		return;
	}
	pool_mark_up(p, (unsigned)idx);
	splice_connected(c);
	head_for_new_connection(c, p);
	c->state = ST_XFER;
	c->deadline_ns = now_ns() + ms_ns(c->px->cfg->server_timeout_ms);
	submit_bsend(c, c->hbuf + c->hoff, c->hlen);
	submit_brecv(c);
}

/* Hand the next slice of request body to the backend, or read more of it from the client. */
static void pump_up(struct conn *c)
{
	uint32_t avail = c->cend - c->cstart;
	uint64_t n = 0;
	bool done = false;

	if (c->req_done || (c->pending & (1u << RING_OP_BSEND)) || c->hsent < c->hlen)
		return;
	if (!avail) {
		if (c->client_eof) {
			/* Tunnel: pass the client's half-close on once its bytes are all sent. */
			if (c->tunnel) {
				shutdown(c->bfd, SHUT_WR);
				if (c->backend_eof && !(c->pending & (1u << RING_OP_CSEND)))
					conn_close(c);
			}
			return;
		}
		submit_crecv(c);
		return;
	}
	switch (c->req_body) {
	case HTTP_BODY_LENGTH:
		n = avail < c->req_left ? avail : c->req_left;
		c->req_left -= n;
		done = c->req_left == 0;
		break;
	case HTTP_BODY_CHUNKED: {
		long r = http_chunked_feed(&c->req_ch, c->cbuf + c->cstart, avail, &done);

		if (r < 0) {
			pr_info("conn %lu: %s: malformed chunked request body", c->id, c->peer);
			conn_reply(c, 400);
			return;
		}
		n = (uint64_t)r;
		break;
	}
	default: /* tunnel: everything the client sends */
		n = avail;
		break;
	}
	if (!n) {
		c->req_done = done;
		return;
	}
	c->up_left = (uint32_t)n;
	c->up_done_pending = done;
	submit_bsend(c, c->cbuf + c->cstart, (uint32_t)n);
}

static void finish_exchange(struct conn *c)
{
	struct proxy *px = c->px;
	bool keep;

	if (!c->req_done || !c->resp_done || c->tunnel)
		return;
	/*
	 * A backend that sent more than its response or wants to close is not reused. No backend
	 * operation is in flight here: both directions of the exchange have completed.
	 */
	if (!c->resp_keep || c->bstart != c->bend)
		backend_drop(c, c->pool);
	if (px->sp && !c->adopted)
		splice_count_user(px->sp, c->route_id % STRG_ROUTE_SLOTS, c->route_id,
				  (unsigned)c->pool, c->nin, c->nout, c->status,
				  c->t_resp > c->t_req ? (c->t_resp - c->t_req) / 1000 : 0,
				  c->spliced);
	keep = c->req_keep_alive && c->resp_keep && !px->stopping;
	exchange_reset(c);
	if (!keep) {
		uncork(c);
		conn_linger(c);
		return;
	}
	c->state = ST_HEAD;
	c->deadline_ns = now_ns() + ms_ns(px->cfg->idle_timeout_ms);
	if (c->cstart < c->cend) {
		uncork(c);
		try_request(c);
		return;
	}
	if (hands_back_now(c)) {
		splice_hand_back(c); /* uncorks once the kernel has the connection */
		return;
	}
	/* "auto": the kernel takes the connection once it has been idle a while. */
	c->splice_at = now_ns() + SPLICE_IDLE_NS;
	uncork(c);
	submit_crecv(c);
}

/* The reused backend connection died before answering: connect afresh and send the head again. */
static bool retry_request(struct conn *c)
{
	if (!c->reused || c->adopted || c->resp_head || c->bstart != c->bend ||
	    c->req_body != HTTP_BODY_NONE ||
	    (c->pending & ((1u << RING_OP_BSEND) | (1u << RING_OP_BRECV))))
		return false;
	pr_debug("conn %lu: reused backend connection closed, reconnecting", c->id);
	backend_drop(c, c->pool);
	c->bfd = -1;
	c->hsent = 0;
	connect_next(c);
	return true;
}

static void on_crecv(struct conn *c, int res)
{
	if (res > 0)
		c->rx_total += (uint64_t)res;
	if (res == -ECANCELED && c->handing && c->state == ST_HEAD && c->cstart == c->cend) {
		c->handing = false;
		splice_hand_back(c);
		return;
	}
	c->handing = false;
	/*
	 * A socket in the sockhash can answer a blocking recv with EAGAIN when it was woken for
	 * bytes the verdict redirected elsewhere: nothing arrived for us, wait again.
	 */
	if (res == -EAGAIN) {
		c->px->spurious++;
		submit_crecv(c);
		return;
	}
	if (c->state == ST_LINGER || c->state == ST_REPLY) {
		c->cstart = 0;
		c->cend = 0;
		if (res <= 0) {
			if (c->state == ST_LINGER)
				conn_close(c);
			return;
		}
		if (c->state == ST_LINGER)
			submit_crecv(c);
		return;
	}
	if (res < 0) {
		if (res != -ECONNRESET)
			pr_debug("conn %lu: recv: %s", c->id, strerror(-res));
		conn_close(c);
		return;
	}
	if (res == 0) {
		c->client_eof = true;
		if (c->state == ST_HEAD) {
			/* EOF between requests is the normal end; inside a head it is an abort. */
			if (c->spliced) {
				/* The kernel may still be sending a response. */
				c->eof_wait = true;
				c->eof_deadline = now_ns() + ms_ns(c->px->cfg->client_timeout_ms);
				splice_recheck(c);
				return;
			}
			conn_close(c);
			return;
		}
		if (!c->req_done && !c->tunnel) {
			pr_info("conn %lu: client closed inside a request body", c->id);
			conn_close(c);
			return;
		}
		pump_up(c);
		return;
	}
	c->cend += (uint32_t)res;
	if (c->state == ST_HEAD) {
		head_input(c);
		return;
	}
	c->deadline_ns = now_ns() + ms_ns(c->px->cfg->client_timeout_ms);
	pump_up(c);
}

static void on_bsend(struct conn *c, int res)
{
	if (c->state == ST_TAIL) {
		on_tail_sent(c, res);
		return;
	}
	if (c->state != ST_XFER)
		return;
	if (res < 0) {
		/* Let the pending recv see the failure too; it decides between retry and 502. */
		if (c->pending & (1u << RING_OP_BRECV)) {
			shutdown(c->bfd, SHUT_RDWR);
			return;
		}
		if (retry_request(c))
			return;
		pr_info("conn %lu: backend send: %s", c->id, strerror(-res));
		conn_reply(c, 502);
		return;
	}
	c->nin += (uint64_t)res;
	if (c->hsent < c->hlen) {
		c->hsent += (uint32_t)res;
		if (c->hsent < c->hlen)
			submit_bsend(c, c->hbuf + c->hoff + c->hsent, c->hlen - c->hsent);
		else
			pump_up(c);
		return;
	}
	c->cstart += (uint32_t)res;
	c->up_left -= (uint32_t)res;
	if (c->up_left) {
		submit_bsend(c, c->cbuf + c->cstart, c->up_left);
		return;
	}
	if (c->up_done_pending) {
		c->req_done = true;
		c->deadline_ns = now_ns() + ms_ns(c->px->cfg->server_timeout_ms);
		finish_exchange(c);
		return;
	}
	pump_up(c);
}

/* ---- response side ---- */

/* Parse a response head at bstart; returns its length, 0 when more bytes are needed, -1 failed. */
static int parse_response_head(struct conn *c)
{
	struct http_response resp;
	int n;

	n = http_parse_response(c->bbuf + c->bstart, c->bend - c->bstart, BBUF_SIZE, c->method,
				&resp);
	if (n <= 0) {
		if (n == 0 && !(c->bstart == 0 && c->bend == BBUF_SIZE))
			return 0;
		pr_warn("conn %lu: pool %s sent a malformed response head", c->id,
			c->px->cfg->pools[c->pool].name);
		return -1;
	}
	c->status = resp.status;
	c->t_resp = now_ns();
	if (resp.status == 101 && c->req_upgrade) {
		c->resp_head = true;
		c->tunnel = true;
		c->resp_body = HTTP_BODY_CLOSE;
		c->req_body = HTTP_BODY_CLOSE;
		c->req_done = false;
		c->resp_keep = false;
		pump_up(c);
	} else if (resp.status >= 100 && resp.status < 200) {
		/* Interim response: forward it and parse the next head after it. */
		c->resp_body = HTTP_BODY_NONE;
	} else {
		c->resp_head = true;
		c->resp_body = resp.body;
		c->resp_left = resp.content_length;
		c->resp_keep = resp.keep_alive;
		http_chunked_init(&c->resp_ch);
	}
	return n;
}

static void pump_down(struct conn *c)
{
	uint32_t avail, head = 0;
	uint64_t n = 0;
	bool done = false, interim = false;

	if (c->pending & (1u << RING_OP_CSEND))
		return;
	if (!c->resp_head) {
		int r = parse_response_head(c);

		if (r < 0) {
			conn_reply(c, 502);
			return;
		}
		if (r == 0) {
			if (c->backend_eof) {
				if (!retry_request(c))
					conn_reply(c, 502);
				return;
			}
			submit_brecv(c);
			return;
		}
		head = (uint32_t)r;
		interim = !c->resp_head;
	}
	avail = c->bend - c->bstart - head;
	if (interim) {
		n = 0;
	} else {
		switch (c->resp_body) {
		case HTTP_BODY_NONE:
			done = true;
			break;
		case HTTP_BODY_LENGTH:
			n = avail < c->resp_left ? avail : c->resp_left;
			c->resp_left -= n;
			done = c->resp_left == 0;
			break;
		case HTTP_BODY_CHUNKED: {
			long r = http_chunked_feed(&c->resp_ch, c->bbuf + c->bstart + head, avail,
						   &done);

			if (r < 0) {
				pr_warn("conn %lu: pool %s sent malformed chunked body", c->id,
					c->px->cfg->pools[c->pool].name);
				conn_reply(c, 502);
				return;
			}
			n = (uint64_t)r;
			break;
		}
		default: /* close-delimited or tunnel: everything until EOF */
			n = avail;
			done = c->backend_eof && !avail;
			break;
		}
	}
	n += head;
	if (!n) {
		if (done) {
			c->resp_done = true;
			finish_exchange(c);
		} else if (c->backend_eof) {
			if (!c->tunnel)
				conn_close(c);
			else if (c->client_eof && !(c->pending & (1u << RING_OP_BSEND)))
				conn_close(c);
			else
				shutdown(c->cfd, SHUT_WR);
		} else {
			submit_brecv(c);
		}
		return;
	}
	c->resp_started = true;
	c->down_left = (uint32_t)n;
	c->down_done_pending = done;
	if (done)
		cork_last_bytes(c);
	submit_csend(c, c->bbuf + c->bstart, (uint32_t)n);
}

static void on_brecv(struct conn *c, int res)
{
	if (c->state != ST_XFER)
		return;
	if (res == -EAGAIN) { /* see on_crecv */
		c->px->spurious++;
		submit_brecv(c);
		return;
	}
	if (res <= 0) {
		if (res < 0 && res != -ECONNRESET)
			pr_info("conn %lu: backend recv: %s", c->id, strerror(-res));
		c->backend_eof = true;
		if (!c->resp_head && c->bstart == c->bend) {
			if (c->adopted) {
				/* Woken by the backend's FIN, not a response: back to idle. */
				int pool = c->pool;

				exchange_reset(c);
				backend_drop(c, pool);
				c->state = ST_HEAD;
				c->deadline_ns = now_ns() + ms_ns(c->px->cfg->idle_timeout_ms);
				return;
			}
			if (!retry_request(c))
				conn_reply(c, 502);
			return;
		}
		if (c->resp_body != HTTP_BODY_CLOSE) {
			if (!c->resp_started) {
				conn_reply(c, 502);
				return;
			}
			if (!(c->pending & (1u << RING_OP_CSEND)))
				conn_close(c);
			return;
		}
		c->resp_keep = false;
		pump_down(c);
		return;
	}
	c->bend += (uint32_t)res;
	c->deadline_ns = now_ns() + ms_ns(c->px->cfg->server_timeout_ms);
	pump_down(c);
}

static void on_csend(struct conn *c, int res)
{
	if (res > 0)
		c->tx_total += (uint64_t)res;
	if (c->state == ST_REPLY) {
		if (res <= 0) {
			conn_close(c);
			return;
		}
		c->rsent += (uint32_t)res;
		if (c->rsent < c->rlen)
			submit_csend(c, c->reply + c->rsent, c->rlen - c->rsent);
		else
			conn_linger(c);
		return;
	}
	if (c->state != ST_XFER)
		return;
	if (res <= 0) {
		conn_close(c);
		return;
	}
	c->nout += (uint64_t)res;
	/* The client is taking the response: its pace is the client timeout's business. */
	c->deadline_ns = now_ns() + ms_ns(c->px->cfg->client_timeout_ms);
	c->bstart += (uint32_t)res;
	c->down_left -= (uint32_t)res;
	if (c->down_left) {
		submit_csend(c, c->bbuf + c->bstart, c->down_left);
		return;
	}
	if (c->down_done_pending) {
		c->resp_done = true;
		finish_exchange(c);
		return;
	}
	if (c->backend_eof && c->bstart == c->bend) {
		pump_down(c);
		return;
	}
	pump_down(c);
}

/* ---- timers ---- */

static void expire(struct conn *c)
{
	switch (c->state) {
	case ST_HEAD:
		if (c->cstart == c->cend || c->kwait) {
			struct strg_conn k;

			/* Idle for strgd, maybe not for the kernel: requests it carried count. */
			if (kernel_state(c, &k) &&
			    (kernel_busy(&k) || k.req_ns != c->last_kreq_ns)) {
				c->last_kreq_ns = k.req_ns;
				c->deadline_ns = now_ns() + ms_ns(c->px->cfg->idle_timeout_ms);
				return;
			}
			conn_close(c); /* idle keep-alive connection */
			return;
		}
		conn_reply(c, 408);
		return;
	case ST_CONNECT:
		cancel_op(c, RING_OP_CONNECT); /* on_connect sees -ECANCELED: a timeout */
		c->deadline_ns = 0;
		return;
	case ST_XFER:
		if (c->resp_started) {
			pr_info("conn %lu: pool %s: timed out inside the response", c->id,
				c->px->cfg->pools[c->pool].name);
			conn_close(c);
			return;
		}
		pr_info("conn %lu: pool %s: %s timed out", c->id, c->px->cfg->pools[c->pool].name,
			c->req_done ? "response" : "request body");
		conn_reply(c, c->req_done ? 504 : 408);
		return;
	default:
		conn_close(c);
		return;
	}
}

static void on_timer(struct proxy *px)
{
	uint64_t now = now_ns();
	struct conn *c, *next;
	struct io_uring_sqe *sqe;

	for (c = px->conns; c; c = next) {
		next = c->next;
		if (c->state == ST_CLOSING)
			continue;
		if (c->state == ST_HEAD && (c->kwait || c->eof_wait)) {
			splice_recheck(c);
			continue;
		}
		if (px->sp && c->splice_at && now >= c->splice_at && c->state == ST_HEAD &&
		    c->cstart == c->cend && (c->pending & (1u << RING_OP_CRECV)) && !px->stopping) {
			/* Idle: take back the pending recv; its completion hands the connection
			 * over. */
			c->splice_at = 0;
			c->handing = true;
			cancel_op(c, RING_OP_CRECV);
			continue;
		}
		if (px->stopping && c->state == ST_HEAD && c->cstart == c->cend) {
			struct strg_conn k;

			if (kernel_state(c, &k) && kernel_busy(&k))
				continue;
			conn_close(c);
			continue;
		}
		if ((c->deadline_ns && now >= c->deadline_ns) ||
		    (px->stopping && now >= px->stop_deadline))
			expire(c);
	}
	sqe = ring_get_sqe(&px->ring);
	io_uring_prep_timeout(sqe, &px->tick, 0, 0);
	io_uring_sqe_set_data64(sqe, ring_tag(NULL, RING_OP_TIMER));
}

/* ---- accept and dispatch ---- */

static void submit_accept(struct proxy *px)
{
	struct io_uring_sqe *sqe = ring_get_sqe(&px->ring);

	io_uring_prep_multishot_accept(sqe, px->lfd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, ring_tag(NULL, RING_OP_ACCEPT));
}

static void on_accept(struct proxy *px, int res, unsigned flags)
{
	struct conn *c;

	if (!(flags & IORING_CQE_F_MORE) && !px->stopping)
		submit_accept(px);
	if (res < 0) {
		if (res != -ECANCELED)
			pr_warn("accept: %s", strerror(-res));
		return;
	}
	if (px->stopping) {
		close(res);
		return;
	}
	c = conn_new(px, res);
	if (!c) {
		pr_warn("accept: out of memory, dropping connection");
		close(res);
		return;
	}
	c->state = ST_HEAD;
	c->deadline_ns = now_ns() + ms_ns(px->cfg->idle_timeout_ms);
	submit_crecv(c);
}

static void submit_events_poll(struct proxy *px)
{
	struct io_uring_sqe *sqe = ring_get_sqe(&px->ring);

	io_uring_prep_poll_add(sqe, px->events_fd, POLLIN);
	io_uring_sqe_set_data64(sqe, ring_tag(NULL, RING_OP_EVENTS));
}

static void dispatch(struct proxy *px, struct io_uring_cqe *cqe)
{
	uint64_t ud = io_uring_cqe_get_data64(cqe);
	enum ring_op op = ring_tag_op(ud);
	struct conn *c = ring_tag_obj(ud);

	switch (op) {
	case RING_OP_NONE:
		return;
	case RING_OP_ACCEPT:
		on_accept(px, cqe->res, cqe->flags);
		return;
	case RING_OP_TIMER:
		on_timer(px);
		return;
	case RING_OP_EVENTS:
		splice_events_consume(px->sp);
		submit_events_poll(px);
		return;
	default:
		break;
	}
	c->pending &= ~(1u << op);
	if (c->state == ST_CLOSING) {
		if (!c->pending)
			conn_free(c);
		return;
	}
	switch (op) {
	case RING_OP_CRECV:
		on_crecv(c, cqe->res);
		break;
	case RING_OP_CSEND:
		on_csend(c, cqe->res);
		break;
	case RING_OP_BRECV:
		on_brecv(c, cqe->res);
		break;
	case RING_OP_BSEND:
		on_bsend(c, cqe->res);
		break;
	case RING_OP_CONNECT:
		if (c->state == ST_CONNECT)
			on_connect(c, cqe->res);
		break;
	case RING_OP_CWATCH:
		/* The client's FIN (or queued bytes with it): recv sorts out which. */
		if (c->state == ST_HEAD && cqe->res > 0)
			submit_crecv(c);
		break;
	default:
		if (op >= RING_OP_WATCH && op < RING_OP_WATCH_END)
			on_watch(c, op - RING_OP_WATCH, cqe->res);
		break;
	}
}

static void begin_stop(struct proxy *px)
{
	struct io_uring_sqe *sqe;

	px->stopping = true;
	px->stop_deadline = now_ns() + DRAIN_NS;
	pr_info("stopping: no new connections, %lu open", px->nconns);
	sqe = ring_get_sqe(&px->ring);
	io_uring_prep_cancel64(sqe, ring_tag(NULL, RING_OP_ACCEPT), 0);
	io_uring_sqe_set_data64(sqe, ring_tag(NULL, RING_OP_NONE));
	io_uring_submit(&px->ring);
	close(px->lfd);
	px->lfd = -1;
}

int proxy_listen(const struct config *cfg)
{
	int fd, one = 1;

	fd = socket(cfg->listen.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)&cfg->listen, cfg->listen_len) < 0 ||
	    listen(fd, 4096) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

int proxy_run(struct config *cfg, int listen_fd, struct splice *sp)
{
	struct proxy *px;
	struct io_uring_sqe *sqe;
	int err;

	px = calloc(1, sizeof(*px));
	if (!px)
		return -ENOMEM;
	px->cfg = cfg;
	px->sp = sp;
	px->lfd = listen_fd;
	px->tick.tv_nsec = TICK_NS;
	err = io_uring_queue_init(RING_ENTRIES, &px->ring, 0);
	if (err < 0) {
		free(px);
		return err;
	}
	submit_accept(px);
	if (sp) {
		px->events_fd = splice_events_open(sp, on_event, px);
		if (px->events_fd < 0) {
			pr_warn("splice events: %s; connections stay in user space",
				strerror(-px->events_fd));
			px->sp = NULL;
		} else {
			submit_events_poll(px);
		}
	}
	sqe = ring_get_sqe(&px->ring);
	io_uring_prep_timeout(sqe, &px->tick, 0, 0);
	io_uring_sqe_set_data64(sqe, ring_tag(NULL, RING_OP_TIMER));

	while (!px->stopping || px->nconns) {
		struct io_uring_cqe *cqe;
		unsigned head, seen = 0;

		if (proxy_stop_requested && !px->stopping)
			begin_stop(px);
		err = io_uring_submit_and_wait(&px->ring, 1);
		if (err < 0 && err != -EINTR && err != -EAGAIN && err != -EBUSY) {
			pr_warn("io_uring: %s", strerror(-err));
			break;
		}
		io_uring_for_each_cqe(&px->ring, head, cqe)
		{
			dispatch(px, cqe);
			seen++;
		}
		io_uring_cq_advance(&px->ring, seen);
		err = 0;
	}
	if (px->spurious)
		pr_info("%lu spurious wake-ups of spliced sockets", px->spurious);
	io_uring_queue_exit(&px->ring);
	connmap_free(&px->spliced);
	free(px);
	return err;
}
