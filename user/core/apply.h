/* SPDX-License-Identifier: GPL-2.0-only */
/* Configuration edits applied to the live table, three-way, the way `kubectl apply` does. */
#ifndef STRG_APPLY_H
#define STRG_APPLY_H

#include <stdbool.h>

#include "core/config.h"

/* Reports one change or conflict, a line of text without its newline. */
typedef void (*apply_say_fn)(void *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

enum apply_flags {
	APPLY_DRY = 1,	      /* report what would change, change nothing */
	APPLY_DROP_POOLS = 2, /* pools the file no longer has may go (at start: no connection
			       * holds them); otherwise they stay until the next start */
};

/*
 * Apply to live (pools and routes) what the configuration file changed since last, the
 * configuration applied the time before (NULL: none): pools and routes the file added, changed
 * or removed since then are added, changed or removed in live; what runtime changes (strgctl)
 * did elsewhere is kept; where both changed the same route or pool, the file wins and the
 * conflict is reported with both versions, on a line that begins with "conflict: ". A route
 * live has inactive (deactivated or tripped) stays so under the file's edit, unless the edit
 * removed "inactive" from its line. Every change is reported through say. Returns the
 * number of changes (made, or that would be made with APPLY_DRY), or -errno.
 */
int apply_config(struct config *live, const struct config *last, const struct config *file,
		 unsigned flags, apply_say_fn say, void *ctx);
/*
 * At start: cfg holds the configuration file just read; the state file's table becomes live and
 * the file's edits since it was last applied are merged in (reported through say); *applied
 * becomes the file's configuration (the caller frees it). With dry (strgd -t) nothing is kept: cfg
 * is only used to report. Returns the number of changes the merge made, or -errno with the message
 * in err.
 */
int apply_boot(struct config *cfg, struct config **applied, bool dry, apply_say_fn say, void *ctx,
	       char *err, size_t errlen);
/* Whether route spec a of config ca and b of cb are the same, pools compared by name. */
bool apply_route_same(const struct config *ca, const struct route_stored *a,
		      const struct config *cb, const struct route_stored *b);

#endif
