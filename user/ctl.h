/* SPDX-License-Identifier: GPL-2.0-only */
/* The control socket: strgctl's commands, executed against the running configuration. */
#ifndef STRG_CTL_H
#define STRG_CTL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config.h"

#define CTL_SOCKET_DEFAULT "/run/strg/strgd.sock"

struct splice;

/* What a command works on: the live configuration and, when loaded, the kernel path. */
struct ctl_env {
	struct config *cfg;
	struct splice *sp;
	uint64_t applied_ns; /* when the last change was in force (CLOCK_MONOTONIC) */
};

struct ctl_reply {
	size_t len;
	char buf[64 * 1024];
};

/*
 * Execute one command line (modified in place) for peer; the reply starts with "ok" or
 * "error: message". Returns 0, or -errno when the command failed (the reply says why).
 */
int ctl_execute(struct ctl_env *env, const struct ucred *peer, char *line, struct ctl_reply *r);

/*
 * Bind the control socket at path: mode 0600 in a 0750 directory, or 0660 / 0750 owned by group
 * gid when one may reach it (gid -1: root only). Returns the fd or -errno.
 */
int ctl_listen(const char *path, int gid);

#endif
