// SPDX-License-Identifier: GPL-2.0-only
/*
 * The control socket's connections on the proxy's io_uring: strgctl speaks first with one line,
 * strgd answers it whole and closes. A line is executed only when it is complete (a newline, or
 * the peer's end of writing), never when cut at the buffer's end; a silent peer is closed after
 * CTLSRV_TIMEOUT_NS and at most CTLSRV_MAX_CONNS are served at once.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ctlsrv.h"
#include "log.h"
#include "ring.h"

struct ctl_conn {
	struct ctl_conn *prev, *next;
	int fd;
	bool busy;     /* an operation is in flight: freed at its completion */
	bool done;     /* closing */
	bool too_long; /* the line overflowed: discarding up to its end, then refused */
	bool held;     /* its reply waits until every worker runs with the change */
	uint64_t wait_gen;
	struct ucred peer;
	uint64_t deadline_ns;
	size_t len;
	char line[CTL_LINE_MAX + 1];
	size_t sent;
	struct ctl_reply reply;
};

struct ctlsrv {
	struct io_uring *ring;
	struct ctl_env *env;
	int fd;
	const char *path;
	struct ctl_conn *conns;
	unsigned nconns;
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void submit_accept(struct ctlsrv *srv)
{
	struct io_uring_sqe *sqe = ring_get_sqe(srv->ring);

	io_uring_prep_multishot_accept(sqe, srv->fd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, ring_tag(NULL, RING_OP_CTL_ACCEPT));
}

static void submit(struct ctlsrv *srv, struct ctl_conn *cc, enum ring_op op)
{
	struct io_uring_sqe *sqe = ring_get_sqe(srv->ring);

	if (op == RING_OP_CTL_RECV)
		io_uring_prep_recv(sqe, cc->fd, cc->line + cc->len, CTL_LINE_MAX - cc->len, 0);
	else
		io_uring_prep_send(sqe, cc->fd, cc->reply.buf + cc->sent, cc->reply.len - cc->sent,
				   MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, ring_tag(cc, op));
	cc->busy = true;
	cc->deadline_ns = mono_ns() + CTLSRV_TIMEOUT_NS;
}

static void conn_free(struct ctlsrv *srv, struct ctl_conn *cc)
{
	if (cc->prev)
		cc->prev->next = cc->next;
	else
		srv->conns = cc->next;
	if (cc->next)
		cc->next->prev = cc->prev;
	srv->nconns--;
	close(cc->fd);
	ctl_reply_free(&cc->reply);
	free(cc);
}

/* Close now, or once the operation in flight completes (shutdown makes it complete). */
static void conn_end(struct ctlsrv *srv, struct ctl_conn *cc)
{
	cc->done = true;
	if (cc->busy)
		shutdown(cc->fd, SHUT_RDWR);
	else
		conn_free(srv, cc);
}

static void reply_now(struct ctlsrv *srv, struct ctl_conn *cc)
{
	cc->sent = 0;
	submit(srv, cc, RING_OP_CTL_SEND);
}

void ctlsrv_on_accept(struct ctlsrv *srv, int res, unsigned flags)
{
	static const char busy[] = "error: too many control connections, try again\n";
	socklen_t len = sizeof(struct ucred);
	struct ctl_conn *cc;

	if (!(flags & IORING_CQE_F_MORE) && srv->fd >= 0 && res != -ECANCELED)
		submit_accept(srv);
	if (res < 0)
		return;
	if (srv->nconns >= CTLSRV_MAX_CONNS) {
		if (send(res, busy, sizeof(busy) - 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
			pr_debug("ctl: refused a connection: %s", strerror(errno));
		close(res);
		return;
	}
	cc = malloc(sizeof(*cc));
	if (!cc) {
		close(res);
		return;
	}
	memset(cc, 0, offsetof(struct ctl_conn, line));
	memset(&cc->reply, 0, sizeof(cc->reply));
	cc->fd = res;
	if (getsockopt(res, SOL_SOCKET, SO_PEERCRED, &cc->peer, &len) < 0) {
		close(res);
		free(cc);
		return;
	}
	cc->next = srv->conns;
	if (srv->conns)
		srv->conns->prev = cc;
	srv->conns = cc;
	srv->nconns++;
	submit(srv, cc, RING_OP_CTL_RECV);
}

void ctlsrv_on_recv(struct ctlsrv *srv, struct ctl_conn *cc, int res)
{
	char *nl;

	cc->busy = false;
	if (cc->done || res < 0 || (res == 0 && !cc->len)) {
		conn_end(srv, cc);
		return;
	}
	cc->len += (size_t)res;
	nl = memchr(cc->line, '\n', cc->len);
	if (!nl && res > 0) {
		/* Read the rest of an over-long line too, so the peer sees the answer. */
		if (cc->len == CTL_LINE_MAX) {
			cc->too_long = true;
			cc->len = 0;
		}
		submit(srv, cc, RING_OP_CTL_RECV);
		return;
	}
	if (cc->too_long) {
		ctl_reply_error(&cc->reply, "command line too long (max 4095 bytes): not executed");
		reply_now(srv, cc);
		return;
	}
	/* A newline ends the command; so does the end of the peer's writing. */
	if (!nl)
		nl = cc->line + cc->len;
	if (memchr(cc->line, '\0', (size_t)(nl - cc->line))) {
		ctl_reply_error(&cc->reply, "NUL byte in the command line: not executed");
		reply_now(srv, cc);
		return;
	}
	*nl = '\0';
	ctl_execute(srv->env, &cc->peer, cc->line, &cc->reply);
	/* A change is in force when every worker runs with it: only then does strgctl hear. */
	cc->wait_gen = srv->env->wait_gen;
	if (srv->env->everywhere && cc->wait_gen > srv->env->everywhere(srv->env)) {
		cc->held = true;
		cc->deadline_ns = mono_ns() + CTLSRV_TIMEOUT_NS;
		return;
	}
	reply_now(srv, cc);
}

void ctlsrv_release(struct ctlsrv *srv)
{
	uint64_t gen = srv->env->everywhere ? srv->env->everywhere(srv->env) : UINT64_MAX;

	for (struct ctl_conn *cc = srv->conns; cc; cc = cc->next) {
		if (cc->held && !cc->done && cc->wait_gen <= gen) {
			cc->held = false;
			reply_now(srv, cc);
		}
	}
}

void ctlsrv_on_send(struct ctlsrv *srv, struct ctl_conn *cc, int res)
{
	cc->busy = false;
	if (cc->done || res <= 0) {
		conn_end(srv, cc);
		return;
	}
	cc->sent += (size_t)res;
	if (cc->sent < cc->reply.len)
		submit(srv, cc, RING_OP_CTL_SEND);
	else
		conn_end(srv, cc);
}

void ctlsrv_tick(struct ctlsrv *srv, uint64_t now_ns)
{
	struct ctl_conn *cc, *next;

	if (!srv)
		return;
	for (cc = srv->conns; cc; cc = next) {
		next = cc->next;
		if (!cc->done && now_ns >= cc->deadline_ns) {
			pr_info("ctl: uid %u pid %d: no complete command or reply within %llu s, "
				"closed",
				cc->peer.uid, cc->peer.pid,
				(unsigned long long)(CTLSRV_TIMEOUT_NS / 1000000000ull));
			conn_end(srv, cc);
		}
	}
}

struct ctlsrv *ctlsrv_open(struct io_uring *ring, struct ctl_env *env, int fd)
{
	struct ctlsrv *srv = calloc(1, sizeof(*srv));

	if (!srv)
		return NULL;
	srv->ring = ring;
	srv->env = env;
	srv->fd = fd;
	srv->path = env->cfg->control;
	submit_accept(srv);
	return srv;
}

void ctlsrv_close(struct ctlsrv *srv)
{
	if (!srv)
		return;
	while (srv->conns)
		conn_free(srv, srv->conns);
	if (srv->fd >= 0) {
		close(srv->fd);
		unlink(srv->path);
	}
	free(srv);
}
