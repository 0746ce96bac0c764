// SPDX-License-Identifier: GPL-2.0-only
/* Two answers to one request compared, field by field (shadowcmp.h). */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <jansson.h>

#include "core/shadowspec.h"
#include "observe/shadowcmp.h"

#define FIELDS_MAX 128 /* header lines looked at per answer */
#define DEPTH_MAX  64  /* JSON nesting compared; deeper is one difference */

/* One header line of a head: its name and value (without OWS). */
struct hfield {
	const char *name, *value;
	size_t nlen, vlen;
};

bool shadowcmp_always_differs(const char *name, size_t len)
{
	/* Per answer or per hop: they say nothing of what the service answered. */
	static const char list[] =
		"date,server,set-cookie,content-length,transfer-encoding,connection,keep-alive,"
		"via,age,expires,x-request-id,request-id,x-correlation-id,x-amzn-requestid,"
		"x-amz-request-id,x-trace-id,traceparent,tracestate,x-b3-traceid,x-b3-spanid,"
		"x-b3-parentspanid,x-b3-sampled,x-runtime,x-envoy-upstream-service-time";

	return shadowspec_listed(list, name, len);
}

bool shadowcmp_secret(const char *name, size_t len)
{
	return shadowspec_listed("authorization,cookie,set-cookie,proxy-authorization", name, len);
}

