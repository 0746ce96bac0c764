// SPDX-License-Identifier: GPL-2.0-only
/* Notifications: the operator's command, spawned per event, reaped on the timer (notify.h). */
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "lib/log.h"
#include "lib/notify.h"

static char command[256];
static int running;
static unsigned long dropped;

void notify_set(const char *path)
{
	snprintf(command, sizeof(command), "%s", path ? path : "");
}

void notify_event(const char *event, const char *route, const char *pool, const char *backend,
		  const char *detail)
{
	char e[64], r[320], p[64], b[96], d[320];
	char *argv[] = {command, NULL};
	char *envp[] = {e, r, p, b, d, "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL};
	pid_t pid;
	int err;

	if (!command[0])
		return;
	if (__atomic_add_fetch(&running, 1, __ATOMIC_RELAXED) > NOTIFY_MAX_RUNNING) {
		__atomic_sub_fetch(&running, 1, __ATOMIC_RELAXED);
		__atomic_add_fetch(&dropped, 1, __ATOMIC_RELAXED);
		pr_warn("notify: %d commands still running: %s not told", NOTIFY_MAX_RUNNING,
			event);
		return;
	}
	snprintf(e, sizeof(e), "STRG_EVENT=%s", event);
	snprintf(r, sizeof(r), "STRG_ROUTE=%s", route ? route : "");
	snprintf(p, sizeof(p), "STRG_POOL=%s", pool ? pool : "");
	snprintf(b, sizeof(b), "STRG_BACKEND=%s", backend ? backend : "");
	snprintf(d, sizeof(d), "STRG_DETAIL=%s", detail ? detail : "");
	err = posix_spawn(&pid, command, NULL, NULL, argv, envp);
	if (err) {
		__atomic_sub_fetch(&running, 1, __ATOMIC_RELAXED);
		__atomic_add_fetch(&dropped, 1, __ATOMIC_RELAXED);
		pr_warn("notify: %s: %s", command, strerror(err));
	}
}

void notify_reap(void)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		__atomic_sub_fetch(&running, 1, __ATOMIC_RELAXED);
		if (!WIFEXITED(status) || WEXITSTATUS(status))
			pr_info("notify: %s (pid %d) ended with %s %d", command, (int)pid,
				WIFEXITED(status) ? "status" : "signal",
				WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	}
}

unsigned long notify_dropped(void)
{
	return __atomic_load_n(&dropped, __ATOMIC_RELAXED);
}
