// SPDX-License-Identifier: GPL-2.0-only
/*
 * A route's gateway options (routegw.h): conditions, limit, access lists and header rules, from
 * words to the model and back, and checked against a request.
 */
#include <linux/types.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/http.h"
#include "core/routegw.h"
#include "lib/textcat.h"
#include "strg/http_scan.h"

#define LIMIT_COUNT_MAX 1000000u
#define BURST_MAX	1000000u

static int fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* ---- words ---- */

static const char *const gw_words[] = {
	"header",
	"cookie",
	"query",
	"limit",
	"allow",
	"deny",
	"set-header",
	"del-header",
	"set-response-header",
	"del-response-header",
};

bool routegw_word(const char *w)
{
	for (size_t i = 0; i < sizeof(gw_words) / sizeof(gw_words[0]); i++)
		if (!strcmp(w, gw_words[i]))
			return true;
	return false;
}

/* An HTTP field name (RFC 9110 token), or a cookie's name: the same characters. */
static bool token_ok(const char *s)
{
	size_t n = strlen(s);

	if (!n || n > ROUTEGW_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!strg_is_tchar((__u8)s[i]))
			return false;
	return true;
}

/* Visible bytes only: no space, no control byte (CR, LF, NUL...), no DEL. */
static bool visible(const char *s, size_t max, const char *also_not)
{
	size_t n = strlen(s);

	if (!n || n > max)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= ' ' || c == 0x7f || (also_not && strchr(also_not, c)))
			return false;
	}
	return true;
}

static void lower(char *s)
{
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s += 'a' - 'A';
}

/* header NAME VALUE|~PREFIX, cookie NAME VALUE, query NAME VALUE at argv[i]. */
static int parse_match(char **argv, int i, struct routegw *gw, char *err, size_t errlen)
{
	const char *kind = argv[i], *name = argv[i + 1], *value = argv[i + 2];
	struct routegw_match *m;
	bool query = !strcmp(kind, "query");

	if (gw->nmatch == ROUTEGW_MATCH_MAX)
		return fail(err, errlen, "more than %d header, cookie and query conditions",
			    ROUTEGW_MATCH_MAX);
	if (query ? !visible(name, ROUTEGW_NAME_MAX, "&=#") : !token_ok(name))
		return fail(err, errlen, "%s: bad name '%.80s' (%s)", kind, name,
			    query ? "visible characters but & = #"
				  : "a token: letters, digits, !#$%&'*+-.^_`|~");
	m = &gw->match[gw->nmatch];
	memset(m, 0, sizeof(*m));
	m->kind = !strcmp(kind, "header")   ? ROUTEGW_M_HEADER
		  : !strcmp(kind, "cookie") ? ROUTEGW_M_COOKIE
					    : ROUTEGW_M_QUERY;
	m->prefix = m->kind == ROUTEGW_M_HEADER && value[0] == '~';
	value += m->prefix;
	if (!visible(value, ROUTEGW_VALUE_MAX,
		     query			   ? "&#"
		     : m->kind == ROUTEGW_M_COOKIE ? ";,"
						   : NULL))
		return fail(err, errlen,
			    "%s %s: bad value '%.80s' (1 to %d visible characters, no control "
			    "characters%s)",
			    kind, name, value, ROUTEGW_VALUE_MAX,
			    query			  ? ", & or #"
			    : m->kind == ROUTEGW_M_COOKIE ? ", ; or ,"
							  : "");
	strcpy(m->name, name);
	if (m->kind == ROUTEGW_M_HEADER)
		lower(m->name);
	strcpy(m->value, value);
	gw->nmatch++;
	return 3;
}

static int parse_count(const char *s, uint32_t max, uint32_t *out)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	v = strtoul(s, &end, 10);
	if (*end || !v || v > max)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

/* RATE: COUNT, COUNT/s, COUNT/m or COUNT/h. */
static int parse_rate(const char *s, struct routegw_limit *l)
{
	char num[16];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);

	if (n >= sizeof(num))
		return -EINVAL;
	memcpy(num, s, n);
	num[n] = '\0';
	l->unit = 's';
	if (slash) {
		if (strlen(slash) != 2 || !strchr("smh", slash[1]))
			return -EINVAL;
		l->unit = slash[1];
	}
	return parse_count(num, LIMIT_COUNT_MAX, &l->count);
}

