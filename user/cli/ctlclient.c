// SPDX-License-Identifier: GPL-2.0-only
/* strgctl's side of the control socket (ctlclient.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli/ctlclient.h"
#include "lib/grow.h"

/* The whole line, however the socket takes it; -1 with errno on failure. */
static int send_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

int ctl_call(const char *sock, const char *line, char **reply)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	size_t len = 0, cap = 65536;
	char *buf = malloc(cap), *more;
	ssize_t n = 0;
	int fd, ret = EXIT_UNREACHABLE;

	*reply = NULL;
	if (!buf) {
		fprintf(stderr, "strgctl: out of memory\n");
		return EXIT_REFUSED;
	}
	if (strlen(sock) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "strgctl: socket path too long: %s\n", sock);
		free(buf);
		return EXIT_USAGE;
	}
	strcpy(sun.sun_path, sock);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		fprintf(stderr, "strgctl: cannot reach strgd at %s: %s\n", sock, strerror(errno));
		if (fd >= 0)
			close(fd);
		goto out;
	}
	/*
	 * strgd may refuse the connection (too many at once) and close it before the command is
	 * written: no SIGPIPE (exit codes are 0-3 only), and its reason is read all the same.
	 */
	if (send_all(fd, line, strlen(line)) < 0 && errno != EPIPE && errno != ECONNRESET) {
		fprintf(stderr, "strgctl: %s: %s\n", sock, strerror(errno));
		close(fd);
		goto out;
	}
	/* A reply of any size: read until strgd closes. */
	for (;;) {
		more = grow_array(buf, &cap, len + 2, 1, cap);
		if (!more)
			break;
		buf = more;
		n = read(fd, buf + len, cap - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	if (!strncmp(buf, "error: ", 7) && strchr(buf, '\n')) {
		ret = EXIT_REFUSED; /* its reason is whole, even if a reset came after it */
	} else if (n < 0 && !len) {
		fprintf(stderr, "strgctl: strgd at %s closed the connection unanswered: %s\n", sock,
			strerror(errno));
	} else if (n < 0 || len + 1 == cap) {
		fprintf(stderr, "strgctl: reply from strgd cut short: %s\n",
			n < 0 ? strerror(errno) : "out of memory");
		ret = EXIT_REFUSED;
	} else if (!strncmp(buf, "ok\n", 3)) {
		ret = EXIT_OK;
	} else if (!strncmp(buf, "error: ", 7)) {
		ret = EXIT_REFUSED;
	} else {
		fprintf(stderr, "strgctl: strgd gave no answer\n");
	}
out:
	*reply = buf;
	return ret;
}
