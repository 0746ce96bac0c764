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

#include "conn.h"
#include "log.h"
#include "proxy.h"
#include "proxyproto.h"
#include "splice.h"

static void build_head(struct conn *c, const struct http_request *req, size_t head_len,
		       const struct route_spec *spec);
static void exchange_connect(struct conn *c);
static void head_for_new_connection(struct conn *c, const struct pool *p);
static void exchange_pump_up(struct conn *c);
static void exchange_finish(struct conn *c);
static bool retry_request(struct conn *c);
static int parse_response_head(struct conn *c);
static void exchange_pump_down(struct conn *c);

/* ---- request side ---- */

void exchange_reset(struct conn *c)
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
	c->close_sent = false;
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
/*
 * The request line with the route's prefix of the path replaced by spec->rewrite ("" strips
 * it; an empty result becomes "/"), written at out. Returns its length. The rest of the target
 * (scheme and authority of an absolute form, the query) is kept as sent.
 */
static size_t adapted_line(const struct http_request *req, const struct route_spec *spec, char *out)
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

static void build_head(struct conn *c, const struct http_request *req, size_t head_len,
		       const struct route_spec *spec)
{
	char *head = c->hbuf + PROXYPROTO_V2_MAX;
	const char *src = c->cbuf + c->cstart;
	size_t n = head_len - 2;
	int added;

	if (spec->adapt) {
		size_t line = adapted_line(req, spec, head);

		memcpy(head + line, src + req->line_len, n - req->line_len);
		n = line + n - req->line_len;
	} else {
		memcpy(head, src, n);
	}
	added = snprintf(head + n, ADDED_HEADERS_MAX,
			 "X-Forwarded-For: %s\r\nX-Forwarded-Proto: http\r\nVia: 1.%u strg\r\n\r\n",
			 c->peer, req->version_minor);
	c->head_len = (uint32_t)(n + (size_t)added);
	c->hoff = PROXYPROTO_V2_MAX;
	c->hlen = c->head_len;
	c->hsent = 0;
}

static bool name_is(const char *s, size_t len, const char *name)
{
	return strlen(name) == len && !strncasecmp(s, name, len);
}

/* The value of cookie name in a Cookie field value ("a=1; b=2"), or NULL. */
static const char *cookie_value(const char *v, size_t len, const char *name, size_t *out)
{
	size_t i = 0, nlen = strlen(name);

	while (i < len) {
		size_t start, eq, end;

		while (i < len && (v[i] == ' ' || v[i] == ';'))
			i++;
		start = i;
		while (i < len && v[i] != ';')
			i++;
		end = i;
		for (eq = start; eq < end && v[eq] != '='; eq++)
			;
		if (eq < end && eq - start == nlen && !memcmp(v + start, name, nlen)) {
			*out = end - eq - 1;
			return v + eq + 1;
		}
	}
	return NULL;
}

/*
 * The user's bucket (0-999) for "percent" routes: a hash of the configured cookie or header, or
 * of the client address, so one user keeps landing on the same side of a split.
 */
