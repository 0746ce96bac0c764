/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The one way the running configuration changes, whoever asks (a strgctl command, a reload, a
 * rollback trip, the fleet store): draft -> check -> publish -> commit -> save.
 *
 *   draft    change_begin(): a copy of the live configuration; the maker edits only that
 *   check    the maker refuses bad words before it edits; a dry run stops here (the draft is
 *            dropped, nothing is published), so --dry-run says what the same edit would do
 *   publish  change_end(): the kernel's route table and the XDP guard follow the draft (a guard
 *            the change needs, xdp attach, refuses it whole when it cannot take it); routes new
 *            to the table start from clean counters
 *   commit   the daemon makes the draft every worker's configuration (change_ops.commit)
 *   save     the state file's text goes to the writer thread; a ticket follows the change until
 *            it is in force on every worker and on disk (change_poll)
 *
 * How "strgctl route set GET /v1/x modern" walks through strgd:
 *   cli/strgctl.c checks the words against the verb table (control/ctlverbs.c) and sends the line
 *   -> lib/reqsrv.c reads it on worker 0's ring -> control/ctlsrv.c hands it to ctl_execute()
 *   -> control/ctl.c splits it, finds the verb in the table, checks the peer may change strgd,
 *      and runs it as a change: change_begin(), the handler, change_end()
 *   -> control/ctlroute.c's handler parses the route into the draft and writes the reply's text
 *      (control/ctlreply.c); it publishes and commits nothing itself
 *   -> change_end() publishes (kernel/splice.c, kernel/guard.c), commits through the daemon's ops
 *      (daemon/proxy.c tells every worker) and hands the state text to control/saver.c
 *   -> reqsrv holds the reply until ctl_reply_ready() sees change_poll() say in force on every
 *      worker and saved, then sends it.
 * Nothing in that walk calls back up: the daemon gives the pipeline its commit as an ops table.
 *
 * A source of whole tables (the fleet store) calls change_run() with a function that makes the
 * draft the table, keeps the ticket, and answers when change_poll() returns 0 (or < 0).
 */
#ifndef STRG_CHANGE_H
#define STRG_CHANGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "lib/reply.h"

struct splice;
struct guard;
struct stats;
struct saver;

/* What the daemon does for the pipeline (owner is its own context). */
struct change_ops {
	/* Make draft the live configuration of every worker; it sets draft->gen. */
	void (*commit)(void *owner, struct config *draft);
	/* The configuration generation every worker runs with by now (NULL: at once). */
	uint64_t (*everywhere)(void *owner);
};

/* The pipeline of one strgd: the configuration in force and where a change is published. */
struct change_pipe {
	struct config *live;	/* in force: replaced by each commit */
	struct config *applied; /* the configuration file applied last (owned by the daemon) */
	struct splice *sp;	/* the kernel's route table (NULL: no BPF) */
	struct guard *gd;	/* the XDP guard (NULL: not loaded) */
	struct stats *st;	/* the counters, per route slot (NULL: none) */
	struct limiter *lim;	/* the routes' rate-limit buckets (NULL: none) */
	struct saver *saver;	/* writes the state file (NULL: written here, at once) */
	const struct change_ops *ops;
	void *owner;
	bool restarting; /* a successor has read the state file: changes are refused */
	/*
	 * In a fleet (NULL otherwise): a change made by change_run() (a rollback's trip, a
	 * reload) is shared with the other hosts through the store, once in force here.
	 */
	void (*share)(void *owner, const struct config *before, const struct config *after);
	uint64_t save_id; /* the last state text handed to the saver (ascending) */
	/* Without a saver, the pipeline's own writes: the last text tried, on disk, its error. */
	uint64_t sync_tried, sync_ok;
	int sync_err;
};

/* One change under way. */
struct change {
	struct config *draft; /* what the maker edits */
	bool dry;	      /* check only: dropped at the end, nothing published */
	bool needs_guard;     /* refused whole unless the guard takes the draft (xdp attach) */
	bool save_later;      /* its maker saves later (change_save): the fleet's tables */
	char err[256];	      /* why change_end() refused it */
};

/* Where a published change is on its way to in force and saved. */
struct change_ticket {
	uint64_t gen;	   /* the generation every worker must run with */
	uint64_t save;	   /* its state text (0: none to wait for) */
	uint64_t force_ns; /* when it was seen in force everywhere (0: not yet) */
};

/* A draft of the live configuration; 0, -EBUSY (restarting, unless dry) or -ENOMEM. */
int change_begin(struct change_pipe *p, struct change *c, bool dry);
/*
 * The end of a change: changed > 0 and not dry, it is published, committed and saved (t, when
 * not NULL, follows it); else the draft is dropped. Warnings (the kernel's table could not
 * follow...) are appended to out as "warning: ..." lines, or logged when out is NULL. Returns
 * 1 when published, 0 when dropped, -EINVAL when the publication refused it (why in c->err:
 * the live configuration is as it was).
 */
int change_end(struct change_pipe *p, struct change *c, int changed, struct reply *out,
	       struct change_ticket *t);
/*
 * One whole change outside a command (reload, a rollback trip, a table from the fleet store):
 * fn edits the draft and returns > 0 when it changed something, 0 when not, < 0 when it failed
 * (the live configuration stays as it was). Warnings go to the log; t (when not NULL) follows
 * the change to in force (change_poll). Returns fn's, -EBUSY (restarting) or -ENOMEM.
 */
int change_run(struct change_pipe *p, int (*fn)(struct config *draft, void *arg), void *arg,
	       struct change_ticket *t);
/*
 * Where t is at now_ns: 1 while it is not yet in force on every worker or its save is to come, 0
 * once in force and saved, -errno when in force but its state text could not be written.
 */
int change_poll(struct change_pipe *p, struct change_ticket *t, uint64_t now_ns);
/* Hand the live table to the state file's writer; the id to follow its save with. */
uint64_t change_save(struct change_pipe *p);
/* State text id: 1 while its write is to come, 0 once it (or a later one) is on disk, -errno. */
int change_saved(struct change_pipe *p, uint64_t id);

#endif
