// SPDX-License-Identifier: GPL-2.0-only
/* Backend pools: round-robin choice among ready backends, passive down marking, address parsing. */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>

#include "core/pool.h"
#include "lib/clock.h"

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
	p->health.hold_ms = 2000;
	p->health.max_hold_ms = 120000;
	p->health.decay_ms = 30000;
}

uint64_t pool_hold_ns(const struct pool_health *h, unsigned run)
{
	uint64_t hold = ms_ns(h->hold_ms), max = ms_ns(h->max_hold_ms);

	for (unsigned k = 1; k < run && hold < max; k++)
		hold <<= 1;
	return hold < max ? hold : max;
}

/*
 * A slow start ramps linearly from almost nothing to the full weight, as HAProxy's does: at
 * least one unit, so a backend alone in its pool still serves from the first moment.
 */
unsigned pool_weight_now(const struct pool *p, struct pool_runtime *rt, unsigned idx,
			 uint64_t now_ns)
{
	uint64_t w = (uint64_t)p->backends[idx].weight * POOL_WEIGHT_SCALE;
	uint64_t back = rt->b[idx].back_ns, ramp = ms_ns(p->health.slowstart_ms);

	if (!w || !ramp || !back || now_ns >= back + ramp)
		return (unsigned)w;
	w = now_ns > back ? w * (now_ns - back) / ramp : 0;
	return w ? (unsigned)w : 1;
}

int pool_pick(const struct pool *p, struct pool_runtime *rt, uint64_t now_ns)
{
	unsigned n = p->nbackends < POOL_MAX_BACKENDS ? p->nbackends : POOL_MAX_BACKENDS;
	int best = -1, total = 0;

	rt_lock(rt);
	for (unsigned i = 0; i < n; i++) {
		const struct pool_backend *b = &p->backends[i];

		int w;

		if (b->state != BACKEND_READY || !b->weight || rt->b[i].down_until_ns > now_ns ||
		    __atomic_load_n(&rt->b[i].health, __ATOMIC_RELAXED) != HEALTH_UP)
			continue;
		w = (int)pool_weight_now(p, rt, i, now_ns);
		rt->b[i].current += w;
		total += w;
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

/*
 * The ejection itself, under the lock: the run of ejections decays by one per decay period
 * the backend served since it was let back in, then grows by this one, which sets the hold.
 * False when it is already out (a request that was in flight when it was ejected).
 */
static bool eject_locked(const struct pool *p, struct pool_runtime *rt, unsigned idx,
			 uint64_t now_ns)
{
	uint64_t back = rt->b[idx].back_ns, decay = ms_ns(p->health.decay_ms), hold;
	unsigned run = rt->b[idx].run;

	if (rt->b[idx].hold_until_ns > now_ns ||
	    (p->health.active &&
	     __atomic_load_n(&rt->b[idx].health, __ATOMIC_RELAXED) == HEALTH_DOWN))
		return false;
	if (back && now_ns > back && decay) {
		uint64_t quiet = (now_ns - back) / decay;

		run = quiet >= run ? 0 : run - (unsigned)quiet;
	}
	rt->b[idx].run = ++run;
	hold = pool_hold_ns(&p->health, run);
	rt->b[idx].hold_until_ns = now_ns > UINT64_MAX - hold ? UINT64_MAX : now_ns + hold;
	if (!p->health.active) {
		/* No check to admit it: it serves again at the hold's end, with its slow start. */
		rt->b[idx].down_until_ns = rt->b[idx].hold_until_ns;
		rt->b[idx].back_ns = rt->b[idx].hold_until_ns;
	}
	return true;
}

bool pool_request_failed(const struct pool *p, struct pool_runtime *rt, unsigned idx,
			 uint64_t now_ns)
{
	unsigned fails;
	bool ejected;

	if (idx >= POOL_MAX_BACKENDS)
		return false;
	fails = __atomic_add_fetch(&rt->b[idx].fails, 1, __ATOMIC_RELAXED);
	if (!p->health.eject_after || fails < p->health.eject_after)
		return false;
	rt_lock(rt);
	ejected = eject_locked(p, rt, idx, now_ns);
	rt_unlock(rt);
	if (!ejected)
		return false;
	__atomic_store_n(&rt->b[idx].fails, 0, __ATOMIC_RELAXED);
	if (p->health.active)
		return pool_set_health(rt, idx, HEALTH_DOWN);
	__atomic_fetch_add(&rt->b[idx].ejections, 1, __ATOMIC_RELAXED);
	return true;
}

void pool_ejection_text(const struct pool *p, struct pool_runtime *rt, unsigned idx,
			const char *what, char *buf, size_t len)
{
	unsigned run = idx < POOL_MAX_BACKENDS ? rt->b[idx].run : 0;
	uint64_t hold_ms = pool_hold_ns(&p->health, run ? run : 1) / 1000000;

	snprintf(buf, len,
		 "%u failed requests in a row (the last: %s); held %llu.%03llus "
		 "(ejection %u in a row)%s",
		 p->health.eject_after, what, (unsigned long long)(hold_ms / 1000),
		 (unsigned long long)(hold_ms % 1000), run,
		 p->health.active ? ", then its check admits it" : ", then it serves again");
}

bool pool_hold_over(struct pool_runtime *rt, unsigned idx, uint64_t now_ns)
{
	bool over;

	if (idx >= POOL_MAX_BACKENDS)
		return true;
	rt_lock(rt);
	over = rt->b[idx].hold_until_ns <= now_ns;
	rt_unlock(rt);
	return over;
}

uint64_t pool_hold_left_ns(struct pool_runtime *rt, unsigned idx, uint64_t now_ns)
{
	uint64_t until;

	if (idx >= POOL_MAX_BACKENDS)
		return 0;
	rt_lock(rt);
	until = rt->b[idx].hold_until_ns;
	rt_unlock(rt);
	return until > now_ns ? until - now_ns : 0;
}

unsigned pool_ejection_run(struct pool_runtime *rt, unsigned idx)
{
	unsigned run;

	if (idx >= POOL_MAX_BACKENDS)
		return 0;
	rt_lock(rt);
	run = rt->b[idx].run;
	rt_unlock(rt);
	return run;
}

bool pool_admit(struct pool_runtime *rt, unsigned idx, uint64_t now_ns)
{
	if (idx >= POOL_MAX_BACKENDS)
		return false;
	rt_lock(rt);
	rt->b[idx].back_ns = now_ns ? now_ns : 1;
	rt_unlock(rt);
	return pool_set_health(rt, idx, HEALTH_UP);
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
	uint64_t until = now_ns > UINT64_MAX - hold_ns ? UINT64_MAX : now_ns + hold_ns;

	if (idx >= p->nbackends || idx >= POOL_MAX_BACKENDS)
		return;
	rt_lock(rt);
	/* Never shortens an ejection's hold (a connect that was already under way failed). */
	if (until > rt->b[idx].down_until_ns)
		rt->b[idx].down_until_ns = until;
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
	/* A connect that was under way when its backend was ejected does not end the hold. */
	rt->b[idx].down_until_ns = rt->b[idx].hold_until_ns;
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
