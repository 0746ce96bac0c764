// SPDX-License-Identifier: GPL-2.0-only
/* strgd configuration: one directive per line, '#' comments, errors as "file:line: message". */
#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/confword.h"
#include "core/config.h"
#include "lib/grow.h"
#include "lib/log.h"
#include "lib/words.h"

#define CONFIG_LINE_MAX 8192
#define CONFIG_ARGS_MAX 128
#define CONFIG_FILE_MAX (64u << 20)
/* timeout server, client and idle under this are warned about: a unit left out, most likely */
#define CONFIG_TIMEOUT_WARN_MS 100u
/* Default bound on the kernel's route map: ~170 bytes of kernel memory per prefix at most. */
#define CONFIG_KERNEL_ROUTES (256u * 1024)
#define CONFIG_WORKERS_MAX   64 /* equals STRG_MAX_WORKERS, the kernel's event rings */
/*
 * limit splice-body: a response body with this much still to come after strgd's first read of
 * it moves through a pipe (README, "Bulk bodies"); smaller ones are copied, which costs less
 * than the pipe's set-up and the kernel's worker threads for a few segments.
 */
#define CONFIG_SPLICE_BODY (128u * 1024)

struct config_parser {
	struct config *cfg;
	const char *name;
	unsigned line; /* 0 once the whole text has been read */
	char *err;
	size_t errlen;
	bool have_listen;
	bool saved; /* strgd's own text (the state file): what an older strgd accepted is read */
	unsigned *route_lines; /* line of each route id, for duplicate messages */
	size_t nroute_lines;
};

static int cfg_verr(struct config_parser *ps, const char *fmt, va_list ap)
{
	int n;

	if (!ps->err || !ps->errlen)
		return -EINVAL;
	if (!ps->name) /* a command, not a file: the message alone */
		n = 0;
	else if (ps->line)
		n = snprintf(ps->err, ps->errlen, "%s:%u: ", ps->name, ps->line);
	else
		n = snprintf(ps->err, ps->errlen, "%s: ", ps->name);
	if (n >= 0 && (size_t)n < ps->errlen)
		vsnprintf(ps->err + n, ps->errlen - (size_t)n, fmt, ap);
	return -EINVAL;
}

