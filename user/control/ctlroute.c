// SPDX-License-Identifier: GPL-2.0-only
/*
 * The route verbs (ctlroute.h): the table shown as text or JSON, and changes of it made on the
 * change's draft, each answered with the route's text before and after.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "core/confword.h"
#include "control/ctlroute.h"
#include "control/ctlverb.h"
#include "core/apply.h"
#include "core/http.h"
#include "core/routepatch.h"
#include "control/rollback.h"
#include "kernel/splice.h"
#include "lib/log.h"
#include "observe/metrics.h"
#include "observe/quantile.h"

static const char *pool_name(const struct config *cfg, int pool)
{
	return pool >= 0 && (unsigned)pool < cfg->npools ? cfg->pools[pool].name : "?";
}

static void spec_text(const struct config *cfg, const struct route_stored *s, char *out, size_t len)
{
	route_spec_text(s, pool_name(cfg, s->pool), pool_name(cfg, s->fallback_pool), out, len);
}

/* "config" when the configuration applied last has this very route, else it came from a change. */
static const char *route_source(const struct config *cfg, const struct config *applied,
				const struct route *rt)
{
	struct route_spec key;
	const struct route *conf;

	route_spec_from(&rt->spec, &key);
	key.pool = 0;
	conf = applied ? route_table_find(applied->routes, &key) : NULL;
	return conf && apply_route_same(applied, &conf->spec, cfg, &rt->spec) ? "config" : "state";
}

/* A route's shadow settings for route show -j: null without one. */
static json_t *shadow_json(const struct route_shadow *sh)
{
	char methods[96];
	json_t *o;

	if (!sh)
		return json_null();
	confword_methods_text(sh->methods, methods, sizeof(methods));
	o = json_pack("{s:s, s:f, s:s, s:b, s:b, s:b, s:s, s:s, s:I, s:I, s:I, s:f}", "pool",
		      sh->pool_name, "percent", sh->permille / 10.0, "methods", methods,
		      "compare_status", (sh->compare & SHADOW_CMP_STATUS) != 0, "compare_headers",
		      (sh->compare & SHADOW_CMP_HEADERS) != 0, "compare_body",
		      (sh->compare & SHADOW_CMP_BODY) != 0, "ignore_headers", sh->ignore_headers,
		      "ignore_json", sh->ignore_json, "max_body", (json_int_t)sh->max_body,
		      "max_inflight", (json_int_t)sh->max_inflight, "timeout_ms",
		      (json_int_t)sh->timeout_ms, "noise_percent", sh->noise_permille / 10.0);
	json_object_set_new(o, "alert_percent",
			    sh->alert_permille ? json_real(sh->alert_permille / 10.0)
					       : json_null());
	return o;
}

/* An allow or deny list as its words ("10.0.0.0/8", ...). */
static json_t *cidrs_json(const char *word, const struct routegw *gw)
{
	struct routegw one = {0};
	bool allow = !strcmp(word, "allow");
	unsigned n = allow ? gw->nallow : gw->ndeny;
	json_t *a = json_array();
	char text[128];

	for (unsigned i = 0; i < n; i++) {
		one.nallow = allow;
		one.ndeny = !allow;
		one.allow[0] = gw->allow[i];
		one.deny[0] = gw->deny[i];
		routegw_text(&one, text, sizeof(text));
		json_array_append_new(a, json_string(text + strlen(word) + 2));
	}
	return a;
}

