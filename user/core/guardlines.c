// SPDX-License-Identifier: GPL-2.0-only
/*
 * The XDP guard's configuration lines, registered with the parser from here: "xdp", "deny",
 * "allow" and "limit syn|packets"; the same lines come back from the state file and strgctl
 * (guard_config_words). kernel/guard.c puts the settings in force.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/config.h"
#include "core/guardlines.h"

/* xdp IFACE [mode native|generic] [keep] */
static int do_xdp(struct config_parser *ps, int argc, char **argv)
{
	struct guard_settings *g = &config_of(ps)->guard;
	int i;

	if (argc < 2)
		return config_err(ps, "xdp: expects IFACE [mode native|generic] [keep]");
	if (strlen(argv[1]) >= sizeof(g->iface) || strchr(argv[1], '/'))
		return config_err(ps, "xdp: bad interface name '%s'", argv[1]);
	snprintf(g->iface, sizeof(g->iface), "%s", argv[1]);
	g->mode = GUARD_MODE_NATIVE;
	g->keep = false;
	for (i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "keep")) {
			g->keep = true;
		} else if (!strcmp(argv[i], "mode") && i + 1 < argc &&
			   (!strcmp(argv[i + 1], "native") || !strcmp(argv[i + 1], "generic"))) {
			g->mode = strcmp(argv[++i], "native") ? GUARD_MODE_GENERIC
							      : GUARD_MODE_NATIVE;
		} else {
			return config_err(ps, "xdp: unexpected '%s' (mode native|generic, keep)",
					  argv[i]);
		}
	}
	return 0;
}

/* deny CIDR... / allow CIDR... */
static int do_cidrs(struct config_parser *ps, int argc, char **argv)
{
	struct guard_settings *g = &config_of(ps)->guard;
	struct guard_list *l = !strcmp(argv[0], "deny") ? &g->deny : &g->allow;
	struct guard_net n;
	char msg[128];

	if (argc < 2)
		return config_err(ps, "%s: expects ADDR[/LEN]...", argv[0]);
	for (int i = 1; i < argc; i++) {
		if (guard_net_parse(argv[i], &n, msg, sizeof(msg)))
			return config_err(ps, "%s: %s", argv[0], msg);
		if (guard_list_add(l, &n) < 0)
			return config_err(ps, "%s: more than %d entries or out of memory", argv[0],
					  GUARD_MAX_CIDRS);
	}
	return 0;
}

/* limit syn|packets RATE [burst N] */
static int guard_limit(struct config_parser *ps, int argc, char **argv)
{
	struct guard_settings *g = &config_of(ps)->guard;
	bool syn = !strcmp(argv[1], "syn");
	char msg[128];

	if (guard_limit_parse(argc - 2, argv + 2, syn ? &g->syn_rate : &g->pkt_rate,
			      syn ? &g->syn_burst : &g->pkt_burst, msg, sizeof(msg)))
		return config_err(ps, "limit %s: %s", argv[1], msg);
	return 0;
}

static const struct config_directive guard_directives[] = {
	{"xdp", NULL, do_xdp},	       {"deny", NULL, do_cidrs},	  {"allow", NULL, do_cidrs},
	{"limit", "syn", guard_limit}, {"limit", "packets", guard_limit},
};

CONFIG_DIRECTIVES(guard, guard_directives)

int guard_config_words(struct config *cfg, int argc, char **argv, char *err, size_t errlen)
{
	if ((argc >= 1 &&
	     (!strcmp(argv[0], "xdp") || !strcmp(argv[0], "deny") || !strcmp(argv[0], "allow"))) ||
	    (argc >= 2 && !strcmp(argv[0], "limit") &&
	     (!strcmp(argv[1], "syn") || !strcmp(argv[1], "packets"))))
		return config_words(cfg, argc, argv, err, errlen);
	snprintf(err, errlen, "not a guard line (xdp, deny, allow, limit syn|packets)");
	return -EINVAL;
}