static int cfg_err(struct config_parser *ps, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int cfg_err(struct config_parser *ps, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cfg_verr(ps, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

int config_err(struct config_parser *ps, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cfg_verr(ps, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

struct config *config_of(struct config_parser *ps)
{
	return ps->cfg;
}

/*
 * A line that is valid but likely wrong: logged as "file:line: message" (strgd -t, start and
 * reload all read the file through here), not for strgd's own saved text, which was read once.
 */
static void cfg_warn(struct config_parser *ps, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void cfg_warn(struct config_parser *ps, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	if (ps->saved)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (ps->name)
		pr_warn("%s:%u: %s", ps->name, ps->line, msg);
	else
		pr_warn("%s", msg);
}

static int config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	http_limits_default(&cfg->limits);
	cfg->connect_timeout_ms = 3000;
	cfg->server_timeout_ms = 30000;
	cfg->client_timeout_ms = 30000;
	cfg->idle_timeout_ms = 60000;
	cfg->head_timeout_ms = 10000;
	cfg->body_buffer = 16384;
	cfg->splice_body = CONFIG_SPLICE_BODY;
	cfg->backend_idle_ms = 5000;
	cfg->body_timeout_ms = 20000;
	cfg->body_rate = 500;
	cfg->down_hold_ms = 2000;
	cfg->notify_coalesce_ms = 5000;
	cfg->kernel_routes_max = CONFIG_KERNEL_ROUTES;
	strcpy(cfg->control, CONFIG_CONTROL_DEFAULT);
	cfg->control_read_gid = -1;
	cfg->control_change_gid = -1;
	strcpy(cfg->state, CONFIG_STATE_DEFAULT);
	strcpy(cfg->tester_header, "X-Strg-Pool");
	strcpy(cfg->store.prefix, "/strg/default/");
	cfg->routes = route_table_new();
	return cfg->routes ? 0 : -errno;
}

int config_pool_find(const struct config *cfg, const char *name)
{
	unsigned i;

	for (i = 0; i < cfg->npools; i++)
		if (!strcmp(cfg->pools[i].name, name))
			return (int)i;
	return -1;
}

/* Parse an address for a directive, naming the part that is wrong. */
static int parse_addr(struct config_parser *ps, const char *what, const char *text,
		      struct pool_backend *b)
{
	char host[256];
	uint16_t port;
	int err;

	err = pool_addr_split(text, host, sizeof(host), &port);
	if (err == -ERANGE)
		return cfg_err(ps, "%s: bad port in '%s' (1-65535)", what, text);
	if (err)
		return cfg_err(ps, "%s: bad address '%s' (want host:port or [v6]:port)", what,
			       text);
	if (pool_backend_parse(b, text))
		return cfg_err(ps, "%s: cannot resolve '%s'", what, text);
	return 0;
}

const char *config_addr_text(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?";

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, ntohs(sin->sin_port));
	} else {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, ntohs(sin6->sin6_port));
	}
	return buf;
}

/* The pool a directive names, or NULL after saying so. */
struct pool *config_named_pool(struct config_parser *ps, const char *what, const char *name)
{
	int i = config_pool_find(ps->cfg, name);

	if (i < 0) {
		cfg_err(ps, "%s: unknown pool '%.64s' (define it with 'pool' first)", what, name);
		return NULL;
	}
	return &ps->cfg->pools[i];
}

/* notify exec PATH */
/* notify exec PATH | notify coalesce T|0 */
static int do_notify(struct config_parser *ps, int argc, char **argv)
{
	int err;

	if (argc == 3 && !strcmp(argv[1], "coalesce")) {
		ps->cfg->notify_coalesce_ms = 0;
		err = strcmp(argv[2], "0")
			      ? confword_duration(argv[2], &ps->cfg->notify_coalesce_ms)
			      : 0;
		return err ? cfg_err(ps, "notify: coalesce: bad duration '%s' (0, or 1ms to 60m)",
				     argv[2])
			   : 0;
	}
	if (argc != 3 || strcmp(argv[1], "exec") || argv[2][0] != '/')
		return cfg_err(ps, "notify: expects 'exec' and an absolute path, or 'coalesce' and "
				   "a duration");
	if (strlen(argv[2]) >= sizeof(ps->cfg->notify))
		return cfg_err(ps, "notify: path longer than %zu bytes",
			       sizeof(ps->cfg->notify) - 1);
	strcpy(ps->cfg->notify, argv[2]);
	return 0;
}

/* access-log PATH|stderr [json] [sample N] [query] */
static int do_access_log(struct config_parser *ps, int argc, char **argv)
{
	struct config *cfg = ps->cfg;

	if (argc < 2)
		return cfg_err(ps, "access-log: expects PATH or stderr, then [json] [sample N] "
				   "[query]");
	if (strcmp(argv[1], "stderr") && argv[1][0] != '/')
		return cfg_err(ps, "access-log: '%s' is not an absolute path or stderr", argv[1]);
	if (strlen(argv[1]) >= sizeof(cfg->access_log))
		return cfg_err(ps, "access-log: path longer than %zu bytes",
			       sizeof(cfg->access_log) - 1);
	strcpy(cfg->access_log, argv[1]);
	cfg->access_log_json = false;
	cfg->access_log_sample = 1;
	cfg->access_log_query = false;
	for (int i = 2; i < argc; i++) {
		char *end;
		unsigned long n;

		if (!strcmp(argv[i], "json")) {
			cfg->access_log_json = true;
			continue;
		}
		if (!strcmp(argv[i], "query")) {
			cfg->access_log_query = true;
			continue;
		}
		if (strcmp(argv[i], "sample") || i + 1 >= argc)
			return cfg_err(ps,
				       "access-log: unknown option '%s' (json, sample N, query)",
				       argv[i]);
		n = strtoul(argv[++i], &end, 10);
		if (!*argv[i] || *end || n < 1 || n > 1000000)
			return cfg_err(ps, "access-log: sample '%s' is not 1 to 1000000", argv[i]);
		cfg->access_log_sample = (unsigned)n;
	}
	return 0;
}

/* "DIRECTIVE ADDR:PORT" given once: a listening address. */
static int set_listen_addr(struct config_parser *ps, int argc, char **argv,
			   struct sockaddr_storage *addr, socklen_t *len)
{
	struct pool_backend b;
	int err;

	if (argc != 2)
		return cfg_err(ps, "%s: expects one ADDRESS:PORT", argv[0]);
	if (*len)
		return cfg_err(ps, "%s: given twice", argv[0]);
	err = parse_addr(ps, argv[0], argv[1], &b);
	if (err)
		return err;
	*addr = b.addr;
	*len = b.addrlen;
	return 0;
}

static bool addr_wildcard(const struct sockaddr_storage *ss)
{
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;

	if (ss->ss_family == AF_INET)
		return ((const struct sockaddr_in *)ss)->sin_addr.s_addr == htonl(INADDR_ANY);
	return IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr);
}

/* Whether two listening addresses want one port: the same address, or a wildcard and any. */
static bool addr_clash(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	const struct sockaddr_in *a4 = (const struct sockaddr_in *)a, *b4 = (const void *)b;
	const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)a, *b6 = (const void *)b;
	in_port_t pa = a->ss_family == AF_INET ? a4->sin_port : a6->sin6_port;
	in_port_t pb = b->ss_family == AF_INET ? b4->sin_port : b6->sin6_port;

	if (pa != pb)
		return false;
	if (addr_wildcard(a) || addr_wildcard(b))
		return true;
	if (a->ss_family != b->ss_family)
		return false;
	return a->ss_family == AF_INET ? a4->sin_addr.s_addr == b4->sin_addr.s_addr
				       : IN6_ARE_ADDR_EQUAL(&a6->sin6_addr, &b6->sin6_addr);
}

/* The metrics listener cannot share the clients' port: strgd would fail to start. */
static int check_listeners(struct config_parser *ps, const char *what)
{
	const struct config *cfg = ps->cfg;
	char text[128];

	if (!cfg->metrics_len || !cfg->listen_len || !addr_clash(&cfg->metrics, &cfg->listen))
		return 0;
	config_addr_text(!strcmp(what, "metrics") ? &cfg->metrics : &cfg->listen, text,
			 sizeof(text));
	return cfg_err(ps, "%s: %s takes the port of '%s' (give each a port of its own)", what,
		       text, !strcmp(what, "metrics") ? "listen" : "metrics");
}

