// SPDX-License-Identifier: GPL-2.0-only
/*
 * The control socket's commands: one text line in ("route set GET /v1/x modern"), one reply
 * out whose first line is "ok" or "error: ...". Changes need a root peer and are logged with
 * the peer's uid and pid; the kernel's route table follows every change.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "http.h"
#include "log.h"
#include "splice.h"
#include "state.h"

#define CTL_MAX_WORDS 32

static uint64_t ctl_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void reply(struct ctl_reply *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void reply(struct ctl_reply *r, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (r->len >= sizeof(r->buf))
		return;
	va_start(ap, fmt);
	n = vsnprintf(r->buf + r->len, sizeof(r->buf) - r->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		r->len = r->len + (size_t)n < sizeof(r->buf) ? r->len + (size_t)n : sizeof(r->buf);
}

static int fail(struct ctl_reply *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct ctl_reply *r, const char *fmt, ...)
{
	va_list ap;

	r->len = 0;
	reply(r, "error: ");
	va_start(ap, fmt);
	r->len += (size_t)vsnprintf(r->buf + r->len, sizeof(r->buf) - r->len, fmt, ap);
	va_end(ap);
	if (r->len >= sizeof(r->buf) - 1)
		r->len = sizeof(r->buf) - 2;
	r->buf[r->len++] = '\n';
	return -EINVAL;
}

static void methods_text(uint32_t mask, char *out, size_t len, bool json)
{
	size_t n = 0;

	out[0] = '\0';
	for (unsigned m = HTTP_M_GET; m < HTTP_M_COUNT && n < len; m++) {
		if (!(mask & (1u << m)))
			continue;
		n += (size_t)snprintf(out + n, len - n, json ? "%s\"%s\"" : "%s%s", n ? "," : "",
				      http_method_name((enum http_method)m));
	}
}

struct show_ctx {
	const struct config *cfg;
	struct ctl_reply *r;
	bool json;
	unsigned n;
};

static int show_route(const struct route *rt, void *arg)
{
	struct show_ctx *s = arg;
	char methods[96];

	methods_text(rt->spec.methods, methods, sizeof(methods), s->json);
	const struct route *boot =
		s->cfg->boot_routes ? route_table_find(s->cfg->boot_routes, &rt->spec) : NULL;
	/* "config" when the configuration file says the same, else it came from a change. */
	bool same = boot && boot->spec.pool == rt->spec.pool &&
		    boot->spec.inactive == rt->spec.inactive &&
		    boot->spec.split == rt->spec.split && boot->spec.permille == rt->spec.permille;
	const char *source = same ? "config" : "state";

	if (s->json)
		reply(s->r,
		      "%s{\"id\":%u,\"methods\":[%s],\"host\":\"%s\",\"path\":\"%s\",\"exact\":%s,"
		      "\"pool\":\"%s\",\"percent\":%u.%u,\"testers\":%s,\"active\":%s,"
		      "\"strip_prefix\":%s,\"rewrite\":\"%s\",\"source\":\"%s\"}",
		      s->n ? "," : "", rt->id, methods, rt->spec.host, rt->spec.path,
		      rt->spec.exact ? "true" : "false", s->cfg->pools[rt->spec.pool].name,
		      rt->spec.split ? rt->spec.permille / 10u : 100u,
		      rt->spec.split ? rt->spec.permille % 10u : 0u,
		      rt->spec.testers ? "true" : "false", rt->spec.inactive ? "false" : "true",
		      rt->spec.adapt && !rt->spec.rewrite[0] ? "true" : "false", rt->spec.rewrite,
		      source);
	else
		reply(s->r, "%-5u %-16s %-20s %-32s %-8s %-6s %s\n", rt->id,
		      methods[0] ? methods : "*", rt->spec.host[0] ? rt->spec.host : "*",
		      rt->spec.path, s->cfg->pools[rt->spec.pool].name, source,
		      rt->spec.exact ? (rt->spec.inactive ? "exact inactive" : "exact")
				     : (rt->spec.inactive ? "inactive" : ""));
	s->n++;
	return 0;
}

