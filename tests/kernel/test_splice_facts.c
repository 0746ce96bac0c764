// SPDX-License-Identifier: GPL-2.0-only
/* Pins the sockmap splice behaviour strg relies on, over real TCP sockets in a private netns. */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <linux/tcp.h>
#include <arpa/inet.h>
#include <linux/sockios.h>
#include <linux/types.h>
#include <poll.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "progs/backlog.h"
#include "progs/facts.h"
#include "backlog.skel.h"
#include "facts.skel.h"
#include "ktest.h"

#define KSFT_SKIP     77
#define IO_TIMEOUT_MS 2000 /* SO_RCVTIMEO/SO_SNDTIMEO and the longest wait for progress */
#define QUIET_MS      300  /* how long "nothing arrives" is watched */
/* Waiting for bytes still owed after a sockhash delete: a queue of megabytes drains in bursts
 * with pauses of seconds on a loaded machine (stress-ng beside the suites). */
#define DRAIN_OWED_MS 10000
#define CHUNK	      (64 * 1024)
#define MIB	      (1024 * 1024)

/* The four sockets of one spliced connection and the cookies of the two the proxy owns. */
struct topo {
	int client_app;	   /* the HTTP client */
	int proxy_client;  /* strg's accepted client socket */
	int proxy_backend; /* strg's connection to the backend */
	int backend_app;   /* the backend server's accepted socket */
	__u64 pc_cookie;
	__u64 pb_cookie;
};

struct fixture {
	struct facts_bpf *skel;
	struct topo t;
};

/* Per-pair socket buffer knobs; 0 keeps the kernel default (autotuned). */
struct pair_opts {
	int connector_sndbuf;
	int acceptor_rcvbuf;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Deterministic, non-periodic byte stream: the byte at stream offset off. */
static inline uint8_t pattern_byte(uint64_t off)
{
	return (uint8_t)((off * 131) ^ (off >> 9) ^ (off >> 17) ^ (off >> 25));
}

static void pattern_fill(uint8_t *buf, size_t len, uint64_t off)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = pattern_byte(off + i);
}

/* Offset of the first byte of buf that differs from the stream at off, or len if none. */
static size_t pattern_mismatch(const uint8_t *buf, size_t len, uint64_t off)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i] != pattern_byte(off + i))
			return i;
	return len;
}

static int set_timeouts(int fd)
{
	struct timeval tv = {.tv_sec = IO_TIMEOUT_MS / 1000};

	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)))
		return -errno;
	return 0;
}

static int set_nonblock(int fd, bool on)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK))
		return -errno;
	return 0;
}

static int set_int_opt(int fd, int level, int name, int val)
{
	if (val && setsockopt(fd, level, name, &val, sizeof(val)))
		return -errno;
	return 0;
}

/* A connected TCP pair over 127.0.0.1 on an ephemeral port, both ends with I/O timeouts. */
static int tcp_pair(int *connector, int *acceptor, const struct pair_opts *o)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t salen = sizeof(sa);
	int lfd, cfd = -1, afd = -1, err;

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		return -errno;
	/* On the listener, so the accepted socket inherits it and sizes its window from it. */
	err = set_int_opt(lfd, SOL_SOCKET, SO_RCVBUF, o->acceptor_rcvbuf);
	if (err)
		goto out_close_lfd;
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(lfd, 1) ||
	    getsockname(lfd, (struct sockaddr *)&sa, &salen)) {
		err = -errno;
		goto out_close_lfd;
	}
	cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (cfd < 0) {
		err = -errno;
		goto out_close_lfd;
	}
	err = set_int_opt(cfd, SOL_SOCKET, SO_SNDBUF, o->connector_sndbuf);
	if (err)
		goto out_close_cfd;
	if (connect(cfd, (struct sockaddr *)&sa, sizeof(sa))) {
		err = -errno;
		goto out_close_cfd;
	}
	afd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (afd < 0) {
		err = -errno;
		goto out_close_cfd;
	}
	err = set_timeouts(cfd);
	if (!err)
		err = set_timeouts(afd);
	if (err)
		goto out_close_afd;
	*connector = cfd;
	*acceptor = afd;
	close(lfd);
	return 0;

out_close_afd:
	close(afd);
out_close_cfd:
	close(cfd);
out_close_lfd:
	close(lfd);
	return err;
}

static __u64 sock_cookie(int fd)
{
	__u64 cookie = 0;
	socklen_t len = sizeof(cookie);

	if (getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookie, &len))
		return 0;
	return cookie;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void topo_close(struct topo *t)
{
	close_fd(&t->client_app);
	close_fd(&t->proxy_client);
	close_fd(&t->proxy_backend);
	close_fd(&t->backend_app);
}

static int topo_open(struct topo *t, const struct pair_opts *client,
		     const struct pair_opts *backend)
{
	int err;

	t->client_app = t->proxy_client = t->proxy_backend = t->backend_app = -1;
	err = tcp_pair(&t->client_app, &t->proxy_client, client);
	if (err)
		return err;
	err = tcp_pair(&t->proxy_backend, &t->backend_app, backend);
	if (err)
		goto out_close;
	t->pc_cookie = sock_cookie(t->proxy_client);
	t->pb_cookie = sock_cookie(t->proxy_backend);
	if (!t->pc_cookie || !t->pb_cookie) {
		err = -EINVAL;
		goto out_close;
	}
	return 0;

out_close:
	topo_close(t);
	return err;
}

static int facts_load(struct facts_bpf **skelp)
{
	struct facts_bpf *skel;
	int err;

	skel = facts_bpf__open_and_load();
	if (!skel)
		return -errno;
	err = bpf_prog_attach(bpf_program__fd(skel->progs.facts_verdict),
			      bpf_map__fd(skel->maps.socks), BPF_SK_SKB_VERDICT, 0);
	if (err) {
		err = -errno;
		facts_bpf__destroy(skel);
		return err;
	}
	*skelp = skel;
	return 0;
}

static void fixture_close(struct fixture *f)
{
	/* Sockets first: closing them removes their sockhash entries before the maps go. */
	topo_close(&f->t);
	facts_bpf__destroy(f->skel);
	f->skel = NULL;
}

static int fixture_open(struct fixture *f, const struct pair_opts *client,
			const struct pair_opts *backend)
{
	int err;

	f->skel = NULL;
	err = facts_load(&f->skel);
	if (err)
		return failf("loading and attaching facts.bpf.o: %s", strerror(-err));
	err = topo_open(&f->t, client, backend);
	if (err) {
		facts_bpf__destroy(f->skel);
		f->skel = NULL;
		return failf("building the socket topology: %s", strerror(-err));
	}
	return 0;
}

static int fixture_open_default(struct fixture *f)
{
	static const struct pair_opts dflt;

	return fixture_open(f, &dflt, &dflt);
}

static int sockhash_insert(struct facts_bpf *skel, __u64 cookie, int fd)
{
	__u64 val = fd;

	if (bpf_map_update_elem(bpf_map__fd(skel->maps.socks), &cookie, &val, BPF_NOEXIST))
		return -errno;
	return 0;
}

