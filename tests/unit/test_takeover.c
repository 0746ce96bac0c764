// SPDX-License-Identifier: GPL-2.0-only
/* Unit tests of the restart's handover message: sockets across a socket pair, and refusals. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/takeover.h"

/* The same socket on both ends: same inode. */
static void assert_same_socket(int a, int b)
{
	struct stat sa, sb;

	assert_int_equal(fstat(a, &sa), 0);
	assert_int_equal(fstat(b, &sb), 0);
	assert_true(S_ISSOCK(sb.st_mode));
	assert_int_equal(sa.st_ino, sb.st_ino);
	assert_int_not_equal(a, b);
}

static void test_sockets_cross_whole(void **state)
{
	struct takeover_fds out = {.nlisten = 3, .ctl = -1, .metrics = -1}, in;
	int sv[2];
	char err[256];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	for (unsigned i = 0; i < 3; i++)
		out.listen[i] = socket(AF_INET, SOCK_STREAM, 0);
	out.ctl = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(takeover_send(sv[0], &out), 0);
	assert_int_equal(takeover_receive(sv[1], &in, err, sizeof(err)), 0);
	assert_int_equal(in.nlisten, 3);
	for (unsigned i = 0; i < 3; i++)
		assert_same_socket(out.listen[i], in.listen[i]);
	assert_same_socket(out.ctl, in.ctl);
	assert_int_equal(in.metrics, -1);
	/* Received close-on-exec: the successor's own children do not inherit them. */
	assert_true(fcntl(in.listen[0], F_GETFD) & FD_CLOEXEC);
	for (unsigned i = 0; i < 3; i++) {
		close(out.listen[i]);
		close(in.listen[i]);
	}
	close(out.ctl);
	close(in.ctl);
	close(sv[0]);
	close(sv[1]);
}

static void test_refuses_what_is_not_a_handover(void **state)
{
	struct takeover_fds in;
	int sv[2];
	char err[256];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(write(sv[0], "hello\n", 6), 6);
	assert_int_equal(takeover_receive(sv[1], &in, err, sizeof(err)), -EPROTO);
	assert_non_null(strstr(err, "not a handover"));
	close(sv[0]);
	assert_int_equal(takeover_receive(sv[1], &in, err, sizeof(err)), -EPIPE);
	assert_non_null(strstr(err, "closed"));
	close(sv[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sockets_cross_whole),
		cmocka_unit_test(test_refuses_what_is_not_a_handover),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
