# SPDX-License-Identifier: GPL-2.0-only
"""Hardening tests of the strg end-to-end suite (user and kernel modes, two workers).

- Malformed chunked request bodies, as first and as later request on a keep-alive connection:
  strgd's 400, a closed connection, and nothing in the backend's log.
- Slow clients: a head dribbled byte by byte gets 408 at timeout head; 1 100 slow connections
  against a strgd limited to 1 024 descriptors are shed while a client loop keeps being served;
  slowhttptest in slow-headers and slow-body modes.
- Bounded resources: interim responses per request, backend connections closed when idle,
  connections per source address.
"""

import hashlib
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import threading
import time

import harness as h
from harness import RawConn, request

S = None  # the suite module, set by register()


def info(name, text):
    print("     %s: %s" % (name, text), flush=True)


# Each case: a body that breaks the chunked framing (RFC 9112, 7.1).
BAD_CHUNKS = [
    ("bad digit", b"5g\r\nhello\r\n0\r\n\r\n"),
    ("0x prefix", b"0x5\r\nhello\r\n0\r\n\r\n"),
    ("plus sign", b"+5\r\nhello\r\n0\r\n\r\n"),
    ("overflow", b"ffffffffffffffffff\r\nhello\r\n0\r\n\r\n"),
    ("bare LF", b"5\nhello\r\n0\r\n\r\n"),
    ("bare CR", b"5\rhello\r\n0\r\n\r\n"),
    ("longer than its size", b"3\r\nhello\r\n0\r\n\r\n"),
    ("empty size line", b"\r\nhello\r\n0\r\n\r\n"),
]


def chunked_post(path, body):
    return (b"POST " + path.encode() + b" HTTP/1.1\r\nHost: h\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n" + body)


def malformed_chunked_never_reaches_backend(env):
    """Each malformed chunked body, as the first request of a connection and as a later one on
    a kept-alive connection: 400, the connection closed, and no line in the backend's log."""
    tag = "mc%d" % os.getpid()
    sent = []
    for i, (what, body) in enumerate(BAD_CHUNKS):
        for later in (False, True):
            path = "/__sha256/%s-%d-%s" % (tag, i, "later" if later else "first")
            sent.append(path)
            with RawConn() as c:
                if later:  # a good request first: in kernel mode the kernel then holds it
                    for j in range(2):
                        c.send(request("GET", "/__sha256/%s-warm-%d-%d" % (tag, i, j)))
                        S.check(c.read_response().status == 200, "warm-up request failed")
                c.send(chunked_post(path, body))
                resp = c.read_response()
                S.check(resp.status == 400 and resp.connection_close(),
                        "%s (%s request): %r, want 400 with Connection: close" % (
                            what, "later" if later else "first", resp))
                S.check(c.wait_eof(2.0) in ("eof", "reset"),
                        "%s: connection open after the 400" % what)
    time.sleep(0.2)
    seen = [line for line in env.modern_log_lines() if tag in line and "warm" not in line]
    S.check(not seen, "the backend saw refused requests: %r" % seen[:5])
    info("malformed_chunked_never_reaches_backend", "%d cases x first/later: 400, closed, "
         "none reached the backend" % len(BAD_CHUNKS))


def head_deadline_beats_dribbling(env):
    """A head sent one byte every 300 ms gets 408 at timeout head (2 s here), although every
    byte comes well within timeout client."""
    port = 8140
    proc = env.spawn_extra_proxy("headdl", port, extra=["timeout head 2s", "timeout client 5s"])
    try:
        head = b"GET /a/slow HTTP/1.1\r\nHost: h\r\nX-Pad: " + b"x" * 200
        with RawConn(port=port, timeout=10.0) as c:
            t0 = time.monotonic()
            for b in head:
                readable, _, _ = select.select([c.sock], [], [], 0.3)
                if readable or time.monotonic() - t0 > 6:
                    break
                c.send(bytes([b]))
            took = time.monotonic() - t0
            resp = c.read_response(timeout=5.0)
        S.check(resp.status == 408 and resp.connection_close(),
                "dribbled head: %r after %.1f s, want 408 and close" % (resp, took))
        S.check(1.8 <= took <= 2.8, "408 after %.1f s, want at timeout head (2 s)" % took)
    finally:
        proc.stop(signal.SIGTERM, 3.0)
    info("head_deadline_beats_dribbling", "408 after %.1f s of a byte every 300 ms" % took)


