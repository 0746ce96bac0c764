// SPDX-License-Identifier: GPL-2.0-only
/*
 * Logging to stderr: one line per message, prefixed with an RFC 3339 timestamp and the level; when
 * stderr is the journal, with the syslog priority as "<N>" instead of the timestamp (the journal
 * stamps each line itself), so that `journalctl -p warning` finds strgd's warnings.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "lib/log.h"

enum log_level log_level = LOG_INFO;

/* -1: not looked at yet; 0: a terminal or a file; 1: the journal. Looked at once, on the first
 * line: threads that race there compute the same answer. */
static int to_journal = -1;

bool log_detect_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	/* systemd sets JOURNAL_STREAM=DEV:INO of the stream it gave as stdout/stderr; a stderr
	 * redirected since (by a shell, say) has another device and inode. */
	to_journal = js && sscanf(js, "%llu:%llu", &dev, &ino) == 2 && !fstat(2, &st) &&
		     (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
	return to_journal;
}

int log_level_parse(const char *name)
{
	static const char *const names[] = {"warn", "info", "debug"};

	for (int i = 0; i < 3; i++)
		if (!strcmp(name, names[i]))
			return i;
	return -1;
}

const char *log_level_name(enum log_level lvl)
{
	static const char *const names[] = {"warn", "info", "debug"};

	return (unsigned)lvl < 3 ? names[lvl] : "?";
}

void log_set_level(enum log_level lvl)
{
	__atomic_store_n(&log_level, lvl, __ATOMIC_RELAXED);
}

enum log_level log_get_level(void)
{
	return __atomic_load_n(&log_level, __ATOMIC_RELAXED);
}

const char *log_stamp(char out[LOG_STAMP_MAX])
{
	struct timespec ts;
	struct tm tm;
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(out, LOG_STAMP_MAX, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, LOG_STAMP_MAX - n, ".%03ldZ", ts.tv_nsec / 1000000);
	return out;
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	static const char *const names[] = {"warn", "info", "debug"};
	char line[1024], stamp[LOG_STAMP_MAX];
	va_list ap;

	if (lvl > log_get_level())
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (to_journal < 0)
		log_detect_journal();
	/* One fprintf per line so writers do not interleave. Priorities: warning 4, info 6,
	 * debug 7. */
	if (to_journal)
		fprintf(stderr, "<%d>strgd %s: %s\n",
			lvl == LOG_WARN	  ? 4
			: lvl == LOG_INFO ? 6
					  : 7,
			names[lvl], line);
	else
		fprintf(stderr, "%s strgd %s: %s\n", log_stamp(stamp), names[lvl], line);
}

void log_say(void *prefix, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* A conflict or a warning is for journalctl -p warning too. */
	log_msg(strncmp(line, "conflict: ", 10) && strncmp(line, "warning: ", 9) ? LOG_INFO
										 : LOG_WARN,
		"%s%s", prefix ? (const char *)prefix : "", line);
}
