// SPDX-License-Identifier: GPL-2.0-only
/*
 * Proves the XDP guard (bpf/guard.bpf.c) on crafted frames: its verdict and the exact movement of
 * its counters, through BPF_PROG_TEST_RUN, with nothing pinned or attached.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <linux/types.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "strg/guard.h"
#include "guard.skel.h"
#include "ktest.h"

#define KSFT_SKIP 77
#define ENOTSUPP  524 /* the kernel's own "not supported", which reaches user space */
#define FRAME_MAX 512
#define META_LEN  32 /* XDP metadata in front of frames under ETH_HLEN (see run_frame) */
#define ETH_HLEN  14
#define ATTEMPTS  10 /* tries of a time-sensitive sequence that ran too slowly to judge */

#define PORT	   80
#define OTHER_PORT 81
#define LISTEN4	   "192.0.2.1" /* strgd listens on LISTEN4:PORT and [LISTEN6]:PORT */
#define LISTEN6	   "2001:db8::1"
#define NOLISTEN4  "192.0.2.99"
#define NOLISTEN6  "2001:db8::99"
#define CLIENT4	   "198.51.100.7"
#define CLIENT6	   "2001:db8:c::7"

#define TH_FIN 0x01
#define TH_SYN 0x02
#define TH_RST 0x04
#define TH_ACK 0x10

#define IP_DF 0x4000
#define IP_MF 0x2000

#define EXT_HOP	     0
#define EXT_ROUTING  43
#define EXT_FRAGMENT 44
#define EXT_DEST     60
#define EXT_MAX	     12

/* A frame to craft: Ethernet, VLAN tags, IPv4 or IPv6 (with extension headers), L4. */
struct spec {
	int family; /* AF_INET or AF_INET6 */
	int vlans;  /* 0; 1 (802.1Q); 2 (802.1ad outside 802.1Q); 3 (one 802.1Q more) */
	const char *src, *dst;
	__u8 proto;	   /* IPPROTO_TCP, _UDP, _ICMP, _ICMPV6 */
	__u16 dport;	   /* TCP and UDP */
	__u8 tcp_flags;	   /* TCP */
	int tcp_opt;	   /* TCP options, 32-bit words of NOP */
	int payload;	   /* bytes after the L4 header */
	int ip_opt;	   /* IPv4 options, 32-bit words of NOP: IHL = 5 + ip_opt */
	__u16 frag;	   /* IPv4 frag_off (IP_DF, IP_MF, offset/8); IPv6 fragment header's */
	__u8 ext[EXT_MAX]; /* IPv6 extension headers before L4, in order */
	int n_ext;
	int ext_hdrlen; /* hdrlen of each option/routing header: 8 * (1 + this) bytes */
};

struct frame {
	__u8 b[FRAME_MAX];
	__u32 len;
	__u32 l3; /* offset of the IP header */
	__u32 l4; /* offset of the transport header */
	char what[160];
};

struct fixture {
	struct guard_bpf *skel;
	int ncpu; /* possible CPUs: the length of a per-CPU value array */
};

struct counts {
	__u64 packets[GUARD_REASONS];
	__u64 bytes[GUARD_REASONS];
};

/* One frame of a sequence and what the guard must make of it. */
struct step {
	const struct frame *fr;
	enum guard_reason want;
	unsigned int sleep_ms; /* slept before this frame */
	unsigned int by_us;    /* the expectation holds only this soon after the first frame */
};

static const char *const reason_names[GUARD_REASONS] = {
	[GUARD_PASSED] = "PASSED",     [GUARD_ALLOWED] = "ALLOWED",
	[GUARD_DENIED] = "DENIED",     [GUARD_RATE_SYN] = "RATE_SYN",
	[GUARD_RATE_PKT] = "RATE_PKT", [GUARD_MALFORMED] = "MALFORMED",
	[GUARD_OTHER] = "OTHER",
};

static int test_cpu;

