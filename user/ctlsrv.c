// SPDX-License-Identifier: GPL-2.0-only
/* The control socket's protocol on the small-server base (reqsrv.c): one command line, one reply.
 */
#include <string.h>

#include "ctlsrv.h"

static enum reqsrv_step ctl_request(void *ctx, struct reqsrv_req *req, struct ctl_reply *out)
{
	struct ctl_env *env = ctx;
	char *nl = memchr(req->buf, '\n', req->len);

	/* A newline ends the command; so does the end of the peer's writing. */
	if (!nl && !req->eof)
		return REQ_MORE; /* an over-long line is read to its end, so the peer sees why */
	if (req->overflowed) {
		ctl_reply_error(out, "command line too long (max 4095 bytes): not executed");
		return REQ_REPLY;
	}
	if (!nl)
		nl = req->buf + req->len;
	if (memchr(req->buf, '\0', (size_t)(nl - req->buf))) {
		ctl_reply_error(out, "NUL byte in the command line: not executed");
		return REQ_REPLY;
	}
	*nl = '\0';
	ctl_execute(env, &req->peer, req->buf, out);
	/*
	 * A change is answered once every worker runs with it and its save is known; a restart once
	 * the new strgd serves or failed, which may take up to its own bound.
	 */
	req->hold_ns = out->wait == CTL_WAIT_RESTART ? CTL_RESTART_WAIT_NS + 5000000000ull : 0;
	return ctl_reply_ready(env, out) ? REQ_REPLY : REQ_HOLD;
}

static bool ctl_released(void *ctx, struct ctl_reply *out)
{
	return ctl_reply_ready(ctx, out);
}

static const struct reqsrv_proto ctl_proto = {
	.name = "ctl",
	.what = "command",
	.max = CTL_LINE_MAX,
	.op_base = RING_OP_CTL_ACCEPT,
	.busy = "error: too many control connections, try again\n",
	.request = ctl_request,
	.released = ctl_released,
};

struct reqsrv *ctlsrv_open(struct io_uring *ring, struct ctl_env *env, int fd)
{
	return reqsrv_open(ring, &ctl_proto, env, fd, env->cfg->control);
}