/* per address | cookie NAME | header NAME at argv[i]: the words taken, or -EINVAL. */
static int parse_per(int argc, char **argv, int i, struct routegw_limit *l, char *err,
		     size_t errlen)
{
	if (i + 1 < argc && !strcmp(argv[i + 1], "address")) {
		l->per = ROUTEGW_PER_ADDRESS;
		return 2;
	}
	if (i + 2 < argc && (!strcmp(argv[i + 1], "cookie") || !strcmp(argv[i + 1], "header"))) {
		if (!token_ok(argv[i + 2]))
			return fail(err, errlen, "limit: per %s: bad name '%.80s'", argv[i + 1],
				    argv[i + 2]);
		l->per = !strcmp(argv[i + 1], "cookie") ? ROUTEGW_PER_COOKIE : ROUTEGW_PER_HEADER;
		strcpy(l->key, argv[i + 2]);
		if (l->per == ROUTEGW_PER_HEADER)
			lower(l->key);
		return 3;
	}
	return fail(err, errlen, "limit: per expects address, cookie NAME or header NAME");
}

/* limit RATE [burst N] [per ...] at argv[i]: the words taken, or -EINVAL. */
static int parse_limit(int argc, char **argv, int i, struct routegw *gw, char *err, size_t errlen)
{
	struct routegw_limit *l = &gw->limit;
	int n = 2, k;

	if (l->count)
		return fail(err, errlen, "limit: given twice");
	memset(l, 0, sizeof(*l));
	if (parse_rate(argv[i + 1], l))
		return fail(err, errlen,
			    "limit: bad rate '%.40s' (1 to %u requests, per s, m or h: 100, "
			    "100/s, 600/m)",
			    argv[i + 1], LIMIT_COUNT_MAX);
	/* A tenth of a second's worth may come at once unless burst says otherwise. */
	l->burst = l->unit == 's' && l->count >= 20 ? l->count / 10 : 1;
	if (i + n + 1 < argc && !strcmp(argv[i + n], "burst")) {
		if (parse_count(argv[i + n + 1], BURST_MAX, &l->burst))
			return fail(err, errlen, "limit: bad burst '%.40s' (1 to %u)",
				    argv[i + n + 1], BURST_MAX);
		n += 2;
	}
	if (i + n < argc && !strcmp(argv[i + n], "per")) {
		k = parse_per(argc, argv, i + n, l, err, errlen);
		if (k < 0)
			return k;
		n += k;
	}
	return n;
}

/* "10.0.0.0/8", "192.0.2.7", "2001:db8::/32", "::1" into c (host bits cleared). */
static int parse_cidr(const char *s, struct routegw_cidr *c)
{
	char buf[INET6_ADDRSTRLEN + 8], *slash;
	unsigned long bits;
	struct in_addr a4;
	char *end;
	bool v4;

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (slash)
		*slash++ = '\0';
	memset(c, 0, sizeof(*c));
	v4 = inet_pton(AF_INET, buf, &a4) == 1;
	if (v4) {
		c->addr[10] = c->addr[11] = 0xff;
		memcpy(c->addr + 12, &a4, 4);
	} else if (inet_pton(AF_INET6, buf, c->addr) != 1) {
		return -EINVAL;
	}
	bits = v4 ? 32 : 128;
	if (slash) {
		if (*slash < '0' || *slash > '9')
			return -EINVAL;
		bits = strtoul(slash, &end, 10);
		if (*end || bits > (v4 ? 32u : 128u))
			return -EINVAL;
	}
	c->bits = (uint8_t)(bits + (v4 ? 96 : 0));
	for (unsigned b = c->bits; b < 128; b++)
		c->addr[b / 8] &= (uint8_t) ~(0x80u >> (b % 8));
	return 0;
}

