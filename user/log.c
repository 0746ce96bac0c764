// SPDX-License-Identifier: GPL-2.0-only
/* Logging to stderr: one line per message, prefixed with a timestamp and the level. */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "log.h"

enum log_level log_level = LOG_INFO;

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	static const char *const names[] = {"warn", "info", "debug"};
	struct timespec ts;
	char line[1024];
	va_list ap;

	if (lvl > log_level)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* One fprintf per line so concurrent writers do not interleave within a line. */
	fprintf(stderr, "%lld.%03ld strgd %s: %s\n", (long long)ts.tv_sec, ts.tv_nsec / 1000000,
		names[lvl], line);
}
