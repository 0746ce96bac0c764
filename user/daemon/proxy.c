// SPDX-License-Identifier: GPL-2.0-only
/*
 * The event loops: one worker per thread, each with its own io_uring ring, its own listener
 * (SO_REUSEPORT: the kernel spreads new connections over them) and its own kernel event ring.
 * A worker hands every completion of a connection to its session and ticks the timers; worker 0
 * also serves the control socket and reloads on SIGHUP. The live configuration is shared
 * read-only: a change is a new configuration, committed whole; every worker takes it at its next
 * turn and says so, and the change's reply waits until all did.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "observe/accesslog.h"
#include "kernel/guard.h"
#include "dataplane/conn.h"
#include "control/change.h"
#include "control/ctl.h"
#include "control/ctlsrv.h"
#include "control/ctlstrgd.h"
#include "dataplane/health.h"
#include "lib/listen.h"
#include "lib/log.h"
#include "observe/metrics.h"
#include "observe/metricsrv.h"
#include "lib/notify.h"
#include "daemon/proxy.h"
#include "control/reload.h"
#include "control/rollback.h"
#include "dataplane/session.h"
#include "dataplane/shadow.h"
#include "kernel/splice.h"
#include "control/saver.h"
#include "lib/sdnotify.h"
#include "dataplane/srclimit.h"
#include "daemon/takeover.h"
#include "fleet/adopt.h"
#include "fleet/store.h"

#define RING_ENTRIES  1024
#define TICK_NS	      (100 * 1000000ull)
#define STORE_SAVE_NS (1000 * 1000000ull)  /* the store's tables saved at most this often */
#define DRAIN_NS      (30 * 1000000000ull) /* the longest a stop waits for connections */

volatile sig_atomic_t proxy_stop_requested;
volatile sig_atomic_t proxy_reload_requested;
volatile sig_atomic_t proxy_reopen_requested;

struct proxy;

/* A configuration no worker may run with any more once every worker has seen a newer one. */
struct retired {
	struct config *cfg;
	struct retired *next;
};

/* strgctl restart, step by step on worker 0's loop (which never waits for it). */
/* The event loop's own operations, in their range of the ring's (ring.h). */
enum proxy_op {
	PROXY_OP_ACCEPT = RING_OPS_LOOP, /* the workers' listener */
	PROXY_OP_EVENTS,		 /* the splice's event ring buffer (not a connection's) */
	PROXY_OP_RESTART,		 /* strgctl restart: the new strgd's answer */
};
_Static_assert((unsigned)PROXY_OP_RESTART < (unsigned)RING_OPS_CONN, "the loop's range overflows");

enum restart_phase {
	RESTART_IDLE = 0,
	RESTART_SAVING = 1,   /* the table written once more: the successor starts from it */
	RESTART_STARTING = 2, /* the successor runs; its answer is awaited */
	RESTART_HANDED = 3,   /* it serves: this strgd finishes its connections */
};

struct restart {
	enum restart_phase step;
	uint64_t deadline_ns; /* RESTART_STARTING: the successor answers by then, or is killed */
	struct takeover_child child;
	char answer[300]; /* what the successor said */
};

/* What the workers share. */
struct shared {
	struct config *_Atomic cfg; /* the live configuration: read-only for every worker */
	unsigned nworkers;	    /* started so far */
	unsigned nworkers_planned;  /* configured */
	struct proxy **px;
	struct worker **w;		   /* the workers, for views of which one holds what */
	struct retired *retired;	   /* worker 0's, freed once nobody runs with them */
	struct pool_runtime prt[POOL_MAX]; /* the pools\' round robin and down marks */
	_Atomic unsigned paused;   /* workers whose accept is paused for lack of resources */
	struct srclimit *srclimit; /* limit per-source (NULL: none) */
	struct limiter *limiter;   /* the routes' rate limits */
	struct guard *gd;	   /* the XDP guard (NULL: not loaded) */
	struct splice *sp;	   /* the kernel path (NULL: none) */
	struct saver *saver;	   /* writes the state file (NULL: worker 0 does, synchronously) */
	struct store *store;	   /* the fleet's table in etcd (NULL: this host's alone) */
	struct restart restart;	   /* worker 0's: strgctl restart */
	unsigned ring_want;	   /* the io_uring features to ask for (STRG_IO_URING_OFF: less) */
	const char *config_path;
};

/* One worker's loop state; its connections see only the worker. */
struct proxy {
	struct worker w;
	struct shared *sh;
	int lfd;
	struct splice_events *events;
	int events_fd;
	struct reqsrv *ctl;	/* worker 0: the control socket's server */
	struct health *health;	/* worker 0: the active health checks */
	uint64_t swept;		/* the backends' epoch its connections last followed */
	struct ctl_env ctl_env; /* worker 0: what its commands work on */
	bool accept_paused;	/* accept failed for lack of resources: retried on the tick */
	uint64_t stop_deadline;
	_Atomic uint64_t seen_gen; /* the generation of the configuration it runs with */
	uint64_t store_gen;	   /* worker 0: the live generation after the store's last table */
	bool store_dirty;	   /* worker 0: a store's table in force, not saved yet */
	uint64_t store_saved_ns;   /* worker 0: when one was saved last */
	struct __kernel_timespec tick;
	pthread_t thread;
	/* Worker 0: the metrics listener (a thread of its own), when configured. */
	struct metricsrv *metrics;
};

static void restart_go_on(struct proxy *px0);
static void restart_answered(struct proxy *px0, uint64_t which, int res);

