// SPDX-License-Identifier: GPL-2.0-only
/*
 * Small one-request servers on a worker's io_uring (see reqsrv.h): accept, read until the
 * protocol has a complete request, send its reply whole, close.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "reqsrv.h"

struct reqsrv_conn {
	struct reqsrv_conn *prev, *next;
	int fd;
	bool busy; /* an operation is in flight: freed at its completion */
	bool done; /* closing */
	bool held; /* its reply waits for the protocol's release */
	uint64_t deadline_ns;
	size_t sent;
	struct ctl_reply reply;
	struct reqsrv_req req;
	char buf[]; /* proto->max + 1 */
};

struct reqsrv {
	struct io_uring *ring;
	const struct reqsrv_proto *proto;
	void *ctx;
	int fd;
	char *unlink_path;
	struct reqsrv_conn *conns;
	unsigned nconns;
	bool paused; /* no accept armed: connections wait in the listen queue */
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void submit_accept(struct reqsrv *srv)
{
	struct io_uring_sqe *sqe = ring_get_sqe(srv->ring);

	io_uring_prep_multishot_accept(sqe, srv->fd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, ring_tag(srv, srv->proto->op_base));
}

static void submit(struct reqsrv *srv, struct reqsrv_conn *rc, bool recv)
{
	struct io_uring_sqe *sqe = ring_get_sqe(srv->ring);

	if (recv)
		io_uring_prep_recv(sqe, rc->fd, rc->buf + rc->req.len,
				   srv->proto->max - rc->req.len, 0);
	else
		io_uring_prep_send(sqe, rc->fd, rc->reply.buf + rc->sent, rc->reply.len - rc->sent,
				   MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, ring_tag(rc, srv->proto->op_base + (recv ? 1 : 2)));
	rc->busy = true;
	rc->deadline_ns = mono_ns() + REQSRV_TIMEOUT_NS;
}

static void conn_free(struct reqsrv *srv, struct reqsrv_conn *rc)
{
	if (rc->prev)
		rc->prev->next = rc->next;
	else
		srv->conns = rc->next;
	if (rc->next)
		rc->next->prev = rc->prev;
	srv->nconns--;
	close(rc->fd);
	ctl_reply_free(&rc->reply);
	free(rc);
}

/* Close now, or once the operation in flight completes (shutdown makes it complete). */
static void conn_end(struct reqsrv *srv, struct reqsrv_conn *rc)
{
	rc->done = true;
	if (rc->busy)
		shutdown(rc->fd, SHUT_RDWR);
	else
		conn_free(srv, rc);
}

static void reply_now(struct reqsrv *srv, struct reqsrv_conn *rc)
{
	rc->sent = 0;
	if (!rc->reply.len) {
		conn_end(srv, rc);
		return;
	}
	submit(srv, rc, false);
}

static void on_accept(struct reqsrv *srv, int res, unsigned flags)
{
	socklen_t len = sizeof(struct ucred);
	struct reqsrv_conn *rc;

	if (!(flags & IORING_CQE_F_MORE) && srv->fd >= 0 && res != -ECANCELED && !srv->paused)
		submit_accept(srv);
	if (res < 0)
		return;
	if (srv->nconns >= REQSRV_MAX_CONNS) {
		if (send(res, srv->proto->busy, strlen(srv->proto->busy),
			 MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
			pr_debug("%s: refused a connection: %s", srv->proto->name, strerror(errno));
		close(res);
		return;
	}
	rc = calloc(1, sizeof(*rc) + srv->proto->max + 1);
	if (!rc) {
		close(res);
		return;
	}
	rc->fd = res;
	rc->req.buf = rc->buf;
	/* Unix sockets say who is calling; for the others the protocol sees no credentials. */
	if (getsockopt(res, SOL_SOCKET, SO_PEERCRED, &rc->req.peer, &len) < 0) {
		rc->req.peer.pid = 0;
		rc->req.peer.uid = (uid_t)-1;
		rc->req.peer.gid = (gid_t)-1;
	}
	rc->next = srv->conns;
	if (srv->conns)
		srv->conns->prev = rc;
	srv->conns = rc;
	srv->nconns++;
	submit(srv, rc, true);
}

static void on_recv(struct reqsrv *srv, struct reqsrv_conn *rc, int res)
{
	rc->busy = false;
	if (rc->done || res < 0 || (res == 0 && !rc->req.len && !rc->req.overflowed)) {
		conn_end(srv, rc);
		return;
	}
	rc->req.len += (size_t)res;
	rc->req.eof = res == 0;
	switch (srv->proto->request(srv->ctx, &rc->req, &rc->reply)) {
	case REQ_MORE:
		if (rc->req.eof) {
			conn_end(srv, rc); /* it stopped writing with its request incomplete */
			return;
		}
		/* Full: what came so far is dropped; the protocol knows from overflowed. */
		if (rc->req.len == srv->proto->max) {
			rc->req.overflowed = true;
			rc->req.len = 0;
		}
		submit(srv, rc, true);
		return;
	case REQ_HOLD:
		rc->held = true;
		rc->deadline_ns =
			mono_ns() + (rc->req.hold_ns ? rc->req.hold_ns : REQSRV_TIMEOUT_NS);
		return;
	case REQ_REPLY:
		reply_now(srv, rc);
		return;
	}
}

static void on_send(struct reqsrv *srv, struct reqsrv_conn *rc, int res)
{
	rc->busy = false;
	if (rc->done || res <= 0) {
		conn_end(srv, rc);
		return;
	}
	rc->sent += (size_t)res;
	if (rc->sent < rc->reply.len)
		submit(srv, rc, false);
	else
		conn_end(srv, rc);
}

void reqsrv_on_cqe(struct reqsrv *srv, enum ring_op op, void *obj, int res, unsigned flags)
{
	if (op == srv->proto->op_base)
		on_accept(srv, res, flags);
	else if (op == srv->proto->op_base + 1)
		on_recv(srv, obj, res);
	else if (op == srv->proto->op_base + 2)
		on_send(srv, obj, res);
}

void reqsrv_release(struct reqsrv *srv)
{
	if (!srv)
		return;
	for (struct reqsrv_conn *rc = srv->conns; rc; rc = rc->next) {
		if (rc->held && !rc->done && srv->proto->released(srv->ctx, &rc->reply)) {
			rc->held = false;
			reply_now(srv, rc);
		}
	}
}

void reqsrv_tick(struct reqsrv *srv, uint64_t now_ns)
{
	struct reqsrv_conn *rc, *next;

	if (!srv)
		return;
	for (rc = srv->conns; rc; rc = next) {
		next = rc->next;
		if (rc->done || now_ns < rc->deadline_ns)
			continue;
		if (rc->req.peer.pid)
			pr_info("%s: uid %u pid %d: no complete %s or reply within %llu s, closed",
				srv->proto->name, rc->req.peer.uid, rc->req.peer.pid,
				srv->proto->what, REQSRV_TIMEOUT_NS / 1000000000ull);
		else
			pr_debug("%s: no complete %s or reply within %llu s, closed",
				 srv->proto->name, srv->proto->what,
				 REQSRV_TIMEOUT_NS / 1000000000ull);
		conn_end(srv, rc);
	}
}

struct reqsrv *reqsrv_open(struct io_uring *ring, const struct reqsrv_proto *proto, void *ctx,
			   int fd, const char *unlink_path)
{
	struct reqsrv *srv = calloc(1, sizeof(*srv));

	if (!srv)
		return NULL;
	if (unlink_path && !(srv->unlink_path = strdup(unlink_path))) {
		free(srv);
		return NULL;
	}
	srv->ring = ring;
	srv->proto = proto;
	srv->ctx = ctx;
	srv->fd = fd;
	submit_accept(srv);
	return srv;
}

void *reqsrv_ctx(const struct reqsrv *srv)
{
	return srv ? srv->ctx : NULL;
}

int reqsrv_fd(const struct reqsrv *srv)
{
	return srv ? srv->fd : -1;
}

void reqsrv_pause(struct reqsrv *srv, bool pause)
{
	struct io_uring_sqe *sqe;

	if (!srv || srv->fd < 0 || srv->paused == pause)
		return;
	srv->paused = pause;
	if (!pause) {
		submit_accept(srv);
		return;
	}
	sqe = ring_get_sqe(srv->ring);
	io_uring_prep_cancel64(sqe, ring_tag(srv, srv->proto->op_base), 0);
	io_uring_sqe_set_data64(sqe, ring_tag(NULL, RING_OP_NONE));
	io_uring_submit(srv->ring); /* at once: no connection is taken from here on */
}

unsigned reqsrv_conns(const struct reqsrv *srv)
{
	return srv ? srv->nconns : 0;
}

void reqsrv_stop(struct reqsrv *srv)
{
	struct io_uring_sqe *sqe;

	if (!srv || srv->fd < 0)
		return;
	sqe = ring_get_sqe(srv->ring);
	io_uring_prep_cancel64(sqe, ring_tag(srv, srv->proto->op_base), 0);
	io_uring_sqe_set_data64(sqe, ring_tag(NULL, RING_OP_NONE));
	close(srv->fd);
	srv->fd = -1;
}

void reqsrv_close(struct reqsrv *srv)
{
	if (!srv)
		return;
	while (srv->conns)
		conn_free(srv, srv->conns);
	if (srv->fd >= 0) {
		close(srv->fd);
		if (srv->unlink_path)
			unlink(srv->unlink_path);
	}
	free(srv->unlink_path);
	free(srv);
}
