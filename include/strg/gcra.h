/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Token buckets as GCRA (the generic cell rate algorithm), one rule for the XDP guard, the
 * verdict program's route limits and strgd's: the bucket is one word, "tat", the theoretical
 * arrival time (ns, CLOCK_MONOTONIC = bpf_ktime_get_ns) of the next request. A request at now
 * conforms when tat - now <= tolerance, a tat in the past counting as now (an idle bucket is
 * full again); it then moves tat on by the interval (1e9 / rate). tolerance = (burst - 1) *
 * interval lets burst requests through at once.
 */
#ifndef STRG_GCRA_H
#define STRG_GCRA_H

/* The includer provides __u64 (vmlinux.h in BPF, <linux/types.h> in user space). */

/* Whether a request at now conforms; on success *next is the tat to store. */
static inline __attribute__((always_inline)) int strg_gcra(__u64 tat, __u64 now, __u64 interval,
							   __u64 tolerance, __u64 *next)
{
	if (tat < now)
		tat = now;
	if (tat - now > tolerance)
		return 0;
	*next = tat + interval;
	return 1;
}

/* Compare-and-swap attempts before strg_gcra_take() gives up (STRG_GCRA_BUSY). */
#define STRG_GCRA_TRIES 4

enum strg_gcra_result {
	STRG_GCRA_OK = 0,   /* conforms: the bucket paid for it */
	STRG_GCRA_OVER = 1, /* over the rate: *wait_ns until one would conform */
	STRG_GCRA_BUSY = 2, /* others changed the bucket every time: decide elsewhere */
};

/*
 * Take one request from a bucket that several CPUs share (a map value, or strgd's memory that
 * all its workers and the kernel see): read, decide, compare-and-swap, a few times. A refused
 * request leaves the bucket as it was. *wait_ns: how long until a request would conform.
 */
static inline __attribute__((always_inline)) int
strg_gcra_take(__u64 *tat, __u64 now, __u64 interval, __u64 tolerance, __u64 *wait_ns)
{
	for (int i = 0; i < STRG_GCRA_TRIES; i++) {
		__u64 old = *(volatile __u64 *)tat, next;

		if (!strg_gcra(old, now, interval, tolerance, &next)) {
			*wait_ns = old - now - tolerance;
			return STRG_GCRA_OVER;
		}
		if (__sync_val_compare_and_swap(tat, old, next) == old)
			return STRG_GCRA_OK;
	}
	return STRG_GCRA_BUSY;
}

#endif
