// SPDX-License-Identifier: GPL-2.0-only
/*
 * The owner of each client connection. Between requests it decides who carries the next one:
 * strgd in user space (the exchange) or the kernel (the hand-off); it reacts to what both report
 * and to the kernel's events, and it keeps the connection's timers. The exchange and the hand-off
 * are mechanisms: they report outcomes and never call back here.
 *
 * A completion, read from session_on_cqe down:
 *   session_on_cqe        counts the client socket's bytes for the kernel (kconn_count), then
 *    |                    by operation and state:
 *    +- between requests: client_read / backend_watch / tail_sent, here; each asks the hand-off
 *    |                    (handoff_kernel_state, handoff_send_tail, handoff_hand_back) or the
 *    |                    exchange (exchange_start, exchange_adopt) and acts on what comes back
 *    +- in an exchange:   exchange_on_cqe -> conn.c (sends, reads, replies); at the end of a
 *                         response it asks the hand-off to hold the last bytes (handoff_hold ->
 *                         kconn_cork) and returns an outcome (enum xout) to exchange_done, here,
 *                         which takes the next request, or hands back (handoff_takes, then
 *                         handoff_hand_back -> kconn.c, kernel/splice.c, conn.c; enum hb back
 *                         here), or stays in user space (handoff_release, a read).
 * Calls only go down (session -> exchange and handoff -> conn -> kconn); the one sideways call
 * is the exchange's handoff_hold. The kernel's half of the connection (struct kconn) is written in
 * handoff.c and kconn.c alone; the session goes through kconn.h's functions.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/confword.h"
#include "dataplane/exchange.h"
#include "dataplane/handoff.h"
#include "lib/log.h"
#include "core/route.h"
#include "dataplane/session.h"
#include "dataplane/srclimit.h"

static void session_input(struct conn *c);

/*
 * How often a connection the kernel holds is looked at: its exchanges have strgd's timeouts
 * (server for a response, client for a body), and the kernel wakes strgd for neither.
 */
static uint64_t kernel_look_ns(const struct config *cfg)
{
	uint64_t server = ms_ns(cfg->server_timeout_ms), client = ms_ns(cfg->client_timeout_ms);

	return server < client ? server : client;
}

static void hand_back(struct conn *c)
{
	uint64_t look = kernel_look_ns(c->w->cfg);

	switch (handoff_hand_back(c)) {
	case HB_USER:
		conn_recv_client(c); /* stays in user space */
		return;
	case HB_INPUT:
		session_input(c);
		return;
	case HB_KERNEL:
		/* The kernel's exchanges have timeouts too: look at them at least that often. */
		c->active_ns = now_ns();
		if (c->deadline_ns > c->active_ns + look)
			c->deadline_ns = c->active_ns + look;
		return;
	}
}

/*
 * Client bytes between requests. The end of a body the kernel carried goes on to its backend
 * first; a request that arrived while the kernel still carries a response waits for it; with
 * nothing left, the kernel takes the connection again; otherwise strgd carries the request.
 */
static void session_input(struct conn *c)
{
	struct strg_conn k;

	if (!handoff_kernel_state(c, &k)) {
		exchange_start(c);
		return;
	}
	if (kconn_tail_owed(&c->k, &k)) {
		switch (handoff_send_tail(c, &k)) {
		case TAIL_NEED_INPUT:
			conn_recv_client(c);
			return;
		case TAIL_FAILED:
			conn_close(c);
			return;
		default:
			return;
		}
	}
	if (kconn_busy(&k) && conn_unread(c, CLIENT)) {
		c->flags |= CF_KWAIT;
		return;
	}
	if (!conn_unread(c, CLIENT)) {
		hand_back(c);
		return;
	}
	exchange_start(c);
}