/* A new difference; NULL when the result is full (it is then only counted). */
static struct shadowcmp_diff *add(struct shadowcmp_result *r, enum shadowcmp_kind kind,
				  const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static struct shadowcmp_diff *add(struct shadowcmp_result *r, enum shadowcmp_kind kind,
				  const char *fmt, ...)
{
	struct shadowcmp_diff *d;
	va_list ap;

	if (r->n == SHADOWCMP_DIFFS_MAX) {
		r->more++;
		return NULL;
	}
	d = &r->d[r->n++];
	d->kind = kind;
	va_start(ap, fmt);
	vsnprintf(d->field, sizeof(d->field), fmt, ap);
	va_end(ap);
	strcpy(d->a, "(none)");
	strcpy(d->b, "(none)");
	return d;
}

/* Bytes as a value to show: printable ASCII kept, the rest as '.', cut to the value's size. */
static void show(char *out, const char *p, size_t len)
{
	size_t n = len < SHADOWCMP_VALUE_MAX - 1 ? len : SHADOWCMP_VALUE_MAX - 1;

	for (size_t i = 0; i < n; i++)
		out[i] = isprint((unsigned char)p[i]) ? p[i] : '.';
	out[n] = '\0';
}

/* ---- status and headers ---- */

static unsigned fields_of(const struct httpcap *c, struct hfield *f)
{
	const char *p = c->head, *end = c->head + c->head_len, *eol, *colon;
	unsigned n = 0;

	p = p ? memchr(p, '\n', c->head_len) : NULL; /* past the status line */
	for (; p && ++p < end && n < FIELDS_MAX; p = eol) {
		eol = memchr(p, '\n', (size_t)(end - p));
		colon = eol ? memchr(p, ':', (size_t)(eol - p)) : NULL;
		if (!colon)
			break;
		f[n].name = p;
		f[n].nlen = (size_t)(colon - p);
		for (p = colon + 1; p < eol && (*p == ' ' || *p == '\t'); p++)
			;
		f[n].value = p;
		f[n].vlen = (size_t)(eol - p);
		while (f[n].vlen && isspace((unsigned char)p[f[n].vlen - 1]))
			f[n].vlen--;
		n++;
	}
	return n;
}

/* The hash of every value of name in f (in order), and its first value; 0 when absent. */
static uint64_t values_of(const struct hfield *f, unsigned n, const struct hfield *name,
			  const struct hfield **first)
{
	uint64_t h = 0xcbf29ce484222325ull;
	bool found = false;

	*first = NULL;
	for (unsigned i = 0; i < n; i++) {
		if (f[i].nlen != name->nlen || strncasecmp(f[i].name, name->name, name->nlen))
			continue;
		*first = *first ? *first : &f[i];
		found = true;
		for (size_t k = 0; k < f[i].vlen; k++)
			h = (h ^ (uint8_t)f[i].value[k]) * 0x100000001b3ull;
		h = (h ^ ',') * 0x100000001b3ull;
	}
	return found ? h | 1 : 0;
}

static void header_value(char *out, const struct hfield *f)
{
	if (!f)
		strcpy(out, "(none)");
	else if (shadowcmp_secret(f->name, f->nlen))
		strcpy(out, "(redacted)");
	else
		show(out, f->value, f->vlen);
}

/* Every header name of a (names of b too, when from_b) that is compared and differs. */
static void headers_one_way(const struct shadowcmp_opts *o, const struct hfield *fa, unsigned na,
			    const struct hfield *fb, unsigned nb, bool from_b,
			    struct shadowcmp_result *r)
{
	const struct hfield *first_a, *first_b, *dup;
	struct shadowcmp_diff *d;
	char name[64];

	for (unsigned i = 0; i < na; i++) {
		const struct hfield *h = &fa[i];

		if (shadowcmp_always_differs(h->name, h->nlen) ||
		    shadowspec_listed(o->ignore_headers, h->name, h->nlen) ||
		    values_of(fa, i, h, &dup)) /* a repeat: its first line counted it */
			continue;
		uint64_t va = values_of(fa, na, h, &first_a), vb = values_of(fb, nb, h, &first_b);

		if (va == vb || (from_b && vb))
			continue;
		snprintf(name, sizeof(name), "%.*s", (int)h->nlen, h->name);
		for (char *p = name; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		d = add(r, SHADOWCMP_HEADER, "header %s", name);
		if (d) {
			header_value(from_b ? d->b : d->a, first_a);
			header_value(from_b ? d->a : d->b, first_b);
		}
	}
}

static void compare_headers(const struct shadowcmp_opts *o, const struct httpcap *a,
			    const struct httpcap *b, struct shadowcmp_result *r)
{
	struct hfield fa[FIELDS_MAX], fb[FIELDS_MAX];
	unsigned na = fields_of(a, fa), nb = fields_of(b, fb);

	headers_one_way(o, fa, na, fb, nb, false, r);
	headers_one_way(o, fb, nb, fa, na, true, r); /* names only b has */
}

/* ---- bodies ---- */

/* Whether the path (without "$.") is one of the ignored or below one. */
static bool json_ignored(const char *ignore, const char *path)
{
	const char *s = ignore, *end;

	if (strncmp(path, "$.", 2))
		return false;
	path += 2;
	for (; *s; s = *end ? end + 1 : end) {
		size_t n;

		end = strchrnul(s, ',');
		n = (size_t)(end - s);
		if (!strncmp(path, s, n) && (!path[n] || path[n] == '.' || path[n] == '['))
			return true;
	}
	return false;
}

static void json_value(char *out, const json_t *v)
{
	char *text = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;

	if (!text) {
		strcpy(out, "(none)");
		return;
	}
	show(out, text, strlen(text));
	free(text);
}

static void json_diff(struct shadowcmp_result *r, const char *path, const json_t *a,
		      const json_t *b)
{
	struct shadowcmp_diff *d = add(r, SHADOWCMP_BODY, "body %s", path);

	if (!d)
		return;
	if (json_is_array(a) && json_is_array(b) && json_array_size(a) != json_array_size(b)) {
		snprintf(d->a, sizeof(d->a), "%zu items", json_array_size(a));
		snprintf(d->b, sizeof(d->b), "%zu items", json_array_size(b));
		return;
	}
	json_value(d->a, a);
	json_value(d->b, b);
}

static void json_walk(const struct shadowcmp_opts *o, struct shadowcmp_result *r, char *path,
		      size_t len, const json_t *a, const json_t *b, unsigned depth);

/* Members of a object a missing in b (or differing, when both: only from a's side). */
static void json_members(const struct shadowcmp_opts *o, struct shadowcmp_result *r, char *path,
			 size_t len, const json_t *a, const json_t *b, bool a_first, unsigned depth)
{
	const char *key;
	json_t *va;

	json_object_foreach((json_t *)a, key, va)
	{
		json_t *vb = json_object_get(b, key);

		snprintf(path + len, SHADOWCMP_FIELD_MAX - len, ".%s", key);
		if (json_ignored(o->ignore_json, path))
			continue;
		if (!vb)
			json_diff(r, path, a_first ? va : NULL, a_first ? NULL : va);
		else if (a_first)
			json_walk(o, r, path, strlen(path), va, vb, depth + 1);
	}
	path[len] = '\0';
}

static void json_walk(const struct shadowcmp_opts *o, struct shadowcmp_result *r, char *path,
		      size_t len, const json_t *a, const json_t *b, unsigned depth)
{
	size_t n;

	if (json_ignored(o->ignore_json, path))
		return;
	if (json_typeof(a) != json_typeof(b) ||
	    (depth > DEPTH_MAX && !json_equal((json_t *)a, (json_t *)b))) {
		json_diff(r, path, a, b);
		return;
	}
	if (depth > DEPTH_MAX)
		return;
	if (json_is_object(a)) {
		json_members(o, r, path, len, a, b, true, depth);
		json_members(o, r, path, len, b, a, false, depth);
		return;
	}
	if (!json_is_array(a)) {
		if (!json_equal((json_t *)a, (json_t *)b))
			json_diff(r, path, a, b);
		return;
	}
	if (json_array_size(a) != json_array_size(b))
		json_diff(r, path, a, b);
	n = json_array_size(a) < json_array_size(b) ? json_array_size(a) : json_array_size(b);
	snprintf(path + len, SHADOWCMP_FIELD_MAX - len, "[*]");
	for (size_t i = 0; i < n; i++)
		json_walk(o, r, path, strlen(path), json_array_get(a, i), json_array_get(b, i),
			  depth + 1);
	path[len] = '\0';
}

/* Whether an answer's body looks like JSON (its type says so, or it starts like it). */
static bool looks_json(const struct httpcap *c)
{
	size_t len;
	const char *t = httpcap_header(c, "content-type", &len);
	uint32_t i = 0;

	if (t && memmem(t, len, "json", 4))
		return true;
	while (i < c->body_len && isspace((unsigned char)c->body[i]))
		i++;
	return i < c->body_len && (c->body[i] == '{' || c->body[i] == '[');
}

static bool compare_json(const struct shadowcmp_opts *o, const struct httpcap *a,
			 const struct httpcap *b, struct shadowcmp_result *r)
{
	json_t *ja, *jb;
	char path[SHADOWCMP_FIELD_MAX] = "$";

	if (!looks_json(a) || !looks_json(b))
		return false;
	ja = json_loadb(a->body ? a->body : "", a->body_len, JSON_DECODE_ANY, NULL);
	jb = ja ? json_loadb(b->body ? b->body : "", b->body_len, JSON_DECODE_ANY, NULL) : NULL;
	if (jb) {
		r->json = true;
		json_walk(o, r, path, 1, ja, jb, 0);
	}
	json_decref(ja);
	json_decref(jb);
	return r->json;
}

static void body_value(char *out, const struct httpcap *c)
{
	if (httpcap_cut(c))
		snprintf(out, SHADOWCMP_VALUE_MAX, "%llu bytes (first %u hash %016llx)",
			 (unsigned long long)c->body_total, c->body_len,
			 (unsigned long long)c->hash);
	else if (!c->body_len)
		strcpy(out, "(empty)");
	else
		show(out, c->body, c->body_len);
}

static void compare_body(const struct shadowcmp_opts *o, const struct httpcap *a,
			 const struct httpcap *b, struct shadowcmp_result *r)
{
	struct shadowcmp_diff *d;

	r->cut = httpcap_cut(a) || httpcap_cut(b);
	if (!r->cut && compare_json(o, a, b, r))
		return;
	if (a->body_total == b->body_total && a->body_len == b->body_len && a->hash == b->hash &&
	    (!a->body_len || !memcmp(a->body, b->body, a->body_len)))
		return;
	d = add(r, SHADOWCMP_BODY, "body");
	if (d) {
		body_value(d->a, a);
		body_value(d->b, b);
	}
}

void shadowcmp_compare(const struct shadowcmp_opts *o, const struct httpcap *a,
		       const struct httpcap *b, struct shadowcmp_result *out)
{
	struct shadowcmp_diff *d;

	out->n = out->more = 0;
	out->cut = out->json = false;
	if ((o->compare & SHADOW_CMP_STATUS) && a->status != b->status) {
		d = add(out, SHADOWCMP_STATUS, "status");
		if (d) {
			snprintf(d->a, sizeof(d->a), "%u", a->status);
			snprintf(d->b, sizeof(d->b), "%u", b->status);
		}
	}
	if (o->compare & SHADOW_CMP_HEADERS)
		compare_headers(o, a, b, out);
	if (o->compare & SHADOW_CMP_BODY)
		compare_body(o, a, b, out);
}
