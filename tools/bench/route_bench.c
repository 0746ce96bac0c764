// SPDX-License-Identifier: GPL-2.0-only
/* Micro-benchmark: route lookup cost at 10, 1 000 and 10 000 routes, which should barely differ. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/http.h"
#include "lib/clock.h"
#include "core/route.h"

#define NHITS	 64
#define NMISSES	 16
#define NREQ	 (NHITS + NMISSES)
#define RUN_NS	 300000000ull /* measured, per table size */
#define WARM_NS	 50000000ull  /* caches and branch predictor first */
#define HOST	 "www.example.com"
#define HOST_LEN (sizeof(HOST) - 1)
#define GROUP	 5 /* one route of each depth 1..5 per service */

struct req {
	unsigned method;
	char path[96];
	size_t len;
	char want[96]; /* prefix of the route that must answer */
};

/* Requests that match no route's prefix and fall through to "/". */
static const char *const misses[NMISSES] = {
	"/",
	"/favicon.ico",
	"/static/js/app.js",
	"/static/css/site.css",
	"/img/products/1234/large.png",
	"/api/v3/users/42/orders",
	"/v2/svc1/resource1",
	"/v1",
	"/v1/svc",
	"/v1/nosuch/resource1/items",
	"/login",
	"/account/settings/notifications",
	"/search",
	"/cart/items/7",
	"/healthz",
	"/svcX/a",
};

/* Route i: service i / 5 at depth 1 + i % 5, realistic names, mixed method sets. */
static void route_path(char *buf, size_t len, unsigned i)
{
	unsigned svc = i / GROUP, res = svc % 7;

	switch (i % GROUP) {
	case 0:
		snprintf(buf, len, "/svc%u", svc);
		break;
	case 1:
		snprintf(buf, len, "/v1/svc%u", svc);
		break;
	case 2:
		snprintf(buf, len, "/v1/svc%u/resource%u", svc, res);
		break;
	case 3:
		snprintf(buf, len, "/v1/svc%u/resource%u/items", svc, res);
		break;
	default:
		snprintf(buf, len, "/v1/svc%u/resource%u/items/detail", svc, res);
		break;
	}
}

static uint32_t route_methods(unsigned i)
{
	static const uint32_t m[] = {0, (1u << HTTP_M_GET) | (1u << HTTP_M_HEAD),
				     1u << HTTP_M_POST};

	return m[i % 3];
}

/* n routes in all, the default "/" included. */
static struct route_table *build(unsigned n)
{
	struct route_table *t = route_table_new();
	struct route_spec s = {.path = "/"};
	unsigned i;

	if (!t)
		return NULL;
	if (route_table_set(t, &s) < 0)
		goto err;
	for (i = 0; i + 1 < n; i++) {
		memset(&s, 0, sizeof(s));
		route_path(s.path, sizeof(s.path), i);
		s.methods = route_methods(i);
		s.pool = 1;
		if (route_table_set(t, &s) < 0)
			goto err;
	}
	return t;
err:
	route_table_free(t);
	return NULL;
}

/* Hits spread over the whole table, every depth equally often, half of them to a child path. */
static void make_requests(struct req *r, unsigned n)
{
	unsigned groups = (n - 1) / GROUP, j, i;

	for (j = 0; j < NHITS; j++) {
		i = (j * groups / NHITS) * GROUP + j % GROUP;
		route_path(r[j].want, sizeof(r[j].want), i);
		snprintf(r[j].path, sizeof(r[j].path), "%s%s", r[j].want, j % 2 ? "/84213" : "");
		r[j].method = route_methods(i) == 1u << HTTP_M_POST ? HTTP_M_POST : HTTP_M_GET;
	}
	for (j = 0; j < NMISSES; j++) {
		strcpy(r[NHITS + j].path, misses[j]);
		strcpy(r[NHITS + j].want, "/");
		r[NHITS + j].method = HTTP_M_GET;
	}
	for (j = 0; j < NREQ; j++)
		r[j].len = strlen(r[j].path);
}

static int check(const struct route_table *t, const struct req *r)
{
	const struct route *got;
	unsigned j;

	for (j = 0; j < NREQ; j++) {
		got = route_table_lookup(t, r[j].method, HOST, HOST_LEN, r[j].path, r[j].len);
		if (!got || strcmp(got->spec.path, r[j].want)) {
			fprintf(stderr, "route_bench: %s matched %s, want %s\n", r[j].path,
				got ? got->spec.path : "nothing", r[j].want);
			return -EINVAL;
		}
	}
	return 0;
}

/* Where lookup results go, so the compiler cannot drop the lookups. */
static volatile uint32_t sink;

/* Whole passes over the request mix until run_ns has elapsed; returns ns per lookup. */
static double run(const struct route_table *t, const struct req *r, uint64_t run_ns)
{
	uint64_t start = now_ns(), end, lookups = 0;
	uint32_t acc = 0;
	unsigned j;

	do {
		for (j = 0; j < NREQ; j++)
			acc += route_table_lookup(t, r[j].method, HOST, HOST_LEN, r[j].path,
						  r[j].len)
				       ->id;
		lookups += NREQ;
		end = now_ns();
	} while (end - start < run_ns);
	sink = acc;
	return (double)(end - start) / (double)lookups;
}

int main(void)
{
	static const unsigned sizes[] = {10, 1000, 10000};
	static struct req reqs[NREQ];
	double ns[3];
	struct route_table *t;
	unsigned k;

	printf("route lookup: %d hits at depth 1-5 (half to a child path) + %d misses to \"/\"\n",
	       NHITS, NMISSES);
	printf("  %8s  %10s\n", "routes", "ns/lookup");
	for (k = 0; k < 3; k++) {
		t = build(sizes[k]);
		if (!t || route_table_count(t) != sizes[k]) {
			fprintf(stderr, "route_bench: cannot build %u routes\n", sizes[k]);
			return 1;
		}
		make_requests(reqs, sizes[k]);
		if (check(t, reqs)) {
			route_table_free(t);
			return 1;
		}
		run(t, reqs, WARM_NS);
		ns[k] = run(t, reqs, RUN_NS);
		printf("  %8u  %10.1f\n", sizes[k], ns[k]);
		route_table_free(t);
	}
	printf("  ratio 10000/10: %.2f\n", ns[2] / ns[0]);
	return 0;
}
