# SPDX-License-Identifier: GPL-2.0-only
"""Shadow traffic tests of the strg end-to-end suite (user and kernel modes, two workers).

Each test runs a strgd of its own with real backends (tools/backend.py): legacy answers the
users, a shadow pool gets the copies. In kernel mode every connection goes to the kernel after
its first request ("splice always"), so every request of a shadowed route after that is one
the kernel passed up: the copies prove it.

- A modern that answers differently on a known share of keys (1 % and 10 %) is reported within
  one point of that share, by field; the timestamp both sides put in every answer is noise.
- Legacy shadowing legacy (A/A) reports no mismatch once its noise is learned; shadow reset
  forgets the comparisons and keeps the noise.
- A shadow pool that refuses, one that never answers and one that answers after 5 s: every
  user request succeeds on its kept-alive connection, its time stays the same as a route
  without shadow (within a bound), every copy is counted as sent, compared or dropped by
  reason, and strgd's memory stays within the shadow's bound.
- POST is copied only when the route names it, its body whole; a request body over max-body is
  never copied (counted "body"), an answer over it is compared by length and prefix.
- A kept-alive connection whose route gains a shadow has its next request copied.
"""

import json
import re
import socket
import threading
import time
import urllib.request

import harness as h
from harness import RawConn, request

S = None  # the suite module, set by register()


info = h.info
ctl = h.strgctl_at


def start_backend(env, name, port, *opts):
    return h.logged_backend(env, name, port, *opts, timeout=5.0)


def own_strgd(env, tag, port, legacy_port, extra, modern_port=None):
    """A strgd of the test's own: pool legacy is legacy_port, modern modern_port (else the
    suite's), with the extra lines."""
    kw = {"modern": (modern_port,)} if modern_port else {}
    proc = env.spawn_extra_proxy(tag, port, legacy=(legacy_port,), extra=list(extra), **kw)
    S.check(h.wait_until(lambda: ctl(port, "route", "show").returncode == 0, 5.0),
            "the strgd on port %d does not answer on its control socket" % port)
    return proc


def shadow_json(port, route=None):
    """strgctl shadow show -j: the routes' figures by route key."""
    r = ctl(port, "shadow", "show", *(route.split() if route else ()), "-j")
    S.check(r.returncode == 0, "shadow show -j: %r" % r)
    return {s["route"]: s for s in json.loads(r.stdout)["shadow"]}


def settled(port, route, want):
    """The route's figures once every copy of want requests is accounted for (or None)."""
    out = {}

    def done():
        s = shadow_json(port).get(route)
        out["s"] = s
        return s and s["inflight"] == 0 and s["compared"] + sum(s["dropped"].values()) >= want
    h.wait_until(done, 15.0, interval=0.2)
    return out.get("s")


def drive(port, paths, clients=4, timeout=10.0):
    """GET each path over clients kept-alive connections; [(path, status, seconds, conn)]."""
    rows, lock = [], threading.Lock()
    work = list(paths)

    def client(n):
        try:
            c = RawConn(port=port, timeout=timeout)
        except OSError:
            return
        with c:
            while True:
                with lock:
                    if not work:
                        return
                    p = work.pop()
                t0 = time.monotonic()
                try:
                    c.send(request("GET", p))
                    resp = c.read_response()
                    row = (p, resp.status, time.monotonic() - t0, resp.header("x-backend-conn"))
                except (OSError, h.ProtocolError):
                    row = (p, None, time.monotonic() - t0, None)
                with lock:
                    rows.append(row)
                if row[1] is None:
                    return
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout * len(paths))
    return rows


def field(s, name):
    for f in s["fields"]:
        if f["field"] == name:
            return f
    return None


def p99(xs):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * 0.99))] if xs else 0.0


N_SHARE = 3000


