// SPDX-License-Identifier: GPL-2.0-only
/* The XDP guard's loader (guard.h): one program, its maps pinned, kept equal to the settings. */
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/if_link.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "kernel/guard.h"
#include "lib/log.h"
#include "kernel/pins.h"
#include "lib/grow.h"
#include "guard.skel.h"

struct guard {
	struct guard_bpf *skel;
	char pin_dir[256];
	char iface[GUARD_IFNAME_MAX]; /* attached to ("" nowhere) */
	unsigned ifindex;
	__u32 flags;		       /* the attach's XDP_FLAGS_* */
	char problem[160];	       /* why it is not attached where the settings say */
	bool keep;		       /* the settings last applied: left attached at exit */
	bool handed;		       /* a restart's successor guards the interface now */
	struct guard_settings applied; /* what the maps hold (lists and limits) */
	bool synced;		       /* applied is valid */
	int pin_err;		       /* 0: the maps are pinned; else why not */
	int ncpus;
};

static const char *const reason_names[GUARD_REASONS] = {
	[GUARD_PASSED] = "passed",	   [GUARD_ALLOWED] = "allowed",
	[GUARD_DENIED] = "denied",	   [GUARD_RATE_SYN] = "rate_syn",
	[GUARD_RATE_PKT] = "rate_packets", [GUARD_MALFORMED] = "malformed",
	[GUARD_OTHER] = "other",
};

const char *guard_reason_name(unsigned reason)
{
	return reason < GUARD_REASONS ? reason_names[reason] : "?";
}

static struct {
	size_t off;
	const char *name;
} const pins[] = {
	{offsetof(struct guard_bpf, maps.guard_deny), "guard_deny"},
	{offsetof(struct guard_bpf, maps.guard_allow), "guard_allow"},
	{offsetof(struct guard_bpf, maps.guard_listen), "guard_listen"},
	{offsetof(struct guard_bpf, maps.guard_config), "guard_config"},
	{offsetof(struct guard_bpf, maps.guard_sources), "guard_sources"},
	{offsetof(struct guard_bpf, maps.guard_stats), "guard_stats"},
};

static struct bpf_map *pin_map(struct guard *gd, size_t i)
{
	return *(struct bpf_map **)((char *)gd->skel + pins[i].off);
}

#define GUARD_PINS (sizeof(pins) / sizeof(pins[0]))

static void pin_list(struct guard *gd, struct pins_map *out)
{
	for (size_t i = 0; i < GUARD_PINS; i++) {
		out[i].fd = bpf_map__fd(pin_map(gd, i));
		out[i].name = pins[i].name;
	}
}

/* Observers lose the maps when they cannot be pinned; the guard works without them. */
static int pin_all(struct guard *gd)
{
	struct pins_map maps[GUARD_PINS];
	char why[256];

	pin_list(gd, maps);
	gd->pin_err = pins_dir_ready(gd->pin_dir, why, sizeof(why));
	if (!gd->pin_err)
		gd->pin_err = pins_put(gd->pin_dir, maps, GUARD_PINS);
	else
		pr_warn("pin directory %s: %s", gd->pin_dir, why);
	if (gd->pin_err)
		pr_warn("xdp guard: maps not pinned in %s (%s): bpftool cannot show them",
			gd->pin_dir, strerror(-gd->pin_err));
	return gd->pin_err;
}

struct guard *guard_open(const char *pin_dir)
{
	struct guard *gd = calloc(1, sizeof(*gd));
	int err;

	if (!gd)
		return NULL;
	snprintf(gd->pin_dir, sizeof(gd->pin_dir), "%s", pin_dir);
	gd->pin_err = -ENOENT;
	gd->ncpus = libbpf_num_possible_cpus();
	gd->skel = guard_bpf__open_and_load();
	if (!gd->skel || gd->ncpus <= 0) {
		err = gd->skel ? gd->ncpus : -errno;
		goto fail;
	}
	pin_all(gd);
	return gd;
fail:
	guard_close(gd);
	errno = err < 0 ? -err : EINVAL;
	return NULL;
}

/* An address as the maps key it: IPv6, IPv4 mapped; a wildcard is all zero. */
static void map_addr(const struct sockaddr_storage *ss, __u8 out[16], __u16 *port)
{
	static const __u8 mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	memset(out, 0, 16);
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;

		*port = sin->sin_port;
		if (sin->sin_addr.s_addr != htonl(INADDR_ANY)) {
			memcpy(out, mapped, sizeof(mapped));
			memcpy(out + 12, &sin->sin_addr, 4);
		}
	} else {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;

		*port = sin6->sin6_port;
		memcpy(out, &sin6->sin6_addr, 16);
	}
}