static __u64 now_ns(void)
{
	struct timespec ts;

	/* CLOCK_MONOTONIC: the clock of bpf_ktime_get_ns(). */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static bool verdict_passes(enum guard_reason r)
{
	return r == GUARD_PASSED || r == GUARD_ALLOWED || r == GUARD_OTHER;
}

static const char *action_name(__u32 act)
{
	switch (act) {
	case XDP_ABORTED:
		return "XDP_ABORTED";
	case XDP_DROP:
		return "XDP_DROP";
	case XDP_PASS:
		return "XDP_PASS";
	case XDP_TX:
		return "XDP_TX";
	case XDP_REDIRECT:
		return "XDP_REDIRECT";
	}
	return "unknown action";
}

/* An address as guard.h stores it: IPv6, or IPv4 mapped (::ffff:a.b.c.d). */
static int addr16(const char *text, __u8 out[16])
{
	struct in_addr a4;

	if (inet_pton(AF_INET6, text, out) == 1)
		return 0;
	if (inet_pton(AF_INET, text, &a4) != 1)
		return -EINVAL;
	memset(out, 0, 16);
	out[10] = out[11] = 0xff;
	memcpy(out + 12, &a4, 4);
	return 0;
}

/* ---- crafting frames ---- */

static void put16(__u8 *p, __u16 v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static void put32(__u8 *p, __u32 v)
{
	put16(p, v >> 16);
	put16(p + 2, v & 0xffff);
}

static __u16 ip_checksum(const __u8 *p, size_t len)
{
	__u32 sum = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (p[i] << 8) | p[i + 1];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return ~sum & 0xffff;
}

static const char *flags_name(__u8 f)
{
	static char buf[32];

	buf[0] = 0;
	if (f & TH_SYN)
		strcat(buf, "|SYN");
	if (f & TH_ACK)
		strcat(buf, "|ACK");
	if (f & TH_RST)
		strcat(buf, "|RST");
	if (f & TH_FIN)
		strcat(buf, "|FIN");
	return buf[0] ? buf + 1 : "none";
}

static void describe(const struct spec *s, struct frame *fr)
{
	char l4[64], extra[64] = "";
	int n = 0;

	if (s->proto == IPPROTO_TCP)
		snprintf(l4, sizeof(l4), "TCP %s to port %u", flags_name(s->tcp_flags), s->dport);
	else if (s->proto == IPPROTO_UDP)
		snprintf(l4, sizeof(l4), "UDP to port %u", s->dport);
	else
		snprintf(l4, sizeof(l4), "%s echo", s->family == AF_INET ? "ICMP" : "ICMPv6");
	if (s->family == AF_INET && s->ip_opt)
		n += snprintf(extra + n, sizeof(extra) - n, ", IHL %d", 5 + s->ip_opt);
	if (s->frag)
		n += snprintf(extra + n, sizeof(extra) - n, ", frag_off 0x%04x", s->frag);
	for (int i = 0; i < s->n_ext && n < (int)sizeof(extra); i++)
		n += snprintf(extra + n, sizeof(extra) - n, ", ext %u", s->ext[i]);
	snprintf(fr->what, sizeof(fr->what), "IPv%d with %d VLAN tag%s, %s, %s > %s%s",
		 s->family == AF_INET ? 4 : 6, s->vlans, s->vlans == 1 ? "" : "s", l4, s->src,
		 s->dst, extra);
}

/* Ethernet and VLAN tags, ending with ethertype; returns the offset after them. */
static __u32 put_l2(__u8 *b, int vlans, __u16 ethertype)
{
	static const __u8 macs[12] = {2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2};
	__u32 o = sizeof(macs);

	memcpy(b, macs, sizeof(macs));
	for (int i = 0; i < vlans; i++) {
		/* The outer tag of two is a service tag (802.1ad), the others customer tags. */
		put16(b + o, vlans >= 2 && i == 0 ? 0x88a8 : 0x8100);
		put16(b + o + 2, 100 + i);
		o += 4;
	}
	put16(b + o, ethertype);
	return o + 2;
}

static __u32 l4_len(const struct spec *s)
{
	if (s->proto == IPPROTO_TCP)
		return 20 + 4 * s->tcp_opt + s->payload;
	return 8 + s->payload; /* UDP, ICMP and ICMPv6 echo headers */
}

static void put_l4(const struct spec *s, __u8 *b)
{
	__u32 hlen = s->proto == IPPROTO_TCP ? 20 + 4 * s->tcp_opt : 8;

	switch (s->proto) {
	case IPPROTO_TCP:
		put16(b, 40000);
		put16(b + 2, s->dport);
		put32(b + 4, 1000);
		put32(b + 8, s->tcp_flags & TH_ACK ? 2000 : 0);
		b[12] = (5 + s->tcp_opt) << 4;
		b[13] = s->tcp_flags;
		put16(b + 14, 65535);
		memset(b + 20, 1, 4 * s->tcp_opt); /* NOP options */
		break;
	case IPPROTO_UDP:
		put16(b, 40000);
		put16(b + 2, s->dport);
		put16(b + 4, l4_len(s));
		break;
	default: /* echo request */
		b[0] = s->proto == IPPROTO_ICMP ? 8 : 128;
		put16(b + 4, 1);
		put16(b + 6, 1);
		break;
	}
	memset(b + hlen, 'x', s->payload);
}

static __u32 put_ipv4(const struct spec *s, __u8 *b)
{
	__u32 hlen = 20 + 4 * s->ip_opt;
	struct in_addr a;

	b[0] = 0x40 | (hlen / 4);
	put16(b + 2, hlen + l4_len(s));
	put16(b + 4, 0x1234);
	put16(b + 6, s->frag);
	b[8] = 64;
	b[9] = s->proto;
	inet_pton(AF_INET, s->src, &a);
	memcpy(b + 12, &a, 4);
	inet_pton(AF_INET, s->dst, &a);
	memcpy(b + 16, &a, 4);
	memset(b + 20, 1, 4 * s->ip_opt); /* NOP options */
	put16(b + 10, ip_checksum(b, hlen));
	return hlen;
}

static __u32 ext_len(const struct spec *s, int i)
{
	return s->ext[i] == EXT_FRAGMENT ? 8 : 8 * (1 + s->ext_hdrlen);
}

static __u32 put_ipv6(const struct spec *s, __u8 *b)
{
	__u32 o = 40, ext = 0;

	for (int i = 0; i < s->n_ext; i++)
		ext += ext_len(s, i);
	b[0] = 0x60;
	put16(b + 4, ext + l4_len(s));
	b[6] = s->n_ext ? s->ext[0] : s->proto;
	b[7] = 64;
	inet_pton(AF_INET6, s->src, b + 8);
	inet_pton(AF_INET6, s->dst, b + 24);
	for (int i = 0; i < s->n_ext; i++) {
		b[o] = i + 1 < s->n_ext ? s->ext[i + 1] : s->proto;
		if (s->ext[i] == EXT_FRAGMENT) {
			put16(b + o + 2, s->frag);
			put32(b + o + 4, 0xabcd);
		} else {
			b[o + 1] = s->ext_hdrlen;
			if (s->ext[i] == EXT_ROUTING) {
				b[o + 2] = 4; /* segment routing, no segment left */
			} else {
				/* One PadN option filling the header. */
				b[o + 2] = 1;
				b[o + 3] = ext_len(s, i) - 4;
			}
		}
		o += ext_len(s, i);
	}
	return o;
}

static void build(const struct spec *s, struct frame *fr)
{
	__u32 o;

	memset(fr, 0, sizeof(*fr));
	o = put_l2(fr->b, s->vlans, s->family == AF_INET ? 0x0800 : 0x86dd);
	fr->l3 = o;
	o += s->family == AF_INET ? put_ipv4(s, fr->b + o) : put_ipv6(s, fr->b + o);
	fr->l4 = o;
	put_l4(s, fr->b + o);
	fr->len = o + l4_len(s);
	describe(s, fr);
}

static struct spec tcp_spec(int family, int vlans, __u8 flags)
{
	struct spec s = {
		.family = family,
		.vlans = vlans,
		.src = family == AF_INET ? CLIENT4 : CLIENT6,
		.dst = family == AF_INET ? LISTEN4 : LISTEN6,
		.proto = IPPROTO_TCP,
		.dport = PORT,
		.tcp_flags = flags,
	};

	return s;
}

static void build_tcp(struct frame *fr, int family, int vlans, __u8 flags)
{
	struct spec s = tcp_spec(family, vlans, flags);

	build(&s, fr);
}

/* Rewrites the IPv4 header checksum after a test changed the header. */
static void ipv4_fix_checksum(struct frame *fr)
{
	__u8 *ip = fr->b + fr->l3;

	put16(ip + 10, 0);
	put16(ip + 10, ip_checksum(ip, (ip[0] & 0xf) * 4));
}

/* An ARP request, behind vlans tags. */
static void build_arp(struct frame *fr, int vlans)
{
	__u32 o;

	memset(fr, 0, sizeof(*fr));
	o = put_l2(fr->b, vlans, 0x0806);
	fr->l3 = fr->l4 = o;
	put16(fr->b + o, 1);	      /* Ethernet */
	put16(fr->b + o + 2, 0x0800); /* IPv4 */
	fr->b[o + 4] = 6;
	fr->b[o + 5] = 4;
	put16(fr->b + o + 6, 1); /* request */
	fr->len = o + 28;
	snprintf(fr->what, sizeof(fr->what), "ARP request with %d VLAN tag%s", vlans,
		 vlans == 1 ? "" : "s");
}

/* ---- running frames ---- */

/*
 * One run of the program over len bytes of buf. BPF_PROG_TEST_RUN refuses input shorter than an
 * Ethernet header, so a shorter frame goes in behind META_LEN bytes of XDP metadata: the program
 * sees data..data_end as exactly the frame.
 */
static int run_frame(struct fixture *fx, const __u8 *buf, __u32 len, __u32 *retval)
{
	__u8 in[META_LEN + FRAME_MAX] = {0};
	__u32 meta = len < ETH_HLEN ? META_LEN : 0;
	struct xdp_md md = {.data = meta, .data_end = meta + len};
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = in, .data_size_in = meta + len,
		    .repeat = 1);
	int err;

	if (len > FRAME_MAX)
		return -E2BIG;
	memcpy(in + meta, buf, len);
	if (meta) {
		opts.ctx_in = &md;
		opts.ctx_size_in = sizeof(md);
	}
	err = bpf_prog_test_run_opts(bpf_program__fd(fx->skel->progs.strg_guard), &opts);
	if (err)
		return -errno;
	*retval = opts.retval;
	return 0;
}

/* The counters, summed over CPUs. */
static int read_counts(struct fixture *fx, struct counts *c)
{
	struct guard_count v[fx->ncpu];

	for (__u32 r = 0; r < GUARD_REASONS; r++) {
		if (bpf_map__lookup_elem(fx->skel->maps.guard_stats, &r, sizeof(r), v, sizeof(v),
					 0))
			return -errno;
		c->packets[r] = c->bytes[r] = 0;
		for (int cpu = 0; cpu < fx->ncpu; cpu++) {
			c->packets[r] += v[cpu].packets;
			c->bytes[r] += v[cpu].bytes;
		}
	}
	return 0;
}

/*
 * Runs the steps back to back (no map reads in between: token buckets are time-sensitive), then
 * checks every verdict and that the counters moved by exactly the steps' packets and bytes, each
 * under its step's reason. -EAGAIN, with nothing reported: a step with a deadline ran too late
 * for its expectation to hold, the caller tries again on fresh maps.
 */
static int run_steps(struct fixture *fx, const struct step *st, int n)
{
	__u32 ret[n];
	struct counts before, after, want = {0};
	__u64 t0;
	int err;

	err = read_counts(fx, &before);
	if (err)
		return failf("reading guard_stats: %s", strerror(-err));
	t0 = now_ns();
	for (int i = 0; i < n; i++) {
		if (st[i].sleep_ms)
			sleep_ms(st[i].sleep_ms);
		err = run_frame(fx, st[i].fr->b, st[i].fr->len, &ret[i]);
		if (err)
			return failf("test run of %s (%u bytes): %s", st[i].fr->what, st[i].fr->len,
				     strerror(-err));
		if (st[i].by_us && now_ns() - t0 > st[i].by_us * 1000ULL)
			return -EAGAIN;
		want.packets[st[i].want]++;
		want.bytes[st[i].want] += st[i].fr->len;
	}
	for (int i = 0; i < n; i++) {
		__u32 exp = verdict_passes(st[i].want) ? XDP_PASS : XDP_DROP;

		if (ret[i] != exp)
			return failf("%s (%u bytes, step %d): %s, expected %s (%s)", st[i].fr->what,
				     st[i].fr->len, i + 1, action_name(ret[i]), action_name(exp),
				     reason_names[st[i].want]);
	}
	err = read_counts(fx, &after);
	if (err)
		return failf("reading guard_stats: %s", strerror(-err));
	for (int r = 0; r < GUARD_REASONS; r++) {
		__u64 dp = after.packets[r] - before.packets[r];
		__u64 db = after.bytes[r] - before.bytes[r];

		if (dp != want.packets[r] || db != want.bytes[r])
			return failf("%s%s: counter %s moved by %llu packets, %llu bytes; expected "
				     "%llu, %llu",
				     st[0].fr->what, n > 1 ? " and what followed" : "",
				     reason_names[r], (unsigned long long)dp,
				     (unsigned long long)db, (unsigned long long)want.packets[r],
				     (unsigned long long)want.bytes[r]);
	}
	return 0;
}

/* One frame: its verdict, and exactly one packet of its length counted under want. */
static int expect(struct fixture *fx, const struct frame *fr, enum guard_reason want)
{
	const struct step st = {.fr = fr, .want = want};

	return run_steps(fx, &st, 1);
}

static int expect_spec(struct fixture *fx, const struct spec *s, enum guard_reason want)
{
	struct frame fr;

	build(s, &fr);
	return expect(fx, &fr, want);
}

/* ---- the maps, as strgd would fill them ---- */

static int listen_add(struct fixture *fx, const char *addr, __u16 port)
{
	struct guard_listen_key key = {.port = htons(port)};
	__u8 one = 1;

	if (addr && addr16(addr, key.addr))
		return failf("bad address %s", addr);
	if (bpf_map__update_elem(fx->skel->maps.guard_listen, &key, sizeof(key), &one, sizeof(one),
				 BPF_ANY))
		return failf("adding listener %s:%u: %s", addr ? addr : "*", port, strerror(errno));
	return 0;
}

/* "a.b.c.d/n" or "v6/n" into guard_deny or guard_allow. */
static int cidr_add(struct bpf_map *map, const char *cidr)
{
	struct guard_cidr key = {0};
	char addr[64];
	const char *slash = strchr(cidr, '/');
	int len;
	__u8 one = 1;

	if (!slash || (size_t)(slash - cidr) >= sizeof(addr))
		return failf("bad CIDR %s", cidr);
	memcpy(addr, cidr, slash - cidr);
	addr[slash - cidr] = 0;
	len = atoi(slash + 1);
	if (addr16(addr, key.addr))
		return failf("bad CIDR %s", cidr);
	key.prefixlen = strchr(addr, ':') ? len : 96 + len;
	if (bpf_map__update_elem(map, &key, sizeof(key), &one, sizeof(one), BPF_ANY))
		return failf("adding %s to %s: %s", cidr, bpf_map__name(map), strerror(errno));
	return 0;
}

/* Rates per second and bursts as strgd turns them into guard_config; a rate of 0 is off. */
static int limits_set(struct fixture *fx, __u32 syn_rate, __u32 syn_burst, __u32 pkt_rate,
		      __u32 pkt_burst)
{
	struct guard_config cfg = {
		.syn_rate = syn_rate,
		.syn_burst = syn_burst,
		.pkt_rate = pkt_rate,
		.pkt_burst = pkt_burst,
	};
	__u32 zero = 0;

	if (syn_rate) {
		cfg.syn_interval_ns = 1000000000ULL / syn_rate;
		cfg.syn_tolerance_ns = (syn_burst - 1) * cfg.syn_interval_ns;
	}
	if (pkt_rate) {
		cfg.pkt_interval_ns = 1000000000ULL / pkt_rate;
		cfg.pkt_tolerance_ns = (pkt_burst - 1) * cfg.pkt_interval_ns;
	}
	if (bpf_map__update_elem(fx->skel->maps.guard_config, &zero, sizeof(zero), &cfg,
				 sizeof(cfg), BPF_ANY))
		return failf("writing guard_config: %s", strerror(errno));
	return 0;
}

static int sources_count(struct fixture *fx)
{
	__u8 key[16], next[16];
	int n = 0;

	for (void *prev = NULL;
	     !bpf_map__get_next_key(fx->skel->maps.guard_sources, prev, next, sizeof(next));
	     prev = key, n++)
		memcpy(key, next, sizeof(key));
	return n;
}

/* The buckets of one source on the test's CPU; -ENOENT when it has no entry. */
static int source_get(struct fixture *fx, const char *addr, struct guard_source *out)
{
	struct guard_source v[fx->ncpu];
	__u8 key[16];

	if (addr16(addr, key))
		return -EINVAL;
	if (bpf_map__lookup_elem(fx->skel->maps.guard_sources, key, sizeof(key), v, sizeof(v), 0))
		return -errno;
	*out = v[test_cpu];
	return 0;
}

/* ---- fixtures ---- */

/* The guard on fresh maps, no listener, limits off. */
static int fixture_open_bare(struct fixture *fx)
{
	fx->ncpu = libbpf_num_possible_cpus();
	if (fx->ncpu <= 0)
		return failf("counting possible CPUs: %s", strerror(-fx->ncpu));
	fx->skel = guard_bpf__open_and_load();
	if (!fx->skel)
		return failf("loading guard.bpf.o: %s", strerror(errno));
	return 0;
}

/* Plus the listeners LISTEN4:PORT and [LISTEN6]:PORT, with their port-0 entries. */
static int fixture_open(struct fixture *fx)
{
	if (fixture_open_bare(fx))
		return -1;
	if (listen_add(fx, LISTEN4, PORT) || listen_add(fx, LISTEN4, 0) ||
	    listen_add(fx, LISTEN6, PORT) || listen_add(fx, LISTEN6, 0)) {
		guard_bpf__destroy(fx->skel);
		return -1;
	}
	return 0;
}

static void fixture_close(struct fixture *fx)
{
	guard_bpf__destroy(fx->skel);
	fx->skel = NULL;
}

/* ---- subtests ---- */

static const int families[] = {AF_INET, AF_INET6};

/* Every kind of segment to a listener, with 0, 1 and 2 VLAN tags, is within the limits. */
static int test_tcp_to_listener_passed(void)
{
	static const __u8 flags[] = {TH_SYN, TH_SYN | TH_ACK, TH_ACK,
				     TH_RST, TH_RST | TH_ACK, TH_FIN | TH_ACK};
	struct fixture fx;
	int err = 0;

	if (fixture_open(&fx))
		return -1;
	for (int f = 0; f < 2 && !err; f++)
		for (int v = 0; v <= 2 && !err; v++)
			for (size_t i = 0; i < sizeof(flags) && !err; i++) {
				struct spec s = tcp_spec(families[f], v, flags[i]);

				s.payload = flags[i] == TH_ACK ? 100 : 0;
				err = expect_spec(&fx, &s, GUARD_PASSED);
			}
	fixture_close(&fx);
	return err;
}

/* TCP to another port of a listening address, or to another address, is not the guard's. */
static int test_tcp_elsewhere_other(void)
{
	struct fixture fx;
	int err = 0;

	if (fixture_open(&fx))
		return -1;
	for (int f = 0; f < 2 && !err; f++)
		for (int v = 0; v <= 2 && !err; v++) {
			struct spec s = tcp_spec(families[f], v, TH_SYN);

			s.dport = OTHER_PORT;
			err = expect_spec(&fx, &s, GUARD_OTHER);
			if (err)
				break;
			s.dport = PORT;
			s.dst = families[f] == AF_INET ? NOLISTEN4 : NOLISTEN6;
			err = expect_spec(&fx, &s, GUARD_OTHER);
		}
	fixture_close(&fx);
	return err;
}

/* UDP to the listening port, ICMP and ICMPv6 echo: only TCP matters. */
static int test_udp_icmp_other(void)
{
	struct fixture fx;
	int err = 0;

	if (fixture_open(&fx))
		return -1;
	for (int f = 0; f < 2 && !err; f++)
		for (int v = 0; v <= 2 && !err; v++) {
			struct spec s = tcp_spec(families[f], v, 0);

			s.proto = IPPROTO_UDP;
			s.payload = 32;
			err = expect_spec(&fx, &s, GUARD_OTHER);
			if (err)
				break;
			s.proto = families[f] == AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6;
			err = expect_spec(&fx, &s, GUARD_OTHER);
		}
	fixture_close(&fx);
	return err;
}

/* ARP and another ethertype (LLDP), with and without tags, pass as OTHER. */
static int test_non_ip_other(void)
{
	struct fixture fx;
	struct frame fr;
	int err = 0;

	if (fixture_open(&fx))
		return -1;
	for (int v = 0; v <= 2 && !err; v++) {
		build_arp(&fr, v);
		err = expect(&fx, &fr, GUARD_OTHER);
	}
	if (!err) {
		build_arp(&fr, 0);
		put16(fr.b + 12, 0x88cc);
		snprintf(fr.what, sizeof(fr.what), "LLDP ethertype");
		err = expect(&fx, &fr, GUARD_OTHER);
	}
	fixture_close(&fx);
	return err;
}

/*
 * Beyond GUARD_VLAN_MAX tags the guard does not look: a SYN to a listener under three tags
 * passes as OTHER (the stack does not deliver it to strgd's socket untagged either).
 */
static int test_vlan_beyond_max_other(void)
{
	struct fixture fx;
	struct frame fr;
	int err;

	if (fixture_open(&fx))
		return -1;
	build_tcp(&fr, AF_INET, GUARD_VLAN_MAX + 1, TH_SYN);
	err = expect(&fx, &fr, GUARD_OTHER);
	if (!err) {
		build_tcp(&fr, AF_INET6, GUARD_VLAN_MAX + 1, TH_SYN);
		err = expect(&fx, &fr, GUARD_OTHER);
	}
	fixture_close(&fx);
	return err;
}

/*
 * IPv4 options (IHL 6..15) are skipped, not rejected: the port is read after them. The options
 * are NOPs (0x01), so a guard reading the port at a fixed offset would see 0x0101, not 80.
 */
static int test_ipv4_options_matched(void)
{
	struct fixture fx;
	int err = 0;

	if (fixture_open(&fx))
		return -1;
	for (int opt = 1; opt <= 10 && !err; opt++)
		for (int v = 0; v <= 2 && !err; v += 2) {
			struct spec s = tcp_spec(AF_INET, v, TH_SYN);

			s.ip_opt = opt;
			err = expect_spec(&fx, &s, GUARD_PASSED);
			if (err)
				break;
			s.dport = OTHER_PORT;
			err = expect_spec(&fx, &s, GUARD_OTHER);
		}
	fixture_close(&fx);
	return err;
}

/*
 * IPv4 fragments of TCP (the first with MF, a middle one, the last with an offset) to a listening
 * address are dropped as MALFORMED, whatever port they would be for; to another address, or
 * carrying UDP, they pass. DF alone is not a fragment.
 */
static int test_ipv4_fragments(void)
{
	static const __u16 frags[] = {IP_MF, IP_MF | 185, 370};
	struct fixture fx;
	int err = 0;

	if (fixture_open(&fx))
		return -1;
	for (size_t i = 0; i < sizeof(frags) / sizeof(frags[0]) && !err; i++)
		for (int v = 0; v <= 1 && !err; v++) {
			struct spec s = tcp_spec(AF_INET, v, TH_ACK);

			s.frag = frags[i];
			s.payload = 64;
			err = expect_spec(&fx, &s, GUARD_MALFORMED);
			if (err)
				break;
			s.dport = OTHER_PORT;
			err = expect_spec(&fx, &s, GUARD_MALFORMED);
			if (err)
				break;
			s.dst = NOLISTEN4;
			err = expect_spec(&fx, &s, GUARD_OTHER);
			if (err)
				break;
			s.dst = LISTEN4;
			s.proto = IPPROTO_UDP;
			err = expect_spec(&fx, &s, GUARD_OTHER);
		}
	if (!err) {
		struct spec s = tcp_spec(AF_INET, 0, TH_SYN);

		s.frag = IP_DF;
		err = expect_spec(&fx, &s, GUARD_PASSED);
	}
	fixture_close(&fx);
	return err;
}

/*
 * IPv6 with a fragment header carrying TCP (first fragment, later fragment, after a hop-by-hop
 * header, an atomic fragment) to a listening address: MALFORMED; to another address or carrying
 * UDP: OTHER. A later fragment whose next header is not TCP (a destination options header of the
 * fragmentable part) cannot be recognised as TCP and passes; without its first fragment, which
 * is dropped, it cannot be reassembled.
 */
static int test_ipv6_fragments(void)
{
	static const struct {
		__u16 frag;
		__u8 ext[2];
		int n;
	} cases[] = {
		{0x0001, {EXT_FRAGMENT}, 1},	     /* first: offset 0, M */
		{(100 << 3) | 1, {EXT_FRAGMENT}, 1}, /* middle */
		{200 << 3, {EXT_FRAGMENT}, 1},	     /* last */
		{0, {EXT_FRAGMENT}, 1},		     /* atomic */
		{0x0001, {EXT_HOP, EXT_FRAGMENT}, 2},
		{0x0001, {EXT_FRAGMENT, EXT_DEST}, 2}, /* first, more headers after it */
	};
	struct fixture fx;
	int err = 0;

	if (fixture_open(&fx))
		return -1;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]) && !err; i++)
		for (int v = 0; v <= 1 && !err; v++) {
			struct spec s = tcp_spec(AF_INET6, v, TH_ACK);

			s.frag = cases[i].frag;
			memcpy(s.ext, cases[i].ext, cases[i].n);
			s.n_ext = cases[i].n;
			s.payload = 64;
			err = expect_spec(&fx, &s, GUARD_MALFORMED);
			if (err)
				break;
			s.dst = NOLISTEN6;
			err = expect_spec(&fx, &s, GUARD_OTHER);
			if (err)
				break;
			s.dst = LISTEN6;
			s.proto = IPPROTO_UDP;
			err = expect_spec(&fx, &s, GUARD_OTHER);
		}
	if (!err) {
		struct spec s = tcp_spec(AF_INET6, 0, TH_ACK);

		s.frag = 200 << 3;
		s.ext[0] = EXT_FRAGMENT;
		s.ext[1] = EXT_DEST;
		s.n_ext = 2;
		err = expect_spec(&fx, &s, GUARD_OTHER);
	}
	fixture_close(&fx);
	return err;
}

