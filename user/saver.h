/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The state file written by a thread of its own, so that a change's fsync never stalls worker
 * 0's connections. Each change hands over the file's whole text; a newer text replaces one not
 * yet written (only the latest table matters). strgctl's reply to a change is held until its
 * text is on disk (saver_horizon() feeds the reply's hold), as it was when worker 0 wrote it.
 */
#ifndef STRG_SAVER_H
#define STRG_SAVER_H

#include <stddef.h>
#include <stdint.h>

struct saver;

/* A saver that wakes the ring wake_ring_fd (RING_OP_ACK) after each write. NULL with errno. */
struct saver *saver_open(int wake_ring_fd);
/* Write text (taken over) as the file at path, for configuration generation gen. */
void saver_submit(struct saver *sv, const char *path, char *text, size_t len, uint64_t gen);
/* Generations up to this one are on disk (UINT64_MAX when nothing waits to be written). */
uint64_t saver_horizon(struct saver *sv);
/* The error of the last write (0: it worked), as -errno. */
int saver_last_error(struct saver *sv);
/* Write what waits, then stop the thread. */
void saver_close(struct saver *sv);

#endif
