// SPDX-License-Identifier: GPL-2.0-only
/* strgctl's side of the control socket (ctlclient.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctlclient.h"

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
	if (write(fd, line, strlen(line)) != (ssize_t)strlen(line)) {
		fprintf(stderr, "strgctl: %s: %s\n", sock, strerror(errno));
		close(fd);
		goto out;
	}
	/* A reply of any size: read until strgd closes. */
	for (;;) {
		if (len + 1 == cap) {
			more = realloc(buf, cap * 2);
			if (!more)
				break;
			buf = more;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	if (n < 0 || len + 1 == cap) {
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
