// SPDX-License-Identifier: GPL-2.0-only
/* The control socket's protocol on the small-server base (reqsrv.c): one command line, one reply.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "control/ctlsrv.h"

_Static_assert(RING_OPS_CTL + REQSRV_OPS <= RING_OPS_METRICS,
	       "the control socket's range overflows");

/* Supplementary groups read of a peer (SO_PEERGROUPS); a member of more is looked up whole. */
#define CTLSRV_PEER_GROUPS 64

/* The connection's reply is a struct ctl_reply (ctl_proto.reply_size), its text first. */
static struct ctl_reply *ctl_reply_of(struct reply *text)
{
	return (struct ctl_reply *)((char *)text - offsetof(struct ctl_reply, text));
}

static enum reqsrv_step ctl_request(void *ctx, struct reqsrv_req *req, struct reply *text)
{
	struct ctl_reply *out = ctl_reply_of(text);
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

static bool ctl_released(void *ctx, struct reqsrv_req *req, struct reply *text)
{
	(void)req;
	return ctl_reply_ready(ctx, ctl_reply_of(text));
}

/* Whether gid is among the peer's groups as they were when it connected (SO_PEERGROUPS). */
static bool peer_in_group(int fd, gid_t gid)
{
	gid_t small[CTLSRV_PEER_GROUPS], *groups = small;
	socklen_t len = sizeof(small);
	bool in = false;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0) {
		if (errno != ERANGE || !(groups = malloc(len)) ||
		    getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0)
			len = 0;
	}
	for (size_t i = 0; i < len / sizeof(gid_t) && !in; i++)
		in = groups[i] == gid;
	if (groups != small)
		free(groups);
	return in;
}

/*
 * A peer that may change strgd (root, or a member of the change group) outranks readers for a
 * slot: a reader holding every connection cannot lock out a change, a rollback included.
 */
static bool ctl_privileged(void *ctx, int fd, const struct ucred *peer)
{
	const struct ctl_env *env = ctx;
	int gid = env->cfg->control_change_gid;

	if (peer->uid == 0)
		return true;
	return gid >= 0 && (peer->gid == (gid_t)gid || peer_in_group(fd, (gid_t)gid));
}

static const struct reqsrv_proto ctl_proto = {
	.name = "ctl",
	.what = "command",
	.max = CTL_LINE_MAX,
	.op_base = RING_OPS_CTL,
	.busy = "error: too many control connections, try again\n",
	.reply_size = sizeof(struct ctl_reply),
	.request = ctl_request,
	.released = ctl_released,
	.privileged = ctl_privileged,
};

struct reqsrv *ctlsrv_open(struct io_uring *ring, struct ctl_env *env, int fd)
{
	return reqsrv_open(ring, &ctl_proto, env, fd, env->cfg->control);
}
