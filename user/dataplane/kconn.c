// SPDX-License-Identifier: GPL-2.0-only
/*
 * The kernel's half of a client connection (kconn.h): the few operations that need no more than
 * it and the worker, so that conn.c can free and detach without calling up into the hand-off.
 */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "dataplane/kconn.h"
#include "dataplane/worker.h"
#include "kernel/splice.h"

bool kconn_state(const struct kconn *k, struct worker *w, struct strg_conn *s)
{
	return kconn_spliced(k) && splice_conn_get(w->sp, k->cookie, s) == 0;
}

void kconn_count(struct kconn *k, bool read, int res)
{
	if (res <= 0)
		return;
	if (read)
		k->rx += (uint64_t)res;
	else
		k->tx += (uint64_t)res;
}

bool kconn_resp_passed(struct kconn *k, const struct strg_conn *s)
{
	if (s->resp_passed == k->resp_passed_seen)
		return false;
	k->resp_passed_seen = s->resp_passed;
	return true;
}

bool kconn_requested(struct kconn *k, const struct strg_conn *s)
{
	if (s->req_ns == k->last_req_ns)
		return false;
	k->last_req_ns = s->req_ns;
	return true;
}

bool kconn_stalled(struct kconn *k, const struct strg_conn *s, uint64_t now, uint64_t limit_ns)
{
	if (s->out == k->last_out)
		return now - k->last_out_ns >= limit_ns;
	k->last_out = s->out;
	k->last_out_ns = now;
	return false;
}

/*
 * A client answered by strgd on a spliced connection sends its next request the moment the
 * response ends, often before strgd handed the connection back, and that request then takes
 * the slow path. Corking the last bytes until the hand-back is written closes that window.
 */
void kconn_cork(struct kconn *k, int fd)
{
	int one = 1;

	if (!(k->flags & KF_CORKED) &&
	    setsockopt(fd, IPPROTO_TCP, TCP_CORK, &one, sizeof(one)) == 0)
		k->flags |= KF_CORKED;
}

void kconn_uncork(struct kconn *k, int fd)
{
	int zero = 0;

	if (!(k->flags & KF_CORKED))
		return;
	k->flags &= ~KF_CORKED;
	setsockopt(fd, IPPROTO_TCP, TCP_CORK, &zero, sizeof(zero));
}

void kconn_detach(struct kconn *k, struct worker *w, unsigned pool)
{
	if (!kconn_attached(k, pool))
		return;
	k->ctl.backend[pool] = 0;
	splice_ctl_set(w->sp, k->cookie, &k->ctl);
}

void kconn_drop(struct kconn *k, struct worker *w, unsigned pool, int fd)
{
	if (kconn_spliced(k)) {
		/* The kernel forwards nothing more to it, then forgets the socket. */
		kconn_detach(k, w, pool);
		splice_sock_forget(w->sp, splice_cookie(fd));
	}
	k->bcookie[pool] = 0;
}

void kconn_forget(struct kconn *k, struct worker *w)
{
	if (!kconn_spliced(k))
		return;
	splice_conn_forget(w->sp, k->cookie, &k->ctl);
	connmap_del(&w->spliced, k->cookie);
}