/* A chain of n destination options headers (8 bytes each) before the L4 header. */
static void dest_chain(struct spec *s, int n)
{
	for (int i = 0; i < n; i++)
		s->ext[i] = EXT_DEST;
	s->n_ext = n;
}

/*
 * IPv6 extension headers before TCP are walked (hop-by-hop + destination options, with a routing
 * header, of 8 and 24 bytes), up to GUARD_EXTHDR_MAX of them: the segment is judged by its port
 * like one without extension headers.
 */
static int test_ipv6_ext_headers_matched(void)
{
	static const struct {
		__u8 ext[EXT_MAX];
		int n;
	} chains[] = {
		{{EXT_HOP, EXT_DEST}, 2},
		{{EXT_HOP, EXT_ROUTING, EXT_DEST}, 3},
		{{EXT_HOP, EXT_DEST, EXT_ROUTING, EXT_DEST}, 4},
		{{EXT_HOP, EXT_DEST, EXT_ROUTING, EXT_DEST, EXT_DEST, EXT_DEST, EXT_DEST, EXT_DEST},
		 GUARD_EXTHDR_MAX},
	};
	struct fixture fx;
	int err = 0;

	if (fixture_open(&fx))
		return -1;
	for (size_t i = 0; i < sizeof(chains) / sizeof(chains[0]) && !err; i++)
		for (int hl = 0; hl <= 2 && !err; hl += 2)
			for (int v = 0; v <= 2 && !err; v++) {
				struct spec s = tcp_spec(AF_INET6, v, TH_SYN);

				memcpy(s.ext, chains[i].ext, chains[i].n);
				s.n_ext = chains[i].n;
				s.ext_hdrlen = hl;
				err = expect_spec(&fx, &s, GUARD_PASSED);
				if (err)
					break;
				s.dport = OTHER_PORT;
				err = expect_spec(&fx, &s, GUARD_OTHER);
				if (err)
					break;
				s.dport = PORT;
				s.proto = IPPROTO_UDP;
				err = expect_spec(&fx, &s, GUARD_OTHER);
			}
	fixture_close(&fx);
	return err;
}

