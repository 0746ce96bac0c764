// SPDX-License-Identifier: GPL-2.0-only
/* io_uring helpers shared by the proxy loop. */
#include "lib/ring.h"

struct io_uring_sqe *ring_get_sqe(struct io_uring *ring)
{
	struct io_uring_sqe *sqe;

	/*
	 * A full queue only means we queued more than one batch in a single pass over the
	 * completions; submitting frees every slot, so the second attempt cannot fail.
	 */
	for (;;) {
		sqe = io_uring_get_sqe(ring);
		if (sqe)
			return sqe;
		io_uring_submit(ring);
	}
}
