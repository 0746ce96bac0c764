/* SPDX-License-Identifier: GPL-2.0-only */
/* strgctl's side of the control socket: send one command line, read the whole reply. */
#ifndef STRG_CTLCLIENT_H
#define STRG_CTLCLIENT_H

/* Exit codes, as strgctl(8) documents them. */
enum {
	EXIT_OK = 0,
	EXIT_REFUSED = 1,     /* strgd refused the command or it failed */
	EXIT_USAGE = 2,	      /* bad command line: nothing was sent */
	EXIT_UNREACHABLE = 3, /* no strgd answered on the socket */
};

/*
 * Send line (ending with a newline) to strgd at sock and read its reply into *reply (NUL-
 * terminated, the caller frees it; "ok\n..." or "error: ...\n"). Returns EXIT_OK for an "ok"
 * reply, EXIT_REFUSED for an error reply or a cut one, EXIT_UNREACHABLE or EXIT_USAGE (bad socket
 * path) with a message on stderr.
 */
int ctl_call(const char *sock, const char *line, char **reply);

#endif