static unsigned user_bucket(const struct conn *c, const struct http_request *req, const char *buf)
{
	const struct config *cfg = c->px->cfg;
	const char *key = c->peer;
	size_t len = strlen(c->peer);
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
		    (v = cookie_value(v, f->value_len, cfg->sticky_name, &vlen))) {
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

void exchange_request(struct conn *c)
{
	struct proxy *px = c->px;
	struct http_request *req = &px->req;
	const struct route *rt;
	int n, tester;

	n = http_parse_request(c->cbuf + c->cstart, c->cend - c->cstart, &px->cfg->limits, req);
	if (n == 0) {
		c->deadline_ns = now_ns() + ms_ns(px->cfg->client_timeout_ms);
		conn_recv_client(c);
		return;
	}
	if (n < 0) {
		pr_info("conn %lu: %s: rejected request with %d", c->id, c->peer, -n);
		c->method = HTTP_M_UNKNOWN;
		conn_reply(c, (unsigned)-n);
		return;
	}
	tester = route_table_has_testers(px->cfg->routes)
			 ? tester_pool(px->cfg, req, c->cbuf + c->cstart)
			 : -1;
	rt = route_table_lookup_user(
		px->cfg->routes, req->method, req->host, req->host_len, req->path, req->path_len,
		user_bucket(c, req, c->cbuf + c->cstart) | (tester >= 0 ? ROUTE_TESTER : 0));
	if (!rt) {
		c->method = req->method;
		conn_reply(c, 404);
		return;
	}
	c->method = req->method;
	c->route_id = rt->id;
	c->route_slot = rt->slot;
	c->t_req = now_ns();
	c->pool = rt->spec.testers && tester >= 0 ? tester : rt->spec.pool;
	c->req_keep_alive = req->keep_alive;
	c->req_upgrade = req->upgrade;
	c->req_body = req->body;
	c->req_left = req->content_length;
	http_chunked_init(&c->req_ch);
	c->req_done = req->body == HTTP_BODY_NONE;
	if (log_level >= LOG_DEBUG)
		snprintf(c->reqline, sizeof(c->reqline), "%.*s %.*s", (int)req->method_len,
			 req->method_str, (int)req->target_len, req->target);
	build_head(c, req, (size_t)n, &rt->spec);
	c->cstart += (uint32_t)n;
	if (c->up[c->pool].fd >= 0 && !conn_backend_reusable(c, c->pool))
		handoff_drop_backend(c, c->pool);
	if (c->up[c->pool].fd >= 0) {
		c->bfd = c->up[c->pool].fd;
		c->reused = true;
		c->state = ST_XFER;
		c->deadline_ns = now_ns() + ms_ns(px->cfg->server_timeout_ms);
		conn_send_backend(c, c->hbuf + c->hoff, c->hlen);
		conn_recv_backend(c);
		return;
	}
	exchange_connect(c);
}

static void exchange_connect(struct conn *c)
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
	c->up[c->pool].unsolicited = false;
	c->up[c->pool].bidx = idx;
	c->bfd = fd;
	c->reused = false;
	c->state = ST_CONNECT;
	c->deadline_ns = now_ns() + ms_ns(px->cfg->connect_timeout_ms);
	sqe = ring_get_sqe(&px->ring);
	io_uring_prep_connect(sqe, fd, (struct sockaddr *)&p->backends[idx].addr,
			      p->backends[idx].addrlen);
	conn_submit(c, sqe, RING_OP_CONNECT);
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

void exchange_on_connect(struct conn *c, int res)
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
		exchange_connect(c);
		return;
	}
	pool_mark_up(p, (unsigned)idx);
	handoff_connected(c);
	head_for_new_connection(c, p);
	c->state = ST_XFER;
	c->deadline_ns = now_ns() + ms_ns(c->px->cfg->server_timeout_ms);
	conn_send_backend(c, c->hbuf + c->hoff, c->hlen);
	conn_recv_backend(c);
}

/* Hand the next slice of request body to the backend, or read more of it from the client. */
static void exchange_pump_up(struct conn *c)
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
		conn_recv_client(c);
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
	conn_send_backend(c, c->cbuf + c->cstart, (uint32_t)n);
}

static void exchange_finish(struct conn *c)
{
	struct proxy *px = c->px;
	bool keep;

	if (!c->req_done || !c->resp_done || c->tunnel)
		return;
	/*
	 * A backend that sent more than its response or wants to close is not reused. No backend
	 * operation is in flight here: both directions of the exchange have completed.
	 */
	if (c->bstart != c->bend)
		conn_unsolicited(c, c->pool, "after its response");
	if (c->up[c->pool].unsolicited && c->bstart == c->bend)
		conn_unsolicited(c, c->pool, "seen by the kernel");
	if (!c->resp_keep || c->bstart != c->bend || c->up[c->pool].unsolicited)
		handoff_drop_backend(c, c->pool);
	conn_count(c, c->status);
	/* Stopping: a response that did not say close leaves room for one more request. */
	keep = c->req_keep_alive && c->resp_keep;
	c->active_ns = now_ns();
	exchange_reset(c);
	if (!keep) {
		handoff_uncork(c);
		conn_linger(c);
		return;
	}
	c->state = ST_HEAD;
	c->deadline_ns = now_ns() + ms_ns(px->cfg->idle_timeout_ms);
	if (c->cstart < c->cend) {
		handoff_uncork(c);
		exchange_request(c);
		return;
	}
	if (handoff_now(c)) {
		handoff_hand_back(c); /* uncorks once the kernel has the connection */
		return;
	}
	/* "auto": the kernel takes the connection once it has been idle a while. */
	if (px->cfg->splice == SPLICE_AUTO)
		c->splice_at = now_ns() + SPLICE_IDLE_NS;
	handoff_uncork(c);
	conn_recv_client(c);
}

/* The reused backend connection died before answering: connect afresh and send the head again. */
static bool retry_request(struct conn *c)
{
	if (!c->reused || c->adopted || c->resp_head || c->bstart != c->bend ||
	    c->req_body != HTTP_BODY_NONE ||
	    (c->pending & ((1u << RING_OP_BSEND) | (1u << RING_OP_BRECV))))
		return false;
	pr_debug("conn %lu: reused backend connection closed, reconnecting", c->id);
	handoff_drop_backend(c, c->pool);
	c->bfd = -1;
	c->hsent = 0;
	exchange_connect(c);
	return true;
}

