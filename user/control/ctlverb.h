/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What a module of control verbs is given: the command's words and the configuration it works
 * on; it answers through ctlreply.h. A verb that changes strgd edits a->cfg, a draft that
 * the change pipeline (change.h) publishes and commits once the handler returns > 0 (changed),
 * or drops when it returns 0 (nothing changed, or --dry-run) or < 0 (failed, after ctl_fail).
 * Under --dry-run the handler makes the same edit and words its reply "would ...".
 */
#ifndef STRG_CTLVERB_H
#define STRG_CTLVERB_H

#include <stdbool.h>
#include <jansson.h>

#include "control/change.h"
#include "control/ctl.h"
#include "control/ctlreply.h"

/* Most words in a command line. */
#define CTL_MAX_WORDS 32

/* The words of a command after its noun and verb, the options taken out of them. */
struct ctl_args {
	int argc;
	char **argv; /* argv[0] is the verb */
	bool json;
	bool dry;
	struct config *cfg;    /* a view: the live configuration; a change: its draft */
	struct change *change; /* a change: the one under way (NULL for a view) */
};

#endif
