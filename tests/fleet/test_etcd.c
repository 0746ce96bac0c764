// SPDX-License-Identifier: GPL-2.0-only
/*
 * The etcd client against a real 3-member cluster: prefix reads in pages at one revision,
 * transactions and their compares, leases, the watch (order, whole revisions, progress,
 * compaction, stop), and fail-over when a member is down or the leader dies.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cluster.h"
#include "fleet/etcd.h"

static struct cluster cl;

static struct etcd *client(const char *endpoints)
{
	struct etcd_opts o = {.endpoints = endpoints, .request_timeout_ms = 3000, .page = 100};
	struct etcd *e = etcd_open(&o);

	assert_non_null(e);
	return e;
}

static int setup(void **state)
{
	(void)state;
	return cluster_start(&cl) ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	cluster_stop(&cl);
	return 0;
}

static void test_base64(void **state)
{
	const char *in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
	const char *out[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
	size_t n;

	(void)state;
	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		char *e = etcd_b64_encode(in[i], strlen(in[i])), *d;

		assert_string_equal(e, out[i]);
		d = etcd_b64_decode(e, &n);
		assert_int_equal(n, strlen(in[i]));
		assert_memory_equal(d, in[i], n);
		free(e);
		free(d);
	}
	assert_null(etcd_b64_decode("Zm9v!", &n));
}

/* 250 keys written in 5 transactions of 50; read in pages of 100 at one revision. */
static void test_range_pages_one_revision(void **state)
{
	struct etcd *e = client(cl.endpoints);
	struct etcd_op ops[50];
	char keys[50][32];
	struct etcd_header h;
	struct etcd_range r;
	int64_t rev;

	(void)state;
	for (int t = 0; t < 5; t++) {
		for (int i = 0; i < 50; i++) {
			snprintf(keys[i], sizeof(keys[i]), "/pages/k%04d", t * 50 + i);
			ops[i] = (struct etcd_op){.kind = ETCD_PUT,
						  .key = keys[i],
						  .value = keys[i],
						  .value_len = strlen(keys[i])};
		}
		assert_int_equal(etcd_txn(e, NULL, 0, ops, 50, &h), 0);
	}
	rev = h.revision;
	/* Later writes are not in a read at rev. */
	assert_int_equal(etcd_put(e, "/pages/k9999", "x", 1, 0), 0);
	assert_int_equal(etcd_delete(e, "/pages/k0000"), 0);
	assert_int_equal(etcd_range_prefix(e, "/pages/", rev, &r), 0);
	assert_int_equal(r.n, 250);
	assert_int_equal(r.hdr.revision, rev);
	for (size_t i = 0; i < r.n; i++) {
		char want[32];

		snprintf(want, sizeof(want), "/pages/k%04zu", i);
		assert_string_equal(r.kvs[i].key, want);
		assert_string_equal(r.kvs[i].value, want);
		assert_true(r.kvs[i].mod_revision <= rev);
	}
	assert_true(r.hdr.cluster_id != 0);
	etcd_range_free(&r);
	/* The latest: one more, one fewer. */
	assert_int_equal(etcd_range_prefix(e, "/pages/", 0, &r), 0);
	assert_int_equal(r.n, 250);
	assert_string_equal(r.kvs[0].key, "/pages/k0001");
	assert_string_equal(r.kvs[249].key, "/pages/k9999");
	etcd_range_free(&r);
	etcd_close(e);
}

