/* SPDX-License-Identifier: GPL-2.0-only */
/* The XDP guard's control verbs (ctl_verbs[]: xdp, deny, allow, limit), handlers for ctl.c. */
#ifndef STRG_CTLGUARD_H
#define STRG_CTLGUARD_H

#include "control/ctl.h"

struct ctl_args;

int ctl_xdp_show(struct ctl_env *env, struct ctl_args *a, struct ctl_reply *r);
int ctl_xdp_change(struct ctl_env *env, struct ctl_args *a, struct ctl_reply *r);
int ctl_cidr_show(struct ctl_env *env, struct ctl_args *a, struct ctl_reply *r);
int ctl_cidr_change(struct ctl_env *env, struct ctl_args *a, struct ctl_reply *r);
int ctl_limit_set(struct ctl_env *env, struct ctl_args *a, struct ctl_reply *r);
int ctl_limit_show(struct ctl_env *env, struct ctl_args *a, struct ctl_reply *r);

#endif
