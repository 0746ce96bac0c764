// SPDX-License-Identifier: GPL-2.0-only
/* Logging to stderr: one line per message, prefixed with an RFC 3339 timestamp and the level. */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "lib/log.h"

enum log_level log_level = LOG_INFO;

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

	if (lvl > log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* One fprintf per line so writers do not interleave. */
	fprintf(stderr, "%s strgd %s: %s\n", log_stamp(stamp), names[lvl], line);
}

void log_say(void *prefix, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log_msg(LOG_INFO, "%s%s", prefix ? (const char *)prefix : "", line);
}