/* allow|deny CIDR,... at argv[i]. */
static int parse_list(char **argv, int i, struct routegw *gw, char *err, size_t errlen)
{
	bool allow = !strcmp(argv[i], "allow");
	struct routegw_cidr *v = allow ? gw->allow : gw->deny;
	uint8_t *n = allow ? &gw->nallow : &gw->ndeny;
	char list[1024], *one, *save = NULL;

	if (*n)
		return fail(err, errlen, "%s: given twice (one list, commas between)", argv[i]);
	if (strlen(argv[i + 1]) >= sizeof(list))
		return fail(err, errlen, "%s: list too long", argv[i]);
	strcpy(list, argv[i + 1]);
	if (!list[0] || list[0] == ',' || list[strlen(list) - 1] == ',' || strstr(list, ",,"))
		return fail(err, errlen, "%s: bad list '%.80s' (CIDR,CIDR,...)", argv[i],
			    argv[i + 1]);
	for (one = strtok_r(list, ",", &save); one; one = strtok_r(NULL, ",", &save)) {
		if (*n == ROUTEGW_CIDR_MAX)
			return fail(err, errlen, "%s: more than %d entries", argv[i],
				    ROUTEGW_CIDR_MAX);
		if (parse_cidr(one, &v[*n]))
			return fail(err, errlen,
				    "%s: bad CIDR '%.60s' (like 10.0.0.0/8, 192.0.2.7 or "
				    "2001:db8::/32)",
				    argv[i], one);
		(*n)++;
	}
	return 2;
}

/* Fields a rule may not touch: they frame the message or the connection. */
static bool framing_field(const char *name)
{
	static const char *const f[] = {"content-length", "transfer-encoding", "connection",
					"keep-alive",	  "upgrade",	       "te",
					"trailer",	  "proxy-connection"};

	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		if (!strcasecmp(name, f[i]))
			return true;
	return false;
}

static const char *const var_names[] = {"client", "request_id", "route", "pool", "sp"};

/* The variable at s ("%{name}"): its index, its length in *len; -1 when none is known. */
static int var_at(const char *s, size_t *len)
{
	for (size_t i = 0; i < sizeof(var_names) / sizeof(var_names[0]); i++) {
		size_t n = strlen(var_names[i]);

		if (!strncmp(s + 2, var_names[i], n) && s[2 + n] == '}') {
			*len = n + 3;
			return (int)i;
		}
	}
	return -1;
}

static int check_value(const char *v, char *err, size_t errlen)
{
	size_t len;

	for (const char *p = v; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (c < ' ' || c == 0x7f)
			return fail(err, errlen,
				    "bad header value: control character 0x%02x (CR, LF and the "
				    "like are refused)",
				    c);
		if (c == '%' && p[1] == '{' && var_at(p, &len) < 0)
			return fail(err, errlen,
				    "bad header value '%.80s': unknown variable (%%{client}, "
				    "%%{request_id}, %%{route}, %%{pool}, %%{sp})",
				    v);
	}
	return 0;
}

/* set-header|set-response-header NAME VALUE, del-header|del-response-header NAME at argv[i]. */
static int parse_rule(int argc, char **argv, int i, struct routegw *gw, char *err, size_t errlen)
{
	const char *k = argv[i];
	bool set = !strncmp(k, "set-", 4), resp = strstr(k, "response") != NULL;
	struct routegw_rule *r;

	if (set && i + 2 >= argc)
		return fail(err, errlen, "%s: expects NAME VALUE", k);
	if (gw->nrule == ROUTEGW_RULE_MAX)
		return fail(err, errlen, "more than %d header rules", ROUTEGW_RULE_MAX);
	if (!token_ok(argv[i + 1]))
		return fail(err, errlen,
			    "%s: bad header name '%.80s' (a token: letters, digits, "
			    "!#$%%&'*+-.^_`|~)",
			    k, argv[i + 1]);
	if (framing_field(argv[i + 1]))
		return fail(err, errlen,
			    "%s: %s frames the message or the connection: strgd "
			    "keeps it as it is",
			    k, argv[i + 1]);
	if (set && strlen(argv[i + 2]) > ROUTEGW_RVALUE_MAX)
		return fail(err, errlen, "%s: value longer than %d bytes", k, ROUTEGW_RVALUE_MAX);
	if (set && check_value(argv[i + 2], err, errlen))
		return -EINVAL;
	r = &gw->rule[gw->nrule++];
	memset(r, 0, sizeof(*r));
	r->kind = set ? (resp ? ROUTEGW_SET_RESP : ROUTEGW_SET_REQ)
		      : (resp ? ROUTEGW_DEL_RESP : ROUTEGW_DEL_REQ);
	strcpy(r->name, argv[i + 1]);
	if (set)
		strcpy(r->value, argv[i + 2]);
	return set ? 3 : 2;
}

