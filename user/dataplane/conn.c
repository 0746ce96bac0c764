// SPDX-License-Identifier: GPL-2.0-only
/* Connections of the proxy: io_uring submissions tagged with the connection, buffers, closing. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/tcp.h>
#include <poll.h>
#include <sys/mman.h>

#include "core/confword.h"
#include "dataplane/conn.h"
#include "lib/log.h"
#include "core/proxyproto.h"
#include "dataplane/srclimit.h"
#include "observe/stats.h"

static size_t conn_buffers_size(const struct conn *c);
static void conn_abandon_backend(struct conn *c);

/* ---- submission helpers: each marks its operation pending ---- */

void conn_submit(struct conn *c, struct io_uring_sqe *sqe, unsigned op)
{
	io_uring_sqe_set_data64(sqe, ring_tag(c, op));
	c->pending |= 1u << op;
}

/*
 * Room at the end of a side's buffer to read into: an empty one starts over; a full one moves
 * its unconsumed bytes down, unless a send still reads them where they are.
 */
static void make_room(struct conn_dir *d, bool may_move)
{
	if (d->start == d->end) {
		d->start = 0;
		d->end = 0;
	} else if (d->end == d->cap && d->start > 0 && may_move) {
		memmove(d->buf, d->buf + d->start, d->end - d->start);
		d->end -= d->start;
		d->start = 0;
	}
}

static void recv_side(struct conn *c, enum conn_side side, unsigned op)
{
	struct conn_dir *d = &c->cd[side];
	struct io_uring_sqe *sqe = ring_get_sqe(&c->w->ring);

	io_uring_prep_recv(sqe, d->fd, d->buf + d->end, d->cap - d->end, 0);
	conn_submit(c, sqe, op);
}

static void send_side(struct conn *c, enum conn_side side, const char *buf, uint32_t len)
{
	struct io_uring_sqe *sqe = ring_get_sqe(&c->w->ring);

	io_uring_prep_send(sqe, c->cd[side].fd, buf, len, MSG_NOSIGNAL);
	conn_submit(c, sqe, side == CLIENT ? CONN_OP_CSEND : CONN_OP_BSEND);
}

void conn_recv_client(struct conn *c)
{
	if (c->pending & (1u << CONN_OP_CRECV))
		return;
	if (conn_buffers(c) < 0) {
		pr_warn("conn %lu: out of memory", c->id);
		conn_close(c);
		return;
	}
	make_room(&c->cd[CLIENT], !(c->pending & (1u << CONN_OP_BSEND)));
	recv_side(c, CLIENT, CONN_OP_CRECV);
}

void conn_watch_client(struct conn *c, unsigned events)
{
	struct io_uring_sqe *sqe;

	if (c->pending & (1u << CONN_OP_CWATCH))
		return;
	sqe = ring_get_sqe(&c->w->ring);
	io_uring_prep_poll_add(sqe, c->cd[CLIENT].fd, events);
	conn_submit(c, sqe, CONN_OP_CWATCH);
}

void conn_send_client(struct conn *c, const char *buf, uint32_t len)
{
	send_side(c, CLIENT, buf, len);
}

void conn_recv_backend(struct conn *c)
{
	if (c->pending & (1u << CONN_OP_BRECV))
		return;
	make_room(&c->cd[BACKEND], true);
	recv_side(c, BACKEND, CONN_OP_BRECV);
}

void conn_send_backend(struct conn *c, const char *buf, uint32_t len)
{
	send_side(c, BACKEND, buf, len);
}

void conn_pass_on(struct conn *c, enum conn_side from, uint32_t n)
{
	struct conn_dir *d = &c->cd[from];

	d->msg.inflight = n;
	send_side(c, from == CLIENT ? BACKEND : CLIENT, d->buf + d->start, n);
}

bool conn_passed_on(struct conn *c, enum conn_side from, uint32_t res)
{
	struct conn_dir *d = &c->cd[from];

	d->start += res;
	d->msg.inflight -= res;
	if (!d->msg.inflight)
		return true;
	send_side(c, from == CLIENT ? BACKEND : CLIENT, d->buf + d->start, d->msg.inflight);
	return false;
}

