/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A control command's reply: "ok\n" and the output, or "error: message\n", and what it waits
 * for before it goes. Every verb writes its reply through these (ctlreply.c).
 */
#ifndef STRG_CTLREPLY_H
#define STRG_CTLREPLY_H

#include <stdint.h>
#include <jansson.h>

#include "control/change.h"
#include "lib/reply.h"

/* What a reply waits for before it goes (ctl_reply_ready()). */
enum ctl_wait {
	CTL_WAIT_NONE = 0,
	CTL_WAIT_CHANGE = 1,  /* in force on every worker, and its state text written or failed */
	CTL_WAIT_RESTART = 2, /* the restart it began has finished */
	CTL_WAIT_STORE = 3,   /* written to the fleet's store, and in force here */
};

/*
 * A command's reply: "ok\n" and the output, or "error: message\n", and what it waits for. The
 * text comes first, so that the small server (reqsrv.h) sends it as its struct reply.
 */
struct ctl_reply {
	struct reply text;
	enum ctl_wait wait;	     /* what it waits for */
	struct change_ticket ticket; /* a change: on its way to in force and saved */
	uint64_t restart;	     /* a restart: the one it waits for */
	uint64_t t0_ns;		     /* when the command came (CLOCK_MONOTONIC) */
	char what[300];		     /* a change: "uid U pid P: COMMAND", for its log line */
	int64_t store_ticket;	     /* a change for the fleet's store: its ticket */
	int64_t store_rev;	     /* and the revision it was written at, once run here */
};

/* Append to a reply (it grows as needed; out of memory, it says so instead). */
void ctl_replyf(struct ctl_reply *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Replace the reply with "error: message"; returns -EINVAL. */
int ctl_fail(struct ctl_reply *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append a JSON document and a newline; the reference is consumed. */
int ctl_reply_json(struct ctl_reply *r, json_t *doc);
/* Make the reply a one-line error (for refusals before a command runs). */
void ctl_reply_error(struct ctl_reply *r, const char *msg);
void ctl_reply_free(struct ctl_reply *r);

#endif
