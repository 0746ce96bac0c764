// SPDX-License-Identifier: GPL-2.0-only
/* strgctl: the operator's command line; it sends one command to strgd's control socket. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>
#include <unistd.h>

#include "control/ctl.h"
#include "cli/ctlclient.h"
#include "control/ctlverbs.h"
#include "cli/top.h"
#include "cli/waitfleet.h"
#include "lib/clock.h"
#include "lib/version.h"

static const char intro[] =
	"Usage: strgctl [-s SOCKET] [-j] [--dry-run] [--force] NOUN VERB [ARGUMENTS]\n"
	"\n"
	"Change and inspect a running strgd through its control socket\n"
	"(-s, else $STRGCTL_SOCKET, else " CTL_SOCKET_DEFAULT "; strgd's is 'control PATH'\n"
	"in its configuration).\n";

static const char outro[] =
	"\n"
	"Options (anywhere on the line):\n"
	"  -s, --socket SOCKET  the control socket (default: $STRGCTL_SOCKET when set)\n"
	"  -j, --json           JSON output (the show verbs, stats and fleet)\n"
	"  -n, --dry-run        say what a change would do, change nothing (in a fleet:\n"
	"                       also the store transaction it would write)\n"
	"  -f, --force          let 'backend set|del' take out the last backend of a pool\n"
	"                       that serves (refused without it: its routes would fall back\n"
	"                       or answer 503)\n"
	"      --wait [T]       after 'backend set ... state drain', wait until the backend is\n"
	"                       idle (no connection, no request), at most T (default 60s)\n"
	"      --wait-fleet [T] in a fleet ('store' line), after a change: wait until every\n"
	"                       host in nodes/ runs the store revision it made, at most T\n"
	"                       (default 10s); exit 1 naming the hosts behind (exit 2,\n"
	"                       nothing changed, on a strgd without a store)\n"
	"  -h, --help           this text; after a noun or verb, theirs\n"
	"  -V, --version        strgctl's version\n"
	"\n"
	"Changes need root or strgd's control-group change group; strgd logs each with the\n"
	"caller's uid and pid. A change reaches new requests at once, in both data paths, and is\n"
	"saved to strgd's state file.\n"
	"\n"
	"Exit status: 0 done, 1 strgd refused or the command failed, 2 usage error (nothing "
	"sent),\n"
	"3 strgd unreachable.\n"
	"\n"
	"Examples:\n"
	"  strgctl route set GET,HEAD /v1/getSalesLeads modern\n"
	"  strgctl route set GET /v1/orders modern percent 5 testers\n"
	"  strgctl route patch GET /v1/orders rollback 5%\n"
	"  strgctl route deactivate GET,HEAD /v1/getSalesLeads\n"
	"  strgctl route show -j\n"
	"  strgctl stats\n"
	"  strgctl reload\n";

/* text in lines of at most 78 columns, each after indent spaces, the first after col. */
static void wrap(FILE *f, const char *text, int col, int indent)
{
	const char *w = text;
	bool first = true;

	while (*w) {
		size_t n = strcspn(w, " ");

		if (!first && col + 1 + (int)n > 78) {
			fprintf(f, "\n%*s", indent, "");
			col = indent;
		} else if (!first) {
			fputc(' ', f);
			col++;
		}
		first = false;
		fprintf(f, "%.*s", (int)n, w);
		col += (int)n;
		w += n;
		w += strspn(w, " ");
	}
	fputc('\n', f);
}

static void verb_usage(FILE *f, const struct ctl_verb *v)
{
	char text[512];

	snprintf(text, sizeof(text), "strgctl [-s SOCKET]%s%s %s%s%s%s%s",
		 v->flags & CTL_JSON ? " [-j]" : "", v->flags & CTL_CHANGES ? " [--dry-run]" : "",
		 v->noun, v->verb ? " " : "", v->verb ? v->verb : "", v->args[0] ? " " : "",
		 v->args);
	wrap(f, text, 0, 8);
}

/* Every verb (of noun, or all), then the options: generated from the table strgd uses too. */
static void help(FILE *f, const char *noun, const struct ctl_verb *only)
{
	if (only) {
		fputs("Usage: ", f);
		verb_usage(f, only);
		fputc('\n', f);
		wrap(f, only->help, 0, 0);
		return;
	}
	fputs(intro, f);
	fputs("\nCommands:\n", f);
	for (size_t i = 0; i < ctl_nverbs; i++) {
		const struct ctl_verb *v = &ctl_verbs[i];

		if (noun && strcmp(noun, v->noun))
			continue;
		fputs("  ", f);
		verb_usage(f, v);
		fputs("      ", f);
		wrap(f, v->help, 6, 6);
	}
	fputs(outro, f);
}

