// SPDX-License-Identifier: GPL-2.0-only
/*
 * Open connections per source address (srclimit.h): a hash table of addresses and counts,
 * linear probing with backward-shift deletion, under one lock (taken at accept and close).
 */
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/srclimit.h"

struct slot {
	uint8_t addr[16]; /* IPv4 as ::ffff:a.b.c.d */
	uint32_t count;	  /* 0: free */
};

struct srclimit {
	pthread_mutex_t lock;
	unsigned max;
	size_t cap, n; /* slots, used slots */
	struct slot *slots;
	unsigned long refused;
};

struct srclimit *srclimit_new(unsigned max)
{
	struct srclimit *sl = calloc(1, sizeof(*sl));

	if (!sl)
		return NULL;
	pthread_mutex_init(&sl->lock, NULL);
	sl->max = max;
	return sl;
}

void srclimit_free(struct srclimit *sl)
{
	if (!sl)
		return;
	pthread_mutex_destroy(&sl->lock);
	free(sl->slots);
	free(sl);
}

static void key_of(const struct sockaddr *sa, uint8_t out[16])
{
	memset(out, 0, 16);
	if (sa->sa_family == AF_INET6) {
		memcpy(out, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
	} else if (sa->sa_family == AF_INET) {
		out[10] = out[11] = 0xff;
		memcpy(out + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	}
}

static size_t home(const struct srclimit *sl, const uint8_t k[16])
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (int i = 0; i < 16; i++)
		h = (h ^ k[i]) * 0x100000001b3ull;
	return (size_t)h & (sl->cap - 1);
}

static struct slot *find(struct srclimit *sl, const uint8_t k[16])
{
	for (size_t i = home(sl, k); sl->slots[i].count; i = (i + 1) & (sl->cap - 1))
		if (!memcmp(sl->slots[i].addr, k, 16))
			return &sl->slots[i];
	return NULL;
}

static int grow(struct srclimit *sl)
{
	size_t cap = sl->cap ? sl->cap * 2 : 256;
	struct slot *old = sl->slots, *s = calloc(cap, sizeof(*s));
	size_t oldcap = sl->cap;

	if (!s)
		return -1;
	sl->slots = s;
	sl->cap = cap;
	for (size_t i = 0; i < oldcap; i++) {
		size_t j;

		if (!old[i].count)
			continue;
		for (j = home(sl, old[i].addr); s[j].count; j = (j + 1) & (cap - 1))
			;
		s[j] = old[i];
	}
	free(old);
	return 0;
}

bool srclimit_take(struct srclimit *sl, const struct sockaddr *sa)
{
	uint8_t k[16];
	struct slot *s;
	bool ok = true;

	if (!sl || !sl->max)
		return true;
	key_of(sa, k);
	pthread_mutex_lock(&sl->lock);
	s = sl->cap ? find(sl, k) : NULL;
	if (s && s->count >= sl->max) {
		ok = false;
		sl->refused++;
	} else if (s) {
		s->count++;
	} else if ((sl->n + 1) * 4 > sl->cap * 3 && grow(sl)) {
		ok = true; /* out of memory: not counted, never refused for it */
	} else {
		size_t i;

		for (i = home(sl, k); sl->slots[i].count; i = (i + 1) & (sl->cap - 1))
			;
		memcpy(sl->slots[i].addr, k, 16);
		sl->slots[i].count = 1;
		sl->n++;
	}
	pthread_mutex_unlock(&sl->lock);
	return ok;
}

void srclimit_give(struct srclimit *sl, const struct sockaddr *sa)
{
	uint8_t k[16];
	struct slot *s;
	size_t i, j;

	if (!sl || !sl->max || !sl->cap)
		return;
	key_of(sa, k);
	pthread_mutex_lock(&sl->lock);
	s = find(sl, k);
	if (s && --s->count == 0) {
		/* Backward-shift deletion keeps every probe run unbroken. */
		i = (size_t)(s - sl->slots);
		for (j = (i + 1) & (sl->cap - 1); sl->slots[j].count; j = (j + 1) & (sl->cap - 1)) {
			size_t h = home(sl, sl->slots[j].addr);

			if ((j > i && (h <= i || h > j)) || (j < i && h <= i && h > j)) {
				sl->slots[i] = sl->slots[j];
				sl->slots[j].count = 0;
				i = j;
			}
		}
		sl->n--;
	}
	pthread_mutex_unlock(&sl->lock);
}

unsigned long srclimit_refused(const struct srclimit *sl)
{
	return sl ? __atomic_load_n(&sl->refused, __ATOMIC_RELAXED) : 0;
}
