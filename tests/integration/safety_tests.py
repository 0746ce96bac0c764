# SPDX-License-Identifier: GPL-2.0-only
"""Cutover safety tests of the strg end-to-end suite (user and kernel modes, two workers): real
backends under bounded load, each test with the strgd and backends it needs.

- The modern backend is killed under load: the legacy routes lose nothing; the moved route loses
  at most what was in flight, then falls back to legacy; the backend comes back, the active
  health check admits it again and modern serves again.
- Modern answers 500 to 30 % of a route's requests (or answers slowly): the route trips within
  its window, no request reaches modern on it afterwards, `route show -j` has the figures, and
  `route activate` restores it.
- A blackholed backend: the connect timeout fires on time, an idempotent request is retried on
  the other backend and succeeds, a POST is not retried and no backend sees it twice.
- A drain with --wait under load: no failed request, no reset, and strgctl returns once the
  backend is idle.
"""

import calendar
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time

import harness as h
from harness import RawConn, request

S = None  # the suite module, set by register()


def info(name, text):
    print("     %s: %s" % (name, text), flush=True)


def start_backend(env, name, port):
    """tools/backend.py as pool "modern" on its own port (this test may kill it)."""
    log = env.tmp / ("%s.log" % name)
    proc = env.spawn(name, [sys.executable, h.ROOT / "tools" / "backend.py", "--name", "modern",
                            "--port", port, "--log", log])
    h.wait_port(port, h.START_S, proc)
    return proc, log


class Load:
    """Keep-alive clients, each in a thread, recording (time, status, pool) of every request
    until stopped (bounded by max_s); a broken connection is replaced by a new one."""

    def __init__(self, port, paths, clients, max_s=20.0, pace=0.0):
        self.port, self.paths, self.pace = port, paths, pace
        self.stop_ev = threading.Event()
        self.results = []  # (t, path kind, status or None, pool)
        self.lock = threading.Lock()
        self.t0 = time.monotonic()
        self.deadline = self.t0 + max_s
        self.threads = [threading.Thread(target=self.run, args=(i,)) for i in range(clients)]
        for t in self.threads:
            t.start()

    def run(self, i):
        conn, n = None, 0
        rnd = random.Random(i)
        while not self.stop_ev.is_set() and time.monotonic() < self.deadline:
            kind, path = self.paths(rnd, i, n)
            n += 1
            t = time.monotonic() - self.t0
            try:
                if conn is None:
                    conn = RawConn(port=self.port, timeout=5.0)
                conn.send(request("GET", path))
                resp = conn.read_response()
                status, pool = resp.status, resp.pool()
                if resp.connection_close():
                    conn.close()
                    conn = None
            except (OSError, h.ProtocolError):
                status, pool = None, None
                if conn:
                    conn.close()
                conn = None
            with self.lock:
                self.results.append((t, kind, status, pool))
            if self.pace:
                self.stop_ev.wait(self.pace)
        if conn:
            conn.close()

    def now(self):
        return time.monotonic() - self.t0

    def stop(self):
        self.stop_ev.set()
        for t in self.threads:
            t.join(10)
        return self.results


FALLBACK_S = 5.0


