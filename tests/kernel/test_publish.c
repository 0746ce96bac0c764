// SPDX-License-Identifier: GPL-2.0-only
/*
 * How strgd publishes the kernel's route table (user/kernel/splice.c, user/kernel/routemap.c): a
 * change is in force without the publishing thread waiting for the kernel, and lookups always see
 * one whole table. The kernel fact underneath: updating a slot of an array of maps waits for an RCU
 * grace period (the caller sleeps), a store into an array or a hash map does not.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "core/config.h"
#include "kernel/splice.h"
#include "strg/fastscan.h"
#include "progs/blocked.h"
#include "blocked.skel.h"
#include "ktest.h"

#define KSFT_SKIP 77
#define CHANGES	  30
#define WAIT_MS	  2000 /* the longest a table may take to be switched in by the thread */

static struct blocked_bpf *tracer;
static char pin_dir[64];

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* Count this thread's uninterruptible sleeps from now on (on) or no more (off). */
static void watch(bool on)
{
	if (on) {
		tracer->bss->blocked = 0;
		memset(tracer->bss->stack, 0, sizeof(tracer->bss->stack));
	}
	__atomic_store_n(&tracer->bss->target_tid, on ? (__u32)gettid() : 0, __ATOMIC_SEQ_CST);
}

static uint64_t sleeps(void)
{
	return __atomic_load_n(&tracer->bss->blocked, __ATOMIC_SEQ_CST);
}

/* The first sleep's kernel stack as "fn <- fn <- ...", from /proc/kallsyms. */
static const char *sleep_stack(void)
{
	static char out[512];
	size_t len = 0;

	out[0] = '\0';
	/* From the scheduler on: the frames before it are the tracer's own. */
	for (int i = 3; i < 10 && tracer->bss->stack[i]; i++) {
		char line[256], name[128] = "?", best[128] = "?";
		unsigned long long a, best_a = 0, want = tracer->bss->stack[i];
		FILE *f = fopen("/proc/kallsyms", "r");

		while (f && fgets(line, sizeof(line), f))
			if (sscanf(line, "%llx %*c %127s", &a, name) == 2 && a <= want &&
			    a > best_a) {
				best_a = a;
				snprintf(best, sizeof(best), "%s", name);
			}
		if (f)
			fclose(f);
		len += (size_t)snprintf(out + len, sizeof(out) - len, "%s%s", i > 3 ? " <- " : "",
					best);
		if (len >= sizeof(out))
			break;
	}
	return out;
}

/* The kernel fact: an array-of-maps slot update sleeps (a grace period), plain stores do not. */
static int outer_map_update_sleeps(void)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts);
	int inner = bpf_map_create(BPF_MAP_TYPE_HASH, "kt_inner", 8, 8, 4, NULL);
	int outer = -1, arr = bpf_map_create(BPF_MAP_TYPE_ARRAY, "kt_arr", 4, 4, 1, NULL);
	uint64_t plain, slot, t0;
	__u32 zero = 0;

	opts.inner_map_fd = inner;
	if (inner >= 0)
		outer = bpf_map_create(BPF_MAP_TYPE_ARRAY_OF_MAPS, "kt_outer", 4, 4, 1, &opts);
	if (inner < 0 || outer < 0 || arr < 0)
		return failf("creating the maps: %s", strerror(errno));
	watch(true);
	for (__u64 i = 0; i < 20; i++) {
		bpf_map_update_elem(arr, &zero, &zero, BPF_ANY);
		bpf_map_update_elem(inner, &i, &i, BPF_ANY);
		bpf_map_delete_elem(inner, &i);
	}
	plain = sleeps();
	t0 = now_us();
	for (int i = 0; i < 20; i++)
		bpf_map_update_elem(outer, &zero, &inner, BPF_ANY);
	t0 = now_us() - t0;
	slot = sleeps() - plain;
	watch(false);
	close(outer);
	close(inner);
	close(arr);
	if (plain)
		return failf("stores into an array and a hash map slept %llu times (%s)",
			     (unsigned long long)plain, sleep_stack());
	if (slot < 20)
		return failf("20 updates of an array-of-maps slot slept %llu times, want one each",
			     (unsigned long long)slot);
	notef("20 updates of an array-of-maps slot: %llu sleeps (%s), %llu us each",
	      (unsigned long long)slot, sleep_stack(), (unsigned long long)t0 / 20);
	return 0;
}

