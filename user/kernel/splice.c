// SPDX-License-Identifier: GPL-2.0-only
/* Loader of the kernel fast path: programs, attachments, pinned maps and the kernel route table. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <fcntl.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "lib/log.h"
#include "kernel/pins.h"
#include "kernel/routemap.h"
#include "kernel/splice.h"
#include "core/routegw.h"
#include "strg/fastscan.h"
#include "splice.skel.h"

#define SPLICE_PINS 8 /* maps pinned: pin_list() */

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

struct splice {
	struct splice_bpf *skel;
	bool verdict_attached;
	int routing_err;     /* 0: the kernel classifies with the published table; else why not */
	uint32_t prefixes;   /* prefixes in the published table */
	uint64_t published;  /* tables published */
	struct routemap *rm; /* the kernel's route table (NULL until the first is published) */
	struct strg_stats *ustats; /* mmapped user-space counters */
	uint64_t *kfails;	   /* mmapped: 5xx in a row per backend, kernel-carried */
	struct strg_limit *limits; /* mmapped: rate-limit buckets per route slot */
	int lock_fd;		   /* the pin directory, flock()ed while this strgd uses it */
	bool handed;		   /* a restart's successor has the pin directory now */
	int pin_err;		   /* 0: the maps are pinned; else why not */
	char pin_dir[256];
};

/* libbpf's messages, verifier logs included, one log line per line of text. */
static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char text[8192], *line, *save = NULL;

	(void)level;
	if (log_get_level() < LOG_DEBUG)
		return 0;
	vsnprintf(text, sizeof(text), fmt, ap);
	/* The loader's own words are for -v; strgd says what failed in its own. */
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		pr_debug("libbpf: %s", line);
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

/* The process holding a flock on the file behind fd, from /proc/locks; 0 when unknown. */
static pid_t lock_holder(int fd)
{
	unsigned maj, min;
	unsigned long ino;
	char line[256], kind[16];
	struct stat st;
	pid_t pid = 0;
	int who;
	FILE *f;

	if (fstat(fd, &st) < 0)
		return 0;
	f = fopen("/proc/locks", "re");
	if (!f)
		return 0;
	while (!pid && fgets(line, sizeof(line), f))
		if (sscanf(line, "%*d: %15s %*s %*s %d %x:%x:%lu", kind, &who, &maj, &min, &ino) ==
			    5 &&
		    !strcmp(kind, "FLOCK") && ino == st.st_ino && maj == major(st.st_dev) &&
		    min == minor(st.st_dev))
			pid = who;
	fclose(f);
	return pid;
}

/*
 * Take the pin directory for this strgd alone: another one pinning its maps there would replace
 * our pins and remove them when it exits. -EBUSY (the other's pid in *holder) when it is taken.
 */
static int lock_pin_dir(struct splice *sp, pid_t *holder)
{
	char why[256];
	int err = pins_dir_ready(sp->pin_dir, why, sizeof(why));

	if (err) {
		pr_warn("pin directory %s: %s", sp->pin_dir, why);
		return err;
	}
	sp->lock_fd = open(sp->pin_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sp->lock_fd < 0)
		return -errno;
	if (flock(sp->lock_fd, LOCK_EX | LOCK_NB) == 0)
		return 0;
	*holder = errno == EWOULDBLOCK ? lock_holder(sp->lock_fd) : 0;
	close(sp->lock_fd);
	sp->lock_fd = -1;
	return -EBUSY;
}

/* The maps bpftool users read, by the names the README gives them. */
static size_t pin_list(const struct splice *sp, struct pins_map *out)
{
	const struct splice_bpf *k = sp->skel;
	const struct pins_map maps[] = {
		{bpf_map__fd(k->maps.kstats), "kstats"},
		{bpf_map__fd(k->maps.ustats), "ustats"},
		{bpf_map__fd(k->maps.routes), "routes"},
		{bpf_map__fd(k->maps.conns), "conns"},
		{bpf_map__fd(k->maps.conn_ctl), "conn_ctl"},
		{bpf_map__fd(k->maps.sockinfo), "sockinfo"},
		{bpf_map__fd(k->maps.counters), "counters"},
		{bpf_map__fd(k->maps.route_live), "route_live"},
	};

	memcpy(out, maps, sizeof(maps));
	return sizeof(maps) / sizeof(maps[0]);
}

