// SPDX-License-Identifier: GPL-2.0-only
/*
 * The XDP guard: before the kernel spends an skb on them, drops the TCP segments to strgd's
 * listeners that come from a denied source, exceed their source's rate, or carry truncated or
 * inconsistent headers; every other frame (ARP, UDP, TCP to other ports...) passes untouched.
 * A packet to a listening address whose port the guard cannot see (a fragment, an IPv6 chain of
 * extension headers longer than it walks) may be TCP to a listener: the lists, which need only
 * the addresses, judge it, and any other such packet is dropped as malformed, so that neither
 * the lists nor the limits can be walked around. Each frame is counted once, under the reason
 * for its verdict.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "strg/gcra.h"
#include "strg/guard.h"

/* vmlinux.h carries the kernel's types, not the UAPI's #defines. */
#define ETH_P_IP	 0x0800
#define ETH_P_IPV6	 0x86DD
#define ETH_P_8021Q	 0x8100
#define ETH_P_8021AD	 0x88A8
#define IP_MF		 0x2000 /* iphdr.frag_off: more fragments */
#define IP_OFFSET	 0x1FFF /* iphdr.frag_off: fragment offset, 8-byte units */
#define IP6_FRAG_OFFSET	 0xFFF8 /* frag_hdr.frag_off: fragment offset */
#define NEXTHDR_HOP	 0
#define NEXTHDR_ROUTING	 43
#define NEXTHDR_FRAGMENT 44
#define NEXTHDR_DEST	 60
#define IPV6_HLEN	 40
#define IPV6_EXTHDR_MIN	 8    /* every extension header is a multiple of 8 bytes */
#define TH_SYN		 0x02 /* TCP flags byte (offset 13 of the header) */
#define TH_ACK		 0x10

/*
 * Deny and allow lists, written by strgd only. Looked up with the source address as a /128:
 * the longest prefix holding it answers.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, GUARD_MAX_CIDRS);
	__uint(map_flags, BPF_F_NO_PREALLOC); /* required of LPM tries */
	__type(key, struct guard_cidr);
	__type(value, __u8);
} guard_deny SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, GUARD_MAX_CIDRS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct guard_cidr);
	__type(value, __u8);
} guard_allow SEC(".maps");

/* strgd's listening address:port pairs, plus each address with port 0 (see guard.h). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, GUARD_MAX_LISTEN);
	__type(key, struct guard_listen_key);
	__type(value, __u8);
} guard_listen SEC(".maps");

/* The limits, written by strgd (a whole-value update: the program reads each field once). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct guard_config);
} guard_config SEC(".maps");

/* guard_sources' key: the source address, IPv4 mapped as in guard.h. */
struct guard_source_key {
	__u8 addr[16];
};

/*
 * Token buckets, written by the program only (strgd may read or flush them). Per CPU, so a
 * bucket is only ever touched by the CPU it belongs to and needs no atomics; the LRU evicts
 * quiet sources when a flood of new ones fills the map.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, GUARD_MAX_SOURCES);
	__type(key, struct guard_source_key);
	__type(value, struct guard_source);
} guard_sources SEC(".maps");

/* Counters per enum guard_reason, written by the program only. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, GUARD_REASONS);
	__type(key, __u32);
	__type(value, struct guard_count);
} guard_stats SEC(".maps");

/*
 * The parsers return either a final enum guard_reason or one of these, to carry on. Values
 * follow the reasons so that one int holds both.
 */
enum guard_parse {
	PARSE_MORE = GUARD_REASONS, /* the headers so far are sound: parse the next one */
	PARSE_TCP,		    /* a whole TCP header: the segment is described */
	PARSE_TCP_FRAG,		    /* a fragment of a TCP datagram: addresses known, port not */
	PARSE_UNSEEN, /* IPv6 headers beyond GUARD_EXTHDR_MAX: addresses known, protocol not */
};

/* The frame being parsed: every read goes through guard_at(), which checks it against end. */
struct guard_frame {
	void *data;
	void *end;
};

/* 802.1Q / 802.1ad tag, after which the next ethertype follows. */
struct guard_vlan {
	__be16 tci;
	__be16 proto;
};

/* What the parsers learnt of a TCP segment (or of a fragment of one). */
struct guard_seg {
	__u8 saddr[16]; /* IPv4 mapped */
	__u8 daddr[16];
	__be16 dport; /* 0 for a fragment */
	__u8 flags;   /* the TCP flags byte */
};

/* Walk state through the IPv6 extension headers. */
struct guard_exthdrs {
	__u32 off;   /* frame offset of the header that nh names */
	__u8 nh;     /* next header */
	bool frag;   /* a fragment header was seen */
	bool unseen; /* the chain goes on beyond GUARD_EXTHDR_MAX headers */
};

