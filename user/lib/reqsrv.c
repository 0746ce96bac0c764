// SPDX-License-Identifier: GPL-2.0-only
/*
 * Small one-request servers on an io_uring (see reqsrv.h): accept, read until the protocol has
 * a complete request, send its reply whole, close.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/log.h"
#include "lib/reqsrv.h"

struct reqsrv_conn {
	struct reqsrv_conn *prev, *next;
	int fd;
	bool busy;	 /* an operation is in flight: freed at its completion */
	bool done;	 /* closing */
	bool held;	 /* its reply waits for the protocol's release */
	bool replying;	 /* its request is complete (its reply is held or on its way) */
	bool privileged; /* the protocol ranks its peer above the others for a slot */
	uint64_t accepted_ns;
	uint64_t deadline_ns; /* set per phase (request, reply), never moved by the peer's bytes */
	size_t sent;	      /* of the reply's text, then of its body */
	struct reply *reply;  /* the protocol's reply (proto->reply_size bytes), after buf */
	struct reqsrv_req req;
	char buf[]; /* proto->max + 1, then the reply */
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

/* Where a connection's reply lies in its allocation: past its buffer, aligned for any struct. */
static size_t reply_at(const struct reqsrv_proto *proto)
{
	size_t align = _Alignof(max_align_t);

	return (offsetof(struct reqsrv_conn, buf) + proto->max + 1 + align - 1) / align * align;
}

static size_t reply_size(const struct reqsrv_proto *proto)
{
	return proto->reply_size ? proto->reply_size : sizeof(struct reply);
}

static void submit_accept(struct reqsrv *srv)
{
	struct io_uring_sqe *sqe = ring_get_sqe(srv->ring);

	io_uring_prep_multishot_accept(sqe, srv->fd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, ring_tag(srv, srv->proto->op_base));
}

/* The whole reply: its text, then the shared body if any. */
static size_t reply_len(const struct reqsrv_conn *rc)
{
	return rc->reply->len + (rc->req.body ? rc->req.body->len : 0);
}

static void submit(struct reqsrv *srv, struct reqsrv_conn *rc, bool recv)
{
	struct io_uring_sqe *sqe = ring_get_sqe(srv->ring);

	if (recv) {
		io_uring_prep_recv(sqe, rc->fd, rc->buf + rc->req.len,
				   srv->proto->max - rc->req.len, 0);
	} else if (rc->sent < rc->reply->len) {
		/* The head of a reply with a body: the body's first bytes may join it. */
		io_uring_prep_send(sqe, rc->fd, rc->reply->buf + rc->sent,
				   rc->reply->len - rc->sent,
				   MSG_NOSIGNAL | (rc->req.body ? MSG_MORE : 0));
	} else {
		size_t off = rc->sent - rc->reply->len;

		io_uring_prep_send(sqe, rc->fd, rc->req.body->data + off, rc->req.body->len - off,
				   MSG_NOSIGNAL);
	}
	io_uring_sqe_set_data64(sqe, ring_tag(rc, srv->proto->op_base + (recv ? 1 : 2)));
	rc->busy = true;
}

static void rc_free(struct reqsrv *srv, struct reqsrv_conn *rc)
{
	if (rc->prev)
		rc->prev->next = rc->next;
	else
		srv->conns = rc->next;
	if (rc->next)
		rc->next->prev = rc->prev;
	srv->nconns--;
	close(rc->fd);
	reply_free(rc->reply);
	reqsrv_body_put(rc->req.body);
	free(rc);
}

/* Close now, or once the operation in flight completes (shutdown makes it complete). */
static void conn_end(struct reqsrv *srv, struct reqsrv_conn *rc)
{
	rc->done = true;
	if (rc->busy)
		shutdown(rc->fd, SHUT_RDWR);
	else
		rc_free(srv, rc);
}

/* The reply goes now: the peer has REQSRV_TIMEOUT_NS to take all of it. */
static void reply_now(struct reqsrv *srv, struct reqsrv_conn *rc)
{
	rc->sent = 0;
	rc->deadline_ns = now_ns() + REQSRV_TIMEOUT_NS;
	if (!reply_len(rc)) {
		conn_end(srv, rc);
		return;
	}
	submit(srv, rc, false);
}

