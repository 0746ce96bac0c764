// SPDX-License-Identifier: GPL-2.0-only
/*
 * The XDP guard's cost per packet, through BPF_PROG_TEST_RUN with a repeat count: for each
 * verdict (passed with the limits off and on, denied, rate-limited, not for the listener) the
 * kernel's average ns per run, and what that makes in packets per second on one CPU. Root.
 * Nothing is attached or pinned.
 *
 *   guard_bench [REPEAT]     (default 1000000; each verdict runs ROUNDS times, median shown)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/types.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "strg/guard.h"
#include "guard.skel.h"

#define ROUNDS 5
#define PORT   8080

/* An Ethernet + IPv4 + TCP frame from src (host order) to port, with the given TCP flags. */
static size_t frame(__u8 *f, __u32 src, __u16 port, __u8 flags)
{
	static const __u8 eth[14] = {2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00};
	__u8 *ip = f + 14, *tcp = ip + 20;
	__u32 s = htonl(src), d = htonl(0x0a000001);
	__u16 p = htons(port), sp = htons(40000);

	memset(f, 0, 64);
	memcpy(f, eth, sizeof(eth));
	ip[0] = 0x45;
	ip[3] = 40; /* total length */
	ip[8] = 64;
	ip[9] = 6;
	memcpy(ip + 12, &s, 4);
	memcpy(ip + 16, &d, 4);
	memcpy(tcp, &sp, 2);
	memcpy(tcp + 2, &p, 2);
	tcp[12] = 5 << 4;
	tcp[13] = flags;
	return 54;
}

static int cmp(const void *a, const void *b)
{
	__u32 x = *(const __u32 *)a, y = *(const __u32 *)b;

	return x < y ? -1 : x > y;
}

/* The median over ROUNDS of the average ns per run of the frame, and its verdict. */
static int measure(int prog, const __u8 *f, size_t len, unsigned repeat, __u32 *ns, __u32 *ret)
{
	__u32 d[ROUNDS];

	for (int i = 0; i < ROUNDS; i++) {
		struct bpf_test_run_opts o = {.sz = sizeof(o),
					      .data_in = f,
					      .data_size_in = (__u32)len,
					      .repeat = repeat};

		if (bpf_prog_test_run_opts(prog, &o))
			return -errno;
		d[i] = o.duration;
		*ret = o.retval;
	}
	qsort(d, ROUNDS, sizeof(d[0]), cmp);
	*ns = d[ROUNDS / 2];
	return 0;
}

static void set_limits(struct guard_bpf *skel, __u32 syn_rate, __u32 pkt_rate, __u32 burst)
{
	struct guard_config c = {.syn_rate = syn_rate, .pkt_rate = pkt_rate};
	__u32 zero = 0;

	if (syn_rate) {
		c.syn_interval_ns = 1000000000ull / syn_rate;
		c.syn_tolerance_ns = (burst - 1ull) * c.syn_interval_ns;
	}
	if (pkt_rate) {
		c.pkt_interval_ns = 1000000000ull / pkt_rate;
		c.pkt_tolerance_ns = (burst - 1ull) * c.pkt_interval_ns;
	}
	bpf_map_update_elem(bpf_map__fd(skel->maps.guard_config), &zero, &c, BPF_ANY);
}

int main(int argc, char **argv)
{
	unsigned repeat = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 1000000;
	struct guard_listen_key lk = {.port = htons(PORT)};
	struct guard_cidr deny = {.prefixlen = 96 + 16};
	struct guard_bpf *skel;
	cpu_set_t one;
	__u8 f[64], yes = 1;
	int prog, err = 0;
	static const struct {
		const char *name;
		__u32 src;
		__u16 port;
		__u8 flags;
		int limits; /* 0 off, 1 on (rates far above the run: every packet passes), 2 tiny */
		__u32 want;
	} cases[] = {
		{"passed (limits off)", 0x0a020001, PORT, 0x10, 0, XDP_PASS},
		{"passed (limits on)", 0x0a020001, PORT, 0x10, 1, XDP_PASS},
		{"denied", 0x0a010001, PORT, 0x02, 1, XDP_DROP},
		{"rate-limited (SYN)", 0x0a030001, PORT, 0x02, 2, XDP_DROP},
		{"other port", 0x0a020001, 22, 0x10, 1, XDP_PASS},
	};

	CPU_ZERO(&one);
	CPU_SET(0, &one);
	sched_setaffinity(0, sizeof(one), &one);
	skel = guard_bpf__open_and_load();
	if (!skel) {
		fprintf(stderr, "guard_bench: loading the guard: %s\n", strerror(errno));
		return 1;
	}
	prog = bpf_program__fd(skel->progs.strg_guard);
	bpf_map_update_elem(bpf_map__fd(skel->maps.guard_listen), &lk, &yes, BPF_ANY);
	deny.addr[10] = deny.addr[11] = 0xff;
	deny.addr[12] = 10;
	deny.addr[13] = 1;
	bpf_map_update_elem(bpf_map__fd(skel->maps.guard_deny), &deny, &yes, BPF_ANY);
	printf("xdp guard: BPF_PROG_TEST_RUN, %u runs x %d rounds (median), one CPU, 54-byte "
	       "IPv4 TCP frames\n",
	       repeat, ROUNDS);
	printf("  %-22s %8s %14s\n", "verdict", "ns/pkt", "Mpkt/s/CPU");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = frame(f, cases[i].src, cases[i].port, cases[i].flags);
		__u32 ns = 0, ret = 0;

		if (cases[i].limits == 2)
			set_limits(skel, 1, 0, 1);
		else if (cases[i].limits)
			set_limits(skel, 4000000000u, 4000000000u, 1000000);
		else
			set_limits(skel, 0, 0, 0);
		err = measure(prog, f, len, repeat, &ns, &ret);
		if (err || ret != cases[i].want) {
			fprintf(stderr, "guard_bench: %s: %s (verdict %u, want %u)\n",
				cases[i].name, err ? strerror(-err) : "wrong verdict", ret,
				cases[i].want);
			err = err ? err : -EINVAL;
			break;
		}
		printf("  %-22s %8u %14.1f\n", cases[i].name, ns, ns ? 1e3 / ns : 0.0);
	}
	guard_bpf__destroy(skel);
	return err ? 1 : 0;
}