static int peer_set(struct facts_bpf *skel, __u64 from, __u64 to, bool pass)
{
	struct facts_peer p = {.peer_cookie = to, .pass = pass};

	if (bpf_map_update_elem(bpf_map__fd(skel->maps.peers), &from, &p, BPF_ANY))
		return -errno;
	return 0;
}

/* Put both proxy-side sockets in the sockhash and point each at the other. */
static int splice_pair(struct fixture *f, bool pass)
{
	struct topo *t = &f->t;
	int err;

	err = peer_set(f->skel, t->pc_cookie, t->pb_cookie, pass);
	if (!err)
		err = peer_set(f->skel, t->pb_cookie, t->pc_cookie, pass);
	if (!err)
		err = sockhash_insert(f->skel, t->pc_cookie, t->proxy_client);
	if (!err)
		err = sockhash_insert(f->skel, t->pb_cookie, t->proxy_backend);
	if (err)
		return failf("inserting the proxy sockets: %s", strerror(-err));
	return 0;
}

static __u64 counter(struct facts_bpf *skel, __u32 idx)
{
	__u64 val = 0;

	bpf_map_lookup_elem(bpf_map__fd(skel->maps.counters), &idx, &val);
	return val;
}

static void counters_reset(struct facts_bpf *skel)
{
	__u64 zero = 0;

	for (__u32 i = 0; i < FACTS_NR; i++)
		bpf_map_update_elem(bpf_map__fd(skel->maps.counters), &i, &zero, BPF_ANY);
}

/* Wait until a counter reaches want; the verdict runs in softirq/worker context, not in send(). */
static __u64 counter_wait(struct facts_bpf *skel, __u32 idx, __u64 want)
{
	uint64_t deadline = now_ms() + IO_TIMEOUT_MS;
	__u64 v;

	while ((v = counter(skel, idx)) < want && now_ms() < deadline)
		usleep(1000);
	return v;
}

/* poll() one fd; returns revents, 0 on timeout. */
static short poll_one(int fd, short events, int timeout_ms)
{
	struct pollfd p = {.fd = fd, .events = events};

	if (poll(&p, 1, timeout_ms) <= 0)
		return 0;
	return p.revents;
}

static int send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= n;
	}
	return 0;
}

/* Read exactly len bytes; blocking reads bounded by SO_RCVTIMEO. Returns bytes read or -errno. */
static ssize_t recv_exact(int fd, void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = recv(fd, (char *)buf + got, len - got, 0);

		if (n < 0)
			return got ? (ssize_t)got : -errno;
		if (n == 0)
			break;
		got += n;
	}
	return got;
}

static int tcp_info(int fd, struct tcp_info *ti)
{
	socklen_t len = sizeof(*ti);

	memset(ti, 0, sizeof(*ti));
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, ti, &len))
		return -errno;
	return 0;
}

/*
 * Push total bytes of the pattern into src while reading them from dst, single-threaded with
 * non-blocking sockets. Stops after IO_TIMEOUT_MS without progress. Returns the number of bytes
 * dst received that match the stream (so a short count means loss or corruption) or -errno.
 */
static ssize_t stream_through(int src, int dst, size_t total, size_t *first_bad)
{
	static uint8_t sbuf[CHUNK], rbuf[CHUNK];
	size_t sent = 0, rcvd = 0, spos = 0, slen = 0;
	ssize_t ret = -ETIMEDOUT;

	*first_bad = SIZE_MAX;
	if (set_nonblock(src, true) || set_nonblock(dst, true))
		return -errno;
	/* Bounded: every iteration either moves bytes or waits; 1M iterations is far above need. */
	for (int iter = 0; iter < 1000000 && rcvd < total; iter++) {
		struct pollfd p[2] = {{.fd = src, .events = sent < total ? POLLOUT : 0},
				      {.fd = dst, .events = POLLIN}};
		ssize_t n;

		if (poll(p, 2, IO_TIMEOUT_MS) <= 0)
			break;
		if (p[0].revents & POLLOUT) {
			if (spos == slen) {
				slen = total - sent < CHUNK ? total - sent : CHUNK;
				pattern_fill(sbuf, slen, sent);
				spos = 0;
			}
			n = send(src, sbuf + spos, slen - spos, MSG_NOSIGNAL);
			if (n < 0 && errno != EAGAIN) {
				ret = -errno;
				goto out;
			}
			if (n > 0) {
				spos += n;
				if (spos == slen)
					sent += slen;
			}
		}
		if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			n = recv(dst, rbuf, sizeof(rbuf), 0);
			if (n == 0)
				break;
			if (n < 0 && errno != EAGAIN) {
				ret = -errno;
				goto out;
			}
			if (n > 0) {
				size_t bad = pattern_mismatch(rbuf, n, rcvd);

				if (bad < (size_t)n) {
					*first_bad = rcvd + bad;
					ret = rcvd + bad;
					goto out;
				}
				rcvd += n;
			}
		}
	}
	ret = rcvd;
out:
	set_nonblock(src, false);
	set_nonblock(dst, false);
	return ret;
}

static const char early_req[] = "GET /early HTTP/1.1\r\nHost: a\r\n\r\n";
#define EARLY_LEN (sizeof(early_req) - 1)

/* Client sends early_req, it lands in proxy_client's receive queue, then the pair is spliced. */
static int early_setup(struct fixture *f, bool pass)
{
	if (fixture_open_default(f))
		return -1;
	if (send_all(f->t.client_app, early_req, EARLY_LEN)) {
		failf("client send: %s", strerror(errno));
		goto out_close;
	}
	if (!(poll_one(f->t.proxy_client, POLLIN, IO_TIMEOUT_MS) & POLLIN)) {
		failf("early bytes never reached proxy_client");
		goto out_close;
	}
	if (splice_pair(f, pass))
		goto out_close;
	return 0;

out_close:
	fixture_close(f);
	return -1;
}

/* backend_app must receive exactly early_req. */
static int expect_early_at_backend(struct fixture *f)
{
	char buf[EARLY_LEN];
	ssize_t n;

	n = recv_exact(f->t.backend_app, buf, EARLY_LEN);
	if (n != (ssize_t)EARLY_LEN || memcmp(buf, early_req, EARLY_LEN))
		return failf("backend_app: expected the %zu early bytes, got %zd", EARLY_LEN, n);
	return 0;
}

/*
 * Fact: bytes queued on a socket before it enters the sockhash are not run through the verdict
 * by the insertion itself: they sit in the receive queue and nothing reaches the peer. FIONREAD
 * (SIOCINQ) then reports 0, so it cannot tell strg that a request is waiting.
 */
static int test_bytes_before_insert_stay_queued(void)
{
	struct fixture f;
	int inq = -1, err = -1;

	if (early_setup(&f, false))
		return -1;
	if (poll_one(f.t.backend_app, POLLIN, QUIET_MS)) {
		failf("backend_app became readable: early bytes were redirected by the insertion");
		goto out;
	}
	if (counter(f.skel, FACTS_CALLS)) {
		failf("verdict calls: expected 0, saw %llu",
		      (unsigned long long)counter(f.skel, FACTS_CALLS));
		goto out;
	}
	/* SIOCINQ on a socket in the sockhash counts only what the verdict passed up. */
	if (ioctl(f.t.proxy_client, SIOCINQ, &inq) || inq != 0) {
		failf("SIOCINQ on proxy_client: expected 0 (the %zu queued bytes are not counted), "
		      "saw %d",
		      EARLY_LEN, inq);
		goto out;
	}
	err = 0;
out:
	fixture_close(&f);
	return err;
}

