// SPDX-License-Identifier: GPL-2.0-only
/* Prometheus' text format: HELP/TYPE lines and escaped label values (promtext.h). */
#include <string.h>

#include "observe/promtext.h"

void promtext_help(struct reply *r, const char *name, const char *type, const char *text)
{
	reply_printf(r, "# HELP %s %s\n# TYPE %s %s\n", name, text, name, type);
}

/* Backslash, double quote and newline escaped; runs without them copied whole. */
void promtext_label(struct reply *r, const char *s)
{
	while (*s) {
		size_t n = strcspn(s, "\\\"\n");

		if (n)
			reply_printf(r, "%.*s", (int)n, s);
		s += n;
		if (!*s)
			break;
		reply_printf(r, "\\%c", *s == '\n' ? 'n' : *s);
		s++;
	}
}
