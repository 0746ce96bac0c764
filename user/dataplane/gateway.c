// SPDX-License-Identifier: GPL-2.0-only
/*
 * Gateway options in user space (gateway.h): access lists against the client's address, rate
 * limits through the limiter, header rules on the heads going both ways.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "dataplane/conn.h"
#include "dataplane/gateway.h"
#include "dataplane/limiter.h"
#include "lib/clock.h"
#include "observe/accesslog.h"

static bool name_is(const char *s, size_t len, const char *name)
{
	return strlen(name) == len && !strncasecmp(s, name, len);
}

/* The value a per-key limit counts under: the cookie's or field's, else the client's address. */
static const char *limit_key(const struct conn *c, const struct routegw_limit *l,
			     const struct http_request *req, const char *buf, size_t *len,
			     char peer[INET6_ADDRSTRLEN])
{
	for (unsigned i = 0; l->per >= ROUTEGW_PER_COOKIE && i < req->nfields; i++) {
		const struct http_field *f = &req->fields[i];
		const char *name = l->per == ROUTEGW_PER_COOKIE ? "cookie" : l->key, *v;

		if (!name_is(buf + f->name_off, f->name_len, name))
			continue;
		if (l->per == ROUTEGW_PER_HEADER) {
			*len = f->value_len;
			return buf + f->value_off;
		}
		v = http_cookie(buf + f->value_off, f->value_len, l->key, len);
		if (v)
			return v;
	}
	conn_peer(c, peer);
	*len = strlen(peer);
	return peer;
}

struct gateway_verdict gateway_admit(struct conn *c, const struct route *rt,
				     const struct http_request *req, const char *buf)
{
	const struct routegw *gw = rt->spec.gw;
	struct gateway_verdict v = {0};
	char peer[INET6_ADDRSTRLEN];
	const char *key;
	size_t len = 0;

	if (!routegw_admits(gw, &c->peer_addr.sa)) {
		v.status = 403;
		return v;
	}
	if (!gw->limit.count)
		return v;
	key = limit_key(c, &gw->limit, req, buf, &len, peer);
	v.retry_s = limiter_take(c->w->limiter, rt, key, len, now_ns());
	v.status = v.retry_s ? 429 : 0;
	return v;
}

size_t gateway_request_fields(const struct route *rt, const struct http_request *req,
			      const char *src, size_t len, char *out)
{
	const char *base = src - req->line_len; /* the head's start: field offsets count from it */
	size_t n = 0;

	if (!routegw_has_rules(rt->spec.gw, ROUTEGW_REQ_KINDS)) {
		memcpy(out, src, len);
		return len;
	}
	for (unsigned i = 0; i < req->nfields; i++) {
		const struct http_field *f = &req->fields[i];

		if (routegw_rule_names(rt->spec.gw, ROUTEGW_REQ_KINDS, base + f->name_off,
				       f->name_len))
			continue;
		memcpy(out + n, base + f->line_off, f->line_len);
		n += f->line_len;
	}
	return n;
}

/* The request's id: the access log's, else the client's X-Request-Id, else a new one. */
static const char *request_id(const struct conn *c, const struct http_request *req, const char *buf,
			      char id[ALOG_ID_MAX])
{
	if (c->ri && c->ri->id[0])
		return c->ri->id;
	for (unsigned i = 0; req && i < req->nfields; i++) {
		const struct http_field *f = &req->fields[i];

		if (name_is(buf + f->name_off, f->name_len, "x-request-id") && f->value_len &&
		    f->value_len < ALOG_ID_MAX) {
			memcpy(id, buf + f->value_off, f->value_len);
			id[f->value_len] = '\0';
			return id;
		}
	}
	alog_new_id(id);
	return id;
}

/* The set rules of kinds, each "NAME: VALUE\r\n" with its variables replaced, at out. */
static size_t set_lines(struct conn *c, const struct route *rt, unsigned kind,
			const struct http_request *req, const char *buf, char *out)
{
	char peer[INET6_ADDRSTRLEN], id[ALOG_ID_MAX], route[ROUTE_TEXT_MAX];
	struct routegw_vars v = {.client = conn_peer(c, peer)};
	const struct routegw *gw = rt->spec.gw;
	size_t n = 0;

	route_key_text(&rt->spec, route, sizeof(route));
	v.route = route;
	v.pool = c->pool >= 0 ? c->w->cfg->pools[c->pool].name : "";
	v.request_id = request_id(c, req, buf, id);
	for (unsigned i = 0; i < gw->nrule; i++) {
		if (gw->rule[i].kind != kind)
			continue;
		n += (size_t)sprintf(out + n, "%s: ", gw->rule[i].name);
		n += routegw_expand(gw->rule[i].value, &v, out + n, ROUTEGW_EXPANDED_MAX);
		memcpy(out + n, "\r\n", 2);
		n += 2;
	}
	return n;
}

size_t gateway_request_added(struct conn *c, const struct route *rt, const struct http_request *req,
			     const char *buf, char *out)
{
	return set_lines(c, rt, ROUTEGW_SET_REQ, req, buf, out);
}

int gateway_response_head(struct conn *c, uint32_t route_id, const char *head, uint32_t len,
			  char *out, size_t cap)
{
	const struct route *rt = route_id ? route_table_get(c->w->cfg->routes, route_id) : NULL;
	char added[ROUTEGW_HEAD_ROOM];
	size_t n = 0, k, line;

	if (!rt || !routegw_has_rules(rt->spec.gw, ROUTEGW_RESP_KINDS))
		return -1;
	k = set_lines(c, rt, ROUTEGW_SET_RESP, NULL, NULL, added);
	for (uint32_t i = 0; i + 2 < len; i += (uint32_t)line) {
		const char *eol = memchr(head + i, '\n', len - i), *colon;

		line = (size_t)(eol - (head + i)) + 1;
		colon = i ? memchr(head + i, ':', line) : NULL;
		/* The status line (i == 0) always stays. */
		if (colon && routegw_rule_names(rt->spec.gw, ROUTEGW_RESP_KINDS, head + i,
						(size_t)(colon - (head + i))))
			continue;
		if (n + line > cap)
			return -1;
		memcpy(out + n, head + i, line);
		n += line;
	}
	if (n + k + 2 > cap)
		return -1;
	memcpy(out + n, added, k);
	memcpy(out + n + k, "\r\n", 2);
	return (int)(n + k + 2);
}