/*
 * Fact: recv() on a socket in the sockhash does not read its receive queue directly: it first
 * runs the verdict over what is queued (tcp_bpf_recvmsg_parser). With a redirect entry the early
 * bytes go to the peer and recv() returns EAGAIN, so a loader that inserts first and reads
 * second never sees the request.
 */
static int test_recv_after_insert_redirects_queued(void)
{
	char buf[EARLY_LEN];
	struct fixture f;
	ssize_t n;
	int err = -1;

	if (early_setup(&f, false))
		return -1;
	n = recv(f.t.proxy_client, buf, sizeof(buf), MSG_DONTWAIT);
	if (n >= 0 || errno != EAGAIN) {
		failf("recv on proxy_client: expected EAGAIN, got %zd (%s)", n,
		      n < 0 ? strerror(errno) : "bytes");
		goto out;
	}
	if (counter(f.skel, FACTS_CALLS) != 1 || counter(f.skel, FACTS_REDIRECTS) != 1) {
		failf("expected 1 verdict call that redirected, saw %llu calls %llu redirects",
		      (unsigned long long)counter(f.skel, FACTS_CALLS),
		      (unsigned long long)counter(f.skel, FACTS_REDIRECTS));
		goto out;
	}
	err = expect_early_at_backend(&f);
out:
	fixture_close(&f);
	return err;
}

/*
 * Fact: with a pass entry, the same recv() runs the verdict over the queued bytes and returns
 * them: inserting in PASS state and reading is a way to get the first request to user space.
 */
static int test_recv_after_insert_with_pass_returns_queued(void)
{
	char buf[EARLY_LEN];
	struct fixture f;
	ssize_t n;
	int err = -1;

	if (early_setup(&f, true))
		return -1;
	n = recv(f.t.proxy_client, buf, sizeof(buf), MSG_DONTWAIT);
	if (n != (ssize_t)EARLY_LEN || memcmp(buf, early_req, EARLY_LEN)) {
		failf("recv on proxy_client: expected the %zu early bytes, got %zd (%s)", EARLY_LEN,
		      n, n < 0 ? strerror(errno) : "other bytes");
		goto out;
	}
	if (counter(f.skel, FACTS_CALLS) != 1 || counter(f.skel, FACTS_PASSES) != 1) {
		failf("expected 1 verdict call that passed, saw %llu calls %llu passes",
		      (unsigned long long)counter(f.skel, FACTS_CALLS),
		      (unsigned long long)counter(f.skel, FACTS_PASSES));
		goto out;
	}
	err = 0;
out:
	fixture_close(&f);
	return err;
}

/*
 * Fact: once a socket is in the sockhash, the next bytes to arrive wake the verdict, and it is
 * handed everything in the receive queue, early bytes first. So early bytes are not stuck for
 * good, but they are spliced only when the client sends again, which a waiting client never does.
 */
static int test_early_bytes_flushed_by_next_arrival(void)
{
	static const char late[] = "GET /late HTTP/1.1\r\n\r\n";
	char buf[sizeof(late)];
	struct fixture f;
	ssize_t n;
	int err = -1;

	if (early_setup(&f, false))
		return -1;
	if (send_all(f.t.client_app, late, sizeof(late) - 1)) {
		failf("client send: %s", strerror(errno));
		goto out;
	}
	if (expect_early_at_backend(&f))
		goto out;
	n = recv_exact(f.t.backend_app, buf, sizeof(late) - 1);
	if (n != (ssize_t)sizeof(late) - 1 || memcmp(buf, late, n)) {
		failf("backend_app: expected the %zu late bytes after the early ones, got %zd",
		      sizeof(late) - 1, n);
		goto out;
	}
	if (counter(f.skel, FACTS_BYTES) != EARLY_LEN + sizeof(late) - 1) {
		failf("verdict bytes: expected %zu, saw %llu", EARLY_LEN + sizeof(late) - 1,
		      (unsigned long long)counter(f.skel, FACTS_BYTES));
		goto out;
	}
	notef("%llu verdict call(s) for the early and late bytes",
	      (unsigned long long)counter(f.skel, FACTS_CALLS));
	err = 0;
out:
	fixture_close(&f);
	return err;
}

/* One direction of test_redirect_after_insert_byte_exact; checks the verdict's byte count too. */
static int check_stream(struct fixture *f, int src, int dst, size_t total, const char *dir)
{
	uint64_t t0 = now_ms();
	size_t first_bad;
	ssize_t got;
	__u64 seen;

	counters_reset(f->skel);
	got = stream_through(src, dst, total, &first_bad);
	if (got < 0)
		return failf("%s: I/O error %s", dir, strerror(-got));
	if (first_bad != SIZE_MAX)
		return failf("%s: byte at offset %zu differs from what was sent", dir, first_bad);
	if ((size_t)got != total)
		return failf("%s: expected %zu bytes, received %zd", dir, total, got);
	seen = counter_wait(f->skel, FACTS_BYTES, total);
	if (seen != total)
		return failf("%s: verdict saw %llu bytes, expected %zu", dir,
			     (unsigned long long)seen, total);
	if (counter(f->skel, FACTS_PASSES) || counter(f->skel, FACTS_REDIRECT_FAILS))
		return failf("%s: expected only redirects, saw %llu passes %llu failed redirects",
			     dir, (unsigned long long)counter(f->skel, FACTS_PASSES),
			     (unsigned long long)counter(f->skel, FACTS_REDIRECT_FAILS));
	notef("%s: %zu MiB in %llu ms, %llu verdict calls, max skb %llu bytes", dir, total / MIB,
	      (unsigned long long)(now_ms() - t0),
	      (unsigned long long)counter(f->skel, FACTS_CALLS),
	      (unsigned long long)counter(f->skel, FACTS_MAX_LEN));
	return 0;
}

/* Fact: after insertion, the splice delivers every byte, in order, in both directions. */
static int test_redirect_after_insert_byte_exact(void)
{
	struct fixture f;
	struct topo *t = &f.t;
	char c;
	int err;

	if (fixture_open_default(&f))
		return -1;
	err = splice_pair(&f, false);
	if (!err)
		err = check_stream(&f, t->client_app, t->backend_app, 64 * MIB, "client->backend");
	if (!err)
		err = check_stream(&f, t->backend_app, t->client_app, 16 * MIB, "backend->client");
	if (!err && (recv(t->proxy_client, &c, 1, MSG_DONTWAIT) >= 0 ||
		     recv(t->proxy_backend, &c, 1, MSG_DONTWAIT) >= 0))
		err = failf("a proxy-side socket had bytes to read; all should be spliced");
	fixture_close(&f);
	return err;
}

/*
 * Fact: SK_PASS puts the bytes on the receiving socket's own queue (recv() works), and a socket in
 * the sockhash still sends normally from user space.
 */