/* Paths and hosts were validated when set: no character in them needs JSON escaping. */
static int route_show(const struct config *cfg, bool json, struct ctl_reply *r)
{
	struct show_ctx s = {.cfg = cfg, .r = r, .json = json};

	reply(r, "ok\n");
	if (json)
		reply(r, "{\"routes\":[");
	else
		reply(r, "%-5s %-16s %-20s %-32s %-8s %-6s %s\n", "ID", "METHODS", "HOST", "PATH",
		      "POOL", "SOURCE", "");
	route_table_each(cfg->routes, show_route, &s);
	if (json)
		reply(r, "]}\n");
	return 0;
}

static int pool_show(const struct config *cfg, bool json, struct ctl_reply *r)
{
	reply(r, "ok\n");
	if (json)
		reply(r, "{\"pools\":[");
	for (unsigned i = 0; i < cfg->npools; i++) {
		const struct pool *p = &cfg->pools[i];
		unsigned shown = 0;

		if (json)
			reply(r, "%s{\"name\":\"%s\",\"proxy_protocol\":%s,\"backends\":[",
			      i ? "," : "", p->name, p->proxy_protocol ? "true" : "false");
		else
			reply(r, "%s%s\n", p->name, p->proxy_protocol ? " (proxy-protocol)" : "");
		for (unsigned b = 0; b < p->nbackends; b++) {
			const struct pool_backend *be = &p->backends[b];

			if (be->state == BACKEND_REMOVED)
				continue;
			if (json)
				reply(r, "%s{\"addr\":\"%s\",\"state\":\"%s\",\"weight\":%u}",
				      shown ? "," : "", be->name, pool_state_name(be->state),
				      be->weight);
			else
				reply(r, "    %-24s %-6s weight %u\n", be->name,
				      pool_state_name(be->state), be->weight);
			shown++;
		}
		if (json)
			reply(r, "]}");
	}
	if (json)
		reply(r, "]}\n");
	return 0;
}

/*
 * After a change: the kernel follows the table (a failure there leaves requests to user space,
 * not to a wrong pool), and the table is saved for the next start.
 */
static void publish(struct ctl_env *env, struct ctl_reply *r)
{
	int err;

	if (env->sp) {
		err = splice_publish_routes(env->sp, env->cfg);
		if (err)
			pr_warn("ctl: kernel route table not updated: %s", strerror(-err));
	}
	/* In force for new requests in both data paths from here; saving it comes after. */
	env->applied_ns = ctl_now_ns();
	err = state_save(env->cfg);
	if (err) {
		pr_warn("ctl: route table not saved to %s: %s", env->cfg->state, strerror(-err));
		reply(r, "warning: in force, but not saved to %s (%s): a restart loses it\n",
		      env->cfg->state, strerror(-err));
	}
}

static int route_set(struct ctl_env *env, int argc, char **argv, bool dry, struct ctl_reply *r)
{
	struct route_spec spec;
	const struct route *old;
	char err[256];
	int id;

	if (config_route_words(env->cfg, argc, argv, &spec, err, sizeof(err)))
		return fail(r, "%s", err);
	old = route_table_find(env->cfg->routes, &spec);
	if (dry) {
		reply(r, "ok\nwould %s route %s%s -> %s\n", old ? "replace" : "add", spec.path,
		      spec.exact ? " exact" : "", env->cfg->pools[spec.pool].name);
		return 0;
	}
	id = route_table_set(env->cfg->routes, &spec);
	if (id < 0)
		return fail(r, "route set: %s", strerror(-id));
	if (!old) /* a new route: its counters slot may hold a deleted route's */
		splice_slot_reset(env->sp, route_table_get(env->cfg->routes, (uint32_t)id)->slot);
	reply(r, "ok\nroute %d: %s -> %s\n", id, spec.path, env->cfg->pools[spec.pool].name);
	publish(env, r);
	return 1;
}

/* The route a change names: by id, or by [METHODS] [host HOST] PATH [exact]. */
static const struct route *route_named(struct ctl_env *env, int argc, char **argv, const char *verb,
				       struct ctl_reply *r)
{
	const struct route *rt;
	struct route_spec spec;
	char err[256], *end, *words[CTL_MAX_WORDS + 1];
	unsigned long id;

