// SPDX-License-Identifier: GPL-2.0-only
/*
 * Pins the io_uring features strgd's event loops ask for (lib/ring.c) on this kernel, and the
 * rules they rest on: a single-issuer ring takes submissions from one thread only (so a worker's
 * ring is enabled on the worker's own thread), other threads still wake it with msg_ring (the
 * metrics, saver and store threads do), and without the features a ring works as before.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
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

int main(void)
{
	static const struct subtest tests[] = {
		{"uring_features_on_this_kernel", test_features_on_this_kernel},
		{"uring_single_issuer_refuses_other_threads",
		 test_single_issuer_refuses_other_threads},
		{"uring_msg_ring_wakes_a_defer_taskrun_ring", test_msg_ring_wakes_a_defer_taskrun_ring},
		{"uring_fallback_without_features", test_fallback_without_features},
	};

	return run_subtests("uring", tests, sizeof(tests) / sizeof(tests[0]));
}