/* The gateway options (routegw.h) as an object: conditions, limit, access lists, rules. */
static json_t *gateway_json(const struct routegw *gw)
{
	static const char *const kinds[] = {"", "header", "cookie", "query"};
	static const char *const rules[] = {"", "set-header", "del-header", "set-response-header",
					    "del-response-header"};
	static const char *const per[] = {"route", "address", "cookie", "header"};
	const struct routegw_limit *l = &gw->limit;
	json_t *conds = json_array(), *rs = json_array(), *limit = json_null();

	for (unsigned i = 0; i < gw->nmatch; i++)
		json_array_append_new(
			conds, json_pack("{s:s, s:s, s:s, s:b}", "kind", kinds[gw->match[i].kind],
					 "name", gw->match[i].name, "value", gw->match[i].value,
					 "prefix", gw->match[i].prefix));
	for (unsigned i = 0; i < gw->nrule; i++)
		json_array_append_new(rs, json_pack("{s:s, s:s, s:s}", "rule",
						    rules[gw->rule[i].kind], "name",
						    gw->rule[i].name, "value", gw->rule[i].value));
	if (l->count)
		limit = json_pack("{s:I, s:s#, s:I, s:s, s:s}", "count", (json_int_t)l->count,
				  "per_unit", &l->unit, (size_t)1, "burst", (json_int_t)l->burst,
				  "per", per[l->per], "key", l->key);
	return json_pack("{s:o, s:o, s:o, s:o, s:o}", "conditions", conds, "limit", limit, "allow",
			 cidrs_json("allow", gw), "deny", cidrs_json("deny", gw), "header_rules",
			 rs);
}

static json_t *route_json(const struct config *cfg, const struct config *applied,
			  const struct route *rt)
{
	const struct route_stored *s = &rt->spec;
	json_t *methods = json_array();

	for (unsigned m = HTTP_M_GET; m < HTTP_M_COUNT; m++)
		if (s->methods & (1u << m))
			json_array_append_new(methods,
					      json_string(http_method_name((enum http_method)m)));
	json_t *rb =
		metrics_rollback_json(s->rb_err_permille, s->rb_p99_ms, s->rb_window_s, s->rb_min);
	json_t *trip = s->tripped ? json_pack("{s:s}", "figures", s->trip) : json_null();
	json_t *fallback = s->fallback == ROUTE_FALLBACK_NONE ? json_string("none")
			   : s->fallback == ROUTE_FALLBACK_POOL
				   ? json_string(pool_name(cfg, s->fallback_pool))
				   : json_string("next");

	json_t *o = json_pack(
		"{s:I, s:o, s:s, s:s, s:b, s:s, s:f, s:b, s:b, s:b, s:s, s:s, s:I, s:o, s:o, s:b, "
		"s:o, s:o}",
		"id", (json_int_t)rt->id, "methods", methods, "host", s->host, "path", s->path,
		"exact", s->exact, "pool", pool_name(cfg, s->pool), "percent",
		s->split ? s->permille / 10.0 : 100.0, "testers", s->testers, "active",
		!s->inactive, "strip_prefix", s->adapt && !s->rewrite[0], "rewrite", s->rewrite,
		"source", route_source(cfg, applied, rt), "slot",
		rt->slot == ROUTE_SLOT_NONE ? (json_int_t)-1 : (json_int_t)rt->slot, "fallback",
		fallback, "rollback", rb, "tripped", s->tripped, "trip", trip, "shadow",
		shadow_json(s->shadow));

	if (o)
		json_object_set_new(o, "gateway", gateway_json(s->gw));
	return o;
}

/* route show: routes in id order, so a table reads the same every time. */
struct show_ctx {
	const struct route **v;
	size_t n;
};

/* The kernel's side of the table, for both views of "route show". */
static const char *kernel_state(const struct ctl_env *env, uint32_t *prefixes)
{
	int err;

	*prefixes = 0;
	if (!env->chg.sp)
		return "none";
	err = splice_routing_state(env->chg.sp, prefixes);
	return err == -E2BIG	     ? "over limit kernel-routes"
	       : err == -EINPROGRESS ? "switching (every request goes to strgd meanwhile)"
	       : err		     ? strerror(-err)
				     : "on";
}

