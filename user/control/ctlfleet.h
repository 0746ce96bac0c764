/* SPDX-License-Identifier: GPL-2.0-only */
/* "fleet": the hosts sharing this one's table in etcd (handler in ctlfleet.c). */
#ifndef STRG_CTLFLEET_H
#define STRG_CTLFLEET_H

#include "control/ctlverb.h"

/* Each verb once: noun, verb, arguments, help, flags, handler (V is CTL_VERB). */
#define CTL_FLEET_VERBS(V)                                                                         \
	V("fleet", NULL, "",                                                                       \
	  "the hosts that share this one's table in etcd (store): the revision each runs, "        \
	  "whether it runs the newest table and this host's, since when it is out of touch, its "  \
	  "last refusal",                                                                          \
	  CTL_JSON, ctl_fleet_show)

ctl_handler ctl_fleet_show;

#endif