static int test_sk_pass_goes_to_own_queue(void)
{
	static const char req[] = "GET /pass HTTP/1.1\r\n\r\n";
	static const char reply[] = "HTTP/1.1 204 No Content\r\n\r\n";
	char buf[64];
	struct fixture f;
	struct topo *t = &f.t;
	ssize_t n;
	int err;

	if (fixture_open_default(&f))
		return -1;
	err = -1;
	if (splice_pair(&f, true))
		goto out;
	if (send_all(t->client_app, req, sizeof(req) - 1)) {
		failf("client send: %s", strerror(errno));
		goto out;
	}
	n = recv_exact(t->proxy_client, buf, sizeof(req) - 1);
	if (n != (ssize_t)sizeof(req) - 1 || memcmp(buf, req, n)) {
		failf("recv on proxy_client: expected the %zu request bytes, got %zd",
		      sizeof(req) - 1, n);
		goto out;
	}
	if (counter(f.skel, FACTS_PASSES) < 1 || counter(f.skel, FACTS_REDIRECTS)) {
		failf("expected >= 1 pass and 0 redirects, saw %llu and %llu",
		      (unsigned long long)counter(f.skel, FACTS_PASSES),
		      (unsigned long long)counter(f.skel, FACTS_REDIRECTS));
		goto out;
	}
	if (poll_one(t->backend_app, POLLIN, QUIET_MS)) {
		failf("backend_app became readable though the entry says pass");
		goto out;
	}
	if (send_all(t->proxy_client, reply, sizeof(reply) - 1)) {
		failf("send on proxy_client (in the sockhash): %s", strerror(errno));
		goto out;
	}
	n = recv_exact(t->client_app, buf, sizeof(reply) - 1);
	if (n != (ssize_t)sizeof(reply) - 1 || memcmp(buf, reply, n)) {
		failf("client_app: expected the %zu reply bytes, got %zd", sizeof(reply) - 1, n);
		goto out;
	}
	err = 0;
out:
	fixture_close(&f);
	return err;
}

/* TCP byte counters of the two proxy sockets: what came in on one, what got out of the other. */
struct drain_mark {
	__u64 in;  /* proxy_client tcpi_bytes_received: data, +1 once the FIN is in */
	__u64 out; /* proxy_backend tcpi_bytes_acked: data, +1 for the SYN (it connected) */
};

static int drain_mark(struct topo *t, struct drain_mark *m)
{
	struct tcp_info pc, pb;
	int err;

	err = tcp_info(t->proxy_client, &pc);
	if (!err)
		err = tcp_info(t->proxy_backend, &pb);
	if (err)
		return err;
	m->in = pc.tcpi_bytes_received;
	m->out = pb.tcpi_bytes_acked;
	return 0;
}

/*
 * Wait until every data byte proxy_client received since base has been acked on proxy_backend:
 * the drain condition strg can check before shutting the peer down. The FIN counts one.
 */
static int wait_drained(struct topo *t, const struct drain_mark *base, struct drain_mark *m)
{
	uint64_t deadline = now_ms() + IO_TIMEOUT_MS;
	int err;

	do {
		err = drain_mark(t, m);
		if (err)
			return err;
		if (m->out - base->out == m->in - base->in - 1)
			return 0;
		usleep(1000);
	} while (now_ms() < deadline);
	return -ETIMEDOUT;
}

/*
 * Fact: the splice does not forward a FIN. The proxy side sees it (POLLRDHUP, recv() == 0); the
 * backend sees EOF only once the proxy shuts down its own socket, and then after all the bytes.
 */
static int test_fin_not_forwarded(void)
{
	enum { LEN = 256 * 1024 };
	static uint8_t buf[LEN];
	struct fixture f;
	struct topo *t = &f.t;
	struct drain_mark base = {0}, m = {0};
	ssize_t n;
	short ev;
	int err;

	if (fixture_open_default(&f))
		return -1;
	err = -1;
	if (splice_pair(&f, false))
		goto out;
	if (drain_mark(t, &base) || base.in != 0 || base.out != 1) {
		failf("TCP_INFO before data: expected bytes_received 0 on proxy_client and "
		      "bytes_acked 1 (the SYN) on proxy_backend, saw %llu and %llu",
		      (unsigned long long)base.in, (unsigned long long)base.out);
		goto out;
	}
	pattern_fill(buf, LEN, 0);
	if (send_all(t->client_app, buf, LEN) || shutdown(t->client_app, SHUT_WR)) {
		failf("client send+shutdown: %s", strerror(errno));
		goto out;
	}
	n = recv_exact(t->backend_app, buf, LEN);
	if (n != LEN || pattern_mismatch(buf, LEN, 0) != LEN) {
		failf("backend_app: expected the %d bytes intact, got %zd", LEN, n);
		goto out;
	}
	ev = poll_one(t->backend_app, POLLIN | POLLRDHUP, QUIET_MS);
	if (ev) {
		failf("backend_app: expected no EOF within %d ms, poll revents 0x%x", QUIET_MS, ev);
		goto out;
	}
	ev = poll_one(t->proxy_client, POLLRDHUP, IO_TIMEOUT_MS);
	if (!(ev & POLLRDHUP)) {
		failf("proxy_client: expected POLLRDHUP, poll revents 0x%x", ev);
		goto out;
	}
	n = recv(t->proxy_client, buf, 1, MSG_DONTWAIT);
	if (n != 0) {
		failf("proxy_client: expected recv() == 0 (EOF), got %zd (%s)", n,
		      n < 0 ? strerror(errno) : "data");
		goto out;
	}
	if (wait_drained(t, &base, &m) || m.in - base.in != LEN + 1) {
		failf("drain: proxy_client bytes_received %llu -> %llu (want +%d: data + FIN), "
		      "proxy_backend bytes_acked %llu -> %llu (want +%d)",
		      (unsigned long long)base.in, (unsigned long long)m.in, LEN + 1,
		      (unsigned long long)base.out, (unsigned long long)m.out, LEN);
		goto out;
	}
	notef("proxy_client bytes_received %llu -> %llu, proxy_backend bytes_acked %llu -> %llu",
	      (unsigned long long)base.in, (unsigned long long)m.in, (unsigned long long)base.out,
	      (unsigned long long)m.out);
	if (shutdown(t->proxy_backend, SHUT_WR)) {
		failf("shutdown(proxy_backend): %s", strerror(errno));
		goto out;
	}
	n = recv(t->backend_app, buf, 1, 0);
	if (n != 0) {
		failf("backend_app after proxy shutdown: expected EOF, got %zd (%s)", n,
		      n < 0 ? strerror(errno) : "more data");
		goto out;
	}
	err = 0;
out:
	fixture_close(&f);
	return err;
}

/*
 * The peer's FIN reaches the verdict as an skb of no bytes, after the data before it: a verdict
 * that treats every call as bytes (a response head due, say) misreads the end of the connection.
 */
