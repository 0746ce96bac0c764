/* SPDX-License-Identifier: GPL-2.0-only */
/* The route table saved across restarts: written atomically on every change, read at start. */
#ifndef STRG_STATE_H
#define STRG_STATE_H

#include <stddef.h>

#include "config.h"

/* Write cfg->routes to cfg->state (temp file, fsync, rename, fsync of the directory). */
int state_save(const struct config *cfg);

/*
 * Keep the configuration file's routes in cfg->boot_routes and, when cfg->state exists, make
 * its table the live one (the state file wins). 0, or -errno with "file:line: message" in err.
 */
int state_load(struct config *cfg, char *err, size_t errlen);

#endif
