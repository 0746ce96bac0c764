# SPDX-License-Identifier: GPL-2.0-only
"""What README.md promises, one test each (both data paths where it applies): timeouts, host
routes, stickiness, splice modes, the kernel handing connections back, strgctl's verbs and logs.

suite.py registers these with register(suite_module) in every mode. Tests that need settings of
their own run a strgd of their own (env.spawn_extra_proxy) and stop it by pid.
"""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import harness as h
from harness import RawConn, request

S = None  # the suite module (Fail, check, expect_pool, ctl_ok, ...), set by register()

PROMISE_TESTS = []
KERNEL_PROMISE_TESTS = []  # registered in kernel mode only


def promise(fn):
    PROMISE_TESTS.append(fn)
    return fn


def kernel_promise(fn):
    KERNEL_PROMISE_TESTS.append(fn)
    return fn


def strgd_only(env):
    if env.flavour.name != "strgd":
        raise S.Skip("a strgd behaviour")


def kernel_mode(env):
    return getattr(env.flavour, "mode", None) == "kernel"


def ctl(line, port=h.PROXY_PORT):
    """A change or read through a strgd's control socket; the reply after "ok"."""
    r = h.ctl_line(line, port=port)
    S.check(r.startswith("ok\n"), "%s: %s" % (line, r.strip()[:300]))
    return r[3:]


def route_counts(route_text, pool, port=h.PROXY_PORT):
    """(requests, kernel) of a route and pool from strgctl stats -j."""
    doc = json.loads(ctl("stats -j", port=port))
    rows = [p for r in doc["routes"] if r["route"] == route_text for p in r["pools"]
            if p["pool"] == pool]
    return (rows[0]["requests"], rows[0]["kernel"]) if rows else (0, 0)


def body_of(pool, method, path):
    return ("%s %s %s\n" % (pool, method, path)).encode()


def get_ok(conn, path, pool, headers=(), host="h"):
    conn.send(request("GET", path, headers=headers, host=host))
    resp = conn.read_response()
    S.expect_pool(resp, pool, "GET %s (Host %s)" % (path, host))
    S.check(resp.body == body_of(pool, "GET", path), "GET %s: body %r" % (path, resp.body))
    return resp


def extra_ctl_ready(port):
    S.check(h.wait_until(lambda: os.path.exists(h.control_path(port)), 5.0),
            "the strgd on port %d has no control socket" % port)


# ---------------------------------------------------------------------------------------------
# Routing


@promise
def host_route_end_to_end(env):
    """A host route takes its host's requests (any case, any port) on every request of a
    connection, the kernel's included; other hosts fall through to legacy."""
    strgd_only(env)
    path = "/v1/hosted"
    ctl("route set GET host api.example.com %s modern" % path)
    try:
        before = route_counts("GET host api.example.com %s" % path, "modern")
        with RawConn() as c:
            for i in range(6):
                get_ok(c, "%s/%d" % (path, i), "modern", host="api.example.com")
            get_ok(c, path + "/case", "modern", host="API.Example.COM:8080")
            get_ok(c, path + "/other", "legacy", host="other.example")
            get_ok(c, path + "/again", "modern", host="api.example.com")
        # A request is counted as its answer goes out: wait for the last one's count.
        h.wait_until(lambda: route_counts("GET host api.example.com %s" % path,
                                          "modern")[0] - before[0] >= 8, 3.0)
        after = route_counts("GET host api.example.com %s" % path, "modern")
        S.check(after[0] - before[0] == 8, "the host route counted %d requests, want 8" % (
            after[0] - before[0]))
        if kernel_mode(env):
            S.check(after[1] - before[1] >= 4, "the kernel carried %d of the host route's "
                    "requests, want most of them (its host match)" % (after[1] - before[1]))
    finally:
        h.ctl_line("route del GET host api.example.com %s" % path)


# ---------------------------------------------------------------------------------------------
# Timeouts

BLACKHOLE_PORT = 9196  # SYNs to it are dropped by an nftables rule the test adds


def nft(*args):
    return subprocess.run(["nft"] + list(args), capture_output=True, text=True, timeout=10)


@promise
def timeouts_client_idle_and_connect(env):
    """timeout client: a head left unfinished gets 408; timeout idle: a kept-alive connection
    left idle is closed (in the kernel's hands too); timeout connect: a backend that never
    answers the SYN is given up and the next backend answers."""
    strgd_only(env)
    r = nft("add", "table", "inet", "strgtest")
    S.check(r.returncode == 0, "nft: %s" % r.stderr.strip())
    try:
        nft("add", "chain", "inet", "strgtest", "out",
            "{ type filter hook output priority 0 ; }")
        r = nft("add", "rule", "inet", "strgtest", "out", "tcp", "dport",
                str(BLACKHOLE_PORT), "drop")
        S.check(r.returncode == 0, "nft rule: %s" % r.stderr.strip())
        port = 8095
        proc = env.spawn_extra_proxy(
            "timeouts", port, modern=(BLACKHOLE_PORT, h.MODERN_PORT),
            extra=["timeout client 1s", "timeout idle 2s"])
        try:
            timeouts_checks(env, proc, port)
        finally:
            proc.stop(signal.SIGTERM, 3.0)
    finally:
        nft("delete", "table", "inet", "strgtest")