static int test_fin_runs_verdict_on_empty_skb(void)
{
	static const char reply[] = "HTTP/1.1 204 No Content\r\n\r\n";
	char buf[64];
	struct fixture f;
	struct topo *t = &f.t;
	ssize_t n;
	short ev;
	int err;

	if (fixture_open_default(&f))
		return -1;
	err = -1;
	if (splice_pair(&f, false))
		goto out;
	if (send_all(t->backend_app, reply, sizeof(reply) - 1)) {
		failf("backend send: %s", strerror(errno));
		goto out;
	}
	n = recv_exact(t->client_app, buf, sizeof(reply) - 1);
	if (n != (ssize_t)sizeof(reply) - 1 || counter(f.skel, FACTS_CALLS) != 1 ||
	    counter(f.skel, FACTS_EMPTY) != 0) {
		failf("the reply: client got %zd of %zu bytes, verdict calls %llu (empty %llu), "
		      "want all, 1 call, none empty",
		      n, sizeof(reply) - 1, (unsigned long long)counter(f.skel, FACTS_CALLS),
		      (unsigned long long)counter(f.skel, FACTS_EMPTY));
		goto out;
	}
	if (shutdown(t->backend_app, SHUT_WR)) {
		failf("shutdown(backend_app): %s", strerror(errno));
		goto out;
	}
	ev = poll_one(t->proxy_backend, POLLRDHUP, IO_TIMEOUT_MS);
	counter_wait(f.skel, FACTS_CALLS, 2);
	if (!(ev & POLLRDHUP) || counter(f.skel, FACTS_CALLS) != 2 ||
	    counter(f.skel, FACTS_EMPTY) != 1 ||
	    counter(f.skel, FACTS_BYTES) != sizeof(reply) - 1) {
		failf("after the backend's FIN: proxy_backend revents 0x%x, verdict calls %llu, "
		      "empty %llu, bytes %llu; want POLLRDHUP, 2 calls, 1 empty, %zu bytes",
		      ev, (unsigned long long)counter(f.skel, FACTS_CALLS),
		      (unsigned long long)counter(f.skel, FACTS_EMPTY),
		      (unsigned long long)counter(f.skel, FACTS_BYTES), sizeof(reply) - 1);
		goto out;
	}
	err = 0;
out:
	fixture_close(&f);
	return err;
}

/* Send one request with one send() and check the verdict saw it as one skb, head readable. */
static int check_small_request(struct fixture *f, size_t len, const char *method)
{
	char req[1400], buf[1400];
	__u64 head, want_head;
	ssize_t n;

	memset(req, 'x', len);
	memcpy(req, method, strlen(method));
	memcpy(req + len - 4, "\r\n\r\n", 4);
	memcpy(&want_head, req, sizeof(want_head));
	counters_reset(f->skel);
	if (send(f->t.client_app, req, len, 0) != (ssize_t)len)
		return failf("%zu B: client send: %s", len, strerror(errno));
	n = recv_exact(f->t.backend_app, buf, len);
	if (n != (ssize_t)len || memcmp(buf, req, len))
		return failf("%zu B: backend_app got %zd bytes or different content", len, n);
	if (counter(f->skel, FACTS_CALLS) != 1 || counter(f->skel, FACTS_MAX_LEN) != len)
		return failf("%zu B: expected 1 verdict call of skb->len %zu, saw %llu, max %llu",
			     len, len, (unsigned long long)counter(f->skel, FACTS_CALLS),
			     (unsigned long long)counter(f->skel, FACTS_MAX_LEN));
	head = counter(f->skel, FACTS_HEAD);
	if (head != want_head)
		return failf("%zu B: first 8 bytes read by the program: expected %.8s, saw %.8s",
			     len, (char *)&want_head, (char *)&head);
	if (counter(f->skel, FACTS_LINEAR_AFTER) != len)
		return failf("%zu B: linear bytes after bpf_skb_pull_data: expected %zu, saw %llu",
			     len, len, (unsigned long long)counter(f->skel, FACTS_LINEAR_AFTER));
	notef("%zu B: linear bytes before pull %llu, after %llu", len,
	      (unsigned long long)counter(f->skel, FACTS_LINEAR_BEFORE),
	      (unsigned long long)counter(f->skel, FACTS_LINEAR_AFTER));
	return 0;
}

/*
 * Fact: a small request sent with one send() reaches the verdict as one skb of exactly that size,
 * and the program can read its head (after bpf_skb_pull_data, with direct access).
 */
static int test_verdict_sees_whole_small_request(void)
{
	struct fixture f;
	int err;

	if (fixture_open_default(&f))
		return -1;
	err = splice_pair(&f, false);
	if (!err)
		err = check_small_request(&f, 1024, "GET /kib HTTP/1.1\r\n");
	if (!err)
		err = check_small_request(&f, 1400, "POST /mtu HTTP/1.1\r\n");
	fixture_close(&f);
	return err;
}

/* Reads fd until it stays quiet: DRAIN_OWED_MS while fewer than want bytes came, QUIET_MS
 * after (more than want would show). Returns the bytes read. */
static ssize_t drain_count(int fd, size_t *first_bad, size_t want)
{
	static uint8_t buf[CHUNK];
	size_t got = 0;

	*first_bad = SIZE_MAX;
	/* Bounded: 1M reads of up to 64 KiB is far more than any subtest sends. */
	for (int i = 0; i < 1000000; i++) {
		int quiet = got < want ? DRAIN_OWED_MS : QUIET_MS;
		ssize_t n;

		if (!(poll_one(fd, POLLIN, quiet) & (POLLIN | POLLHUP | POLLERR)))
			break;
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n <= 0)
			break;
		if (*first_bad == SIZE_MAX) {
			size_t bad = pattern_mismatch(buf, n, got);

			if (bad < (size_t)n)
				*first_bad = got + bad;
		}
		got += n;
	}
	return got;
}

/*
 * Bytes the TCP socket fd has taken from its psock so far: acked (minus the SYN) plus what sits
 * in its send queue. Waits until that stops moving, i.e. the send path is blocked.
 */
static int wait_settled(int fd, size_t *in_tcp)
{
	size_t prev = SIZE_MAX;

	for (int i = 0; i < IO_TIMEOUT_MS / 20; i++) {
		struct tcp_info ti;
		int outq, err;

		err = tcp_info(fd, &ti);
		if (err)
			return err;
		if (ioctl(fd, SIOCOUTQ, &outq))
			return -errno;
		*in_tcp = ti.tcpi_bytes_acked - 1 + outq;
		if (*in_tcp == prev)
			return 0;
		prev = *in_tcp;
		usleep(20 * 1000);
	}
	return -ETIMEDOUT;
}

/* Result of one map_delete_drops_queued run. */
struct drop_run {
	size_t sent;	  /* bytes client_app sent and the verdict redirected */
	size_t received;  /* bytes backend_app read after the delete */
	size_t first_bad; /* first offset that differs from the stream, SIZE_MAX if none */
	size_t in_tcp;	  /* bytes proxy_backend's TCP had taken (acked + SIOCOUTQ) at delete */
};

/*
 * Fill the backend path while backend_app does not read, so that redirected bytes pile up in
 * proxy_backend's psock queue, then delete one proxy socket from the sockhash and count what
 * backend_app eventually gets.
 */
