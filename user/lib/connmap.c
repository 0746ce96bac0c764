// SPDX-License-Identifier: GPL-2.0-only
/* Socket cookie -> connection map: linear probing with backward-shift deletion (no tombstones). */
#include <errno.h>
#include <stdlib.h>

#include "lib/connmap.h"

static size_t slot_of(const struct connmap *m, uint64_t key)
{
	/* Cookies are sequential: mix them so neighbours do not share a probe run. */
	key ^= key >> 33;
	key *= 0xff51afd7ed558ccdull;
	key ^= key >> 33;
	return (size_t)key & (m->cap - 1);
}

static int grow(struct connmap *m)
{
	struct connmap bigger = {.cap = m->cap ? m->cap * 2 : 256};

	bigger.keys = calloc(bigger.cap, sizeof(*bigger.keys));
	bigger.vals = calloc(bigger.cap, sizeof(*bigger.vals));
	if (!bigger.keys || !bigger.vals) {
		free(bigger.keys);
		free(bigger.vals);
		return -ENOMEM;
	}
	for (size_t i = 0; i < m->cap; i++)
		if (m->keys[i])
			connmap_put(&bigger, m->keys[i], m->vals[i]);
	connmap_free(m);
	*m = bigger;
	return 0;
}

int connmap_put(struct connmap *m, uint64_t key, void *val)
{
	size_t i;

	/* Up to three quarters full: probe runs stay short, idle connections cost little. */
	if ((m->n + 1) * 4 > m->cap * 3 && grow(m))
		return -ENOMEM;
	for (i = slot_of(m, key); m->keys[i]; i = (i + 1) & (m->cap - 1))
		;
	m->keys[i] = key;
	m->vals[i] = val;
	m->n++;
	return 0;
}

void *connmap_get(const struct connmap *m, uint64_t key)
{
	if (!m->cap || !key)
		return NULL;
	for (size_t i = slot_of(m, key); m->keys[i]; i = (i + 1) & (m->cap - 1))
		if (m->keys[i] == key)
			return m->vals[i];
	return NULL;
}

void connmap_del(struct connmap *m, uint64_t key)
{
	size_t i, j, home, mask = m->cap - 1;

	if (!m->cap || !key)
		return;
	for (i = slot_of(m, key); m->keys[i] != key; i = (i + 1) & mask)
		if (!m->keys[i])
			return;
	/* Shift later members of the probe run back so lookups never stop at a hole. */
	for (j = (i + 1) & mask; m->keys[j]; j = (j + 1) & mask) {
		home = slot_of(m, m->keys[j]);
		if (((j - home) & mask) >= ((j - i) & mask)) {
			m->keys[i] = m->keys[j];
			m->vals[i] = m->vals[j];
			i = j;
		}
	}
	m->keys[i] = 0;
	m->vals[i] = NULL;
	m->n--;
}

void connmap_free(struct connmap *m)
{
	free(m->keys);
	free(m->vals);
	m->keys = NULL;
	m->vals = NULL;
	m->cap = 0;
	m->n = 0;
}
