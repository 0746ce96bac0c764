// SPDX-License-Identifier: GPL-2.0-only
/*
 * The table's objects in the store. A pool object becomes configuration lines ("pool", "health",
 * "eject") and a route object the words of a "route" line, so the configuration's parser decides
 * what is valid and says why not: one grammar, whether a route comes from a file, strgctl or
 * the store. Route ids are the keys', the same on every host.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/confword.h"
#include "fleet/schema.h"
#include "lib/words.h"

#define JSON_OUT    (JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(6))
#define ROUTE_WORDS 96 /* a route line's words, the gateway options' with them */

/* ---- helpers ---- */

/* A word of a configuration line: no space, no comment, no control byte. */
static bool word_ok(const char *s)
{
	if (!s || !*s)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || *s == '#' || *s == 0x7f)
			return false;
	return true;
}

/* Every key of o is one of the names (NULL-terminated); else the first that is not. */
static const char *unknown_field(json_t *o, const char *const *names)
{
	const char *k;
	json_t *v;

	json_object_foreach(o, k, v)
	{
		size_t i;

		for (i = 0; names[i] && strcmp(names[i], k); i++)
			;
		if (!names[i])
			return k;
	}
	return NULL;
}

/* The object's JSON, with a schema this strgd reads. NULL after writing why in err. */
static json_t *load_obj(const struct fleet_obj *ob, const char *const *fields, char *err,
			size_t errlen)
{
	json_error_t je;
	json_t *j = json_loadb(ob->value, ob->len, 0, &je), *s;
	const char *bad;

	if (!json_is_object(j)) {
		snprintf(err, errlen, "%s: not a JSON object (%s)", ob->name,
			 j ? "another JSON value" : je.text);
		goto out_bad;
	}
	s = json_object_get(j, "schema");
	if (!json_is_integer(s) || json_integer_value(s) < 1) {
		snprintf(err, errlen, "%s: no \"schema\" version", ob->name);
		goto out_bad;
	}
	if (json_integer_value(s) > FLEET_SCHEMA) {
		snprintf(err, errlen,
			 "%s: schema %" JSON_INTEGER_FORMAT " is newer than %d, this "
			 "strgd's",
			 ob->name, json_integer_value(s), FLEET_SCHEMA);
		goto out_bad;
	}
	bad = unknown_field(j, fields);
	if (bad) {
		snprintf(err, errlen, "%s: unknown field \"%s\"", ob->name, bad);
		goto out_bad;
	}
	return j;
out_bad:
	json_decref(j);
	return NULL;
}

