/* SPDX-License-Identifier: GPL-2.0-only */
/* Growing arrays: the one way strg makes room in an array that grows by doubling. */
#ifndef STRG_GROW_H
#define STRG_GROW_H

#include <stddef.h>

/*
 * Room for want elements of size bytes in the array v of capacity *cap: v itself when it has
 * it; else v reallocated to a capacity doubled (from first, when *cap is 0) until it holds want,
 * the new elements zeroed and *cap updated. NULL when out of memory (or the size overflows):
 * then v and *cap are untouched and still valid.
 */
void *grow_array(void *v, size_t *cap, size_t want, size_t size, size_t first);

#endif