/*
 * A chain longer than the guard walks (GUARD_EXTHDR_MAX + 1 headers, up to 11) hides whether TCP
 * follows and to which port. To a listening address it is MALFORMED whatever ends the chain
 * (TCP to the listening port or another, UDP), and with the limits on it neither passes nor
 * creates a bucket; to another address it is OTHER; behind a wildcard listener every address
 * listens.
 */
static int test_ipv6_chain_beyond_walk(void)
{
	struct fixture fx;
	int err;

	if (fixture_open(&fx))
		return -1;
	err = limits_set(&fx, 10, 1, 1000, 5);
	for (int n = GUARD_EXTHDR_MAX + 1; n < EXT_MAX && !err; n++)
		for (int v = 0; v <= 1 && !err; v++) {
			struct spec s = tcp_spec(AF_INET6, v, TH_SYN);

			dest_chain(&s, n);
			for (int i = 0; i < 3 && !err; i++)
				err = expect_spec(&fx, &s, GUARD_MALFORMED);
			s.tcp_flags = TH_ACK;
			s.payload = 100;
			err = err ?: expect_spec(&fx, &s, GUARD_MALFORMED);
			s.dport = OTHER_PORT;
			err = err ?: expect_spec(&fx, &s, GUARD_MALFORMED);
			s.proto = IPPROTO_UDP;
			err = err ?: expect_spec(&fx, &s, GUARD_MALFORMED);
			s.dst = NOLISTEN6;
			err = err ?: expect_spec(&fx, &s, GUARD_OTHER);
			s.proto = IPPROTO_TCP;
			s.dport = PORT;
			err = err ?: expect_spec(&fx, &s, GUARD_OTHER);
		}
	if (!err && sources_count(&fx) != 0)
		err = failf("over-long chains created %d buckets in guard_sources, expected none",
			    sources_count(&fx));
	if (!err) {
		struct spec s = tcp_spec(AF_INET6, 0, TH_SYN);

		dest_chain(&s, GUARD_EXTHDR_MAX + 1);
		s.dst = NOLISTEN6;
		err = listen_add(&fx, NULL, 0) ?: expect_spec(&fx, &s, GUARD_MALFORMED);
	}
	fixture_close(&fx);
	return err;
}

