# SPDX-License-Identifier: GPL-2.0-only
"""What a route does as an API gateway, end to end in both data paths (user and kernel modes, two
workers): a rate limit under wrk, a limit per cookie, a tenant's header moving exactly that
tenant's requests on keep-alive connections that carry several tenants (with a second strgd in
user space as the reference in kernel mode), header rules, per-route access, and bad values
refused. Each test runs a strgd of its own and backends of its own (tools/backend.py with a
request log: the oracle of what was served), and stops what it started by pid.
"""

import json
import os
import random
import re
import subprocess
import time

import harness as h
from harness import RawConn, request
from promise_tests import wrk_errors

S = None  # the suite module, set by register()

GATEWAY_TESTS = []
ONCE_TESTS = []  # independent of the data path: user mode only


def gateway(fn):
    GATEWAY_TESTS.append(fn)
    return fn


def once(fn):
    ONCE_TESTS.append(fn)
    return fn


info = h.info
kernel_mode = h.kernel_mode
backend = h.logged_backend


def ctl(line, port):
    return h.ctl_ok(S.check, line, port)


def log_lines(log):
    try:
        return log.read_text().splitlines()
    except OSError:
        return []


def spawn(env, tag, port, extra, user_space=False):
    """A strgd of this test's own: the harness's pools and routes plus extra lines; with
    user_space, --no-bpf whatever the mode (the reference of a differential test)."""
    if not user_space:
        proc = env.spawn_extra_proxy(tag, port, extra=extra)
    else:
        cfg = env.tmp / ("%s.conf" % tag)
        cfg.write_text(h.strgd_config(listen_port=port, extra=["workers 2"] + list(extra)))
        argv = env.flavour.argv(cfg)
        if "--no-bpf" not in argv:
            argv.insert(1, "--no-bpf")
        proc = env.spawn("strgd-%s" % tag, argv)
        env.wait_ready(proc, port)
    S.check(h.wait_until(lambda: os.path.exists(h.control_path(port)), 5.0),
            "the strgd on port %d has no control socket" % port)
    return proc


def stats_pool(port, route, pool):
    return h.stats_pool_row(json.loads(ctl("stats -j", port)), route, pool)


WRK_LUA = """
-- Paced requests: each connection waits DELAY ms after each answer, so C connections offer
-- about C * 1000 / (DELAY + latency) requests per second.
counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", "PATH" .. counter)
end
delay = function()
  return DELAY
end
"""