/*
 * Finish a response the kernel passed up. One passed up mid-body (the end of its body and bytes
 * nobody asked for in one skb) waits until every byte the kernel redirected before it is in the
 * client socket: a redirect is a kernel work that may run after strgd's own send, which would
 * then overtake the head and the start of the body. Looked at again each tick, at most timeout
 * client (a client that stopped reading).
 */
static void adopt(struct conn *c, unsigned pool, const struct strg_conn *k)
{
	uint64_t now = now_ns();

	if (k->resp_owed && !handoff_client_drained(c, k)) {
		if (!conn_has(c, CF_ADOPT_WAIT)) {
			c->flags |= CF_ADOPT_WAIT;
			c->eof_deadline = now + ms_ns(c->w->cfg->client_timeout_ms);
			return;
		}
		if (now <= c->eof_deadline)
			return;
		pr_info("conn %lu: the client took no more of a response the kernel carried",
			c->id);
		c->flags &= ~CF_ADOPT_WAIT;
		conn_close(c);
		return;
	}
	c->flags &= ~CF_ADOPT_WAIT;
	exchange_adopt(c, pool, k);
}

/*
 * A connection waiting on the kernel: bytes held back while its response was in flight, the rest
 * of a response passed up, or an end (the client's or the backend's) that must not cut the
 * redirected bytes short.
 */
static void recheck(struct conn *c)
{
	struct strg_conn k;

	if (!handoff_kernel_state(c, &k)) {
		c->flags &= ~(CF_KWAIT | CF_ADOPT_WAIT);
		if (conn_has(c, CF_EOF_WAIT))
			conn_close(c);
		else
			exchange_start(c);
		return;
	}
	if (conn_has(c, CF_ADOPT_WAIT)) {
		adopt(c, k.pool, &k);
		return;
	}
	/* The client left inside a body the kernel carries: nothing will complete the request. */
	if (conn_has(c, CF_EOF_WAIT) && k.phase == STRG_PH_KREQ && k.req_left) {
		exchange_kernel_failed(c, &k, 0);
		return;
	}
	/* The backend went away inside the response: the client gets what was sent, then EOF. */
	if (conn_has(c, CF_CUT_WAIT)) {
		if (handoff_client_drained(c, &k) || now_ns() > c->eof_deadline)
			conn_linger(c);
		return;
	}
	if (kconn_busy(&k))
		return;
	if (conn_has(c, CF_EOF_WAIT)) {
		/* Bounded: a client that stopped reading does not hold strgd past its timeout. */
		if (handoff_client_drained(c, &k) || now_ns() > c->eof_deadline)
			conn_linger(c);
		return;
	}
	if (conn_has(c, CF_KWAIT)) {
		/* Its answer must not overtake the kernel's last bytes (in the psock queue). */
		if (!handoff_client_drained(c, &k))
			return;
		c->flags &= ~CF_KWAIT;
		session_input(c);
	}
}

/*
 * What follows an exchange: the end, the next pipelined request, the kernel, or a read. While it
 * is busy the exchange may have closed and freed c: nothing of it is read then.
 */
static void exchange_done(struct conn *c, enum xout out)
{
	struct worker *w;

	if (out == XO_BUSY)
		return;
	w = c->w;
	if (out == XO_DONE_CLOSE) {
		handoff_release(c);
		conn_linger(c);
		return;
	}
	c->deadline_ns = now_ns() + ms_ns(w->cfg->idle_timeout_ms);
	if (conn_unread(c, CLIENT)) {
		handoff_release(c);
		exchange_start(c);
		return;
	}
	if (handoff_takes(c, c->last_out)) {
		hand_back(c); /* releases what it held once the kernel has the connection */
		return;
	}
	/* "auto" after a long response: the kernel takes the connection once it idles a while. */
	if (w->cfg->splice == SPLICE_AUTO)
		c->splice_at = now_ns() + SPLICE_IDLE_NS;
	handoff_release(c);
	conn_recv_client(c);
}

