// SPDX-License-Identifier: GPL-2.0-only
/* strgctl: the operator's command line; it sends one command to strgd's control socket. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl.h"
#include "version.h"

static const char usage[] =
	"Usage: strgctl [-s SOCKET] [-j] [--dry-run] COMMAND\n"
	"\n"
	"Change and inspect a running strgd through its control socket\n"
	"(default " CTL_SOCKET_DEFAULT ", set with 'control PATH' in strgd's configuration).\n"
	"\n"
	"Commands:\n"
	"  route show                                    the route table\n"
	"  route set [METHODS] [host HOST] PATH POOL [percent P] [exact]\n"
	"            [strip-prefix | rewrite NEW] [testers]\n"
	"                                                add a route or replace the one with the\n"
	"                                                same methods, host, path and exact flag;\n"
	"                                                percent P (0-100, one decimal) sends "
	"that\n"
	"                                                share of users, sticky, the rest falls\n"
	"                                                through to the next matching route;\n"
	"                                                strip-prefix or rewrite NEW replace the\n"
	"                                                matched prefix in the forwarded path;\n"
	"                                                testers lets X-Strg-Pool: NAME pin a\n"
	"                                                request to a pool\n"
	"  route del ID | [METHODS] [host HOST] PATH [exact]\n"
	"                                                delete a route (never the default '/')\n"
	"  route deactivate ID | [METHODS] [host HOST] PATH [exact]\n"
	"                                                keep the route, but let its requests "
	"fall\n"
	"                                                through to the next match (rollback)\n"
	"  route activate ID | [METHODS] [host HOST] PATH [exact]\n"
	"                                                route its requests again\n"
	"  pool show                                     the pools and their backends\n"
	"  pool add NAME                                 a new pool, without backends yet\n"
	"  backend add|del POOL ADDR                     add a backend to a pool, or remove it\n"
	"  backend set POOL ADDR state ready|drain|maint\n"
	"                                                drain and maint take it out of new\n"
	"                                                connections; open ones finish\n"
	"  backend set POOL ADDR weight N                its share of new connections (0-256)\n"
	"  version                                       strgctl's version\n"
	"\n"
	"Options:\n"
	"  -s SOCKET   the control socket\n"
	"  -j          JSON output (read commands)\n"
	"  --dry-run   say what a change would do, change nothing\n"
	"\n"
	"Changes need root; strgd logs each with the caller's uid and pid. A change reaches new\n"
	"requests at once; requests in flight finish where they started. Every change is saved\n"
	"to strgd's state file and outlives a restart.\n"
	"\n"
	"Examples:\n"
	"  strgctl route set GET,HEAD /v1/getSalesLeads modern\n"
	"  strgctl route deactivate GET,HEAD /v1/getSalesLeads\n"
	"  strgctl route show -j\n"
	"  strgctl route del GET,HEAD /v1/getSalesLeads\n";

/* The reply's "warning: " lines go to stderr, the rest to stdout. */
static void print_reply(char *text)
{
	for (char *line = text, *nl; *line; line = nl) {
		nl = strchr(line, '\n');
		nl = nl ? nl + 1 : line + strlen(line);
		fprintf(strncmp(line, "warning: ", 9) ? stdout : stderr, "%s%.*s",
			strncmp(line, "warning: ", 9) ? "" : "strgctl: ", (int)(nl - line), line);
	}
}

/* Send the command, print the reply; 0 when strgd answered "ok". */
static int run(const char *sock, const char *line)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	size_t len = 0, cap = 65536;
	char *buf = malloc(cap), *more;
	ssize_t n = 0;
	int fd, ret = 1;

	if (!buf) {
		fprintf(stderr, "strgctl: out of memory\n");
		return 1;
	}
	if (strlen(sock) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "strgctl: socket path too long: %s\n", sock);
		goto out;
	}
	strcpy(sun.sun_path, sock);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		fprintf(stderr, "strgctl: cannot reach strgd at %s: %s\n", sock, strerror(errno));
		goto out;
	}
	if (write(fd, line, strlen(line)) != (ssize_t)strlen(line)) {
		fprintf(stderr, "strgctl: %s: %s\n", sock, strerror(errno));
		close(fd);
		goto out;
	}
	/* A reply of any size: read until strgd closes. */
	for (;;) {
		if (len + 1 == cap) {
			more = realloc(buf, cap * 2);
			if (!more)
				break;
			buf = more;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	if (n < 0 || len + 1 == cap) {
		fprintf(stderr, "strgctl: reply from strgd cut short: %s\n",
			n < 0 ? strerror(errno) : "out of memory");
	} else if (!strncmp(buf, "ok\n", 3)) {
		print_reply(buf + 3);
		ret = 0;
	} else if (!strncmp(buf, "error: ", 7)) {
		fprintf(stderr, "strgctl: %s", buf + 7);
	} else {
		fprintf(stderr, "strgctl: strgd gave no answer\n");
	}
out:
	free(buf);
	return ret;
}

int main(int argc, char **argv)
{
	const char *sock = CTL_SOCKET_DEFAULT;
	char line[4096];
	size_t len = 0;
	int i = 1;

	if (argc >= 2 &&
	    (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		fputs(usage, stdout);
		return 0;
	}
	if (argc == 2 && !strcmp(argv[1], "version")) {
		printf("strgctl %s\n", STRG_VERSION);
		return 0;
	}
	if (argc >= 3 && !strcmp(argv[1], "-s")) {
		sock = argv[2];
		i = 3;
	}
	/* Answered here, with or without a daemon. */
	if (i < argc && (!strcmp(argv[i], "help") || !strcmp(argv[i], "--help"))) {
		fputs(usage, stdout);
		return 0;
	}
	if (i + 1 == argc && !strcmp(argv[i], "version")) {
		printf("strgctl %s\n", STRG_VERSION);
		return 0;
	}
	if (i >= argc) {
		fprintf(stderr, "strgctl: missing command (try 'strgctl help')\n");
		return 2;
	}
	if (argc >= i + 2 && !strcmp(argv[i + 1], "--help")) {
		fputs(usage, stdout);
		return 0;
	}
	for (; i < argc; i++) {
		size_t n = strlen(argv[i]);

		if (!n || strpbrk(argv[i], " \t\r\n") || len + n + 2 > sizeof(line)) {
			fprintf(stderr, "strgctl: bad word '%s' (no spaces or newlines)\n",
				argv[i]);
			return 2;
		}
		memcpy(line + len, argv[i], n);
		len += n;
		line[len++] = ' ';
	}
	line[len - 1] = '\n';
	line[len] = '\0';
	return run(sock, line);
}
