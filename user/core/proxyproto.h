/* SPDX-License-Identifier: GPL-2.0-only */
/* PROXY protocol version 2 headers, sent once at the start of a backend connection. */
#ifndef STRG_PROXYPROTO_H
#define STRG_PROXYPROTO_H

#include <stddef.h>
#include <sys/socket.h>

#define PROXYPROTO_V2_MAX 52 /* signature, command, family, length, two IPv6 addresses, ports */

/*
 * Write the header announcing a TCP connection from src to dst (the address the client
 * connected to). Both must be of one family, AF_INET or AF_INET6. Returns the header's length or
 * -EINVAL.
 */
int proxyproto_v2(char *buf, size_t len, const struct sockaddr *src, const struct sockaddr *dst);

#endif
