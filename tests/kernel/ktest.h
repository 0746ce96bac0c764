/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What every kernel-behaviour test prints (tests/kernel/README.md): "FAIL NAME: why" for the
 * current subtest, and "# NAME: ..." for measurements worth reading but not asserted. The test
 * sets cur_test before each subtest.
 */
#ifndef STRG_KTEST_H
#define STRG_KTEST_H

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

static const char *cur_test;

static int failf(const char *fmt, ...) __attribute__((format(printf, 1, 2), unused));
static void notef(const char *fmt, ...) __attribute__((format(printf, 1, 2), unused));

/* Print the one FAIL line of the current subtest; returns -1 so callers can `return failf()`. */
static int failf(const char *fmt, ...)
{
	va_list ap;

	printf("FAIL %s: ", cur_test);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	return -1;
}

/* Measured values that are worth seeing but not asserted exactly. */
static void notef(const char *fmt, ...)
{
	va_list ap;

	printf("# %s: ", cur_test);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

/* A subtest: 0 passed; otherwise it printed its FAIL line. */
struct subtest {
	const char *name;
	int (*fn)(void);
};

/* Run each subtest ("ok NAME" for those that pass), then "SUITE: N failed"; the exit status.
 * "plan N" first: tests/kernel/run counts a subtest that never reported (a crash) as failed. */
static int __attribute__((unused))
run_subtests(const char *suite, const struct subtest *t, size_t n)
{
	int failed = 0;

	printf("plan %zu\n", n);
	fflush(stdout);
	for (size_t i = 0; i < n; i++) {
		cur_test = t[i].name;
		errno = 0;
		if (t[i].fn()) {
			failed++;
			continue;
		}
		printf("ok %s\n", cur_test);
	}
	printf("%s: %d failed\n", suite, failed);
	return failed ? 1 : 0;
}

#endif