static void route_show_text(const struct ctl_env *env, const struct config *cfg,
			    const struct show_ctx *s, struct ctl_reply *r)
{
	char methods[96], opts[ROUTE_TEXT_MAX];
	uint32_t prefixes;
	const char *kstate = kernel_state(env, &prefixes);

	ctl_replyf(r, "%-5s %-16s %-20s %-24s %-8s %-6s %s\n", "ID", "METHODS", "HOST", "PATH",
		   "POOL", "SOURCE", "OPTIONS");
	for (size_t i = 0; i < s->n; i++) {
		const struct route_stored *sp = &s->v[i]->spec;
		struct route_stored bare = *sp;
		char *o;

		confword_methods_text(sp->methods, methods, sizeof(methods));
		/* The options are what the spec text has after the pool. */
		bare.methods = 0;
		bare.host = "";
		spec_text(cfg, &bare, opts, sizeof(opts));
		o = opts + strlen(sp->path) + 1 + strlen(pool_name(cfg, sp->pool));
		o += *o == ' ';
		ctl_replyf(r, "%-5u %-16s %-20s %-24s %-8s %-6s %s\n", s->v[i]->id,
			   methods[0] ? methods : "*", sp->host[0] ? sp->host : "*", sp->path,
			   pool_name(cfg, sp->pool), route_source(cfg, env->chg.applied, s->v[i]),
			   o);
		if (sp->rb_p99_ms && sp->rb_min < quantile_min_samples(0.99))
			ctl_replyf(r,
				   "      p99 judged only in windows of %u requests or more (min "
				   "%u)\n",
				   quantile_min_samples(0.99), sp->rb_min);
		if (sp->tripped)
			ctl_replyf(r, "      rolled back by strgd: %s\n", sp->trip);
	}
	if (strcmp(kstate, "none"))
		ctl_replyf(r, "kernel route table: %s (%u prefixes)\n", kstate, prefixes);
}

int ctl_route_show(struct ctl_env *env, struct ctl_args *a, struct ctl_reply *r)
{
	struct show_ctx s = {0};
	const char *kstate;
	uint32_t prefixes;
	json_t *routes;
	int ret = 0;

	if (a->argc != 1)
		return ctl_fail(r, "route show: expects no arguments");
	s.v = route_table_list(a->cfg->routes, true, &s.n);
	if (!s.v)
		return ctl_fail(r, "out of memory");
	ctl_replyf(r, "ok\n");
	if (!a->json) {
		route_show_text(env, a->cfg, &s, r);
		goto out;
	}
	routes = json_array();
	for (size_t i = 0; i < s.n; i++)
		json_array_append_new(routes, route_json(a->cfg, env->chg.applied, s.v[i]));
	kstate = kernel_state(env, &prefixes);
	ret = ctl_reply_json(r, json_pack("{s:o, s:{s:s, s:I}}", "routes", routes, "kernel",
					  "state", kstate, "prefixes", (json_int_t)prefixes));
out:
	free(s.v);
	return ret;
}

static bool specs_equal(const struct route_spec *a, const struct route_spec *b)
{
	struct route_stored va, vb;

	return route_spec_equal(route_spec_view(a, &va), route_spec_view(b, &vb));
}

/* "route 7: OLD -> NEW", "route 7 added: NEW", "route 7 unchanged: OLD"; "would ..." if dry. */
static void reply_change(const struct config *cfg, struct ctl_reply *r, bool dry, uint32_t id,
			 const struct route_spec *old, const struct route_spec *now)
{
	char a[ROUTE_TEXT_MAX], b[ROUTE_TEXT_MAX];
	struct route_stored vo, vn;

	spec_text(cfg, route_spec_view(now, &vn), b, sizeof(b));
	if (!old) {
		if (dry)
			ctl_replyf(r, "would add route: %s\n", b);
		else
			ctl_replyf(r, "route %u added: %s\n", id, b);
		return;
	}
	spec_text(cfg, route_spec_view(old, &vo), a, sizeof(a));
	if (route_spec_equal(&vo, &vn))
		ctl_replyf(r, "%sroute %u unchanged: %s\n", dry ? "would leave " : "", id, a);
	else
		ctl_replyf(r, "%sroute %u: %s -> %s\n", dry ? "would change " : "", id, a, b);
}

/* A p99 limit its min cannot judge: said on stderr (strgctl) and, as ever, done. */
static void warn_rollback_min(struct ctl_reply *r, const struct route_spec *spec)
{
	char msg[ROUTE_TEXT_MAX + 256];
	struct route_stored v;

	if (rollback_min_warning(route_spec_view(spec, &v), msg, sizeof(msg)))
		ctl_replyf(r, "warning: %s\n", msg);
}

