// SPDX-License-Identifier: GPL-2.0-only
/* The shadow's figures in text, JSON and Prometheus' format (shadowview.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "observe/promtext.h"
#include "observe/quantile.h"
#include "observe/shadowview.h"

static const char *const kind_names[SHADOWCMP_KINDS] = {"status", "headers", "body"};

void shadowview_route_free(struct shadowview_route *r)
{
	if (!r)
		return;
	free(r->route);
	free(r->pool);
	free(r->legacy);
	free(r->snap);
	r->route = r->pool = r->legacy = NULL;
	r->snap = NULL;
}

int shadowview_mismatch_permille(const struct shadowstats_snap *s)
{
	if (s->compared < SHADOWSTATS_MIN_ALERT)
		return -1;
	return (int)(s->mismatches * 1000 / s->compared);
}

static double pct(uint64_t n, uint64_t of)
{
	return of ? 100.0 * (double)n / (double)of : 0.0;
}

/* A latency quantile in ms, or null (JSON) / "-" (text) with too few samples. */
static double q_ms(const double *b, double q)
{
	double us = quantile_us(b, q);

	return us < 0 ? -1 : us / 1000.0;
}

static json_t *ms_json(double ms)
{
	return ms < 0 ? json_null() : json_real(ms);
}

/* ---- JSON ---- */

static json_t *fields_json(const struct shadowstats_snap *s)
{
	json_t *a = json_array();

	for (unsigned i = 0; i < s->nfields; i++) {
		const struct shadowstats_field *f = &s->fields[i];

		json_array_append_new(a, json_pack("{s:s, s:s, s:I, s:f, s:I, s:f, s:b}", "field",
						   f->name, "kind", kind_names[f->kind],
						   "legacy_vs_modern", (json_int_t)f->lm,
						   "legacy_vs_modern_percent",
						   pct(f->lm, s->compared), "legacy_vs_legacy",
						   (json_int_t)f->ll, "legacy_vs_legacy_percent",
						   pct(f->ll, s->noise_pairs), "noise", f->noise));
	}
	return a;
}

/* Whether the snapshot judges the field noise. */
static bool is_noise(const struct shadowstats_snap *s, const char *field)
{
	for (unsigned i = 0; i < s->nfields; i++)
		if (!strcmp(s->fields[i].name, field))
			return s->fields[i].noise;
	return false;
}

static json_t *record_json(const struct shadowstats_snap *s, const struct shadowstats_record *r)
{
	json_t *d = json_array();

	for (unsigned i = 0; i < r->n; i++)
		json_array_append_new(d, json_pack("{s:s, s:s, s:s, s:s, s:b}", "field",
						   r->d[i].field, "kind", kind_names[r->d[i].kind],
						   "legacy", r->d[i].a, "modern", r->d[i].b,
						   "noise", is_noise(s, r->d[i].field)));
	return json_pack("{s:I, s:s, s:s, s:s, s:I, s:I, s:o, s:I, s:b}", "at_ms",
			 (json_int_t)r->at_ms, "request_id", r->id, "method", r->method, "path",
			 r->path, "legacy_status", (json_int_t)r->status_a, "modern_status",
			 (json_int_t)r->status_b, "differences", d, "more", (json_int_t)r->more,
			 "body_cut", r->cut);
}

static json_t *counts_json(const struct shadowstats_snap *s)
{
	json_t *drops = json_object(), *kinds = json_object();

	for (unsigned d = 0; d < SHADOW_DROPS; d++)
		json_object_set_new(drops, shadowstats_drop_name(d),
				    json_integer((json_int_t)s->dropped[d]));
	for (unsigned k = 0; k < SHADOWCMP_KINDS; k++)
		json_object_set_new(kinds, kind_names[k], json_integer((json_int_t)s->by_kind[k]));
	return json_pack("{s:I, s:I, s:o, s:I, s:I, s:I, s:I, s:f, s:o, s:I, s:I, s:I}", "sent",
			 (json_int_t)s->sent, "inflight", (json_int_t)s->inflight, "dropped", drops,
			 "compared", (json_int_t)s->compared, "matches", (json_int_t)s->matches,
			 "noise_only", (json_int_t)s->noise_only, "mismatches",
			 (json_int_t)s->mismatches, "mismatch_percent",
			 pct(s->mismatches, s->compared), "mismatches_by_kind", kinds,
			 "noise_pairs", (json_int_t)s->noise_pairs, "bodies_cut",
			 (json_int_t)s->cut, "other_fields", (json_int_t)s->other_fields);
}

