// SPDX-License-Identifier: GPL-2.0-only
/*
 * Counts the runs of the kernel work that sends redirected skbs (sk_psock_backlog) for one target
 * socket (its network namespace and local port, set by the loader), per CPU. A tracepoint, not
 * fentry: this kernel refuses fentry programs (EPERM), while the workqueue tracepoints load.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "backlog.h"

const volatile __u64 backlog_fn;   /* address of sk_psock_backlog (/proc/kallsyms), 0: unknown */
const volatile __u32 target_netns; /* inode of the target socket's network namespace */
__u32 target_port;		   /* its local port (host order); 0 counts nothing */

__u64 runs[BACKLOG_CPUS];
__u64 runs_other;

SEC("tp_btf/workqueue_execute_start")
int BPF_PROG(backlog_run, struct work_struct *work)
{
	struct delayed_work *dw = container_of(work, struct delayed_work, work);
	struct sk_psock *psock = container_of(dw, struct sk_psock, work);
	__u32 cpu = bpf_get_smp_processor_id();
	struct sock *sk;

	if (!target_port || (backlog_fn && (__u64)BPF_CORE_READ(work, func) != backlog_fn))
		return 0;
	/* Read with probe reads: for another work than a psock's these fields are not a socket. */
	sk = BPF_CORE_READ(psock, sk);
	if (!sk || BPF_CORE_READ(sk, __sk_common.skc_num) != target_port ||
	    BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum) != target_netns)
		return 0;
	if (cpu < BACKLOG_CPUS)
		__sync_fetch_and_add(&runs[cpu], 1);
	else
		__sync_fetch_and_add(&runs_other, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