/* metrics ADDR:PORT: the metrics listener (Prometheus, the status page). */
static int do_metrics(struct config_parser *ps, int argc, char **argv)
{
	int err = set_listen_addr(ps, argc, argv, &ps->cfg->metrics, &ps->cfg->metrics_len);

	return err ? err : check_listeners(ps, "metrics");
}

static int do_listen(struct config_parser *ps, int argc, char **argv)
{
	int err = set_listen_addr(ps, argc, argv, &ps->cfg->listen, &ps->cfg->listen_len);

	ps->have_listen = ps->have_listen || !err;
	return err ? err : check_listeners(ps, "listen");
}

static bool pool_name_ok(const char *s)
{
	size_t len = strlen(s), i;

	if (!len || len > POOL_NAME_MAX)
		return false;
	for (i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_' || s[i] == '.'))
			return false;
	return true;
}

static int do_pool(struct config_parser *ps, int argc, char **argv)
{
	struct config *cfg = ps->cfg;
	struct pool *p;
	char what[POOL_NAME_MAX + 16];
	int i, j, err;

	bool pp = argc > 1 && !strcmp(argv[argc - 1], "proxy-protocol");

	if (pp)
		argc--; /* the option closes the line, after the backends */
	if (argc < 3)
		return cfg_err(ps, "pool: expects a NAME and at least one backend");
	if (!pool_name_ok(argv[1]))
		return cfg_err(ps, "pool: bad name '%.64s' (up to %d of A-Z a-z 0-9 - _ .)",
			       argv[1], POOL_NAME_MAX);
	if (config_pool_find(cfg, argv[1]) >= 0)
		return cfg_err(ps, "pool '%s' defined twice", argv[1]);
	if (cfg->npools == POOL_MAX)
		return cfg_err(ps, "pool '%s': too many pools (max %d)", argv[1], POOL_MAX);
	if (argc - 2 > POOL_MAX_BACKENDS)
		return cfg_err(ps, "pool '%s': too many backends (max %d)", argv[1],
			       POOL_MAX_BACKENDS);
	p = &cfg->pools[cfg->npools];
	pool_init(p, argv[1]);
	p->proxy_protocol = pp;
	snprintf(what, sizeof(what), "pool '%s'", argv[1]);
	for (i = 2; i < argc; i++) {
		/* A backend listed twice would silently get twice the share of requests. */
		for (j = 2; j < i; j++)
			if (!strcmp(argv[i], argv[j]))
				return cfg_err(ps, "%s: backend '%s' listed twice", what, argv[i]);
		err = parse_addr(ps, what, argv[i], &p->backends[p->nbackends]);
		if (err)
			return err;
		p->nbackends++;
	}
	cfg->npools++;
	return 0;
}

static int do_tester_header(struct config_parser *ps, int argc, char **argv)
{
	if (argc != 2 || strlen(argv[1]) >= sizeof(ps->cfg->tester_header))
		return cfg_err(ps, "tester-header: expects a header name");
	strcpy(ps->cfg->tester_header, argv[1]);
	return 0;
}

static int do_sticky(struct config_parser *ps, int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "address")) {
		ps->cfg->sticky = STICKY_ADDRESS;
		return 0;
	}
	if (argc != 3 || (strcmp(argv[1], "cookie") && strcmp(argv[1], "header")))
		return cfg_err(ps, "sticky: expects 'cookie NAME', 'header NAME' or 'address'");
	if (strlen(argv[2]) >= sizeof(ps->cfg->sticky_name))
		return cfg_err(ps, "sticky: name longer than %zu bytes",
			       sizeof(ps->cfg->sticky_name) - 1);
	ps->cfg->sticky = strcmp(argv[1], "cookie") ? STICKY_HEADER : STICKY_COOKIE;
	strcpy(ps->cfg->sticky_name, argv[2]);
	return 0;
}

/* Parse a method list naming the first bad method, which confword_methods() cannot. */
static int route_methods(struct config_parser *ps, const char *list, uint32_t *mask)
{
	char one[16];
	const char *s, *end;
	uint32_t m, all = 0;
	size_t len;

	for (s = list;; s = end + 1) {
		end = strchr(s, ',');
		len = end ? (size_t)(end - s) : strlen(s);
		if (!len)
			return cfg_err(ps, "route: bad method list '%s'", list);
		snprintf(one, sizeof(one), "%.*s", (int)len, s);
		if (len >= sizeof(one) || confword_methods(one, &m))
			return cfg_err(ps, "route: unknown method '%.*s'", (int)len, s);
		all |= m;
		if (!end)
			break;
	}
	*mask = all;
	return 0;
}

static int route_remember_line(struct config_parser *ps, int id)
{
	unsigned *lines =
		grow_array(ps->route_lines, &ps->nroute_lines, (size_t)id + 1, sizeof(*lines), 64);

	if (!lines)
		return cfg_err(ps, "route: %s", strerror(ENOMEM));
	ps->route_lines = lines;
	ps->route_lines[id] = ps->line;
	return 0;
}

static int route_add(struct config_parser *ps, const struct route_spec *spec)
{
	const struct route *dup = route_table_find(ps->cfg->routes, spec);
	int id;

	if (dup)
		return cfg_err(ps, "route: duplicate of the route on line %u",
			       dup->id < ps->nroute_lines ? ps->route_lines[dup->id] : 0);
	id = route_table_set(ps->cfg->routes, spec);
	if (id < 0)
		return cfg_err(ps, "route: %s", strerror(-id));
	return route_remember_line(ps, id);
}