static int drop_run(bool delete_target, struct drop_run *r)
{
	static const struct pair_opts client = {0};
	static const struct pair_opts backend = {.connector_sndbuf = 64 * 1024,
						 .acceptor_rcvbuf = 64 * 1024};
	enum { TOTAL = 8 * MIB };
	static uint8_t buf[CHUNK];
	struct fixture f;
	struct topo *t = &f.t;
	__u64 key;
	int ret, err;

	if (fixture_open(&f, &client, &backend))
		return -1;
	err = -1;
	if (splice_pair(&f, false))
		goto out;
	for (size_t off = 0; off < TOTAL; off += CHUNK) {
		pattern_fill(buf, CHUNK, off);
		if (send_all(t->client_app, buf, CHUNK)) {
			failf("client send at offset %zu: %s", off, strerror(errno));
			goto out;
		}
	}
	r->sent = counter_wait(f.skel, FACTS_BYTES, TOTAL);
	if (r->sent != TOTAL) {
		failf("verdict saw %zu of %d bytes before the delete", r->sent, TOTAL);
		goto out;
	}
	ret = wait_settled(t->proxy_backend, &r->in_tcp);
	if (ret) {
		failf("proxy_backend kept sending though backend_app does not read: %s",
		      strerror(-ret));
		goto out;
	}
	key = delete_target ? t->pb_cookie : t->pc_cookie;
	if (bpf_map_delete_elem(bpf_map__fd(f.skel->maps.socks), &key)) {
		failf("bpf_map_delete_elem: %s", strerror(errno));
		goto out;
	}
	/* Deleting the source keeps every byte (see below); the target, what its TCP took. */
	r->received =
		drain_count(t->backend_app, &r->first_bad, delete_target ? r->in_tcp : r->sent);
	err = 0;
out:
	fixture_close(&f);
	return err;
}

/*
 * Investigates: are redirected bytes that wait in the target's psock queue (the target cannot
 * send, its peer does not read) lost when a socket is deleted from the sockhash? Three runs per
 * variant; the assertions are the ones that held in every run (see README.md).
 */
static int test_map_delete_drops_queued(void)
{
	static const char *const name[] = {"delete source", "delete target"};
	struct drop_run r;

	for (int target = 0; target < 2; target++) {
		for (int rep = 0; rep < 3; rep++) {
			memset(&r, 0, sizeof(r));
			if (drop_run(target, &r))
				return -1;
			notef("%s run %d: sent %zu, at delete %zu in proxy_backend's TCP and %zu "
			      "in its psock queue, received %zu, lost %zu",
			      name[target], rep, r.sent, r.in_tcp, r.sent - r.in_tcp, r.received,
			      r.sent - r.received);
			if (r.first_bad != SIZE_MAX)
				return failf("%s: received bytes differ from the stream at %zu",
					     name[target], r.first_bad);
			if (target && r.received != r.in_tcp)
				return failf(
					"delete target: expected exactly the %zu bytes in TCP, "
					"received %zu",
					r.in_tcp, r.received);
			if (!target && r.received != r.sent)
				return failf("delete source: expected all %zu bytes, received %zu",
					     r.sent, r.received);
		}
	}
	return 0;
}

/* Fact: close() on a socket removes its sockhash entry, without user space deleting it. */
static int test_close_removes_entry(void)
{
	struct fixture f;
	struct topo *t = &f.t;
	int mfd, ret, err;
	__u64 val, key, next;
	int entries = 0;

	if (fixture_open_default(&f))
		return -1;
	err = -1;
	if (splice_pair(&f, false))
		goto out;
	mfd = bpf_map__fd(f.skel->maps.socks);
	/* A sockhash with 8-byte values returns the socket's cookie on lookup from user space. */
	if (bpf_map_lookup_elem(mfd, &t->pc_cookie, &val) || val != t->pc_cookie) {
		failf("lookup before close: expected the cookie %llu, got %s",
		      (unsigned long long)t->pc_cookie, strerror(errno));
		goto out;
	}
	close_fd(&t->proxy_client);
	ret = bpf_map_lookup_elem(mfd, &t->pc_cookie, &val);
	if (ret != -ENOENT) {
		failf("lookup after close: expected ENOENT, got %s",
		      ret ? strerror(-ret) : "an entry");
		goto out;
	}
	key = 0;
	for (void *prev = NULL;
	     entries < FACTS_MAX_SOCKS && !bpf_map_get_next_key(mfd, prev, &next); prev = &key) {
		key = next;
		entries++;
	}
	if (entries != 1 || key != t->pb_cookie) {
		failf("iteration after close: expected only proxy_backend, saw %d entries",
		      entries);
		goto out;
	}
	err = 0;
out:
	fixture_close(&f);
	return err;
}

/* Address of a kernel function from /proc/kallsyms, 0 when not listed or hidden. */
static __u64 kallsyms_addr(const char *name)
{
	char line[256], sym[128], type;
	unsigned long long addr;
	__u64 found = 0;
	FILE *f = fopen("/proc/kallsyms", "r");

	if (!f)
		return 0;
	while (!found && fgets(line, sizeof(line), f))
		if (sscanf(line, "%llx %c %127s", &addr, &type, sym) == 3 && !strcmp(sym, name))
			found = addr;
	fclose(f);
	return found;
}

/*
 * The kernel work that sends redirected skbs (sk_psock_backlog), traced at the workqueue's
 * execute_start tracepoint for one target socket: its runs per CPU.
 */
static int backlog_trace(struct backlog_bpf **skelp, int target)
{
	struct sockaddr_in sa;
	socklen_t salen = sizeof(sa);
	struct backlog_bpf *skel;
	struct stat st;
	int err;

	if (stat("/proc/self/ns/net", &st) || getsockname(target, (struct sockaddr *)&sa, &salen))
		return -errno;
	skel = backlog_bpf__open();
	if (!skel)
		return -errno;
	skel->rodata->target_netns = (__u32)st.st_ino;
	skel->rodata->backlog_fn = kallsyms_addr("sk_psock_backlog");
	err = backlog_bpf__load(skel);
	if (!err)
		err = backlog_bpf__attach(skel);
	if (err) {
		backlog_bpf__destroy(skel);
		return err;
	}
	skel->bss->target_port = ntohs(sa.sin_port);
	*skelp = skel;
	return 0;
}

static __u64 backlog_runs(const struct backlog_bpf *skel, int cpu)
{
	__u64 sum = skel->bss->runs_other;

	if (cpu >= 0)
		return cpu < BACKLOG_CPUS ? skel->bss->runs[cpu] : 0;
	for (int i = 0; i < BACKLOG_CPUS; i++)
		sum += skel->bss->runs[i];
	return sum;
}

static void backlog_reset(struct backlog_bpf *skel)
{
	memset(skel->bss->runs, 0, sizeof(skel->bss->runs));
	skel->bss->runs_other = 0;
}

/*
 * Redirected bytes are sent to their target by a kernel worker on the CPU the bytes arrived on:
 * with the backend's sends (and so, on loopback, their receive processing) pinned to one CPU,
 * every run of sk_psock_backlog for the client socket happens on that CPU. One busy backend
 * connection is one CPU's work for the kernel path, whatever other CPUs are idle.
 */
