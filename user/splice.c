// SPDX-License-Identifier: GPL-2.0-only
/* Loader of the kernel fast path: programs, attachments, pinned maps and the kernel route table. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "log.h"
#include "splice.h"
#include "strg/fastscan.h"
#include "splice.skel.h"

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

struct splice {
	struct splice_bpf *skel;
	bool verdict_attached;
	uint32_t gen;
	struct strg_stats *ustats; /* mmapped user-space counters */
	struct ring_buffer *events;
	splice_event_fn event_fn;
	void *event_ctx;
	char pin_dir[256];
};

/* libbpf's messages, verifier logs included, one log line per line of text. */
static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char text[8192], *line, *save = NULL;

	if (level == LIBBPF_DEBUG && log_level < LOG_DEBUG)
		return 0;
	vsnprintf(text, sizeof(text), fmt, ap);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (level == LIBBPF_WARN)
			pr_warn("%s", line);
		else
			pr_debug("%s", line);
	}
	return 0;
}

uint64_t splice_cookie(int fd)
{
	uint64_t cookie = 0;
	socklen_t len = sizeof(cookie);

	if (getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookie, &len) < 0)
		return 0;
	return cookie;
}

static int pin_maps(struct splice *sp)
{
	struct {
		struct bpf_map *map;
		const char *name;
	} pins[] = {
		{sp->skel->maps.kstats, "kstats"},     {sp->skel->maps.ustats, "ustats"},
		{sp->skel->maps.routes, "routes"},     {sp->skel->maps.table, "table"},
		{sp->skel->maps.conns, "conns"},       {sp->skel->maps.conn_ctl, "conn_ctl"},
		{sp->skel->maps.sockinfo, "sockinfo"},
	};
	char path[512];
	int err;

	if (mkdir(sp->pin_dir, 0750) < 0 && errno != EEXIST)
		return -errno;
	for (size_t i = 0; i < sizeof(pins) / sizeof(pins[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", sp->pin_dir, pins[i].name);
		unlink(path); /* a previous strgd's pin: this instance's maps replace it */
		err = bpf_map__pin(pins[i].map, path);
		if (err)
			return err;
	}
	return 0;
}

static void unpin_maps(struct splice *sp)
{
	struct bpf_map *map;

	bpf_object__for_each_map(map, sp->skel->obj) if (bpf_map__is_pinned(map))
		bpf_map__unpin(map, NULL);
	rmdir(sp->pin_dir);
}

static int attach(struct splice *sp)
{
	int err;

	err = bpf_prog_attach(bpf_program__fd(sp->skel->progs.strg_verdict),
			      bpf_map__fd(sp->skel->maps.socks), BPF_SK_SKB_VERDICT, 0);
	if (err)
		return err;
	sp->verdict_attached = true;
	return 0;
}

struct splice *splice_open(struct config *cfg, const char *pin_dir)
{
	struct splice *sp;
	size_t ulen;
	int err;

	libbpf_set_print(libbpf_log);
	sp = calloc(1, sizeof(*sp));
	if (!sp)
		return NULL;
	snprintf(sp->pin_dir, sizeof(sp->pin_dir), "%s", pin_dir);
	sp->skel = splice_bpf__open();
	if (!sp->skel) {
		err = -errno;
		goto out_free;
	}
	err = splice_bpf__load(sp->skel);
	if (err)
		goto out_destroy;
	err = attach(sp);
	if (err)
		goto out_detach;
	ulen = sizeof(struct strg_stats) * STRG_ROUTE_SLOTS * STRG_POOLS_MAX;
	sp->ustats = mmap(NULL, ulen, PROT_READ | PROT_WRITE, MAP_SHARED,
			  bpf_map__fd(sp->skel->maps.ustats), 0);
	if (sp->ustats == MAP_FAILED) {
		sp->ustats = NULL;
		err = -errno;
		goto out_detach;
	}
	/* Counters that cannot be pinned are a loss for observers, not for the fast path. */
	err = pin_maps(sp);
	if (err)
		pr_warn("maps not pinned in %s (%s): bpftool cannot show strgd's counters",
			sp->pin_dir, strerror(-err));
	err = splice_publish_routes(sp, cfg);
	if (err)
		goto out_detach;
	return sp;
out_detach:
	splice_close(sp);
	errno = -err;
	return NULL;
out_destroy:
	splice_bpf__destroy(sp->skel);
out_free:
	free(sp);
	errno = -err;
	return NULL;
}

static int event_cb(void *ctx, void *data, size_t size)
{
	struct splice *sp = ctx;

	if (size >= sizeof(struct strg_event))
		sp->event_fn(sp->event_ctx, data);
	return 0;
}

int splice_events_open(struct splice *sp, splice_event_fn fn, void *ctx)
{
	sp->event_fn = fn;
	sp->event_ctx = ctx;
	sp->events = ring_buffer__new(bpf_map__fd(sp->skel->maps.events), event_cb, sp, NULL);
	if (!sp->events)
		return -errno;
	return ring_buffer__epoll_fd(sp->events);
}

void splice_events_consume(struct splice *sp)
{
	ring_buffer__consume(sp->events);
}

void splice_close(struct splice *sp)
{
	if (!sp)
		return;
	ring_buffer__free(sp->events);
	if (sp->verdict_attached)
		bpf_prog_detach2(bpf_program__fd(sp->skel->progs.strg_verdict),
				 bpf_map__fd(sp->skel->maps.socks), BPF_SK_SKB_VERDICT);
	if (sp->ustats)
		munmap(sp->ustats, sizeof(struct strg_stats) * STRG_ROUTE_SLOTS * STRG_POOLS_MAX);
	unpin_maps(sp);
	splice_bpf__destroy(sp->skel);
	free(sp);
}

/* ---- route table ---- */

static uint64_t fnv(const char *s, size_t len)
{
	uint64_t h = STRG_FNV_OFFSET;

	for (size_t i = 0; i < len; i++)
		h = strg_fnv_step(h, (uint8_t)s[i]);
	return h;
}

static unsigned popcount32(uint32_t v)
{
	return (unsigned)__builtin_popcount(v);
}

/* The user-space table's precedence on one prefix: host, methods, exact, fewer methods, older. */
static int cand_cmp(const void *a, const void *b)
{
	const struct route *x = *(const struct route *const *)a;
	const struct route *y = *(const struct route *const *)b;
	int c = strcmp(x->spec.path, y->spec.path);

	if (c)
		return c;
	if (!!x->spec.host[0] != !!y->spec.host[0])
		return y->spec.host[0] ? 1 : -1;
	if (!!x->spec.methods != !!y->spec.methods)
		return y->spec.methods ? 1 : -1;
	if (x->spec.exact != y->spec.exact)
		return y->spec.exact ? 1 : -1;
	if (x->spec.methods && popcount32(x->spec.methods) != popcount32(y->spec.methods))
		return popcount32(x->spec.methods) < popcount32(y->spec.methods) ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

struct route_list {
	const struct route **v;
	size_t n, cap;
};

static int collect(const struct route *r, void *arg)
{
	struct route_list *l = arg;

	if (r->spec.inactive)
		return 0; /* the kernel falls through it just as the user-space lookup does */

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		const struct route **v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = r;
	return 0;
}

static void fill_cand(struct strg_route_cand *c, const struct route *r)
{
	c->host_hash = r->spec.host[0] ? fnv(r->spec.host, strlen(r->spec.host)) : 0;
	c->methods = r->spec.methods;
	c->slot = r->slot; /* out of range (not counted) when there are more routes than slots */
	c->route_id = r->id;
	c->pool = (uint16_t)r->spec.pool;
	c->flags = r->spec.exact ? STRG_CAND_EXACT : 0;
	/* The split's buckets come from cookies or headers strgd reads: its requests go up. */
	if (r->spec.split || r->spec.testers || r->spec.adapt)
		c->flags |= STRG_CAND_USER;
}

/* Write every prefix of the table under generation gen. */
static int write_generation(struct splice *sp, struct route_list *l, uint32_t gen)
{
	int fd = bpf_map__fd(sp->skel->maps.routes);
	size_t i = 0;

	while (i < l->n) {
		const char *path = l->v[i]->spec.path;
		struct strg_route_key key = {.gen = gen, .len = (uint32_t)strlen(path)};
		struct strg_route_val val;

		memset(&val, 0, sizeof(val));
		key.hash = fnv(path, key.len);
		for (; i < l->n && !strcmp(l->v[i]->spec.path, path); i++) {
			if (val.ncands == STRG_ROUTE_CANDS) {
				val.flags |=
					STRG_CAND_USER; /* too many to tell apart: user space */
				continue;
			}
			fill_cand(&val.cands[val.ncands++], l->v[i]);
		}
		if (bpf_map_update_elem(fd, &key, &val, BPF_ANY))
			return -errno;
	}
	return 0;
}

/* Remove every entry that does not belong to generation keep. */
static void drop_other_generations(struct splice *sp, uint32_t keep)
{
	int fd = bpf_map__fd(sp->skel->maps.routes);
	struct strg_route_key key, next;
	bool first = true;

	while (bpf_map_get_next_key(fd, first ? NULL : &key, &next) == 0) {
		first = false;
		if (next.gen != keep && bpf_map_delete_elem(fd, &next) == 0)
			continue; /* deleted: iterate from the same key again */
		key = next;
	}
}

int splice_publish_routes(struct splice *sp, const struct config *cfg)
{
	struct route_list l = {0};
	struct strg_table t = {0};
	uint32_t zero = 0;
	bool root = false;
	int err;

	err = route_table_each(cfg->routes, collect, &l);
	if (err)
		goto out;
	qsort(l.v, l.n, sizeof(*l.v), cand_cmp);
	for (size_t i = 0; i < l.n; i++)
		root |= !strcmp(l.v[i]->spec.path, "/");
	/* New entries go in under the next generation; lookups switch with one array write. */
	t.gen = sp->gen + 1;
	t.root_ok = root;
	err = write_generation(sp, &l, t.gen);
	if (err)
		goto out;
	if (bpf_map_update_elem(bpf_map__fd(sp->skel->maps.table), &zero, &t, BPF_ANY)) {
		err = -errno;
		goto out;
	}
	sp->gen = t.gen;
	drop_other_generations(sp, t.gen);
out:
	free(l.v);
	return err;
}

/* ---- connections ---- */

int splice_ctl_set(struct splice *sp, uint64_t client, const struct strg_conn_ctl *ctl)
{
	if (bpf_map_update_elem(bpf_map__fd(sp->skel->maps.conn_ctl), &client, ctl, BPF_ANY))
		return -errno;
	return 0;
}

int splice_backend_add(struct splice *sp, uint64_t client, unsigned pool, int fd, uint64_t *cookie)
{
	struct strg_sock si = {.client = client, .role = STRG_ROLE_BACKEND, .pool = pool};
	uint64_t c = splice_cookie(fd), val = (uint64_t)fd;

	if (!c)
		return -errno;
	/* Role first, so the verdict knows the socket from its first byte on. */
	if (bpf_map_update_elem(bpf_map__fd(sp->skel->maps.sockinfo), &c, &si, BPF_ANY))
		return -errno;
	if (bpf_map_update_elem(bpf_map__fd(sp->skel->maps.socks), &c, &val, BPF_NOEXIST))
		return -errno;
	*cookie = c;
	return 0;
}

int splice_conn_begin(struct splice *sp, uint64_t client)
{
	struct strg_conn k = {.phase = STRG_PH_USER};
	struct strg_sock si = {.client = client, .role = STRG_ROLE_CLIENT};

	if (bpf_map_update_elem(bpf_map__fd(sp->skel->maps.conns), &client, &k, BPF_ANY) ||
	    bpf_map_update_elem(bpf_map__fd(sp->skel->maps.sockinfo), &client, &si, BPF_ANY))
		return -errno;
	return 0;
}

int splice_client_insert(struct splice *sp, uint64_t client, int fd)
{
	uint64_t val = (uint64_t)fd;

	if (bpf_map_update_elem(bpf_map__fd(sp->skel->maps.socks), &client, &val, BPF_NOEXIST))
		return -errno;
	return 0;
}

void splice_sock_forget(struct splice *sp, uint64_t cookie)
{
	bpf_map_delete_elem(bpf_map__fd(sp->skel->maps.sockinfo), &cookie);
}

int splice_conn_get(struct splice *sp, uint64_t client, struct strg_conn *out)
{
	if (bpf_map_lookup_elem(bpf_map__fd(sp->skel->maps.conns), &client, out))
		return -errno;
	return 0;
}

void splice_conn_forget(struct splice *sp, uint64_t client, const struct strg_conn_ctl *ctl)
{
	int info = bpf_map__fd(sp->skel->maps.sockinfo);

	for (unsigned i = 0; i < STRG_POOLS_MAX; i++)
		if (ctl->backend[i])
			bpf_map_delete_elem(info, &ctl->backend[i]);
	bpf_map_delete_elem(info, &client);
	bpf_map_delete_elem(bpf_map__fd(sp->skel->maps.conn_ctl), &client);
	bpf_map_delete_elem(bpf_map__fd(sp->skel->maps.conns), &client);
}

void splice_slot_reset(struct splice *sp, uint32_t slot)
{
	int ncpus = libbpf_num_possible_cpus();
	void *zeros;

	if (!sp || slot >= STRG_ROUTE_SLOTS || ncpus <= 0)
		return;
	if (sp->ustats)
		memset(&sp->ustats[slot * STRG_POOLS_MAX], 0,
		       sizeof(struct strg_stats) * STRG_POOLS_MAX);
	zeros = calloc((size_t)ncpus, sizeof(struct strg_stats));
	if (!zeros)
		return;
	for (uint32_t k = slot * STRG_POOLS_MAX; k < (slot + 1) * STRG_POOLS_MAX; k++)
		bpf_map_update_elem(bpf_map__fd(sp->skel->maps.kstats), &k, zeros, BPF_ANY);
	free(zeros);
}

static unsigned lat_bucket(uint64_t us)
{
	unsigned b = 0;

	while (us && b < STRG_LAT_BUCKETS - 1) {
		us >>= 1;
		b++;
	}
	return b;
}

void splice_count_user(struct splice *sp, uint32_t slot, uint32_t route_id, unsigned pool,
		       uint64_t bytes_in, uint64_t bytes_out, unsigned status, uint64_t lat_us,
		       bool passed)
{
	struct strg_stats *st;
	unsigned cls = status / 100;

	if (!sp || !sp->ustats || slot >= STRG_ROUTE_SLOTS || pool >= STRG_POOLS_MAX)
		return;
	st = &sp->ustats[slot * STRG_POOLS_MAX + pool];
	st->route_id = route_id;
	st->pool = pool;
	st->requests++;
	st->bytes_in += bytes_in;
	st->bytes_out += bytes_out;
	st->passed += passed;
	st->status[cls < STRG_STATUS_CLASSES ? cls : 0]++;
	st->latency_us_log2[lat_bucket(lat_us)]++;
}