def shadow_reports_known_share_by_field(env):
    """Two modern pools answer /__json/K with a price off by one for exactly 1 % and 10 % of
    every 1000 consecutive keys (tools/backend.py --differ); routes /one and /ten (both
    rewritten to /__json) shadow one each. Over N_SHARE keys the field "body $.price" is
    reported within one point of 1 % and 10 %, so is each route's mismatch share (noise
    apart); "body $.at", a timestamp in every answer, is noise, as are the connection serials;
    X-Pool and X-Backend are ignored by the routes' ignore-header."""
    port, lport, m1, m10 = 8201, 9601, 9602, 9603
    procs = [start_backend(env, "legacy", lport)[0],
             start_backend(env, "m1", m1, "--differ", 10)[0],
             start_backend(env, "m10", m10, "--differ", 100)[0]]
    opts = "ignore-header x-pool,x-backend noise 5 max-inflight 1024"
    proc = own_strgd(env, "share", port, lport, [
        "pool m1 %s:%d" % (h.HOST, m1), "pool m10 %s:%d" % (h.HOST, m10),
        "route GET /one legacy rewrite /__json shadow m1 %s" % opts,
        "route GET /ten legacy rewrite /__json shadow m10 %s" % opts])
    procs.append(proc)
    try:
        keys = range(1, N_SHARE + 1)
        rows = drive(port, ["/one/%d" % k for k in keys] + ["/ten/%d" % k for k in keys])
        bad = [r for r in rows if r[1] != 200]
        S.check(len(rows) == 2 * N_SHARE and not bad,
                "%d answers of %d, not 200: %r" % (len(rows), 2 * N_SHARE, bad[:5]))
        figures = []
        for route, want in (("GET /one", 1.0), ("GET /ten", 10.0)):
            s = settled(port, route, N_SHARE)
            S.check(s, "%s: copies not all accounted for: %r" % (route, shadow_json(port)))
            price, at = field(s, "body $.price"), field(s, "body $.at")
            # The copies a slow modern could not take in time are dropped (inflight), at random.
            S.check(s["compared"] >= 0.5 * N_SHARE and
                    s["compared"] + sum(s["dropped"].values()) == N_SHARE,
                    "%s: %d of %d compared: %r" % (route, s["compared"], N_SHARE, s))
            S.check(price and abs(price["legacy_vs_modern_percent"] - want) <= 1.0 and
                    not price["noise"], "%s: body $.price %r, want %.0f %% +-1, not noise"
                    % (route, price, want))
            S.check(abs(s["mismatch_percent"] - want) <= 1.0,
                    "%s: mismatches %.2f %%, want %.0f %% +-1 (noise apart): %r" % (
                        route, s["mismatch_percent"], want, s["fields"]))
            S.check(s["mismatches_by_kind"]["body"] == s["mismatches"] and
                    not s["mismatches_by_kind"]["headers"] and
                    not s["mismatches_by_kind"]["status"],
                    "%s: mismatches by kind %r" % (route, s["mismatches_by_kind"]))
            S.check(at and at["noise"] and s["noise_pairs"] > 0,
                    "%s: body $.at %r, want noise (%d noise pairs)" % (route, at,
                                                                     s["noise_pairs"]))
            S.check(not field(s, "header x-pool") and not field(s, "header x-backend"),
                    "%s: ignored headers reported: %r" % (route, s["fields"]))
            recs = s["last_mismatches"]
            S.check(recs and all(any(d["field"] == "body $.price" for d in r["differences"])
                                 for r in recs),
                    "%s: last mismatches %r" % (route, recs[:2]))
            figures.append("%s %.2f %% of %d (price %.2f %%, %d noise pairs, dropped %r)" % (
                route, s["mismatch_percent"], s["compared"], price["legacy_vs_modern_percent"],
                s["noise_pairs"], {k: v for k, v in s["dropped"].items() if v}))
        text = ctl(port, "shadow", "show", "GET", "/ten").stdout
        S.check("body $.price" in text and "noise" in text and "last mismatches" in text,
                "shadow show GET /ten: %s" % text[:600])
        info("shadow_reports_known_share_by_field", "; ".join(figures))
    finally:
        for p in procs:
            p.stop()


