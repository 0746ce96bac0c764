// SPDX-License-Identifier: GPL-2.0-only
/* The route table saved across restarts, in the configuration file's own "route" syntax. */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/guardlines.h"
#include "core/http.h"
#include "core/state.h"
#include "lib/reply.h"
#include "lib/words.h"

#define STATE_WORDS 24
/* The last line of a whole state file: without it the file was cut short. */
#define STATE_END "# end of state"

struct save_ctx {
	const struct config *cfg;
	FILE *f;
};

/* "route SPEC id N": the configuration's syntax plus the route's id, kept across restarts. */
static int save_route(const struct route *rt, void *arg)
{
	struct save_ctx *s = arg;
	char text[ROUTE_TEXT_MAX];

	route_spec_text(&rt->spec, s->cfg->pools[rt->spec.pool].name,
			s->cfg->pools[rt->spec.fallback_pool].name, text, sizeof(text));
	fprintf(s->f, "route %s id %u\n", text, rt->id);
	return 0;
}

/* Pools first (routes name them), then one line per backend with its admin state and weight. */
static void save_pools(const struct config *cfg, FILE *f)
{
	for (unsigned i = 0; i < cfg->npools; i++)
		fprintf(f, "pool %s%s\n", cfg->pools[i].name,
			cfg->pools[i].proxy_protocol ? " proxy-protocol" : "");
	for (unsigned i = 0; i < cfg->npools; i++) {
		const struct pool *p = &cfg->pools[i];

		for (unsigned b = 0; b < p->nbackends; b++)
			if (p->backends[b].state != BACKEND_REMOVED)
				fprintf(f, "backend %s %s state %s weight %u\n", p->name,
					p->backends[b].name, pool_state_name(p->backends[b].state),
					p->backends[b].weight);
	}
}

/* "applied route SPEC" (no id: the configuration's own syntax). */
static int save_applied_route(const struct route *rt, void *arg)
{
	struct save_ctx *s = arg;
	char text[ROUTE_TEXT_MAX];

	route_spec_text(&rt->spec, s->cfg->pools[rt->spec.pool].name,
			s->cfg->pools[rt->spec.fallback_pool].name, text, sizeof(text));
	fprintf(s->f, "applied route %s\n", text);
	return 0;
}

/*
 * The configuration applied last, as configuration lines prefixed with "applied": the common
 * ancestor the next edit of the file is merged against.
 */
static void save_applied(const struct config *applied, FILE *f)
{
	struct save_ctx s = {.cfg = applied, .f = f};

	for (unsigned i = 0; i < applied->npools; i++) {
		const struct pool *p = &applied->pools[i];

		fprintf(f, "applied pool %s", p->name);
		for (unsigned b = 0; b < p->nbackends; b++)
			if (p->backends[b].state != BACKEND_REMOVED)
				fprintf(f, " %s", p->backends[b].name);
		fputs(p->proxy_protocol ? " proxy-protocol\n" : "\n", f);
	}
	route_table_each(applied->routes, save_applied_route, &s);
	guard_settings_write(&applied->guard, f, "applied ");
}

/* The directory entry of the rename must reach the disk too, or a crash can undo it. */
static int sync_dir(const char *path)
{
	char dir[sizeof(((struct config *)0)->state)];
	char *slash;
	int fd, err = 0;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash)
		return 0;
	*(slash == dir ? slash + 1 : slash) = '\0';
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		err = -errno;
	close(fd);
	return err;
}

int state_text(const struct config *cfg, const struct config *applied, char **text, size_t *len)
{
	struct save_ctx s = {.cfg = cfg};

	*text = NULL;
	s.f = open_memstream(text, len);
	if (!s.f)
		return -errno;
	fputs("# strgd's pools and routes, rewritten on every change (strgctl); they win over the\n"
	      "# configuration file at start. Route lines have the configuration's syntax.\n",
	      s.f);
	save_pools(cfg, s.f);
	fprintf(s.f, "next-id %u\n", route_table_next_id(cfg->routes));
	/* The store's revision this table is of: a fleet host starts from it without the store. */
	if (cfg->store_revision)
		fprintf(s.f, "store-revision %lld\n", (long long)cfg->store_revision);
	route_table_each(cfg->routes, save_route, &s);
	/* "guard": the XDP guard's settings follow, and replace the configuration's at start. */
	fputs("guard\n", s.f);
	guard_settings_write(&cfg->guard, s.f, "");
	if (applied)
		save_applied(applied, s.f);
	fputs(STATE_END "\n", s.f);
	if (ferror(s.f)) {
		fclose(s.f);
		free(*text);
		*text = NULL;
		return -ENOMEM;
	}
	if (fclose(s.f) != 0) {
		free(*text);
		*text = NULL;
		return -ENOMEM;
	}
	return 0;
}

