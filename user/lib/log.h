/* SPDX-License-Identifier: GPL-2.0-only */
/* Logging to stderr with a level and printf-format checking. */
#ifndef STRG_LOG_H
#define STRG_LOG_H

#include <stdbool.h>

enum log_level {
	LOG_WARN = 0,
	LOG_INFO = 1,
	LOG_DEBUG = 2,
};

extern enum log_level log_level;

/* Whether stderr is the journal (JOURNAL_STREAM names it): lines then carry their priority as
 * "<N>" and no timestamp. Looked at on the first line; call again after stderr changed. */
bool log_detect_journal(void);

/* "warn", "info" or "debug" as a level, or -1. */
int log_level_parse(const char *name);
/* The level's name: "warn", "info" or "debug". */
const char *log_level_name(enum log_level lvl);
/* The level from now on, for every thread (strgctl log level). */
void log_set_level(enum log_level lvl);
/* The level in force (read by any thread). */
enum log_level log_get_level(void);

#define LOG_STAMP_MAX 32
/* Now as RFC 3339, UTC, milliseconds ("2026-11-29T12:00:00.123Z"), in out. */
const char *log_stamp(char out[LOG_STAMP_MAX]);

void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * A line of a report (a reload's changes, say) after the text prefix points to: at info level,
 * or at warn when it begins with "conflict: " or "warning: ".
 */
void log_say(void *prefix, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define pr_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define pr_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define pr_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
