// SPDX-License-Identifier: GPL-2.0-only
/* Connections of the proxy: io_uring submissions tagged with the connection, buffers, closing. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/sockios.h>
#include <linux/tcp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "conn.h"
#include "log.h"
#include "proxy.h"
#include "proxyproto.h"
#include "splice.h"
#include "stats.h"

static size_t conn_buffers_size(const struct conn *c);
static void conn_abandon_backend(struct conn *c);

/* ---- submission helpers: each marks its operation pending ---- */

void conn_submit(struct conn *c, struct io_uring_sqe *sqe, enum ring_op op)
{
	io_uring_sqe_set_data64(sqe, ring_tag(c, op));
	c->pending |= 1u << op;
}

void conn_recv_client(struct conn *c)
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
	conn_submit(c, sqe, RING_OP_CRECV);
}

void conn_send_client(struct conn *c, const char *buf, uint32_t len)
{
	struct io_uring_sqe *sqe = ring_get_sqe(&c->px->ring);

	io_uring_prep_send(sqe, c->cfd, buf, len, MSG_NOSIGNAL);
	conn_submit(c, sqe, RING_OP_CSEND);
}

void conn_recv_backend(struct conn *c)
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
	conn_submit(c, sqe, RING_OP_BRECV);
}

void conn_send_backend(struct conn *c, const char *buf, uint32_t len)
{
	struct io_uring_sqe *sqe = ring_get_sqe(&c->px->ring);

	io_uring_prep_send(sqe, c->bfd, buf, len, MSG_NOSIGNAL);
	conn_submit(c, sqe, RING_OP_BSEND);
}

void conn_cancel_op(struct conn *c, enum ring_op op)
{
	struct io_uring_sqe *sqe;

	if (!(c->pending & (1u << op)))
		return;
	sqe = ring_get_sqe(&c->px->ring);
	io_uring_prep_cancel64(sqe, ring_tag(c, op), 0);
	io_uring_sqe_set_data64(sqe, ring_tag(NULL, RING_OP_NONE));
}

/* ---- connection life ---- */

struct conn *conn_new(struct proxy *px, int fd)
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
int conn_buffers(struct conn *c)
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

void conn_buffers_release(struct conn *c)
{
	if (!c->cbuf)
		return;
	munmap(c->cbuf, conn_buffers_size(c));
	c->cbuf = NULL;
	c->bbuf = NULL;
	c->hbuf = NULL;
}

void conn_free(struct conn *c)
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

/*
 * Count the current exchange's request, once: under its route and pool once it was routed,
 * else as unrouted (a head strgd refused or never got whole).
 */
void conn_count(struct conn *c, unsigned status)
{
	struct stats_req q = {.slot = STATS_SLOT_UNROUTED, .status = status};

	if (c->t_req) {
		q.slot = c->route_slot;
		q.route_id = c->route_id;
		q.pool = c->pool >= 0 ? (unsigned)c->pool : 0;
		q.bytes_in = c->nin;
		q.bytes_out = c->nout;
		q.latency_us = ((c->t_resp ? c->t_resp : now_ns()) - c->t_req) / 1000;
		q.passed = c->spliced;
		q.kernel_counted = c->adopted;
		q.latency_us = c->status ? q.latency_us : 0;
	}
	stats_count(c->px->st, &q);
	if (log_level >= LOG_DEBUG && c->t_req)
		pr_debug("conn %lu: %s \"%s\" route %u pool %s: %u, %llu bytes in, %llu bytes out, "
			 "%.3f ms%s",
			 c->id, c->peer, c->adopted ? "(kernel-forwarded)" : c->reqline,
			 c->route_id, c->px->cfg->pools[q.pool].name, status,
			 (unsigned long long)q.bytes_in, (unsigned long long)q.bytes_out,
			 (double)(now_ns() - c->t_req) / 1e6,
			 c->spliced ? ", passed up by the kernel" : "");
	else if (log_level >= LOG_DEBUG)
		pr_debug("conn %lu: %s: answered %u without a route", c->id, c->peer, status);
	c->t_req = 0;
}

