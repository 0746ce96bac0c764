// SPDX-License-Identifier: GPL-2.0-only
/* Sockmap splice: bytes arriving on a socket in the sockhash are redirected to its peer socket. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "strg/splice.h"

struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, STRG_SPLICE_MAX_SOCKS);
	__type(key, __u64); /* socket cookie */
	__type(value, __u64);
} socks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, STRG_SPLICE_MAX_SOCKS);
	__type(key, __u64); /* socket cookie of the receiving socket */
	__type(value, struct strg_peer);
} peers SEC(".maps");

/* libbpf 1.1 does not know "sk_skb/verdict": plain "sk_skb", attached as BPF_SK_SKB_VERDICT. */
SEC("sk_skb")
int splice_verdict(struct __sk_buff *skb)
{
	__u64 cookie = bpf_get_socket_cookie(skb);
	struct strg_peer *peer;

	peer = bpf_map_lookup_elem(&peers, &cookie);
	if (!peer || (peer->flags & STRG_PEER_PASS))
		return SK_PASS;
	return bpf_sk_redirect_hash(skb, &socks, &peer->peer_cookie, 0);
}

char LICENSE[] SEC("license") = "GPL";