/* rollback ERR% [p99 MS] [window T] [min N], from argv[*i]; *i moves past it. */
static int parse_rollback(struct config_parser *ps, int argc, char **argv, int *i,
			  struct route_spec *spec)
{
	char pct[16];
	size_t n = strlen(argv[*i + 1]);
	uint32_t v;

	if (n >= sizeof(pct))
		return cfg_err(ps, "route: rollback: bad error rate '%.16s' (like 5%%)",
			       argv[*i + 1]);
	strcpy(pct, argv[*i + 1]);
	if (n && pct[n - 1] == '%')
		pct[n - 1] = '\0';
	if (confword_percent(pct, &spec->rb_err_permille) || !spec->rb_err_permille)
		return cfg_err(ps, "route: rollback: bad error rate '%s' (0.1%% to 100%%)",
			       argv[*i + 1]);
	spec->rb_window_s = 10;
	spec->rb_min = 20;
	for (*i += 2; *i + 1 < argc; *i += 2) {
		const char *k = argv[*i], *val = argv[*i + 1];

		if (!strcmp(k, "p99")) {
			if (confword_uint(val, &v) || !v || v > 3600000)
				return cfg_err(ps,
					       "route: rollback: p99 '%s' is not 1 to 3600000 ms",
					       val);
			spec->rb_p99_ms = v;
		} else if (!strcmp(k, "window")) {
			if (confword_duration(val, &v) || v < 1000 || v % 1000 || v > 3600000)
				return cfg_err(
					ps,
					"route: rollback: window '%s' is not whole seconds from "
					"1s to 60m",
					val);
			spec->rb_window_s = v / 1000;
		} else if (!strcmp(k, "min")) {
			if (confword_uint(val, &v) || !v || v > 1000000)
				return cfg_err(ps, "route: rollback: min '%s' is not 1 to 1000000",
					       val);
			spec->rb_min = v;
		} else {
			break;
		}
	}
	return 0;
}

/* route [METHODS] [host H] PATH POOL [exact], argv[0] being "route" or the verb before it */
/* A route line's leading words, as written: [METHODS] [host HOST] PATH POOL. */
struct route_words {
	const char *methods, *host, *path, *pool;
};

/* The leading words from argv[*i]; *i moves past them. 0 or the error's. */
static int route_leading(struct config_parser *ps, int argc, char **argv, int *i,
			 struct route_words *w)
{
	static const char usage[] = "route: expects " ROUTE_GRAMMAR;

	*w = (struct route_words){.host = ""};
	if (*i < argc && argv[*i][0] != '/' && strcmp(argv[*i], "host"))
		w->methods = argv[(*i)++];
	if (*i < argc && !strcmp(argv[*i], "host")) {
		if (*i + 1 >= argc)
			return cfg_err(ps, "%s", usage);
		w->host = argv[*i + 1];
		*i += 2;
	}
	if (*i >= argc)
		return cfg_err(ps, "%s", usage);
	w->path = argv[(*i)++];
	if (w->path[0] != '/')
		return cfg_err(ps, "route: path must start with '/'");
	if (*i >= argc)
		return cfg_err(ps, "%s", usage);
	w->pool = argv[(*i)++];
	return 0;
}

/* strip-prefix, or rewrite NEW, at argv[*i]; *i moves past it. 0 or the error's. */
static int route_adapt(struct config_parser *ps, int argc, char **argv, int *i,
		       struct route_spec *spec)
{
	struct route_spec tmp = {0};

	if (*i < argc && !strcmp(argv[*i], "strip-prefix")) {
		spec->adapt = true;
		(*i)++;
	} else if (*i + 1 < argc && !strcmp(argv[*i], "rewrite")) {
		if (route_path_set(&tmp, argv[*i + 1]))
			return cfg_err(ps, "route: bad rewrite '%s' (a path like the route's)",
				       argv[*i + 1]);
		spec->adapt = true;
		/* "/" as the new prefix is the same as stripping the old one. */
		strcpy(spec->rewrite, strcmp(tmp.path, "/") ? tmp.path : "");
		*i += 2;
	}
	return 0;
}

/* fallback POOL | none, at argv[*i]; *i moves past it. 0 or the error's. */
static int route_fallback(struct config_parser *ps, int argc, char **argv, int *i,
			  struct route_spec *spec)
{
	if (*i + 1 >= argc || strcmp(argv[*i], "fallback"))
		return 0;
	if (!strcmp(argv[*i + 1], "none")) {
		spec->fallback = ROUTE_FALLBACK_NONE;
	} else {
		spec->fallback_pool = config_pool_find(ps->cfg, argv[*i + 1]);
		if (spec->fallback_pool < 0)
			return cfg_err(ps, "route: unknown fallback pool '%.64s'", argv[*i + 1]);
		spec->fallback = ROUTE_FALLBACK_POOL;
	}
	*i += 2;
	return 0;
}

/* The gateway options (core/routegw.h), in any order among themselves. 0 or the error's. */
static int route_gateway(struct config_parser *ps, int argc, char **argv, int *i,
			 struct route_spec *spec)
{
	char why[512];

