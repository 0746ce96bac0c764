# SPDX-License-Identifier: GPL-2.0-only
"""What both data paths must do alike when a backend or a client fails inside a request (user
and kernel modes, two workers). In kernel mode each failing request is the kernel's to carry (a
warm-up request first hands the connection over), and the test checks that it was.

- A backend that reads a request and closes: strgd's 502 at once, counted as 5xx, logged, and
  the request is not sent to a backend again (one has seen it).
- An upload in flight while its backend is drained or ejected completes (200, checksum right):
  a backend is let go between requests only.
- A body shorter than its Content-Length: 408 (a client fault), at timeout client.
- A client's pace never trips a route's rollback: latency runs from the end of the request to
  the response head, and client faults are not the pool's errors. strgd's own 504 records the
  time it waited.
"""

import hashlib
import json
import os
import re
import signal
import socket
import struct
import subprocess
import threading
import time

import harness as h
from harness import RawConn, request

B = h.backend  # tools/backend.py: the pattern /__bytes/N serves

S = None  # the suite module (Fail, check, expect_pool, backend_settled, ...), set by register()

SERVER_S = h.SERVER_TIMEOUT_MS / 1000.0
CLIENT_S = 1.0  # "timeout client" of the strgd instances below that set it
MIB = 1 << 20


def info(name, text):
    print("     %s: %s" % (name, text), flush=True)


def kernel_mode(env):
    return getattr(env.flavour, "mode", None) == "kernel"


def ctl(line, port):
    r = h.ctl_line(line, port=port)
    S.check(r.startswith("ok\n"), "%s: %s" % (line, r.strip()[:300]))
    return r[3:]


def spawn(env, tag, port, extra, environ=None):
    """A strgd of this test's own (the harness's pools and routes, plus extra lines; environ:
    variables added to its environment)."""
    proc = env.spawn_extra_proxy(tag, port, env=environ, extra=extra)
    S.check(h.wait_until(lambda: os.path.exists(h.control_path(port)), 5.0),
            "the strgd on port %d has no control socket" % port)
    return proc


def stats_row(port, route, pool):
    """strgctl stats -j of one route and pool (zeros when it has none yet)."""
    doc = json.loads(ctl("stats -j", port))
    for r in doc["routes"]:
        if r["route"] == route:
            for p in r["pools"]:
                if p["pool"] == pool:
                    return p
    return {"requests": 0, "kernel": 0, "status": {k: 0 for k in ("unknown", "1xx", "2xx",
                                                                   "3xx", "4xx", "5xx")},
            "latency_us_log2": [0] * 24, "p99_ms": None}


def grew(after, before, *keys):
    """after[keys] - before[keys], keys walking into nested dicts."""
    a, b = after, before
    for k in keys:
        a, b = a[k], b[k]
    return a - b


def route_json(port, route):
    for r in json.loads(ctl("route show -j", port))["routes"]:
        text = ("%s %s" % (",".join(r["methods"]), r["path"])).strip()
        if text == route:
            return r
    raise S.Fail("route show -j has no route %r" % route)


def warm(conn, tag):
    """Two requests to the modern pool: in kernel mode (splice always) the kernel then holds
    the connection with a modern backend connection, and carries its next modern request."""
    for i in range(2):
        path = "/v1/getMarketingEvents/%s-warm%d" % (tag, i)
        conn.send(request("GET", path))
        S.expect_pool(conn.read_response(), "modern", "warm-up GET %s" % path)


def expect_kernel_carried(env, before, after, what):
    if kernel_mode(env):
        S.check(grew(after, before, "kernel") == 1, "%s was not carried by the kernel (kernel "
                "+%d): the test did not reach the kernel path" % (what, grew(after, before,
                                                                           "kernel")))


def events_lines(env):
    try:
        with open(str(env.modern_log) + ".events") as f:
            return f.read().splitlines()
    except OSError:
        return []


def tag(prefix):
    return "%s-%d-%d" % (prefix, os.getpid(), int(time.monotonic() * 1000) % 100000)


# ---------------------------------------------------------------------------------------------
# A backend that reads the request and closes


