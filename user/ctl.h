/* SPDX-License-Identifier: GPL-2.0-only */
/* The control socket: strgctl's commands, executed against the running configuration. */
#ifndef STRG_CTL_H
#define STRG_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "config.h"

#define CTL_SOCKET_DEFAULT "/run/strg/strgd.sock"
/* Longest command line strgd accepts (the newline included); longer ones are refused whole. */
#define CTL_LINE_MAX 4096

struct splice;
struct stats;

/* What a command works on: the live configuration and, when loaded, the kernel path. */
struct ctl_env {
	struct config *cfg;
	struct splice *sp;
	struct stats *st;
	const char *config_path; /* what "reload" reads again */
	struct config *applied;	 /* the configuration applied last (owned by the caller) */
	uint64_t applied_ns;	 /* when the last change was in force (CLOCK_MONOTONIC) */
};

/* A reply of any size: "ok\n" and the output, or "error: message\n". */
struct ctl_reply {
	char *buf;
	size_t len, cap;
	bool oom; /* a reply could not grow: it says so instead */
};

/*
 * Execute one command line (modified in place) for peer; the reply starts with "ok" or
 * "error: message". Returns 0, or -errno when the command failed (the reply says why).
 */
int ctl_execute(struct ctl_env *env, const struct ucred *peer, char *line, struct ctl_reply *r);
/*
 * After a change (a reload, say): the kernel's table follows and the state is saved; what went
 * wrong is told in r, or logged when r is NULL.
 */
void ctl_publish(struct ctl_env *env, struct ctl_reply *r);
/* Make the reply a one-line error (for refusals before a command runs). */
void ctl_reply_error(struct ctl_reply *r, const char *msg);
void ctl_reply_free(struct ctl_reply *r);

/*
 * Bind the control socket at path: mode 0600 in a 0750 directory, or 0660 / 0750 owned by group
 * gid when one may reach it (gid -1: root only). -EADDRINUSE when a live process answers there
 * (its pid in *holder). Returns the fd or -errno.
 */
int ctl_listen(const char *path, int gid, pid_t *holder);

#endif
