// SPDX-License-Identifier: GPL-2.0-only
/* The kernel's route table in two slots, switched by one store (routemap.h). */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "lib/log.h"
#include "kernel/routemap.h"

#define SLOTS	2
#define MIN_CAP 64 /* prefixes a slot holds at least: small tables never need a new map */

enum slot_state {
	SLOT_READY = 0,	  /* empty, out of every program's reach: the next change goes here */
	SLOT_LIVE = 1,	  /* the live word names it */
	SLOT_RETIRED = 2, /* out of use, but a program may still read it: the thread's to empty */
	SLOT_BUSY = 3,	  /* the thread works on it */
};

struct slot {
	int fd;	      /* the inner map */
	uint32_t cap; /* its max_entries */
	enum slot_state state;
	struct strg_route_key *keys; /* what it holds (NULL with n: unknown, after a failure) */
	uint32_t n;
};

struct routemap {
	struct routemap_maps m;
	pthread_t thread;
	pthread_mutex_t lock; /* everything below */
	pthread_cond_t cond;
	struct slot slot[SLOTS];
	int live; /* -1: none */
	/* A table that found no ready slot: the thread switches it in (pending). */
	bool pending;
	struct strg_route_key *pkeys;
	struct strg_route_val *pvals;
	uint32_t pn;
	uint64_t published; /* publishes so far: the thread's table is still wanted if unchanged */
	uint64_t taken;	    /* the publish whose table the thread is switching in (0: none) */
	int err;	    /* why no table is live (0: one is, or one is pending) */
	bool stopped, closing;
};

/* A slot's capacity for n prefixes: room to grow before it needs a new map. */
static uint32_t cap_for(uint32_t n)
{
	uint32_t cap = MIN_CAP;

	while (cap < 2 * n && cap < (1u << 30))
		cap *= 2;
	return cap;
}

/* A slot can take n prefixes: not too small, nor so big that memory lies idle. */
static bool cap_fits(uint32_t cap, uint32_t n)
{
	return n <= cap && cap <= 8 * (n > MIN_CAP ? n : MIN_CAP);
}

static int inner_create(struct routemap *rm, uint32_t cap)
{
	struct bpf_map_create_opts opts = {.sz = sizeof(opts), .map_flags = BPF_F_NO_PREALLOC};
	int fd;

	if (rm->m.key_type && rm->m.val_type) {
		opts.btf_fd = (uint32_t)rm->m.btf_fd;
		opts.btf_key_type_id = rm->m.key_type;
		opts.btf_value_type_id = rm->m.val_type;
	}
	fd = bpf_map_create(BPF_MAP_TYPE_HASH, "strg_routes", sizeof(struct strg_route_key),
			    sizeof(struct strg_route_val), cap, &opts);
	return fd < 0 ? -errno : fd;
}

/* Put fd in slot i of the outer map: returns once no program still reads the slot's old map. */
static int outer_put(struct routemap *rm, uint32_t i, int fd)
{
	return bpf_map_update_elem(rm->m.outer_fd, &i, &fd, BPF_ANY) ? -errno : 0;
}

static int live_set(struct routemap *rm, int slot)
{
	uint32_t zero = 0, v = slot < 0 ? 0 : (uint32_t)slot + 1;

	return bpf_map_update_elem(rm->m.live_fd, &zero, &v, BPF_ANY) ? -errno : 0;
}

/* Write n prefixes into an empty map; the keys it holds are kept (copied) in *keys. */
static int fill(int fd, const struct strg_route_key *keys, const struct strg_route_val *vals,
		uint32_t n, struct strg_route_key **kept)
{
	uint32_t done = n;

	*kept = NULL;
	if (n && bpf_map_update_batch(fd, keys, vals, &done, NULL))
		return -errno;
	*kept = malloc((n ? n : 1) * sizeof(**kept));
	if (!*kept)
		return -ENOMEM;
	memcpy(*kept, keys, n * sizeof(**kept));
	return 0;
}

/* Empty a map out of every program's reach: its known keys, or whatever it holds. */
static void empty(int fd, const struct strg_route_key *keys, uint32_t n)
{
	struct strg_route_key k;
	uint32_t count = n;

	if (keys && (!n || !bpf_map_delete_batch(fd, keys, &count, NULL)))
		return;
	while (!bpf_map_get_next_key(fd, NULL, &k))
		if (bpf_map_delete_elem(fd, &k))
			break;
}

