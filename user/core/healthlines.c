// SPDX-License-Identifier: GPL-2.0-only
/*
 * A pool's health settings as configuration lines, registered with the parser from here:
 * "health" (active checks, run by dataplane/health.c) and "eject" (passive, by failed requests).
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "core/confword.h"
#include "core/config.h"

/* health POOL http PATH [status N] [interval T] [rise N] [fall N] [timeout T] */
static int do_health(struct config_parser *ps, int argc, char **argv)
{
	struct pool_health h;
	struct pool *p;

	if (argc < 4 || strcmp(argv[2], "http"))
		return config_err(ps,
				  "health: expects POOL http PATH [status N] [interval T] [rise N] "
				  "[fall N] [timeout T]");
	p = config_named_pool(ps, "health", argv[1]);
	if (!p)
		return -EINVAL;
	if (argv[3][0] != '/' || strlen(argv[3]) >= sizeof(h.path) || strpbrk(argv[3], " \t\r\n"))
		return config_err(ps,
				  "health: bad path '%.64s' (an absolute path, at most %zu bytes)",
				  argv[3], sizeof(h.path) - 1);
	h = p->health;
	h.active = true;
	strcpy(h.path, argv[3]);
	for (int i = 4; i < argc; i += 2) {
		uint32_t v;
		bool dur = !strcmp(argv[i], "interval") || !strcmp(argv[i], "timeout");

		if (i + 1 >= argc || (strcmp(argv[i], "status") && strcmp(argv[i], "rise") &&
				      strcmp(argv[i], "fall") && !dur))
			return config_err(
				ps,
				"health: unknown option '%s' (status, interval, rise, fall, "
				"timeout, each with a value)",
				argv[i]);
		if (dur ? confword_duration(argv[i + 1], &v) : confword_uint(argv[i + 1], &v))
			return config_err(ps, "health: %s: bad value '%s'", argv[i], argv[i + 1]);
		if (!strcmp(argv[i], "status")) {
			if (v < 100 || v > 599)
				return config_err(ps, "health: status %u is not 100 to 599", v);
			h.status = v;
		} else if (!strcmp(argv[i], "interval")) {
			h.interval_ms = v;
		} else if (!strcmp(argv[i], "timeout")) {
			h.timeout_ms = v;
		} else {
			if (v < 1 || v > 100)
				return config_err(ps, "health: %s %u is not 1 to 100", argv[i], v);
			*(!strcmp(argv[i], "rise") ? &h.rise : &h.fall) = v;
		}
	}
	if (h.timeout_ms > h.interval_ms)
		return config_err(ps, "health: timeout %ums is longer than interval %ums",
				  h.timeout_ms, h.interval_ms);
	p->health = h;
	return 0;
}

#define EJECT_USAGE                                                                                \
	"eject: expects POOL after N [5xx] [hold T] [max-hold T] [decay T] [slowstart T]"

/* A duration option of eject; slowstart alone may be 0 (off). */
static int eject_option(struct config_parser *ps, struct pool_health *h, const char *name,
			const char *value)
{
	static const struct {
		const char *name;
		size_t off;
	} opts[] = {
		{"hold", offsetof(struct pool_health, hold_ms)},
		{"max-hold", offsetof(struct pool_health, max_hold_ms)},
		{"decay", offsetof(struct pool_health, decay_ms)},
		{"slowstart", offsetof(struct pool_health, slowstart_ms)},
	};
	uint32_t ms = 0;
	int err;

	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
		if (strcmp(name, opts[i].name))
			continue;
		if (!value)
			return config_err(ps, "eject: %s: expects a duration", name);
		err = !strcmp(name, "slowstart") && !strcmp(value, "0")
			      ? 0
			      : confword_duration(value, &ms);
		if (err == -ERANGE)
			return config_err(ps, "eject: %s '%s' out of range (1ms to 60m)", name,
					  value);
		if (err)
			return config_err(
				ps, "eject: %s: bad duration '%s' (a number, then ms, s or m)",
				name, value);
		*(uint32_t *)((char *)h + opts[i].off) = ms;
		return 0;
	}
	return config_err(ps, "eject: unknown option '%s' (hold, max-hold, decay, slowstart)",
			  name);
}

/*
 * eject POOL after N [5xx] [hold T] [max-hold T] [decay T] [slowstart T]: N failed requests in
 * a row eject a backend (0: never), for a hold that grows while it keeps failing (pool.h).
 */
static int do_eject(struct config_parser *ps, int argc, char **argv)
{
	struct pool_health h;
	struct pool *p;
	uint32_t n;
	int i = 4;

	if (argc < 4 || strcmp(argv[2], "after"))
		return config_err(ps, EJECT_USAGE);
	p = config_named_pool(ps, "eject", argv[1]);
	if (!p)
		return -EINVAL;
	if (confword_uint(argv[3], &n) || n > 1000)
		return config_err(ps, "eject: '%s' is not 0 to 1000", argv[3]);
	h = p->health;
	h.eject_after = n;
	h.eject_5xx = argc > 4 && !strcmp(argv[4], "5xx");
	for (i += h.eject_5xx; i < argc; i += 2)
		if (eject_option(ps, &h, argv[i], i + 1 < argc ? argv[i + 1] : NULL))
			return -EINVAL;
	if (h.max_hold_ms < h.hold_ms)
		return config_err(ps, "eject: max-hold %ums is shorter than hold %ums",
				  h.max_hold_ms, h.hold_ms);
	p->health = h;
	return 0;
}

static const struct config_directive health_directives[] = {
	{"health", NULL, do_health},
	{"eject", NULL, do_eject},
};

CONFIG_DIRECTIVES(health, health_directives)
