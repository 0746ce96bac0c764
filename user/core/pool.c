// SPDX-License-Identifier: GPL-2.0-only
/* Backend pools: round-robin choice among ready backends, passive down marking, address parsing. */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>

#include "core/pool.h"

/* Held for a few dozen instructions at most: a spin costs less than anything else here. */
static void rt_lock(struct pool_runtime *rt)
{
	while (atomic_flag_test_and_set_explicit(&rt->lock, memory_order_acquire))
		;
}

static void rt_unlock(struct pool_runtime *rt)
{
	atomic_flag_clear_explicit(&rt->lock, memory_order_release);
}

void pool_init(struct pool *p, const char *name)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", name);
	p->health.interval_ms = 2000;
	p->health.timeout_ms = 1000;
	p->health.rise = 2;
	p->health.fall = 3;
	p->health.eject_after = 3;
}

int pool_pick(const struct pool *p, struct pool_runtime *rt, uint64_t now_ns)
{
	unsigned n = p->nbackends < POOL_MAX_BACKENDS ? p->nbackends : POOL_MAX_BACKENDS;
	int best = -1, total = 0;

	rt_lock(rt);
	for (unsigned i = 0; i < n; i++) {
		const struct pool_backend *b = &p->backends[i];

		if (b->state != BACKEND_READY || !b->weight || rt->b[i].down_until_ns > now_ns ||
		    __atomic_load_n(&rt->b[i].health, __ATOMIC_RELAXED) != HEALTH_UP)
			continue;
		rt->b[i].current += (int)b->weight;
		total += (int)b->weight;
		if (best < 0 || rt->b[i].current > rt->b[best].current)
			best = (int)i;
	}
	if (best >= 0)
		rt->b[best].current -= total;
	rt_unlock(rt);
	return best;
}

bool pool_backend_serves(const struct pool *p, struct pool_runtime *rt, unsigned idx)
{
	return idx < p->nbackends && idx < POOL_MAX_BACKENDS &&
	       p->backends[idx].state == BACKEND_READY &&
	       __atomic_load_n(&rt->b[idx].health, __ATOMIC_RELAXED) == HEALTH_UP;
}

bool pool_available(const struct pool *p, struct pool_runtime *rt, uint64_t now_ns)
{
	unsigned n = p->nbackends < POOL_MAX_BACKENDS ? p->nbackends : POOL_MAX_BACKENDS;
	bool any = false;

	rt_lock(rt);
	for (unsigned i = 0; i < n && !any; i++)
		any = p->backends[i].state == BACKEND_READY && p->backends[i].weight &&
		      rt->b[i].down_until_ns <= now_ns &&
		      __atomic_load_n(&rt->b[i].health, __ATOMIC_RELAXED) == HEALTH_UP;
	rt_unlock(rt);
	return any;
}

bool pool_set_health(struct pool_runtime *rt, unsigned idx, enum backend_health h)
{
	if (idx >= POOL_MAX_BACKENDS ||
	    __atomic_exchange_n(&rt->b[idx].health, (int)h, __ATOMIC_ACQ_REL) == (int)h)
		return false;
	__atomic_fetch_add(h == HEALTH_UP ? &rt->b[idx].admissions : &rt->b[idx].ejections, 1,
			   __ATOMIC_RELAXED);
	__atomic_fetch_add(&rt->health_gen, 1, __ATOMIC_RELEASE);
	return true;
}

enum backend_health pool_health_of(struct pool_runtime *rt, unsigned idx)
{
	return idx < POOL_MAX_BACKENDS
		       ? (enum backend_health)__atomic_load_n(&rt->b[idx].health, __ATOMIC_ACQUIRE)
		       : HEALTH_UP;
}

