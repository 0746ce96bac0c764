/* SPDX-License-Identifier: GPL-2.0-only */
/* The XDP guard's configuration lines (xdp, deny, allow, limit syn|packets): guardlines.c. */
#ifndef STRG_GUARDLINES_H
#define STRG_GUARDLINES_H

#include <stddef.h>

struct config;

/*
 * One of the guard's lines as the configuration has it, applied to cfg: for the state file and
 * strgctl. -EINVAL with the message in err (a line of another directive is refused).
 */
int guard_config_words(struct config *cfg, int argc, char **argv, char *err, size_t errlen);

#endif
