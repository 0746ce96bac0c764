/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Open client connections per source address ("limit per-source N"), shared by the workers:
 * a connection over the limit is closed at accept. Taken once per connection, never per request.
 */
#ifndef STRG_SRCLIMIT_H
#define STRG_SRCLIMIT_H

#include <stdbool.h>
#include <sys/socket.h>

struct srclimit;

/* A table for at most max open connections per address (0: no limit). NULL out of memory. */
struct srclimit *srclimit_new(unsigned max);
void srclimit_free(struct srclimit *sl);
/* One more connection from sa: false when the address has max already (nothing counted). */
bool srclimit_take(struct srclimit *sl, const struct sockaddr *sa);
/* A connection from sa ended. */
void srclimit_give(struct srclimit *sl, const struct sockaddr *sa);
/* Connections refused so far. */
unsigned long srclimit_refused(const struct srclimit *sl);

#endif
