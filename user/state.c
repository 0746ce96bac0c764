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
#include <unistd.h>

#include "http.h"
#include "state.h"

#define STATE_WORDS 24

struct save_ctx {
	const struct config *cfg;
	FILE *f;
};

/* "route SPEC id N": the configuration's syntax plus the route's id, kept across restarts. */
static int save_route(const struct route *rt, void *arg)
{
	struct save_ctx *s = arg;
	char text[ROUTE_TEXT_MAX];

	route_spec_text(&rt->spec, s->cfg->pools[rt->spec.pool].name, text, sizeof(text));
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

int state_save(const struct config *cfg)
{
	char tmp[sizeof(cfg->state) + 8], dir[sizeof(cfg->state)];
	struct save_ctx s = {.cfg = cfg};
	char *slash;
	int fd, err = 0;

	snprintf(dir, sizeof(dir), "%s", cfg->state);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0750) < 0 && errno != EEXIST)
			return -errno;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", cfg->state);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0)
		return -errno;
	s.f = fdopen(fd, "w");
	if (!s.f) {
		err = -errno;
		close(fd);
		goto out_unlink;
	}
	fputs("# strgd's pools and routes, rewritten on every change (strgctl); they win over the\n"
	      "# configuration file at start. Route lines have the configuration's syntax.\n",
	      s.f);
	save_pools(cfg, s.f);
	fprintf(s.f, "next-id %u\n", route_table_next_id(cfg->routes));
	route_table_each(cfg->routes, save_route, &s);
	if (fflush(s.f) != 0 || fsync(fd) < 0)
		err = -errno;
	if (fclose(s.f) != 0 && !err)
		err = -errno;
	if (err)
		goto out_unlink;
	if (rename(tmp, cfg->state) < 0) {
		err = -errno;
		goto out_unlink;
	}
	return sync_dir(cfg->state);
out_unlink:
	unlink(tmp);
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
	memset(p, 0, sizeof(*p));
	strcpy(p->name, argv[1]);
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

/* One line of the state file: pools and backends into cfg, routes into table t. */
static int load_line(struct config *cfg, bool *pools_seen, struct route_table *t, char *line,
		     char *msg, size_t len)
{
	char *argv[STATE_WORDS];
	struct route_spec spec;
	uint32_t want = 0;
	int argc = 0, id;

	for (char *w = strtok(line, " \t\r"); w; w = strtok(NULL, " \t\r")) {
		if (w[0] == '#')
			break;
		if (argc == STATE_WORDS) {
			snprintf(msg, len, "too many words");
			return -EINVAL;
		}
		argv[argc++] = w;
	}
	if (!argc)
		return 0;
	if (!strcmp(argv[0], "pool"))
		return load_pool(cfg, pools_seen, argc, argv, msg, len);
	if (!strcmp(argv[0], "backend"))
		return load_backend(cfg, argc, argv, msg, len);
	if (!strcmp(argv[0], "next-id")) {
		if (argc != 2 || parse_id(argv[1], &want) < 0) {
			snprintf(msg, len, "bad next-id line (next-id N)");
			return -EINVAL;
		}
		route_table_reserve_ids(t, want);
		return 0;
	}
	if (strcmp(argv[0], "route")) {
		snprintf(msg, len, "expected 'pool', 'backend', 'next-id' or 'route', not '%s'",
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
	if (config_route_words(cfg, argc, argv, &spec, msg, len))
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

static bool has_default_route(const struct route_table *t)
{
	struct route_spec spec = {0};

	route_path_set(&spec, "/");
	return route_table_find(t, &spec) != NULL;
}

int state_load(struct config *cfg, char *err, size_t errlen)
{
	struct route_table *t;
	unsigned lineno = 0;
	char line[4096], msg[256];
	struct config *tmp;
	bool pools_seen = false;
	FILE *f;
	int ret = 0;

	cfg->boot_routes = route_table_clone(cfg->routes);
	if (!cfg->boot_routes) {
		snprintf(err, errlen, "%s: %s", cfg->state, strerror(errno));
		return -ENOMEM;
	}
	f = fopen(cfg->state, "re");
	if (!f) {
		if (errno == ENOENT)
			return 0; /* nothing changed at runtime yet */
		snprintf(err, errlen, "%s: %s", cfg->state, strerror(errno));
		return -errno;
	}
	/* Pools are read into a copy, so a refused file leaves the configuration's in force. */
	t = route_table_new();
	tmp = malloc(sizeof(*tmp));
	if (!t || !tmp) {
		fclose(f);
		route_table_free(t);
		free(tmp);
		snprintf(err, errlen, "%s: %s", cfg->state, strerror(ENOMEM));
		return -ENOMEM;
	}
	*tmp = *cfg;
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		line[strcspn(line, "\n")] = '\0';
		ret = load_line(tmp, &pools_seen, t, line, msg, sizeof(msg));
		if (ret < 0) {
			snprintf(err, errlen, "%s:%u: %s", cfg->state, lineno, msg);
			break;
		}
	}
	fclose(f);
	if (!ret && !has_default_route(t)) {
		snprintf(err, errlen, "%s: no default route '/'", cfg->state);
		ret = -EINVAL;
	}
	if (ret < 0) {
		route_table_free(t);
		free(tmp);
		return ret;
	}
	memcpy(cfg->pools, tmp->pools, sizeof(cfg->pools));
	cfg->npools = tmp->npools;
	free(tmp);
	route_table_free(cfg->routes);
	cfg->routes = t;
	return 0;
}
