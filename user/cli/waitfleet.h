/* SPDX-License-Identifier: GPL-2.0-only */
/* strgctl --wait-fleet: wait until every host of the fleet runs a change (waitfleet.c). */
#ifndef STRG_WAITFLEET_H
#define STRG_WAITFLEET_H

#include <stdint.h>

/*
 * Before the change is sent: whether strgd at sock follows a store. -1 when it does (go on),
 * else an exit code after a one-line error (EXIT_USAGE: no store, nothing was changed).
 */
int waitfleet_check(const char *sock);

/* The store revision a change's reply names ("in force here at store revision N"), or 0. */
int64_t waitfleet_revision(const char *reply);

/*
 * Until every host in the fleet's reports (nodes/) runs revision (0: the one this host runs),
 * at most limit_ms; then the hosts behind are named on stderr. One of strgctl's exit codes.
 */
int waitfleet_run(const char *sock, int64_t revision, long limit_ms);

#endif