/* The listeners guarded: the listen address with its port, and with port 0 (fragments). */
static int sync_listen(struct guard *gd, const struct config *cfg)
{
	int fd = bpf_map__fd(gd->skel->maps.guard_listen);
	struct guard_listen_key k = {0}, next;
	__u8 one = 1;
	__u16 port;

	/* One listener: the map holds exactly these two keys, so clear it first. */
	while (!bpf_map_get_next_key(fd, NULL, &next))
		if (bpf_map_delete_elem(fd, &next))
			break;
	map_addr(&cfg->listen, k.addr, &port);
	k.port = port;
	if (bpf_map_update_elem(fd, &k, &one, BPF_ANY))
		return -errno;
	k.port = 0;
	return bpf_map_update_elem(fd, &k, &one, BPF_ANY) ? -errno : 0;
}

static void cidr_key(const struct guard_net *n, struct guard_cidr *k)
{
	memset(k, 0, sizeof(*k));
	k->prefixlen = n->len;
	memcpy(k->addr, n->addr, 16);
}

/*
 * The trie holds exactly the list: new entries are added before stale ones go, so an entry in
 * both the old and the new list is never missing for a moment.
 */
static int sync_list(struct bpf_map *map, const struct guard_list *l)
{
	int fd = bpf_map__fd(map), err = 0;
	struct guard_cidr k, next, *stale = NULL;
	size_t nstale = 0, cap = 0;
	__u8 one = 1;

	for (unsigned i = 0; i < l->n; i++) {
		cidr_key(&l->v[i], &k);
		if (bpf_map_update_elem(fd, &k, &one, BPF_ANY))
			return -errno;
	}
	for (int r = bpf_map_get_next_key(fd, NULL, &next); !r;
	     k = next, r = bpf_map_get_next_key(fd, &k, &next)) {
		struct guard_net n = {.len = (uint8_t)next.prefixlen};

		memcpy(n.addr, next.addr, 16);
		if (guard_list_has(l, &n))
			continue;
		struct guard_cidr *s = grow_array(stale, &cap, nstale + 1, sizeof(*s), 16);

		if (!s) {
			free(stale);
			return -ENOMEM;
		}
		stale = s;
		stale[nstale++] = next;
	}
	for (size_t i = 0; i < nstale; i++)
		if (bpf_map_delete_elem(fd, &stale[i]) && errno != ENOENT)
			err = -errno;
	free(stale);
	return err;
}

static int sync_limits(struct guard *gd, const struct guard_settings *g)
{
	struct guard_config c = {
		.syn_rate = g->syn_rate,
		.syn_burst = g->syn_burst,
		.pkt_rate = g->pkt_rate,
		.pkt_burst = g->pkt_burst,
	};
	__u32 zero = 0;

	if (g->syn_rate) {
		c.syn_interval_ns = 1000000000ull / g->syn_rate;
		c.syn_tolerance_ns = (g->syn_burst - 1ull) * c.syn_interval_ns;
	}
	if (g->pkt_rate) {
		c.pkt_interval_ns = 1000000000ull / g->pkt_rate;
		c.pkt_tolerance_ns = (g->pkt_burst - 1ull) * c.pkt_interval_ns;
	}
	return bpf_map_update_elem(bpf_map__fd(gd->skel->maps.guard_config), &zero, &c, BPF_ANY)
		       ? -errno
		       : 0;
}

static void detach(struct guard *gd)
{
	if (!gd->ifindex)
		return;
	if (bpf_xdp_detach((int)gd->ifindex, gd->flags, NULL))
		pr_warn("xdp: detaching from %s: %s", gd->iface, strerror(errno));
	else
		pr_info("xdp: guard detached from %s", gd->iface);
	gd->ifindex = 0;
	gd->iface[0] = '\0';
}

static int attach(struct guard *gd, const struct guard_settings *g, char *err, size_t errlen)
{
	__u32 flags = g->mode == GUARD_MODE_GENERIC ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE;
	unsigned ifindex = if_nametoindex(g->iface);
	int ret;

	if (gd->ifindex == ifindex && ifindex && gd->flags == flags)
		return 0;
	if (!ifindex) {
		snprintf(err, errlen, "xdp: no interface '%s'", g->iface);
		return -ENODEV;
	}
	/* Another mode on the same interface: the old attachment must go first. */
	if (gd->ifindex == ifindex)
		detach(gd);
	/* Replaces a program a strgd before this one left attached ("keep"). */
	ret = bpf_xdp_attach((int)ifindex, bpf_program__fd(gd->skel->progs.strg_guard), flags,
			     NULL);
	if (!ret)
		detach(gd); /* moved: the old interface is let go once the new one is guarded */
	if (ret) {
		snprintf(err, errlen, "xdp: attaching to %s in %s mode: %s%s", g->iface,
			 g->mode == GUARD_MODE_GENERIC ? "generic" : "native", strerror(-ret),
			 g->mode == GUARD_MODE_NATIVE && ret == -EOPNOTSUPP
				 ? " (its driver has no XDP: use mode generic)"
				 : "");
		return ret;
	}
	gd->ifindex = ifindex;
	gd->flags = flags;
	snprintf(gd->iface, sizeof(gd->iface), "%s", g->iface);
	pr_info("xdp: guard attached to %s (%s mode)", g->iface,
		g->mode == GUARD_MODE_GENERIC ? "generic" : "native");
	return 0;
}

