// SPDX-License-Identifier: GPL-2.0-only
/*
 * Changes of the fleet's table made on this host (strgctl, a rollback's trip): the objects that
 * differ, written in one etcd transaction that holds only if none of its keys changed since the
 * revision this host runs, so two operators cannot overwrite each other unseen. Worker 0 queues
 * them; the reporter thread writes them (worker 0 never waits for the network).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fleet/schema.h"
#include "fleet/store-t.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "lib/ring.h"

#define OUTCOME_WAIT_MS 10000 /* written, yet not in force here after this: said so */

void store_wake(struct io_uring *ring, int fd)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

	if (!sqe)
		return;
	io_uring_prep_msg_ring(sqe, fd, 0, ring_tag(NULL, RING_OP_ACK), 0);
	io_uring_sqe_set_data64(sqe, 0);
	io_uring_submit_and_wait(ring, 1);
	io_uring_cq_advance(ring, io_uring_cq_ready(ring));
}

static void job_free(struct store_job *j)
{
	for (size_t i = 0; j && i < j->n; i++) {
		free(j->keys[i]);
		free(j->values[i]);
	}
	if (j) {
		free(j->keys);
		free(j->values);
		free(j->ops);
		free(j->cmps);
	}
	free(j);
}

void store_jobs_free(struct store *st)
{
	while (st->jobs) {
		struct store_job *j = st->jobs;

		st->jobs = j->next;
		job_free(j);
	}
}

/* One op of the job: put of an object, or delete of a name. */
static int job_op(struct store_job *j, const struct store *st, const struct fleet_obj *ob, bool del)
{
	size_t i = j->n;

	j->keys[i] = malloc(strlen(st->set.prefix) + strlen(ob->name) + 1);
	j->values[i] = del ? NULL : strdup(ob->value);
	if (!j->keys[i] || (!del && !j->values[i]))
		return -ENOMEM;
	sprintf(j->keys[i], "%s%s", st->set.prefix, ob->name);
	j->ops[i] = (struct etcd_op){.kind = del ? ETCD_DELETE : ETCD_PUT,
				     .key = j->keys[i],
				     .value = j->values[i],
				     .value_len = del ? 0 : ob->len};
	/* Unchanged since the revision in force here (absent keys included: mod revision 0). */
	j->cmps[i] =
		(struct etcd_cmp){.key = j->keys[i], .mod_revision = j->base + 1, .less = true};
	j->n++;
	return 0;
}

static struct store_job *job_new(const struct store *st, const struct fleet_diff *d, int64_t base)
{
	size_t n = d->nput + d->ndel;
	struct store_job *j = calloc(1, sizeof(*j));
	int err = 0;

	if (!j)
		return NULL;
	j->base = base;
	j->keys = calloc(n, sizeof(*j->keys));
	j->values = calloc(n, sizeof(*j->values));
	j->ops = calloc(n, sizeof(*j->ops));
	j->cmps = calloc(n, sizeof(*j->cmps));
	err = j->keys && j->values && j->ops && j->cmps ? 0 : -ENOMEM;
	for (size_t i = 0; i < d->nput && !err; i++)
		err = job_op(j, st, d->put[i], false);
	for (size_t i = 0; i < d->ndel && !err; i++)
		err = job_op(j, st, d->del[i], true);
	if (err) {
		job_free(j);
		return NULL;
	}
	return j;
}

static int diff_of(const struct config *live, const struct config *draft, struct fleet_objs *a,
		   struct fleet_objs *b, struct fleet_diff *d)
{
	int err = fleet_schema_encode(live, a);

	if (!err)
		err = fleet_schema_encode(draft, b);
	if (!err)
		err = fleet_objs_diff(a, b, d);
	return err;
}

int64_t store_submit(struct store *st, const struct config *live, const struct config *draft,
		     bool orphan, char *err, size_t errlen)
{
	struct fleet_objs a = {0}, b = {0};
	struct fleet_diff d = {0};
	struct store_job *j = NULL;
	int64_t ret;

	ret = diff_of(live, draft, &a, &b, &d);
	if (!ret && d.nput + d.ndel) {
		pthread_mutex_lock(&st->lock);
		j = job_new(st, &d, st->status.revision);
		if (j) {
			j->ticket = ret = ++st->tickets;
			j->orphan = orphan;
			j->next = st->jobs;
			st->jobs = j;
			pthread_cond_broadcast(&st->cond);
		}
		pthread_mutex_unlock(&st->lock);
		if (!j)
			ret = -ENOMEM;
	}
	if (ret < 0)
		snprintf(err, errlen, "out of memory for the change");
	fleet_diff_free(&d);
	fleet_objs_free(&a);
	fleet_objs_free(&b);
	return ret;
}

