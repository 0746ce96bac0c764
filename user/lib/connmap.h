/* SPDX-License-Identifier: GPL-2.0-only */
/* A small open-addressing map from 64-bit socket cookies to connections. */
#ifndef STRG_CONNMAP_H
#define STRG_CONNMAP_H

#include <stddef.h>
#include <stdint.h>

struct connmap {
	uint64_t *keys; /* 0 = empty slot (socket cookies are never 0) */
	void **vals;
	size_t cap; /* power of two */
	size_t n;
};

/* 0 or -ENOMEM; key must not be 0 and must not be present. */
int connmap_put(struct connmap *m, uint64_t key, void *val);
/* The value for key, or NULL. */
void *connmap_get(const struct connmap *m, uint64_t key);
/* Remove key if present. */
void connmap_del(struct connmap *m, uint64_t key);
void connmap_free(struct connmap *m);

#endif
