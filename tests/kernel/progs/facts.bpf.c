// SPDX-License-Identifier: GPL-2.0-only
/* Minimal sockmap splice for the kernel-facts tests: redirect or pass, and count what it saw. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "facts.h"

struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, FACTS_MAX_SOCKS);
	__type(key, __u64); /* socket cookie */
	__type(value, __u64);
} socks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FACTS_MAX_SOCKS);
	__type(key, __u64); /* socket cookie of the receiving socket */
	__type(value, struct facts_peer);
} peers SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FACTS_NR);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

static __always_inline __u64 *slot(__u32 idx)
{
	return bpf_map_lookup_elem(&counters, &idx);
}

static __always_inline void count(__u32 idx, __u64 delta)
{
	__u64 *v = slot(idx);

	if (v)
		__sync_fetch_and_add(v, delta);
}

static __always_inline void set(__u32 idx, __u64 val)
{
	__u64 *v = slot(idx);

	if (v)
		*v = val;
}

/*
 * Record the head of a small skb the way an HTTP scanner would read it: pull it linear, then
 * direct access bounded by data_end. The linear length before the pull tells whether the pull is
 * needed at all.
 */
static __always_inline void record_head(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	__u64 head = 0;

	if (skb->len > FACTS_HEAD_MAX)
		return;
	set(FACTS_LINEAR_BEFORE, data_end - data);
	if (bpf_skb_pull_data(skb, skb->len))
		return;
	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;
	set(FACTS_LINEAR_AFTER, data_end - data);
	if (data + sizeof(head) > data_end)
		return;
	__builtin_memcpy(&head, data, sizeof(head));
	set(FACTS_HEAD, head);
}

/* Racy across CPUs, which is fine: the tests that read it send one skb at a time. */
static __always_inline void record_max_len(__u32 len)
{
	__u64 *v = slot(FACTS_MAX_LEN);

	if (v && *v < len)
		*v = len;
}

/* libbpf 1.1 does not know "sk_skb/verdict": plain "sk_skb", attached as BPF_SK_SKB_VERDICT. */
SEC("sk_skb")
int facts_verdict(struct __sk_buff *skb)
{
	__u64 cookie = bpf_get_socket_cookie(skb);
	struct facts_peer *peer;
	long ret;

	count(FACTS_CALLS, 1);
	count(FACTS_BYTES, skb->len);
	if (!skb->len)
		count(FACTS_EMPTY, 1);
	record_max_len(skb->len);
	record_head(skb);

	peer = bpf_map_lookup_elem(&peers, &cookie);
	if (!peer || peer->pass) {
		count(FACTS_PASSES, 1);
		return SK_PASS;
	}
	/* flags 0: egress, the bytes are sent out of the peer socket. */
	ret = bpf_sk_redirect_hash(skb, &socks, &peer->peer_cookie, 0);
	count(ret == SK_PASS ? FACTS_REDIRECTS : FACTS_REDIRECT_FAILS, 1);
	return ret;
}

char LICENSE[] SEC("license") = "GPL";
