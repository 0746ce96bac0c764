/* SPDX-License-Identifier: GPL-2.0-only */
/* The control verbs, in one table that strgd dispatches from and strgctl checks and documents. */
#ifndef STRG_CTLVERBS_H
#define STRG_CTLVERBS_H

#include <stdbool.h>

enum ctl_verb_id {
	CTL_ROUTE_SHOW = 0,
	CTL_ROUTE_SET = 1,
	CTL_ROUTE_DEL = 2,
	CTL_ROUTE_ACTIVATE = 3,
	CTL_ROUTE_DEACTIVATE = 4,
	CTL_POOL_SHOW = 5,
	CTL_POOL_ADD = 6,
	CTL_BACKEND_ADD = 7,
	CTL_BACKEND_DEL = 8,
	CTL_BACKEND_SET = 9,
	CTL_STATS_SHOW = 10,
	CTL_RELOAD = 11,
	CTL_TOP = 12,
	CTL_XDP_SHOW = 13,
	CTL_XDP_ATTACH = 14,
	CTL_XDP_DETACH = 15,
	CTL_DENY_SHOW = 16,
	CTL_DENY_ADD = 17,
	CTL_DENY_DEL = 18,
	CTL_ALLOW_SHOW = 19,
	CTL_ALLOW_ADD = 20,
	CTL_ALLOW_DEL = 21,
	CTL_LIMIT_SHOW = 22,
	CTL_LIMIT_SET = 23,
	CTL_RESTART = 24,
	CTL_VERB_COUNT = 25,
};

enum ctl_verb_flags {
	CTL_CHANGES = 1, /* changes strgd: root or the change group; --dry-run allowed */
	CTL_JSON = 2,	 /* has a JSON view (-j) */
	CTL_LOCAL = 4,	 /* strgctl runs it itself, from other commands' replies */
};

struct ctl_verb {
	enum ctl_verb_id id;
	const char *noun, *verb; /* verb NULL: the noun alone ("reload") */
	const char *args;	 /* the arguments, as usage lines show them */
	const char *help;	 /* what it does, one or two lines */
	unsigned flags;		 /* enum ctl_verb_flags */
};

extern const struct ctl_verb ctl_verbs[CTL_VERB_COUNT];

/*
 * The verb named by words[0] (noun) and words[1] (verb); *used is how many words named it (1 or
 * 2). "stats" alone is "stats show". NULL when there is none.
 */
const struct ctl_verb *ctl_verb_find(int argc, char **argv, int *used);
/* Whether noun names some verb's noun. */
bool ctl_noun_known(const char *noun);

#endif
