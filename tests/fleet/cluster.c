// SPDX-License-Identifier: GPL-2.0-only
/* A 3-member etcd cluster on loopback for the fleet's tests, its processes handled by pid. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cluster.h"
#include "fleet/etcd.h"

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

/* As root: a network namespace of our own, so the ports are ours and nothing leaves it. */
static unsigned own_ports(void)
{
	if (geteuid() == 0 && unshare(CLONE_NEWNET) == 0 &&
	    system("ip link set lo up >/dev/null 2>&1") == 0)
		return 2379;
	/* Else loopback shared with others: ports of our own by pid. */
	return 20000 + (unsigned)(getpid() % 4000) * 10;
}

static void spawn(struct cluster *c, unsigned i, const char *state)
{
	char name[8], data[96], client[40], peer[40], initial[200], log[96];
	pid_t pid;

	snprintf(name, sizeof(name), "m%u", i);
	snprintf(data, sizeof(data), "%s/%s", c->dir, name);
	snprintf(log, sizeof(log), "%s/%s.log", c->dir, name);
	snprintf(client, sizeof(client), "http://127.0.0.1:%u", c->client_port[i]);
	snprintf(peer, sizeof(peer), "http://127.0.0.1:%u", c->peer_port[i]);
	snprintf(initial, sizeof(initial),
		 "m0=http://127.0.0.1:%u,m1=http://127.0.0.1:%u,"
		 "m2=http://127.0.0.1:%u",
		 c->peer_port[0], c->peer_port[1], c->peer_port[2]);
	pid = fork();
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);

		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		/* Short election time-outs: a leader's death is noticed in about a second. */
		execlp("etcd", "etcd", "--name", name, "--data-dir", data, "--listen-client-urls",
		       client, "--advertise-client-urls", client, "--listen-peer-urls", peer,
		       "--initial-advertise-peer-urls", peer, "--initial-cluster", initial,
		       "--initial-cluster-state", state, "--initial-cluster-token", "strg-test",
		       "--heartbeat-interval", "50", "--election-timeout", "500",
		       "--experimental-watch-progress-notify-interval", "500ms", (char *)NULL);
		_exit(127);
	}
	c->pid[i] = pid > 0 ? pid : 0;
}

int cluster_leader(struct cluster *c)
{
	uint64_t leader = 0, id[CLUSTER_MEMBERS] = {0};

	for (unsigned i = 0; i < CLUSTER_MEMBERS; i++) {
		struct etcd_opts o = {.endpoints = c->endpoint[i], .request_timeout_ms = 1000};
		struct etcd *e = c->pid[i] ? etcd_open(&o) : NULL;
		struct etcd_header h;
		uint64_t l;

		if (e && !etcd_status(e, &h, &l)) {
			id[i] = h.member_id;
			if (l)
				leader = l;
		}
		etcd_close(e);
	}
	for (unsigned i = 0; leader && i < CLUSTER_MEMBERS; i++)
		if (id[i] == leader)
			return (int)i;
	return -1;
}

/* Until a leader is known and a write goes through, for at most 30 s. */
static int wait_ready(struct cluster *c)
{
	struct etcd_opts o = {.endpoints = c->endpoints, .request_timeout_ms = 2000};
	struct etcd *e = etcd_open(&o);
	int err = -ETIMEDOUT;

	for (int i = 0; e && i < 300 && err; i++) {
		if (cluster_leader(c) >= 0 && !etcd_put(e, "/ready", "1", 1, 0))
			err = 0;
		else
			usleep(100 * 1000);
	}
	etcd_close(e);
	return err;
}

int cluster_start(struct cluster *c)
{
	unsigned base;
	size_t off = 0;

	if (system("command -v etcd >/dev/null 2>&1") != 0)
		return -ENOENT;
	memset(c, 0, sizeof(*c));
	snprintf(c->dir, sizeof(c->dir), "/tmp/strg-etcd.XXXXXX");
	if (!mkdtemp(c->dir))
		return -errno;
	base = own_ports();
	for (unsigned i = 0; i < CLUSTER_MEMBERS; i++) {
		c->client_port[i] = base + i * 2;
		c->peer_port[i] = base + i * 2 + 1;
		snprintf(c->endpoint[i], sizeof(c->endpoint[i]), "http://127.0.0.1:%u",
			 c->client_port[i]);
		off += (size_t)snprintf(c->endpoints + off, sizeof(c->endpoints) - off, "%s%s",
					i ? "," : "", c->endpoint[i]);
	}
	for (unsigned i = 0; i < CLUSTER_MEMBERS; i++)
		spawn(c, i, "new");
	if (wait_ready(c)) {
		cluster_stop(c);
		return -ETIMEDOUT;
	}
	return 0;
}

/* SIGTERM, then SIGKILL after 5 s. */
static void stop_pid(pid_t pid, int sig)
{
	kill(pid, sig);
	for (int i = 0; i < 50; i++) {
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return;
		usleep(100 * 1000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

void cluster_kill(struct cluster *c, unsigned i)
{
	if (c->pid[i])
		stop_pid(c->pid[i], SIGKILL);
	c->pid[i] = 0;
}

int cluster_restart(struct cluster *c, unsigned i)
{
	if (!c->pid[i])
		spawn(c, i, "existing");
	return c->pid[i] ? 0 : -ECHILD;
}

void cluster_stop(struct cluster *c)
{
	for (unsigned i = 0; i < CLUSTER_MEMBERS; i++) {
		if (c->pid[i]) {
			kill(c->pid[i], SIGCONT);
			stop_pid(c->pid[i], SIGTERM);
		}
		c->pid[i] = 0;
	}
	if (c->dir[0] && !getenv("STRG_KEEP_ETCD"))
		nftw(c->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}
