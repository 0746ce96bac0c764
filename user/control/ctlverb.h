/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The types of the control verbs, for the dispatcher (ctl.c), the verb modules and the table
 * (ctlverbs.h): what a command works on, its words, a verb's entry. A handler answers through
 * ctlreply.h. One that changes strgd edits a->cfg, a draft that the change pipeline (change.h)
 * publishes and commits once the handler returns > 0 (changed), or drops when it returns 0
 * (nothing changed, or --dry-run) or < 0 (failed, after ctl_fail). Under --dry-run the handler
 * makes the same edit and words its reply "would ...".
 */
#ifndef STRG_CTLVERB_H
#define STRG_CTLVERB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "control/change.h"
#include "control/ctlreply.h"

struct metrics;
struct metrics_store;
struct ucred;
struct rollback;
struct worker;

/* What the daemon does for the commands (owner is its own context). */
struct ctl_ops {
	/*
	 * strgctl restart: begin one (0, or -errno with err), whose outcome comes later: the
	 * owner then calls ctl_restart_done(), which lets its held reply go.
	 */
	int (*restart)(void *owner, char *err, size_t errlen);
};

/*
 * What a command works on: the change pipeline (the live configuration, the kernel path, the
 * state file) and the views' sources. A change is made on a draft and committed whole by the
 * pipeline (change.h): every worker then runs with it, and the reply waits until every one does.
 */
struct ctl_env {
	struct change_pipe chg;
	struct metrics *metrics;   /* the rates' samples (worker 0's timer takes them) */
	struct rollback *rollback; /* automatic rollback's watch (worker 0's timer) */
	const struct ctl_ops *ops; /* NULL: no restart here */
	void *owner;
	uint64_t restarts;	/* restarts begun */
	uint64_t restarts_done; /* and finished, their reply in restart_said */
	char restart_said[400]; /* "ok\n..." or "error: ...\n" */
	unsigned nworkers;	/* for views of which worker holds what */
	struct worker *const *workers;
	const char *config_path; /* what "reload" reads again */
	/*
	 * In a fleet (NULL otherwise): a change of the pools and routes goes to the store in one
	 * transaction and is in force here once this host runs the revision written. submit
	 * returns a ticket (> 0), 0 when the draft's table is live's, or -errno (why in err);
	 * outcome: 1 on its way, 0 in force (*rev), -errno with why in msg (-ECANCELED: conflict).
	 */
	int64_t (*store_submit)(struct ctl_env *env, const struct config *live,
				const struct config *draft, bool orphan, char *err, size_t errlen);
	int (*store_outcome)(struct ctl_env *env, int64_t ticket, int64_t *rev, char *msg,
			     size_t len);
	/* In a fleet, --dry-run: the store transaction the change would write, in words. */
	int (*store_preview)(struct ctl_env *env, const struct config *live,
			     const struct config *draft, struct reply *out);
	/* In a fleet: the view of it for "fleet" (fleet/store.h, store_view()). */
	json_t *(*fleet_view)(struct ctl_env *env);
	/* In a fleet: the store's numbers for the metrics (metrics_src.read_store). */
	void (*read_store)(void *ctx, struct metrics_store *out);
	void *store_ctx;
};

/* Most words in a command line. */
#define CTL_MAX_WORDS 64

/* The words of a command after its noun and verb, the options taken out of them. */
struct ctl_args {
	int argc;
	char **argv; /* argv[0] is the verb */
	bool json;
	bool dry;
	bool force;	    /* --force: a change that leaves a pool without a backend that serves */
	struct config *cfg; /* a view: the live configuration; a change: its draft */
	struct change *change;	  /* a change: the one under way (NULL for a view) */
	const struct ucred *peer; /* who asked (the control socket's SO_PEERCRED) */
};

enum ctl_verb_flags {
	CTL_CHANGES = 1,  /* changes strgd: root or the change group; --dry-run allowed */
	CTL_JSON = 2,	  /* has a JSON view (-j) */
	CTL_LOCAL = 4,	  /* strgctl runs it itself, from other commands' replies */
	CTL_NO_DRAFT = 8, /* a change of strgd itself, not of its configuration (restart) */
	CTL_FORCE = 16,	  /* takes --force (may leave a pool without a backend that serves) */
};

/* A verb's handler: > 0 changed, 0 not, < 0 failed (the reply says why). */
typedef int ctl_handler(struct ctl_env *env, struct ctl_args *a, struct ctl_reply *r);

struct ctl_verb {
	const char *noun, *verb; /* verb NULL: the noun alone ("reload") */
	const char *args;	 /* the arguments, as usage lines show them */
	const char *help;	 /* what it does, one or two lines */
	unsigned flags;		 /* enum ctl_verb_flags */
	ctl_handler *run;	 /* NULL in strgctl */
};

/* An entry of a module's list of verbs: CTL_ROUTE_VERBS(CTL_VERB) and the like. */
#ifdef CTL_VERBS_TEXT
#define CTL_VERB(noun, verb, args, help, flags, run) {noun, verb, args, help, flags, NULL},
#else
#define CTL_VERB(noun, verb, args, help, flags, run) {noun, verb, args, help, flags, run},
#endif

#endif