bool store_jobs_queued(const struct store *st)
{
	for (const struct store_job *j = st->jobs; j; j = j->next)
		if (j->state == STORE_JOB_QUEUED)
			return true;
	return false;
}

/* A conflict, in words: which of the job's keys changed after its base revision. */
static void explain_conflict(struct store *st, struct store_job *j)
{
	size_t len = 0, plen = strlen(st->set.prefix);

	len += (size_t)snprintf(j->msg, sizeof(j->msg),
				"conflict: changed in the store since "
				"revision %" PRId64 " (this host's):",
				j->base);
	for (size_t i = 0; i < j->n && len < sizeof(j->msg); i++) {
		struct etcd_range r;

		if (etcd_get(st->er, j->keys[i], &r))
			continue;
		if (r.n && r.kvs[0].mod_revision > j->base)
			len += (size_t)snprintf(j->msg + len, sizeof(j->msg) - len,
						" %s (at revision %" PRId64 ")", j->keys[i] + plen,
						r.kvs[0].mod_revision);
		else if (!r.n && j->ops[i].kind == ETCD_PUT)
			len += (size_t)snprintf(j->msg + len, sizeof(j->msg) - len,
						" %s (deleted, or created and deleted)",
						j->keys[i] + plen);
		etcd_range_free(&r);
	}
	if (len < sizeof(j->msg))
		snprintf(j->msg + len, sizeof(j->msg) - len,
			 "; nothing written: look again, retry");
}

static void job_run(struct store *st, struct store_job *j)
{
	struct etcd_header h = {0};
	int err = etcd_txn(st->er, j->cmps, j->n, j->ops, j->n, &h);

	if (err == -ECANCELED)
		explain_conflict(st, j);
	else if (err)
		snprintf(j->msg, sizeof(j->msg), "the store: %s", etcd_error(st->er));
	pthread_mutex_lock(&st->lock);
	j->err = err;
	j->revision = h.revision;
	j->state = err ? STORE_JOB_FAILED : STORE_JOB_WRITTEN;
	j->done_ms = wall_ms();
	pthread_mutex_unlock(&st->lock);
	if (j->orphan && err)
		pr_warn("store: this host's change was not written: %s", j->msg);
	else if (j->orphan)
		pr_info("store: this host's change written at revision %" PRId64, h.revision);
}

/* Unlink and free the job (lock held). */
static void job_drop(struct store *st, struct store_job *j)
{
	for (struct store_job **p = &st->jobs; *p; p = &(*p)->next)
		if (*p == j) {
			*p = j->next;
			break;
		}
	job_free(j);
}

void store_jobs_run(struct store *st)
{
	for (;;) {
		struct store_job *j, *next = NULL;

		pthread_mutex_lock(&st->lock);
		/* The oldest first: the list is newest first. */
		for (j = st->jobs; j; j = j->next)
			if (j->state == STORE_JOB_QUEUED)
				next = j;
		pthread_mutex_unlock(&st->lock);
		if (!next)
			return;
		job_run(st, next);
		pthread_mutex_lock(&st->lock);
		if (next->orphan)
			job_drop(st, next);
		pthread_mutex_unlock(&st->lock);
		store_wake(&st->rring, st->wake_fd);
	}
}

/* A written job's outcome here (lock held): 1 still to come. */
static int written_outcome(struct store *st, struct store_job *j, char *msg, size_t len)
{
	if (st->status.revision >= j->revision)
		return 0;
	if (st->status.rejected_revision >= j->revision) {
		snprintf(msg, len, "written to the store at revision %" PRId64 ", refused here: %s",
			 j->revision, st->status.rejected);
		return -EINVAL;
	}
	if (wall_ms() - j->done_ms > OUTCOME_WAIT_MS) {
		snprintf(msg, len,
			 "written to the store at revision %" PRId64 ", not in force here after "
			 "%d s (is this host in touch with the store?)",
			 j->revision, OUTCOME_WAIT_MS / 1000);
		return -ETIMEDOUT;
	}
	return 1;
}

int store_outcome(struct store *st, int64_t ticket, int64_t *revision, char *msg, size_t len)
{
	struct store_job *j;
	int ret = -ENOENT;

	pthread_mutex_lock(&st->lock);
	for (j = st->jobs; j && j->ticket != ticket; j = j->next)
		;
	if (!j)
		snprintf(msg, len, "the change is gone");
	else if (j->state == STORE_JOB_QUEUED)
		ret = 1;
	else if (j->state == STORE_JOB_FAILED)
		ret = j->err, snprintf(msg, len, "%s", j->msg);
	else
		ret = written_outcome(st, j, msg, len);
	if (j)
		*revision = j->revision;
	if (j && ret != 1)
		job_drop(st, j);
	pthread_mutex_unlock(&st->lock);
	return ret;
}
