// SPDX-License-Identifier: GPL-2.0-only
/* strgd: the strg daemon's entry point: options, configuration, signals, then the proxy loop. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/un.h>
#include <unistd.h>

#include "observe/accesslog.h"
#include "core/config.h"
#include "lib/notify.h"
#include "control/ctl.h"
#include "control/ctlsrv.h"
#include "control/rollback.h"
#include "lib/listen.h"
#include "lib/log.h"
#include "daemon/proxy.h"
#include "dataplane/limiter.h"
#include "core/apply.h"
#include "kernel/guard.h"
#include "kernel/splice.h"
#include "daemon/takeover.h"
#include "core/state.h"
#include "observe/stats.h"
#include "lib/version.h"

static const char usage[] =
	"Usage: strgd [-t] [-v] [--no-bpf] -c FILE\n"
	"\n"
	"Route HTTP/1.1 requests to the legacy or modern pool by method, host and path prefix.\n"
	"\n"
	"  -c, --config FILE  configuration file (its format: man 5 strg.conf)\n"
	"  -t, --test         check the configuration and exit (0 when valid)\n"
	"      --no-bpf       run the user-space data path only\n"
	"      --pin-dir DIR  where the BPF maps are pinned (default " SPLICE_PIN_DIR ")\n"
	"      --state discard  start from the configuration alone; the state file is kept\n"
	"                     aside as FILE.discarded-TIMESTAMP\n"
	"      --takeover-fd N  take the listening sockets from the strgd that started this one\n"
	"                     (strgctl restart does this; not for use by hand)\n"
	"  -v, --verbose      log every request (debug level)\n"
	"  -V, --version      print the version and exit\n"
	"      --directives   list every configuration directive the parser takes and exit\n"
	"  -h, --help         this text (all of it: man 8 strgd)\n";

static void on_stop_signal(int sig)
{
	(void)sig;
	proxy_stop_requested = 1;
}

static void on_reload_signal(int sig)
{
	(void)sig;
	proxy_reload_requested = 1;
}

static void on_reopen_signal(int sig)
{
	(void)sig;
	proxy_reopen_requested = 1;
}

static void say_stdout(void *ctx, const char *fmt, ...)
{
	va_list ap;

	(void)ctx;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* Each connection holds two or three descriptors: take all the system allows this process. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	if (sigaction(SIGPIPE, &sa, NULL) < 0)
		return -errno;
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTERM, &sa, NULL) < 0 || sigaction(SIGINT, &sa, NULL) < 0)
		return -errno;
	sa.sa_handler = on_reload_signal;
	if (sigaction(SIGHUP, &sa, NULL) < 0)
		return -errno;
	sa.sa_handler = on_reopen_signal;
	if (sigaction(SIGUSR1, &sa, NULL) < 0)
		return -errno;
	return 0;
}

/*
 * The start failed: say why on stderr and, when "strgctl restart" started this strgd, to the
 * strgd that waits for it, which logs it and passes it on to strgctl. Returns main's status.
 */
static int start_failed(int takeover_fd, const char *msg)
{
	fprintf(stderr, "%s\n", msg);
	if (takeover_fd >= 0)
		takeover_answer(takeover_fd, msg);
	return 1;
}

static const char *listen_name(const struct config *cfg, char *buf, size_t len)
{
	return config_addr_text(&cfg->listen, buf, len);
}

/*
 * The client listener and the control socket, before anything else: a second strgd given the
 * same control socket is refused instead of taking the first one's over.
 */
static int open_sockets(const struct config *cfg, int *lfd, int *ctl_fd)
{
	pid_t holder = 0;
	int gid = cfg->control_read_gid >= 0 ? cfg->control_read_gid : cfg->control_change_gid;

	*ctl_fd = ctl_listen(cfg->control, gid, &holder);
	if (*ctl_fd == -EADDRINUSE) {
		fprintf(stderr,
			"strgd: control socket %s: another strgd (pid %d) answers there: give each "
			"strgd its own 'control' and 'state-file'\n",
			cfg->control, (int)holder);
		return -EADDRINUSE;
	}
	if (*ctl_fd < 0) {
		fprintf(stderr, "strgd: control socket %s: %s\n", cfg->control, strerror(-*ctl_fd));
		return *ctl_fd;
	}
	*lfd = proxy_listen(cfg);
	if (*lfd < 0) {
		char addr[128];

		fprintf(stderr, "strgd: listen %s: %s\n",
			config_addr_text(&cfg->listen, addr, sizeof(addr)), strerror(-*lfd));
		return *lfd;
	}
	return 0;
}

