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

/*
 * The old side: start the successor with "--takeover-fd N", hand it f, and wait (up to
 * timeout_ms) for it to say it serves. 0 with its pid in *pid; -errno with the reason in err
 * (the successor, if it started, is killed: the old strgd carries on as before).
 */
int takeover_start(const struct takeover_fds *f, int timeout_ms, pid_t *pid, char *err,
		   size_t errlen);

/* The message: "strg-takeover 1 NLISTEN CTL METRICS" and the descriptors, in that order. */
int takeover_send(int sock, const struct takeover_fds *f);
/* The new side: the sockets from fd (the "--takeover-fd" socket). 0 or -errno with err. */
int takeover_receive(int fd, struct takeover_fds *f, char *err, size_t errlen);
/* The new side: tell the old one "ready" (it then stops accepting) or why not; closes fd. */
void takeover_answer(int fd, const char *error);

#endif
