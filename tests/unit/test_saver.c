// SPDX-License-Identifier: GPL-2.0-only
/* Unit tests of the state file's writer thread: latest text wins, status, flush at close, wake. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <liburing.h>

#include "lib/ring.h"
#include "control/saver.h"

static char dir[] = "/tmp/strg-saver-test.XXXXXX";

static char *read_file(const char *path)
{
	static char buf[256];
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void test_writes_latest_and_wakes(void **state)
{
	struct io_uring ring;
	struct io_uring_cqe *cqe;
	struct __kernel_timespec ts = {.tv_sec = 5};
	struct saver *sv;
	char path[128];

	(void)state;
	assert_int_equal(io_uring_queue_init(8, &ring, 0), 0);
	sv = saver_open(ring.ring_fd);
	assert_non_null(sv);
	snprintf(path, sizeof(path), "%s/state", dir);
	saver_submit(sv, path, strdup("one\n"), 4, 2);
	/* Worker 0's ring hears of the write: an ACK. */
	assert_int_equal(io_uring_wait_cqe_timeout(&ring, &cqe, &ts), 0);
	assert_int_equal(ring_tag_op(cqe->user_data), RING_OP_ACK);
	io_uring_cqe_seen(&ring, cqe);
	assert_int_equal(saver_status(sv, 2), 0);
	assert_int_equal(saver_status(sv, 1), 0); /* earlier texts are in it */
	assert_int_equal(saver_status(sv, 3), 1); /* not submitted yet */
	assert_string_equal(read_file(path), "one\n");
	/* Many texts in a row: the last one is on disk at the latest when the saver closes. */
	for (int i = 3; i < 50; i++) {
		char text[16];
		int n = snprintf(text, sizeof(text), "gen %d\n", i);

		saver_submit(sv, path, strdup(text), (size_t)n, (uint64_t)i);
		assert_true(saver_status(sv, (uint64_t)i) >= 0);
	}
	saver_close(sv);
	assert_string_equal(read_file(path), "gen 49\n");
	unlink(path);
	io_uring_queue_exit(&ring);
}

static void test_a_failed_write_is_reported(void **state)
{
	struct io_uring ring;
	struct saver *sv;
	char dir_file[128];

	(void)state;
	assert_int_equal(io_uring_queue_init(8, &ring, 0), 0);
	sv = saver_open(ring.ring_fd);
	assert_non_null(sv);
	snprintf(dir_file, sizeof(dir_file), "%s/later", dir);
	saver_submit(sv, "/proc/strg-no-such-dir/state", strdup("x\n"), 2, 2);
	for (int i = 0; i < 500 && saver_status(sv, 2) == 1; i++)
		usleep(10000);
	/* This text's own write failed: its status says so, not a later or an earlier one's. */
	assert_int_equal(saver_status(sv, 2), -ENOENT);
	saver_submit(sv, dir_file, strdup("y\n"), 2, 3);
	for (int i = 0; i < 500 && saver_status(sv, 3) == 1; i++)
		usleep(10000);
	assert_int_equal(saver_status(sv, 3), 0);
	assert_int_equal(saver_status(sv, 2), 0); /* on disk now, in the later text */
	saver_close(sv);
	unlink(dir_file);
	io_uring_queue_exit(&ring);
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	return rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_writes_latest_and_wakes),
		cmocka_unit_test(test_a_failed_write_is_reported),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
