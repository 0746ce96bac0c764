/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Maps shared by the XDP guard (bpf/guard.bpf.c) and strgd (user/kernel/guard.c), pinned under the
 * pin directory next to the splice program's. The guard looks only at TCP segments to strgd's
 * listening addresses and ports; everything else passes untouched.
 */
#ifndef STRG_GUARD_H
#define STRG_GUARD_H

/* The includer provides __u8/__u16/__u32/__u64 (vmlinux.h in BPF, <linux/types.h> in user space).
 */

/* Entries of the deny list, and of the allow list. */
#define GUARD_MAX_CIDRS 16384
/* Sources whose token buckets are kept (the least recently used go). */
#define GUARD_MAX_SOURCES 65536
/* Listening address:port pairs guarded. */
#define GUARD_MAX_LISTEN 64
/*
 * VLAN tags (802.1Q, 802.1ad) and IPv6 extension headers looked through. Eight headers hold
 * every chain RFC 8200 recommends (each header once, destination options twice); a packet to a
 * listening address with a longer chain is judged by the lists alone, else dropped (guard.bpf.c).
 */
#define GUARD_VLAN_MAX	 2
#define GUARD_EXTHDR_MAX 8

/*
 * Deny and allow lists (LPM tries). Addresses are IPv6; an IPv4 address is stored mapped
 * (::ffff:a.b.c.d), so an IPv4 /n prefix has prefixlen 96 + n.
 */
struct guard_cidr {
	__u32 prefixlen;
	__u8 addr[16];
};

/*
 * A guarded listener: destination address (all zero: any address) and TCP port. strgd also
 * inserts each address with port 0: a fragment (whose port cannot be seen) of TCP to a
 * listening address is dropped as malformed; TCP to listeners is never fragmented honestly.
 */
struct guard_listen_key {
	__u8 addr[16]; /* IPv4 mapped as above; all zero for a wildcard listener */
	__u16 port;    /* network byte order */
	__u16 pad;     /* zero */
};

/*
 * Token buckets per source, as GCRA: "tat" is the theoretical arrival time of the next packet
 * (ns, bpf_ktime_get_ns). A packet is admitted when tat - now <= tolerance, then tat advances by
 * the interval. Per CPU (an LRU per-CPU hash), so the rate applies per receiving CPU.
 */
struct guard_source {
	__u64 syn_tat;
	__u64 pkt_tat;
};

/* The limits (one entry, key 0). An interval of 0 turns that limit off. */
struct guard_config {
	__u64 syn_interval_ns;	/* 1e9 / rate of new connections (SYN without ACK) per source */
	__u64 syn_tolerance_ns; /* (burst - 1) * syn_interval_ns */
	__u64 pkt_interval_ns;	/* 1e9 / rate of packets per source */
	__u64 pkt_tolerance_ns;
	__u32 syn_rate, syn_burst; /* as configured, for strgctl limit show */
	__u32 pkt_rate, pkt_burst;
};

/* Why a packet went where it went: the counters' index. */
enum guard_reason {
	GUARD_PASSED,	 /* to a listener, within the limits */
	GUARD_ALLOWED,	 /* to a listener, from the allow list: no limits applied */
	GUARD_DENIED,	 /* from the deny list: dropped */
	GUARD_RATE_SYN,	 /* over its source's new-connection rate: dropped */
	GUARD_RATE_PKT,	 /* over its source's packet rate: dropped */
	GUARD_MALFORMED, /* an IP packet whose headers are truncated or inconsistent, or one to a
			  * listening address whose port cannot be seen: dropped */
	GUARD_OTHER,	 /* not TCP to a listener (ARP, other ports, UDP...): passed untouched */
	GUARD_REASONS
};

/* Per reason, per CPU (a per-CPU array indexed by enum guard_reason). */
struct guard_count {
	__u64 packets;
	__u64 bytes;
};

#endif
