/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The control verbs, in one table that strgd dispatches from and strgctl checks, documents and
 * completes. Each module lists its own verbs beside its handlers (ctlroute.h, ctlpool.h,
 * ctlstrgd.h, ctlguard.h); ctlverbs.c only puts the lists together. strgctl links the table
 * built with CTL_VERBS_TEXT: the same entries, without the handlers (ctlverb.h).
 */
#ifndef STRG_CTLVERBS_H
#define STRG_CTLVERBS_H

#include <stdbool.h>
#include <stddef.h>

#include "control/ctlverb.h"

extern const struct ctl_verb ctl_verbs[];
extern const size_t ctl_nverbs;

/*
 * The verb named by words[0] (noun) and words[1] (verb); *used is how many words named it (1 or
 * 2). "stats" alone is "stats show". NULL when there is none.
 */
const struct ctl_verb *ctl_verb_find(int argc, char **argv, int *used);
/* Whether noun names some verb's noun. */
bool ctl_noun_known(const char *noun);
/* Whether v is "noun verb". */
bool ctl_verb_is(const struct ctl_verb *v, const char *noun, const char *verb);

#endif