/* The live word names slot i (-1: none); the slot live before is retired. Lock held. */
static int switch_to(struct routemap *rm, int i)
{
	int err = live_set(rm, i);

	if (err)
		return err;
	if (rm->live >= 0) {
		rm->slot[rm->live].state = SLOT_RETIRED;
		pthread_cond_signal(&rm->cond);
	}
	rm->live = i;
	if (i >= 0)
		rm->slot[i].state = SLOT_LIVE;
	return 0;
}

static void pending_drop(struct routemap *rm)
{
	free(rm->pkeys);
	free(rm->pvals);
	rm->pkeys = NULL;
	rm->pvals = NULL;
	rm->pending = false;
}

static int pending_keep(struct routemap *rm, const struct strg_route_key *keys,
			const struct strg_route_val *vals, uint32_t n)
{
	rm->pkeys = malloc((n ? n : 1) * sizeof(*keys));
	rm->pvals = malloc((n ? n : 1) * sizeof(*vals));
	if (!rm->pkeys || !rm->pvals) {
		pending_drop(rm);
		return -ENOMEM;
	}
	memcpy(rm->pkeys, keys, n * sizeof(*keys));
	memcpy(rm->pvals, vals, n * sizeof(*vals));
	rm->pn = n;
	rm->pending = true;
	pthread_cond_signal(&rm->cond);
	return 0;
}

/* A ready slot that takes n prefixes as it is, or -1. Lock held. */
static int ready_slot(struct routemap *rm, uint32_t n, bool any_size)
{
	for (int i = 0; i < SLOTS; i++)
		if (rm->slot[i].state == SLOT_READY && (any_size || cap_fits(rm->slot[i].cap, n)))
			return i;
	return -1;
}

int routemap_publish(struct routemap *rm, const struct strg_route_key *keys,
		     const struct strg_route_val *vals, uint32_t n)
{
	struct slot *s;
	int i, err = 0;

	pthread_mutex_lock(&rm->lock);
	rm->published++;
	pending_drop(rm);
	if (rm->stopped)
		goto out;
	i = ready_slot(rm, n, false);
	if (i < 0) {
		/* No slot now: strgd routes everything until the thread switches this one in. */
		err = switch_to(rm, -1);
		if (!err)
			err = pending_keep(rm, keys, vals, n);
		goto out;
	}
	s = &rm->slot[i];
	err = fill(s->fd, keys, vals, n, &s->keys);
	s->n = n;
	if (!err)
		err = switch_to(rm, i);
	if (err) {
		s->state = SLOT_RETIRED; /* emptied by the thread, whatever it holds */
		pthread_cond_signal(&rm->cond);
		switch_to(rm, -1);
	}
out:
	rm->err = err;
	pthread_mutex_unlock(&rm->lock);
	return err;
}

/* The thread: a retired slot waits out a grace period, then is emptied for the next change. */
static void retire_done(struct routemap *rm, int i)
{
	struct slot *s = &rm->slot[i];

	s->state = SLOT_BUSY;
	pthread_mutex_unlock(&rm->lock);
	/* Putting its own map back returns once no program holds the slot's map from before. */
	if (outer_put(rm, (uint32_t)i, s->fd))
		pr_warn("kernel route table: slot %d: %s", i, strerror(errno));
	empty(s->fd, s->keys, s->n);
	pthread_mutex_lock(&rm->lock);
	free(s->keys);
	s->keys = NULL;
	s->n = 0;
	s->state = SLOT_READY;
}

/*
 * The thread: a table that found no slot goes into slot i (a new map when it does not fit),
 * then is switched in if no later table came meanwhile.
 */