def kill_modern_under_load(env):
    """Kill the modern pool's only backend under load: no legacy request fails, the moved
    route loses at most the requests in flight, then falls back to legacy within 3 s; the
    backend restarts, its health check admits it again and modern serves again."""
    mport, port = 9131, 8130
    be, _ = start_backend(env, "modern-kill", mport)
    events = env.tmp / "notify-events"
    script = env.tmp / "notify.sh"
    script.write_text("#!/bin/sh\necho \"$STRG_EVENT pool=$STRG_POOL backend=$STRG_BACKEND "
                      "detail=$STRG_DETAIL\" >> %s\n" % events)
    script.chmod(0o755)
    proc = env.spawn_extra_proxy(
        "kill", port, modern=(mport,),
        extra=["health modern http /__status/200 interval 200ms timeout 150ms rise 2 fall 2",
               "notify exec %s" % script,
               "timeout server 5s"])  # legacy answers at once; a loaded machine may take 1 s
    load = None
    try:
        def paths(rnd, i, n):
            if i % 2:
                return "legacy", "/a/k%d-%d" % (i, n)
            return "moved", "/v1/getSalesLeads/k%d-%d" % (i, n)

        load = Load(port, paths, clients=4)
        time.sleep(2.0)
        t_kill = load.now()
        be.stop(signal.SIGKILL)
        time.sleep(FALLBACK_S + 1.5)
        t_back = load.now()
        be, _ = start_backend(env, "modern-kill", mport)
        time.sleep(3.5)
        res = load.stop()
    finally:
        if load:
            load.stop()
        proc.stop(signal.SIGTERM, 3.0)
        be.stop(signal.SIGTERM, 3.0)
    legacy = [r for r in res if r[1] == "legacy"]
    moved = [r for r in res if r[1] == "moved"]
    bad_legacy = [r for r in legacy if r[2] != 200]
    S.check(legacy and not bad_legacy, "legacy route: %d of %d requests failed: %r" % (
        len(bad_legacy), len(legacy), bad_legacy[:5]))
    failed = [r for r in moved if r[2] != 200]
    S.check(len(failed) <= 4, "moved route: %d requests failed, want at most those in flight "
            "at the kill (2 clients): %r" % (len(failed), failed[:8]))
    # The health check (interval 200 ms, timeout 150 ms, fall 2) notices in about 0.6 s; the
    # window allows a loaded machine several times that.
    S.check(all(t_kill - 0.1 <= r[0] <= t_kill + FALLBACK_S for r in failed),
            "moved route failures outside the %.0f s after the kill: %r" % (FALLBACK_S, failed))
    settled = [r for r in moved if t_kill + FALLBACK_S <= r[0] < t_back]
    S.check(settled and all(r[2] == 200 and r[3] == "legacy" for r in settled),
            "%.0f s after the kill the moved route should be served by legacy (fallback): %r" % (
                FALLBACK_S,
                [r for r in settled if r[2] != 200 or r[3] != "legacy"][:5] or settled[:1]))
    again = [r for r in moved if r[0] >= t_back + 2.5]
    S.check(again and all(r[3] == "modern" for r in again),
            "2.5 s after the backend came back, modern should serve the moved route again: %r"
            % ([r for r in again if r[3] != "modern"][:5] or "no requests"))
    S.check(h.wait_until(lambda: "admitted again" in proc.stderr_text(), 2.0),
            "no 'admitted again' in strgd's log: %s" % proc.stderr_tail())
    # The notify command heard each step, in order, with the event in its environment.
    told = events.read_text().splitlines() if events.exists() else []
    kinds = [line.split()[0] for line in told]
    want = ["backend-down", "fallback-start", "backend-up", "fallback-end"]
    S.check(all(k in kinds for k in want) and
            kinds.index("backend-down") < kinds.index("backend-up") and
            kinds.index("fallback-start") < kinds.index("fallback-end"),
            "notify command got %r, want each of %s, downs before ups" % (told, want))
    S.check(any(line.startswith("backend-down pool=modern backend=127.0.0.1:%d" % mport)
                for line in told), "no backend-down event naming the backend: %r" % told)
    info("kill_modern_under_load", "%d legacy requests, 0 failed; moved route %d requests, %d "
         "failed at the kill, %d served by legacy meanwhile, modern again after its return" % (
             len(legacy), len(moved), len(failed), len(settled)))


def route_json(port, path):
    routes = json.loads(h.ctl_line("route show -j", port=port)[3:])["routes"]
    return [r for r in routes if r["path"] == path][0]


def route_pool_requests(port, route, pool):
    for r in json.loads(h.ctl_line("stats -j", port=port)[3:])["routes"]:
        if r["route"] == route:
            return sum(p["requests"] for p in r["pools"] if p["pool"] == pool)
    return 0


def trips_and_restores(port, path, paths, clients, window_s, what):
    """Load the route until it trips (within its window and a second); then no request
    reaches modern on it; route activate restores it."""
    route = "GET %s" % path
    load = Load(port, paths, clients=clients)
    try:
        tripped = h.wait_until(lambda: route_json(port, path)["tripped"], window_s + 4.0,
                               interval=0.1)
        t_trip = load.now()
    finally:
        sent = load.stop()
    rt = route_json(port, path)
    S.check(tripped and rt["tripped"] and not rt["active"] and rt["trip"],
            "%s: the route did not trip within %d s: %r" % (what, window_s + 4, rt))
    tripped_rt = rt
    S.check(t_trip <= window_s + 4.0, "%s: tripped after %.1f s" % (what, t_trip))
    before = route_pool_requests(port, route, "modern")
    with RawConn(port=port) as c:
        for i in range(30):
            c.send(request("GET", "%s/after%d" % (path, i)))
            resp = c.read_response()
            S.check(resp.status == 200 and resp.pool() == "legacy",
                    "%s: after the trip, request %d: %s from %s, want legacy" % (
                        what, i, resp.status, resp.pool()))
    after = route_pool_requests(port, route, "modern")
    S.check(after == before, "%s: modern got %d requests of the tripped route" % (
        what, after - before))
    out = h.ctl_line("route activate %s" % route, port=port)
    S.check(out.startswith("ok"), "route activate: %r" % out)
    rt = route_json(port, path)
    S.check(rt["active"] and not rt["tripped"], "after activate: %r" % rt)
    with RawConn(port=port) as c:
        c.send(request("GET", "%s/__status/200" % path))
        resp = c.read_response()
        S.check(resp.status == 200 and resp.pool() == "modern",
                "%s: after activate: %s from %s, want modern" % (what, resp.status, resp.pool()))
    return t_trip, tripped_rt, sent


