/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A client of etcd v3's JSON gateway (/v3/...) on libcurl and jansson: prefix reads at a
 * revision, transactions guarded by mod revisions, leases, and the streamed watch. Several
 * endpoints: a request that cannot reach one member, or that a member without a leader cannot
 * serve, goes to the next. One struct etcd is used by one thread at a time.
 */
#ifndef STRG_FLEET_ETCD_H
#define STRG_FLEET_ETCD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ETCD_ENDPOINTS_MAX 8
#define ETCD_ERR_MAX	   256

struct etcd_opts {
	const char *endpoints;	     /* "http://h:p[,https://h:p...]" */
	const char *ca, *cert, *key; /* TLS files (NULL: none; cert and key go together) */
	uint32_t connect_timeout_ms; /* per connection attempt; 0: 1000 */
	uint32_t request_timeout_ms; /* a whole unary request; 0: 5000 */
	uint32_t page;		     /* keys per range request when reading a prefix; 0: 1000 */
};

/* What every answer carries. */
struct etcd_header {
	uint64_t cluster_id, member_id;
	int64_t revision; /* the store's revision when the member answered */
	int64_t raft_term;
};

struct etcd_kv {
	char *key;
	char *value; /* NUL-terminated beside value_len (values may hold NUL bytes) */
	size_t value_len;
	int64_t create_revision, mod_revision, version, lease;
};

struct etcd_range {
	struct etcd_header hdr;
	struct etcd_kv *kvs; /* in key order */
	size_t n;
};

enum etcd_op_kind {
	ETCD_PUT = 1,
	ETCD_DELETE = 2,
};

struct etcd_op {
	enum etcd_op_kind kind;
	const char *key;
	const char *value; /* ETCD_PUT */
	size_t value_len;
	int64_t lease; /* ETCD_PUT: 0 = none */
};

/*
 * "key's mod revision is mod_revision" (0: the key does not exist), or with less "is below
 * mod_revision" (the key did not change since mod_revision - 1); with prefix, of every key
 * under key (0: there is none).
 */
struct etcd_cmp {
	const char *key;
	int64_t mod_revision;
	bool prefix;
	bool less;
};

struct etcd_event {
	bool deleted;
	struct etcd_kv kv; /* a deletion has the key and its mod_revision only */
};

/* One message of a watch stream. */
struct etcd_watch_msg {
	struct etcd_header hdr;
	bool created;		  /* the watch is set up */
	bool canceled;		  /* the server ended it (compacted, or cancel_reason) */
	bool progress;		  /* no events: every event up to hdr.revision was sent */
	int64_t compact_revision; /* canceled because the start revision was compacted */
	const char *cancel_reason;
	struct etcd_event *events; /* ascending revisions; a revision's events all in one message */
	size_t n;
};

/* Return 0 to go on watching, non-zero to end the watch (etcd_watch returns it). */
typedef int (*etcd_watch_fn)(void *arg, const struct etcd_watch_msg *m);

struct etcd;

/* NULL with errno set (EINVAL: no endpoint, or more than ETCD_ENDPOINTS_MAX). */
struct etcd *etcd_open(const struct etcd_opts *o);
void etcd_close(struct etcd *e);
/* Why the last call failed, in words ("" after a success). */
const char *etcd_error(const struct etcd *e);
/* The endpoint the next request goes to first. */
const char *etcd_endpoint(const struct etcd *e);

/*
 * Every key under prefix at revision (0: the latest), read in pages at one revision so that the
 * result is one consistent view whatever its size; out->hdr.revision is the revision read.
 * 0 or -errno (-ERANGE: revision compacted).
 */
int etcd_range_prefix(struct etcd *e, const char *prefix, int64_t revision, struct etcd_range *out);
/* One key (out->n 0 or 1). */
int etcd_get(struct etcd *e, const char *key, struct etcd_range *out);
void etcd_range_free(struct etcd_range *r);
/*
 * If every compare holds, do every op in one revision (hdr->revision is then that revision).
 * 0, -ECANCELED when a compare failed (nothing done), or -errno.
 */
int etcd_txn(struct etcd *e, const struct etcd_cmp *cmp, size_t ncmp, const struct etcd_op *ops,
	     size_t nops, struct etcd_header *hdr);
int etcd_put(struct etcd *e, const char *key, const char *value, size_t len, int64_t lease);
int etcd_delete(struct etcd *e, const char *key);
/* A lease of ttl_s seconds. 0 or -errno. */
int etcd_lease_grant(struct etcd *e, int64_t ttl_s, int64_t *id);
/* Renew it: *ttl_s is its TTL again. -ENOENT when it expired (or never was). */
int etcd_lease_keepalive(struct etcd *e, int64_t id, int64_t *ttl_s);
int etcd_lease_revoke(struct etcd *e, int64_t id);
/* Discard the history before revision. */
int etcd_compact(struct etcd *e, int64_t revision);
/* The member's header (the cluster id) and its leader's id (0: none). */
int etcd_status(struct etcd *e, struct etcd_header *hdr, uint64_t *leader);

/*
 * Watch every key under prefix from start_revision, asking for progress notifications, and
 * hand each message to fn until fn returns non-zero (returned), etcd_watch_stop() is called
 * (-EINTR), nothing came for idle_ms (-ETIMEDOUT; 0: no limit) or the stream broke
 * (-ECONNRESET, -ECONNREFUSED, ...). Only a member with a leader serves the watch. A failed
 * attempt moves to the next endpoint for the next call.
 */
int etcd_watch(struct etcd *e, const char *prefix, int64_t start_revision, uint32_t idle_ms,
	       etcd_watch_fn fn, void *arg);
/* Make a running etcd_watch() of e return (from any thread). */
void etcd_watch_stop(struct etcd *e);
/* A new etcd_watch() may run after a stop. */
void etcd_watch_rearm(struct etcd *e);

/* Base64 of etcd's JSON: len bytes into a NUL-terminated string (caller frees), NULL. */
char *etcd_b64_encode(const void *data, size_t len);
/* Decoded bytes (NUL-terminated, *len without it), or NULL on malformed text or no memory. */
char *etcd_b64_decode(const char *text, size_t *len);

#endif