/* A number field as text (integer, or a real like 12.5), into buf; false when not a number. */
static bool num_text(json_t *v, char *buf, size_t len)
{
	if (json_is_integer(v))
		snprintf(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	else if (json_is_real(v))
		snprintf(buf, len, "%.10g", json_real_value(v));
	else
		return false;
	return true;
}

/* ---- pools ---- */

struct pools_text {
	char *text; /* configuration lines */
	size_t len;
	FILE *f;
	const char **line_of; /* the object each line came from (line 1: listen) */
	unsigned lines;
};

static int line_add(struct pools_text *pt, const char *name)
{
	const char **v = realloc(pt->line_of, (pt->lines + 1) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	pt->line_of = v;
	v[pt->lines++] = name;
	return 0;
}

static const char *const pool_fields[] = {"schema", "backends", "proxy_protocol",
					  "health", "eject",	NULL};
static const char *const backend_fields[] = {"addr", "state", "weight", NULL};
static const char *const health_fields[] = {"path", "status", "interval_ms", "timeout_ms",
					    "rise", "fall",   NULL};
static const char *const eject_fields[] = {"after", "5xx", NULL};

/* "pool NAME ADDR... [proxy-protocol]" */
static int pool_line(struct pools_text *pt, const char *pool, json_t *j, const char *name,
		     char *err, size_t errlen)
{
	json_t *bes = json_object_get(j, "backends"), *b;
	size_t i;

	if (!json_is_array(bes) || !json_array_size(bes)) {
		snprintf(err, errlen, "%s: \"backends\" is not a list of at least one backend",
			 name);
		return -EINVAL;
	}
	fprintf(pt->f, "pool %s", pool);
	json_array_foreach(bes, i, b)
	{
		const char *bad = json_is_object(b) ? unknown_field(b, backend_fields) : NULL;
		const char *addr = json_string_value(json_object_get(b, "addr"));

		if (bad || !word_ok(addr)) {
			snprintf(err, errlen, "%s: backend %zu: %s%s%s", name, i + 1,
				 bad ? "unknown field \"" : "no \"addr\" like \"host:port\"",
				 bad ? bad : "", bad ? "\"" : "");
			return -EINVAL;
		}
		fprintf(pt->f, " %s", addr);
	}
	fputs(json_is_true(json_object_get(j, "proxy_protocol")) ? " proxy-protocol\n" : "\n",
	      pt->f);
	return line_add(pt, name);
}

/* "health NAME http PATH [status N] [interval Nms] [timeout Nms] [rise N] [fall N]" */
static int health_line(struct pools_text *pt, const char *pool, json_t *h, const char *name,
		       char *err, size_t errlen)
{
	static const char *const opt[][2] = {{"status", "status"},
					     {"interval_ms", "interval"},
					     {"timeout_ms", "timeout"},
					     {"rise", "rise"},
					     {"fall", "fall"}};
	const char *path = json_string_value(json_object_get(h, "path"));
	const char *bad = json_is_object(h) ? unknown_field(h, health_fields) : "(not an object)";

	if (bad || !word_ok(path)) {
		snprintf(err, errlen, "%s: health: %s%s", name,
			 bad ? "unknown field " : "no \"path\"", bad ? bad : "");
		return -EINVAL;
	}
	fprintf(pt->f, "health %s http %s", pool, path);
	for (size_t i = 0; i < sizeof(opt) / sizeof(opt[0]); i++) {
		json_t *v = json_object_get(h, opt[i][0]);

		if (!v)
			continue;
		if (!json_is_integer(v) || json_integer_value(v) < 0) {
			snprintf(err, errlen, "%s: health: \"%s\" is not a whole number", name,
				 opt[i][0]);
			return -EINVAL;
		}
		fprintf(pt->f, " %s %" JSON_INTEGER_FORMAT "%s", opt[i][1], json_integer_value(v),
			strstr(opt[i][0], "_ms") ? "ms" : "");
	}
	fputc('\n', pt->f);
	return line_add(pt, name);
}

/* "eject NAME after N [5xx]" */
static int eject_line(struct pools_text *pt, const char *pool, json_t *e, const char *name,
		      char *err, size_t errlen)
{
	json_t *after = json_object_get(e, "after");
	const char *bad = json_is_object(e) ? unknown_field(e, eject_fields) : "(not an object)";

	if (bad || !json_is_integer(after) || json_integer_value(after) < 0) {
		snprintf(err, errlen, "%s: eject: %s%s", name,
			 bad ? "unknown field " : "\"after\" is not a whole number",
			 bad ? bad : "");
		return -EINVAL;
	}
	fprintf(pt->f, "eject %s after %" JSON_INTEGER_FORMAT "%s\n", pool,
		json_integer_value(after), json_is_true(json_object_get(e, "5xx")) ? " 5xx" : "");
	return line_add(pt, name);
}

static int pool_lines(struct pools_text *pt, const struct fleet_obj *ob, char *err, size_t errlen)
{
	const char *pool = ob->name + strlen("pools/");
	json_t *j = load_obj(ob, pool_fields, err, errlen), *v;
	int ret = j ? 0 : -EINVAL;

	if (!ret && !word_ok(pool)) {
		snprintf(err, errlen, "%s: bad pool name", ob->name);
		ret = -EINVAL;
	}
	if (!ret)
		ret = pool_line(pt, pool, j, ob->name, err, errlen);
	v = json_object_get(j, "health");
	if (!ret && v)
		ret = health_line(pt, pool, v, ob->name, err, errlen);
	v = json_object_get(j, "eject");
	if (!ret && v)
		ret = eject_line(pt, pool, v, ob->name, err, errlen);
	json_decref(j);
	return ret;
}

/* The admin state and weight of each backend: the configuration's lines have neither. */
static int backend_states(struct config *cfg, const struct fleet_obj *ob, char *err, size_t errlen)
{
	int pi = config_pool_find(cfg, ob->name + strlen("pools/"));
	json_t *j = json_loads(ob->value, 0, NULL), *b;
	struct pool *p = &cfg->pools[pi];
	int ret = 0;
	size_t i;

	json_array_foreach(json_object_get(j, "backends"), i, b)
	{
		const char *state = json_string_value(json_object_get(b, "state"));
		json_t *w = json_object_get(b, "weight");
		int bi = pool_backend_find(p, json_string_value(json_object_get(b, "addr")));

		if (bi < 0)
			continue;
		if (state && pool_state_parse(state, &p->backends[bi].state)) {
			snprintf(err, errlen,
				 "%s: backend %zu: state '%s' is not ready, drain or "
				 "maint",
				 ob->name, i + 1, state);
			ret = -EINVAL;
			break;
		}
		if (w && (!json_is_integer(w) || json_integer_value(w) < 0 ||
			  json_integer_value(w) > 256)) {
			snprintf(err, errlen, "%s: backend %zu: weight is not 0 to 256", ob->name,
				 i + 1);
			ret = -EINVAL;
			break;
		}
		if (w)
			p->backends[bi].weight = (unsigned)json_integer_value(w);
	}
	json_decref(j);
	return ret;
}

/* "store:N: message" of the parser, named by the object line N came from. */
static void parse_error(const struct pools_text *pt, const char *msg, char *err, size_t errlen)
{
	unsigned long line = 0;
	const char *colon = strchr(msg, ':'), *rest = msg;
	char *end;

	if (colon) {
		line = strtoul(colon + 1, &end, 10);
		if (*end == ':')
			rest = end + 1 + (end[1] == ' ');
	}
	if (line >= 2 && line - 2 < pt->lines)
		snprintf(err, errlen, "%s: %s", pt->line_of[line - 2], rest);
	else
		snprintf(err, errlen, "%s", rest);
}

/* Every pool object's lines parsed as a configuration: cfg has the pools, no route. */
static int decode_pools(struct config *cfg, const struct fleet_objs *objs, char *err, size_t errlen)
{
	struct pools_text pt = {0};
	char msg[FLEET_ERR_MAX];
	const char *first = NULL;
	int ret = 0;

	pt.f = open_memstream(&pt.text, &pt.len);
	if (!pt.f)
		return -ENOMEM;
	fputs("listen 127.0.0.1:1\n", pt.f);
	for (size_t i = 0; i < objs->n && !ret; i++) {
		if (strncmp(objs->v[i].name, "pools/", 6))
			continue;
		ret = pool_lines(&pt, &objs->v[i], err, errlen);
		first = first ? first : objs->v[i].name + 6;
	}
	/* The parser wants a default route; the routes come apart, from their own objects. */
	if (!ret && first)
		fprintf(pt.f, "route / %s\n", first);
	fclose(pt.f);
	if (!ret && !first) {
		snprintf(err, errlen, "no pools (pools/NAME)");
		ret = -EINVAL;
	}
	if (!ret && pt.text && config_parse(cfg, "store", pt.text, msg, sizeof(msg))) {
		parse_error(&pt, msg, err, errlen);
		ret = -EINVAL;
	}
	for (size_t i = 0; i < objs->n && !ret; i++)
		if (!strncmp(objs->v[i].name, "pools/", 6))
			ret = backend_states(cfg, &objs->v[i], err, errlen);
	free(pt.text);
	free(pt.line_of);
	return ret;
}

/* ---- routes ---- */

static const char *const route_fields[] = {
	"schema", "methods",  "host",	      "path",	 "pool",     "percent",
	"exact",  "rewrite",  "strip_prefix", "testers", "fallback", "rollback",
	"shadow", "inactive", "tripped",      "gateway", NULL};
static const char *const rollback_fields[] = {"errors_percent", "p99_ms", "window_s", "min", NULL};

struct words {
	char *v[ROUTE_WORDS];
	char buf[ROUTE_WORDS][32];    /* numbers written here */
	char gw[ROUTEGW_TEXT_MAX];    /* the gateway options' text, split in place */
	char shadow[SHADOW_TEXT_MAX]; /* the shadow's words, split in place */
	int n;
};

/* "gateway": the gateway options in the route grammar's words (core/routegw.h), split. */
static bool gateway_words(struct words *w, json_t *v)
{
	int n;

	if (!json_is_string(v) || strlen(json_string_value(v)) >= sizeof(w->gw))
		return false;
	strcpy(w->gw, json_string_value(v));
	n = words_split(w->gw, w->v + w->n, ROUTE_WORDS - w->n, false);
	if (n < 0)
		return false;
	w->n += n;
	return true;
}

static void word(struct words *w, const char *s)
{
	if (w->n < ROUTE_WORDS)
		w->v[w->n++] = (char *)s;
}

static bool word_num(struct words *w, json_t *v, const char *suffix)
{
	char num[24];

	if (w->n >= ROUTE_WORDS || !num_text(v, num, sizeof(num)))
		return false;
	snprintf(w->buf[w->n], sizeof(w->buf[0]), "%s%s", num, suffix);
	w->v[w->n] = w->buf[w->n];
	w->n++;
	return true;
}

/* A string field as one word, or absent; false when it is there but not a word. */
static bool word_str(struct words *w, json_t *j, const char *field, const char *before)
{
	json_t *v = json_object_get(j, field);

	if (!v)
		return true;
	if (!word_ok(json_string_value(v)))
		return false;
	if (before)
		word(w, before);
	word(w, json_string_value(v));
	return true;
}

static bool rollback_words(struct words *w, json_t *rb)
{
	static const char *const opt[][3] = {
		{"p99_ms", "p99", ""}, {"window_s", "window", "s"}, {"min", "min", ""}};

	if (!json_is_object(rb) || unknown_field(rb, rollback_fields))
		return false;
	word(w, "rollback");
	if (!word_num(w, json_object_get(rb, "errors_percent"), "%"))
		return false;
	for (size_t i = 0; i < sizeof(opt) / sizeof(opt[0]); i++) {
		json_t *v = json_object_get(rb, opt[i][0]);

		if (!v)
			continue;
		word(w, opt[i][1]);
		if (!json_is_integer(v) || !word_num(w, v, opt[i][2]))
			return false;
	}
	return true;
}

/* "shadow": the words after "shadow" in a route line, one string ("modern percent 5"). */
static bool shadow_words(struct words *w, json_t *v)
{
	char *part[ROUTE_WORDS];
	int n;

	if (!json_is_string(v) || strlen(json_string_value(v)) >= sizeof(w->shadow))
		return false;
	strcpy(w->shadow, json_string_value(v));
	n = words_split(w->shadow, part, ROUTE_WORDS, false);
	if (n < 1 || w->n + n + 1 >= ROUTE_WORDS)
		return false;
	word(w, "shadow");
	for (int i = 0; i < n; i++)
		word(w, part[i]);
	return true;
}

/*
 * The words of a "route" line, in the grammar's order:
 * [METHODS] [host H] PATH POOL [percent P] [exact] [strip-prefix|rewrite NEW] [testers]
 * [fallback none|POOL] [rollback E% [p99 MS] [window Ns] [min N]] [inactive] [tripped]
 */
static const char *route_words(json_t *j, struct words *w)
{
	json_t *v;

	word(w, "route");
	if (!word_str(w, j, "methods", NULL))
		return "\"methods\" is not like \"GET,HEAD\"";
	if (!word_str(w, j, "host", "host"))
		return "\"host\" is not a host name";
	if (!json_object_get(j, "path") || !word_str(w, j, "path", NULL))
		return "no \"path\"";
	if (!json_object_get(j, "pool") || !word_str(w, j, "pool", NULL))
		return "no \"pool\"";
	v = json_object_get(j, "percent");
	if (v && (word(w, "percent"), !word_num(w, v, "")))
		return "\"percent\" is not a number";
	if (json_is_true(json_object_get(j, "exact")))
		word(w, "exact");
	if (json_is_true(json_object_get(j, "strip_prefix")))
		word(w, "strip-prefix");
	else if (!word_str(w, j, "rewrite", "rewrite"))
		return "\"rewrite\" is not a path";
	if (json_is_true(json_object_get(j, "testers")))
		word(w, "testers");
	if (!word_str(w, j, "fallback", "fallback"))
		return "\"fallback\" is not \"none\" or a pool";
	v = json_object_get(j, "rollback");
	if (v && !rollback_words(w, v))
		return "\"rollback\" is not {\"errors_percent\", [\"p99_ms\"], [\"window_s\"], "
		       "[\"min\"]}";
	v = json_object_get(j, "gateway");
	if (v && !gateway_words(w, v))
		return "\"gateway\" is not the route's gateway options in words";
	v = json_object_get(j, "shadow");
	if (v && !shadow_words(w, v))
		return "\"shadow\" is not the words after \"shadow\" in a route line (\"modern "
		       "percent 5\")";
	if (json_is_true(json_object_get(j, "inactive")))
		word(w, "inactive");
	v = json_object_get(j, "tripped");
	if (v && !json_is_string(v))
		return "\"tripped\" is not a text";
	if (v)
		word(w, "tripped");
	return w->n < ROUTE_WORDS ? NULL : "too many settings";
}

/* "routes/ID": 1 to INT_MAX, written plainly. */
static int route_id(const char *name, uint32_t *id)
{
	const char *s = name + strlen("routes/");
	char *end;
	unsigned long v;

	if (*s < '1' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > INT_MAX)
		return -EINVAL;
	*id = (uint32_t)v;
	return 0;
}

/* Put spec under id: in place when the route of that id has its key, else anew. */
static int route_place(struct config *cfg, const struct fleet_obj *ob,
		       const struct route_spec *spec, uint32_t id, char *err, size_t errlen);

int fleet_schema_route_set(struct config *t, uint32_t id, const struct route_spec *spec)
{
	struct fleet_obj ob = {.name = "route"};
	char err[FLEET_ERR_MAX];
	int ret;

	if (!spec) {
		ret = route_table_del(t->routes, id);
		return ret == -ENOENT ? 0 : ret;
	}
	return route_place(t, &ob, spec, id, err, sizeof(err));
}

static int route_place(struct config *cfg, const struct fleet_obj *ob,
		       const struct route_spec *spec, uint32_t id, char *err, size_t errlen)
{
	const struct route *old = route_table_get(cfg->routes, id), *twin;
	struct route_stored view;
	int ret;

	route_spec_view(spec, &view);
	if (old && old->spec.methods == view.methods && old->spec.exact == view.exact &&
	    !strcmp(old->spec.host, view.host) && !strcmp(old->spec.path, view.path) &&
	    routegw_key_equal(old->spec.gw, view.gw)) {
		ret = route_table_set(cfg->routes, spec);
		return ret < 0 ? ret : 0;
	}
	if (old && route_is_default(&old->spec)) {
		snprintf(err, errlen, "%s: the default route stays '/' (change its pool instead)",
			 ob->name);
		return -EINVAL;
	}
	if (old)
		route_table_del(cfg->routes, id);
	ret = route_table_restore(cfg->routes, spec, id);
	if (ret >= 0)
		return 0;
	twin = ret == -EEXIST ? route_table_find(cfg->routes, spec) : NULL;
	if (twin)
		snprintf(err, errlen,
			 "%s: the same route (methods, host, path, exact) as routes/%u", ob->name,
			 twin->id);
	else
		snprintf(err, errlen, "%s: %s", ob->name, strerror(-ret));
	return -EINVAL;
}

int fleet_schema_route_put(struct config *cfg, const struct fleet_obj *ob, char *err, size_t errlen)
{
	struct words w = {0};
	struct route_spec spec;
	char msg[FLEET_ERR_MAX];
	const char *bad;
	uint32_t id;
	json_t *j;
	int ret;

	if (route_id(ob->name, &id)) {
		snprintf(err, errlen, "%s: not a route id (1 to %d)", ob->name, INT_MAX);
		return -EINVAL;
	}
	j = load_obj(ob, route_fields, err, errlen);
	if (!j)
		return -EINVAL;
	bad = route_words(j, &w);
	ret = bad ? -EINVAL : config_route_words(cfg, w.n, w.v, &spec, msg, sizeof(msg));
	if (bad || ret)
		snprintf(err, errlen, "%s: %s", ob->name, bad ? bad : msg);
	if (!bad && !ret && json_object_get(j, "tripped"))
		snprintf(spec.trip, sizeof(spec.trip), "%s",
			 json_string_value(json_object_get(j, "tripped")));
	json_decref(j);
	return bad || ret ? -EINVAL : route_place(cfg, ob, &spec, id, err, errlen);
}

int fleet_schema_route_del(struct config *cfg, const char *name, char *err, size_t errlen)
{
	uint32_t id;
	int ret;

	if (route_id(name, &id))
		return 0; /* never a route: nothing to remove */
	ret = route_table_del(cfg->routes, id);
	if (ret == -EPERM) {
		snprintf(err, errlen, "%s: the default route cannot be deleted", name);
		return -EINVAL;
	}
	return 0;
}

struct config *fleet_schema_decode(const struct fleet_objs *objs, int *ret, char *err,
				   size_t errlen)
{
	struct config *cfg = calloc(1, sizeof(*cfg));
	struct route_spec def = {0};

	*ret = cfg ? decode_pools(cfg, objs, err, errlen) : -ENOMEM;
	if (!*ret) {
		route_table_free(cfg->routes);
		cfg->routes = route_table_new();
		*ret = cfg->routes ? 0 : -ENOMEM;
	}
	for (size_t i = 0; i < objs->n && !*ret; i++)
		if (!strncmp(objs->v[i].name, "routes/", 7))
			*ret = fleet_schema_route_put(cfg, &objs->v[i], err, errlen);
	route_path_set(&def, "/");
	if (!*ret && !route_table_find(cfg->routes, &def)) {
		snprintf(err, errlen,
			 "no default route (a route with path \"/\" and no methods, "
			 "host or exact)");
		*ret = -EINVAL;
	}
	if (*ret == -ENOMEM)
		snprintf(err, errlen, "out of memory");
	if (*ret && cfg) {
		config_destroy(cfg);
		cfg = NULL;
	}
	return cfg;
}

/* ---- encoding ---- */

static json_t *percent_json(uint32_t permille)
{
	return permille % 10 ? json_real(permille / 10.0) : json_integer(permille / 10);
}

static void route_opts_json(json_t *o, const struct config *t, const struct route_stored *s)
{
	if (s->split)
		json_object_set_new(o, "percent", percent_json(s->permille));
	if (s->exact)
		json_object_set_new(o, "exact", json_true());
	if (s->adapt && !s->rewrite[0])
		json_object_set_new(o, "strip_prefix", json_true());
	else if (s->adapt)
		json_object_set_new(o, "rewrite", json_string(s->rewrite));
	if (s->testers)
		json_object_set_new(o, "testers", json_true());
	if (s->fallback == ROUTE_FALLBACK_NONE)
		json_object_set_new(o, "fallback", json_string("none"));
	else if (s->fallback == ROUTE_FALLBACK_POOL)
		json_object_set_new(o, "fallback", json_string(t->pools[s->fallback_pool].name));
	if (s->rb_err_permille) {
		json_t *rb = json_pack("{s:o, s:I, s:I}", "errors_percent",
				       percent_json(s->rb_err_permille), "window_s",
				       (json_int_t)s->rb_window_s, "min", (json_int_t)s->rb_min);

		if (rb && s->rb_p99_ms)
			json_object_set_new(rb, "p99_ms", json_integer(s->rb_p99_ms));
		json_object_set_new(o, "rollback", rb);
	}
	if (s->shadow) {
		char text[SHADOW_TEXT_MAX];

		shadowspec_text(s->shadow, text, sizeof(text), 0);
		json_object_set_new(o, "shadow", json_string(text + strlen(" shadow ")));
	}
	if (!routegw_empty(s->gw)) {
		char gw[ROUTEGW_TEXT_MAX];

		routegw_text(s->gw, gw, sizeof(gw));
		json_object_set_new(o, "gateway", json_string(gw + 1)); /* without its space */
	}
	if (s->tripped)
		json_object_set_new(o, "tripped", json_string(s->trip));
	else if (s->inactive)
		json_object_set_new(o, "inactive", json_true());
}

char *fleet_schema_route_json(const struct config *t, const struct route *r)
{
	const struct route_stored *s = &r->spec;
	json_t *o = json_pack("{s:i, s:s, s:s}", "schema", FLEET_SCHEMA, "path", s->path, "pool",
			      t->pools[s->pool].name);
	char methods[128];
	char *text;

	if (!o) {
		errno = ENOMEM;
		return NULL;
	}
	if (s->methods) {
		confword_methods_text(s->methods, methods, sizeof(methods));
		json_object_set_new(o, "methods", json_string(methods));
	}
	if (s->host[0])
		json_object_set_new(o, "host", json_string(s->host));
	route_opts_json(o, t, s);
	text = json_dumps(o, JSON_OUT);
	json_decref(o);
	if (!text)
		errno = ENOMEM;
	return text;
}

static json_t *pool_json(const struct pool *p)
{
	json_t *bes = json_array(), *o;
	const struct pool_health *h = &p->health;

	for (unsigned i = 0; bes && i < p->nbackends; i++)
		if (p->backends[i].state != BACKEND_REMOVED)
			json_array_append_new(
				bes, json_pack("{s:s, s:s, s:I}", "addr", p->backends[i].name,
					       "state", pool_state_name(p->backends[i].state),
					       "weight", (json_int_t)p->backends[i].weight));
	o = json_pack("{s:i, s:o, s:{s:I, s:b}}", "schema", FLEET_SCHEMA, "backends", bes, "eject",
		      "after", (json_int_t)h->eject_after, "5xx", h->eject_5xx);
	if (o && p->proxy_protocol)
		json_object_set_new(o, "proxy_protocol", json_true());
	if (o && h->active)
		json_object_set_new(o, "health",
				    json_pack("{s:s, s:I, s:I, s:I, s:I, s:I}", "path", h->path,
					      "status", (json_int_t)h->status, "interval_ms",
					      (json_int_t)h->interval_ms, "timeout_ms",
					      (json_int_t)h->timeout_ms, "rise",
					      (json_int_t)h->rise, "fall", (json_int_t)h->fall));
	if (o && h->active && !h->status)
		json_object_del(json_object_get(o, "health"), "status");
	return o;
}

static int add_json(struct fleet_objs *out, const char *name, char *text)
{
	int ret = text ? fleet_objs_add(out, name, text, strlen(text), 0) : -ENOMEM;

	free(text);
	return ret;
}

struct enc_ctx {
	const struct config *t;
	struct fleet_objs *out;
};

static int enc_route(const struct route *r, void *arg)
{
	struct enc_ctx *c = arg;
	char name[32];

	snprintf(name, sizeof(name), "routes/%u", r->id);
	return add_json(c->out, name, fleet_schema_route_json(c->t, r));
}

int fleet_schema_encode(const struct config *t, struct fleet_objs *out)
{
	struct enc_ctx c = {.t = t, .out = out};
	int ret = 0;

	memset(out, 0, sizeof(*out));
	for (unsigned i = 0; i < t->npools && !ret; i++) {
		char name[64];
		json_t *o = pool_json(&t->pools[i]);

		snprintf(name, sizeof(name), "pools/%s", t->pools[i].name);
		ret = add_json(out, name, o ? json_dumps(o, JSON_OUT) : NULL);
		json_decref(o);
	}
	if (!ret)
		ret = route_table_each(t->routes, enc_route, &c);
	if (ret) {
		fleet_objs_free(out);
		return -ENOMEM;
	}
	fleet_objs_sort(out);
	return 0;
}

uint64_t fleet_schema_hash(const struct config *t)
{
	struct fleet_objs o;
	uint64_t h;

	if (fleet_schema_encode(t, &o))
		return 0;
	h = fleet_objs_hash(&o);
	fleet_objs_free(&o);
	return h;
}

uint64_t fleet_schema_route_hash(const struct config *t, uint32_t id)
{
	const struct route *r = route_table_get(t->routes, id);
	struct fleet_obj ob;
	char name[32];
	uint64_t h;

	if (!r)
		return 0;
	snprintf(name, sizeof(name), "routes/%u", id);
	ob.name = name;
	ob.value = fleet_schema_route_json(t, r);
	if (!ob.value)
		return 0;
	ob.len = strlen(ob.value);
	h = fleet_obj_hash(&ob);
	free(ob.value);
	return h;
}