void exchange_on_crecv(struct conn *c, int res)
{
	if (res > 0)
		c->rx_total += (uint64_t)res;
	if (res == -ECANCELED && c->handing && c->state == ST_HEAD && c->cstart == c->cend) {
		c->handing = false;
		handoff_hand_back(c);
		return;
	}
	c->handing = false;
	/*
	 * A socket in the sockhash can answer a blocking recv with EAGAIN when it was woken for
	 * bytes the verdict redirected elsewhere: nothing arrived for us, wait again.
	 */
	if (res == -EAGAIN) {
		c->px->spurious++;
		conn_recv_client(c);
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
		c->client_eof = true;
		if (c->state == ST_HEAD) {
			/* EOF between requests is the normal end; inside a head it is an abort. */
			if (c->spliced) {
				/* The kernel may still be sending a response. */
				c->eof_wait = true;
				c->eof_deadline = now_ns() + ms_ns(c->px->cfg->client_timeout_ms);
				handoff_recheck(c);
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
		exchange_pump_up(c);
		return;
	}
	c->cend += (uint32_t)res;
	if (c->state == ST_HEAD) {
		handoff_input(c);
		return;
	}
	c->deadline_ns = now_ns() + ms_ns(c->px->cfg->client_timeout_ms);
	exchange_pump_up(c);
}

void exchange_on_bsend(struct conn *c, int res)
{
	if (c->state == ST_TAIL) {
		handoff_on_tail_sent(c, res);
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
			conn_send_backend(c, c->hbuf + c->hoff + c->hsent, c->hlen - c->hsent);
		else
			exchange_pump_up(c);
		return;
	}
	c->cstart += (uint32_t)res;
	c->up_left -= (uint32_t)res;
	if (c->up_left) {
		conn_send_backend(c, c->cbuf + c->cstart, c->up_left);
		return;
	}
	if (c->up_done_pending) {
		c->req_done = true;
		c->deadline_ns = now_ns() + ms_ns(c->px->cfg->server_timeout_ms);
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
	char *h = c->bbuf + c->bstart, *out;
	uint32_t kept = 0, len, rest = c->bend - c->bstart - head;
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
	if (c->bend + delta > BBUF_SIZE) {
		free(out);
		return false;
	}
	memmove(h + kept, h + head, rest);
	memcpy(h, out, kept);
	c->bend = (uint32_t)((int)c->bend + delta);
	*new_head = (int)kept;
	free(out);
	return true;
}

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
	if (c->px->stopping && resp.status >= 200 && !(resp.status == 101 && c->req_upgrade) &&
	    resp.keep_alive && say_close(c, (uint32_t)n, &n)) {
		resp.keep_alive = false;
		c->close_sent = true;
	}
	if (resp.status == 101 && c->req_upgrade) {
		c->resp_head = true;
		c->tunnel = true;
		c->resp_body = HTTP_BODY_CLOSE;
		c->req_body = HTTP_BODY_CLOSE;
		c->req_done = false;
		c->resp_keep = false;
		exchange_pump_up(c);
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

static void exchange_pump_down(struct conn *c)
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
			conn_recv_backend(c);
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
		if (c->tunnel && c->backend_eof) {
			/* The backend's half-close goes on to the client; both ends shut: done. */
			if (c->client_eof && !(c->pending & (1u << RING_OP_BSEND)))
				conn_close(c);
			else
				shutdown(c->cfd, SHUT_WR);
		} else if (done) {
			c->resp_done = true;
			exchange_finish(c);
		} else if (c->backend_eof) {
			conn_close(c);
		} else {
			conn_recv_backend(c);
		}
		return;
	}
	c->resp_started = true;
	c->down_left = (uint32_t)n;
	c->down_done_pending = done;
	if (done)
		handoff_cork(c);
	conn_send_client(c, c->bbuf + c->bstart, (uint32_t)n);
}

void exchange_on_brecv(struct conn *c, int res)
{
	if (c->state != ST_XFER)
		return;
	if (res == -EAGAIN) { /* see exchange_on_crecv */
		c->px->spurious++;
		conn_recv_backend(c);
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
				handoff_drop_backend(c, pool);
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
		exchange_pump_down(c);
		return;
	}
	c->bend += (uint32_t)res;
	c->deadline_ns = now_ns() + ms_ns(c->px->cfg->server_timeout_ms);
	exchange_pump_down(c);
}

void exchange_on_csend(struct conn *c, int res)
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
			conn_send_client(c, c->reply + c->rsent, c->rlen - c->rsent);
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
		conn_send_client(c, c->bbuf + c->bstart, c->down_left);
		return;
	}
	if (c->down_done_pending) {
		c->resp_done = true;
		exchange_finish(c);
		return;
	}
	if (c->backend_eof && c->bstart == c->bend) {
		exchange_pump_down(c);
		return;
	}
	exchange_pump_down(c);
}