def client_loop(port, stop, counts):
    """Whole requests on fresh connections, as fast as they go, until stop."""
    while not stop.is_set():
        try:
            with RawConn(port=port, timeout=3.0) as c:
                c.send(request("GET", "/a/loop", headers=["Connection: close"]))
                resp = c.read_response(timeout=3.0)
                counts["ok" if resp.status == 200 else "bad"] += 1
        except (OSError, h.ProtocolError):
            counts["failed"] += 1
            time.sleep(0.01)


def slowloris_with_few_descriptors(env):
    """1 100 slow connections (a byte of a head every second) against a strgd that may open
    1 024 descriptors: they are shed and closed by timeout head, and a client sending whole
    requests meanwhile keeps being served."""
    port = 8141
    cfg = env.tmp / "slowloris.conf"
    cfg.write_text(env.flavour.config(listen_port=port, extra=["timeout head 3s"]))
    argv = ["prlimit", "--nofile=1024:1024"] + env.flavour.argv(cfg)
    proc = env.spawn("strgd-slowloris", argv)
    h.wait_port(port, 5.0, proc)
    stop = threading.Event()
    counts = {"ok": 0, "bad": 0, "failed": 0}
    loop = threading.Thread(target=client_loop, args=(port, stop, counts))
    slow, closed = [], 0
    try:
        loop.start()
        for _ in range(1100):
            try:
                s = socket.create_connection((h.HOST, port), timeout=2.0)
                s.send(b"G")
                slow.append(s)
            except OSError:
                pass
        t_end = time.monotonic() + 6.0
        while time.monotonic() < t_end:
            for s in slow:
                try:
                    s.send(b"E")
                except OSError:
                    pass
            time.sleep(1.0)
        for s in slow:
            s.settimeout(0.01)
            try:
                closed += 1 if s.recv(4096) is not None else 0
            except socket.timeout:
                pass
            except OSError:
                closed += 1
        during = dict(counts)
    finally:
        stop.set()
        loop.join(10)
        for s in slow:
            s.close()
        proc.stop(signal.SIGTERM, 3.0)
    S.check(closed >= len(slow) * 0.95, "%d of %d slow connections closed within 6 s" % (
        closed, len(slow)))
    S.check(during["ok"] >= 100 and during["ok"] > 5 * (during["bad"] + during["failed"]),
            "the client loop: %r" % during)
    info("slowloris_with_few_descriptors", "%d slow connections opened, %d closed; meanwhile "
         "%d whole requests served, %d failed" % (len(slow), closed, during["ok"],
                                                  during["bad"] + during["failed"]))