/*
 * Where the guard cannot see the port (a fragment of TCP, an IPv6 chain longer than it walks)
 * the lists still hold, since they need only the addresses: to a listening address, a denied
 * source is DENIED and an allowed one ALLOWED (only the others are MALFORMED), IPv4 and IPv6.
 */
static int test_unseen_port_lists_first(void)
{
	struct spec f4 = tcp_spec(AF_INET, 0, TH_ACK), f6 = tcp_spec(AF_INET6, 1, TH_ACK);
	struct spec c6 = tcp_spec(AF_INET6, 0, TH_SYN);
	const struct spec *specs[] = {&f4, &f6, &c6};
	struct fixture fx;
	int err;

	if (fixture_open(&fx))
		return -1;
	f4.frag = IP_MF;
	f4.payload = f6.payload = 64;
	f6.frag = 0x0001;
	f6.ext[0] = EXT_FRAGMENT;
	f6.n_ext = 1;
	dest_chain(&c6, GUARD_EXTHDR_MAX + 1);
	err = cidr_add(fx.skel->maps.guard_deny, "198.51.100.0/24") ?:
		      cidr_add(fx.skel->maps.guard_deny, "2001:db8:bad::/48") ?:
		      cidr_add(fx.skel->maps.guard_allow, "203.0.113.0/24") ?:
		      cidr_add(fx.skel->maps.guard_allow, "2001:db8:a11::/48");
	for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]) && !err; i++) {
		struct spec s = *specs[i];
		bool v4 = s.family == AF_INET;

		s.src = v4 ? "198.51.100.9" : "2001:db8:bad::9";
		err = expect_spec(&fx, &s, GUARD_DENIED);
		s.src = v4 ? "203.0.113.9" : "2001:db8:a11::9";
		err = err ?: expect_spec(&fx, &s, GUARD_ALLOWED);
		s.src = v4 ? "192.0.2.200" : "2001:db8:e::9";
		err = err ?: expect_spec(&fx, &s, GUARD_MALFORMED);
		s.src = v4 ? "198.51.100.9" : "2001:db8:bad::9";
		s.dst = v4 ? NOLISTEN4 : NOLISTEN6;
		err = err ?: expect_spec(&fx, &s, GUARD_OTHER);
	}
	fixture_close(&fx);
	return err;
}

static void set_ihl(struct frame *fr, int ihl)
{
	fr->b[fr->l3] = 0x40 | ihl;
	ipv4_fix_checksum(fr);
}

static void set_ip_version(struct frame *fr, int version)
{
	fr->b[fr->l3] = (version << 4) | (fr->b[fr->l3] & 0xf);
	if (version == 4)
		ipv4_fix_checksum(fr);
}

static void set_tot_len(struct frame *fr, int tot)
{
	put16(fr->b + fr->l3 + 2, tot);
	ipv4_fix_checksum(fr);
}

static void set_payload_len(struct frame *fr, int len)
{
	put16(fr->b + fr->l3 + 4, len);
}

static void set_doff(struct frame *fr, int doff)
{
	fr->b[fr->l4 + 12] = doff << 4;
}

/* Bytes after the datagram (Ethernet pads short frames): the frame grows, the IP header stays. */
static void pad_frame(struct frame *fr, int n)
{
	fr->len += n;
}

static void set_first_hdrlen(struct frame *fr, int hdrlen)
{
	fr->b[fr->l3 + 40 + 1] = hdrlen;
}

/* A valid frame with one field changed to each value from..to, and what the guard makes of it. */
struct edit_case {
	const struct spec *spec;
	void (*edit)(struct frame *fr, int arg);
	const char *field;
	int from, to;
	enum guard_reason want;
};

static int expect_edits(const struct edit_case *c, size_t n)
{
	struct fixture fx;
	int err = 0;

	if (fixture_open(&fx))
		return -1;
	for (size_t i = 0; i < n && !err; i++)
		for (int arg = c[i].from; arg <= c[i].to && !err; arg++) {
			struct frame fr;
			size_t len;

			build(c[i].spec, &fr);
			c[i].edit(&fr, arg);
			len = strlen(fr.what);
			snprintf(fr.what + len, sizeof(fr.what) - len, ", %s %d", c[i].field, arg);
			err = expect(&fx, &fr, c[i].want);
		}
	fixture_close(&fx);
	return err;
}

#define V4_SPEC .family = AF_INET, .vlans = 1, .src = CLIENT4, .dst = LISTEN4, .dport = PORT
#define V6_SPEC .family = AF_INET6, .src = CLIENT6, .dst = LISTEN6, .dport = PORT

static const struct spec v4_syn = {V4_SPEC, .proto = IPPROTO_TCP, .tcp_flags = TH_SYN};
static const struct spec v4_udp = {V4_SPEC, .proto = IPPROTO_UDP};
static const struct spec v4_opt = {V4_SPEC, .proto = IPPROTO_TCP, .tcp_flags = TH_SYN, .ip_opt = 1};
static const struct spec v4_40 = {V4_SPEC, .proto = IPPROTO_TCP, .tcp_flags = TH_ACK,
				  .payload = 40};
static const struct spec v4_39 = {V4_SPEC, .proto = IPPROTO_TCP, .tcp_flags = TH_ACK,
				  .payload = 39};
static const struct spec v6_syn = {V6_SPEC, .proto = IPPROTO_TCP, .tcp_flags = TH_SYN};
static const struct spec v6_hop = {V6_SPEC, .proto = IPPROTO_TCP, .tcp_flags = TH_SYN,
				   .ext = {EXT_HOP}, .n_ext = 1};

/*
 * IPv4 headers that lie: IHL under 5, a version other than 4, a total length under the header,
 * beyond the frame, or cutting the TCP header, a TCP data offset under 5 or beyond the segment:
 * MALFORMED, for UDP too where the IP header is at fault. Padding after the datagram, and a data
 * offset that exactly fills the segment (40 bytes of payload, doff 15), are fine.
 */
static int test_ipv4_bad_lengths(void)
{
	static const struct edit_case cases[] = {
		{&v4_syn, set_ihl, "IHL", 0, 4, GUARD_MALFORMED},
		{&v4_udp, set_ihl, "IHL", 0, 4, GUARD_MALFORMED},
		{&v4_syn, set_ip_version, "version", 5, 6, GUARD_MALFORMED},
		{&v4_syn, set_ip_version, "version", 0, 0, GUARD_MALFORMED},
		{&v4_syn, set_tot_len, "tot_len", 0, 19, GUARD_MALFORMED},
		{&v4_opt, set_tot_len, "tot_len", 20, 23, GUARD_MALFORMED},
		{&v4_syn, set_tot_len, "tot_len", 20, 39, GUARD_MALFORMED}, /* TCP cut */
		{&v4_syn, set_tot_len, "tot_len", 41, 42, GUARD_MALFORMED},
		{&v4_syn, set_tot_len, "tot_len", 65535, 65535, GUARD_MALFORMED},
		{&v4_udp, set_tot_len, "tot_len", 29, 29, GUARD_MALFORMED},
		{&v4_syn, pad_frame, "padded by", 1, 6, GUARD_PASSED},
		{&v4_syn, set_doff, "doff", 0, 4, GUARD_MALFORMED},
		{&v4_syn, set_doff, "doff", 6, 15, GUARD_MALFORMED},
		{&v4_40, set_doff, "doff", 15, 15, GUARD_PASSED},
		{&v4_39, set_doff, "doff", 15, 15, GUARD_MALFORMED},
	};

	return expect_edits(cases, sizeof(cases) / sizeof(cases[0]));
}

/*
 * IPv6 headers that lie: a version other than 6, a payload length beyond the frame or under a
 * TCP header, an extension header longer than the payload, a TCP data offset under 5 or beyond
 * the segment: MALFORMED. Padding after the payload is fine.
 */
