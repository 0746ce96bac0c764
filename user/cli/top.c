// SPDX-License-Identifier: GPL-2.0-only
/*
 * strgctl top: a live view of `stats -j`, read once a second; per route one line with each pool
 * side by side (legacy and modern first): requests per second, 5xx per second, p50 and p99 over
 * the last second, and the pool's share of the route's traffic. q quits.
 */
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>
#include <linux/types.h>

#include "cli/ctlclient.h"
#include "lib/clock.h"
#include "observe/quantile.h"
#include "strg/splice.h"
#include "cli/top.h"

#define TOP_POOLS 4 /* pool columns shown side by side */

static struct termios saved;
static bool raw_mode;

static void restore_terminal(void)
{
	if (raw_mode)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved);
	raw_mode = false;
}

static void on_signal(int sig)
{
	restore_terminal();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Keys without Enter and without echo, while top runs (restored at exit and on signals). */
static void terminal_raw(void)
{
	struct termios t;

	if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &saved))
		return;
	t = saved;
	t.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	if (tcsetattr(STDIN_FILENO, TCSANOW, &t))
		return;
	raw_mode = true;
	atexit(restore_terminal);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
}

/* Quantile q of log2-microsecond buckets, in ms; < 0 when none. */
static double quantile_ms(const double *b, double q)
{
	double us = quantile_us(b, q);

	return us < 0 ? us : us / 1000;
}

/* The route's row of pool in doc (by route id), or NULL. */
static json_t *find_pool(json_t *doc, json_int_t id, const char *pool)
{
	json_t *routes = json_object_get(doc, "routes"), *r, *p;
	size_t i, j;

	json_array_foreach(routes, i, r)
	{
		if (json_integer_value(json_object_get(r, "id")) != id)
			continue;
		json_array_foreach(json_object_get(r, "pools"), j, p)
		{
			if (!strcmp(json_string_value(json_object_get(p, "pool")), pool))
				return p;
		}
	}
	return NULL;
}