/*
 * len bytes at frame offset off, or NULL when the frame ends first. The barrier hides from
 * clang that p is data + off: otherwise it may recompute data + off for a later read, a new
 * pointer that the verifier has not seen checked against end.
 */
static __always_inline void *guard_at(const struct guard_frame *f, __u32 off, __u32 len)
{
	void *p = f->data + off;

	if (p + len > f->end)
		return NULL;
	barrier_var(p);
	return p;
}

/* An IPv4 address as guard.h stores it: ::ffff:a.b.c.d. */
static __always_inline void map_v4(__u8 *dst, __be32 addr)
{
	__builtin_memset(dst, 0, 10);
	dst[10] = 0xff;
	dst[11] = 0xff;
	__builtin_memcpy(dst + 12, &addr, 4);
}

/*
 * Ethernet and up to GUARD_VLAN_MAX VLAN tags: the ethertype of what follows and its offset.
 * A frame cut before the ethertype that would say IP cannot be called malformed IP: it is
 * passed as OTHER, like a frame with more tags than we look through.
 */
static __always_inline int parse_l2(const struct guard_frame *f, __be16 *proto, __u32 *off)
{
	struct ethhdr *eth = guard_at(f, 0, sizeof(*eth));
	struct guard_vlan *tag;
	__u32 o = sizeof(*eth);
	__be16 type;

	if (!eth)
		return GUARD_OTHER;
	type = eth->h_proto;
	for (int i = 0; i < GUARD_VLAN_MAX; i++) {
		if (type != bpf_htons(ETH_P_8021Q) && type != bpf_htons(ETH_P_8021AD))
			break;
		tag = guard_at(f, o, sizeof(*tag));
		if (!tag)
			return GUARD_OTHER;
		type = tag->proto;
		o += sizeof(*tag);
	}
	*proto = type;
	*off = o;
	return PARSE_MORE;
}

/*
 * The TCP header at off, of a segment whose length the IP header declared as len (already
 * checked to lie within the frame). Options are not read: only their length must fit.
 */
static __always_inline int parse_tcp(const struct guard_frame *f, __u32 off, __u32 len,
				     struct guard_seg *seg)
{
	struct tcphdr *th;
	__u32 hlen;

	if (len < sizeof(*th))
		return GUARD_MALFORMED;
	th = guard_at(f, off, sizeof(*th));
	if (!th)
		return GUARD_MALFORMED;
	hlen = (((__u8 *)th)[12] >> 4) * 4;
	if (hlen < sizeof(*th) || hlen > len)
		return GUARD_MALFORMED;
	seg->dport = th->dest;
	seg->flags = ((__u8 *)th)[13];
	return PARSE_TCP;
}

/*
 * IPv4: the header whole and consistent, the datagram within the frame (which may be longer:
 * Ethernet pads short frames). Options are skipped, not read.
 */
static __always_inline int parse_ipv4(const struct guard_frame *f, __u32 off, struct guard_seg *seg)
{
	struct iphdr *ip = guard_at(f, off, sizeof(*ip));
	__u32 hlen, tot;
	__u8 vihl;

	if (!ip)
		return GUARD_MALFORMED;
	vihl = *(__u8 *)ip; /* version and IHL, read as a byte: bitfield order is the host's */
	hlen = (vihl & 0xf) * 4;
	if (vihl >> 4 != 4 || hlen < sizeof(*ip))
		return GUARD_MALFORMED;
	tot = bpf_ntohs(ip->tot_len);
	if (tot < hlen || (void *)ip + tot > f->end)
		return GUARD_MALFORMED;
	if (ip->protocol != IPPROTO_TCP)
		return GUARD_OTHER;
	map_v4(seg->saddr, ip->saddr);
	map_v4(seg->daddr, ip->daddr);
	if (ip->frag_off & bpf_htons(IP_MF | IP_OFFSET))
		return PARSE_TCP_FRAG;
	return parse_tcp(f, off + hlen, tot - hlen, seg);
}

static __always_inline bool is_exthdr(__u8 nh)
{
	return nh == NEXTHDR_HOP || nh == NEXTHDR_ROUTING || nh == NEXTHDR_FRAGMENT ||
	       nh == NEXTHDR_DEST;
}

/*
 * Up to GUARD_EXTHDR_MAX IPv6 extension headers, each within the payload (which ends at frame
 * offset end). Stops early after the fragment header of a non-first fragment: what follows it
 * is the middle of the datagram, not headers. Leaves w->nh on the first header not walked, and
 * w->unseen set when that is still an extension header: what the chain leads to is unknown.
 */