/* "route show|set|del|...": every verb of every noun, for messages. */
static void verbs_text(char *out, size_t len)
{
	size_t n = 0;

	out[0] = '\0';
	for (size_t i = 0; i < ctl_nverbs && n < len; i++) {
		const struct ctl_verb *v = &ctl_verbs[i];
		bool first = !i || strcmp(ctl_verbs[i - 1].noun, v->noun);

		n += (size_t)snprintf(out + n, len - n, "%s%s%s%s", first && i ? ", " : "",
				      first ? v->noun : "|", v->verb && first ? " " : "",
				      v->verb ? v->verb : "");
	}
}

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

/* Send the command, print the reply; one of the exit codes. The store revision it names, if any. */
static int run(const char *sock, const char *line, int64_t *store_rev)
{
	char *buf = NULL;
	int ret = ctl_call(sock, line, &buf);

	*store_rev = 0;
	if (ret == EXIT_OK) {
		*store_rev = waitfleet_revision(buf + 3);
		print_reply(buf + 3);
	} else if (buf && !strncmp(buf, "error: ", 7)) {
		fprintf(stderr, "strgctl: %s", buf + 7);
	}
	free(buf);
	return ret;
}

/* The words after the options as one command line, the options strgd needs appended. */
/* A word as one line of text: control bytes written as \r, \n, \t or \xNN. */
static void print_word(FILE *f, const char *w)
{
	for (; *w; w++) {
		unsigned char c = (unsigned char)*w;

		if (c == '\r' || c == '\n' || c == '\t')
			fprintf(f, "\\%c", c == '\r' ? 'r' : c == '\n' ? 'n' : 't');
		else if (c < ' ' || c == 0x7f)
			fprintf(f, "\\x%02x", c);
		else
			fputc(c, f);
	}
}

static int build_line(int argc, char **argv, bool json, bool dry, bool force, char *line,
		      size_t size)
{
	size_t len = 0;

	for (int i = 0; i < argc; i++) {
		size_t n = strlen(argv[i]);

		if (!n || strpbrk(argv[i], " \t\r\n") || len + n + 24 > size) {
			fprintf(stderr, "strgctl: bad word '");
			print_word(stderr, argv[i]);
			fprintf(stderr, "' (no spaces or newlines; the line is at most %d bytes)\n",
				CTL_LINE_MAX - 1);
			return -1;
		}
		memcpy(line + len, argv[i], n);
		len += n;
		line[len++] = ' ';
	}
	len += (size_t)snprintf(line + len, size - len, "%s%s%s", json ? "-j " : "",
				dry ? "--dry-run " : "", force ? "--force " : "");
	line[len - 1] = '\n';
	line[len] = '\0';
	return 0;
}

/* "30", "30s", "500ms", "2m" -> milliseconds; -1 when not a duration. */
static long wait_ms(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (end == s || v <= 0 || v > 3600000)
		return -1;
	if (!*end || !strcmp(end, "s"))
		return v * 1000 <= 3600000 ? v * 1000 : -1;
	if (!strcmp(end, "ms"))
		return v;
	if (!strcmp(end, "m"))
		return v <= 60 ? v * 60000 : -1;
	return -1;
}

/* The backend's open connections and requests in flight, from "pool show -j"; -1 on error. */
static int backend_load(const char *sock, const char *pool, const char *addr, long long *conns,
			long long *inflight)
{
	char *reply = NULL;
	json_t *doc, *p, *b;
	size_t i, j;
	int ret = -1;

	if (ctl_call(sock, "pool show -j\n", &reply) != EXIT_OK) {
		free(reply);
		return -1;
	}
	doc = json_loads(reply + 3, 0, NULL);
	free(reply);
	json_array_foreach(json_object_get(doc, "pools"), i, p)
	{
		if (strcmp(json_string_value(json_object_get(p, "name")), pool))
			continue;
		json_array_foreach(json_object_get(p, "backends"), j, b)
		{
			if (strcmp(json_string_value(json_object_get(b, "addr")), addr))
				continue;
			*conns = json_integer_value(json_object_get(b, "connections"));
			*inflight = json_integer_value(json_object_get(b, "inflight"));
			ret = 0;
		}
	}
	json_decref(doc);
	return ret;
}

