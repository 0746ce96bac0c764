// SPDX-License-Identifier: GPL-2.0-only
/* The shared pin directory (pins.h): a BPF file system under it, maps pinned by name. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <linux/magic.h>
#include <bpf/bpf.h>

#include "lib/log.h"
#include "kernel/pins.h"

static bool on_bpffs(const char *dir)
{
	struct statfs st;

	return statfs(dir, &st) == 0 && st.f_type == (typeof(st.f_type))BPF_FS_MAGIC;
}

int pins_dir_ready(const char *dir, char *why, size_t whylen)
{
	int err;

	if (mkdir(dir, 0750) < 0 && errno != EEXIST) {
		err = -errno;
		snprintf(why, whylen, "cannot make the directory: %s", strerror(errno));
		return err;
	}
	if (on_bpffs(dir))
		return 0;
	/* Pins live only on a bpffs: mount one here, as bpftool does for its pins. */
	if (mount("bpf", dir, "bpf", 0, "mode=0750") < 0) {
		err = -errno;
		snprintf(why, whylen,
			 "not on a BPF file system, and mounting one there failed (%s): mount one "
			 "(mount -t bpf bpf %s) or name a directory under one (--pin-dir)",
			 strerror(errno), dir);
		return err;
	}
	pr_info("pin directory %s: mounted a BPF file system there (it was not on one)", dir);
	return 0;
}

int pins_put(const char *dir, const struct pins_map *maps, size_t n)
{
	char path[512];

	for (size_t i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, maps[i].name);
		/* Another strgd's pin (stopped, or a failed successor): ours replaces it. */
		if (unlink(path) < 0 && errno != ENOENT)
			return -errno;
		int err = bpf_obj_pin(maps[i].fd, path);

		if (err)
			return err;
	}
	return 0;
}

void pins_remove(const char *dir, const struct pins_map *maps, size_t n)
{
	char path[512];

	for (size_t i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, maps[i].name);
		unlink(path);
	}
}
