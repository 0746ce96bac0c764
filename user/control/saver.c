// SPDX-License-Identifier: GPL-2.0-only
/* The state file's writer thread (saver.h). */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <liburing.h>

#include "lib/log.h"
#include "lib/ring.h"
#include "control/saver.h"
#include "core/state.h"

struct saver {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	char *text; /* waiting to be written (NULL: nothing) */
	size_t len;
	char path[PATH_MAX];
	uint64_t pending_id; /* the last text submitted */
	uint64_t tried_id;   /* the last text written, or tried */
	uint64_t ok_id;	     /* the last text on disk */
	int last_err;	     /* the last try's (0: it worked) */
	bool stop;
	struct io_uring ring; /* to wake worker 0 with */
	int wake_fd;
};

static void wake(struct saver *sv)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&sv->ring);

	if (!sqe)
		return;
	io_uring_prep_msg_ring(sqe, sv->wake_fd, 0, ring_tag(NULL, RING_OP_ACK), 0);
	io_uring_sqe_set_data64(sqe, 0);
	io_uring_submit_and_wait(&sv->ring, 1);
	io_uring_cq_advance(&sv->ring, io_uring_cq_ready(&sv->ring));
}

static void *run(void *arg)
{
	struct saver *sv = arg;

	pthread_mutex_lock(&sv->lock);
	for (;;) {
		char path[PATH_MAX], *text;
		size_t len;
		uint64_t id;
		int err;

		while (!sv->text && !sv->stop)
			pthread_cond_wait(&sv->cond, &sv->lock);
		if (!sv->text)
			break; /* stopping, nothing left to write */
		text = sv->text;
		len = sv->len;
		id = sv->pending_id;
		memcpy(path, sv->path, sizeof(path));
		sv->text = NULL;
		pthread_mutex_unlock(&sv->lock);
		err = state_write(path, text, len);
		free(text);
		if (err)
			pr_warn("ctl: route table not saved to %s: %s", path, strerror(-err));
		pthread_mutex_lock(&sv->lock);
		sv->tried_id = id;
		sv->last_err = err;
		if (!err)
			sv->ok_id = id;
		pthread_mutex_unlock(&sv->lock);
		wake(sv); /* held replies may go now */
		pthread_mutex_lock(&sv->lock);
	}
	pthread_mutex_unlock(&sv->lock);
	return NULL;
}

struct saver *saver_open(int wake_ring_fd)
{
	struct saver *sv = calloc(1, sizeof(*sv));
	int err;

	if (!sv)
		return NULL;
	sv->wake_fd = wake_ring_fd;
	err = io_uring_queue_init(4, &sv->ring, 0);
	if (err < 0) {
		free(sv);
		errno = -err;
		return NULL;
	}
	pthread_mutex_init(&sv->lock, NULL);
	pthread_cond_init(&sv->cond, NULL);
	err = pthread_create(&sv->thread, NULL, run, sv);
	if (err) {
		io_uring_queue_exit(&sv->ring);
		free(sv);
		errno = err;
		return NULL;
	}
	return sv;
}

void saver_submit(struct saver *sv, const char *path, char *text, size_t len, uint64_t id)
{
	pthread_mutex_lock(&sv->lock);
	free(sv->text); /* not written yet, and older than this one */
	sv->text = text;
	sv->len = len;
	snprintf(sv->path, sizeof(sv->path), "%s", path);
	sv->pending_id = id;
	pthread_cond_signal(&sv->cond);
	pthread_mutex_unlock(&sv->lock);
}

int saver_status(struct saver *sv, uint64_t id)
{
	int ret;

	pthread_mutex_lock(&sv->lock);
	ret = sv->ok_id >= id ? 0 : sv->tried_id >= id ? sv->last_err : 1;
	pthread_mutex_unlock(&sv->lock);
	return ret;
}

void saver_close(struct saver *sv)
{
	if (!sv)
		return;
	pthread_mutex_lock(&sv->lock);
	sv->stop = true;
	pthread_cond_signal(&sv->cond);
	pthread_mutex_unlock(&sv->lock);
	pthread_join(sv->thread, NULL);
	io_uring_queue_exit(&sv->ring);
	pthread_mutex_destroy(&sv->lock);
	pthread_cond_destroy(&sv->cond);
	free(sv);
}
