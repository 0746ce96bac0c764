/* SPDX-License-Identifier: GPL-2.0-only */
/* Shared by the sleep tracer and its loader: how deep a kernel stack it keeps. */
#ifndef STRG_KTEST_BLOCKED_H
#define STRG_KTEST_BLOCKED_H

#define BLOCKED_STACK 16 /* return addresses kept of the first uninterruptible sleep */

#endif