json_t *shadowview_json(const struct shadowview_route *r, bool ring)
{
	const struct shadowstats_snap *s = r->snap;
	json_t *o = counts_json(s), *lat, *more, *recs = json_array();

	lat = json_pack("{s:o, s:o, s:o, s:o}", "legacy_p50_ms", ms_json(q_ms(s->lat_legacy, 0.5)),
			"modern_p50_ms", ms_json(q_ms(s->lat_modern, 0.5)), "legacy_p99_ms",
			ms_json(q_ms(s->lat_legacy, 0.99)), "modern_p99_ms",
			ms_json(q_ms(s->lat_modern, 0.99)));
	more = json_pack("{s:I, s:s, s:s, s:s, s:f, s:f, s:o, s:o}", "route_id",
			 (json_int_t)s->route_id, "route", r->route, "pool", r->pool, "legacy_pool",
			 r->legacy, "percent", r->permille / 10.0, "noise_percent",
			 r->noise_permille / 10.0, "latency", lat, "fields", fields_json(s));
	json_object_update(o, more);
	json_decref(more);
	json_object_set_new(o, "alert_percent",
			    r->alert_permille ? json_real(r->alert_permille / 10.0) : json_null());
	for (unsigned i = 0; ring && i < s->nring; i++)
		json_array_append_new(recs, record_json(s, &s->ring[i]));
	json_object_set_new(o, "last_mismatches", recs);
	return o;
}

/* ---- text ---- */

static void ms_text(char *out, size_t len, double ms)
{
	if (ms < 0)
		snprintf(out, len, "-");
	else
		snprintf(out, len, "%.2f ms", ms);
}

static void counts_text(const struct shadowstats_snap *s, struct reply *out)
{
	reply_printf(out, "  copies    sent %llu, in flight %lld, dropped",
		     (unsigned long long)s->sent, (long long)s->inflight);
	for (unsigned d = 0; d < SHADOW_DROPS; d++)
		reply_printf(out, "%s %s %llu", d ? "," : "", shadowstats_drop_name(d),
			     (unsigned long long)s->dropped[d]);
	reply_printf(out,
		     "\n  compared  %llu: %llu match, %llu mismatch (%.2f %%: status %llu, headers "
		     "%llu, body %llu), %llu differ in noise only; %llu bodies over max-body\n",
		     (unsigned long long)s->compared, (unsigned long long)s->matches,
		     (unsigned long long)s->mismatches, pct(s->mismatches, s->compared),
		     (unsigned long long)s->by_kind[0], (unsigned long long)s->by_kind[1],
		     (unsigned long long)s->by_kind[2], (unsigned long long)s->noise_only,
		     (unsigned long long)s->cut);
}

static void latency_text(const struct shadowstats_snap *s, struct reply *out)
{
	char a[32], b[32], c[32], d[32];

	ms_text(a, sizeof(a), q_ms(s->lat_legacy, 0.5));
	ms_text(b, sizeof(b), q_ms(s->lat_modern, 0.5));
	ms_text(c, sizeof(c), q_ms(s->lat_legacy, 0.99));
	ms_text(d, sizeof(d), q_ms(s->lat_modern, 0.99));
	reply_printf(out, "  latency   p50 legacy %s, modern %s; p99 legacy %s, modern %s\n", a, b,
		     c, d);
}

