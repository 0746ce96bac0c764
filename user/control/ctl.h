/* SPDX-License-Identifier: GPL-2.0-only */
/* The control socket: strgctl's commands, executed against the running configuration. */
#ifndef STRG_CTL_H
#define STRG_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "core/config.h"
#include "lib/reply.h"
#include "observe/metrics.h"

#define CTL_SOCKET_DEFAULT CONFIG_CONTROL_DEFAULT
/* Longest command line strgd accepts (the newline included); longer ones are refused whole. */
#define CTL_LINE_MAX 4096
/* How long strgctl restart waits for the new strgd to say it serves. */
#define CTL_RESTART_WAIT_NS (15 * 1000000000ull)

struct metrics;
struct rollback;
struct splice;
struct guard;
struct stats;

struct worker;

/*
 * What a command works on: the live configuration and, when loaded, the kernel path. A change
 * is made on a copy of the configuration (a draft, in cfg while its handler runs) and committed
 * whole: every worker then runs with it, and the reply waits until every one does.
 */
struct ctl_env {
	struct config *cfg; /* the live configuration, or the draft of a change */
	struct splice *sp;
	struct guard *gd;    /* the XDP guard (NULL: not loaded) */
	struct saver *saver; /* writes the state file (NULL: ctl_save writes it) */
	struct stats *st;
	struct metrics *metrics;   /* the rates' samples (worker 0's timer takes them) */
	struct rollback *rollback; /* automatic rollback's watch (worker 0's timer) */
	/* Make draft the live configuration of every worker (the owner's loop does it). */
	void (*commit)(struct ctl_env *env, struct config *draft);
	/* The configuration generation every worker runs with by now. */
	uint64_t (*everywhere)(struct ctl_env *env);
	uint64_t wait_gen; /* the generation the last change's reply waits for */
	uint64_t save_id;  /* the last state text handed to the saver (ascending) */
	/* Without a saver, ctl_save's own writes: the last text tried, on disk, its error. */
	uint64_t sync_tried, sync_ok;
	int sync_err;
	/*
	 * strgctl restart: begin one (0, or -errno with err), whose outcome comes later: the
	 * owner then calls ctl_restart_done(), which lets its held reply go.
	 */
	int (*restart)(struct ctl_env *env, char *err, size_t errlen);
	bool restarting;	/* a successor starts (or serves): changes are refused */
	uint64_t restarts;	/* restarts begun */
	uint64_t restarts_done; /* and finished, their reply in restart_said */
	char restart_said[400]; /* "ok\n..." or "error: ...\n" */
	unsigned nworkers;	/* for views of which worker holds what */
	struct worker *const *workers;
	const char *config_path; /* what "reload" reads again */
	struct config *applied;	 /* the configuration applied last (owned by the caller) */
};

/* What a reply waits for before it goes (ctl_reply_ready()). */
enum ctl_wait {
	CTL_WAIT_NONE = 0,
	CTL_WAIT_CHANGE = 1,  /* in force on every worker, and its state text written or failed */
	CTL_WAIT_RESTART = 2, /* the restart it began has finished */
};

/*
 * A command's reply: "ok\n" and the output, or "error: message\n", and what it waits for. The
 * text comes first, so that the small server (reqsrv.h) sends it as its struct reply.
 */
struct ctl_reply {
	struct reply text;
	enum ctl_wait wait; /* what it waits for */
	uint64_t gen;	    /* a change: the generation every worker must run with */
	uint64_t save;	    /* a change: its state text (0: none to wait for) */
	uint64_t t0_ns;	    /* when the command came (CLOCK_MONOTONIC) */
	uint64_t force_ns;  /* when it was seen in force everywhere (0: not yet) */
	char what[300];	    /* a change: "uid U pid P: COMMAND", for its log line */
};

/*
 * Execute one command line (modified in place) for peer; the reply starts with "ok" or
 * "error: message". Returns 0, or -errno when the command failed (the reply says why).
 */
int ctl_execute(struct ctl_env *env, const struct ucred *peer, char *line, struct ctl_reply *r);
/*
 * Change the configuration outside a command (a reload on SIGHUP): fn works on a draft of it
 * and returns > 0 when it changed something, which is then published (the kernel's table, the
 * state file) and committed; 0 or < 0 leave the live configuration as it was. Returns fn's.
 */
int ctl_change(struct ctl_env *env, int (*fn)(struct config *draft, void *arg), void *arg);
/*
 * Whether r may go now. A change's reply goes once the change is in force on every worker and
 * its state text is written or failed: then it says whether the change is on disk (an error
 * reply, "in force, but not saved", when not) and its log line is written with both times.
 */
bool ctl_reply_ready(struct ctl_env *env, struct ctl_reply *r);
/* Hand the live table to the state file's writer; the id to follow its save with. */
uint64_t ctl_save(struct ctl_env *env);
/* State text id: 1 while its write is to come, 0 once it (or a later one) is on disk, -errno. */
int ctl_saved(struct ctl_env *env, uint64_t id);
/* The restart begun last has finished: said is its reply ("ok\n..." or "error: ...\n"). */
void ctl_restart_done(struct ctl_env *env, const char *said);
/* What the views of the counters are read from (metrics_collect), as of now. */
void ctl_metrics_src(const struct ctl_env *env, struct metrics_src *src);
/* Append to a reply (it grows as needed; out of memory, it says so instead). */
void ctl_replyf(struct ctl_reply *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Make the reply a one-line error (for refusals before a command runs). */
void ctl_reply_error(struct ctl_reply *r, const char *msg);
void ctl_reply_free(struct ctl_reply *r);

/*
 * Bind the control socket at path: mode 0600 in a 0750 directory, or 0660 / 0750 owned by group
 * gid when one may reach it (gid -1: root only). -EADDRINUSE when a live process answers there
 * (its pid in *holder). Returns the fd or -errno.
 */
int ctl_listen(const char *path, int gid, pid_t *holder);

#endif
