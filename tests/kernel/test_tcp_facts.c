// SPDX-License-Identifier: GPL-2.0-only
/* Pins the TCP behaviour strgd's retry rule relies on, over loopback in a private netns. */
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <linux/sockios.h>
#include <poll.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ktest.h"

#define IO_TIMEOUT_MS 2000
#define REQ	      "GET /x HTTP/1.1\r\nHost: h\r\n\r\n"
#define REQ_LEN	      (sizeof(REQ) - 1)

/* A connected pair over 127.0.0.1: the proxy's backend socket and the backend's. */
struct pair {
	int proxy;
	int backend;
};

static int netns_enter(void)
{
	struct ifreq ifr = {0};
	int fd, err = 0;

	if (unshare(CLONE_NEWNET))
		return -errno;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	strcpy(ifr.ifr_name, "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr)) {
		err = -errno;
		goto out_close;
	}
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr))
		err = -errno;
out_close:
	close(fd);
	return err;
}

/* A connected pair that already carried one exchange, as a kept-alive backend connection has. */
static int pair_open(struct pair *p)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	char buf[8];
	int l;

	p->proxy = p->backend = -1;
	l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) || listen(l, 1) ||
	    getsockname(l, (struct sockaddr *)&a, &len))
		goto out_err;
	p->proxy = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (p->proxy < 0 || connect(p->proxy, (struct sockaddr *)&a, sizeof(a)))
		goto out_err;
	p->backend = accept(l, NULL, NULL);
	if (p->backend < 0 || send(p->proxy, "previous", 8, 0) != 8 ||
	    recv(p->backend, buf, 8, MSG_WAITALL) != 8)
		goto out_err;
	close(l);
	return 0;
out_err:
	failf("setting up a connected pair: %s", strerror(errno));
	if (l >= 0)
		close(l);
	if (p->proxy >= 0)
		close(p->proxy);
	if (p->backend >= 0)
		close(p->backend);
	return -1;
}

static void pair_close(struct pair *p)
{
	if (p->proxy >= 0)
		close(p->proxy);
	if (p->backend >= 0)
		close(p->backend);
}

static int outq(int fd)
{
	int n = -1;

	if (ioctl(fd, SIOCOUTQ, &n))
		return -1;
	return n;
}

static short poll_one(int fd, short events, int timeout_ms)
{
	struct pollfd p = {.fd = fd, .events = events};

	return poll(&p, 1, timeout_ms) == 1 ? p.revents : 0;
}

/*
 * The backend closed the kept-alive connection before the request arrived: the request is
 * answered with a reset and never acknowledged, and SIOCOUTQ (write_seq - snd_una) keeps
 * counting all of it after the FIN and after the reset. That is how strgd tells a request no
 * backend saw (it may retry it) from one a backend read.
 */
static int test_closed_peer_acks_nothing(void)
{
	struct pair p;
	char b;
	int err = -1, q1, q2;
	short ev;

	if (pair_open(&p))
		return -1;
	close(p.backend);
	p.backend = -1;
	if (!(poll_one(p.proxy, POLLRDHUP, IO_TIMEOUT_MS) & POLLRDHUP)) {
		failf("no FIN on the proxy's socket after the backend closed");
		goto out;
	}
	if (send(p.proxy, REQ, REQ_LEN, MSG_NOSIGNAL) != (ssize_t)REQ_LEN) {
		failf("send after the FIN: %s", strerror(errno));
		goto out;
	}
	ev = poll_one(p.proxy, POLLERR, IO_TIMEOUT_MS);
	q1 = outq(p.proxy);
	(void)recv(p.proxy, &b, 1, MSG_DONTWAIT); /* reads the end; the reset may follow */
	q2 = outq(p.proxy);
	if (!(ev & (POLLERR | POLLHUP)) || q1 != (int)REQ_LEN || q2 != (int)REQ_LEN) {
		failf("want a reset and SIOCOUTQ %zu before and after reading the end, saw revents "
		      "0x%x and SIOCOUTQ %d, %d",
		      REQ_LEN, ev, q1, q2);
		goto out;
	}
	err = 0;
out:
	pair_close(&p);
	return err;
}

/* The backend read the request, then closed: every byte of it was acknowledged. */
static int test_read_then_closed_peer_acked_all(void)
{
	char buf[REQ_LEN];
	struct pair p;
	int err = -1, q;

	if (pair_open(&p))
		return -1;
	if (send(p.proxy, REQ, REQ_LEN, 0) != (ssize_t)REQ_LEN ||
	    recv(p.backend, buf, REQ_LEN, MSG_WAITALL) != (ssize_t)REQ_LEN) {
		failf("the request: %s", strerror(errno));
		goto out;
	}
	close(p.backend);
	p.backend = -1;
	if (!(poll_one(p.proxy, POLLRDHUP, IO_TIMEOUT_MS) & POLLRDHUP) ||
	    recv(p.proxy, buf, 1, MSG_DONTWAIT) != 0) {
		failf("no clean end (FIN) after the backend closed");
		goto out;
	}
	q = outq(p.proxy);
	if (q != 0) {
		failf("SIOCOUTQ %d after the backend read the request and closed, want 0", q);
		goto out;
	}
	err = 0;
out:
	pair_close(&p);
	return err;
}

/*
 * The backend closed with the request unread in its queue: a reset, but the bytes had been
 * acknowledged (SIOCOUTQ 0). strgd cannot tell this from a backend that read part of it, so it
 * counts such a request as seen.
 */
static int test_unread_close_acked(void)
{
	struct pair p;
	char b;
	int err = -1, q;
	ssize_t n;

	if (pair_open(&p))
		return -1;
	if (send(p.proxy, REQ, REQ_LEN, 0) != (ssize_t)REQ_LEN) {
		failf("send: %s", strerror(errno));
		goto out;
	}
	usleep(50 * 1000); /* acknowledged by the backend's kernel, not read */
	close(p.backend);
	p.backend = -1;
	poll_one(p.proxy, POLLERR, IO_TIMEOUT_MS);
	n = recv(p.proxy, &b, 1, MSG_DONTWAIT);
	q = outq(p.proxy);
	if (n != -1 || errno != ECONNRESET || q != 0) {
		failf("want ECONNRESET and SIOCOUTQ 0, saw recv %zd (%s) and SIOCOUTQ %d", n,
		      n < 0 ? strerror(errno) : "no error", q);
		goto out;
	}
	err = 0;
out:
	pair_close(&p);
	return err;
}

static const struct subtest subtests[] = {
	{"closed_peer_acks_nothing", test_closed_peer_acks_nothing},
	{"read_then_closed_peer_acked_all", test_read_then_closed_peer_acked_all},
	{"unread_close_acked", test_unread_close_acked},
};

int main(void)
{
	int err;

	setvbuf(stdout, NULL, _IOLBF, 0);
	err = netns_enter();
	if (err) {
		printf("FAIL tcp_facts: network namespace with lo up: %s\n", strerror(-err));
		return 1;
	}
	return run_subtests("tcp_facts", subtests, sizeof(subtests) / sizeof(subtests[0]));
}
