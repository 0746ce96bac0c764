/* SPDX-License-Identifier: GPL-2.0-only */
/* strgctl top: a live terminal view of strgd's stats (top.c). */
#ifndef STRG_TOP_H
#define STRG_TOP_H

/*
 * Show the view every second until q is pressed, or frames times (0: until q); strgd is asked
 * through its control socket sock. One of strgctl's exit codes.
 */
int top_run(const char *sock, unsigned frames);

#endif