def shadow_aa_run_has_no_mismatch(env):
    """Legacy shadowing legacy: after 1200 requests every difference (the timestamp, the
    connection serial) is noise and the run reports 0 mismatches; shadow reset forgets the
    comparisons, keeps the noise: 300 more report 0 mismatches again."""
    port, lport = 8202, 9611
    procs = [start_backend(env, "legacy", lport)[0]]
    procs.append(own_strgd(env, "aa", port, lport, [
        "route GET /__json legacy shadow legacy noise 5 max-inflight 1024"]))
    try:
        rows = drive(port, ["/__json/%d" % k for k in range(1200)])
        S.check(len(rows) == 1200 and all(r[1] == 200 for r in rows),
                "A/A: answers %r" % [r for r in rows if r[1] != 200][:5])
        s = settled(port, "GET /__json", 1200)
        S.check(s and s["compared"] > 1000 and s["mismatches"] == 0 and
                s["noise_only"] == s["compared"] and field(s, "body $.at")["noise"],
                "A/A: %r" % s)
        r = ctl(port, "shadow", "reset", "GET", "/__json")
        S.check(r.returncode == 0, "shadow reset: %r" % r)
        pairs = shadow_json(port)["GET /__json"]["noise_pairs"]
        rows = drive(port, ["/__json/%d" % k for k in range(300)])
        s2 = settled(port, "GET /__json", 300)
        S.check(s2 and s2["compared"] >= 250 and s2["compared"] <= 300 and
                s2["mismatches"] == 0 and s2["noise_pairs"] >= pairs,
                "A/A after reset: %r (noise pairs before %d)" % (s2, pairs))
        info("shadow_aa_run_has_no_mismatch", "%d compared, 0 mismatches, %d noise pairs; "
             "after reset %d compared, 0 mismatches" % (s["compared"], s["noise_pairs"],
                                                        s2["compared"]))
    finally:
        for p in procs:
            p.stop()


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


N_SAFE = 400
shadow_never_at_users_expense_timeout = 120


def shadow_never_at_users_expense(env):
    """Routes /r, /b, /s shadow to a pool that refuses connections, one that never answers
    (a listener that accepts nothing) and one that answers after 5 s, at 100 %, timeout
    500ms, max-inflight 16, max-body 64k; /plain has no shadow. N_SAFE requests on 4 kept-
    alive connections per route, in turn with as many of /plain: all answered 200 by legacy,
    on 4 backend connections (reuse unchanged), the p99 within max(2 x, 5 ms more than)
    /plain's (a loaded machine's bound; make bench measures it quiet); every request counted as
    sent or dropped (inflight), every copy sent dropped (refused, timeout); strgd's memory
    grew less than the copies' bound (3 routes x 16 x (4 x 64 KiB + 80 KiB))."""
    port, lport, refuse, hole, slow = 8203, 9621, 9622, 9623, 9624
    procs = [start_backend(env, "legacy", lport)[0],
             start_backend(env, "slow", slow, "--delay", 5000)[0]]
    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind((h.HOST, hole))
    lsock.listen(4096)  # never accepted: connects complete, nothing answers
    opts = "timeout 500ms max-inflight 16 max-body 64k"
    proc = own_strgd(env, "safe", port, lport, [
        "pool refuse %s:%d" % (h.HOST, refuse), "pool hole %s:%d" % (h.HOST, hole),
        "pool slow %s:%d" % (h.HOST, slow), "metrics %s:%d" % (h.HOST, 9625),
        "route GET /plain legacy rewrite /__json",
        "route GET /r legacy rewrite /__json shadow refuse %s" % opts,
        "route GET /b legacy rewrite /__json shadow hole %s" % opts,
        "route GET /s legacy rewrite /__json shadow slow %s" % opts])
    procs.append(proc)
    try:
        drive(port, ["/plain/%d" % k for k in range(50)])  # warm
        rss0 = rss_kib(proc.pid)
        figures, bound = [], 3 * 16 * (4 * 64 + 80)
        for route, reason in (("/r", "refused"), ("/b", "timeout"), ("/s", "timeout")):
            # The route's requests and /plain's in turn on the same connections: the same
            # moments of a loaded machine for both.
            both = drive(port, [p for k in range(N_SAFE)
                                for p in ("/plain/%d" % k, "%s/%d" % (route, k))])
            rows = [r for r in both if r[0].startswith(route + "/")]
            base = [r for r in both if r[0].startswith("/plain/")]
            bad = [r for r in both if r[1] != 200]
            S.check(len(rows) == N_SAFE and not bad,
                    "%s: %d answers, not 200: %r" % (route, len(rows), bad[:5]))
            conns = {r[3] for r in both}
            S.check(len(conns) <= 4, "%s: legacy saw %d connections for 4 kept-alive "
                    "clients: %r" % (route, len(conns), sorted(conns)[:8]))
            limit = max(2 * p99([r[2] for r in base]), p99([r[2] for r in base]) + 0.005)
            S.check(p99([r[2] for r in rows]) <= limit,
                    "%s: users' p99 %.1f ms, /plain's %.1f ms" % (
                        route, p99([r[2] for r in rows]) * 1000,
                        p99([r[2] for r in base]) * 1000))
            s = settled(port, "GET " + route, N_SAFE)
            S.check(s, "%s: copies not all accounted for: %r" % (route, shadow_json(port)))
            d = s["dropped"]
            S.check(s["sent"] + d["inflight"] == N_SAFE and s["compared"] == 0 and
                    d[reason] == s["sent"] and s["sent"] > 0,
                    "%s: %r, want every copy sent dropped as %s" % (route, s, reason))
            figures.append("%s: p99 %.1f ms (plain %.1f), sent %d, %s %d, inflight %d" % (
                route, p99([r[2] for r in rows]) * 1000, p99([r[2] for r in base]) * 1000,
                s["sent"], reason, d[reason], d["inflight"]))
        grown = rss_kib(proc.pid) - rss0
        # ASan's quarantine keeps what strgd frees: the bound holds for a plain build.
        S.check(grown < bound or "/san/" in env.flavour.binary,
                "strgd's RSS grew %d KiB, the copies' bound is %d KiB" % (grown, bound))
        with urllib.request.urlopen("http://%s:%d/metrics" % (h.HOST, 9625), timeout=5) as r:
            prom = r.read().decode()
        S.check(re.search(r'^strg_shadow_dropped_total\{route="GET /r",pool="refuse",'
                          r'reason="refused"\} [1-9]', prom, re.M),
                "/metrics: no strg_shadow_dropped_total for refused: %s" % "\n".join(
                    l for l in prom.splitlines() if "shadow" in l)[:800])
        info("shadow_never_at_users_expense", "; ".join(figures) + "; RSS grew %d KiB "
             "(bound %d)" % (grown, bound))
    finally:
        lsock.close()
        for p in procs:
            p.stop()


