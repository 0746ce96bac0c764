/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * systemd's readiness protocol (sd_notify(3), Type=notify): one datagram of "KEY=VALUE" lines to
 * the socket $NOTIFY_SOCKET names. Without it set, nothing happens.
 */
#ifndef STRG_SDNOTIFY_H
#define STRG_SDNOTIFY_H

/* Send text ("READY=1", "MAINPID=123\nREADY=1", ...): 0, or -errno when it could not go. */
int sdnotify(const char *text);

#endif