def timeouts_checks(env, proc, port):
    with RawConn(port=port) as c:
        t0 = time.monotonic()
        c.send(b"GET /v1/x HTTP/1.1\r\nHost: h\r\n")
        resp = c.read_response(timeout=8.0)
        took = time.monotonic() - t0
        S.check(resp.status == 408 and resp.connection_close(),
                "unfinished head: %r, want 408 with Connection: close" % resp)
        S.check(0.9 <= took < 6.0, "408 after %.1f s, want after timeout client (1 s)" % took)
        S.check(c.wait_eof(2.0) in ("eof", "reset"), "connection open after the 408")
    with RawConn(port=port) as c:
        for i in range(3):  # in kernel mode the kernel holds the connection after the first
            get_ok(c, "/a/idle%d" % i, "legacy")
        t0 = time.monotonic()
        end = c.wait_eof(10.0)
        took = time.monotonic() - t0
        S.check(end == "eof", "idle connection: %s after %.1f s, want EOF" % (end, took))
        S.check(1.9 <= took < 8.0, "idle connection closed after %.1f s, want after timeout "
                "idle (2 s)" % took)
    # Round robin puts every other new connection on the blackholed backend first.
    for i in range(4):
        with RawConn(port=port, timeout=8.0) as c:
            get_ok(c, "/v1/getMarketingEvents/cf%d" % i, "modern")
    S.check(h.wait_until(lambda: "connect: timed out" in proc.stderr_text(), 2.0),
            "no backend connect timed out: %s" % proc.stderr_tail())


@kernel_promise
def kernel_carried_request_gets_504(env):
    """A request the kernel carried whose backend stays silent past timeout server gets
    strgd's 504 and the connection closes, before the backend's late answer."""
    strgd_only(env)
    path = "/__sleep/5000"
    before = route_counts("/__sleep", "modern")
    with RawConn(timeout=10.0) as c:
        for i in range(3):
            get_ok(c, "/__sleep/0/w%d" % i, "modern")
        mid = route_counts("/__sleep", "modern")
        t0 = time.monotonic()
        c.send(request("GET", path))
        resp = c.read_response(timeout=8.0)
        took = time.monotonic() - t0
        S.check(resp.status == 504 and resp.connection_close(),
                "silent backend on a kernel-held connection: %r, want 504" % resp)
        S.check(0.9 <= took < 4.5, "504 after %.1f s, want after timeout server (1 s) and "
                "before the backend's answer (5 s)" % took)
        S.check(c.wait_eof(2.0) in ("eof", "reset"), "connection open after the 504")
    after = route_counts("/__sleep", "modern")
    S.check(mid[1] > before[1], "the warm-up requests were not kernel-carried")
    S.check(after[1] - mid[1] == 1 and after[0] - mid[0] == 1,
            "the timed-out request: requests +%d, kernel +%d, want +1 each" % (
                after[0] - mid[0], after[1] - mid[1]))


# ---------------------------------------------------------------------------------------------
# Splice modes and the kernel handing connections back


@kernel_promise
def splice_never_keeps_every_request_in_user_space(env):
    """splice never: the kernel path is loaded (maps, counters) but carries nothing."""
    strgd_only(env)
    port = 8096
    proc = env.spawn_extra_proxy("never", port, extra=["splice never"])
    try:
        S.check(h.wait_until(lambda: "data path: kernel splice (splice never)" in
                             proc.stderr_text(), 3.0), "start line: %s" % proc.stderr_tail())
        extra_ctl_ready(port)
        with RawConn(port=port) as c:
            for i in range(20):
                get_ok(c, "/v1/getMarketingEvents/n%d" % i, "modern")
            time.sleep(1.5)  # past splice auto's hand-over delay: never means never
            for i in range(5):
                get_ok(c, "/v1/getMarketingEvents/m%d" % i, "modern")
        req, kern = route_counts("/v1/getMarketingEvents", "modern", port=port)
        S.check(req == 25 and kern == 0, "splice never: requests %d, kernel %d, want 25 and 0" %
                (req, kern))
    finally:
        proc.stop(signal.SIGTERM, 3.0)


def handed_back_cases():
    big = "X-Big: " + "b" * 3000
    return [
        ("chunked", request("POST", "/__sha256", headers=["Transfer-Encoding: chunked"],
                            body=b"5\r\nhello\r\n0\r\n\r\n"), None, b"sha256="),
        ("expect", None, None, b"sha256="),
        ("upgrade", request("GET", "/v1/getMarketingEvents/up",
                            headers=["Connection: Upgrade", "Upgrade: h2c"]), None,
         body_of("modern", "GET", "/v1/getMarketingEvents/up")),
        ("head_over_2k", request("GET", "/v1/getMarketingEvents/big", headers=[big]), None,
         body_of("modern", "GET", "/v1/getMarketingEvents/big")),
        ("split_head", b"GET /v1/getMarketingEvents/split HTTP/1.1\r\nHo", b"st: h\r\n\r\n",
         body_of("modern", "GET", "/v1/getMarketingEvents/split")),
    ]


def send_expect(c):
    c.send(b"POST /__sha256 HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n"
           b"Content-Length: 5\r\n\r\n")
    interim = c.read_response(skip_1xx=False)
    S.check(interim.status == 100, "Expect: 100-continue: first answer %r, want 100" % interim)
    c.send(b"hello")


@kernel_promise
def kernel_hands_back_what_it_cannot_carry(env):
    """On a connection the kernel already holds, requests it must not carry (chunked body,
    Expect, Upgrade, a head over 2 KiB, a head split across segments) are handed to strgd and
    answered, and the kernel carries the connection's next request again."""
    strgd_only(env)
    failures = []
    with RawConn(timeout=5.0) as c:
        for i in range(3):
            get_ok(c, "/v1/getMarketingEvents/w%d" % i, "modern")
        for name, first, second, want in handed_back_cases():
            before = route_counts("/v1/getMarketingEvents", "modern")
            if name == "expect":
                send_expect(c)
            else:
                c.send(first)
                if second:
                    time.sleep(0.2)  # a segment of its own
                    c.send(second)
            resp = c.read_response()
            if resp.status != 200 or want not in resp.body:
                failures.append("%s: %r" % (name, resp))
                continue
            get_ok(c, "/v1/getMarketingEvents/after-%s" % name, "modern")
            after = route_counts("/v1/getMarketingEvents", "modern")
            if after[1] - before[1] < 1:
                failures.append("%s: the next request was not kernel-carried (kernel +%d)" % (
                    name, after[1] - before[1]))
    S.check(not failures, "; ".join(failures))


