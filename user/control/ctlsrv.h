/* SPDX-License-Identifier: GPL-2.0-only */
/* The control socket: strgctl sends one command line, strgd answers it whole and closes. */
#ifndef STRG_CTLSRV_H
#define STRG_CTLSRV_H

#include <sys/types.h>
#include <liburing.h>

#include "control/ctl.h"
#include "lib/reqsrv.h"

/*
 * Serve the listening control socket fd (ctl_listen()) on ring with env, which must outlive the
 * server; its path is removed when the server closes. A line is executed only when complete (a
 * newline, or the peer's end of writing), never when cut at CTL_LINE_MAX; a change's reply is
 * held until every worker runs with it. NULL with errno set.
 */
struct reqsrv *ctlsrv_open(struct io_uring *ring, struct ctl_env *env, int fd);

/*
 * Bind the control socket at path: mode 0600 in a 0750 directory, or 0660 / 0750 owned by group
 * gid when one may reach it (gid -1: root only). -EADDRINUSE when a live process answers there
 * (its pid in *holder). Returns the fd or -errno.
 */
int ctl_listen(const char *path, int gid, pid_t *holder);

#endif
