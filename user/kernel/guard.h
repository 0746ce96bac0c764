/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The XDP guard's loader: loads bpf/guard.bpf.c, pins its maps next to the splice program's,
 * attaches it to the configured interface and keeps its maps equal to the configuration's
 * guard settings (config.h, guardcfg.h). Changes are written into the maps of the attached
 * program: nothing is re-attached for them.
 */
#ifndef STRG_GUARD_LOADER_H
#define STRG_GUARD_LOADER_H

#include <stdbool.h>
#include <stddef.h>

#include "core/config.h"

struct guard;

/*
 * Load the program and pin its maps in pin_dir (guard_*; a guard whose maps cannot be pinned runs
 * all the same, and says so). NULL with errno set.
 */
struct guard *guard_open(const char *pin_dir);
/*
 * Put cfg's guard settings in force: the listeners it guards (cfg's listen address), the lists,
 * the limits; then attach, move or detach the program as cfg->guard.iface says. 0, or -errno
 * with a message in err (the maps are written even when attaching failed).
 */
int guard_apply(struct guard *gd, const struct config *cfg, char *err, size_t errlen);
/* Counters summed over the CPUs, by enum guard_reason. 0 or -errno. */
int guard_counts(struct guard *gd, struct guard_count out[GUARD_REASONS]);
/* Where the program is attached ("" nowhere), and why it is not when it should be. */
const char *guard_iface(const struct guard *gd);
const char *guard_problem(const struct guard *gd);
/* Entries in the kernel's deny and allow tries (what the maps hold, not the configuration). */
unsigned guard_kernel_entries(struct guard *gd, bool deny);
/* The counters' names: passed, allowed, denied, rate_syn, rate_packets, malformed, other. */
const char *guard_reason_name(unsigned reason);
/*
 * Detach and unpin, unless the settings last applied said keep: then the program stays attached
 * and its maps pinned (the next strgd replaces it without a gap).
 */
void guard_close(struct guard *gd);
/* A restart: the successor attaches its own guard (replacing this one) and pins its maps; this
 * one then neither detaches nor unpins at guard_close(). */
void guard_hand_over(struct guard *gd);
/* The successor failed: pin this guard's maps again and attach it again. 0 or -errno. */
int guard_take_back(struct guard *gd);

#endif
