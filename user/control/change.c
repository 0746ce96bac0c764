// SPDX-License-Identifier: GPL-2.0-only
/*
 * The change pipeline (change.h): a draft of the live configuration, edited by whoever changes
 * strgd, then published to the kernel and the guard, committed to every worker and saved, or
 * dropped whole. It is the only place that publishes or commits.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/change.h"
#include "control/saver.h"
#include "core/state.h"
#include "kernel/guard.h"
#include "dataplane/limiter.h"
#include "kernel/splice.h"
#include "lib/log.h"
#include "observe/stats.h"

static void warn(struct reply *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A warning for the one who asked, or for the log when nobody waits for a reply. */
static void warn(struct reply *out, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (out)
		reply_printf(out, "warning: %s\n", msg);
	else
		pr_warn("warning: %s", msg);
}

int change_begin(struct change_pipe *p, struct change *c, bool dry)
{
	memset(c, 0, sizeof(*c));
	c->dry = dry;
	/* The successor has read the state file: what changed here now would be lost. */
	if (p->restarting && !dry)
		return -EBUSY;
	c->draft = config_clone(p->live);
	return c->draft ? 0 : -ENOMEM;
}

/* Whether a route's limit is new or changed: its bucket then starts full. */
static bool limit_changed(const struct route *was, const struct route *is)
{
	const struct routegw_limit *a = &was->spec.gw->limit, *b = &is->spec.gw->limit;

	return a->count != b->count || a->unit != b->unit || a->burst != b->burst ||
	       a->per != b->per;
}

/*
 * A route new to the table may sit in a deleted route's counters slot: it starts from zero, and
 * so does its rate-limit bucket (also when its limit changed).
 */
static void reset_new_slots(struct change_pipe *p, const struct config *draft)
{
	const struct route **v, *was;
	size_t n;

	if (!p->st && !p->lim)
		return;
	v = route_table_list(draft->routes, false, &n);
	for (size_t i = 0; v && i < n; i++) {
		if (v[i]->slot == ROUTE_SLOT_NONE)
			continue;
		was = route_table_get(p->live->routes, v[i]->id);
		if (!was)
			stats_slot_reset(p->st, v[i]->slot);
		if (!was || was->slot != v[i]->slot || limit_changed(was, v[i]))
			limiter_slot_reset(p->lim, v[i]->slot);
	}
	free(v);
}

/*
 * The kernel follows the table or, when it cannot, stops classifying so both paths still route
 * alike (the warning says so); the XDP guard follows its settings.
 */
static void publish(struct change_pipe *p, const struct config *draft, bool guard_done,
		    struct reply *out)
{
	char msg[256];
	int err;

	if (p->sp) {
		err = splice_publish_routes(p->sp, draft);
		if (err == -E2BIG)
			warn(out,
			     "the kernel's route table would exceed 'limit kernel-routes %u': "
			     "every "
			     "request is routed by strgd in user space until it fits",
			     draft->kernel_routes_max);
		else if (err)
			warn(out,
			     "the kernel's route table could not be written (%s): every request is "
			     "routed by strgd in user space until it can",
			     strerror(-err));
	}
	if (p->gd && !guard_done && guard_apply(p->gd, draft, msg, sizeof(msg)))
		warn(out, "%s", msg);
}

/* Make the draft the live configuration of every worker; the pipeline's live is it from now. */
static void commit(struct change_pipe *p, struct config *draft)
{
	struct config *old = p->live;

	p->live = draft;
	if (p->ops && p->ops->commit)
		p->ops->commit(p->owner, draft);
	else
		config_destroy(old); /* no workers: nobody else runs with it */
}

int change_end(struct change_pipe *p, struct change *c, int changed, struct reply *out,
	       struct change_ticket *t)
{
	struct config *draft = c->draft;

	c->draft = NULL;
	if (!draft)
		return 0;
	if (changed <= 0 || c->dry) {
		config_destroy(draft);
		return 0;
	}
	/* A guard the change is about is checked first: refused there, nothing changes. */
	if (c->needs_guard && p->gd && guard_apply(p->gd, draft, c->err, sizeof(c->err))) {
		config_destroy(draft);
		return -EINVAL;
	}
	reset_new_slots(p, draft);
	publish(p, draft, c->needs_guard, out);
	commit(p, draft);
	if (t) {
		*t = (struct change_ticket){.gen = p->live->gen};
		t->save = c->save_later ? 0 : change_save(p);
	} else if (!c->save_later) {
		change_save(p);
	}
	return 1;
}

int change_run(struct change_pipe *p, int (*fn)(struct config *draft, void *arg), void *arg,
	       struct change_ticket *t)
{
	struct config *before = p->share ? config_clone(p->live) : NULL;
	struct change c;
	int n = change_begin(p, &c, false), published = 0;

	if (!n) {
		n = fn(c.draft, arg);
		published = change_end(p, &c, n, NULL, t);
	}
	if (published < 0) {
		pr_warn("%s", c.err);
		n = -EINVAL;
	}
	/* Made here at once (a trip protects users even without the store), then shared. */
	if (published > 0 && before)
		p->share(p->owner, before, p->live);
	config_destroy(before);
	return n;
}

int change_poll(struct change_pipe *p, struct change_ticket *t, uint64_t now_ns)
{
	int saved;

	if (!t->force_ns &&
	    (!p->ops || !p->ops->everywhere || p->ops->everywhere(p->owner) >= t->gen))
		t->force_ns = now_ns;
	saved = t->save ? change_saved(p, t->save) : 0;
	return !t->force_ns ? 1 : saved;
}

/* Without the saver thread: the text written here, its outcome kept for the reply. */
static void save_now(struct change_pipe *p, char *text, size_t len)
{
	int err = state_write(p->live->state, text, len);

	free(text);
	if (err)
		pr_warn("ctl: route table not saved to %s: %s", p->live->state, strerror(-err));
	p->sync_tried = p->save_id;
	p->sync_err = err;
	if (!err)
		p->sync_ok = p->save_id;
}

uint64_t change_save(struct change_pipe *p)
{
	size_t len;
	char *text;
	int err = state_text(p->live, p->applied, &text, &len);

	p->save_id++;
	if (err) {
		pr_warn("ctl: route table not saved to %s: %s", p->live->state, strerror(-err));
		p->sync_tried = p->save_id;
		p->sync_err = err;
	} else if (p->saver) {
		saver_submit(p->saver, p->live->state, text, len, p->save_id);
	} else {
		save_now(p, text, len);
	}
	return p->save_id;
}

int change_saved(struct change_pipe *p, uint64_t id)
{
	if (p->saver && p->sync_tried < id)
		return saver_status(p->saver, id);
	return p->sync_ok >= id ? 0 : p->sync_tried >= id ? p->sync_err : 1;
}