static int pin_maps(struct splice *sp)
{
	struct pins_map maps[SPLICE_PINS];
	size_t n = pin_list(sp, maps);

	sp->pin_err = pins_put(sp->pin_dir, maps, n);
	return sp->pin_err;
}

static void unpin_maps(struct splice *sp)
{
	struct pins_map maps[SPLICE_PINS];
	size_t n = pin_list(sp, maps);

	pins_remove(sp->pin_dir, maps, n);
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

struct splice *splice_open(struct config *cfg, const char *pin_dir, pid_t *holder)
{
	struct splice *sp;
	size_t ulen;
	int err;

	libbpf_set_print(libbpf_log);
	sp = calloc(1, sizeof(*sp));
	if (!sp)
		return NULL;
	sp->lock_fd = -1;
	sp->pin_err = -ENOENT; /* nothing pinned yet */
	snprintf(sp->pin_dir, sizeof(sp->pin_dir), "%s", pin_dir);
	*holder = 0;
	err = lock_pin_dir(sp, holder);
	if (err == -EBUSY)
		goto out_free;
	/* Without the directory the maps go unpinned (said then); the fast path runs all the same.
	 */
	sp->skel = splice_bpf__open();
	if (!sp->skel) {
		err = -errno;
		goto out_free;
	}
	/* The access log's sample, fixed for the program's life (0: the code is left out). */
	sp->skel->rodata->access_sample = cfg->access_log[0] ? cfg->access_log_sample : 0;
	err = splice_bpf__load(sp->skel);
	if (err)
		goto out_destroy;
	err = attach(sp);
	if (err)
		goto out_detach;
	ulen = sizeof(struct strg_stats) * STRG_STATS_KEYS;
	sp->ustats = mmap(NULL, ulen, PROT_READ | PROT_WRITE, MAP_SHARED,
			  bpf_map__fd(sp->skel->maps.ustats), 0);
	if (sp->ustats == MAP_FAILED) {
		sp->ustats = NULL;
		err = -errno;
		goto out_detach;
	}
	sp->kfails = mmap(NULL, sizeof(uint64_t) * STRG_KFAIL_KEYS, PROT_READ | PROT_WRITE,
			  MAP_SHARED, bpf_map__fd(sp->skel->maps.kfails), 0);
	if (sp->kfails == MAP_FAILED) {
		sp->kfails = NULL;
		err = -errno;
		goto out_detach;
	}
	sp->limits =
		mmap(NULL, sizeof(struct strg_limit) * STRG_ROUTE_SLOTS, PROT_READ | PROT_WRITE,
		     MAP_SHARED, bpf_map__fd(sp->skel->maps.limits), 0);
	if (sp->limits == MAP_FAILED) {
		sp->limits = NULL;
		err = -errno;
		goto out_detach;
	}
	/* Counters that cannot be pinned are a loss for observers, not for the fast path. */
	err = pin_maps(sp);
	if (err)
		pr_warn("maps not pinned in %s (%s): bpftool cannot show strgd's counters",
			sp->pin_dir, strerror(-err));
	/* A table the kernel cannot hold leaves the kernel passing everything up, not off. */
	err = splice_publish_routes(sp, cfg);
	if (err && err != -E2BIG)
		goto out_detach;
	return sp;
out_detach:
	splice_close(sp);
	errno = -err;
	return NULL;
out_destroy:
	splice_bpf__destroy(sp->skel);
out_free:
	if (sp->lock_fd >= 0)
		close(sp->lock_fd);
	free(sp);
	errno = -err;
	return NULL;
}

int splice_counters_set(struct splice *sp, const struct strg_counter_key *key,
			const struct strg_route_counters *val)
{
	if (bpf_map_update_elem(bpf_map__fd(sp->skel->maps.counters), key, val, BPF_ANY))
		return -errno;
	return 0;
}

void splice_counters_del(struct splice *sp, const struct strg_counter_key *key)
{
	bpf_map_delete_elem(bpf_map__fd(sp->skel->maps.counters), key);
}

uint32_t splice_kfails_take(struct splice *sp, unsigned pool, unsigned backend, uint32_t at_least)
{
	uint64_t *run, n;

	if (!sp || !sp->kfails || pool >= STRG_POOLS_MAX || backend >= STRG_BACKENDS_MAX ||
	    !at_least)
		return 0;
	run = &sp->kfails[pool * STRG_BACKENDS_MAX + backend];
	if (__atomic_load_n(run, __ATOMIC_RELAXED) < at_least)
		return 0;
	n = __atomic_exchange_n(run, 0, __ATOMIC_RELAXED);
	return n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}

/* A worker's own event ring: the verdict writes the events of its connections there. */
struct splice_events {
	struct ring_buffer *rb;
	splice_event_fn fn;
	void *ctx;
	int map_fd;
};

static int event_cb(void *ctx, void *data, size_t size)
{
	struct splice_events *ev = ctx;

	const struct strg_event *e = data;

	if (size >= sizeof(*e) &&
	    (e->kind != STRG_EV_ACCESS || size >= sizeof(struct strg_access_event)))
		ev->fn(ev->ctx, data);
	return 0;
}

struct splice_events *splice_events_open(struct splice *sp, unsigned worker, splice_event_fn fn,
					 void *ctx)
{
	struct splice_events *ev = calloc(1, sizeof(*ev));
	int err;

	if (!ev)
		return NULL;
	ev->fn = fn;
	ev->ctx = ctx;
	ev->map_fd = bpf_map_create(BPF_MAP_TYPE_RINGBUF, "strg_events", 0, 0, 1u << 20, NULL);
	if (ev->map_fd < 0 || worker >= STRG_MAX_WORKERS ||
	    bpf_map_update_elem(bpf_map__fd(sp->skel->maps.events), &worker, &ev->map_fd, BPF_ANY))
		goto out_err;
	ev->rb = ring_buffer__new(ev->map_fd, event_cb, ev, NULL);
	if (!ev->rb)
		goto out_err;
	return ev;
out_err:
	err = worker >= STRG_MAX_WORKERS ? E2BIG : errno;
	splice_events_close(ev);
	errno = err;
	return NULL;
}

int splice_events_fd(struct splice_events *ev)
{
	return ring_buffer__epoll_fd(ev->rb);
}

void splice_events_consume(struct splice_events *ev)
{
	ring_buffer__consume(ev->rb);
}

void splice_events_close(struct splice_events *ev)
{
	if (!ev)
		return;
	ring_buffer__free(ev->rb);
	if (ev->map_fd >= 0)
		close(ev->map_fd);
	free(ev);
}

void splice_hand_over(struct splice *sp)
{
	if (!sp || sp->handed)
		return;
	sp->handed = true;
	if (sp->lock_fd >= 0)
		close(sp->lock_fd);
	sp->lock_fd = -1;
}

int splice_take_back(struct splice *sp)
{
	pid_t holder = 0;
	int err;

	if (!sp || !sp->handed)
		return 0;
	err = lock_pin_dir(sp, &holder);
	if (err)
		return err;
	sp->handed = false;  /* the directory is this strgd's again, whatever the pins say */
	return pin_maps(sp); /* the failed successor's pins, if any, are replaced */
}

int splice_pin_error(const struct splice *sp)
{
	return sp->pin_err;
}

void splice_close(struct splice *sp)
{
	if (!sp)
		return;
	if (sp->verdict_attached)
		bpf_prog_detach2(bpf_program__fd(sp->skel->progs.strg_verdict),
				 bpf_map__fd(sp->skel->maps.socks), BPF_SK_SKB_VERDICT);
	if (sp->ustats)
		munmap(sp->ustats, sizeof(struct strg_stats) * STRG_STATS_KEYS);
	if (sp->kfails)
		munmap(sp->kfails, sizeof(uint64_t) * STRG_KFAIL_KEYS);
	if (sp->limits)
		munmap(sp->limits, sizeof(struct strg_limit) * STRG_ROUTE_SLOTS);
	if (!sp->handed)
		unpin_maps(sp); /* else the names are the successor's maps by now */
	routemap_close(sp->rm);
	splice_bpf__destroy(sp->skel);
	if (sp->lock_fd >= 0)
		close(sp->lock_fd);
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

static void fill_cand(struct strg_route_cand *c, const struct route *r)
{
	const struct routegw *gw = r->spec.gw;

	c->host_hash = r->spec.host[0] ? fnv(r->spec.host, strlen(r->spec.host)) : 0;
	c->methods = r->spec.methods;
	c->slot = r->slot; /* out of range (not counted) when there are more routes than slots */
	c->route_id = r->id;
	c->pool = (uint16_t)r->spec.pool;
	c->flags = r->spec.exact ? STRG_CAND_EXACT : 0;
	/*
	 * The split's buckets come from cookies or headers strgd reads, and a shadow's copy is
	 * made in user space: their requests go up.
	 */
	if (r->spec.split || r->spec.testers || r->spec.adapt || r->spec.shadow)
		c->flags |= STRG_CAND_USER;
	/*
	 * Conditions and per-key limits read fields, access lists the client's address in every
	 * request, header rules rewrite heads: strgd does these. A route-wide limit the verdict
	 * checks itself.
	 */
	if (gw->nmatch || gw->nallow || gw->ndeny || gw->nrule ||
	    (gw->limit.count && gw->limit.per != ROUTEGW_PER_ROUTE))
		c->flags |= STRG_CAND_USER;
	if (gw->limit.count && gw->limit.per == ROUTEGW_PER_ROUTE) {
		c->flags |= STRG_CAND_LIMIT;
		c->limit_interval_ns = routegw_interval_ns(&gw->limit);
		c->limit_tolerance_ns = routegw_tolerance_ns(&gw->limit);
	}
}

/*
 * The table's prefixes as kernel entries: v holds the active routes grouped by path, each path's
 * in the lookup's precedence order (route_table_list), which the candidates keep.
 */
static int build_entries(const struct route **v, size_t nv, struct strg_route_key **keys,
			 struct strg_route_val **vals, uint32_t *n)
{
	size_t i = 0;

	*keys = calloc(nv ? nv : 1, sizeof(**keys));
	*vals = calloc(nv ? nv : 1, sizeof(**vals));
	if (!*keys || !*vals)
		return -ENOMEM;
	*n = 0;
	while (i < nv) {
		const char *path = v[i]->spec.path;
		struct strg_route_key *key = &(*keys)[*n];
		struct strg_route_val *val = &(*vals)[*n];

		key->len = (uint32_t)strlen(path);
		key->hash = fnv(path, key->len);
		for (; i < nv && !strcmp(v[i]->spec.path, path); i++) {
			if (val->ncands == STRG_ROUTE_CANDS) {
				/* Too many to tell apart: user space decides. */
				val->flags |= STRG_CAND_USER;
				continue;
			}
			fill_cand(&val->cands[val->ncands++], v[i]);
		}
		(*n)++;
	}
	return 0;
}

/* The maps the route table is published in, with the program's BTF so bpftool names fields. */
static void route_maps(const struct splice *sp, struct routemap_maps *m)
{
	struct btf *btf = bpf_object__btf(sp->skel->obj);
	int key_id = btf ? btf__find_by_name_kind(btf, "strg_route_key", BTF_KIND_STRUCT) : -1;
	int val_id = btf ? btf__find_by_name_kind(btf, "strg_route_val", BTF_KIND_STRUCT) : -1;

	memset(m, 0, sizeof(*m));
	m->outer_fd = bpf_map__fd(sp->skel->maps.routes);
	m->live_fd = bpf_map__fd(sp->skel->maps.route_live);
	if (key_id > 0 && val_id > 0) {
		m->btf_fd = bpf_object__btf_fd(sp->skel->obj);
		m->key_type = (uint32_t)key_id;
		m->val_type = (uint32_t)val_id;
	}
}

/* The kernel passes every request up to strgd (said once per cause). */
static void kernel_routing_off(struct splice *sp, int why)
{
	if (sp->rm)
		routemap_off(sp->rm, false);
	if (sp->routing_err != why)
		pr_warn("kernel route table off (%s): the kernel passes every request up to strgd "
			"until the table fits",
			why == -E2BIG ? "more prefixes than 'limit kernel-routes'"
				      : strerror(-why));
	sp->routing_err = why;
}

/* The table to the kernel: at start synchronously, later switched in by routemap.c. */
static int publish_entries(struct splice *sp, const struct strg_route_key *keys,
			   const struct strg_route_val *vals, uint32_t n)
{
	struct routemap_maps m;

	if (sp->rm)
		return routemap_publish(sp->rm, keys, vals, n);
	route_maps(sp, &m);
	sp->rm = routemap_open(&m, keys, vals, n);
	return sp->rm ? 0 : -errno;
}

/*
 * The whole table into the slot no lookup reads, then one store makes it the live one: a lookup
 * sees the old table or the new one, never a mix; a failed build leaves the kernel passing every
 * request up (both paths still route alike).
 */
int splice_publish_routes(struct splice *sp, const struct config *cfg)
{
	struct strg_route_key *keys = NULL;
	struct strg_route_val *vals = NULL;
	const struct route **v;
	size_t nv, active = 0;
	uint32_t n = 0;
	int err;

	v = route_table_list(cfg->routes, false, &nv);
	if (!v) {
		err = -ENOMEM;
		goto out;
	}
	/* Inactive routes are not there for the kernel: it falls through, as the lookup does. */
	for (size_t i = 0; i < nv; i++)
		if (!v[i]->spec.inactive)
			v[active++] = v[i];
	err = build_entries(v, active, &keys, &vals, &n);
	if (!err && n > cfg->kernel_routes_max)
		err = -E2BIG;
	if (!err)
		err = publish_entries(sp, keys, vals, n);
	if (err)
		goto out;
	if (sp->routing_err)
		pr_info("kernel route table on again (%u prefixes)", n);
	sp->routing_err = 0;
	sp->published++;
	sp->prefixes = n;
out:
	if (err)
		kernel_routing_off(sp, err);
	free(keys);
	free(vals);
	free(v);
	return err;
}

void splice_classify_off(struct splice *sp)
{
	if (sp->rm)
		routemap_off(sp->rm, true);
	sp->routing_err = -ESHUTDOWN;
}

int splice_routing_state(const struct splice *sp, uint32_t *prefixes)
{
	*prefixes = sp->prefixes;
	/* A table published but not switched in yet: the kernel catches up (-EINPROGRESS). */
	return sp->routing_err || !sp->rm ? sp->routing_err : routemap_state(sp->rm);
}

/* ---- connections ---- */

int splice_ctl_set(struct splice *sp, uint64_t client, const struct strg_conn_ctl *ctl)
{
	if (bpf_map_update_elem(bpf_map__fd(sp->skel->maps.conn_ctl), &client, ctl, BPF_ANY))
		return -errno;
	return 0;
}

int splice_backend_add(struct splice *sp, uint64_t client, unsigned worker, unsigned pool,
		       unsigned backend, int fd, uint64_t *cookie)
{
	struct strg_sock si = {.client = client,
			       .role = STRG_ROLE_BACKEND,
			       .pool = pool,
			       .worker = worker,
			       .backend = backend};
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

int splice_conn_begin(struct splice *sp, uint64_t client, unsigned worker)
{
	struct strg_conn k = {.phase = STRG_PH_USER};
	struct strg_sock si = {.client = client, .role = STRG_ROLE_CLIENT, .worker = worker};

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

struct strg_limit *splice_limits(struct splice *sp)
{
	return sp->limits;
}

struct strg_stats *splice_ustats(struct splice *sp)
{
	return sp->ustats;
}

int splice_kstats_read(struct splice *sp, uint32_t key, struct strg_stats *out)
{
	int ncpus = libbpf_num_possible_cpus(), err = 0;
	struct strg_stats *v;

	memset(out, 0, sizeof(*out));
	if (ncpus <= 0)
		return -EINVAL;
	v = calloc((size_t)ncpus, sizeof(*v));
	if (!v)
		return -ENOMEM;
	if (bpf_map_lookup_elem(bpf_map__fd(sp->skel->maps.kstats), &key, v)) {
		err = -errno;
		goto out;
	}
	for (int c = 0; c < ncpus; c++)
		strg_stats_add(out, &v[c]);
out:
	free(v);
	return err;
}

int splice_kstats_clear(struct splice *sp, uint32_t key)
{
	int ncpus = libbpf_num_possible_cpus(), err = 0;
	void *zeros;

	if (ncpus <= 0)
		return -EINVAL;
	zeros = calloc((size_t)ncpus, sizeof(struct strg_stats));
	if (!zeros)
		return -ENOMEM;
	if (bpf_map_update_elem(bpf_map__fd(sp->skel->maps.kstats), &key, zeros, BPF_ANY))
		err = -errno;
	free(zeros);
	return err;
}
