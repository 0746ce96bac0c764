// SPDX-License-Identifier: GPL-2.0-only
/*
 * The pool and backend verbs (ctlpool.h): the pools with their backends' health and load, and
 * changes of them made on the change's draft. A removed backend keeps its slot, since
 * connections may still name it.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "control/ctlpool.h"
#include "control/ctlverb.h"
#include "dataplane/worker.h"
#include "lib/clock.h"
#include "lib/log.h"

struct ejection {
	uint64_t total, left_ms;
	unsigned run;
};

/* A backend's ejections for pool show: how many, and the hold in force ("" when none). */
static void ejection_text(struct pool_runtime *rt, unsigned idx, char *buf, size_t len,
			  struct ejection *ej)
{
	memset(ej, 0, sizeof(*ej));
	buf[0] = '\0';
	if (!rt)
		return;
	ej->total = __atomic_load_n(&rt->b[idx].ejections, __ATOMIC_RELAXED);
	ej->run = pool_ejection_run(rt, idx);
	ej->left_ms = pool_hold_left_ns(rt, idx, now_ns()) / 1000000;
	if (ej->left_ms)
		snprintf(buf, len, ", ejected %llu times, held %llu.%llus more (%u in a row)",
			 (unsigned long long)ej->total, (unsigned long long)(ej->left_ms / 1000),
			 (unsigned long long)(ej->left_ms % 1000 / 100), ej->run);
	else if (ej->total)
		snprintf(buf, len, ", ejected %llu times", (unsigned long long)ej->total);
}

int ctl_pool_show(struct ctl_env *env, struct ctl_args *a, struct ctl_reply *r)
{
	const struct config *cfg = a->cfg;
	json_t *pools = json_array();

	if (a->argc != 1) {
		json_decref(pools);
		return ctl_fail(r, "pool show: expects no arguments");
	}
	ctl_replyf(r, "ok\n");
	for (unsigned i = 0; i < cfg->npools; i++) {
		const struct pool *p = &cfg->pools[i];
		json_t *backends = json_array();

		struct pool_runtime *rt = env->nworkers ? &env->workers[0]->prt[i] : NULL;
		char health[200] = "", ejection[96];
		struct ejection ej;

		if (p->health.active)
			snprintf(health, sizeof(health),
				 "; health http %s every %ums (timeout %ums, rise %u, fall %u)",
				 p->health.path, p->health.interval_ms, p->health.timeout_ms,
				 p->health.rise, p->health.fall);
		if (!a->json)
			ctl_replyf(r, "%s%s%s\n", p->name,
				   p->proxy_protocol ? " (proxy-protocol)" : "", health);
		for (unsigned b = 0; b < p->nbackends; b++) {
			const struct pool_backend *be = &p->backends[b];
			const char *word = rt ? pool_health_word(rt, b, now_ns()) : "healthy";
			long long conns =
				rt ? (long long)__atomic_load_n(&rt->b[b].conns, __ATOMIC_RELAXED)
				   : 0;
			long long inflight = rt ? (long long)__atomic_load_n(&rt->b[b].inflight,
									     __ATOMIC_RELAXED)
						: 0;

			if (be->state == BACKEND_REMOVED)
				continue;
			ejection_text(rt, b, ejection, sizeof(ejection), &ej);
			json_array_append_new(
				backends,
				json_pack("{s:s, s:s, s:I, s:b, s:s, s:b, s:I, s:I, s:I, s:I, s:I}",
					  "addr", be->name, "state", pool_state_name(be->state),
					  "weight", (json_int_t)be->weight, "healthy",
					  strcmp(word, "ejected") != 0, "health", word, "down",
					  strcmp(word, "healthy") != 0, "connections",
					  (json_int_t)conns, "inflight", (json_int_t)inflight,
					  "ejections", (json_int_t)ej.total, "ejections_in_a_row",
					  (json_int_t)ej.run, "hold_left_ms",
					  (json_int_t)ej.left_ms));
			if (!a->json)
				ctl_replyf(
					r,
					"    %-24s %-6s weight %-3u %-9s %lld connections, %lld in "
					"flight%s\n",
					be->name, pool_state_name(be->state), be->weight, word,
					conns, inflight, ejection);
		}
		json_array_append_new(pools,
				      json_pack("{s:s, s:b, s:b, s:o}", "name", p->name,
						"proxy_protocol", p->proxy_protocol, "health_check",
						p->health.active, "backends", backends));
	}
	if (!a->json) {
		json_decref(pools);
		return 0;
	}
	return ctl_reply_json(r, json_pack("{s:o}", "pools", pools));
}

int ctl_pool_add(struct ctl_env *env, struct ctl_args *a, struct ctl_reply *r)
{
	struct config *cfg = a->cfg;
	const char *name = a->argc == 2 ? a->argv[1] : NULL;
	struct pool *p;

	if (!name)
		return ctl_fail(r, "pool add: expects NAME");
	if (config_pool_find(cfg, name) >= 0)
		return ctl_fail(r, "pool add: pool '%s' exists", name);
	if (strlen(name) > POOL_NAME_MAX ||
	    strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") !=
		    strlen(name))
		return ctl_fail(r, "pool add: bad name '%s' (up to %d of A-Z a-z 0-9 - _ .)", name,
				POOL_NAME_MAX);
	if (cfg->npools == POOL_MAX)
		return ctl_fail(r, "pool add: too many pools (max %d)", POOL_MAX);
	(void)env;
	p = &cfg->pools[cfg->npools];
	pool_init(p, name);
	cfg->npools++;
	if (a->dry)
		ctl_replyf(r, "ok\nwould add pool %s (no backends)\n", p->name);
	else
		ctl_replyf(r, "ok\npool %s added\n", p->name);
	return 1;
}

