/* SPDX-License-Identifier: GPL-2.0-only */
/* TCP listening sockets: the workers' listener and the metrics listener open theirs one way. */
#ifndef STRG_LISTEN_H
#define STRG_LISTEN_H

#include <stdbool.h>
#include <sys/socket.h>

/*
 * A listening TCP socket bound to addr (SO_REUSEADDR; with reuseport, SO_REUSEPORT too, so that
 * every worker listens on the address and the kernel spreads connections over them), with a
 * queue of backlog. The fd, or -errno.
 */
int listen_tcp(const struct sockaddr_storage *addr, socklen_t len, int backlog, bool reuseport);
/* Whether socket fd is bound to addr (family, address and port; IPv4 or IPv6). */
bool listen_bound_to(int fd, const struct sockaddr_storage *addr);

#endif
