// SPDX-License-Identifier: GPL-2.0-only
/*
 * etcd v3 over its JSON gateway: each call is one HTTP POST of a JSON body to /v3/..., its keys
 * and values in base64 and its 64-bit numbers as strings (proto3's JSON mapping). Unary calls try
 * each endpoint in turn from the one that answered last; the watch is one streamed response, a
 * JSON object per line.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "fleet/etcd.h"

struct etcd {
	CURL *curl; /* reused: keeps the connection to the member open */
	char *endpoints[ETCD_ENDPOINTS_MAX];
	unsigned nendpoints, current;
	char *ca, *cert, *key;
	uint32_t connect_ms, request_ms, page;
	atomic_bool stop; /* etcd_watch_stop() */
	char err[ETCD_ERR_MAX];
};

/* An HTTP body being received. */
struct buf {
	char *p;
	size_t len, cap;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void seterr(struct etcd *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void seterr(struct etcd *e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(e->err, sizeof(e->err), fmt, ap);
	va_end(ap);
}

/* ---- base64 (RFC 4648, with padding), as proto3 JSON writes bytes ---- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *etcd_b64_encode(const void *data, size_t len)
{
	const unsigned char *s = data;
	char *out = malloc((len + 2) / 3 * 4 + 1), *o = out;

	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16;

		if (i + 1 < len)
			v |= (uint32_t)s[i + 1] << 8;
		if (i + 2 < len)
			v |= s[i + 2];
		*o++ = b64[v >> 18];
		*o++ = b64[(v >> 12) & 63];
		*o++ = i + 1 < len ? b64[(v >> 6) & 63] : '=';
		*o++ = i + 2 < len ? b64[v & 63] : '=';
	}
	*o = '\0';
	return out;
}

static int b64_val(char c)
{
	const char *p = c ? strchr(b64, c) : NULL;

	/* The URL-safe alphabet too: some encoders use it. */
	if (!p && c == '-')
		return 62;
	if (!p && c == '_')
		return 63;
	return p ? (int)(p - b64) : -1;
}

char *etcd_b64_decode(const char *text, size_t *len)
{
	size_t n = strlen(text), o = 0;
	char *out = malloc(n / 4 * 3 + 4);
	uint32_t acc = 0;
	int bits = 0;

	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		int v;

		if (text[i] == '=')
			break;
		v = b64_val(text[i]);
		if (v < 0) {
			free(out);
			return NULL;
		}
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	out[o] = '\0';
	*len = o;
	return out;
}

/* ---- set-up ---- */

static char *dup_opt(const char *s)
{
	return s && *s ? strdup(s) : NULL;
}

static int split_endpoints(struct etcd *e, const char *list)
{
	char *copy = strdup(list ? list : ""), *save = NULL;

	if (!copy)
		return -ENOMEM;
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		size_t n = strlen(t);

		if (e->nendpoints == ETCD_ENDPOINTS_MAX) {
			free(copy);
			return -EINVAL;
		}
		while (n && t[n - 1] == '/')
			t[--n] = '\0';
		e->endpoints[e->nendpoints] = strdup(t);
		if (!e->endpoints[e->nendpoints++]) {
			free(copy);
			return -ENOMEM;
		}
	}
	free(copy);
	return e->nendpoints ? 0 : -EINVAL;
}

struct etcd *etcd_open(const struct etcd_opts *o)
{
	struct etcd *e;
	int err;

