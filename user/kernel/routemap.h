/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The kernel's route table as strgd publishes it: two slots of an array of maps and one live
 * word saying which slot the verdict program reads (0: none, every request passed up). A change
 * is written into the slot that is not live and switched in with one store to the live word: a
 * lookup sees the old table or the new one, and nothing waits for the kernel on the way. Only
 * writing into the outer map waits for an RCU grace period (programs still running with a slot
 * they looked up before), so that is left to a thread of its own: after a switch it waits out a
 * grace period for the slot that went out of use and empties it for the next change. A change
 * that comes before a slot is ready turns kernel classification off (strgd routes everything,
 * with the new table) and the thread switches the table in once a slot is ready.
 */
#ifndef STRG_ROUTEMAP_H
#define STRG_ROUTEMAP_H

#include <stdbool.h>
#include <stdint.h>

#include "strg/splice.h"

struct routemap;

/* The maps and the types the inner maps carry in BTF (0: none, bpftool then prints hex). */
struct routemap_maps {
	int outer_fd; /* an array of maps with two slots */
	int live_fd;  /* an array of one __u32: 0 none, 1 + the live slot */
	int btf_fd;
	uint32_t key_type, val_type;
};

/*
 * Both slots, sized for the first table, which is live on return (this waits for the kernel: at
 * start, before anything is served). NULL with errno set.
 */
struct routemap *routemap_open(const struct routemap_maps *m, const struct strg_route_key *keys,
			       const struct strg_route_val *vals, uint32_t n);
/*
 * Publish a table (copied): live at once when a slot is ready, else the kernel classifies
 * nothing until the thread has switched it in. 0, or -errno (the kernel then classifies nothing
 * until a later publish works).
 */
int routemap_publish(struct routemap *rm, const struct strg_route_key *keys,
		     const struct strg_route_val *vals, uint32_t n);
/* No table: every request passed up (stop: for good, no later publish switches one in). */
void routemap_off(struct routemap *rm, bool stop);
/* 0 when a table is live, -EINPROGRESS while a change waits for a slot, else why none is. */
int routemap_state(struct routemap *rm);
void routemap_close(struct routemap *rm);

#endif