/* A file's settings that work, but not as their reader may think: said at start and by -t. */
static int warn_route(const struct route *rt, void *arg)
{
	char msg[ROUTE_TEXT_MAX + 256];

	if (!rollback_min_warning(&rt->spec, msg, sizeof(msg)))
		return 0;
	if (*(bool *)arg)
		fprintf(stderr, "strgd: warning: %s\n", msg);
	else
		pr_warn("%s", msg);
	return 0;
}

/* strgd's state from its options to its stop, filled phase by phase. */
struct start {
	const char *path, *pin_dir;
	bool no_bpf, test_only, discard;
	int takeover_fd; /* started by "strgctl restart": the sockets come from this socket */
	struct config cfg;
	struct config *applied; /* the configuration applied last (the state file's record) */
	struct takeover_fds inherited;
	int lfd, ctl_fd;
	struct splice *sp;
	struct stats *st;
	struct limiter *lim; /* the routes' rate limits */
	struct guard *gd;
	char err[1024];
};

/* The command line into s: -1 to go on, else main's status (0 for --help and --version). */
static int parse_options(int argc, char **argv, struct start *s)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"test", no_argument, NULL, 't'},
		{"no-bpf", no_argument, NULL, 'B'},
		{"verbose", no_argument, NULL, 'v'},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{"pin-dir", required_argument, NULL, 'P'},
		{"state", required_argument, NULL, 'S'},
		{"takeover-fd", required_argument, NULL, 'T'},
		{"directives", no_argument, NULL, 'D'},
		{NULL, 0, NULL, 0},
	};
	int opt;

	while ((opt = getopt_long(argc, argv, "c:tvVh", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			s->path = optarg;
			break;
		case 't':
			s->test_only = true;
			break;
		case 'B':
			s->no_bpf = true;
			break;
		case 'P':
			s->pin_dir = optarg;
			break;
		case 'S':
			if (strcmp(optarg, "discard")) {
				fprintf(stderr, "strgd: --state takes 'discard', not '%s'\n%s",
					optarg, usage);
				return 2;
			}
			s->discard = true;
			break;
		case 'T':
			s->takeover_fd = atoi(optarg);
			break;
		case 'v':
			log_level = LOG_DEBUG;
			break;
		case 'V':
			printf("strgd %s\n", STRG_VERSION);
			return 0;
		case 'h':
			fputs(usage, stdout);
			return 0;
		case 'D':
			config_directives_print(stdout);
			return 0;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	if (!s->path || optind != argc) {
		fprintf(stderr, "strgd: %s\n%s",
			s->path ? "unexpected argument" : "missing -c FILE", usage);
		return 2;
	}
	return -1;
}

/* --state discard: the state file set aside. 0 or -errno (s->err says why). */
static int discard_state(struct start *s)
{
	char kept[sizeof(s->cfg.state) + 32];
	int moved = state_discard(&s->cfg, kept, sizeof(kept));

	if (moved < 0) {
		snprintf(s->err, sizeof(s->err), "strgd: --state discard: %s: %s", s->cfg.state,
			 strerror(-moved));
		return moved;
	}
	if (moved)
		pr_info("state file %s discarded (kept as %s): starting from the configuration "
			"alone",
			s->cfg.state, kept);
	return 0;
}

/*
 * The configuration, and the state file's table plus what the file changed since it was last
 * applied: -1 to go on, else main's status (-t stops here).
 */
static int load_config(struct start *s)
{
	bool t = s->test_only;
	int ret;

	memset(&s->cfg, 0, sizeof(s->cfg));
	ret = config_load(&s->cfg, s->path, s->err, sizeof(s->err));
	if (ret >= 0)
		route_table_each(s->cfg.routes, warn_route, &s->test_only);
	if (ret >= 0 && s->discard && !t)
		ret = discard_state(s);
	if (ret >= 0)
		ret = apply_boot(&s->cfg, &s->applied, t, t ? say_stdout : log_say,
				 t ? NULL : "config: ", s->err, sizeof(s->err));
	if (ret < 0) {
		config_free(&s->cfg);
		return start_failed(s->takeover_fd, s->err);
	}
	if (!t)
		return -1;
	printf("%s: configuration is valid%s\n", s->path,
	       ret ? "" : "; a start would change nothing in the saved table");
	config_destroy(s->applied);
	config_free(&s->cfg);
	return 0;
}

/* A listener handed over, on its way out: closed, and the address it had in was. */
static void drop_inherited(int fd, char *was, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0 || !config_addr_text(&ss, was, len))
		snprintf(was, len, "?");
	close(fd);
}

/* Whether the control socket handed over is bound to another path than path (in was). */
static bool control_moved(int fd, const char *path, char *was, size_t len)
{
	struct sockaddr_un sun = {0};
	socklen_t sl = sizeof(sun);

	if (getsockname(fd, (struct sockaddr *)&sun, &sl) < 0 || sun.sun_family != AF_UNIX ||
	    !sun.sun_path[0])
		return false;
	snprintf(was, len, "%.*s", (int)sizeof(sun.sun_path), sun.sun_path);
	return strcmp(was, path) != 0;
}

/*
 * A listener the file moved since the strgd that restarted opened it (listen, metrics): this one
 * opens the file's address, and the one handed over goes with its old owner. When the address
 * cannot be had, the restart fails saying so and the old strgd carries on. 0 or -errno (s->err).
 */
static int rebind_moved(struct start *s)
{
	struct takeover_fds *f = &s->inherited;
	char was[128], now[128];
	int fd;

	if (control_moved(f->ctl, s->cfg.control, was, sizeof(was))) {
		snprintf(
			s->err, sizeof(s->err),
			"restart: control %s (moved in the configuration from %s): a restart keeps "
			"the control socket; stop and start strgd to move it",
			s->cfg.control, was);
		return -EINVAL;
	}
	config_addr_text(&s->cfg.listen, now, sizeof(now));
	if (f->nlisten && !listen_bound_to(f->listen[0], &s->cfg.listen)) {
		fd = proxy_listen(&s->cfg);
		if (fd < 0) {
			snprintf(s->err, sizeof(s->err),
				 "restart: listen %s (moved in the configuration): %s", now,
				 strerror(-fd));
			return fd;
		}
		for (unsigned i = 0; i < f->nlisten; i++)
			drop_inherited(f->listen[i], was, sizeof(was));
		f->nlisten = 1;
		f->listen[0] = fd;
		pr_info("restart: listen moved from %s to %s", was, now);
	}
	if (f->metrics < 0 || (s->cfg.metrics_len && listen_bound_to(f->metrics, &s->cfg.metrics)))
		return 0;
	fd = -1;
	if (s->cfg.metrics_len) {
		config_addr_text(&s->cfg.metrics, now, sizeof(now));
		fd = listen_tcp(&s->cfg.metrics, s->cfg.metrics_len, 64, false);
		if (fd < 0) {
			snprintf(s->err, sizeof(s->err),
				 "restart: metrics %s (moved in the configuration): %s", now,
				 strerror(-fd));
			return fd;
		}
	}
	drop_inherited(f->metrics, was, sizeof(was));
	f->metrics = fd;
	pr_info("restart: metrics moved from %s to %s", was, fd >= 0 ? now : "none");
	return 0;
}

/* The listening sockets: handed over by the strgd that restarted, or opened. 0 or -errno. */
static int take_sockets(struct start *s)
{
	int ret;

	if (s->takeover_fd < 0)
		return open_sockets(&s->cfg, &s->lfd, &s->ctl_fd);
	ret = takeover_receive(s->takeover_fd, &s->inherited, s->err, sizeof(s->err));
	if (ret == 0 && s->inherited.ctl < 0) {
		snprintf(s->err, sizeof(s->err), "takeover: no control socket came");
		ret = -EPROTO;
	}
	if (ret < 0) {
		fprintf(stderr, "strgd: %s\n", s->err);
		takeover_answer(s->takeover_fd, s->err);
		s->takeover_fd = -1;
		return ret;
	}
	pr_info("restart: %u listening sockets and the control socket handed over",
		s->inherited.nlisten);
	ret = rebind_moved(s);
	if (ret < 0) {
		fprintf(stderr, "strgd: %s\n", s->err);
		takeover_answer(s->takeover_fd, s->err);
		s->takeover_fd = -1;
		return ret;
	}
	s->lfd = s->inherited.listen[0];
	s->ctl_fd = s->inherited.ctl;
	/* listen() again stamps the socket with this process: a peer's SO_PEERCRED names it. */
	if (listen(s->ctl_fd, 64) < 0)
		pr_warn("control socket: listen: %s", strerror(errno));
	return 0;
}

/* The kernel path and the XDP guard, when they load: only a taken pin directory is fatal. */
static int load_kernel(struct start *s)
{
	pid_t holder = 0;

	if (s->no_bpf) {
		if (s->cfg.guard.iface[0])
			pr_warn("xdp %s: --no-bpf: the guard is not loaded", s->cfg.guard.iface);
		return 0;
	}
	s->sp = splice_open(&s->cfg, s->pin_dir, &holder);
	if (!s->sp && errno == EBUSY) {
		snprintf(s->err, sizeof(s->err),
			 "strgd: pin directory %s is in use by another strgd (pid %d): give each "
			 "strgd its own --pin-dir",
			 s->pin_dir, (int)holder);
		fprintf(stderr, "%s\n", s->err);
		return -EBUSY;
	}
	if (!s->sp)
		pr_warn("kernel fast path unavailable (%s): running the user-space path",
			strerror(errno));
	s->gd = guard_open(s->pin_dir);
	if (!s->gd)
		pr_warn("xdp guard unavailable (%s)%s", strerror(errno),
			s->cfg.guard.iface[0] ? ": the interface is not guarded" : "");
	else if (guard_apply(s->gd, &s->cfg, s->err, sizeof(s->err)))
		pr_warn("%s: running without the guard until 'strgctl xdp attach'", s->err);
	return 0;
}

/* Everything the proxy runs with: sockets, kernel path, counters, access log. 0 or -errno. */
static int start_parts(struct start *s)
{
	int ret = state_save(&s->cfg, s->applied); /* records what was applied */

	if (ret < 0)
		pr_warn("state file %s not written: %s", s->cfg.state, strerror(-ret));
	raise_fd_limit();
	ret = install_signals();
	if (ret == 0)
		ret = take_sockets(s);
	if (ret == 0)
		ret = load_kernel(s);
	if (ret == 0 && !(s->st = stats_open(s->sp)))
		ret = -ENOMEM;
	if (ret == 0 && !(s->lim = limiter_open(s->sp)))
		ret = -ENOMEM;
	notify_set(s->cfg.notify);
	notify_set_coalesce(s->cfg.notify_coalesce_ms);
	if (ret == 0)
		ret = alog_open(&s->cfg);
	if (ret == 0 && s->cfg.access_log[0])
		pr_info("access log: %s%s, one request in %u", s->cfg.access_log,
			s->cfg.access_log_json ? " (json)" : "", s->cfg.access_log_sample);
	if (ret && ret != -EBUSY)
		snprintf(s->err, sizeof(s->err), "strgd: cannot start: %s", strerror(-ret));
	if (ret && s->takeover_fd >= 0) {
		takeover_answer(s->takeover_fd, s->err); /* the strgd that restarted says why */
		s->takeover_fd = -1;
	}
	return ret;
}

static void say_started(struct start *s)
{
	struct splice *sp = s->sp;
	char addr[128];

	if (!sp)
		pr_info("data path: user space (io_uring)%s", s->no_bpf ? ", --no-bpf" : "");
	else
		pr_info("data path: kernel splice (splice %s), user space for what it passes up; "
			"maps %s %s%s%s",
			s->cfg.splice == SPLICE_ALWAYS	? "always"
			: s->cfg.splice == SPLICE_NEVER ? "never"
							: "auto",
			splice_pin_error(sp) ? "not pinned in" : "pinned in", s->pin_dir,
			splice_pin_error(sp) ? ": " : "",
			splice_pin_error(sp) ? strerror(-splice_pin_error(sp)) : "");
	pr_info("listening on %s with %u pools, %zu routes",
		listen_name(&s->cfg, addr, sizeof(addr)), s->cfg.npools,
		route_table_count(s->cfg.routes));
}

/* The proxy's loop, until a stop; it closes the control socket. 0 or -errno. */
static int serve(struct start *s)
{
	struct proxy_parts parts = {
		.sp = s->sp,
		.gd = s->gd,
		.st = s->st,
		.lim = s->lim,
		.inherited = s->takeover_fd >= 0 ? &s->inherited : NULL,
		.answer_fd = s->takeover_fd,
	};
	int ret;

	say_started(s);
	ret = proxy_run(&s->cfg, &s->applied, s->path, s->lfd, s->ctl_fd, &parts);
	s->ctl_fd = -1; /* the proxy closed it and removed the socket */
	if (ret < 0)
		pr_warn("event loop failed: %s", strerror(-ret));
	else
		pr_info("stopped");
	return ret;
}

static void stop(struct start *s)
{
	if (s->ctl_fd >= 0) {
		close(s->ctl_fd);
		unlink(s->cfg.control);
	}
	alog_close();
	stats_close(s->st);
	limiter_close(s->lim);
	config_destroy(s->applied);
	guard_close(s->gd); /* before the splice's, which removes the pin directory */
	splice_close(s->sp);
	config_free(&s->cfg);
}

/* Options, configuration, the parts the proxy needs, the proxy's loop, the stop. */
int main(int argc, char **argv)
{
	static struct start s = {
		.pin_dir = SPLICE_PIN_DIR, .takeover_fd = -1, .lfd = -1, .ctl_fd = -1};
	int ret;

	takeover_set_argv(argc, argv);
	ret = parse_options(argc, argv, &s);
	if (ret < 0)
		ret = load_config(&s);
	if (ret >= 0)
		return ret;
	ret = start_parts(&s);
	if (ret == 0)
		ret = serve(&s);
	stop(&s);
	return ret != 0;
}
