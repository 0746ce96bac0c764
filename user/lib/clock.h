/* SPDX-License-Identifier: GPL-2.0-only */
/* The one clock strgd and strgctl measure time with: CLOCK_MONOTONIC, in nanoseconds. */
#ifndef STRG_CLOCK_H
#define STRG_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t ms_ns(uint32_t ms)
{
	return (uint64_t)ms * 1000000ull;
}

#endif