def backend_reads_request_and_closes(env):
    """The backend reads a GET and closes without answering, on a connection strgd reused (in
    kernel mode: the kernel carried the request). strgd answers 502 at once (not after a
    timeout) and closes, counts it as the pool's 5xx and as a failed request of the backend
    ("eject modern after 1 5xx" ejects it), logs it (its log and the access log), and does not
    send the request again: the backend saw it once (README: never a request a backend may have
    seen)."""
    port = 8150
    alog = env.tmp / "drop-access.log"
    proc = spawn(env, "drop", port, ["route /__drop modern", "access-log %s" % alog,
                                     "eject modern after 1 5xx"])
    path = "/__drop/%s" % tag("d")
    try:
        with RawConn(port=port, timeout=10.0) as c:
            warm(c, "drop")
            before = stats_row(port, "/__drop", "modern")
            t0 = time.monotonic()
            c.send(request("GET", path))
            try:
                resp = c.read_response(timeout=8.0)
            except Exception as e:  # noqa: BLE001 (reported as the failure)
                raise S.Fail("GET %s: no answer within 8 s (%s: %s); strgd: %s" % (
                    path, type(e).__name__, e, proc.stderr_tail()))
            took = time.monotonic() - t0
            end = c.wait_eof(2.0)
        S.check(resp.status == 502 and resp.connection_close() and resp.pool() is None,
                "GET %s: %r, want strgd's 502 with Connection: close" % (path, resp))
        S.check(took < 0.9 * SERVER_S, "502 after %.2f s: want it at once, before any timeout "
                "(timeout server %.1f s)" % (took, SERVER_S))
        S.check(end in ("eof", "reset"), "connection open after the 502 (%s)" % end)
        after = stats_row(port, "/__drop", "modern")
        expect_kernel_carried(env, before, after, "GET %s" % path)
        S.check(grew(after, before, "requests") == 1 and
                grew(after, before, "status", "5xx") == 1,
                "counters: requests +%d, 5xx +%d, want +1 each" % (
                    grew(after, before, "requests"), grew(after, before, "status", "5xx")))
        S.check(h.wait_until(lambda: "closed without answering" in proc.stderr_text(), 2.0),
                "no 'closed without answering' line in strgd's log: %s" % proc.stderr_tail())
        S.check(re.search(r"backend 127\.0\.0\.1:%d of pool modern ejected: .*closed without "
                          r"answering" % h.MODERN_PORT, proc.stderr_text()),
                "the backend was not ejected (eject modern after 1 5xx): %s" % (
                    proc.stderr_tail()))
        logged = h.wait_until(lambda: alog.exists() and re.search(
            r"GET %s 502 " % re.escape(path), alog.read_text()), 2.0)
        S.check(logged, "no access-log line 'GET %s 502': %r" % (
            path, alog.read_text()[-300:] if alog.exists() else "(no file)"))
        seen = [line for line in S.backend_settled(env.modern_log_lines)
                if line == "GET %s" % path]
        S.check(len(seen) == 1, "the backend received GET %s %d times, want once: a request "
                "a backend has seen is not retried" % (path, len(seen)))
    finally:
        proc.stop(signal.SIGTERM, 3.0)
    info("backend_reads_request_and_closes", "502 after %.3f s, counted, logged, sent once" %
         took)


class ClosingBackend:
    """A backend that answers each request on a connection with keep-alive, and closes its
    first connection IDLE_S after its first answer (a short keep-alive timeout). It records
    each request line with the connection's number."""

    IDLE_S = 0.2

    def __init__(self, port):
        self.lsock = socket.create_server((h.HOST, port))
        self.lsock.settimeout(0.2)
        self.seen = []  # (connection number, request line)
        self.stop_ev = threading.Event()
        self.thread = threading.Thread(target=self.accept_loop)
        self.thread.start()

    def accept_loop(self):
        n = 0
        while not self.stop_ev.is_set():
            try:
                sock, _ = self.lsock.accept()
            except socket.timeout:
                continue
            n += 1
            threading.Thread(target=self.serve, args=(sock, n), daemon=True).start()

    def serve(self, sock, n):
        buf = b""
        sock.settimeout(10.0)
        try:
            while not self.stop_ev.is_set():
                while b"\r\n\r\n" not in buf:
                    data = sock.recv(4096)
                    if not data:
                        return
                    buf += data
                head, _, buf = buf.partition(b"\r\n\r\n")
                line = head.split(b"\r\n")[0].decode("latin-1")
                self.seen.append((n, line))
                body = ("modern %s\n" % line).encode()
                sock.sendall(b"HTTP/1.1 200 OK\r\nX-Pool: modern\r\nContent-Length: %d\r\n"
                             b"\r\n%s" % (len(body), body))
                if n == 1:
                    time.sleep(self.IDLE_S)
                    return  # the keep-alive timeout: closed while idle
        except OSError:
            pass
        finally:
            sock.close()

    def close(self):
        self.stop_ev.set()
        self.thread.join(5)
        self.lsock.close()


