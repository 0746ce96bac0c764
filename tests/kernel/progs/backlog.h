/* SPDX-License-Identifier: GPL-2.0-only */
/* Shared by the psock-worker tracer and its loader: how many CPUs it counts per-CPU runs for. */
#ifndef STRG_KTEST_BACKLOG_H
#define STRG_KTEST_BACKLOG_H

#define BACKLOG_CPUS 64 /* runs on CPUs beyond this are counted in runs_other */

#endif