	pthread_once(&curl_once, curl_init);
	if (curl_init_rc != CURLE_OK) {
		errno = ENOMEM;
		return NULL;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->connect_ms = o->connect_timeout_ms ? o->connect_timeout_ms : 1000;
	e->request_ms = o->request_timeout_ms ? o->request_timeout_ms : 5000;
	e->page = o->page ? o->page : 1000;
	e->ca = dup_opt(o->ca);
	e->cert = dup_opt(o->cert);
	e->key = dup_opt(o->key);
	e->curl = curl_easy_init();
	err = split_endpoints(e, o->endpoints);
	if (!err && (!e->curl || (o->ca && *o->ca && !e->ca) || (o->cert && *o->cert && !e->cert) ||
		     (o->key && *o->key && !e->key)))
		err = -ENOMEM;
	if (err) {
		etcd_close(e);
		errno = -err;
		return NULL;
	}
	return e;
}

void etcd_close(struct etcd *e)
{
	if (!e)
		return;
	if (e->curl)
		curl_easy_cleanup(e->curl);
	for (unsigned i = 0; i < e->nendpoints; i++)
		free(e->endpoints[i]);
	free(e->ca);
	free(e->cert);
	free(e->key);
	free(e);
}

const char *etcd_error(const struct etcd *e)
{
	return e->err;
}

const char *etcd_endpoint(const struct etcd *e)
{
	return e->endpoints[e->current];
}

/* ---- HTTP ---- */

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct buf *b = arg;
	size_t n = size * nmemb;

	if (b->len + n + 1 > b->cap) {
		size_t cap = (b->len + n + 1) * 2;
		char *p = realloc(b->p, cap);

		if (!p)
			return 0; /* curl fails the transfer: CURLE_WRITE_ERROR */
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
	return n;
}

static int on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	struct etcd *e = arg;

	(void)dt, (void)dn, (void)ut, (void)un;
	return atomic_load(&e->stop) ? 1 : 0;
}

/* Options every request shares: the URL, the body, TLS, time-outs. */
static void setup(struct etcd *e, unsigned ep, const char *path, const char *body,
		  struct curl_slist *hdrs)
{
	char url[512];

