// SPDX-License-Identifier: GPL-2.0-only
/*
 * Pins the io_uring features strgd's event loops ask for (lib/ring.c) on this kernel, and the
 * rules they rest on: a single-issuer ring takes submissions from one thread only (so a worker's
 * ring is enabled on the worker's own thread), other threads still wake it with msg_ring (the
 * metrics, saver and store threads do), and without the features a ring works as before; and
 * what strgd's splice of bulk bodies through a pipe relies on (one splice at a time).
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/ring.h"
#include "ktest.h"

#define ENTRIES 8

/* Submit a nop tagged 42 and reap it: 0, or -errno of the submission or the completion. */
static int nop_round(struct io_uring *ring)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	struct io_uring_cqe *cqe;
	int err;

	io_uring_prep_nop(sqe);
	io_uring_sqe_set_data64(sqe, 42);
	err = io_uring_submit_and_wait(ring, 1);
	if (err < 0)
		return err;
	err = io_uring_peek_cqe(ring, &cqe);
	if (err)
		return err;
	err = cqe->user_data == 42 ? cqe->res : -EPROTO;
	io_uring_cqe_seen(ring, cqe);
	return err;
}

struct driver {
	struct io_uring *ring;
	unsigned want, feat;
	int start_err, nop_err;
};

/* A worker's thread: start the ring it was given and use it. */
static void *drive(void *arg)
{
	struct driver *d = arg;

	d->start_err = ring_start(d->ring, d->want, &d->feat);
	d->nop_err = d->start_err ? 0 : nop_round(d->ring);
	return NULL;
}

static int drive_on_thread(struct driver *d)
{
	pthread_t t;

	if (pthread_create(&t, NULL, drive, d))
		return failf("pthread_create failed");
	pthread_join(t, NULL);
	if (d->start_err)
		return failf("ring_start: %s", strerror(-d->start_err));
	if (d->nop_err)
		return failf("nop on the starting thread: %s", strerror(-d->nop_err));
	return 0;
}

/* This kernel (6.1 and later) takes every feature strgd asks for. */
static int test_features_on_this_kernel(void)
{
	struct io_uring ring;
	struct driver d = {.ring = &ring, .want = RING_F_ALL};
	char text[96];
	int err = ring_open(&ring, ENTRIES, RING_F_ALL, true, &d.feat);

	if (err)
		return failf("ring_open: %s", strerror(-err));
	err = drive_on_thread(&d);
	notef("%s", ring_feature_text(d.feat, text, sizeof(text)));
	if (!err && (d.feat & (RING_F_SINGLE_ISSUER | RING_F_DEFER_TASKRUN | RING_F_REG_FD)) !=
			    (RING_F_SINGLE_ISSUER | RING_F_DEFER_TASKRUN | RING_F_REG_FD))
		err = failf("features on: %s, expected single-issuer,defer-taskrun,registered-fd",
			    text);
	io_uring_queue_exit(&ring);
	return err;
}

/*
 * Once a thread enabled a single-issuer ring, another thread's submission is refused; and a
 * registered ring descriptor is the registering thread's alone (another thread's enter with it
 * fails with EBADF). Both are why each worker starts its own ring on its own thread.
 */
static int other_thread_enters(unsigned want, int expect)
{
	struct io_uring ring;
	struct driver d = {.ring = &ring, .want = want};
	int err = ring_open(&ring, ENTRIES, RING_F_ALL, true, &d.feat);

	if (err)
		return failf("ring_open: %s", strerror(-err));
	err = drive_on_thread(&d);
	if (!err) {
		int other = nop_round(&ring);

		if (other != expect)
			err = failf("want %#x: a submission from another thread gave %d, "
				    "expected %d",
				    want, other, expect);
	}
	io_uring_queue_exit(&ring);
	return err;
}

static int test_single_issuer_refuses_other_threads(void)
{
	if (other_thread_enters(RING_F_ALL & ~RING_F_REG_FD, -EEXIST))
		return -1;
	return other_thread_enters(RING_F_ALL, -EBADF);
}

/* Another thread's msg_ring reaches a defer-taskrun ring waiting on its own thread. */
static void *send_msg(void *arg)
{
	struct io_uring *target = arg, own;
	struct io_uring_sqe *sqe;

	if (io_uring_queue_init(2, &own, 0))
		return NULL;
	usleep(20000); /* let the target's thread wait first */
	sqe = io_uring_get_sqe(&own);
	io_uring_prep_msg_ring(sqe, target->ring_fd, 0, 7, 0);
	io_uring_submit_and_wait(&own, 1);
	io_uring_queue_exit(&own);
	return NULL;
}

