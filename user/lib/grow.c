// SPDX-License-Identifier: GPL-2.0-only
/* Growing arrays (grow.h). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/grow.h"

void *grow_array(void *v, size_t *cap, size_t want, size_t size, size_t first)
{
	size_t n = *cap ? *cap : (first ? first : 1);
	char *p;

	if (want <= *cap)
		return v;
	while (n < want) {
		if (n > SIZE_MAX / 2)
			return NULL;
		n *= 2;
	}
	if (size && n > SIZE_MAX / size)
		return NULL;
	p = realloc(v, n * size);
	if (!p)
		return NULL;
	memset(p + *cap * size, 0, (n - *cap) * size);
	*cap = n;
	return p;
}