	if (routegw_parse(argc, argv, i, &spec->gw, why, sizeof(why)))
		return cfg_err(ps, "route: %s", why);
	return 0;
}

/* The shadow's options (core/shadowspec.h), the last before inactive. 0 or the error's. */
static int route_shadow_opts(struct config_parser *ps, int argc, char **argv, int *i,
			     struct route_shadow *sh)
{
	char why[512];

	if (shadowspec_parse(argc, argv, i, ps->cfg->pools, ps->cfg->npools, sh, why, sizeof(why)))
		return cfg_err(ps, "route: %s", why);
	return 0;
}

/* The options after the pool, in the grammar's order, to the end of the line. */
static int route_options(struct config_parser *ps, int argc, char **argv, int i,
			 struct route_spec *spec)
{
	int err = 0;

	if (i + 1 < argc && !strcmp(argv[i], "percent")) {
		if (confword_percent(argv[i + 1], &spec->permille))
			return cfg_err(ps, "route: bad percent '%s' (0 to 100, one decimal)",
				       argv[i + 1]);
		spec->split = true;
		i += 2;
	}
	if (i < argc && !strcmp(argv[i], "exact")) {
		spec->exact = true;
		i++;
	}
	err = route_adapt(ps, argc, argv, &i, spec);
	if (!err && i < argc && !strcmp(argv[i], "testers")) {
		spec->testers = true;
		i++;
	}
	if (!err)
		err = route_fallback(ps, argc, argv, &i, spec);
	if (!err && i + 1 < argc && !strcmp(argv[i], "rollback"))
		err = parse_rollback(ps, argc, argv, &i, spec);
	if (!err)
		err = route_gateway(ps, argc, argv, &i, spec);
	if (!err && i < argc && !strcmp(argv[i], "shadow"))
		err = route_shadow_opts(ps, argc, argv, &i, &spec->shadow);
	if (err)
		return err;
	if (i < argc && !strcmp(argv[i], "inactive")) {
		spec->inactive = true;
		i++;
	}
	if (i < argc && !strcmp(argv[i], "tripped")) {
		spec->tripped = true; /* a state file's: rolled back by strgd, still inactive */
		spec->inactive = true;
		snprintf(spec->trip, sizeof(spec->trip), "before strgd's last start");
		i++;
	}
	return i < argc ? cfg_err(ps, "route: unexpected '%s'", argv[i]) : 0;
}

/* The leading words into spec, and the checks that need the whole route. 0 or the error's. */
static int route_finish(struct config_parser *ps, const struct route_words *w,
			struct route_spec *spec)
{
	struct route_stored view;
	int err;

	if (route_path_set(spec, w->path))
		return cfg_err(ps,
			       "route: bad path '%s' (no '?', '#', spaces, dot or empty segments)",
			       w->path);
	if (route_host_set(spec, w->host))
		return cfg_err(ps, "route: bad host '%s' (a name or IP literal, no port)", w->host);
	err = w->methods ? route_methods(ps, w->methods, &spec->methods) : 0;
	if (err)
		return err;
	if (route_is_default(route_spec_view(spec, &view)) &&
	    (spec->inactive || spec->split || spec->adapt || spec->rb_err_permille))
		return cfg_err(ps, "route: the default route '/' takes every request");
	spec->pool = config_pool_find(ps->cfg, w->pool);
	if (spec->pool < 0 && !ps->name) /* a command: no file to reorder */
		return cfg_err(ps, "route: unknown pool '%s'", w->pool);
	if (spec->pool < 0)
		return cfg_err(ps, "route: unknown pool '%s' (pools are defined before routes)",
			       w->pool);
	/* Its own pool has no backend when a fallback is due: the same pool cannot take over. */
	if (spec->fallback == ROUTE_FALLBACK_POOL && spec->fallback_pool == spec->pool &&
	    !ps->saved)
		return cfg_err(ps,
			       "route: fallback '%s' is the route's own pool (name another pool, "
			       "or 'fallback none')",
			       w->pool);
	return 0;
}

/* A route line (ROUTE_GRAMMAR) into out. 0 or the error's (cfg_err). */
static int parse_route_spec(struct config_parser *ps, int argc, char **argv, struct route_spec *out)
{
	struct route_spec spec = {0};
	struct route_words w;
	int i = 1, err;

	err = route_leading(ps, argc, argv, &i, &w);
	if (!err)
		err = route_options(ps, argc, argv, i, &spec);
	if (!err)
		err = route_finish(ps, &w, &spec);
	if (!err)
		*out = spec;
	return err;
}

static int do_route(struct config_parser *ps, int argc, char **argv)
{
	struct route_spec spec;
	int err = parse_route_spec(ps, argc, argv, &spec);

	return err ? err : route_add(ps, &spec);
}

int config_route_words(struct config *cfg, int argc, char **argv, struct route_spec *spec,
		       char *err, size_t errlen)
{
	struct config_parser ps = {.cfg = cfg, .err = err, .errlen = errlen};

	return parse_route_spec(&ps, argc, argv, spec);
}

int config_saved_route_words(struct config *cfg, int argc, char **argv, struct route_spec *spec,
			     char *err, size_t errlen)
{
	struct config_parser ps = {.cfg = cfg, .err = err, .errlen = errlen, .saved = true};

	return parse_route_spec(&ps, argc, argv, spec);
}