/* A read of the client socket between requests. */
static void client_read(struct conn *c, int res)
{
	if (res == -ECANCELED && conn_has(c, CF_PARKED)) {
		/* Parked: no buffers while idle; the poll wakes it for its next bytes or its end.
		 */
		if (!conn_unread(c, CLIENT) &&
		    !(c->pending &
		      ((1u << CONN_OP_CSEND) | (1u << CONN_OP_BRECV) | (1u << CONN_OP_BSEND))))
			conn_buffers_release(c);
		conn_watch_client(c, POLLIN | POLLRDHUP);
		return;
	}
	c->flags &= ~CF_PARKED;
	if (res == -ECANCELED && conn_has(c, CF_HANDING) && !conn_unread(c, CLIENT)) {
		c->flags &= ~CF_HANDING;
		hand_back(c);
		return;
	}
	c->flags &= ~CF_HANDING;
	/*
	 * A socket in the sockhash can answer a blocking recv with EAGAIN when it was woken for
	 * bytes the verdict redirected elsewhere: nothing arrived for us, wait again.
	 */
	if (res == -EAGAIN) {
		c->w->spurious++;
		conn_recv_client(c);
		return;
	}
	if (res < 0) {
		if (res != -ECONNRESET)
			pr_debug("conn %lu: recv: %s", c->id, strerror(-res));
		conn_close(c);
		return;
	}
	if (res == 0) {
		c->cd[CLIENT].msg.eof = true;
		/* EOF between requests is the normal end; inside a head it is an abort. */
		if (kconn_spliced(&c->k)) {
			/* The kernel may still be sending a response. */
			c->flags |= CF_EOF_WAIT;
			c->eof_deadline = now_ns() + ms_ns(c->w->cfg->client_timeout_ms);
			recheck(c);
			return;
		}
		conn_close(c);
		return;
	}
	c->cd[CLIENT].end += (uint32_t)res;
	session_input(c);
}

static void tail_sent(struct conn *c, int res)
{
	switch (handoff_on_tail_sent(c, res)) {
	case TAIL_FAILED:
		conn_close(c);
		return;
	case TAIL_DONE:
		session_input(c);
		return;
	default:
		return;
	}
}

/*
 * A spliced backend became readable or closed while strgd was idle: a response the kernel
 * passed up (strgd finishes it), or the backend's end.
 */
static void backend_watch(struct conn *c, unsigned pool, int res)
{
	struct strg_conn k;

	if (c->state != ST_HEAD || c->up[pool].fd < 0 || res < 0)
		return; /* busy: the exchange reads it; the watch is armed again when idle */
	if (conn_has(c, CF_ADOPT_WAIT))
		return; /* its response is finished first, reading up to its end */
	if (!handoff_kernel_state(c, &k)) {
		conn_close(c);
		return;
	}
	if (kconn_resp_passed(&c->k, &k)) {
		adopt(c, pool, &k); /* a response and its FIN: finish it first */
		return;
	}
	if (k.pool == pool && k.phase == STRG_PH_KREQ) {
		exchange_kernel_failed(c, &k, 502); /* it closed with the request unanswered */
		return;
	}
	if (k.pool == pool && k.phase == STRG_PH_KBODY) {
		/*
		 * It ended inside the response: the bytes the kernel redirected may still wait on
		 * the client socket, so the connection ends only once they drained (bounded).
		 */
		c->flags |= CF_CUT_WAIT;
		c->eof_deadline = now_ns() + ms_ns(c->w->cfg->client_timeout_ms);
		recheck(c);
		return;
	}
	pr_debug("conn %lu: idle backend of pool %s closed", c->id, c->w->cfg->pools[pool].name);
	conn_drop_backend(c, (int)pool);
}

