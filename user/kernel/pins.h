/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The pin directory that the kernel path's and the XDP guard's loaders share: made ready (a BPF
 * file system mounted on it when it is not on one, as bpftool does) and maps pinned by name.
 * Pins are kept here, not in libbpf's bookkeeping: a restart's successor replaces them and a
 * failed one removes them behind libbpf's back, so pinning again must always pin.
 */
#ifndef STRG_PINS_H
#define STRG_PINS_H

#include <stddef.h>

/* One map to pin: its descriptor and its name in the directory. */
struct pins_map {
	int fd;
	const char *name;
};

/*
 * Make dir (mode 0750) and make sure it is on a BPF file system, mounting one on it when it is
 * not. 0, or -errno with what is missing in why.
 */
int pins_dir_ready(const char *dir, char *why, size_t whylen);
/* Pin every map under dir, replacing what has the name (another process's pin). 0 or -errno. */
int pins_put(const char *dir, const struct pins_map *maps, size_t n);
/* Remove the names under dir. */
void pins_remove(const char *dir, const struct pins_map *maps, size_t n);

#endif