def shadow_copies_post_only_when_named(env):
    """POST /__sha256 on a shadowed route is never copied (modern never sees it, GET is);
    with methods GET,POST its 20 KB body is copied whole (modern's sha256 answer equals
    legacy's: no body mismatch). A POST body over max-body (1k) is never copied: Content-Length
    or chunked, it is counted "body". Every copy carries X-Strg-Shadow: 1. With the route
    deleted, shadow show says no route has a shadow."""
    port, lport, mport = 8204, 9631, 9632
    lp, _ = start_backend(env, "legacy", lport)
    mp, mlog = start_backend(env, "modern", mport)
    procs = [lp, mp]
    route = ("route POST,GET /__sha256 legacy shadow modern ignore-header "
             "x-pool,x-backend,x-backend-conn")
    procs.append(own_strgd(env, "post", port, lport, [route], mport))
    body = bytes(range(256)) * 80
    events = mlog.with_name(mlog.name + ".events")

    def post(b, headers=()):
        with RawConn(port=port) as c:
            c.send(request("POST", "/__sha256", headers=headers, body=b))
            return c.read_response()

    def copies():
        return events.read_text().splitlines() if events.exists() else []
    try:
        S.check(post(body).status == 200, "POST answered")
        with RawConn(port=port) as c:
            c.send(request("GET", "/__sha256"))
            S.check(c.read_response().status == 200, "GET answered")
        S.check(h.wait_until(lambda: "shadow copy: GET /__sha256" in copies(), 5.0),
                "the GET was not copied: %r" % copies())
        time.sleep(0.3)
        S.check(not [l for l in copies() if "POST" in l], "POST copied unnamed: %r" % copies())
        r = ctl(port, "route", "set", *(route.split()[1:] + ["methods", "GET,POST",
                                                              "max-body", "1k"]))
        S.check(r.returncode == 0, "route set: %r" % r)
        small = body[:1000]
        S.check(post(small).status == 200, "POST answered")
        S.check(h.wait_until(lambda: "shadow copy: POST /__sha256" in copies(), 5.0),
                "the named POST was not copied: %r" % copies())
        s = settled(port, "GET,POST /__sha256", 2)
        S.check(s and s["compared"] == 2 and s["mismatches"] == 0,
                "POST copy: %r (its body must arrive whole)" % s)
        S.check(post(body).status == 200, "POST over max-body answered")
        chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
        S.check(post(chunked, ("Transfer-Encoding: chunked",)).status == 200,
                "chunked POST over max-body answered")
        s = settled(port, "GET,POST /__sha256", 4)
        S.check(s and s["dropped"]["body"] == 2 and s["compared"] == 2,
                "bodies over max-body: %r" % s)
        S.check(len([l for l in copies() if "POST" in l]) == 1,
                "a body over max-body was copied: %r" % copies())
        info("shadow_copies_post_only_when_named", "%d copies seen by modern, dropped %r" % (
            len(copies()), s["dropped"]))
        r = ctl(port, "route", "del", "GET,POST", "/__sha256")
        S.check(r.returncode == 0, "route del: %r" % r)
        r = ctl(port, "shadow", "show")
        S.check(r.returncode == 0 and r.stdout.strip() == "no route has a shadow",
                "shadow show without a shadowed route: %r" % r)
    finally:
        for p in procs:
            p.stop()


