// SPDX-License-Identifier: GPL-2.0-only
/*
 * One exchange at a time per client connection, in user space: parse and route the request,
 * connect or reuse the pool's backend connection, forward the head and stream both bodies.
 * Pipelined requests wait in the client buffer until the previous response is complete, which
 * keeps responses in order even when consecutive requests go to different pools.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <linux/sockios.h>
#include <linux/tcp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "dataplane/conn.h"
#include "dataplane/exchange.h"
#include "dataplane/gateway.h"
#include "dataplane/handoff.h"
#include "dataplane/health.h"
#include "dataplane/shadow.h"
#include "lib/log.h"
#include "core/proxyproto.h"

static void build_head(struct conn *c, const struct http_request *req, size_t head_len,
		       const struct route *rt);
static void exchange_connect(struct conn *c);
/* The head being routed, for routes with conditions: its bytes are still at the buffer's start. */
static struct route_head head_of(const struct conn *c, const struct http_request *req)
{
	return (struct route_head){req, c->cd[CLIENT].buf + c->cd[CLIENT].start};
}
static const struct route *fall_back(struct conn *c, const struct http_request *req,
				     const struct route *rt, unsigned bucket);
static int retry_pool(struct conn *c, const struct http_request *req, const struct route *matched,
		      const struct route *used, unsigned bucket);
static void head_for_new_connection(struct conn *c, const struct pool *p);
static void exchange_pump_up(struct conn *c);
static void exchange_finish(struct conn *c);
static bool retry_request(struct conn *c);
static void backend_closed(struct conn *c);
static int parse_response_head(struct conn *c);
static void exchange_pump_down(struct conn *c);

/* ---- request side ---- */

void exchange_reset(struct conn *c)
{
	bool client_eof = c->cd[CLIENT].msg.eof; /* the client's end stays ended */

	shadow_user_end(c, false); /* an exchange that did not finish: nothing to compare */
	if (conn_has(c, CF_INFLIGHT) && c->pool >= 0)
		pool_inflight_add(&c->w->prt[c->pool], c->up[c->pool].bidx, -1);
	c->flags &= ~CF_INFLIGHT;
	c->pool = -1;
	c->alt_pool = -1;
	c->cd[BACKEND].fd = -1;
	c->flags &= ~(CF_REUSED | CF_CONNECT_TIMEOUT | CF_RESP_HEAD | CF_RESP_STARTED | CF_TUNNEL |
		      CF_CLOSE_SENT | CF_ADOPTED | CF_UPGRADE | CF_FALLBACK | CF_KHEAD |
		      CF_REPLY_KEEP | CF_GW_ANSWER);
	c->resp_rules = 0;
	c->tries = 0;
	c->interims = 0;
	c->method = HTTP_M_UNKNOWN;
	c->head.len = 0;
	c->head.sent = 0;
	memset(&c->cd[CLIENT].msg, 0, sizeof(c->cd[CLIENT].msg));
	memset(&c->cd[BACKEND].msg, 0, sizeof(c->cd[BACKEND].msg));
	c->cd[CLIENT].msg.eof = client_eof;
	c->status = 0;
	c->t_req = 0;
	c->t_in = 0;
	c->t_req_end = 0;
	c->t_resp = 0;
	c->cd[CLIENT].fwd = 0;
	c->cd[BACKEND].fwd = 0;
	c->cd[BACKEND].start = 0;
	c->cd[BACKEND].end = 0;
}

/* Copy the head minus its final CRLF, then the headers a proxy adds, then the CRLF. */
/*
 * The request line with the route's prefix of the path replaced by spec->rewrite ("" strips
 * it; an empty result becomes "/"), written at out. Returns its length. The rest of the target
 * (scheme and authority of an absolute form, the query) is kept as sent.
 */
static size_t adapted_line(const struct http_request *req, const struct route_stored *spec,
			   char *out)
{
	const char *end = req->target + req->target_len;
	/* An absolute form without a path has a "/" that is not in the buffer. */
	bool inbuf = req->path >= req->target && req->path + req->path_len <= end;
	size_t pre = inbuf ? (size_t)(req->path - req->target) : req->target_len;
	size_t plen = strlen(spec->path), tail = inbuf ? req->path_len - plen : 0;
	size_t n;

	memcpy(out, req->method_str, req->method_len + 1); /* with its SP */
	n = req->method_len + 1;
	memcpy(out + n, req->target, pre);
	n += pre;
	n += (size_t)sprintf(out + n, "%s", spec->rewrite);
	memcpy(out + n, req->path + plen, tail);
	n += tail;
	if (!spec->rewrite[0] && !tail)
		out[n++] = '/';
	if (inbuf) {
		memcpy(out + n, req->path + req->path_len,
		       (size_t)(end - req->path - req->path_len));
		n += (size_t)(end - req->path - req->path_len);
	}
	n += (size_t)sprintf(out + n, " HTTP/1.%u\r\n", req->version_minor);
	return n;
}

/* strgd's own field name, unless a request rule of rt replaces or removes it: then "". */
static const char *own_field(const struct route *rt, const char *name)
{
	return routegw_rule_names(rt->spec.gw, ROUTEGW_REQ_KINDS, name, strlen(name)) ? "" : name;
}

/* The fields strgd adds to a forwarded head, at out (ADDED_HEADERS_MAX); the bytes written. */
static size_t proxy_fields(struct conn *c, const struct http_request *req, const struct route *rt,
			   char *out)
{
	bool id = c->ri && c->ri->id_added && *own_field(rt, "X-Request-Id");
	char peer[INET6_ADDRSTRLEN];
	size_t n = 0;

	if (*own_field(rt, "X-Forwarded-For"))
		n += (size_t)sprintf(out + n, "X-Forwarded-For: %s\r\n", conn_peer(c, peer));
	if (*own_field(rt, "X-Forwarded-Proto"))
		n += (size_t)sprintf(out + n, "X-Forwarded-Proto: http\r\n");
	if (*own_field(rt, "Via"))
		n += (size_t)sprintf(out + n, "Via: 1.%u strg\r\n", req->version_minor);
	if (id)
		n += (size_t)snprintf(out + n, ADDED_HEADERS_MAX - n, "X-Request-Id: %s\r\n",
				      c->ri->id);
	return n;
}

static void build_head(struct conn *c, const struct http_request *req, size_t head_len,
		       const struct route *rt)
{
	const struct route_stored *spec = &rt->spec;
	char *head = c->head.data + PROXYPROTO_V2_MAX;
	const char *src = c->cd[CLIENT].buf + c->cd[CLIENT].start;
	size_t line = spec->adapt ? adapted_line(req, spec, head) : req->line_len, n;

	if (!spec->adapt)
		memcpy(head, src, line);
	/* The fields (head_len - 2: without the empty line), less those the rules replace. */
	n = line + gateway_request_fields(rt, req, src + req->line_len,
					  head_len - 2 - req->line_len, head + line);
	n += proxy_fields(c, req, rt, head + n);
	n += gateway_request_added(c, rt, req, src, head + n);
	memcpy(head + n, "\r\n", 2);
	c->head_len = (uint32_t)(n + 2);
	c->head_off = PROXYPROTO_V2_MAX;
	c->head.len = c->head_len;
	c->head.sent = 0;
}

static bool name_is(const char *s, size_t len, const char *name)
{
	return strlen(name) == len && !strncasecmp(s, name, len);
}

