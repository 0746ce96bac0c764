// SPDX-License-Identifier: GPL-2.0-only
/*
 * The metrics listener's protocol on the small-server base (reqsrv.c): a strictly parsed HTTP/1.1
 * request head (the proxy's own parser), GET or HEAD of /metrics, /stats.json or /, one response
 * with its length, then the connection is closed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http.h"
#include "log.h"
#include "metrics.h"
#include "metricsrv.h"
#include "worker.h"

/* The status page (statuspage.html, linked in by statuspage.S). */
extern const char strg_status_page[];

struct metricsrv {
	struct ctl_env *env;
	struct http_limits lim;
	struct http_request req; /* scratch for the parser */
};

static void respond(struct ctl_reply *out, unsigned status, const char *type, const char *extra,
		    const char *body, size_t len, bool head_only)
{
	ctl_replyf(out,
		   "HTTP/1.1 %u %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
		   "Cache-Control: no-store\r\n%sConnection: close\r\n\r\n",
		   status, http_reason(status), type, len, extra);
	if (!head_only && len)
		ctl_replyf(out, "%.*s", (int)len, body);
}

static void respond_text(struct ctl_reply *out, unsigned status, const char *extra, bool head_only)
{
	char body[64];
	int n = snprintf(body, sizeof(body), "%u %s\n", status, http_reason(status));

	respond(out, status, "text/plain; charset=utf-8", extra, body, (size_t)n, head_only);
}

static bool path_is(const struct http_request *req, const char *path)
{
	return req->path_len == strlen(path) && !memcmp(req->path, path, req->path_len);
}

/* /metrics or /stats.json: the same view, two formats. */
static void respond_view(struct metricsrv *ms, struct ctl_reply *out, bool prometheus,
			 bool head_only)
{
	struct ctl_reply body = {0};
	struct metrics_view v;
	char *json = NULL;

	if (metrics_collect(ms->env->metrics, ms->env, now_ns(), &v)) {
		respond_text(out, 503, "", head_only);
		return;
	}
	if (prometheus) {
		metrics_prometheus(&v, &body);
		respond(out, 200, "text/plain; version=0.0.4; charset=utf-8", "", body.buf,
			body.len, head_only);
	} else {
		json_t *doc = metrics_json(&v);

		json = doc ? json_dumps(doc, CTL_JSON_FLAGS) : NULL;
		json_decref(doc);
		if (json)
			respond(out, 200, "application/json", "", json, strlen(json), head_only);
		else
			respond_text(out, 503, "", head_only);
	}
	free(json);
	ctl_reply_free(&body);
	metrics_view_free(&v);
}

static enum reqsrv_step http_request(void *ctx, struct reqsrv_req *rq, struct ctl_reply *out)
{
	struct metricsrv *ms = ctx;
	struct http_request *req = &ms->req;
	bool head_only;
	int n;

	if (rq->overflowed) {
		respond_text(out, 431, "", false);
		return REQ_REPLY;
	}
	n = http_parse_request(rq->buf, rq->len, &ms->lim, req);
	if (n == 0)
		return REQ_MORE;
	if (n < 0) {
		respond_text(out, (unsigned)-n, "", false);
		return REQ_REPLY;
	}
	head_only = req->method == HTTP_M_HEAD;
	if (req->method != HTTP_M_GET && !head_only)
		respond_text(out, 405, "Allow: GET, HEAD\r\n", false);
	else if (path_is(req, "/metrics"))
		respond_view(ms, out, true, head_only);
	else if (path_is(req, "/stats.json"))
		respond_view(ms, out, false, head_only);
	else if (path_is(req, "/"))
		respond(out, 200, "text/html; charset=utf-8", "", strg_status_page,
			strlen(strg_status_page), head_only);
	else
		respond_text(out, 404, "", head_only);
	return REQ_REPLY;
}

static bool never_held(void *ctx, struct ctl_reply *out)
{
	(void)ctx;
	(void)out;
	return true;
}

static const struct reqsrv_proto http_proto = {
	.name = "metrics",
	.what = "request",
	.max = METRICSRV_HEAD_MAX,
	.op_base = RING_OP_HTTP_ACCEPT,
	.busy = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: "
		"close\r\n\r\n",
	.request = http_request,
	.released = never_held,
};

struct reqsrv *metricsrv_open(struct io_uring *ring, struct ctl_env *env, const struct config *cfg,
			      int fd)
{
	struct metricsrv *ms;
	struct reqsrv *srv;
	int one = 1, err;

	if (fd < 0) {
		fd = socket(cfg->metrics.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return NULL;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, (const struct sockaddr *)&cfg->metrics, cfg->metrics_len) < 0 ||
		    listen(fd, 64) < 0)
			goto fail;
	}
	ms = calloc(1, sizeof(*ms));
	if (!ms)
		goto fail;
	ms->env = env;
	http_limits_default(&ms->lim);
	srv = reqsrv_open(ring, &http_proto, ms, fd, NULL);
	if (!srv) {
		free(ms);
		goto fail;
	}
	return srv;
fail:
	err = errno;
	close(fd);
	errno = err;
	return NULL;
}

void metricsrv_close(struct reqsrv *srv)
{
	void *ms = reqsrv_ctx(srv);

	reqsrv_close(srv);
	free(ms);
}
