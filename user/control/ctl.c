// SPDX-License-Identifier: GPL-2.0-only
/*
 * The control socket's commands: one text line in ("route set GET /v1/x modern"), one reply
 * out whose first line is "ok" or "error: ...". Changes need a root peer (or the change group)
 * and are logged with the peer's uid and pid; the kernel's route table follows every change.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>

#include "core/apply.h"
#include "lib/clock.h"
#include "control/ctl.h"
#include "control/ctlguard.h"
#include "control/ctlverb.h"
#include "control/ctlverbs.h"
#include "kernel/guard.h"
#include "core/http.h"
#include "lib/log.h"
#include "lib/words.h"
#include "observe/metrics.h"
#include "control/reload.h"
#include "control/rollback.h"
#include "observe/quantile.h"
#include "kernel/splice.h"
#include "control/saver.h"
#include "core/state.h"
#include "observe/stats.h"
#include "dataplane/worker.h"

#define CTL_MAX_WORDS 32
/* Percent values have one decimal: four significant digits print them exactly. */

static void reply(struct ctl_reply *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void reply(struct ctl_reply *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	reply_vprintf(&r->text, fmt, ap);
	va_end(ap);
}

void ctl_replyf(struct ctl_reply *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	reply_vprintf(&r->text, fmt, ap);
	va_end(ap);
}

int ctl_fail(struct ctl_reply *r, const char *fmt, ...)
{
	va_list ap;

	r->text.len = 0;
	reply(r, "error: ");
	va_start(ap, fmt);
	reply_vprintf(&r->text, fmt, ap);
	va_end(ap);
	reply(r, "\n");
	return -EINVAL;
}

void ctl_reply_error(struct ctl_reply *r, const char *msg)
{
	reply_error(&r->text, msg);
}

void ctl_reply_free(struct ctl_reply *r)
{
	reply_free(&r->text);
	memset(r, 0, sizeof(*r));
}

int ctl_reply_json(struct ctl_reply *r, json_t *doc)
{
	char *text = doc ? json_dumps(doc, REPLY_JSON_FLAGS) : NULL;

	json_decref(doc);
	if (!text)
		return ctl_fail(r, "out of memory for the JSON reply");
	reply(r, "%s\n", text);
	free(text);
	return 0;
}

/* metrics_src.read_worker: a worker's connection counts, read while it runs on. */
static void worker_counts(const struct metrics_src *src, unsigned i, struct metrics_worker *out)
{
	const struct worker *const *workers = src->workers;
	const struct worker *w = workers[i];

	out->connections = __atomic_load_n(&w->nconns, __ATOMIC_RELAXED);
	out->kernel = __atomic_load_n(&w->spliced.n, __ATOMIC_RELAXED);
	out->accepted = __atomic_load_n(&w->accepted, __ATOMIC_RELAXED);
}

void ctl_metrics_src(const struct ctl_env *env, struct metrics_src *src)
{
	*src = (struct metrics_src){
		.cfg = env->cfg,
		.st = env->st,
		.sp = env->sp,
		.gd = env->gd,
		.prt = env->nworkers ? env->workers[0]->prt : NULL,
		.nworkers = env->nworkers,
		.read_worker = worker_counts,
		.workers = env->workers,
	};
}

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

static json_t *route_json(const struct config *cfg, const struct config *applied,
			  const struct route *rt)
{
	const struct route_stored *s = &rt->spec;
	json_t *methods = json_array();

	for (unsigned m = HTTP_M_GET; m < HTTP_M_COUNT; m++)
		if (s->methods & (1u << m))
			json_array_append_new(methods,
					      json_string(http_method_name((enum http_method)m)));
	json_t *rb = s->rb_err_permille
			     ? json_pack("{s:f, s:I, s:I, s:I, s:I}", "error_percent",
					 s->rb_err_permille / 10.0, "p99_ms",
					 (json_int_t)s->rb_p99_ms, "window_s",
					 (json_int_t)s->rb_window_s, "min", (json_int_t)s->rb_min,
					 "p99_min", (json_int_t)quantile_min_samples(0.99))
			     : json_null();
	json_t *trip = s->tripped ? json_pack("{s:s}", "figures", s->trip) : json_null();
	json_t *fallback = s->fallback == ROUTE_FALLBACK_NONE ? json_string("none")
			   : s->fallback == ROUTE_FALLBACK_POOL
				   ? json_string(pool_name(cfg, s->fallback_pool))
				   : json_string("next");

	return json_pack(
		"{s:I, s:o, s:s, s:s, s:b, s:s, s:f, s:b, s:b, s:b, s:s, s:s, s:I, s:o, s:o, s:b, "
		"s:o}",
		"id", (json_int_t)rt->id, "methods", methods, "host", s->host, "path", s->path,
		"exact", s->exact, "pool", pool_name(cfg, s->pool), "percent",
		s->split ? s->permille / 10.0 : 100.0, "testers", s->testers, "active",
		!s->inactive, "strip_prefix", s->adapt && !s->rewrite[0], "rewrite", s->rewrite,
		"source", route_source(cfg, applied, rt), "slot",
		rt->slot == ROUTE_SLOT_NONE ? (json_int_t)-1 : (json_int_t)rt->slot, "fallback",
		fallback, "rollback", rb, "tripped", s->tripped, "trip", trip);
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
	if (!env->sp)
		return "none";
	err = splice_routing_state(env->sp, prefixes);
	return err == -E2BIG	     ? "over limit kernel-routes"
	       : err == -EINPROGRESS ? "switching (every request goes to strgd meanwhile)"
	       : err		     ? strerror(-err)
				     : "on";
}

static void route_show_text(const struct ctl_env *env, const struct show_ctx *s,
			    struct ctl_reply *r)
{
	char methods[96], opts[ROUTE_TEXT_MAX];
	uint32_t prefixes;
	const char *kstate = kernel_state(env, &prefixes);

	reply(r, "%-5s %-16s %-20s %-24s %-8s %-6s %s\n", "ID", "METHODS", "HOST", "PATH", "POOL",
	      "SOURCE", "OPTIONS");
	for (size_t i = 0; i < s->n; i++) {
		const struct route_stored *sp = &s->v[i]->spec;
		struct route_stored bare = *sp;
		char *o;

		route_methods_text(sp->methods, methods, sizeof(methods));
		/* The options are what the spec text has after the pool. */
		bare.methods = 0;
		bare.host = "";
		spec_text(env->cfg, &bare, opts, sizeof(opts));
		o = opts + strlen(sp->path) + 1 + strlen(pool_name(env->cfg, sp->pool));
		o += *o == ' ';
		reply(r, "%-5u %-16s %-20s %-24s %-8s %-6s %s\n", s->v[i]->id,
		      methods[0] ? methods : "*", sp->host[0] ? sp->host : "*", sp->path,
		      pool_name(env->cfg, sp->pool), route_source(env->cfg, env->applied, s->v[i]),
		      o);
		if (sp->rb_p99_ms && sp->rb_min < quantile_min_samples(0.99))
			reply(r,
			      "      p99 judged only in windows of %u requests or more (min %u)\n",
			      quantile_min_samples(0.99), sp->rb_min);
		if (sp->tripped)
			reply(r, "      rolled back by strgd: %s\n", sp->trip);
	}
	if (strcmp(kstate, "none"))
		reply(r, "kernel route table: %s (%u prefixes)\n", kstate, prefixes);
}

static int route_show(struct ctl_env *env, struct ctl_args *a, struct ctl_reply *r)
{
	struct show_ctx s = {0};
	const char *kstate;
	uint32_t prefixes;
	json_t *routes;
	int ret = 0;

	if (a->argc != 1)
		return ctl_fail(r, "route show: expects no arguments");
	s.v = route_table_list(env->cfg->routes, true, &s.n);
	if (!s.v)
		return ctl_fail(r, "out of memory");
	reply(r, "ok\n");
	if (!a->json) {
		route_show_text(env, &s, r);
		goto out;
	}
	routes = json_array();
	for (size_t i = 0; i < s.n; i++)
		json_array_append_new(routes, route_json(env->cfg, env->applied, s.v[i]));
	kstate = kernel_state(env, &prefixes);
	ret = ctl_reply_json(r, json_pack("{s:o, s:{s:s, s:I}}", "routes", routes, "kernel",
					  "state", kstate, "prefixes", (json_int_t)prefixes));
out:
	free(s.v);
	return ret;
}

static int pool_show(struct ctl_env *env, struct ctl_args *a, struct ctl_reply *r)
{
	const struct config *cfg = env->cfg;
	json_t *pools = json_array();

	if (a->argc != 1) {
		json_decref(pools);
		return ctl_fail(r, "pool show: expects no arguments");
	}
	reply(r, "ok\n");
	for (unsigned i = 0; i < cfg->npools; i++) {
		const struct pool *p = &cfg->pools[i];
		json_t *backends = json_array();

		struct pool_runtime *rt = env->nworkers ? &env->workers[0]->prt[i] : NULL;
		char health[200] = "";

		if (p->health.active)
			snprintf(health, sizeof(health),
				 "; health http %s every %ums (timeout %ums, rise %u, fall %u)",
				 p->health.path, p->health.interval_ms, p->health.timeout_ms,
				 p->health.rise, p->health.fall);
		if (!a->json)
			reply(r, "%s%s%s\n", p->name, p->proxy_protocol ? " (proxy-protocol)" : "",
			      health);
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
			json_array_append_new(
				backends,
				json_pack("{s:s, s:s, s:I, s:b, s:s, s:b, s:I, s:I}", "addr",
					  be->name, "state", pool_state_name(be->state), "weight",
					  (json_int_t)be->weight, "healthy",
					  strcmp(word, "ejected") != 0, "health", word, "down",
					  strcmp(word, "healthy") != 0, "connections",
					  (json_int_t)conns, "inflight", (json_int_t)inflight));
			if (!a->json)
				reply(r,
				      "    %-24s %-6s weight %-3u %-9s %lld connections, %lld in "
				      "flight\n",
				      be->name, pool_state_name(be->state), be->weight, word, conns,
				      inflight);
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

/*
 * stats [show]: per route and pool, every request strgd answered or carried and every one the
 * kernel carried, added up, with rates and latency quantiles (metrics.c). A route's own pool
 * always has a row; other pools when they counted.
 */
static int stats_show(struct ctl_env *env, struct ctl_args *a, struct ctl_reply *r)
{
	struct metrics_view v;

	if (a->argc != 1)
		return ctl_fail(r, "stats: expects no arguments");
	if (!env->st)
		return ctl_fail(r, "stats: no counters");
	struct metrics_src src;

	ctl_metrics_src(env, &src);
	if (metrics_collect(env->metrics, &src, now_ns(), &v))
		return ctl_fail(r, "out of memory");
	reply(r, "ok\n");
	if (a->json)
		ctl_reply_json(r, metrics_json(&v));
	else
		metrics_text(&v, &r->text);
	metrics_view_free(&v);
	return 0;
}

/* A draft of the live configuration for a change; env->cfg points to it until end_draft(). */
static struct config *begin_draft(struct ctl_env *env)
{
	struct config *live = env->cfg, *draft = config_clone(live);

	if (draft)
		env->cfg = draft;
	return live;
}

/* changed: commit the draft (published already); else drop it. env->cfg is the live one again. */
static void end_draft(struct ctl_env *env, struct config *live, bool changed)
{
	struct config *draft = env->cfg;

	env->cfg = live;
	if (draft == live)
		return;
	if (changed)
		env->commit(env, draft); /* env->cfg becomes draft */
	else
		config_destroy(draft);
}

int ctl_change(struct ctl_env *env, int (*fn)(struct config *draft, void *arg), void *arg)
{
	struct ctl_reply mine = {0};
	struct config *live;
	int n;

	/* The successor has read the state file: what changed here now would be lost. */
	if (env->restarting)
		return -EBUSY;
	live = begin_draft(env);
	if (env->cfg == live)
		return -ENOMEM;
	n = fn(env->cfg, arg);
	if (n > 0)
		ctl_publish(env, &mine);
	end_draft(env, live, n > 0);
	if (n > 0)
		ctl_save(env);
	/* Without a caller to tell, the warnings go to the log. */
	for (char *line = mine.text.buf, *nl; mine.text.len && line && *line; line = nl) {
		nl = strchr(line, '\n');
		if (nl)
			*nl++ = '\0';
		pr_warn("%s", line);
	}
	ctl_reply_free(&mine);
	return n;
}

/* Without the saver thread: the text written here, its outcome kept for the reply. */
static void save_now(struct ctl_env *env, char *text, size_t len)
{
	int err = state_write(env->cfg->state, text, len);

	free(text);
	if (err)
		pr_warn("ctl: route table not saved to %s: %s", env->cfg->state, strerror(-err));
	env->sync_tried = env->save_id;
	env->sync_err = err;
	if (!err)
		env->sync_ok = env->save_id;
}

int ctl_saved(struct ctl_env *env, uint64_t id)
{
	if (env->saver && env->sync_tried < id)
		return saver_status(env->saver, id);
	return env->sync_ok >= id ? 0 : env->sync_tried >= id ? env->sync_err : 1;
}

/*
 * After a change: the kernel follows the table or, when it cannot, stops classifying so both
 * paths still route alike (the reply says so); the XDP guard follows its settings. The table is
 * saved for the next start once the change is committed (ctl_save), off the way to in force.
 */
void ctl_publish(struct ctl_env *env, struct ctl_reply *r)
{
	char msg[256];
	int err;

	if (env->sp) {
		err = splice_publish_routes(env->sp, env->cfg);
		if (err == -E2BIG)
			reply(r,
			      "warning: the kernel's route table would exceed 'limit kernel-routes "
			      "%u': every request is routed by strgd in user space until it fits\n",
			      env->cfg->kernel_routes_max);
		else if (err)
			reply(r,
			      "warning: the kernel's route table could not be written (%s): every "
			      "request is routed by strgd in user space until it can\n",
			      strerror(-err));
	}
	if (env->gd && guard_apply(env->gd, env->cfg, msg, sizeof(msg)))
		reply(r, "warning: %s\n", msg);
}

uint64_t ctl_save(struct ctl_env *env)
{
	size_t len;
	char *text;
	int err = state_text(env->cfg, env->applied, &text, &len);

	env->save_id++;
	if (err) {
		pr_warn("ctl: route table not saved to %s: %s", env->cfg->state, strerror(-err));
		env->sync_tried = env->save_id;
		env->sync_err = err;
	} else if (env->saver) {
		saver_submit(env->saver, env->cfg->state, text, len, env->save_id);
	} else {
		save_now(env, text, len);
	}
	return env->save_id;
}

static bool specs_equal(const struct route_spec *a, const struct route_spec *b)
{
	struct route_stored va, vb;

	return route_spec_equal(route_spec_view(a, &va), route_spec_view(b, &vb));
}

/* "route 7: OLD -> NEW", "route 7 added: NEW", "route 7 unchanged: OLD"; "would ..." if dry. */
static void reply_change(struct ctl_env *env, struct ctl_reply *r, bool dry, uint32_t id,
			 const struct route_spec *old, const struct route_spec *now)
{
	char a[ROUTE_TEXT_MAX], b[ROUTE_TEXT_MAX];
	struct route_stored vo, vn;

	spec_text(env->cfg, route_spec_view(now, &vn), b, sizeof(b));
	if (!old) {
		if (dry)
			reply(r, "would add route: %s\n", b);
		else
			reply(r, "route %u added: %s\n", id, b);
		return;
	}
	spec_text(env->cfg, route_spec_view(old, &vo), a, sizeof(a));
	if (route_spec_equal(&vo, &vn))
		reply(r, "%sroute %u unchanged: %s\n", dry ? "would leave " : "", id, a);
	else
		reply(r, "%sroute %u: %s -> %s\n", dry ? "would change " : "", id, a, b);
}

/* A p99 limit its min cannot judge: said on stderr (strgctl) and, as ever, done. */
static void warn_rollback_min(struct ctl_reply *r, const struct route_spec *spec)
{
	char msg[ROUTE_TEXT_MAX + 256];
	struct route_stored v;

	if (rollback_min_warning(route_spec_view(spec, &v), msg, sizeof(msg)))
		reply(r, "warning: %s\n", msg);
}

static int route_set(struct ctl_env *env, struct ctl_args *a, struct ctl_reply *r)
{
	struct route_spec spec, before;
	const struct route *old;
	char err[256];
	int id;

	if (config_route_words(env->cfg, a->argc, a->argv, &spec, err, sizeof(err)))
		return ctl_fail(r, "%s", err);
	old = route_table_find(env->cfg->routes, &spec);
	if (old)
		route_spec_from(&old->spec, &before);
	if (a->dry) {
		/* The spec as the table would store it: normalised like a real set. */
		struct route_table *t = route_table_new();
		int tid = t ? route_table_set(t, &spec) : -ENOMEM;

		if (tid < 0) {
			route_table_free(t);
			return ctl_fail(r, "route set: %s", strerror(-tid));
		}
		route_spec_from(&route_table_get(t, (uint32_t)tid)->spec, &spec);
		route_table_free(t);
		reply(r, "ok\n");
		reply_change(env, r, true, old ? old->id : 0, old ? &before : NULL, &spec);
		warn_rollback_min(r, &spec);
		return 0;
	}
	id = route_table_set(env->cfg->routes, &spec);
	if (id < 0)
		return ctl_fail(r, "route set: %s", strerror(-id));
	route_spec_from(&route_table_get(env->cfg->routes, (uint32_t)id)->spec, &spec);
	if (!old) /* a new route: its counters slot may hold a deleted route's */
		stats_slot_reset(env->st, route_table_get(env->cfg->routes, (uint32_t)id)->slot);
	reply(r, "ok\n");
	reply_change(env, r, false, (uint32_t)id, old ? &before : NULL, &spec);
	warn_rollback_min(r, &spec);
	if (old && specs_equal(&before, &spec))
		return 0;
	ctl_publish(env, r);
	return 1;
}

/* The route a change names: by id, or by [METHODS] [host HOST] PATH [exact]. */
static const struct route *route_named(struct ctl_env *env, struct ctl_args *a, struct ctl_reply *r)
{
	const char *verb = a->argv[0];
	const struct route *rt;
	struct route_spec spec;
	char err[256], *end, *words[CTL_MAX_WORDS + 1];
	unsigned long id;

	if (a->argc == 2 && a->argv[1][0] != '/' &&
	    (id = strtoul(a->argv[1], &end, 10), *end == '\0')) {
		rt = id > 0 && id <= UINT32_MAX ? route_table_get(env->cfg->routes, (uint32_t)id)
						: NULL;
	} else {
		/* The words of "route set" with a pool that does not matter: any defined one. */
		if (a->argc < 2 || a->argc > CTL_MAX_WORDS - 1) {
			ctl_fail(r, "route %s: expects ID or [METHODS] [host HOST] PATH [exact]",
				 verb);
			return NULL;
		}
		memcpy(words, a->argv, sizeof(*a->argv) * (size_t)a->argc);
		if (!strcmp(a->argv[a->argc - 1], "exact")) {
			words[a->argc - 1] = env->cfg->pools[0].name;
			words[a->argc] = "exact";
		} else {
			words[a->argc] = env->cfg->pools[0].name;
		}
		if (config_route_words(env->cfg, a->argc + 1, words, &spec, err, sizeof(err))) {
			ctl_fail(r, "%s", err);
			return NULL;
		}
		rt = route_table_find(env->cfg->routes, &spec);
	}
	if (!rt)
		ctl_fail(r, "route %s: no such route", verb);
	return rt;
}

static int route_del(struct ctl_env *env, struct ctl_args *a, struct ctl_reply *r)
{
	const struct route *rt = route_named(env, a, r);
	char text[ROUTE_TEXT_MAX];
	uint32_t id;
	int ret;

	if (!rt)
		return -EINVAL;
	if (route_is_default(&rt->spec))
		return ctl_fail(r, "route del: the default route '/' cannot be deleted");
	id = rt->id;
	spec_text(env->cfg, &rt->spec, text, sizeof(text));
	if (a->dry) {
		reply(r, "ok\nwould delete route %u: %s\n", id, text);
		return 0;
	}
	ret = route_table_del(env->cfg->routes, id);
	if (ret < 0)
		return ctl_fail(r, "route del: %s", strerror(-ret));
	reply(r, "ok\nroute %u deleted: %s\n", id, text);
	ctl_publish(env, r);
	return 1;
}

/* Deactivating keeps a route but lets its requests fall through to the next match (rollback). */
static int route_activate(struct ctl_env *env, struct ctl_args *a, struct ctl_reply *r)
{
	bool active = !strcmp(a->argv[0], "activate");
	const struct route *rt = route_named(env, a, r);
	struct route_spec spec, before;
	int id;

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
	reply(r, "ok\n");
	reply_change(env, r, a->dry, rt->id, &before, &spec);
	if (a->dry || specs_equal(&before, &spec))
		return 0;
	id = route_table_set(env->cfg->routes, &spec);
	if (id < 0)
		return ctl_fail(r, "route %s: %s", a->argv[0], strerror(-id));
	ctl_publish(env, r);
	return 1;
}

static int pool_add(struct ctl_env *env, struct ctl_args *a, struct ctl_reply *r)
{
	struct config *cfg = env->cfg;
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
	if (a->dry) {
		reply(r, "ok\nwould add pool %s (no backends)\n", name);
		return 0;
	}
	p = &cfg->pools[cfg->npools];
	pool_init(p, name);
	cfg->npools++;
	reply(r, "ok\npool %s added\n", p->name);
	ctl_publish(env, r);
	return 1;
}

/* A new backend in pool p; a removed backend's slot is reused. */
static int backend_add(struct ctl_env *env, struct pool *p, const char *addr, bool dry,
		       struct ctl_reply *r)
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
	if (dry) {
		reply(r, "ok\nwould add %s to pool %s\n", addr, p->name);
		return 0;
	}
	p->backends[bi] = nb;
	if (bi == p->nbackends)
		p->nbackends++;
	reply(r, "ok\n%s added to pool %s\n", addr, p->name);
	ctl_publish(env, r);
	return 1;
}

/* backend add|del POOL ADDR, backend set POOL ADDR state ready|drain|maint | weight N */
static int backend_cmd(struct ctl_env *env, struct ctl_args *a, struct ctl_reply *r)
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
	pi = config_pool_find(env->cfg, argv[1]);
	if (pi < 0)
		return ctl_fail(r, "backend %s: unknown pool '%s'", verb, argv[1]);
	p = &env->cfg->pools[pi];
	if (!strcmp(verb, "add"))
		return backend_add(env, p, argv[2], a->dry, r);
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
	if (a->dry) {
		reply(r, "ok\nwould %s %s in pool %s\n", verb, argv[2], p->name);
		return 0;
	}
	if (!strcmp(verb, "del"))
		be->state = BACKEND_REMOVED; /* the slot stays: connections may still name it */
	else if (!strcmp(argv[3], "state"))
		be->state = st;
	else
		be->weight = (unsigned)weight;
	reply(r, "ok\n%s %s in pool %s\n", argv[2], !strcmp(verb, "del") ? "deleted" : "set",
	      p->name);
	ctl_publish(env, r);
	return 1;
}

/* "reload": the configuration file again, applied through the same three-way merge as at start. */
static void say_reply(void *ctx, const char *fmt, ...)
{
	struct ctl_reply *r = ctx;
	va_list ap;

	va_start(ap, fmt);
	reply_vprintf(&r->text, fmt, ap);
	va_end(ap);
	reply(r, "\n");
}

static int reload_cmd(struct ctl_env *env, struct ctl_args *a, struct ctl_reply *r)
{
	int n;

	if (a->argc != 1)
		return ctl_fail(r, "reload: expects no arguments");
	reply(r, "ok\n");
	n = reload_run(env->cfg, &env->applied, env->config_path, a->dry, say_reply, r);
	if (n < 0) {
		char msg[1024];

		/* The report so far is the error's detail: keep its last line as the message. */
		snprintf(msg, sizeof(msg), "%s",
			 r->text.len > 3 ? r->text.buf + 3 : "reload failed");
		msg[strcspn(msg, "\n")] = '\0';
		return ctl_fail(r, "%s", msg);
	}
	if (!n)
		reply(r, "%snothing to change\n", a->dry ? "would do: " : "");
	if (n > 0 && !a->dry)
		ctl_publish(env, r);
	return n > 0 && !a->dry ? 1 : 0;
}

/* top is strgctl's own view, built from "stats -j". */
static int top_cmd(struct ctl_env *env, struct ctl_args *a, struct ctl_reply *r)
{
	(void)env;
	(void)a;
	return ctl_fail(r, "top: strgctl shows it, from 'stats -j'");
}

static int restart_cmd(struct ctl_env *env, struct ctl_args *a, struct ctl_reply *r)
{
	char err[256];

	if (a->argc != 1)
		return ctl_fail(r, "restart: takes no arguments");
	if (!env->restart)
		return ctl_fail(r, "restart: not available here");
	if (a->dry) {
		reply(r, "ok\nwould save the table, start a new strgd and hand it the listening "
			 "sockets\n");
		return 0;
	}
	if (env->restart(env, err, sizeof(err)))
		return ctl_fail(r, "%s", err);
	/* The reply is the outcome's (ctl_restart_done), once the new strgd serves or failed. */
	r->wait = CTL_WAIT_RESTART;
	r->gen = env->restarts;
	return 0;
}

void ctl_restart_done(struct ctl_env *env, const char *said)
{
	snprintf(env->restart_said, sizeof(env->restart_said), "%s", said);
	env->restarts_done = env->restarts;
}

/* The handler of each verb of ctl_verbs[], by its id. */
static int (*const handlers[CTL_VERB_COUNT])(struct ctl_env *env, struct ctl_args *a,
					     struct ctl_reply *r) = {
	[CTL_ROUTE_SHOW] = route_show,
	[CTL_ROUTE_SET] = route_set,
	[CTL_ROUTE_DEL] = route_del,
	[CTL_ROUTE_ACTIVATE] = route_activate,
	[CTL_ROUTE_DEACTIVATE] = route_activate,
	[CTL_POOL_SHOW] = pool_show,
	[CTL_POOL_ADD] = pool_add,
	[CTL_BACKEND_ADD] = backend_cmd,
	[CTL_BACKEND_DEL] = backend_cmd,
	[CTL_BACKEND_SET] = backend_cmd,
	[CTL_STATS_SHOW] = stats_show,
	[CTL_RELOAD] = reload_cmd,
	[CTL_TOP] = top_cmd,
	[CTL_RESTART] = restart_cmd,
	[CTL_XDP_SHOW] = ctl_xdp_show,
	[CTL_XDP_ATTACH] = ctl_xdp_change,
	[CTL_XDP_DETACH] = ctl_xdp_change,
	[CTL_DENY_SHOW] = ctl_cidr_show,
	[CTL_DENY_ADD] = ctl_cidr_change,
	[CTL_DENY_DEL] = ctl_cidr_change,
	[CTL_ALLOW_SHOW] = ctl_cidr_show,
	[CTL_ALLOW_ADD] = ctl_cidr_change,
	[CTL_ALLOW_DEL] = ctl_cidr_change,
	[CTL_LIMIT_SHOW] = ctl_limit_show,
	[CTL_LIMIT_SET] = ctl_limit_set,
};

/* Split in place into words; flags -j and --dry-run are taken out wherever they stand. */
static int split(char *line, char **argv, bool *json, bool *dry)
{
	char *words[CTL_MAX_WORDS + 2]; /* room for both flags */
	int n = words_split(line, words, CTL_MAX_WORDS + 2, false), argc = 0;

	for (int i = 0; i < n; i++) {
		if (!strcmp(words[i], "-j"))
			*json = true;
		else if (!strcmp(words[i], "--dry-run"))
			*dry = true;
		else if (argc < CTL_MAX_WORDS)
			argv[argc++] = words[i];
		else
			return -E2BIG;
	}
	return n < 0 ? n : argc;
}

/* Whether the peer belongs to gid, as primary or supplementary group. */
static bool in_group(const struct ucred *peer, int gid)
{
	gid_t groups[64];
	int n = 64;
	struct passwd *pw;

	if (gid < 0)
		return false;
	if (peer->gid == (gid_t)gid)
		return true;
	pw = getpwuid(peer->uid);
	if (!pw || getgrouplist(pw->pw_name, pw->pw_gid, groups, &n) < 0)
		return false;
	for (int i = 0; i < n; i++)
		if (groups[i] == (gid_t)gid)
			return true;
	return false;
}

int ctl_execute(struct ctl_env *env, const struct ucred *peer, char *line, struct ctl_reply *r)
{
	char *argv[CTL_MAX_WORDS], logline[256];
	struct ctl_args a = {0};
	const struct ctl_verb *v;
	struct config *live = NULL;
	uint64_t t0 = now_ns();
	int argc, used = 0, ret;

	r->text.len = 0;
	snprintf(logline, sizeof(logline), "%s", line);
	logline[strcspn(logline, "\r\n")] = '\0';
	argc = split(line, argv, &a.json, &a.dry);
	if (argc < 0)
		return ctl_fail(r, "too many words (max %d)", CTL_MAX_WORDS);
	v = ctl_verb_find(argc, argv, &used);
	if (!v)
		return ctl_fail(r, "unknown command '%s' (try strgctl help)", logline);
	if (a.json && !(v->flags & CTL_JSON))
		return ctl_fail(r, "%s %s: has no JSON view (-j)", v->noun, v->verb ? v->verb : "");
	if (a.dry && !(v->flags & CTL_CHANGES))
		return ctl_fail(r, "%s %s: changes nothing (--dry-run)", v->noun,
				v->verb ? v->verb : "");
	/* The handler sees the word that named the verb first: "set", "del", "reload"... */
	a.argc = argc - (used - 1);
	a.argv = argv + (used - 1);
	/* Changes: root or the change group, and every one leaves a line in the log. */
	if ((v->flags & CTL_CHANGES) && peer->uid != 0 &&
	    !in_group(peer, env->cfg->control_change_gid))
		return ctl_fail(r, "permission denied: uid %u may not change strgd", peer->uid);
	if ((v->flags & CTL_CHANGES) && !a.dry && env->restarting)
		return ctl_fail(r,
				"strgd is restarting (strgctl restart): nothing changed; make the "
				"change again once the restart has answered");
	if ((v->flags & CTL_CHANGES) && !a.dry && v->id != CTL_RESTART) {
		/* Made on a draft, committed whole when the handler changed something. */
		live = begin_draft(env);
		if (env->cfg == live)
			return ctl_fail(r, "out of memory for the change");
	}
	ret = handlers[v->id](env, &a, r);
	if (live)
		end_draft(env, live, ret > 0);
	if (ret > 0) {
		/* The reply goes once it is in force everywhere and its save is known. */
		r->wait = CTL_WAIT_CHANGE;
		r->gen = env->wait_gen;
		r->save = ctl_save(env);
		r->t0_ns = t0;
		snprintf(r->what, sizeof(r->what), "uid %u pid %d: %s", peer->uid, peer->pid,
			 logline);
	}
	return ret < 0 ? ret : 0;
}

/* A change's reply when its state text could not be written: an error that says it is in force. */
static void reply_unsaved(struct ctl_env *env, struct ctl_reply *r, int err)
{
	char *was = r->text.len > 3 ? strndup(r->text.buf + 3, r->text.len - 3) : NULL;

	r->text.len = 0;
	reply(r,
	      "error: in force, but not saved to %s (%s): a restart would lose it, and strgd "
	      "refuses to restart until the table is saved\n%s",
	      env->cfg->state, strerror(-err), was ? was : "");
	free(was);
}

bool ctl_reply_ready(struct ctl_env *env, struct ctl_reply *r)
{
	uint64_t now;
	int saved;

	if (r->wait == CTL_WAIT_RESTART) {
		if (env->restarts_done < r->gen)
			return false;
		r->text.len = 0;
		reply(r, "%s", env->restart_said);
		r->wait = CTL_WAIT_NONE;
		return true;
	}
	if (r->wait != CTL_WAIT_CHANGE)
		return true;
	now = now_ns();
	if (!r->force_ns && (!env->everywhere || env->everywhere(env) >= r->gen))
		r->force_ns = now;
	saved = r->save ? ctl_saved(env, r->save) : 0;
	if (!r->force_ns || saved == 1)
		return false;
	if (saved < 0) {
		reply_unsaved(env, r, saved);
		pr_warn("ctl: %s (in force after %llu us, NOT saved to %s: %s)", r->what,
			(unsigned long long)(r->force_ns - r->t0_ns) / 1000, env->cfg->state,
			strerror(-saved));
	} else {
		pr_info("ctl: %s (in force after %llu us, saved after %llu us)", r->what,
			(unsigned long long)(r->force_ns - r->t0_ns) / 1000,
			(unsigned long long)(now - r->t0_ns) / 1000);
	}
	r->wait = CTL_WAIT_NONE;
	return true;
}

/* Whether something answers on the socket at path (a live strgd, not a stale file), and who. */
static bool socket_live(const struct sockaddr_un *sun, pid_t *holder)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct ucred peer = {0};
	socklen_t len = sizeof(peer);
	bool live;

	if (fd < 0)
		return false;
	live = connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) == 0;
	if (live && getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &len) == 0)
		*holder = peer.pid;
	close(fd);
	return live;
}

int ctl_listen(const char *path, int gid, pid_t *holder)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	char dir[sizeof(sun.sun_path)];
	char *slash;
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	strcpy(sun.sun_path, path);
	/* The directory keeps others from even reaching the socket: 0750. */
	strcpy(dir, path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0750) < 0 && errno != EEXIST)
			return -errno;
		if (gid >= 0 && chown(dir, 0, (gid_t)gid) < 0)
			return -errno;
	}
	/* Another strgd's socket is not ours to take over; one left by a crash is. */
	*holder = 0;
	if (socket_live(&sun, holder))
		return -EADDRINUSE;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    chmod(path, gid >= 0 ? 0660 : 0600) < 0 ||
	    (gid >= 0 && chown(path, 0, (gid_t)gid) < 0) || listen(fd, 64) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}