int state_write(const char *path, const char *text, size_t len)
{
	char tmp[PATH_MAX], dir[PATH_MAX];
	char *slash;
	size_t off = 0;
	int fd, err = 0;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0750) < 0 && errno != EEXIST)
			return -errno;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0)
		return -errno;
	while (off < len && !err) {
		ssize_t n = write(fd, text + off, len - off);

		if (n < 0 && errno != EINTR)
			err = -errno;
		else if (n > 0)
			off += (size_t)n;
	}
	if (!err && fsync(fd) < 0)
		err = -errno;
	if (close(fd) < 0 && !err)
		err = -errno;
	if (!err && rename(tmp, path) < 0)
		err = -errno;
	if (err) {
		unlink(tmp);
		return err;
	}
	return sync_dir(path);
}

int state_save(const struct config *cfg, const struct config *applied)
{
	size_t len = 0;
	char *text;
	int err = state_text(cfg, applied, &text, &len);

	if (!err)
		err = state_write(cfg->state, text, len);
	free(text);
	return err;
}

/* "pool NAME [proxy-protocol]": the first such line replaces the configuration's pools. */
static int load_pool(struct config *cfg, bool *pools_seen, int argc, char **argv, char *msg,
		     size_t len)
{
	struct pool *p;

	if (!*pools_seen)
		cfg->npools = 0;
	*pools_seen = true;
	if (argc < 2 || argc > 3 || (argc == 3 && strcmp(argv[2], "proxy-protocol")) ||
	    strlen(argv[1]) > POOL_NAME_MAX || config_pool_find(cfg, argv[1]) >= 0 ||
	    cfg->npools == POOL_MAX) {
		snprintf(msg, len, "bad or repeated pool line");
		return -EINVAL;
	}
	p = &cfg->pools[cfg->npools++];
	pool_init(p, argv[1]);
	p->proxy_protocol = argc == 3;
	return 0;
}

/* "backend POOL ADDR state S weight N" */
static int load_backend(struct config *cfg, int argc, char **argv, char *msg, size_t len)
{
	int pi = argc == 7 ? config_pool_find(cfg, argv[1]) : -1;
	struct pool_backend nb;
	unsigned long w = 0;
	struct pool *p;
	char *end;

	if (pi < 0 || strcmp(argv[3], "state") || strcmp(argv[5], "weight") ||
	    pool_backend_parse(&nb, argv[2]) || pool_state_parse(argv[4], &nb.state) ||
	    (w = strtoul(argv[6], &end, 10), *end) || w > 256) {
		snprintf(msg, len, "bad backend line (backend POOL ADDR state S weight N)");
		return -EINVAL;
	}
	p = &cfg->pools[pi];
	if (p->nbackends == POOL_MAX_BACKENDS || pool_backend_find(p, argv[2]) >= 0) {
		snprintf(msg, len, "pool %s: backend %s repeated or too many", p->name, argv[2]);
		return -EINVAL;
	}
	nb.weight = (unsigned)w;
	p->backends[p->nbackends++] = nb;
	return 0;
}

/* A route id or id counter: 1 to INT_MAX. */
static int parse_id(const char *s, uint32_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || !*s || *s == '-' || *s == '+' || v == 0 || v > INT_MAX)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

/* What the lines read so far had. */
struct load_seen {
	bool pools;   /* a pool line: the file's pools replace the configuration's */
	bool guard;   /* a guard line: the guard settings that follow replace the configuration's */
	bool next_id; /* a next-id line: the file has the format that ends with STATE_END */
};

