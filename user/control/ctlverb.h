/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What a module of control verbs needs from ctl.c: the command's words, replies (text, JSON,
 * errors) and the publication of a change. A verb's handler works on env->cfg (a draft when the
 * verb changes strgd) and returns > 0 when it changed something (after ctl_publish), 0 when it
 * did not, < 0 when it failed (after ctl_fail).
 */
#ifndef STRG_CTLVERB_H
#define STRG_CTLVERB_H

#include <stdbool.h>
#include <jansson.h>

#include "control/ctl.h"

/* The words of a command after its noun and verb, and the options taken out of them. */
struct ctl_args {
	int argc;
	char **argv; /* argv[0] is the verb */
	bool json;
	bool dry;
	bool force; /* --force: a change that leaves a pool without a backend that serves */
};

/* Replace the reply with "error: message"; returns -EINVAL. */
int ctl_fail(struct ctl_reply *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append a JSON document and a newline; the reference is consumed. */
int ctl_reply_json(struct ctl_reply *r, json_t *doc);
/* A change made: in force in both data paths and the guard, then saved (warnings go to r). */
void ctl_publish(struct ctl_env *env, struct ctl_reply *r);

#endif
