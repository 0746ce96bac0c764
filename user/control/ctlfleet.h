/* SPDX-License-Identifier: GPL-2.0-only */
/* "fleet": the hosts sharing this one's table in etcd, a handler for ctl.c. */
#ifndef STRG_CTLFLEET_H
#define STRG_CTLFLEET_H

#include "control/ctl.h"

struct ctl_args;

int ctl_fleet_show(struct ctl_env *env, struct ctl_args *a, struct ctl_reply *r);

#endif