def nft(*args):
    return subprocess.run(["nft"] + list(args), capture_output=True, text=True, timeout=10)


def closed_keepalive_connection_is_retried(env):
    """The backend closes a kept-alive connection (keep-alive timeout 0.2 s) and its FIN is
    held back (nftables), so strgd does not see it before reusing the connection: the request
    meets a closed socket, which resets it without acknowledging any of it. No byte reached
    the backend: in user space the GET goes again on a new connection and is answered 200 (the
    backend saw it once). The kernel path keeps no copy of what it forwards: strgd answers
    502 at once (README, "Retries")."""
    bport, port = 9161, 8155
    be = ClosingBackend(bport)
    proc = None
    r = nft("add", "table", "inet", "strgretry")
    S.check(r.returncode == 0, "nft: %s" % r.stderr.strip())
    try:
        nft("add", "chain", "inet", "strgretry", "out",
            "{ type filter hook output priority 0 ; }")
        r = nft("add", "rule", "inet", "strgretry", "out", "tcp", "sport", str(bport),
                "tcp", "flags", "&", "fin", "==", "fin", "drop")
        S.check(r.returncode == 0, "nft rule: %s" % r.stderr.strip())
        proc = env.spawn_extra_proxy("retry", port, modern=(bport,))
        path = "/v1/getMarketingEvents/%s" % tag("r")
        with RawConn(port=port, timeout=8.0) as c:
            c.send(request("GET", "/v1/getMarketingEvents/first"))
            S.expect_pool(c.read_response(), "modern", "the first request")
            time.sleep(ClosingBackend.IDLE_S * 2)  # the backend closed; strgd saw no FIN
            c.send(request("GET", path))
            resp = c.read_response(timeout=6.0)
        got = [conn for conn, line in be.seen if line == "GET %s HTTP/1.1" % path]
        if kernel_mode(env):
            S.check(resp.status == 502, "kernel-carried GET on a closed connection: %r, want "
                    "strgd's 502" % resp)
            S.check(not got, "the backend saw the request %d times, want never" % len(got))
        else:
            S.check(resp.status == 200 and resp.pool() == "modern",
                    "GET on a kept-alive connection the backend had closed: %r, want 200 "
                    "(retried: no byte of it reached the backend)" % resp)
            S.check(len(got) == 1 and got[0] != 1, "the backend saw the request on "
                    "connections %r, want once, on a new one" % got)
    finally:
        if proc:
            proc.stop(signal.SIGTERM, 3.0)
        nft("delete", "table", "inet", "strgretry")
        be.close()
    info("closed_keepalive_connection_is_retried", "%s" % (
        "kernel path: 502" if kernel_mode(env) else "retried on a new connection: 200"))


# ---------------------------------------------------------------------------------------------
# Uploads while their backend is let go


def upload_body(n, skip):
    data = h.backend.pattern_at(skip, n)
    return data, "sha256=%s len=%d\n" % (hashlib.sha256(data).hexdigest(), n)