static void submit_accept(struct proxy *px)
{
	struct io_uring_sqe *sqe = ring_get_sqe(&px->w.ring);

	io_uring_prep_multishot_accept(sqe, px->lfd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, ring_tag(NULL, PROXY_OP_ACCEPT));
}

static void submit_tick(struct proxy *px)
{
	struct io_uring_sqe *sqe = ring_get_sqe(&px->w.ring);

	io_uring_prep_timeout(sqe, &px->tick, 0, 0);
	io_uring_sqe_set_data64(sqe, ring_tag(NULL, RING_OP_TIMER));
}

static void submit_events_poll(struct proxy *px)
{
	struct io_uring_sqe *sqe = ring_get_sqe(&px->w.ring);

	io_uring_prep_poll_add(sqe, px->events_fd, POLLIN);
	io_uring_sqe_set_data64(sqe, ring_tag(NULL, PROXY_OP_EVENTS));
}

/* A completion on another worker's ring (op: RING_OP_WAKE or RING_OP_ACK). */
static void message(struct proxy *from, struct proxy *to, unsigned op)
{
	struct io_uring_sqe *sqe = ring_get_sqe(&from->w.ring);

	io_uring_prep_msg_ring(sqe, to->w.ring.ring_fd, 0, ring_tag(NULL, op), 0);
	io_uring_sqe_set_data64(sqe, ring_tag(NULL, RING_OP_NONE));
	io_uring_submit(&from->w.ring);
}

/* ---- the shared configuration ---- */

/* The oldest configuration generation some worker still runs with. */
static uint64_t everywhere(const struct shared *sh)
{
	uint64_t min = UINT64_MAX;

	for (unsigned i = 0; i < sh->nworkers; i++) {
		uint64_t g = atomic_load_explicit(&sh->px[i]->seen_gen, memory_order_acquire);

		if (g < min)
			min = g;
	}
	return min;
}

/* Worker 0: free the configurations every worker has left behind. */
static void reclaim(struct shared *sh)
{
	uint64_t min = everywhere(sh);
	struct retired **p = &sh->retired;

	while (*p) {
		struct retired *r = *p;

		if (r->cfg->gen < min) {
			*p = r->next;
			config_destroy(r->cfg);
			free(r);
		} else {
			p = &r->next;
		}
	}
}

/* At the top of each turn: take a configuration worker 0 committed, and tell it so. */
static void follow_config(struct proxy *px)
{
	struct config *cfg = atomic_load_explicit(&px->sh->cfg, memory_order_acquire);

	if (cfg == px->w.cfg)
		return;
	px->w.cfg = cfg;
	atomic_store_explicit(&px->seen_gen, cfg->gen, memory_order_release);
	if (px->w.idx)
		message(px, px->sh->px[0], RING_OP_ACK);
}

/* The rates' samples and the kernel's counters map, of the configuration live now. */
static void metrics_on_tick(struct proxy *px, uint64_t now)
{
	struct metrics_src src;

	ctl_metrics_src(&px->ctl_env, &src);
	metrics_tick(px->ctl_env.metrics, &src, now);
}

/* The metrics listener's thread asks worker 0 for a frame of the live configuration. */
static void metrics_on_ask(struct proxy *px)
{
	struct metrics_src src;

	ctl_metrics_src(&px->ctl_env, &src);
	metricsrv_frame(px->metrics, px->ctl_env.metrics, &src);
}

/* change_ops.commit: make draft the live configuration; the other workers are told at once. */
static void commit(void *owner, struct config *draft)
{
	struct proxy *px = owner;
	struct shared *sh = px->sh;
	struct retired *r = malloc(sizeof(*r));
	struct config *old = px->w.cfg;

	draft->gen = old->gen + 1;
	atomic_store_explicit(&sh->cfg, draft, memory_order_release);
	px->w.cfg = draft;
	atomic_store_explicit(&px->seen_gen, draft->gen, memory_order_release);
	if (r) {
		r->cfg = old;
		r->next = sh->retired;
		sh->retired = r;
	} else {
		pr_warn("out of memory: a replaced configuration is not freed");
	}
	for (unsigned i = 1; i < sh->nworkers; i++)
		message(px, sh->px[i], RING_OP_WAKE);
	reclaim(sh);
}

/* change_ops.everywhere: a change is in force once every worker runs with it. */
static uint64_t gen_everywhere(void *owner)
{
	return everywhere(((struct proxy *)owner)->sh);
}

static const struct change_ops change_ops = {.commit = commit, .everywhere = gen_everywhere};

/* ---- the fleet's store (fleet/store.h) ---- */

static int64_t env_store_submit(struct ctl_env *env, const struct config *live,
				const struct config *draft, bool orphan, char *err, size_t errlen)
{
	return store_submit(((struct proxy *)env->owner)->sh->store, live, draft, orphan, err,
			    errlen);
}

static int env_store_outcome(struct ctl_env *env, int64_t ticket, int64_t *rev, char *msg,
			     size_t len)
{
	return store_outcome(((struct proxy *)env->owner)->sh->store, ticket, rev, msg, len);
}

static int env_store_preview(struct ctl_env *env, const struct config *live,
			     const struct config *draft, struct reply *out)
{
	return store_preview(((struct proxy *)env->owner)->sh->store, live, draft, out);
}

static json_t *env_fleet_view(struct ctl_env *env)
{
	return store_view(((struct proxy *)env->owner)->sh->store);
}

