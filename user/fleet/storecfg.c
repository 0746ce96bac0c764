// SPDX-License-Identifier: GPL-2.0-only
/*
 * The fleet's configuration line, registered with the parser from here:
 * "store etcd URL[,URL...] [prefix P] [ca FILE cert FILE key FILE] [node NAME]".
 */
#include <stdio.h>
#include <string.h>

#include "core/config.h"

/* A setting's value into a field, or an error naming the word. */
static int store_copy(struct config_parser *ps, char *dst, size_t size, const char *what,
		      const char *val)
{
	if (!*val || strlen(val) >= size)
		return config_err(ps, "store: %s '%.64s' is empty or longer than %zu bytes", what,
				  val, size - 1);
	strcpy(dst, val);
	return 0;
}

/* The prefix as a directory of keys: "/strg/NAME/". */
static int store_prefix(struct config_parser *ps, struct store_settings *s, const char *p)
{
	size_t n = strlen(p);

	if (p[0] != '/' || n + 2 > sizeof(s->prefix) || strpbrk(p, " \t"))
		return config_err(
			ps, "store: prefix '%.64s' is not an absolute key like /strg/NAME", p);
	snprintf(s->prefix, sizeof(s->prefix), "%s%s", p, p[n - 1] == '/' ? "" : "/");
	return 0;
}

/* store etcd URL[,URL...] [prefix P] [ca FILE cert FILE key FILE] [node NAME] */
static int do_store(struct config_parser *ps, int argc, char **argv)
{
	struct store_settings *s = &config_of(ps)->store;
	int i, err = 0;

	if (argc < 3 || strcmp(argv[1], "etcd") || (argc - 3) % 2)
		return config_err(ps,
				  "store: expects etcd URL[,URL...] [prefix P] [ca FILE cert FILE "
				  "key FILE] [node NAME]");
	for (char *u = argv[2]; u; u = strchr(u, ',') ? strchr(u, ',') + 1 : NULL)
		if (strncmp(u, "http://", 7) && strncmp(u, "https://", 8))
			return config_err(ps, "store: '%.64s' is not an http:// or https:// URL",
					  u);
	err = store_copy(ps, s->endpoints, sizeof(s->endpoints), "endpoints", argv[2]);
	for (i = 3; i + 1 < argc && !err; i += 2) {
		const char *k = argv[i], *v = argv[i + 1];

		if (!strcmp(k, "prefix"))
			err = store_prefix(ps, s, v);
		else if (!strcmp(k, "ca"))
			err = store_copy(ps, s->ca, sizeof(s->ca), k, v);
		else if (!strcmp(k, "cert"))
			err = store_copy(ps, s->cert, sizeof(s->cert), k, v);
		else if (!strcmp(k, "key"))
			err = store_copy(ps, s->key, sizeof(s->key), k, v);
		else if (!strcmp(k, "node"))
			err = store_copy(ps, s->node, sizeof(s->node), k, v);
		else
			return config_err(
				ps, "store: unknown option '%s' (prefix, ca, cert, key, node)", k);
	}
	if (!err && !s->cert[0] != !s->key[0])
		return config_err(ps, "store: cert and key go together");
	return err;
}

static const struct config_directive store_directives[] = {
	{"store", NULL, do_store},
};

CONFIG_DIRECTIVES(store, store_directives)