/* A new backend in pool p; a removed backend's slot is reused. */
static int backend_add(struct pool *p, const char *addr, bool dry, struct ctl_reply *r)
{
	struct pool_backend nb;
	unsigned bi;

	if (pool_backend_find(p, addr) >= 0)
		return ctl_fail(r, "backend add: %s is already in pool %s", addr, p->name);
	if (pool_backend_parse(&nb, addr))
		return ctl_fail(r, "backend add: bad address '%s' (want host:port or [v6]:port)",
				addr);
	for (bi = 0; bi < p->nbackends && p->backends[bi].state != BACKEND_REMOVED; bi++)
		;
	if (bi == POOL_MAX_BACKENDS)
		return ctl_fail(r, "backend add: pool %s is full (max %d)", p->name,
				POOL_MAX_BACKENDS);
	p->backends[bi] = nb;
	if (bi == p->nbackends)
		p->nbackends++;
	if (dry)
		ctl_replyf(r, "ok\nwould add %s to pool %s\n", addr, p->name);
	else
		ctl_replyf(r, "ok\n%s added to pool %s\n", addr, p->name);
	return 1;
}

/*
 * Whether taking backend bi out of new connections (del, drain, maint, weight 0) leaves pool
 * pi with none that serves: no other ready backend with a weight that its health lets serve.
 * Its routes would then all fall back, or answer 503: refused unless forced.
 */
static bool leaves_none(struct ctl_env *env, const struct config *cfg, unsigned pi, unsigned bi)
{
	const struct pool *p = &cfg->pools[pi];
	struct pool_runtime *rt = env->nworkers ? &env->workers[0]->prt[pi] : NULL;

	if (p->backends[bi].state != BACKEND_READY || !p->backends[bi].weight)
		return false;
	for (unsigned i = 0; i < p->nbackends; i++)
		if (i != bi && p->backends[i].state == BACKEND_READY && p->backends[i].weight &&
		    (!rt || pool_health_of(rt, i) == HEALTH_UP))
			return false;
	return true;
}

/* The check of leaves_none for a del or set: 0 to go on (with a warning when forced). */
static int last_backend_check(struct ctl_env *env, struct ctl_args *a, unsigned pi, unsigned bi,
			      bool takes_out, struct ctl_reply *r)
{
	const char *addr = a->argv[2], *pool = a->cfg->pools[pi].name;

	if (!takes_out || !leaves_none(env, a->cfg, pi, bi))
		return 0;
	if (!a->force)
		return ctl_fail(
			r,
			"backend %s: %s is the last backend of pool %s that serves: its "
			"routes would all fall back or answer 503 (--force to do it anyway)",
			a->argv[0], addr, pool);
	pr_warn("control: backend %s %s of pool %s forced: the pool has no backend that serves",
		a->argv[0], addr, pool);
	ctl_replyf(r,
		   "warning: %s was the last backend of pool %s that serves: its routes fall back "
		   "or answer 503\n",
		   addr, pool);
	return 0;
}

/* backend add|del POOL ADDR, backend set POOL ADDR state ready|drain|maint | weight N */
int ctl_backend_change(struct ctl_env *env, struct ctl_args *a, struct ctl_reply *r)
{
	const char *verb = a->argv[0];
	char **argv = a->argv, *end;
	struct pool_backend *be;
	enum backend_state st = BACKEND_READY;
	unsigned long weight = 0;
	struct pool *p;
	int pi, bi;

	if (a->argc < 3 || (strcmp(verb, "set") && a->argc != 3))
		return ctl_fail(r, "backend %s: expects POOL ADDR%s", verb,
				strcmp(verb, "set") ? "" : " state S|weight N");
	pi = config_pool_find(a->cfg, argv[1]);
	if (pi < 0)
		return ctl_fail(r, "backend %s: unknown pool '%s'", verb, argv[1]);
	p = &a->cfg->pools[pi];
	if (!strcmp(verb, "add"))
		return backend_add(p, argv[2], a->dry, r);
	bi = pool_backend_find(p, argv[2]);
	if (bi < 0)
		return ctl_fail(r, "backend %s: %s is not in pool %s", verb, argv[2], p->name);
	be = &p->backends[bi];
	if (!strcmp(verb, "set")) {
		if (a->argc == 5 && !strcmp(argv[3], "state")) {
			if (pool_state_parse(argv[4], &st))
				return ctl_fail(
					r, "backend set: state is ready, drain or maint, not '%s'",
					argv[4]);
		} else if (a->argc == 5 && !strcmp(argv[3], "weight")) {
			weight = strtoul(argv[4], &end, 10);
			if (*end || !argv[4][0] || argv[4][0] == '-' || weight > 256)
				return ctl_fail(r, "backend set: weight is 0 to 256, not '%s'",
						argv[4]);
		} else {
			return ctl_fail(
				r, "backend set: expects POOL ADDR state ready|drain|maint, or "
				   "POOL ADDR weight N");
		}
	}
	ctl_replyf(r, "ok\n");
	if (last_backend_check(env, a, (unsigned)pi, (unsigned)bi,
			       !strcmp(verb, "del") ||
				       (!strcmp(argv[3], "state") ? st != BACKEND_READY : !weight),
			       r))
		return -EINVAL;
	if (!strcmp(verb, "del"))
		be->state = BACKEND_REMOVED; /* the slot stays: connections may still name it */
	else if (!strcmp(argv[3], "state"))
		be->state = st;
	else
		be->weight = (unsigned)weight;
	if (a->dry)
		ctl_replyf(r, "would %s %s in pool %s\n", verb, argv[2], p->name);
	else
		ctl_replyf(r, "%s %s in pool %s\n", argv[2],
			   !strcmp(verb, "del") ? "deleted" : "set", p->name);
	return 1;
}