def upload_while(env, port, what, let_go, restore):
    """A 4 MiB POST on a warm connection: a quarter, then let_go() (the backend stops serving),
    then the rest in three pieces 0.3 s apart (the upload outlasts timeout server). The
    backend must answer with the body's checksum, and the next request of the connection
    must not go to that backend."""
    n = 4 * MIB
    body, want = upload_body(n, 777)
    path = "/__sha256?%s" % tag(what)
    ev_start = len(events_lines(env))
    with RawConn(port=port, timeout=10.0) as c:
        warm(c, what)
        before = stats_row(port, "/__sha256", "modern")
        c.send(request("POST", path, headers=["Content-Length: %d" % n]) + body[:MIB])
        time.sleep(0.3)
        let_go()
        time.sleep(0.4)  # a few ticks: connections let go of a backend that stops serving
        for i in range(3):
            c.send(body[MIB + i * MIB:2 * MIB + i * MIB])
            time.sleep(0.3)
        try:
            resp = c.read_response(timeout=10.0)
        except Exception as e:  # noqa: BLE001
            raise S.Fail("%s: no answer to the upload (%s: %s)" % (what, type(e).__name__, e))
        after = stats_row(port, "/__sha256", "modern")
        S.check(resp.status == 200 and resp.body.decode("latin-1") == want,
                "%s mid-upload: %r, want 200 %r" % (what, resp, want.strip()))
        expect_kernel_carried(env, before, after, "the upload (%s)" % what)
        # The connection's next request: that backend no longer serves (modern has no other),
        # so the route falls through to legacy.
        c.send(request("GET", "/v1/getMarketingEvents/%s-next" % what))
        nxt = c.read_response()
        S.check(nxt.status == 200 and nxt.pool() == "legacy",
                "%s: the next request went to %s (%d), want legacy: the backend that stopped "
                "serving was not let go after the upload" % (what, nxt.pool(), nxt.status))
    restore()
    cut = [line for line in events_lines(env)[ev_start:] if "body cut" in line]
    S.check(not cut, "%s: the backend saw the upload cut: %r" % (what, cut))


def upload_survives_drain_and_eject(env):
    """A kernel-carried (in user mode: strgd-carried) upload goes on while its backend is
    drained, then while it is ejected (a 500 with "eject after 1 5xx"): 200 with the right
    checksum both times, and the connection's next request goes elsewhere."""
    port = 8151
    be = "%s:%d" % (h.HOST, h.MODERN_PORT)
    proc = spawn(env, "upload", port, [
        "eject modern after 1 5xx",
        "health modern http /__status/200 interval 1s timeout 500ms rise 3 fall 3"])

    def healthy():
        pools = json.loads(ctl("pool show -j", port))["pools"]
        b = [b for p in pools if p["name"] == "modern" for b in p["backends"]][0]
        return b["state"] == "ready" and b["healthy"]

    def eject():
        with RawConn(port=port) as d:
            d.send(request("GET", "/__status/500"))
            S.check(d.read_response().status == 500, "the 500 that ejects the backend")
        S.check(h.wait_until(lambda: not healthy(), 1.0), "the 500 did not eject %s" % be)

    try:
        S.check(h.wait_until(healthy, 5.0), "modern's backend never became healthy")
        upload_while(env, port, "drain",
                     lambda: ctl("backend set modern %s state drain --force" % be, port),
                     lambda: ctl("backend set modern %s state ready" % be, port))
        upload_while(env, port, "eject", eject,
                     lambda: S.check(h.wait_until(healthy, 6.0), "not admitted again"))
    finally:
        h.ctl_line("backend set modern %s state ready" % be, port=port)
        proc.stop(signal.SIGTERM, 3.0)
    info("upload_survives_drain_and_eject", "4 MiB uploads finished through a drain and an "
         "ejection (200, checksum right)")


# ---------------------------------------------------------------------------------------------
# Client faults


def short_body(conn, path, sent=50, length=100):
    conn.send(request("POST", path, headers=["Content-Length: %d" % length]) + b"s" * sent)


