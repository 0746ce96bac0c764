// SPDX-License-Identifier: GPL-2.0-only
/* Lines into words (words.h). */
#include <errno.h>
#include <string.h>

#include "lib/words.h"

#define WORDS_SPACE " \t\r\n"

int words_split(char *line, char **argv, int max, bool comments)
{
	int argc = 0;
	char *s = line;

	for (;;) {
		s += strspn(s, WORDS_SPACE);
		if (!*s || (comments && *s == '#'))
			return argc;
		if (argc == max)
			return -E2BIG;
		argv[argc++] = s;
		s += strcspn(s, WORDS_SPACE);
		if (*s)
			*s++ = '\0';
	}
}
