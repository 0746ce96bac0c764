// SPDX-License-Identifier: GPL-2.0-only
/* The XDP guard's settings (guardcfg.h): CIDRs, their sorted sets, the limits' words. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/guardcfg.h"
#include "lib/grow.h"

static const uint8_t v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static bool is_mapped(const uint8_t addr[16])
{
	return !memcmp(addr, v4_mapped, sizeof(v4_mapped));
}

/* Whether the bits of addr past len are all zero. */
static bool host_bits_zero(const uint8_t addr[16], unsigned len)
{
	for (unsigned i = len; i < 128; i++)
		if (addr[i / 8] & (0x80 >> (i % 8)))
			return false;
	return true;
}

static void clear_host_bits(uint8_t addr[16], unsigned len)
{
	for (unsigned i = len; i < 128; i++)
		addr[i / 8] &= (uint8_t) ~(0x80 >> (i % 8));
}

int guard_net_parse(const char *text, struct guard_net *out, char *err, size_t errlen)
{
	char host[INET6_ADDRSTRLEN], *end, meant[GUARD_NET_TEXT];
	const char *slash = strchr(text, '/');
	size_t hl = slash ? (size_t)(slash - text) : strlen(text);
	unsigned long len;
	struct in_addr a4;
	bool v4;

	memset(out, 0, sizeof(*out));
	if (hl == 0 || hl >= sizeof(host))
		goto bad;
	memcpy(host, text, hl);
	host[hl] = '\0';
	v4 = inet_pton(AF_INET, host, &a4) == 1;
	if (v4) {
		memcpy(out->addr, v4_mapped, sizeof(v4_mapped));
		memcpy(out->addr + 12, &a4, 4);
	} else if (inet_pton(AF_INET6, host, out->addr) != 1) {
		goto bad;
	}
	len = v4 ? 32 : 128;
	if (slash) {
		if (slash[1] < '0' || slash[1] > '9')
			goto bad;
		errno = 0;
		len = strtoul(slash + 1, &end, 10);
		if (errno || *end || len > (v4 ? 32u : 128u))
			goto bad;
	}
	out->len = (uint8_t)(v4 ? 96 + len : len);
	if (!host_bits_zero(out->addr, out->len)) {
		struct guard_net fixed = *out;

		clear_host_bits(fixed.addr, fixed.len);
		snprintf(err, errlen, "'%s' has host bits set (the network is %s)", text,
			 guard_net_text(&fixed, meant, sizeof(meant)));
		return -EINVAL;
	}
	return 0;
bad:
	snprintf(err, errlen, "bad address or network '%s' (ADDR or ADDR/LEN, IPv4 or IPv6)", text);
	return -EINVAL;
}

const char *guard_net_text(const struct guard_net *n, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	if (is_mapped(n->addr) && n->len >= 96) {
		inet_ntop(AF_INET, n->addr + 12, a, sizeof(a));
		snprintf(buf, len, "%s/%u", a, (unsigned)n->len - 96u);
	} else {
		inet_ntop(AF_INET6, n->addr, a, sizeof(a));
		snprintf(buf, len, "%s/%u", a, n->len);
	}
	return buf;
}

bool guard_net_contains(const struct guard_net *n, const uint8_t addr[16])
{
	for (unsigned i = 0; i < n->len; i++) {
		uint8_t bit = (uint8_t)(0x80 >> (i % 8));

		if ((n->addr[i / 8] & bit) != (addr[i / 8] & bit))
			return false;
	}
	return true;
}

static int net_cmp(const struct guard_net *a, const struct guard_net *b)
{
	int c = memcmp(a->addr, b->addr, sizeof(a->addr));

	return c ? c : (int)a->len - (int)b->len;
}

