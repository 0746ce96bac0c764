// SPDX-License-Identifier: GPL-2.0-only
/* PROXY protocol v2 (the binary form): tells a backend the client's address on any data path. */
#include <errno.h>
#include <string.h>
#include <netinet/in.h>

#include "core/proxyproto.h"

static const char signature[12] = "\r\n\r\n\0\r\nQUIT\n";

int proxyproto_v2(char *buf, size_t len, const struct sockaddr *src, const struct sockaddr *dst)
{
	unsigned char *p = (unsigned char *)buf;
	size_t alen;

	if (src->sa_family != dst->sa_family)
		return -EINVAL;
	alen = src->sa_family == AF_INET ? 12 : src->sa_family == AF_INET6 ? 36 : 0;
	if (!alen || len < 16 + alen)
		return -EINVAL;
	memcpy(p, signature, sizeof(signature));
	p[12] = 0x21;					 /* version 2, command PROXY */
	p[13] = src->sa_family == AF_INET ? 0x11 : 0x21; /* TCP over IPv4 / IPv6 */
	p[14] = (unsigned char)(alen >> 8);
	p[15] = (unsigned char)alen;
	if (src->sa_family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)src;
		const struct sockaddr_in *d = (const struct sockaddr_in *)dst;

		memcpy(p + 16, &s->sin_addr, 4);
		memcpy(p + 20, &d->sin_addr, 4);
		memcpy(p + 24, &s->sin_port, 2); /* ports are already in network order */
		memcpy(p + 26, &d->sin_port, 2);
	} else {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)src;
		const struct sockaddr_in6 *d = (const struct sockaddr_in6 *)dst;

		memcpy(p + 16, &s->sin6_addr, 16);
		memcpy(p + 32, &d->sin6_addr, 16);
		memcpy(p + 48, &s->sin6_port, 2);
		memcpy(p + 50, &d->sin6_port, 2);
	}
	return (int)(16 + alen);
}
