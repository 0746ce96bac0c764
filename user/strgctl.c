// SPDX-License-Identifier: GPL-2.0-only
/* strgctl: the operator's command-line tool; this release knows "version" and "help". */
#include <stdio.h>
#include <string.h>

#include "version.h"

static const char usage[] = "Usage: strgctl COMMAND\n"
			    "\n"
			    "Commands:\n"
			    "  version   print the strg version\n"
			    "  help      this text\n";

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "version") == 0) {
		printf("strgctl %s\n", STRG_VERSION);
		return 0;
	}
	if (argc == 2 && (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
			  strcmp(argv[1], "-h") == 0)) {
		fputs(usage, stdout);
		return 0;
	}
	if (argc < 2)
		fprintf(stderr, "strgctl: missing command (try 'strgctl help')\n");
	else
		fprintf(stderr, "strgctl: unknown command '%s' (try 'strgctl help')\n", argv[1]);
	return 2;
}
