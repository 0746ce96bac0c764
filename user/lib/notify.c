// SPDX-License-Identifier: GPL-2.0-only
/*
 * Notifications: the operator's command, spawned per event and reaped on the timer; events
 * about one subject that come faster than the coalescing period are folded into one run
 * (notify.h).
 */
#include <errno.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "lib/clock.h"
#include "lib/log.h"
#include "lib/notify.h"

/* Subjects remembered for coalescing; the one told longest ago gives way to a new one. */
#define NOTIFY_SUBJECTS 128

/* One subject: an event family ("backend", "fallback", "route") and what it is about. */
struct subject {
	char key[256];	  /* family, route, pool and backend */
	uint64_t told_ns; /* the last run for it (0: slot free) */
	unsigned folded;  /* events since then not yet told */
	char event[32];	  /* the last of those, told at the end of the period */
	char route[160], pool[64], backend[96], detail[200];
};

static char command[256];
static int running;
static unsigned long dropped;
static uint64_t coalesce_ns;
static pthread_mutex_t subjects_lock = PTHREAD_MUTEX_INITIALIZER;
static struct subject subjects[NOTIFY_SUBJECTS];

void notify_set(const char *path)
{
	snprintf(command, sizeof(command), "%s", path ? path : "");
}

void notify_set_coalesce(uint32_t ms)
{
	coalesce_ns = ms_ns(ms);
}

static void spawn_event(const char *event, const char *route, const char *pool, const char *backend,
			const char *detail, unsigned folded)
{
	char e[64], r[320], p[64], b[96], d[320], f[32];
	char *argv[] = {command, NULL};
	char *envp[] = {e, r, p, b, d, f, "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL};
	pid_t pid;
	int err;

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
	snprintf(f, sizeof(f), "STRG_FOLDED=%u", folded);
	err = posix_spawn(&pid, command, NULL, NULL, argv, envp);
	if (err) {
		__atomic_sub_fetch(&running, 1, __ATOMIC_RELAXED);
		__atomic_add_fetch(&dropped, 1, __ATOMIC_RELAXED);
		pr_warn("notify: %s: %s", command, strerror(err));
	}
}

/* The subject's slot: found, else a free one, else the one told longest ago (told at once). */
static struct subject *subject_of(const char *key)
{
	struct subject *oldest = &subjects[0];

	for (unsigned i = 0; i < NOTIFY_SUBJECTS; i++) {
		if (subjects[i].told_ns && !strcmp(subjects[i].key, key))
			return &subjects[i];
		if (subjects[i].told_ns < oldest->told_ns)
			oldest = &subjects[i];
	}
	memset(oldest, 0, sizeof(*oldest));
	snprintf(oldest->key, sizeof(oldest->key), "%s", key);
	return oldest;
}

/* Whether the event is told now; else it is kept as its subject's latest, to tell later. */
static bool tell_now(const char *event, const char *route, const char *pool, const char *backend,
		     const char *detail, uint64_t now)
{
	char key[256];
	struct subject *s;
	bool now_ok;

	snprintf(key, sizeof(key), "%.*s|%s|%s|%s", (int)strcspn(event, "-"), event,
		 route ? route : "", pool ? pool : "", backend ? backend : "");
	pthread_mutex_lock(&subjects_lock);
	s = subject_of(key);
	now_ok = !s->told_ns || now >= s->told_ns + coalesce_ns;
	if (now_ok) {
		s->told_ns = now;
		s->folded = 0;
	} else {
		s->folded++;
		snprintf(s->event, sizeof(s->event), "%s", event);
		snprintf(s->route, sizeof(s->route), "%s", route ? route : "");
		snprintf(s->pool, sizeof(s->pool), "%s", pool ? pool : "");
		snprintf(s->backend, sizeof(s->backend), "%s", backend ? backend : "");
		snprintf(s->detail, sizeof(s->detail), "%s", detail ? detail : "");
	}
	pthread_mutex_unlock(&subjects_lock);
	return now_ok;
}

void notify_event(const char *event, const char *route, const char *pool, const char *backend,
		  const char *detail)
{
	if (!command[0])
		return;
	if (coalesce_ns && !tell_now(event, route, pool, backend, detail, now_ns()))
		return;
	spawn_event(event, route, pool, backend, detail, 0);
}

/*
 * Subjects whose period ended with events kept: one run tells the last of them, with how
 * many came before it in STRG_FOLDED and STRG_DETAIL.
 */
static void flush(uint64_t now)
{
	struct subject s;
	char detail[320];

	for (unsigned i = 0; i < NOTIFY_SUBJECTS; i++) {
		pthread_mutex_lock(&subjects_lock);
		s = subjects[i];
		if (s.folded && now >= s.told_ns + coalesce_ns) {
			subjects[i].told_ns = now;
			subjects[i].folded = 0;
		} else {
			s.folded = 0;
		}
		pthread_mutex_unlock(&subjects_lock);
		if (!s.folded)
			continue;
		if (s.folded > 1)
			snprintf(detail, sizeof(detail), "%s (after %u more since the last notice)",
				 s.detail, s.folded - 1);
		else
			snprintf(detail, sizeof(detail), "%s", s.detail);
		spawn_event(s.event, s.route[0] ? s.route : NULL, s.pool[0] ? s.pool : NULL,
			    s.backend[0] ? s.backend : NULL, detail, s.folded - 1);
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
	if (command[0] && coalesce_ns)
		flush(now_ns());
}

unsigned long notify_dropped(void)
{
	return __atomic_load_n(&dropped, __ATOMIC_RELAXED);
}
