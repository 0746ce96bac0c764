// SPDX-License-Identifier: GPL-2.0-only
/*
 * The access log (accesslog.h). Lines are formatted on the caller's stack and written with one
 * write() to a descriptor opened O_APPEND; a reopen replaces that descriptor in place (dup2), so
 * workers never take a lock and never see a closed descriptor.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "observe/accesslog.h"
#include "lib/log.h"

static int log_fd = -1;
static bool log_json;
static bool log_query;
static unsigned log_sample;
static char log_path[sizeof(((struct config *)0)->access_log)];

/* Per thread: a xorshift generator seeded from the kernel, for sampling and request ids. */
static __thread uint64_t rng_state;

static uint64_t rng_next(void)
{
	uint64_t x = rng_state;

	if (!x) {
		if (getrandom(&x, sizeof(x), 0) != sizeof(x) || !x)
			x = (uint64_t)(uintptr_t)&x ^ 0x9e3779b97f4a7c15ull;
	}
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	rng_state = x;
	return x;
}

static int open_path(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);

	return fd < 0 ? -errno : fd;
}

int alog_open(const struct config *cfg)
{
	int fd;

	alog_close();
	if (!cfg->access_log[0])
		return 0;
	if (!strcmp(cfg->access_log, "stderr")) {
		fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
		if (fd < 0)
			return -errno;
	} else {
		fd = open_path(cfg->access_log);
		if (fd < 0) {
			pr_warn("access-log %s: %s", cfg->access_log, strerror(-fd));
			return fd;
		}
	}
	snprintf(log_path, sizeof(log_path), "%s", cfg->access_log);
	log_json = cfg->access_log_json;
	log_query = cfg->access_log_query;
	log_sample = cfg->access_log_sample ? cfg->access_log_sample : 1;
	log_fd = fd;
	return 0;
}

void alog_close(void)
{
	if (log_fd >= 0)
		close(log_fd);
	log_fd = -1;
	log_sample = 0;
}

unsigned alog_sample(void)
{
	return log_fd >= 0 ? log_sample : 0;
}

bool alog_wants(void)
{
	unsigned n = alog_sample();

	return n == 1 || (n > 1 && rng_next() % n == 0);
}

