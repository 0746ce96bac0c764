// SPDX-License-Identifier: GPL-2.0-only
/* The route table saved across restarts, in the configuration file's own "route" syntax. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http.h"
#include "state.h"

#define STATE_WORDS 16

struct save_ctx {
	const struct config *cfg;
	FILE *f;
};

static int save_route(const struct route *rt, void *arg)
{
	struct save_ctx *s = arg;
	const char *sep = "";

	fputs("route ", s->f);
	for (unsigned m = HTTP_M_GET; m < HTTP_M_COUNT; m++) {
		if (rt->spec.methods & (1u << m)) {
			fprintf(s->f, "%s%s", sep, http_method_name((enum http_method)m));
			sep = ",";
		}
	}
	if (*sep)
		fputc(' ', s->f);
	if (rt->spec.host[0])
		fprintf(s->f, "host %s ", rt->spec.host);
	fprintf(s->f, "%s %s", rt->spec.path, s->cfg->pools[rt->spec.pool].name);
	if (rt->spec.split)
		fprintf(s->f, " percent %u.%u", rt->spec.permille / 10u, rt->spec.permille % 10u);
	fprintf(s->f, "%s%s%s\n", rt->spec.exact ? " exact" : "",
		rt->spec.testers ? " testers" : "", rt->spec.inactive ? " inactive" : "");
	return 0;
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
	fputs("# strgd's route table, rewritten on every change (strgctl); it wins over the\n"
	      "# configuration file at start. Same syntax as the configuration's route lines.\n",
	      s.f);
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

/* One "route ..." line of the state file into table t. */
static int load_line(struct config *cfg, struct route_table *t, char *line, char *msg, size_t len)
{
	char *argv[STATE_WORDS];
	struct route_spec spec;
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
	if (strcmp(argv[0], "route")) {
		snprintf(msg, len, "expected 'route', not '%s'", argv[0]);
		return -EINVAL;
	}
	if (config_route_words(cfg, argc, argv, &spec, msg, len))
		return -EINVAL;
	id = route_table_set(t, &spec);
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
	t = route_table_new();
	if (!t) {
		fclose(f);
		snprintf(err, errlen, "%s: %s", cfg->state, strerror(errno));
		return -ENOMEM;
	}
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		line[strcspn(line, "\n")] = '\0';
		ret = load_line(cfg, t, line, msg, sizeof(msg));
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
		return ret;
	}
	route_table_free(cfg->routes);
	cfg->routes = t;
	return 0;
}