/* A pipe this big takes a 1 MiB response in one go, when the system allows (pipe-max-size). */
#define PIPE_SIZE (1u << 20)

int conn_pipe_open(struct conn *c)
{
	int fds[2], size;

	if (c->pipe.size)
		return 0;
	if (pipe2(fds, O_CLOEXEC))
		return -errno;
	fcntl(fds[1], F_SETPIPE_SZ, PIPE_SIZE);
	size = fcntl(fds[1], F_GETPIPE_SZ);
	if (size <= 0) {
		close(fds[0]);
		close(fds[1]);
		return -EIO;
	}
	c->pipe = (struct conn_pipe){.rd = fds[0], .wr = fds[1], .size = (uint32_t)size};
	return 0;
}

void conn_pipe_in(struct conn *c, uint32_t len)
{
	struct io_uring_sqe *sqe = ring_get_sqe(&c->w->ring);

	/*
	 * The kernel runs a splice on one of its io_uring workers (iou-wrk): one that waited for
	 * the backend would hold a worker thread per connection, and the pipe's lock meanwhile.
	 */
	io_uring_prep_splice(sqe, c->cd[BACKEND].fd, -1, c->pipe.wr, -1, len,
			     SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	c->pipe.polled = false;
	conn_submit(c, sqe, CONN_OP_BRECV);
}

void conn_pipe_out(struct conn *c, uint32_t len)
{
	struct io_uring_sqe *sqe = ring_get_sqe(&c->w->ring);

	io_uring_prep_splice(sqe, c->pipe.rd, -1, c->cd[CLIENT].fd, -1, len,
			     SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	c->pipe.polled = false;
	conn_submit(c, sqe, CONN_OP_CSEND);
}

void conn_pipe_poll(struct conn *c, enum conn_side side)
{
	struct io_uring_sqe *sqe = ring_get_sqe(&c->w->ring);

	io_uring_prep_poll_add(sqe, c->cd[side].fd, side == BACKEND ? POLLIN : POLLOUT);
	c->pipe.polled = true;
	conn_submit(c, sqe, side == BACKEND ? CONN_OP_BRECV : CONN_OP_CSEND);
}

void conn_pipe_close(struct conn *c)
{
	if (!c->pipe.size)
		return;
	close(c->pipe.rd);
	close(c->pipe.wr);
	c->pipe = (struct conn_pipe){0};
	c->flags &= ~CF_PIPED;
}

void conn_cancel_op(struct conn *c, unsigned op)
{
	struct io_uring_sqe *sqe;

	if (!(c->pending & (1u << op)))
		return;
	sqe = ring_get_sqe(&c->w->ring);
	io_uring_prep_cancel64(sqe, ring_tag(c, op), 0);
	io_uring_sqe_set_data64(sqe, ring_tag(NULL, RING_OP_NONE));
}

/* ---- connection life ---- */

struct conn *conn_new(struct worker *w, int fd)
{
	socklen_t sl;
	struct conn *c;
	int one = 1;

	/* Plain malloc: every byte counts for the connections the kernel holds (see README). */
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->cd[CLIENT].cap = w->cfg->limits.max_head + w->cfg->limits.max_request_line + 4096;
	if (conn_buffers(c) < 0) {
		free(c);
		return NULL;
	}
	c->w = w;
	w->next_id += w->nworkers;
	c->id = w->next_id;
	c->cd[CLIENT].fd = fd;
	c->pool = -1;
	c->alt_pool = -1;
	c->cd[BACKEND].fd = -1;
	for (int i = 0; i < POOL_MAX; i++)
		c->up[i].fd = -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	sl = sizeof(c->peer_addr);
	if (getpeername(fd, &c->peer_addr.sa, &sl) || sl > sizeof(c->peer_addr))
		c->peer_addr.sa.sa_family = AF_UNSPEC;
	c->next = w->conns;
	if (w->conns)
		w->conns->prev = c;
	w->conns = c;
	w->nconns++;
	return c;
}

static size_t conn_buffers_size(const struct conn *c)
{
	return ((size_t)c->cd[CLIENT].cap + BBUF_SIZE + PROXYPROTO_V2_MAX + c->cd[CLIENT].cap +
		ADDED_HEADERS_MAX + ROUTEGW_HEAD_ROOM + 4095) &
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

	if (c->cd[CLIENT].buf)
		return 0;
	m = mmap(NULL, conn_buffers_size(c), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		 -1, 0);
	if (m == MAP_FAILED)
		return -ENOMEM;
	c->cd[CLIENT].buf = m;
	c->cd[BACKEND].buf = m + c->cd[CLIENT].cap;
	c->cd[BACKEND].cap = BBUF_SIZE;
	c->head.data = c->cd[BACKEND].buf + BBUF_SIZE;
	return 0;
}

void conn_buffers_release(struct conn *c)
{
	if (!c->cd[CLIENT].buf)
		return;
	munmap(c->cd[CLIENT].buf, conn_buffers_size(c));
	c->cd[CLIENT].buf = NULL;
	c->cd[BACKEND].buf = NULL;
	c->head.data = NULL;
	/* The kernel holds the connection: nothing of a request to keep either. */
	free(c->ri);
	c->ri = NULL;
}

const char *conn_peer(const struct conn *c, char buf[INET6_ADDRSTRLEN])
{
	const void *a =
		c->peer_addr.sa.sa_family == AF_INET	? (const void *)&c->peer_addr.in.sin_addr
		: c->peer_addr.sa.sa_family == AF_INET6 ? (const void *)&c->peer_addr.in6.sin6_addr
							: NULL;

	if (!a || !inet_ntop(c->peer_addr.sa.sa_family, a, buf, INET6_ADDRSTRLEN))
		strcpy(buf, "?");
	return buf;
}

void conn_free(struct conn *c)
{
	struct worker *w = c->w;

	if (c->prev)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	w->nconns--;
	if (w->conn_freeing)
		w->conn_freeing(c);
	kconn_forget(&c->k, w);
	for (int i = 0; i < POOL_MAX; i++) {
		if (c->up[i].fd < 0)
			continue;
		close(c->up[i].fd);
		pool_conns_add(&w->prt[i], c->up[i].bidx, -1);
	}
	close(c->cd[CLIENT].fd);
	if (w->srclimit)
		srclimit_give(w->srclimit, &c->peer_addr.sa);
	conn_buffers_release(c);
	conn_pipe_close(c);
	free(c->reply.data);
	free(c->ri);
	free(c);
}

/* Keep a field's value (cut at cap bytes) when its name is name; true when it was. */
static bool keep_field(const struct http_field *f, const char *buf, const char *name, char *out,
		       uint8_t *len, size_t cap)
{
	size_t n = strlen(name);

	if (f->name_len != n || strncasecmp(buf + f->name_off, name, n))
		return false;
	*len = (uint8_t)(f->value_len < cap ? f->value_len : cap);
	memcpy(out, buf + f->value_off, *len);
	return true;
}

/* Host and User-Agent for the access log (0 length: the request had none). */
static void reqinfo_fields(struct reqinfo *ri, const struct http_request *req, const char *buf)
{
	ri->host_len = 0;
	ri->agent_len = 0;
	for (unsigned i = 0; i < req->nfields; i++) {
		const struct http_field *f = &req->fields[i];

		if (!keep_field(f, buf, "host", ri->host, &ri->host_len, sizeof(ri->host)))
			keep_field(f, buf, "user-agent", ri->agent, &ri->agent_len,
				   sizeof(ri->agent));
	}
}

struct reqinfo *conn_reqinfo(struct conn *c, const struct http_request *req, const char *buf)
{
	struct reqinfo *ri = c->ri;
	bool log = alog_wants();

	if (!log && log_get_level() < LOG_DEBUG)
		return NULL;
	if (!ri && !(ri = c->ri = calloc(1, sizeof(*ri))))
		return NULL;
	ri->log = log;
	ri->known = req != NULL;
	ri->id_added = false;
	ri->kernel_in = 0;
	ri->id[0] = '\0';
	ri->host_len = 0;
	ri->agent_len = 0;
	if (!req) {
		if (log)
			alog_new_id(ri->id);
		return ri;
	}
	snprintf(ri->method, sizeof(ri->method), "%.*s", (int)req->method_len, req->method_str);
	/* An origin-form target starts with its path; an absolute form: the path alone. */
	if (req->path >= req->target &&
	    req->path + req->path_len <= req->target + req->target_len &&
	    req->path == req->target) {
		ri->target_len = (uint16_t)(req->target_len < ALOG_PATH_MAX ? req->target_len
									    : ALOG_PATH_MAX);
		memcpy(ri->target, req->target, ri->target_len);
	} else {
		ri->target_len =
			(uint16_t)(req->path_len < ALOG_PATH_MAX ? req->path_len : ALOG_PATH_MAX);
		memcpy(ri->target, req->path, ri->target_len);
	}
	ri->path_len = (uint16_t)(req->path_len < ri->target_len ? req->path_len : ri->target_len);
	reqinfo_fields(ri, req, buf);
	/* The client's X-Request-Id when it sent a sane one; else one of ours, sent upstream. */
	for (unsigned i = 0; log && i < req->nfields; i++) {
		const struct http_field *f = &req->fields[i];

		if (f->name_len == 12 && !strncasecmp(buf + f->name_off, "x-request-id", 12) &&
		    f->value_len && f->value_len < ALOG_ID_MAX) {
			memcpy(ri->id, buf + f->value_off, f->value_len);
			ri->id[f->value_len] = '\0';
			return ri;
		}
	}
	if (log) {
		alog_new_id(ri->id);
		ri->id_added = true;
	}
	return ri;
}

void conn_reqinfo_kernel(struct conn *c, const struct strg_conn *k)
{
	struct reqinfo *ri = c->ri;

	if (!k->log && log_get_level() < LOG_DEBUG) {
		if (ri)
			ri->log = false;
		return;
	}
	if (!ri && !(ri = c->ri = calloc(1, sizeof(*ri))))
		return;
	ri->log = k->log && alog_sample();
	ri->known = k->log;
	ri->id_added = false;
	confword_methods_text(1u << (k->method & 31), ri->method, sizeof(ri->method));
	ri->path_len =
		(uint16_t)(k->log_path_len < STRG_LOG_PATH ? k->log_path_len : STRG_LOG_PATH);
	ri->target_len = ri->path_len;
	memcpy(ri->target, k->log_path, ri->path_len);
	ri->kernel_in = k->log_in;
	ri->host_len = 0;
	ri->agent_len = 0;
	alog_new_id(ri->id);
}

/* The request's line in the access log (when sampled) and, with -v, in strgd's own log. */
static void conn_log(struct conn *c, const struct stats_req *q, unsigned status)
{
	const struct reqinfo *ri = c->ri;
	const struct route *rt =
		q->route_id ? route_table_get(c->w->cfg->routes, q->route_id) : NULL;
	const struct pool *p = c->t_req && c->pool >= 0 ? &c->w->cfg->pools[c->pool] : NULL;
	char peer[INET6_ADDRSTRLEN], route[ROUTE_TEXT_MAX];
	struct alog_entry e = {.status = status};

	if (!ri || (!ri->log && log_get_level() < LOG_DEBUG))
		return;
	e.client = conn_peer(c, peer);
	e.method = ri->known ? ri->method : "-";
	e.path = ri->known ? ri->target : "-";
	e.path_len = ri->known ? ri->path_len : 1;
	e.route = rt ? (route_key_text(&rt->spec, route, sizeof(route)), route) : NULL;
	e.pool = p ? p->name : NULL;
	e.backend = p && c->up[c->pool].bidx < p->nbackends ? p->backends[c->up[c->pool].bidx].name
							    : NULL;
	e.bytes_in = conn_has(c, CF_ADOPTED) ? ri->kernel_in : q->bytes_in;
	e.bytes_out =
		c->t_req ? q->bytes_out : c->cd[BACKEND].fwd; /* unrouted: strgd's own answer */
	e.duration_us = c->t_req ? (now_ns() - c->t_req) / 1000 : 0;
	e.head_us =
		c->t_req && c->status && c->t_resp > c->t_req ? (c->t_resp - c->t_req) / 1000 : 0;
	e.host = ri->host_len ? ri->host : NULL;
	e.host_len = ri->host_len;
	e.agent = ri->agent_len ? ri->agent : NULL;
	e.agent_len = ri->agent_len;
	if (ri->known && ri->target_len > ri->path_len && ri->target[ri->path_len] == '?') {
		e.query = ri->target + ri->path_len + 1;
		e.query_len = ri->target_len - ri->path_len - 1u;
	}
	e.kernel = false;
	e.id = ri->id;
	if (ri->log)
		alog_write(&e);
	if (log_get_level() >= LOG_DEBUG)
		pr_debug("conn %lu: %s \"%s %.*s\" route %u pool %s: %u, %llu bytes in, %llu bytes "
			 "out, %.3f ms%s%s",
			 c->id, e.client, conn_has(c, CF_ADOPTED) ? "(kernel-forwarded)" : e.method,
			 ri->known ? (int)ri->target_len : 1, e.path, q->route_id,
			 e.pool ? e.pool : "-", status, (unsigned long long)e.bytes_in,
			 (unsigned long long)e.bytes_out, (double)e.duration_us / 1000,
			 kconn_spliced(&c->k) ? ", passed up" : "", c->t_req ? "" : " (no route)");
}

/*
 * The latency counted for the current exchange (strg_stats): from the end of the request to the
 * backend's response head, or to strgd's own 502/504 when it gave up waiting on the pool. A
 * client's pace (a slow upload, a body it never finished) is not the pool's: 0 for a response
 * that came before the request ended, and for strgd's other answers.
 */
static uint64_t latency_us(const struct conn *c, unsigned status)
{
	uint64_t at;

	if (c->status)
		at = c->t_resp;
	else if (status == 502 || status == 504)
		at = now_ns();
	else
		return 0;
	return c->t_req_end && at > c->t_req_end ? (at - c->t_req_end) / 1000 : 0;
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
		q.bytes_in = c->cd[CLIENT].fwd;
		q.bytes_out = c->cd[BACKEND].fwd;
		q.latency_us = latency_us(c, status);
		q.passed = kconn_spliced(&c->k);
		q.kernel_counted = conn_has(c, CF_ADOPTED);
		q.head_counted = conn_has(c, CF_KHEAD);
		q.fallback = conn_has(c, CF_FALLBACK);
	}
	/* strgd's answers for the route's access list and limit: counted apart, per route. */
	q.denied = status == 403 && conn_has(c, CF_GW_ANSWER);
	q.limited = status == 429 && conn_has(c, CF_GW_ANSWER);
	stats_count(c->w->st, &q);
	conn_log(c, &q, status);
	c->t_req = 0;
}

/* Cancel whatever is in flight; the connection is freed once the last completion arrived. */
void conn_close(struct conn *c)
{
	if (c->t_req && c->state != ST_CLOSING)
		conn_count(c, c->status); /* cut short: counted with what was seen of it */
	c->state = ST_CLOSING;
	for (int op = CONN_OP_CRECV; op <= CONN_OP_CWATCH; op++)
		conn_cancel_op(c, (unsigned)op);
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
	const struct pool *p = &c->w->cfg->pools[pool];

	pr_info("conn %lu: backend %s of pool %s sent bytes no request asked for (%s): its "
		"connection is closed",
		c->id, p->backends[c->up[pool].bidx].name, p->name, how);
	stats_unsolicited(c->w->st, (unsigned)pool);
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
	/* A backend drained, in maintenance or ejected gets no further request. */
	if (!pool_backend_serves(&c->w->cfg->pools[pool], &c->w->prt[pool], c->up[pool].bidx))
		return false;
	n = recv(c->up[pool].fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n > 0)
		conn_unsolicited(c, pool, "found before reuse");
	else if (n == 0)
		pr_debug("conn %lu: idle backend connection of pool %s closed by the backend",
			 c->id, c->w->cfg->pools[pool].name);
	return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

/* Close the backend connection of a pool; the kernel stops using it first. */
void conn_drop_backend(struct conn *c, int pool)
{
	if (c->up[pool].fd < 0)
		return;
	c->up[pool].unsolicited = false;
	kconn_drop(&c->k, c->w, (unsigned)pool, c->up[pool].fd);
	/* A poll in flight holds the socket open past close(): take it back first. */
	conn_cancel_op(c, (unsigned)(CONN_OP_WATCH + pool));
	close(c->up[pool].fd);
	c->up[pool].fd = -1;
	pool_conns_add(&c->w->prt[pool], c->up[pool].bidx, -1);
}

const char *conn_flags_text(const struct conn *c, char *buf, size_t len)
{
	static const char *const names[] = {
		"adopted",   "kwait",		"eof_wait",   "cut_wait", "handing",
		"reused",    "connect_timeout", "close_sent", "tunnel",	  "upgrade",
		"resp_head", "resp_started",	"inflight",   "fallback", "parked",
		"khead",     "adopt_wait",	"piped",
	};
	static const char *const knames[] = {"spliced", "corked"};
	size_t n = 0;

	buf[0] = '\0';
	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]) && n < len; i++)
		if (c->flags & (1u << i))
			n += (size_t)snprintf(buf + n, len - n, "%s%s", n ? "," : "", names[i]);
	for (unsigned i = 0; i < sizeof(knames) / sizeof(knames[0]) && n < len; i++)
		if (c->k.flags & (1u << i))
			n += (size_t)snprintf(buf + n, len - n, "%s%s", n ? "," : "", knames[i]);
	return buf;
}