bool pool_request_failed(const struct pool *p, struct pool_runtime *rt, unsigned idx,
			 uint64_t now_ns, uint64_t hold_ns)
{
	unsigned fails;

	if (idx >= POOL_MAX_BACKENDS)
		return false;
	fails = __atomic_add_fetch(&rt->b[idx].fails, 1, __ATOMIC_RELAXED);
	if (!p->health.eject_after || fails < p->health.eject_after)
		return false;
	/* With a check, the check admits it again; without, it is tried after the hold. */
	if (p->health.active)
		return pool_set_health(rt, idx, HEALTH_DOWN);
	__atomic_store_n(&rt->b[idx].fails, 0, __ATOMIC_RELAXED);
	__atomic_fetch_add(&rt->b[idx].ejections, 1, __ATOMIC_RELAXED);
	pool_mark_down(p, rt, idx, now_ns, hold_ns);
	return true;
}

void pool_request_ok(struct pool_runtime *rt, unsigned idx)
{
	if (idx < POOL_MAX_BACKENDS && __atomic_load_n(&rt->b[idx].fails, __ATOMIC_RELAXED))
		__atomic_store_n(&rt->b[idx].fails, 0, __ATOMIC_RELAXED);
}

void pool_conns_add(struct pool_runtime *rt, unsigned idx, int delta)
{
	if (idx < POOL_MAX_BACKENDS)
		__atomic_fetch_add(&rt->b[idx].conns, delta, __ATOMIC_RELAXED);
}

void pool_inflight_add(struct pool_runtime *rt, unsigned idx, int delta)
{
	if (idx < POOL_MAX_BACKENDS)
		__atomic_fetch_add(&rt->b[idx].inflight, delta, __ATOMIC_RELAXED);
}

int pool_backend_find(const struct pool *p, const char *text)
{
	for (unsigned i = 0; i < p->nbackends && i < POOL_MAX_BACKENDS; i++)
		if (p->backends[i].state != BACKEND_REMOVED && !strcmp(p->backends[i].name, text))
			return (int)i;
	return -1;
}

static const char *const state_names[] = {"ready", "drain", "maint", "removed"};