/*
 * The user's bucket (0-999) for "percent" routes: a hash of the configured cookie or header, or
 * of the client address, so one user keeps landing on the same side of a split.
 */
static unsigned user_bucket(const struct conn *c, const struct http_request *req, const char *buf)
{
	const struct config *cfg = c->w->cfg;
	char peer[INET6_ADDRSTRLEN];
	const char *key = conn_peer(c, peer);
	size_t len = strlen(key);
	uint64_t h = 0xcbf29ce484222325ull;

	for (unsigned i = 0; cfg->sticky != STICKY_ADDRESS && i < req->nfields; i++) {
		const struct http_field *f = &req->fields[i];
		const char *v = buf + f->value_off;
		size_t vlen;

		if (cfg->sticky == STICKY_HEADER &&
		    name_is(buf + f->name_off, f->name_len, cfg->sticky_name)) {
			key = v;
			len = f->value_len;
			break;
		}
		if (cfg->sticky == STICKY_COOKIE &&
		    name_is(buf + f->name_off, f->name_len, "cookie") &&
		    (v = http_cookie(v, f->value_len, cfg->sticky_name, &vlen))) {
			key = v;
			len = vlen;
			break;
		}
	}
	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)key[i]) * 0x100000001b3ull;
	return (unsigned)(h % 1000);
}

/*
 * The pool a request names in the tester header (X-Strg-Pool: modern), or -1: none, or a name
 * no pool has. Only a route with "testers" lets it choose.
 */
static int tester_pool(const struct config *cfg, const struct http_request *req, const char *buf)
{
	for (unsigned i = 0; i < req->nfields; i++) {
		const struct http_field *f = &req->fields[i];
		char name[POOL_NAME_MAX + 1];
		int p;

		if (!name_is(buf + f->name_off, f->name_len, cfg->tester_header) ||
		    f->value_len > POOL_NAME_MAX)
			continue;
		memcpy(name, buf + f->value_off, f->value_len);
		name[f->value_len] = '\0';
		p = config_pool_find(cfg, name);
		return p; /* an unknown pool name pins nothing */
	}
	return -1;
}

/*
 * A chunked request body that fits limit body-buffer (and the buffer) is read whole and its
 * framing checked before the head is forwarded: 1 go on (checked, or too long to hold: it
 * streams and is checked on the way), 0 read more first, -1 malformed (nothing was forwarded).
 * *whole: the body came with the head, to its end.
 */
static int chunked_precheck(struct conn *c, const struct http_request *req, size_t head,
			    bool *whole)
{
	size_t avail = c->cd[CLIENT].end - c->cd[CLIENT].start - head;
	struct http_chunked ch;
	bool done = false;

	*whole = req->body == HTTP_BODY_NONE ||
		 (req->body == HTTP_BODY_LENGTH && avail >= req->content_length);
	if (req->body != HTTP_BODY_CHUNKED || !c->w->cfg->body_buffer)
		return 1;
	http_chunked_init(&ch);
	if (http_chunked_feed(&ch, c->cd[CLIENT].buf + c->cd[CLIENT].start + head, avail, &done) <
	    0)
		return -1;
	*whole = done;
	if (done || avail >= c->w->cfg->body_buffer || c->cd[CLIENT].end >= c->cd[CLIENT].cap ||
	    c->cd[CLIENT].msg.eof)
		return 1;
	return 0;
}

/* The head is not whole yet: each byte gives the client its timeout again, but the deadline
 * never moves past timeout head after the head's first byte. */
static enum xout read_more_head(struct conn *c)
{
	const struct config *cfg = c->w->cfg;
	uint64_t now = now_ns();

	if (!c->head_ns)
		c->head_ns = now;
	c->deadline_ns = now + ms_ns(cfg->client_timeout_ms);
	if (c->deadline_ns > c->head_ns + ms_ns(cfg->head_timeout_ms))
		c->deadline_ns = c->head_ns + ms_ns(cfg->head_timeout_ms);
	conn_recv_client(c);
	return XO_BUSY;
}

/* Forward the head on the pool's backend connection when it may serve it, else a new one. */
static void forward(struct conn *c)
{
	struct worker *w = c->w;

	if (c->up[c->pool].fd >= 0 && !conn_backend_reusable(c, c->pool))
		conn_drop_backend(c, c->pool);
	if (c->up[c->pool].fd < 0) {
		exchange_connect(c);
		return;
	}
	c->cd[BACKEND].fd = c->up[c->pool].fd;
	c->flags |= CF_REUSED | CF_INFLIGHT;
	pool_inflight_add(&w->prt[c->pool], c->up[c->pool].bidx, 1);
	c->state = ST_XFER;
	c->deadline_ns = now_ns() + ms_ns(w->cfg->server_timeout_ms);
	conn_send_backend(c, c->head.data + c->head_off, c->head.len);
	conn_recv_backend(c);
}

/*
 * The route's access lists and limit: true when strgd answered (403, 429 with Retry-After).
 * A request without a body ends there and the connection lives on; one with a body, whose
 * bytes would have to be read and thrown away, ends the connection.
 */
static bool gateway_refused(struct conn *c, const struct http_request *req, int n,
			    const struct route *matched, const char *buf)
{
	struct gateway_verdict v = gateway_admit(c, matched, req, buf);
	char extra[48] = "";
	char peer[INET6_ADDRSTRLEN];
	bool keep;

	if (!v.status)
		return false;
	if (v.status == 429)
		snprintf(extra, sizeof(extra), "Retry-After: %u\r\n", v.retry_s);
	pr_debug("conn %lu: %s: route %u answers %u", c->id, conn_peer(c, peer), matched->id,
		 v.status);
	keep = req->body == HTTP_BODY_NONE && req->keep_alive && !req->upgrade && !c->w->stopping;
	c->cd[CLIENT].start += (uint32_t)n;
	c->flags |= CF_GW_ANSWER;
	conn_answer(c, v.status, extra, keep);
	return true;
}

/*
 * Route the parsed request (its head: n bytes at buf; whole: its body came with it) and forward
 * it, or answer 404 when no route takes it.
 */
static void route_request(struct conn *c, const struct http_request *req, const char *buf, int n,
			  bool whole)
{
	struct worker *w = c->w;
	const struct route *rt, *matched, *counted;
	int tester = route_table_has_testers(w->cfg->routes) ? tester_pool(w->cfg, req, buf) : -1;
	struct route_head head = {req, buf};
	unsigned bucket = user_bucket(c, req, buf) | (tester >= 0 ? ROUTE_TESTER : 0);

	c->method = req->method;
	matched = route_table_lookup_counted(w->cfg->routes, req->method, req->host, req->host_len,
					     req->path, req->path_len, bucket, &head, &counted);
	if (!matched) {
		conn_reply(c, 404);
		return;
	}
	/* A canary's users outside its share count under it too, with the pool that serves them. */
	c->route_id = counted->id;
	c->route_slot = counted->slot;
	c->t_req = now_ns();
	c->t_in = c->t_req;
	/* The request ends with its head when its body came along (latency counts from there). */
	c->t_req_end = whole ? c->t_req : 0;
	c->pool = matched->spec.testers && tester >= 0 ? tester : matched->spec.pool;
	if (gateway_refused(c, req, n, matched, buf))
		return;
	/* Counted under the route it matched; forwarded as the route that serves it. */
	rt = fall_back(c, req, matched, bucket);
	c->alt_pool = http_idempotent(req->method) ? retry_pool(c, req, matched, rt, bucket) : -1;
	c->cd[CLIENT].msg.keep = req->keep_alive;
	conn_set(c, CF_UPGRADE, req->upgrade);
	c->cd[CLIENT].msg.body = req->body;
	c->cd[CLIENT].msg.left = req->content_length;
	http_chunked_init(&c->cd[CLIENT].msg.ch);
	c->cd[CLIENT].msg.done = req->body == HTTP_BODY_NONE;
	build_head(c, req, (size_t)n, rt);
	if (routegw_has_rules(rt->spec.gw, ROUTEGW_RESP_KINDS))
		c->resp_rules = rt->id;
	if (matched->spec.shadow && tester < 0)
		shadow_start(c, matched, req, buf, c->head.data + PROXYPROTO_V2_MAX, c->head_len,
			     bucket);
	c->cd[CLIENT].start += (uint32_t)n;
	forward(c);
}