static __always_inline int walk_exthdrs(const struct guard_frame *f, __u32 end,
					struct guard_exthdrs *w)
{
	for (int i = 0; i < GUARD_EXTHDR_MAX; i++) {
		bool later_frag = false;
		__u32 hlen;
		__u8 *h;

		if (!is_exthdr(w->nh))
			return PARSE_MORE;
		h = guard_at(f, w->off, IPV6_EXTHDR_MIN);
		if (!h)
			return GUARD_MALFORMED;
		if (w->nh == NEXTHDR_FRAGMENT) {
			hlen = IPV6_EXTHDR_MIN;
			w->frag = true;
			later_frag = *(__be16 *)(h + 2) & bpf_htons(IP6_FRAG_OFFSET);
		} else {
			hlen = (h[1] + 1) * 8;
		}
		if (w->off + hlen > end)
			return GUARD_MALFORMED;
		w->nh = h[0];
		w->off += hlen;
		if (later_frag)
			return PARSE_MORE;
	}
	w->unseen = is_exthdr(w->nh);
	return PARSE_MORE;
}

/*
 * IPv6: the payload within the frame, then the extension headers. A chain longer than
 * GUARD_EXTHDR_MAX is PARSE_UNSEEN: whether TCP follows, and to which port, is unknown (the
 * stack walks any number of headers, so such a chain may well carry TCP to a listener).
 */
static __always_inline int parse_ipv6(const struct guard_frame *f, __u32 off, struct guard_seg *seg)
{
	struct ipv6hdr *ip6 = guard_at(f, off, sizeof(*ip6));
	struct guard_exthdrs w;
	__u32 end;
	int r;

	if (!ip6)
		return GUARD_MALFORMED;
	if (*(__u8 *)ip6 >> 4 != 6)
		return GUARD_MALFORMED;
	end = off + IPV6_HLEN + bpf_ntohs(ip6->payload_len);
	if (f->data + end > f->end)
		return GUARD_MALFORMED;
	w.off = off + IPV6_HLEN;
	w.nh = ip6->nexthdr;
	w.frag = false;
	w.unseen = false;
	r = walk_exthdrs(f, end, &w);
	if (r != PARSE_MORE)
		return r;
	if (w.nh != IPPROTO_TCP && !w.unseen)
		return GUARD_OTHER;
	__builtin_memcpy(seg->saddr, &ip6->saddr, sizeof(seg->saddr));
	__builtin_memcpy(seg->daddr, &ip6->daddr, sizeof(seg->daddr));
	if (w.unseen)
		return PARSE_UNSEEN;
	if (w.frag)
		return PARSE_TCP_FRAG;
	return parse_tcp(f, w.off, end - w.off, seg);
}

/* Whether strgd listens on daddr:port, on that address or on any (a wildcard listener). */
static __always_inline bool listening(const __u8 *daddr, __be16 port)
{
	struct guard_listen_key key = {.port = port};

	__builtin_memcpy(key.addr, daddr, sizeof(key.addr));
	if (bpf_map_lookup_elem(&guard_listen, &key))
		return true;
	__builtin_memset(key.addr, 0, sizeof(key.addr));
	return bpf_map_lookup_elem(&guard_listen, &key);
}

/*
 * The source's buckets on this CPU, created empty the first time a limit applies to it.
 * BPF_NOEXIST: the entry may have appeared since the lookup (created by another CPU, whose
 * values are its own); the second lookup returns ours either way. NULL only if the LRU could
 * not give an entry at all: the packet is then let through rather than limited at random.
 */
static __always_inline struct guard_source *source_of(const __u8 *saddr)
{
	struct guard_source fresh = {};
	struct guard_source_key key;
	struct guard_source *src;

	__builtin_memcpy(key.addr, saddr, sizeof(key.addr));
	src = bpf_map_lookup_elem(&guard_sources, &key);
	if (src)
		return src;
	bpf_map_update_elem(&guard_sources, &key, &fresh, BPF_NOEXIST);
	return bpf_map_lookup_elem(&guard_sources, &key);
}

/*
 * The limits of guard_config against the source's buckets: a new connection (SYN without
 * ACK) against the SYN bucket, then every segment against the packet bucket. Both are
 * decided before either is spent, so a packet dropped by one does not use the other.
 */
