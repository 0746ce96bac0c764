/* SPDX-License-Identifier: GPL-2.0-only */
/* Lines into words: the one splitter of configuration lines, state-file lines and commands. */
#ifndef STRG_WORDS_H
#define STRG_WORDS_H

#include <stdbool.h>

/*
 * Split line in place into words separated by spaces, tabs, CRs and LFs, into argv (max of
 * them); with comments, a word that starts with '#' ends the line. Returns the number of
 * words, or -E2BIG when there are more than max.
 */
int words_split(char *line, char **argv, int max, bool comments);

#endif
