/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The state file written by a thread of its own, so that a change's fsync never stalls worker
 * 0's connections. Each change hands over the file's whole text under an id (ascending); a newer
 * text replaces one not yet written (only the latest table matters, and it holds every earlier
 * change). strgctl's reply to a change is held until its text's write is done, and then says
 * whether that text, or a later one, is on disk (saver_status()).
 */
#ifndef STRG_SAVER_H
#define STRG_SAVER_H

#include <stddef.h>
#include <stdint.h>

struct saver;

/* A saver that wakes the ring wake_ring_fd (RING_OP_ACK) after each write. NULL with errno. */
struct saver *saver_open(int wake_ring_fd);
/* Write text (taken over) as the file at path; id (greater than any before) names it. */
void saver_submit(struct saver *sv, const char *path, char *text, size_t len, uint64_t id);
/*
 * Text id: 1 while its write (or a later one's) is to come, 0 once it or a later text is on
 * disk, -errno when the write that covered it failed and none after it worked.
 */
int saver_status(struct saver *sv, uint64_t id);
/* Write what waits, then stop the thread. */
void saver_close(struct saver *sv);

#endif