static int test_backlog_runs_on_receiving_cpu(void)
{
	struct backlog_bpf *trace = NULL;
	struct fixture f;
	cpu_set_t allowed, one;
	int cpus[2], ncpu = 0, err;

	if (sched_getaffinity(0, sizeof(allowed), &allowed))
		return failf("sched_getaffinity: %s", strerror(errno));
	for (int i = 0; i < CPU_SETSIZE && i < BACKLOG_CPUS && ncpu < 2; i++)
		if (CPU_ISSET(i, &allowed))
			cpus[ncpu++] = i;
	if (fixture_open_default(&f))
		return -1;
	err = splice_pair(&f, false);
	if (err) {
		err = failf("splice_pair: %s", strerror(-err));
		goto out;
	}
	err = backlog_trace(&trace, f.t.proxy_client);
	if (err) {
		err = failf("loading the tracer of sk_psock_backlog: %s", strerror(-err));
		goto out;
	}
	for (int i = 0; i < ncpu && !err; i++) {
		size_t bad;
		ssize_t got;
		__u64 total, here;

		CPU_ZERO(&one);
		CPU_SET(cpus[i], &one);
		if (sched_setaffinity(0, sizeof(one), &one)) {
			err = failf("sched_setaffinity(CPU %d): %s", cpus[i], strerror(errno));
			break;
		}
		backlog_reset(trace);
		got = stream_through(f.t.backend_app, f.t.client_app, 8 * MIB, &bad);
		total = backlog_runs(trace, -1);
		here = backlog_runs(trace, cpus[i]);
		notef("backend sending from CPU %d: %llu of %llu worker runs on CPU %d", cpus[i],
		      (unsigned long long)here, (unsigned long long)total, cpus[i]);
		if (got != 8 * MIB)
			err = failf("8 MiB backend->client from CPU %d: %zd bytes intact", cpus[i],
				    got);
		else if (!total)
			err = failf("no run of sk_psock_backlog traced for the client socket");
		else if (here * 10 < total * 9)
			err = failf("sending from CPU %d: only %llu of %llu worker runs there",
				    cpus[i], (unsigned long long)here, (unsigned long long)total);
	}
	sched_setaffinity(0, sizeof(allowed), &allowed);
out:
	backlog_bpf__destroy(trace);
	fixture_close(&f);
	return err;
}

/*
 * A target that cannot take more bytes (its send queue above half its buffer) is not woken up
 * when it can: the work retries it on a timer, one jiffy ahead, again and again. With the client
 * not reading and 4 MiB queued for it, the work runs steadily with nothing moving (measured: 126
 * runs per second at HZ=250, one every 8 ms); once the client reads, the bytes arrive whole. So a
 * stalled client costs a kernel wake-up every few milliseconds, and a resumed one waits for the
 * next retry.
 */
static int test_unwritable_target_polled_every_jiffy(void)
{
	static uint8_t buf[4 * MIB];
	struct backlog_bpf *trace = NULL;
	struct fixture f;
	uint64_t t0, t1;
	__u64 runs;
	ssize_t got;
	size_t bad;
	int err;

	if (fixture_open_default(&f))
		return -1;
	err = set_int_opt(f.t.proxy_client, SOL_SOCKET, SO_SNDBUF, 64 * 1024);
	if (!err)
		err = set_int_opt(f.t.client_app, SOL_SOCKET, SO_RCVBUF, 64 * 1024);
	if (!err)
		err = splice_pair(&f, false);
	if (err) {
		err = failf("setting up: %s", strerror(-err));
		goto out;
	}
	err = backlog_trace(&trace, f.t.proxy_client);
	if (err) {
		err = failf("loading the tracer of sk_psock_backlog: %s", strerror(-err));
		goto out;
	}
	pattern_fill(buf, sizeof(buf), 0);
	err = send_all(f.t.backend_app, buf, sizeof(buf));
	if (err) {
		err = failf("sending 4 MiB from the backend: %s", strerror(-err));
		goto out;
	}
	usleep(200 * 1000); /* the buffers fill, the worker starts retrying */
	backlog_reset(trace);
	t0 = now_ms();
	usleep(500 * 1000);
	runs = backlog_runs(trace, -1);
	t1 = now_ms();
	notef("%llu worker runs in %llu ms while the client read nothing (%.0f per second)",
	      (unsigned long long)runs, (unsigned long long)(t1 - t0),
	      runs * 1000.0 / (double)(t1 - t0 ? t1 - t0 : 1));
	if (runs < 10 || runs > 2 * (t1 - t0)) {
		err = failf("%llu runs of sk_psock_backlog in %llu ms with the target unwritable, "
			    "want a steady retry (10 or more, at most 2 per ms)",
			    (unsigned long long)runs, (unsigned long long)(t1 - t0));
		goto out;
	}
	memset(buf, 0, sizeof(buf));
	got = recv_exact(f.t.client_app, buf, sizeof(buf));
	bad = got > 0 ? pattern_mismatch(buf, (size_t)got, 0) : 0;
	if (got != (ssize_t)sizeof(buf) || bad != sizeof(buf))
		err = failf("the client read %zd of 4 MiB once it read (first wrong byte at %zu)",
			    got, bad);
out:
	backlog_bpf__destroy(trace);
	fixture_close(&f);
	return err;
}

/* Bytes written into a TCP socket so far: acknowledged, plus still in its send queue. */
static int bytes_written(int fd, __u64 *n)
{
	struct tcp_info ti;
	int outq = 0, err;

	err = tcp_info(fd, &ti);
	if (err)
		return err;
	if (ioctl(fd, SIOCOUTQ, &outq))
		return -errno;
	*n = ti.tcpi_bytes_acked + (__u64)outq;
	return 0;
}

static const char own_mark[] = "OWN!"; /* what the proxy itself sends after the redirect */

