/* SPDX-License-Identifier: GPL-2.0-only */
/* The verbs about strgd as a whole: stats, reload, top, restart, log (handlers in ctlstrgd.c). */
#ifndef STRG_CTLSTRGD_H
#define STRG_CTLSTRGD_H

#include "control/ctlverb.h"
#include "observe/metrics.h"

/* Each verb once: noun, verb, arguments, help, flags, handler (V is CTL_VERB). */
#define CTL_STRGD_VERBS(V)                                                                         \
	V("stats", "show", "",                                                                     \
	  "requests per route and pool (kernel and strgd added up): rate over the last seconds, "  \
	  "status classes, latency p50/p90/p99 in ms",                                             \
	  CTL_JSON, ctl_stats_show)                                                                \
	V("reload", NULL, "",                                                                      \
	  "read the configuration file again and apply what changed in it since it was last "      \
	  "applied (as SIGHUP does)",                                                              \
	  CTL_CHANGES, ctl_reload)                                                                 \
	V("top", NULL, "[FRAMES]",                                                                 \
	  "a live view of the stats, refreshed every second: per route each pool side by side "    \
	  "(requests and 5xx per second, p50 and p99, share of the route's traffic); q quits, "    \
	  "FRAMES stops after that many",                                                          \
	  CTL_LOCAL, ctl_top)                                                                      \
	V("restart", NULL, "",                                                                     \
	  "start a new strgd (the same binary file and arguments) that takes every listening "     \
	  "socket over, so no connection is refused; this one then finishes its connections and "  \
	  "exits (an upgrade: replace the binary, then restart)",                                  \
	  CTL_CHANGES | CTL_NO_DRAFT, ctl_restart)                                                 \
	V("log", "show", "", "the log level in force", CTL_JSON, ctl_log_show)                     \
	V("log", "level", "warn|info|debug",                                                       \
	  "log at that level from now on, until strgd stops or restarts (-v starts at debug: "     \
	  "one line per request)",                                                                 \
	  CTL_CHANGES | CTL_NO_DRAFT, ctl_log_level)

ctl_handler ctl_stats_show, ctl_reload, ctl_top, ctl_restart, ctl_log_show, ctl_log_level;

/* What the views of the counters are read from (metrics_collect), as of now. */
void ctl_metrics_src(const struct ctl_env *env, struct metrics_src *src);

#endif