/* New rates start every source afresh (a bucket's time means nothing at another rate). */
static void clear_sources(struct guard *gd)
{
	int fd = bpf_map__fd(gd->skel->maps.guard_sources);
	__u8 key[16];

	while (!bpf_map_get_next_key(fd, NULL, key))
		if (bpf_map_delete_elem(fd, key))
			break;
}

static bool limits_equal(const struct guard_settings *a, const struct guard_settings *b)
{
	return a->syn_rate == b->syn_rate && a->syn_burst == b->syn_burst &&
	       a->pkt_rate == b->pkt_rate && a->pkt_burst == b->pkt_burst;
}

/* The maps follow g; what did not change since the last time is not rewritten. */
static int sync_maps(struct guard *gd, const struct config *cfg)
{
	const struct guard_settings *g = &cfg->guard;
	struct guard_settings copy = {0};
	bool limits = !gd->synced || !limits_equal(&gd->applied, g);
	int ret = 0;

	/* The listen address changes only with a restart: written once, never emptied meanwhile
	 * (a rewrite would leave the listener unguarded for a moment on every change). */
	if (!gd->synced)
		ret = sync_listen(gd, cfg);
	if (!ret && (!gd->synced || !guard_list_equal(&gd->applied.deny, &g->deny)))
		ret = sync_list(gd->skel->maps.guard_deny, &g->deny);
	if (!ret && (!gd->synced || !guard_list_equal(&gd->applied.allow, &g->allow)))
		ret = sync_list(gd->skel->maps.guard_allow, &g->allow);
	if (!ret && limits) {
		ret = sync_limits(gd, g);
		if (!ret && gd->synced)
			clear_sources(gd);
	}
	if (!ret)
		ret = guard_settings_copy(&copy, g);
	guard_settings_free(&gd->applied);
	gd->synced = !ret;
	if (!ret)
		gd->applied = copy;
	return ret;
}

int guard_apply(struct guard *gd, const struct config *cfg, char *err, size_t errlen)
{
	const struct guard_settings *g = &cfg->guard;
	int ret;

	gd->keep = g->keep;
	ret = sync_maps(gd, cfg);
	if (ret) {
		snprintf(err, errlen, "xdp: the guard's maps could not be written: %s",
			 strerror(-ret));
		return ret;
	}
	if (!g->iface[0]) {
		detach(gd);
		gd->problem[0] = '\0';
		return 0;
	}
	ret = attach(gd, g, err, errlen);
	snprintf(gd->problem, sizeof(gd->problem), "%s", ret ? err : "");
	return ret;
}

int guard_counts(struct guard *gd, struct guard_count out[GUARD_REASONS])
{
	struct guard_count *v = calloc((size_t)gd->ncpus, sizeof(*v));
	int fd = bpf_map__fd(gd->skel->maps.guard_stats);

	if (!v)
		return -ENOMEM;
	memset(out, 0, GUARD_REASONS * sizeof(*out));
	for (__u32 r = 0; r < GUARD_REASONS; r++) {
		if (bpf_map_lookup_elem(fd, &r, v)) {
			free(v);
			return -errno;
		}
		for (int c = 0; c < gd->ncpus; c++) {
			out[r].packets += v[c].packets;
			out[r].bytes += v[c].bytes;
		}
	}
	free(v);
	return 0;
}

const char *guard_iface(const struct guard *gd)
{
	return gd->iface;
}

const char *guard_problem(const struct guard *gd)
{
	return gd->problem;
}

unsigned guard_kernel_entries(struct guard *gd, bool deny)
{
	int fd = bpf_map__fd(deny ? gd->skel->maps.guard_deny : gd->skel->maps.guard_allow);
	struct guard_cidr k, next;
	unsigned n = 0;

	for (int r = bpf_map_get_next_key(fd, NULL, &next); !r;
	     k = next, r = bpf_map_get_next_key(fd, &k, &next))
		n++;
	return n;
}

void guard_hand_over(struct guard *gd)
{
	if (gd)
		gd->handed = true;
}

int guard_take_back(struct guard *gd)
{
	int err;

	if (!gd || !gd->handed)
		return 0;
	gd->handed = false;
	err = pin_all(gd);
	/* Guarding comes first: attached again even when the pins could not be. */
	if (gd->ifindex &&
	    bpf_xdp_attach((int)gd->ifindex, bpf_program__fd(gd->skel->progs.strg_guard), gd->flags,
			   NULL))
		err = -errno;
	return err;
}

void guard_close(struct guard *gd)
{
	if (!gd)
		return;
	if (gd->handed) {
		/* The successor's program and pins replaced ours: nothing of it to undo. */
	} else if (gd->keep && gd->ifindex) {
		pr_info("xdp: guard left attached to %s, its maps pinned in %s (xdp ... keep)",
			gd->iface, gd->pin_dir);
	} else if (gd->skel) {
		struct pins_map maps[GUARD_PINS];

		detach(gd);
		pin_list(gd, maps);
		pins_remove(gd->pin_dir, maps, GUARD_PINS);
	}
	guard_bpf__destroy(gd->skel);
	guard_settings_free(&gd->applied);
	free(gd);
}