static const struct {
	const char *kind;
	size_t off;
	bool warn_low; /* under CONFIG_TIMEOUT_WARN_MS is most likely a missing unit */
} timeout_kinds[] = {
	{"connect", offsetof(struct config, connect_timeout_ms), false},
	{"server", offsetof(struct config, server_timeout_ms), true},
	{"client", offsetof(struct config, client_timeout_ms), true},
	{"idle", offsetof(struct config, idle_timeout_ms), true},
	{"head", offsetof(struct config, head_timeout_ms), false},
	{"backend-idle", offsetof(struct config, backend_idle_ms), false},
	{"body", offsetof(struct config, body_timeout_ms), false},
};

static int do_timeout(struct config_parser *ps, int argc, char **argv)
{
	uint32_t ms;
	size_t i;
	int err;

	if (argc != 3)
		return cfg_err(ps, "timeout: expects KIND DURATION");
	for (i = 0; i < sizeof(timeout_kinds) / sizeof(timeout_kinds[0]); i++)
		if (!strcmp(argv[1], timeout_kinds[i].kind))
			break;
	if (i == sizeof(timeout_kinds) / sizeof(timeout_kinds[0]))
		return cfg_err(ps,
			       "timeout: unknown kind '%s' (connect, server, client, idle, head, "
			       "backend-idle, body)",
			       argv[1]);
	err = confword_duration(argv[2], &ms);
	if (err == -ERANGE)
		return cfg_err(ps, "timeout %s: '%s' out of range (1ms to 60m)", argv[1], argv[2]);
	if (err)
		return cfg_err(ps, "timeout %s: bad duration '%s' (a number, then ms, s or m)",
			       argv[1], argv[2]);
	*(uint32_t *)((char *)ps->cfg + timeout_kinds[i].off) = ms;
	/* As in HAProxy a bare number is milliseconds: "timeout server 30" is 30 ms, not 30 s. */
	if (ms < CONFIG_TIMEOUT_WARN_MS && timeout_kinds[i].warn_low &&
	    argv[2][strspn(argv[2], "0123456789")])
		cfg_warn(ps, "timeout %s %s is under %u ms: most requests will time out", argv[1],
			 argv[2], CONFIG_TIMEOUT_WARN_MS);
	else if (ms < CONFIG_TIMEOUT_WARN_MS && timeout_kinds[i].warn_low)
		cfg_warn(ps,
			 "timeout %s %s is %u ms (a number without a unit is milliseconds, as in "
			 "HAProxy); did you mean %us?",
			 argv[1], argv[2], ms, ms);
	return 0;
}

static const struct {
	const char *kind;
	size_t off;
	uint32_t min, max;
} limit_kinds[] = {
	{"request-line", offsetof(struct config, limits.max_request_line), 64, 65536},
	{"head", offsetof(struct config, limits.max_head), 256, 1u << 20},
	{"fields", offsetof(struct config, limits.max_fields), 1, HTTP_MAX_FIELDS_CAP},
	{"kernel-routes", offsetof(struct config, kernel_routes_max), 0, 1u << 24},
	{"per-source", offsetof(struct config, per_source_max), 0, 1u << 20},
	{"body-buffer", offsetof(struct config, body_buffer), 0, 1u << 20},
	{"body-rate", offsetof(struct config, body_rate), 0, 1u << 30},
	{"splice-body", offsetof(struct config, splice_body), 0, 1u << 30},
};

static int do_limit(struct config_parser *ps, int argc, char **argv)
{
	uint32_t v;
	size_t i;

	if (argc != 3)
		return cfg_err(ps, "limit: expects KIND NUMBER");
	for (i = 0; i < sizeof(limit_kinds) / sizeof(limit_kinds[0]); i++)
		if (!strcmp(argv[1], limit_kinds[i].kind))
			break;
	if (i == sizeof(limit_kinds) / sizeof(limit_kinds[0]))
		return cfg_err(
			ps,
			"limit: unknown kind '%s' (request-line, head, fields, kernel-routes, "
			"per-source, body-buffer, body-rate, splice-body, syn, packets)",
			argv[1]);
	if (confword_uint(argv[2], &v))
		return cfg_err(ps, "limit %s: bad number '%s'", argv[1], argv[2]);
	if (v < limit_kinds[i].min || v > limit_kinds[i].max)
		return cfg_err(ps, "limit %s: %u out of range (%u to %u)", argv[1], v,
			       limit_kinds[i].min, limit_kinds[i].max);
	*(uint32_t *)((char *)ps->cfg + limit_kinds[i].off) = v;
	return 0;
}

static int do_down_hold(struct config_parser *ps, int argc, char **argv)
{
	int err;

	if (argc != 2)
		return cfg_err(ps, "down-hold: expects DURATION");
	err = confword_duration(argv[1], &ps->cfg->down_hold_ms);
	if (err == -ERANGE)
		return cfg_err(ps, "down-hold: '%s' out of range (1ms to 60m)", argv[1]);
	if (err)
		return cfg_err(ps, "down-hold: bad duration '%s' (a number, then ms, s or m)",
			       argv[1]);
	return 0;
}