static void test_txn_compare(void **state)
{
	struct etcd *e = client(cl.endpoints);
	struct etcd_op ops[3] = {
		{.kind = ETCD_PUT, .key = "/txn/a", .value = "1", .value_len = 1},
		{.kind = ETCD_PUT, .key = "/txn/b", .value = "2", .value_len = 1},
		{.kind = ETCD_DELETE, .key = "/txn/c"},
	};
	struct etcd_cmp cmp[2] = {{.key = "/txn/a", .mod_revision = 0},
				  {.key = "/txn/b", .mod_revision = 0}};
	struct etcd_header h;
	struct etcd_range r;

	(void)state;
	assert_int_equal(etcd_put(e, "/txn/c", "gone", 4, 0), 0);
	/* Keys absent (mod revision 0): the compares hold; all three ops in one revision. */
	assert_int_equal(etcd_txn(e, cmp, 2, ops, 3, &h), 0);
	assert_int_equal(etcd_range_prefix(e, "/txn/", 0, &r), 0);
	assert_int_equal(r.n, 2);
	assert_int_equal(r.kvs[0].mod_revision, h.revision);
	assert_int_equal(r.kvs[1].mod_revision, h.revision);
	etcd_range_free(&r);
	/* Again with the same compares: a conflict, nothing written. */
	ops[0].value = "9";
	assert_int_equal(etcd_txn(e, cmp, 2, ops, 1, NULL), -ECANCELED);
	assert_int_equal(etcd_get(e, "/txn/a", &r), 0);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.kvs[0].value, "1");
	etcd_range_free(&r);
	/* A prefix compare: holds only while no key is under it. */
	cmp[0] = (struct etcd_cmp){.key = "/txn/", .prefix = true};
	assert_int_equal(etcd_txn(e, cmp, 1, ops, 1, NULL), -ECANCELED);
	cmp[0] = (struct etcd_cmp){.key = "/txn-empty/", .prefix = true};
	assert_int_equal(etcd_txn(e, cmp, 1, &ops[2], 1, NULL), 0);
	/* "Not changed since": below the next revision holds, below its own does not. */
	cmp[0] = (struct etcd_cmp){.key = "/txn/a", .mod_revision = h.revision + 1, .less = true};
	assert_int_equal(etcd_txn(e, cmp, 1, NULL, 0, NULL), 0);
	cmp[0].mod_revision = h.revision;
	assert_int_equal(etcd_txn(e, cmp, 1, NULL, 0, NULL), -ECANCELED);
	cmp[0] = (struct etcd_cmp){.key = "/txn/a"};
	/* With the revision read: it holds. */
	cmp[0].mod_revision = h.revision;
	assert_int_equal(etcd_txn(e, cmp, 1, ops, 1, NULL), 0);
	assert_int_equal(etcd_get(e, "/txn/a", &r), 0);
	assert_string_equal(r.kvs[0].value, "9");
	etcd_range_free(&r);
	etcd_close(e);
}

static void test_lease(void **state)
{
	struct etcd *e = client(cl.endpoints);
	struct etcd_range r;
	int64_t id, ttl, id2;
	int i;

	(void)state;
	assert_int_equal(etcd_lease_grant(e, 30, &id), 0);
	assert_int_equal(etcd_put(e, "/lease/node", "up", 2, id), 0);
	assert_int_equal(etcd_lease_keepalive(e, id, &ttl), 0);
	assert_int_equal(ttl, 30);
	assert_int_equal(etcd_get(e, "/lease/node", &r), 0);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.kvs[0].lease, id);
	etcd_range_free(&r);
	assert_int_equal(etcd_lease_revoke(e, id), 0);
	assert_int_equal(etcd_get(e, "/lease/node", &r), 0);
	assert_int_equal(r.n, 0);
	etcd_range_free(&r);
	assert_int_equal(etcd_lease_keepalive(e, id, &ttl), -ENOENT);
	/* A lease not kept alive expires and takes its key (TTL 1 s; etcd may round it up). */
	assert_int_equal(etcd_lease_grant(e, 1, &id2), 0);
	assert_int_equal(etcd_put(e, "/lease/short", "up", 2, id2), 0);
	for (i = 0; i < 100; i++) {
		assert_int_equal(etcd_get(e, "/lease/short", &r), 0);
		if (!r.n)
			break;
		etcd_range_free(&r);
		usleep(100 * 1000);
	}
	etcd_range_free(&r);
	assert_true(i < 100);
	etcd_close(e);
}

struct seen {
	int64_t revs[16];
	size_t nrevs, events, deletes;
	int progress, created;
	int64_t compacted;
	int64_t last_rev;
	bool in_order;
};