def short_body_gets_408(env):
    """A POST announcing Content-Length: 100 and sending 50 bytes gets 408 (a client fault) at
    timeout client (1 s here), counted as 4xx and not as 5xx; the backend saw the body cut."""
    port = 8152
    proc = spawn(env, "short", port, ["timeout client %dms" % (CLIENT_S * 1000)])
    path = "/__sha256?%s" % tag("short")
    ev_start = len(events_lines(env))
    try:
        with RawConn(port=port, timeout=10.0) as c:
            warm(c, "short")
            before = stats_row(port, "/__sha256", "modern")
            t0 = time.monotonic()
            short_body(c, path)
            try:
                resp = c.read_response(timeout=8.0)
            except Exception as e:  # noqa: BLE001
                raise S.Fail("no answer within 8 s (%s: %s)" % (type(e).__name__, e))
            took = time.monotonic() - t0
            end = c.wait_eof(2.0)
        after = stats_row(port, "/__sha256", "modern")
        S.check(resp.status == 408 and resp.connection_close(),
                "50 of 100 body bytes: %r after %.1f s, want 408 and close" % (resp, took))
        S.check(0.9 * CLIENT_S <= took <= 3 * CLIENT_S + 0.5,
                "408 after %.1f s, want at timeout client (%.1f s)" % (took, CLIENT_S))
        S.check(end in ("eof", "reset"), "connection open after the 408 (%s)" % end)
        expect_kernel_carried(env, before, after, "the short POST")
        S.check(grew(after, before, "status", "4xx") == 1 and
                grew(after, before, "status", "5xx") == 0,
                "counted 4xx +%d, 5xx +%d, want +1 and +0" % (
                    grew(after, before, "status", "4xx"), grew(after, before, "status", "5xx")))
        cut = h.wait_until(lambda: [line for line in events_lines(env)[ev_start:]
                                    if "body cut: POST %s after 50 of 100" % path in line], 2.0)
        S.check(cut, "the backend did not see the body end after 50 of 100 bytes: %r" % (
            events_lines(env)[ev_start:][-5:]))
    finally:
        proc.stop(signal.SIGTERM, 3.0)
    info("short_body_gets_408", "408 after %.2f s (timeout client %.1f s)" % (took, CLIENT_S))


def in_threads(n, fn):
    """fn(i) in n threads at once; the exceptions they raised, as text."""
    errors = []

    def run(i):
        try:
            fn(i)
        except Exception as e:  # noqa: BLE001 (collected)
            errors.append("%d: %s: %s" % (i, type(e).__name__, e))
    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return errors


def rollback_figures(port, route):
    r = route_json(port, route)
    return r["tripped"], (r.get("trip") or {}).get("figures")


def client_pace_never_trips_rollback(env):
    """A route with "rollback 20% p99 500": 25 uploads that trickle 10 bytes over 1.5 s each
    (the backend answers in a millisecond once it has them) leave its p99 far below 500 ms;
    then 6 short bodies (408) and 2 uploads the client abandons (counted at once, with no
    status) are not the pool's errors. The route never trips."""
    port = 8153
    route = "POST /__sha256"
    proc = spawn(env, "pace", port, [
        "timeout client %dms" % (CLIENT_S * 1000),
        "route %s modern rollback 20%% p99 500 window 10s min 5" % route])
    try:
        def trickle(i):
            body = b"0123456789"
            with RawConn(port=port, timeout=10.0) as c:
                warm(c, "pace%d" % i)
                c.send(request("POST", "/__sha256?pace%d" % i,
                               headers=["Content-Length: %d" % len(body)]))
                for b in body:
                    time.sleep(0.15)
                    c.send(bytes([b]))
                resp = c.read_response(timeout=5.0)
                want = "sha256=%s len=10\n" % hashlib.sha256(body).hexdigest()
                S.check(resp.status == 200 and resp.body.decode() == want, "%r" % resp)

        base = stats_row(port, route, "modern")
        errors = in_threads(25, trickle)
        S.check(not errors, "trickled uploads failed: %s" % "; ".join(errors[:3]))
        time.sleep(1.5)  # rollback looks every tick
        row = stats_row(port, route, "modern")
        tripped, figures = rollback_figures(port, route)
        S.check(not tripped, "25 slow uploads tripped the route: %s" % figures)
        S.check(grew(row, base, "requests") == 25, "requests +%d, want 25" % grew(
            row, base, "requests"))
        # 25 requests: too few for a p99 (quantile.h), enough for a p90.
        S.check(row["p90_ms"] is not None and row["p90_ms"] < 100,
                "p90 %s ms for uploads the backend answered at once: the client's pace is in "
                "the latency" % row["p90_ms"])
        p99 = row["p90_ms"]

        def fault(i):
            with RawConn(port=port, timeout=10.0) as c:
                warm(c, "fault%d" % i)
                short_body(c, "/__sha256?fault%d" % i)
                if i >= 6:
                    return  # abandoned: the connection closes with the body half sent
                resp = c.read_response(timeout=8.0)
                S.check(resp.status == 408, "short body %d: %r, want 408" % (i, resp))

        errors = in_threads(8, fault)
        S.check(not errors, "short bodies: %s" % "; ".join(errors[:3]))
        time.sleep(1.5)
        after = stats_row(port, route, "modern")
        tripped, figures = rollback_figures(port, route)
        S.check(grew(after, row, "status", "5xx") == 0,
                "client faults counted as the pool's 5xx: +%d" % grew(after, row, "status",
                                                                     "5xx"))
        S.check(grew(after, row, "status", "4xx") == 6, "4xx +%d, want 6 (the 408s)" % grew(
            after, row, "status", "4xx"))
        S.check(grew(after, row, "status", "unknown") == 2,
                "status unknown +%d, want 2: the abandoned uploads end (and are counted) when "
                "their client leaves" % grew(after, row, "status", "unknown"))
        S.check(not tripped, "client faults tripped the route: %s" % figures)
    finally:
        proc.stop(signal.SIGTERM, 3.0)
    info("client_pace_never_trips_rollback", "25 slow uploads: p90 %.2f ms; 6 x 408 and 2 "
         "abandoned uploads: no 5xx, not tripped" % p99)