/* A configuration with the default route and k more ("/svc0" ... "/svc<k-1>" to modern). */
static int config_with(struct config *cfg, unsigned k)
{
	size_t cap = 256 + 32 * (size_t)k, len;
	char *text = malloc(cap), err[256];
	int ret;

	if (!text)
		return -ENOMEM;
	len = (size_t)snprintf(text, cap,
			       "listen 127.0.0.1:1\npool legacy 127.0.0.1:2\n"
			       "pool modern 127.0.0.1:3\nroute / legacy\n");
	for (unsigned i = 0; i < k; i++)
		len += (size_t)snprintf(text + len, cap - len, "route /svc%u modern\n", i);
	ret = config_parse(cfg, "t.conf", text, err, sizeof(err));
	if (ret)
		failf("configuration: %s", err);
	free(text);
	return ret;
}

static struct splice *open_with(unsigned k)
{
	struct config cfg;
	struct splice *sp;
	pid_t holder;

	if (config_with(&cfg, k))
		return NULL;
	sp = splice_open(&cfg, pin_dir, &holder);
	if (!sp)
		failf("splice_open: %s", strerror(errno));
	config_free(&cfg);
	return sp;
}

/* Publish the table of k routes: the microseconds it took, or -1 (the FAIL line printed). */
static long publish(struct splice *sp, unsigned k)
{
	struct config cfg;
	uint64_t t0;
	int err;

	if (config_with(&cfg, k))
		return -1;
	t0 = now_us();
	err = splice_publish_routes(sp, &cfg);
	t0 = now_us() - t0;
	config_free(&cfg);
	if (err)
		return failf("publishing %u routes: %s", k, strerror(-err));
	return (long)t0;
}

static int cmp_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;

	return (x > y) - (x < y);
}

/*
 * strgd's publish: 30 changes 20 ms apart (as an operator's are), 30 back to back, one that
 * outgrows its slot; the calling thread (worker 0 in strgd) never sleeps uninterruptibly, so it
 * never waits for a grace period.
 */
static int route_change_does_not_sleep(void)
{
	struct splice *sp = open_with(3);
	long us[2 * CHANGES + 1];
	uint64_t slept;
	int ret = 0;

	if (!sp)
		return -1;
	watch(true);
	for (unsigned i = 0; i < 2 * CHANGES && !ret; i++) {
		if (i < CHANGES)
			usleep(20000);
		ret = (us[i] = publish(sp, 4 + i % CHANGES)) < 0 ? -1 : 0;
	}
	if (!ret)
		ret = (us[2 * CHANGES] = publish(sp, 300)) < 0 ? -1 : 0;
	slept = sleeps();
	watch(false);
	splice_close(sp);
	if (ret)
		return ret;
	if (slept)
		return failf("the publishing thread slept %llu times in %d changes (%s)",
			     (unsigned long long)slept, 2 * CHANGES + 1, sleep_stack());
	qsort(us, CHANGES, sizeof(us[0]), cmp_long);
	qsort(us + CHANGES, CHANGES, sizeof(us[0]), cmp_long);
	notef("changes of 4-34 routes, 20 ms apart: publish took min %ld, median %ld, max %ld us; "
	      "back to back: median %ld, max %ld us; 300 routes: %ld us; no sleep",
	      us[0], us[CHANGES / 2], us[CHANGES - 1], us[CHANGES + CHANGES / 2],
	      us[2 * CHANGES - 1], us[2 * CHANGES]);
	return 0;
}

static int pinned(const char *name)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/%s", pin_dir, name);
	return bpf_obj_get(path);
}