/* One line of the state file: pools and backends into cfg, routes into table t. */
static int load_line(struct config *cfg, struct load_seen *seen, struct route_table *t, char *line,
		     char *msg, size_t len)
{
	char *argv[STATE_WORDS];
	struct route_spec spec;
	uint32_t want = 0;
	int argc = words_split(line, argv, STATE_WORDS, true), id;

	if (argc < 0) {
		snprintf(msg, len, "too many words");
		return -EINVAL;
	}
	if (!argc)
		return 0;
	if (!strcmp(argv[0], "pool"))
		return load_pool(cfg, &seen->pools, argc, argv, msg, len);
	if (!strcmp(argv[0], "backend"))
		return load_backend(cfg, argc, argv, msg, len);
	if (!strcmp(argv[0], "guard")) {
		if (argc != 1 || seen->guard) {
			snprintf(msg, len, "bad or repeated guard line");
			return -EINVAL;
		}
		seen->guard = true;
		memset(&cfg->guard, 0, sizeof(cfg->guard)); /* the configuration's stay with it */
		return 0;
	}
	if (seen->guard && (!strcmp(argv[0], "xdp") || !strcmp(argv[0], "deny") ||
			    !strcmp(argv[0], "allow") || !strcmp(argv[0], "limit")))
		return guard_config_words(cfg, argc, argv, msg, len);
	if (!strcmp(argv[0], "next-id")) {
		if (argc != 2 || parse_id(argv[1], &want) < 0) {
			snprintf(msg, len, "bad next-id line (next-id N)");
			return -EINVAL;
		}
		route_table_reserve_ids(t, want);
		seen->next_id = true;
		return 0;
	}
	if (!strcmp(argv[0], "store-revision")) {
		char *end;

		errno = 0;
		cfg->store_revision = argc == 2 ? strtoll(argv[1], &end, 10) : -1;
		if (argc != 2 || errno || *end || cfg->store_revision < 1) {
			snprintf(msg, len, "bad store-revision line (store-revision N)");
			return -EINVAL;
		}
		return 0;
	}
	if (strcmp(argv[0], "route")) {
		snprintf(msg, len,
			 "expected 'pool', 'backend', 'next-id', 'route' or 'guard', not '%s'",
			 argv[0]);
		return -EINVAL;
	}
	/* "id N" closes a saved route; a hand-written line without it gets a new id. */
	if (argc > 3 && !strcmp(argv[argc - 2], "id")) {
		if (parse_id(argv[argc - 1], &want) < 0) {
			snprintf(msg, len, "bad route id '%s'", argv[argc - 1]);
			return -EINVAL;
		}
		argc -= 2;
	}
	if (config_saved_route_words(cfg, argc, argv, &spec, msg, len))
		return -EINVAL;
	id = want ? route_table_restore(t, &spec, want) : route_table_set(t, &spec);
	if (id == -EEXIST) {
		snprintf(msg, len, "route id %u or its route appears twice", want);
		return id;
	}
	if (id < 0) {
		snprintf(msg, len, "%s", strerror(-id));
		return id;
	}
	return 0;
}

/* Append one "applied" line (without its prefix) to the text being collected. */
static int applied_add(struct reply *text, const char *line)
{
	reply_printf(text, "%s\n", line);
	return text->oom ? -ENOMEM : 0;
}

/* The "applied" lines as a configuration of their own (pools and routes). */
static int applied_parse(const struct config *cfg, const char *lines, struct config **out,
			 char *err, size_t errlen)
{
	char *text = NULL, msg[256];
	size_t n = strlen(lines) + 64;
	struct config *a = calloc(1, sizeof(*a));
	int ret;

	text = malloc(n);
	if (!a || !text) {
		free(a);
		free(text);
		return -ENOMEM;
	}
	/* listen is the only directive the parser insists on; it plays no part here. */
	snprintf(text, n, "listen 127.0.0.1:1\n%s", lines);
	ret = config_parse_saved(a, "applied", text, msg, sizeof(msg));
	free(text);
	if (ret < 0) {
		snprintf(err, errlen, "%s: its applied configuration: %s", cfg->state, msg);
		config_destroy(a);
		return ret;
	}
	*out = a;
	return 0;
}

/* Why a state file cannot be read, in words an operator can act on. */
static int state_refuse(const struct config *cfg, int ret, const char *why, char *err,
			size_t errlen)
{
	snprintf(err, errlen,
		 "%s: %s (start with --state discard to start from the configuration alone; a copy "
		 "of the state file is kept)",
		 cfg->state, why);
	return ret;
}

/* A state file being read: what it loads goes into copies until the file is whole. */
struct load {
	struct config *tmp;    /* its pools (and guard), over a copy of the configuration */
	struct route_table *t; /* its routes */
	struct load_seen seen;
	struct reply applied; /* its "applied" lines */
	unsigned lineno;
	bool ended;
};