/* --wait: after a drain, until the backend has no connection and no request left. */
static int wait_idle(const char *sock, const char *pool, const char *addr, long limit_ms)
{
	long long conns = -1, inflight = -1;
	uint64_t t0 = now_ns();
	long elapsed = 0;

	for (;;) {
		if (backend_load(sock, pool, addr, &conns, &inflight) < 0) {
			fprintf(stderr, "strgctl: --wait: cannot read backend %s of pool %s\n",
				addr, pool);
			return EXIT_REFUSED;
		}
		elapsed = (long)((now_ns() - t0) / 1000000);
		if (!conns && !inflight) {
			printf("backend %s of pool %s is idle (after %.1f s)\n", addr, pool,
			       (double)elapsed / 1000);
			return EXIT_OK;
		}
		if (elapsed >= limit_ms)
			break;
		usleep(100 * 1000);
	}
	fprintf(stderr,
		"strgctl: --wait: backend %s of pool %s still has %lld connections and %lld "
		"requests in flight after %.1f s\n",
		addr, pool, conns, inflight, (double)elapsed / 1000);
	return EXIT_REFUSED;
}

/* What the options asked for. */
struct cli {
	const char *sock;
	bool json, dry, force, help;
	long wait_limit;  /* --wait: ms (-1: not asked) */
	long fleet_limit; /* --wait-fleet: ms (-1: not asked) */
};

/* Which of the timed options argv[i] is ("--wait", "--wait=T", "--wait-fleet"...), or -1. */
static int timed_option(const char *word, const char *const *names, int n, size_t *len)
{
	for (int k = 0; k < n; k++) {
		*len = strlen(names[k]);
		if (!strncmp(word, names[k], *len) && (!word[*len] || word[*len] == '='))
			return k;
	}
	return -1;
}

/*
 * --wait [T] and --wait-fleet [T] (or =T), taken out of argv before getopt sees them; -1 or an
 * exit.
 */
static int take_wait(struct cli *c, int *argc, char **argv)
{
	static const char *const names[] = {"--wait", "--wait-fleet"};
	static const char *const dflt[] = {"60", "10"};
	long *limits[] = {&c->wait_limit, &c->fleet_limit};
	int o = 1, n = *argc;

	for (int i = 1; i < n; i++) {
		size_t len;
		int k = timed_option(argv[i], names, 2, &len);
		const char *t;

		if (k < 0) {
			argv[o++] = argv[i];
			continue;
		}
		t = argv[i][len] == '='			    ? argv[i] + len + 1
		    : i + 1 < n && wait_ms(argv[i + 1]) > 0 ? argv[++i]
							    : dflt[k];
		*limits[k] = wait_ms(t);
		if (*limits[k] < 0) {
			fprintf(stderr, "strgctl: %s: bad timeout '%s' (like 30s)\n", names[k], t);
			return EXIT_USAGE;
		}
	}
	argv[o] = NULL;
	*argc = o;
	return -1;
}