/* Collect: stops after a progress notification that follows the events, or a cancel. */
static int collect(void *arg, const struct etcd_watch_msg *m)
{
	struct seen *s = arg;

	s->created += m->created;
	if (m->canceled) {
		s->compacted = m->compact_revision;
		return 2;
	}
	for (size_t i = 0; i < m->n; i++) {
		int64_t rev = m->events[i].kv.mod_revision;

		if (rev < s->last_rev)
			s->in_order = false;
		if (rev != s->last_rev && s->nrevs < 16)
			s->revs[s->nrevs++] = rev;
		s->last_rev = rev;
		s->events++;
		s->deletes += m->events[i].deleted;
	}
	if (m->progress && s->events) {
		s->progress++;
		return 1;
	}
	return 0;
}

static void test_watch_from_revision(void **state)
{
	struct etcd *e = client(cl.endpoints);
	struct etcd_op ops[3] = {
		{.kind = ETCD_PUT, .key = "/w/a", .value = "1", .value_len = 1},
		{.kind = ETCD_PUT, .key = "/w/b", .value = "2", .value_len = 1},
		{.kind = ETCD_DELETE, .key = "/w/x"},
	};
	struct seen s = {.in_order = true};
	struct etcd_header h0, h1, h2;

	(void)state;
	assert_int_equal(etcd_put(e, "/w/x", "x", 1, 0), 0);
	assert_int_equal(etcd_txn(e, NULL, 0, ops, 0, &h0), 0);
	assert_int_equal(etcd_txn(e, NULL, 0, ops, 3, &h1), 0);
	assert_int_equal(etcd_txn(e, NULL, 0, ops, 1, &h2), 0);
	assert_int_equal(etcd_put(e, "/other", "o", 1, 0), 0);
	/* From after h0: the 3-op revision, then the 1-op one; progress marks the end. */
	assert_int_equal(etcd_watch(e, "/w/", h0.revision + 1, 5000, collect, &s), 1);
	assert_int_equal(s.created, 1);
	assert_true(s.in_order);
	assert_int_equal(s.nrevs, 2);
	assert_int_equal(s.revs[0], h1.revision);
	assert_int_equal(s.revs[1], h2.revision);
	assert_int_equal(s.events, 4);
	assert_int_equal(s.deletes, 1);
	etcd_close(e);
}

static void test_watch_compacted(void **state)
{
	struct etcd *e = client(cl.endpoints);
	struct seen s = {.in_order = true};
	struct etcd_header h;
	struct etcd_range r;

	(void)state;
	assert_int_equal(etcd_txn(e, NULL, 0, NULL, 0, &h), 0);
	assert_int_equal(etcd_put(e, "/c/a", "1", 1, 0), 0);
	assert_int_equal(etcd_put(e, "/c/a", "2", 1, 0), 0);
	assert_int_equal(etcd_compact(e, h.revision + 2), 0);
	assert_int_equal(etcd_watch(e, "/c/", h.revision, 5000, collect, &s), 2);
	assert_int_equal(s.compacted, h.revision + 2);
	assert_int_equal(etcd_range_prefix(e, "/c/", h.revision, &r), -ERANGE);
	assert_non_null(strstr(etcd_error(e), "compacted"));
	etcd_close(e);
}

static void *stop_later(void *arg)
{
	usleep(300 * 1000);
	etcd_watch_stop(arg);
	return NULL;
}

static int never(void *arg, const struct etcd_watch_msg *m)
{
	(void)m;
	++*(int *)arg;
	return 0;
}

static void test_watch_stop_and_idle(void **state)
{
	struct etcd *e = client(cl.endpoints);
	pthread_t t;
	int msgs = 0;

	(void)state;
	assert_int_equal(pthread_create(&t, NULL, stop_later, e), 0);
	assert_int_equal(etcd_watch(e, "/idle/", 0, 5000, never, &msgs), -EINTR);
	pthread_join(t, NULL);
	assert_true(msgs >= 1); /* created */
	etcd_watch_rearm(e);
	etcd_close(e);
}

