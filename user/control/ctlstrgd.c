// SPDX-License-Identifier: GPL-2.0-only
/*
 * The verbs about strgd as a whole (ctlstrgd.h): the counters' view, a reload of the
 * configuration file (a change like any other, through the change's draft), and a restart,
 * which the daemon carries out (ctl_ops) and answers when it is done.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "control/ctlstrgd.h"
#include "control/ctlverb.h"
#include "control/reload.h"
#include "dataplane/worker.h"
#include "lib/clock.h"
#include "observe/metrics.h"

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
		.cfg = env->chg.live,
		.st = env->chg.st,
		.sp = env->chg.sp,
		.gd = env->chg.gd,
		.prt = env->nworkers ? env->workers[0]->prt : NULL,
		.nworkers = env->nworkers,
		.read_worker = worker_counts,
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
static void say_reply(void *ctx, const char *fmt, ...)
{
	struct ctl_reply *r = ctx;
	va_list ap;

	va_start(ap, fmt);
	reply_vprintf(&r->text, fmt, ap);
	va_end(ap);
	ctl_replyf(r, "\n");
}

int ctl_reload(struct ctl_env *env, struct ctl_args *a, struct ctl_reply *r)
{
	int n;

	if (a->argc != 1)
		return ctl_fail(r, "reload: expects no arguments");
	ctl_replyf(r, "ok\n");
	n = reload_run(a->cfg, &env->chg.applied, env->config_path, a->dry, say_reply, r);
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
