// SPDX-License-Identifier: GPL-2.0-only
/* io_uring helpers shared by the proxy loop. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

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

/* The setups ring_open tries, best first: flags and the features they are. */
static const struct {
	unsigned flags, feat;
} setups[] = {
	{IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
	 RING_F_SINGLE_ISSUER | RING_F_DEFER_TASKRUN},
	{IORING_SETUP_COOP_TASKRUN, RING_F_COOP_TASKRUN},
	{0, 0},
};

int ring_open(struct io_uring *ring, unsigned entries, unsigned want, bool other_thread,
	      unsigned *feat)
{
	int err = -EINVAL;

	*feat = 0;
	for (size_t i = 0; i < sizeof(setups) / sizeof(setups[0]); i++) {
		struct io_uring_params p = {.flags = setups[i].flags};

		if ((setups[i].feat & want) != setups[i].feat)
			continue;
		/* A single issuer is the thread that enables the ring, not the one creating it. */
		if ((p.flags & IORING_SETUP_SINGLE_ISSUER) && other_thread)
			p.flags |= IORING_SETUP_R_DISABLED;
		err = io_uring_queue_init_params(entries, ring, &p);
		if (!err) {
			*feat = setups[i].feat;
			return 0;
		}
		/* An older kernel refuses flags it does not know with EINVAL: try the next. */
		if (err != -EINVAL)
			return err;
	}
	return err;
}

int ring_start(struct io_uring *ring, unsigned want, unsigned *feat)
{
	if (ring->flags & IORING_SETUP_R_DISABLED) {
		/* liburing 2.3 declares io_uring_enable_rings but does not export it. */
		if (syscall(__NR_io_uring_register, ring->ring_fd, IORING_REGISTER_ENABLE_RINGS,
			    NULL, 0) < 0)
			return -errno;
	}
	/* Registered per thread: io_uring_enter then names the ring by its slot. */
	if ((want & RING_F_REG_FD) && io_uring_register_ring_fd(ring) == 1)
		*feat |= RING_F_REG_FD;
	return 0;
}

static const char *const feature_names[] = {"single-issuer", "defer-taskrun", "coop-taskrun",
					    "registered-fd", "splice"};
_Static_assert(1u << (sizeof(feature_names) / sizeof(feature_names[0])) == RING_F_ALL + 1,
	       "a name for each feature");

int ring_feature_parse(const char *words, unsigned *feat)
{
	const char *w = words;

	*feat = 0;
	while (*w) {
		size_t len = strcspn(w, ","), i;

		for (i = 0; i < sizeof(feature_names) / sizeof(feature_names[0]); i++)
			if (len == strlen(feature_names[i]) && !strncmp(w, feature_names[i], len))
				break;
		if (i == sizeof(feature_names) / sizeof(feature_names[0]))
			return -EINVAL;
		*feat |= 1u << i;
		w += len + (w[len] == ',');
	}
	return 0;
}

const char *ring_feature_text(unsigned feat, char *buf, size_t len)
{
	const char *const *names = feature_names;
	size_t n = 0;

	snprintf(buf, len, "none");
	for (unsigned i = 0; i < sizeof(feature_names) / sizeof(feature_names[0]); i++)
		if ((feat & (1u << i)) && n < len)
			n += (size_t)snprintf(buf + n, len - n, "%s%s", n ? "," : "", names[i]);
	return buf;
}

bool ring_op_supported(struct io_uring *ring, unsigned op)
{
	struct io_uring_probe *probe = io_uring_get_probe_ring(ring);
	bool ok = probe && io_uring_opcode_supported(probe, (int)op);

	io_uring_free_probe(probe);
	return ok;
}