/* Cancel whatever is in flight; the connection is freed once the last completion arrived. */
void conn_close(struct conn *c)
{
	if (c->t_req && c->state != ST_CLOSING)
		conn_count(c, c->status); /* cut short: counted with what was seen of it */
	c->state = ST_CLOSING;
	for (int op = RING_OP_CRECV; op <= RING_OP_CWATCH; op++)
		conn_cancel_op(c, (enum ring_op)op);
	if (!c->pending)
		conn_free(c);
}

/*
 * A backend sent bytes while no request of this connection was outstanding on it: they must
 * never reach the client as the answer to a later request. The connection is closed (by the
 * caller) and counted.
 */
void conn_unsolicited(struct conn *c, int pool, const char *how)
{
	const struct pool *p = &c->px->cfg->pools[pool];

	pr_info("conn %lu: backend %s of pool %s sent bytes no request asked for (%s): its "
		"connection is closed",
		c->id, p->backends[c->up[pool].bidx].name, p->name, how);
	stats_unsolicited(c->px->st, (unsigned)pool);
}

/*
 * Whether the idle backend connection of pool may carry the next request: nothing may be
 * waiting on it (an unasked-for response, or its end). A peek runs the verdict first on a socket
 * the kernel splices, which passes strgd's own backend bytes up.
 */
bool conn_backend_reusable(struct conn *c, int pool)
{
	char b;
	ssize_t n;

	if (c->up[pool].unsolicited) {
		conn_unsolicited(c, pool, "seen by the kernel");
		return false;
	}
	n = recv(c->up[pool].fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n > 0)
		conn_unsolicited(c, pool, "found before reuse");
	else if (n == 0)
		pr_debug("conn %lu: idle backend connection of pool %s closed by the backend",
			 c->id, c->px->cfg->pools[pool].name);
	return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

/* Stop talking to the current backend: its socket may hold half a request, never reuse it. */
static void conn_abandon_backend(struct conn *c)
{
	conn_cancel_op(c, RING_OP_BRECV);
	conn_cancel_op(c, RING_OP_BSEND);
	conn_cancel_op(c, RING_OP_CONNECT);
	if (c->pool >= 0 && c->up[c->pool].fd >= 0) {
		/* Wakes the cancelled operations; the fd itself is closed with the connection. */
		shutdown(c->up[c->pool].fd, SHUT_RDWR);
	}
}

/* Shut our write side and read until the client's EOF, so unread input does not turn into RST. */
void conn_linger(struct conn *c)
{
	shutdown(c->cfd, SHUT_WR);
	c->state = ST_LINGER;
	c->deadline_ns = now_ns() + LINGER_NS;
	c->cstart = 0;
	c->cend = 0;
	conn_recv_client(c);
}

/* Answer with a status of our own and close; only possible before any response byte went out. */
void conn_reply(struct conn *c, unsigned status)
{
	const char *reason = http_reason(status);
	char body[64];
	int blen, n;

	if (c->resp_started || c->state >= ST_REPLY) {
		conn_close(c);
		return;
	}
	conn_abandon_backend(c);
	blen = snprintf(body, sizeof(body), "%u %s\n", status, reason);
	n = snprintf(c->reply, sizeof(c->reply),
		     "HTTP/1.1 %u %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
		     "Connection: close\r\n\r\n%s",
		     status, reason, blen, c->method == HTTP_M_HEAD ? "" : body);
	c->rlen = (uint32_t)n;
	c->rsent = 0;
	c->nout += (uint64_t)n;
	conn_count(c, status);
	c->state = ST_REPLY;
	c->deadline_ns = now_ns() + ms_ns(c->px->cfg->client_timeout_ms);
	if (!(c->pending & (1u << RING_OP_CSEND)))
		conn_send_client(c, c->reply, c->rlen);
}