/* A dead endpoint first: requests go to the next one, and keep going there. */
static void test_failover_dead_endpoint(void **state)
{
	char list[200];
	struct etcd *e;
	struct etcd_range r;
	struct seen s = {.in_order = true};
	struct etcd_header h;

	(void)state;
	snprintf(list, sizeof(list), "http://127.0.0.1:1,%s", cl.endpoints);
	e = client(list);
	assert_int_equal(etcd_put(e, "/f/a", "1", 1, 0), 0);
	assert_string_equal(etcd_endpoint(e), cl.endpoint[0]);
	assert_int_equal(etcd_get(e, "/f/a", &r), 0);
	assert_int_equal(r.n, 1);
	etcd_range_free(&r);
	/* Only dead ones: a clear error. */
	etcd_close(e);
	e = client("http://127.0.0.1:1,http://127.0.0.1:2");
	assert_int_equal(etcd_get(e, "/f/a", &r), -ECONNREFUSED);
	assert_non_null(strstr(etcd_error(e), "127.0.0.1:2"));
	etcd_close(e);
	/* A watch on a dead endpoint fails; the next attempt goes to a live one. */
	snprintf(list, sizeof(list), "http://127.0.0.1:1,%s", cl.endpoint[1]);
	e = client(list);
	assert_int_equal(etcd_put(e, "/f/b", "1", 1, 0), 0);
	etcd_close(e);
	e = client(list);
	assert_int_equal(etcd_txn(e, NULL, 0, NULL, 0, &h), 0);
	etcd_close(e);
	e = client(list);
	assert_int_equal(etcd_watch(e, "/f/", h.revision, 5000, collect, &s), -ECONNREFUSED);
	assert_int_equal(etcd_watch(e, "/f/", h.revision, 5000, collect, &s), 1);
	assert_int_equal(s.events, 1);
	etcd_close(e);
}

/* The leader dies: writes go on through the others once a new leader is elected. */
static void test_leader_killed(void **state)
{
	struct etcd *e = client(cl.endpoints);
	int leader = cluster_leader(&cl), ok = 0, next = -1;
	uint64_t id1, id2;
	struct etcd_header h;

	(void)state;
	assert_true(leader >= 0);
	assert_int_equal(etcd_status(e, &h, &id1), 0);
	cluster_kill(&cl, (unsigned)leader);
	for (int i = 0; i < 100 && !ok; i++) {
		ok = etcd_put(e, "/leader/after", "1", 1, 0) == 0;
		if (!ok)
			usleep(100 * 1000);
	}
	assert_true(ok);
	for (int i = 0; i < 50 && next < 0; i++) {
		next = cluster_leader(&cl);
		if (next < 0)
			usleep(100 * 1000);
	}
	assert_true(next >= 0 && next != leader);
	assert_int_equal(etcd_status(e, &h, &id2), 0);
	assert_int_not_equal(id1, id2);
	assert_int_equal(cluster_restart(&cl, (unsigned)leader), 0);
	etcd_close(e);
}

/* A CA, a server certificate for 127.0.0.1 and a client one, made with openssl in dir. */
static int make_certs(const char *dir)
{
	char cmd[2048];

	snprintf(
		cmd, sizeof(cmd),
		"cd %s && K='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes' && "
		"openssl req -x509 $K -keyout ca.key -out ca.pem -days 1 -subj /CN=strg-test-ca && "
		"openssl req $K -keyout server.key -out server.csr -subj /CN=etcd && "
		"printf 'subjectAltName=IP:127.0.0.1\\nextendedKeyUsage=serverAuth,clientAuth\\n' "
		"> server.ext && "
		"openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
		"-out server.pem -days 1 -extfile server.ext && "
		"openssl req $K -keyout client.key -out client.csr -subj /CN=strgd && "
		"printf 'extendedKeyUsage=clientAuth\\n' > client.ext && "
		"openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
		"-out client.pem -days 1 -extfile client.ext",
		dir);
	return system(cmd) ? -1 : 0;
}