	if (argc == 2 && (id = strtoul(argv[1], &end, 10), *end == '\0' && id > 0)) {
		rt = route_table_get(env->cfg->routes, (uint32_t)id);
	} else {
		/* The words of "route set" with a pool that does not matter: any defined one. */
		if (argc < 2 || argc > CTL_MAX_WORDS - 1) {
			fail(r, "route %s: expects ID or [METHODS] [host HOST] PATH [exact]", verb);
			return NULL;
		}
		memcpy(words, argv, sizeof(*argv) * (size_t)argc);
		if (!strcmp(argv[argc - 1], "exact")) {
			words[argc - 1] = env->cfg->pools[0].name;
			words[argc] = "exact";
		} else {
			words[argc] = env->cfg->pools[0].name;
		}
		if (config_route_words(env->cfg, argc + 1, words, &spec, err, sizeof(err))) {
			fail(r, "%s", err);
			return NULL;
		}
		rt = route_table_find(env->cfg->routes, &spec);
	}
	if (!rt)
		fail(r, "route %s: no such route", verb);
	return rt;
}

static bool is_default(const struct route *rt)
{
	return !strcmp(rt->spec.path, "/") && !rt->spec.methods && !rt->spec.host[0] &&
	       !rt->spec.exact;
}

static int route_del(struct ctl_env *env, int argc, char **argv, bool dry, struct ctl_reply *r)
{
	const struct route *rt = route_named(env, argc, argv, "del", r);
	uint32_t id;
	int ret;

	if (!rt)
		return -EINVAL;
	if (is_default(rt))
		return fail(r, "route del: the default route '/' cannot be deleted");
	id = rt->id;
	if (dry) {
		reply(r, "ok\nwould delete route %u (%s)\n", id, rt->spec.path);
		return 0;
	}
	ret = route_table_del(env->cfg->routes, id);
	if (ret < 0)
		return fail(r, "route del: %s", strerror(-ret));
	reply(r, "ok\nroute %u deleted\n", id);
	publish(env, r);
	return 1;
}

/* Deactivating keeps a route but lets its requests fall through to the next match (rollback). */
static int route_activate(struct ctl_env *env, int argc, char **argv, bool active, bool dry,
			  struct ctl_reply *r)
{
	const char *verb = active ? "activate" : "deactivate";
	const struct route *rt = route_named(env, argc, argv, verb, r);
	struct route_spec spec;
	int id;

	if (!rt)
		return -EINVAL;
	if (!active && is_default(rt))
		return fail(r, "route deactivate: the default route '/' is always active");
	spec = rt->spec;
	spec.inactive = !active;
	if (dry) {
		reply(r, "ok\nwould %s route %u (%s)\n", verb, rt->id, rt->spec.path);
		return 0;
	}
	id = route_table_set(env->cfg->routes, &spec);
	if (id < 0)
		return fail(r, "route %s: %s", verb, strerror(-id));
	reply(r, "ok\nroute %d %s\n", id, active ? "active" : "inactive");
	publish(env, r);
	return 1;
}

static int pool_add(struct ctl_env *env, int argc, char **argv, bool dry, struct ctl_reply *r)
{
	struct config *cfg = env->cfg;
	struct pool *p;

	if (argc != 2)
		return fail(r, "pool add: expects NAME");
	if (config_pool_find(cfg, argv[1]) >= 0)
		return fail(r, "pool add: pool '%s' exists", argv[1]);
	if (strlen(argv[1]) > POOL_NAME_MAX ||
	    strspn(argv[1], "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") !=
		    strlen(argv[1]))
		return fail(r, "pool add: bad name '%s' (up to %d of A-Z a-z 0-9 - _ .)", argv[1],
			    POOL_NAME_MAX);
	if (cfg->npools == POOL_MAX)
		return fail(r, "pool add: too many pools (max %d)", POOL_MAX);
	if (dry) {
		reply(r, "ok\nwould add pool %s (no backends)\n", argv[1]);
		return 0;
	}
	p = &cfg->pools[cfg->npools];
	memset(p, 0, sizeof(*p));
	strcpy(p->name, argv[1]);
	cfg->npools++;
	reply(r, "ok\npool %s added\n", p->name);
	publish(env, r);
	return 1;
}