static void pending_done(struct routemap *rm, int i)
{
	struct strg_route_key *keys = rm->pkeys;
	struct strg_route_val *vals = rm->pvals;
	struct slot *s = &rm->slot[i];
	uint32_t n = rm->pn, cap = s->cap;
	uint64_t seq = rm->published;
	int fd = s->fd, err = 0;

	rm->pkeys = NULL;
	rm->pvals = NULL;
	rm->pending = false;
	rm->taken = seq;
	s->state = SLOT_BUSY;
	pthread_mutex_unlock(&rm->lock);
	if (!cap_fits(cap, n)) {
		cap = cap_for(n);
		fd = inner_create(rm, cap);
		err = fd < 0 ? fd : 0;
	}
	if (!err)
		err = fill(fd, keys, vals, n, &s->keys);
	if (!err && fd != s->fd)
		err = outer_put(rm, (uint32_t)i, fd); /* the slot is out of use: nobody waits */
	if (fd >= 0 && fd != s->fd) {
		close(err ? fd : s->fd);
		if (!err)
			s->fd = fd;
	}
	free(keys);
	free(vals);
	pthread_mutex_lock(&rm->lock);
	rm->taken = 0;
	s->cap = err ? s->cap : cap;
	s->n = n;
	s->state = SLOT_RETIRED; /* unless switched in now: emptied next */
	if (!err && seq == rm->published && !rm->stopped)
		err = switch_to(rm, i);
	if (err && seq == rm->published) {
		pr_warn("kernel route table off (%s): every request is passed up to strgd",
			strerror(-err));
		rm->err = err;
	}
}

static void *run(void *arg)
{
	struct routemap *rm = arg;

	pthread_mutex_lock(&rm->lock);
	while (!rm->closing) {
		int retired = -1, ready;

		for (int i = 0; i < SLOTS; i++)
			if (rm->slot[i].state == SLOT_RETIRED)
				retired = i;
		ready = rm->pending ? ready_slot(rm, rm->pn, true) : -1;
		if (ready >= 0)
			pending_done(rm, ready);
		else if (retired >= 0)
			retire_done(rm, retired);
		else
			pthread_cond_wait(&rm->cond, &rm->lock);
	}
	pthread_mutex_unlock(&rm->lock);
	return NULL;
}

void routemap_off(struct routemap *rm, bool stop)
{
	pthread_mutex_lock(&rm->lock);
	pending_drop(rm);
	rm->published++;
	rm->stopped = rm->stopped || stop;
	switch_to(rm, -1);
	pthread_mutex_unlock(&rm->lock);
}

int routemap_state(struct routemap *rm)
{
	int ret;

	pthread_mutex_lock(&rm->lock);
	if (rm->live >= 0)
		ret = 0;
	else if (rm->pending || (rm->taken && rm->taken == rm->published))
		ret = -EINPROGRESS;
	else
		ret = rm->err ? rm->err : -ENOENT;
	pthread_mutex_unlock(&rm->lock);
	return ret;
}

/* Both slots' maps, sized for n prefixes, in the outer map (each put waits: at start only). */
static int slots_open(struct routemap *rm, uint32_t n)
{
	for (int i = 0; i < SLOTS; i++) {
		struct slot *s = &rm->slot[i];
		int err;

		s->cap = cap_for(n);
		s->fd = inner_create(rm, s->cap);
		if (s->fd < 0)
			return s->fd;
		err = outer_put(rm, (uint32_t)i, s->fd);
		if (err)
			return err;
	}
	return 0;
}

struct routemap *routemap_open(const struct routemap_maps *m, const struct strg_route_key *keys,
			       const struct strg_route_val *vals, uint32_t n)
{
	struct routemap *rm = calloc(1, sizeof(*rm));
	int err;

	if (!rm)
		return NULL;
	rm->m = *m;
	rm->live = -1;
	rm->slot[0].fd = rm->slot[1].fd = -1;
	pthread_mutex_init(&rm->lock, NULL);
	pthread_cond_init(&rm->cond, NULL);
	err = slots_open(rm, n);
	if (!err)
		err = routemap_publish(rm, keys, vals, n);
	if (!err)
		err = -pthread_create(&rm->thread, NULL, run, rm);
	if (err) {
		for (int i = 0; i < SLOTS; i++)
			if (rm->slot[i].fd >= 0)
				close(rm->slot[i].fd);
		free(rm->slot[0].keys);
		free(rm);
		errno = -err;
		return NULL;
	}
	return rm;
}

void routemap_close(struct routemap *rm)
{
	if (!rm)
		return;
	pthread_mutex_lock(&rm->lock);
	rm->closing = true;
	pthread_cond_signal(&rm->cond);
	pthread_mutex_unlock(&rm->lock);
	pthread_join(rm->thread, NULL);
	pending_drop(rm);
	for (int i = 0; i < SLOTS; i++) {
		close(rm->slot[i].fd);
		free(rm->slot[i].keys);
	}
	pthread_mutex_destroy(&rm->lock);
	pthread_cond_destroy(&rm->cond);
	free(rm);
}
