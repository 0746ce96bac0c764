/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What a route does as an API gateway, beside choosing a pool: more conditions a request must
 * meet (header, cookie, query), a rate limit, who may use it (allow, deny), and header rules
 * for the request it forwards and the response it returns. Parsed from the route's words, said
 * back in them, and checked against a request here; the data path and the kernel loader act on
 * it (dataplane/gateway.c, kernel/splice.c).
 */
#ifndef STRG_ROUTEGW_H
#define STRG_ROUTEGW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct http_request;

/* The words, after a route's other options (ROUTE_GRAMMAR says where). */
#define ROUTEGW_GRAMMAR                                                                            \
	"[header NAME VALUE|~PREFIX] [cookie NAME VALUE] [query NAME VALUE] "                      \
	"[limit RATE [burst N] [per address | cookie NAME | header NAME]] [allow CIDR,...] "       \
	"[deny CIDR,...] [set-header NAME VALUE] [del-header NAME] "                               \
	"[set-response-header NAME VALUE] [del-response-header NAME]"

#define ROUTEGW_MATCH_MAX  4   /* conditions of one route */
#define ROUTEGW_RULE_MAX   8   /* header rules of one route */
#define ROUTEGW_CIDR_MAX   16  /* entries of its allow list, and of its deny list */
#define ROUTEGW_NAME_MAX   64  /* a header, cookie or query parameter name */
#define ROUTEGW_VALUE_MAX  128 /* a value a condition compares */
#define ROUTEGW_RVALUE_MAX 256 /* a header rule's value, variables unexpanded */
/* A header rule's value once expanded: longer is cut (a route's text can be long). */
#define ROUTEGW_EXPANDED_MAX 512
/* Room the request rules may add to a forwarded head. */
#define ROUTEGW_HEAD_ROOM (ROUTEGW_RULE_MAX * (ROUTEGW_NAME_MAX + ROUTEGW_EXPANDED_MAX + 4))

enum routegw_match_kind {
	ROUTEGW_M_HEADER = 1,
	ROUTEGW_M_COOKIE = 2,
	ROUTEGW_M_QUERY = 3,
};

/* One condition: the request has field/cookie/parameter name with this value (or prefix). */
struct routegw_match {
	uint8_t kind;			 /* enum routegw_match_kind */
	bool prefix;			 /* header only: "~PREFIX", the value starts with it */
	char name[ROUTEGW_NAME_MAX + 1]; /* header names are stored lower case */
	char value[ROUTEGW_VALUE_MAX + 1];
};

enum routegw_rule_kind {
	ROUTEGW_SET_REQ = 1,  /* set-header: the request's fields of that name replaced */
	ROUTEGW_DEL_REQ = 2,  /* del-header */
	ROUTEGW_SET_RESP = 3, /* set-response-header */
	ROUTEGW_DEL_RESP = 4, /* del-response-header */
};

struct routegw_rule {
	uint8_t kind; /* enum routegw_rule_kind */
	char name[ROUTEGW_NAME_MAX + 1];
	char value[ROUTEGW_RVALUE_MAX + 1]; /* set: may hold %{client} %{request_id} ... */
};

struct routegw_cidr {
	uint8_t bits;	  /* prefix length over the 16 bytes (an IPv4 /n is 96 + n) */
	uint8_t addr[16]; /* IPv6, IPv4 mapped (::ffff:a.b.c.d) */
};

enum routegw_per {
	ROUTEGW_PER_ROUTE = 0,	 /* one bucket for the route */
	ROUTEGW_PER_ADDRESS = 1, /* one per client address */
	ROUTEGW_PER_COOKIE = 2,	 /* one per value of the cookie (else per address) */
	ROUTEGW_PER_HEADER = 3,	 /* one per value of the header (else per address) */
};