static struct strg_route_key key_of(const char *path)
{
	struct strg_route_key k = {.len = (__u32)strlen(path), .hash = STRG_FNV_OFFSET};

	for (const char *c = path; *c; c++)
		k.hash = strg_fnv_step(k.hash, (__u8)*c);
	return k;
}

/* The live table as lookups see it: its prefixes, and whether it has path. -1 when none. */
static long live_table(const char *path, bool *has)
{
	int live_fd = pinned("route_live"), outer = pinned("routes"), fd = -1;
	struct strg_route_key k, next, want = key_of(path);
	struct strg_route_val v;
	__u32 zero = 0, live = 0, slot, id;
	long n = -1;

	if (live_fd < 0 || outer < 0 || bpf_map_lookup_elem(live_fd, &zero, &live) || !live)
		goto out;
	slot = live - 1;
	if (bpf_map_lookup_elem(outer, &slot, &id) || (fd = bpf_map_get_fd_by_id(id)) < 0)
		goto out;
	n = 0;
	for (int r = bpf_map_get_next_key(fd, NULL, &next); !r;
	     k = next, r = bpf_map_get_next_key(fd, &k, &next))
		n++;
	*has = !bpf_map_lookup_elem(fd, &want, &v);
out:
	if (fd >= 0)
		close(fd);
	if (live_fd >= 0)
		close(live_fd);
	if (outer >= 0)
		close(outer);
	return n;
}

/* Published k routes: once switched in (at once, or by the thread), the live table is theirs. */
static int table_is(struct splice *sp, unsigned k)
{
	uint64_t deadline = now_us() + WAIT_MS * 1000ull;
	char last[32], next[32];
	uint32_t prefixes;
	bool has_last = false, has_next = true;
	long n;

	while (splice_routing_state(sp, &prefixes) == -EINPROGRESS && now_us() < deadline)
		usleep(1000);
	if (splice_routing_state(sp, &prefixes))
		return failf("%u routes: not switched in after %d ms", k, WAIT_MS);
	snprintf(last, sizeof(last), "/svc%u", k - 1);
	snprintf(next, sizeof(next), "/svc%u", k);
	n = live_table(last, &has_last);
	live_table(next, &has_next);
	if (n != (long)k + 1 || !has_last || has_next)
		return failf(
			"%u routes published: the live table has %ld prefixes (want %u), %s %s, "
			"%s %s",
			k, n, k + 1, last, has_last ? "in it" : "missing", next,
			has_next ? "in it too" : "not in it");
	return 0;
}

/* Tables that shrink and outgrow their slot, one at a time, then a burst: each whole. */
static int lookups_see_each_table_whole(void)
{
	static const unsigned sizes[] = {5, 40, 300, 10, 2, 120, 1};
	struct splice *sp = open_with(1);
	int ret = 0;

	if (!sp)
		return -1;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]) && !ret; i++)
		ret = publish(sp, sizes[i]) < 0 ? -1 : table_is(sp, sizes[i]);
	for (unsigned k = 2; k <= 20 && !ret; k++)
		ret = publish(sp, k) < 0 ? -1 : 0;
	if (!ret)
		ret = table_is(sp, 20);
	splice_close(sp);
	return ret;
}

int main(void)
{
	static const struct subtest tests[] = {
		{"outer_map_update_sleeps", outer_map_update_sleeps},
		{"route_change_does_not_sleep", route_change_does_not_sleep},
		{"lookups_see_each_table_whole", lookups_see_each_table_whole},
	};
	int ret;

	snprintf(pin_dir, sizeof(pin_dir), "/sys/fs/bpf/strg-kt-publish-%d", (int)getpid());
	tracer = blocked_bpf__open_and_load();
	if (!tracer || blocked_bpf__attach(tracer)) {
		printf("SKIP publish: the sched_switch tracer does not load: %s\n",
		       strerror(errno));
		blocked_bpf__destroy(tracer);
		return KSFT_SKIP;
	}
	ret = run_subtests("publish", tests, sizeof(tests) / sizeof(tests[0]));
	blocked_bpf__destroy(tracer);
	return ret;
}
