#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""strg end-to-end suite. Run through tests/integration/run (root, own network namespace).

    suite.py [--list] [--keep] [NAME-SUBSTRING ...]

Environment:
    STRG_IT_PROXY  strgd (default) | haproxy   -- haproxy is a stand-in to debug the harness
    STRG_IT_MODE   user (default, strgd --no-bpf) | kernel; -w1 after either: one worker
                   (else two)
    STRGD          path of the strgd binary (default: ./strgd in the repository)

Kernel mode adds the fast path tests of kernel_tests.py (they read strgd's pinned counters).

Topology (all on 127.0.0.1 inside the namespace):
    proxy :8080  ->  legacy pool: nginx :9001 :9002
                 ->  modern pool: tools/backend.py --name modern :9101
                 ->  pp pool: nginx :9401 (listen ... proxy_protocol; strgd sends PROXY v2)
"""

import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness as h  # noqa: E402
from harness import RawConn, request, curl, url  # noqa: E402

TEST_TIMEOUT = 60  # seconds; a test running longer fails (SIGALRM)


class Fail(Exception):
    pass


class Skip(Exception):
    pass


def check(cond, message):
    if not cond:
        raise Fail(message)


TESTS = []


def test(fn):
    TESTS.append((fn.__name__, fn))
    return fn


# ---------------------------------------------------------------------------------------------
# Helpers


def get(path, conn=None, port=h.PROXY_PORT, **kw):
    """One GET over a fresh raw connection (or conn); returns the Response."""
    if conn is not None:
        conn.send(request("GET", path, **kw))
        return conn.read_response()
    with RawConn(port=port) as c:
        c.send(request("GET", path, **kw))
        return c.read_response()


def expect_pool(resp, pool, what):
    check(resp.status == 200, "%s: status %d, want 200 (%r)" % (what, resp.status, resp))
    check(resp.pool() == pool, "%s: X-Pool %r, want %r (%r)" % (what, resp.pool(), pool, resp))


_sentinels = iter(range(1, 1 << 30))


def backend_settled(lines_fn):
    """The backend's log once a sentinel request, sent to it directly after strgd answered, is
    in it: a request strgd forwarded before answering reached the backend before the sentinel.
    The sentinel's own line is left out."""
    port = h.MODERN_PORT if lines_fn == ENV.modern_log_lines else h.LEGACY_PORTS[0]
    tag = "/__sentinel/%d" % next(_sentinels)
    with RawConn(port=port) as c:
        c.send(request("GET", tag))
        c.read_response()
    check(h.wait_until(lambda: any(tag in line for line in lines_fn()), 3.0),
          "the backend on port %d never logged the sentinel %s" % (port, tag))
    return [line for line in lines_fn() if tag not in line]


def new_lines(before, after):
    return after[len(before):]


def short(value, limit=120):
    """repr() cut to limit characters, for failure messages."""
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[:limit] + "...(%d chars)" % len(text)


# ---------------------------------------------------------------------------------------------
# Routing and keep-alive

ROUTE_SEQUENCE = [
    ("/a", "legacy"),
    ("/v1/getSalesLeads", "modern"),
    ("/b", "legacy"),
    ("/v1/getSalesLeads/7", "modern"),
    ("/v1/getSalesLeadsX", "legacy"),
]


@test
def startup_logs_listening(env):
    if not env.flavour.logs_listening:
        raise Skip("%s does not log 'listening on'" % env.flavour.name)
    ok = h.wait_until(lambda: "listening on" in env.proxy.stderr_text(), 2.0)
    check(ok, "no 'listening on' in stderr: %r" % env.proxy.stderr_tail())
    mode = getattr(env.flavour, "mode", None)
    if mode == "kernel":
        check("data path: kernel splice (splice always)" in env.proxy.stderr_text(),
              "kernel mode but strgd did not load its fast path: %r" % env.proxy.stderr_tail())
    elif mode == "user":
        check("data path: user space (io_uring), --no-bpf" in env.proxy.stderr_text(),
              "user mode but strgd did not say it runs in user space: %r" %
              env.proxy.stderr_tail())


@test
def keepalive_curl_one_connection(env):
    args = []
    for path, _ in ROUTE_SEQUENCE:
        args += ["-o", "/dev/null", url(path)]
    r = curl(["-w", r"W %{num_connects} %{http_code} %header{x-pool}\n"] + args, timeout=20)
    check(r.returncode == 0, "curl exit %d: %s" % (r.returncode, r.stderr.strip()[-300:]))
    rows = [line.split() for line in r.stdout.splitlines() if line.startswith("W ")]
    check(len(rows) == len(ROUTE_SEQUENCE), "curl wrote %d results: %r" % (len(rows), r.stdout))
    # num_connects: new connections curl opened for each transfer (0 = it reused one).
    connects = [int(row[1]) for row in rows]
    check(connects == [1] + [0] * (len(ROUTE_SEQUENCE) - 1),
          "curl's new connections per request: %r, want one for the first only" % connects)
    for (path, pool), row in zip(ROUTE_SEQUENCE, rows):
        got = row[3] if len(row) > 3 else None
        check(row[2] == "200" and got == pool,
              "%s: status %s pool %s, want 200 %s" % (path, row[2], got, pool))


@test
def keepalive_raw_sequential(env):
    with RawConn() as c:
        for path, pool in ROUTE_SEQUENCE:
            resp = get(path, conn=c)
            expect_pool(resp, pool, path)
            want = ("%s GET %s\n" % (pool, path)).encode()
            check(resp.body == want, "%s: body %r, want %r" % (path, resp.body, want))
            check(not resp.connection_close(), "%s: proxy asked to close" % path)


@test
def backend_connection_reuse(env):
    """One backend connection per pool per client connection."""
    seen = {"legacy": set(), "modern": set()}
    with RawConn() as c:
        for i in range(4):
            for path, pool in (("/r%d" % i, "legacy"), ("/v1/getSalesLeads/r%d" % i, "modern")):
                resp = get(path, conn=c)
                expect_pool(resp, pool, path)
                seen[pool].add((resp.header("X-Backend"), resp.header("X-Backend-Conn")))
    for pool, conns in seen.items():
        check(len(conns) == 1, "%s pool: 4 requests on one client connection used backend "
              "connections %s" % (pool, sorted(conns)))


@test
def methods_restrict_route(env):
    r = curl(["-i", "-d", "x=1", url("/v1/getSalesLeads")], timeout=10)
    check(r.returncode == 0, "curl exit %d: %s" % (r.returncode, r.stderr.strip()))
    check(re.search(r"(?im)^x-pool: legacy\r?$", r.stdout) and
          "legacy POST /v1/getSalesLeads" in r.stdout,
          "POST /v1/getSalesLeads should go legacy: %r" % r.stdout[-300:])
    resp = get("/v1/getMarketingEvents/x")
    expect_pool(resp, "modern", "GET /v1/getMarketingEvents/x")
    with RawConn() as c:
        c.send(request("HEAD", "/v1/getSalesLeads"))
        resp = c.read_response(head_only=True)
        expect_pool(resp, "modern", "HEAD /v1/getSalesLeads")
        c.send(request("DELETE", "/v1/getMarketingEvents"))
        expect_pool(c.read_response(), "modern", "DELETE /v1/getMarketingEvents")
        c.send(request("DELETE", "/v1/getSalesLeads/1"))
        expect_pool(c.read_response(), "legacy", "DELETE /v1/getSalesLeads/1")


@test
def pipelined_six(env):
    reqs = [
        (request("GET", "/p1"), "legacy", b"legacy GET /p1\n"),
        (request("POST", "/__sha256", body=b"hello"), "modern",
         ("sha256=%s len=5\n" % hashlib.sha256(b"hello").hexdigest()).encode()),
        (request("GET", "/p3"), "legacy", b"legacy GET /p3\n"),
        (request("GET", "/v1/getMarketingEvents/p4"), "modern",
         b"modern GET /v1/getMarketingEvents/p4\n"),
        (request("POST", "/p5", body=b"abc"), "legacy", b"legacy POST /p5\n"),
        (request("GET", "/v1/getSalesLeads/p6"), "modern", b"modern GET /v1/getSalesLeads/p6\n"),
    ]
    with RawConn() as c:
        c.send(b"".join(r[0] for r in reqs))
        for i, (_, pool, body) in enumerate(reqs):
            try:
                resp = c.read_response()
            except (socket.timeout, h.ProtocolError) as e:
                raise Fail("response %d of 6: %s" % (i + 1, e))
            expect_pool(resp, pool, "response %d" % (i + 1))
            check(resp.body == body, "response %d: body %r, want %r" % (i + 1, resp.body, body))


# ---------------------------------------------------------------------------------------------
# Bulk transfer


def curl_sha256(args, timeout=60):
    """Run curl writing the body to stdout; hash it as it streams. Returns (rc, sha, n, err)."""
    argv = ["curl", "-sS", "--max-time", str(timeout)] + args
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    sha = hashlib.sha256()
    n = 0
    try:
        while True:
            data = p.stdout.read(1 << 20)
            if not data:
                break
            sha.update(data)
            n += len(data)
        rc = p.wait(timeout=10)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(5)
    return rc, sha.hexdigest(), n, p.stderr.read().decode(errors="replace").strip()


def big_download(env, path, pool):
    t0 = time.monotonic()
    rc, sha, n, err = curl_sha256(["-D", str(env.tmp / "big.head"), url(path)])
    took = time.monotonic() - t0
    check(rc == 0, "curl exit %d after %d bytes, %.1f s: %s" % (rc, n, took, err))
    head = (env.tmp / "big.head").read_text(errors="replace")
    check(re.search(r"(?im)^x-pool: %s\r?$" % pool, head), "not from %s: %r" % (pool, head))
    check(n == h.BIG_SIZE, "got %d bytes, want %d" % (n, h.BIG_SIZE))
    check(sha == env.big_sha(), "sha256 mismatch (%d bytes)" % n)


@test
def download_100mib_legacy(env):
    big_download(env, "/big.bin", "legacy")


@test
def download_100mib_modern(env):
    big_download(env, "/__bytes/%d" % h.BIG_SIZE, "modern")


def upload(env, extra):
    r = curl(["-i", "--data-binary", "@%s" % env.upload_file,
              "-H", "Content-Type: application/octet-stream"] + extra + [url("/__sha256")],
             timeout=60)
    check(r.returncode == 0, "curl exit %d: %s" % (r.returncode, r.stderr.strip()[-300:]))
    check(re.search(r"(?im)^x-pool: modern\r?$", r.stdout), "not from modern: %r" % r.stdout[-300:])
    want = "sha256=%s len=%d" % (env.upload_sha(), h.UPLOAD_SIZE)
    got = r.stdout.rstrip().splitlines()[-1] if r.stdout.strip() else ""
    check(got == want, "backend answered %r, want %r" % (got, want))


@test
def upload_20mib_content_length(env):
    upload(env, [])


@test
def upload_20mib_chunked(env):
    upload(env, ["-H", "Transfer-Encoding: chunked"])


@test
def expect_100_continue(env):
    body = b"0123456789"
    with RawConn() as c:
        c.send(request("POST", "/__sha256", headers=["Expect: 100-continue",
                                                     "Content-Length: %d" % len(body)]))
        try:
            interim = c.read_response(timeout=2.0, skip_1xx=False)
        except socket.timeout:
            raise Fail("no 100 Continue (nor final response) within 2 s")
        check(interim.status == 100, "want 100 Continue first, got %r" % interim)
        c.send(body)
        resp = c.read_response()
        expect_pool(resp, "modern", "POST /__sha256")
        want = ("sha256=%s len=10\n" % hashlib.sha256(body).hexdigest()).encode()
        check(resp.body == want, "body %r, want %r" % (resp.body, want))


# ---------------------------------------------------------------------------------------------
# Request adaptation


@test
def forwarded_headers(env):
    r = curl([url("/__headers")], timeout=10)
    check(r.returncode == 0, "curl exit %d: %s" % (r.returncode, r.stderr.strip()))
    lines = r.stdout.replace("\r\n", "\n").split("\n")
    check(lines[0] == "GET /__headers HTTP/1.1", "request line at backend: %r" % lines[0])
    fields = {}
    for line in lines[1:]:
        if ":" in line:
            name, _, value = line.partition(":")
            fields.setdefault(name.strip().lower(), []).append(value.strip())
    problems = []
    if fields.get("x-forwarded-for") != ["127.0.0.1"]:
        problems.append("X-Forwarded-For %r" % fields.get("x-forwarded-for"))
    if fields.get("x-forwarded-proto") != ["http"]:
        problems.append("X-Forwarded-Proto %r" % fields.get("x-forwarded-proto"))
    if not any("strg" in v for v in fields.get("via", [])):
        problems.append("Via %r" % fields.get("via"))
    if fields.get("host") != ["127.0.0.1:8080"]:
        problems.append("Host %r" % fields.get("host"))
    check(not problems, "backend saw: " + ", ".join(problems))


# ---------------------------------------------------------------------------------------------
# PROXY protocol v2 towards backends (pool option "proxy-protocol")

PP_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"  # the 12 bytes a PROXY v2 header starts with
PP_PREFIX = "/pp"


def kernel_mode(env):
    return getattr(env.flavour, "mode", None) == "kernel"


def pp_exchange(conn, path, src_port):
    """GET path on conn to the pp pool; the backend's answer must name 127.0.0.1:src_port as
    the client and 127.0.0.1:PROXY_PORT as where it connected. Returns X-Backend-Conn."""
    conn.send(request("GET", path, host="127.0.0.1:%d" % h.PROXY_PORT))
    try:
        resp = conn.read_response()
    except (socket.timeout, h.ProtocolError, ConnectionResetError) as e:
        raise Fail("%s: %s: %s" % (path, type(e).__name__, e))
    expect_pool(resp, "pp", path)
    want = "pp %s %d %s %d GET %s" % (h.HOST, src_port, h.HOST, h.PROXY_PORT, path)
    got = resp.body.decode("latin-1").rstrip("\n")
    check(got == want, "%s: the backend saw the PROXY header %r, want %r (client socket "
          "%s:%d)" % (path, got, want, h.HOST, src_port))
    return resp.header("X-Backend-Conn")


@test
def proxy_protocol_v2_reaches_backend(env):
    """Three requests on one connection to a proxy-protocol pool: the backend (nginx, listen
    proxy_protocol) names the client's own address and port on every one, over one backend
    connection. In kernel mode the later ones are kernel-carried: the header strgd sent once,
    when it connected, serves them too."""
    kernel = kernel_mode(env)
    counters = kernel_tests.Counters(env, [PP_PREFIX]) if kernel else None
    fast = []
    with RawConn() as c:
        src_host, src_port = c.sock.getsockname()[:2]
        check(src_host == h.HOST, "client socket bound to %s" % src_host)
        conns = []
        for i in (1, 2, 3):
            conns.append(pp_exchange(c, "%s/%d" % (PP_PREFIX, i), src_port))
            if kernel:
                fast.append(counters.delta("fast"))
    check(len(set(conns)) == 1, "3 requests on one client connection used backend connections "
          "%r (X-Backend-Conn), want one" % conns)
    # Another client connection: its own port, so no backend connection (and no PROXY header)
    # of the first client was reused for it.
    with RawConn() as c:
        port2 = c.sock.getsockname()[1]
        conn2 = pp_exchange(c, "%s/other" % PP_PREFIX, port2)
    check(conn2 not in conns, "a second client connection reused backend connection %s" % conn2)
    if kernel:
        carried = [i + 1 for i in range(3) if fast[i] > (fast[i - 1] if i else 0)]
        print("     proxy_protocol_v2_reaches_backend: kernel carried request(s) %s of 3 on the "
              "connection (kstats fast of %s after each: %s)" % (carried, PP_PREFIX, fast),
              flush=True)
        check(fast[2] - fast[1] >= 1, "the 3rd request to %s was not kernel-carried (kstats fast "
              "after requests 1-3: %s): nothing shows the PROXY header serving kernel-carried "
              "requests" % (PP_PREFIX, fast))


@test
def proxy_protocol_off_by_default(env):
    """modern has no proxy-protocol option: its backend sees plain HTTP from the first byte
    (tools/backend.py would answer 400 to a PROXY header; /__headers echoes the head)."""
    before = env.modern_log_lines()
    with RawConn() as c:
        for i in range(2):  # the second is kernel-carried in kernel mode
            resp = get("/__headers", conn=c)
            expect_pool(resp, "modern", "GET /__headers (%d)" % (i + 1))
            check(not resp.body.startswith(PP_SIGNATURE[:4]) and PP_SIGNATURE not in resp.body,
                  "request %d: the modern backend received a PROXY header: %r" % (
                      i + 1, short(resp.body)))
            check(resp.body.startswith(b"GET /__headers HTTP/1.1\r\n"),
                  "request %d: the backend's head starts %r" % (i + 1, short(resp.body[:40])))
    seen = new_lines(before, backend_settled(env.modern_log_lines))
    check(seen == ["GET /__headers"] * 2, "modern logged %r, want 2 x 'GET /__headers'" % seen)


# ---------------------------------------------------------------------------------------------
# Strict parsing: malformed requests never reach a backend

M = "/v1/getMarketingEvents"  # routed to modern for every method


def raw(text):
    return text.encode("latin-1")


MALFORMED = [
    # name, request bytes, expected status
    ("cl_te", raw("POST %s HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
                  "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" % M), 400),
    ("cl_not_a_number", raw("POST %s HTTP/1.1\r\nHost: h\r\nContent-Length: abc\r\n\r\n" % M),
     400),
    ("cl_negative", raw("POST %s HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n" % M), 400),
    ("cl_plus_sign", raw("POST %s HTTP/1.1\r\nHost: h\r\nContent-Length: +3\r\n\r\nabc" % M),
     400),
    ("cl_conflicting", raw("POST %s HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n"
                           "Content-Length: 4\r\n\r\nabcd" % M), 400),
    ("obs_fold", raw("GET %s HTTP/1.1\r\nHost: h\r\nX-Fold: a\r\n b\r\n\r\n" % M), 400),
    ("bare_lf_field", raw("GET %s HTTP/1.1\r\nHost: h\nX-A: b\r\n\r\n" % M), 400),
    ("bare_lf_request_line", raw("GET %s HTTP/1.1\nHost: h\r\n\r\n" % M), 400),
    ("bare_cr_in_value", raw("GET %s HTTP/1.1\r\nHost: h\r\nX-A: a\rb\r\n\r\n" % M), 400),
    ("nul_in_value", raw("GET %s HTTP/1.1\r\nHost: h\r\nX-A: a\x00b\r\n\r\n" % M), 400),
    ("space_before_colon", raw("GET %s HTTP/1.1\r\nHost: h\r\nX-A : b\r\n\r\n" % M), 400),
    ("host_missing", raw("GET %s HTTP/1.1\r\nX-A: b\r\n\r\n" % M), 400),
    ("host_duplicate", raw("GET %s HTTP/1.1\r\nHost: h\r\nHost: h\r\n\r\n" % M), 400),
    # RFC 9112 3.2.2: an absolute-form authority that differs from Host is refused.
    ("absolute_authority_not_host", raw("GET http://other%s HTTP/1.1\r\nHost: api.example.com"
                                        "\r\n\r\n" % M), 400),
    ("absolute_authority_port_not_host", raw("GET http://h:8080%s HTTP/1.1\r\nHost: h\r\n\r\n"
                                             % M), 400),
    ("dot_dot_segment", raw("GET %s/../admin HTTP/1.1\r\nHost: h\r\n\r\n" % M), 400),
    ("dot_segment", raw("GET /v1/./getMarketingEvents HTTP/1.1\r\nHost: h\r\n\r\n"), 400),
    ("pct_bad_hex", raw("GET %s/%%zz HTTP/1.1\r\nHost: h\r\n\r\n" % M), 400),
    ("pct_truncated", raw("GET %s/%%4 HTTP/1.1\r\nHost: h\r\n\r\n" % M), 400),
    ("method_unknown", raw("BREW %s HTTP/1.1\r\nHost: h\r\n\r\n" % M), 501),
    ("te_gzip_chunked", raw("POST %s HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked"
                            "\r\n\r\n0\r\n\r\n" % M), 501),
    ("version_2_0", raw("GET %s HTTP/2.0\r\nHost: h\r\n\r\n" % M), 505),
    ("version_1_2", raw("GET %s HTTP/1.2\r\nHost: h\r\n\r\n" % M), 505),
    ("request_line_over_8k", raw("GET %s/%s HTTP/1.1\r\nHost: h\r\n\r\n" % (M, "a" * 9000)),
     414),
    ("head_over_16k", raw("GET %s HTTP/1.1\r\nHost: h\r\n%s\r\n" % (
        M, "".join("X-Big-%d: %s\r\n" % (i, "v" * 1000) for i in range(20)))), 431),
    ("fields_over_100", raw("GET %s HTTP/1.1\r\nHost: h\r\n%s\r\n" % (
        M, "".join("X-F-%d: v\r\n" % i for i in range(100)))), 431),
    ("expect_unknown", raw("GET %s HTTP/1.1\r\nHost: h\r\nExpect: foo\r\n\r\n" % M), 417),
]

# The same kinds of request aimed at the legacy pool: nginx's access log must stay unchanged.
MALFORMED_LEGACY = [
    ("cl_te", raw("POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
                  "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"), 400),
    ("dot_dot_segment", raw("GET /a/../b HTTP/1.1\r\nHost: h\r\n\r\n"), 400),
    ("space_before_colon", raw("GET /a HTTP/1.1\r\nHost: h\r\nX-A : b\r\n\r\n"), 400),
    ("host_missing", raw("GET /a HTTP/1.1\r\n\r\n"), 400),
]


def expect_rejected(data, status, backend_lines, conn=None):
    """Send data; the proxy must answer status with Connection: close, then close; the backend
    (backend_lines() -> list of log lines) must not see a new request."""
    before = backend_lines()
    own = conn is None
    c = conn or RawConn()
    try:
        c.send(data)
        try:
            resp = c.read_response(timeout=3.0)
        except socket.timeout:
            raise Fail("no response within 3 s (want %d)" % status)
        except ConnectionResetError:
            raise Fail("connection reset before a response (want %d)" % status)
        except h.ProtocolError as e:
            raise Fail("want %d: %s" % (status, e))
        problems = []
        if resp.status != status:
            problems.append("status %d %s, want %d" % (resp.status, resp.reason, status))
        if resp.version != "HTTP/1.1" or not resp.reason:
            problems.append("status line %s %d %r, want HTTP/1.1 with a reason" % (
                resp.version, resp.status, resp.reason))
        if resp.pool() is not None:
            problems.append("answered by backend pool %s" % resp.pool())
        if not resp.connection_close():
            problems.append("no 'Connection: close'")
        end = c.wait_eof(2.0)
        if end not in ("eof", "reset"):
            problems.append("connection not closed within 2 s (%s)" % end)
        seen = new_lines(before, backend_settled(backend_lines))
        if seen:
            problems.append("backend saw %s" % short([short(l, 80) for l in seen], 300))
        check(not problems, "; ".join(problems))
    finally:
        if own:
            c.close()


def make_malformed_test(name, data, status, pool):
    def fn(env):
        lines = env.modern_log_lines if pool == "modern" else env.nginx_log_lines
        expect_rejected(data, status, lines)
    fn.__name__ = "malformed_%s_%s" % (pool, name)
    return fn


for _name, _data, _status in MALFORMED:
    test(make_malformed_test(_name, _data, _status, "modern"))
for _name, _data, _status in MALFORMED_LEGACY:
    test(make_malformed_test(_name, _data, _status, "legacy"))


@test
def absolute_form_routes_by_its_authority(env):
    """An absolute-form target whose authority is the Host value (port and case aside) is routed
    by that authority, host routes included."""
    if env.flavour.name != "strgd":
        raise Skip("strgctl talks to strgd")
    ctl_ok("route", "set", "GET", "host", "api.example.com", "/v1/abs", "modern")
    try:
        with RawConn() as c:
            for target, host, pool in (
                    ("http://api.example.com/v1/abs/1", "api.example.com", "modern"),
                    ("http://API.example.com:80/v1/abs/2", "api.example.com", "modern"),
                    ("http://other.example/v1/abs/3", "other.example:80", "legacy")):
                c.send(raw("GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (target, host)))
                expect_pool(c.read_response(), pool, target)
    finally:
        h.strgctl("route", "del", "GET", "host", "api.example.com", "/v1/abs")


@test
def limits_at_boundary_accepted(env):
    """Just under the limits is fine: ~8000-byte request line, exactly 100 fields."""
    path = "%s/%s" % (M, "a" * (8000 - len(M) - 20))
    resp = get(path)
    expect_pool(resp, "modern", "%d-byte request line" % (len(path) + 14))
    resp = get(M + "/fields", headers=["X-F-%d: v" % i for i in range(99)])
    expect_pool(resp, "modern", "100 header fields")


@test
def malformed_second_request_on_keepalive(env):
    before = env.modern_log_lines()
    with RawConn() as c:
        c.send(request("GET", M + "/first"))
        resp = c.read_response()
        expect_pool(resp, "modern", "first request")
        bad = raw("POST %s/second HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
                  "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" % M)
        expect_rejected(bad, 400, env.modern_log_lines, conn=c)
    seen = [l for l in new_lines(before, env.modern_log_lines()) if "/__sentinel/" not in l]
    check(seen == ["GET %s/first" % M], "backend saw %r, want only the first request" % seen)


# ---------------------------------------------------------------------------------------------
# Connection handling


def half_close(path, pool):
    with RawConn() as c:
        c.send(request("GET", path))
        c.shutdown_write()
        try:
            resp = c.read_response(timeout=3.0)
        except (socket.timeout, h.ProtocolError, ConnectionResetError) as e:
            raise Fail("after SHUT_WR: %s" % e)
        expect_pool(resp, pool, path)
        end = c.wait_eof(2.0)
        check(end == "eof", "after the response: %s, want EOF" % end)


@test
def half_close_modern(env):
    half_close(M + "/half", "modern")


@test
def half_close_legacy(env):
    half_close("/half", "legacy")


@test
def failover_refused_backend(env):
    """A pool whose first backend refuses: requests are answered by the other backend."""
    dead = 9199
    check(not h.port_open(dead), "port %d unexpectedly open" % dead)
    extra = env.spawn_extra_proxy("failover", 8081, modern=(dead, h.MODERN_PORT))
    try:
        for i in range(4):
            with RawConn(port=8081) as c:
                c.send(request("GET", "/v1/getSalesLeads/f%d" % i))
                resp = c.read_response()
            expect_pool(resp, "modern", "request %d" % (i + 1))
            check(resp.header("X-Backend") == "modern:%d" % h.MODERN_PORT,
                  "request %d answered by %r" % (i + 1, resp.header("X-Backend")))
    finally:
        extra.stop(signal.SIGTERM, 3.0)


CTL_PATH = "/v1/ctl-moved"


def ctl_ok(*args):
    r = h.strgctl(*args)
    check(r.returncode == 0, "strgctl %s: exit %d: %s" % (" ".join(args), r.returncode,
                                                         r.stderr.strip()))
    return r.stdout


@test
def strgctl_route_set_and_del_at_runtime(env):
    """route set moves a route for the next request on an open keep-alive connection; route del
    sends it back; route show -j is JSON that names the route."""
    if env.flavour.name != "strgd":
        raise Skip("strgctl talks to strgd")
    with RawConn() as c:
        expect_pool(get(CTL_PATH + "/1", conn=c), "legacy", "before route set")
        ctl_ok("route", "set", "GET", CTL_PATH, "modern")
        expect_pool(get(CTL_PATH + "/2", conn=c), "modern", "right after route set")
        expect_pool(get(CTL_PATH + "X", conn=c), "legacy", "a sibling path after route set")
        table = json.loads(ctl_ok("route", "show", "-j"))
        mine = [r for r in table["routes"] if r["path"] == CTL_PATH]
        check(len(mine) == 1 and mine[0]["pool"] == "modern" and mine[0]["methods"] == ["GET"],
              "route show -j: %r" % mine)
        ctl_ok("route", "deactivate", "GET", CTL_PATH)
        expect_pool(get(CTL_PATH + "/d", conn=c), "legacy", "right after route deactivate")
        mine = [r for r in json.loads(ctl_ok("route", "show", "-j"))["routes"]
                if r["path"] == CTL_PATH]
        check(len(mine) == 1 and mine[0]["active"] is False, "deactivated route: %r" % mine)
        ctl_ok("route", "activate", "GET", CTL_PATH)
        expect_pool(get(CTL_PATH + "/a", conn=c), "modern", "right after route activate")
        ctl_ok("route", "del", "GET", CTL_PATH)
        expect_pool(get(CTL_PATH + "/3", conn=c), "legacy", "right after route del")
    table = json.loads(ctl_ok("route", "show", "-j"))
    check(not [r for r in table["routes"] if r["path"] == CTL_PATH], "route still shown: %r" %
          table)


SPLIT_PATH = "/v1/split"


def split_users(conn, n):
    """The set of users (cookie strg_user=uN) that the modern pool answered."""
    modern = set()
    for i in range(n):
        resp = get(SPLIT_PATH, conn=conn, headers=["Cookie: theme=dark; strg_user=u%d" % i])
        check(resp.status == 200, "user %d: status %d" % (i, resp.status))
        if resp.pool() == "modern":
            modern.add(i)
        else:
            check(resp.pool() == "legacy", "user %d: pool %r" % (i, resp.pool()))
    return modern


@test
def strgctl_percent_split_is_sticky(env):
    """percent 10 sends 10 % +- 2 of 2000 users to modern, the same users every time; raising
    it to 50 moves users from legacy to modern only, never back."""
    if env.flavour.name != "strgd":
        raise Skip("strgctl talks to strgd")
    n = 2000
    ctl_ok("route", "set", "GET", SPLIT_PATH, "modern", "percent", "10")
    try:
        with RawConn() as c:
            at10 = split_users(c, n)
            again = split_users(c, 200)
            share = 100.0 * len(at10) / n
            check(8.0 <= share <= 12.0, "percent 10: modern took %.1f %% of %d users" % (share, n))
            check(again == {u for u in at10 if u < 200}, "the split is not sticky per user")
            ctl_ok("route", "set", "GET", SPLIT_PATH, "modern", "percent", "50")
            at50 = split_users(c, n)
        share50 = 100.0 * len(at50) / n
        check(47.0 <= share50 <= 53.0, "percent 50: modern took %.1f %%" % share50)
        moved_back = at10 - at50
        check(not moved_back, "raising 10 -> 50 moved %d users back to legacy" % len(moved_back))
        routes = json.loads(ctl_ok("route", "show", "-j"))["routes"]
        mine = [r for r in routes if r["path"] == SPLIT_PATH]
        check(mine and mine[0]["percent"] == 50.0, "route show -j: %r" % mine)
        print("     strgctl_percent_split_is_sticky: percent 10 -> %.1f %%, 50 -> %.1f %%, "
              "none moved back" % (share, share50), flush=True)
    finally:
        h.strgctl("route", "del", "GET", SPLIT_PATH)


PATCH_PATH = "/v1/patched"


def modern_share(path, n):
    """The percentage of n users (cookie strg_user=pN) that the modern pool answered at path."""
    modern = 0
    with RawConn() as c:
        for i in range(n):
            resp = get(path + "/%d" % i, conn=c, headers=["Cookie: strg_user=p%d" % i])
            check(resp.pool() in ("modern", "legacy"), "user %d: %r" % (i, resp))
            modern += resp.pool() == "modern"
    return 100.0 * modern / n


def route_of(path):
    mine = [r for r in json.loads(ctl_ok("route", "show", "-j"))["routes"] if r["path"] == path]
    check(len(mine) == 1, "route show -j: %r" % mine)
    return mine[0]


@test
def strgctl_route_patch_keeps_options_and_warns(env):
    """route patch of one option keeps a 5 % canary's percent and testers (route set of the same
    would make it 100 %, and says so on stderr as a dry run); raising the share or dropping
    testers is warned about on stderr and in strgd's log; the traffic follows: 5 % then 50 %."""
    if env.flavour.name != "strgd":
        raise Skip("strgctl talks to strgd")
    n = 1000
    ctl_ok("route", "set", "GET", PATCH_PATH, "modern", "percent", "5", "testers")
    try:
        rid = route_of(PATCH_PATH)["id"]
        r = h.strgctl("--dry-run", "route", "set", "GET", PATCH_PATH, "modern", "rollback", "5%")
        check(r.returncode == 0 and r.stdout.startswith("would change route %d:" % rid) and
              "strgctl: warning: route %d now sends 100.0 %% of its users to pool modern "
              "(was 5.0 %%)" % rid in r.stderr and
              "route %d drops testers" % rid in r.stderr and "route patch" in r.stderr,
              "route set --dry-run of a canary: %r" % r)
        r = h.strgctl("route", "patch", "GET", PATCH_PATH, "rollback", "5%")
        check(r.returncode == 0 and r.stderr == "" and
              r.stdout.endswith("-> GET %s modern percent 5.0 testers rollback 5.0%% window 10s "
                                "min 20\n" % PATCH_PATH), "route patch rollback: %r" % r)
        mine = route_of(PATCH_PATH)
        check(mine["percent"] == 5.0 and mine["testers"] and mine["rollback"],
              "after route patch: %r" % mine)
        at5 = modern_share(PATCH_PATH, n)
        check(2.5 <= at5 <= 7.5, "percent 5 after the patch: modern took %.1f %%" % at5)
        r = h.strgctl("route", "patch", str(rid), "percent", "50", "no-testers")
        check(r.returncode == 0 and "strgctl: warning: route %d now sends 50.0 %% of its users "
              "to pool modern (was 5.0 %%)" % rid in r.stderr and
              "route %d drops testers" % rid in r.stderr, "route patch percent 50: %r" % r)
        check(h.wait_until(lambda: "ctl: warning: route %d now sends 50.0 %%" % rid in
                           env.proxy.stderr_text(), 3.0),
              "the warning is not in strgd's log: %s" % env.proxy.stderr_tail())
        mine = route_of(PATCH_PATH)
        check(mine["percent"] == 50.0 and not mine["testers"] and mine["rollback"],
              "after route patch percent 50: %r" % mine)
        at50 = modern_share(PATCH_PATH, n)
        check(45.0 <= at50 <= 55.0, "percent 50 after the patch: modern took %.1f %%" % at50)
        r = h.strgctl("route", "patch", str(rid), "percent", "5", "percent", "6")
        check(r.returncode == 1 and "'percent' conflicts" in r.stderr, "twice: %r" % r)
        print("     strgctl_route_patch_keeps_options_and_warns: modern %.1f %% at 5, %.1f %% "
              "at 50" % (at5, at50), flush=True)
    finally:
        h.strgctl("route", "del", "GET", PATCH_PATH)


@test
def strgctl_log_level_audit_and_socket_from_env(env):
    """log level debug makes strgd log each request, info stops it again (log show says which);
    a refused command is logged at warn with the caller's uid and pid, the command and why;
    STRGCTL_SOCKET is strgctl's socket when -s is not given, and -s wins over it."""
    if env.flavour.name != "strgd":
        raise Skip("strgctl talks to strgd")
    try:
        check(ctl_ok("log", "show") == "level info\n", "log show at the start")
        check(ctl_ok("log", "level", "debug") == "log level info -> debug\n", "log level debug")
        check(json.loads(ctl_ok("log", "show", "-j")) == {"level": "debug"}, "log show -j")
        expect_pool(get("/a/loglevel-debug"), "legacy", "at debug")
        check(h.wait_until(lambda: '"GET /a/loglevel-debug"' in env.proxy.stderr_text(), 3.0),
              "no debug line for the request: %s" % env.proxy.stderr_tail())
        ctl_ok("log", "level", "info")
        expect_pool(get("/a/loglevel-info"), "legacy", "at info")
        check(h.wait_until(lambda: "log level debug -> info" in env.proxy.stderr_text(), 3.0),
              "the level change is not logged: %s" % env.proxy.stderr_tail())
        time.sleep(0.5)
        check('"GET /a/loglevel-info"' not in env.proxy.stderr_text(),
              "a request logged at info level")
        r = h.strgctl("log", "level", "loud")
        check(r.returncode == 1 and "'loud' is not warn, info or debug" in r.stderr,
              "log level loud: %r" % r)
        # The audit: who (uid, pid), what, why.
        argv = [str(h.ROOT / "strgctl"), "-s", h.control_path(), "route", "set", "/a/audit",
                "nosuchpool"]
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        out, err = p.communicate(timeout=20)
        check(p.returncode == 1, "route set with an unknown pool: %r" % err)
        want = ("strgd warn: ctl: refused: uid 0 pid %d: route set /a/audit nosuchpool: route: "
                "unknown pool 'nosuchpool'" % p.pid)
        check(h.wait_until(lambda: want in env.proxy.stderr_text(), 3.0),
              "no audit line %r: %s" % (want, env.proxy.stderr_tail()))
        # STRGCTL_SOCKET, and -s over it.
        envv = dict(os.environ, STRGCTL_SOCKET=h.control_path())
        r = subprocess.run([str(h.ROOT / "strgctl"), "log", "show"], env=envv,
                           capture_output=True, text=True, timeout=20)
        check(r.returncode == 0 and r.stdout == "level info\n", "STRGCTL_SOCKET: %r" % r)
        r = subprocess.run([str(h.ROOT / "strgctl"), "-s", "/nonexistent/strgd.sock", "log",
                            "show"], env=envv, capture_output=True, text=True, timeout=20)
        check(r.returncode == 3 and "/nonexistent/strgd.sock" in r.stderr,
              "-s should win over STRGCTL_SOCKET: %r" % r)
    finally:
        h.strgctl("log", "level", "info")


@test
def strgctl_tester_header_pins_pool(env):
    """On a route with "testers", X-Strg-Pool pins a request to the pool it names; other routes
    ignore the header."""
    if env.flavour.name != "strgd":
        raise Skip("strgctl talks to strgd")
    path = "/v1/tester"
    ctl_ok("route", "set", "GET", path, "modern", "testers")
    try:
        with RawConn() as c:
            expect_pool(get(path + "/1", conn=c), "modern", "no tester header")
            expect_pool(get(path + "/2", conn=c, headers=["X-Strg-Pool: legacy"]), "legacy",
                        "X-Strg-Pool: legacy")
            expect_pool(get(path + "/3", conn=c, headers=["x-strg-pool: modern"]), "modern",
                        "x-strg-pool: modern")
            expect_pool(get(path + "/4", conn=c, headers=["X-Strg-Pool: nosuch"]), "modern",
                        "an unknown pool name")
            expect_pool(get("/v1/getSalesLeads/t", conn=c, headers=["X-Strg-Pool: legacy"]),
                        "modern", "a route without testers")
        # A dark launch: no user gets the route, every tester does.
        ctl_ok("route", "set", "GET", path, "modern", "percent", "0", "testers")
        with RawConn() as c:
            for i in range(20):
                cookie = "Cookie: strg_user=u%d" % i
                expect_pool(get(path + "/d%d" % i, conn=c, headers=[cookie]), "legacy",
                            "percent 0, user %d without the tester header" % i)
                expect_pool(get(path + "/t%d" % i, conn=c,
                                headers=[cookie, "X-Strg-Pool: modern"]),
                            "modern", "percent 0, user %d with X-Strg-Pool: modern" % i)
    finally:
        h.strgctl("route", "del", "GET", path)


FLIP_LUA = r"""
-- Each wrk thread counts in its own Lua state; done() adds them up.
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) bad = 0; legacy = 0; modern = 0 end
function response(status, headers, body)
  local pool = headers["X-Pool"] or headers["x-pool"] or "?"
  if status ~= 200 then bad = bad + 1
  elseif pool == "legacy" then legacy = legacy + 1
  elseif pool == "modern" then modern = modern + 1
  else bad = bad + 1 end
end
function done(summary, latency, requests)
  local b, l, m = 0, 0, 0
  for _, t in ipairs(threads) do
    b = b + t:get("bad"); l = l + t:get("legacy"); m = m + t:get("modern")
  end
  io.write(string.format("FLIP bad=%d legacy=%d modern=%d\n", b, l, m))
end
"""


@test
def strgctl_route_flips_under_load(env):
    """wrk for 10 s while a route flips 1000 times between modern and legacy: no failed request
    and both pools answered; two timed clients alongside check that each response came from a
    pool the table allowed while that request was in flight."""
    if env.flavour.name != "strgd":
        raise Skip("strgctl talks to strgd")
    path = "/v1/flip"
    script = env.tmp / "flip.lua"
    script.write_text(FLIP_LUA)
    ctl_ok("route", "set", "GET", path, "legacy")
    # The table's history: (strgctl started, strgctl returned, pool). A change is in force by
    # the time strgctl returns, and not before it started.
    history = [(0.0, time.monotonic(), "legacy")]
    seen = []  # (sent, answered, pool) of the timed clients
    stop = threading.Event()

    def timed_client():
        with RawConn(timeout=5.0) as c:
            while not stop.is_set():
                t0 = time.monotonic()
                resp = get(path + "/t", conn=c)
                seen.append((t0, time.monotonic(), resp.pool() if resp.status == 200 else None))

    wrk = subprocess.Popen(["wrk", "-c8", "-t2", "-d10s", "--timeout", "10s", "-s", str(script),
                            url(path + "/x")],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    clients = [threading.Thread(target=timed_client, daemon=True) for _ in range(2)]
    for t in clients:
        t.start()
    flips = 0
    try:
        time.sleep(0.5)
        t_end = time.monotonic() + 8.5
        while flips < 1000 and time.monotonic() < t_end:
            pool = "modern" if flips % 2 == 0 else "legacy"
            t0 = time.monotonic()
            r = h.ctl_line("route set GET %s %s" % (path, pool))
            history.append((t0, time.monotonic(), pool))
            check(r.startswith("ok\n"), "flip %d: %s" % (flips, r.strip()))
            flips += 1
        stop.set()
        for t in clients:
            t.join(10)
        out, _ = wrk.communicate(timeout=20)
    finally:
        stop.set()
        if wrk.poll() is None:
            wrk.kill()
            wrk.wait()
        h.strgctl("route", "del", "GET", path)
    # A response may come from any pool in force at some instant between its send and answer.
    wrong, exact = [], 0
    for sent, answered, pool in seen:
        allowed = set()
        for k, (_, done, p) in enumerate(history):
            starts = history[k][0] if k else 0.0
            ends = history[k + 1][1] if k + 1 < len(history) else float("inf")
            if starts <= answered and ends >= sent:
                allowed.add(p)
        exact += len(allowed) == 1
        if pool not in allowed:
            wrong.append((sent, answered, pool, sorted(allowed)))
    check(seen, "the timed clients got no answer")
    check(not wrong, "%d of %d timed responses came from a pool the table did not allow then, "
          "e.g. %r" % (len(wrong), len(seen), wrong[:3]))
    m = re.search(r"FLIP bad=(\d+) legacy=(\d+) modern=(\d+)", out)
    check(m, "no result from the wrk script: %s" % out[-500:])
    bad, legacy, modern = map(int, m.groups())
    check(flips >= 200, "only %d flips in 8.5 s (want 1000, at least 200)" % flips)
    check("Socket errors" not in out and "Non-2xx" not in out, "wrk saw failures: %s" % out)
    check(bad == 0, "%d responses failed or came from a pool the table never allowed" % bad)
    check(legacy > 0 and modern > 0, "one pool never answered: legacy %d, modern %d" % (
        legacy, modern))
    print("     strgctl_route_flips_under_load: %d flips, %d wrk requests (legacy %d, modern %d), "
          "0 failed; %d timed requests all from an allowed pool (%d with one pool allowed)" % (
              flips, legacy + modern, legacy, modern, len(seen), exact), flush=True)


def ctl_ok_line(line, port=h.PROXY_PORT):
    """A change through the control socket itself; its reply text after "ok"."""
    r = h.ctl_line(line, port=port)
    check(r.startswith("ok\n"), "%s: %s" % (line, r.strip()[:300]))
    return r[3:]


@test
def kernel_route_table_follows_a_big_table(env):
    """1200 routes set one by one (more than the kernel's first route map held): every one is in
    force in both data paths, on a first request and on later requests of a connection the
    kernel may carry; deactivating one sends both paths to legacy at once."""
    if env.flavour.name != "strgd":
        raise Skip("strgctl talks to strgd")
    n = 1200
    try:
        for i in range(n):
            out = ctl_ok_line("route set /cap%d modern" % i)
            check("warning" not in out, "route set /cap%d: %s" % (i, out.strip()))
        # Replies of any size arrive whole (this table's text is ~120 KiB).
        routes = json.loads(ctl_ok("route", "show", "-j"))["routes"]
        caps = {r["path"] for r in routes if r["path"].startswith("/cap")}
        check(len(caps) == n, "route show -j has %d of the %d /cap routes" % (len(caps), n))
        text = ctl_ok("route", "show")
        check(len([l for l in text.splitlines() if " /cap" in l]) == n,
              "route show has %d lines of /cap routes, want %d" % (text.count(" /cap"), n))
        with RawConn() as c:
            for path in ("/cap1100/x", "/cap1100/y", "/cap7/z", "/cap1199/w", "/cap1100/v"):
                expect_pool(get(path, conn=c), "modern", path)
            expect_pool(get("/capX/1", conn=c), "legacy", "/capX/1")
            ctl_ok_line("route deactivate /cap1100")
            for path in ("/cap1100/x", "/cap1100/y", "/cap1100/z"):
                expect_pool(get(path, conn=c), "legacy", path + " after deactivate")
            expect_pool(get("/cap1101/x", conn=c), "modern", "/cap1101/x")
            ctl_ok_line("route activate /cap1100")
            expect_pool(get("/cap1100/a", conn=c), "modern", "/cap1100/a after activate")
    finally:
        for i in range(n):
            h.ctl_line("route del /cap%d" % i)
    with RawConn() as c:
        for _ in range(3):
            expect_pool(get("/cap1100/x", conn=c), "legacy", "/cap1100/x after route del")


# 2 400 changes, each published and saved: minutes on a loaded machine under ASan.
kernel_route_table_follows_a_big_table.timeout = 180


@test
def kernel_route_table_over_its_limit_passes_up(env):
    """With 'limit kernel-routes' two above the configured prefixes, the third route set makes
    the table too big for the kernel: strgctl says so (in kernel mode), and both paths keep
    routing each request as the table says; once routes are deleted the kernel takes the table
    again."""
    if env.flavour.name != "strgd":
        raise Skip("strgctl talks to strgd")
    port = 8088
    limit = len({prefix for _, prefix, _ in h.ROUTES}) + 2
    proc = env.spawn_extra_proxy("klimit", port, extra=["limit kernel-routes %d" % limit])
    kernel = getattr(env.flavour, "mode", None) == "kernel"
    try:
        check(h.wait_until(lambda: os.path.exists(h.control_path(port)), 5.0),
              "no control socket")
        with RawConn(port=port) as c:
            expect_pool(get("/lim0/x", conn=c), "legacy", "before")
            for i in range(4):
                r = h.ctl_line("route set /lim%d modern" % i, port=port)
                check(r.startswith("ok\n"), "route set /lim%d: %s" % (i, r))
                warned = "warning: the kernel's route table would exceed" in r
                check(warned == (kernel and i >= 2),
                      "route set /lim%d (kernel mode %s): reply %r" % (i, kernel, r))
                for j in range(5):
                    expect_pool(get("/lim%d/%d" % (i, j), conn=c), "modern",
                                "/lim%d/%d" % (i, j))
                expect_pool(get("/lim9/x", conn=c), "legacy", "/lim9/x")
            r = h.ctl_line("route deactivate /lim3", port=port)
            check(r.startswith("ok\n"), "deactivate: %r" % r)
            for j in range(3):
                expect_pool(get("/lim3/%d" % j, conn=c), "legacy", "/lim3 deactivated")
            for i in (3, 2):
                r = h.ctl_line("route del /lim%d" % i, port=port)
                check(r.startswith("ok\n"), "route del /lim%d: %r" % (i, r))
            check("warning" not in r, "back under the limit, still a warning: %r" % r)
            for j in range(3):
                expect_pool(get("/lim1/%d" % j, conn=c), "modern", "/lim1 after the deletes")
                expect_pool(get("/lim2/%d" % j, conn=c), "legacy", "/lim2 after its delete")
        if kernel:
            check(h.wait_until(lambda: "kernel route table on again" in proc.stderr_text(), 2.0),
                  "no 'kernel route table on again' in the log: %s" % proc.stderr_tail())
    finally:
        proc.stop(signal.SIGTERM, 3.0)


def backends_answering(n, path="/b"):
    """X-Backend of n requests, each on a new connection (so each picks a backend)."""
    return [get("%s/%d" % (path, i)).header("X-Backend") for i in range(n)]


@test
def strgctl_backends_drain_weight_and_new_pool(env):
    """backend set ... state drain takes a backend out of new connections and state ready puts
    it back; weight 0 does the same; pool add + backend add + route set serve a new pool."""
    if env.flavour.name != "strgd":
        raise Skip("strgctl talks to strgd")
    second = "%s:%d" % (h.HOST, h.LEGACY_PORTS[1])
    try:
        check(len(set(backends_answering(6))) == 2, "both legacy backends should answer")
        ctl_ok("backend", "set", "legacy", second, "state", "drain")
        got = set(backends_answering(6))
        check(got == {"legacy:%d" % h.LEGACY_PORTS[0]}, "drained backend still chosen: %r" % got)
        pools = json.loads(ctl_ok("pool", "show", "-j"))["pools"]
        legacy = [p for p in pools if p["name"] == "legacy"][0]
        check({"addr": second, "state": "drain", "weight": 1} in [
            {k: b[k] for k in ("addr", "state", "weight")} for b in legacy["backends"]],
              "pool show -j: %r" % legacy)
        ctl_ok("backend", "set", "legacy", second, "state", "ready")
        check(len(set(backends_answering(6))) == 2, "ready again: both should answer")
        ctl_ok("backend", "set", "legacy", second, "weight", "0")
        check(len(set(backends_answering(6))) == 1, "weight 0 backend still chosen")
        ctl_ok("backend", "set", "legacy", second, "weight", "1")
    finally:
        h.strgctl("backend", "set", "legacy", second, "state", "ready")
        h.strgctl("backend", "set", "legacy", second, "weight", "1")
    # A new pool on a strgd of its own: pools cannot be deleted, so the main one keeps its table.
    port = 8092
    proc = env.spawn_extra_proxy("canary", port)
    try:
        def ctl(line):
            r = h.ctl_line(line, port=port)
            check(r.startswith("ok\n"), "%s: %s" % (line, r.strip()))
        ctl("pool add canary")
        ctl("backend add canary %s:%d" % (h.HOST, h.MODERN_PORT))
        ctl("route set /v1/canary canary")
        resp = get("/v1/canary/1", port=port)
        check(resp.status == 200 and resp.header("X-Backend") == "modern:%d" % h.MODERN_PORT,
              "the new pool did not answer: %r" % resp)
        r = h.ctl_line("backend add canary %s:%d" % (h.HOST, h.MODERN_PORT), port=port)
        check(r.startswith("error: backend add: ") and "already in pool canary" in r,
              "duplicate backend: %r" % r)
    finally:
        proc.stop(signal.SIGTERM, 3.0)


@test
def strgctl_control_groups(env):
    """control-group read lets a group's members read but not change; control-group change lets
    them change too; without either, only root reaches the socket."""
    if env.flavour.name != "strgd":
        raise Skip("strgctl talks to strgd")
    for port, groups, may_change in ((8086, ["read"], False), (8087, ["change"], True)):
        cfg = env.tmp / ("groups-%d.conf" % port)
        cfg.write_text(env.flavour.config(listen_port=port) +
                       "".join("control-group %s nogroup\n" % g for g in groups))
        proc = env.spawn("strgd-groups-%d" % port, env.flavour.argv(cfg))
        try:
            h.wait_port(port, h.START_S, proc)
            sock = h.control_path(port)
            check(h.wait_until(lambda: os.path.exists(sock), 5.0), "no control socket")
            def as_nobody(*args):
                return subprocess.run(["setpriv", "--reuid=65534", "--regid=65534",
                                       "--clear-groups", str(h.ROOT / "strgctl"), "-s", sock] +
                                      list(args), capture_output=True, text=True, timeout=10)
            r = as_nobody("route", "show", "-j")
            check(r.returncode == 0 and json.loads(r.stdout)["routes"],
                  "%s: nogroup could not read: %r" % (groups, r))
            r = as_nobody("route", "set", "GET", "/v1/grp", "modern")
            if may_change:
                check(r.returncode == 0, "change group member refused: %r" % r)
            else:
                check(r.returncode != 0 and "permission denied" in r.stderr,
                      "read-only member changed the table: %r" % r)
        finally:
            proc.stop(signal.SIGTERM, 3.0)


@test
def strgctl_strip_prefix_and_rewrite(env):
    """strip-prefix and rewrite change the path the backend sees, query kept; the routing and
    everything else of the request stay as sent."""
    if env.flavour.name != "strgd":
        raise Skip("strgctl talks to strgd")
    ctl_ok("route", "set", "/v1/legacy-api", "modern", "strip-prefix")
    ctl_ok("route", "set", "GET", "/v1/old", "modern", "rewrite", "/v2/new")
    ctl_ok("route", "set", "GET", "/v1/echo", "modern", "exact", "rewrite", "/__headers")
    try:
        with RawConn() as c:
            # backend.py names the path it got, without the query.
            for sent, seen in (("/v1/legacy-api/orders?x=1", "/orders"),
                               ("/v1/legacy-api", "/"),
                               ("/v1/old/7?a=b", "/v2/new/7"),
                               ("/v1/old", "/v2/new")):
                resp = get(sent, conn=c)
                expect_pool(resp, "modern", sent)
                check(resp.body.decode() == "modern GET %s\n" % seen,
                      "%s reached the backend as %r, want %s" % (sent, resp.body, seen))
            # /__headers echoes the request head: the query is kept, the rest too.
            resp = get("/v1/echo?q=1&r=2", conn=c, headers=["X-Keep: me"])
            head = resp.body.decode("latin-1")
            check(head.startswith("GET /__headers?q=1&r=2 HTTP/1.1\r\n") and
                  "X-Keep: me" in head, "rewritten head: %r" % head[:200])
        routes = json.loads(ctl_ok("route", "show", "-j"))["routes"]
        old = [r for r in routes if r["path"] == "/v1/old"][0]
        check(old["rewrite"] == "/v2/new", "route show -j: %r" % old)
    finally:
        h.strgctl("route", "del", "/v1/legacy-api")
        h.strgctl("route", "del", "GET", "/v1/old")
        h.strgctl("route", "del", "GET", "/v1/echo", "exact")


def route_args(r):
    """strgctl words that set route r of route show -j."""
    args = []
    if r["methods"]:
        args.append(",".join(r["methods"]))
    if r["host"]:
        args += ["host", r["host"]]
    args += [r["path"], r["pool"]]
    if r["percent"] != 100:
        args += ["percent", "%g" % r["percent"]]
    if r["exact"]:
        args.append("exact")
    if r["strip_prefix"]:
        args.append("strip-prefix")
    elif r["rewrite"]:
        args += ["rewrite", r["rewrite"]]
    if r["testers"]:
        args.append("testers")
    if not r["active"]:
        args.append("inactive")
    return args


@test
def strgctl_route_show_json_round_trips(env):
    """Every route of route show -j, given back to route set, names that same route: --dry-run
    says it would replace it, and setting it for real changes nothing."""
    if env.flavour.name != "strgd":
        raise Skip("strgctl talks to strgd")
    ctl_ok("route", "set", "GET,HEAD", "host", "api.example.com", "/v1/rt", "modern",
           "percent", "12.5", "exact", "rewrite", "/v2/rt", "testers")
    try:
        before = json.loads(ctl_ok("route", "show", "-j"))["routes"]
        check(any(r["path"] == "/v1/rt" and r["percent"] == 12.5 for r in before),
              "route show -j: %r" % before)
        for r in before:
            out = ctl_ok("--dry-run", "route", "set", *route_args(r))
            check(out.startswith("would leave route %d unchanged: " % r["id"]),
                  "%s: %r" % (route_args(r), out))
            out = ctl_ok("route", "set", *route_args(r))
            check(out.startswith("route %d unchanged: " % r["id"]), "%s: %r" % (route_args(r), out))
        after = json.loads(ctl_ok("route", "show", "-j"))["routes"]
        key = lambda rs: sorted(rs, key=lambda r: r["id"])  # noqa: E731
        check(key(after) == key(before), "the table changed: %r != %r" % (after, before))
    finally:
        h.strgctl("route", "del", "GET,HEAD", "host", "api.example.com", "/v1/rt", "exact")


@test
def strgctl_table_survives_restart(env):
    """Changes are saved: after a restart strgd routes as before it, and route show says which
    routes came from the state file."""
    if env.flavour.name != "strgd":
        raise Skip("strgctl talks to strgd")
    ctl_ok("route", "set", "GET", CTL_PATH, "modern")
    ctl_ok("route", "set", "GET", CTL_PATH + "-gone", "modern")
    ctl_ok("route", "del", "GET", CTL_PATH + "-gone")
    ids_before = {(r["path"], tuple(r["methods"])): r["id"]
                  for r in json.loads(ctl_ok("route", "show", "-j"))["routes"]}
    try:
        env.proxy.stop(signal.SIGTERM, 5.0)
        env.start_proxy()
        check(h.wait_until(lambda: os.path.exists(h.control_path()), 5.0),
              "the restarted strgd has no control socket")
        expect_pool(get(CTL_PATH + "/after-restart"), "modern", "after the restart")
        routes = json.loads(ctl_ok("route", "show", "-j"))["routes"]
        ids_after = {(r["path"], tuple(r["methods"])): r["id"] for r in routes}
        check(ids_after == ids_before, "route ids changed over the restart: %r -> %r" % (
            ids_before, ids_after))
        out = ctl_ok("route", "set", "GET", CTL_PATH + "-new", "modern")
        new_id = int(re.match(r"route (\d+) added", out).group(1))
        check(new_id > max(ids_before.values()) + 1,
              "a new route got id %d: the deleted route's id came back" % new_id)
        ctl_ok("route", "del", str(new_id))
        mine = [r for r in routes if r["path"] == CTL_PATH]
        check(len(mine) == 1 and mine[0]["source"] == "state", "route show -j: %r" % mine)
        check(all(r["source"] == "config" for r in routes if r["path"] != CTL_PATH),
              "the configuration's routes should say source config: %r" % routes)
    finally:
        h.strgctl("route", "del", "GET", CTL_PATH)
    expect_pool(get(CTL_PATH + "/after-del"), "legacy", "after route del")


@test
def strgctl_refuses_and_explains(env):
    """A non-root caller, a bad argument and deleting the default route: one line on stderr,
    non-zero exit, and the table unchanged."""
    if env.flavour.name != "strgd":
        raise Skip("strgctl talks to strgd")
    before = ctl_ok("route", "show", "-j")
    cases = [
        (("route", "set", "GET", CTL_PATH, "modern"), "65534"),
        (("route", "set", "GET", CTL_PATH, "nosuchpool"), None),
        (("route", "set", "GETT", CTL_PATH, "modern"), None),
        (("route", "del", "/"), None),
        (("route", "deactivate", "/"), None),
        (("route", "frobnicate"), None),
        (("--dry-run", "route", "set", "GET", CTL_PATH, "modern"), None),
    ]
    for args, user in cases:
        r = h.strgctl(*args, user=user)
        what = "strgctl %s%s" % (" ".join(args), " as %s" % user if user else "")
        if "--dry-run" in args:
            check(r.returncode == 0 and "would" in r.stdout, "%s: %r" % (what, r))
            continue
        lines = r.stderr.strip().splitlines()
        check(r.returncode != 0, "%s: exit 0, want an error" % what)
        check(len(lines) == 1 and lines[0].startswith("strgctl: "),
              "%s: want one 'strgctl: ...' line on stderr, got %r" % (what, r.stderr))
    after = ctl_ok("route", "show", "-j")
    check(after == before, "the route table changed: %s -> %s" % (short(before, 2000), short(after, 2000)))
    with RawConn() as c:
        expect_pool(get(CTL_PATH + "/4", conn=c), "legacy", "after the refused changes")


def unsolicited_closed():
    if getattr(ENV, "flavour", None) is None or ENV.flavour.name != "strgd":
        return 0
    pools = json.loads(ctl_ok("stats", "-j"))["pools"]
    return sum(p["unsolicited_closed"] for p in pools if p["pool"] == "modern")


def get_short(path, conn, after):
    """get() whose failure to parse says in a line which request and what came (bytes of a
    body where a head belongs would fill kilobytes)."""
    try:
        return get(path, conn=conn)
    except h.ProtocolError as e:
        raise Fail("%s%s: %s" % (path, after, short(str(e), 120)))


@test
def unsolicited_backend_response_never_answers(env):
    """A backend that sends a second response nobody asked for, 200 ms after its answer or in
    the same write: every later request on the connection still gets its own answer, and
    strgd closes (and counts) that backend connection."""
    before = unsolicited_closed()
    with RawConn() as c:
        for rnd in range(3):
            path = "/__unsolicited/200/r%d" % rnd
            resp = get_short(path, c, "")
            expect_pool(resp, "modern", path)
            check(resp.body == ("modern GET %s\n" % path).encode(), "%s: %r" % (path, resp))
            time.sleep(0.5)  # the unasked-for response arrives meanwhile
            for i in range(3):
                for p, pool in (("/v1/getMarketingEvents/r%d-%d" % (rnd, i), "modern"),
                                ("/a/r%d-%d" % (rnd, i), "legacy")):
                    resp = get_short(p, c, " after an unsolicited response")
                    check(resp.body == ("%s GET %s\n" % (pool, p)).encode(),
                          "after an unsolicited response, %s got %r" % (p, resp))
        for n in (5, 3000, 300000):
            resp = get_short("/__extra/%d" % n, c, "")
            check(resp.status == 200 and len(resp.body) == n and
                  hashlib.sha256(resp.body).hexdigest() == h.backend.pattern_sha256(n),
                  "/__extra/%d: %r" % (n, resp))
            for i in range(2):
                p = "/v1/getMarketingEvents/x%d-%d" % (n, i)
                resp = get_short(p, c, " after /__extra/%d" % n)
                check(resp.body == ("modern GET %s\n" % p).encode(),
                      "after /__extra/%d, %s got %r" % (n, p, resp))
    if env.flavour.name == "strgd":
        closed = unsolicited_closed() - before
        check(closed >= 6, "strgd counted %d backend connections closed for unsolicited bytes, "
              "want at least 6" % closed)


def ctl_raw(data, timeout=8.0, port=h.PROXY_PORT):
    """Bytes to the control socket as they are; (reply text, seconds until strgd closed)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(h.control_path(port))
        t0 = time.monotonic()
        try:
            if data:
                s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # strgd answered and closed before taking it all: read what it said
        chunks = []
        while True:
            try:
                b = s.recv(65536)
            except ConnectionResetError:  # closed with our bytes unread, after its answer
                break
            if not b:
                break
            chunks.append(b)
        return b"".join(chunks).decode("latin-1"), time.monotonic() - t0


@test
def control_socket_refuses_cut_lines(env):
    """A command line longer than the buffer is refused whole (never cut and executed); a NUL
    byte gets an error; a peer that sends half a command and waits is closed after 5 s."""
    if env.flavour.name != "strgd":
        raise Skip("strgd's control socket")
    before = ctl_ok("route", "show", "-j")
    reply, _ = ctl_raw(b"route set /trunc modern" + b" " * 4080 + b"percent 0\n")
    check(reply.startswith("error: command line too long"), "long line: %r" % reply[:200])
    reply, _ = ctl_raw(b"route set /nul modern\0 percent 5\n")
    check(reply.startswith("error: NUL byte"), "NUL byte: %r" % reply[:200])
    check(ctl_ok("route", "show", "-j") == before, "a refused line changed the table")
    # A command ended by the peer's end of writing (no newline) is whole: it runs.
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(5.0)
        s.connect(h.control_path())
        s.sendall(b"route show")
        s.shutdown(socket.SHUT_WR)
        check(s.recv(3) == b"ok\n", "a command closed by EOF was not answered")
    reply, took = ctl_raw(b"route sh", timeout=15.0)
    check(reply == "" and 4.0 <= took <= 9.0,
          "half a command: closed after %.1f s with %r, want closed after ~5 s" % (took, reply))
    check("no complete command or reply within 5 s" in env.proxy.stderr_text(),
          "the timeout was not logged: %s" % env.proxy.stderr_tail())


@test
def control_socket_bounds_connections(env):
    """At most 64 control connections at once: the next one is told so and closed, and once the
    idle ones are gone strgctl is served again."""
    if env.flavour.name != "strgd":
        raise Skip("strgd's control socket")
    held = []
    try:
        for _ in range(64):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(5.0)
            s.connect(h.control_path())
            held.append(s)
        # strgd takes them in asynchronously: one beyond the bound is refused once it has all.
        def refused():
            reply, _ = ctl_raw(b"route show\n", timeout=5.0)
            return reply if reply.startswith("error: too many control connections") else None
        check(h.wait_until(refused, 3.0, interval=0.1), "a 65th connection was served")
    finally:
        for s in held:
            s.close()
    check(h.wait_until(lambda: h.strgctl("route", "show").returncode == 0, 3.0),
          "strgctl not served after the idle connections closed")


@test
def strgctl_json_escapes_every_string(env):
    """A path with a quote and a backslash comes back intact through route show -j and stats -j,
    and route show -j stays valid JSON."""
    if env.flavour.name != "strgd":
        raise Skip("strgctl talks to strgd")
    path = '/v1/a"b\\c'
    ctl_ok("route", "set", path, "modern")
    try:
        routes = json.loads(ctl_ok("route", "show", "-j"))["routes"]
        check([r for r in routes if r["path"] == path], "route show -j lost %r: %r" % (
            path, [r["path"] for r in routes]))
        stats = json.loads(ctl_ok("stats", "-j"))["routes"]
        check([r for r in stats if r["route"] == path], "stats -j lost %r" % path)
    finally:
        h.strgctl("route", "del", path)


@test
def strgctl_shows_what_changed(env):
    """route set prints the whole route and, for a replacement, old -> new (also as a dry run);
    route show has a column with every option. A dry run changes nothing, the guard's limits
    included."""
    if env.flavour.name != "strgd":
        raise Skip("strgctl talks to strgd")
    path = "/v1/shown"
    try:
        out = ctl_ok("route", "set", "GET", path, "modern", "percent", "5")
        m = re.match(r"route (\d+) added: GET /v1/shown modern percent 5\.0\n$", out)
        check(m, "route set (new): %r" % out)
        rid = int(m.group(1))
        shown = ctl_ok("route", "show", "-j")
        out = ctl_ok("--dry-run", "route", "set", "GET", path, "modern", "percent", "50")
        check(out == "would change route %d: GET %s modern percent 5.0 -> GET %s modern "
              "percent 50.0\n" % (rid, path, path), "dry run: %r" % out)
        check(ctl_ok("route", "show", "-j") == shown, "the dry run changed the table")
        limits = ctl_ok("limit", "show")
        out = ctl_ok("--dry-run", "limit", "set", "syn", "12345")
        check(out.startswith("would do: limit syn: ") and "12345/s" in out, "dry limit: %r" % out)
        check(ctl_ok("limit", "show") == limits, "a dry run changed the limits: %r -> %r" % (
            limits, ctl_ok("limit", "show")))
        out = ctl_ok("route", "set", "GET", path, "modern", "percent", "50", "rewrite", "/v2",
                     "testers")
        check(out == "route %d: GET %s modern percent 5.0 -> GET %s modern percent 50.0 "
              "rewrite /v2 testers\n" % (rid, path, path), "replacement: %r" % out)
        out = ctl_ok("route", "deactivate", str(rid))
        check(out.endswith("-> GET %s modern percent 50.0 rewrite /v2 testers inactive\n" %
                           path), "deactivate: %r" % out)
        rows = [l for l in ctl_ok("route", "show").splitlines() if l.split()[:1] == [str(rid)]]
        check(len(rows) == 1 and rows[0].rstrip().endswith(
            "percent 50.0 rewrite /v2 testers inactive"), "route show row: %r" % rows)
        out = ctl_ok("route", "del", str(rid))
        check(out == "route %d deleted: GET %s modern percent 50.0 rewrite /v2 testers "
              "inactive\n" % (rid, path), "route del: %r" % out)
    finally:
        h.strgctl("route", "del", "GET", path)


def stats_of(route_text=None, pool=None):
    """strgctl stats -j: the counters of a route (by its text) and pool, or the unrouted ones."""
    doc = json.loads(ctl_ok("stats", "-j"))
    if route_text is None:
        rows = doc["unrouted"]
    else:
        mine = [r for r in doc["routes"] if r["route"] == route_text]
        check(len(mine) == 1, "stats -j: no single route %r: %r" % (
            route_text, [r["route"] for r in doc["routes"]]))
        rows = [p for p in mine[0]["pools"] if p["pool"] == pool]
    if not rows:
        return {"requests": 0, "status": {k: 0 for k in ("1xx", "2xx", "3xx", "4xx", "5xx",
                                                          "unknown")}}
    return rows[0]


@test
def counters_count_strgds_own_answers(env):
    """Every request is counted in the route's counters, in both data paths (--no-bpf too):
    forwarded ones by status class, and the answers strgd gives itself: 400 for a malformed
    head (no route), 502 and 503 for a pool that refuses, 504 for a silent backend."""
    if env.flavour.name != "strgd":
        raise Skip("strgd's counters")
    port = 8089
    dead = 9198
    check(not h.port_open(dead), "port %d unexpectedly open" % dead)
    proc = env.spawn_extra_proxy("counted", port, modern=(dead,), route_opts="fallback none")
    try:
        def stats(route, pool):
            doc = json.loads(h.ctl_line("stats -j", port=port)[3:])
            if route is None:
                rows = doc["unrouted"]
            else:
                rows = [p for r in doc["routes"] if r["route"] == route for p in r["pools"]
                        if p["pool"] == pool]
            return rows[0] if rows else {"requests": 0, "status": {}}
        before = {k: stats(*k) for k in ((None, None), ("/", "legacy"),
                                         ("GET,HEAD /v1/getSalesLeads", "modern"))}
        with RawConn(port=port) as c:
            for i in range(3):
                expect_pool(get("/counted/%d" % i, conn=c), "legacy", "legacy request")
        st, _ = status_of("/v1/getSalesLeads/1", port=port)
        check(st == 502, "dead pool, first request: %s" % st)
        st, _ = status_of("/v1/getSalesLeads/2", port=port)
        check(st == 503, "dead pool, second request: %s" % st)
        with RawConn(port=port) as c:
            c.send(b"GET /x HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")
            check(c.read_response().status == 400, "malformed head: want 400")
        with RawConn(port=port) as c:
            c.send(b"GET /x HTTP/1.1\r\n Host: h\r\n\r\n")
            check(c.read_response().status == 400, "malformed head: want 400")

        def grew(key, cls):
            now = stats(*key)
            return (now["requests"] - before[key]["requests"],
                    now["status"].get(cls, 0) - before[key]["status"].get(cls, 0))
        check(grew(("/", "legacy"), "2xx") == (3, 3),
              "legacy: requests/2xx grew by %r, want (3, 3)" % (grew(("/", "legacy"), "2xx"),))
        key = ("GET,HEAD /v1/getSalesLeads", "modern")
        check(grew(key, "5xx") == (2, 2), "dead modern: grew by %r, want (2, 2)" % (
            grew(key, "5xx"),))
        check(grew((None, None), "4xx") == (2, 2), "unrouted 400s: grew by %r, want (2, 2)" % (
            grew((None, None), "4xx"),))
        text = h.ctl_line("stats", port=port)
        check(re.search(r"(?m)^-\s+\(no route\)\s+-\s+2\s", text), "stats text: %r" % text)
    finally:
        proc.stop(signal.SIGTERM, 3.0)
    # 504 from the main strgd: counted under the route's pool as 5xx.
    key_text = "/__sleep"
    b = stats_of(key_text, "modern")
    st, _ = status_of("/__sleep/2000")
    check(st == 504, "want 504 from a silent backend, got %s" % st)
    a = stats_of(key_text, "modern")
    check((a["requests"] - b["requests"], a["status"]["5xx"] - b["status"]["5xx"]) == (1, 1),
          "504: counters %r -> %r" % (b, a))


@test
def second_strgd_on_same_pins_or_socket_refused(env):
    """A second strgd given the first one's pin directory (kernel mode) or control socket
    refuses to start, names the first one's pid, and leaves the first one working."""
    if env.flavour.name != "strgd":
        raise Skip("strgd's own locks")
    main_pid = env.proxy.pid
    cases = [("ctl", h.strgd_config(listen_port=8090).replace(
        h.control_path(8090), h.control_path()), env.flavour.argv, "control socket")]
    if getattr(env.flavour, "mode", None) == "kernel":
        cfg2 = h.strgd_config(listen_port=8091)
        cases.append(("pins", cfg2, lambda path: [env.flavour.binary, "--pin-dir",
                                                  env.pin_dir(), "-c", str(path)],
                      "pin directory"))
    for tag, text, argv_of, what in cases:
        path = env.tmp / ("second-%s.conf" % tag)
        path.write_text(text)
        p = env.spawn("strgd-second-%s" % tag, argv_of(path)).expect(
            1, allow=[r"^strgd: %s .*another strgd|in use by another strgd" % what])
        status = p.wait(5.0)
        err = p.stderr_text()
        if status is None:
            p.stop()
        check(status == 1, "%s: second strgd exit %s, want 1: %s" % (what, status, err[-300:]))
        check(what in err and "pid %d" % main_pid in err,
              "%s: message should name the first strgd (pid %d): %r" % (what, main_pid, err))
    check(os.path.exists(h.control_path()), "the first strgd's control socket is gone")
    ctl_ok("route", "show")
    if getattr(env.flavour, "mode", None) == "kernel":
        check(os.path.exists(os.path.join(env.pin_dir(), "kstats")),
              "the first strgd's pins are gone")
    expect_pool(get("/after-second"), "legacy", "the first strgd after the second one left")


def cpu_seconds(pid):
    """utime + stime of a process, in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@test
def descriptor_exhaustion_pauses_accept(env):
    """Out of file descriptors, strgd stops accepting (no busy loop), sheds the connections
    that sent nothing (they may be a slowloris), and takes the waiting clients once descriptors
    are free again."""
    if env.flavour.name != "strgd":
        raise Skip("strgd's own accept loop")
    port = 8084
    cfg = env.tmp / "fdlimit.conf"
    cfg.write_text(env.flavour.config(listen_port=port))
    proc = env.spawn("strgd-fdlimit", ["prlimit", "--nofile=48:48"] + env.flavour.argv(cfg))
    clients = []
    try:
        # Not wait_port: its probe connection, closed again, would free a descriptor and end
        # the first pause early. The log says when strgd listens.
        check(h.wait_until(lambda: "listening on" in proc.stderr_text(), 5.0),
              "strgd did not start: %s" % proc.stderr_tail())
        for _ in range(60):  # more than the 48 descriptors strgd may hold
            clients.append(socket.create_connection((h.HOST, port), timeout=2.0))
        time.sleep(0.3)
        cpu0 = cpu_seconds(proc.pid)
        time.sleep(1.0)
        spent = cpu_seconds(proc.pid) - cpu0
        check(proc.alive(), "strgd died out of descriptors: %s" % proc.stderr_tail())
        check(spent < 0.5, "strgd used %.2f s of CPU in 1 s while out of descriptors (a busy "
              "accept loop?)" % spent)
        warnings = proc.stderr_text().count("pausing new connections")
        check(warnings >= 1, "no 'pausing new connections' warning")
        check("slow or idle connections closed" in proc.stderr_text(),
              "no connection shed while out of descriptors: %s" % proc.stderr_tail())
        for c in clients:
            c.close()
        clients = []
        deadline = time.monotonic() + 5.0
        while True:  # the timer resumes accepting within a tick once descriptors are back
            try:
                with RawConn(port=port, timeout=2.0) as c:
                    c.send(request("GET", "/v1/getSalesLeads/fd"))
                    resp = c.read_response()
                expect_pool(resp, "modern", "request after the descriptors came back")
                break
            except (OSError, h.ProtocolError):
                if time.monotonic() > deadline:
                    raise Fail("strgd did not accept again within 5 s of descriptors freeing")
                time.sleep(0.2)
    finally:
        for c in clients:
            c.close()
        proc.stop(signal.SIGTERM, 3.0)


def status_of(path, port=h.PROXY_PORT):
    try:
        with RawConn(port=port, timeout=5.0) as c:
            c.send(request("GET", path))
            resp = c.read_response()
            return resp.status, resp
    except (OSError, h.ProtocolError) as e:
        return None, e


@test
def backend_down_falls_back_then_recovers(env):
    """The modern pool's only backend dies: its routes fall back to the default route (the
    legacy pool), counted as fallback; once it is back, modern serves them again."""
    key = "GET,HEAD /v1/getSalesLeads"
    before = fallback_count(key, "legacy") if env.flavour.name == "strgd" else 0
    env.stop_modern()
    try:
        for i in range(3):
            st, resp = status_of("/v1/getSalesLeads")
            check(st == 200 and resp.pool() == "legacy",
                  "request %d to the route of a dead pool: %s from %s, want 200 from legacy "
                  "(fallback)" % (i, st, resp.pool() if resp else None))
        st, resp = status_of("/a")
        check(st == 200 and resp.pool() == "legacy", "legacy /a while modern is down: %r" % resp)
        if env.flavour.name == "strgd":
            n = fallback_count(key, "legacy") - before
            check(n == 3, "stats: %d requests of %s counted as fallback to legacy, want 3" % (
                n, key))
    finally:
        if env.modern is None:
            env.start_modern()
        # Whatever happened above: the next tests need modern serving again.
        t0 = time.monotonic()
        last = [None]

        def modern_back():
            st, resp = status_of("/v1/getSalesLeads")
            last[0] = resp
            return st == 200 and resp.pool() == "modern"

        ok = h.wait_until(modern_back, h.DOWN_HOLD_MS / 1000.0 + 3.0, interval=0.2)
    check(ok, "modern not used again %.1f s after restart: %r" % (time.monotonic() - t0, last[0]))


def fallback_count(route, pool):
    """Requests of route served by pool because the route's own pool had no backend."""
    for r in json.loads(ctl_ok("stats", "-j"))["routes"]:
        for p in r["pools"]:
            if r["route"] == route and p["pool"] == pool:
                return p["fallback"]
    return 0


@test
def backend_down_502_503_without_fallback(env):
    """With 'fallback none', a pool whose backend refuses gets strgd's 502, then 503 while
    the backend is held down; the legacy routes go on."""
    if env.flavour.name != "strgd":
        raise Skip("strgd's fallback option")
    port, dead = 8093, 9195
    check(not h.port_open(dead), "port %d unexpectedly open" % dead)
    proc = env.spawn_extra_proxy("nofallback", port, modern=(dead,), route_opts="fallback none")
    try:
        st, resp = status_of("/v1/getSalesLeads", port=port)
        check(st == 502, "first request to a dead pool: %s, want 502 (%r)" % (st, resp))
        check(resp.connection_close(), "502 without 'Connection: close'")
        st, resp = status_of("/v1/getSalesLeads", port=port)
        check(st == 503, "second request within down-hold: %s, want 503 (%r)" % (st, resp))
        check(resp.connection_close(), "503 without 'Connection: close'")
        st, resp = status_of("/a", port=port)
        check(st == 200 and resp.pool() == "legacy", "legacy /a while modern is down: %r" % resp)
    finally:
        proc.stop(signal.SIGTERM, 3.0)


@test
def timeout_server_504(env):
    with RawConn(timeout=5.0) as c:
        t0 = time.monotonic()
        c.send(request("GET", "/__sleep/3000"))
        try:
            resp = c.read_response(timeout=4.0)
        except (socket.timeout, h.ProtocolError) as e:
            raise Fail("no 504: %s after %.2f s" % (e, time.monotonic() - t0))
        took = time.monotonic() - t0
        check(resp.status == 504, "status %d after %.2f s, want 504" % (resp.status, took))
        # Not before the timeout, and well before the backend's own answer at 3 s.
        check(0.9 <= took < 2.9, "504 after %.2f s, want it after timeout server (%d ms) and "
              "before the backend answers (3 s)" % (took, h.SERVER_TIMEOUT_MS))
        check(resp.connection_close(), "504 without 'Connection: close'")
        check(c.wait_eof(2.0) in ("eof", "reset"), "connection not closed after 504")
    resp = get("/__sleep/300")
    expect_pool(resp, "modern", "/__sleep/300 (under the timeout)")


@test
def config_check(env):
    if not env.flavour.has_config_check:
        raise Skip("%s has no 'strgd -t' equivalent" % env.flavour.name)
    good = env.cfg_path
    r = subprocess.run(env.flavour.check_argv(good), capture_output=True, text=True, timeout=10)
    check(r.returncode == 0, "-t on the good config: exit %d: %s" % (
        r.returncode, (r.stderr + r.stdout).strip()[-300:]))
    base = h.strgd_config().splitlines()
    cases = [
        ("unknown_directive", base[:3] + ["frobnicate yes"] + base[3:], 4),
        ("route_unknown_pool", base[:5] + ["route /x nosuchpool"] + base[5:], 6),
        ("bad_port", base[:2] + ["pool legacy 127.0.0.1:99999"] + base[3:], 3),
    ]
    for name, lines, lineno in cases:
        path = env.tmp / ("bad-%s.conf" % name)
        path.write_text("\n".join(lines) + "\n")
        r = subprocess.run(env.flavour.check_argv(path), capture_output=True, text=True,
                           timeout=10)
        out = r.stderr + r.stdout
        check(r.returncode == 1, "%s: exit %d, want 1 (%r)" % (name, r.returncode, out[-200:]))
        pat = r"%s:%d: \S" % (re.escape(str(path)), lineno)
        check(re.search(pat, out), "%s: want '%s:%d: message', got %r" % (
            name, path, lineno, out.strip()[-300:]))


# ---------------------------------------------------------------------------------------------
# Kernel fast path: tests/integration/kernel_tests.py, registered in kernel mode only (in user
# mode there is no fast path to pin, and a skip line per test would only be noise).

import kernel_tests  # noqa: E402
import framing_tests  # noqa: E402
import metrics_tests  # noqa: E402
import promise_tests  # noqa: E402
import safety_tests  # noqa: E402
import hardening_tests  # noqa: E402
import guard_tests  # noqa: E402
import datapath_tests  # noqa: E402
import control_tests  # noqa: E402
import readme_tests  # noqa: E402
import eject_tests  # noqa: E402
import shadow_tests  # noqa: E402
import gateway_tests  # noqa: E402

KERNEL_MODE = (os.environ.get("STRG_IT_PROXY", "strgd") == "strgd" and
               os.environ.get("STRG_IT_MODE", "user").startswith("kernel"))
if KERNEL_MODE:
    kernel_tests.register(sys.modules[__name__])
framing_tests.register(sys.modules[__name__])
promise_tests.register(sys.modules[__name__])
control_tests.register(sys.modules[__name__])
readme_tests.register(sys.modules[__name__])
gateway_tests.register(sys.modules[__name__])
# The cutover safety tests: both data paths, with two workers.
if os.environ.get("STRG_IT_PROXY", "strgd") == "strgd" and os.environ.get("STRG_IT_MODE",
                                                                           "user") in ("user",
                                                                                       "kernel"):
    safety_tests.register(sys.modules[__name__])
    hardening_tests.register(sys.modules[__name__])
    datapath_tests.register(sys.modules[__name__])
    eject_tests.register(sys.modules[__name__])
    shadow_tests.register(sys.modules[__name__])
# The observability tests start their own strgd instances in every mode: once per suite run.
if os.environ.get("STRG_IT_PROXY", "strgd") == "strgd" and os.environ.get("STRG_IT_MODE") == "kernel":
    metrics_tests.register(sys.modules[__name__])
    guard_tests.register(sys.modules[__name__])


@test
def sigterm_graceful(env):
    """Runs last: an in-flight request completes, the proxy exits 0, then connect is refused."""
    before = len(env.modern_log_lines())
    result = {}

    def client():
        try:
            with RawConn(timeout=5.0) as c:
                c.send(request("GET", "/__sleep/500"))
                result["resp"] = c.read_response(timeout=5.0)
        except Exception as e:  # reported below
            result["error"] = e

    t = threading.Thread(target=client, daemon=True)
    t.start()
    arrived = h.wait_until(lambda: any(l.startswith("GET /__sleep/500")
                                       for l in env.modern_log_lines()[before:]), 2.0)
    check(arrived, "the /__sleep/500 request never reached the backend")
    proxy = env.proxy
    proxy.send_signal(env.flavour.graceful_signal)
    refused = h.wait_until(lambda: not h.port_open(h.PROXY_PORT), 3.0, interval=0.02)
    t.join(6.0)
    status = proxy.wait(5.0)
    check(not t.is_alive(), "in-flight request still unanswered 6 s after the signal")
    check("resp" in result, "in-flight request failed: %r" % result.get("error"))
    expect_pool(result["resp"], "modern", "in-flight /__sleep/500")
    check(status is not None, "proxy still running 5 s after the signal")
    check(status == 0, "proxy exited with status %s: %s" % (status, proxy.stderr_tail()))
    check(refused, "new connections still accepted while draining")
    check(not h.port_open(h.PROXY_PORT), "connect to :%d not refused after exit" % h.PROXY_PORT)


# ---------------------------------------------------------------------------------------------
# Runner


class TestTimeout(Exception):
    pass


def on_alarm(signum, frame):
    raise TestTimeout("test exceeded its time limit (%d s unless it sets its own)" % TEST_TIMEOUT)


# Tests that do not depend on the data path or the number of workers (the control plane, the
# configuration, the request parser's answers to a first request, which is user space's in
# every mode): they run in ONCE_MODE only, the mode whose strgd is built with ASan+UBSan.
ONCE_MODE = "user"
ONCE = {
    "strgctl_refuses_and_explains", "strgctl_route_show_json_round_trips",
    "control_socket_refuses_cut_lines", "control_socket_bounds_connections",
    "strgctl_json_escapes_every_string", "strgctl_shows_what_changed", "config_check",
    "strgctl_control_groups", "change_log_line_names_caller_and_timing",
    "strgctl_without_daemon_and_bind_failure", "unreadable_state_file_is_named_and_discardable",
    "strgctl_refused_connection_exits_1", "failed_save_is_reported_for_its_change",
    "restart_merges_config_edits_with_runtime_changes", "strgctl_verbs_and_weights",
    "limits_at_boundary_accepted", "absolute_form_routes_by_its_authority",
    # strgd's small servers (control socket, metrics listener) against slow peers.
    "control_socket_change_beats_slow_readers", "metrics_listener_outlasts_slowloris",
}


# Tests of a data path that the number of workers does not change (a big route table, changes
# under load): they run in the two-worker modes only, "user" and "kernel".
TWO_WORKERS = {"kernel_route_table_follows_a_big_table", "strgctl_route_flips_under_load"}


def runs_here(name):
    """Whether the test runs in this mode (see ONCE and TWO_WORKERS)."""
    mode = os.environ.get("STRG_IT_MODE", "user")
    once = name in ONCE or name.startswith("malformed_") and name != \
        "malformed_second_request_on_keepalive"
    if name in TWO_WORKERS:
        return mode in ("user", "kernel")
    return not once or mode == ONCE_MODE


# The plan (as nginx-tests' plan()): how many tests each mode runs. A mode that registers
# another number, or whose run ends with fewer reported, fails: a test dropped by a broken
# condition or a run cut short is seen. Adding or moving a test means updating its figure here.
PLAN = {"user": 158, "kernel": 132, "user-w1": 57, "kernel-w1": 74}


def plan_problem(selected, patterns):
    """Why the selected tests are not the plan's ("" when they are, or when a subset runs)."""
    mode = os.environ.get("STRG_IT_MODE", "user")
    if patterns or os.environ.get("STRG_IT_PROXY", "strgd") != "strgd":
        return ""
    want = PLAN.get(mode)
    if want != len(selected):
        return "mode %s registers %d tests, its plan says %s" % (mode, len(selected), want)
    return ""


def make_flavour():
    which = os.environ.get("STRG_IT_PROXY", "strgd")
    if which == "haproxy":
        return h.HAProxy()
    if which != "strgd":
        raise h.HarnessError("STRG_IT_PROXY must be strgd or haproxy, not %r" % which)
    binary = Path(os.environ.get("STRGD", h.ROOT / "strgd"))
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        raise h.HarnessError("%s is missing or not executable (run make)" % binary)
    return h.Strgd(binary, os.environ.get("STRG_IT_MODE", "user"))


ENV = None


def table_snapshot(env):
    """The routes and pools strgd has (ids included; counter slots, which a restart hands out
    afresh, left out), or None for another flavour."""
    if env.flavour.name != "strgd" or not env.proxy.alive():
        return None
    try:
        routes = json.loads(h.ctl_line("route show -j")[3:])["routes"]
        for r in routes:
            r.pop("slot", None)
        pools = json.loads(h.ctl_line("pool show -j")[3:])["pools"]
        for p in pools:  # what traffic moves, not what a test set
            for b in p["backends"]:
                for k in ("connections", "inflight", "healthy"):
                    b.pop(k, None)
    except (OSError, ValueError) as e:
        return {"error": str(e)}
    return {"routes": {r["id"]: r for r in routes}, "pools": {p["name"]: p for p in pools}}


def table_diff(before, after):
    """What differs between two snapshots, in words; "" when nothing does."""
    if before is None or after is None:
        return ""
    if "error" in after:
        return "cannot read the table: %s" % after["error"]
    out = []
    for kind in ("routes", "pools"):
        b, a = before[kind], after[kind]
        out += ["%s %s added" % (kind[:-1], k) for k in a if k not in b]
        out += ["%s %s removed" % (kind[:-1], k) for k in b if k not in a]
        out += ["%s %s changed: %s" % (kind[:-1], k, ", ".join(
            "%s %r -> %r" % (f, b[k].get(f), a[k].get(f)) for f in sorted(set(b[k]) | set(a[k]))
            if b[k].get(f) != a[k].get(f))) for k in b if k in a and a[k] != b[k]]
    return "; ".join(out)


def main(argv):
    global ENV
    keep = "--keep" in argv
    patterns = [a for a in argv if not a.startswith("--")]
    selected = [(n, f) for n, f in TESTS if (not patterns or any(p in n for p in patterns))
                and runs_here(n)]
    if "--list" in argv:
        for n, _ in selected:
            print(n)
        return 0

    passed = failed = skipped = 0
    env = None
    planned = len(selected)
    print("integration: plan %d tests" % planned, flush=True)
    # Until the run ends, every planned test counts as failed (the run may be killed).
    write_summary(0, planned, 0, done=False)
    problem = plan_problem(selected, patterns)
    if problem:
        failed += 1
        print("FAIL plan: %s (update PLAN in suite.py if that is intended)" % problem, flush=True)
    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGTERM, lambda s, f: sys.exit(1))
    try:
        flavour = make_flavour()
        env = h.Env(flavour, keep=keep)
        ENV = env
        print("integration: proxy %s, work dir %s" % (flavour.describe(), env.tmp), flush=True)
        env.start_all()
    except (h.HarnessError, OSError) as e:
        print("FAIL setup: %s" % e, flush=True)
        if env is not None:
            env.stop_all()
        write_summary(0, failed + planned, 0)
        print("integration: 0 passed, %d failed, 0 skipped" % (failed + planned))
        return 1

    if not KERNEL_MODE:
        print("integration: %d kernel fast path tests not registered (strgd with "
              "STRG_IT_MODE=kernel only)" % len(kernel_tests.KERNEL_TESTS), flush=True)
    t_start = time.monotonic()
    baseline = table_snapshot(env)
    try:
        for name, fn in selected:
            if not env.proxy.alive():
                env.start_proxy()
            t0 = time.monotonic()
            signal.alarm(getattr(fn, "timeout", TEST_TIMEOUT))  # a longer test says so
            try:
                fn(env)
                verdict, reason = "ok", None
            except Skip as e:
                verdict, reason = "skip", str(e)
            except Fail as e:
                verdict, reason = "FAIL", str(e)
            except Exception as e:  # harness errors, timeouts, unexpected resets
                verdict, reason = "FAIL", "%s: %s" % (type(e).__name__, e)
            finally:
                signal.alarm(0)
            if name != "sigterm_graceful" and not env.proxy.alive():
                verdict = "FAIL"
                reason = ((reason + "; ") if reason else "") + "%s died (status %s): %s" % (
                    env.proxy.name, env.proxy.returncode, env.proxy.stderr_tail())
            elif name != "sigterm_graceful":
                # Every test starts from the same table: one that leaves it changed fails,
                # and the next one gets a strgd started afresh from the configuration.
                left = table_diff(baseline, table_snapshot(env))
                if left:
                    verdict = "FAIL"
                    reason = ((reason + "; ") if reason else "") + (
                        "left the table changed (cleanup failed): %s" % left)
                    env.restart_proxy_fresh()
            # Every strgd that stopped during the test: its exit status and its stderr.
            died = env.exited_problems()
            if died:
                verdict = "FAIL"
                reason = ((reason + "; ") if reason else "") + "; ".join(died)
            took = time.monotonic() - t0
            if verdict == "ok":
                passed += 1
                print("ok   %s (%.2fs)" % (name, took), flush=True)
            elif verdict == "skip":
                skipped += 1
                print("skip %s: %s" % (name, reason), flush=True)
            else:
                failed += 1
                print("FAIL %s: %s" % (name, reason), flush=True)
    finally:
        signal.alarm(0)
        ran = passed + failed + skipped - (1 if problem else 0)
        if ran < planned:
            print("FAIL plan: %d of %d tests reported" % (ran, planned), flush=True)
            failed += planned - ran
        env.keep = env.keep or failed > 0
        # The strgds still running at the end (the main one): each must exit cleanly too.
        for problem in env.stop_all():
            failed += 1
            print("FAIL shutdown: %s" % problem, flush=True)
            env.keep = True
    print("integration: proxy %s, %.0f s%s" % (
        env.flavour.name, time.monotonic() - t_start,
        ", logs kept in %s" % env.tmp if env.keep else ""))
    write_summary(passed, failed, skipped)
    print("integration: %d passed, %d failed, %d skipped" % (passed, failed, skipped))
    return 1 if failed else 0


def write_summary(passed, failed, skipped, done=True):
    """The counts for tests/integration/run, which adds up the modes (STRG_IT_SUMMARY)."""
    path = os.environ.get("STRG_IT_SUMMARY")
    if path:
        with open(path, "w") as f:
            f.write("%d %d %d %s\n" % (passed, failed, skipped, "done" if done else "cut"))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
