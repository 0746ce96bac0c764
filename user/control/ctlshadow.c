// SPDX-License-Identifier: GPL-2.0-only
/*
 * The shadow verbs (ctlshadow.h): the figures of the shadowed routes as the comparisons left
 * them (observe/shadowstats.h), in the words of observe/shadowview.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "control/ctlroute.h"
#include "control/ctlshadow.h"
#include "observe/shadowstats.h"
#include "observe/shadowview.h"
#include "observe/stats.h"

/* The view of one shadowed route, its figures as of now. 0 or -ENOMEM. */
static int view_of(struct ctl_env *env, const struct config *cfg, const struct route *rt,
		   struct shadowview_route *v)
{
	const struct route_shadow *sh = rt->spec.shadow;
	char key[ROUTE_TEXT_MAX];

	route_key_text(&rt->spec, key, sizeof(key));
	*v = (struct shadowview_route){.permille = sh->permille,
				       .noise_permille = sh->noise_permille,
				       .alert_permille = sh->alert_permille};
	v->route = strdup(key);
	v->pool = strdup(sh->pool_name);
	v->legacy = strdup(cfg->pools[rt->spec.pool].name);
	v->snap = malloc(sizeof(*v->snap));
	if (!v->route || !v->pool || !v->legacy || !v->snap)
		return -ENOMEM;
	shadowstats_snapshot(stats_shadow(env->chg.st), rt->slot, rt->id, v->snap);
	return 0;
}

/* One route's view into the reply (text) or the array (JSON). */
static int show_one(struct ctl_env *env, struct ctl_args *a, const struct route *rt, bool ring,
		    json_t *arr, struct ctl_reply *r)
{
	struct shadowview_route v;
	int err = view_of(env, a->cfg, rt, &v);

	if (!err && arr)
		json_array_append_new(arr, shadowview_json(&v, ring));
	else if (!err)
		shadowview_text(&v, ring, &r->text);
	shadowview_route_free(&v);
	return err;
}

int ctl_shadow_show(struct ctl_env *env, struct ctl_args *a, struct ctl_reply *r)
{
	const struct route **v = NULL, *one = NULL;
	size_t n = 0, shown = 0;
	json_t *arr = NULL;
	int err = 0;

	if (a->argc > 1 && !(one = ctl_route_named(a, r, "shadow show")))
		return -EINVAL;
	if (one && !one->spec.shadow)
		return ctl_fail(r, "shadow show: route %u has no shadow", one->id);
	if (a->json && !(arr = json_array()))
		return ctl_fail(r, "out of memory");
	if (!one && !(v = route_table_list(a->cfg->routes, true, &n))) {
		json_decref(arr);
		return ctl_fail(r, "out of memory");
	}
	ctl_replyf(r, "ok\n");
	if (one)
		err = show_one(env, a, one, true, arr, r);
	for (size_t i = 0; i < n && !err; i++)
		if (v[i]->spec.shadow) {
			err = show_one(env, a, v[i], a->json, arr, r);
			shown++;
		}
	free(v);
	if (err) {
		json_decref(arr);
		return ctl_fail(r, "out of memory");
	}
	if (arr)
		return ctl_reply_json(r, json_pack("{s:o}", "shadow", arr));
	/* r->text already holds "ok": whether any route was shown is counted, not measured. */
	if (!one && !shown)
		ctl_replyf(r, "no route has a shadow\n");
	return 0;
}

int ctl_shadow_reset(struct ctl_env *env, struct ctl_args *a, struct ctl_reply *r)
{
	const struct route *rt = a->argc > 1 ? ctl_route_named(a, r, "shadow reset") : NULL;

	if (a->argc < 2)
		return ctl_fail(r,
				"shadow reset: expects ID or [METHODS] [host HOST] PATH [exact]");
	if (!rt)
		return -EINVAL;
	if (!rt->spec.shadow)
		return ctl_fail(r, "shadow reset: route %u has no shadow", rt->id);
	ctl_replyf(r, "ok\n%sroute %u: shadow comparisons forgotten, noise learned kept\n",
		   a->dry ? "would reset " : "", rt->id);
	if (!a->dry)
		shadowstats_reset(stats_shadow(env->chg.st), rt->slot, rt->id);
	return 0;
}
