// SPDX-License-Identifier: GPL-2.0-only
/*
 * The control socket's commands: one text line in ("route set GET /v1/x modern"), one reply
 * out whose first line is "ok" or "error: ...". The verbs come from their modules' lists
 * (ctlverbs.h); a change needs a root peer (or the change group), is made on a draft that the
 * change pipeline publishes and commits (change.h), and is logged with the peer's uid and pid.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/change.h"
#include "control/ctl.h"
#include "control/ctlreply.h"
#include "control/ctlverb.h"
#include "control/ctlverbs.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "lib/words.h"

static int execute(struct ctl_env *env, const struct ucred *peer, char *line, struct ctl_reply *r);

void ctl_restart_done(struct ctl_env *env, const char *said)
{
	snprintf(env->restart_said, sizeof(env->restart_said), "%s", said);
	env->restarts_done = env->restarts;
}

/* Split in place into words; flags -j, --dry-run and --force are taken out wherever they stand. */
static int split(char *line, char **argv, struct ctl_args *a)
{
	char *words[CTL_MAX_WORDS + 3]; /* room for the flags */
	int n = words_split(line, words, CTL_MAX_WORDS + 3, false), argc = 0;

	for (int i = 0; i < n; i++) {
		if (!strcmp(words[i], "-j"))
			a->json = true;
		else if (!strcmp(words[i], "--dry-run"))
			a->dry = true;
		else if (!strcmp(words[i], "--force"))
			a->force = true;
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

/* Why a command is refused before it runs; NULL when it may run. */
static const char *refusal(const struct ctl_env *env, const struct ctl_verb *v,
			   const struct ctl_args *a, const struct ucred *peer, char *buf,
			   size_t len)
{
	const char *name = v->verb ? v->verb : "";

	if (a->json && !(v->flags & CTL_JSON))
		snprintf(buf, len, "%s %s: has no JSON view (-j)", v->noun, name);
	else if (a->dry && !(v->flags & CTL_CHANGES))
		snprintf(buf, len, "%s %s: changes nothing (--dry-run)", v->noun, name);
	else if (a->force && !(v->flags & CTL_FORCE))
		snprintf(buf, len, "%s %s: --force goes with backend set and backend del", v->noun,
			 name);
	/* Changes: root or the change group, and every one leaves a line in the log. */
	else if ((v->flags & CTL_CHANGES) && peer->uid != 0 &&
		 !in_group(peer, env->chg.live->control_change_gid))
		snprintf(buf, len, "permission denied: uid %u may not change strgd", peer->uid);
	else if ((v->flags & CTL_CHANGES) && !a->dry && env->chg.restarting)
		snprintf(buf, len,
			 "strgd is restarting (strgctl restart): nothing changed; make the change "
			 "again once the restart has answered");
	else
		return NULL;
	return buf;
}

/*
 * In a fleet: what the handler changed in the pools and routes is not published here but
 * written to the store, and the reply waits until this host runs the revision written
 * (CTL_WAIT_STORE). A change of the rest (the guard) is this host's own, as without a store.
 */
static int run_store_change(struct ctl_env *env, const struct ctl_verb *v, struct ctl_args *a,
			    struct change *c, struct ctl_reply *r)
{
	int64_t ticket = 0;
	char err[320];
	int ret, published;

	if (change_begin(&env->chg, c, false))
		return ctl_fail(r, "out of memory for the change");
	a->cfg = c->draft;
	a->change = c;
	ret = v->run(env, a, r);
	if (ret > 0)
		ticket = env->store_submit(env, env->chg.live, c->draft, false, err, sizeof(err));
	published = change_end(&env->chg, c, ticket ? 0 : ret, &r->text, &r->ticket);
	if (published < 0)
		return ctl_fail(r, "%s", c->err);
	if (ticket < 0)
		return ctl_fail(r, "%s: nothing changed", err);
	if (ticket > 0) {
		r->wait = CTL_WAIT_STORE;
		r->store_ticket = ticket;
		r->store_rev = 0;
	} else if (published > 0) {
		r->wait = CTL_WAIT_CHANGE;
	}
	return ret < 0 ? ret : 0;
}

/*
 * A change written to the store: its reply goes once this host runs the revision written, on
 * every worker (worker 0 puts it in force, the others follow at their next turn), or failed.
 */
static bool store_ready(struct ctl_env *env, struct ctl_reply *r)
{
	const struct change_ops *ops = env->chg.ops;
	char msg[320];
	int64_t rev = 0;
	int ret;

	if (!r->store_rev) {
		ret = env->store_outcome(env, r->store_ticket, &rev, msg, sizeof(msg));
		if (ret == 1)
			return false;
		if (ret < 0) {
			ctl_fail(r, "%s", msg);
			pr_warn("ctl: %s: %s", r->what, msg);
			r->wait = CTL_WAIT_NONE;
			return true;
		}
		/* Run by worker 0 by now: the generation the other workers must reach. */
		r->store_rev = rev;
		r->ticket.gen = env->chg.live->gen;
	}
	if (ops && ops->everywhere && ops->everywhere(env->chg.owner) < r->ticket.gen)
		return false;
	ctl_replyf(r, "in force here at store revision %lld\n", (long long)r->store_rev);
	pr_info("ctl: %s (store revision %lld, in force here after %llu us)", r->what,
		(long long)r->store_rev, (unsigned long long)(now_ns() - r->t0_ns) / 1000);
	r->wait = CTL_WAIT_NONE;
	return true;
}

/*
 * A change of the configuration: the handler edits a draft, the pipeline publishes and commits
 * it (or drops it: nothing changed, --dry-run, a failure); the reply then waits for it.
 */
static int run_change(struct ctl_env *env, const struct ctl_verb *v, struct ctl_args *a,
		      struct change *c, struct ctl_reply *r)
{
	int ret, published;

	if (env->store_submit && !a->dry)
		return run_store_change(env, v, a, c, r);
	if (change_begin(&env->chg, c, a->dry))
		return ctl_fail(r, "out of memory for the change");
	a->cfg = c->draft;
	a->change = c;
	ret = v->run(env, a, r);
	published = change_end(&env->chg, c, ret, &r->text, &r->ticket);
	if (published < 0)
		return ctl_fail(r, "%s", c->err);
	/* The reply goes once the change is in force everywhere and its save is known. */
	if (published > 0)
		r->wait = CTL_WAIT_CHANGE;
	return ret < 0 ? ret : 0;
}

/* A command refused or failed, for the audit: who, what, why (the reply's first line). */
static void audit(const struct ucred *peer, const char *what, const struct ctl_reply *r)
{
	const char *why = r->text.len > 7 ? r->text.buf + 7 : "refused";

	pr_warn("ctl: refused: uid %u pid %d: %s: %.*s", peer->uid, peer->pid, what,
		(int)strcspn(why, "\n"), why);
}

int ctl_execute(struct ctl_env *env, const struct ucred *peer, char *line, struct ctl_reply *r)
{
	char what[256];
	int ret;

	snprintf(what, sizeof(what), "%s", line);
	what[strcspn(what, "\r\n")] = '\0';
	ret = execute(env, peer, line, r);
	if (ret < 0 && r->text.len > 7 && !strncmp(r->text.buf, "error: ", 7))
		audit(peer, what, r);
	return ret;
}

/* One command line: refused, run as a change on a draft, or run on the live configuration. */
static int execute(struct ctl_env *env, const struct ucred *peer, char *line, struct ctl_reply *r)
{
	char *argv[CTL_MAX_WORDS], logline[256], why[256];
	struct ctl_args a = {0};
	const struct ctl_verb *v;
	struct change c;
	int argc, used = 0, ret;

	r->text.len = 0;
	r->t0_ns = now_ns();
	snprintf(logline, sizeof(logline), "%s", line);
	logline[strcspn(logline, "\r\n")] = '\0';
	argc = split(line, argv, &a);
	if (argc < 0)
		return ctl_fail(r, "too many words (max %d)", CTL_MAX_WORDS);
	v = ctl_verb_find(argc, argv, &used);
	if (!v)
		return ctl_fail(r, "unknown command '%s' (try strgctl help)", logline);
	if (refusal(env, v, &a, peer, why, sizeof(why)))
		return ctl_fail(r, "%s", why);
	a.peer = peer;
	/* The handler sees the word that named the verb first: "set", "del", "reload"... */
	a.argc = argc - (used - 1);
	a.argv = argv + (used - 1);
	if ((v->flags & CTL_CHANGES) && !(v->flags & CTL_NO_DRAFT)) {
		ret = run_change(env, v, &a, &c, r);
		snprintf(r->what, sizeof(r->what), "uid %u pid %d: %s", peer->uid, peer->pid,
			 logline);
		return ret;
	}
	a.cfg = env->chg.live;
	ret = v->run(env, &a, r);
	return ret < 0 ? ret : 0;
}

/* A change's reply when its state text could not be written: an error that says it is in force. */
static void reply_unsaved(struct ctl_env *env, struct ctl_reply *r, int err)
{
	char *was = r->text.len > 3 ? strndup(r->text.buf + 3, r->text.len - 3) : NULL;

	r->text.len = 0;
	ctl_replyf(r,
		   "error: in force, but not saved to %s (%s): a restart would lose it, and strgd "
		   "refuses to restart until the table is saved\n%s",
		   env->chg.live->state, strerror(-err), was ? was : "");
	free(was);
}

bool ctl_reply_ready(struct ctl_env *env, struct ctl_reply *r)
{
	uint64_t now;
	int done;

	if (r->wait == CTL_WAIT_RESTART) {
		if (env->restarts_done < r->restart)
			return false;
		r->text.len = 0;
		ctl_replyf(r, "%s", env->restart_said);
		r->wait = CTL_WAIT_NONE;
		return true;
	}
	if (r->wait == CTL_WAIT_STORE)
		return store_ready(env, r);
	if (r->wait != CTL_WAIT_CHANGE)
		return true;
	now = now_ns();
	done = change_poll(&env->chg, &r->ticket, now);
	if (done == 1)
		return false;
	if (done < 0) {
		reply_unsaved(env, r, done);
		pr_warn("ctl: %s (in force after %llu us, NOT saved to %s: %s)", r->what,
			(unsigned long long)(r->ticket.force_ns - r->t0_ns) / 1000,
			env->chg.live->state, strerror(-done));
	} else {
		pr_info("ctl: %s (in force after %llu us, saved after %llu us)", r->what,
			(unsigned long long)(r->ticket.force_ns - r->t0_ns) / 1000,
			(unsigned long long)(now - r->t0_ns) / 1000);
	}
	r->wait = CTL_WAIT_NONE;
	return true;
}
