// SPDX-License-Identifier: GPL-2.0-only
/*
 * The XDP guard's control verbs (ctlguard.h): xdp show|attach|detach, deny and allow
 * add|del|show, limit set|show. Changes go into the draft's guard settings, which the change
 * pipeline writes into the attached program's maps and saves with the state.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "control/ctlguard.h"
#include "control/ctlverb.h"
#include "core/guardcfg.h"
#include "core/guardlines.h"
#include "kernel/guard.h"

/* "ok" and a JSON document (consumed). */
static int ok_json(struct ctl_reply *r, json_t *doc)
{
	ctl_replyf(r, "ok\n");
	return ctl_reply_json(r, doc);
}

static json_t *limit_json(uint32_t rate, uint32_t burst)
{
	return json_pack("{s:I, s:I}", "rate", (json_int_t)rate, "burst", (json_int_t)burst);
}

static json_t *counts_json(struct ctl_env *env)
{
	struct guard_count c[GUARD_REASONS];
	json_t *o = json_object();

	if (!o || !env->chg.gd || guard_counts(env->chg.gd, c))
		return o;
	for (unsigned i = 0; i < GUARD_REASONS; i++)
		json_object_set_new(o, guard_reason_name(i),
				    json_pack("{s:I, s:I}", "packets", (json_int_t)c[i].packets,
					      "bytes", (json_int_t)c[i].bytes));
	return o;
}

/* Why there is no guard: no BPF at all, or the guard's own load failed (logged at start). */
static const char *not_loaded(const struct ctl_env *env)
{
	return env->chg.sp ? "its program failed to load: see strgd's log at start"
			   : "strgd runs without BPF";
}

int ctl_xdp_show(struct ctl_env *env, struct ctl_args *a, struct ctl_reply *r)
{
	const struct guard_settings *g = &a->cfg->guard;
	const char *mode = g->mode == GUARD_MODE_GENERIC ? "generic" : "native";
	const char *attached = env->chg.gd ? guard_iface(env->chg.gd) : "";
	const char *problem = env->chg.gd ? guard_problem(env->chg.gd) : "";
	char lim[2][48];

	if (a->json)
		return ok_json(
			r, json_pack("{s:b, s:s, s:s, s:b, s:s, s:s, s:I, s:I, s:{s:o, s:o}, s:o}",
				     "loaded", (int)(env->chg.gd != NULL), "iface", g->iface,
				     "mode", mode, "keep", (int)g->keep, "attached", attached,
				     "problem", problem, "deny", (json_int_t)g->deny.n, "allow",
				     (json_int_t)g->allow.n, "limits", "syn",
				     limit_json(g->syn_rate, g->syn_burst), "packets",
				     limit_json(g->pkt_rate, g->pkt_burst), "counters",
				     counts_json(env)));
	ctl_replyf(r, "ok\n");
	if (!env->chg.gd)
		ctl_replyf(r, "xdp: the guard is not loaded (%s)\n", not_loaded(env));
	else if (attached[0])
		ctl_replyf(r, "xdp: attached to %s (%s mode)%s\n", attached, mode,
			   g->keep ? ", left attached when strgd stops" : "");
	else if (g->iface[0])
		ctl_replyf(r, "xdp: not attached to %s: %s\n", g->iface, problem);
	else
		ctl_replyf(r, "xdp: not attached (strgctl xdp attach IFACE)\n");
	ctl_replyf(r, "deny: %u entries, allow: %u entries\n", g->deny.n, g->allow.n);
	ctl_replyf(r, "limit syn: %s, limit packets: %s (per source, per receiving CPU)\n",
		   guard_limit_text(g->syn_rate, g->syn_burst, lim[0], sizeof(lim[0])),
		   guard_limit_text(g->pkt_rate, g->pkt_burst, lim[1], sizeof(lim[1])));
	if (env->chg.gd) {
		struct guard_count c[GUARD_REASONS];

		if (!guard_counts(env->chg.gd, c)) {
			ctl_replyf(r, "%-13s %14s %16s\n", "verdict", "packets", "bytes");
			for (unsigned i = 0; i < GUARD_REASONS; i++)
				ctl_replyf(r, "%-13s %14llu %16llu\n", guard_reason_name(i),
					   (unsigned long long)c[i].packets,
					   (unsigned long long)c[i].bytes);
		}
	}
	return 0;
}

/* "attach IFACE [mode native|generic] [keep]" and "detach". */
int ctl_xdp_change(struct ctl_env *env, struct ctl_args *a, struct ctl_reply *r)
{
	struct guard_settings *g = &a->cfg->guard;
	char err[256];

	if (!env->chg.gd)
		return ctl_fail(r, "xdp: the guard is not loaded (%s)", not_loaded(env));
	if (!strcmp(a->argv[0], "detach")) {
		if (a->argc != 1)
			return ctl_fail(r, "xdp detach: takes no arguments");
		if (!g->iface[0])
			return ctl_fail(r, "xdp detach: not attached");
		ctl_replyf(r, "ok\n%sxdp: detach from %s\n", a->dry ? "would " : "", g->iface);
		g->iface[0] = '\0';
		g->keep = false;
		return 1;
	}
	a->argv[0] = "xdp";
	if (guard_config_words(a->cfg, a->argc, a->argv, err, sizeof(err)))
		return ctl_fail(r, "%s", err);
	ctl_replyf(r, "ok\n%s to %s (%s mode)\n", a->dry ? "would attach" : "xdp: attached",
		   g->iface, g->mode == GUARD_MODE_GENERIC ? "generic" : "native");
	/* Refused by the guard (no such interface, no XDP in its driver): nothing changes. */
	a->change->needs_guard = true;
	return 1;
}