/* How many words an option needs at least (its own included). */
static int min_words(const char *k)
{
	if (!strcmp(k, "header") || !strcmp(k, "cookie") || !strcmp(k, "query") ||
	    !strcmp(k, "set-header") || !strcmp(k, "set-response-header"))
		return 3;
	return 2;
}

int routegw_parse(int argc, char **argv, int *i, struct routegw *gw, char *err, size_t errlen)
{
	while (*i < argc && routegw_word(argv[*i])) {
		const char *k = argv[*i];
		int n;

		if (*i + min_words(k) > argc)
			return fail(err, errlen, "%s: missing value (%s)", k, ROUTEGW_GRAMMAR);
		if (!strcmp(k, "header") || !strcmp(k, "cookie") || !strcmp(k, "query"))
			n = parse_match(argv, *i, gw, err, errlen);
		else if (!strcmp(k, "limit"))
			n = parse_limit(argc, argv, *i, gw, err, errlen);
		else if (!strcmp(k, "allow") || !strcmp(k, "deny"))
			n = parse_list(argv, *i, gw, err, errlen);
		else
			n = parse_rule(argc, argv, *i, gw, err, errlen);
		if (n < 0)
			return n;
		*i += n;
	}
	return routegw_normalize(gw);
}

static int match_cmp(const void *a, const void *b)
{
	const struct routegw_match *x = a, *y = b;
	int d = (int)x->kind - (int)y->kind;

	if (!d)
		d = strcmp(x->name, y->name);
	if (!d)
		d = (int)x->prefix - (int)y->prefix;
	return d ? d : strcmp(x->value, y->value);
}

int routegw_normalize(struct routegw *gw)
{
	if (gw->nmatch > ROUTEGW_MATCH_MAX || gw->nrule > ROUTEGW_RULE_MAX ||
	    gw->nallow > ROUTEGW_CIDR_MAX || gw->ndeny > ROUTEGW_CIDR_MAX)
		return -EINVAL;
	qsort(gw->match, gw->nmatch, sizeof(gw->match[0]), match_cmp);
	/* Unused entries zero, so that two equal sets compare equal whatever came before. */
	memset(gw->match + gw->nmatch, 0, sizeof(gw->match[0]) * (ROUTEGW_MATCH_MAX - gw->nmatch));
	memset(gw->rule + gw->nrule, 0, sizeof(gw->rule[0]) * (ROUTEGW_RULE_MAX - gw->nrule));
	memset(gw->allow + gw->nallow, 0, sizeof(gw->allow[0]) * (ROUTEGW_CIDR_MAX - gw->nallow));
	memset(gw->deny + gw->ndeny, 0, sizeof(gw->deny[0]) * (ROUTEGW_CIDR_MAX - gw->ndeny));
	if (!gw->limit.count)
		memset(&gw->limit, 0, sizeof(gw->limit));
	return 0;
}

bool routegw_empty(const struct routegw *gw)
{
	return !gw->nmatch && !gw->nrule && !gw->nallow && !gw->ndeny && !gw->limit.count;
}

/* Compared by their canonical text: no padding or stale byte beyond a string can differ. */
static bool texts_equal(const struct routegw *a, const struct routegw *b, bool key)
{
	static __thread char ta[ROUTEGW_TEXT_MAX], tb[ROUTEGW_TEXT_MAX];

	if (key) {
		routegw_key_text(a, ta, sizeof(ta));
		routegw_key_text(b, tb, sizeof(tb));
	} else {
		routegw_text(a, ta, sizeof(ta));
		routegw_text(b, tb, sizeof(tb));
	}
	return !strcmp(ta, tb);
}

bool routegw_key_equal(const struct routegw *a, const struct routegw *b)
{
	return a->nmatch == b->nmatch && (!a->nmatch || texts_equal(a, b, true));
}

bool routegw_equal(const struct routegw *a, const struct routegw *b)
{
	if (routegw_empty(a) || routegw_empty(b))
		return routegw_empty(a) && routegw_empty(b);
	return texts_equal(a, b, false);
}