void session_on_cqe(struct conn *c, unsigned op, int res)
{
	if (op == CONN_OP_CRECV || op == CONN_OP_CSEND)
		kconn_count(&c->k, op == CONN_OP_CRECV, res);
	switch (op) {
	case CONN_OP_CWATCH:
		/* The client's FIN, or bytes (parked): recv sorts out which, with buffers again. */
		c->flags &= ~CF_PARKED;
		if (c->state == ST_HEAD && res > 0)
			conn_recv_client(c);
		else if (c->state == ST_HEAD && res < 0 && res != -ECANCELED)
			conn_close(c);
		return;
	case CONN_OP_CRECV:
		if (c->state == ST_HEAD) {
			client_read(c, res);
			return;
		}
		break;
	case CONN_OP_BSEND:
		if (c->state == ST_TAIL) {
			tail_sent(c, res);
			return;
		}
		break;
	default:
		if (op >= CONN_OP_WATCH && op < CONN_OP_WATCH_END) {
			backend_watch(c, op - CONN_OP_WATCH, res);
			return;
		}
		break;
	}
	exchange_done(c, exchange_on_cqe(c, op, res));
}

/* The access log's line for a request the kernel carried. */
static void kernel_access(struct worker *w, struct conn *c, const struct strg_access_event *a)
{
	const struct route *rt = a->route_id ? route_table_get(w->cfg->routes, a->route_id) : NULL;
	const struct pool *p = a->ev.pool < w->cfg->npools ? &w->cfg->pools[a->ev.pool] : NULL;
	char peer[INET6_ADDRSTRLEN] = "?", route[ROUTE_TEXT_MAX], method[16], id[ALOG_ID_MAX];
	struct alog_entry e = {.status = a->status, .kernel = true, .id = id};

	confword_methods_text(1u << (a->method & 31), method, sizeof(method));
	e.client = c ? conn_peer(c, peer) : peer;
	e.method = method[0] ? method : "-";
	e.path = a->path;
	e.path_len = a->path_len < STRG_LOG_PATH ? a->path_len : STRG_LOG_PATH;
	e.route = rt ? (route_key_text(&rt->spec, route, sizeof(route)), route) : NULL;
	e.pool = p ? p->name : NULL;
	e.backend = c && p && c->up[a->ev.pool].fd >= 0 && c->up[a->ev.pool].bidx < p->nbackends
			    ? p->backends[c->up[a->ev.pool].bidx].name
			    : NULL;
	e.bytes_in = a->bytes_in;
	e.bytes_out = a->bytes_out;
	/* The kernel sees the response head, not its end: both times are the head's. */
	e.head_us = a->latency_us;
	e.duration_us = a->latency_us;
	alog_new_id(id);
	alog_write(&e);
}

void session_on_event(void *ctx, const struct strg_event *ev)
{
	struct conn *c = connmap_get(&((struct worker *)ctx)->spliced, ev->client);
	struct strg_conn k;

	if (ev->kind == STRG_EV_ACCESS) {
		kernel_access(ctx, c, (const struct strg_access_event *)ev);
		return;
	}
	if (c && ev->kind == STRG_EV_UNSOLICITED && ev->pool < STRG_POOLS_MAX &&
	    c->up[ev->pool].fd >= 0) {
		/*
		 * Closed now when idle, else once strgd's exchange with it is over; the kernel
		 * stops forwarding to it at once, and it is closed after a request the kernel
		 * carries on it meanwhile (conn_backend_reusable() says no from now on).
		 */
		c->up[ev->pool].unsolicited = true;
		if (handoff_kernel_state(c, &k) && kconn_busy_on(&k, ev->pool)) {
			handoff_detach(c, ev->pool);
			return;
		}
		if (c->state == ST_HEAD) {
			conn_unsolicited(c, (int)ev->pool, "dropped by the kernel");
			conn_drop_backend(c, (int)ev->pool);
		}
		return;
	}
	if (!c || c->state != ST_HEAD)
		return; /* busy: the exchange in progress reads it, or the hand-back looks */
	if (conn_has(c, CF_WAITS)) {
		recheck(c);
		return;
	}
	if (ev->kind == STRG_EV_CLIENT) {
		/* Nothing unread (the event was for bytes already consumed): stay out of the way.
		 */
		if (handoff_kernel_state(c, &k) && !kconn_unread(&c->k, &k)) {
			if (!kconn_busy(&k))
				hand_back(c);
			return;
		}
		conn_recv_client(c);
		return;
	}
	if (ev->pool >= STRG_POOLS_MAX || c->up[ev->pool].fd < 0 || !handoff_kernel_state(c, &k))
		return;
	if (kconn_resp_passed(&c->k, &k)) {
		adopt(c, ev->pool, &k);
		return;
	}
	/*
	 * No response passed up: either the event is for bytes strgd's finished exchange already
	 * read, or the backend sent what nobody asked for, still queued on it. A backend the
	 * kernel carries a request on meanwhile is looked at once that is over.
	 */
	if (!kconn_busy_on(&k, ev->pool) && !conn_backend_reusable(c, (int)ev->pool))
		conn_drop_backend(c, (int)ev->pool);
}