static struct guard_list *list_of(struct config *cfg, const char *noun)
{
	return !strcmp(noun, "deny") ? &cfg->guard.deny : &cfg->guard.allow;
}

/* "deny|allow show": the CIDRs, one per line. */
int ctl_cidr_show(struct ctl_env *env, struct ctl_args *a, struct ctl_reply *r)
{
	const char *noun = a->argv[-1];
	const struct guard_list *l = list_of(a->cfg, noun);
	char t[GUARD_NET_TEXT];

	if (a->argc != 1)
		return ctl_fail(r, "%s show: takes no arguments", noun);
	if (a->json) {
		json_t *arr = json_array();

		ctl_replyf(r, "ok\n");
		for (unsigned i = 0; arr && i < l->n; i++)
			json_array_append_new(arr,
					      json_string(guard_net_text(&l->v[i], t, sizeof(t))));
		return ctl_reply_json(r, arr);
	}
	ctl_replyf(r, "ok\n");
	for (unsigned i = 0; i < l->n; i++)
		ctl_replyf(r, "%s\n", guard_net_text(&l->v[i], t, sizeof(t)));
	if (env->chg.gd && guard_kernel_entries(env->chg.gd, !strcmp(noun, "deny")) != l->n)
		ctl_replyf(r, "warning: the kernel's %s list has %u entries, not %u\n", noun,
			   guard_kernel_entries(env->chg.gd, !strcmp(noun, "deny")), l->n);
	return 0;
}

/* "deny|allow add|del CIDR...": all or none (a bad CIDR refuses the whole command). */
int ctl_cidr_change(struct ctl_env *env, struct ctl_args *a, struct ctl_reply *r)
{
	const char *noun = a->argv[-1];
	struct guard_list *l = list_of(a->cfg, noun);
	bool add = !strcmp(a->argv[0], "add");
	char msg[128], t[GUARD_NET_TEXT];
	struct guard_net n;
	int changed = 0, ret;

	(void)env;
	if (a->argc < 2)
		return ctl_fail(r, "%s %s: expects ADDR[/LEN]...", noun, a->argv[0]);
	for (int i = 1; i < a->argc; i++)
		if (guard_net_parse(a->argv[i], &n, msg, sizeof(msg)))
			return ctl_fail(r, "%s %s: %s", noun, a->argv[0], msg);
	ctl_replyf(r, "ok\n");
	for (int i = 1; i < a->argc; i++) {
		guard_net_parse(a->argv[i], &n, msg, sizeof(msg));
		guard_net_text(&n, t, sizeof(t));
		ret = add ? guard_list_add(l, &n) : guard_list_del(l, &n);
		if (ret < 0)
			return ctl_fail(r, "%s add: %s", noun,
					ret == -ENOSPC ? "the list is full" : strerror(-ret));
		ctl_replyf(r, "%s%s %s: %s\n", a->dry ? "would do: " : "", noun, t,
			   ret ? (add ? "added" : "removed")
			       : (add ? "already there" : "not there"));
		changed += ret;
	}
	return changed ? 1 : 0;
}

/* "limit set syn|packets RATE [burst N]" */
int ctl_limit_set(struct ctl_env *env, struct ctl_args *a, struct ctl_reply *r)
{
	struct guard_settings *g = &a->cfg->guard;
	char err[256], before[48], after[48];
	uint32_t *rate, *burst, old_rate, old_burst;

	(void)env;
	if (a->argc < 3 || (strcmp(a->argv[1], "syn") && strcmp(a->argv[1], "packets")))
		return ctl_fail(r, "limit set: expects syn|packets RATE [burst N]");
	rate = !strcmp(a->argv[1], "syn") ? &g->syn_rate : &g->pkt_rate;
	burst = !strcmp(a->argv[1], "syn") ? &g->syn_burst : &g->pkt_burst;
	old_rate = *rate;
	old_burst = *burst;
	a->argv[0] = "limit";
	if (guard_config_words(a->cfg, a->argc, a->argv, err, sizeof(err)))
		return ctl_fail(r, "%s", err);
	ctl_replyf(r, "ok\n%slimit %s: %s -> %s\n", a->dry ? "would do: " : "", a->argv[1],
		   guard_limit_text(old_rate, old_burst, before, sizeof(before)),
		   guard_limit_text(*rate, *burst, after, sizeof(after)));
	return old_rate == *rate && old_burst == *burst ? 0 : 1;
}

/* "limit show" */
int ctl_limit_show(struct ctl_env *env, struct ctl_args *a, struct ctl_reply *r)
{
	const struct guard_settings *g = &a->cfg->guard;
	char t[48];

	(void)env;
	if (a->json)
		return ok_json(r,
			       json_pack("{s:o, s:o}", "syn", limit_json(g->syn_rate, g->syn_burst),
					 "packets", limit_json(g->pkt_rate, g->pkt_burst)));
	ctl_replyf(r, "ok\nlimit syn %s\n",
		   guard_limit_text(g->syn_rate, g->syn_burst, t, sizeof(t)));
	ctl_replyf(r, "limit packets %s\n",
		   guard_limit_text(g->pkt_rate, g->pkt_burst, t, sizeof(t)));
	return 0;
}
