/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Prometheus' text format 0.0.4, the pieces every view that writes it shares: a family's HELP
 * and TYPE lines and an escaped label value. Below metrics and shadowview, which both write it.
 */
#ifndef STRG_PROMTEXT_H
#define STRG_PROMTEXT_H

#include "lib/reply.h"

/* A family's "# HELP" and "# TYPE" lines (type: "counter", "gauge", "histogram"). */
void promtext_help(struct reply *r, const char *name, const char *type, const char *text);
/* A label value, escaped (backslash, double quote, newline). */
void promtext_label(struct reply *r, const char *s);

#endif