# ---------------------------------------------------------------------------------------------
# Stickiness and testers

SPLIT = "/v1/sticky"


def pools_per_user(port, users, headers_of, rounds=3, source_of=None):
    """{user: set of pools that answered} over rounds requests per user."""
    seen = {}
    for r in range(rounds):
        for u in users:
            src = source_of(u) if source_of else None
            s = socket.create_connection((h.HOST, port), timeout=5.0,
                                         source_address=(src, 0) if src else None)
            c = RawConn.__new__(RawConn)
            c.sock, c.timeout, c.buf, c.eof, c.send_error = s, 5.0, bytearray(), False, None
            try:
                c.send(request("GET", "%s/%d" % (SPLIT, r), headers=headers_of(u)))
                resp = c.read_response()
            finally:
                c.close()
            S.check(resp.status == 200, "user %s: %r" % (u, resp))
            seen.setdefault(u, set()).add(resp.pool())
    return seen


@promise
def sticky_header_address_and_tester_header(env):
    """sticky header NAME: a user's header value keeps them on one side of a 50 % split;
    sticky address: the client address does; tester-header NAME renames the tester header."""
    strgd_only(env)
    for tag, port, extra, headers_of, source_of in (
            ("header", 8097, ["sticky header X-User", "tester-header X-Canary"],
             lambda u: ["X-User: user-%d" % u, "Cookie: strg_user=same"], None),
            ("address", 8098, ["sticky address"],
             lambda u: ["Cookie: strg_user=u%d" % u], lambda u: "127.0.%d.%d" % (
                 1 + u // 200, 1 + u % 200))):
        proc = env.spawn_extra_proxy("sticky-" + tag, port, extra=extra)
        try:
            extra_ctl_ready(port)
            ctl("route set GET %s modern percent 50 testers" % SPLIT, port=port)
            seen = pools_per_user(port, range(40), headers_of, source_of=source_of)
            flipped = [u for u, p in seen.items() if len(p) != 1]
            S.check(not flipped, "sticky %s: users %r got both pools" % (tag, flipped))
            modern = sum(1 for p in seen.values() if p == {"modern"})
            S.check(8 <= modern <= 32, "sticky %s: %d of 40 users on modern at 50 %%" % (
                tag, modern))
            if tag == "header":
                with RawConn(port=port) as c:
                    for pool in ("legacy", "modern"):
                        c.send(request("GET", SPLIT + "/t", headers=["X-User: user-1",
                                                                      "X-Canary: " + pool]))
                        S.expect_pool(c.read_response(), pool, "X-Canary: " + pool)
                    # The default name means nothing once another is configured.
                    want = seen[1].copy().pop()
                    other = "legacy" if want == "modern" else "modern"
                    c.send(request("GET", SPLIT + "/t", headers=["X-User: user-1",
                                                                  "X-Strg-Pool: " + other]))
                    S.expect_pool(c.read_response(), want, "X-Strg-Pool with tester-header set")
        finally:
            proc.stop(signal.SIGTERM, 3.0)


# ---------------------------------------------------------------------------------------------
# strgctl


@promise
def strgctl_verbs_and_weights(env):
    """help and version answer; plain route show lists the table; route del ID deletes that
    route; backend del takes a backend out; weights share new connections and out-of-range ones
    are refused."""
    strgd_only(env)
    r = h.strgctl("help")
    S.check(r.returncode == 0 and "route set" in r.stdout and "backend set" in r.stdout,
            "strgctl help: %r" % r)
    r = h.strgctl("version")
    S.check(r.returncode == 0 and re.match(r"strgctl \S+\n$", r.stdout), "version: %r" % r)
    out = S.ctl_ok("route", "show")
    lines = out.splitlines()
    S.check(lines[0].split()[:5] == ["ID", "METHODS", "HOST", "PATH", "POOL"] and
            any(l.split()[3:5] == ["/v1/getSalesLeads", "modern"] for l in lines[1:]),
            "route show: %r" % out[:300])
    out = S.ctl_ok("route", "set", "/v1/byid", "modern")
    rid = int(re.match(r"route (\d+) added", out).group(1))
    out = S.ctl_ok("route", "del", str(rid))
    S.check(out.startswith("route %d deleted: /v1/byid modern" % rid), "route del ID: %r" % out)
    S.check(h.strgctl("route", "del", str(rid)).returncode != 0, "deleted twice")
    port = 8099
    proc = env.spawn_extra_proxy("weights", port)
    try:
        extra_ctl_ready(port)
        a, b = ("%s:%d" % (h.HOST, p) for p in h.LEGACY_PORTS)
        for bad in ("257", "-1", "x", ""):
            r = h.ctl_line("backend set legacy %s weight %s" % (a, bad), port=port)
            S.check(r.startswith("error: "), "weight %r accepted: %r" % (bad, r))
        ctl("backend set legacy %s weight 3" % a, port=port)
        got = [S.get("/w/%d" % i, port=port).header("X-Backend") for i in range(40)]
        share = got.count("legacy:%d" % h.LEGACY_PORTS[0])
        S.check(share == 30, "weights 3:1 gave %d of 40 new connections to the first, want 30 "
                "(smooth weighted round robin)" % share)
        ctl("backend del legacy %s" % a, port=port)
        got = {S.get("/d/%d" % i, port=port).header("X-Backend") for i in range(6)}
        S.check(got == {"legacy:%d" % h.LEGACY_PORTS[1]}, "after backend del: %r" % got)
        pools = json.loads(ctl("pool show -j", port=port))["pools"]
        legacy = [p for p in pools if p["name"] == "legacy"][0]
        S.check([x["addr"] for x in legacy["backends"]] == [b], "pool show: %r" % legacy)
    finally:
        proc.stop(signal.SIGTERM, 3.0)


@promise
def change_log_line_names_caller_and_timing(env):
    """Every change leaves a log line with the caller's uid and pid and how long it took to be
    in force and to be saved."""
    strgd_only(env)
    argv = [str(h.ROOT / "strgctl"), "-s", h.control_path(), "route", "set", "/v1/logged",
            "modern"]
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = p.communicate(timeout=10)
        S.check(p.returncode == 0, "strgctl: %s" % err)
        pat = (r"strgd info: ctl: uid 0 pid %d: route set /v1/logged modern \(in force after "
               r"\d+ us, (saved|handed to the state file's writer) after \d+ us\)" % p.pid)
        S.check(h.wait_until(lambda: re.search(pat, env.proxy.stderr_text()), 2.0),
                "no log line %r in: %s" % (pat, env.proxy.stderr_tail()))
    finally:
        h.ctl_line("route del /v1/logged")


@promise
def strgctl_without_daemon_and_bind_failure(env):
    """strgctl with no strgd behind its socket says so in one line and fails; a strgd whose
    listen address is taken says so and exits 1."""
    strgd_only(env)
    def strgctl(*args):
        return subprocess.run([str(h.ROOT / "strgctl")] + list(args), capture_output=True,
                              text=True, timeout=10)
    nosock = "/tmp/strg-no-such-dir/strgd.sock"
    r = strgctl("-s", nosock, "route", "show")
    lines = r.stderr.strip().splitlines()
    S.check(r.returncode == 3 and len(lines) == 1 and
            lines[0].startswith("strgctl: cannot reach strgd at /tmp/strg-no-such-dir/"),
            "strgctl with no daemon: want exit 3 and one line: %r" % r)
    # Checked before anything is sent: usage errors exit 2 even with no daemon.
    for args in (("route", "frob"), ("rout", "set"), ("route", "set", "-j", "/x", "modern"),
                 ("--bogus", "route", "show"), ()):
        r = strgctl("-s", nosock, *args)
        S.check(r.returncode == 2 and len(r.stderr.strip().splitlines()) in (1, 2) and
                r.stderr.startswith("strgctl: "), "strgctl %s: want exit 2: %r" % (args, r))
    S.check("unknown verb 'route frob'" in strgctl("-s", nosock, "route", "frob").stderr,
            "an unknown verb should be named as such")
    for args in (("--version",), ("-V",), ("version",), ("--help",), ("route", "-h"),
                 ("route", "set", "--help"), ("help",)):
        r = strgctl("-s", nosock, *args)
        S.check(r.returncode == 0 and r.stdout and not r.stderr,
                "strgctl %s answered without a daemon: %r" % (args, r))
    r = strgctl("route", "set", "--help")
    S.check("Usage: strgctl [-s SOCKET] [--dry-run] route set" in r.stdout and
            "route show" not in r.stdout, "route set --help: %r" % r.stdout[:300])
    # Options anywhere, --json a synonym of -j; refused by strgd: exit 1.
    sock = h.control_path()
    outs = [strgctl(*a).stdout for a in (("-j", "-s", sock, "route", "show"),
                                         ("route", "show", "-s", sock, "--json"),
                                         ("-s", sock, "route", "-j", "show"))]
    S.check(all(json.loads(o)["routes"] for o in outs) and outs[0] == outs[1] == outs[2],
            "options anywhere: %r" % [o[:80] for o in outs])
    r = strgctl("-s", sock, "route", "del", "/")
    S.check(r.returncode == 1 and r.stderr.startswith("strgctl: route del: the default route"),
            "refused by strgd: want exit 1: %r" % r)
    cfg = env.tmp / "bindfail.conf"
    cfg.write_text(env.flavour.config(listen_port=h.LEGACY_PORTS[0]))  # nginx has it
    p = env.spawn("strgd-bindfail", env.flavour.argv(cfg)).expect(
        1, allow=[r"^strgd: listen\b.*: Address already in use$"])
    status = p.wait(5.0)
    if status is None:
        p.stop()
    S.check(status == 1 and ("listen 127.0.0.1:%d: Address already in use" % h.LEGACY_PORTS[0])
            in p.stderr_text(),
            "strgd on a taken port: exit %s: %s" % (status, p.stderr_tail()))
    S.check(not os.path.exists(h.control_path(h.LEGACY_PORTS[0])),
            "the refused strgd left its control socket behind")


LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z strgd (warn|info|debug): \S")


@promise
def logs_have_timestamps_levels_and_request_lines(env):
    """Every log line starts with an RFC 3339 UTC timestamp with milliseconds and a level; -v
    adds one line per request with the client, request, status, bytes and duration, and the BPF
    loader's own output stays out of the log without -v."""
    strgd_only(env)
    lines = env.proxy.stderr_text().splitlines()
    bad = [l for l in lines if not LOG_LINE.match(l)]
    S.check(lines and not bad, "log lines without timestamp and level: %r" % bad[:3])
    S.check(not any("libbpf" in l for l in lines), "libbpf output without -v: %r" % [
        l for l in lines if "libbpf" in l][:2])
    port = 8105
    cfg = env.tmp / "verbose.conf"
    cfg.write_text(env.flavour.config(listen_port=port))
    proc = env.spawn("strgd-verbose", env.flavour.argv(cfg)[:1] + ["-v"] +
                     env.flavour.argv(cfg)[1:])
    try:
        h.wait_port(port, h.START_S, proc)
        with RawConn(port=port) as c:
            c.send(request("GET", "/v1/getMarketingEvents/logged?q=1"))
            S.expect_pool(c.read_response(), "modern", "the logged request")
        pat = (r'strgd debug: conn \d+: 127\.0\.0\.1 "GET /v1/getMarketingEvents/logged\?q=1" '
               r'route \d+ pool modern: 200, \d+ bytes in, \d+ bytes out, [0-9.]+ ms')
        S.check(h.wait_until(lambda: re.search(pat, proc.stderr_text()), 2.0),
                "no request line like %r in: %s" % (pat, proc.stderr_tail(5)))
    finally:
        proc.stop(signal.SIGTERM, 3.0)


@promise
def ipv6_listener_and_backends(env):
    """strgd listens on [::1] and forwards to a backend on [::1] (and the legacy pool on
    127.0.0.1): routing, keep-alive, the client address in X-Forwarded-For, and in kernel mode
    the kernel carrying IPv6 connections."""
    strgd_only(env)
    port, bport = 8106, 9103
    backend = env.spawn("modern6", [sys.executable, h.ROOT / "tools" / "backend.py", "--name",
                                    "modern6", "--host", "::1", "--port", bport])
    S.check(h.wait_until(lambda: h.port_open(bport, "::1"), 5.0), "no backend on [::1]:%d: %s" %
            (bport, backend.stderr_tail()))
    cfg = env.tmp / "ipv6.conf"
    text = env.flavour.config(listen_port=port)
    text = text.replace("listen %s:%d" % (h.HOST, port), "listen [::1]:%d" % port)
    text = re.sub(r"(?m)^pool modern .*$", "pool modern [::1]:%d" % bport, text)
    cfg.write_text(text)
    proc = env.spawn("strgd-ipv6", env.flavour.argv(cfg))
    try:
        S.check(h.wait_until(lambda: "listening on [::1]:%d" % port in proc.stderr_text(), 5.0),
                "no IPv6 listener: %s" % proc.stderr_tail())

        def conn6():
            s = socket.create_connection(("::1", port), timeout=5.0)
            c = RawConn.__new__(RawConn)
            c.sock, c.timeout, c.buf, c.eof, c.send_error = s, 5.0, bytearray(), False, None
            return c
        c = conn6()
        try:
            for i in range(5):
                c.send(request("GET", "/v1/getMarketingEvents/six%d" % i))
                resp = c.read_response()
                S.check(resp.status == 200 and resp.pool() == "modern6",
                        "IPv6 request %d: %r" % (i, resp))
            c.send(request("GET", "/a/v4-backend"))
            S.expect_pool(c.read_response(), "legacy", "legacy over IPv6")
            c.send(request("GET", "/__headers"))
            resp = c.read_response()
            S.check(b"X-Forwarded-For: ::1\r\n" in resp.body or kernel_mode(env),
                    "X-Forwarded-For over IPv6: %r" % resp.body[:300])
        finally:
            c.close()
        extra_ctl_ready(port)
        req, kern = route_counts("/v1/getMarketingEvents", "modern", port=port)
        S.check(req == 5, "IPv6 requests counted: %d, want 5" % req)
        if kernel_mode(env):
            S.check(kern >= 3, "the kernel carried %d of the IPv6 connection's requests" % kern)
    finally:
        proc.stop(signal.SIGTERM, 3.0)
        backend.stop(signal.SIGTERM, 3.0)


@promise
def workers_share_connections_and_count_exactly(env):
    """The connections spread over every worker (strgctl stats says which holds what), and the
    counters equal the requests sent, whichever worker or path carried them."""
    strgd_only(env)
    path = "/v1/workers"
    ctl("route set %s modern" % path)
    conns = []
    try:
        before = route_counts(path, "modern")[0]
        for i in range(40):
            c = RawConn()
            conns.append(c)
            get_ok(c, "%s/c%d" % (path, i), "modern")
        view = json.loads(ctl("stats -j"))["workers"]
        S.check(len(view) == env.flavour.workers, "stats -j lists %d workers, want %d: %r" % (
            len(view), env.flavour.workers, view))
        S.check(sum(w["connections"] for w in view) >= 40 and
                all(w["connections"] > 0 for w in view),
                "40 open connections spread over the workers as %r" % view)
        for r in range(10):
            for i, c in enumerate(conns):
                get_ok(c, "%s/c%d/r%d" % (path, i, r), "modern")
        after = route_counts(path, "modern")[0]
        S.check(after - before == 440, "the route counted %d requests, want 440" % (
            after - before))
        text = ctl("stats")
        S.check(re.search(r"worker 0: \d+ connections", text), "stats: %r" % text[-300:])
    finally:
        for c in conns:
            c.close()
        h.ctl_line("route del %s" % path)


def wrk_errors(out):
    """wrk's socket error counts and non-2xx count from its report."""
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = dict(zip(("connect", "read", "write", "timeout"), map(int, m.groups()))) if m else {
        "connect": 0, "read": 0, "write": 0, "timeout": 0}
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors["non2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"(\d+) requests in", out)
    errors["requests"] = int(m.group(1)) if m else 0
    return errors


def keepalive_client(port, stop, result):
    """Requests back to back on one connection until strgd answers "Connection: close"; a
    request that gets no answer is a failure."""
    sent = 0
    try:
        with RawConn(port=port, timeout=10.0) as c:
            while not stop.is_set() or sent == 0:
                c.send(request("GET", "/a/keep%d" % sent))
                sent += 1
                resp = c.read_response()
                if resp.status != 200:
                    result.append(("status %d" % resp.status, sent))
                    return
                if resp.connection_close():
                    result.append(("closed", sent))
                    return
            result.append(("stopped", sent))
    except Exception as e:  # reported by the test
        result.append(("%s: %s" % (type(e).__name__, e), sent))


@promise
def sigterm_under_load_loses_no_request(env):
    """SIGTERM while wrk and 16 keep-alive clients keep strgd busy: no request on an established
    connection fails: every connection's last response says "Connection: close" and is whole;
    only connections opened after the listener closed are refused (wrk counts those as connect
    or write errors on loopback); strgd exits 0."""
    strgd_only(env)
    import threading
    port = 8100
    proc = env.spawn_extra_proxy("sigterm-load", port)
    stop = threading.Event()
    results = []
    clients = [threading.Thread(target=keepalive_client, args=(port, stop, results))
               for _ in range(16)]
    before = len(env.nginx_log_lines())
    try:
        wrk = subprocess.Popen(["wrk", "-c16", "-t1", "-d4s", "--timeout", "10s",
                                h.url("/a/load", port=port)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for t in clients:
            t.start()
        time.sleep(2.0)
        proc.send_signal(signal.SIGTERM)
        out, _ = wrk.communicate(timeout=20)
        stop.set()
        for t in clients:
            t.join(15)
        status = proc.wait(10.0)
        errors = wrk_errors(out)
        S.check(status == 0, "strgd exit %s after SIGTERM: %s" % (status, proc.stderr_tail()))
        S.check(errors["requests"] > 500, "wrk made only %d requests: %s" % (
            errors["requests"], out[-400:]))
        S.check(errors["read"] == 0 and errors["timeout"] == 0 and errors["non2xx"] == 0,
                "wrk: requests failed on established connections: %r" % errors)
        bad = [r for r in results if r[0] != "closed"]
        S.check(len(results) == 16 and not bad,
                "keep-alive clients: %d of 16 ended with a whole 'Connection: close' "
                "response; the others: %r" % (len(results) - len(bad), bad[:5]))
        # The backend's log is the oracle: every request that reached it was answered (wrk's
        # refused connects never got that far), and every answer came from it.
        logged = S.backend_settled(env.nginx_log_lines)[before:]
        loads = sum(1 for line in logged if line.startswith("GET /a/load "))
        keeps = sum(1 for line in logged if line.startswith("GET /a/keep"))
        S.check(loads == errors["requests"],
                "nginx served %d of wrk's requests, wrk got %d answers" % (loads,
                                                                          errors["requests"]))
        S.check(keeps == sum(r[1] for r in results),
                "nginx served %d of the keep-alive clients' requests, they got %d answers" % (
                    keeps, sum(r[1] for r in results)))
    finally:
        stop.set()
        proc.stop(signal.SIGTERM, 3.0)




def write_config(env, path, port, routes, extra=()):
    text = h.strgd_config(listen_port=port, extra=list(extra) + list(routes))
    path.write_text(text)


def pool_of(path, port):
    resp = S.get(path, port=port)
    S.check(resp.status == 200, "GET %s: %r" % (path, resp))
    return resp.pool()


@promise
def reload_applies_config_edits_under_load(env):
    """SIGHUP under wrk load: a route the file adds and one it changes are in force, a runtime
    change the edit did not touch is kept, no request fails and every response comes from a pool
    the table allowed; an invalid file changes nothing and says file:line; strgctl reload prints
    the outcome; a changed listen address is reported as needing a restart."""
    strgd_only(env)
    port = 8101
    cfg = env.tmp / "reload.conf"
    write_config(env, cfg, port, ["route /v1/chg legacy"])
    proc = env.spawn("strgd-reload", env.flavour.argv(cfg))
    try:
        h.wait_port(port, h.START_S, proc)
        extra_ctl_ready(port)
        ctl("route set /v1/rt modern", port=port)
        script = env.tmp / "reload.lua"
        script.write_text(S.FLIP_LUA)
        wrk = subprocess.Popen(["wrk", "-c8", "-t2", "-d3s", "--timeout", "10s", "-s", str(script),
                                h.url("/v1/chg/x", port=port)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        time.sleep(1.0)
        write_config(env, cfg, port, ["route /v1/chg modern", "route /v1/added modern"])
        proc.send_signal(signal.SIGHUP)
        S.check(h.wait_until(lambda: "reload: done" in proc.stderr_text(), 3.0),
                "no 'reload: done' in the log: %s" % proc.stderr_tail())
        out, _ = wrk.communicate(timeout=20)
        m = re.search(r"FLIP bad=(\d+) legacy=(\d+) modern=(\d+)", out)
        S.check(m, "no result from the wrk script: %s" % out[-300:])
        bad, legacy, modern = map(int, m.groups())
        errors = wrk_errors(out)
        S.check(bad == 0 and not any(errors[k] for k in ("connect", "read", "write", "timeout",
                                                          "non2xx")),
                "requests failed during the reload: bad %d, %r" % (bad, errors))
        S.check(legacy > 0 and modern > 0, "the change did not happen under load: legacy %d, "
                "modern %d" % (legacy, modern))
        for path, pool in (("/v1/chg/1", "modern"), ("/v1/added/1", "modern"),
                           ("/v1/rt/1", "modern")):
            S.check(pool_of(path, port) == pool, "after the reload %s went to %s, want %s" % (
                path, pool_of(path, port), pool))
        log = proc.stderr_text()
        S.check("reload: route added: /v1/added modern" in log and
                "reload: route " in log and "/v1/chg legacy -> /v1/chg modern" in log,
                "the reload did not log its changes: %s" % proc.stderr_tail(12))
        # Nothing changed since: strgctl says so.
        r = h.ctl_line("reload", port=port)
        S.check(r == "ok\nnothing to change\n", "strgctl reload with no edit: %r" % r)
        # An invalid file: refused with file:line, nothing changes.
        cfg.write_text(cfg.read_text() + "route /v1/broken nosuchpool\n")
        lineno = len(cfg.read_text().splitlines())
        r = h.ctl_line("reload", port=port)
        S.check(r.startswith("error: %s:%d: route: unknown pool 'nosuchpool'" % (cfg, lineno)),
                "strgctl reload of an invalid file: %r" % r)
        proc.send_signal(signal.SIGHUP)
        S.check(h.wait_until(lambda: "reload: configuration refused, nothing changed" in
                             proc.stderr_text(), 3.0), "SIGHUP with an invalid file: %s" %
                proc.stderr_tail())
        S.check(proc.alive() and pool_of("/v1/added/2", port) == "modern",
                "strgd after an invalid reload: %s" % proc.stderr_tail())
        # A setting that needs a restart is reported, not applied.
        write_config(env, cfg, port, ["route /v1/chg modern", "route /v1/added modern"])
        cfg.write_text(cfg.read_text().replace("listen 127.0.0.1:%d" % port,
                                               "listen 127.0.0.1:%d" % (port + 50)))
        r = h.ctl_line("reload", port=port)
        S.check(r.startswith("ok\n") and "listen: changed in the configuration: takes effect "
                "at the next start" in r, "listen changed: %r" % r)
        S.check(h.port_open(port), "strgd stopped listening on its address")
    finally:
        proc.stop(signal.SIGTERM, 3.0)


def route_by_path(port, path):
    mine = [r for r in json.loads(ctl("route show -j", port=port))["routes"] if r["path"] == path]
    S.check(len(mine) == 1, "route show -j, %s: %r" % (path, mine))
    return mine[0]


def strgctl_at(port, *args):
    return subprocess.run([str(h.ROOT / "strgctl"), "-s", h.control_path(port)] + list(args),
                          capture_output=True, text=True, timeout=30)


@promise
def reload_never_reactivates_a_deactivated_route(env):
    """A route the operator deactivated and one strgd tripped stay inactive when a reload brings
    the file's edit of them (the edit's other settings apply); each conflict is a warning in
    strgctl reload's reply (stderr) and in the log at warn; reload --dry-run exits 1 when there
    are conflicts and changes nothing; an edit that removes "inactive" from a route's line
    activates it; SIGHUP keeps to the same rule."""
    strgd_only(env)
    port = 8107
    cfg = env.tmp / "reactivate.conf"
    trip = "route GET /v1/trip modern strip-prefix rollback 5%% window 2s min %d"
    write_config(env, cfg, port, ["route /v1/off modern", trip % 5,
                                  "route /v1/was-off modern inactive"])
    proc = env.spawn("strgd-reactivate", env.flavour.argv(cfg))
    try:
        h.wait_port(port, 5.0, proc)
        extra_ctl_ready(port)
        ctl("route deactivate /v1/off", port=port)


        def failing():
            """Requests answered 500 by modern until the route trips (rollback looks each tick)."""
            for i in range(3):
                S.get("/v1/trip/__status/500", port=port)
            return route_by_path(port, "/v1/trip")["tripped"]
        S.check(h.wait_until(failing, 10.0, interval=0.1), "the route did not trip: %r" %
                route_by_path(port, "/v1/trip"))
        write_config(env, cfg, port, ["route /v1/off modern testers", trip % 6,
                                      "route /v1/was-off modern"])
        ids = {p: route_by_path(port, p)["id"] for p in ("/v1/off", "/v1/trip", "/v1/was-off")}
        r = strgctl_at(port, "reload", "--dry-run")
        S.check(r.returncode == 1 and "reload --dry-run: 2 conflicts" in r.stderr and
                "conflict: route %d:" % ids["/v1/off"] in r.stderr and
                "conflict: route %d:" % ids["/v1/trip"] in r.stderr and
                "would do: route %d: /v1/was-off modern inactive -> /v1/was-off modern" %
                ids["/v1/was-off"] in r.stderr, "reload --dry-run with conflicts: %r" % r)
        S.check(not route_by_path(port, "/v1/was-off")["active"], "the dry run changed a route")
        r = strgctl_at(port, "reload")
        S.check(r.returncode == 0 and r.stderr.count("strgctl: warning: conflict: route ") == 2
                and "but the route stays inactive (deactivated at runtime)" in r.stderr and
                "but the route stays inactive: strgd rolled it back" in r.stderr and
                "route %d: /v1/off modern inactive -> /v1/off modern testers inactive" %
                ids["/v1/off"] in r.stdout, "strgctl reload: %r" % r)
        S.check(h.wait_until(lambda: "strgd warn: reload: conflict: route %d" % ids["/v1/off"]
                             in proc.stderr_text(), 3.0),
                "the conflict is not logged at warn: %s" % proc.stderr_tail(8))
        off, tripped = route_by_path(port, "/v1/off"), route_by_path(port, "/v1/trip")
        S.check(not off["active"] and off["testers"], "/v1/off after the reload: %r" % off)
        S.check(not tripped["active"] and tripped["tripped"] and
                tripped["rollback"]["min"] == 6, "/v1/trip after the reload: %r" % tripped)
        for path, pool in (("/v1/off/1", "legacy"), ("/v1/trip/__status/200", "legacy"),
                           ("/v1/was-off/1", "modern")):
            S.check(pool_of(path, port) == pool, "after the reload %s went to %s, want %s" % (
                path, pool_of(path, port), pool))
        # SIGHUP: the same rule.
        write_config(env, cfg, port, ["route /v1/off modern", trip % 7,
                                      "route /v1/was-off modern"])
        proc.send_signal(signal.SIGHUP)
        S.check(h.wait_until(lambda: proc.stderr_text().count("reload: done") >= 1, 3.0),
                "no 'reload: done' after SIGHUP: %s" % proc.stderr_tail())
        S.check(pool_of("/v1/off/2", port) == "legacy" and
                pool_of("/v1/trip/__status/200", port) == "legacy" and
                route_by_path(port, "/v1/trip")["rollback"]["min"] == 7,
                "after SIGHUP: %r" % [route_by_path(port, "/v1/off"),
                                      route_by_path(port, "/v1/trip")])
    finally:
        proc.stop(signal.SIGTERM, 3.0)


@promise
def restart_merges_config_edits_with_runtime_changes(env):
    """A restart keeps route ids and runtime changes, applies what the file changed since it
    was last applied, and where both changed one route the file wins and the log says so with
    both versions; strgd -t prints what the start will change."""
    strgd_only(env)
    port = 8102
    cfg = env.tmp / "merge.conf"
    routes = ["route /v1/same legacy", "route /v1/edited legacy", "route /v1/both legacy"]
    write_config(env, cfg, port, routes)
    proc = env.spawn("strgd-merge", env.flavour.argv(cfg))
    try:
        h.wait_port(port, h.START_S, proc)
        extra_ctl_ready(port)
        ctl("route set /v1/same modern", port=port)  # runtime only
        ctl("route set /v1/both modern percent 5", port=port)  # runtime, and the file below
        ctl("route set /v1/runtime modern", port=port)
        ids = {r["path"]: r["id"] for r in json.loads(ctl("route show -j", port=port))["routes"]}
        proc.stop(signal.SIGTERM, 5.0)
        write_config(env, cfg, port, ["route /v1/same legacy", "route /v1/edited modern",
                                      "route /v1/both legacy exact", "route /v1/both modern",
                                      "route /v1/new modern"])
        r = subprocess.run(env.flavour.check_argv(cfg), capture_output=True, text=True,
                           timeout=10)
        S.check(r.returncode == 0 and "would do: route added: /v1/new modern" in r.stdout and
                "would do: route %d: /v1/edited legacy -> /v1/edited modern" % ids[
                    "/v1/edited"] in r.stdout and "configuration is valid" in r.stdout,
                "strgd -t: %r" % r)
        proc = env.spawn("strgd-merge2", env.flavour.argv(cfg))
        h.wait_port(port, h.START_S, proc)
        extra_ctl_ready(port)
        routes = json.loads(ctl("route show -j", port=port))["routes"]
        by = {(r["path"], r["exact"]): r for r in routes}
        S.check(by[("/v1/same", False)]["pool"] == "modern", "runtime change lost: %r" %
                by[("/v1/same", False)])
        S.check(by[("/v1/edited", False)]["pool"] == "modern", "the file's edit not applied")
        S.check(by[("/v1/both", False)]["pool"] == "modern" and
                by[("/v1/both", False)]["percent"] == 100, "conflict: the file should win: %r" %
                by[("/v1/both", False)])
        S.check(("/v1/new", False) in by and ("/v1/runtime", False) in by,
                "added routes: %r" % sorted(by))
        for path in ("/v1/same", "/v1/edited", "/v1/both", "/v1/runtime"):
            S.check(by[(path, False)]["id"] == ids[path], "route %s changed id %d -> %d" % (
                path, ids[path], by[(path, False)]["id"]))
        S.check(re.search(r"config: conflict: route %d: '/v1/both modern percent 5.0' at "
                          r"runtime, '/v1/both modern' in the configuration: the "
                          r"configuration wins" % ids["/v1/both"], proc.stderr_text()),
                "no conflict line: %s" % proc.stderr_tail(12))
        S.check(pool_of("/v1/edited/1", port) == "modern" and
                pool_of("/v1/same/1", port) == "modern", "routing after the restart")
    finally:
        proc.stop(signal.SIGTERM, 3.0)


@promise
def unreadable_state_file_is_named_and_discardable(env):
    """A state file cut short is refused with its name and the way out; --state discard starts
    from the configuration and keeps a copy."""
    strgd_only(env)
    port = 8103
    cfg = env.tmp / "badstate.conf"
    write_config(env, cfg, port, ["route /v1/x modern"])
    state = os.path.join(os.path.dirname(h.control_path(port)), "state")
    os.makedirs(os.path.dirname(state), exist_ok=True)
    with open(state, "w") as f:
        f.write("pool legacy\nnext-id 5\nroute / legacy id 1\n")  # no end line
    p = env.spawn("strgd-badstate", env.flavour.argv(cfg)).expect(
        1, allow=[r"^%s: cut short: its last line is missing" % re.escape(state)])
    status = p.wait(5.0)
    if status is None:
        p.stop()
    S.check(status == 1 and "%s: cut short: its last line is missing (truncated?)" % state in
            p.stderr_text() and "--state discard" in p.stderr_text(),
            "truncated state file: exit %s: %s" % (status, p.stderr_tail()))
    p = env.spawn("strgd-discard", env.flavour.argv(cfg)[:1] + ["--state", "discard"] +
                  env.flavour.argv(cfg)[1:])
    try:
        h.wait_port(port, 15.0, p)
        kept = [f for f in os.listdir(os.path.dirname(state)) if f.startswith("state.discarded-")]
        S.check(len(kept) == 1, "no copy of the discarded state: %r" % os.listdir(
            os.path.dirname(state)))
        S.check(pool_of("/v1/x/1", port) == "modern", "--state discard: not the configuration")
    finally:
        p.stop(signal.SIGTERM, 3.0)


@kernel_promise
def unit_capabilities_suffice(env):
    """The systemd unit's CapabilityBoundingSet is enough: a strgd started with only those
    capabilities loads its kernel path and routes."""
    text = (h.ROOT / "tools" / "dist" / "strgd.service.in").read_text()
    m = re.search(r"^CapabilityBoundingSet=(.*)$", text, re.M)
    S.check(m, "the unit has no CapabilityBoundingSet")
    caps = ",".join("+" + c.lower()[4:] for c in m.group(1).split())
    port = 8104
    cfg = env.tmp / "caps.conf"
    cfg.write_text(env.flavour.config(listen_port=port))
    proc = env.spawn("strgd-caps", ["setpriv", "--bounding-set=-all," + caps,
                                    "--inh-caps=-all"] + env.flavour.argv(cfg))
    try:
        h.wait_port(port, h.START_S, proc)
        S.check(h.wait_until(lambda: "data path: kernel splice" in proc.stderr_text(), 15.0),
                "with %s only: %s" % (caps, proc.stderr_tail()))
        with RawConn(port=port) as c:
            for i in range(3):
                get_ok(c, "/v1/getMarketingEvents/caps%d" % i, "modern")
        extra_ctl_ready(port)
        ctl("route set /v1/caps modern", port=port)
        S.check(S.get("/v1/caps/1", port=port).pool() == "modern", "route set with those caps")
    finally:
        proc.stop(signal.SIGTERM, 3.0)


def register(suite):
    """Add the promise tests to the suite's list."""
    global S
    S = suite
    for fn in PROMISE_TESTS:
        suite.test(fn)
    if suite.KERNEL_MODE:
        for fn in KERNEL_PROMISE_TESTS:
            suite.test(fn)
