// SPDX-License-Identifier: GPL-2.0-only
/*
 * The configuration's life in a running strgd: at start the state file's table (what strgctl
 * left) meets the file's edits since it was last applied; on SIGHUP or "strgctl reload" the file
 * is read again and applied the same way. Settings that cannot change while strgd runs are
 * reported as needing a restart, never silently ignored.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/reload.h"
#include "control/rollback.h"

static bool addr_equal(const struct config *a, const struct config *b)
{
	return a->listen_len == b->listen_len && !memcmp(&a->listen, &b->listen, a->listen_len);
}

/* Settings read once at start: a change is reported, and kept for the next start. */
static int restart_settings(const struct config *live, const struct config *file, apply_say_fn say,
			    void *ctx)
{
	int n = 0;

#define NEEDS_RESTART(cond, what)                                                                  \
	do {                                                                                       \
		if (cond) {                                                                        \
			say(ctx,                                                                   \
			    "%s: changed in the configuration: takes effect at the next "          \
			    "start",                                                               \
			    what);                                                                 \
			n++;                                                                       \
		}                                                                                  \
	} while (0)
	NEEDS_RESTART(!addr_equal(live, file), "listen");
	NEEDS_RESTART(strcmp(live->notify, file->notify) ||
			      live->notify_coalesce_ms != file->notify_coalesce_ms,
		      "notify");
	NEEDS_RESTART(live->per_source_max != file->per_source_max, "limit per-source");
	NEEDS_RESTART(strcmp(live->access_log, file->access_log) ||
			      live->access_log_json != file->access_log_json ||
			      live->access_log_sample != file->access_log_sample ||
			      live->access_log_query != file->access_log_query,
		      "access-log");
	NEEDS_RESTART(live->metrics_len != file->metrics_len ||
			      memcmp(&live->metrics, &file->metrics, live->metrics_len),
		      "metrics");
	NEEDS_RESTART(strcmp(live->control, file->control), "control");
	NEEDS_RESTART(live->control_read_gid != file->control_read_gid ||
			      live->control_change_gid != file->control_change_gid,
		      "control-group");
	NEEDS_RESTART(strcmp(live->state, file->state), "state-file");
	NEEDS_RESTART(memcmp(&live->store, &file->store, sizeof(live->store)), "store");
	NEEDS_RESTART(live->workers != file->workers, "workers");
	NEEDS_RESTART(live->limits.max_request_line != file->limits.max_request_line,
		      "limit request-line");
	NEEDS_RESTART(live->limits.max_head != file->limits.max_head, "limit head");
#undef NEEDS_RESTART
	return n;
}

/* A number setting that applies at once: copied, and reported when it changed. */
static int runtime_u32(uint32_t *live, uint32_t file, const char *what, const char *unit, bool dry,
		       apply_say_fn say, void *ctx)
{
	if (*live == file)
		return 0;
	say(ctx, "%s%s: %u%s -> %u%s", dry ? "would do: " : "", what, *live, unit, file, unit);
	if (!dry)
		*live = file;
	return 1;
}

static int runtime_str(char *live, const char *file, size_t size, const char *what, bool dry,
		       apply_say_fn say, void *ctx)
{
	if (!strcmp(live, file))
		return 0;
	say(ctx, "%s%s: '%s' -> '%s'", dry ? "would do: " : "", what, live, file);
	if (!dry)
		snprintf(live, size, "%s", file);
	return 1;
}