def own_504_records_time_waited(env):
    """strgd's own 504 (the backend silent past timeout server, 1 s) is recorded with the time
    strgd waited, not 0: its latency bucket lies between half the timeout and four times it."""
    port = 8154
    proc = spawn(env, "wait504", port, [])
    try:
        with RawConn(port=port, timeout=10.0) as c:
            for i in range(2):  # hands the connection, with a modern backend, to the kernel
                c.send(request("GET", "/__sleep/0/w%d" % i))
                S.expect_pool(c.read_response(), "modern", "warm-up %d" % i)
            before = stats_row(port, "/__sleep", "modern")
            c.send(request("GET", "/__sleep/5000"))
            resp = c.read_response(timeout=8.0)
        S.check(resp.status == 504, "silent backend: %r, want 504" % resp)
        after = stats_row(port, "/__sleep", "modern")
        expect_kernel_carried(env, before, after, "GET /__sleep/5000")
        new = [b for b in range(24) for _ in range(
            after["latency_us_log2"][b] - before["latency_us_log2"][b])]
        S.check(len(new) == 1, "latency buckets of the 504: %r, want one" % new)
        # Bucket b holds [2^(b-1), 2^b) microseconds.
        lo, hi = (1 << (new[0] - 1)) / 1e6 if new[0] else 0.0, (1 << new[0]) / 1e6
        S.check(lo >= SERVER_S / 2 and hi <= SERVER_S * 4.2,
                "the 504 was recorded with a latency in [%.6f, %.6f) s, want about timeout "
                "server (%.1f s)" % (lo, hi, SERVER_S))
    finally:
        proc.stop(signal.SIGTERM, 3.0)
    info("own_504_records_time_waited", "504 recorded in [%.3f, %.3f) s" % (lo, hi))


# ---------------------------------------------------------------------------------------------
# Bulk bodies through a pipe (limit splice-body)


def piped_bytes(port):
    """Response body bytes the strgd on port spliced through pipes, all workers."""
    return sum(w["piped_bytes"] for w in json.loads(ctl("stats -j", port))["workers"])