static void refuse(struct reqsrv *srv, int fd)
{
	if (send(fd, srv->proto->busy, strlen(srv->proto->busy), MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		pr_debug("%s: refused a connection: %s", srv->proto->name, strerror(errno));
	close(fd);
}

/*
 * Every slot is taken: the connection that gives its slot up to a newcomer, or NULL. A
 * privileged newcomer takes an unprivileged connection's, one still sending its request first
 * (it has had the least of the server), the oldest first. With shed_slow, any newcomer takes
 * the slot of a peer of no higher rank that has been sending its request for over
 * REQSRV_SLOW_NS.
 */
static struct reqsrv_conn *victim(struct reqsrv *srv, bool privileged, uint64_t now)
{
	struct reqsrv_conn *best = NULL;

	for (struct reqsrv_conn *rc = srv->conns; rc; rc = rc->next) {
		bool slow = !rc->replying && now - rc->accepted_ns > REQSRV_SLOW_NS;

		if (rc->done || (rc->privileged && !privileged) ||
		    (rc->privileged == privileged && !(srv->proto->shed_slow && slow)))
			continue;
		/* Prefer one still sending its request, then the oldest. */
		if (!best || (best->replying && !rc->replying) ||
		    (best->replying == rc->replying && rc->accepted_ns < best->accepted_ns))
			best = rc;
	}
	return best;
}

/* Make room for a newcomer; false when it must be refused. */
static bool make_room(struct reqsrv *srv, bool privileged, const struct ucred *who)
{
	struct reqsrv_conn *rc;

	if (srv->nconns < REQSRV_MAX_CONNS)
		return true;
	rc = victim(srv, privileged, now_ns());
	if (!rc)
		return false;
	if (rc->req.peer.pid)
		pr_info("%s: uid %u pid %d: connection closed to make room for uid %u pid %d%s",
			srv->proto->name, rc->req.peer.uid, rc->req.peer.pid, who->uid, who->pid,
			privileged ? ", who may change strgd" : "");
	else
		pr_debug("%s: a slow connection closed to make room for another", srv->proto->name);
	conn_end(srv, rc);
	/* Its slot is free once an operation in flight completes: one over the bound meanwhile. */
	return true;
}

static void on_accept(struct reqsrv *srv, int res, unsigned flags)
{
	socklen_t len = sizeof(struct ucred);
	struct ucred peer;
	struct reqsrv_conn *rc;
	bool privileged;

	if (!(flags & IORING_CQE_F_MORE) && srv->fd >= 0 && res != -ECANCELED && !srv->paused)
		submit_accept(srv);
	if (res < 0)
		return;
	/* Unix sockets say who is calling; for the others the protocol sees no credentials. */
	if (getsockopt(res, SOL_SOCKET, SO_PEERCRED, &peer, &len) < 0) {
		peer.pid = 0;
		peer.uid = (uid_t)-1;
		peer.gid = (gid_t)-1;
	}
	privileged = srv->proto->privileged && srv->proto->privileged(srv->ctx, res, &peer);
	if (!make_room(srv, privileged, &peer)) {
		refuse(srv, res);
		return;
	}
	rc = calloc(1, reply_at(srv->proto) + reply_size(srv->proto));
	if (!rc) {
		close(res);
		return;
	}
	rc->fd = res;
	rc->reply = (struct reply *)((char *)rc + reply_at(srv->proto));
	rc->req.buf = rc->buf;
	rc->req.peer = peer;
	rc->privileged = privileged;
	rc->accepted_ns = now_ns();
	/* The whole request, however slowly it comes: bytes do not move this deadline. */
	rc->deadline_ns = rc->accepted_ns + REQSRV_TIMEOUT_NS;
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
	switch (srv->proto->request(srv->ctx, &rc->req, rc->reply)) {
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
		rc->replying = true;
		rc->deadline_ns =
			now_ns() + (rc->req.hold_ns ? rc->req.hold_ns : REQSRV_TIMEOUT_NS);
		return;
	case REQ_REPLY:
		rc->replying = true;
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
	if (rc->sent < reply_len(rc))
		submit(srv, rc, false);
	else
		conn_end(srv, rc);
}

void reqsrv_on_cqe(struct reqsrv *srv, unsigned op, void *obj, int res, unsigned flags)
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
		if (rc->held && !rc->done && srv->proto->released(srv->ctx, &rc->req, rc->reply)) {
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

struct reqsrv_body *reqsrv_body_new(char *data, size_t len)
{
	struct reqsrv_body *b = malloc(sizeof(*b));

	if (!b) {
		free(data);
		return NULL;
	}
	b->refs = 1;
	b->len = len;
	b->data = data;
	return b;
}

struct reqsrv_body *reqsrv_body_get(struct reqsrv_body *b)
{
	if (b)
		b->refs++;
	return b;
}

void reqsrv_body_put(struct reqsrv_body *b)
{
	if (!b || --b->refs)
		return;
	free(b->data);
	free(b);
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
		rc_free(srv, srv->conns);
	if (srv->fd >= 0) {
		close(srv->fd);
		if (srv->unlink_path)
			unlink(srv->unlink_path);
	}
	free(srv->unlink_path);
	free(srv);
}
