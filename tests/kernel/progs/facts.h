/* SPDX-License-Identifier: GPL-2.0-only */
/* Types shared by the kernel-facts splice program and its loader: peer entries, counter slots. */
#ifndef STRG_KTEST_FACTS_H
#define STRG_KTEST_FACTS_H

/* The includer provides __u32/__u64 (vmlinux.h in BPF, <linux/types.h> in user space). */

#define FACTS_MAX_SOCKS 16
#define FACTS_HEAD_MAX	2048 /* largest skb the program pulls linear to read its head */

/* Value of the peers map, keyed by the cookie of the socket the bytes arrive on. */
struct facts_peer {
	__u64 peer_cookie; /* destination socket (key in the sockhash) */
	__u32 pass;	   /* non-zero: SK_PASS to the receiving socket's own queue */
	__u32 pad;
};

/* Slots of the counters array (each a __u64). */
enum facts_counter {
	FACTS_CALLS = 0,	  /* verdict invocations */
	FACTS_BYTES = 1,	  /* sum of skb->len */
	FACTS_REDIRECTS = 2,	  /* bpf_sk_redirect_hash() returned SK_PASS */
	FACTS_PASSES = 3,	  /* SK_PASS to the own queue (no entry or pass set) */
	FACTS_REDIRECT_FAILS = 4, /* bpf_sk_redirect_hash() returned SK_DROP */
	FACTS_MAX_LEN = 5,	  /* largest skb->len seen, bytes */
	FACTS_HEAD = 6,		  /* first 8 bytes of the last skb of <= FACTS_HEAD_MAX bytes */
	FACTS_LINEAR_BEFORE = 7,  /* data_end - data of that skb before bpf_skb_pull_data() */
	FACTS_LINEAR_AFTER = 8,	  /* data_end - data of that skb after bpf_skb_pull_data() */
	FACTS_EMPTY = 9,	  /* verdict invocations on an skb of no bytes */
	FACTS_NR = 10,
};

#endif
