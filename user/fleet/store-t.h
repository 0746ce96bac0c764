/* SPDX-License-Identifier: GPL-2.0-only */
/* The store follower's state, shared by its two threads (store.c, report.c); private to them. */
#ifndef STRG_FLEET_STORE_T_H
#define STRG_FLEET_STORE_T_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <liburing.h>

#include "core/config.h"
#include "fleet/etcd.h"
#include "fleet/objs.h"
#include "fleet/store.h"

/* An etcd_watch() callback's answer: read the whole prefix again. */
#define STORE_RESYNC 1

/* A change of the fleet's table, written by the reporter thread in one transaction. */
struct store_job {
	struct store_job *next;
	int64_t ticket;
	int64_t base; /* the store's revision in force here when the change was made */
	size_t n;
	struct etcd_op *ops;
	struct etcd_cmp *cmps; /* each key unchanged since base */
	char **keys, **values;
	int state; /* STORE_JOB_* */
	int err;
	int64_t revision; /* written at */
	uint64_t done_ms;
	bool orphan; /* nobody waits for it (a change of strgd's own): freed once done */
	char msg[320];
};

enum {
	STORE_JOB_QUEUED = 0,
	STORE_JOB_WRITTEN = 1,
	STORE_JOB_FAILED = 2,
};

struct store {
	struct store_settings set;
	char listen[128];
	pthread_mutex_t lock; /* the fields marked (lock) */
	pthread_cond_t cond;  /* report_gen moved on, or stop */
	bool stop;	      /* (lock) */

	/* The follower thread's own. */
	pthread_t follower;
	struct etcd *ew;
	struct fleet_objs good; /* the objects of the table last accepted (see store.c) */
	struct config *table;	/* that table, decoded (NULL: none accepted since the last read) */
	uint64_t table_hash;	/* its hash, kept up to date route by route */
	int64_t seen;		/* the last revision dealt with */
	uint64_t cluster_id;
	bool synced;	      /* read whole; the watch goes on from seen + 1 */
	uint64_t handed_hash; /* of the table last handed over (or in force at start) */
	struct config *offer; /* this host's table, offered once to an empty prefix */
	bool in_touch;	      /* for the log: one line per change */
	bool ever_in_touch;
	bool said_stale;

	/* The routes the watch message being applied changed (all: a full table). */
	uint32_t *msg_ids;
	size_t msg_n, msg_cap;
	bool msg_full;

	/* Between the follower and worker 0 (lock). */
	struct config *ready; /* finished, not yet taken */
	uint32_t *chg_ids;    /* routes changed since the table taken last */
	size_t chg_n;
	bool chg_full; /* not known: worker 0 adopts the whole table */
	uint64_t ready_hash, taken_hash;
	struct fleet_objs nodes; /* nodes/ objects as the watch saw them */
	struct store_status status;
	uint64_t report_gen; /* moves on with what the report says */

	struct store_job *jobs; /* (lock) */
	int64_t tickets;	/* (lock) */

	/* The reporter thread's own. */
	pthread_t reporter;
	struct etcd *er;
	int64_t lease;
	struct io_uring rring; /* to wake worker 0 with */

	struct io_uring ring; /* the follower's, to wake worker 0 with */
	int wake_fd;
};

/* submit.c: run the changes waiting (the reporter thread); whether one waits (lock held). */
void store_jobs_run(struct store *st);
bool store_jobs_queued(const struct store *st);
void store_jobs_free(struct store *st);
/* Wake worker 0 through ring. */
void store_wake(struct io_uring *ring, int fd);
/* report.c: the reporter thread. */
void *store_report_run(void *arg);
/* The status changed: the report is written again (call with st->lock held). */
void store_report_bump(struct store *st);

#endif
