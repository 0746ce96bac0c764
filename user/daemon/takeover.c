// SPDX-License-Identifier: GPL-2.0-only
/* Seamless restart (takeover.h): the successor started, its sockets handed over, its answer. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon/takeover.h"

#define TAKEOVER_MAGIC "strg-takeover 1"
#define TAKEOVER_FDS   (STRG_MAX_WORKERS + 2)

static int saved_argc;
static char **saved_argv;
static char exe[PATH_MAX]; /* the binary's path at start: an upgrade replaces the file there */

void takeover_set_argv(int argc, char **argv)
{
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	exe[n > 0 ? n : 0] = '\0';
	saved_argc = argc;
	saved_argv = argv;
}

int takeover_send(int sock, const struct takeover_fds *f)
{
	int fds[TAKEOVER_FDS], n = 0;
	char head[64];
	union {
		char buf[CMSG_SPACE(sizeof(fds))];
		struct cmsghdr align;
	} u;
	struct iovec iov = {.iov_base = head};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf};
	struct cmsghdr *cm;

	for (unsigned i = 0; i < f->nlisten; i++)
		fds[n++] = f->listen[i];
	if (f->ctl >= 0)
		fds[n++] = f->ctl;
	if (f->metrics >= 0)
		fds[n++] = f->metrics;
	iov.iov_len = (size_t)snprintf(head, sizeof(head), "%s %u %d %d\n", TAKEOVER_MAGIC,
				       f->nlisten, f->ctl >= 0, f->metrics >= 0);
	msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)n);
	memset(u.buf, 0, sizeof(u.buf));
	cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)n);
	memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)n);
	return sendmsg(sock, &msg, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

int takeover_receive(int fd, struct takeover_fds *f, char *err, size_t errlen)
{
	int fds[TAKEOVER_FDS], n = 0, has_ctl = 0, has_metrics = 0, k = 0;
	char head[64] = {0};
	union {
		char buf[CMSG_SPACE(sizeof(fds))];
		struct cmsghdr align;
	} u;
	struct iovec iov = {.iov_base = head, .iov_len = sizeof(head) - 1};
	struct msghdr msg = {.msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = u.buf,
			     .msg_controllen = sizeof(u.buf)};
	struct cmsghdr *cm;
	unsigned nlisten = 0;
	ssize_t got;

	memset(f, 0, sizeof(*f));
	f->ctl = f->metrics = -1;
	got = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
	if (got <= 0) {
		snprintf(err, errlen, "takeover: nothing from the running strgd: %s",
			 got < 0 ? strerror(errno) : "closed");
		return got < 0 ? -errno : -EPIPE;
	}
	for (cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm))
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
			n = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			memcpy(fds, CMSG_DATA(cm), sizeof(int) * (size_t)n);
		}
	if (sscanf(head, TAKEOVER_MAGIC " %u %d %d", &nlisten, &has_ctl, &has_metrics) != 3 ||
	    !nlisten || nlisten > STRG_MAX_WORKERS || (msg.msg_flags & MSG_CTRUNC) ||
	    n != (int)nlisten + !!has_ctl + !!has_metrics) {
		for (int i = 0; i < n; i++)
			close(fds[i]);
		snprintf(err, errlen, "takeover: a message that is not a handover (%d sockets)", n);
		return -EPROTO;
	}
	f->nlisten = nlisten;
	for (unsigned i = 0; i < nlisten; i++)
		f->listen[i] = fds[k++];
	if (has_ctl)
		f->ctl = fds[k++];
	if (has_metrics)
		f->metrics = fds[k++];
	return 0;
}

void takeover_answer(int fd, const char *error)
{
	char line[300];
	int n = snprintf(line, sizeof(line), "%s%s\n", error ? "error: " : "ready",
			 error ? error : "");

	if (write(fd, line, (size_t)n) < 0) {
		/* The old strgd is gone: nothing to tell. */
	}
	close(fd);
}

int takeover_parse_answer(const char *buf, ssize_t n, char *err, size_t errlen)
{
	char line[300] = {0};

	if (n > 0 && !strncmp(buf, "ready", 5))
		return 0;
	if (n > 0) {
		memcpy(line, buf, (size_t)n < sizeof(line) - 1 ? (size_t)n : sizeof(line) - 1);
		line[strcspn(line, "\n")] = '\0';
	}
	/* "error: FILE:LINE: message": the successor's own words. */
	snprintf(err, errlen, "restart: the new strgd %s%s",
		 n > 0	  ? "failed: "
		 : n == 0 ? "exited before it served (see its log)"
			  : "could not be heard: ",
		 n > 0	 ? line + (strncmp(line, "error: ", 7) ? 0 : 7)
		 : n < 0 ? strerror((int)-n)
			 : "");
	return n < 0 ? (int)n : -ECHILD;
}

/* The argument list of the successor: ours, less a previous restart's and a one-time discard. */
static char **successor_argv(int fd, char *fdarg, size_t fdlen)
{
	char **argv = calloc((size_t)saved_argc + 3, sizeof(*argv));
	int n = 0;

	if (!argv)
		return NULL;
	for (int i = 0; i < saved_argc; i++) {
		if (!strcmp(saved_argv[i], "--takeover-fd") || !strcmp(saved_argv[i], "--state")) {
			i++;
			continue;
		}
		if (!strncmp(saved_argv[i], "--takeover-fd=", 14) ||
		    !strncmp(saved_argv[i], "--state=", 8))
			continue;
		argv[n++] = saved_argv[i];
	}
	snprintf(fdarg, fdlen, "%d", fd);
	argv[n++] = "--takeover-fd";
	argv[n] = fdarg;
	return argv;
}

int takeover_spawn(const struct takeover_fds *f, struct takeover_child *c, char *err, size_t errlen)
{
	char **argv, fdarg[16];
	int sv[2], ret;

	c->pid = -1;
	c->sock = -1;
	if (!saved_argv) {
		snprintf(err, errlen, "restart: strgd's arguments are not known");
		return -EINVAL;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		ret = -errno;
		snprintf(err, errlen, "restart: socketpair: %s", strerror(errno));
		return ret;
	}
	argv = successor_argv(sv[1], fdarg, sizeof(fdarg));
	c->pid = argv ? fork() : -1;
	if (c->pid == 0) {
		sigset_t none;

		/* The successor keeps this one descriptor; the rest close on exec. */
		fcntl(sv[1], F_SETFD, 0);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execv(exe[0] ? exe : "/proc/self/exe", argv);
		_exit(127);
	}
	ret = c->pid < 0 ? (argv ? -errno : -ENOMEM) : 0;
	free(argv);
	close(sv[1]);
	c->sock = sv[0];
	if (ret)
		snprintf(err, errlen, "restart: fork: %s", strerror(-ret));
	else if ((ret = takeover_send(c->sock, f)))
		snprintf(err, errlen, "restart: handing the sockets over: %s", strerror(-ret));
	if (ret)
		takeover_abort(c);
	return ret;
}

void takeover_abort(struct takeover_child *c)
{
	int status;

	if (c->pid > 0) {
		kill(c->pid, SIGKILL);
		waitpid(c->pid, &status, 0);
	}
	if (c->sock >= 0)
		close(c->sock);
	c->pid = -1;
	c->sock = -1;
}