static int test_msg_ring_wakes_a_defer_taskrun_ring(void)
{
	struct io_uring ring;
	struct io_uring_cqe *cqe;
	pthread_t t;
	unsigned feat;
	int err = ring_open(&ring, ENTRIES, RING_F_ALL, false, &feat);

	if (err)
		return failf("ring_open: %s", strerror(-err));
	if (!err)
		err = ring_start(&ring, RING_F_ALL, &feat);
	if (!err && pthread_create(&t, NULL, send_msg, &ring))
		err = -EAGAIN;
	if (err) {
		io_uring_queue_exit(&ring);
		return failf("setting up: %s", strerror(-err));
	}
	err = io_uring_wait_cqe(&ring, &cqe);
	if (!err) {
		if (cqe->user_data != 7)
			err = failf("the message came with user_data %llu, expected 7",
				    (unsigned long long)cqe->user_data);
		io_uring_cqe_seen(&ring, cqe);
	} else {
		err = failf("waiting: %s", strerror(-err));
	}
	pthread_join(t, NULL);
	io_uring_queue_exit(&ring);
	return err;
}

/* With the features not asked for, the ring is a plain one and works (the fallback). */
static int test_fallback_without_features(void)
{
	static const unsigned wants[] = {0, RING_F_COOP_TASKRUN};

	for (size_t i = 0; i < sizeof(wants) / sizeof(wants[0]); i++) {
		struct io_uring ring;
		unsigned feat;
		int err = ring_open(&ring, ENTRIES, wants[i], false, &feat);

		if (err)
			return failf("ring_open(want %#x): %s", wants[i], strerror(-err));
		if (!err)
			err = ring_start(&ring, wants[i], &feat);
		if (!err)
			err = nop_round(&ring);
		io_uring_queue_exit(&ring);
		if (err)
			return failf("want %#x: %s", wants[i], strerror(-err));
		if (feat != wants[i])
			return failf("want %#x: features %#x", wants[i], feat);
	}
	return 0;
}

/* The words of ring_feature_text read back by ring_feature_parse, for every set of features. */
static int test_feature_words_round_trip(void)
{
	char text[128];
	unsigned back;

	for (unsigned feat = 1; feat <= RING_F_ALL; feat++) {
		ring_feature_text(feat, text, sizeof(text));
		if (ring_feature_parse(text, &back) || back != feat)
			return failf("%#x -> '%s' -> %#x", feat, text, back);
	}
	if (ring_feature_parse("splice,turbo", &back) != -EINVAL)
		return failf("'splice,turbo' was taken");
	if (ring_feature_parse("", &back) || back)
		return failf("'' gave %#x", back);
	return 0;
}

/* ---- splice through a pipe (limit splice-body) ---- */

/* A connected TCP pair over 127.0.0.1: fd[0] is strgd's end, fd[1] the peer's. */
static int tcp_pair(int fd[2])
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), err = 0;

	fd[0] = fd[1] = -1;
	if (l < 0)
		return -errno;
	if (bind(l, (struct sockaddr *)&a, sizeof(a)) || listen(l, 1) ||
	    getsockname(l, (struct sockaddr *)&a, &len))
		err = -errno;
	if (!err && (fd[1] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		err = -errno;
	if (!err && connect(fd[1], (struct sockaddr *)&a, sizeof(a)))
		err = -errno;
	if (!err && (fd[0] = accept4(l, NULL, NULL, SOCK_CLOEXEC)) < 0)
		err = -errno;
	close(l);
	return err;
}

static void prep_splice(struct io_uring *ring, int in, int out, unsigned len, uint64_t tag)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

	io_uring_prep_splice(sqe, in, -1, out, -1, len, SPLICE_F_MOVE);
	io_uring_sqe_set_data64(sqe, tag);
}

/* The next completion within ms (0: none came): its tag in *tag, its result returned. */
static int reap(struct io_uring *ring, unsigned ms, uint64_t *tag)
{
	struct __kernel_timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000ll};
	struct io_uring_cqe *cqe;
	int res;

	*tag = 0;
	if (io_uring_wait_cqe_timeout(ring, &cqe, &ts))
		return 0;
	*tag = cqe->user_data;
	res = cqe->res;
	io_uring_cqe_seen(ring, cqe);
	return res;
}

struct splice_rig {
	struct io_uring ring;
	int sock[2], out[2], pipe[2];
};

static int rig_open(struct splice_rig *r)
{
	int err = io_uring_queue_init(8, &r->ring, 0);

	r->sock[0] = r->sock[1] = r->out[0] = r->out[1] = r->pipe[0] = r->pipe[1] = -1;
	if (err)
		return err;
	err = tcp_pair(r->sock);
	if (!err)
		err = tcp_pair(r->out);
	if (!err && pipe2(r->pipe, O_CLOEXEC))
		err = -errno;
	return err;
}

static void rig_close(struct splice_rig *r)
{
	int *fds[] = {r->sock, r->out, r->pipe};

	for (unsigned i = 0; i < 3; i++)
		for (unsigned j = 0; j < 2; j++)
			if (fds[i][j] >= 0)
				close(fds[i][j]);
	io_uring_queue_exit(&r->ring);
}