def curl_body_sha(port, path):
    """GET path from the strgd on port with curl: (curl's exit, sha256, bytes)."""
    p = subprocess.run(["curl", "-sS", "--max-time", "60", h.url(path, port)],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    S.check(p.returncode == 0, "GET %s: curl exit %d: %s" % (
        path, p.returncode, p.stderr.decode(errors="replace").strip()[-200:]))
    return hashlib.sha256(p.stdout).hexdigest(), len(p.stdout)


def bulk_bodies_go_through_a_pipe(env):
    """With the default limit splice-body (128 KiB), a response body with that much to come
    after strgd's first read moves backend -> pipe -> client (stats -j: piped_bytes): the 100 MiB
    file and a 300 000-byte body arrive byte-exact, the connection carries the next request,
    a 100 000-byte body is copied as before; with limit splice-body 0 nothing is piped and the
    bodies are the same; an 8 MiB body to a client that reads nothing for a second arrives
    whole. Every worker's ring runs single-issuer, defer-taskrun and splice."""
    port, plain = 8185, 8186
    procs = [spawn(env, "pipe", port, []), spawn(env, "nopipe", plain, ["limit splice-body 0"])]
    try:
        workers = json.loads(ctl("stats -j", port))["workers"]
        for w in workers:
            feats = w["ring"].split(",")
            S.check(all(f in feats for f in ("single-issuer", "defer-taskrun", "splice")),
                    "worker %d's ring runs with %r" % (w["worker"], w["ring"]))
        before = piped_bytes(port)
        got = curl_body_sha(port, "/big.bin")
        S.check(got == (env.big_sha(), h.BIG_SIZE), "the 100 MiB file came as %d bytes, "
                "sha256 %s" % (got[1], "right" if got[0] == env.big_sha() else "WRONG"))
        big = piped_bytes(port) - before
        S.check(big >= h.BIG_SIZE - MIB, "%d of its bytes went through a pipe, want all but "
                "strgd's first read" % big)
        for n, piped in ((300000, True), (100000, False)):
            with RawConn(port=port) as c:
                for i in range(2):  # the connection carries the next request too
                    mark = piped_bytes(port)
                    c.send(request("GET", "/__bytes/%d" % n))
                    resp = c.read_response(timeout=10.0)
                    S.check(resp.status == 200 and resp.body == B.pattern_at(0, n),
                            "GET /__bytes/%d (request %d on the connection): %d %d bytes, %s" % (
                                n, i + 1, resp.status, len(resp.body),
                                "the pattern" if resp.body == B.pattern_at(0, n) else
                                "NOT the pattern"))
                    moved = piped_bytes(port) - mark
                    S.check((moved > 0) == piped or (i and kernel_mode(env)),
                            "GET /__bytes/%d: %d bytes piped, want %s" % (
                                n, moved, "some" if piped else "none"))
            with RawConn(port=plain) as c:
                c.send(request("GET", "/__bytes/%d" % n))
                resp = c.read_response(timeout=10.0)
                S.check(resp.status == 200 and resp.body == B.pattern_at(0, n),
                        "limit splice-body 0: GET /__bytes/%d: %d, %d bytes" % (
                            n, resp.status, len(resp.body)))
        S.check(piped_bytes(plain) == 0, "limit splice-body 0 piped %d bytes" %
                piped_bytes(plain))
        # A client that reads nothing for a while: the splice out finds its socket full and
        # waits for it (a poll), then the rest comes whole.
        n = 8 * MIB
        with RawConn(port=port, timeout=20.0) as c:
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            c.send(request("GET", "/__bytes/%d" % n))
            time.sleep(1.0)
            resp = c.read_response(timeout=20.0)
            S.check(resp.status == 200 and resp.body == B.pattern_at(0, n),
                    "a client that paused 1 s: GET /__bytes/%d: %d, %d bytes, %s" % (
                        n, resp.status, len(resp.body),
                        "the pattern" if resp.body == B.pattern_at(0, n) else "NOT the pattern"))
        info("bulk_bodies_go_through_a_pipe", "100 MiB: %d bytes piped; rings: %s" % (
            big, workers[0]["ring"]))
    finally:
        for p in procs:
            p.stop(signal.SIGTERM, 10.0)


def io_uring_features_turned_off_fall_back(env):
    """STRG_IO_URING_OFF=single-issuer,registered-fd,splice: the workers' rings run with what is
    left (coop-taskrun, stats -j and the start line say so), and the data path is the same: a
    3 000 000-byte body and small requests on one keep-alive connection arrive exact, nothing
    goes through a pipe. A word that names no feature stops the start with a one-line error."""
    port = 8189
    proc = spawn(env, "plainring", port, [],
                 {"STRG_IO_URING_OFF": "single-issuer,registered-fd,splice"})
    try:
        rings = [w["ring"] for w in json.loads(ctl("stats -j", port))["workers"]]
        S.check(rings and all(r == "coop-taskrun" for r in rings),
                "the workers' rings run with %r, want coop-taskrun alone" % rings)
        with RawConn(port=port) as c:
            for n in (3000000, 10, 300000):
                c.send(request("GET", "/__bytes/%d" % n))
                resp = c.read_response(timeout=10.0)
                S.check(resp.status == 200 and resp.body == B.pattern_at(0, n),
                        "GET /__bytes/%d: %d, %d bytes" % (n, resp.status, len(resp.body)))
        S.check(piped_bytes(port) == 0, "%d bytes piped with splice off" % piped_bytes(port))
        S.check("io_uring: coop-taskrun" in proc.err_path.read_text(errors="replace"),
                "no start line 'io_uring: coop-taskrun'")
    finally:
        proc.stop(signal.SIGTERM, 10.0)
    cfg = env.tmp / "badring.conf"
    cfg.write_text(env.flavour.config(listen_port=port))
    r = subprocess.run(env.flavour.argv(cfg), env=dict(os.environ, STRG_IO_URING_OFF="turbo"),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20)
    err = r.stderr.decode(errors="replace")
    S.check(r.returncode != 0 and "STRG_IO_URING_OFF=turbo: names no io_uring feature" in err,
            "STRG_IO_URING_OFF=turbo: exit %d, %r" % (r.returncode, err[-300:]))


def stalling_backend(port, sent, stop):
    """One connection's backend: a head saying 10 MB, 200 000 bytes of them, then silence."""
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((h.HOST, port))
    ls.listen(4)
    ls.settimeout(10.0)
    try:
        conn, _ = ls.accept()
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 10000000\r\n\r\n" +
                     B.pattern_at(0, 200000))
        sent.set()
        stop.wait(15.0)
        conn.close()
    except OSError:
        pass
    finally:
        ls.close()