/* change_pipe.share: a change of strgd's own (a trip, a reload) goes to the store too. */
static void share_change(void *owner, const struct config *before, const struct config *after)
{
	struct proxy *px = owner;
	char err[320];

	if (store_submit(px->sh->store, before, after, true, err, sizeof(err)) < 0)
		pr_warn("store: a change of strgd's own not handed to the store: %s", err);
}

/* metrics_src.read_store: the follower's status as numbers. */
static void store_numbers(void *ctx, struct metrics_store *out)
{
	struct store_status s;
	struct timespec ts;

	store_status(ctx, &s);
	clock_gettime(CLOCK_REALTIME, &ts);
	*out = (struct metrics_store){
		.on = true,
		.revision = s.revision,
		.connected = !s.stale_since_ms,
		.rejected_revision = s.rejected_revision,
		.hosts = s.hosts,
	};
	if (s.stale_since_ms)
		out->stale_s =
			((double)ts.tv_sec * 1000 + ts.tv_nsec / 1e6 - (double)s.stale_since_ms) /
			1000;
}

/* A table from the store, and the routes it changed when worker 0 may look at those alone. */
struct adoption {
	const struct config *table;
	const uint32_t *ids; /* NULL: the whole table */
	size_t nids;
};

static int adopt_draft(struct config *draft, const struct adoption *a)
{
	int n = a->ids ? fleet_adopt_some(draft, a->table, a->ids, a->nids) : -EPERM;

	return n == -EPERM ? fleet_adopt(draft, a->table) : n;
}

/*
 * The store's tables are saved (with the revision they are of) at most once a second: writing
 * a large table's text costs worker 0 time, and a burst of revisions needs only the last one
 * on disk. A restart or a stop saves what waits.
 */
static void store_save(struct proxy *px, bool now)
{
	uint64_t t = now_ns();

	if (!px->store_dirty || (!now && t - px->store_saved_ns < STORE_SAVE_NS))
		return;
	change_save(&px->ctl_env.chg);
	px->store_dirty = false;
	px->store_saved_ns = t;
}

/* The draft made the table (through the change pipeline, its save left to store_save). */
static int adopt(struct proxy *px, const struct adoption *a)
{
	struct change_pipe *p = &px->ctl_env.chg;
	struct change c;
	int n = change_begin(p, &c, false);

	if (n)
		return n;
	c.save_later = true;
	n = adopt_draft(c.draft, a);
	if (change_end(p, &c, n, NULL, NULL) < 0) {
		pr_warn("store: %s", c.err);
		return -EINVAL;
	}
	return n;
}

/* Worker 0: a table the store follower finished is put in force like any change. */
static void follow_store(struct proxy *px)
{
	uint32_t *ids = NULL;
	size_t nids = 0;
	struct config *t = px->sh->store ? store_take(px->sh->store, &ids, &nids) : NULL;
	struct adoption a = {.table = t, .ids = ids, .nids = nids};
	int n;

	if (!t)
		return;
	/* Only the routes changed, when nothing else changed the live table since the last. */
	if (!px->store_gen || px->ctl_env.chg.live->gen != px->store_gen)
		a.ids = NULL;
	n = adopt(px, &a);
	free(ids);
	if (n == -EBUSY) {
		store_give_back(px->sh->store, t); /* after the restart, or by its successor */
		return;
	}
	px->store_dirty |= n > 0;
	store_save(px, false);
	if (n >= 0) {
		px->store_gen = px->ctl_env.chg.live->gen;
		pr_info("store: the table of revision %lld in force (%d change%s)",
			(long long)t->store_revision, n, n == 1 ? "" : "s");
	} else {
		pr_warn("store: the table of revision %lld could not be put in force: %s",
			(long long)t->store_revision, strerror(-n));
	}
	store_applied(px->sh->store, t, n < 0 ? n : 0);
	config_destroy(t);
}

/* Follow cfg's store, if it has one: the hooks the control verbs and the pipeline use. */
static int open_store(struct shared *sh, const struct config *cfg)
{
	struct proxy *px0 = sh->px[0];
	struct ctl_env *env = &px0->ctl_env;
	char addr[128];

	if (!cfg->store.endpoints[0])
		return 0;
	config_addr_text(&cfg->listen, addr, sizeof(addr));
	sh->store = store_open(env->chg.live, px0->w.ring.ring_fd, addr);
	if (!sh->store) {
		pr_warn("store: %s", strerror(errno));
		return -errno;
	}
	env->store_submit = env_store_submit;
	env->store_outcome = env_store_outcome;
	env->fleet_view = env_fleet_view;
	env->store_preview = env_store_preview;
	env->read_store = store_numbers;
	env->store_ctx = sh->store;
	env->chg.share = share_change;
	return 0;
}

/* ---- the loop ---- */

/* Moves on with every change of the configuration or of a backend's health. */
static uint64_t backends_epoch(const struct proxy *px)
{
	uint64_t e = px->w.cfg->gen;

	for (unsigned p = 0; p < POOL_MAX; p++)
		e += __atomic_load_n(&px->w.prt[p].health_gen, __ATOMIC_ACQUIRE) << 20;
	return e;
}