/* A new backend in pool p; a removed backend's slot is reused. */
static int backend_add(struct ctl_env *env, struct pool *p, const char *addr, bool dry,
		       struct ctl_reply *r)
{
	struct pool_backend nb;
	unsigned bi;

	if (pool_backend_find(p, addr) >= 0)
		return fail(r, "backend add: %s is already in pool %s", addr, p->name);
	if (pool_backend_parse(&nb, addr))
		return fail(r, "backend add: bad address '%s' (want host:port or [v6]:port)", addr);
	for (bi = 0; bi < p->nbackends && p->backends[bi].state != BACKEND_REMOVED; bi++)
		;
	if (bi == POOL_MAX_BACKENDS)
		return fail(r, "backend add: pool %s is full (max %d)", p->name, POOL_MAX_BACKENDS);
	if (dry) {
		reply(r, "ok\nwould add %s to pool %s\n", addr, p->name);
		return 0;
	}
	p->backends[bi] = nb;
	if (bi == p->nbackends)
		p->nbackends++;
	reply(r, "ok\n%s added to pool %s\n", addr, p->name);
	publish(env, r);
	return 1;
}

/* backend add|del POOL ADDR, backend set POOL ADDR state ready|drain|maint | weight N */
static int backend_cmd(struct ctl_env *env, int argc, char **argv, bool dry, struct ctl_reply *r)
{
	const char *verb = argv[0];
	struct pool_backend *be;
	enum backend_state st = BACKEND_READY;
	unsigned long weight = 0;
	struct pool *p;
	char *end;
	int pi, bi;

	if (argc < 3 || (strcmp(verb, "set") && argc != 3))
		return fail(r, "backend %s: expects POOL ADDR%s", verb,
			    strcmp(verb, "set") ? "" : " state S|weight N");
	pi = config_pool_find(env->cfg, argv[1]);
	if (pi < 0)
		return fail(r, "backend %s: unknown pool '%s'", verb, argv[1]);
	p = &env->cfg->pools[pi];
	if (!strcmp(verb, "add"))
		return backend_add(env, p, argv[2], dry, r);
	bi = pool_backend_find(p, argv[2]);
	if (bi < 0)
		return fail(r, "backend %s: %s is not in pool %s", verb, argv[2], p->name);
	be = &p->backends[bi];
	if (!strcmp(verb, "set")) {
		if (argc == 5 && !strcmp(argv[3], "state")) {
			if (pool_state_parse(argv[4], &st))
				return fail(r,
					    "backend set: state is ready, drain or maint, not '%s'",
					    argv[4]);
		} else if (argc == 5 && !strcmp(argv[3], "weight")) {
			weight = strtoul(argv[4], &end, 10);
			if (*end || !argv[4][0] || weight > 256)
				return fail(r, "backend set: weight is 0 to 256, not '%s'",
					    argv[4]);
		} else {
			return fail(r, "backend set: expects POOL ADDR state ready|drain|maint, or "
				       "POOL ADDR weight N");
		}
	}
	if (dry) {
		reply(r, "ok\nwould %s %s in pool %s\n", verb, argv[2], p->name);
		return 0;
	}
	if (!strcmp(verb, "del"))
		be->state = BACKEND_REMOVED; /* the slot stays: connections may still name it */
	else if (!strcmp(argv[3], "state"))
		be->state = st;
	else
		be->weight = (unsigned)weight;
	reply(r, "ok\n%s %s in pool %s\n", argv[2], !strcmp(verb, "del") ? "deleted" : "set",
	      p->name);
	publish(env, r);
	return 1;
}

/* Split in place on spaces; flags -j and --dry-run are taken out wherever they stand. */
static int split(char *line, char **argv, bool *json, bool *dry)
{
	int argc = 0;

	for (char *tok = strtok(line, " \t\r\n"); tok; tok = strtok(NULL, " \t\r\n")) {
		if (!strcmp(tok, "-j"))
			*json = true;
		else if (!strcmp(tok, "--dry-run"))
			*dry = true;
		else if (argc < CTL_MAX_WORDS)
			argv[argc++] = tok;
		else
			return -E2BIG;
	}
	return argc;
}

