/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The control verbs, in one table that strgd dispatches from and strgctl checks, documents and
 * completes. Each module lists its own verbs beside its handlers (ctlroute.h, ctlpool.h,
 * ctlstrgd.h, ctlguard.h); ctlverbs.c only puts the lists together. strgctl links the table
 * built with CTL_VERBS_TEXT: the same entries, without the handlers.
 */
#ifndef STRG_CTLVERBS_H
#define STRG_CTLVERBS_H

#include <stdbool.h>
#include <stddef.h>

struct ctl_env;
struct ctl_args;
struct ctl_reply;

enum ctl_verb_flags {
	CTL_CHANGES = 1,  /* changes strgd: root or the change group; --dry-run allowed */
	CTL_JSON = 2,	  /* has a JSON view (-j) */
	CTL_LOCAL = 4,	  /* strgctl runs it itself, from other commands' replies */
	CTL_NO_DRAFT = 8, /* a change of strgd itself, not of its configuration (restart) */
};

/* A verb's handler (ctlverb.h): > 0 changed, 0 not, < 0 failed (the reply says why). */
typedef int ctl_handler(struct ctl_env *env, struct ctl_args *a, struct ctl_reply *r);

struct ctl_verb {
	const char *noun, *verb; /* verb NULL: the noun alone ("reload") */
	const char *args;	 /* the arguments, as usage lines show them */
	const char *help;	 /* what it does, one or two lines */
	unsigned flags;		 /* enum ctl_verb_flags */
	ctl_handler *run;	 /* NULL in strgctl */
};

/* An entry of a module's list of verbs: CTL_ROUTE_VERBS(CTL_VERB) and the like. */
#ifdef CTL_VERBS_TEXT
#define CTL_VERB(noun, verb, args, help, flags, run) {noun, verb, args, help, flags, NULL},
#else
#define CTL_VERB(noun, verb, args, help, flags, run) {noun, verb, args, help, flags, run},
#endif

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