def rollback_trips_on_errors_and_latency(env):
    """Modern answers 500 to 30 % of a route's requests: the route trips within its window
    (and its figures say why), no request of it reaches modern afterwards, route activate
    restores it. A slow modern (p99 over the limit, 16 clients: the 100 requests a p99 needs
    within the window) trips another route the same way."""
    port = 8132
    proc = env.spawn_extra_proxy("rollback", port, extra=[
        "route GET /v1/rb modern strip-prefix rollback 5% window 3s min 20",
        "route GET /v1/slow modern strip-prefix rollback 50% p99 200 window 5s min 100"])
    try:
        t1, rt, sent = trips_and_restores(
            port, "/v1/rb",
            lambda rnd, i, n: ("rb", "/v1/rb/__status/%d" % (500 if rnd.random() < 0.3 else 200)),
            2, 3, "errors")
        # The figures the trip recorded (taken before route activate clears them), against
        # what the clients got: no more 500s from modern than they received, no more requests
        # than they sent (two clients: one each in flight at most), over the 5 % limit.
        figures = rt["trip"]["figures"]
        m = re.search(r"5xx ([\d.]+)% of (\d+) requests", figures)
        S.check(m, "the trip's figures do not say its 5xx share: %r" % figures)
        share, n = float(m.group(1)), int(m.group(2))
        got500 = sum(1 for r in sent if r[2] == 500 and r[3] == "modern")
        answered = sum(1 for r in sent if r[3] == "modern")
        S.check(share > 5.0 and n >= 20, "tripped at %.1f %% of %d requests: the route says "
                "5 %% over at least 20" % (share, n))
        S.check(n <= answered + 2 and round(share * n / 100.0) <= got500 + 2,
                "the trip counted %d requests, %.0f of them 5xx; the clients got %d answers "
                "from modern, %d of them 500" % (n, share * n / 100.0, answered, got500))
        t2, rt2, _ = trips_and_restores(
            port, "/v1/slow", lambda rnd, i, n: ("slow", "/v1/slow/__sleep/300"), 16, 5,
            "latency")
        # Every request slept 300 ms at the backend: the p99 the trip saw is in the latency
        # histogram's bucket of 300 ms (262-524 ms, powers of two in microseconds), give or
        # take the time strgd and a loaded machine add.
        m = re.search(r"p99 ([\d.]+) ms", rt2["trip"]["figures"])
        S.check(m and 250.0 <= float(m.group(1)) <= 1100.0,
                "the latency trip's p99: %r, the backend slept 300 ms" % rt2["trip"]["figures"])
        S.check(h.wait_until(lambda: "rolled back" in proc.stderr_text(), 2.0),
                "no 'rolled back' line in strgd's log")
    finally:
        proc.stop(signal.SIGTERM, 3.0)
    info("rollback_trips_on_errors_and_latency", "30 %% 500s tripped after %.1f s, p99 300 ms "
         "(limit 200) after %.1f s; restored by route activate" % (t1, t2))


