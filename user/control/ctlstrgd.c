// SPDX-License-Identifier: GPL-2.0-only
/*
 * The verbs about strgd as a whole (ctlstrgd.h): the counters' view, a reload of the
 * configuration file (a change like any other, through the change's draft), and a restart,
 * which the daemon carries out (ctl_ops) and answers when it is done.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "control/ctlstrgd.h"
#include "control/ctlverb.h"
#include "control/reload.h"
#include "dataplane/worker.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "observe/metrics.h"

/* metrics_src.read_worker: a worker's connection counts, read while it runs on. */
static void worker_counts(const struct metrics_src *src, unsigned i, struct metrics_worker *out)
{
	const struct worker *const *workers = src->workers;
	const struct worker *w = workers[i];

	out->connections = __atomic_load_n(&w->nconns, __ATOMIC_RELAXED);
	out->kernel = __atomic_load_n(&w->spliced.n, __ATOMIC_RELAXED);
	out->accepted = __atomic_load_n(&w->accepted, __ATOMIC_RELAXED);
	out->ring = __atomic_load_n(&w->ring_feat, __ATOMIC_RELAXED);
	out->enters = __atomic_load_n(&w->enters, __ATOMIC_RELAXED);
	out->cqes = __atomic_load_n(&w->cqes, __ATOMIC_RELAXED);
	out->piped = __atomic_load_n(&w->piped, __ATOMIC_RELAXED);
}

void ctl_metrics_src(const struct ctl_env *env, struct metrics_src *src)
{
	*src = (struct metrics_src){
		.cfg = env->chg.live,
		.st = env->chg.st,
		.sp = env->chg.sp,
		.gd = env->chg.gd,
		.prt = env->nworkers ? env->workers[0]->prt : NULL,
		.nworkers = env->nworkers,
		.read_worker = worker_counts,
		.read_store = env->read_store,
		.store_ctx = env->store_ctx,
		.workers = env->workers,
	};
}

/*
 * stats [show]: per route and pool, every request strgd answered or carried and every one the
 * kernel carried, added up, with rates and latency quantiles (metrics.c). A route's own pool
 * always has a row; other pools when they counted.
 */
int ctl_stats_show(struct ctl_env *env, struct ctl_args *a, struct ctl_reply *r)
{
	struct metrics_view v;
	struct metrics_src src;

	if (a->argc != 1)
		return ctl_fail(r, "stats: expects no arguments");
	if (!env->chg.st)
		return ctl_fail(r, "stats: no counters");
	ctl_metrics_src(env, &src);
	if (metrics_collect(env->metrics, &src, now_ns(), &v))
		return ctl_fail(r, "out of memory");
	ctl_replyf(r, "ok\n");
	if (a->json)
		ctl_reply_json(r, metrics_json(&v));
	else
		metrics_text(&v, &r->text);
	metrics_view_free(&v);
	return 0;
}

/* "reload": the configuration file again, applied through the same three-way merge as at start. */
struct reload_say {
	struct ctl_reply *r;
	bool dry;
	int conflicts;
};

/* A line of the report; a conflict is a warning (strgctl's stderr), logged unless a dry run. */
static void say_reply(void *ctx, const char *fmt, ...)
{
	struct reload_say *rs = ctx;
	char line[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (strncmp(line, "conflict: ", 10)) {
		ctl_replyf(rs->r, "%s\n", line);
		return;
	}
	rs->conflicts++;
	ctl_replyf(rs->r, "warning: %s\n", line);
	if (!rs->dry)
		pr_warn("reload: %s", line);
}

/* A dry run with conflicts fails (exit 1), its report kept after the error's line. */
static int fail_conflicts(struct ctl_reply *r, int conflicts)
{
	char *report = r->text.len > 3 ? strndup(r->text.buf + 3, r->text.len - 3) : NULL;

	ctl_fail(r,
		 "reload --dry-run: %d conflict%s between runtime changes and the configuration "
		 "(below)",
		 conflicts, conflicts == 1 ? "" : "s");
	ctl_replyf(r, "%s", report ? report : "");
	free(report);
	return -EINVAL;
}

int ctl_reload(struct ctl_env *env, struct ctl_args *a, struct ctl_reply *r)
{
	struct reload_say rs = {r, a->dry, 0};
	int n;

	if (a->argc != 1)
		return ctl_fail(r, "reload: expects no arguments");
	ctl_replyf(r, "ok\n");
	n = reload_run(a->cfg, &env->chg.applied, env->config_path, a->dry, say_reply, &rs);
	if (n < 0) {
		char msg[1024];

		/* The report so far is the error's detail: keep its last line as the message. */
		snprintf(msg, sizeof(msg), "%s",
			 r->text.len > 3 ? r->text.buf + 3 : "reload failed");
		msg[strcspn(msg, "\n")] = '\0';
		return ctl_fail(r, "%s", msg);
	}
	if (!n)
		ctl_replyf(r, "%snothing to change\n", a->dry ? "would do: " : "");
	if (a->dry && rs.conflicts)
		return fail_conflicts(r, rs.conflicts);
	return n > 0 ? 1 : 0;
}

/* top is strgctl's own view, built from "stats -j". */
int ctl_top(struct ctl_env *env, struct ctl_args *a, struct ctl_reply *r)
{
	(void)env;
	(void)a;
	return ctl_fail(r, "top: strgctl shows it, from 'stats -j'");
}

int ctl_restart(struct ctl_env *env, struct ctl_args *a, struct ctl_reply *r)
{
	char err[256];

	if (a->argc != 1)
		return ctl_fail(r, "restart: takes no arguments");
	if (!env->ops || !env->ops->restart)
		return ctl_fail(r, "restart: not available here");
	if (a->dry) {
		ctl_replyf(r,
			   "ok\nwould save the table, start a new strgd and hand it the listening "
			   "sockets\n");
		return 0;
	}
	if (env->ops->restart(env->owner, err, sizeof(err)))
		return ctl_fail(r, "%s", err);
	/* The reply is the outcome's (ctl_restart_done), once the new strgd serves or failed. */
	r->wait = CTL_WAIT_RESTART;
	r->restart = env->restarts;
	return 0;
}

int ctl_log_show(struct ctl_env *env, struct ctl_args *a, struct ctl_reply *r)
{
	const char *level = log_level_name(log_get_level());

	(void)env;
	if (a->argc != 1)
		return ctl_fail(r, "log show: expects no arguments");
	ctl_replyf(r, "ok\n");
	if (a->json)
		return ctl_reply_json(r, json_pack("{s:s}", "level", level));
	ctl_replyf(r, "level %s\n", level);
	return 0;
}

/* The level is strgd's own, not the configuration's: no draft, said in the log at warn. */
int ctl_log_level(struct ctl_env *env, struct ctl_args *a, struct ctl_reply *r)
{
	enum log_level was = log_get_level();
	int lvl;

	(void)env;
	if (a->argc != 2)
		return ctl_fail(r, "log level: expects warn, info or debug");
	lvl = log_level_parse(a->argv[1]);
	if (lvl < 0)
		return ctl_fail(r, "log level: '%.32s' is not warn, info or debug", a->argv[1]);
	ctl_replyf(r, "ok\n%slog level %s -> %s\n", a->dry ? "would set " : "", log_level_name(was),
		   log_level_name((enum log_level)lvl));
	if (a->dry)
		return 0;
	log_set_level((enum log_level)lvl);
	pr_warn("ctl: uid %u pid %d: log level %s -> %s", a->peer ? a->peer->uid : 0,
		a->peer ? a->peer->pid : 0, log_level_name(was),
		log_level_name((enum log_level)lvl));
	return 0;
}
