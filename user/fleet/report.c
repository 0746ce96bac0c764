// SPDX-License-Identifier: GPL-2.0-only
/*
 * This host's report in the store, nodes/NAME under a lease of STORE_LEASE_TTL_S: written again
 * whenever what it says changes, the lease renewed every third of its TTL. A host that dies, or
 * is cut off from the store, drops out when the lease runs out. When the store cannot be reached
 * here, the follower's watch is made to reconnect too: a watch over a cut link can stay silent.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "fleet/store-t.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "lib/version.h"

#define RENEW_MS (STORE_LEASE_TTL_S * 1000 / 3)

/* What this host reports, read under the store's lock (also for strgctl fleet and /metrics). */
void store_status(struct store *st, struct store_status *out)
{
	pthread_mutex_lock(&st->lock);
	*out = st->status;
	out->hosts = (unsigned)st->nodes.n;
	pthread_mutex_unlock(&st->lock);
}

void store_report_bump(struct store *st)
{
	st->report_gen++;
	pthread_cond_broadcast(&st->cond);
}

static json_t *stamp_json(uint64_t ms)
{
	char buf[40];
	time_t s = (time_t)(ms / 1000);
	struct tm tm;

	if (!ms)
		return json_null();
	gmtime_r(&s, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), ".%03uZ", (unsigned)(ms % 1000));
	return json_string(buf);
}

static char *report_text(struct store *st)
{
	struct store_status s;
	char hash[20];
	json_t *j;
	char *text;

	store_status(st, &s);
	snprintf(hash, sizeof(hash), "%016" PRIx64, s.hash);
	j = json_pack("{s:i, s:s, s:s, s:s, s:I, s:s, s:I, s:s, s:o, s:o}", "schema", 1, "node",
		      st->set.node, "version", STRG_VERSION, "address", st->listen, "revision",
		      (json_int_t)s.revision, "table_hash", hash, "rejected_revision",
		      (json_int_t)s.rejected_revision, "rejected", s.rejected, "stale_since",
		      stamp_json(s.stale_since_ms), "updated", stamp_json(wall_ms()));
	text = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(j);
	return text;
}

static int put_report(struct store *st)
{
	char key[256], *text = report_text(st);
	int err;

	if (!text)
		return -ENOMEM;
	snprintf(key, sizeof(key), "%snodes/%s", st->set.prefix, st->set.node);
	err = etcd_put(st->er, key, text, strlen(text), st->lease);
	free(text);
	return err;
}

/* One turn: a lease held, the report written if it changed, the lease renewed when due. */
static int report_turn(struct store *st, uint64_t gen, uint64_t *written, uint64_t *renewed)
{
	uint64_t now = wall_ms();
	int64_t ttl;
	int err = 0;

	if (!st->lease) {
		err = etcd_lease_grant(st->er, STORE_LEASE_TTL_S, &st->lease);
		if (err)
			return err;
		*written = gen - 1; /* a new lease: the report goes with it */
		*renewed = now;
	}
	/* Renewed when due even while the report keeps changing: a put does not renew it. */
	if (now - *renewed >= RENEW_MS) {
		err = etcd_lease_keepalive(st->er, st->lease, &ttl);
		if (!err)
			*renewed = now;
	}
	if (!err && *written != gen) {
		err = put_report(st);
		if (!err)
			*written = gen;
	}
	if (err == -ENOENT || (err && strstr(etcd_error(st->er), "lease not found"))) {
		pr_warn("store: the lease of nodes/%s ran out: a new one", st->set.node);
		st->lease = 0;
	}
	return err;
}

/* Until the report changes, a renewal is due, or the store closes. */
static void wait_turn(struct store *st, uint64_t gen, unsigned ms)
{
	struct timespec ts = wall_in(ms);

	pthread_mutex_lock(&st->lock);
	while (!st->stop && st->report_gen == gen && !store_jobs_queued(st) &&
	       pthread_cond_timedwait(&st->cond, &st->lock, &ts) == 0)
		;
	pthread_mutex_unlock(&st->lock);
}

void *store_report_run(void *arg)
{
	struct store *st = arg;
	uint64_t gen, written = 0, renewed = 0;
	unsigned fails = 0;
	bool stop;

	for (;;) {
		pthread_mutex_lock(&st->lock);
		gen = st->report_gen + 1; /* 0 is never written: the first turn writes */
		stop = st->stop;
		pthread_mutex_unlock(&st->lock);
		if (stop)
			break;
		store_jobs_run(st);
		if (report_turn(st, gen, &written, &renewed)) {
			/* The follower's watch reconnects too: it may hang on a cut link. */
			if (++fails == 1)
				etcd_watch_stop(st->ew);
			wait_turn(st, gen - 1, 500);
			continue;
		}
		fails = 0;
		wait_turn(st, gen - 1, RENEW_MS / 3);
	}
	if (st->lease)
		etcd_lease_revoke(st->er, st->lease); /* a host that stops drops out at once */
	return NULL;
}