def one_slow_request_is_not_a_p99(env):
    """A p99 needs 100 requests: one slow request (900 ms) among 34 does not trip "rollback 50%
    p99 800 ... min 20", the stats show no p99 for them (p90 they do), route show says the
    latency is judged from 100 requests, and route set, reload and strgd -t warn that a min
    below 100 is too small for a p99."""
    port = 8135
    line = "GET /v1/few modern strip-prefix rollback 50% p99 800 window 10s min 20"
    proc = env.spawn_extra_proxy("few", port, extra=["route " + line])
    try:
        with RawConn(port=port) as c:
            for i in range(34):
                c.send(request("GET", "/v1/few/__sleep/%d" % (900 if i == 17 else 0)))
                resp = c.read_response()
                S.check(resp.status == 200 and resp.pool() == "modern", "request %d: %r" % (
                    i, resp))
        time.sleep(2.0)  # rollback looks every tick
        rt = route_json(port, "/v1/few")
        S.check(not rt["tripped"] and rt["active"],
                "one slow request among 34 tripped the route: %r" % rt)
        S.check(rt["rollback"]["p99_min"] == 100, "route show -j rollback: %r" % rt["rollback"])
        row = [p for r in json.loads(h.ctl_line("stats -j", port=port)[3:])["routes"]
               if r["route"] == "GET /v1/few" for p in r["pools"] if p["pool"] == "modern"][0]
        S.check(row["requests"] == 34 and row["p99_ms"] is None and row["p90_ms"] is not None,
                "stats -j of 34 requests: %r" % {k: row[k] for k in (
                    "requests", "p90_ms", "p99_ms")})
        shown = h.ctl_line("route show", port=port)
        S.check("p99 judged only in windows of 100 requests or more (min 20)" in shown,
                "route show does not say when p99 is judged: %r" % shown)
        r = subprocess.run([str(h.ROOT / "strgctl"), "-s", h.control_path(port), "route", "set"]
                           + line.replace("min 20", "min 30").split(), capture_output=True,
                           text=True, timeout=10)
        S.check(r.returncode == 0 and "warning:" in r.stderr and "min 30" in r.stderr and
                "100 requests" in r.stderr, "route set with min 30: exit %d, stderr %r" % (
                    r.returncode, r.stderr))
        out = h.ctl_line("reload", port=port)
        S.check("warning: route GET /v1/few: rollback min 20 is below the 100 requests" in out,
                "reload of the file does not warn: %r" % out)
        cfg = env.tmp / "few.conf"
        r = subprocess.run([env.flavour.binary, "-t", "--pin-dir", env.flavour.pin_dir(cfg),
                            "-c", str(cfg)], capture_output=True, text=True, timeout=10)
        S.check(r.returncode == 0 and "warning:" in r.stderr and "min 20" in r.stderr,
                "strgd -t: exit %d, stderr %r" % (r.returncode, r.stderr))
    finally:
        proc.stop(signal.SIGTERM, 3.0)
    info("one_slow_request_is_not_a_p99", "34 requests, one of 900 ms: not tripped, p99 not "
         "shown (p90 %.2f ms); warnings from route set, reload and strgd -t" % row["p90_ms"])


def nft(*args):
    return subprocess.run(["nft"] + list(args), capture_output=True, text=True, timeout=10)


def blackholed_backend_retries_idempotent_only(env):
    """One backend drops SYNs: a GET that meets it waits the connect timeout (±10 %), is
    retried on the other backend and succeeds; a POST that meets it gets 504, is not retried,
    and no backend receives any POST twice."""
    bh, port = 9193, 8133
    r = nft("add", "table", "inet", "strgsafety")
    S.check(r.returncode == 0, "nft: %s" % r.stderr.strip())
    proc = None
    try:
        nft("add", "chain", "inet", "strgsafety", "out",
            "{ type filter hook output priority 0 ; }")
        r = nft("add", "rule", "inet", "strgsafety", "out", "tcp", "dport", str(bh), "drop")
        S.check(r.returncode == 0, "nft rule: %s" % r.stderr.strip())
        proc = env.spawn_extra_proxy("blackhole", port, modern=(bh, h.MODERN_PORT),
                                     route_opts="fallback none")
        timeout = h.CONNECT_TIMEOUT_MS / 1000.0
        time.sleep(1.0)  # past strgd's start (pinning, first samples): time the steady state
        slow = None
        with RawConn(port=h.MODERN_PORT) as c:  # a backend's first answer can be slow: warm it
            c.send(request("GET", "/warm"))
            c.read_response()
        for i in range(4):  # round robin: one of the first two meets the blackhole
            with RawConn(port=port, timeout=8.0) as c:
                t0, sent_at = time.monotonic(), time.time()
                c.send(request("GET", "/v1/getMarketingEvents/bh%d" % i))
                resp = c.read_response(timeout=8.0)
                took = time.monotonic() - t0
            S.check(resp.status == 200 and resp.pool() == "modern",
                    "GET %d: %s from %s, want 200 from modern" % (i, resp.status, resp.pool()))
            if took > timeout / 2:
                slow = took
                break
        S.check(slow is not None, "no GET met the blackholed backend")
        # When the timeout fired: strgd's log line, against when the request was sent.
        line = h.wait_until(lambda: re.search(r"(\S+)Z strgd warn: conn \d+: backend "
                                              r"127\.0\.0\.1:%d of pool modern: connect: timed "
                                              r"out" % bh, proc.stderr_text()), 2.0)
        S.check(line, "no 'connect: timed out' line: %s" % proc.stderr_tail())
        fired = calendar.timegm(time.strptime(line.group(1)[:19], "%Y-%m-%dT%H:%M:%S")) + \
            float("0" + line.group(1)[19:]) - sent_at
        # Never before the connect timeout; after it by no more than a loaded machine's delay.
        S.check(timeout * 0.9 <= fired <= timeout + 1.0,
                "the connect timed out after %.3f s, want the connect timeout (%.1f s), within "
                "a second" % (fired, timeout))
        S.check(slow <= timeout + 2.0, "the retried GET took %.3f s in all" % slow)
        sent, answered, refused = [], [], []
        for i in range(8):
            time.sleep(h.DOWN_HOLD_MS / 1000.0 + 0.2)  # the blackhole is chosen again
            tag = "/v1/getMarketingEvents/post-%d-%d" % (os.getpid(), i)
            with RawConn(port=port, timeout=8.0) as c:
                c.send(request("POST", tag, body=b"x" * 100))
                resp = c.read_response(timeout=8.0)
            sent.append(tag)
            (answered if resp.status == 200 else refused).append((tag, resp.status))
            if refused:
                break
        S.check(refused and refused[0][1] == 504,
                "no POST met the blackhole (answers %r)" % (answered + refused))
        seen = [line for line in env.modern_log_lines() if "POST" in line]
        for tag in sent:
            n = sum(1 for line in seen if line.strip() == "POST " + tag)
            want = 0 if tag == refused[0][0] else 1
            S.check(n == want, "POST %s reached the backend %d times, want %d" % (tag, n, want))
    finally:
        if proc:
            proc.stop(signal.SIGTERM, 3.0)
        nft("delete", "table", "inet", "strgsafety")
    info("blackholed_backend_retries_idempotent_only", "connect timed out after %.3f s (timeout "
         "%.1f s), the GET retried and answered after %.3f s; %d POSTs, the one that met the "
         "blackhole got 504 and reached no backend" % (fired, timeout, slow, len(sent)))


