/* SPDX-License-Identifier: GPL-2.0-only */
/* The pool and backend verbs: pool show|add, backend add|del|set (handlers in ctlpool.c). */
#ifndef STRG_CTLPOOL_H
#define STRG_CTLPOOL_H

#include "control/ctlverb.h"

/* Each verb once: noun, verb, arguments, help, flags, handler (V is CTL_VERB). */
#define CTL_POOL_VERBS(V)                                                                          \
	V("pool", "show", "", "the pools and their backends", CTL_JSON, ctl_pool_show)             \
	V("pool", "add", "NAME", "a new pool, without backends yet", CTL_CHANGES, ctl_pool_add)    \
	V("backend", "add", "POOL ADDR:PORT", "add a backend to a pool", CTL_CHANGES,              \
	  ctl_backend_change)                                                                      \
	V("backend", "del", "POOL ADDR:PORT", "remove a backend from a pool",                      \
	  CTL_CHANGES | CTL_FORCE, ctl_backend_change)                                             \
	V("backend", "set", "POOL ADDR:PORT state ready|drain|maint | weight N",                   \
	  "drain and maint take a backend out of new connections (open ones finish); weight N "    \
	  "(0-256) is its share of new connections",                                               \
	  CTL_CHANGES | CTL_FORCE, ctl_backend_change)

ctl_handler ctl_pool_show, ctl_pool_add, ctl_backend_change;

#endif