static int test_ipv6_bad_lengths(void)
{
	static const struct edit_case cases[] = {
		{&v6_syn, set_ip_version, "version", 4, 4, GUARD_MALFORMED},
		{&v6_syn, set_ip_version, "version", 0, 0, GUARD_MALFORMED},
		{&v6_syn, set_payload_len, "payload_len", 21, 22, GUARD_MALFORMED},
		{&v6_syn, set_payload_len, "payload_len", 65535, 65535, GUARD_MALFORMED},
		{&v6_syn, set_payload_len, "payload_len", 0, 19, GUARD_MALFORMED},
		{&v6_syn, pad_frame, "padded by", 1, 6, GUARD_PASSED},
		{&v6_hop, set_first_hdrlen, "hop-by-hop hdrlen", 1, 255, GUARD_MALFORMED},
		{&v6_hop, set_payload_len, "payload_len", 0, 27, GUARD_MALFORMED},
		{&v6_syn, set_doff, "doff", 0, 4, GUARD_MALFORMED},
		{&v6_syn, set_doff, "doff", 6, 15, GUARD_MALFORMED},
		{&v6_hop, set_doff, "doff", 0, 4, GUARD_MALFORMED},
		{&v6_hop, set_doff, "doff", 6, 15, GUARD_MALFORMED},
	};

	return expect_edits(cases, sizeof(cases) / sizeof(cases[0]));
}

/*
 * Whether BPF_PROG_TEST_RUN runs a frame shorter than an Ethernet header at all. 6.18 refuses
 * one (EINVAL), even behind metadata; the kernel hands XDP no such frame either
 * (bpf_xdp_adjust_head and _tail keep ETH_HLEN bytes too).
 */
static bool short_frames_run(struct fixture *fx)
{
	const __u8 byte = 0;
	__u32 ret;

	return run_frame(fx, &byte, 1, &ret) == 0;
}

/*
 * Every prefix of a valid frame, one short of whole and down to 0 bytes (or to ETH_HLEN where
 * shorter frames cannot be run). The expectation comes from where the cut falls: before the
 * ethertype that says IP is complete (inside the Ethernet header or a VLAN tag) the frame is not
 * known to be IP and passes as OTHER; after it, the IP datagram (whose length says more) is
 * truncated: MALFORMED.
 */
static int truncations(struct fixture *fx, const struct spec *s)
{
	__u32 first = short_frames_run(fx) ? 0 : ETH_HLEN;
	struct frame whole, cut;

	build(s, &whole);
	if (first)
		notef("%s: BPF_PROG_TEST_RUN refuses frames under %d bytes, cut from %u",
		      whole.what, ETH_HLEN, first);
	for (__u32 len = first; len < whole.len; len++) {
		enum guard_reason want = len < whole.l3 ? GUARD_OTHER : GUARD_MALFORMED;

		cut = whole;
		cut.len = len;
		snprintf(cut.what, sizeof(cut.what), "%.100s cut to %u of %u bytes", whole.what,
			 len, whole.len);
		if (expect(fx, &cut, want))
			return -1;
	}
	return expect(fx, &whole, GUARD_PASSED);
}

static int test_ipv4_vlan_truncations(void)
{
	struct spec s = tcp_spec(AF_INET, 1, TH_SYN);
	struct fixture fx;
	int err;

	s.ip_opt = 1;
	s.tcp_opt = 2;
	s.payload = 4;
	if (fixture_open(&fx))
		return -1;
	err = truncations(&fx, &s);
	fixture_close(&fx);
	return err;
}

static int test_ipv6_truncations(void)
{
	struct spec s = tcp_spec(AF_INET6, 0, TH_SYN), ext;
	struct fixture fx;
	int err;

	s.tcp_opt = 2;
	s.payload = 4;
	ext = s;
	ext.vlans = 2;
	ext.ext[0] = EXT_HOP;
	ext.ext[1] = EXT_DEST;
	ext.n_ext = 2;
	ext.ext_hdrlen = 1;
	if (fixture_open(&fx))
		return -1;
	err = truncations(&fx, &s) ?: truncations(&fx, &ext);
	fixture_close(&fx);
	return err;
}

/*
 * A wildcard listener ({0, port}) guards its port on every address, of both families; an
 * address-specific one only its address. Fragments are matched by the port-0 entries alone:
 * with no {0, 0}, a fragment to an address strgd only listens on through the wildcard passes.
 */
static int test_wildcard_listener(void)
{
	struct spec s = tcp_spec(AF_INET, 0, TH_SYN);
	struct fixture fx;
	int err;

	if (fixture_open_bare(&fx))
		return -1;
	if (listen_add(&fx, NULL, 8080) || listen_add(&fx, LISTEN4, PORT) ||
	    listen_add(&fx, LISTEN4, 0)) {
		fixture_close(&fx);
		return -1;
	}
	s.dport = 8080;
	s.dst = "203.0.113.5";
	err = expect_spec(&fx, &s, GUARD_PASSED);
	s.dst = LISTEN4;
	err = err ?: expect_spec(&fx, &s, GUARD_PASSED);
	s.dport = PORT;
	err = err ?: expect_spec(&fx, &s, GUARD_PASSED);
	s.dst = "192.0.2.2";
	err = err ?: expect_spec(&fx, &s, GUARD_OTHER);
	if (!err) {
		struct spec v6 = tcp_spec(AF_INET6, 1, TH_SYN);

		v6.dport = 8080;
		v6.dst = "2001:db8:ffff::5";
		err = expect_spec(&fx, &v6, GUARD_PASSED);
		v6.dport = PORT;
		err = err ?: expect_spec(&fx, &v6, GUARD_OTHER);
	}
	s.dst = "203.0.113.5";
	s.dport = 8080;
	s.frag = IP_MF;
	err = err ?: expect_spec(&fx, &s, GUARD_OTHER);
	err = err ?: listen_add(&fx, NULL, 0);
	err = err ?: expect_spec(&fx, &s, GUARD_MALFORMED);
	fixture_close(&fx);
	return err;
}

/*
 * The deny list, a /24 IPv4 and a /64 IPv6 prefix: every address inside (both ends) is DENIED,
 * the neighbours just outside pass. An IPv6 address holding the same four bytes unmapped is not
 * the IPv4 address. A denied source to a port nobody listens on is not the guard's business.
 */
static int test_deny_list(void)
{
	static const struct {
		int family;
		const char *src;
		enum guard_reason want;
	} cases[] = {
		{AF_INET, "198.51.100.7", GUARD_DENIED},
		{AF_INET, "198.51.100.0", GUARD_DENIED},
		{AF_INET, "198.51.100.255", GUARD_DENIED},
		{AF_INET, "198.51.99.255", GUARD_PASSED},
		{AF_INET, "198.51.101.0", GUARD_PASSED},
		{AF_INET6, "2001:db8:bad::1", GUARD_DENIED},
		{AF_INET6, "2001:db8:bad::", GUARD_DENIED},
		{AF_INET6, "2001:db8:bad:0:ffff:ffff:ffff:ffff", GUARD_DENIED},
		{AF_INET6, "2001:db8:bad:1::", GUARD_PASSED},
		{AF_INET6, "2001:db8:bac:ffff:ffff:ffff:ffff:ffff", GUARD_PASSED},
		{AF_INET6, "::198.51.100.7", GUARD_PASSED},
	};
	struct fixture fx;
	int err;

	if (fixture_open(&fx))
		return -1;
	err = cidr_add(fx.skel->maps.guard_deny, "198.51.100.0/24")
		      ?: cidr_add(fx.skel->maps.guard_deny, "2001:db8:bad::/64");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]) && !err; i++)
		for (int v = 0; v <= 2 && !err; v++) {
			struct spec s = tcp_spec(cases[i].family, v, TH_SYN);

			s.src = cases[i].src;
			err = expect_spec(&fx, &s, cases[i].want);
			if (err)
				break;
			s.tcp_flags = TH_ACK;
			err = expect_spec(&fx, &s, cases[i].want);
			if (err)
				break;
			s.dport = OTHER_PORT;
			err = expect_spec(&fx, &s, GUARD_OTHER);
		}
	fixture_close(&fx);
	return err;
}

/*
 * A source on the allow list is ALLOWED however fast it goes, and gets no bucket; a source
 * outside it is held to the limits on the same maps.
 */
static int test_allow_list_bypasses_limits(void)
{
	struct spec s = tcp_spec(AF_INET, 0, TH_SYN), s6 = tcp_spec(AF_INET6, 0, TH_SYN);
	struct fixture fx;
	struct frame fr;
	int err;

	if (fixture_open(&fx))
		return -1;
	err = cidr_add(fx.skel->maps.guard_allow, "203.0.113.0/24") ?:
		      cidr_add(fx.skel->maps.guard_allow, "2001:db8:a11::/48") ?:
		      limits_set(&fx, 10, 1, 1000, 1);
	s.src = "203.0.113.9";
	s6.src = "2001:db8:a11:5::9";
	for (int i = 0; i < 30 && !err; i++) {
		s.tcp_flags = s6.tcp_flags = i % 3 ? TH_ACK : TH_SYN;
		err = expect_spec(&fx, &s, GUARD_ALLOWED) ?: expect_spec(&fx, &s6, GUARD_ALLOWED);
	}
	if (!err && sources_count(&fx) != 0)
		err = failf("allowed sources got %d buckets in guard_sources, expected none",
			    sources_count(&fx));
	if (!err) {
		/* Burst 1 and 100 ms between SYNs: the second SYN, from outside, is over. */
		struct step st[2] = {{.fr = &fr, .want = GUARD_PASSED},
				     {.fr = &fr, .want = GUARD_RATE_SYN, .by_us = 100000}};

		s.src = CLIENT4;
		s.tcp_flags = TH_SYN;
		build(&s, &fr);
		err = run_steps(&fx, st, 2);
		if (err == -EAGAIN)
			err = failf("two test runs took over 100 ms");
	}
	fixture_close(&fx);
	return err;
}

