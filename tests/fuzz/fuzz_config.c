// SPDX-License-Identifier: GPL-2.0-only
/*
 * libFuzzer harness: the configuration parser and the state file. The first byte picks the
 * target. A configuration either parses (and then its route table answers lookups) or gives a
 * "name:line: message"; a state file is read into a configuration or refused with a message.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "core/route.h"
#include "core/state.h"

static const char base[] = "listen 127.0.0.1:8080\npool legacy 127.0.0.1:9001\n"
			   "pool modern 127.0.0.1:9101\n";

static void config(const char *text)
{
	struct config cfg;
	char err[256] = "";

	if (config_parse(&cfg, "fuzz.conf", text, err, sizeof(err)) == 0) {
		if (!route_table_lookup(cfg.routes, 1, "h", 1, "/a/b", 4))
			abort(); /* the default route takes what no other route takes */
	} else if (strncmp(err, "fuzz.conf", 9)) {
		abort(); /* every refusal names the file */
	}
	config_free(&cfg);
}

static void state(const char *text, size_t len)
{
	static char path[64];
	struct config cfg, *last = NULL;
	char err[256] = "";
	FILE *f;

	if (!path[0])
		snprintf(path, sizeof(path), "/tmp/strg-fuzz-state-%d", (int)getpid());
	f = fopen(path, "w");
	if (!f)
		return;
	fwrite(text, 1, len, f);
	fclose(f);
	if (config_parse(&cfg, "fuzz.conf", base, err, sizeof(err)))
		abort();
	snprintf(cfg.state, sizeof(cfg.state), "%s", path);
	if (state_load(&cfg, &last, err, sizeof(err)) < 0 && !err[0])
		abort(); /* a refusal says why */
	config_destroy(last);
	config_free(&cfg);
	unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text;

	if (!size)
		return 0;
	text = malloc(size);
	if (!text)
		return 0;
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	if (data[0] & 1)
		state(text, size - 1);
	else
		config(text);
	free(text);
	return 0;
}
