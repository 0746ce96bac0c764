/* SPDX-License-Identifier: GPL-2.0-only */
/* The route table saved across restarts: written atomically on every change, read at start. */
#ifndef STRG_STATE_H
#define STRG_STATE_H

#include <stddef.h>

#include "core/config.h"

/*
 * Write cfg's pools and routes and the configuration applied last (may be NULL) to cfg->state
 * (temp file, fsync, rename, fsync of the directory). 0 or -errno.
 */
int state_save(const struct config *cfg, const struct config *applied);
/* The text state_save() writes, in a buffer the caller frees. 0 or -ENOMEM. */
int state_text(const struct config *cfg, const struct config *applied, char **text, size_t *len);
/* Write text as the state file at path, atomically and durably (temp file, fsync, rename,
 * fsync of the directory). 0 or -errno. */
int state_write(const char *path, const char *text, size_t len);

/*
 * cfg holds the configuration file just read. When cfg->state exists, its pools and routes
 * become cfg's (what strgctl left), and *last is the configuration that was applied when it was
 * written (a copy of cfg's own when the file predates that record): the caller merges the
 * file's edits since then (apply_config). Without a state file *last is NULL and cfg stays the
 * file's. 0, or -errno with a message naming the problem ("file:line: message") in err.
 */
int state_load(struct config *cfg, struct config **last, char *err, size_t errlen);
/*
 * Move the state file aside (FILE.discarded-TIMESTAMP, its name in kept): strgd then starts from
 * the configuration alone. 1 when a file was moved, 0 when there was none, -errno.
 */
int state_discard(const struct config *cfg, char *kept, size_t len);

#endif
