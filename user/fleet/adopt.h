/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A table from the store put into a draft of the live configuration: the draft's pools keep
 * their places (connections and the pools' runtime refer to them by index), routes keep their
 * counters' slots when they keep their ids; what differs is changed, nothing else.
 */
#ifndef STRG_FLEET_ADOPT_H
#define STRG_FLEET_ADOPT_H

#include <stddef.h>
#include <stdint.h>

#include "core/config.h"

/*
 * Make draft's pools and routes table's (pools the table lacks stay, unused: connections may
 * hold them). Returns the number of pools and routes changed (0: the draft was the table
 * already) or -errno (-ENOSPC: more than POOL_MAX pools in all; the draft is then partly
 * changed and must be dropped).
 */
int fleet_adopt(struct config *draft, const struct config *table);
/*
 * The same when draft's routes are those of the table before the routes ids names changed:
 * only those are looked at (a revision of a few routes costs as much whatever the table's
 * size). -EPERM when that is not enough (the default route moved): use fleet_adopt().
 */
int fleet_adopt_some(struct config *draft, const struct config *table, const uint32_t *ids,
		     size_t nids);

#endif
