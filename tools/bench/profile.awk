# SPDX-License-Identifier: GPL-2.0-only
# tools/bench/run PROFILE=DIR: where the machine's CPU went during one measured run, per request,
# from `perf report -n --no-children --sort comm,dso,sym -g none --stdio` of a whole-machine
# cpu-clock recording. Only the bench's own programs (strgd, wrk, nginx, haproxy) and the kernel's
# threads (kworker, ksoftirqd, io_uring workers) are counted: other processes (other tenants of
# a shared machine) and the idle task are left out and counted apart. On a shared machine
# another strgd, wrk or nginx would be counted too: profile on a quiet one.
#
# Variables: hz (perf's sampling frequency), reqs (requests the run completed), title.
# The comm of a thread can be cut (15 bytes) or renamed: "wrk" threads keep "wrk".

# The category of one sample line: who ran (comm) and where (dso, symbol).
function category(comm, dso, sym) {
	if (comm ~ /^kworker/)
		return "kernel workers (kworker: sockmap redirect sends, sk_psock_backlog)"
	if (comm ~ /^ksoftirqd/)
		return "ksoftirqd (softirqs deferred to their thread)"
	if (comm ~ /^iou-wrk/)
		return "io_uring workers (iou-wrk: splices)"
	if (dso ~ /^bpf_prog_/ || sym ~ /^bpf_prog_/)
		return "kernel: BPF programs (the sk_skb verdict, its bpf_loop callbacks)"
	if (dso != "[kernel.kallsyms]" && dso !~ /^\[/)
		return "user space: " comm
	if (sym ~ /^(lookup_nulls_elem_raw|htab_|__htab|array_map|percpu_array|bpf_|__bpf|ringbuf|__bpf_ringbuf)/)
		return "kernel: BPF maps and helpers"
	if (sym ~ /^(sk_psock|__sk_psock|sk_skb|skb_send_sock|sk_msg|__sk_msg|tcp_bpf|sock_map|sock_hash|__sock_map|__sock_hash)/)
		return "kernel: sockmap and psock"
	if (sym ~ /^(queue_work|queue_delayed_work|__queue_work|__queue_delayed_work|insert_work|worker_thread|process_one_work|process_scheduled_works|kick_pool|wake_up_worker|delayed_work_timer|mod_delayed_work)/)
		return "kernel: work queues (scheduling the redirect's work item)"
	if (sym ~ /^(_raw_spin|raw_spin|_raw_read|_raw_write|queued_spin|native_queued|__raw_spin)/)
		return "kernel: locks (and interrupts let in at an unlock)"
	if (sym ~ /^(io_|__io_)/)
		return "kernel: io_uring"
	if (sym ~ /(copy_user|_copy_to_iter|_copy_from_iter|memcpy|memmove|copy_page|rep_mov|skb_copy_datagram)/)
		return "kernel: copies"
	if (sym ~ /^(schedule|__schedule|try_to_wake_up|ttwu|finish_task_switch|pick_next|enqueue_|dequeue_|update_curr|select_task_rq|__wake_up|wake_up|autoremove_wake|psi_|set_next_entity|put_prev|sched_|__switch_to|switch_mm|context_switch|newidle_balance|sched_balance|load_balance|raw_spin_rq|__update_load|update_load|reweight|available_idle|select_idle|futex|do_idle|cpuidle|default_idle|native_safe_halt|pv_native_safe_halt)/)
		return "kernel: scheduler, wake-ups, idle"
	if (sym ~ /^(tcp|__tcp|ip_|__ip|ip6|inet|__inet|sock_|__sock|sk_|__sk_|skb_|__skb|kfree_skb|consume_skb|__kfree_skb|__alloc_skb|alloc_skb|dev_|__dev|netif|__netif|net_rx|__napi|napi|process_backlog|loopback|validate_xmit|nf_|__nf|release_sock|lock_sock|__release_sock|__local_bh|do_softirq|__do_softirq|handle_softirqs|irq_exit|__sys_send|__sys_recv|security_sock|selinux_sock|apparmor_sock|sendmsg|recvmsg|___sys|__sys)/)
		return "kernel: TCP/IP, loopback, softirq"
	if (sym ~ /^(entry_|do_syscall|syscall_|__x64_sys|__do_sys|x64_sys|exit_to_user|__fdget|fdget|fput|__fget|ksys_|do_epoll|ep_|__x64|arch_exit|syscall_exit|vfs_|do_writev|do_readv|do_iter|rw_verify|fsnotify|__fsnotify|security_file|import_iovec|__import_iovec)/)
		return "kernel: syscalls, epoll"
	return "kernel: other"
}

/^#/ || NF < 5 {
	next
}

{
	# "  12.34%  1234  comm  dso  [k] symbol..." (a comm or dso with spaces is rare: ignored)
	n = $2 + 0
	comm = $3
	dso = $4
	sym = $6
	if (comm !~ /^(strgd|wrk|nginx|haproxy|kworker|ksoftirqd|iou-wrk|swapper)/) {
		other += n
		next
	}
	if (comm ~ /^swapper/) { # the idle task: time nobody used
		idle += n
		next
	}
	c = category(comm, dso, sym)
	cat[c] += n
	total += n
}

END {
	if (!total || !reqs)
		exit
	printf "  %s: %d samples at %d Hz, %d requests (left out: %d idle, %d of other processes)\n",
	       title, total, hz, reqs, idle, other
	for (c in cat)
		printf "    %8.1f us/rq %5.1f%%  %s\n", cat[c] * 1e6 / hz / reqs, 100 * cat[c] / total, c | "sort -rn"
	close("sort -rn")
	printf "    %8.1f us/rq        all counted\n", total * 1e6 / hz / reqs
}
