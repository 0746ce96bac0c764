/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Seamless restart: a running strgd starts a new one (the same binary file, the same arguments)
 * and hands it its listening sockets over a socket pair (SCM_RIGHTS): the workers' listeners,
 * the control socket and the metrics listener. No connection is refused meanwhile: the kernel
 * keeps queueing on the same sockets. Once the new strgd says it serves, the old one stops
 * accepting and finishes its open connections as a SIGTERM would (each next response says
 * "Connection: close"; kernel-carried connections are handed back first), then exits.
 */
#ifndef STRG_TAKEOVER_H
#define STRG_TAKEOVER_H

#include <stddef.h>
#include <sys/types.h>
#include <linux/types.h>

#include "strg/splice.h"

/* What is handed over; -1 for a socket there is none of. */
struct takeover_fds {
	unsigned nlisten;
	int listen[STRG_MAX_WORKERS];
	int ctl;
	int metrics;
};

/* strgd's own arguments, kept from main() for the restart to start its successor with. */
void takeover_set_argv(int argc, char **argv);

/* A successor being started: its pid and our end of the socket pair its answer comes on. */
struct takeover_child {
	pid_t pid;
	int sock;
};

/*
 * The old side: start the successor with "--takeover-fd N" and hand it f; its answer then comes
 * on c->sock ("ready", or "error: why"), read without blocking by the caller. 0, or -errno with
 * the reason in err (nothing left running).
 */
int takeover_spawn(const struct takeover_fds *f, struct takeover_child *c, char *err,
		   size_t errlen);
/*
 * What the successor answered: n bytes of buf (n = recv's result: 0 when it closed, -errno). 0 for
 * "ready", else -errno with the successor's own error (or why there is none) in err.
 */
int takeover_parse_answer(const char *buf, ssize_t n, char *err, size_t errlen);
/* The successor failed or took too long: kill it, reap it, close the socket. */
void takeover_abort(struct takeover_child *c);

/* The message: "strg-takeover 1 NLISTEN CTL METRICS" and the descriptors, in that order. */
int takeover_send(int sock, const struct takeover_fds *f);
/* The new side: the sockets from fd (the "--takeover-fd" socket). 0 or -errno with err. */
int takeover_receive(int fd, struct takeover_fds *f, char *err, size_t errlen);
/* The new side: tell the old one "ready" (it then stops accepting) or why not; closes fd. */
void takeover_answer(int fd, const char *error);

#endif
