// SPDX-License-Identifier: GPL-2.0-only
/* The control verbs: names, arguments and help, shared by strgd's dispatch and strgctl. */
#include <stddef.h>
#include <string.h>

#include "control/ctlverbs.h"
#include "core/route.h"

const struct ctl_verb ctl_verbs[CTL_VERB_COUNT] = {
	{CTL_ROUTE_SHOW, "route", "show", "",
	 "the route table, every option of each route, and the "
	 "kernel route table's state",
	 CTL_JSON},
	{CTL_ROUTE_SET, "route", "set", ROUTE_GRAMMAR,
	 "add a route, or replace the one with the same methods, host, path and exact flag; "
	 "percent P (0-100, one decimal) sends that share of users (sticky), the rest falls "
	 "through; strip-prefix or rewrite NEW replace the matched prefix in the forwarded path; "
	 "testers lets the tester header pin a request to a pool",
	 CTL_CHANGES},
	{CTL_ROUTE_DEL, "route", "del", ROUTE_KEY_GRAMMAR, "delete a route (never the default '/')",
	 CTL_CHANGES},
	{CTL_ROUTE_ACTIVATE, "route", "activate", ROUTE_KEY_GRAMMAR,
	 "route the route's requests again", CTL_CHANGES},
	{CTL_ROUTE_DEACTIVATE, "route", "deactivate", ROUTE_KEY_GRAMMAR,
	 "keep the route, but let its requests fall through to the next match (rollback)",
	 CTL_CHANGES},
	{CTL_POOL_SHOW, "pool", "show", "", "the pools and their backends", CTL_JSON},
	{CTL_POOL_ADD, "pool", "add", "NAME", "a new pool, without backends yet", CTL_CHANGES},
	{CTL_BACKEND_ADD, "backend", "add", "POOL ADDR:PORT", "add a backend to a pool",
	 CTL_CHANGES},
	{CTL_BACKEND_DEL, "backend", "del", "POOL ADDR:PORT", "remove a backend from a pool",
	 CTL_CHANGES},
	{CTL_BACKEND_SET, "backend", "set", "POOL ADDR:PORT state ready|drain|maint | weight N",
	 "drain and maint take a backend out of new connections (open ones finish); weight N "
	 "(0-256) is its share of new connections",
	 CTL_CHANGES},
	{CTL_STATS_SHOW, "stats", "show", "",
	 "requests per route and pool (kernel and strgd added up): rate over the last seconds, "
	 "status classes, latency p50/p90/p99 in ms",
	 CTL_JSON},
	{CTL_RELOAD, "reload", NULL, "",
	 "read the configuration file again and apply what changed in it since it was last "
	 "applied (as SIGHUP does)",
	 CTL_CHANGES},
	{CTL_TOP, "top", NULL, "[FRAMES]",
	 "a live view of the stats, refreshed every second: per route each pool side by side "
	 "(requests and 5xx per second, p50 and p99, share of the route's traffic); q quits, "
	 "FRAMES stops after that many",
	 CTL_LOCAL},
	{CTL_RESTART, "restart", NULL, "",
	 "start a new strgd (the same binary file and arguments) that takes every listening "
	 "socket over, so no connection is refused; this one then finishes its connections and "
	 "exits (an upgrade: replace the binary, then restart)",
	 CTL_CHANGES},
	{CTL_XDP_SHOW, "xdp", "show", "",
	 "the XDP guard: where it is attached, its lists and limits, and its counters per "
	 "verdict (passed, allowed, denied, rate_syn, rate_packets, malformed, other)",
	 CTL_JSON},
	{CTL_XDP_ATTACH, "xdp", "attach", "IFACE [mode native|generic] [keep]",
	 "attach the guard to an interface (moving it from another); keep leaves it attached "
	 "when strgd stops",
	 CTL_CHANGES},
	{CTL_XDP_DETACH, "xdp", "detach", "", "detach the guard", CTL_CHANGES},
	{CTL_DENY_SHOW, "deny", "show", "", "the deny list", CTL_JSON},
	{CTL_DENY_ADD, "deny", "add", "ADDR[/LEN]...",
	 "drop every packet from these sources to strgd's listener, in XDP", CTL_CHANGES},
	{CTL_DENY_DEL, "deny", "del", "ADDR[/LEN]...", "take sources off the deny list",
	 CTL_CHANGES},
	{CTL_ALLOW_SHOW, "allow", "show", "", "the allow list", CTL_JSON},
	{CTL_ALLOW_ADD, "allow", "add", "ADDR[/LEN]...",
	 "sources the limits do not apply to (the deny list still does)", CTL_CHANGES},
	{CTL_ALLOW_DEL, "allow", "del", "ADDR[/LEN]...", "take sources off the allow list",
	 CTL_CHANGES},
	{CTL_LIMIT_SHOW, "limit", "show", "", "the guard's per-source limits", CTL_JSON},
	{CTL_LIMIT_SET, "limit", "set", "syn|packets RATE [burst N]",
	 "new connections (SYN) or packets per second per source and receiving CPU, with a "
	 "burst (default: a second's worth); 0 turns the limit off",
	 CTL_CHANGES},
};

const struct ctl_verb *ctl_verb_find(int argc, char **argv, int *used)
{
	for (size_t i = 0; argc >= 1 && i < CTL_VERB_COUNT; i++) {
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
	if (argc >= 1 && !strcmp(argv[0], "stats") && (argc == 1 || strcmp(argv[1], "show"))) {
		*used = 1;
		return &ctl_verbs[CTL_STATS_SHOW];
	}
	return NULL;
}

bool ctl_noun_known(const char *noun)
{
	for (size_t i = 0; i < CTL_VERB_COUNT; i++)
		if (!strcmp(noun, ctl_verbs[i].noun))
			return true;
	return false;
}
