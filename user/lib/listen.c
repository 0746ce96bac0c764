// SPDX-License-Identifier: GPL-2.0-only
/* TCP listening sockets (listen.h). */
#include <errno.h>
#include <unistd.h>

#include "lib/listen.h"

int listen_tcp(const struct sockaddr_storage *addr, socklen_t len, int backlog, bool reuseport)
{
	int fd = socket(addr->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (reuseport)
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)addr, len) < 0 || listen(fd, backlog) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}