void session_open(struct worker *w, int fd)
{
	struct conn *c;
	union conn_addr peer;
	socklen_t len = sizeof(peer);

	/* Over its address's share of connections: closed at once. */
	if (w->srclimit && !getpeername(fd, &peer.sa, &len) &&
	    !srclimit_take(w->srclimit, &peer.sa)) {
		close(fd);
		return;
	}
	c = conn_new(w, fd);
	if (!c) {
		if (w->srclimit)
			srclimit_give(w->srclimit, &peer.sa);
		pr_warn("accept: out of memory, dropping connection");
		close(fd);
		return;
	}
	c->state = ST_HEAD;
	c->active_ns = now_ns();
	c->deadline_ns = c->active_ns + ms_ns(w->cfg->idle_timeout_ms);
	conn_recv_client(c);
}

/*
 * When more of the body of the request the kernel carries must have come, as client_deadline()
 * says for user space: timeout client after its last bytes, and no later than timeout body plus
 * a second per body-rate bytes after its head.
 */
static uint64_t kernel_body_due(const struct conn *c, const struct strg_conn *k)
{
	const struct config *cfg = c->w->cfg;
	uint64_t due = k->req_last_ns + ms_ns(cfg->client_timeout_ms), lim;

	if (!cfg->body_rate)
		return due;
	lim = k->req_ns + ms_ns(cfg->body_timeout_ms) +
	      (k->req_body - k->req_left) * 1000000000ull / cfg->body_rate;
	return lim < due ? lim : due;
}

/*
 * The request the kernel carries, at the connection's deadline: while the client owes body
 * bytes, the client's timeouts apply (its 408); once the request ended, its response head is due
 * within timeout server (strgd's 504). The kernel wakes strgd for neither: it looks at least
 * every kernel_look_ns(). True when it ended the request.
 */
static bool expire_kernel_request(struct conn *c, const struct strg_conn *k, uint64_t now)
{
	uint64_t end = k->req_end_ns ? k->req_end_ns : k->req_ns;

	if (kconn_requested(&c->k, k))
		c->active_ns = now; /* the kernel carried a request meanwhile */
	if (k->phase != STRG_PH_KREQ)
		return false;
	if (k->req_left && now >= kernel_body_due(c, k)) {
		exchange_kernel_failed(c, k, 408); /* the client's fault, not the pool's */
		return true;
	}
	if (!k->req_left && now - end >= ms_ns(c->w->cfg->server_timeout_ms)) {
		exchange_kernel_failed(c, k, 504);
		return true;
	}
	return false;
}

/*
 * A connection the kernel holds, at its deadline: the kernel's own exchanges keep it alive, and
 * they have the timeouts of strgd's: a request as expire_kernel_request() says, a response that
 * stopped moving for timeout server is cut. Looked at every kernel_look_ns().
 */