static void on_timer(struct proxy *px)
{
	uint64_t now = now_ns();
	struct conn *c, *next;

	for (c = px->w.conns; c; c = next) {
		next = c->next;
		session_tick(c, now, px->stop_deadline);
	}
	shadow_tick(&px->w, now);
	/* A backend stopped serving (health, drain, maintenance): connections let go of it. */
	if (backends_epoch(px) != px->swept && session_sweep_backends(&px->w))
		px->swept = backends_epoch(px);
	if (px->ctl) {
		health_tick(px->health, px->w.cfg, now);
		health_kernel_failures(px->w.cfg, px->w.prt, px->w.sp, now);
		notify_reap();
		reqsrv_tick(px->ctl, now);
		reclaim(px->sh);
		reqsrv_release(px->ctl);
		restart_go_on(px);
		metrics_on_tick(px, now);
		follow_store(px); /* one given back during a restart */
		store_save(px, false);
		rollback_tick(px->ctl_env.rollback, &px->ctl_env.chg, now);
		shadow_watch(&px->w, now);
	}
	submit_tick(px);
	if (px->accept_paused && !px->w.stopping)
		submit_accept(px);
}

static void on_accept(struct proxy *px, int res, unsigned flags)
{
	if (res < 0) {
		if (res == -ECANCELED)
			return;
		/*
		 * Out of descriptors or memory: accepting again at once would spin. Try again on
		 * the next timer tick, and say so once per episode, not per attempt.
		 */
		if (!px->accept_paused && !atomic_fetch_add(&px->sh->paused, 1))
			pr_warn("accept: %s; pausing new connections", strerror(-res));
		else if (!px->accept_paused)
			pr_debug("worker %u: accept: %s; pausing", px->w.idx, strerror(-res));
		/* Out of descriptors: the slow and idle connections make room for the others. */
		if (!px->accept_paused && (res == -EMFILE || res == -ENFILE))
			session_shed(&px->w, SHED_BATCH, now_ns());
		px->accept_paused = true;
		return;
	}
	if (!(flags & IORING_CQE_F_MORE) && !px->w.stopping)
		submit_accept(px);
	if (px->accept_paused)
		atomic_fetch_sub(&px->sh->paused, 1);
	px->accept_paused = false;
	/*
	 * Stopping, an accept still in flight may hand over one more connection: it is served like
	 * the others (its response says "Connection: close"), never dropped unanswered, since after
	 * a restart the listener lives on and its client did nothing wrong.
	 */
	__atomic_fetch_add(&px->w.accepted, 1, __ATOMIC_RELAXED);
	session_open(&px->w, res);
}

static void dispatch(struct proxy *px, struct io_uring_cqe *cqe)
{
	uint64_t ud = io_uring_cqe_get_data64(cqe);
	unsigned op = ring_tag_op(ud);
	struct conn *c = ring_tag_obj(ud);

	switch (op) {
	case RING_OP_NONE:
	case RING_OP_WAKE: /* follow_config() at the top of the turn did what it asks */
		return;
	case RING_OP_ACK: /* a worker took a configuration, or the state file was written */
		if (px->ctl) {
			reclaim(px->sh);
			follow_store(px);
			reqsrv_release(px->ctl);
			restart_go_on(px);
		}
		return;
	case PROXY_OP_RESTART:
		restart_answered(px, (uint64_t)(uintptr_t)ring_tag_obj(ud), cqe->res);
		return;
	case PROXY_OP_ACCEPT:
		on_accept(px, cqe->res, cqe->flags);
		return;
	case RING_OP_TIMER:
		on_timer(px);
		return;
	case RING_OPS_CTL ... RING_OPS_CTL + REQSRV_OPS - 1:
		reqsrv_on_cqe(px->ctl, op, ring_tag_obj(ud), cqe->res, cqe->flags);
		return;
	case HEALTH_OP_CONNECT:
	case HEALTH_OP_SEND:
	case HEALTH_OP_RECV:
		health_on_cqe(px->health, px->w.cfg, op, ring_tag_obj(ud), cqe->res);
		return;
	case SHADOW_OP_CONNECT:
	case SHADOW_OP_SEND:
	case SHADOW_OP_RECV:
		shadow_on_cqe(&px->w, op, ring_tag_obj(ud), cqe->res);
		return;
	case METRICSRV_OP_FRAME: /* the metrics listener's thread asks for a frame */
		metrics_on_ask(px);
		return;
	case PROXY_OP_EVENTS:
		splice_events_consume(px->events);
		submit_events_poll(px);
		return;
	default:
		break;
	}
	c->pending &= ~(1u << op);
	if (c->state == ST_CLOSING) {
		if (!c->pending)
			conn_free(c);
		return;
	}
	session_on_cqe(c, op, cqe->res);
}

/*
 * Connections the kernel completed on the listener that no accept took yet would be reset by
 * its close, though their clients connected before the stop: they are taken and served like
 * the others (their responses say "Connection: close"). With deferred task work the multishot
 * accept runs only when the loop waits, so a busy worker can have some queued. After a restart
 * the successor holds the listener: its queue is the successor's.
 */