static json_int_t num(json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

/* Pool names in the order shown: legacy, modern, then the others as they come. */
static size_t pool_order(json_t *doc, const char **names)
{
	json_t *pools = json_object_get(doc, "pools"), *p;
	size_t i, n = 0;

	for (int pass = 0; pass < 3; pass++)
		json_array_foreach(pools, i, p)
		{
			const char *name = json_string_value(json_object_get(p, "pool"));
			bool legacy = !strcmp(name, "legacy"), modern = !strcmp(name, "modern");

			if (n < TOP_POOLS && ((pass == 0 && legacy) || (pass == 1 && modern) ||
					      (pass == 2 && !legacy && !modern)))
				names[n++] = name;
		}
	return n;
}

static void cell_num(double v, int prec)
{
	if (v < 0)
		printf(" %7s", "-");
	else
		printf(" %7.*f", prec, v);
}

/* One frame: every route, its pools side by side, figures over the interval since old. */
static void frame(json_t *doc, json_t *old, double dt, bool tty)
{
	const char *names[TOP_POOLS];
	size_t np = pool_order(doc, names), i, conns = 0, kernel = 0;
	json_t *r, *w;
	char when[32];
	time_t now = time(NULL);

	json_array_foreach(json_object_get(doc, "workers"), i, w)
	{
		conns += (size_t)num(w, "connections");
		kernel += (size_t)num(w, "kernel");
	}
	strftime(when, sizeof(when), "%H:%M:%S", localtime(&now));
	if (tty)
		printf("\033[H\033[J");
	printf("strg top  %s  %zu workers, %zu connections (%zu held by the kernel)  q quits\n\n",
	       when, json_array_size(json_object_get(doc, "workers")), conns, kernel);
	printf("%-32s", "ROUTE");
	for (size_t p = 0; p < np; p++)
		printf(" | %-6.6s %7s %7s %7s %7s %5s", names[p], "REQ/S", "5XX/S", "P50MS",
		       "P99MS", "SHARE");
	printf("\n");
	json_array_foreach(json_object_get(doc, "routes"), i, r)
	{
		json_int_t id = num(r, "id");
		double rate[TOP_POOLS], total = 0;
		json_t *cur[TOP_POOLS];

		for (size_t p = 0; p < np; p++) {
			json_t *o = old ? find_pool(old, id, names[p]) : NULL;

			cur[p] = find_pool(doc, id, names[p]);
			rate[p] = -1;
			if (cur[p] && o && dt > 0 && num(cur[p], "requests") >= num(o, "requests"))
				rate[p] =
					(double)(num(cur[p], "requests") - num(o, "requests")) / dt;
			else if (cur[p] && json_is_number(json_object_get(cur[p], "rate")))
				rate[p] = json_number_value(json_object_get(cur[p], "rate"));
			if (rate[p] > 0)
				total += rate[p];
		}
		printf("%-32.32s", json_string_value(json_object_get(r, "route")));
		for (size_t p = 0; p < np; p++) {
			json_t *o = old ? find_pool(old, id, names[p]) : NULL, *b, *ob;
			double lat[STRG_LAT_BUCKETS] = {0}, s5 = -1;
			bool windowed = o && dt > 0;

			if (!cur[p]) {
				printf(" | %-6s %7s %7s %7s %7s %5s", "", "", "", "", "", "");
				continue;
			}
			b = json_object_get(cur[p], "latency_us_log2");
			ob = o ? json_object_get(o, "latency_us_log2") : NULL;
			for (int k = 0; k < STRG_LAT_BUCKETS; k++)
				lat[k] = (double)json_integer_value(json_array_get(b, (size_t)k)) -
					 (windowed ? (double)json_integer_value(
							     json_array_get(ob, (size_t)k))
						   : 0);
			if (windowed)
				s5 = (double)(num(json_object_get(cur[p], "status"), "5xx") -
					      num(json_object_get(o, "status"), "5xx")) /
				     dt;
			printf(" | %-6s", "");
			cell_num(rate[p], 1);
			cell_num(s5, 2);
			cell_num(quantile_ms(lat, 0.5), 2);
			cell_num(quantile_ms(lat, 0.99), 2);
			if (total > 0 && rate[p] >= 0)
				printf(" %4.0f%%", 100 * rate[p] / total);
			else
				printf(" %5s", "-");
		}
		printf("\n");
	}
	fflush(stdout);
}

int top_run(const char *sock, unsigned frames)
{
	json_t *old = NULL;
	double t_old = 0;
	bool tty = isatty(STDOUT_FILENO), input = true;
	int ret = EXIT_OK;

	terminal_raw();
	for (unsigned n = 0; !frames || n < frames; n++) {
		struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};
		char *reply = NULL, c;
		json_error_t jerr;
		json_t *doc;
		double t;

		ret = ctl_call(sock, "stats -j\n", &reply);
		if (ret != EXIT_OK) {
			if (reply && !strncmp(reply, "error: ", 7))
				fprintf(stderr, "strgctl: %s", reply + 7);
			free(reply);
			break;
		}
		t = (double)now_ns() / 1e9;
		doc = json_loads(reply + 3, 0, &jerr);
		free(reply);
		if (!doc) {
			fprintf(stderr, "strgctl: top: strgd's stats are not JSON: %s\n",
				jerr.text);
			ret = EXIT_REFUSED;
			break;
		}
		frame(doc, old, old ? t - t_old : 0, tty);
		json_decref(old);
		old = doc;
		t_old = t;
		if (frames && n + 1 == frames)
			break;
		if (!tty)
			printf("\n");
		/* A second, or a key: q quits. Input that ended is not watched any more. */
		if (!input) {
			sleep(1);
			continue;
		}
		if (poll(&pfd, 1, 1000) > 0) {
			ssize_t got = read(STDIN_FILENO, &c, 1);

			if (got == 1 && (c == 'q' || c == 'Q'))
				break;
			if (got <= 0) {
				input = false; /* it ended: the second is waited out */
				sleep(1);
			}
		}
	}
	json_decref(old);
	restore_terminal();
	return ret;
}