struct loud {
	struct ctl_reply *r;
	bool dry;
	bool set; /* route set: then say how to change one option alone */
};

/* A change that could surprise: on strgctl's stderr (--dry-run too) and in strgd's log. */
static void say_loud(void *ctx, const char *line)
{
	struct loud *l = ctx;

	ctl_replyf(l->r, "warning: %s\n", line);
	if (!l->dry)
		pr_warn("ctl: warning: %s", line);
}

/*
 * The route spec put into the table (route set, route patch): normalised as the table stores
 * it, so the reply shows what will be in force, with warnings for what could surprise.
 */
static int route_put(struct ctl_args *a, struct ctl_reply *r, const struct route_spec *words)
{
	struct route_spec spec, before;
	struct loud loud = {r, a->dry, !strcmp(a->argv[0], "set")};
	const struct route *old;
	uint32_t old_id = 0;
	int id;

	id = route_spec_normalize(&spec, words);
	if (id < 0)
		return ctl_fail(r, "route %s: %s", a->argv[0], strerror(-id));
	old = route_table_find(a->cfg->routes, &spec);
	if (old) {
		route_spec_from(&old->spec, &before);
		old_id = old->id;
	}
	if (old && specs_equal(&before, &spec)) {
		ctl_replyf(r, "ok\n");
		reply_change(a->cfg, r, a->dry, old_id, &before, &spec);
		warn_rollback_min(r, &spec);
		return 0;
	}
	id = route_table_set(a->cfg->routes, &spec);
	if (id < 0)
		return ctl_fail(r, "route %s: %s", a->argv[0], strerror(-id));
	ctl_replyf(r, "ok\n");
	reply_change(a->cfg, r, a->dry, (uint32_t)id, old ? &before : NULL, &spec);
	if (old && routepatch_surprises(a->cfg, old_id, &before, &spec, say_loud, &loud) &&
	    loud.set)
		ctl_replyf(r,
			   "warning: route set replaces the whole route; 'route patch %u "
			   "OPTION...' changes the options it names and keeps the others\n",
			   old_id);
	warn_rollback_min(r, &spec);
	return 1;
}

int ctl_route_set(struct ctl_env *env, struct ctl_args *a, struct ctl_reply *r)
{
	struct route_spec words;
	char err[1024];

	(void)env;
	if (config_route_words(a->cfg, a->argc, a->argv, &words, err, sizeof(err)))
		return ctl_fail(r, "%s", err);
	return route_put(a, r, &words);
}

/* The route a change names: by id, or by [METHODS] [host HOST] PATH [exact]. */
static const struct route *route_named(struct ctl_args *a, struct ctl_reply *r)
{
	char what[48];

	snprintf(what, sizeof(what), "route %s", a->argv[0]);
	return ctl_route_named(a, r, what);
}

const struct route *ctl_route_named(struct ctl_args *a, struct ctl_reply *r, const char *what)
{
	const struct route *rt;
	struct route_spec spec;
	char err[1024], *end, *words[CTL_MAX_WORDS + 1];
	unsigned long id;
	int k;

	if (a->argc == 2 && a->argv[1][0] != '/' &&
	    (id = strtoul(a->argv[1], &end, 10), *end == '\0')) {
		rt = id > 0 && id <= UINT32_MAX ? route_table_get(a->cfg->routes, (uint32_t)id)
						: NULL;
	} else {
		/* The words of "route set" with a pool that does not matter: any defined one. */
		if (a->argc < 2 || a->argc > CTL_MAX_WORDS - 1) {
			ctl_fail(r, "%s: expects " ROUTE_KEY_GRAMMAR, what);
			return NULL;
		}
		/* The pool goes right after PATH: exact and the conditions follow it. */
		for (k = 0; k < a->argc; k++) {
			words[k] = a->argv[k];
			if (k && a->argv[k][0] == '/') {
				k++;
				break;
			}
		}
		words[k] = a->cfg->pools[0].name;
		for (int j = k; j < a->argc; j++)
			words[j + 1] = a->argv[j];
		if (config_route_words(a->cfg, a->argc + 1, words, &spec, err, sizeof(err))) {
			ctl_fail(r, "%s", err);
			return NULL;
		}
		rt = route_table_find(a->cfg->routes, &spec);
	}
	if (!rt)
		ctl_fail(r, "%s: no such route", what);
	return rt;
}

