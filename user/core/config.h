/* SPDX-License-Identifier: GPL-2.0-only */
/* strgd configuration file: line oriented, '#' comments, errors reported as file:line: message. */
#ifndef STRG_CONFIG_H
#define STRG_CONFIG_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/guardcfg.h"
#include "core/http.h"
#include "core/pool.h"
#include "core/route.h"

/* Where the control socket and the state file are when the configuration does not say. */
#define CONFIG_CONTROL_DEFAULT "/run/strg/strgd.sock"
#define CONFIG_STATE_DEFAULT   "/var/lib/strg/state"

/* What makes a user's bucket for "percent" routes. */
enum sticky_kind {
	STICKY_ADDRESS = 0, /* the client address (the default) */
	STICKY_COOKIE = 1,  /* a cookie's value; requests without it fall back to the address */
	STICKY_HEADER = 2,  /* a header's value; likewise */
};

/* When strgd hands connections to the kernel fast path. */
enum splice_mode {
	SPLICE_AUTO = 0,   /* the default: user space carries busy connections (fastest per
			    * request here), idle keep-alive ones go to the kernel (README) */
	SPLICE_NEVER = 1,  /* user space carries every request */
	SPLICE_ALWAYS = 2, /* every connection, after its first request */
};

/* "store etcd URL[,URL...] [prefix P] [ca F cert F key F] [node N]": the fleet's shared table. */
struct store_settings {
	char endpoints[512]; /* "" = no store: the table is this host's alone */
	char prefix[128];    /* every key of the fleet below it, ending in '/'; "/strg/default/" */
	char ca[256], cert[256], key[256]; /* TLS files ("" none) */
	char node[64];			   /* this host's name in nodes/ (default: its host name) */
};

struct config {
	struct sockaddr_storage listen;
	socklen_t listen_len;
	struct sockaddr_storage metrics; /* the metrics listener (/metrics, /stats.json, /) */
	socklen_t metrics_len;		 /* 0: none */
	unsigned npools;
	struct pool pools[POOL_MAX];
	struct route_table *routes;
	struct http_limits limits;
	uint32_t connect_timeout_ms; /* backend connect; default 3000 */
	uint32_t
		server_timeout_ms; /* backend silent while a response is due; default 30000 → 504 */
	uint32_t client_timeout_ms; /* client silent mid-request; default 30000 → 408 */
	uint32_t idle_timeout_ms;   /* keep-alive idle between requests; default 60000 */
	uint32_t head_timeout_ms; /* a whole request head, however it dribbles in; 10000 → 408 */
	uint32_t backend_idle_ms; /* an unused backend connection is closed; default 5000 */
	uint32_t
		body_timeout_ms; /* a request body gets this, plus 1 s per body-rate bytes; 20000 */
	uint32_t body_rate;	 /* bytes/s a slow body must keep up (0: no body deadline); 500 */
	uint32_t down_hold_ms;	 /* how long a refused backend is skipped; default 2000 */
	enum splice_mode splice;
	unsigned workers;	    /* event loops (threads); 0 = one per CPU strgd may run on */
	uint64_t gen;		    /* generation of this configuration (a running strgd's) */
	uint32_t kernel_routes_max; /* path prefixes the kernel's route table may hold */
	uint32_t per_source_max;    /* open client connections per source address (0: no limit) */
	uint32_t body_buffer; /* chunked bodies up to this are checked whole before the head goes */
	uint32_t splice_body; /* response bodies with this much left go through a pipe (0: never) */
	char control[108];    /* control socket path; default /run/strg/strgd.sock */
	int control_read_gid; /* group that may reach the socket for read verbs; -1 = root only */
	int control_change_gid; /* group whose members may change, like root; -1 = root only */
	char state[256];	/* route table saved on every change; default /var/lib/strg/state */
	char tester_header[64]; /* pins a request of a "testers" route to a pool; X-Strg-Pool */
	char notify[256];	/* "notify exec PATH": the command run for each event ("" none) */
	uint32_t notify_coalesce_ms; /* one run per subject this often at most; 5000 (0: each) */
	char access_log[256];	     /* access log path, "stderr", or "" (off, the default) */
	bool access_log_json;	     /* one JSON object per line instead of text */
	unsigned access_log_sample;  /* log one request in N (1: every one) */
	bool access_log_query;	     /* the query string too (off: it may carry secrets) */
	enum sticky_kind sticky;
	char sticky_name[64];
	struct guard_settings guard; /* the XDP guard (xdp, deny, allow, limit syn|packets) */
	struct store_settings store;
	int64_t store_revision; /* the store's revision the table is of (0: not from a store) */
};