/*
 * Deny is looked up first, whatever the prefix lengths: an address denied inside an allowed
 * network, and an allowed network inside a denied one, are both DENIED; the rest of the allowed
 * network is ALLOWED.
 */
static int test_deny_before_allow(void)
{
	static const struct {
		int family;
		const char *src;
		enum guard_reason want;
	} cases[] = {
		{AF_INET, "198.51.100.7", GUARD_DENIED},
		{AF_INET, "198.51.100.8", GUARD_ALLOWED},
		{AF_INET, "203.0.113.9", GUARD_DENIED}, /* allowed /24 inside a denied /16 */
		{AF_INET, "203.0.114.9", GUARD_DENIED},
		{AF_INET6, "2001:db8:c::7", GUARD_DENIED},
		{AF_INET6, "2001:db8:c::8", GUARD_ALLOWED},
		{AF_INET6, "2001:db8:d:1::9", GUARD_DENIED},
	};
	struct fixture fx;
	int err;

	if (fixture_open(&fx))
		return -1;
	err = cidr_add(fx.skel->maps.guard_allow, "198.51.100.0/24") ?:
		      cidr_add(fx.skel->maps.guard_deny, "198.51.100.7/32") ?:
		      cidr_add(fx.skel->maps.guard_deny, "203.0.0.0/16") ?:
		      cidr_add(fx.skel->maps.guard_allow, "203.0.113.0/24") ?:
		      cidr_add(fx.skel->maps.guard_allow, "2001:db8:c::/48") ?:
		      cidr_add(fx.skel->maps.guard_deny, "2001:db8:c::7/128") ?:
		      cidr_add(fx.skel->maps.guard_deny, "2001:db8:d::/48") ?:
		      cidr_add(fx.skel->maps.guard_allow, "2001:db8:d:1::/64");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]) && !err; i++) {
		struct spec s = tcp_spec(cases[i].family, 1, TH_SYN);

		s.src = cases[i].src;
		err = expect_spec(&fx, &s, cases[i].want);
	}
	fixture_close(&fx);
	return err;
}

/*
 * Runs a time-sensitive sequence on fresh maps (listeners, then setup()), again when it ran too
 * slowly for its deadlines to be judged, at most ATTEMPTS times.
 */
static int run_timed(const struct step *st, int n, int (*setup)(struct fixture *))
{
	for (int attempt = 0; attempt < ATTEMPTS; attempt++) {
		struct fixture fx;
		int err;

		if (fixture_open(&fx))
			return -1;
		err = setup(&fx) ?: run_steps(&fx, st, n);
		fixture_close(&fx);
		if (err != -EAGAIN)
			return err;
	}
	return failf("%d attempts all ran past their deadlines (a loaded machine?)", ATTEMPTS);
}

static int deny_client6(struct fixture *fx)
{
	return cidr_add(fx->skel->maps.guard_deny, "2001:db8:c::7/128")
		       ?: limits_set(fx, 10, 1, 0, 0);
}

/*
 * Five destination options headers before TCP: the lists and the limits hold as without them.
 * From a denied source a SYN and a data segment to the listener are DENIED (they passed as
 * OTHER when the guard stopped after four headers, and a client completed whole HTTP exchanges
 * that way); another source's first SYN passes and its second, within the 100 ms of a burst of
 * one, is RATE_SYN.
 */
static int test_ipv6_five_dest_headers_judged(void)
{
	struct spec s = tcp_spec(AF_INET6, 0, TH_SYN);
	struct frame syn, data, other;
	struct step st[5];

	dest_chain(&s, 5);
	build(&s, &syn);
	s.tcp_flags = TH_ACK;
	s.payload = 64;
	build(&s, &data);
	s.tcp_flags = TH_SYN;
	s.payload = 0;
	s.src = "2001:db8:c::8";
	build(&s, &other);
	st[0] = (struct step){.fr = &syn, .want = GUARD_DENIED};
	st[1] = (struct step){.fr = &data, .want = GUARD_DENIED};
	st[2] = (struct step){.fr = &other, .want = GUARD_PASSED};
	st[3] = (struct step){.fr = &other, .want = GUARD_RATE_SYN, .by_us = 100000};
	st[4] = (struct step){.fr = &syn, .want = GUARD_DENIED};
	return run_timed(st, 5, deny_client6);
}

static int syn_limits(struct fixture *fx)
{
	return limits_set(fx, 10, 5, 0, 0);
}

/*
 * The SYN bucket at 10/s, burst 5: five SYNs from one source pass, the sixth (within the first
 * 100 ms) is RATE_SYN. ACK and SYN+ACK from that source are not new connections and pass;
 * another source, of either family, has its own bucket. 120 ms later one more SYN conforms
 * (one token back after 100 ms), and the next one does not.
 */
static int test_syn_bucket(void)
{
	struct frame syn, ack, synack, other, other6, syn6;
	struct spec s = tcp_spec(AF_INET, 0, TH_SYN);
	struct step st[16];
	int n = 0;

	build(&s, &syn);
	s.tcp_flags = TH_ACK;
	build(&s, &ack);
	s.tcp_flags = TH_SYN | TH_ACK;
	build(&s, &synack);
	s.tcp_flags = TH_SYN;
	s.src = "198.51.100.8";
	build(&s, &other);
	build_tcp(&syn6, AF_INET6, 1, TH_SYN);
	s = tcp_spec(AF_INET6, 1, TH_SYN);
	s.src = "2001:db8:c::8";
	build(&s, &other6);
	for (int i = 0; i < 5; i++)
		st[n++] = (struct step){.fr = &syn, .want = GUARD_PASSED};
	st[n++] = (struct step){.fr = &syn, .want = GUARD_RATE_SYN, .by_us = 100000};
	st[n++] = (struct step){.fr = &ack, .want = GUARD_PASSED};
	st[n++] = (struct step){.fr = &synack, .want = GUARD_PASSED};
	st[n++] = (struct step){.fr = &other, .want = GUARD_PASSED};
	st[n++] = (struct step){.fr = &syn6, .want = GUARD_PASSED};
	st[n++] = (struct step){.fr = &other6, .want = GUARD_PASSED};
	st[n++] = (struct step){.fr = &syn, .want = GUARD_PASSED, .sleep_ms = 120};
	st[n++] = (struct step){.fr = &syn, .want = GUARD_RATE_SYN, .by_us = 200000};
	return run_timed(st, n, syn_limits);
}

static int pkt_limits(struct fixture *fx)
{
	return limits_set(fx, 0, 0, 1000, 20);
}

/*
 * The packet bucket at 1000/s, burst 20: twenty ACKs pass, the 21st (within the first
 * millisecond) is RATE_PKT, and so is a SYN (every segment counts); another source passes.
 * 5 ms later the source has tokens again.
 */
static int test_pkt_bucket(void)
{
	struct frame ack, syn, other;
	struct spec s = tcp_spec(AF_INET6, 2, TH_ACK);
	struct step st[32];
	int n = 0;

	s.payload = 200;
	build(&s, &ack);
	s.tcp_flags = TH_SYN;
	s.payload = 0;
	build(&s, &syn);
	s.tcp_flags = TH_ACK;
	s.src = "2001:db8:c::8";
	build(&s, &other);
	for (int i = 0; i < 20; i++)
		st[n++] = (struct step){.fr = &ack, .want = GUARD_PASSED};
	st[n++] = (struct step){.fr = &ack, .want = GUARD_RATE_PKT, .by_us = 1000};
	st[n++] = (struct step){.fr = &syn, .want = GUARD_RATE_PKT, .by_us = 1000};
	st[n++] = (struct step){.fr = &other, .want = GUARD_PASSED};
	st[n++] = (struct step){.fr = &ack, .want = GUARD_PASSED, .sleep_ms = 5};
	return run_timed(st, n, pkt_limits);
}

static int both_limits_a(struct fixture *fx)
{
	return limits_set(fx, 10, 1, 1000, 2);
}

static int both_limits_b(struct fixture *fx)
{
	return limits_set(fx, 10, 2, 1000, 1);
}

