// SPDX-License-Identifier: GPL-2.0-only
/* Unit tests of the log lines (lib/log.c): timestamped on a terminal or a file, "<N>" syslog
 * priorities and no timestamp when stderr is the stream systemd's JOURNAL_STREAM names. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/log.h"

/* Runs the logging with stderr sent to a file of its own, and gives back what was written. */
static char *capture(int journal, void (*emit)(void))
{
	char path[] = "/tmp/strg-test-log-XXXXXX";
	static char text[4096];
	int fd = mkstemp(path), saved = dup(2);
	struct stat st;
	char js[64];
	ssize_t n;

	assert_true(fd >= 0 && saved >= 0);
	unlink(path);
	fflush(stderr);
	dup2(fd, 2);
	assert_int_equal(fstat(2, &st), 0);
	snprintf(js, sizeof(js), "%llu:%llu", (unsigned long long)st.st_dev,
		 journal ? (unsigned long long)st.st_ino : (unsigned long long)st.st_ino + 1);
	setenv("JOURNAL_STREAM", js, 1);
	assert_int_equal(log_detect_journal(), journal);
	emit();
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	n = pread(fd, text, sizeof(text) - 1, 0);
	close(fd);
	unsetenv("JOURNAL_STREAM");
	log_detect_journal();
	assert_true(n > 0);
	text[n] = '\0';
	return text;
}

static void three_levels(void)
{
	log_level = LOG_DEBUG;
	pr_warn("backend %s down", "10.0.0.2:80");
	pr_info("reload: %d changes", 2);
	pr_debug("request %d", 7);
	log_level = LOG_INFO;
}

static void test_journal_lines_carry_priorities_and_no_stamp(void **state)
{
	(void)state;
	assert_string_equal(capture(1, three_levels), "<4>strgd warn: backend 10.0.0.2:80 down\n"
						      "<6>strgd info: reload: 2 changes\n"
						      "<7>strgd debug: request 7\n");
}

static void test_other_streams_get_a_timestamp(void **state)
{
	const char *text;

	(void)state;
	/* JOURNAL_STREAM set by a parent whose stream is not ours: a timestamp, no priority. */
	text = capture(0, three_levels);
	assert_int_equal(text[0], '2');
	assert_non_null(strstr(text, "Z strgd warn: backend 10.0.0.2:80 down\n"));
	assert_null(strchr(text, '<'));
}

static void test_level_names(void **state)
{
	(void)state;
	assert_int_equal(log_level_parse("warn"), LOG_WARN);
	assert_int_equal(log_level_parse("info"), LOG_INFO);
	assert_int_equal(log_level_parse("debug"), LOG_DEBUG);
	assert_int_equal(log_level_parse("verbose"), -1);
	for (int l = LOG_WARN; l <= LOG_DEBUG; l++)
		assert_int_equal(log_level_parse(log_level_name((enum log_level)l)), l);
	log_set_level(LOG_WARN);
	assert_int_equal(log_get_level(), LOG_WARN);
	log_set_level(LOG_INFO);
	assert_int_equal(log_get_level(), LOG_INFO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_journal_lines_carry_priorities_and_no_stamp),
		cmocka_unit_test(test_other_streams_get_a_timestamp),
		cmocka_unit_test(test_level_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