/* ---- text ---- */

static const char *const match_words[] = {"", "header", "cookie", "query"};
static const char *const rule_words[] = {"", "set-header", "del-header", "set-response-header",
					 "del-response-header"};
static const char *const per_words[] = {"", "address", "cookie", "header"};

size_t routegw_key_text(const struct routegw *gw, char *out, size_t len)
{
	size_t n = 0;

	if (len)
		out[0] = '\0';
	for (unsigned i = 0; i < gw->nmatch; i++)
		n = textcat_add(out, len, n, " %s %s %s%s", match_words[gw->match[i].kind],
				gw->match[i].name, gw->match[i].prefix ? "~" : "",
				gw->match[i].value);
	return n;
}

static size_t cidr_text(const struct routegw_cidr *c, char *out, size_t len, size_t n)
{
	char a[INET6_ADDRSTRLEN];
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	if (c->bits >= 96 && !memcmp(c->addr, mapped, 12)) {
		inet_ntop(AF_INET, c->addr + 12, a, sizeof(a));
		return c->bits == 128 ? textcat_add(out, len, n, "%s", a)
				      : textcat_add(out, len, n, "%s/%u", a, c->bits - 96u);
	}
	inet_ntop(AF_INET6, c->addr, a, sizeof(a));
	return c->bits == 128 ? textcat_add(out, len, n, "%s", a)
			      : textcat_add(out, len, n, "%s/%u", a, c->bits);
}

static size_t list_text(const char *word, const struct routegw_cidr *v, unsigned nv, char *out,
			size_t len, size_t n)
{
	for (unsigned i = 0; i < nv; i++) {
		n = textcat_add(out, len, n, i ? "," : " %s ", word);
		n = cidr_text(&v[i], out, len, n);
	}
	return n;
}

size_t routegw_text(const struct routegw *gw, char *out, size_t len)
{
	const struct routegw_limit *l = &gw->limit;
	size_t n = routegw_key_text(gw, out, len);

	if (l->count) {
		n = textcat_add(out, len, n, " limit %u/%c burst %u", l->count, l->unit, l->burst);
		if (l->per)
			n = textcat_add(out, len, n, " per %s%s%s", per_words[l->per],
					l->key[0] ? " " : "", l->key);
	}
	n = list_text("allow", gw->allow, gw->nallow, out, len, n);
	n = list_text("deny", gw->deny, gw->ndeny, out, len, n);
	for (unsigned i = 0; i < gw->nrule; i++) {
		const struct routegw_rule *r = &gw->rule[i];

		n = textcat_add(out, len, n, " %s %s%s%s", rule_words[r->kind], r->name,
				r->value[0] ? " " : "", r->value);
	}
	return n;
}

/* ---- requests ---- */

static bool name_is(const char *s, size_t len, const char *lower_name)
{
	return strlen(lower_name) == len && !strncasecmp(s, lower_name, len);
}

static bool value_is(const char *v, size_t len, const struct routegw_match *m)
{
	size_t want = strlen(m->value);

	if (m->prefix)
		return len >= want && !memcmp(v, m->value, want);
	return len == want && !memcmp(v, m->value, want);
}

static bool header_holds(const struct routegw_match *m, const struct http_request *req,
			 const char *buf)
{
	for (unsigned i = 0; i < req->nfields; i++) {
		const struct http_field *f = &req->fields[i];

		if (name_is(buf + f->name_off, f->name_len, m->name) &&
		    value_is(buf + f->value_off, f->value_len, m))
			return true;
	}
	return false;
}

static bool cookie_holds(const struct routegw_match *m, const struct http_request *req,
			 const char *buf)
{
	for (unsigned i = 0; i < req->nfields; i++) {
		const struct http_field *f = &req->fields[i];
		const char *v;
		size_t len;

		if (!name_is(buf + f->name_off, f->name_len, "cookie"))
			continue;
		v = http_cookie(buf + f->value_off, f->value_len, m->name, &len);
		if (v && value_is(v, len, m))
			return true;
	}
	return false;
}

/* The query of the request target ("" when none), as sent: not decoded. */
static const char *query_of(const struct http_request *req, size_t *len)
{
	const char *q = memchr(req->target, '?', req->target_len);

	*len = q ? req->target_len - (size_t)(q - req->target) - 1 : 0;
	return q ? q + 1 : "";
}

