/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The XDP guard's settings as the configuration, the state file and strgctl hold them: the
 * interface it is attached to, the deny and allow lists, the per-source limits. Pure code (no
 * BPF): user/guard.c puts them in force.
 */
#ifndef STRG_GUARDCFG_H
#define STRG_GUARDCFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <linux/types.h>

#include "strg/guard.h"

#define GUARD_IFNAME_MAX 16 /* IFNAMSIZ */
#define GUARD_NET_TEXT	 64 /* "ffff:...:ffff/128" and then some */

/* A CIDR over the 128-bit address space; IPv4 is mapped (::ffff:a.b.c.d), prefix 96 + n. */
struct guard_net {
	uint8_t addr[16]; /* host bits zero */
	uint8_t len;	  /* prefix length over the mapped form: 0..128 */
};

/* A set of CIDRs, sorted and unique. */
struct guard_list {
	unsigned n;
	size_t cap;
	struct guard_net *v;
};

enum guard_mode {
	GUARD_MODE_NATIVE = 0,	/* in the driver (the default); refused where it has no XDP */
	GUARD_MODE_GENERIC = 1, /* after the driver, for any interface (slower) */
};

struct guard_settings {
	char iface[GUARD_IFNAME_MAX]; /* "" : not attached */
	enum guard_mode mode;
	bool keep; /* left attached and pinned when strgd exits */
	struct guard_list deny, allow;
	uint32_t syn_rate, syn_burst; /* new connections per second per source (0: no limit) */
	uint32_t pkt_rate, pkt_burst; /* packets per second per source (0: no limit) */
};

/*
 * "10.0.0.0/8", "2001:db8::/32", "192.0.2.1" (a host): 0, or -EINVAL. Host bits set are an
 * error (a typo as often as not): the message in err names the network meant.
 */
int guard_net_parse(const char *text, struct guard_net *out, char *err, size_t errlen);
/* The CIDR as an operator writes it (IPv4 dotted when mapped). */
const char *guard_net_text(const struct guard_net *n, char *buf, size_t len);
/* Whether addr (16 bytes, mapped for IPv4) is inside n. */
bool guard_net_contains(const struct guard_net *n, const uint8_t addr[16]);

/* 1 added, 0 already there, -ENOSPC full (GUARD_MAX_CIDRS), -ENOMEM. */
int guard_list_add(struct guard_list *l, const struct guard_net *n);
/* 1 deleted, 0 absent. */
int guard_list_del(struct guard_list *l, const struct guard_net *n);
bool guard_list_has(const struct guard_list *l, const struct guard_net *n);
void guard_list_free(struct guard_list *l);
bool guard_list_equal(const struct guard_list *a, const struct guard_list *b);
/*
 * The three-way merge of a list (what the configuration changed since base is applied to live;
 * the rest of live stays): live minus what the file dropped since base, plus what it added.
 * Returns how many entries changed, or -errno.
 */
int guard_list_merge(struct guard_list *live, const struct guard_list *base,
		     const struct guard_list *file);

/* A deep copy (dst's lists are replaced). 0 or -ENOMEM. */
int guard_settings_copy(struct guard_settings *dst, const struct guard_settings *src);
void guard_settings_free(struct guard_settings *g);
/* The settings as configuration lines (xdp, deny, allow, limit), each line after prefix. */
void guard_settings_write(const struct guard_settings *g, FILE *f, const char *prefix);
/* The text of one limit ("100/s burst 20", or "off"). */
const char *guard_limit_text(uint32_t rate, uint32_t burst, char *buf, size_t len);
/* "RATE [burst N]" as config and strgctl write a limit: 0 or -EINVAL with a message. */
int guard_limit_parse(int argc, char **argv, uint32_t *rate, uint32_t *burst, char *err,
		      size_t errlen);

#endif