/* Stop talking to the current backend: its socket may hold half a request, never reuse it. */
static void conn_abandon_backend(struct conn *c)
{
	conn_cancel_op(c, CONN_OP_BRECV);
	conn_cancel_op(c, CONN_OP_BSEND);
	conn_cancel_op(c, CONN_OP_CONNECT);
	if (c->pool >= 0 && c->up[c->pool].fd >= 0) {
		/* Wakes the cancelled operations; the fd itself is closed with the connection. */
		shutdown(c->up[c->pool].fd, SHUT_RDWR);
	}
}

/* Shut our write side and read until the client's EOF, so unread input does not turn into RST. */
void conn_linger(struct conn *c)
{
	shutdown(c->cd[CLIENT].fd, SHUT_WR);
	c->state = ST_LINGER;
	c->deadline_ns = now_ns() + LINGER_NS;
	c->cd[CLIENT].start = 0;
	c->cd[CLIENT].end = 0;
	conn_recv_client(c);
}

/* Answer with a status of our own and close; only possible before any response byte went out. */
void conn_reply(struct conn *c, unsigned status)
{
	conn_answer(c, status, "", false);
}

void conn_answer(struct conn *c, unsigned status, const char *extra, bool keep)
{
	char body[64];
	int blen, n;

	if (conn_has(c, CF_RESP_STARTED) || c->state >= ST_REPLY) {
		conn_close(c);
		return;
	}
	if (!c->reply.data && !(c->reply.data = malloc(REPLY_MAX))) {
		conn_close(c);
		return;
	}
	conn_abandon_backend(c);
	blen = http_own_body(body, sizeof(body), status);
	n = keep ? http_own_head_keep(c->reply.data, REPLY_MAX, status, "text/plain", (size_t)blen,
				      extra)
		 : http_own_head(c->reply.data, REPLY_MAX, status, "text/plain", (size_t)blen,
				 extra);
	conn_set(c, CF_REPLY_KEEP, keep);
	if (c->method != HTTP_M_HEAD && n < REPLY_MAX)
		n += snprintf(c->reply.data + n, REPLY_MAX - (size_t)n, "%s", body);
	c->reply.len = (uint32_t)n;
	c->reply.sent = 0;
	c->cd[BACKEND].fwd += (uint64_t)n;
	conn_count(c, status);
	c->state = ST_REPLY;
	c->deadline_ns = now_ns() + ms_ns(c->w->cfg->client_timeout_ms);
	if (!(c->pending & (1u << CONN_OP_CSEND)))
		conn_send_client(c, c->reply.data, c->reply.len);
}
