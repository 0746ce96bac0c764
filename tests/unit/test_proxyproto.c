// SPDX-License-Identifier: GPL-2.0-only
/* Unit tests of the PROXY protocol v2 header against the byte layout of the specification. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "core/proxyproto.h"

static void v4(struct sockaddr_in *sin, const char *ip, unsigned port)
{
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, ip, &sin->sin_addr);
}

static void test_ipv4_tcp_header_bytes(void **state)
{
	static const unsigned char want[28] = {
		0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, /* sig */
		0x21, 0x11, 0x00, 0x0c, /* v2 PROXY, TCP4, 12 bytes */
		192,  0,    2,	  1,	/* source 192.0.2.1 */
		127,  0,    0,	  1,	/* destination 127.0.0.1 */
		0xd4, 0x31,		/* source port 54321 */
		0x1f, 0x90,		/* destination port 8080 */
	};
	struct sockaddr_in src, dst;
	char buf[PROXYPROTO_V2_MAX];

	(void)state;
	v4(&src, "192.0.2.1", 54321);
	v4(&dst, "127.0.0.1", 8080);
	assert_int_equal(
		proxyproto_v2(buf, sizeof(buf), (struct sockaddr *)&src, (struct sockaddr *)&dst),
		28);
	assert_memory_equal(buf, want, sizeof(want));
}

static void test_ipv6_tcp_header_layout(void **state)
{
	struct sockaddr_in6 src = {.sin6_family = AF_INET6, .sin6_port = htons(40000)};
	struct sockaddr_in6 dst = {.sin6_family = AF_INET6, .sin6_port = htons(443)};
	unsigned char buf[PROXYPROTO_V2_MAX];

	(void)state;
	inet_pton(AF_INET6, "2001:db8::1", &src.sin6_addr);
	inet_pton(AF_INET6, "::1", &dst.sin6_addr);
	assert_int_equal(proxyproto_v2((char *)buf, sizeof(buf), (struct sockaddr *)&src,
				       (struct sockaddr *)&dst),
			 52);
	assert_int_equal(buf[13], 0x21); /* TCP over IPv6 */
	assert_int_equal(buf[14] << 8 | buf[15], 36);
	assert_memory_equal(buf + 16, &src.sin6_addr, 16);
	assert_memory_equal(buf + 32, &dst.sin6_addr, 16);
	assert_int_equal(buf[48] << 8 | buf[49], 40000);
	assert_int_equal(buf[50] << 8 | buf[51], 443);
}

static void test_rejects_mixed_families_and_short_buffers(void **state)
{
	struct sockaddr_in a;
	struct sockaddr_in6 b = {.sin6_family = AF_INET6};
	char buf[PROXYPROTO_V2_MAX];

	(void)state;
	v4(&a, "10.0.0.1", 1);
	assert_int_equal(
		proxyproto_v2(buf, sizeof(buf), (struct sockaddr *)&a, (struct sockaddr *)&b),
		-EINVAL);
	assert_int_equal(proxyproto_v2(buf, 27, (struct sockaddr *)&a, (struct sockaddr *)&a),
			 -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ipv4_tcp_header_bytes),
		cmocka_unit_test(test_ipv6_tcp_header_layout),
		cmocka_unit_test(test_rejects_mixed_families_and_short_buffers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
