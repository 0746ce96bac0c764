# SPDX-License-Identifier: GPL-2.0-only
"""README promises that no other test module holds: request ids, a route's own fallback pool,
reload (its dry run, settings other than routes), drain --wait running out, the route-tripped
notification, the guard's runtime limits and a missing interface, strgd without BPF privilege,
SIGTERM's cap, the counters' 1 024 routes, chunked bodies over limit body-buffer and the
metric families. Each test runs a strgd of its own (own port, control socket, state file and
pin directory) and stops it by pid; tests/README.md maps each promise to its test.
"""

import json
import os
import re
import signal
import subprocess
import time

import harness as h
from harness import RawConn, request

S = None  # the suite module (check, Fail, Skip), set by register()
DEAD_PORT = 9197  # nothing listens here


def info(name, text):
    print("     %s: %s" % (name, text), flush=True)


def kernel_mode(env):
    return getattr(env.flavour, "mode", None) == "kernel"


def ctl(port, *args, timeout=20):
    """strgctl against the strgd on port (CompletedProcess)."""
    argv = [str(h.ROOT / "strgctl"), "-s", h.control_path(port)] + [str(a) for a in args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


def own_strgd(env, tag, port, extra=(), **kw):
    """A strgd of the test's own, answering on its control socket."""
    proc = env.spawn_extra_proxy(tag, port, extra=list(extra), **kw)
    S.check(h.wait_until(lambda: ctl(port, "route", "show").returncode == 0, 5.0),
            "the strgd on port %d does not answer on its control socket" % port)
    return proc


def exchange(port, path, headers=(), conn=None, method="GET", body=b""):
    if conn is not None:
        conn.send(request(method, path, headers=headers, body=body))
        return conn.read_response()
    with RawConn(port=port) as c:
        c.send(request(method, path, headers=headers, body=body))
        return c.read_response()


def stats(port):
    r = ctl(port, "stats", "-j")
    S.check(r.returncode == 0, "stats -j: %r" % r)
    return json.loads(r.stdout)


# ---------------------------------------------------------------------------------------------


def request_id_passes_through_or_is_made_up(env):
    """The access log's request id is the client's X-Request-Id when it sent one (the backend
    gets it unchanged, once); else strgd makes one up and sends it upstream in X-Request-Id
    (user space: a connection's first request is user space's in both data paths). With
    "query" the line also has the query; it has Host, User-Agent, and the time to the response
    head at least the backend's configured delay, the total time no less."""
    port = 8170
    alog = env.tmp / "reqid-access.log"
    proc = own_strgd(env, "reqid", port, ["access-log %s json query" % alog])
    try:
        mine = "strg-test-%d" % os.getpid()
        resp = exchange(port, "/__headers", headers=["X-Request-Id: %s" % mine])
        seen = re.findall(r"(?im)^x-request-id: *(\S+)\r?$", resp.body.decode("latin-1"))
        S.check(resp.status == 200 and seen == [mine],
                "the backend saw X-Request-Id %r, the client sent %r" % (seen, mine))
        resp = exchange(port, "/__headers")
        made = re.findall(r"(?im)^x-request-id: *(\S+)\r?$", resp.body.decode("latin-1"))
        S.check(resp.status == 200 and len(made) == 1 and len(made[0]) >= 16,
                "without one, the backend saw X-Request-Id %r (want one made up)" % made)

        def ids():
            try:
                return [json.loads(line)["request_id"] for line in alog.read_text().splitlines()
                        if line.strip()]
            except (OSError, ValueError):
                return []
        S.check(h.wait_until(lambda: len(ids()) >= 2, 3.0), "access log: %r" % ids())
        S.check(ids()[:2] == [mine, made[0]],
                "access log ids %r, want the client's %r then the one sent upstream %r" % (
                    ids()[:2], mine, made[0]))
        delay_ms = 200
        resp = exchange(port, "/__sleep/%d/q?a=1&b=two" % delay_ms,
                        headers=["User-Agent: strg-test/1 (alog)"])
        S.check(resp.status == 200, "GET /__sleep: %r" % resp)
        S.check(h.wait_until(lambda: len(ids()) >= 3, 3.0), "access log: %r" % ids())
        e = json.loads(alog.read_text().splitlines()[2])
        S.check(e["path"] == "/__sleep/%d/q" % delay_ms and e["query"] == "a=1&b=two" and
                e["host"] == "h" and e["user_agent"] == "strg-test/1 (alog)",
                "path, query, host, user agent in %r" % e)
        S.check(delay_ms <= e["head_ms"] <= e["duration_ms"],
                "head_ms %.3f, duration_ms %.3f: want at least the backend's %d ms delay to the "
                "head, and no less in all" % (e["head_ms"], e["duration_ms"], delay_ms))
        info("request_id_passes_through_or_is_made_up", "a %d ms backend delay: head_ms %.3f, "
             "duration_ms %.3f in the access log" % (delay_ms, e["head_ms"], e["duration_ms"]))
    finally:
        proc.stop(signal.SIGTERM, 5.0)


def fallback_pool_is_the_routes_choice(env):
    """fallback POOL: a route whose pool has no backend that serves sends its requests to the
    pool it names (here pp, not the default route's legacy); they are counted under the route
    with that pool, in its fallback counter; fallback none keeps strgd's 503."""
    port = 8171
    proc = own_strgd(env, "fbpool", port, [
        "pool gone 127.0.0.1:%d" % DEAD_PORT, "route /fbp gone fallback pp",
        "route /fbn gone fallback none"])
    try:
        before = len(env.nginx_pp_log_lines())
        with RawConn(port=port) as c:
            for i in range(3):
                resp = exchange(port, "/fbp/%d" % i, conn=c)
                S.check(resp.status == 200 and resp.pool() == "pp",
                        "request %d: %s from %s, want 200 from pp" % (i, resp.status,
                                                                    resp.pool()))
        def logged():
            return [line for line in env.nginx_pp_log_lines()[before:] if "/fbp/" in line]
        S.check(h.wait_until(lambda: len(logged()) == 3, 3.0),
                "the pp pool's nginx logged %r" % logged())
        resp = exchange(port, "/fbn/1")
        S.check(resp.status == 503, "fallback none: %s, want 503" % resp.status)
        rows = [p for r in stats(port)["routes"] if r["route"] == "/fbp" for p in r["pools"]]
        pp = [p for p in rows if p["pool"] == "pp"]
        S.check(pp and pp[0]["requests"] == 3 and pp[0]["fallback"] == 3,
                "stats of /fbp: %r, want pp with 3 requests, 3 by fallback" % rows)
    finally:
        proc.stop(signal.SIGTERM, 5.0)


def reload_dry_run_then_settings(env):
    """strgctl --dry-run reload says what a reload would change and changes nothing; strgctl
    reload then applies it: a route the file added, a timeout in force for the next request
    (timeout server 1 s: a 1.5 s answer is a 504; 3 s after the reload: 200), and a listen
    address reported as needing a restart while the old one keeps serving."""
    port = 8172
    proc = own_strgd(env, "reload", port)
    cfg = env.tmp / "reload.conf"
    text = cfg.read_text()
    try:
        S.check(exchange(port, "/__sleep/1500").status == 504,
                "timeout server 1000: a 1.5 s answer should be a 504")
        edited = text.replace("timeout server %d" % h.SERVER_TIMEOUT_MS, "timeout server 3000")
        edited = edited.replace("listen %s:%d" % (h.HOST, port), "listen %s:%d" % (h.HOST,
                                                                                 port + 50))
        cfg.write_text(edited + "route /v1/reloaded modern\n")
        dry = ctl(port, "--dry-run", "reload")
        S.check(dry.returncode == 0 and "/v1/reloaded" in dry.stdout,
                "--dry-run reload: %r" % dry)
        S.check("/v1/reloaded" not in ctl(port, "route", "show").stdout,
                "the dry run changed the table")
        S.check(exchange(port, "/v1/reloaded/1").pool() == "legacy",
                "the dry run routed /v1/reloaded")
        S.check(exchange(port, "/__sleep/1500").status == 504, "the dry run changed a timeout")
        r = ctl(port, "reload")
        S.check(r.returncode == 0 and "/v1/reloaded" in r.stdout and
                re.search(r"listen: .*next start", r.stdout),
                "reload: %r (want the route and the listen line needing a restart)" % r)
        S.check(exchange(port, "/v1/reloaded/1").pool() == "modern", "the route not applied")
        resp = exchange(port, "/__sleep/1500")
        S.check(resp.status == 200, "timeout server 3000 after the reload: %s" % resp.status)
        S.check(not h.port_open(port + 50), "the new listen address was opened without restart")
    finally:
        cfg.write_text(text)
        proc.stop(signal.SIGTERM, 5.0)


def drain_wait_runs_out(env):
    """backend set ... state drain --wait T returns 1 with the figures when the backend still
    has a request in flight after T (here 1 s against a 6 s answer), and not before T (--force:
    it is the pool's only backend)."""
    port = 8173
    proc = own_strgd(env, "drainwait", port, ["timeout server 10s"])
    try:
        with RawConn(port=port, timeout=15.0) as c:
            c.send(request("GET", "/__sleep/6000"))
            S.check(h.wait_until(lambda: any("/__sleep/6000" in line
                                             for line in env.modern_log_lines()), 3.0),
                    "the slow request never reached the backend")
            t0 = time.monotonic()
            r = ctl(port, "--force", "backend", "set", "modern", "%s:%d" % (
                h.HOST, h.MODERN_PORT), "state", "drain", "--wait", "1s")
            took = time.monotonic() - t0
            S.check(r.returncode == 1 and "flight" in (r.stdout + r.stderr),
                    "drain --wait 1s with a request in flight: %r" % r)
            S.check(1.0 <= took < 5.5, "drain --wait 1s returned after %.1f s" % took)
            S.check(c.read_response().status == 200, "the request in flight did not complete")
    finally:
        ctl(port, "backend", "set", "modern", "%s:%d" % (h.HOST, h.MODERN_PORT), "state",
            "ready")
        proc.stop(signal.SIGTERM, 5.0)
    info("drain_wait_runs_out", "exit 1 after %.1f s: %s" % (took, (r.stdout + r.stderr).strip()
                                                           [:160]))


def route_tripped_is_notified(env):
    """A rolled-back route runs the notify command with STRG_EVENT=route-tripped, the route,
    its pool and the figures."""
    port = 8174
    events = env.tmp / "tripped-events"
    script = env.tmp / "tripped.sh"
    script.write_text("#!/bin/sh\necho \"$STRG_EVENT|$STRG_ROUTE|$STRG_POOL|$STRG_DETAIL\" "
                      ">> %s\n" % events)
    script.chmod(0o755)
    proc = own_strgd(env, "tripped", port, [
        "route GET /v1/rbn modern strip-prefix rollback 5% window 2s min 20",
        "notify exec %s" % script])
    try:
        def told():
            try:
                return [line.split("|") for line in events.read_text().splitlines()]
            except OSError:
                return []
        deadline = time.monotonic() + 15.0
        with RawConn(port=port) as c:
            while time.monotonic() < deadline and not any(t[0] == "route-tripped"
                                                          for t in told()):
                exchange(port, "/v1/rbn/__status/500", conn=c)
        trips = [t for t in told() if t[0] == "route-tripped"]
        S.check(trips, "no route-tripped event within 15 s: %r" % told())
        S.check(len(trips[0]) == 4 and "/v1/rbn" in trips[0][1] and trips[0][2] == "modern"
                and "5xx" in trips[0][3], "the event: %r" % trips[0])
    finally:
        proc.stop(signal.SIGTERM, 5.0)


def guard_limits_at_runtime_and_a_missing_interface(env):
    """An xdp line naming an interface that does not exist: strgd logs it, serves, and xdp show
    says the guard is not attached; strgctl xdp attach of that interface is refused (exit 1).
    limit set syn/packets changes the guard's limits at once (limit show) and saves them (the
    state file). xdp attach lo mode generic attaches in generic mode and strgd still serves
    through it, its packets counted."""
    port = 8175
    proc = own_strgd(env, "noiface", port, ["xdp nosuch0"])
    proc.expect(allow=[r"nosuch0"])
    try:
        S.check(h.wait_until(lambda: "nosuch0" in proc.stderr_text(), 3.0),
                "the missing interface is not logged: %s" % proc.stderr_tail())
        S.check(exchange(port, "/a/1").status == 200, "strgd does not serve")
        show = ctl(port, "xdp", "show")
        S.check(show.returncode == 0 and "nosuch0" in show.stdout and
                "attached" in show.stdout, "xdp show: %r" % show)
        r = ctl(port, "xdp", "attach", "nosuch0")
        S.check(r.returncode == 1, "xdp attach nosuch0: %r" % r)
        r = ctl(port, "limit", "set", "syn", "77", "burst", "11")
        S.check(r.returncode == 0, "limit set syn: %r" % r)
        r = ctl(port, "limit", "set", "packets", "5000")
        S.check(r.returncode == 0, "limit set packets: %r" % r)
        shown = ctl(port, "limit", "show").stdout
        S.check(re.search(r"syn\D+77\D+11", shown) and "5000" in shown, "limit show: %r" % shown)
        state = os.path.join(os.path.dirname(h.control_path(port)), "state")
        saved = open(state).read()
        S.check(re.search(r"limit syn 77 burst 11", saved) and "limit packets 5000" in saved,
                "the limits are not in the state file: %r" % saved[-400:])
        if kernel_mode(env):
            r = ctl(port, "xdp", "attach", "lo", "mode", "generic")
            S.check(r.returncode == 0, "xdp attach lo mode generic: %r" % r)
            show = ctl(port, "-j", "xdp", "show")
            doc = json.loads(show.stdout)
            before = sum(v["packets"] for v in doc["counters"].values()) if \
                isinstance(doc.get("counters"), dict) else 0
            for i in range(5):
                S.check(exchange(port, "/a/g%d" % i).status == 200,
                        "request %d through the generic-mode guard" % i)
            doc = json.loads(ctl(port, "-j", "xdp", "show").stdout)
            after = sum(v["packets"] for v in doc["counters"].values())
            S.check("generic" in json.dumps(doc) and after - before >= 5 * 3,
                    "generic mode: %r (packets %d -> %d for 5 requests)" % (doc, before, after))
            ctl(port, "xdp", "detach")
    finally:
        proc.stop(signal.SIGTERM, 5.0)


def no_bpf_privilege_runs_user_space(env):
    """strgd started without the capabilities BPF needs (and without --no-bpf) says the kernel
    path is unavailable, runs the user-space path and serves."""
    port = 8176
    cfg = env.tmp / "nocaps.conf"
    cfg.write_text(h.strgd_config(listen_port=port, extra=["workers 1"]))
    argv = [env.flavour.binary, "--pin-dir", env.flavour.pin_dir(cfg), "-c", str(cfg)]
    proc = env.spawn("strgd-nocaps", ["setpriv", "--bounding-set=-all,+net_bind_service,"
                                      "+setuid,+setgid,+dac_override,+chown,+fowner",
                                      "--inh-caps=-all"] + argv)
    try:
        h.wait_port(port, h.START_S, proc)
        log = proc.stderr_text()
        S.check(h.wait_until(lambda: "data path: user space" in proc.stderr_text(), 3.0) and
                "kernel fast path unavailable" in proc.stderr_text(),
                "without BPF privilege: %s" % proc.stderr_tail())
        for i in range(3):
            resp = exchange(port, "/v1/getSalesLeads/%d" % i)
            S.check(resp.status == 200 and resp.pool() == "modern", "request %d: %r" % (i, resp))
        log = proc.stderr_text()
    finally:
        proc.stop(signal.SIGTERM, 5.0)
    info("no_bpf_privilege_runs_user_space", [l.split(": ", 1)[1] for l in log.splitlines()
                                               if "unavailable" in l][0][:150])


SIGTERM_CAP_S = 30


def sigterm_gives_up_after_30s(env):
    """SIGTERM with a request whose answer takes longer than 30 s: strgd stops accepting at
    once and exits 0 after 30 s at most (README), not when the answer would have come."""
    port = 8177
    proc = own_strgd(env, "sigcap", port, ["timeout server 60s", "timeout client 60s"])
    with RawConn(port=port, timeout=60.0) as c:
        c.send(request("GET", "/__sleep/45000"))
        S.check(h.wait_until(lambda: any("/__sleep/45000" in line
                                         for line in env.modern_log_lines()), 3.0),
                "the slow request never reached the backend")
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        S.check(h.wait_port_closed(port, 3.0), "the listener stayed open after SIGTERM")
        status = proc.wait(SIGTERM_CAP_S + 12)
        took = time.monotonic() - t0
        end = c.wait_eof(3.0)
    S.check(status == 0, "strgd exit %s, %.1f s after SIGTERM" % (status, took))
    S.check(SIGTERM_CAP_S - 1 <= took <= SIGTERM_CAP_S + 10,
            "strgd exited %.1f s after SIGTERM, want at its 30 s cap" % took)
    S.check(end in ("eof", "reset") or end.startswith("data:"),
            "the held connection after exit: %s" % end)
    info("sigterm_gives_up_after_30s", "exit 0 after %.1f s with a 45 s answer pending" % took)


sigterm_gives_up_after_30s.timeout = SIGTERM_CAP_S + 40


def counters_hold_1024_routes(env):
    """The first 1 024 routes are counted; a route beyond them is routed but not counted
    (counted: false in stats -j)."""
    port = 8178
    extra = ["route /c%d modern" % i for i in range(1030)]
    proc = own_strgd(env, "c1024", port, extra)
    try:
        routes = json.loads(ctl(port, "route", "show", "-j").stdout)["routes"]
        S.check(len(routes) == len(h.ROUTES) + 1030, "%d routes" % len(routes))
        for path in ("/c0", "/c1029"):
            for i in range(2):
                resp = exchange(port, "%s/__headers?%d" % (path, i))
                S.check(resp.status == 200 and resp.pool() == "modern",
                        "%s: %s from %s" % (path, resp.status, resp.pool()))
        rows = {r["route"]: r for r in stats(port)["routes"]}
        counted = [r for r in rows.values() if r["counted"]]
        S.check(len(counted) == 1024, "%d routes counted, want 1 024" % len(counted))
        first, last = rows.get("/c0"), rows.get("/c1029")
        S.check(first and first["counted"] and
                sum(p["requests"] for p in first["pools"]) == 2,
                "/c0 (among the first 1 024): %r" % first)
        S.check(last and not last["counted"] and
                sum(p["requests"] for p in last["pools"]) == 0,
                "/c1029 (beyond 1 024): %r" % last)
    finally:
        proc.stop(signal.SIGTERM, 5.0)


def chunked_body_over_body_buffer(env):
    """limit body-buffer 1024: a valid chunked body of 8 KiB streams to the backend whole (the
    sha256 it computed is the one sent); one longer than the buffer with a bad size line after
    2 KiB gets 400 and strgd closes the client's connection."""
    port = 8179
    proc = own_strgd(env, "bodybuf", port, ["limit body-buffer 1024"])
    try:
        import hashlib
        body = bytes((i * 7) & 0xFF for i in range(8192))
        chunks = b"".join(b"%x\r\n%s\r\n" % (512, body[i:i + 512])
                          for i in range(0, len(body), 512)) + b"0\r\n\r\n"
        with RawConn(port=port) as c:
            c.send(request("POST", "/__sha256", headers=["Transfer-Encoding: chunked"]) + chunks)
            resp = c.read_response()
        want = "sha256=%s len=%d" % (hashlib.sha256(body).hexdigest(), len(body))
        S.check(resp.status == 200 and want in resp.body.decode(),
                "an 8 KiB chunked body: %s %r, want %r" % (resp.status, resp.body[:120], want))
        bad = b"".join(b"200\r\n%s\r\n" % (b"x" * 512) for _ in range(4)) + b"zz\r\nxx\r\n"
        with RawConn(port=port) as c:
            c.send(request("POST", "/__sha256/bad", headers=["Transfer-Encoding: chunked"]) +
                   bad)
            resp = c.read_response()
            S.check(resp.status == 400, "a bad size line after 2 KiB: %s" % resp.status)
            S.check(c.wait_eof(3.0) in ("eof", "reset"), "the connection stayed open")
    finally:
        proc.stop(signal.SIGTERM, 5.0)


# The README's metric families ("Watching a cutover"); the guard's only with the guard loaded.
FAMILIES = ["strg_http_requests_total", "strg_http_requests_kernel_total",
            "strg_http_requests_fallback_total", "strg_http_received_bytes_total",
            "strg_http_sent_bytes_total", "strg_http_request_duration_seconds",
            "strg_connections_accepted_total", "strg_connections_open",
            "strg_upstream_connect_errors_total", "strg_upstream_connect_timeouts_total",
            "strg_upstream_response_timeouts_total", "strg_backend_up",
            "strg_backend_ejections_total", "strg_route_rollbacks_total",
            "strg_route_table_generation", "strg_build_info"]
XDP_FAMILIES = ["strg_xdp_packets_total", "strg_xdp_bytes_total", "strg_xdp_attached"]


def metric_sum(text, family, labels=""):
    total, seen = 0.0, False
    for m in re.finditer(r"^%s(\{[^}]*\})? (\S+)$" % re.escape(family), text, re.M):
        if labels in (m.group(1) or ""):
            total += float(m.group(2))
            seen = True
    return total if seen else None


def metric_families_count_what_happened(env):
    """Every metric family the README lists is on /metrics, with the figures of what the test
    did: requests and their bytes, connections accepted, a refused connect, a response timeout,
    a fallback, an ejection, a backend down, a route change (the table's generation)."""
    port, mport = 8180, 9940
    proc = own_strgd(env, "families", port, [
        "metrics %s:%d" % (h.HOST, mport), "pool gone 127.0.0.1:%d" % DEAD_PORT,
        "route /gone gone", "pool ej %s:%d" % (h.HOST, h.MODERN_PORT),
        "route /ej ej strip-prefix", "eject ej after 1 5xx",
        "down-hold 60000"])  # the refused backend stays down while the test looks
    import urllib.request

    def scrape():
        with urllib.request.urlopen("http://%s:%d/metrics" % (h.HOST, mport), timeout=5) as r:
            return r.read().decode()
    try:
        h.wait_port(mport, h.START_S, proc)
        gen0 = metric_sum(scrape(), "strg_route_table_generation")
        sent = received = 0
        for i in range(5):
            with RawConn(port=port) as c:
                data = request("GET", "/a/fam%d" % i)
                c.send(data)
                resp = c.read_response()
                S.check(resp.status == 200, "request %d: %s" % (i, resp.status))
                sent += len(data)
                received += len(resp.body)
        S.check(exchange(port, "/gone/1").status == 200, "the dead pool's fallback to legacy")
        S.check(exchange(port, "/__sleep/1500").status == 504, "timeout server: no 504")
        S.check(exchange(port, "/ej/__status/500").status == 500, "the 500 that ejects")
        S.check(ctl(port, "route", "set", "/v1/fam", "modern").returncode == 0, "route set")
        text = h.wait_until(lambda: (lambda t: t if metric_sum(t, "strg_backend_ejections_total")
                                     else None)(scrape()), 3.0) or scrape()
        missing = [f for f in FAMILIES + (XDP_FAMILIES if kernel_mode(env) else [])
                   if "# TYPE %s " % f not in text]
        S.check(not missing, "families missing from /metrics: %s" % missing)
        total = metric_sum(text, "strg_http_requests_total")
        S.check(total == 8, "strg_http_requests_total %s, the test sent 8 requests" % total)
        S.check(metric_sum(text, "strg_http_request_duration_seconds_count") == 8,
                "the duration histogram counted %s of 8" % metric_sum(
                    text, "strg_http_request_duration_seconds_count"))
        S.check(metric_sum(text, "strg_http_received_bytes_total") >= sent and
                metric_sum(text, "strg_http_sent_bytes_total") >= received,
                "bytes: received %s (sent at least %d), sent %s (received at least %d)" % (
                    metric_sum(text, "strg_http_received_bytes_total"), sent,
                    metric_sum(text, "strg_http_sent_bytes_total"), received))
        S.check(metric_sum(text, "strg_connections_accepted_total") >= 8,
                "connections accepted: %s" % metric_sum(text, "strg_connections_accepted_total"))
        S.check(metric_sum(text, "strg_upstream_connect_errors_total") >= 1,
                "a refused connect not counted")
        S.check(metric_sum(text, "strg_upstream_response_timeouts_total") == 1,
                "response timeouts: %s, want 1" % metric_sum(
                    text, "strg_upstream_response_timeouts_total"))
        S.check(metric_sum(text, "strg_http_requests_fallback_total") == 1,
                "fallbacks: %s, want 1" % metric_sum(text, "strg_http_requests_fallback_total"))
        S.check(metric_sum(text, "strg_backend_ejections_total") >= 1, "no ejection counted")
        S.check(metric_sum(text, "strg_backend_up", 'pool="gone"') == 0,
                "the dead backend is up: %s" % metric_sum(text, "strg_backend_up", 'pool="gone"'))
        S.check(metric_sum(text, "strg_route_table_generation") > gen0,
                "the route table's generation did not move on a change")
        S.check(metric_sum(text, "strg_build_info") == 1, "strg_build_info")
        S.check(metric_sum(text, "strg_http_requests_kernel_total") is not None,
                "no kernel total")
    finally:
        proc.stop(signal.SIGTERM, 5.0)


README_TESTS = [request_id_passes_through_or_is_made_up, fallback_pool_is_the_routes_choice,
                reload_dry_run_then_settings, chunked_body_over_body_buffer,
                metric_families_count_what_happened]
ONCE_TESTS = [drain_wait_runs_out, route_tripped_is_notified, no_bpf_privilege_runs_user_space,
              sigterm_gives_up_after_30s, counters_hold_1024_routes]
KERNEL_TESTS = [guard_limits_at_runtime_and_a_missing_interface]


def register(suite):
    """Both data paths (two workers) for the data path's promises; the ASan+UBSan user mode
    for those of the control plane; the guard's in kernel mode (it needs BPF)."""
    global S
    S = suite
    mode = os.environ.get("STRG_IT_MODE", "user")
    if os.environ.get("STRG_IT_PROXY", "strgd") != "strgd":
        return
    if mode in ("user", "kernel"):
        for fn in README_TESTS:
            suite.test(fn)
    if mode == "user":
        for fn in ONCE_TESTS:
            suite.test(fn)
    if mode == "kernel":
        for fn in KERNEL_TESTS:
            suite.test(fn)
