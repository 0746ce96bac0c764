/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A real 3-member etcd cluster for the fleet's tests: started on loopback (in a network namespace
 * of the test's own when run as root), each member with its own data directory, stopped by pid.
 */
#ifndef STRG_TEST_CLUSTER_H
#define STRG_TEST_CLUSTER_H

#include <stdint.h>
#include <sys/types.h>

#define CLUSTER_MEMBERS 3

struct cluster {
	char dir[64];		    /* data directories and logs */
	pid_t pid[CLUSTER_MEMBERS]; /* 0: stopped */
	unsigned client_port[CLUSTER_MEMBERS];
	unsigned peer_port[CLUSTER_MEMBERS];
	char endpoints[CLUSTER_MEMBERS * 32]; /* "http://127.0.0.1:P,..." */
	char endpoint[CLUSTER_MEMBERS][32];
};

/* Start the members and wait (bounded) until they have a leader. 0 or -errno (-ENOENT: no etcd). */
int cluster_start(struct cluster *c);
/* Stop every member and remove the data. */
void cluster_stop(struct cluster *c);
/* Kill member i (SIGKILL) and reap it. */
void cluster_kill(struct cluster *c, unsigned i);
/* Start member i again on its data directory. */
int cluster_restart(struct cluster *c, unsigned i);
/* The index of the current leader, or -1 (asked of every live member). */
int cluster_leader(struct cluster *c);

#endif