/* The options, wherever they stand; -1 to go on, else the exit status (--version, --verbs). */
static int parse_options(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{"socket", required_argument, NULL, 's'}, {"json", no_argument, NULL, 'j'},
		{"dry-run", no_argument, NULL, 'n'},	  {"force", no_argument, NULL, 'f'},
		{"help", no_argument, NULL, 'h'},	  {"version", no_argument, NULL, 'V'},
		{"verbs", no_argument, NULL, 'L'},	  {NULL, 0, NULL, 0},
	};
	int opt;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, "s:jnfhV", opts, NULL)) != -1) {
		switch (opt) {
		case 's':
			c->sock = optarg;
			break;
		case 'j':
			c->json = true;
			break;
		case 'n':
			c->dry = true;
			break;
		case 'f':
			c->force = true;
			break;
		case 'h':
			c->help = true;
			break;
		case 'V':
			printf("strgctl %s\n", STRG_VERSION);
			return EXIT_OK;
		case 'L': /* "noun verb" per line, for shell completion */
			for (size_t i = 0; i < ctl_nverbs; i++)
				printf("%s %s\n", ctl_verbs[i].noun,
				       ctl_verbs[i].verb ? ctl_verbs[i].verb : "");
			return EXIT_OK;
		default:
			fprintf(stderr, "strgctl: unknown option '%s' (try strgctl --help)\n",
				argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	return -1;
}

/* The verb the words name, checked against the options; NULL after saying why (exit 2). */
static const struct ctl_verb *verb_of(const struct cli *c, int rest, char **argv)
{
	const struct ctl_verb *v;
	char verbs[256];
	int used = 0;

	verbs_text(verbs, sizeof(verbs));
	if (!rest) {
		fprintf(stderr, "strgctl: missing command (%s; try strgctl --help)\n", verbs);
		return NULL;
	}
	v = ctl_verb_find(rest, argv, &used);
	if (!v) {
		fprintf(stderr, "strgctl: unknown %s '%s%s%s' (%s)\n",
			ctl_noun_known(argv[0]) ? "verb" : "command", argv[0], rest > 1 ? " " : "",
			rest > 1 ? argv[1] : "", verbs);
		return NULL;
	}
	if ((c->json && !(v->flags & CTL_JSON)) || (c->dry && !(v->flags & CTL_CHANGES))) {
		fprintf(stderr, "strgctl: %s is not an option of '%s%s%s' (strgctl help %s%s%s)\n",
			c->json ? "-j" : "--dry-run", v->noun, v->verb ? " " : "",
			v->verb ? v->verb : "", v->noun, v->verb ? " " : "",
			v->verb ? v->verb : "");
		return NULL;
	}
	return v;
}

/* "top [FRAMES]": strgctl's own view. */
static int top(const struct cli *c, const struct ctl_verb *v, int rest, char **argv)
{
	char *end = NULL;
	unsigned long frames = rest > 1 ? strtoul(argv[1], &end, 10) : 0;

	if (rest > 2 || (rest == 2 && (!*argv[1] || *end || frames < 1 || frames > 100000))) {
		fprintf(stderr, "strgctl: top: FRAMES is a number from 1 to 100000; usage: ");
		verb_usage(stderr, v);
		return EXIT_USAGE;
	}
	return top_run(c->sock, (unsigned)frames);
}

/*
 * Send the command to strgd; with --wait-fleet, then wait for the fleet's hosts; with --wait,
 * then for the drained backend.
 */
static int send_command(const struct cli *c, const struct ctl_verb *v, int rest, char **argv)
{
	char line[CTL_LINE_MAX];
	int64_t rev = 0;
	int ret;

	if (c->wait_limit >= 0 &&
	    (!ctl_verb_is(v, "backend", "set") || rest < 6 || strcmp(argv[4], "state") ||
	     (strcmp(argv[5], "drain") && strcmp(argv[5], "maint")) || c->dry)) {
		fprintf(stderr,
			"strgctl: --wait goes with 'backend set POOL ADDR state drain|maint'\n");
		return EXIT_USAGE;
	}
	if (c->force && !(v->flags & CTL_FORCE)) {
		fprintf(stderr, "strgctl: --force goes with 'backend set' and 'backend del'\n");
		return EXIT_USAGE;
	}
	if (c->fleet_limit >= 0 && (!(v->flags & CTL_CHANGES) || c->dry)) {
		fprintf(stderr, "strgctl: --wait-fleet goes with a change (not --dry-run)\n");
		return EXIT_USAGE;
	}
	if (build_line(rest, argv, c->json, c->dry, c->force, line, sizeof(line)) < 0)
		return EXIT_USAGE;
	/* Not in a fleet: said before anything changes. */
	ret = c->fleet_limit >= 0 ? waitfleet_check(c->sock) : -1;
	if (ret >= 0)
		return ret;
	ret = run(c->sock, line, &rev);
	if (ret == EXIT_OK && c->fleet_limit >= 0)
		ret = waitfleet_run(c->sock, rev, c->fleet_limit);
	if (ret == EXIT_OK && c->wait_limit >= 0)
		ret = wait_idle(c->sock, argv[2], argv[3], c->wait_limit);
	return ret;
}

int main(int argc, char **argv)
{
	const char *env_sock = getenv("STRGCTL_SOCKET");
	struct cli c = {.sock = env_sock && *env_sock ? env_sock : CTL_SOCKET_DEFAULT,
			.wait_limit = -1,
			.fleet_limit = -1};
	const struct ctl_verb *v;
	int used = 0, rest, ret;

	ret = take_wait(&c, &argc, argv);
	if (ret < 0)
		ret = parse_options(&c, argc, argv);
	if (ret >= 0)
		return ret;
	rest = argc - optind;
	argv += optind;
	if (rest >= 1 && !strcmp(argv[0], "help")) {
		c.help = true;
		argv++;
		rest--;
	}
	if (rest == 1 && !strcmp(argv[0], "version")) {
		printf("strgctl %s\n", STRG_VERSION);
		return EXIT_OK;
	}
	if (c.help) {
		v = ctl_verb_find(rest, argv, &used);
		help(stdout, rest >= 1 && ctl_noun_known(argv[0]) ? argv[0] : NULL,
		     v && (used == 2 || !v->verb) ? v : NULL);
		return EXIT_OK;
	}
	v = verb_of(&c, rest, argv);
	if (!v)
		return EXIT_USAGE;
	if (ctl_verb_is(v, "top", NULL))
		return top(&c, v, rest, argv);
	return send_command(&c, v, rest, argv);
}
