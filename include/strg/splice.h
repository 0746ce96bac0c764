/* SPDX-License-Identifier: GPL-2.0-only */
/* Types shared by the splice BPF program and strgd: socket-pair state keyed by socket cookie. */
#ifndef STRG_SPLICE_H
#define STRG_SPLICE_H

/* The includer provides __u32/__u64 (vmlinux.h in BPF, <linux/types.h> in user space). */

#define STRG_SPLICE_MAX_SOCKS 65536

/* Value of the peer map: where bytes arriving on a socket go. */
struct strg_peer {
	__u64 peer_cookie; /* socket cookie of the destination socket in the sockhash */
	__u32 flags;	   /* STRG_PEER_* */
	__u32 pad;
};

enum strg_peer_flags {
	STRG_PEER_PASS = 1, /* hand bytes to user space instead of redirecting */
};

#endif