/* Where n is or would go in the sorted list. */
static unsigned find(const struct guard_list *l, const struct guard_net *n, bool *found)
{
	unsigned lo = 0, hi = l->n;

	*found = false;
	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;
		int c = net_cmp(&l->v[mid], n);

		if (!c) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int guard_list_add(struct guard_list *l, const struct guard_net *n)
{
	bool found;
	unsigned at = find(l, n, &found);
	struct guard_net *v;

	if (found)
		return 0;
	if (l->n >= GUARD_MAX_CIDRS)
		return -ENOSPC;
	v = grow_array(l->v, &l->cap, (size_t)l->n + 1, sizeof(*l->v), 16);
	if (!v)
		return -ENOMEM;
	l->v = v;
	memmove(&l->v[at + 1], &l->v[at], (l->n - at) * sizeof(*l->v));
	l->v[at] = *n;
	l->n++;
	return 1;
}

int guard_list_del(struct guard_list *l, const struct guard_net *n)
{
	bool found;
	unsigned at = find(l, n, &found);

	if (!found)
		return 0;
	memmove(&l->v[at], &l->v[at + 1], (l->n - at - 1) * sizeof(*l->v));
	l->n--;
	return 1;
}

bool guard_list_has(const struct guard_list *l, const struct guard_net *n)
{
	bool found;

	find(l, n, &found);
	return found;
}

void guard_list_free(struct guard_list *l)
{
	free(l->v);
	memset(l, 0, sizeof(*l));
}

bool guard_list_equal(const struct guard_list *a, const struct guard_list *b)
{
	return a->n == b->n && (!a->n || !memcmp(a->v, b->v, a->n * sizeof(*a->v)));
}

int guard_list_merge(struct guard_list *live, const struct guard_list *base,
		     const struct guard_list *file)
{
	int changed = 0, r;

	for (unsigned i = 0; i < base->n; i++)
		if (!guard_list_has(file, &base->v[i]))
			changed += guard_list_del(live, &base->v[i]);
	for (unsigned i = 0; i < file->n; i++) {
		if (guard_list_has(base, &file->v[i]))
			continue;
		r = guard_list_add(live, &file->v[i]);
		if (r < 0)
			return r;
		changed += r;
	}
	return changed;
}

static int list_copy(struct guard_list *dst, const struct guard_list *src)
{
	struct guard_list l = {0};

	if (src->n) {
		l.v = malloc(src->n * sizeof(*l.v));
		if (!l.v)
			return -ENOMEM;
		memcpy(l.v, src->v, src->n * sizeof(*l.v));
		l.n = l.cap = src->n;
	}
	*dst = l;
	return 0;
}

int guard_settings_copy(struct guard_settings *dst, const struct guard_settings *src)
{
	struct guard_settings g = *src;

	if (list_copy(&g.deny, &src->deny))
		return -ENOMEM;
	if (list_copy(&g.allow, &src->allow)) {
		guard_list_free(&g.deny);
		return -ENOMEM;
	}
	*dst = g;
	return 0;
}

void guard_settings_free(struct guard_settings *g)
{
	guard_list_free(&g->deny);
	guard_list_free(&g->allow);
}

const char *guard_limit_text(uint32_t rate, uint32_t burst, char *buf, size_t len)
{
	if (!rate)
		snprintf(buf, len, "off");
	else
		snprintf(buf, len, "%u/s burst %u", rate, burst);
	return buf;
}

void guard_settings_write(const struct guard_settings *g, FILE *f, const char *prefix)
{
	char t[GUARD_NET_TEXT];

	if (g->iface[0])
		fprintf(f, "%sxdp %s mode %s%s\n", prefix, g->iface,
			g->mode == GUARD_MODE_GENERIC ? "generic" : "native",
			g->keep ? " keep" : "");
	for (unsigned i = 0; i < g->deny.n; i++)
		fprintf(f, "%sdeny %s\n", prefix, guard_net_text(&g->deny.v[i], t, sizeof(t)));
	for (unsigned i = 0; i < g->allow.n; i++)
		fprintf(f, "%sallow %s\n", prefix, guard_net_text(&g->allow.v[i], t, sizeof(t)));
	if (g->syn_rate)
		fprintf(f, "%slimit syn %u burst %u\n", prefix, g->syn_rate, g->syn_burst);
	if (g->pkt_rate)
		fprintf(f, "%slimit packets %u burst %u\n", prefix, g->pkt_rate, g->pkt_burst);
}

static int parse_u32(const char *s, uint32_t max, uint32_t *out)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || v > max || (*end && strcmp(end, "/s")))
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

int guard_limit_parse(int argc, char **argv, uint32_t *rate, uint32_t *burst, char *err,
		      size_t errlen)
{
	uint32_t r, b;

	if ((argc != 1 && argc != 3) || parse_u32(argv[0], 100000000, &r) ||
	    (argc == 3 && (strcmp(argv[1], "burst") || parse_u32(argv[2], 100000000, &b) ||
			   strchr(argv[2], '/')))) {
		snprintf(err, errlen, "expects RATE [burst N] (per second, 0 for no limit)");
		return -EINVAL;
	}
	if (argc == 1)
		b = r; /* a second's worth */
	if (r && !b) {
		snprintf(err, errlen, "burst 0 would refuse everything (at least 1)");
		return -EINVAL;
	}
	*rate = r;
	*burst = r ? b : 0;
	return 0;
}