def body_deadline_beats_dribbling(env):
    """A request body sent 10 bytes every 300 ms gets 408 soon after timeout body (2 s here,
    plus a second per 500 bytes received), although every byte comes well within timeout
    client; an upload that keeps the rate (10 KB/s for 3 s) is carried whole."""
    port = 8144
    proc = env.spawn_extra_proxy("bodydl", port, extra=["timeout body 2s", "limit body-rate 500",
                                                        "timeout client 5s"])
    try:
        head = (b"POST /__sha256?t=slowbody HTTP/1.1\r\nHost: h\r\n"
                b"Content-Length: 100000\r\n\r\n")
        with RawConn(port=port, timeout=10.0) as c:
            c.send(head)
            t0 = time.monotonic()
            while time.monotonic() - t0 < 8:
                readable, _, _ = select.select([c.sock], [], [], 0.3)
                if readable:
                    break
                c.send(b"x" * 10)
            took = time.monotonic() - t0
            resp = c.read_response(timeout=5.0)
        S.check(resp.status == 408 and resp.connection_close(),
                "dribbled body: %r after %.1f s, want 408 and close" % (resp, took))
        S.check(1.9 <= took <= 3.0, "408 after %.1f s, want at timeout body (2 s + ~0.2 s)"
                % took)
        body = b"y" * 30000
        with RawConn(port=port, timeout=10.0) as c:
            c.send(b"POST /__sha256?t=steadybody HTTP/1.1\r\nHost: h\r\n"
                   b"Content-Length: %d\r\n\r\n" % len(body))
            t1 = time.monotonic()
            for off in range(0, len(body), 1000):
                c.send(body[off:off + 1000])
                time.sleep(0.1)
            steady = c.read_response(timeout=5.0)
            spent = time.monotonic() - t1
        S.check(steady.status == 200 and hashlib.sha256(body).hexdigest().encode() in steady.body,
                "steady upload over %.1f s: %r" % (spent, steady))
    finally:
        proc.stop(signal.SIGTERM, 3.0)
    info("body_deadline_beats_dribbling", "408 after %.1f s of 10 bytes every 300 ms; a %.1f s "
         "upload at 10 KB/s carried whole" % (took, spent))


def slowhttptest_modes(env):
    """slowhttptest in slow-headers and slow-body modes against strgd (timeout head 3s): its
    connections are closed at their deadline and a parallel client loop keeps succeeding."""
    tool = shutil.which("slowhttptest")
    if not tool:
        raise S.Fail("slowhttptest not installed (tools/deps test installs it)")
    port = 8142
    proc = env.spawn_extra_proxy("slowhttp", port, extra=["timeout head 3s",
                                                          "timeout body 3s",
                                                          "timeout client 3s"])
    results = []
    try:
        for mode, flags in (("slow headers", ["-H"]), ("slow body", ["-B"])):
            stop = threading.Event()
            counts = {"ok": 0, "bad": 0, "failed": 0}
            loop = threading.Thread(target=client_loop, args=(port, stop, counts))
            loop.start()
            out = env.tmp / ("slowhttptest-%s" % mode.replace(" ", "-"))
            r = subprocess.run([tool] + flags + ["-c", "300", "-i", "1", "-r", "100", "-l", "8",
                                                  "-s", "8192", "-t", "POST" if "-B" in flags
                                                  else "GET", "-u",
                                                  "http://%s:%d/a/slow" % (h.HOST, port),
                                                  "-g", "-o", str(out)],
                               capture_output=True, text=True, timeout=60)
            stop.set()
            loop.join(10)
            csv = (out.with_suffix(".csv") if out.with_suffix(".csv").exists()
                   else env.tmp / (out.name + ".csv"))
            rows = [l.split(",") for l in csv.read_text().splitlines()[1:]] if csv.exists() else []
            # Columns: seconds, closed, pending, connected, service available.
            peak = max((int(row[3]) for row in rows), default=-1)
            last = rows[-1] if rows else None
            results.append((mode, counts, peak, last))
            S.check(r.returncode == 0 or rows, "%s: slowhttptest: %s" % (mode, r.stderr[-300:]))
            S.check(counts["ok"] >= 100 and counts["ok"] > 5 * (counts["bad"] +
                                                                 counts["failed"]),
                    "%s: the client loop: %r" % (mode, counts))
            S.check(last is None or int(last[3]) < 50,
                    "%s: %s connections still open at the end" % (mode, last[3] if last else "?"))
    finally:
        proc.stop(signal.SIGTERM, 3.0)
    info("slowhttptest_modes", "; ".join("%s: peak %d connected, client loop %d ok %d failed"
                                         % (m, p, c["ok"], c["bad"] + c["failed"])
                                         for m, c, p, _ in results))


