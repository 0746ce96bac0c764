// SPDX-License-Identifier: GPL-2.0-only
/*
 * libFuzzer harness: the control protocol as strgd runs it, a command line from a root peer
 * executed against a live configuration (no kernel path, no workers): every answer starts
 * with "ok" or "error: ", and a change leaves a configuration that still routes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "control/ctl.h"
#include "core/route.h"
#include "observe/stats.h"

static struct ctl_env env;
static char dir[] = "/tmp/strg-fuzz-ctl-XXXXXX";

static void setup(void)
{
	static const char text[] = "listen 127.0.0.1:8080\npool legacy 127.0.0.1:9001\n"
				   "pool modern 127.0.0.1:9101 127.0.0.1:9102\n"
				   "route GET,HEAD /v1/getSalesLeads modern\n"
				   "route /v1/orders modern percent 5 testers\n";
	struct config cfg;
	char err[256], path[128];
	FILE *f;

	if (!mkdtemp(dir) || config_parse(&cfg, "fuzz.conf", text, err, sizeof(err)))
		abort();
	snprintf(cfg.state, sizeof(cfg.state), "%s/state", dir);
	snprintf(path, sizeof(path), "%s/strg.conf", dir);
	f = fopen(path, "w");
	if (!f)
		abort();
	fputs(text, f);
	fclose(f);
	/* The live one, replaced whole by each change (no workers: the pipeline frees the old). */
	env.chg.live = config_clone(&cfg);
	env.chg.st = stats_open(NULL);
	env.config_path = strdup(path);
	env.chg.applied = config_clone(&cfg);
	config_free(&cfg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ucred root = {.pid = 1, .uid = 0, .gid = 0};
	struct ctl_reply r = {0};
	char line[CTL_LINE_MAX + 1];

	if (!env.chg.live)
		setup();
	if (size >= sizeof(line))
		size = sizeof(line) - 1;
	memcpy(line, data, size);
	line[size] = '\0';
	if (strlen(line) != size)
		return 0; /* the server refuses a line with a NUL before running it */
	ctl_execute(&env, &root, line, &r);
	if (r.text.len && strncmp(r.text.buf, "ok\n", 3) && strncmp(r.text.buf, "error: ", 7))
		abort();
	/* Whatever changed, the default route still takes what nothing else does. */
	if (!route_table_lookup(env.chg.live->routes, 1, "h", 1, "/x", 2))
		abort();
	ctl_reply_free(&r);
	return 0;
}