/* limit COUNT[/s|/m|/h] [burst N] [per ...]; count 0: no limit. */
struct routegw_limit {
	uint32_t count;			/* requests per unit */
	char unit;			/* 's', 'm' or 'h' */
	uint32_t burst;			/* requests that may come at once (>= 1) */
	uint8_t per;			/* enum routegw_per */
	char key[ROUTEGW_NAME_MAX + 1]; /* the cookie's or header's name */
};

struct routegw {
	uint8_t nmatch, nrule, nallow, ndeny;
	struct routegw_match match[ROUTEGW_MATCH_MAX]; /* sorted: the key's text is canonical */
	struct routegw_rule rule[ROUTEGW_RULE_MAX];    /* in the order written */
	struct routegw_cidr allow[ROUTEGW_CIDR_MAX];
	struct routegw_cidr deny[ROUTEGW_CIDR_MAX];
	struct routegw_limit limit;
};

/* Whether a word begins one of the gateway's options. */
bool routegw_word(const char *w);
/*
 * The gateway options at argv[*i] (any order, until a word that is none of them) into gw,
 * added to what it holds; *i moves past them. 0, or -EINVAL with a message in err (without
 * "file:line").
 */
int routegw_parse(int argc, char **argv, int *i, struct routegw *gw, char *err, size_t errlen);
/* Sort the conditions (one order for one set) and check the limits of each list: 0 or -EINVAL. */
int routegw_normalize(struct routegw *gw);

bool routegw_empty(const struct routegw *gw);
bool routegw_equal(const struct routegw *a, const struct routegw *b);
/* Same conditions: part of the route's key (two routes may differ by them alone). */
bool routegw_key_equal(const struct routegw *a, const struct routegw *b);

/* The options as words, each preceded by a space ("" for none). snprintf-style. */
size_t routegw_text(const struct routegw *gw, char *out, size_t len);
/* The conditions alone, likewise (the route's key). */
size_t routegw_key_text(const struct routegw *gw, char *out, size_t len);
/* Longest text routegw_text() writes. */
#define ROUTEGW_TEXT_MAX                                                                           \
	(ROUTEGW_MATCH_MAX * (ROUTEGW_NAME_MAX + ROUTEGW_VALUE_MAX + 12) +                         \
	 ROUTEGW_RULE_MAX * (ROUTEGW_NAME_MAX + ROUTEGW_RVALUE_MAX + 24) +                         \
	 2 * ROUTEGW_CIDR_MAX * 45 + ROUTEGW_NAME_MAX + 80)

/* Whether every condition holds for the request whose head is at buf. */
bool routegw_matches(const struct routegw *gw, const struct http_request *req, const char *buf);
/* Whether a client at sa may use the route: not denied, and allowed when there is a list. */
bool routegw_admits(const struct routegw *gw, const struct sockaddr *sa);

/* The limit's bucket: interval (ns a request takes) and tolerance (GCRA, strg/gcra.h). */
uint64_t routegw_interval_ns(const struct routegw_limit *l);
uint64_t routegw_tolerance_ns(const struct routegw_limit *l);

/* What the header rules' variables stand for in one request. */
struct routegw_vars {
	const char *client;	/* the client's address */
	const char *request_id; /* the request's id ("" when none) */
	const char *route;	/* the route's key text */
	const char *pool;	/* the pool's name */
};

/* A rule's value with its variables replaced, cut at len - 1 bytes. Returns its length. */
size_t routegw_expand(const char *value, const struct routegw_vars *v, char *out, size_t len);
/* Whether a rule of these kinds names field (len bytes, any case): it replaces or removes it. */
bool routegw_rule_names(const struct routegw *gw, unsigned kinds, const char *field, size_t len);
#define ROUTEGW_REQ_KINDS  ((1u << ROUTEGW_SET_REQ) | (1u << ROUTEGW_DEL_REQ))
#define ROUTEGW_RESP_KINDS ((1u << ROUTEGW_SET_RESP) | (1u << ROUTEGW_DEL_RESP))
bool routegw_has_rules(const struct routegw *gw, unsigned kinds);

#endif
