/* SPDX-License-Identifier: GPL-2.0-only */
/* The XDP guard's control verbs: xdp, deny, allow, limit (handlers in ctlguard.c). */
#ifndef STRG_CTLGUARD_H
#define STRG_CTLGUARD_H

#include "control/ctlverb.h"

/* Each verb once: noun, verb, arguments, help, flags, handler (V is CTL_VERB). */
#define CTL_GUARD_VERBS(V)                                                                         \
	V("xdp", "show", "",                                                                       \
	  "the XDP guard: where it is attached, its lists and limits, and its counters per "       \
	  "verdict (passed, allowed, denied, rate_syn, rate_packets, malformed, other)",           \
	  CTL_JSON, ctl_xdp_show)                                                                  \
	V("xdp", "attach", "IFACE [mode native|generic] [keep]",                                   \
	  "attach the guard to an interface (moving it from another); keep leaves it attached "    \
	  "when strgd stops",                                                                      \
	  CTL_CHANGES, ctl_xdp_change)                                                             \
	V("xdp", "detach", "", "detach the guard", CTL_CHANGES, ctl_xdp_change)                    \
	V("deny", "show", "", "the deny list", CTL_JSON, ctl_cidr_show)                            \
	V("deny", "add", "ADDR[/LEN]...",                                                          \
	  "drop every packet from these sources to strgd's listener, in XDP", CTL_CHANGES,         \
	  ctl_cidr_change)                                                                         \
	V("deny", "del", "ADDR[/LEN]...", "take sources off the deny list", CTL_CHANGES,           \
	  ctl_cidr_change)                                                                         \
	V("allow", "show", "", "the allow list", CTL_JSON, ctl_cidr_show)                          \
	V("allow", "add", "ADDR[/LEN]...",                                                         \
	  "sources the limits do not apply to (the deny list still does)", CTL_CHANGES,            \
	  ctl_cidr_change)                                                                         \
	V("allow", "del", "ADDR[/LEN]...", "take sources off the allow list", CTL_CHANGES,         \
	  ctl_cidr_change)                                                                         \
	V("limit", "show", "", "the guard's per-source limits", CTL_JSON, ctl_limit_show)          \
	V("limit", "set", "syn|packets RATE [burst N]",                                            \
	  "new connections (SYN) or packets per second per source and receiving CPU, with a "      \
	  "burst (default: a second's worth); 0 turns the limit off",                              \
	  CTL_CHANGES, ctl_limit_set)

ctl_handler ctl_xdp_show, ctl_xdp_change, ctl_cidr_show, ctl_cidr_change, ctl_limit_set,
	ctl_limit_show;

#endif