/* "DIRECTIVE /absolute/path" into a fixed-size field. */
static int set_path(struct config_parser *ps, int argc, char **argv, char *dst, size_t size)
{
	if (argc != 2 || argv[1][0] != '/')
		return cfg_err(ps, "%s: expects an absolute path", argv[0]);
	if (strlen(argv[1]) >= size)
		return cfg_err(ps, "%s: path longer than %zu bytes", argv[0], size - 1);
	strcpy(dst, argv[1]);
	return 0;
}

/* control-group read|change GROUP */
static int do_control_group(struct config_parser *ps, int argc, char **argv)
{
	struct group *g;

	if (argc != 3 || (strcmp(argv[1], "read") && strcmp(argv[1], "change")))
		return cfg_err(ps, "control-group: expects 'read GROUP' or 'change GROUP'");
	g = getgrnam(argv[2]);
	if (!g)
		return cfg_err(ps, "control-group: no group '%s'", argv[2]);
	if (!strcmp(argv[1], "read"))
		ps->cfg->control_read_gid = (int)g->gr_gid;
	else
		ps->cfg->control_change_gid = (int)g->gr_gid;
	return 0;
}

static int do_control(struct config_parser *ps, int argc, char **argv)
{
	return set_path(ps, argc, argv, ps->cfg->control, sizeof(ps->cfg->control));
}

static int do_state_file(struct config_parser *ps, int argc, char **argv)
{
	return set_path(ps, argc, argv, ps->cfg->state, sizeof(ps->cfg->state));
}

/* workers N|auto: event loops, each a thread with its own listener and ring. */
static int do_workers(struct config_parser *ps, int argc, char **argv)
{
	uint32_t n;

	if (argc != 2)
		return cfg_err(ps, "workers: expects a number or auto");
	if (!strcmp(argv[1], "auto")) {
		ps->cfg->workers = 0;
		return 0;
	}
	if (confword_uint(argv[1], &n) || n < 1 || n > CONFIG_WORKERS_MAX)
		return cfg_err(ps, "workers: '%s' is not auto or 1 to %d", argv[1],
			       CONFIG_WORKERS_MAX);
	ps->cfg->workers = n;
	return 0;
}

static int do_splice(struct config_parser *ps, int argc, char **argv)
{
	static const char *const modes[] = {
		[SPLICE_NEVER] = "never", [SPLICE_AUTO] = "auto", [SPLICE_ALWAYS] = "always"};

	if (argc != 2)
		return cfg_err(ps, "splice: expects always, auto or never");
	for (unsigned i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		if (!strcmp(argv[1], modes[i])) {
			ps->cfg->splice = (enum splice_mode)i;
			return 0;
		}
	}
	return cfg_err(ps, "splice: unknown mode '%s' (always, auto or never)", argv[1]);
}

/* The parser's own directives; the guard's and health's register from their own files. */
static const struct config_directive core_directives[] = {
	{"splice", NULL, do_splice},
	{"workers", NULL, do_workers},
	{"control", NULL, do_control},
	{"control-group", NULL, do_control_group},
	{"listen", NULL, do_listen},
	{"state-file", NULL, do_state_file},
	{"metrics", NULL, do_metrics},
	{"access-log", NULL, do_access_log},
	{"notify", NULL, do_notify},
	{"sticky", NULL, do_sticky},
	{"tester-header", NULL, do_tester_header},
	{"pool", NULL, do_pool},
	{"route", NULL, do_route},
	{"timeout", NULL, do_timeout},
	{"limit", NULL, do_limit},
	{"down-hold", NULL, do_down_hold},
};

CONFIG_DIRECTIVES(core, core_directives)

static struct config_directives *registered;

void config_register(struct config_directives *d)
{
	d->next = registered;
	registered = d;
}

void config_directives_print(FILE *f)
{
	for (const struct config_directives *d = registered; d; d = d->next) {
		for (size_t i = 0; i < d->n; i++) {
			const struct config_directive *k = &d->v[i];

			if (k->kind)
				fprintf(f, "%s %s\n", k->name, k->kind);
			else if (k->parse == do_timeout)
				for (size_t j = 0;
				     j < sizeof(timeout_kinds) / sizeof(timeout_kinds[0]); j++)
					fprintf(f, "timeout %s\n", timeout_kinds[j].kind);
			else if (k->parse == do_limit)
				for (size_t j = 0; j < sizeof(limit_kinds) / sizeof(limit_kinds[0]);
				     j++)
					fprintf(f, "limit %s\n", limit_kinds[j].kind);
			else
				fprintf(f, "%s\n", k->name);
		}
	}
}

/* The directive of a line: one registered for its first two words, else for its first. */
static const struct config_directive *directive_of(int argc, char **argv)
{
	const struct config_directive *any = NULL;

	for (const struct config_directives *d = registered; d; d = d->next) {
		for (size_t i = 0; i < d->n; i++) {
			const struct config_directive *k = &d->v[i];

			if (strcmp(argv[0], k->name))
				continue;
			if (!k->kind)
				any = k;
			else if (argc >= 2 && !strcmp(argv[1], k->kind))
				return k;
		}
	}
	return any;
}

int config_words(struct config *cfg, int argc, char **argv, char *err, size_t errlen)
{
	struct config_parser ps = {.cfg = cfg, .err = err, .errlen = errlen};
	const struct config_directive *k = argc >= 1 ? directive_of(argc, argv) : NULL;

	if (!k)
		return cfg_err(&ps, "unknown directive '%s'", argc >= 1 ? argv[0] : "");
	return k->parse(&ps, argc, argv);
}

