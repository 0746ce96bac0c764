/* SPDX-License-Identifier: GPL-2.0-only */
/* The route verbs: show, set, patch, del, activate, deactivate (handlers in ctlroute.c). */
#ifndef STRG_CTLROUTE_H
#define STRG_CTLROUTE_H

#include "control/ctlverb.h"
#include "core/route.h"
#include "core/routepatch.h"

/* Each verb once: noun, verb, arguments, help, flags, handler (V is CTL_VERB). */
#define CTL_ROUTE_VERBS(V)                                                                         \
	V("route", "show", "",                                                                     \
	  "the route table, every option of each route, and the "                                  \
	  "kernel route table's state",                                                            \
	  CTL_JSON, ctl_route_show)                                                                \
	V("route", "set", ROUTE_GRAMMAR,                                                           \
	  "add a route, or replace the one with the same methods, host, path, exact flag and "     \
	  "conditions (header, cookie, query: all must hold); "                                    \
	  "percent P (0-100, one decimal) sends that share of users (sticky), the rest falls "     \
	  "through; strip-prefix or rewrite NEW replace the matched prefix in the forwarded "      \
	  "path; testers lets the tester header pin a request to a pool; fallback names where "    \
	  "requests go when the pool has no backend that serves; rollback makes strgd deactivate " \
	  "the route when its errors or p99 pass the limit; limit answers 429 with Retry-After "   \
	  "over RATE (COUNT[/s|/m|/h]); allow and deny answer 403 to other clients; set-header, "  \
	  "del-header and their response forms rewrite heads (%{client} %{request_id} %{route} "   \
	  "%{pool} %{sp}); shadow POOL sends a copy of its requests to POOL, compares its answer " \
	  "with the user's and drops it (SHADOW-OPTIONS, any order: " SHADOW_GRAMMAR "). Every "   \
	  "option not named is dropped: route patch changes one",                                  \
	  CTL_CHANGES, ctl_route_set)                                                              \
	V("route", "patch", ROUTE_KEY_GRAMMAR " " ROUTEPATCH_GRAMMAR,                              \
	  "change the options named, keep the route's others (and its state); no-rewrite, "        \
	  "no-testers, fallback next and no-rollback remove an option; rollback replaces all "     \
	  "its limits; limit, allow, deny and the header rules replace the route's own, "          \
	  "no-limit, "                                                                             \
	  "no-allow, no-deny and no-header-rules remove them; the conditions belong to KEY; "      \
	  "shadow replaces all the shadow's settings, no-shadow ends it. "                         \
	  "A change that sends more users to a pool, or drops testers, is warned "                 \
	  "about (on stderr, --dry-run too)",                                                      \
	  CTL_CHANGES, ctl_route_patch)                                                            \
	V("route", "del", ROUTE_KEY_GRAMMAR, "delete a route (never the default '/')",             \
	  CTL_CHANGES, ctl_route_del)                                                              \
	V("route", "activate", ROUTE_KEY_GRAMMAR, "route the route's requests again", CTL_CHANGES, \
	  ctl_route_activate)                                                                      \
	V("route", "deactivate", ROUTE_KEY_GRAMMAR,                                                \
	  "keep the route, but let its requests fall through to the next match (rollback)",        \
	  CTL_CHANGES, ctl_route_activate)

ctl_handler ctl_route_show, ctl_route_set, ctl_route_patch, ctl_route_del, ctl_route_activate;

/*
 * The route a command names in a->argv[1..] (ID, or [METHODS] [host HOST] PATH [exact]), in
 * a->cfg; NULL after failing the reply with what ("route del") in its words.
 */
const struct route *ctl_route_named(struct ctl_args *a, struct ctl_reply *r, const char *what);

#endif