int pool_state_parse(const char *s, enum backend_state *out)
{
	for (unsigned i = BACKEND_READY; i <= BACKEND_MAINT; i++) {
		if (!strcmp(s, state_names[i])) {
			*out = (enum backend_state)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *pool_state_name(enum backend_state s)
{
	return (unsigned)s <= BACKEND_REMOVED ? state_names[s] : "?";
}

void pool_mark_down(const struct pool *p, struct pool_runtime *rt, unsigned idx, uint64_t now_ns,
		    uint64_t hold_ns)
{
	if (idx >= p->nbackends || idx >= POOL_MAX_BACKENDS)
		return;
	rt_lock(rt);
	rt->b[idx].down_until_ns = now_ns > UINT64_MAX - hold_ns ? UINT64_MAX : now_ns + hold_ns;
	rt_unlock(rt);
}

void pool_connect_failed(const struct pool *p, struct pool_runtime *rt, unsigned idx, bool timeout,
			 uint64_t now_ns, uint64_t hold_ns)
{
	if (idx >= POOL_MAX_BACKENDS)
		return;
	__atomic_fetch_add(timeout ? &rt->b[idx].connect_timeouts : &rt->b[idx].connect_errors, 1,
			   __ATOMIC_RELAXED);
	pool_mark_down(p, rt, idx, now_ns, hold_ns);
}

void pool_response_timeout(struct pool_runtime *rt, unsigned idx)
{
	if (idx < POOL_MAX_BACKENDS)
		__atomic_fetch_add(&rt->b[idx].response_timeouts, 1, __ATOMIC_RELAXED);
}

bool pool_held_down(struct pool_runtime *rt, unsigned idx, uint64_t now_ns)
{
	bool down;

	if (idx >= POOL_MAX_BACKENDS)
		return false;
	rt_lock(rt);
	down = rt->b[idx].down_until_ns > now_ns;
	rt_unlock(rt);
	return down;
}

void pool_check_failed(struct pool_runtime *rt, unsigned idx, const char *why, uint64_t now_ns)
{
	if (idx >= POOL_MAX_BACKENDS)
		return;
	rt_lock(rt);
	snprintf(rt->b[idx].check_error, sizeof(rt->b[idx].check_error), "%s", why);
	rt->b[idx].check_error_ns = now_ns;
	rt_unlock(rt);
}

uint64_t pool_check_error(struct pool_runtime *rt, unsigned idx, char *out, size_t len)
{
	uint64_t when;

	if (len)
		out[0] = '\0';
	if (idx >= POOL_MAX_BACKENDS)
		return 0;
	rt_lock(rt);
	snprintf(out, len, "%s", rt->b[idx].check_error);
	when = rt->b[idx].check_error_ns;
	rt_unlock(rt);
	return when;
}

const char *pool_health_word(struct pool_runtime *rt, unsigned idx, uint64_t now_ns)
{
	if (pool_health_of(rt, idx) != HEALTH_UP)
		return "ejected";
	return pool_held_down(rt, idx, now_ns) ? "held-down" : "healthy";
}

void pool_mark_up(const struct pool *p, struct pool_runtime *rt, unsigned idx)
{
	if (idx >= p->nbackends || idx >= POOL_MAX_BACKENDS)
		return;
	rt_lock(rt);
	rt->b[idx].down_until_ns = 0;
	rt_unlock(rt);
}

/* Decimal 1..65535 and nothing else: no sign, no spaces, no service names. */
static int port_parse(const char *s, uint16_t *port)
{
	unsigned long v = 0;

	if (!*s)
		return -ERANGE;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -ERANGE;
		v = v * 10 + (unsigned long)(*s - '0');
		if (v > 65535)
			return -ERANGE;
	}
	if (!v)
		return -ERANGE;
	*port = (uint16_t)v;
	return 0;
}

int pool_addr_split(const char *text, char *host, size_t hostlen, uint16_t *port)
{
	const char *h = text, *colon;
	size_t len;

	if (text[0] == '[') {
		h = text + 1;
		colon = strchr(h, ']');
		if (!colon || colon[1] != ':')
			return -EINVAL;
		len = (size_t)(colon - h);
		colon++;
	} else {
		colon = strrchr(text, ':');
		if (!colon)
			return -EINVAL;
		len = (size_t)(colon - text);
		/* An unbracketed IPv6 address cannot be told apart from its port. */
		if (memchr(text, ':', len))
			return -EINVAL;
	}
	if (!len || len >= hostlen)
		return -EINVAL;
	if (port_parse(colon + 1, port))
		return -ERANGE;
	memcpy(host, h, len);
	host[len] = '\0';
	return 0;
}

/* Numeric first so an address literal never reaches the resolver; names are allowed after. */
static int resolve(const char *host, uint16_t port, bool v6_only, struct pool_backend *b)
{
	struct addrinfo hints = {
		.ai_family = v6_only ? AF_INET6 : AF_UNSPEC,
		.ai_socktype = SOCK_STREAM,
		.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV,
	};
	struct addrinfo *res;
	char serv[8];
	int rc;

	snprintf(serv, sizeof(serv), "%u", port);
	rc = getaddrinfo(host, serv, &hints, &res);
#ifndef STRG_NUMERIC_ONLY /* fuzzing builds: no name lookups */
	if (rc == EAI_NONAME && !v6_only) {
		/* No AI_ADDRCONFIG: backends on loopback must resolve on a host without v4/v6. */
		hints.ai_flags = AI_NUMERICSERV;
		rc = getaddrinfo(host, serv, &hints, &res);
	}
#endif
	if (rc)
		return -EINVAL;
	if (res->ai_addrlen > sizeof(b->addr)) {
		freeaddrinfo(res);
		return -EINVAL;
	}
	memcpy(&b->addr, res->ai_addr, res->ai_addrlen);
	b->addrlen = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

int pool_backend_parse(struct pool_backend *b, const char *text)
{
	struct pool_backend nb = {0};
	char host[256];
	uint16_t port;
	size_t len = strlen(text);

	if (len >= sizeof(nb.name))
		return -EINVAL;
	if (pool_addr_split(text, host, sizeof(host), &port))
		return -EINVAL;
	if (resolve(host, port, text[0] == '[', &nb))
		return -EINVAL;
	memcpy(nb.name, text, len + 1);
	nb.weight = 1;
	nb.state = BACKEND_READY;
	*b = nb;
	return 0;
}