static void take_backlog(struct proxy *px)
{
	int fd;

	if (px->sh->restart.step == RESTART_HANDED || fcntl(px->lfd, F_SETFL, O_NONBLOCK) < 0)
		return;
	while ((fd = accept4(px->lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
		__atomic_fetch_add(&px->w.accepted, 1, __ATOMIC_RELAXED);
		session_open(&px->w, fd);
	}
}

static void begin_stop(struct proxy *px)
{
	struct io_uring_sqe *sqe;

	px->w.stopping = true;
	px->w.stop_ns = now_ns();
	px->stop_deadline = px->w.stop_ns + DRAIN_NS;
	/* The kernel classifies no more: every next request comes up, to be answered "close". */
	if (px->w.sp && !px->w.idx)
		splice_classify_off(px->w.sp);
	pr_info("worker %u stopping: no new connections, %lu open", px->w.idx, px->w.nconns);
	sqe = ring_get_sqe(&px->w.ring);
	io_uring_prep_cancel64(sqe, ring_tag(NULL, PROXY_OP_ACCEPT), 0);
	io_uring_sqe_set_data64(sqe, ring_tag(NULL, RING_OP_NONE));
	io_uring_submit(&px->w.ring);
	take_backlog(px);
	close(px->lfd);
	px->lfd = -1;
}

int proxy_listen(const struct config *cfg)
{
	return listen_tcp(&cfg->listen, cfg->listen_len, 4096, true);
}

static int reload_draft(struct config *draft, void *arg)
{
	struct proxy *px = arg;

	return reload_run(draft, &px->ctl_env.chg.applied, px->sh->config_path, false, log_say,
			  "reload: ");
}

/* SIGHUP: the configuration file again, applied like strgctl reload; an invalid one changes
 * nothing. */
static void reload(struct proxy *px)
{
	int n;

	pr_info("reload: reading %s (SIGHUP)", px->sh->config_path);
	n = change_run(&px->ctl_env.chg, reload_draft, px, NULL);
	if (n == -EBUSY) {
		pr_warn("reload: strgd is restarting, nothing changed (the new strgd reads the "
			"file)");
		return;
	}
	if (n < 0) {
		pr_warn("reload: configuration refused, nothing changed");
		return;
	}
	pr_info("reload: done, %d change%s", n, n == 1 ? "" : "s");
}

/* On the loop's own thread: its ring enabled and its descriptor registered (ring.h). */
static int start_ring(struct proxy *px)
{
	char feat[96];
	int err = ring_start(&px->w.ring, px->sh->ring_want, &px->w.ring_feat);

	if (err) {
		pr_warn("worker %u: io_uring: cannot start its ring: %s", px->w.idx,
			strerror(-err));
		proxy_stop_requested = 1;
		return err;
	}
	/* Bulk bodies through pipes (limit splice-body) where the kernel splices on rings. */
	if ((px->sh->ring_want & RING_F_SPLICE) && ring_op_supported(&px->w.ring, IORING_OP_SPLICE))
		px->w.ring_feat |= RING_F_SPLICE;
	if (!px->w.idx)
		pr_info("io_uring: %s", ring_feature_text(px->w.ring_feat, feat, sizeof(feat)));
	return 0;
}

static void run_loop(struct proxy *px)
{
	int err;

	if (start_ring(px))
		return;

	/* Stopping, worker 0 answers its control connections too (a restart's reply among them). */
	while (!px->w.stopping || px->w.nconns || reqsrv_conns(px->ctl)) {
		struct io_uring_cqe *cqe;
		unsigned head, seen = 0;

		follow_config(px);
		if (proxy_stop_requested && !px->w.stopping)
			begin_stop(px);
		if (proxy_reload_requested && px->ctl) {
			proxy_reload_requested = 0;
			reload(px);
		}
		if (proxy_reopen_requested && px->ctl) {
			proxy_reopen_requested = 0;
			alog_reopen();
		}
		err = io_uring_submit_and_wait(&px->w.ring, 1);
		if (err < 0 && err != -EINTR && err != -EAGAIN && err != -EBUSY) {
			pr_warn("worker %u: io_uring: %s", px->w.idx, strerror(-err));
			return;
		}
		io_uring_for_each_cqe(&px->w.ring, head, cqe)
		{
			dispatch(px, cqe);
			seen++;
		}
		io_uring_cq_advance(&px->w.ring, seen);
		__atomic_store_n(&px->w.enters, px->w.enters + 1, __ATOMIC_RELAXED);
		__atomic_store_n(&px->w.cqes, px->w.cqes + seen, __ATOMIC_RELAXED);
	}
}

static void *worker_thread(void *arg)
{
	run_loop(arg);
	return NULL;
}

/* ---- setting up and tearing down ---- */

static void worker_close(struct proxy *px)
{
	if (!px)
		return;
	if (px->w.spurious)
		pr_info("worker %u: %lu spurious wake-ups of spliced sockets", px->w.idx,
			px->w.spurious);
	metricsrv_close(px->metrics); /* before the ring it asks frames of */
	if (px->w.ring.ring_fd > 0)
		io_uring_queue_exit(&px->w.ring);
	reqsrv_close(px->ctl); /* after the ring: no completion names its connections */
	shadow_free_all(&px->w);
	health_close(px->health);
	metrics_free(px->ctl_env.metrics);
	rollback_free(px->ctl_env.rollback);
	splice_events_close(px->events);
	if (px->lfd >= 0)
		close(px->lfd);
	connmap_free(&px->w.spliced);
	free(px);
}

/* Worker idx with its ring, listener and event ring; NULL with errno set. */
static struct proxy *worker_open(struct shared *sh, unsigned idx, int lfd, struct splice *sp,
				 struct stats *st)
{
	struct proxy *px = calloc(1, sizeof(*px));
	int err;

	if (!px)
		return NULL;
	px->sh = sh;
	px->w.idx = idx;
	px->w.cfg = sh->cfg;
	px->w.sp = sp;
	px->w.st = st;
	px->w.prt = sh->prt;
	px->w.srclimit = sh->srclimit;
	px->w.limiter = sh->limiter;
	px->w.conn_freeing = shadow_conn_free;
	px->w.next_id = idx; /* ids stay unique across workers: idx + n, idx + 2n, ... */
	px->w.nworkers = sh->nworkers_planned;
	px->seen_gen = px->w.cfg->gen;
	px->lfd = lfd;
	px->tick.tv_nsec = TICK_NS;
	/* Worker 0 runs on this thread; the others on threads of their own. */
	err = ring_open(&px->w.ring, RING_ENTRIES, sh->ring_want, idx != 0, &px->w.ring_feat);
	if (err < 0)
		goto out_err;
	if (px->lfd < 0)
		px->lfd = proxy_listen(px->w.cfg);
	if (px->lfd < 0) {
		err = px->lfd;
		goto out_err;
	}
	if (sp) {
		px->events = splice_events_open(sp, idx, session_on_event, &px->w);
		if (!px->events) {
			pr_warn("worker %u: kernel events: %s; its connections stay in user space",
				idx, strerror(errno));
			px->w.sp = NULL;
		} else {
			px->events_fd = splice_events_fd(px->events);
			submit_events_poll(px);
		}
	}
	submit_accept(px);
	submit_tick(px);
	return px;
out_err:
	worker_close(px);
	errno = -err;
	return NULL;
}

/* How many workers "workers auto" means: one per CPU this process may run on. */
static unsigned workers_auto(void)
{
	cpu_set_t set;
	int n;

	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return 1;
	n = CPU_COUNT(&set);
	return n < 1 ? 1 : n > STRG_MAX_WORKERS ? STRG_MAX_WORKERS : (unsigned)n;
}

/*
 * ---- strgctl restart ----
 *
 * A successor takes every listening socket (the workers', the control socket, the metrics
 * listener), then this strgd stops accepting and finishes its connections as at SIGTERM. From
 * the command on, new control connections wait in the queue for whichever strgd serves next;
 * this strgd writes its table once more, with the changes of connections it had taken already
 * (the successor starts from the file, so a change acknowledged here is in it, and a table that
 * cannot be written stops the restart), then refuses changes, starts the successor and awaits its
 * answer, all on worker 0's loop, which goes on serving meanwhile.
 */

static void restart_finish(struct proxy *px0, const char *said)
{
	ctl_restart_done(&px0->ctl_env, said);
	reqsrv_release(px0->ctl);
}

/* Whatever step failed: everything as it was (pins included), and why, in the log and reply. */
static void restart_failed(struct proxy *px0, const char *why)
{
	struct shared *sh = px0->sh;
	struct restart *rs = &sh->restart;
	char said[400];
	int err = 0;

	takeover_abort(&rs->child);
	if (rs->step == RESTART_STARTING) {
		/* Both, whatever the first says: each pins its own maps again. */
		int e1 = splice_take_back(sh->sp), e2 = guard_take_back(sh->gd);

		err = e1 ? e1 : e2;
	}
	reqsrv_pause(px0->ctl, false); /* the connections that waited are this strgd's again */
	rs->step = RESTART_IDLE;
	px0->ctl_env.chg.restarting = false;
	pr_warn("restart failed: %s; this strgd carries on as before", why);
	if (err)
		pr_warn("restart: this strgd's maps could not all be pinned again: %s",
			strerror(-err));
	snprintf(said, sizeof(said), "error: %s\n", why);
	restart_finish(px0, said);
}

/* The table is on disk: start the successor and hand it the sockets. */
static void restart_spawn(struct proxy *px0)
{
	struct shared *sh = px0->sh;
	struct restart *rs = &sh->restart;
	struct takeover_fds f = {.ctl = reqsrv_fd(px0->ctl), .metrics = metricsrv_fd(px0->metrics)};
	struct io_uring_sqe *sqe;
	char err[256];

	for (unsigned i = 0; i < sh->nworkers; i++)
		if (sh->px[i]->lfd >= 0)
			f.listen[f.nlisten++] = sh->px[i]->lfd;
	rs->step = RESTART_STARTING;
	/* The successor reads the state file as it is now: later changes here would be lost. */
	px0->ctl_env.chg.restarting = true;
	splice_hand_over(sh->sp);
	guard_hand_over(sh->gd);
	if (takeover_spawn(&f, &rs->child, err, sizeof(err))) {
		restart_failed(px0, err);
		return;
	}
	pr_info("restart: strgd pid %d started; waiting for it to serve", (int)rs->child.pid);
	rs->deadline_ns = now_ns() + CTL_RESTART_WAIT_NS;
	memset(rs->answer, 0, sizeof(rs->answer));
	sqe = ring_get_sqe(&px0->w.ring);
	io_uring_prep_recv(sqe, rs->child.sock, rs->answer, sizeof(rs->answer) - 1, 0);
	/* Tagged with the restart's number: a late answer to an abandoned one is told apart. */
	io_uring_sqe_set_data64(
		sqe, ring_tag((void *)(uintptr_t)px0->ctl_env.restarts, PROXY_OP_RESTART));
}

/* Worker 0, at each of its events: take the restart a step further when it can go on. */
static void restart_go_on(struct proxy *px0)
{
	struct restart *rs = &px0->sh->restart;
	const char *state = px0->ctl_env.chg.live->state;
	char why[400];
	int saved;

	if (rs->step == RESTART_STARTING && now_ns() > rs->deadline_ns) {
		snprintf(why, sizeof(why), "restart: the new strgd did not serve within %llu s",
			 CTL_RESTART_WAIT_NS / 1000000000ull);
		restart_failed(px0, why);
		return;
	}
	if (rs->step != RESTART_SAVING)
		return;
	/* The last text: changes on connections taken before the pause are saved too. */
	saved = change_saved(&px0->ctl_env.chg, px0->ctl_env.chg.save_id);
	if (saved == 1)
		return;
	if (saved < 0) {
		snprintf(why, sizeof(why),
			 "restart: the route table cannot be saved to %s (%s): a new strgd would "
			 "start without the latest changes; nothing restarted",
			 state, strerror(-saved));
		restart_failed(px0, why);
		return;
	}
	restart_spawn(px0);
}

/* The successor's answer (res: recv's result). */
static void restart_answered(struct proxy *px0, uint64_t which, int res)
{
	struct shared *sh = px0->sh;
	struct restart *rs = &sh->restart;
	char why[320], said[400];
	pid_t pid = rs->child.pid;

	if (rs->step != RESTART_STARTING || which != px0->ctl_env.restarts)
		return;
	if (takeover_parse_answer(rs->answer, res, why, sizeof(why))) {
		restart_failed(px0, why);
		return;
	}
	close(rs->child.sock);
	rs->child.sock = -1;
	rs->child.pid = -1;
	rs->step = RESTART_HANDED;
	reqsrv_stop(px0->ctl);
	metricsrv_stop(px0->metrics);
	pr_info("restart: strgd pid %d serves the listeners; finishing %lu connections here",
		(int)pid, px0->w.nconns);
	snprintf(said, sizeof(said),
		 "ok\nrestarted: strgd pid %d serves; pid %d finishes its connections and exits\n",
		 (int)pid, (int)getpid());
	proxy_stop_requested = 1;
	restart_finish(px0, said);
}

/* ctl_ops.restart: refused when one is under way or strgd stops; else its first step. */
static int restart_begin(void *owner, char *err, size_t errlen)
{
	struct proxy *px0 = owner;
	struct ctl_env *env = &px0->ctl_env;
	struct restart *rs = &px0->sh->restart;

	if (rs->step != RESTART_IDLE || px0->w.stopping) {
		snprintf(err, errlen, "restart: this strgd is %s already",
			 rs->step != RESTART_IDLE ? "restarting" : "stopping");
		return -EALREADY;
	}
	/* Control connections from now on wait in the queue for whichever strgd serves next. */
	reqsrv_pause(px0->ctl, true);
	env->restarts++;
	rs->step = RESTART_SAVING;
	rs->child.pid = -1;
	rs->child.sock = -1;
	change_save(&env->chg);
	restart_go_on(px0); /* written already when there is no writer thread */
	return 0;
}

static void worker0_ctl(struct proxy *px, struct config **applied)
{
	struct ctl_env *env = &px->ctl_env;

	static const struct ctl_ops ops = {.restart = restart_begin};

	env->chg = (struct change_pipe){
		.live = px->w.cfg,
		.applied = *applied,
		.sp = px->w.sp,
		.gd = px->sh->gd,
		.st = px->w.st,
		.lim = px->sh->limiter,
		.saver = px->sh->saver,
		.ops = &change_ops,
		.owner = px,
	};
	env->config_path = px->sh->config_path;
	env->nworkers = px->sh->nworkers;
	env->workers = px->sh->w;
	env->ops = &ops;
	env->owner = px;
	env->metrics = metrics_new(); /* without it, views have no rates */
	env->rollback = rollback_new();
}

/*
 * The workers, each with its ring: worker 0 takes *listen_fd (then -1), a restart's successor
 * gives each worker a listener handed over. sh->nworkers counts those opened. 0 or -errno.
 */
static int open_workers(struct shared *sh, unsigned n, int *listen_fd,
			const struct proxy_parts *parts)
{
	const struct takeover_fds *inh = parts->inherited;

	for (sh->nworkers = 0; sh->nworkers < n; sh->nworkers++) {
		unsigned i = sh->nworkers;
		int lfd = !i ? *listen_fd : inh && i < inh->nlisten ? inh->listen[i] : -1;
		struct proxy *px = worker_open(sh, i, lfd, parts->sp, parts->st);

		if (!px) {
			int err = -errno;

			pr_warn("worker %u: %s", i, strerror(-err));
			return err;
		}
		if (!i)
			*listen_fd = -1; /* worker 0 owns it now */
		sh->px[i] = px;
		sh->w[i] = &px->w;
	}
	return 0;
}

/* Worker 0's servers: the state file's writer, the control socket, health, metrics. */
static int open_servers(struct shared *sh, const struct config *cfg, struct config **applied,
			int ctl_fd, const struct takeover_fds *inh)
{
	struct proxy *px0 = sh->px[0];
	char addr[128];
	int err;

	/* Without the writer thread (out of resources) worker 0 writes the state file itself. */
	sh->saver = saver_open(px0->w.ring.ring_fd);
	if (!sh->saver)
		pr_warn("state file writer: %s; changes are saved by worker 0", strerror(errno));
	worker0_ctl(px0, applied);
	err = open_store(sh, cfg);
	if (err)
		return err;
	px0->ctl = ctlsrv_open(&px0->w.ring, &px0->ctl_env, ctl_fd);
	if (!px0->ctl)
		return -ENOMEM;
	px0->health = health_open(&px0->w.ring, sh->prt);
	if (!px0->health)
		return -ENOMEM;
	if (!cfg->metrics_len)
		return 0;
	px0->metrics = metricsrv_open(px0->ctl_env.chg.st, cfg, inh ? inh->metrics : -1,
				      px0->w.ring.ring_fd);
	err = px0->metrics ? 0 : -errno;
	config_addr_text(&cfg->metrics, addr, sizeof(addr));
	if (err) {
		pr_warn("metrics %s: %s", addr, strerror(-err));
		return err;
	}
	pr_info("metrics on http://%s/ (/metrics, /stats.json)", addr);
	return 0;
}

/*
 * The other workers' threads; *n becomes the number of workers running. A failure stops strgd
 * at once (the loop still runs, to finish what worker 0 holds): its -errno.
 */
static int start_threads(struct shared *sh, unsigned *n)
{
	pr_info("%u worker%s", *n, *n == 1 ? "" : "s");
	for (unsigned i = 1; i < *n; i++) {
		int err = -pthread_create(&sh->px[i]->thread, NULL, worker_thread, sh->px[i]);

		if (err) {
			pr_warn("worker %u: thread: %s", i, strerror(-err));
			proxy_stop_requested = 1;
			*n = i;
			return err;
		}
	}
	return 0;
}

/* Serving: tell systemd, and the strgd that restarted this one (it stops accepting then). */
static void say_ready(const struct proxy_parts *parts)
{
	char msg[64];

	if (parts->answer_fd < 0) {
		sdnotify("READY=1");
		return;
	}
	takeover_answer(parts->answer_fd, NULL);
	pr_info("restart: took the listeners over");
	/* Under systemd (Type=notify) this process is the service's main one from now on. */
	snprintf(msg, sizeof(msg), "MAINPID=%d\nREADY=1", (int)getpid());
	sdnotify(msg);
}

static void shared_free(struct shared *sh, int listen_fd)
{
	store_close(sh->store); /* before the saver: a table taken meanwhile is saved */
	if (sh->store && sh->px && sh->px[0])
		store_save(sh->px[0], true);
	saver_close(sh->saver); /* what waits is written before strgd goes */
	for (unsigned i = 0; i < sh->nworkers; i++)
		worker_close(sh->px[i]);
	if (listen_fd >= 0)
		close(listen_fd);
	while (sh->retired) {
		struct retired *r = sh->retired;

		sh->retired = r->next;
		config_destroy(r->cfg);
		free(r);
	}
	config_destroy(sh->cfg);
	srclimit_free(sh->srclimit);
	free(sh->px);
	free(sh->w);
}

/*
 * The io_uring features the workers ask for: all, less those STRG_IO_URING_OFF names (to
 * measure each alone, or to step around a kernel's fault in one). 0 or -EINVAL.
 */
static int ring_wanted(unsigned *want)
{
	const char *off = getenv("STRG_IO_URING_OFF");
	unsigned feat = 0;

	if (off && ring_feature_parse(off, &feat)) {
		pr_warn("STRG_IO_URING_OFF=%s: names no io_uring feature of strgd's (%s)", off,
			"single-issuer, defer-taskrun, coop-taskrun, registered-fd, splice");
		return -EINVAL;
	}
	/* Deferred task work needs a single issuer: one off is both off. */
	if (feat & (RING_F_SINGLE_ISSUER | RING_F_DEFER_TASKRUN))
		feat |= RING_F_SINGLE_ISSUER | RING_F_DEFER_TASKRUN;
	*want = RING_F_ALL & ~feat;
	return 0;
}

int proxy_run(struct config *cfg, struct config **applied, const char *config_path, int listen_fd,
	      int ctl_fd, const struct proxy_parts *parts)
{
	struct shared sh = {.config_path = config_path,
			    .gd = parts->gd,
			    .sp = parts->sp,
			    .limiter = parts->lim};
	unsigned n = cfg->workers ? cfg->workers : workers_auto();
	int err = 0;

	/* Each listener handed over gets a worker: closing one would reset what it queued. */
	if (parts->inherited && parts->inherited->nlisten > n)
		n = parts->inherited->nlisten;
	sh.cfg = config_clone(cfg); /* the live configuration, replaced whole by changes */
	if (cfg->per_source_max && !(sh.srclimit = srclimit_new(cfg->per_source_max)))
		err = -ENOMEM;
	sh.px = calloc(n, sizeof(*sh.px));
	sh.w = calloc(n, sizeof(*sh.w));
	if (!err && (!sh.cfg || !sh.px || !sh.w))
		err = -ENOMEM;
	if (!err)
		err = ring_wanted(&sh.ring_want);
	if (!err) {
		sh.cfg->gen = 1;
		sh.nworkers_planned = n;
		err = open_workers(&sh, n, &listen_fd, parts);
	}
	if (!err)
		err = open_servers(&sh, cfg, applied, ctl_fd, parts->inherited);
	if (!err) {
		err = start_threads(&sh, &n);
		say_ready(parts);
		run_loop(sh.px[0]);
		for (unsigned i = 1; i < n; i++)
			pthread_join(sh.px[i]->thread, NULL);
		*applied = sh.px[0]->ctl_env.chg.applied; /* a reload may have replaced it */
	} else if (parts->answer_fd >= 0) {
		char msg[128];

		snprintf(msg, sizeof(msg), "strgd: cannot run its event loops: %s", strerror(-err));
		takeover_answer(parts->answer_fd, msg); /* the predecessor carries on */
	}
	shared_free(&sh, listen_fd);
	return err;
}