/* The proxy's own send of own_mark, when it may go: 1 sent, 0 not yet (full), -1 failed. */
static int own_send(struct fixture *f, bool wait, __u64 want)
{
	const size_t mlen = sizeof(own_mark) - 1;
	__u64 n = 0;
	ssize_t r;

	if (wait && (bytes_written(f->t.proxy_client, &n) || n < want))
		return 0;
	r = send(f->t.proxy_client, own_mark, mlen, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (r == (ssize_t)mlen)
		return 1;
	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	return failf("proxy_client's own send: %zd (%s)", r, r < 0 ? strerror(errno) : "short");
}

/*
 * One round of own_send_overtakes_redirect: the backend sends len pattern bytes (from stream
 * offset *off), more than the client's buffers hold, which the splice redirects to the client;
 * the client reads a little at a time while proxy_client tries to send own_mark itself, at once
 * or (wait) once bytes_written() says the redirected bytes are all in it (*want: the count it
 * must reach). 1: the client read the mark before the end of the redirected bytes; 0: after
 * them, in order; -1: failed (FAIL printed).
 */
static int overtake_round(struct fixture *f, uint8_t *buf, size_t len, uint64_t *off, bool wait,
			  __u64 *want)
{
	const size_t mlen = sizeof(own_mark) - 1, all = len + mlen;
	uint64_t deadline = now_ms() + 5 * IO_TIMEOUT_MS;
	size_t got = 0;
	ssize_t n;
	int sent = 0, err;

	pattern_fill(buf, len, *off);
	err = send_all(f->t.backend_app, buf, len);
	if (err)
		return failf("the backend's send: %s", strerror(-err));
	*want += len;
	usleep(50 * 1000); /* the client's buffers fill, the rest waits in the psock queue */
	while (got < all) {
		if (!sent && (sent = own_send(f, wait, *want)) < 0)
			return -1;
		n = recv(f->t.client_app, buf + got, (sent ? all : all - mlen) - got, MSG_DONTWAIT);
		if (n > 0) {
			got += (size_t)n;
			continue;
		}
		if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
			return failf("the client's read after %zu of %zu bytes: %s", got, all,
				     n ? strerror(errno) : "EOF");
		if (now_ms() > deadline)
			return failf("the client read %zu of %zu bytes (own mark %s)", got, all,
				     sent ? "sent" : "not sent");
		usleep(100);
	}
	*want += mlen;
	*off += len;
	return !(pattern_mismatch(buf, len, *off - len) == len &&
		 !memcmp(buf + len, own_mark, mlen));
}

/*
 * Fact: a send of the proxy's own on a socket the splice redirects to can overtake bytes the
 * verdict redirected before it. They wait in the target's psock queue for the backlog work,
 * which retries a full socket on a timer (unwritable_target_polled_every_jiffy), while the own
 * send goes into the socket as soon as it has room. Once bytes_written() (tcpi_bytes_acked +
 * SIOCOUTQ) of the target counts them all, they are in its send queue and the own send lands
 * after them. Each round: 1 MiB from the backend to a client with 64 KiB buffers that reads
 * as it can, and 4 bytes of the proxy's own; the client checks the order. The unchecked send
 * must overtake at least once (else this fact no longer holds and the check costs for
 * nothing); the checked one never.
 */
static int test_own_send_overtakes_redirect(void)
{
	enum { LEN = 1 * MIB, ROUNDS = 10 };
	static uint8_t buf[LEN + 16];
	unsigned overtaken[2] = {0, 0};
	uint64_t off = 0;
	__u64 want = 0;
	struct fixture f;
	int err, r;

	if (fixture_open_default(&f))
		return -1;
	err = set_int_opt(f.t.proxy_client, SOL_SOCKET, SO_SNDBUF, 64 * 1024);
	if (!err)
		err = set_int_opt(f.t.client_app, SOL_SOCKET, SO_RCVBUF, 64 * 1024);
	if (!err)
		err = splice_pair(&f, false);
	if (!err)
		err = bytes_written(f.t.proxy_client, &want);
	if (err) {
		err = failf("setting up: %s", strerror(-err));
		goto out;
	}
	for (int wait = 0; wait < 2; wait++) {
		for (int i = 0; i < ROUNDS; i++) {
			r = overtake_round(&f, buf, LEN, &off, wait, &want);
			if (r < 0) {
				err = -1;
				goto out;
			}
			overtaken[wait] += (unsigned)r;
		}
	}
	notef("own send as soon as the socket had room: overtook the redirected bytes in %u of "
	      "%d rounds",
	      overtaken[0], ROUNDS);
	if (overtaken[1] || !overtaken[0])
		err = failf("own send overtook the redirected bytes in %u of %d rounds at once, in "
			    "%u of %d after bytes_written() counted them; want 1 or more, and 0",
			    overtaken[0], ROUNDS, overtaken[1], ROUNDS);
out:
	fixture_close(&f);
	return err;
}

/* Private network namespace with lo up, so the tests need no addresses and leave nothing behind. */
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

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static const struct subtest subtests[] = {
	{"bytes_before_insert_stay_queued", test_bytes_before_insert_stay_queued},
	{"recv_after_insert_redirects_queued", test_recv_after_insert_redirects_queued},
	{"recv_after_insert_with_pass_returns_queued",
	 test_recv_after_insert_with_pass_returns_queued},
	{"early_bytes_flushed_by_next_arrival", test_early_bytes_flushed_by_next_arrival},
	{"redirect_after_insert_byte_exact", test_redirect_after_insert_byte_exact},
	{"sk_pass_goes_to_own_queue", test_sk_pass_goes_to_own_queue},
	{"fin_not_forwarded", test_fin_not_forwarded},
	{"fin_runs_verdict_on_empty_skb", test_fin_runs_verdict_on_empty_skb},
	{"verdict_sees_whole_small_request", test_verdict_sees_whole_small_request},
	{"map_delete_drops_queued", test_map_delete_drops_queued},
	{"close_removes_entry", test_close_removes_entry},
	{"backlog_runs_on_receiving_cpu", test_backlog_runs_on_receiving_cpu},
	{"unwritable_target_polled_every_jiffy", test_unwritable_target_polled_every_jiffy},
	{"own_send_overtakes_redirect", test_own_send_overtakes_redirect},
};

/*
 * Whether the kernel can attach an sk_skb verdict to a sockhash at all (BPF_SK_SKB_VERDICT came
 * in 5.13): the smallest such program, "return SK_PASS", loaded and attached by hand. Only this
 * probe decides a skip; any other failure to load or attach the real program is a failure.
 */
static int probe_verdict_attach(void)
{
	const struct bpf_insn pass[] = {
		{.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = SK_PASS},
		{.code = BPF_JMP | BPF_EXIT},
	};
	int map, prog, err = 0;

	map = bpf_map_create(BPF_MAP_TYPE_SOCKHASH, NULL, sizeof(__u64), sizeof(__u64), 1, NULL);
	if (map < 0)
		return -errno;
	prog = bpf_prog_load(BPF_PROG_TYPE_SK_SKB, NULL, "GPL", pass, 2, NULL);
	if (prog < 0) {
		err = -errno;
		goto out_map;
	}
	if (bpf_prog_attach(prog, map, BPF_SK_SKB_VERDICT, 0))
		err = -errno;
	close(prog);
out_map:
	close(map);
	return err;
}

int main(void)
{
	struct facts_bpf *probe = NULL;
	int err;

	setvbuf(stdout, NULL, _IOLBF, 0);
	libbpf_set_print(libbpf_quiet);
	err = probe_verdict_attach();
	if (err == -EINVAL || err == -EOPNOTSUPP) {
		printf("SKIP splice_facts: the kernel cannot attach an sk_skb verdict to a "
		       "sockhash: "
		       "%s\n",
		       strerror(-err));
		return KSFT_SKIP;
	}
	if (err) {
		printf("FAIL splice_facts: probe of sk_skb verdicts: %s\n", strerror(-err));
		return 1;
	}
	err = netns_enter();
	if (err) {
		printf("FAIL splice_facts: network namespace with lo up: %s\n", strerror(-err));
		return 1;
	}
	err = facts_load(&probe);
	if (err) {
		printf("FAIL splice_facts: loading and attaching progs/facts.bpf.c: %s\n",
		       strerror(-err));
		return 1;
	}
	facts_bpf__destroy(probe);
	return run_subtests("splice_facts", subtests, sizeof(subtests) / sizeof(subtests[0]));
}
