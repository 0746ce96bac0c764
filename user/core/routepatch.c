// SPDX-License-Identifier: GPL-2.0-only
/*
 * route patch (routepatch.h): the options an operator names, applied to a route's full spec, the
 * others left as they are; and the findings of a change that sends more users to a pool.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/routepatch.h"
#include "lib/words.h"

#define MAX_WORDS 64

enum seen {
	SEEN_POOL = 1,
	SEEN_PERCENT = 2,
	SEEN_ADAPT = 4,
	SEEN_TESTERS = 8,
	SEEN_FALLBACK = 16,
	SEEN_ROLLBACK = 32,
	SEEN_SHADOW = 64,
};

/* One option's words read as the route grammar reads them, on a stand-in route. */
static int parse_as_route(struct config *cfg, int n, char **w, struct route_spec *out, char *err,
			  size_t errlen)
{
	char *line[MAX_WORDS + 3] = {"patch", "/x", cfg->pools[0].name};

	if (n > MAX_WORDS)
		return -E2BIG;
	memcpy(line + 3, w, sizeof(*w) * (size_t)n);
	/* The stand-in's pool may be the one a fallback names: the whole route is checked later. */
	return config_saved_route_words(cfg, n + 3, line, out, err, errlen);
}

/* The words rollback takes: ERR% and then p99, window and min pairs. */
static int rollback_words(int argc, char **argv, int i)
{
	int n = 2;

	while (i + n + 1 < argc && (!strcmp(argv[i + n], "p99") || !strcmp(argv[i + n], "window") ||
				    !strcmp(argv[i + n], "min")))
		n += 2;
	return n;
}

/* The words shadow takes: POOL and then its options' pairs (the route grammar's order). */
static int shadow_words(int argc, char **argv, int i)
{
	int n = 2;

	while (i + n + 1 < argc && shadowspec_is_option(argv[i + n]))
		n += 2;
	return n;
}

static void rollback_copy(struct route_spec *s, const struct route_spec *from)
{
	s->rb_err_permille = from->rb_err_permille;
	s->rb_p99_ms = from->rb_p99_ms;
	s->rb_window_s = from->rb_window_s;
	s->rb_min = from->rb_min;
}

/* Which option a word begins (words that exclude each other share one), or 0. */
static unsigned option_bit(const char *word)
{
	static const struct {
		const char *word;
		unsigned bit;
	} opts[] = {
		{"pool", SEEN_POOL},	      {"percent", SEEN_PERCENT},
		{"strip-prefix", SEEN_ADAPT}, {"rewrite", SEEN_ADAPT},
		{"no-rewrite", SEEN_ADAPT},   {"testers", SEEN_TESTERS},
		{"no-testers", SEEN_TESTERS}, {"fallback", SEEN_FALLBACK},
		{"rollback", SEEN_ROLLBACK},  {"no-rollback", SEEN_ROLLBACK},
		{"shadow", SEEN_SHADOW},      {"no-shadow", SEEN_SHADOW},
	};

	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
		if (!strcmp(word, opts[i].word))
			return opts[i].bit;
	return 0;
}

/* The option at argv[i] into s; the words it took, or -EINVAL with err. */
static int one_option(struct config *cfg, int argc, char **argv, int i, struct route_spec *s,
		      unsigned *seen, char *err, size_t errlen)
{
	const char *k = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
	struct route_spec tmp;
	unsigned bit;
	int n = 1;

	bit = option_bit(k);
	if (!bit) {
		snprintf(err, errlen, "route patch: unexpected '%s' (options: %s)", k,
			 ROUTEPATCH_GRAMMAR);
		return -EINVAL;
	}
	if (*seen & bit) {
		snprintf(err, errlen, "route patch: '%s' conflicts with an option before it", k);
		return -EINVAL;
	}
	*seen |= bit;
	if (!val && (bit == SEEN_POOL || bit == SEEN_PERCENT || bit == SEEN_FALLBACK ||
		     !strcmp(k, "rewrite") || !strcmp(k, "rollback") || !strcmp(k, "shadow"))) {
		snprintf(err, errlen, "route patch: '%s' needs a value", k);
		return -EINVAL;
	}
	if (bit == SEEN_POOL) {
		s->pool = config_pool_find(cfg, val);
		if (s->pool < 0) {
			snprintf(err, errlen, "route patch: unknown pool '%.64s'", val);
			return -EINVAL;
		}
		return 2;
	}
	if (bit == SEEN_TESTERS) {
		s->testers = !strcmp(k, "testers");
		return 1;
	}
	if (!strcmp(k, "no-rewrite")) {
		s->adapt = false;
		s->rewrite[0] = '\0';
		return 1;
	}
	if (!strcmp(k, "no-rollback")) {
		rollback_copy(s, &(struct route_spec){0});
		return 1;
	}
	if (!strcmp(k, "no-shadow")) {
		s->shadow = (struct route_shadow){0};
		return 1;
	}
	if (bit == SEEN_FALLBACK && !strcmp(val, "next")) {
		s->fallback = ROUTE_FALLBACK_NEXT;
		s->fallback_pool = 0;
		return 2;
	}
	n = !strcmp(k, "rollback")	 ? rollback_words(argc, argv, i)
	    : !strcmp(k, "shadow")	 ? shadow_words(argc, argv, i)
	    : !strcmp(k, "strip-prefix") ? 1
					 : 2;
	if (parse_as_route(cfg, n, argv + i, &tmp, err, errlen))
		return -EINVAL;
	if (bit == SEEN_PERCENT) {
		s->split = true;
		s->permille = tmp.permille;
	} else if (bit == SEEN_ADAPT) {
		s->adapt = true;
		strcpy(s->rewrite, tmp.rewrite);
	} else if (bit == SEEN_FALLBACK) {
		s->fallback = tmp.fallback;
		s->fallback_pool = tmp.fallback_pool;
	} else if (bit == SEEN_SHADOW) {
		s->shadow = tmp.shadow;
	} else {
		rollback_copy(s, &tmp);
	}
	return n;
}