	snprintf(url, sizeof(url), "%s%s", e->endpoints[ep], path);
	curl_easy_reset(e->curl);
	curl_easy_setopt(e->curl, CURLOPT_URL, url);
	curl_easy_setopt(e->curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(e->curl, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(e->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)e->connect_ms);
	curl_easy_setopt(e->curl, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e->curl, CURLOPT_TCP_NODELAY, 1L);
	/* etcd_watch_stop() ends any request of e, not only a watch. */
	curl_easy_setopt(e->curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(e->curl, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(e->curl, CURLOPT_XFERINFODATA, e);
	if (e->ca)
		curl_easy_setopt(e->curl, CURLOPT_CAINFO, e->ca);
	if (e->cert)
		curl_easy_setopt(e->curl, CURLOPT_SSLCERT, e->cert);
	if (e->key)
		curl_easy_setopt(e->curl, CURLOPT_SSLKEY, e->key);
}

/* A transport failure as -errno: the ones worth another endpoint are all of these. */
static int curl_errno(CURLcode rc)
{
	switch (rc) {
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_COULDNT_RESOLVE_HOST:
		return -EHOSTUNREACH;
	case CURLE_WRITE_ERROR:
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	case CURLE_ABORTED_BY_CALLBACK:
		return -EINTR;
	default:
		return -ECONNRESET;
	}
}

static int64_t num_of(json_t *v)
{
	if (json_is_integer(v))
		return json_integer_value(v);
	if (json_is_string(v))
		return strtoll(json_string_value(v), NULL, 10);
	return 0;
}

static uint64_t unum_of(json_t *v)
{
	if (json_is_string(v))
		return strtoull(json_string_value(v), NULL, 10);
	return (uint64_t)num_of(v);
}

static void header_of(json_t *h, struct etcd_header *out)
{
	out->cluster_id = unum_of(json_object_get(h, "cluster_id"));
	out->member_id = unum_of(json_object_get(h, "member_id"));
	out->revision = num_of(json_object_get(h, "revision"));
	out->raft_term = num_of(json_object_get(h, "raft_term"));
}

/*
 * gRPC status codes the gateway passes on: unavailable (14), deadline (4) and "no leader" are
 * the member's trouble, another may serve; the rest are the request's.
 */
static int grpc_errno(int code, const char *msg)
{
	if (code == 14 || code == 4 || (msg && strstr(msg, "no leader")))
		return -EAGAIN;
	if (code == 11)
		return -ERANGE; /* out of range: the revision was compacted */
	if (code == 5)
		return -ENOENT;
	if (code == 3)
		return -EINVAL;
	if (code == 9)
		return -ECANCELED; /* failed precondition */
	return -EIO;
}

/* One POST to endpoint ep; *out is the answer's JSON. -EAGAIN: worth another endpoint. */
static int post_one(struct etcd *e, unsigned ep, const char *path, const char *body, json_t **out)
{
	struct buf b = {0};
	json_error_t jerr;
	long status = 0;
	CURLcode rc;
	json_t *j;
	int err;

	setup(e, ep, path, body, NULL);
	curl_easy_setopt(e->curl, CURLOPT_TIMEOUT_MS, (long)e->request_ms);
	curl_easy_setopt(e->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e->curl, CURLOPT_WRITEDATA, &b);
	rc = curl_easy_perform(e->curl);
	if (rc != CURLE_OK) {
		seterr(e, "%s: %s", e->endpoints[ep], curl_easy_strerror(rc));
		free(b.p);
		err = curl_errno(rc);
		return err == -ENOMEM ? err : -EAGAIN;
	}
	curl_easy_getinfo(e->curl, CURLINFO_RESPONSE_CODE, &status);
	j = b.p ? json_loadb(b.p, b.len, 0, &jerr) : NULL;
	free(b.p);
	if (!json_is_object(j)) {
		seterr(e, "%s%s: HTTP %ld, not a JSON answer", e->endpoints[ep], path, status);
		json_decref(j);
		return status >= 500 ? -EAGAIN : -EPROTO;
	}
	if (status != 200 || json_object_get(j, "error")) {
		const char *msg = json_string_value(json_object_get(j, "message"));

		if (!msg)
			msg = json_string_value(json_object_get(j, "error"));
		seterr(e, "%s%s: %s", e->endpoints[ep], path, msg ? msg : "error");
		err = grpc_errno((int)num_of(json_object_get(j, "code")), msg);
		json_decref(j);
		return err;
	}
	*out = j;
	return 0;
}

/* POST to each endpoint in turn from the current one, until one serves. Takes body. */
static int post(struct etcd *e, const char *path, char *body, json_t **out)
{
	int err = -ENOMEM;

	if (!body) {
		seterr(e, "out of memory");
		return -ENOMEM;
	}
	for (unsigned i = 0; i < e->nendpoints; i++) {
		unsigned ep = (e->current + i) % e->nendpoints;

		err = post_one(e, ep, path, body, out);
		if (err != -EAGAIN) {
			e->current = ep;
			break;
		}
	}
	free(body);
	if (err == -EAGAIN) {
		e->current = (e->current + 1) % e->nendpoints;
		err = -ECONNREFUSED; /* not one member serves */
	} else if (!err) {
		e->err[0] = '\0';
	}
	return err;
}

/* A JSON text of what fmt packs (json_pack), or NULL. */
static char *body_of(json_t *j)
{
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;

	json_decref(j);
	return s;
}

static json_t *b64_json(const char *data, size_t len)
{
	char *s = etcd_b64_encode(data, len);
	json_t *j = s ? json_string(s) : NULL;

	free(s);
	return j;
}

static json_t *i64_json(int64_t v)
{
	char s[24];

	snprintf(s, sizeof(s), "%" PRId64, v);
	return json_string(s);
}

/* ---- kv ---- */

static int kv_of(json_t *j, struct etcd_kv *kv)
{
	const char *k = json_string_value(json_object_get(j, "key"));
	const char *v = json_string_value(json_object_get(j, "value"));
	size_t n;

	memset(kv, 0, sizeof(*kv));
	kv->key = etcd_b64_decode(k ? k : "", &n);
	kv->value = etcd_b64_decode(v ? v : "", &kv->value_len);
	if (!kv->key || !kv->value)
		return -EPROTO;
	kv->create_revision = num_of(json_object_get(j, "create_revision"));
	kv->mod_revision = num_of(json_object_get(j, "mod_revision"));
	kv->version = num_of(json_object_get(j, "version"));
	kv->lease = num_of(json_object_get(j, "lease"));
	return 0;
}

static void kv_free(struct etcd_kv *kv)
{
	free(kv->key);
	free(kv->value);
}

void etcd_range_free(struct etcd_range *r)
{
	for (size_t i = 0; r && i < r->n; i++)
		kv_free(&r->kvs[i]);
	if (r) {
		free(r->kvs);
		r->kvs = NULL;
		r->n = 0;
	}
}

/* The end of a prefix's range: the prefix with its last byte that can grow grown by one. */
static char *prefix_end(const char *prefix, size_t *len)
{
	size_t n = strlen(prefix);
	char *end = malloc(n + 1);

	if (!end)
		return NULL;
	memcpy(end, prefix, n + 1);
	while (n && (unsigned char)end[n - 1] == 0xff)
		n--;
	if (!n) {
		end[0] = '\0'; /* every key: "\0" as range_end */
		*len = 1;
		return end;
	}
	end[n - 1]++;
	*len = n;
	return end;
}

/* Append the page's kvs to out. */
static int range_add(struct etcd_range *out, json_t *kvs)
{
	size_t n = json_array_size(kvs);
	struct etcd_kv *v;

	if (!n)
		return 0;
	v = realloc(out->kvs, (out->n + n) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	out->kvs = v;
	for (size_t i = 0; i < n; i++) {
		int err = kv_of(json_array_get(kvs, i), &out->kvs[out->n]);

		if (err) {
			kv_free(&out->kvs[out->n]);
			return err;
		}
		out->n++;
	}
	return 0;
}

/* One page: keys from `from` (len bytes) to end, at revision. *more when others follow. */
static int range_page(struct etcd *e, const char *from, size_t flen, const char *end, size_t elen,
		      int64_t revision, int64_t limit, struct etcd_range *out, bool *more)
{
	json_t *req = json_pack("{s:o, s:o, s:o, s:o}", "key", b64_json(from, flen), "range_end",
				b64_json(end, elen), "revision", i64_json(revision), "limit",
				i64_json(limit));
	json_t *ans = NULL;
	int err = post(e, "/v3/kv/range", body_of(req), &ans);

	if (err)
		return err;
	header_of(json_object_get(ans, "header"), &out->hdr);
	err = range_add(out, json_object_get(ans, "kvs"));
	*more = json_is_true(json_object_get(ans, "more"));
	json_decref(ans);
	if (err)
		seterr(e, "a range answer could not be read (%s)", strerror(-err));
	return err;
}

/* The key after the last one read: it with a NUL byte appended. */
static char *next_key(const struct etcd_range *r, size_t *len)
{
	const char *last = r->kvs[r->n - 1].key;
	size_t n = strlen(last);
	char *k = malloc(n + 1);

	if (k) {
		memcpy(k, last, n);
		k[n] = '\0';
		*len = n + 1;
	}
	return k;
}

int etcd_range_prefix(struct etcd *e, const char *prefix, int64_t revision, struct etcd_range *out)
{
	size_t elen, flen = strlen(prefix);
	char *end = prefix_end(prefix, &elen), *from = strdup(prefix);
	bool more = true;
	int err = 0;

	memset(out, 0, sizeof(*out));
	if (!end || !from)
		err = -ENOMEM;
	/* Pages after the first are read at the first's revision: one view of the prefix. */
	while (!err && more) {
		err = range_page(e, from, flen, end, elen, revision, e->page, out, &more);
		if (!err && !revision)
			revision = out->hdr.revision; /* the latest, when the first page was read */
		if (!err && more && out->n) {
			free(from);
			from = next_key(out, &flen);
			if (!from)
				err = -ENOMEM;
		} else {
			more = false;
		}
	}
	free(end);
	free(from);
	if (err)
		etcd_range_free(out);
	else
		out->hdr.revision = revision;
	return err;
}

int etcd_get(struct etcd *e, const char *key, struct etcd_range *out)
{
	json_t *req = json_pack("{s:o}", "key", b64_json(key, strlen(key)));
	json_t *ans = NULL;
	int err;

	memset(out, 0, sizeof(*out));
	err = post(e, "/v3/kv/range", body_of(req), &ans);
	if (err)
		return err;
	header_of(json_object_get(ans, "header"), &out->hdr);
	err = range_add(out, json_object_get(ans, "kvs"));
	json_decref(ans);
	if (err)
		etcd_range_free(out);
	return err;
}

static json_t *op_json(const struct etcd_op *op)
{
	json_t *o;

	if (op->kind == ETCD_DELETE)
		return json_pack("{s:{s:o}}", "request_delete_range", "key",
				 b64_json(op->key, strlen(op->key)));
	o = json_pack("{s:o, s:o}", "key", b64_json(op->key, strlen(op->key)), "value",
		      b64_json(op->value ? op->value : "", op->value_len));
	if (o && op->lease)
		json_object_set_new(o, "lease", i64_json(op->lease));
	return o ? json_pack("{s:o}", "request_put", o) : NULL;
}

static json_t *cmp_json(const struct etcd_cmp *cmp)
{
	json_t *o = json_pack("{s:o, s:s, s:s, s:o}", "key", b64_json(cmp->key, strlen(cmp->key)),
			      "target", "MOD", "result", cmp->less ? "LESS" : "EQUAL",
			      "mod_revision", i64_json(cmp->mod_revision));
	size_t elen;
	char *end = cmp->prefix ? prefix_end(cmp->key, &elen) : NULL;

	if (o && end)
		json_object_set_new(o, "range_end", b64_json(end, elen));
	free(end);
	return o;
}

static json_t *txn_json(const struct etcd_cmp *cmp, size_t ncmp, const struct etcd_op *ops,
			size_t nops)
{
	json_t *c = json_array(), *s = json_array();

	for (size_t i = 0; c && i < ncmp; i++)
		json_array_append_new(c, cmp_json(&cmp[i]));
	for (size_t i = 0; s && i < nops; i++)
		json_array_append_new(s, op_json(&ops[i]));
	if (!c || !s || json_array_size(c) != ncmp || json_array_size(s) != nops) {
		json_decref(c);
		json_decref(s);
		return NULL;
	}
	return json_pack("{s:o, s:o}", "compare", c, "success", s);
}

int etcd_txn(struct etcd *e, const struct etcd_cmp *cmp, size_t ncmp, const struct etcd_op *ops,
	     size_t nops, struct etcd_header *hdr)
{
	json_t *ans = NULL;
	struct etcd_header h;
	int err = post(e, "/v3/kv/txn", body_of(txn_json(cmp, ncmp, ops, nops)), &ans);

	if (err)
		return err;
	header_of(json_object_get(ans, "header"), hdr ? hdr : &h);
	/* proto3 leaves false out: no "succeeded" is a compare that failed. */
	if (!json_is_true(json_object_get(ans, "succeeded"))) {
		seterr(e, "a compare failed: a key changed meanwhile");
		err = -ECANCELED;
	}
	json_decref(ans);
	return err;
}

int etcd_put(struct etcd *e, const char *key, const char *value, size_t len, int64_t lease)
{
	struct etcd_op op = {
		.kind = ETCD_PUT, .key = key, .value = value, .value_len = len, .lease = lease};

	return etcd_txn(e, NULL, 0, &op, 1, NULL);
}

int etcd_delete(struct etcd *e, const char *key)
{
	struct etcd_op op = {.kind = ETCD_DELETE, .key = key};

	return etcd_txn(e, NULL, 0, &op, 1, NULL);
}

/* ---- leases, compaction, status ---- */

int etcd_lease_grant(struct etcd *e, int64_t ttl_s, int64_t *id)
{
	json_t *ans = NULL;
	int err = post(e, "/v3/lease/grant", body_of(json_pack("{s:o}", "TTL", i64_json(ttl_s))),
		       &ans);

	if (err)
		return err;
	*id = num_of(json_object_get(ans, "ID"));
	json_decref(ans);
	if (!*id) {
		seterr(e, "lease grant: no lease in the answer");
		return -EPROTO;
	}
	return 0;
}

int etcd_lease_keepalive(struct etcd *e, int64_t id, int64_t *ttl_s)
{
	json_t *ans = NULL, *res;
	int err = post(e, "/v3/lease/keepalive", body_of(json_pack("{s:o}", "ID", i64_json(id))),
		       &ans);

	if (err)
		return err;
	/* The gateway streams the answers of the bidirectional call: one here. */
	res = json_object_get(ans, "result");
	*ttl_s = num_of(json_object_get(res ? res : ans, "TTL"));
	json_decref(ans);
	if (*ttl_s <= 0) {
		seterr(e, "lease %" PRId64 " expired", id);
		return -ENOENT;
	}
	return 0;
}

int etcd_lease_revoke(struct etcd *e, int64_t id)
{
	json_t *ans = NULL;
	int err =
		post(e, "/v3/lease/revoke", body_of(json_pack("{s:o}", "ID", i64_json(id))), &ans);

	json_decref(ans);
	return err;
}

int etcd_compact(struct etcd *e, int64_t revision)
{
	json_t *ans = NULL;
	int err = post(
		e, "/v3/kv/compaction",
		body_of(json_pack("{s:o, s:b}", "revision", i64_json(revision), "physical", 1)),
		&ans);

	json_decref(ans);
	return err;
}

int etcd_status(struct etcd *e, struct etcd_header *hdr, uint64_t *leader)
{
	json_t *ans = NULL;
	int err = post(e, "/v3/maintenance/status", strdup("{}"), &ans);

	if (err)
		return err;
	header_of(json_object_get(ans, "header"), hdr);
	*leader = unum_of(json_object_get(ans, "leader"));
	json_decref(ans);
	return 0;
}

/* ---- watch ---- */

struct watch {
	struct etcd *e;
	struct buf line; /* the part of the stream not yet a whole line */
	etcd_watch_fn fn;
	void *arg;
	int ret; /* fn's non-zero return, or an error of ours */
};

static int events_of(json_t *evs, struct etcd_watch_msg *m)
{
	size_t n = json_array_size(evs);

	m->events = n ? calloc(n, sizeof(*m->events)) : NULL;
	if (n && !m->events)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		json_t *ev = json_array_get(evs, i);
		const char *type = json_string_value(json_object_get(ev, "type"));
		int err = kv_of(json_object_get(ev, "kv"), &m->events[i].kv);

		m->n++;
		if (err)
			return err;
		m->events[i].deleted = type && !strcmp(type, "DELETE");
	}
	return 0;
}

/* One line of the stream: {"result": WatchResponse} or {"error": ...}. */
static int watch_line(struct watch *w, const char *text, size_t len)
{
	struct etcd_watch_msg m = {0};
	json_error_t jerr;
	json_t *j = json_loadb(text, len, 0, &jerr), *res = json_object_get(j, "result");
	int ret;

	if (!json_is_object(res)) {
		json_t *msg = json_object_get(j, "error");

		if (json_is_object(msg))
			msg = json_object_get(msg, "message");
		seterr(w->e, "watch: %s",
		       json_is_string(msg) ? json_string_value(msg) : "not a watch answer");
		json_decref(j);
		return -EPROTO;
	}
	header_of(json_object_get(res, "header"), &m.hdr);
	m.created = json_is_true(json_object_get(res, "created"));
	m.canceled = json_is_true(json_object_get(res, "canceled"));
	m.compact_revision = num_of(json_object_get(res, "compact_revision"));
	m.cancel_reason = json_string_value(json_object_get(res, "cancel_reason"));
	ret = events_of(json_object_get(res, "events"), &m);
	m.progress = !m.created && !m.canceled && !m.n;
	if (!ret)
		ret = w->fn(w->arg, &m);
	for (size_t i = 0; i < m.n; i++)
		kv_free(&m.events[i].kv);
	free(m.events);
	json_decref(j);
	return ret;
}

static size_t on_stream(char *data, size_t size, size_t nmemb, void *arg)
{
	struct watch *w = arg;
	size_t n = size * nmemb, start = 0;
	char *nl;

	if (on_body(data, size, nmemb, &w->line) != n) {
		w->ret = -ENOMEM;
		return 0;
	}
	while ((nl = memchr(w->line.p + start, '\n', w->line.len - start))) {
		size_t len = (size_t)(nl - (w->line.p + start));

		if (len) {
			w->ret = watch_line(w, w->line.p + start, len);
			if (w->ret)
				return 0; /* ends the transfer */
		}
		start += len + 1;
	}
	memmove(w->line.p, w->line.p + start, w->line.len - start);
	w->line.len -= start;
	return n;
}

static char *watch_body(const char *prefix, int64_t start_revision)
{
	size_t elen;
	char *end = prefix_end(prefix, &elen);
	json_t *req;

	if (!end)
		return NULL;
	req = json_pack("{s:{s:o, s:o, s:o, s:b}}", "create_request", "key",
			b64_json(prefix, strlen(prefix)), "range_end", b64_json(end, elen),
			"start_revision", i64_json(start_revision), "progress_notify", 1);
	free(end);
	return body_of(req);
}

int etcd_watch(struct etcd *e, const char *prefix, int64_t start_revision, uint32_t idle_ms,
	       etcd_watch_fn fn, void *arg)
{
	struct watch w = {.e = e, .fn = fn, .arg = arg};
	/* A member cut off from its leader ends the watch instead of going silent. */
	struct curl_slist *hdrs = curl_slist_append(NULL, "Grpc-Metadata-hasleader: true");
	char *body = watch_body(prefix, start_revision);
	CURLcode rc;

	if (!hdrs || !body) {
		curl_slist_free_all(hdrs);
		free(body);
		return -ENOMEM;
	}
	setup(e, e->current, "/v3/watch", body, hdrs);
	curl_easy_setopt(e->curl, CURLOPT_WRITEFUNCTION, on_stream);
	curl_easy_setopt(e->curl, CURLOPT_WRITEDATA, &w);
	if (idle_ms) {
		curl_easy_setopt(e->curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
		curl_easy_setopt(e->curl, CURLOPT_LOW_SPEED_TIME, (long)((idle_ms + 999) / 1000));
	}
	rc = curl_easy_perform(e->curl);
	curl_slist_free_all(hdrs);
	free(body);
	free(w.line.p);
	if (w.ret) {
		if (w.ret < 0 && w.ret != -EPROTO)
			seterr(e, "watch: %s", strerror(-w.ret));
		return w.ret;
	}
	if (atomic_load(&e->stop)) {
		/* Stopped because the member may be cut off: the next try goes to another. */
		seterr(e, "%s: the watch was stopped", e->endpoints[e->current]);
		e->current = (e->current + 1) % e->nendpoints;
		return -EINTR;
	}
	if (rc == CURLE_OK) {
		seterr(e, "%s: the watch stream ended", e->endpoints[e->current]);
		rc = CURLE_RECV_ERROR;
	} else {
		seterr(e, "%s: watch: %s", e->endpoints[e->current], curl_easy_strerror(rc));
	}
	e->current = (e->current + 1) % e->nendpoints;
	return curl_errno(rc);
}

void etcd_watch_stop(struct etcd *e)
{
	atomic_store(&e->stop, true);
}

void etcd_watch_rearm(struct etcd *e)
{
	atomic_store(&e->stop, false);
}