def shadow_answer_over_max_body_by_length(env):
    """Answers of 300 000 bytes on a route with max-body 4k: compared by length and the
    prefix's hash (counted as bodies cut), without a mismatch since both sides send the same
    bytes (a different length or prefix is a mismatch: test_shadowcmp)."""
    port, lport, mport = 8205, 9641, 9642
    procs = [start_backend(env, "legacy", lport)[0], start_backend(env, "modern", mport)[0]]
    procs.append(own_strgd(env, "cut", port, lport, [
        "route GET /__bytes legacy shadow modern compare status,body max-body 4k"], mport))
    try:
        rows = drive(port, ["/__bytes/300000"] * 6, clients=2)
        S.check(all(r[1] == 200 for r in rows) and len(rows) == 6, "answers %r" % rows)
        s = settled(port, "GET /__bytes", 6)
        S.check(s and s["compared"] == 6 and s["bodies_cut"] == 6 and s["mismatches"] == 0,
                "same bytes over max-body: %r" % s)
        info("shadow_answer_over_max_body_by_length", "%d compared, %d cut, %d mismatches" % (
            s["compared"], s["bodies_cut"], s["mismatches"]))
    finally:
        for p in procs:
            p.stop()


def shadow_added_to_a_kept_alive_connection(env):
    """A kept-alive connection's requests of GET /__json go to legacy without a copy (in kernel
    mode the kernel carries them); route set gives the route a shadow: the connection's next
    request is copied (the kernel passes it up), and answered by legacy as before."""
    port, lport, mport = 8206, 9651, 9652
    lp, _ = start_backend(env, "legacy", lport)
    mp, mlog = start_backend(env, "modern", mport)
    procs = [lp, mp]
    procs.append(own_strgd(env, "gain", port, lport, ["route GET /__json legacy"], mport))
    events = mlog.with_name(mlog.name + ".events")

    def copies():
        return [l for l in (events.read_text().splitlines() if events.exists() else [])
                if l.startswith("shadow copy")]
    try:
        with RawConn(port=port) as c:
            for k in range(5):
                c.send(request("GET", "/__json/%d" % k))
                resp = c.read_response()
                S.check(resp.status == 200 and resp.pool() == "legacy", "before: %r" % resp)
            time.sleep(0.3)
            S.check(not copies(), "copies before the route had a shadow: %r" % copies())
            r = ctl(port, "route", "set", "GET", "/__json", "legacy", "shadow", "modern")
            S.check(r.returncode == 0, "route set: %r" % r)
            for k in range(5, 10):
                c.send(request("GET", "/__json/%d" % k))
                resp = c.read_response()
                S.check(resp.status == 200 and resp.pool() == "legacy", "after: %r" % resp)
            conn = resp.header("x-backend-conn")
        S.check(h.wait_until(lambda: len(copies()) == 5, 5.0),
                "copies after the route gained its shadow: %r, want 5" % copies())
        # Copies go on connections of their own: they may arrive in another order.
        S.check(sorted(copies()) == ["shadow copy: GET /__json/%d" % k for k in range(5, 10)],
                "copies: %r" % copies())
        info("shadow_added_to_a_kept_alive_connection", "5 requests copied on the kept-alive "
             "connection (legacy's connection %s)" % conn)
    finally:
        for p in procs:
            p.stop()


SHADOW_TESTS = [shadow_reports_known_share_by_field, shadow_aa_run_has_no_mismatch,
                shadow_never_at_users_expense, shadow_copies_post_only_when_named,
                shadow_answer_over_max_body_by_length, shadow_added_to_a_kept_alive_connection]
shadow_reports_known_share_by_field.timeout = 120
shadow_never_at_users_expense.timeout = shadow_never_at_users_expense_timeout


def register(suite):
    """Add the shadow tests (the two-worker modes: both data paths)."""
    global S
    S = suite
    for fn in SHADOW_TESTS:
        suite.test(fn)