/*
 * A packet dropped by one bucket spends nothing from the other. SYN 10/s burst 1, packets
 * 1000/s burst 2: SYN passes, SYN is RATE_SYN, then two ACKs still find one packet token (had
 * the dropped SYN spent one, the first ACK would be over). SYN 10/s burst 2, packets 1000/s
 * burst 1: SYN passes, SYN is RATE_PKT, and 3 ms later a SYN passes (had the dropped SYN spent a
 * SYN token, it would be RATE_SYN for 100 ms).
 */
static int test_rate_drop_spends_nothing(void)
{
	struct frame syn, ack;
	struct step a[4], b[3];

	build_tcp(&syn, AF_INET, 0, TH_SYN);
	build_tcp(&ack, AF_INET, 0, TH_ACK);
	a[0] = (struct step){.fr = &syn, .want = GUARD_PASSED};
	a[1] = (struct step){.fr = &syn, .want = GUARD_RATE_SYN, .by_us = 1000};
	a[2] = (struct step){.fr = &ack, .want = GUARD_PASSED, .by_us = 1000};
	a[3] = (struct step){.fr = &ack, .want = GUARD_RATE_PKT, .by_us = 1000};
	b[0] = (struct step){.fr = &syn, .want = GUARD_PASSED};
	b[1] = (struct step){.fr = &syn, .want = GUARD_RATE_PKT, .by_us = 1000};
	b[2] = (struct step){.fr = &syn, .want = GUARD_PASSED, .sleep_ms = 3, .by_us = 90000};
	return run_timed(a, 4, both_limits_a) ?: run_timed(b, 3, both_limits_b);
}

/*
 * With both limits off no bucket is created; with only the SYN limit on, a segment that is not
 * a new connection creates none either, a SYN creates its source's, holding a SYN tat on this
 * CPU and no packet tat. Traffic that is not to a listener, or denied, creates none.
 */
static int test_limits_off_no_source_entry(void)
{
	struct spec s4 = tcp_spec(AF_INET, 0, TH_SYN), s6 = tcp_spec(AF_INET6, 0, TH_SYN);
	struct guard_source src = {0};
	struct fixture fx;
	__u64 t0;
	int err, n;

	if (fixture_open(&fx))
		return -1;
	err = expect_spec(&fx, &s4, GUARD_PASSED) ?: expect_spec(&fx, &s6, GUARD_PASSED);
	s4.tcp_flags = s6.tcp_flags = TH_ACK;
	err = err ?: expect_spec(&fx, &s4, GUARD_PASSED) ?: expect_spec(&fx, &s6, GUARD_PASSED);
	if (!err && (n = sources_count(&fx)) != 0)
		err = failf("limits off: %d entries in guard_sources, expected none", n);
	err = err ?: limits_set(&fx, 10, 5, 0, 0) ?: expect_spec(&fx, &s4, GUARD_PASSED);
	if (!err && (n = sources_count(&fx)) != 0)
		err = failf("SYN limit only, an ACK: %d entries in guard_sources, expected none",
			    n);
	s4.dport = OTHER_PORT;
	s4.tcp_flags = TH_SYN;
	err = err ?: expect_spec(&fx, &s4, GUARD_OTHER) ?:
		      cidr_add(fx.skel->maps.guard_deny, "198.51.100.99/32");
	s4.dport = PORT;
	s4.src = "198.51.100.99";
	err = err ?: expect_spec(&fx, &s4, GUARD_DENIED);
	if (!err && (n = sources_count(&fx)) != 0)
		err = failf("a SYN to another port and a denied SYN: %d entries in guard_sources, "
			    "expected none",
			    n);
	s4.src = CLIENT4;
	t0 = now_ns();
	err = err ?: expect_spec(&fx, &s4, GUARD_PASSED);
	if (!err && (n = sources_count(&fx)) != 1)
		err = failf("SYN limit on, a SYN: %d entries in guard_sources, expected 1", n);
	if (!err && (err = source_get(&fx, CLIENT4, &src)))
		err = failf("looking up %s in guard_sources: %s", CLIENT4, strerror(-err));
	/* One SYN admitted at now: its tat is now + the 100 ms interval. */
	if (!err && (src.syn_tat < t0 + 100000000ULL || src.syn_tat > now_ns() + 100000000ULL ||
		     src.pkt_tat != 0))
		err = failf("%s's buckets on CPU %d: syn_tat %llu (test ran at %llu), pkt_tat "
			    "%llu; expected syn_tat 100 ms ahead, pkt_tat 0",
			    CLIENT4, test_cpu, (unsigned long long)src.syn_tat,
			    (unsigned long long)t0, (unsigned long long)src.pkt_tat);
	fixture_close(&fx);
	return err;
}

static const struct subtest subtests[] = {
	{"tcp_to_listener_passed", test_tcp_to_listener_passed},
	{"tcp_elsewhere_other", test_tcp_elsewhere_other},
	{"udp_icmp_other", test_udp_icmp_other},
	{"non_ip_other", test_non_ip_other},
	{"vlan_beyond_max_other", test_vlan_beyond_max_other},
	{"ipv4_options_matched", test_ipv4_options_matched},
	{"ipv4_fragments", test_ipv4_fragments},
	{"ipv6_fragments", test_ipv6_fragments},
	{"ipv6_ext_headers_matched", test_ipv6_ext_headers_matched},
	{"ipv6_five_dest_headers_judged", test_ipv6_five_dest_headers_judged},
	{"ipv6_chain_beyond_walk", test_ipv6_chain_beyond_walk},
	{"unseen_port_lists_first", test_unseen_port_lists_first},
	{"ipv4_bad_lengths", test_ipv4_bad_lengths},
	{"ipv6_bad_lengths", test_ipv6_bad_lengths},
	{"ipv4_vlan_truncations", test_ipv4_vlan_truncations},
	{"ipv6_truncations", test_ipv6_truncations},
	{"wildcard_listener", test_wildcard_listener},
	{"deny_list", test_deny_list},
	{"allow_list_bypasses_limits", test_allow_list_bypasses_limits},
	{"deny_before_allow", test_deny_before_allow},
	{"syn_bucket", test_syn_bucket},
	{"pkt_bucket", test_pkt_bucket},
	{"rate_drop_spends_nothing", test_rate_drop_spends_nothing},
	{"limits_off_no_source_entry", test_limits_off_no_source_entry},
};

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

/*
 * Whether the kernel can test-run an XDP program at all: the smallest one, "return XDP_PASS",
 * loaded by hand and run over one Ethernet header. Only this probe decides a skip; any failure
 * to load or run the guard itself is a failure.
 */
static int probe_xdp_test_run(void)
{
	const struct bpf_insn pass[] = {
		{.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = XDP_PASS},
		{.code = BPF_JMP | BPF_EXIT},
	};
	__u8 frame[ETH_HLEN] = {0};
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = sizeof(frame),
		    .repeat = 1);
	int prog, err = 0;

	prog = bpf_prog_load(BPF_PROG_TYPE_XDP, NULL, "GPL", pass, 2, NULL);
	if (prog < 0)
		return -errno;
	if (bpf_prog_test_run_opts(prog, &opts))
		err = -errno;
	else if (opts.retval != XDP_PASS)
		err = -EPROTO;
	close(prog);
	return err;
}

/*
 * Per-CPU buckets and counters are only deterministic if every test run happens on one CPU
 * (BPF_PROG_TEST_RUN runs XDP on the caller's): stay on the one we started on.
 */
static int pin_cpu(void)
{
	cpu_set_t set;

	test_cpu = sched_getcpu();
	if (test_cpu < 0)
		return -errno;
	CPU_ZERO(&set);
	CPU_SET(test_cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		return -errno;
	return 0;
}

int main(void)
{
	struct guard_bpf *probe;
	int err;

	setvbuf(stdout, NULL, _IOLBF, 0);
	libbpf_set_print(libbpf_quiet);
	err = probe_xdp_test_run();
	if (err == -EINVAL || err == -EOPNOTSUPP || err == -ENOTSUPP) {
		printf("SKIP guard: the kernel cannot test-run an XDP program: %s\n",
		       strerror(-err));
		return KSFT_SKIP;
	}
	if (err) {
		printf("FAIL guard: probe of XDP test runs: %s\n", strerror(-err));
		return 1;
	}
	err = pin_cpu();
	if (err) {
		printf("FAIL guard: pinning to one CPU: %s\n", strerror(-err));
		return 1;
	}
	probe = guard_bpf__open_and_load();
	if (!probe) {
		printf("FAIL guard: loading bpf/guard.bpf.c: %s\n", strerror(errno));
		return 1;
	}
	guard_bpf__destroy(probe);
	return run_subtests("guard", subtests, sizeof(subtests) / sizeof(subtests[0]));
}
