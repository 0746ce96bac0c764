/* SPDX-License-Identifier: GPL-2.0-only */
/* The control socket: strgctl's commands, executed against the running configuration. */
#ifndef STRG_CTL_H
#define STRG_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "control/change.h"
#include "control/ctlreply.h"
#include "core/config.h"
#include "lib/reply.h"
#include "observe/metrics.h"

#define CTL_SOCKET_DEFAULT CONFIG_CONTROL_DEFAULT
/* Longest command line strgd accepts (the newline included); longer ones are refused whole. */
#define CTL_LINE_MAX 4096
/* How long strgctl restart waits for the new strgd to say it serves. */
#define CTL_RESTART_WAIT_NS (15 * 1000000000ull)

struct metrics;
struct rollback;
struct worker;

/* What the daemon does for the commands (owner is its own context). */
struct ctl_ops {
	/*
	 * strgctl restart: begin one (0, or -errno with err), whose outcome comes later: the
	 * owner then calls ctl_restart_done(), which lets its held reply go.
	 */
	int (*restart)(void *owner, char *err, size_t errlen);
};

/*
 * What a command works on: the change pipeline (the live configuration, the kernel path, the
 * state file) and the views' sources. A change is made on a draft and committed whole by the
 * pipeline (change.h): every worker then runs with it, and the reply waits until every one does.
 */
struct ctl_env {
	struct change_pipe chg;
	struct metrics *metrics;   /* the rates' samples (worker 0's timer takes them) */
	struct rollback *rollback; /* automatic rollback's watch (worker 0's timer) */
	const struct ctl_ops *ops; /* NULL: no restart here */
	void *owner;
	uint64_t restarts;	/* restarts begun */
	uint64_t restarts_done; /* and finished, their reply in restart_said */
	char restart_said[400]; /* "ok\n..." or "error: ...\n" */
	unsigned nworkers;	/* for views of which worker holds what */
	struct worker *const *workers;
	const char *config_path; /* what "reload" reads again */
};

/*
 * Execute one command line (modified in place) for peer; the reply starts with "ok" or
 * "error: message". Returns 0, or -errno when the command failed (the reply says why).
 */
int ctl_execute(struct ctl_env *env, const struct ucred *peer, char *line, struct ctl_reply *r);
/*
 * Whether r may go now. A change's reply goes once the change is in force on every worker and
 * its state text is written or failed: then it says whether the change is on disk (an error
 * reply, "in force, but not saved", when not) and its log line is written with both times.
 */
bool ctl_reply_ready(struct ctl_env *env, struct ctl_reply *r);
/* The restart begun last has finished: said is its reply ("ok\n..." or "error: ...\n"). */
void ctl_restart_done(struct ctl_env *env, const char *said);
/* What the views of the counters are read from (metrics_collect), as of now (ctlstrgd.c). */
void ctl_metrics_src(const struct ctl_env *env, struct metrics_src *src);

#endif
