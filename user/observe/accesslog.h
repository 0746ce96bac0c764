/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The access log ("access-log PATH|stderr [json] [sample N] [query]"): one line per request,
 * whoever carried it, written with one write() each so the workers' lines never interleave.
 * SIGUSR1 reopens the file (logrotate).
 */
#ifndef STRG_ACCESSLOG_H
#define STRG_ACCESSLOG_H

#include <stdbool.h>
#include <stdint.h>

#include "core/config.h"

/* A request id: 32 hex digits, or what the client sent in X-Request-Id (at most this long). */
#define ALOG_ID_MAX 64
/* Bytes of the path kept for a line. */
#define ALOG_PATH_MAX 256
/* Bytes of the Host and User-Agent fields kept for a line. */
#define ALOG_HOST_MAX  64
#define ALOG_AGENT_MAX 128

struct alog_entry {
	const char *client; /* address text */
	const char *method; /* "-" when unknown */
	const char *path;   /* without the query; "-" when unknown */
	size_t path_len;
	const char *route;	    /* the route's text, or NULL (no route) */
	const char *pool, *backend; /* NULL when none */
	unsigned status;	    /* 0: no response head */
	uint64_t bytes_in, bytes_out;
	const char *host, *agent; /* Host and User-Agent; NULL: none ("-") */
	size_t host_len, agent_len;
	const char *query; /* after '?', logged with the "query" option; NULL: none */
	size_t query_len;
	/*
	 * head_us: from the request head parsed to the response head (what stats' latency counts
	 * from the request's last byte); duration_us: from the request head parsed to the
	 * exchange's end (the response's last byte). 0 head_us: no response head.
	 */
	uint64_t head_us, duration_us;
	bool kernel;	/* the kernel carried it */
	const char *id; /* request id */
};

/* Open the log the configuration names (none: logging off). 0 or -errno (message logged). */
int alog_open(const struct config *cfg);
void alog_close(void);
/* Whether this request is logged (off, or not in the sample: false). Cheap; any thread. */
bool alog_wants(void);
/* The sample rate: 0 off, else one request in N. */
unsigned alog_sample(void);
/* Write one line. Any thread. */
void alog_write(const struct alog_entry *e);
/* SIGUSR1: reopen the file at its path (the old one may have been renamed). 0 or -errno. */
int alog_reopen(void);
/* A fresh request id (32 hex digits) in out (ALOG_ID_MAX bytes). */
void alog_new_id(char *out);

#endif
