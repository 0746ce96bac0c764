/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Notifications ("notify exec PATH"): an operator's command run for each event that matters in
 * a cutover (a route rolled back, a fallback starting or ending, a backend ejected or admitted),
 * with the event in its environment, like keepalived's notify scripts. Started with posix_spawn
 * and reaped on the timer: the event loop never waits for it.
 */
#ifndef STRG_NOTIFY_H
#define STRG_NOTIFY_H

/* At most this many commands run at once; an event beyond them is logged and counted. */
#define NOTIFY_MAX_RUNNING 16

#include <stdint.h>

/* The command (NULL or "": none). Call before the workers start. */
void notify_set(const char *path);
/*
 * Events about one subject (a backend's ejections and admissions, a pool's fallback, a route's
 * trips) run the command once per ms at most (0: every event): the first at once, the rest of
 * the period folded into one run at its end. Call before the workers start.
 */
void notify_set_coalesce(uint32_t ms);
/*
 * Run the command for event (route, pool, backend may be NULL): STRG_EVENT, STRG_ROUTE,
 * STRG_POOL, STRG_BACKEND, STRG_DETAIL and STRG_FOLDED (events this run stands for besides
 * itself: 0 when told at once) in its environment. Any thread.
 */
void notify_event(const char *event, const char *route, const char *pool, const char *backend,
		  const char *detail);
/* Reap the commands that ended and tell what a coalescing period folded (worker 0's timer). */
void notify_reap(void);
/* Events whose command could not run (too many running, or spawn failed). */
unsigned long notify_dropped(void);

#endif