enum xout exchange_start(struct conn *c)
{
	struct http_request *req = &c->w->req;
	const char *buf = c->cd[CLIENT].buf + c->cd[CLIENT].start;
	char peer[INET6_ADDRSTRLEN];
	bool whole;
	int n;

	n = http_parse_request(buf, conn_unread(c, CLIENT), &c->w->cfg->limits, req);
	if (n == 0)
		return read_more_head(c);
	if (n < 0) {
		c->head_ns = 0;
		pr_info("conn %lu: %s: rejected request with %d", c->id, conn_peer(c, peer), -n);
		conn_reqinfo(c, NULL, NULL);
		c->method = HTTP_M_UNKNOWN;
		conn_reply(c, (unsigned)-n);
		return XO_BUSY;
	}
	/* A chunked body short enough is checked whole before anything goes to a backend. */
	switch (chunked_precheck(c, req, (size_t)n, &whole)) {
	case -1:
		pr_info("conn %lu: %s: malformed chunked request body: refused before forwarding",
			c->id, conn_peer(c, peer));
		conn_reqinfo(c, req, buf);
		c->method = req->method;
		conn_reply(c, 400);
		return XO_BUSY;
	case 0: /* still the head's time: the body bytes held back count as part of it */
		return read_more_head(c);
	default:
		c->head_ns = 0;
		break;
	}
	conn_reqinfo(c, req, buf);
	route_request(c, req, buf, n, whole);
	return XO_BUSY;
}

/*
 * Passive health: a request to backend idx failed. Enough of them in a row eject it; the
 * ejection is logged and notified once, by whoever made it.
 */
static void request_failed(struct conn *c, unsigned idx, const char *what)
{
	const struct pool *p = &c->w->cfg->pools[c->pool];
	char why[160];

	if (!pool_request_failed(p, &c->w->prt[c->pool], idx, now_ns()))
		return;
	pool_ejection_text(p, &c->w->prt[c->pool], idx, what, why, sizeof(why));
	health_changed(p, idx, HEALTH_DOWN, why);
}

struct skip_ctx {
	struct worker *w;
	const struct route *rt;
};

/* The retry's fallback "next": the matched route itself and routes that cannot serve. */
static bool matched_or_unserved(const struct route *r, void *arg)
{
	const struct skip_ctx *x = arg;

	return r == x->rt ||
	       !pool_available(&x->w->cfg->pools[r->spec.pool], &x->w->prt[r->spec.pool], now_ns());
}

/*
 * Where an idempotent request goes when its connect fails and its pool has no other backend:
 * the route's fallback, when the request forwarded as is suits it (same path adaptation).
 */
static int retry_pool(struct conn *c, const struct http_request *req, const struct route *matched,
		      const struct route *used, unsigned bucket)
{
	struct skip_ctx x = {c->w, matched};
	struct route_head head = head_of(c, req);
	const struct route *next;

	if (conn_has(c, CF_FALLBACK))
		return -1; /* falling back already */
	switch (matched->spec.fallback) {
	case ROUTE_FALLBACK_POOL:
		return matched->spec.fallback_pool != c->pool ? matched->spec.fallback_pool : -1;
	case ROUTE_FALLBACK_NEXT:
		next = route_table_lookup_skip(c->w->cfg->routes, req->method, req->host,
					       req->host_len, req->path, req->path_len, bucket,
					       &head, matched_or_unserved, &x);
		if (!next || next->spec.pool == c->pool || next->spec.adapt != used->spec.adapt ||
		    strcmp(next->spec.rewrite, used->spec.rewrite))
			return -1;
		return next->spec.pool;
	default:
		return -1;
	}
}

/* Fallback "next": a matching route whose pool has no backend that serves is passed over. */
static bool unserved(const struct route *r, void *ctx)
{
	struct worker *w = ctx;

	return r->spec.fallback == ROUTE_FALLBACK_NEXT &&
	       !pool_available(&w->cfg->pools[r->spec.pool], &w->prt[r->spec.pool], now_ns());
}

/*
 * When the pool chosen for the request has no backend that serves, the route's fallback:
 * the next matching route (finally the default, the monolith), a pool of its own, or none
 * (strgd then answers 503 as before). Returns the route whose options shape the forwarded
 * request; c->pool is the pool that serves it, and CF_FALLBACK says it fell back.
 */
static const struct route *fall_back(struct conn *c, const struct http_request *req,
				     const struct route *rt, unsigned bucket)
{
	struct worker *w = c->w;
	struct route_head head = head_of(c, req);
	const struct route *next;

	c->flags &= ~CF_FALLBACK;
	if (pool_available(&w->cfg->pools[c->pool], &w->prt[c->pool], now_ns()))
		return rt;
	switch (rt->spec.fallback) {
	case ROUTE_FALLBACK_POOL:
		if ((unsigned)rt->spec.fallback_pool >= w->cfg->npools ||
		    !pool_available(&w->cfg->pools[rt->spec.fallback_pool],
				    &w->prt[rt->spec.fallback_pool], now_ns()))
			return rt;
		c->pool = rt->spec.fallback_pool;
		c->flags |= CF_FALLBACK;
		return rt;
	case ROUTE_FALLBACK_NEXT:
		next = route_table_lookup_skip(w->cfg->routes, req->method, req->host,
					       req->host_len, req->path, req->path_len, bucket,
					       &head, unserved, w);
		if (!next || next == rt)
			return rt;
		c->pool = next->spec.pool;
		c->flags |= CF_FALLBACK;
		return next;
	default:
		return rt;
	}
}