/* One member that serves clients over TLS and wants their certificates. */
static pid_t start_tls_member(const char *dir, unsigned port, char *url, size_t len)
{
	char client[64], peer[64], initial[96], data[128], ca[128], cert[128], key[128];
	pid_t pid;

	snprintf(url, len, "https://127.0.0.1:%u", port);
	snprintf(client, sizeof(client), "https://127.0.0.1:%u", port);
	snprintf(peer, sizeof(peer), "http://127.0.0.1:%u", port + 1);
	snprintf(initial, sizeof(initial), "tls=%s", peer);
	snprintf(data, sizeof(data), "%s/tls-data", dir);
	snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
	snprintf(cert, sizeof(cert), "%s/server.pem", dir);
	snprintf(key, sizeof(key), "%s/server.key", dir);
	pid = fork();
	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);

		dup2(fd, 1);
		dup2(fd, 2);
		execlp("etcd", "etcd", "--name", "tls", "--data-dir", data, "--listen-client-urls",
		       client, "--advertise-client-urls", client, "--listen-peer-urls", peer,
		       "--initial-advertise-peer-urls", peer, "--initial-cluster", initial,
		       "--cert-file", cert, "--key-file", key, "--trusted-ca-file", ca,
		       "--client-cert-auth", (char *)NULL);
		_exit(127);
	}
	return pid;
}

/* TLS with a client certificate, as production etcd wants it; without either, refused. */
static void test_tls_client_certificate(void **state)
{
	char url[64], ca[128], cert[128], key[128];
	struct etcd_opts o = {.request_timeout_ms = 3000};
	struct etcd *e = NULL;
	struct etcd_range r;
	pid_t pid;
	int ok = 0;

	(void)state;
	if (system("command -v openssl >/dev/null 2>&1") || make_certs(cl.dir))
		skip();
	pid = start_tls_member(cl.dir, cl.client_port[0] + 100, url, sizeof(url));
	snprintf(ca, sizeof(ca), "%s/ca.pem", cl.dir);
	snprintf(cert, sizeof(cert), "%s/client.pem", cl.dir);
	snprintf(key, sizeof(key), "%s/client.key", cl.dir);
	o.endpoints = url;
	o.ca = ca;
	o.cert = cert;
	o.key = key;
	e = etcd_open(&o);
	assert_non_null(e);
	for (int i = 0; i < 100 && !ok; i++) {
		ok = etcd_put(e, "/tls/a", "1", 1, 0) == 0;
		if (!ok)
			usleep(100 * 1000);
	}
	assert_true(ok);
	assert_int_equal(etcd_get(e, "/tls/a", &r), 0);
	assert_int_equal(r.n, 1);
	etcd_range_free(&r);
	etcd_close(e);
	/* No client certificate: the member refuses the handshake. */
	o.cert = o.key = NULL;
	e = etcd_open(&o);
	assert_int_not_equal(etcd_get(e, "/tls/a", &r), 0);
	etcd_close(e);
	/* Not the member's CA: its certificate is not trusted. */
	o.ca = NULL;
	o.cert = cert;
	o.key = key;
	e = etcd_open(&o);
	assert_int_not_equal(etcd_get(e, "/tls/a", &r), 0);
	assert_non_null(strstr(etcd_error(e), url));
	etcd_close(e);
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_base64),
		cmocka_unit_test(test_range_pages_one_revision),
		cmocka_unit_test(test_txn_compare),
		cmocka_unit_test(test_lease),
		cmocka_unit_test(test_watch_from_revision),
		cmocka_unit_test(test_watch_compacted),
		cmocka_unit_test(test_watch_stop_and_idle),
		cmocka_unit_test(test_failover_dead_endpoint),
		cmocka_unit_test(test_leader_killed),
		cmocka_unit_test(test_tls_client_certificate),
	};

	return cmocka_run_group_tests_name("etcd", tests, setup, teardown);
}