def wrk(env, tag, port, path, conns, delay_ms, seconds):
    script = env.tmp / ("%s.lua" % tag)
    script.write_text(WRK_LUA.replace("PATH", path).replace("DELAY", str(delay_ms)))
    return subprocess.Popen(["wrk", "-c%d" % conns, "-t1", "-d%ds" % seconds, "--timeout", "5s",
                             "-s", str(script), "http://%s:%d/" % (h.HOST, port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@gateway
def route_limit_serves_its_rate_under_wrk(env):
    """A route limited to 100 req/s under wrk at about 2000 req/s: the backend serves 100 per
    second (within 5 %, plus the burst; counted from its own log over wrk's run), every other
    request is strgd's 429 (counted as limited, with Retry-After), and a route beside it at
    about 200 req/s gets no 429 and every request of it is served."""
    # A burst of half a second: on a loaded machine wrk's requests come in clumps, and a pause
    # longer than the burst's tolerance would lose tokens nobody asked for (served < RATE).
    port, bport, rate, burst, secs = 8260, 9260, 100, 50, 6
    bproc, log = backend(env, "modern", bport)
    proc = spawn(env, "gwlimit", port, [
        "pool gw %s:%d" % (h.HOST, bport),
        "route /lim gw limit %d/s burst %d" % (rate, burst),
        "route /probe gw limit 1/s burst 2",
        "route /free gw",
    ])
    try:
        # Retry-After on a 429, and the connection lives on (a request without a body). A
        # route of its own at 1/s: 5 requests in a row outrun it however slow the machine.
        with RawConn(port=port) as c:
            seen = []
            for i in range(5):
                c.send(request("GET", "/probe/%d" % i))
                seen.append(c.read_response())
            r429 = [r for r in seen if r.status == 429]
            S.check(r429, "no 429 in %d back-to-back requests: %r" % (len(seen), seen))
            S.check(all(re.fullmatch(r"[1-9][0-9]*", r.header("Retry-After") or "")
                        for r in r429), "429 without a Retry-After in seconds: %r" % r429)
            S.check(not any(r.connection_close() for r in seen),
                    "a 429 closed the connection")
        before = len(log_lines(log))
        t0 = time.monotonic()
        lim = wrk(env, "gwlim", port, "/lim/x", 24, 10, secs)
        free = wrk(env, "gwfree", port, "/free/x", 2, 10, secs)
        out_lim, _ = lim.communicate(timeout=secs + 30)
        out_free, _ = free.communicate(timeout=secs + 30)
        elapsed = time.monotonic() - t0
        lines = log_lines(log)[before:]
        served = sum(1 for l in lines if l.startswith("GET /lim/x"))
        served_free = sum(1 for l in lines if l.startswith("GET /free/x"))
        el, ef = wrk_errors(out_lim), wrk_errors(out_free)
        info("wrk /lim", "%d requests (%.0f/s), %d not 2xx; backend served %d (%.1f/s)" % (
            el["requests"], el["requests"] / secs, el["non2xx"], served, served / secs))
        info("wrk /free", "%d requests, %d not 2xx; backend served %d" % (
            ef["requests"], ef["non2xx"], served_free))
        S.check(el["requests"] >= 3 * rate * secs,
                "wrk offered only %d requests in %d s: too few to test a limit of %d/s" % (
                    el["requests"], secs, rate))
        # The bucket lets RATE through per second of the run, plus its burst at the start.
        low, high = 0.95 * rate * secs, 1.05 * rate * elapsed + burst
        S.check(low <= served <= high, "the backend served %d requests of /lim in %.1f s, want "
                "%d to %d (%d/s)" % (served, elapsed, low, high, rate))
        # wrk stops counting with up to one request in flight on each of its 24 connections.
        S.check(abs(el["requests"] - el["non2xx"] - served) <= 24 + 10,
                "wrk counted %d 2xx, the backend logged %d" % (el["requests"] - el["non2xx"],
                                                                served))
        st = stats_pool(port, "/lim", "gw")
        S.check(st and abs(st["limited"] - el["non2xx"]) <= 24 + 10 and st["limited"] > 0,
                "strgd counted %s limited, wrk saw %d non-2xx" % (st and st["limited"],
                                                                   el["non2xx"]))
        S.check(ef["non2xx"] == 0 and not ef["connect"] and not ef["read"],
                "the route beside it: %r" % ef)
        S.check(abs(ef["requests"] - served_free) <= 2 and served_free > 100,
                "the route beside it: wrk %d, backend %d" % (ef["requests"], served_free))
        stf = stats_pool(port, "/free", "gw")
        S.check(stf and stf["limited"] == 0, "the route beside it counted limited: %r" % stf)
    finally:
        proc.stop()
        bproc.stop()


@gateway
def limit_per_cookie_gives_each_user_a_bucket(env):
    """limit 60/m burst 3 per cookie sid: each user gets 3 at once then 429; another user's
    bucket is untouched; a request without the cookie counts under the client's address."""
    port, bport = 8261, 9261
    bproc, log = backend(env, "modern", bport)
    proc = spawn(env, "gwcookie", port, [
        "pool gw %s:%d" % (h.HOST, bport),
        "route /u gw limit 60/m burst 3 per cookie sid",
    ])
    try:
        def statuses(cookie, n):
            out = []
            with RawConn(port=port) as c:
                for i in range(n):
                    hdrs = ["Cookie: a=1; sid=%s" % cookie] if cookie else []
                    c.send(request("GET", "/u/%s/%d" % (cookie or "none", i), headers=hdrs))
                    out.append(c.read_response().status)
            return out

        S.check(statuses("alice", 5) == [200, 200, 200, 429, 429],
                "alice: %r" % statuses("alice", 1))
        S.check(statuses("bob", 4) == [200, 200, 200, 429], "bob's own bucket")
        S.check(statuses(None, 4) == [200, 200, 200, 429], "no cookie: the address's bucket")
        served = [l for l in log_lines(log) if l.startswith("GET /u/")]
        S.check(len(served) == 9, "the backend served %d, want 9: %r" % (len(served), served))
    finally:
        proc.stop()
        bproc.stop()


def tenant_traffic(seed, nconns, per_conn):
    """Requests per connection: (path, headers, tenant) with several tenants on each."""
    rnd = random.Random(seed)
    conns = []
    for c in range(nconns):
        reqs = []
        for i in range(per_conn):
            kind = rnd.choice(["acme", "beta", "none", "acme-eu", "Acme", "static"])
            path = "/static/c%dr%d" % (c, i) if kind == "static" else "/api/c%dr%d" % (c, i)
            hdrs = [] if kind in ("none", "static") else ["X-Tenant: %s" % kind]
            reqs.append((path, hdrs, kind))
        conns.append(reqs)
    return conns


def run_traffic(port, conns):
    """Every connection's requests in turn, keep-alive; {path: X-Pool}."""
    out = {}
    socks = [RawConn(port=port, timeout=10.0) for _ in conns]
    try:
        for i in range(max(len(c) for c in conns)):
            for conn, reqs in zip(socks, conns):
                if i < len(reqs):
                    path, hdrs, _ = reqs[i]
                    conn.send(request("GET", path, headers=hdrs))
                    r = conn.read_response()
                    S.check(r.status == 200, "%s: %r" % (path, r))
                    out[path] = r.pool()
    finally:
        for s in socks:
            s.close()
    return out


@gateway
def tenant_header_moves_exactly_its_requests(env):
    """route /api modern header X-Tenant acme beside route /api legacy: on keep-alive
    connections each carrying several tenants (acme, beta, none, acme-eu, Acme) and requests
    of a route without conditions, exactly acme's requests reach modern (X-Pool and the
    backend's log). In kernel mode a second strgd in user space gets the same traffic and
    must route every request alike (differential), and the kernel carries the requests of
    the route without conditions."""
    port, ref_port, bport = 8262, 8263, 9262
    bproc, log = backend(env, "modern", bport)
    extra = ["pool gwm %s:%d" % (h.HOST, bport),
             "route /api gwm header X-Tenant acme",
             "route /api legacy",
             "route /static legacy"]
    conns = tenant_traffic(26, 6, 60)
    want = {p: ("modern" if kind == "acme" else "legacy")
            for reqs in conns for p, _, kind in reqs}
    proc = spawn(env, "gwtenant", port, extra)
    ref = spawn(env, "gwtenantref", ref_port, extra, user_space=True) if kernel_mode(env) \
        else None
    try:
        got = run_traffic(port, conns)
        wrong = sorted(p for p in want if got.get(p) != want[p])
        S.check(not wrong, "%d of %d routed wrong, e.g. %s" % (
            len(wrong), len(want), [(p, got.get(p), want[p]) for p in wrong[:5]]))
        acme = sorted(p for p in want if want[p] == "modern")
        logged = sorted(l.split()[1] for l in log_lines(log) if l.startswith("GET /api/"))
        S.check(logged == acme, "modern's log has %d requests, acme sent %d" % (
            len(logged), len(acme)))
        info("traffic", "%d requests on %d connections, %d of acme" % (
            len(want), len(conns), len(acme)))
        if ref is not None:
            ref_got = run_traffic(ref_port, conns)
            diff = [p for p in want if ref_got.get(p) != got.get(p)]
            S.check(not diff, "user space and the kernel path differ on %d: %s" % (
                len(diff), diff[:5]))
            st = stats_pool(port, "/static", "legacy")
            S.check(st and st["kernel"] > 0, "the kernel carried no /static request: %r" % st)
            info("kernel", "carried %d of /static's %d" % (st["kernel"], st["requests"]))
    finally:
        if ref is not None:
            ref.stop()
        proc.stop()
        bproc.stop()


@gateway
def header_rules_and_access_per_route(env):
    """set-header with variables and del-header on the forwarded head (the backend echoes it),
    set-response-header and del-response-header on the answer; allow and deny lists answer 403
    (counted as denied) and leave the connection open; all after a kernel-carried request on
    the same connection in kernel mode."""
    port, bport = 8264, 9264
    bproc, log = backend(env, "modern", bport)
    proc = spawn(env, "gwhdr", port, [
        "pool gw %s:%d" % (h.HOST, bport),
        "route /hdr gw strip-prefix set-header X-Client %{client}%{sp}%{pool} "
        "del-header X-Debug set-header X-Forwarded-Proto https "
        "set-response-header X-Served-By %{route} del-response-header X-Backend-Conn",
        "route /deny gw deny 127.0.0.0/8,::1",
        "route /allow-other gw allow 10.0.0.0/8",
        "route /allow-me gw allow 127.0.0.1",
        "route /plain gw",
    ])
    try:
        with RawConn(port=port) as c:
            for i in range(3):  # in kernel mode the kernel carries the later ones
                c.send(request("GET", "/plain/%d" % i))
                S.check(c.read_response().status == 200, "/plain")
            c.send(request("GET", "/hdr/__headers", headers=["X-Debug: 1", "X-Keep: 2",
                                                             "X-Forwarded-Proto: http"]))
            r = c.read_response()
            echo = r.body.decode("latin-1")
            S.check(r.status == 200, "/hdr: %r" % r)
            S.check("X-Client: 127.0.0.1 gw\r\n" in echo, "no X-Client: %r" % echo)
            S.check("X-Debug" not in echo and "X-Keep: 2\r\n" in echo, "del-header: %r" % echo)
            S.check(echo.count("X-Forwarded-Proto") == 1 and
                    "X-Forwarded-Proto: https\r\n" in echo, "set-header replaces: %r" % echo)
            S.check(r.header("X-Served-By") == "/hdr", "set-response-header: %r" % r.headers)
            S.check(r.header("X-Backend-Conn") is None, "del-response-header: %r" % r.headers)
            for path, want in (("/deny/x", 403), ("/allow-other/x", 403), ("/allow-me/x", 200),
                               ("/plain/after", 200)):
                c.send(request("GET", path))
                r = c.read_response()
                S.check(r.status == want, "%s: %d, want %d" % (path, r.status, want))
                S.check(not r.connection_close(), "%s closed the connection" % path)
        served = [l.split()[1] for l in log_lines(log)]
        S.check(not any(p.startswith(("/deny", "/allow-other")) for p in served),
                "a refused request reached the backend: %r" % served)
        for route in ("/deny", "/allow-other"):
            st = stats_pool(port, route, "gw")
            S.check(st and st["denied"] == 1 and st["status"]["4xx"] == 1,
                    "%s counted %r" % (route, st))
    finally:
        proc.stop()
        bproc.stop()


@once
def gateway_bad_values_refused(env):
    """An invalid CIDR, a CRLF or control character in a header value, a framing header or an
    unknown variable: strgd -t says file:line in one line, strgctl exits non-zero with one line
    and nothing changes."""
    cfg = env.tmp / "gwbad.conf"
    cfg.write_text("listen 127.0.0.1:8265\npool legacy 127.0.0.1:9001\n"
                   "route /a legacy allow 10.0.0.0/8,300.1.1.1\n")
    r = subprocess.run(env.flavour.check_argv(cfg), capture_output=True, text=True, timeout=10)
    S.check(r.returncode != 0 and re.search(r"gwbad.conf:3: route: allow: bad CIDR '300.1.1.1'",
                                            r.stderr), "strgd -t: %d %r" % (r.returncode,
                                                                            r.stderr))
    cfg.write_text("listen 127.0.0.1:8265\npool legacy 127.0.0.1:9001\n"
                   "route /a legacy set-header X-A a\rb\n")
    r = subprocess.run(env.flavour.check_argv(cfg), capture_output=True, text=True, timeout=10)
    S.check(r.returncode != 0 and "gwbad.conf:3:" in r.stderr, "CR: %r" % r.stderr)
    before = h.strgctl("route", "show").stdout
    for args in (("route", "set", "/gw", "modern", "allow", "10.0.0.0/33"),
                 ("route", "set", "/gw", "modern", "set-header", "X-A", "a\r\nb"),
                 ("route", "set", "/gw", "modern", "set-header", "X-A", "a\x01b"),
                 ("route", "set", "/gw", "modern", "set-header", "Transfer-Encoding", "x"),
                 ("route", "set", "/gw", "modern", "set-header", "X-A", "%{nope}"),
                 ("route", "set", "/gw", "modern", "limit", "0/s")):
        r = h.strgctl(*args)
        S.check(r.returncode != 0 and r.stderr.count("\n") == 1 and not r.stdout,
                "%r: exit %d, %r" % (args, r.returncode, r.stderr))
    S.check(h.strgctl("route", "show").stdout == before, "a refused change changed the table")


def register(suite):
    """Add the gateway tests: both data paths (two workers), and the refusals once."""
    global S
    S = suite
    h.register_by_mode(suite, both=GATEWAY_TESTS, once=ONCE_TESTS)