static int runtime_settings(struct config *live, const struct config *f, bool dry, apply_say_fn say,
			    void *ctx)
{
	static const char *const splice[] = {"auto", "never", "always"};
	static const char *const sticky[] = {"address", "cookie", "header"};
	int n = 0;

	n += runtime_u32(&live->connect_timeout_ms, f->connect_timeout_ms, "timeout connect", " ms",
			 dry, say, ctx);
	n += runtime_u32(&live->server_timeout_ms, f->server_timeout_ms, "timeout server", " ms",
			 dry, say, ctx);
	n += runtime_u32(&live->client_timeout_ms, f->client_timeout_ms, "timeout client", " ms",
			 dry, say, ctx);
	n += runtime_u32(&live->idle_timeout_ms, f->idle_timeout_ms, "timeout idle", " ms", dry,
			 say, ctx);
	n += runtime_u32(&live->head_timeout_ms, f->head_timeout_ms, "timeout head", " ms", dry,
			 say, ctx);
	n += runtime_u32(&live->body_timeout_ms, f->body_timeout_ms, "timeout body", " ms", dry,
			 say, ctx);
	n += runtime_u32(&live->backend_idle_ms, f->backend_idle_ms, "timeout backend-idle", " ms",
			 dry, say, ctx);
	n += runtime_u32(&live->body_rate, f->body_rate, "limit body-rate", " B/s", dry, say, ctx);
	n += runtime_u32(&live->body_buffer, f->body_buffer, "limit body-buffer", "", dry, say,
			 ctx);
	n += runtime_u32(&live->splice_body, f->splice_body, "limit splice-body", "", dry, say,
			 ctx);
	n += runtime_u32(&live->down_hold_ms, f->down_hold_ms, "down-hold", " ms", dry, say, ctx);
	n += runtime_u32(&live->limits.max_fields, f->limits.max_fields, "limit fields", "", dry,
			 say, ctx);
	n += runtime_u32(&live->kernel_routes_max, f->kernel_routes_max, "limit kernel-routes", "",
			 dry, say, ctx);
	n += runtime_str(live->tester_header, f->tester_header, sizeof(live->tester_header),
			 "tester-header", dry, say, ctx);
	if (live->splice != f->splice) {
		say(ctx, "%ssplice: %s -> %s", dry ? "would do: " : "", splice[live->splice],
		    splice[f->splice]);
		if (!dry)
			live->splice = f->splice;
		n++;
	}
	if (live->sticky != f->sticky || strcmp(live->sticky_name, f->sticky_name)) {
		say(ctx, "%ssticky: %s %s -> %s %s", dry ? "would do: " : "", sticky[live->sticky],
		    live->sticky_name, sticky[f->sticky], f->sticky_name);
		if (!dry) {
			live->sticky = f->sticky;
			strcpy(live->sticky_name, f->sticky_name);
		}
		n++;
	}
	return n;
}

struct say_to {
	apply_say_fn say;
	void *ctx;
};

/* A route of the file whose p99 limit its min cannot judge: said with the reload's answer. */
static int warn_route(const struct route *rt, void *arg)
{
	const struct say_to *to = arg;
	char msg[ROUTE_TEXT_MAX + 256];

	if (rollback_min_warning(&rt->spec, msg, sizeof(msg)))
		to->say(to->ctx, "warning: %s", msg);
	return 0;
}

int reload_run(struct config *live, struct config **applied, const char *config_path, bool dry,
	       apply_say_fn say, void *ctx)
{
	struct say_to to = {say, ctx};
	struct config file, *copy;
	char err[1024];
	int n, m;

	if (!config_path) {
		say(ctx, "reload: strgd was started without a configuration file");
		return -EINVAL;
	}
	if (config_load(&file, config_path, err, sizeof(err)) < 0) {
		say(ctx, "%s", err);
		config_free(&file);
		return -EINVAL;
	}
	route_table_each(file.routes, warn_route, &to);
	copy = config_clone(&file);
	if (!copy) {
		config_free(&file);
		say(ctx, "reload: %s", strerror(ENOMEM));
		return -ENOMEM;
	}
	restart_settings(live, &file, say, ctx);
	n = runtime_settings(live, &file, dry, say, ctx);
	m = apply_config(live, *applied, &file, dry ? APPLY_DRY : 0, say, ctx);
	config_free(&file);
	if (m < 0) {
		say(ctx, "reload: %s", strerror(-m));
		config_destroy(copy);
		return m;
	}
	if (dry) {
		config_destroy(copy);
		return n + m;
	}
	/*
	 * The file is now what the next edit is compared with, even when nothing changed. A pool
	 * it dropped that is still live stays in that record, so the next start removes it.
	 */
	for (unsigned i = 0; *applied && i < (*applied)->npools; i++) {
		const struct pool *p = &(*applied)->pools[i];

		if (config_pool_find(copy, p->name) < 0 && config_pool_find(live, p->name) >= 0 &&
		    copy->npools < POOL_MAX)
			copy->pools[copy->npools++] = *p;
	}
	config_destroy(*applied);
	*applied = copy;
	return n + m;
}