/* Whether the peer belongs to gid, as primary or supplementary group. */
static bool in_group(const struct ucred *peer, int gid)
{
	gid_t groups[64];
	int n = 64;
	struct passwd *pw;

	if (gid < 0)
		return false;
	if (peer->gid == (gid_t)gid)
		return true;
	pw = getpwuid(peer->uid);
	if (!pw || getgrouplist(pw->pw_name, pw->pw_gid, groups, &n) < 0)
		return false;
	for (int i = 0; i < n; i++)
		if (groups[i] == (gid_t)gid)
			return true;
	return false;
}

static bool known_change(char **argv)
{
	static const char *const verbs[][2] = {
		{"route", "set"},	 {"route", "del"},   {"route", "activate"},
		{"route", "deactivate"}, {"pool", "add"},    {"backend", "add"},
		{"backend", "del"},	 {"backend", "set"},
	};

	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (!strcmp(argv[0], verbs[i][0]) && !strcmp(argv[1], verbs[i][1]))
			return true;
	return false;
}

int ctl_execute(struct ctl_env *env, const struct ucred *peer, char *line, struct ctl_reply *r)
{
	char *argv[CTL_MAX_WORDS], logline[256];
	bool json = false, dry = false;
	uint64_t t0 = ctl_now_ns();
	int argc, ret;

	r->len = 0;
	snprintf(logline, sizeof(logline), "%s", line);
	logline[strcspn(logline, "\r\n")] = '\0';
	argc = split(line, argv, &json, &dry);
	if (argc < 0)
		return fail(r, "too many words");
	if (argc == 2 && !strcmp(argv[0], "route") && !strcmp(argv[1], "show"))
		return route_show(env->cfg, json, r);
	if (argc == 2 && !strcmp(argv[0], "pool") && !strcmp(argv[1], "show"))
		return pool_show(env->cfg, json, r);
	if (argc < 2 || !known_change(argv))
		return fail(r,
			    "unknown command '%s' (route show|set|del|activate|deactivate, "
			    "pool show|add, backend add|del|set)",
			    logline);
	/* Changes: root or the change group, and every one leaves a line in the log. */
	if (peer->uid != 0 && !in_group(peer, env->cfg->control_change_gid))
		return fail(r, "permission denied: uid %u may not change strgd", peer->uid);
	if (!strcmp(argv[0], "pool"))
		ret = pool_add(env, argc - 1, argv + 1, dry, r);
	else if (!strcmp(argv[0], "backend"))
		ret = backend_cmd(env, argc - 1, argv + 1, dry, r);
	else if (!strcmp(argv[1], "set"))
		ret = route_set(env, argc - 1, argv + 1, dry, r);
	else if (!strcmp(argv[1], "del"))
		ret = route_del(env, argc - 1, argv + 1, dry, r);
	else
		ret = route_activate(env, argc - 1, argv + 1, !strcmp(argv[1], "activate"), dry, r);
	if (ret > 0)
		pr_info("ctl: uid %u pid %d: %s (in force after %llu us, saved after %llu us)",
			peer->uid, peer->pid, logline,
			(unsigned long long)(env->applied_ns - t0) / 1000,
			(unsigned long long)(ctl_now_ns() - t0) / 1000);
	return ret < 0 ? ret : 0;
}

int ctl_listen(const char *path, int gid)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	char dir[sizeof(sun.sun_path)];
	char *slash;
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	strcpy(sun.sun_path, path);
	/* The directory keeps others from even reaching the socket: 0750. */
	strcpy(dir, path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0750) < 0 && errno != EEXIST)
			return -errno;
		if (gid >= 0 && chown(dir, 0, (gid_t)gid) < 0)
			return -errno;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	unlink(path); /* a socket left by a strgd that did not stop cleanly */
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    chmod(path, gid >= 0 ? 0660 : 0600) < 0 ||
	    (gid >= 0 && chown(path, 0, (gid_t)gid) < 0) || listen(fd, 64) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}