/* Open the state file: 1, or 0 when there is none (nothing changed at runtime yet), -errno. */
static int state_open(struct config *cfg, FILE **f, char *err, size_t errlen)
{
	struct stat st;

	*f = fopen(cfg->state, "re");
	if (!*f)
		return errno == ENOENT ? 0
				       : state_refuse(cfg, -errno, strerror(errno), err, errlen);
	if (fstat(fileno(*f), &st) == 0 && !S_ISREG(st.st_mode)) {
		fclose(*f);
		return state_refuse(cfg, -EINVAL, "not a regular file", err, errlen);
	}
	return 1;
}

/* Every line of f into ld, and the file whole (its end line). 0 or -errno (err says where). */
static int load_lines(struct config *cfg, FILE *f, struct load *ld, char *err, size_t errlen)
{
	char line[8192], msg[256];
	int ret = 0;

	while (fgets(line, sizeof(line), f)) {
		ld->lineno++;
		line[strcspn(line, "\n")] = '\0';
		if (ld->ended) {
			ret = -EINVAL;
			snprintf(msg, sizeof(msg), "text after the end line");
		} else if (!strcmp(line, STATE_END)) {
			ld->ended = true;
			continue;
		} else if (!strncmp(line, "applied ", 8)) {
			ret = applied_add(&ld->applied, line + 8);
			snprintf(msg, sizeof(msg), "%s", strerror(-ret));
		} else {
			ret = load_line(ld->tmp, &ld->seen, ld->t, line, msg, sizeof(msg));
		}
		if (ret < 0) {
			snprintf(err, errlen,
				 "%s:%u: %s (start with --state discard to start from the "
				 "configuration alone; a copy of the state file is kept)",
				 cfg->state, ld->lineno, msg);
			return ret;
		}
	}
	/* Files written before the end line existed have no next-id line either. */
	if (!ld->ended && (!ld->lineno || ld->seen.next_id))
		return state_refuse(cfg, -EINVAL,
				    ld->lineno ? "cut short: its last line is missing (truncated?)"
					       : "empty",
				    err, errlen);
	return 0;
}

static void load_free(struct load *ld)
{
	route_table_free(ld->t);
	if (ld->seen.guard)
		guard_settings_free(&ld->tmp->guard);
	free(ld->tmp);
	reply_free(&ld->applied);
}

/* The file was whole and sound: its pools, guard and routes replace the configuration's. */
static void load_take(struct config *cfg, struct load *ld)
{
	if (ld->seen.guard) {
		guard_settings_free(&cfg->guard);
		cfg->guard = ld->tmp->guard;
	}
	memcpy(cfg->pools, ld->tmp->pools, sizeof(cfg->pools));
	cfg->npools = ld->tmp->npools;
	cfg->store_revision = ld->tmp->store_revision;
	free(ld->tmp);
	route_table_free(cfg->routes);
	cfg->routes = ld->t;
	reply_free(&ld->applied);
}

int state_load(struct config *cfg, struct config **last, char *err, size_t errlen)
{
	struct load ld = {0};
	FILE *f;
	int ret;

	*last = NULL;
	ret = state_open(cfg, &f, err, errlen);
	if (ret <= 0)
		return ret;
	/* Pools are read into a copy, so a refused file leaves the configuration's in force. */
	ld.t = route_table_new();
	ld.tmp = malloc(sizeof(*ld.tmp));
	if (ld.t && ld.tmp) {
		*ld.tmp = *cfg;
		ret = load_lines(cfg, f, &ld, err, errlen);
	} else {
		ret = -ENOMEM;
		snprintf(err, errlen, "%s: %s", cfg->state, strerror(ENOMEM));
	}
	fclose(f);
	if (!ret && !route_table_default(ld.t))
		ret = state_refuse(cfg, -EINVAL, "no default route '/'", err, errlen);
	/* A state file from before "applied" lines: the configuration counts as applied. */
	if (!ret && ld.applied.buf)
		ret = applied_parse(cfg, ld.applied.buf, last, err, errlen);
	if (!ret && !*last && !(*last = config_clone(cfg))) {
		snprintf(err, errlen, "%s: %s", cfg->state, strerror(ENOMEM));
		ret = -ENOMEM;
	}
	if (ret < 0) {
		load_free(&ld);
		return ret;
	}
	load_take(cfg, &ld);
	return 0;
}

int state_discard(const struct config *cfg, char *kept, size_t len)
{
	time_t now = time(NULL);
	struct tm tm;
	char stamp[32];

	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	snprintf(kept, len, "%s.discarded-%s", cfg->state, stamp);
	if (rename(cfg->state, kept) < 0)
		return errno == ENOENT ? 0 : -errno;
	return 1;
}