static void expire_kernel(struct conn *c, const struct strg_conn *k)
{
	const struct config *cfg = c->w->cfg;
	uint64_t now = now_ns(), server = ms_ns(cfg->server_timeout_ms);
	uint64_t idle = ms_ns(cfg->idle_timeout_ms), look = kernel_look_ns(cfg), due;

	if (expire_kernel_request(c, k, now))
		return;
	if (k->phase == STRG_PH_KBODY && kconn_stalled(&c->k, k, now, server)) {
		pr_info("conn %lu: pool %s: timed out inside a response the kernel carried", c->id,
			cfg->pools[k->pool < POOL_MAX ? k->pool : 0].name);
		conn_close(c);
		return;
	}
	if (!kconn_busy(k) && now - c->active_ns >= idle) {
		conn_close(c); /* idle keep-alive connection */
		return;
	}
	c->deadline_ns = now + look < c->active_ns + idle ? now + look : c->active_ns + idle;
	if (k->phase != STRG_PH_KREQ)
		return;
	due = k->req_left ? kernel_body_due(c, k)
			  : (k->req_end_ns ? k->req_end_ns : k->req_ns) + server;
	if (due < c->deadline_ns)
		c->deadline_ns = due > now ? due : now + 1;
}

static void expire(struct conn *c)
{
	struct strg_conn k;

	if (c->state != ST_HEAD) {
		exchange_expire(c);
		return;
	}
	if (conn_unread(c, CLIENT) && !conn_has(c, CF_KWAIT)) {
		conn_reply(c, 408); /* a head left unfinished */
		return;
	}
	if (handoff_kernel_state(c, &k)) {
		expire_kernel(c, &k);
		return;
	}
	conn_close(c); /* idle keep-alive connection */
}

bool session_sweep_backends(struct worker *w)
{
	bool done = true;

	for (struct conn *c = w->conns; c; c = c->next) {
		for (unsigned p = 0; p < w->cfg->npools && p < POOL_MAX; p++) {
			struct strg_conn k;

			if (c->up[p].fd < 0 ||
			    pool_backend_serves(&w->cfg->pools[p], &w->prt[p], c->up[p].bidx))
				continue;
			/* strgd's own exchange with it: let go after (conn_backend_reusable says
			 * no). */
			if (c->state != ST_HEAD || conn_has(c, CF_WAITS)) {
				done = false;
				continue;
			}
			/*
			 * The kernel first stops forwarding to it; the connection is closed a tick
			 * later, once no request the kernel forwarded before is on it.
			 */
			if (kconn_attached(&c->k, p)) {
				handoff_detach(c, p);
				done = false;
				continue;
			}
			if (handoff_kernel_state(c, &k) && kconn_busy(&k) && k.pool == p) {
				done = false;
				continue;
			}
			conn_drop_backend(c, (int)p);
		}
	}
	return done;
}

/* How little a connection does: slow heads first, then idle ones; 0 for one that is busy. */
static uint64_t shed_rank(struct conn *c, uint64_t now)
{
	struct strg_conn k;

	if (c->state != ST_HEAD || conn_has(c, CF_WAITS))
		return 0;
	if (conn_unread(c, CLIENT))
		return c->head_ns && now - c->head_ns > 1000000000ull
			       ? (1ull << 62) + (now - c->head_ns)
			       : 0;
	if (handoff_kernel_state(c, &k) && kconn_busy(&k))
		return 0;
	return now > c->active_ns ? now - c->active_ns + 1 : 1;
}

unsigned session_shed(struct worker *w, unsigned n, uint64_t now)
{
	unsigned closed = 0;

	while (closed < n) {
		struct conn *worst = NULL;
		uint64_t worst_rank = 0;

		for (struct conn *c = w->conns; c; c = c->next) {
			uint64_t r = shed_rank(c, now);

			if (r > worst_rank) {
				worst = c;
				worst_rank = r;
			}
		}
		if (!worst)
			break;
		/* Either leaves ST_HEAD (or frees it): it is not picked again. */
		if (conn_unread(worst, CLIENT))
			conn_reply(worst, 408); /* closes it once sent */
		else
			conn_close(worst);
		closed++;
	}
	if (closed)
		pr_info("worker %u: out of descriptors: %u slow or idle connections closed", w->idx,
			closed);
	return closed;
}

