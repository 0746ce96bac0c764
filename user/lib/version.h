/* SPDX-License-Identifier: GPL-2.0-only */
/* The strg release version shared by strgd and strgctl. */
#ifndef STRG_VERSION_H
#define STRG_VERSION_H

#define STRG_VERSION "0.1.0"

#endif