/* The whole route as route set would read it: the checks that need every option at once. */
static int check_whole(struct config *cfg, const struct route_spec *s, char *err, size_t errlen)
{
	char text[ROUTE_TEXT_MAX], why[1024], *w[MAX_WORDS + 1] = {"patch"};
	struct route_stored v;
	struct route_spec out;
	const char *fb;
	int n;

	route_spec_view(s, &v);
	fb = s->fallback == ROUTE_FALLBACK_POOL ? cfg->pools[s->fallback_pool].name : NULL;
	route_spec_text(&v, cfg->pools[s->pool].name, fb, text, sizeof(text));
	n = words_split(text, w + 1, MAX_WORDS, false);
	if (n < 0) {
		snprintf(err, errlen, "route patch: %s", strerror(-n));
		return n;
	}
	if (!config_route_words(cfg, n + 1, w, &out, why, sizeof(why)))
		return 0;
	/* The parser names itself "route:"; this was a patch. */
	snprintf(err, errlen, "route patch: %s", strncmp(why, "route: ", 7) ? why : why + 7);
	return -EINVAL;
}

/*
 * The gateway options at argv[*i] (a run of them): each kind named replaces the route's own
 * (the limit, a list, all the header rules). Conditions are the route's key: not patched.
 */
static int gateway_options(int argc, char **argv, int *i, struct route_spec *s, char *err,
			   size_t errlen)
{
	struct routegw gw = {0};
	char why[256];

	if (routegw_parse(argc, argv, i, &gw, why, sizeof(why))) {
		snprintf(err, errlen, "route patch: %s", why);
		return -EINVAL;
	}
	if (gw.nmatch) {
		snprintf(err, errlen,
			 "route patch: header, cookie and query conditions are part of "
			 "the route's key: route set the route with them");
		return -EINVAL;
	}
	if (gw.limit.count)
		s->gw.limit = gw.limit;
	if (gw.nallow) {
		s->gw.nallow = gw.nallow;
		memcpy(s->gw.allow, gw.allow, sizeof(gw.allow));
	}
	if (gw.ndeny) {
		s->gw.ndeny = gw.ndeny;
		memcpy(s->gw.deny, gw.deny, sizeof(gw.deny));
	}
	if (gw.nrule) {
		s->gw.nrule = gw.nrule;
		memcpy(s->gw.rule, gw.rule, sizeof(gw.rule));
	}
	return 0;
}

/* no-limit, no-allow, no-deny, no-header-rules: 1 when argv[i] was one. */
static int gateway_removal(const char *k, struct route_spec *s)
{
	if (!strcmp(k, "no-limit"))
		memset(&s->gw.limit, 0, sizeof(s->gw.limit));
	else if (!strcmp(k, "no-allow"))
		s->gw.nallow = 0;
	else if (!strcmp(k, "no-deny"))
		s->gw.ndeny = 0;
	else if (!strcmp(k, "no-header-rules"))
		s->gw.nrule = 0;
	else
		return 0;
	return 1;
}

int routepatch_apply(struct config *cfg, int argc, char **argv, struct route_spec *s, char *err,
		     size_t errlen)
{
	struct route_spec draft = *s;
	unsigned seen = 0;
	int n;

	if (argc < 1) {
		snprintf(err, errlen, "route patch: name an option to change (%s)",
			 ROUTEPATCH_GRAMMAR);
		return -EINVAL;
	}
	for (int i = 0; i < argc; i += n) {
		n = 0;
		if (routegw_word(argv[i]) && gateway_options(argc, argv, &i, &draft, err, errlen))
			return -EINVAL;
		if (i < argc && gateway_removal(argv[i], &draft))
			n = 1;
		else if (i < argc && !routegw_word(argv[i]))
			n = one_option(cfg, argc, argv, i, &draft, &seen, err, errlen);
		if (n < 0)
			return -EINVAL;
	}
	if (check_whole(cfg, &draft, err, errlen))
		return -EINVAL;
	*s = draft;
	return 0;
}

unsigned routepatch_share(const struct route_spec *s)
{
	return s->inactive ? 0 : s->split ? s->permille : 1000;
}

int routepatch_surprises(const struct config *cfg, uint32_t id, const struct route_spec *old,
			 const struct route_spec *now, void (*fn)(void *ctx, const char *line),
			 void *ctx)
{
	unsigned was = routepatch_share(old), is = routepatch_share(now);
	char line[320];
	int n = 0;

	if (is && now->pool != old->pool) {
		snprintf(line, sizeof(line),
			 "route %u now sends %u.%u %% of its users to pool %s (it sent %u.%u %% to "
			 "%s)",
			 id, is / 10, is % 10, cfg->pools[now->pool].name, was / 10, was % 10,
			 cfg->pools[old->pool].name);
		fn(ctx, line);
		n++;
	} else if (is > was) {
		snprintf(line, sizeof(line),
			 "route %u now sends %u.%u %% of its users to pool %s (was %u.%u %%)", id,
			 is / 10, is % 10, cfg->pools[now->pool].name, was / 10, was % 10);
		fn(ctx, line);
		n++;
	}
	if (old->testers && !now->testers) {
		snprintf(line, sizeof(line),
			 "route %u drops testers: the tester header no longer pins its requests "
			 "to a pool",
			 id);
		fn(ctx, line);
		n++;
	}
	return n;
}