def open_connections(port):
    return sum(w["connections"] for w in json.loads(ctl("stats -j", port))["workers"])


def piped_body_cut_by_either_side(env):
    """A body going through a pipe ends cleanly whichever side cuts it: a client that resets
    after 1 MiB of the 100 MiB file, and a backend that falls silent inside its body (timeout
    server, 1 s: the client sees the end within 3 s). Either way strgd lets go of the
    connection (stats -j: no connection left), and stops cleanly afterwards (the audit)."""
    port, be_port = 8187, 8188
    proc = spawn(env, "pipecut", port, ["pool stall 127.0.0.1:%d" % be_port,
                                        "route /stall stall"])
    stop, sent = threading.Event(), threading.Event()
    t = threading.Thread(target=stalling_backend, args=(be_port, sent, stop), daemon=True)
    t.start()
    try:
        with RawConn(port=port, timeout=10.0) as c:
            c.send(request("GET", "/big.bin"))
            got = 0
            while got < MIB:
                got += len(c.sock.recv(65536))
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        with RawConn(port=port, timeout=10.0) as c:
            c.send(request("GET", "/stall"))
            S.check(sent.wait(5.0), "the stalling backend got no request")
            t0 = time.monotonic()
            data, n = b"", 0
            while True:
                piece = c.sock.recv(65536)
                if not piece:
                    break
                data += piece
            took = time.monotonic() - t0
            head, _, body = data.partition(b"\r\n\r\n")
            S.check(body == B.pattern_at(0, 200000), "/stall: %d body bytes, want the 200000 "
                    "the backend sent" % len(body))
            S.check(took < 3.0, "/stall: the connection ended %.1f s after the backend fell "
                    "silent (timeout server 1 s)" % took)
        S.check(h.wait_until(lambda: open_connections(port) == 0, 5.0),
                "strgd still holds %d connections 5 s after both were cut" %
                open_connections(port))
        S.check(piped_bytes(port) > 0, "nothing went through a pipe")
    finally:
        stop.set()
        t.join(5.0)
        proc.stop(signal.SIGTERM, 10.0)


DATAPATH_TESTS = [
    backend_reads_request_and_closes,
    closed_keepalive_connection_is_retried,
    upload_survives_drain_and_eject,
    short_body_gets_408,
    client_pace_never_trips_rollback,
    own_504_records_time_waited,
    bulk_bodies_go_through_a_pipe,
    piped_body_cut_by_either_side,
    io_uring_features_turned_off_fall_back,
]


def register(suite):
    """Add the tests to the suite (two-worker modes: both data paths once each)."""
    global S
    S = suite
    for fn in DATAPATH_TESTS:
        suite.test(fn)