static bool query_holds(const struct routegw_match *m, const struct http_request *req)
{
	size_t qlen, nlen = strlen(m->name), i = 0;
	const char *q = query_of(req, &qlen);

	while (i < qlen) {
		const char *p = q + i, *amp = memchr(p, '&', qlen - i);
		size_t plen = amp ? (size_t)(amp - p) : qlen - i;

		if (plen > nlen && p[nlen] == '=' && !memcmp(p, m->name, nlen) &&
		    value_is(p + nlen + 1, plen - nlen - 1, m))
			return true;
		i += plen + 1;
	}
	return false;
}

bool routegw_matches(const struct routegw *gw, const struct http_request *req, const char *buf)
{
	for (unsigned i = 0; i < gw->nmatch; i++) {
		const struct routegw_match *m = &gw->match[i];
		bool ok;

		if (!req)
			return false;
		ok = m->kind == ROUTEGW_M_HEADER   ? header_holds(m, req, buf)
		     : m->kind == ROUTEGW_M_COOKIE ? cookie_holds(m, req, buf)
						   : query_holds(m, req);
		if (!ok)
			return false;
	}
	return true;
}

static bool in_cidr(const struct routegw_cidr *c, const uint8_t a[16])
{
	unsigned full = c->bits / 8, rest = c->bits % 8;

	if (memcmp(c->addr, a, full))
		return false;
	return !rest || !((c->addr[full] ^ a[full]) & (uint8_t)(0xff00u >> rest));
}

static bool in_list(const struct routegw_cidr *v, unsigned n, const uint8_t a[16])
{
	for (unsigned i = 0; i < n; i++)
		if (in_cidr(&v[i], a))
			return true;
	return false;
}

bool routegw_admits(const struct routegw *gw, const struct sockaddr *sa)
{
	uint8_t a[16] = {0};

	if (!gw->nallow && !gw->ndeny)
		return true;
	if (sa->sa_family == AF_INET) {
		a[10] = a[11] = 0xff;
		memcpy(a + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		/* A v4 client on a dual-stack socket is already ::ffff:a.b.c.d. */
		memcpy(a, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
	} else {
		return !gw->nallow;
	}
	if (in_list(gw->deny, gw->ndeny, a))
		return false;
	return !gw->nallow || in_list(gw->allow, gw->nallow, a);
}

uint64_t routegw_interval_ns(const struct routegw_limit *l)
{
	uint64_t unit = l->unit == 'h'	 ? 3600000000000ull
			: l->unit == 'm' ? 60000000000ull
					 : 1000000000ull;

	return l->count ? unit / l->count : 0;
}

uint64_t routegw_tolerance_ns(const struct routegw_limit *l)
{
	return (uint64_t)(l->burst ? l->burst - 1 : 0) * routegw_interval_ns(l);
}

size_t routegw_expand(const char *value, const struct routegw_vars *v, char *out, size_t len)
{
	const char *vals[] = {v->client, v->request_id, v->route, v->pool, " "};
	size_t n = 0, vl;
	int var;

	if (!len)
		return 0;
	for (const char *p = value; *p && n + 1 < len;) {
		var = p[0] == '%' && p[1] == '{' ? var_at(p, &vl) : -1;
		if (var < 0) {
			out[n++] = *p++;
			continue;
		}
		for (const char *s = vals[var] ? vals[var] : ""; *s && n + 1 < len; s++)
			out[n++] = (*s == '\r' || *s == '\n') ? ' ' : *s;
		p += vl;
	}
	out[n] = '\0';
	return n;
}

bool routegw_rule_names(const struct routegw *gw, unsigned kinds, const char *field, size_t len)
{
	for (unsigned i = 0; i < gw->nrule; i++)
		if ((kinds & (1u << gw->rule[i].kind)) && strlen(gw->rule[i].name) == len &&
		    !strncasecmp(gw->rule[i].name, field, len))
			return true;
	return false;
}

bool routegw_has_rules(const struct routegw *gw, unsigned kinds)
{
	for (unsigned i = 0; i < gw->nrule; i++)
		if (kinds & (1u << gw->rule[i].kind))
			return true;
	return false;
}
