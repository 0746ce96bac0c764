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
#include "control/ctlverb.h"
#include "core/config.h"
#include "lib/reply.h"

#define CTL_SOCKET_DEFAULT CONFIG_CONTROL_DEFAULT
/* Longest command line strgd accepts (the newline included); longer ones are refused whole. */
#define CTL_LINE_MAX 4096
/* How long strgctl restart waits for the new strgd to say it serves. */
#define CTL_RESTART_WAIT_NS (15 * 1000000000ull)

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

#endif