/*
 * A splice from a socket into a pipe that waits for the socket's bytes holds the pipe's lock:
 * a splice out of the same pipe, bytes in it, completes only once the first one has its bytes.
 * So strgd runs one splice of a body at a time (exchange.c, pipe_pump).
 */
static int test_splice_in_holds_the_pipe(void)
{
	struct splice_rig r;
	char buf[1000] = {0};
	uint64_t tag;
	int err = rig_open(&r), res;

	if (err) {
		rig_close(&r);
		return failf("setting up: %s", strerror(-err));
	}
	err = -1;
	if (write(r.sock[1], buf, sizeof(buf)) != sizeof(buf))
		goto out;
	prep_splice(&r.ring, r.sock[0], r.pipe[1], 65536, 1);
	io_uring_submit(&r.ring);
	res = reap(&r.ring, 2000, &tag);
	if (tag != 1 || res != sizeof(buf)) {
		failf("first splice in: %d (tag %llu), want %zu", res, (unsigned long long)tag,
		      sizeof(buf));
		goto out;
	}
	prep_splice(&r.ring, r.sock[0], r.pipe[1], 65536, 2); /* waits: nothing more sent yet */
	prep_splice(&r.ring, r.pipe[0], r.out[0], sizeof(buf), 3);
	io_uring_submit(&r.ring);
	res = reap(&r.ring, 300, &tag);
	if (tag) {
		failf("a completion (tag %llu, %d) while the splice in waited: the splice out did "
		      "not wait for the pipe",
		      (unsigned long long)tag, res);
		goto out;
	}
	if (write(r.sock[1], buf, 10) != 10)
		goto out;
	res = reap(&r.ring, 2000, &tag);
	if (tag != 2 || res != 10) {
		failf("after 10 more bytes: tag %llu %d, want the splice in with 10",
		      (unsigned long long)tag, res);
		goto out;
	}
	res = reap(&r.ring, 2000, &tag);
	if (tag != 3 || res != sizeof(buf)) {
		failf("then: tag %llu %d, want the splice out with %zu", (unsigned long long)tag,
		      res, sizeof(buf));
		goto out;
	}
	err = 0;
out:
	rig_close(&r);
	return err;
}

/* 4 MiB of a pattern, socket -> pipe -> socket one splice at a time, arrive byte-exact. */
static int test_splice_moves_bytes_exactly(void)
{
	enum { TOTAL = 4 << 20 };
	static unsigned char want[TOTAL], got[TOTAL];
	struct splice_rig r;
	size_t sent = 0, moved = 0, recvd = 0;
	uint64_t tag;
	int err = rig_open(&r);

	for (size_t i = 0; i < TOTAL; i++)
		want[i] = (unsigned char)(i * 2654435761u >> 13);
	if (err) {
		rig_close(&r);
		return failf("setting up: %s", strerror(-err));
	}
	fcntl(r.sock[1], F_SETFL, O_NONBLOCK);
	fcntl(r.out[1], F_SETFL, O_NONBLOCK);
	while (recvd < TOTAL && !err) {
		ssize_t n = sent < TOTAL ? write(r.sock[1], want + sent, TOTAL - sent) : 0;
		int res;

		sent += n > 0 ? (size_t)n : 0;
		if (moved < sent) {
			prep_splice(&r.ring, r.sock[0], r.pipe[1], 1 << 16, 1);
			io_uring_submit(&r.ring);
			res = reap(&r.ring, 2000, &tag);
			if (res <= 0)
				err = failf("splice in: %d after %zu bytes", res, moved);
			prep_splice(&r.ring, r.pipe[0], r.out[0], res > 0 ? (unsigned)res : 0, 2);
			io_uring_submit(&r.ring);
			if (!err && reap(&r.ring, 2000, &tag) != res)
				err = failf("splice out of %d bytes fell short", res);
			moved += res > 0 ? (size_t)res : 0;
		}
		while ((n = read(r.out[1], got + recvd, TOTAL - recvd)) > 0)
			recvd += (size_t)n;
	}
	if (!err && memcmp(got, want, TOTAL))
		err = failf("the bytes that came out differ from those sent");
	rig_close(&r);
	return err;
}

int main(void)
{
	static const struct subtest tests[] = {
		{"uring_features_on_this_kernel", test_features_on_this_kernel},
		{"uring_single_issuer_refuses_other_threads",
		 test_single_issuer_refuses_other_threads},
		{"uring_msg_ring_wakes_a_defer_taskrun_ring",
		 test_msg_ring_wakes_a_defer_taskrun_ring},
		{"uring_fallback_without_features", test_fallback_without_features},
		{"uring_feature_words_round_trip", test_feature_words_round_trip},
		{"uring_splice_in_holds_the_pipe", test_splice_in_holds_the_pipe},
		{"uring_splice_moves_bytes_exactly", test_splice_moves_bytes_exactly},
	};

	return run_subtests("uring", tests, sizeof(tests) / sizeof(tests[0]));
}
