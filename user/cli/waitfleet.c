// SPDX-License-Identifier: GPL-2.0-only
/*
 * strgctl --wait-fleet: after a change written to the fleet's store, ask strgd for the hosts'
 * reports ("fleet -j", which it keeps from its watch of nodes/) until every host runs the
 * revision written, or the time runs out: then name the hosts behind. Polling the view strgd
 * already has needs no new protocol, and a host that stopped answering shows as it is.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/ctlclient.h"
#include "cli/waitfleet.h"
#include "lib/clock.h"

#define POLL_MS	  100
#define MAX_HOSTS 256
#define REV_LINE  "in force here at store revision "

/* A host seen in nodes/ since the wait began. */
struct host {
	char name[64];
	int64_t revision;
	bool stale;   /* out of touch with the store, by its own report */
	bool present; /* in the last view: a host that drops out is still waited for */
};

struct hosts {
	struct host v[MAX_HOSTS];
	size_t n;
};

int waitfleet_check(const char *sock)
{
	char *reply = NULL;
	int ret = ctl_call(sock, "fleet -j\n", &reply);

	if (ret == EXIT_OK) {
		ret = -1;
	} else if (ret == EXIT_REFUSED) {
		/* "error: fleet: this strgd has no 'store' line: ..." */
		fprintf(stderr, "strgctl: --wait-fleet: %.*s; nothing was changed\n",
			reply ? (int)strcspn(reply + 7, "\n") : 0, reply ? reply + 7 : "");
		ret = EXIT_USAGE;
	}
	free(reply);
	return ret;
}

int64_t waitfleet_revision(const char *reply)
{
	const char *at = reply ? strstr(reply, REV_LINE) : NULL;

	return at ? strtoll(at + strlen(REV_LINE), NULL, 10) : 0;
}

/* strgd's view of the fleet, parsed; NULL when it could not be had. */
static json_t *view_get(const char *sock)
{
	char *reply = NULL;
	json_t *view = NULL;

	if (ctl_call(sock, "fleet -j\n", &reply) == EXIT_OK)
		view = json_loads(reply + 3, 0, NULL);
	free(reply);
	return view;
}

static struct host *host_of(struct hosts *h, const char *name)
{
	for (size_t i = 0; i < h->n; i++)
		if (!strcmp(h->v[i].name, name))
			return &h->v[i];
	if (h->n == MAX_HOSTS)
		return NULL;
	snprintf(h->v[h->n].name, sizeof(h->v[h->n].name), "%s", name);
	return &h->v[h->n++];
}

/* Take the view's reports in; the number of hosts not yet at revision. */
static size_t hosts_update(struct hosts *h, json_t *view, int64_t revision)
{
	size_t i, behind = 0;
	json_t *n;

	for (i = 0; i < h->n; i++)
		h->v[i].present = false;
	json_array_foreach(json_object_get(view, "nodes"), i, n)
	{
		const char *name = json_string_value(json_object_get(n, "node"));
		struct host *o = name ? host_of(h, name) : NULL;

		if (!o)
			continue;
		o->revision = json_integer_value(json_object_get(n, "revision"));
		o->stale = !json_is_null(json_object_get(n, "stale_since"));
		o->present = true;
	}
	for (i = 0; i < h->n; i++)
		behind += !h->v[i].present || h->v[i].revision < revision;
	return behind;
}

/* "hosts h2 (revision 41), h3 (revision 40, out of touch) have not applied ..." */
static void say_behind(const struct hosts *h, size_t behind, int64_t revision, long ms)
{
	bool first = true;

	fprintf(stderr, "strgctl: fleet: host%s", behind == 1 ? "" : "s");
	for (size_t i = 0; i < h->n; i++) {
		const struct host *o = &h->v[i];

		if (o->present && o->revision >= revision)
			continue;
		fprintf(stderr, "%s %s (", first ? "" : ",", o->name);
		if (!o->present)
			fprintf(stderr, "dropped out of nodes/, last at revision %" PRId64 ")",
				o->revision);
		else
			fprintf(stderr, "revision %" PRId64 "%s)", o->revision,
				o->stale ? ", out of touch" : "");
		first = false;
	}
	fprintf(stderr, " %s not applied revision %" PRId64 " after %.1f s\n",
		behind == 1 ? "has" : "have", revision, (double)ms / 1000);
}

int waitfleet_run(const char *sock, int64_t revision, long limit_ms)
{
	struct hosts *h = calloc(1, sizeof(*h));
	uint64_t t0 = now_ns();
	size_t behind = 0;
	long elapsed;
	json_t *view;
	int ret;

	if (!h)
		return EXIT_REFUSED;
	for (;;) {
		view = view_get(sock);
		if (!view) {
			fprintf(stderr, "strgctl: --wait-fleet: cannot read the fleet's reports\n");
			free(h);
			return EXIT_REFUSED;
		}
		if (!revision) /* the change changed nothing: what this host runs */
			revision = json_integer_value(json_object_get(view, "revision"));
		behind = hosts_update(h, view, revision);
		json_decref(view);
		elapsed = (long)((now_ns() - t0) / 1000000);
		if (h->n && !behind)
			break;
		if (elapsed >= limit_ms)
			break;
		usleep(POLL_MS * 1000);
	}
	if (!h->n)
		fprintf(stderr, "strgctl: fleet: no host reports in nodes/ after %.1f s\n",
			(double)elapsed / 1000);
	else if (behind)
		say_behind(h, behind, revision, elapsed);
	else
		printf("revision %" PRId64 " in force on all %zu hosts (after %.1f s)\n", revision,
		       h->n, (double)elapsed / 1000);
	ret = h->n && !behind ? EXIT_OK : EXIT_REFUSED;
	free(h);
	return ret;
}