int ctl_route_del(struct ctl_env *env, struct ctl_args *a, struct ctl_reply *r)
{
	const struct route *rt = route_named(a, r);
	char text[ROUTE_TEXT_MAX];
	uint32_t id;
	int ret;

	(void)env;
	if (!rt)
		return -EINVAL;
	if (route_is_default(&rt->spec))
		return ctl_fail(r, "route del: the default route '/' cannot be deleted");
	id = rt->id;
	spec_text(a->cfg, &rt->spec, text, sizeof(text));
	ret = route_table_del(a->cfg->routes, id);
	if (ret < 0)
		return ctl_fail(r, "route del: %s", strerror(-ret));
	if (a->dry)
		ctl_replyf(r, "ok\nwould delete route %u: %s\n", id, text);
	else
		ctl_replyf(r, "ok\nroute %u deleted: %s\n", id, text);
	return 1;
}

/* Deactivating keeps a route but lets its requests fall through to the next match (rollback). */
int ctl_route_activate(struct ctl_env *env, struct ctl_args *a, struct ctl_reply *r)
{
	bool active = !strcmp(a->argv[0], "activate");
	const struct route *rt = route_named(a, r);
	struct route_spec spec, before;
	int id;

	(void)env;
	if (!rt)
		return -EINVAL;
	if (!active && route_is_default(&rt->spec))
		return ctl_fail(r, "route deactivate: the default route '/' is always active");
	route_spec_from(&rt->spec, &before);
	spec = before;
	spec.inactive = !active;
	/* An operator's word ends a rollback strgd made: the route is theirs again. */
	spec.tripped = false;
	spec.trip[0] = '\0';
	ctl_replyf(r, "ok\n");
	reply_change(a->cfg, r, a->dry, rt->id, &before, &spec);
	if (specs_equal(&before, &spec))
		return 0;
	id = route_table_set(a->cfg->routes, &spec);
	if (id < 0)
		return ctl_fail(r, "route %s: %s", a->argv[0], strerror(-id));
	return 1;
}

/* The words of a route's key at the start of a patch: ID, or up to PATH [exact] [conditions]. */
static int key_words(int argc, char **argv)
{
	char *end;
	int i;

	if (argc >= 2 && argv[1][0] != '/' && (strtoul(argv[1], &end, 10), *end == '\0'))
		return 1;
	for (i = 1; i < argc && argv[i][0] != '/'; i++)
		;
	if (i == argc)
		return -1;
	i += i + 1 < argc && !strcmp(argv[i + 1], "exact");
	while (i + 3 < argc && (!strcmp(argv[i + 1], "header") || !strcmp(argv[i + 1], "cookie") ||
				!strcmp(argv[i + 1], "query")))
		i += 3;
	return i;
}

/* route patch KEY OPTION...: the options named change, the route's others stay as they are. */
int ctl_route_patch(struct ctl_env *env, struct ctl_args *a, struct ctl_reply *r)
{
	struct ctl_args key = *a;
	const struct route *rt;
	struct route_spec spec;
	char err[1024];
	int n = key_words(a->argc, a->argv);

	(void)env;
	if (n < 0)
		return ctl_fail(r, "route patch: expects " ROUTE_KEY_GRAMMAR " OPTION...");
	key.argc = n + 1;
	rt = route_named(&key, r);
	if (!rt)
		return -EINVAL;
	route_spec_from(&rt->spec, &spec);
	if (routepatch_apply(a->cfg, a->argc - n - 1, a->argv + n + 1, &spec, err, sizeof(err)))
		return ctl_fail(r, "%s", err);
	return route_put(a, r, &spec);
}
