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
#include <unistd.h>

#include "observe/accesslog.h"
#include "core/config.h"
#include "lib/notify.h"
#include "control/ctlsrv.h"
#include "lib/log.h"
#include "daemon/proxy.h"
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
	"  -c, --config FILE  configuration file (see README.md, \"Configuration\")\n"
	"  -t, --test         check the configuration and exit (0 when valid)\n"
	"      --no-bpf       run the user-space data path only\n"
	"      --pin-dir DIR  where the BPF maps are pinned (default " SPLICE_PIN_DIR ")\n"
	"      --state discard  start from the configuration alone; the state file is kept\n"
	"                     aside as FILE.discarded-TIMESTAMP\n"
	"      --takeover-fd N  take the listening sockets from the strgd that started this one\n"
	"                     (strgctl restart does this; not for use by hand)\n"
	"  -v, --verbose      log every request (debug level)\n"
	"  -V, --version      print the version and exit\n"
	"  -h, --help         this text\n";

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
		fprintf(stderr, "strgd: listen: %s\n", strerror(-*lfd));
		return *lfd;
	}
	return 0;
}

int main(int argc, char **argv)
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
		{NULL, 0, NULL, 0},
	};
	const char *path = NULL, *pin_dir = SPLICE_PIN_DIR;
	struct splice *sp = NULL;
	struct stats *st = NULL;
	struct guard *gd = NULL;
	struct config *applied = NULL;
	int lfd = -1, ctl_fd = -1;
	pid_t holder = 0;
	bool no_bpf = false;
	struct config cfg;
	char err[512];
	bool test_only = false, discard = false;
	struct takeover_fds inherited;
	int opt, ret, takeover_fd = -1;

	takeover_set_argv(argc, argv);
	while ((opt = getopt_long(argc, argv, "c:tvVh", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 't':
			test_only = true;
			break;
		case 'B':
			no_bpf = true;
			break;
		case 'P':
			pin_dir = optarg;
			break;
		case 'S':
			if (strcmp(optarg, "discard")) {
				fprintf(stderr, "strgd: --state takes 'discard', not '%s'\n%s",
					optarg, usage);
				return 2;
			}
			discard = true;
			break;
		case 'T': /* started by "strgctl restart": the sockets come from this socket */
			takeover_fd = atoi(optarg);
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
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	if (!path || optind != argc) {
		fprintf(stderr, "strgd: %s\n%s", path ? "unexpected argument" : "missing -c FILE",
			usage);
		return 2;
	}
	memset(&cfg, 0, sizeof(cfg));
	if (config_load(&cfg, path, err, sizeof(err)) < 0) {
		config_free(&cfg);
		return start_failed(takeover_fd, err);
	}
	if (discard && !test_only) {
		char kept[sizeof(cfg.state) + 32];
		int moved = state_discard(&cfg, kept, sizeof(kept));

		if (moved < 0) {
			snprintf(err, sizeof(err), "strgd: --state discard: %s: %s", cfg.state,
				 strerror(-moved));
			config_free(&cfg);
			return start_failed(takeover_fd, err);
		}
		if (moved)
			pr_info("state file %s discarded (kept as %s): starting from the "
				"configuration alone",
				cfg.state, kept);
	}
	/* The state file's table, plus what the file changed since it was last applied. */
	ret = apply_boot(&cfg, &applied, test_only, test_only ? say_stdout : log_say,
			 test_only ? NULL : "config: ", err, sizeof(err));
	if (ret < 0) {
		config_free(&cfg);
		return start_failed(takeover_fd, err);
	}
	if (test_only) {
		printf("%s: configuration is valid%s\n", path,
		       ret ? "" : "; a start would change nothing in the saved table");
		config_free(&cfg);
		return 0;
	}
	ret = state_save(&cfg, applied); /* records what was applied */
	if (ret < 0)
		pr_warn("state file %s not written: %s", cfg.state, strerror(-ret));
	ret = 0;
	raise_fd_limit();
	ret = install_signals();
	if (ret == 0 && takeover_fd >= 0) {
		ret = takeover_receive(takeover_fd, &inherited, err, sizeof(err));
		if (ret == 0 && inherited.ctl < 0) {
			snprintf(err, sizeof(err), "takeover: no control socket came");
			ret = -EPROTO;
		}
		if (ret < 0) {
			fprintf(stderr, "strgd: %s\n", err);
			takeover_answer(takeover_fd, err);
			takeover_fd = -1;
		} else {
			lfd = inherited.listen[0];
			ctl_fd = inherited.ctl;
			pr_info("restart: %u listening sockets and the control socket handed over",
				inherited.nlisten);
		}
	} else if (ret == 0) {
		ret = open_sockets(&cfg, &lfd, &ctl_fd);
	}
	if (ret == 0 && !no_bpf) {
		sp = splice_open(&cfg, pin_dir, &holder);
		if (!sp && errno == EBUSY) {
			snprintf(
				err, sizeof(err),
				"strgd: pin directory %s is in use by another strgd (pid %d): give "
				"each strgd its own --pin-dir",
				pin_dir, (int)holder);
			fprintf(stderr, "%s\n", err);
			ret = -EBUSY;
		} else if (!sp) {
			pr_warn("kernel fast path unavailable (%s): running the user-space path",
				strerror(errno));
		}
	}
	if (ret == 0 && !no_bpf) {
		gd = guard_open(pin_dir);
		if (!gd)
			pr_warn("xdp guard unavailable (%s)%s", strerror(errno),
				cfg.guard.iface[0] ? ": the interface is not guarded" : "");
		else if (guard_apply(gd, &cfg, err, sizeof(err)))
			pr_warn("%s: running without the guard until 'strgctl xdp attach'", err);
	} else if (ret == 0 && cfg.guard.iface[0]) {
		pr_warn("xdp %s: --no-bpf: the guard is not loaded", cfg.guard.iface);
	}
	if (ret == 0) {
		st = stats_open(sp);
		if (!st)
			ret = -ENOMEM;
	}
	notify_set(cfg.notify);
	if (ret == 0) {
		ret = alog_open(&cfg);
		if (ret == 0 && cfg.access_log[0])
			pr_info("access log: %s%s, one request in %u", cfg.access_log,
				cfg.access_log_json ? " (json)" : "", cfg.access_log_sample);
	}
	if (ret && ret != -EBUSY)
		snprintf(err, sizeof(err), "strgd: cannot start: %s", strerror(-ret));
	if (ret && takeover_fd >= 0) {
		takeover_answer(takeover_fd, err); /* the strgd that restarted says why */
		takeover_fd = -1;
	}
	if (ret == 0) {
		if (!sp)
			pr_info("data path: user space (io_uring)%s", no_bpf ? ", --no-bpf" : "");
		else
			pr_info("data path: kernel splice (splice %s), user space for what it "
				"passes up; maps %s %s%s%s",
				cfg.splice == SPLICE_ALWAYS  ? "always"
				: cfg.splice == SPLICE_NEVER ? "never"
							     : "auto",
				splice_pin_error(sp) ? "not pinned in" : "pinned in", pin_dir,
				splice_pin_error(sp) ? ": " : "",
				splice_pin_error(sp) ? strerror(-splice_pin_error(sp)) : "");
		pr_info("listening on %s with %u pools, %zu routes",
			listen_name(&cfg, err, sizeof(err)), cfg.npools,
			route_table_count(cfg.routes));
		struct proxy_parts parts = {
			.sp = sp,
			.gd = gd,
			.st = st,
			.inherited = takeover_fd >= 0 ? &inherited : NULL,
			.answer_fd = takeover_fd,
		};

		ret = proxy_run(&cfg, &applied, path, lfd, ctl_fd, &parts);
		ctl_fd = -1; /* the proxy closed it and removed the socket */
		if (ret < 0)
			pr_warn("event loop failed: %s", strerror(-ret));
		else
			pr_info("stopped");
	}
	if (ctl_fd >= 0) {
		close(ctl_fd);
		unlink(cfg.control);
	}
	alog_close();
	stats_close(st);
	config_destroy(applied);
	guard_close(gd); /* before the splice's, which removes the pin directory */
	splice_close(sp);
	config_free(&cfg);
	return ret != 0;
}
