/* SPDX-License-Identifier: GPL-2.0-only */
/* The user-space proxy: one io_uring event loop that parses, routes and forwards HTTP/1.1. */
#ifndef STRG_PROXY_H
#define STRG_PROXY_H

#include <signal.h>

#include "core/config.h"

struct splice;
struct guard;
struct takeover_fds;
struct stats;

/* Set by the signal handler; the loop stops accepting and drains when it becomes non-zero. */
extern volatile sig_atomic_t proxy_stop_requested;
/* Set by SIGHUP: the loop reads the configuration file again and applies its edits. */
extern volatile sig_atomic_t proxy_reload_requested;
/* SIGUSR1: reopen the access log (logrotate). */
extern volatile sig_atomic_t proxy_reopen_requested;

/* Bind and listen on cfg->listen. Returns the socket or -errno. */
int proxy_listen(const struct config *cfg);

/* What the event loops run with besides the configuration. */
struct proxy_parts {
	struct splice *sp;   /* the kernel path: connections are spliced as cfg->splice says (NULL:
			      * user space only) */
	struct guard *gd;    /* the XDP guard, following the guard settings (NULL: not loaded) */
	struct stats *st;    /* counts every request */
	struct limiter *lim; /* the routes' rate-limit buckets */
	const struct takeover_fds *inherited; /* a restart's sockets: worker i listens on
					       * listen[i], metrics on its socket (NULL: none) */
	int answer_fd; /* the strgd that restarted into this one, told once it serves (-1) */
};

/*
 * Run the event loop on listen_fd and the control socket ctl_fd (ctl_listen()) until a stop is
 * requested (config_path is read again on SIGHUP), or a restart handed the sockets to a
 * successor, and every connection has finished. Returns 0 on a clean stop, -errno when the loop
 * could not run.
 */
int proxy_run(struct config *cfg, struct config **applied, const char *config_path, int listen_fd,
	      int ctl_fd, const struct proxy_parts *parts);

#endif
