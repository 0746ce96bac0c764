/* SPDX-License-Identifier: GPL-2.0-only */
/* The configuration's life in a running strgd: at start (with the state file) and on reload. */
#ifndef STRG_RELOAD_H
#define STRG_RELOAD_H

#include <stdbool.h>

#include "core/apply.h"
#include "core/config.h"

/*
 * SIGHUP or "strgctl reload": read config_path again; when valid, apply its edits to the
 * live configuration (three-way, as at start) and its runtime settings; settings that need a
 * restart are reported, not applied; *applied (the configuration applied last) becomes the
 * file's. An invalid file changes nothing; its "file:line: message"
 * is reported and -EINVAL returned. Returns the number of changes (0: none), or -errno. The
 * caller publishes the table to the kernel and saves the state when it returns > 0.
 */
int reload_run(struct config *live, struct config **applied, const char *config_path, bool dry,
	       apply_say_fn say, void *ctx);

#endif