static void fields_text(const struct shadowstats_snap *s, struct reply *out)
{
	if (!s->nfields)
		return;
	reply_printf(out, "  %-44s %18s %18s\n", "FIELD", "LEGACY/MODERN", "LEGACY/LEGACY");
	for (unsigned i = 0; i < s->nfields; i++) {
		const struct shadowstats_field *f = &s->fields[i];
		char lm[32], ll[32];

		snprintf(lm, sizeof(lm), "%llu %6.2f%%", (unsigned long long)f->lm,
			 pct(f->lm, s->compared));
		snprintf(ll, sizeof(ll), "%llu %6.2f%%", (unsigned long long)f->ll,
			 pct(f->ll, s->noise_pairs));
		reply_printf(out, "  %-44s %18s %18s%s\n", f->name, lm, ll,
			     f->noise ? "  noise" : "");
	}
	if (s->other_fields)
		reply_printf(out, "  (%llu comparisons differed in fields beyond those named)\n",
			     (unsigned long long)s->other_fields);
}

static void ring_text(const struct shadowstats_snap *s, struct reply *out)
{
	if (s->nring)
		reply_printf(out, "  last mismatches, newest first (legacy | modern):\n");
	for (unsigned i = 0; i < s->nring; i++) {
		const struct shadowstats_record *r = &s->ring[i];
		time_t t = (time_t)(r->at_ms / 1000);
		struct tm tm;
		char when[32];

		gmtime_r(&t, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
		reply_printf(out, "    %s %s %s id %s: status %u | %u%s\n", when, r->method,
			     r->path, r->id[0] ? r->id : "-", r->status_a, r->status_b,
			     r->cut ? " (bodies over max-body)" : "");
		for (unsigned k = 0; k < r->n; k++)
			reply_printf(out, "      %s: %s | %s%s\n", r->d[k].field, r->d[k].a,
				     r->d[k].b, is_noise(s, r->d[k].field) ? "  (noise)" : "");
		if (r->more)
			reply_printf(out, "      (%u more)\n", r->more);
	}
}

void shadowview_text(const struct shadowview_route *r, bool ring, struct reply *out)
{
	const struct shadowstats_snap *s = r->snap;

	reply_printf(out, "route %u %s: pool %s shadowed by %s (%u.%u %% of users, noise %u.%u %%",
		     s->route_id, r->route, r->legacy, r->pool, r->permille / 10u,
		     r->permille % 10u, r->noise_permille / 10u, r->noise_permille % 10u);
	if (r->alert_permille)
		reply_printf(out, ", alert above %u.%u %%", r->alert_permille / 10u,
			     r->alert_permille % 10u);
	reply_printf(out, ")\n");
	counts_text(s, out);
	latency_text(s, out);
	reply_printf(out, "  noise     %llu legacy-vs-legacy pairs\n",
		     (unsigned long long)s->noise_pairs);
	fields_text(s, out);
	if (ring)
		ring_text(s, out);
}

/* ---- Prometheus ---- */

static void labels(struct reply *out, const struct shadowview_route *r)
{
	reply_printf(out, "route=\"");
	promtext_label(out, r->route);
	reply_printf(out, "\",pool=\"");
	promtext_label(out, r->pool);
	reply_printf(out, "\"");
}

/* One family: a counter (or gauge) per route, at offset off of the snapshot. */
static void family(const struct shadowview_route *v, size_t n, struct reply *out, const char *name,
		   const char *help, size_t off)
{
	promtext_help(out, name, "counter", help);
	for (size_t i = 0; i < n; i++) {
		reply_printf(out, "%s{", name);
		labels(out, &v[i]);
		reply_printf(
			out, "} %llu\n",
			(unsigned long long)*(const uint64_t *)((const char *)v[i].snap + off));
	}
}

static void prom_drops_kinds(const struct shadowview_route *v, size_t n, struct reply *out)
{
	reply_printf(out, "# HELP strg_shadow_dropped_total Copies dropped, by reason.\n"
			  "# TYPE strg_shadow_dropped_total counter\n");
	for (size_t i = 0; i < n; i++)
		for (unsigned d = 0; d < SHADOW_DROPS; d++) {
			reply_printf(out, "strg_shadow_dropped_total{");
			labels(out, &v[i]);
			reply_printf(out, ",reason=\"%s\"} %llu\n", shadowstats_drop_name(d),
				     (unsigned long long)v[i].snap->dropped[d]);
		}
	reply_printf(out, "# HELP strg_shadow_mismatches_by_kind_total Mismatches with a "
			  "difference of that kind (noise apart).\n"
			  "# TYPE strg_shadow_mismatches_by_kind_total counter\n");
	for (size_t i = 0; i < n; i++)
		for (unsigned k = 0; k < SHADOWCMP_KINDS; k++) {
			reply_printf(out, "strg_shadow_mismatches_by_kind_total{");
			labels(out, &v[i]);
			reply_printf(out, ",kind=\"%s\"} %llu\n", kind_names[k],
				     (unsigned long long)v[i].snap->by_kind[k]);
		}
}

static void prom_fields(const struct shadowview_route *v, size_t n, struct reply *out)
{
	reply_printf(out, "# HELP strg_shadow_field_differences_total Comparisons where the "
			  "field differed: legacy versus modern, or legacy versus legacy (noise).\n"
			  "# TYPE strg_shadow_field_differences_total counter\n");
	for (size_t i = 0; i < n; i++)
		for (unsigned f = 0; f < v[i].snap->nfields; f++)
			for (int side = 0; side < 2; side++) {
				const struct shadowstats_field *x = &v[i].snap->fields[f];

				reply_printf(out, "strg_shadow_field_differences_total{");
				labels(out, &v[i]);
				reply_printf(out, ",field=\"");
				promtext_label(out, x->name);
				reply_printf(out, "\",versus=\"%s\",noise=\"%s\"} %llu\n",
					     side ? "legacy" : "modern", x->noise ? "1" : "0",
					     (unsigned long long)(side ? x->ll : x->lm));
			}
}

static void prom_latency(const struct shadowview_route *v, size_t n, struct reply *out)
{
	static const double qs[] = {0.5, 0.99};

	reply_printf(out, "# HELP strg_shadow_latency_seconds Latency quantiles of the user's "
			  "answers (legacy) and the copies' (modern), of the compared requests.\n"
			  "# TYPE strg_shadow_latency_seconds gauge\n");
	for (size_t i = 0; i < n; i++)
		for (int side = 0; side < 2; side++)
			for (size_t k = 0; k < 2; k++) {
				double ms =
					q_ms(side ? v[i].snap->lat_modern : v[i].snap->lat_legacy,
					     qs[k]);

				if (ms < 0)
					continue;
				reply_printf(out, "strg_shadow_latency_seconds{");
				labels(out, &v[i]);
				reply_printf(out, ",side=\"%s\",quantile=\"%g\"} %.6f\n",
					     side ? "modern" : "legacy", qs[k], ms / 1000.0);
			}
}

/* The counters of a route's shadow, one Prometheus family each (name, help, field). */
static const struct counter_family {
	const char *name, *help;
	size_t off;
} counter_families[] = {
	{"strg_shadow_copies_total", "Copies sent to the shadow pool.",
	 offsetof(struct shadowstats_snap, sent)},
	{"strg_shadow_compared_total", "Copies whose answer was compared with the user's.",
	 offsetof(struct shadowstats_snap, compared)},
	{"strg_shadow_matches_total", "Comparisons without a difference.",
	 offsetof(struct shadowstats_snap, matches)},
	{"strg_shadow_mismatches_total", "Comparisons with a difference that is not noise.",
	 offsetof(struct shadowstats_snap, mismatches)},
	{"strg_shadow_noise_only_total", "Comparisons that differed in noise fields only.",
	 offsetof(struct shadowstats_snap, noise_only)},
	{"strg_shadow_noise_pairs_total", "Requests sent to the route's pool twice to learn noise.",
	 offsetof(struct shadowstats_snap, noise_pairs)},
	{"strg_shadow_bodies_cut_total",
	 "Comparisons of a body over max-body (by length and prefix hash).",
	 offsetof(struct shadowstats_snap, cut)},
};

void shadowview_prometheus(const struct shadowview_route *v, size_t n, struct reply *out)
{
	if (!n)
		return;
	for (size_t k = 0; k < sizeof(counter_families) / sizeof(counter_families[0]); k++)
		family(v, n, out, counter_families[k].name, counter_families[k].help,
		       counter_families[k].off);
	prom_drops_kinds(v, n, out);
	prom_fields(v, n, out);
	prom_latency(v, n, out);
}