static int parse_line(struct config_parser *ps, const char *text, size_t len)
{
	char buf[CONFIG_LINE_MAX + 1], *argv[CONFIG_ARGS_MAX];
	const struct config_directive *k;
	size_t i;
	int argc;

	if (len && text[len - 1] == '\r')
		len--;
	if (len > CONFIG_LINE_MAX)
		return cfg_err(ps, "line too long (max %d bytes)", CONFIG_LINE_MAX);
	for (i = 0; i < len; i++)
		if (((unsigned char)text[i] < ' ' && text[i] != '\t') || text[i] == 0x7f)
			return cfg_err(ps, "control character in line");
	memcpy(buf, text, len);
	buf[len] = '\0';
	argc = words_split(buf, argv, CONFIG_ARGS_MAX, true);
	if (argc < 0)
		return cfg_err(ps, "too many words on one line (max %d)", CONFIG_ARGS_MAX);
	if (!argc)
		return 0;
	k = directive_of(argc, argv);
	if (!k)
		return cfg_err(ps, "unknown directive '%s'", argv[0]);
	return k->parse(ps, argc, argv);
}

/* Checks that need the whole file: listen given, a default route, limits that agree. */
static int config_finish(struct config_parser *ps)
{
	struct config *cfg = ps->cfg;
	struct route_spec def;
	int id;

	ps->line = 0;
	if (!ps->have_listen)
		return cfg_err(ps, "no 'listen' directive");
	if (cfg->limits.max_request_line > cfg->limits.max_head)
		return cfg_err(ps, "limit request-line (%u) is larger than limit head (%u)",
			       cfg->limits.max_request_line, cfg->limits.max_head);
	if (route_table_default(cfg->routes))
		return 0;
	route_default_spec(&def);
	def.pool = config_pool_find(cfg, "legacy");
	if (def.pool < 0)
		return cfg_err(ps, "no default route '/' and no pool 'legacy'");
	id = route_table_set(cfg->routes, &def);
	return id < 0 ? cfg_err(ps, "default route: %s", strerror(-id)) : 0;
}

static int parse_text(struct config_parser *ps, const char *text)
{
	size_t len;
	int ret;

	if (ps->err && ps->errlen)
		ps->err[0] = '\0';
	ret = config_defaults(ps->cfg);
	if (ret) {
		cfg_err(ps, "%s", strerror(-ret));
		return ret;
	}
	while (*text) {
		ps->line++;
		len = strcspn(text, "\n");
		ret = parse_line(ps, text, len);
		if (ret < 0)
			goto out;
		text += len;
		if (*text)
			text++;
	}
	ret = config_finish(ps);
out:
	free(ps->route_lines);
	return ret;
}

int config_parse(struct config *cfg, const char *name, const char *text, char *err, size_t errlen)
{
	struct config_parser ps = {.cfg = cfg, .name = name, .err = err, .errlen = errlen};

	return parse_text(&ps, text);
}

int config_parse_saved(struct config *cfg, const char *name, const char *text, char *err,
		       size_t errlen)
{
	struct config_parser ps = {
		.cfg = cfg, .name = name, .err = err, .errlen = errlen, .saved = true};

	return parse_text(&ps, text);
}

/* The whole file in one NUL-terminated buffer; config files are small. */
static char *read_file(const char *path, size_t *len)
{
	struct stat st;
	char *buf = NULL;
	ssize_t n = 0;
	size_t got = 0;
	int fd, saved;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st))
		goto out_close;
	if (st.st_size > CONFIG_FILE_MAX) {
		errno = EFBIG;
		goto out_close;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		goto out_close;
	while (got < (size_t)st.st_size) {
		n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (n < 0) {
		free(buf);
		buf = NULL;
		goto out_close;
	}
	buf[got] = '\0';
	*len = got;
out_close:
	saved = errno;
	close(fd);
	errno = saved;
	return buf;
}

int config_load(struct config *cfg, const char *path, char *err, size_t errlen)
{
	struct config_parser ps = {.name = path, .err = err, .errlen = errlen};
	size_t len = 0;
	char *text;
	int ret;

	memset(cfg, 0, sizeof(*cfg));
	text = read_file(path, &len);
	if (!text) {
		ret = errno ? -errno : -EIO;
		cfg_err(&ps, "%s", strerror(-ret));
		return ret;
	}
	if (strlen(text) != len) {
		free(text);
		return cfg_err(&ps, "contains a NUL byte");
	}
	ret = config_parse(cfg, path, text, err, errlen);
	free(text);
	return ret;
}

void config_free(struct config *cfg)
{
	if (!cfg)
		return;
	route_table_free(cfg->routes);
	cfg->routes = NULL;
	guard_settings_free(&cfg->guard);
}

struct config *config_clone(const struct config *cfg)
{
	struct config *c = malloc(sizeof(*c));

	if (!c)
		return NULL;
	*c = *cfg;
	c->routes = route_table_clone(cfg->routes);
	if (!c->routes || guard_settings_copy(&c->guard, &cfg->guard)) {
		route_table_free(c->routes);
		free(c);
		return NULL;
	}
	return c;
}

void config_destroy(struct config *cfg)
{
	if (!cfg)
		return;
	config_free(cfg);
	free(cfg);
}
