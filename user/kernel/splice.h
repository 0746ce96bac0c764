/* SPDX-License-Identifier: GPL-2.0-only */
/* The kernel fast path from strgd's side: load, attach and pin the splice programs and maps. */
#ifndef STRG_USER_SPLICE_H
#define STRG_USER_SPLICE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <linux/types.h>

#include "core/config.h"
#include "strg/splice.h"

#define SPLICE_PIN_DIR "/sys/fs/bpf/strg"

struct splice;

/*
 * Load the verdict program, attach it to the sockhash, pin the maps under pin_dir and publish
 * the route table. NULL with errno set when the kernel path is not available (the caller then
 * runs the user-space path) or, EBUSY, when another process holds pin_dir (its pid in *holder,
 * 0 when unknown).
 */
struct splice *splice_open(struct config *cfg, const char *pin_dir, pid_t *holder);
void splice_close(struct splice *sp);
/*
 * A restart: let go of the pin directory for the successor (its lock; the pins stay until it
 * replaces them), and leave the pins alone at splice_close(). The maps keep working for this
 * strgd's connections until it closes them.
 */
void splice_hand_over(struct splice *sp);
/* The successor failed: take the pin directory back and pin this strgd's maps again. */
int splice_take_back(struct splice *sp);
/* 0 when the maps are pinned in the pin directory, else why not (-errno). */
int splice_pin_error(const struct splice *sp);

/*
 * Publish the route table to the kernel: built in a new map, switched in with one write. On
 * failure (-E2BIG: more prefixes than cfg->kernel_routes_max) the kernel stops classifying and
 * passes every request up until a later publish succeeds, so both paths still route alike.
 */
int splice_publish_routes(struct splice *sp, const struct config *cfg);
/* strgd is stopping: the kernel classifies no request any more, every one comes up. */
void splice_classify_off(struct splice *sp);
/* 0 when the kernel classifies with the published table (*prefixes of them), else why not. */
int splice_routing_state(const struct splice *sp, uint32_t *prefixes);

/* Socket cookie of fd, 0 on error. */
uint64_t splice_cookie(int fd);
/*
 * Taking a connection over, in this order: splice_conn_begin (its state, strgd owns it),
 * splice_backend_add for each backend, splice_ctl_set, and splice_client_insert last, after
 * which the verdict sees the client's bytes.
 */
int splice_conn_begin(struct splice *sp, uint64_t client, unsigned worker);
int splice_client_insert(struct splice *sp, uint64_t client, int fd);
/* Write the connection's control entry (backends, hand-back point). 0 or -errno. */
int splice_ctl_set(struct splice *sp, uint64_t client, const struct strg_conn_ctl *ctl);
/* Put a connected backend socket in the sockhash for the client's connection. 0 or -errno. */
int splice_backend_add(struct splice *sp, uint64_t client, unsigned worker, unsigned pool,
		       unsigned backend, int fd, uint64_t *cookie);
/*
 * The run of 5xx answers to requests the kernel carried for backend (its index in pool), when
 * it is at least at_least: taken (the run starts over at 0), else 0. Any thread.
 */
uint32_t splice_kfails_take(struct splice *sp, unsigned pool, unsigned backend, uint32_t at_least);
/* Forget a backend socket about to be closed. */
void splice_sock_forget(struct splice *sp, uint64_t cookie);
/* The kernel's view of a connection. 0 or -errno (-ENOENT: not spliced). */
int splice_conn_get(struct splice *sp, uint64_t client, struct strg_conn *out);
/* Drop the map entries of a connection about to be closed (the sockhash cleans itself). */
void splice_conn_forget(struct splice *sp, uint64_t client, const struct strg_conn_ctl *ctl);

/* The named counters map for bpftool: one entry set (0 or -errno) or removed. */
int splice_counters_set(struct splice *sp, const struct strg_counter_key *key,
			const struct strg_route_counters *val);
void splice_counters_del(struct splice *sp, const struct strg_counter_key *key);

typedef void (*splice_event_fn)(void *ctx, const struct strg_event *ev);

struct splice_events;

/*
 * The event ring of worker (0 to STRG_MAX_WORKERS - 1): the verdict's events about that
 * worker's connections. NULL with errno set.
 */
struct splice_events *splice_events_open(struct splice *sp, unsigned worker, splice_event_fn fn,
					 void *ctx);
/* An fd that polls readable when events are queued. */
int splice_events_fd(struct splice_events *ev);
/* Hand every queued event to the callback. */
void splice_events_consume(struct splice_events *ev);
void splice_events_close(struct splice_events *ev);

/* The routes' rate-limit buckets, shared with the verdict (STRG_ROUTE_SLOTS entries, mmapped). */
struct strg_limit *splice_limits(struct splice *sp);
/* strgd's counters in the mmapped ustats map (STRG_STATS_KEYS entries). */
struct strg_stats *splice_ustats(struct splice *sp);
/* The kernel's counters at key, summed over CPUs. 0 or -errno. */
int splice_kstats_read(struct splice *sp, uint32_t key, struct strg_stats *out);
/* Zero the kernel's counters at key. 0 or -errno. */
int splice_kstats_clear(struct splice *sp, uint32_t key);

#endif