def interim_responses_are_bounded(env):
    """A backend that sends a flood of 102 Processing lines before its answer: strgd forwards
    at most a few and then cuts the response off."""
    bport, port = 9151, 8143
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((h.HOST, bport))
    srv.listen(4)
    stop = threading.Event()

    def flood():
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except socket.timeout:
                continue
            try:
                conn.recv(4096)
                conn.sendall(b"HTTP/1.1 102 Processing\r\n\r\n" * 100000)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            except OSError:
                pass
            conn.close()

    t = threading.Thread(target=flood)
    t.start()
    proc = env.spawn_extra_proxy("interim", port, modern=(bport,))
    try:
        with RawConn(port=port, timeout=5.0) as c:
            c.send(request("GET", "/v1/getSalesLeads/interim"))
            got = b""
            t0 = time.monotonic()
            while time.monotonic() - t0 < 3:
                try:
                    b = c.sock.recv(65536)
                except OSError:
                    break
                if not b:
                    break
                got += b
        n = got.count(b"102 Processing")
        S.check(n <= 20 and b"200 OK" not in got,
                "%d interim responses forwarded (%d bytes), want at most 16 then the end" % (
                    n, len(got)))
    finally:
        stop.set()
        t.join(5)
        srv.close()
        proc.stop(signal.SIGTERM, 3.0)
    info("interim_responses_are_bounded", "%d of 100000 interim responses forwarded" % n)


def idle_backend_connections_close(env):
    """Idle keep-alive clients hold no backend connection once timeout backend-idle passed:
    200 clients after one request each leave at most a few backend connections open."""
    port = 8144
    proc = env.spawn_extra_proxy("bidle", port, extra=["timeout backend-idle 1s"])
    conns = []
    try:
        for i in range(200):
            c = RawConn(port=port)
            c.send(request("GET", "/a/idle%d" % i))
            S.check(c.read_response().status == 200, "request %d failed" % i)
            conns.append(c)

        def open_backends():
            pools = json_pools(port)
            return sum(b["connections"] for p in pools for b in p["backends"])

        before = open_backends()
        left = h.wait_until(lambda: open_backends() <= 4 and open_backends() + 1, 4.0)
        after = open_backends()
        S.check(before >= 50, "only %d backend connections open right after 200 requests" %
                before)
        S.check(left and after <= 4, "%d backend connections still open 4 s later" % after)
        for i, c in enumerate(conns[:20]):  # and the clients are served again
            c.send(request("GET", "/a/again%d" % i))
            S.check(c.read_response().status == 200, "request after the idle close failed")
    finally:
        for c in conns:
            c.close()
        proc.stop(signal.SIGTERM, 3.0)
    info("idle_backend_connections_close", "%d backend connections after 200 requests, %d "
         "after timeout backend-idle" % (before, after))


def json_pools(port):
    return json.loads(h.ctl_line("pool show -j", port=port)[3:])["pools"]


def per_source_limit(env):
    """limit per-source 5: the sixth connection from one address is closed at once, the
    first five are served; when one closes, a new one is accepted."""
    port = 8145
    proc = env.spawn_extra_proxy("persrc", port, extra=["limit per-source 5"])
    conns = []
    try:
        for i in range(5):
            c = RawConn(port=port)
            c.send(request("GET", "/a/src%d" % i))
            S.check(c.read_response().status == 200, "connection %d not served" % i)
            conns.append(c)
        with RawConn(port=port) as extra:
            extra.send(request("GET", "/a/sixth"))
            S.check(extra.wait_eof(2.0) in ("eof", "reset"),
                    "the sixth connection from one address was served")
        conns.pop().close()
        time.sleep(0.2)
        with RawConn(port=port) as again:
            again.send(request("GET", "/a/again"))
            S.check(again.read_response().status == 200, "a new connection after one closed")
    finally:
        for c in conns:
            c.close()
        proc.stop(signal.SIGTERM, 3.0)


HARDENING_TESTS = [
    malformed_chunked_never_reaches_backend,
    head_deadline_beats_dribbling,
    body_deadline_beats_dribbling,
    slowloris_with_few_descriptors,
    slowhttptest_modes,
    interim_responses_are_bounded,
    idle_backend_connections_close,
    per_source_limit,
]


def register(suite):
    global S
    S = suite
    for fn in HARDENING_TESTS:
        suite.test(fn)