static __always_inline enum guard_reason limit(const struct guard_seg *seg)
{
	__u64 syn_iv, syn_tol, pkt_iv, pkt_tol, now, syn_tat = 0, pkt_tat = 0;
	const struct guard_config *cfg;
	struct guard_source *src;
	__u32 zero = 0;

	cfg = bpf_map_lookup_elem(&guard_config, &zero);
	if (!cfg)
		return GUARD_PASSED;
	syn_iv = (seg->flags & (TH_SYN | TH_ACK)) == TH_SYN ? cfg->syn_interval_ns : 0;
	syn_tol = cfg->syn_tolerance_ns;
	pkt_iv = cfg->pkt_interval_ns;
	pkt_tol = cfg->pkt_tolerance_ns;
	if (!syn_iv && !pkt_iv)
		return GUARD_PASSED; /* no limit applies: no bucket is created for the source */
	src = source_of(seg->saddr);
	if (!src)
		return GUARD_PASSED;
	now = bpf_ktime_get_ns();
	if (syn_iv && !strg_gcra(src->syn_tat, now, syn_iv, syn_tol, &syn_tat))
		return GUARD_RATE_SYN;
	if (pkt_iv && !strg_gcra(src->pkt_tat, now, pkt_iv, pkt_tol, &pkt_tat))
		return GUARD_RATE_PKT;
	if (syn_iv)
		src->syn_tat = syn_tat;
	if (pkt_iv)
		src->pkt_tat = pkt_tat;
	return GUARD_PASSED;
}

/*
 * The lists, which need only the source address: DENIED, ALLOWED, or PARSE_MORE for a source
 * on neither. The deny list comes first: an address denied inside an allowed (wider) prefix
 * stays denied, so an operator can carve exceptions out of an allowed network.
 */
static __always_inline int listed(const struct guard_seg *seg)
{
	struct guard_cidr key = {.prefixlen = 128};

	__builtin_memcpy(key.addr, seg->saddr, sizeof(key.addr));
	if (bpf_map_lookup_elem(&guard_deny, &key))
		return GUARD_DENIED;
	if (bpf_map_lookup_elem(&guard_allow, &key))
		return GUARD_ALLOWED;
	return PARSE_MORE;
}

/* A segment to a listener: the lists, then the limits. */
static __always_inline enum guard_reason admit(const struct guard_seg *seg)
{
	int r = listed(seg);

	return r != PARSE_MORE ? r : limit(seg);
}

/*
 * A packet to a listening address whose port cannot be seen: a fragment of TCP (TCP to strgd is
 * never fragmented honestly: it segments to fit the path MTU), or an IPv6 chain longer than the
 * guard walks (no honest stack sends one). It may be TCP to a listener, so it must not pass
 * unjudged: the lists apply as to any segment, and a source on neither is dropped as malformed
 * (the limits, which count segments of known connections, cannot judge it).
 */
static __always_inline enum guard_reason unseen_port(const struct guard_seg *seg)
{
	int r;

	if (!listening(seg->daddr, 0))
		return GUARD_OTHER;
	r = listed(seg);
	return r != PARSE_MORE ? r : GUARD_MALFORMED;
}

static __always_inline enum guard_reason classify(struct xdp_md *ctx)
{
	struct guard_frame f = {
		.data = (void *)(long)ctx->data,
		.end = (void *)(long)ctx->data_end,
	};
	struct guard_seg seg = {};
	__be16 proto;
	__u32 off;
	int r;

	r = parse_l2(&f, &proto, &off);
	if (r != PARSE_MORE)
		return r;
	if (proto == bpf_htons(ETH_P_IP))
		r = parse_ipv4(&f, off, &seg);
	else if (proto == bpf_htons(ETH_P_IPV6))
		r = parse_ipv6(&f, off, &seg);
	else
		return GUARD_OTHER;
	if (r == PARSE_TCP_FRAG || r == PARSE_UNSEEN)
		return unseen_port(&seg);
	if (r != PARSE_TCP)
		return r;
	if (!listening(seg.daddr, seg.dport))
		return GUARD_OTHER;
	return admit(&seg);
}

/* Per CPU: no other CPU writes this slot, so plain increments are exact. */
static __always_inline void count(enum guard_reason why, __u64 bytes)
{
	struct guard_count *n;
	__u32 key = why;

	n = bpf_map_lookup_elem(&guard_stats, &key);
	if (!n)
		return;
	n->packets++;
	n->bytes += bytes;
}

SEC("xdp")
int strg_guard(struct xdp_md *ctx)
{
	enum guard_reason why = classify(ctx);

	/*
	 * The frame's length, data_end - data: this program is not frags-aware, so the frame is
	 * linear. Asked of the helper because subtracting packet pointers needs CAP_PERFMON.
	 */
	count(why, bpf_xdp_get_buff_len(ctx));
	switch (why) {
	case GUARD_PASSED:
	case GUARD_ALLOWED:
	case GUARD_OTHER:
		return XDP_PASS;
	default:
		return XDP_DROP;
	}
}

char LICENSE[] SEC("license") = "GPL";