/*
 * Parse configuration text (name is used in messages). On error, returns -EINVAL and writes
 * "name:line: message" into err. cfg must be freed with config_free() either way.
 */
int config_parse(struct config *cfg, const char *name, const char *text, char *err, size_t errlen);
/* The same for text strgd saved itself (the state file's applied configuration): read leniently. */
int config_parse_saved(struct config *cfg, const char *name, const char *text, char *err,
		       size_t errlen);
/* "host:port" or "[v6]:port" of an address, in buf. */
const char *config_addr_text(const struct sockaddr_storage *ss, char *buf, size_t len);
/* Read and parse a file; I/O errors are reported as "file: strerror". */
int config_load(struct config *cfg, const char *path, char *err, size_t errlen);
void config_free(struct config *cfg);
/* A copy of cfg's pools and routes (and settings) on the heap, or NULL with errno set. */
struct config *config_clone(const struct config *cfg);
/* config_free() and free() of a config_clone(). */
void config_destroy(struct config *cfg);
/*
 * Parse the words of a route as the config line has them (argv[0] is the word before them,
 * e.g. "route"), for strgctl's "route set". -EINVAL with the message in err.
 */
int config_route_words(struct config *cfg, int argc, char **argv, struct route_spec *spec,
		       char *err, size_t errlen);
/* The same for a route the state file saved: what an older strgd accepted is read as it was. */
int config_saved_route_words(struct config *cfg, int argc, char **argv, struct route_spec *spec,
			     char *err, size_t errlen);
/*
 * One configuration line's words (argv[0] is the directive), applied to cfg as the file would
 * (for strgctl and the state file). -EINVAL with the message alone (no file:line) in err.
 */
int config_words(struct config *cfg, int argc, char **argv, char *err, size_t errlen);
/* Index of the pool with that name, or -1. */
int config_pool_find(const struct config *cfg, const char *name);

/*
 * Directives. Each module registers the ones it owns from its own file (CONFIG_DIRECTIVES), so
 * the parser knows none by name: the guard's in guardlines.c, health's in healthlines.c.
 */
struct config_parser; /* a file, the state file, or a command being read */

struct config_directive {
	const char *name; /* the line's first word */
	const char *kind; /* and its second (limit syn), or NULL: whatever follows */
	int (*parse)(struct config_parser *ps, int argc, char **argv); /* argv[0] is name */
};

/* A module's directives, linked into the parser's list before main() runs. */
struct config_directives {
	const struct config_directive *v;
	size_t n;
	struct config_directives *next;
};

void config_register(struct config_directives *d);
/*
 * Every directive the parser takes, one a line: its first word, then its second when it has
 * kinds ("limit syn", "timeout idle"). What the docs test checks strg.conf(5) against.
 */
void config_directives_print(FILE *f);

#define CONFIG_DIRECTIVES(tag, table)                                                              \
	static struct config_directives tag##_registration = {table,                               \
							      sizeof(table) / sizeof(table[0])};   \
	__attribute__((constructor)) static void tag##_register(void)                              \
	{                                                                                          \
		config_register(&tag##_registration);                                              \
	}

/* For a directive's parse function: the configuration being read. */
struct config *config_of(struct config_parser *ps);
/* The error "file:line: message" (the message alone for a command); returns -EINVAL. */
int config_err(struct config_parser *ps, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* The pool a directive names, or NULL after saying so (what: the directive). */
struct pool *config_named_pool(struct config_parser *ps, const char *what, const char *name);

#endif
