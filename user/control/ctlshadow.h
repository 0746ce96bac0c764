/* SPDX-License-Identifier: GPL-2.0-only */
/* The shadow verbs: show what the copies of shadowed routes found, reset it (ctlshadow.c). */
#ifndef STRG_CTLSHADOW_H
#define STRG_CTLSHADOW_H

#include "control/ctlverb.h"

/* Each verb once: noun, verb, arguments, help, flags, handler (V is CTL_VERB). */
#define CTL_SHADOW_VERBS(V)                                                                        \
	V("shadow", "show", "[ROUTE]",                                                             \
	  "per shadowed route (ROUTE: ID or [METHODS] [host HOST] PATH [exact]): copies sent, "    \
	  "dropped by reason, comparisons, matches and mismatches by kind and by field with "      \
	  "noise apart (legacy against legacy), p50/p99 of legacy and of modern; with ROUTE "      \
	  "(and -j) the last mismatches too",                                                      \
	  CTL_JSON, ctl_shadow_show)                                                               \
	V("shadow", "reset", "ROUTE",                                                              \
	  "forget the route's comparisons and mismatches (the noise learned is kept): shadow "     \
	  "again after a fix",                                                                     \
	  CTL_CHANGES | CTL_NO_DRAFT, ctl_shadow_reset)

ctl_handler ctl_shadow_show, ctl_shadow_reset;

#endif
