// SPDX-License-Identifier: GPL-2.0-only
/*
 * The control verbs: every module's list put together, in the order help shows them. Built
 * twice: with the handlers for strgd, with CTL_VERBS_TEXT (names, arguments, help) for strgctl.
 */
#include <stddef.h>
#include <string.h>

#include "control/ctlfleet.h"
#include "control/ctlguard.h"
#include "control/ctlpool.h"
#include "control/ctlroute.h"
#include "control/ctlshadow.h"
#include "control/ctlstrgd.h"
#include "control/ctlverbs.h"

const struct ctl_verb ctl_verbs[] = {
	CTL_ROUTE_VERBS(CTL_VERB)  /* route show|set|del|activate|deactivate */
	CTL_SHADOW_VERBS(CTL_VERB) /* shadow show|reset */
	CTL_POOL_VERBS(CTL_VERB)   /* pool show|add, backend add|del|set */
	CTL_STRGD_VERBS(CTL_VERB)  /* stats, reload, top, restart */
	CTL_GUARD_VERBS(CTL_VERB)  /* xdp, deny, allow, limit */
	CTL_FLEET_VERBS(CTL_VERB)  /* fleet */
};

const size_t ctl_nverbs = sizeof(ctl_verbs) / sizeof(ctl_verbs[0]);

bool ctl_verb_is(const struct ctl_verb *v, const char *noun, const char *verb)
{
	return !strcmp(v->noun, noun) && (v->verb ? verb && !strcmp(v->verb, verb) : !verb);
}

const struct ctl_verb *ctl_verb_find(int argc, char **argv, int *used)
{
	for (size_t i = 0; argc >= 1 && i < ctl_nverbs; i++) {
		const struct ctl_verb *v = &ctl_verbs[i];

		if (strcmp(argv[0], v->noun))
			continue;
		if (!v->verb) {
			*used = 1;
			return v;
		}
		if (argc >= 2 && !strcmp(argv[1], v->verb)) {
			*used = 2;
			return v;
		}
	}
	/* "stats" alone (or with words that are not a verb) is "stats show". */
	if (argc >= 1 && !strcmp(argv[0], "stats") && (argc == 1 || strcmp(argv[1], "show"))) {
		for (size_t i = 0; i < ctl_nverbs; i++)
			if (ctl_verb_is(&ctl_verbs[i], "stats", "show")) {
				*used = 1;
				return &ctl_verbs[i];
			}
	}
	return NULL;
}

bool ctl_noun_known(const char *noun)
{
	for (size_t i = 0; i < ctl_nverbs; i++)
		if (!strcmp(noun, ctl_verbs[i].noun))
			return true;
	return false;
}