def drain_wait_under_load(env):
    """Drain a legacy backend with --wait while wrk loads the pool: strgctl returns once the
    backend is idle, wrk sees no failed request and no reset."""
    port = 8134
    second = "%s:%d" % (h.HOST, h.LEGACY_PORTS[1])
    proc = env.spawn_extra_proxy("drain", port)
    sock = h.control_path(port)
    try:
        wrk = subprocess.Popen(["wrk", "-c8", "-t2", "-d5s", "--timeout", "10s",
                                "http://%s:%d/a/drain" % (h.HOST, port)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        time.sleep(1.5)
        t0 = time.monotonic()
        r = subprocess.run([str(h.ROOT / "strgctl"), "-s", sock, "backend", "set", "legacy",
                            second, "state", "drain", "--wait", "10s"],
                           capture_output=True, text=True, timeout=20)
        took = time.monotonic() - t0
        out, _ = wrk.communicate(timeout=20)
        S.check(r.returncode == 0 and "is idle" in r.stdout,
                "drain --wait: exit %d: %s%s" % (r.returncode, r.stdout, r.stderr))
        pools = json.loads(h.ctl_line("pool show -j", port=port)[3:])["pools"]
        be = [b for p in pools if p["name"] == "legacy" for b in p["backends"]
              if b["addr"] == second][0]
        S.check(be["state"] == "drain" and be["connections"] == 0 and be["inflight"] == 0,
                "drained backend: %r" % be)
        m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                      out)
        S.check(m is None or all(int(x) == 0 for x in m.groups()),
                "wrk socket errors during the drain: %s" % (m.group(0) if m else ""))
        S.check("Non-2xx" not in out, "wrk got non-2xx answers: %s; strgd: %s" % (
            out, proc.stderr_tail()))
        reqs = re.search(r"(\d+) requests in", out)
        S.check(reqs and int(reqs.group(1)) > 100, "wrk made too few requests: %s" % out[-300:])
    finally:
        h.ctl_line("backend set legacy %s state ready" % second, port=port)
        proc.stop(signal.SIGTERM, 3.0)
    info("drain_wait_under_load", "drain --wait returned after %.1f s; wrk: %s requests, 0 "
         "errors" % (took, reqs.group(1)))


SAFETY_TESTS = [
    kill_modern_under_load,
    rollback_trips_on_errors_and_latency,
    blackholed_backend_retries_idempotent_only,
    drain_wait_under_load,
    one_slow_request_is_not_a_p99,
]


def register(suite):
    """Add the cutover safety tests (two-worker modes: both data paths once each)."""
    global S
    S = suite
    for fn in SAFETY_TESTS:
        suite.test(fn)
