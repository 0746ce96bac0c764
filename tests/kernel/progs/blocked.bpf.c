// SPDX-License-Identifier: GPL-2.0-only
/*
 * Counts the times one thread (its tid, set by the loader) goes to sleep uninterruptibly, as a
 * wait for an RCU grace period does (synchronize_rcu, expedited or not), and keeps the kernel
 * stack of the first such sleep. A sched_switch tracepoint: this kernel has neither kprobes nor
 * fentry, so the sleep is what can be seen of the wait.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "blocked.h"

#define SLEEP_UNINTERRUPTIBLE 0x2 /* TASK_UNINTERRUPTIBLE in prev_state */

__u32 target_tid; /* 0 counts nothing */
__u64 blocked;
__u64 stack[BLOCKED_STACK];

SEC("tp_btf/sched_switch")
int BPF_PROG(sleep_seen, bool preempt, struct task_struct *prev, struct task_struct *next,
	     unsigned int prev_state)
{
	if (!target_tid || prev->pid != (int)target_tid || !(prev_state & SLEEP_UNINTERRUPTIBLE))
		return 0;
	if (__sync_fetch_and_add(&blocked, 1) == 0)
		bpf_get_stack(ctx, stack, sizeof(stack), 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