int alog_reopen(void)
{
	int fd;

	if (log_fd < 0 || !strcmp(log_path, "stderr"))
		return 0;
	fd = open_path(log_path);
	if (fd < 0) {
		pr_warn("access-log %s: reopen: %s (still writing to the old file)", log_path,
			strerror(-fd));
		return fd;
	}
	/* Atomic for the writers: the descriptor number now names the new file. */
	if (dup2(fd, log_fd) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	close(fd);
	pr_info("access-log %s: reopened", log_path);
	return 0;
}

void alog_new_id(char *out)
{
	snprintf(out, ALOG_ID_MAX, "%016llx%016llx", (unsigned long long)rng_next(),
		 (unsigned long long)rng_next());
}

/* Append text to line (bounded), escaped for a JSON string or for a quoted text field. */
static size_t put_escaped(char *line, size_t n, size_t cap, const char *s, size_t len)
{
	for (size_t i = 0; i < len && n + 7 < cap; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\')
			n += (size_t)snprintf(line + n, cap - n, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			n += (size_t)snprintf(line + n, cap - n, log_json ? "\\u%04x" : "\\x%02x",
					      c);
		else
			line[n++] = (char)c;
	}
	line[n] = '\0';
	return n;
}

static size_t put(char *line, size_t n, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static size_t put(char *line, size_t n, size_t cap, const char *fmt, ...)
{
	va_list ap;
	int k;

	if (n >= cap)
		return n;
	va_start(ap, fmt);
	k = vsnprintf(line + n, cap - n, fmt, ap);
	va_end(ap);
	return k < 0 ? n : (n + (size_t)k < cap ? n + (size_t)k : cap - 1);
}

/* A quoted string field: "text" (JSON: the value; text: after name=). */
static size_t put_str(char *line, size_t n, size_t cap, const char *s, size_t len)
{
	n = put(line, n, cap, "\"");
	n = put_escaped(line, n, cap, s, len);
	return put(line, n, cap, "\"");
}

/* A string that may be absent: its text, or "-" (with its length in *len). */
static const char *or_dash(const char *s, size_t len, size_t *out)
{
	*out = s ? len : 1;
	return s ? s : "-";
}

static size_t put_json(char *line, size_t n, size_t cap, const struct alog_entry *e,
		       const char *stamp)
{
	size_t plen = e->path_len < ALOG_PATH_MAX ? e->path_len : ALOG_PATH_MAX, hl, al;
	const char *host = or_dash(e->host, e->host_len, &hl);
	const char *agent = or_dash(e->agent, e->agent_len, &al);
	const char *route = e->route ? e->route : "", *pool = e->pool ? e->pool : "";
	const char *backend = e->backend ? e->backend : "";

	n = put(line, n, cap, "{\"time\":\"%s\",\"client\":", stamp);
	n = put_str(line, n, cap, e->client, strlen(e->client));
	n = put(line, n, cap, ",\"method\":");
	n = put_str(line, n, cap, e->method, strlen(e->method));
	n = put(line, n, cap, ",\"path\":");
	n = put_str(line, n, cap, e->path, plen);
	if (log_query) {
		n = put(line, n, cap, ",\"query\":");
		n = put_str(line, n, cap, e->query ? e->query : "", e->query ? e->query_len : 0);
	}
	n = put(line, n, cap, ",\"host\":");
	n = put_str(line, n, cap, host, hl);
	n = put(line, n, cap, ",\"user_agent\":");
	n = put_str(line, n, cap, agent, al);
	n = put(line, n, cap, ",\"route\":");
	n = put_str(line, n, cap, route, strlen(route));
	n = put(line, n, cap, ",\"pool\":");
	n = put_str(line, n, cap, pool, strlen(pool));
	n = put(line, n, cap, ",\"backend\":");
	n = put_str(line, n, cap, backend, strlen(backend));
	n = put(line, n, cap,
		",\"status\":%u,\"bytes_in\":%llu,\"bytes_out\":%llu,\"head_ms\":%.3f,"
		"\"duration_ms\":%.3f,\"kernel\":%s,\"request_id\":",
		e->status, (unsigned long long)e->bytes_in, (unsigned long long)e->bytes_out,
		(double)e->head_us / 1000, (double)e->duration_us / 1000,
		e->kernel ? "true" : "false");
	n = put_str(line, n, cap, e->id, strlen(e->id));
	return put(line, n, cap, "}");
}

static size_t put_text(char *line, size_t n, size_t cap, const struct alog_entry *e,
		       const char *stamp)
{
	size_t plen = e->path_len < ALOG_PATH_MAX ? e->path_len : ALOG_PATH_MAX, hl, al;
	const char *host = or_dash(e->host, e->host_len, &hl);
	const char *agent = or_dash(e->agent, e->agent_len, &al);
	const char *route = e->route ? e->route : "", *pool = e->pool ? e->pool : "";
	const char *backend = e->backend ? e->backend : "";
	char status[8];

	snprintf(status, sizeof(status), "%u", e->status);
	n = put(line, n, cap, "%s %s %s ", stamp, e->client, e->method);
	n = put_escaped(line, n, cap, e->path, plen);
	n = put(line, n, cap, " %s route=", e->status ? status : "-");
	if (route[0])
		n = put_str(line, n, cap, route, strlen(route));
	else
		n = put(line, n, cap, "-");
	n = put(line, n, cap,
		" pool=%s backend=%s in=%llu out=%llu ms=%.3f path=%s id=", pool[0] ? pool : "-",
		backend[0] ? backend : "-", (unsigned long long)e->bytes_in,
		(unsigned long long)e->bytes_out, (double)e->duration_us / 1000,
		e->kernel ? "kernel" : "user");
	n = put_escaped(line, n, cap, e->id, strlen(e->id));
	n = put(line, n, cap, " head_ms=%.3f host=", (double)e->head_us / 1000);
	n = put_escaped(line, n, cap, host, hl);
	n = put(line, n, cap, " ua=");
	n = put_str(line, n, cap, agent, al);
	if (log_query) {
		n = put(line, n, cap, " query=");
		n = put_str(line, n, cap, e->query ? e->query : "", e->query ? e->query_len : 0);
	}
	return n;
}

void alog_write(const struct alog_entry *e)
{
	char line[2048], stamp[LOG_STAMP_MAX];
	size_t n, cap = sizeof(line) - 1;

	if (log_fd < 0)
		return;
	log_stamp(stamp);
	n = log_json ? put_json(line, 0, cap, e, stamp) : put_text(line, 0, cap, e, stamp);
	line[n++] = '\n';
	if (write(log_fd, line, n) < 0)
		pr_debug("access-log: write: %s", strerror(errno));
}
