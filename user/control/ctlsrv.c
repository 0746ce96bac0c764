// SPDX-License-Identifier: GPL-2.0-only
/* The control socket's protocol on the small-server base (reqsrv.c): one command line, one reply.
 */
#include <errno.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

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
	int gid = env->chg.live->control_change_gid;

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
	return reqsrv_open(ring, &ctl_proto, env, fd, env->chg.live->control);
}

/* Whether something answers on the socket at path (a live strgd, not a stale file), and who. */
static bool socket_live(const struct sockaddr_un *sun, pid_t *holder)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct ucred peer = {0};
	socklen_t len = sizeof(peer);
	bool live;

	if (fd < 0)
		return false;
	live = connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) == 0;
	if (live && getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &len) == 0)
		*holder = peer.pid;
	close(fd);
	return live;
}

int ctl_listen(const char *path, int gid, pid_t *holder)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	char dir[sizeof(sun.sun_path)];
	char *slash;
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	strcpy(sun.sun_path, path);
	/* The directory keeps others from even reaching the socket: 0750. */
	strcpy(dir, path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0750) < 0 && errno != EEXIST)
			return -errno;
		if (gid >= 0 && chown(dir, 0, (gid_t)gid) < 0)
			return -errno;
	}
	/* Another strgd's socket is not ours to take over; one left by a crash is. */
	*holder = 0;
	if (socket_live(&sun, holder))
		return -EADDRINUSE;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    chmod(path, gid >= 0 ? 0660 : 0600) < 0 ||
	    (gid >= 0 && chown(path, 0, (gid_t)gid) < 0) || listen(fd, 64) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}