/*
 * Backend connections unused for timeout backend-idle are closed (looked at about once a
 * second per connection): an idle client holds none; its next request opens one again (the
 * kernel passes such a request up). The kernel stops using one before it is closed.
 */
static void idle_backends(struct conn *c, uint64_t now)
{
	uint64_t last = c->active_ns, limit = ms_ns(c->w->cfg->backend_idle_ms);
	bool any = false, detached = false;
	struct strg_conn k;

	c->bidle_ns = now + 1000000000ull;
	for (unsigned p = 0; p < POOL_MAX; p++)
		any = any || c->up[p].fd >= 0;
	if (!any || conn_has(c, CF_WAITS) || conn_unread(c, CLIENT))
		return;
	if (handoff_kernel_state(c, &k)) {
		if (kconn_busy(&k))
			return;
		if (k.req_ns > last)
			last = k.req_ns; /* the kernel's last request (the same clock) */
	}
	if (now - last < limit)
		return;
	for (unsigned p = 0; p < POOL_MAX; p++) {
		if (c->up[p].fd < 0)
			continue;
		if (kconn_attached(&c->k, p)) {
			handoff_detach(c, p); /* closed at the next look */
			detached = true;
			continue;
		}
		conn_drop_backend(c, (int)p);
	}
	if (detached)
		c->bidle_ns = now + 100000000ull;
}

void session_tick(struct conn *c, uint64_t now, uint64_t stop_deadline)
{
	struct worker *w = c->w;
	struct strg_conn k;

	if (c->state == ST_CLOSING)
		return;
	if (c->state == ST_HEAD && conn_has(c, CF_WAITS)) {
		recheck(c);
		return;
	}
	if (w->sp && c->splice_at && now >= c->splice_at && c->state == ST_HEAD &&
	    !conn_unread(c, CLIENT) && (c->pending & (1u << CONN_OP_CRECV)) && !w->stopping) {
		/* Idle: take back the pending recv; its completion hands the connection over. */
		c->splice_at = 0;
		c->flags |= CF_HANDING;
		conn_cancel_op(c, CONN_OP_CRECV);
		return;
	}
	/* Idle in user space: let go of the buffers until the client sends again. */
	if (c->state == ST_HEAD && !kconn_spliced(&c->k) && !conn_has(c, CF_HANDING | CF_PARKED) &&
	    (!c->splice_at || !w->sp) && !conn_unread(c, CLIENT) &&
	    (c->pending & (1u << CONN_OP_CRECV)) && !w->stopping &&
	    now - c->active_ns >= PARK_IDLE_NS) {
		c->flags |= CF_PARKED;
		conn_cancel_op(c, CONN_OP_CRECV);
		return;
	}
	/*
	 * Stopping: a connection between requests gets a moment for the request its client may
	 * be sending (answered with "Connection: close"); one that stays quiet for it is closed.
	 * No request is in flight on it then.
	 */
	if (w->stopping && c->state == ST_HEAD && !conn_unread(c, CLIENT) &&
	    now - (c->active_ns > w->stop_ns ? c->active_ns : w->stop_ns) >= STOP_IDLE_NS) {
		if (handoff_kernel_state(c, &k) && (kconn_busy(&k) || kconn_unread(&c->k, &k)))
			return;
		conn_close(c);
		return;
	}
	if ((c->deadline_ns && now >= c->deadline_ns) || (w->stopping && now >= stop_deadline)) {
		expire(c);
		return;
	}
	if (c->state == ST_HEAD && now >= c->bidle_ns)
		idle_backends(c, now);
}