static void exchange_connect(struct conn *c)
{
	struct worker *w = c->w;
	const struct pool *p = &w->cfg->pools[c->pool];
	struct io_uring_sqe *sqe;
	int idx, fd, one = 1;
	bool linked;

	idx = pool_pick(p, &w->prt[c->pool], now_ns());
	if (idx < 0 && c->tries && c->alt_pool >= 0 && (unsigned)c->alt_pool < w->cfg->npools) {
		/* The retry: the pool has no other backend, the route's fallback takes it. */
		c->pool = c->alt_pool;
		c->alt_pool = -1;
		c->flags |= CF_FALLBACK;
		p = &w->cfg->pools[c->pool];
		idx = pool_pick(p, &w->prt[c->pool], now_ns());
	}
	if (idx < 0) {
		if (!c->tries)
			pr_warn("conn %lu: pool %s has no ready backend", c->id, p->name);
		conn_reply(c, c->tries ? (conn_has(c, CF_CONNECT_TIMEOUT) ? 504 : 502) : 503);
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
	c->up[c->pool].unsolicited = false;
	c->up[c->pool].bidx = (uint8_t)idx;
	c->cd[BACKEND].fd = fd;
	c->flags &= ~CF_REUSED;
	c->state = ST_CONNECT;
	/*
	 * A linked timeout cancels the connect on time; it must go in the same submission, so
	 * without room for both (a submission that could not take everything) the timer alone
	 * watches the connect, to its tick.
	 */
	if (io_uring_sq_space_left(&w->ring) < 2)
		io_uring_submit(&w->ring);
	linked = io_uring_sq_space_left(&w->ring) >= 2;
	c->deadline_ns =
		now_ns() + ms_ns(w->cfg->connect_timeout_ms) + (linked ? 1000000000ull : 0);
	sqe = ring_get_sqe(&w->ring);
	io_uring_prep_connect(sqe, fd, (struct sockaddr *)&p->backends[idx].addr,
			      p->backends[idx].addrlen);
	conn_submit(c, sqe, CONN_OP_CONNECT);
	if (!linked)
		return;
	sqe->flags |= IOSQE_IO_LINK;
	w->connect_ts.tv_sec = w->cfg->connect_timeout_ms / 1000;
	w->connect_ts.tv_nsec = (long long)(w->cfg->connect_timeout_ms % 1000) * 1000000;
	sqe = ring_get_sqe(&w->ring);
	io_uring_prep_link_timeout(sqe, &w->connect_ts, 0);
	io_uring_sqe_set_data64(sqe, ring_tag(NULL, RING_OP_NONE));
}

/*
 * A new backend connection starts with the PROXY v2 header when its pool asks for one: the
 * backend then knows the client on every request of the connection, the kernel's included.
 */
static void head_for_new_connection(struct conn *c, const struct pool *p)
{
	char pp[PROXYPROTO_V2_MAX];
	union conn_addr local;
	socklen_t len = sizeof(local);
	int n;

	c->head_off = PROXYPROTO_V2_MAX;
	c->head.len = c->head_len;
	c->head.sent = 0;
	if (!p->proxy_protocol)
		return;
	/* The address the client connected to: asked for here, not kept per connection. */
	if (getsockname(c->cd[CLIENT].fd, &local.sa, &len) || len > sizeof(local))
		local.sa.sa_family = AF_UNSPEC;
	n = proxyproto_v2(pp, sizeof(pp), &c->peer_addr.sa, &local.sa);
	if (n < 0) {
		pr_warn("conn %lu: no PROXY header for a client of this address family", c->id);
		return;
	}
	c->head_off -= (uint32_t)n;
	c->head.len += (uint32_t)n;
	memcpy(c->head.data + c->head_off, pp, (size_t)n);
}

static void exchange_on_connect(struct conn *c, int res)
{
	const struct pool *p = &c->w->cfg->pools[c->pool];
	int idx = c->up[c->pool].bidx;

	if (res < 0) {
		bool timeout = res == -ECANCELED;

		pr_warn("conn %lu: backend %s of pool %s: connect: %s", c->id,
			p->backends[idx].name, p->name, timeout ? "timed out" : strerror(-res));
		pool_connect_failed(p, &c->w->prt[c->pool], (unsigned)idx, timeout, now_ns(),
				    ms_ns(c->w->cfg->down_hold_ms));
		request_failed(c, (unsigned)idx, timeout ? "connect timed out" : "connect failed");
		close(c->up[c->pool].fd);
		c->up[c->pool].fd = -1;
		c->cd[BACKEND].fd = -1;
		c->tries++;
		conn_set(c, CF_CONNECT_TIMEOUT, timeout);
		/* Nothing reached a backend: an idempotent request is tried once more elsewhere. */
		if (c->tries > 1 || !http_idempotent(c->method)) {
			conn_reply(c, timeout ? 504 : 502);
			return;
		}
		exchange_connect(c);
		return;
	}
	pool_mark_up(p, &c->w->prt[c->pool], (unsigned)idx);
	pool_conns_add(&c->w->prt[c->pool], (unsigned)idx, 1);
	pool_inflight_add(&c->w->prt[c->pool], (unsigned)idx, 1);
	c->flags |= CF_INFLIGHT;
	head_for_new_connection(c, p);
	c->state = ST_XFER;
	c->deadline_ns = now_ns() + ms_ns(c->w->cfg->server_timeout_ms);
	conn_send_backend(c, c->head.data + c->head_off, c->head.len);
	conn_recv_backend(c);
}

/*
 * How many of the avail bytes at buf belong to the message m, its framing counted on, and whether
 * they end it (*done). The same for both directions; -1: a malformed chunked body.
 */
static long msg_take(struct msg_dir *m, const char *buf, uint32_t avail, bool *done)
{
	uint64_t n;

	switch (m->body) {
	case HTTP_BODY_NONE:
		*done = true;
		return 0;
	case HTTP_BODY_LENGTH:
		n = avail < m->left ? avail : m->left;
		m->left -= n;
		*done = m->left == 0;
		return (long)n;
	case HTTP_BODY_CHUNKED:
		return http_chunked_feed(&m->ch, buf, avail, done);
	default: /* close-delimited, or a tunnel's: everything until EOF */
		*done = m->eof && !avail;
		return (long)avail;
	}
}

/* The user's request went whole to its pool: its copy, if any, may go. */
static void shadow_check_sent(struct conn *c)
{
	if (c->shadow && c->cd[CLIENT].msg.done && c->head.sent >= c->head.len)
		shadow_request_sent(c);
}

/* Hand the next slice of request body to the backend, or read more of it from the client. */
static void exchange_pump_up(struct conn *c)
{
	struct conn_dir *cl = &c->cd[CLIENT];
	uint32_t avail = cl->end - cl->start;
	bool done = false;
	long n;

	if (cl->msg.done || (c->pending & (1u << CONN_OP_BSEND)) || c->head.sent < c->head.len)
		return;
	if (!avail) {
		if (!cl->msg.eof) {
			conn_recv_client(c);
			return;
		}
		/* Tunnel: pass the client's half-close on once its bytes are all sent. */
		if (conn_has(c, CF_TUNNEL)) {
			shutdown(c->cd[BACKEND].fd, SHUT_WR);
			if (c->cd[BACKEND].msg.eof && !(c->pending & (1u << CONN_OP_CSEND)))
				conn_close(c);
		}
		return;
	}
	n = msg_take(&cl->msg, cl->buf + cl->start, avail, &done);
	if (n < 0) {
		char peer[INET6_ADDRSTRLEN];

		pr_info("conn %lu: %s: malformed chunked request body", c->id, conn_peer(c, peer));
		conn_reply(c, 400);
		return;
	}
	if (done && !c->t_req_end)
		c->t_req_end = c->t_in; /* the bytes that end it came then */
	if (n && c->shadow)
		shadow_request_body(c, cl->buf + cl->start, (uint32_t)n);
	if (!n) {
		cl->msg.done = done;
		shadow_check_sent(c);
		return;
	}
	cl->msg.done_pending = done;
	conn_pass_on(c, CLIENT, (uint32_t)n);
}

/*
 * Both directions are complete: the backend connection is kept only when it may serve the next
 * request (it said keep-alive and sent nothing more), the request is counted, and the outcome
 * says whether the client connection may live on. What comes next is the session's call.
 */
static void exchange_finish(struct conn *c)
{
	bool keep;

	if (!c->cd[CLIENT].msg.done || !c->cd[BACKEND].msg.done || conn_has(c, CF_TUNNEL))
		return;
	/* No backend operation is in flight here: both directions of the exchange completed. */
	if (conn_unread(c, BACKEND))
		conn_unsolicited(c, c->pool, "after its response");
	if (c->up[c->pool].unsolicited && !conn_unread(c, BACKEND))
		conn_unsolicited(c, c->pool, "seen by the kernel");
	if (!c->cd[BACKEND].msg.keep || conn_unread(c, BACKEND) || c->up[c->pool].unsolicited)
		conn_drop_backend(c, c->pool);
	shadow_user_end(c, true);
	conn_count(c, c->status);
	/* Stopping: a response that did not say close leaves room for one more request. */
	keep = c->cd[CLIENT].msg.keep && c->cd[BACKEND].msg.keep;
	c->active_ns = now_ns();
	c->last_out = c->cd[BACKEND].fwd;
	exchange_reset(c);
	c->state = ST_HEAD;
	c->w->xout = keep ? XO_DONE_KEEP : XO_DONE_CLOSE;
}

/*
 * The reused backend connection ended before answering. An idempotent request goes again, on a
 * new connection, only when no byte of it reached the backend: the backend had closed the
 * kept-alive connection before the request arrived, so TCP acknowledged none of it (SIOCOUTQ
 * still counts it all; tests/kernel, test_tcp_facts). A request the backend acknowledged may
 * have been seen: it is never sent again (README, "Retries").
 */
static bool retry_request(struct conn *c)
{
	int unacked = 0;

	if (!conn_has(c, CF_REUSED) || conn_has(c, CF_ADOPTED) || conn_has(c, CF_RESP_HEAD) ||
	    conn_unread(c, BACKEND) || c->cd[CLIENT].msg.body != HTTP_BODY_NONE ||
	    !http_idempotent(c->method) || c->tries ||
	    (c->pending & ((1u << CONN_OP_BSEND) | (1u << CONN_OP_BRECV))))
		return false;
	if (ioctl(c->cd[BACKEND].fd, SIOCOUTQ, &unacked) < 0 || unacked < 0 ||
	    (uint32_t)unacked < c->head.sent)
		return false;
	pr_debug("conn %lu: reused backend connection closed before the request reached it, "
		 "reconnecting",
		 c->id);
	c->tries++;
	conn_drop_backend(c, c->pool);
	c->cd[BACKEND].fd = -1;
	c->head.sent = 0;
	exchange_connect(c);
	return true;
}

/*
 * The backend ended its connection before a whole response head (for a response the kernel
 * passed up too: the kernel forwarded the request). Unless the request may go again, strgd
 * answers 502, a failed request of that backend.
 */
static void backend_closed(struct conn *c)
{
	const struct pool *p = &c->w->cfg->pools[c->pool];
	unsigned idx = c->up[c->pool].bidx;

	if (retry_request(c))
		return;
	pr_info("conn %lu: backend %s of pool %s closed without answering%s", c->id,
		idx < p->nbackends ? p->backends[idx].name : "?", p->name,
		conn_has(c, CF_ADOPTED) ? " (kernel-carried request)" : "");
	if (p->health.eject_5xx)
		request_failed(c, idx, "closed without answering");
	conn_reply(c, 502);
}

/* Client bytes while an exchange runs (or a reply or linger ends the connection). */
/*
 * When a client that sent bytes must send more: the client timeout, and while a request body
 * comes in, no later than timeout body after its head plus a second per body-rate bytes (a
 * body that dribbles cannot hold the connection forever; one that keeps the rate can).
 */
static uint64_t client_deadline(const struct conn *c, uint64_t now)
{
	const struct config *cfg = c->w->cfg;
	uint64_t d = now + ms_ns(cfg->client_timeout_ms), body, lim;

	if (!cfg->body_rate || !c->t_req || c->cd[CLIENT].msg.done || conn_has(c, CF_TUNNEL))
		return d;
	body = c->cd[CLIENT].fwd > c->head.len ? c->cd[CLIENT].fwd - c->head.len : 0;
	lim = c->t_req + ms_ns(cfg->body_timeout_ms) + body * 1000000000ull / cfg->body_rate;
	return lim < d ? lim : d;
}

static void exchange_on_crecv(struct conn *c, int res)
{
	/*
	 * A socket in the sockhash can answer a blocking recv with EAGAIN when it was woken for
	 * bytes the verdict redirected elsewhere: nothing arrived for us, wait again.
	 */
	if (res == -EAGAIN) {
		c->w->spurious++;
		conn_recv_client(c);
		return;
	}
	if (c->state == ST_LINGER || c->state == ST_REPLY) {
		c->cd[CLIENT].start = 0;
		c->cd[CLIENT].end = 0;
		if (res <= 0) {
			if (c->state == ST_LINGER)
				conn_close(c);
			return;
		}
		if (c->state == ST_LINGER)
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
		if (!c->cd[CLIENT].msg.done && !conn_has(c, CF_TUNNEL)) {
			pr_info("conn %lu: client closed inside a request body", c->id);
			conn_close(c);
			return;
		}
		exchange_pump_up(c);
		return;
	}
	c->cd[CLIENT].end += (uint32_t)res;
	c->t_in = now_ns();
	c->deadline_ns = client_deadline(c, c->t_in);
	exchange_pump_up(c);
}

static void exchange_on_bsend(struct conn *c, int res)
{
	if (c->state != ST_XFER)
		return;
	if (res < 0) {
		/* Let the pending recv see the failure too; it decides between retry and 502. */
		if (c->pending & (1u << CONN_OP_BRECV)) {
			shutdown(c->cd[BACKEND].fd, SHUT_RDWR);
			return;
		}
		if (retry_request(c))
			return;
		pr_info("conn %lu: backend send: %s", c->id, strerror(-res));
		conn_reply(c, 502);
		return;
	}
	c->cd[CLIENT].fwd += (uint64_t)res;
	if (c->head.sent < c->head.len) {
		c->head.sent += (uint32_t)res;
		if (c->head.sent < c->head.len) {
			conn_send_backend(c, c->head.data + c->head_off + c->head.sent,
					  c->head.len - c->head.sent);
			return;
		}
		shadow_check_sent(c);
		exchange_pump_up(c);
		return;
	}
	if (!conn_passed_on(c, CLIENT, (uint32_t)res))
		return;
	if (c->cd[CLIENT].msg.done_pending) {
		c->cd[CLIENT].msg.done = true;
		shadow_check_sent(c);
		c->deadline_ns = now_ns() + ms_ns(c->w->cfg->server_timeout_ms);
		exchange_finish(c);
		return;
	}
	exchange_pump_up(c);
}

/* ---- response side ---- */

/* A field line of the head is "Connection:" or "Keep-Alive:" (any case). */
static bool keepalive_field(const char *line, size_t len)
{
	return (len > 11 && !strncasecmp(line, "connection:", 11)) ||
	       (len > 11 && !strncasecmp(line, "keep-alive:", 11));
}

/*
 * strgd is stopping: the response tells the client to close (its Connection and Keep-Alive
 * fields replaced by "Connection: close"), so the client does not send a request strgd would
 * not take. Rewritten in place in bbuf, the body bytes after it moved; false (the response goes
 * as it is, and the connection takes one more request) when the buffer has no room.
 */
static bool say_close(struct conn *c, uint32_t head, int *new_head)
{
	static const char close_field[] = "Connection: close\r\n";
	char *h = c->cd[BACKEND].buf + c->cd[BACKEND].start, *out;
	uint32_t kept = 0, len, rest = c->cd[BACKEND].end - c->cd[BACKEND].start - head;
	int delta;

	out = malloc(head + sizeof(close_field));
	if (!out)
		return false;
	for (uint32_t i = 0; i + 2 < head; i += len) {
		char *eol = memchr(h + i, '\n', head - i);

		len = (uint32_t)(eol - (h + i)) + 1;
		if (i && keepalive_field(h + i, len))
			continue; /* the status line (i == 0) always stays */
		memcpy(out + kept, h + i, len);
		kept += len;
	}
	memcpy(out + kept, close_field, sizeof(close_field) - 1);
	kept += sizeof(close_field) - 1;
	memcpy(out + kept, "\r\n", 2);
	kept += 2;
	delta = (int)kept - (int)head;
	if (c->cd[BACKEND].end + delta > BBUF_SIZE) {
		free(out);
		return false;
	}
	memmove(h + kept, h + head, rest);
	memcpy(h, out, kept);
	c->cd[BACKEND].end = (uint32_t)((int)c->cd[BACKEND].end + delta);
	*new_head = (int)kept;
	free(out);
	return true;
}

/*
 * The route's response rules on the head at bstart (head bytes), rewritten in place with the
 * body bytes after it moved; *new_head its new length. Left as it is when the buffer has no room.
 */
static void response_rules(struct conn *c, uint32_t head, int *new_head)
{
	struct conn_dir *be = &c->cd[BACKEND];
	char *h = be->buf + be->start, *out;
	size_t cap = head + ROUTEGW_HEAD_ROOM;
	int k, delta;

	out = malloc(cap);
	if (!out)
		return;
	k = gateway_response_head(c, c->resp_rules, h, head, out, cap);
	delta = k - (int)head;
	if (k > 0 && be->end + delta <= BBUF_SIZE) {
		memmove(h + k, h + head, be->end - be->start - head);
		memcpy(h, out, (size_t)k);
		be->end = (uint32_t)((int)be->end + delta);
		*new_head = k;
	} else if (k > 0) {
		pr_warn("conn %lu: response head too large for route %u's header rules: sent as it "
			"is",
			c->id, c->resp_rules);
	}
	free(out);
}

/* Parse a response head at bstart; returns its length, 0 when more bytes are needed, -1 failed. */
static int parse_response_head(struct conn *c)
{
	struct http_response resp;
	int n;

	n = http_parse_response(c->cd[BACKEND].buf + c->cd[BACKEND].start, conn_unread(c, BACKEND),
				BBUF_SIZE, c->method, &resp);
	if (n <= 0) {
		if (n == 0 && !(c->cd[BACKEND].start == 0 && c->cd[BACKEND].end == BBUF_SIZE))
			return 0;
		pr_warn("conn %lu: pool %s sent a malformed response head", c->id,
			c->w->cfg->pools[c->pool].name);
		return -1;
	}
	c->status = resp.status;
	c->t_resp = now_ns();
	if (resp.status >= 500 && c->w->cfg->pools[c->pool].health.eject_5xx)
		request_failed(c, c->up[c->pool].bidx, "a 5xx answer");
	else if (resp.status >= 200)
		pool_request_ok(&c->w->prt[c->pool], c->up[c->pool].bidx);
	if (c->resp_rules && resp.status >= 200)
		response_rules(c, (uint32_t)n, &n);
	if (c->w->stopping && resp.status >= 200 &&
	    !(resp.status == 101 && conn_has(c, CF_UPGRADE)) && resp.keep_alive &&
	    say_close(c, (uint32_t)n, &n)) {
		resp.keep_alive = false;
		c->flags |= CF_CLOSE_SENT;
	}
	if (resp.status == 101 && conn_has(c, CF_UPGRADE)) {
		c->flags |= CF_RESP_HEAD;
		c->flags |= CF_TUNNEL;
		c->cd[BACKEND].msg.body = HTTP_BODY_CLOSE;
		c->cd[CLIENT].msg.body = HTTP_BODY_CLOSE;
		c->cd[CLIENT].msg.done = false;
		c->cd[BACKEND].msg.keep = false;
		exchange_pump_up(c);
	} else if (resp.status >= 100 && resp.status < 200) {
		/* Interim response: forward it and parse the next head after it (a few at most). */
		if (++c->interims > INTERIM_MAX) {
			pr_warn("conn %lu: pool %s sent more than %d interim responses: cut off",
				c->id, c->w->cfg->pools[c->pool].name, INTERIM_MAX);
			return -1;
		}
		c->cd[BACKEND].msg.body = HTTP_BODY_NONE;
	} else {
		c->flags |= CF_RESP_HEAD;
		c->cd[BACKEND].msg.body = resp.body;
		c->cd[BACKEND].msg.left = resp.content_length;
		c->cd[BACKEND].msg.keep = resp.keep_alive;
		http_chunked_init(&c->cd[BACKEND].msg.ch);
	}
	return n;
}

/* ---- a bulk body through a pipe (limit splice-body) ---- */

/* The most one splice out moves (see pipe_pump). */
#define PIPE_SLICE (256u * 1024)

/*
 * The end of a response the connection outlives (total: every byte of it sent to the client):
 * a hand-back may follow, so the hand-off holds the last bytes (handoff_hold).
 */
static void hold_end(struct conn *c, uint64_t total)
{
	if (c->cd[CLIENT].msg.done && c->cd[CLIENT].msg.keep && c->cd[BACKEND].msg.keep &&
	    !c->w->stopping)
		handoff_hold(c, total);
}

/*
 * A Content-Length body with limit splice-body or more still to come goes through a pipe
 * when the ring can splice, nothing of it waits in the buffer, and the backend socket is not
 * in the sockhash (a splice from it would bypass its psock, where the verdict queues bytes);
 * and no shadow copy waits to compare it (its bytes must pass through strgd to be seen).
 */
static bool pipe_wanted(const struct conn *c)
{
	const struct msg_dir *m = &c->cd[BACKEND].msg;
	uint32_t min = c->w->cfg->splice_body;

	return min && (c->w->ring_feat & RING_F_SPLICE) && m->body == HTTP_BODY_LENGTH &&
	       m->left >= min && !conn_unread(c, BACKEND) && !conn_has(c, CF_TUNNEL | CF_ADOPTED) &&
	       !kconn_holds_backend(&c->k, (unsigned)c->pool) && !c->shadow;
}

static uint32_t min_u32(uint64_t a, uint64_t b)
{
	return (uint32_t)(a < b ? a : b);
}

/*
 * One splice at a time, in then out, none waiting (a poll waits instead, conn_pipe_poll): a
 * splice into a pipe that waited for the socket's bytes would hold the pipe's lock, so a splice
 * out of it would wait for the backend too (tests/kernel test_uring,
 * uring_splice_in_holds_the_pipe), and each would hold one of the kernel's io_uring worker
 * threads while it waited. Out in slices of PIPE_SLICE bytes at most.
 */
static void pipe_pump(struct conn *c)
{
	struct conn_pipe *p = &c->pipe;
	const struct msg_dir *m = &c->cd[BACKEND].msg;

	if (c->pending & ((1u << CONN_OP_BRECV) | (1u << CONN_OP_CSEND)))
		return;
	if (p->fill) {
		uint32_t n = min_u32(p->fill, PIPE_SLICE);

		if (!m->left && n == p->fill)
			hold_end(c, c->cd[BACKEND].fwd + n);
		/* Waiting on the client now: its timeout; on the backend: the server's. */
		c->deadline_ns = now_ns() + ms_ns(c->w->cfg->client_timeout_ms);
		conn_pipe_out(c, n);
	} else if (m->left && !m->eof) {
		c->deadline_ns = now_ns() + ms_ns(c->w->cfg->server_timeout_ms);
		conn_pipe_in(c, min_u32(m->left, p->size));
	}
}

/* True when the rest of the body goes through a pipe from now on (CF_PIPED). */
static bool pipe_start(struct conn *c)
{
	int err;

	if (!pipe_wanted(c))
		return false;
	err = conn_pipe_open(c);
	if (err) {
		pr_debug("conn %lu: no pipe for a bulk body (%s): copied", c->id, strerror(-err));
		return false;
	}
	c->flags |= CF_PIPED;
	pipe_pump(c);
	return true;
}

/* The backend's bytes spliced into the pipe (res), or its end (0, or an error). */
static void pipe_on_in(struct conn *c, int res)
{
	struct msg_dir *m = &c->cd[BACKEND].msg;

	if (res == -EAGAIN) { /* nothing to read yet: wait for it without a worker thread */
		conn_pipe_poll(c, BACKEND);
		return;
	}
	if (c->pipe.polled && res > 0) { /* readable: splice again */
		pipe_pump(c);
		return;
	}
	if (res <= 0) {
		if (res < 0 && res != -ECONNRESET)
			pr_info("conn %lu: backend splice: %s", c->id, strerror(-res));
		m->eof = true;
		m->keep = false;
		pipe_pump(c); /* what the pipe holds still goes to the client */
		if (!c->pipe.fill && !(c->pending & (1u << CONN_OP_CSEND)))
			conn_close(c);
		return;
	}
	m->left -= (uint64_t)res;
	c->pipe.fill += (uint32_t)res;
	__atomic_store_n(&c->w->piped, c->w->piped + (unsigned long)res, __ATOMIC_RELAXED);
	pipe_pump(c);
}

/* Bytes spliced out of the pipe to the client (res > 0), or the client gone. */
static void pipe_on_out(struct conn *c, int res)
{
	struct msg_dir *m = &c->cd[BACKEND].msg;

	if (res == -EAGAIN) { /* the client's socket is full: wait until it takes more */
		conn_pipe_poll(c, CLIENT);
		return;
	}
	if (res <= 0) {
		conn_close(c);
		return;
	}
	if (c->pipe.polled) { /* writable: splice again */
		pipe_pump(c);
		return;
	}
	c->pipe.fill -= (uint32_t)res;
	c->cd[BACKEND].fwd += (uint64_t)res;
	if (c->pipe.fill || (m->left && !m->eof)) {
		pipe_pump(c);
		return;
	}
	/* Drained: the body is whole, or its backend ended inside it. */
	conn_pipe_close(c);
	if (m->left) {
		conn_close(c);
		return;
	}
	m->done = true;
	exchange_finish(c);
}

/* Nothing to send on: the response ended, or its backend did, or more is to be read. */
static void response_idle(struct conn *c, bool done)
{
	const struct msg_dir *resp = &c->cd[BACKEND].msg;

	if (conn_has(c, CF_TUNNEL) && resp->eof) {
		/* The backend's half-close goes on to the client; both ends shut: done. */
		if (c->cd[CLIENT].msg.eof && !(c->pending & (1u << CONN_OP_BSEND)))
			conn_close(c);
		else
			shutdown(c->cd[CLIENT].fd, SHUT_WR);
	} else if (done) {
		c->cd[BACKEND].msg.done = true;
		exchange_finish(c);
	} else if (resp->eof) {
		conn_close(c);
	} else if (!pipe_start(c)) {
		conn_recv_backend(c);
	}
}

/* Send the client the next slice of the response (its head first), or read more of it. */
static void exchange_pump_down(struct conn *c)
{
	struct conn_dir *be = &c->cd[BACKEND];
	uint32_t head = 0;
	bool done = false;
	long n = 0;

	if (c->pending & (1u << CONN_OP_CSEND))
		return;
	if (!conn_has(c, CF_RESP_HEAD)) {
		int r = parse_response_head(c);

		if (r < 0) {
			conn_reply(c, 502);
			return;
		}
		if (r == 0) {
			if (be->msg.eof)
				backend_closed(c);
			else
				conn_recv_backend(c);
			return;
		}
		head = (uint32_t)r;
	}
	/* Still no final head: an interim response, sent on alone. */
	if (conn_has(c, CF_RESP_HEAD))
		n = msg_take(&be->msg, be->buf + be->start + head, be->end - be->start - head,
			     &done);
	if (n < 0) {
		pr_warn("conn %lu: pool %s sent malformed chunked body", c->id,
			c->w->cfg->pools[c->pool].name);
		conn_reply(c, 502);
		return;
	}
	n += head;
	if (!n) {
		response_idle(c, done);
		return;
	}
	c->flags |= CF_RESP_STARTED;
	be->msg.done_pending = done;
	if (done)
		hold_end(c, be->fwd + (uint64_t)n);
	if (c->shadow)
		shadow_response(c, be->buf + be->start, (uint32_t)n);
	conn_pass_on(c, BACKEND, (uint32_t)n);
}

static void exchange_on_brecv(struct conn *c, int res)
{
	if (c->state != ST_XFER)
		return;
	if (conn_has(c, CF_PIPED)) {
		pipe_on_in(c, res);
		return;
	}
	if (res == -EAGAIN) { /* see exchange_on_crecv */
		c->w->spurious++;
		conn_recv_backend(c);
		return;
	}
	if (res <= 0) {
		if (res < 0 && res != -ECONNRESET)
			pr_info("conn %lu: backend recv: %s", c->id, strerror(-res));
		c->cd[BACKEND].msg.eof = true;
		if (!conn_has(c, CF_RESP_HEAD) && !conn_unread(c, BACKEND)) {
			backend_closed(c);
			return;
		}
		if (c->cd[BACKEND].msg.body != HTTP_BODY_CLOSE) {
			if (!conn_has(c, CF_RESP_STARTED)) {
				conn_reply(c, 502);
				return;
			}
			if (!(c->pending & (1u << CONN_OP_CSEND)))
				conn_close(c);
			return;
		}
		c->cd[BACKEND].msg.keep = false;
		exchange_pump_down(c);
		return;
	}
	c->cd[BACKEND].end += (uint32_t)res;
	c->deadline_ns = now_ns() + ms_ns(c->w->cfg->server_timeout_ms);
	exchange_pump_down(c);
}

/* strgd's own answer that ends the request alone is sent: the next request may come. */
static void reply_done_keep(struct conn *c)
{
	c->active_ns = now_ns();
	c->last_out = c->cd[BACKEND].fwd;
	exchange_reset(c);
	c->state = ST_HEAD;
	c->w->xout = XO_DONE_KEEP;
}

static void exchange_on_csend(struct conn *c, int res)
{
	if (c->state == ST_REPLY) {
		if (res <= 0) {
			conn_close(c);
			return;
		}
		c->reply.sent += (uint32_t)res;
		if (c->reply.sent < c->reply.len)
			conn_send_client(c, c->reply.data + c->reply.sent,
					 c->reply.len - c->reply.sent);
		else if (conn_has(c, CF_REPLY_KEEP))
			reply_done_keep(c);
		else
			conn_linger(c);
		return;
	}
	if (c->state != ST_XFER)
		return;
	if (conn_has(c, CF_PIPED)) {
		pipe_on_out(c, res);
		return;
	}
	if (res <= 0) {
		conn_close(c);
		return;
	}
	c->cd[BACKEND].fwd += (uint64_t)res;
	/* The client is taking the response: its pace is the client timeout's business. */
	c->deadline_ns = now_ns() + ms_ns(c->w->cfg->client_timeout_ms);
	if (!conn_passed_on(c, BACKEND, (uint32_t)res))
		return;
	if (c->cd[BACKEND].msg.done_pending) {
		c->cd[BACKEND].msg.done = true;
		exchange_finish(c);
		return;
	}
	exchange_pump_down(c);
}

enum xout exchange_on_cqe(struct conn *c, unsigned op, int res)
{
	struct worker *w = c->w; /* c may be freed below (conn_close with nothing pending) */
	enum xout out;

	w->xout = XO_BUSY;
	switch (op) {
	case CONN_OP_CRECV:
		exchange_on_crecv(c, res);
		break;
	case CONN_OP_CSEND:
		exchange_on_csend(c, res);
		break;
	case CONN_OP_BRECV:
		exchange_on_brecv(c, res);
		break;
	case CONN_OP_BSEND:
		exchange_on_bsend(c, res);
		break;
	case CONN_OP_CONNECT:
		if (c->state == ST_CONNECT)
			exchange_on_connect(c, res);
		break;
	default:
		break;
	}
	out = (enum xout)w->xout;
	w->xout = XO_BUSY;
	return out;
}

/* Finish a response the kernel passed up on the backend socket of pool. */
void exchange_adopt(struct conn *c, unsigned pool, const struct strg_conn *k)
{
	if (conn_buffers(c) < 0) {
		conn_close(c);
		return;
	}
	exchange_reset(c);
	c->pool = (int)pool;
	c->cd[BACKEND].fd = c->up[pool].fd;
	c->flags |= CF_REUSED | CF_ADOPTED;
	c->method = (enum http_method)k->method;
	/* The kernel counted the request; strgd counts what it sees of the response. */
	c->route_slot = k->slot;
	c->route_id = k->route_id;
	conn_reqinfo_kernel(c, k);
	c->t_req = k->req_ns ? k->req_ns : now_ns();
	c->t_req_end = k->req_end_ns;
	c->cd[CLIENT].msg.keep = true;
	c->cd[CLIENT].msg.body = HTTP_BODY_NONE;
	c->cd[CLIENT].msg.done = true;
	if (k->resp_owed) {
		/* Passed up mid-body: send on what the response is still owed, nothing more. */
		c->flags |= CF_RESP_HEAD | CF_RESP_STARTED | CF_KHEAD;
		c->cd[BACKEND].msg.body = HTTP_BODY_LENGTH;
		c->cd[BACKEND].msg.left = k->resp_owed;
		c->cd[BACKEND].msg.keep = true; /* the kernel carries keep-alive responses only */
		c->status = 0;			/* the kernel counted its head */
	}
	c->state = ST_XFER;
	c->deadline_ns = now_ns() + ms_ns(c->w->cfg->server_timeout_ms);
	conn_recv_backend(c);
}

/* What ended a request the kernel forwarded, in words (exchange_kernel_failed). */
static void kernel_failure_text(const struct strg_conn *k, unsigned status, char *buf, size_t len)
{
	const unsigned long long got = k->req_body - k->req_left, all = k->req_body;

	switch (status) {
	case 504:
		snprintf(buf, len, "response timed out");
		break;
	case 408:
		snprintf(buf, len, "request body timed out after %llu of %llu bytes", got, all);
		break;
	case 0:
		snprintf(buf, len, "client closed inside the request body (%llu of %llu bytes)",
			 got, all);
		break;
	default:
		snprintf(buf, len, "closed without answering");
		break;
	}
}

/*
 * A request the kernel forwarded ends without its response: the backend stayed silent past
 * timeout server (504) or closed without answering (502), or the client stopped sending its
 * body (408) or left inside it (0: nothing to answer). That backend connection is closed (it
 * holds half a request, or a late answer would go nowhere) and the client gets strgd's answer,
 * counted under the kernel's route and pool like user space counts it, then the connection
 * ends. The backend's failures count for its passive health.
 */
void exchange_kernel_failed(struct conn *c, const struct strg_conn *k, unsigned status)
{
	int pool = k->pool < (unsigned)c->w->cfg->npools ? (int)k->pool : 0;
	const struct pool *p = &c->w->cfg->pools[pool];
	unsigned idx = c->up[pool].bidx;
	char why[96];

	kernel_failure_text(k, status, why, sizeof(why));
	pr_info("conn %lu: backend %s of pool %s: %s (kernel-carried request)", c->id,
		idx < p->nbackends ? p->backends[idx].name : "?", p->name, why);
	exchange_reset(c);
	c->pool = pool;
	if (status == 504)
		pool_response_timeout(&c->w->prt[pool], idx);
	if ((status == 502 || status == 504) && p->health.eject_5xx && c->up[pool].fd >= 0)
		request_failed(c, idx, status == 504 ? "response timed out" : why);
	conn_drop_backend(c, pool);
	c->method = (enum http_method)k->method;
	c->route_slot = k->slot;
	c->route_id = k->route_id;
	conn_reqinfo_kernel(c, k);
	c->t_req = k->req_ns;
	c->t_req_end = k->req_end_ns;
	c->flags |= CF_ADOPTED; /* the kernel counted the request */
	if (!status || conn_buffers(c) < 0) {
		conn_close(c); /* counted with no status, as user space counts a client that left */
		return;
	}
	conn_reply(c, status);
}

void exchange_expire(struct conn *c)
{
	switch (c->state) {
	case ST_CONNECT:
		/* exchange_on_connect sees -ECANCELED: a timeout, the next backend is tried */
		conn_cancel_op(c, CONN_OP_CONNECT);
		c->deadline_ns = 0;
		return;
	case ST_XFER:
		if (conn_has(c, CF_RESP_STARTED)) {
			pr_info("conn %lu: pool %s: timed out inside the response", c->id,
				c->w->cfg->pools[c->pool].name);
			conn_close(c);
			return;
		}
		pr_info("conn %lu: pool %s: %s timed out", c->id, c->w->cfg->pools[c->pool].name,
			c->cd[CLIENT].msg.done ? "response" : "request body");
		if (c->cd[CLIENT].msg.done) {
			pool_response_timeout(&c->w->prt[c->pool], c->up[c->pool].bidx);
			if (c->w->cfg->pools[c->pool].health.eject_5xx)
				request_failed(c, c->up[c->pool].bidx, "response timed out");
		}
		conn_reply(c, c->cd[CLIENT].msg.done ? 504 : 408);
		return;
	default:
		conn_close(c);
		return;
	}
}
