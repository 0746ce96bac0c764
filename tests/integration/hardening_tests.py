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
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import harness as h
from harness import RawConn, request
from promise_tests import wrk_errors

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
        # Not before timeout head (2 s; the timer starts at accept, a little before t0), and
        # well before timeout client (5 s), which would also have ended it.
        S.check(1.8 <= took <= 4.5, "408 after %.1f s, want at timeout head (2 s), before "
                "timeout client (5 s)" % took)
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


def count_ended(socks, timeout):
    """Wait until each socket reaches its end (EOF or reset; data before it is read and
    dropped), at most timeout seconds; returns how many did."""
    import select
    poller = select.poll()
    by_fd = {s.fileno(): s for s in socks}
    for fd in by_fd:
        poller.register(fd, select.POLLIN)
    ended, deadline = 0, time.monotonic() + timeout
    while by_fd and time.monotonic() < deadline:
        for fd, _ in poller.poll(200):
            try:
                data = by_fd[fd].recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                ended += 1
                poller.unregister(fd)
                del by_fd[fd]
    return ended


def slowloris_with_few_descriptors(env):
    """1 100 slow connections (a byte of a head every second) against a strgd that may open
    1 024 descriptors: they are shed and closed by timeout head, and a client sending whole
    requests meanwhile keeps being served."""
    port = 8141
    cfg = env.tmp / "slowloris.conf"
    cfg.write_text(env.flavour.config(listen_port=port, extra=["timeout head 3s"]))
    argv = ["prlimit", "--nofile=1024:1024"] + env.flavour.argv(cfg)
    proc = env.spawn("strgd-slowloris", argv)
    h.wait_port(port, h.START_S, proc)
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
        # Dribble past timeout head (3 s), then wait for each to end (EOF or reset, whatever
        # strgd answered first): bounded by the timeout and a margin a loaded machine needs.
        t_end = time.monotonic() + 6.0
        while time.monotonic() < t_end:
            for s in slow:
                try:
                    s.send(b"E")
                except OSError:
                    pass
            time.sleep(1.0)
        closed = count_ended(slow, 3.0 + 20.0)
        during = dict(counts)
    finally:
        stop.set()
        loop.join(10)
        for s in slow:
            s.close()
        proc.stop(signal.SIGTERM, 3.0)
    S.check(closed == len(slow), "%d of %d slow connections closed within timeout head (3 s) "
            "and 26 s more" % (closed, len(slow)))
    S.check(during["ok"] >= 100 and during["ok"] > 5 * (during["bad"] + during["failed"]),
            "the client loop: %r" % during)
    info("slowloris_with_few_descriptors", "%d slow connections opened, %d closed; meanwhile "
         "%d whole requests served, %d failed" % (len(slow), closed, during["ok"],
                                                  during["bad"] + during["failed"]))


def body_deadline_beats_dribbling(env):
    """A request body sent 10 bytes every 300 ms gets 408 soon after timeout body (2 s here,
    plus a second per 500 bytes received), although every byte comes well within timeout
    client; an upload that keeps the rate (10 KB/s for 3 s) is carried whole."""
    port = 8148
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
        # timeout body 2 s plus 70 bytes' worth (0.14 s), strgd's deadline tick (1 s) and what a
        # loaded machine adds; well before the 8 s the client would dribble for unchecked.
        S.check(1.9 <= took <= 6.0, "408 after %.1f s, want at timeout body (2 s + ~0.2 s), "
                "before the client's 8 s" % took)
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
    # limit body-rate 100000: a slow body's deadline stays near timeout body (each 500 bytes
    # received would otherwise add a second at the default rate).
    proc = env.spawn_extra_proxy("slowhttp", port, extra=["timeout head 3s",
                                                          "timeout body 3s",
                                                          "timeout client 3s",
                                                          "limit body-rate 100000"])
    results = []
    try:
        for mode, flags in (("slow headers", ["-H"]), ("slow body", ["-B"])):
            stop = threading.Event()
            counts = {"ok": 0, "bad": 0, "failed": 0}
            loop = threading.Thread(target=client_loop, args=(port, stop, counts))
            loop.start()
            out = env.tmp / ("slowhttptest-%s" % mode.replace(" ", "-"))
            # -l 15: the 300 connections open within 3 s here and each ends at its 3 s
            # deadline; the rest is room for a loaded machine to open them more slowly.
            r = subprocess.run([tool] + flags + ["-c", "300", "-i", "1", "-r", "100", "-l", "15",
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
            # Each connection ends at its 3 s deadline: by the last sample, every connection
            # open 5 s before it (3 s and a loaded machine's margin) must have been closed.
            # Opened by t = closed + connected at t (the CSV's cumulative columns).
            t_end, closed_end = (int(last[0]), int(last[1])) if last else (0, 0)
            due = max((int(row[1]) + int(row[3]) for row in rows
                       if int(row[0]) <= t_end - 5), default=0)
            S.check(due > 0 and closed_end >= due,
                    "%s: %d connections were open 5 s before the last sample (%d s), %d closed "
                    "by then" % (mode, due, t_end, closed_end))
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
            got, ended = b"", False
            t0 = time.monotonic()
            while time.monotonic() - t0 < 10:
                try:
                    b = c.sock.recv(65536)
                except socket.timeout:
                    break
                except OSError:
                    ended = True
                    break
                if not b:
                    ended = True
                    break
                got += b
        n = got.count(b"102 Processing")
        # README: more than 16 interim responses cut the backend off; those before reach the
        # client (at least one: the flood starts with them), then the connection ends.
        S.check(1 <= n <= 16 and b"200 OK" not in got and ended,
                "%d interim responses forwarded (%d bytes), %s; want 1 to 16 then the end" % (
                    n, len(got), "then the end" if ended else "the connection still open"))
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
    base = backend_tcp()
    try:
        conns += served_connections(port, 200, "idle")

        def open_backends():
            pools = json_pools(port)
            return sum(b["connections"] for p in pools for b in p["backends"])

        before = open_backends()
        # What strgd counts, and what TCP says: a socket strgd let go of must really close.
        left = h.wait_until(lambda: open_backends() <= 4 and backend_tcp() - base <= 4 and
                            open_backends() + 1, 4.0)
        after, tcp = open_backends(), backend_tcp() - base
        S.check(before >= 50, "only %d backend connections open right after 200 requests" %
                before)
        S.check(left and after <= 4 and tcp <= 4, "%d backend connections still open 4 s "
                "later (%d established in TCP)" % (after, tcp))
        for i, c in enumerate(conns[:20]):  # and the clients are served again
            c.send(request("GET", "/a/again%d" % i))
            S.check(c.read_response().status == 200, "request after the idle close failed")
    finally:
        for c in conns:
            c.close()
        proc.stop(signal.SIGTERM, 3.0)
    info("idle_backend_connections_close", "%d backend connections after 200 requests, %d "
         "after timeout backend-idle" % (before, after))


def served_connections(port, n, tag):
    """n keep-alive connections, each served one request (GET /a/TAG<i>); the caller closes
    them."""
    conns = []
    try:
        for i in range(n):
            conns.append(RawConn(port=port))
            conns[-1].send(request("GET", "/a/%s%d" % (tag, i)))
            S.check(conns[-1].read_response().status == 200, "connection %d not served" % i)
    except BaseException:
        for c in conns:
            c.close()
        raise
    return conns


def backend_tcp():
    """Established TCP connections to the pools' backends, from any proxy."""
    ports = list(h.LEGACY_PORTS) + [h.MODERN_PORT]
    out = subprocess.run(["ss", "-tnH", "state", "established", "( %s )" % " or ".join(
        "dport = :%d" % p for p in ports)], capture_output=True, text=True).stdout
    return len(out.splitlines())


def json_pools(port):
    return json.loads(h.ctl_line("pool show -j", port=port)[3:])["pools"]


def per_source_limit(env):
    """limit per-source 5: the sixth connection from one address is closed at once, the
    first five are served; when one closes, a new one is accepted."""
    port = 8145
    proc = env.spawn_extra_proxy("persrc", port, extra=["limit per-source 5"])
    conns = []
    try:
        conns += served_connections(port, 5, "src")
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


def proc_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def proc_rss_kib(pid):
    for line in open("/proc/%d/status" % pid):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return -1


def idle_connections_let_go_of_buffers(env):
    """200 keep-alive connections idle after one request each: once idle past a second, user
    space holds no buffers for them (strgd's RSS falls back near where it was before they
    came), and each is served again at once."""
    port = 8146
    proc = env.spawn_extra_proxy("park", port)
    conns = []
    try:
        time.sleep(0.5)
        r0 = proc_rss_kib(proc.pid)
        conns += served_connections(port, 200, "park")
        busy = proc_rss_kib(proc.pid)
        # Idle past a second (strgd's timer lets go of their buffers): wait for it, 10 s at
        # most on a loaded machine.
        h.wait_until(lambda: h.sanitized(env) or proc_rss_kib(proc.pid) - r0 <= 200 * 2, 10.0,
                     interval=0.25)
        idle = proc_rss_kib(proc.pid)
        for i, c in enumerate(conns):
            c.send(request("GET", "/a/again%d" % i))
            S.check(c.read_response().status == 200, "idle connection %d not served again" % i)
        # Under ASan freed buffers wait in its quarantine: the bound holds for the plain build.
        S.check(h.sanitized(env) or idle - r0 <= 200 * 2,
                "RSS %d KiB before, %d KiB with 200 busy connections, %d KiB once idle: want "
                "at most 2 KiB each once idle" % (r0, busy, idle))
    finally:
        for c in conns:
            c.close()
        proc.stop(signal.SIGTERM, 3.0)
    info("idle_connections_let_go_of_buffers", "RSS %d KiB before, +%d KiB with 200 connections "
         "just served, +%d KiB once idle" % (r0, busy - r0, idle - r0))


SOAK_SECONDS = 15


def soak_returns_to_baseline(env):
    """Fifteen seconds of mixed traffic from several threads: whole requests (kept alive,
    pipelined, chunked uploads), invalid ones (400), aborted ones (closed mid-head, mid-body,
    before the response, reset) and slow ones (dribbled heads cut at timeout head). Whole
    requests all succeed; at the end strgd's descriptors are back at their baseline and its
    RSS within a small margin of it."""
    port = 8147
    # timeout server 10s: a backend slowed by a loaded machine is not what the soak looks for.
    proc = env.spawn_extra_proxy("soak", port, extra=["timeout server 10s",
                                                      "timeout head 1s", "timeout body 1s",
                                                      "timeout client 1s", "timeout idle 2s",
                                                      "timeout backend-idle 1s"])
    stop = threading.Event()
    counts = {"ok": 0, "bad": 0, "refused": 0, "aborted": 0, "slow": 0, "errors": []}
    lock = threading.Lock()

    def note(key, what=None):
        with lock:
            if what is not None:
                if len(counts["errors"]) < 10:
                    counts["errors"].append(what)
            else:
                counts[key] += 1

    def whole(rng):
        with RawConn(port=port, timeout=5.0) as c:
            for j in range(rng.randint(1, 4)):
                if rng.random() < 0.3:
                    body = os.urandom(rng.randint(1, 3000))
                    c.send(chunked_post("/__sha256?t=soak", b"%x\r\n" % len(body) + body +
                                        b"\r\n0\r\n\r\n"))
                    want = hashlib.sha256(body).hexdigest().encode()
                else:
                    c.send(request("GET", "/a/soak%d" % j) + request("GET", "/a/soakp%d" % j))
                    want = None
                for _ in range(1 if want else 2):
                    resp = c.read_response(timeout=5.0)
                    if resp.status != 200 or (want and want not in resp.body):
                        note(None, "whole request: %r" % resp)
                    else:
                        note("ok")

    def invalid(rng):
        with RawConn(port=port, timeout=5.0) as c:
            bad = rng.choice([chunked_post("/a/x", b"zz\r\nhello\r\n0\r\n\r\n"),
                              b"GET /a/x HTTP/1.1\r\nHost: h\r\nBad Header: x\r\n\r\n",
                              b"GET /a/x HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n"
                              b"Transfer-Encoding: chunked\r\n\r\n"])
            c.send(bad)
            resp = c.read_response(timeout=5.0)
            if resp.status == 400:
                note("refused")
            else:
                note(None, "invalid request: %r" % resp)

    def aborted(rng):
        s = socket.create_connection((h.HOST, port), timeout=5.0)
        kind = rng.randint(0, 3)
        if kind == 0:
            s.sendall(b"GET /a/abort HTTP/1.1\r\nHo")
        elif kind == 1:
            s.sendall(b"POST /__sha256 HTTP/1.1\r\nHost: h\r\nContent-Length: 5000\r\n\r\n"
                      + b"x" * 100)
        elif kind == 2:
            s.sendall(request("GET", "/__sleep/50"))
        else:
            s.sendall(request("GET", "/a/reset"))
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        time.sleep(rng.random() * 0.05)
        s.close()
        note("aborted")

    def slow(rng):
        with RawConn(port=port, timeout=5.0) as c:
            for b in b"GET /a/slow HTTP/1.1\r\nHost: h\r\n":
                readable, _, _ = select.select([c.sock], [], [], 0.2)
                if readable:
                    break
                c.send(bytes([b]))
            resp = c.read_response(timeout=3.0)
            if resp.status == 408:
                note("slow")
            else:
                note(None, "slow head: %r" % resp)

    def worker(seed, kinds):
        import random
        rng = random.Random(seed)
        while not stop.is_set():
            fn = rng.choice(kinds)
            try:
                fn(rng)
            except (OSError, h.ProtocolError) as e:
                if fn is not aborted:
                    note(None, "%s: %s" % (fn.__name__, e))

    try:
        # The baseline: after a warm-up that touches every path once.
        for fn in (whole, invalid):
            import random
            fn(random.Random(1))
        time.sleep(3.0)
        fd0, rss0 = proc_fds(proc.pid), proc_rss_kib(proc.pid)
        threads = [threading.Thread(target=worker, args=(i, [whole, whole, invalid, aborted]))
                   for i in range(4)]
        threads += [threading.Thread(target=worker, args=(100 + i, [slow])) for i in range(8)]
        for t in threads:
            t.start()
        peak_fd = fd0
        t0 = time.monotonic()
        while time.monotonic() - t0 < SOAK_SECONDS and proc.alive():
            time.sleep(1.0)
            peak_fd = max(peak_fd, proc_fds(proc.pid))
        stop.set()
        for t in threads:
            t.join(15)
        S.check(proc.alive(), "strgd exited during the soak")
        # Idle and half-open connections end at their timeouts (idle 2 s, client 1 s).
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and proc_fds(proc.pid) > fd0:
            time.sleep(0.5)
        fd1, rss1 = proc_fds(proc.pid), proc_rss_kib(proc.pid)
    finally:
        stop.set()
        proc.stop(signal.SIGTERM, 3.0)
    S.check(not counts["errors"], "unexpected outcomes: %r" % counts["errors"])
    S.check(counts["ok"] > 1000 and counts["refused"] > 100 and counts["aborted"] > 100 and
            counts["slow"] > 50, "too little traffic: %r" % counts)
    S.check(fd1 == fd0, "descriptors: %d before, %d after (peak %d)" % (fd0, fd1, peak_fd))
    # Under ASan freed memory waits in its quarantine (RSS grows by design): LeakSanitizer
    # checks for leaks there when strgd exits, this bound in the plain build.
    S.check(h.sanitized(env) or rss1 - rss0 <= max(4096, rss0 // 10),
            "RSS: %d KiB before, %d KiB after" % (rss0, rss1))
    info("soak_returns_to_baseline", "%d s: %d whole requests ok, %d invalid refused, %d aborted, "
         "%d slow cut; descriptors %d -> peak %d -> %d, RSS %d -> %d KiB"
         % (SOAK_SECONDS, counts["ok"], counts["refused"], counts["aborted"], counts["slow"],
            fd0, peak_fd, fd1, rss0, rss1))


soak_returns_to_baseline.timeout = SOAK_SECONDS + 60


def restart_under_load_loses_nothing(env):
    """strgctl restart while wrk loads strgd (16 keep-alive connections): a new strgd takes the
    listening sockets, the old one finishes its connections and exits; wrk sees no socket error
    and no failed answer, and the new strgd serves (a second restart too). Under systemd
    (Type=notify, here a socket of the test's own as $NOTIFY_SOCKET) each strgd says READY=1 and
    each successor names itself the service's main process."""
    port = 8149
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify_path = str(env.tmp / "notify.sock")
    notify.bind(notify_path)
    notify.settimeout(5.0)
    os.environ["NOTIFY_SOCKET"] = notify_path
    try:
        proc = env.spawn_extra_proxy("restart", port)
    finally:
        del os.environ["NOTIFY_SOCKET"]
    pids = [proc.pid]
    try:
        S.check(notify.recv(256) == b"READY=1", "the first strgd did not say READY=1")
        wrk = subprocess.Popen(["wrk", "-c16", "-t2", "-d6s", "--timeout", "10s",
                                "http://%s:%d/a/restart"
                                % (h.HOST, port)], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
        for round_ in range(2):
            time.sleep(2.0)
            r = subprocess.run([str(h.ROOT / "strgctl"), "-s", h.control_path(port), "restart"],
                               capture_output=True, text=True, timeout=30)
            m = re.search(r"strgd pid (\d+) serves", r.stdout)
            S.check(r.returncode == 0 and m, "restart %d: %s %s" % (round_ + 1, r.stdout,
                                                                    r.stderr))
            pids.append(int(m.group(1)))
            said = notify.recv(256).decode()
            S.check(said == "MAINPID=%d\nREADY=1" % pids[-1],
                    "the successor told systemd %r, not its pid %d" % (said, pids[-1]))
        out, _ = wrk.communicate(timeout=30)
        errors = wrk_errors(out)
        S.check(errors["requests"] > 1000, "wrk made too few requests: %s" % out[-300:])
        S.check(not any(errors[k] for k in ("connect", "read", "write", "timeout", "non2xx")),
                "wrk saw failures across the restarts: %r" % errors)
        # The old ones finish and exit; the last one serves.
        deadline = time.monotonic() + 35
        while time.monotonic() < deadline and any(alive(p) for p in pids[:-1]):
            time.sleep(0.2)
        S.check(not any(alive(p) for p in pids[:-1]), "an old strgd did not exit: %r" %
                [p for p in pids[:-1] if alive(p)])
        S.check(alive(pids[-1]), "the new strgd is not running")
        with RawConn(port=port) as c:
            c.send(request("GET", "/a/after"))
            S.check(c.read_response().status == 200, "the new strgd does not answer")
    finally:
        for p in reversed(pids[1:]):
            if alive(p):
                os.kill(p, signal.SIGTERM)
                deadline = time.monotonic() + 5
                while time.monotonic() < deadline and alive(p):
                    time.sleep(0.1)
        proc.stop(signal.SIGTERM, 3.0)
        notify.close()
    info("restart_under_load_loses_nothing", "2 restarts under wrk -c16: %d requests, 0 errors; "
         "old strgds exited, pid %d serves and told systemd so" % (errors["requests"], pids[-1]))


def slow_peers(env, name, addr, n, seconds, prefix, user=None):
    """tests/integration/slow_peers.py against addr (a byte every second); returns it once its
    connections are open, with (held, refused)."""
    argv = [sys.executable, h.ROOT / "tests" / "integration" / "slow_peers.py", addr, n, seconds,
            1.0, prefix]
    if user:
        argv = ["setpriv", "--reuid=%d" % user, "--regid=%d" % user, "--clear-groups"] + argv
    proc = env.spawn(name, argv)
    S.check(h.wait_until(lambda: proc.out_path.read_text().startswith("ready"), 15.0),
            "%s did not get its connections open: %s" % (name, proc.stderr_tail()))
    held, refused = map(int, proc.out_path.read_text().split()[1:3])
    return proc, held, refused


def slow_peers_result(proc, seconds):
    S.check(proc.wait(seconds + 10) is not None, "slow_peers.py did not end")
    return json.loads(proc.out_path.read_text().splitlines()[-1])


def check_whole_deadline(name, res, early):
    """Every held connection was closed at the 5 s deadline (up to early ones before it, which
    gave their slot to a newcomer) although a byte came every second. A deadline that each byte
    moved would never close them while they send (12 s); a late sweep on a loaded machine
    (3.5 s late seen under a CPU hog beside a whole suite) is allowed for up to 10 s."""
    late = [t for t in res["closed_after"] if t > 10.0]
    soon = [t for t in res["closed_after"] if t < 4.0]
    S.check(res["open"] == 0 and not late and len(soon) <= early,
            "%s: %d of %d slow connections still open after 12 s, closed after %r s (want "
            "closed 5 s after connecting, however the bytes came)" % (
                name, res["open"], res["held"], sorted(res["closed_after"])))


def metrics_listener_outlasts_slowloris(env):
    """70 connections to the metrics listener sending a byte of a request head every second:
    once they have been at it for a second a whole request takes the slot of one of them, and
    each of them is closed 5 s after it connected although its bytes kept coming (the deadline
    is the whole request's, not reset by every byte)."""
    port, mport = 8144, 9944
    cfg = env.tmp / "slowmetrics.conf"
    cfg.write_text(env.flavour.config(listen_port=port,
                                      extra=["metrics %s:%d" % (h.HOST, mport)]))
    proc = env.spawn("strgd-slowmetrics", env.flavour.argv(cfg))
    peers = None
    try:
        h.wait_port(mport, h.START_S, proc)
        peers, held, refused = slow_peers(env, "slow-metrics", "%s:%d" % (h.HOST, mport), 70,
                                          12, "GET /metrics HTTP/1.1\r\nX-Slow: ")
        S.check(held == 64 and refused == 6, "held %d, refused %d: want the 64 slots taken"
                % (held, refused))
        time.sleep(1.2)
        t0 = time.monotonic()
        try:
            status, _, text = http_get_metrics(mport)
        except OSError as e:
            status, text = str(e), ""
        took = time.monotonic() - t0
        S.check(status == 200 and "strg_build_info" in text,
                "GET /metrics while 64 slow connections held the slots: %s" % status)
        res = slow_peers_result(peers, 12)
    finally:
        if peers:
            peers.stop(signal.SIGTERM, 3.0)
        proc.stop(signal.SIGTERM, 3.0)
    check_whole_deadline("metrics", res, early=1)
    info("metrics_listener_outlasts_slowloris", "64 slow connections held the slots: /metrics "
         "served in %.0f ms; they were closed %.1f to %.1f s after connecting"
         % (took * 1000, min(res["closed_after"]), max(res["closed_after"])))


def http_get_metrics(mport):
    with urllib.request.urlopen("http://%s:%d/metrics" % (h.HOST, mport), timeout=5.0) as r:
        return r.status, r.headers.get("Content-Type", ""), r.read().decode()


def control_socket_change_beats_slow_readers(env):
    """70 connections of a control-group read member (uid 65534) sending a byte of a command
    every second: 64 hold every slot and the other readers are refused, yet root's strgctl
    route set is served at once (a peer that may change strgd takes a reader's slot), and each
    slow connection is closed 5 s after it connected although its bytes kept coming."""
    if env.flavour.name != "strgd":
        raise S.Skip("strgd's control socket")
    port = 8145
    cfg = env.tmp / "slowctl.conf"
    cfg.write_text(env.flavour.config(listen_port=port, extra=["control-group read nogroup"]))
    proc = env.spawn("strgd-slowctl", env.flavour.argv(cfg))
    sock = h.control_path(port)
    ctl = lambda *a: subprocess.run([str(h.ROOT / "strgctl"), "-s", sock] + list(a),  # noqa
                                    capture_output=True, text=True, timeout=10)
    peers = None
    try:
        h.wait_port(port, h.START_S, proc)
        S.check(h.wait_until(lambda: os.path.exists(sock), 5.0), "no control socket")
        peers, held, refused = slow_peers(env, "slow-ctl", sock, 70, 12, "route show ",
                                          user=65534)
        S.check(held == 64 and refused == 6, "held %d, refused %d: want the 64 slots taken"
                % (held, refused))
        t0 = time.monotonic()
        r = ctl("route", "set", "GET", "/v1/slowloris", "modern")
        took = time.monotonic() - t0
        S.check(r.returncode == 0 and "added" in r.stdout,
                "root's route set while 64 slow readers held the slots: %r" % r)
        r = ctl("route", "del", "GET", "/v1/slowloris")
        S.check(r.returncode == 0, "root's route del: %r" % r)
        res = slow_peers_result(peers, 12)
        log = proc.stderr_text()
    finally:
        if peers:
            peers.stop(signal.SIGTERM, 3.0)
        proc.stop(signal.SIGTERM, 3.0)
    check_whole_deadline("control socket", res, early=2)
    S.check("connection closed to make room for uid 0" in log,
            "the reader that gave its slot up was not logged: %s" % log[-500:])
    info("control_socket_change_beats_slow_readers", "64 slow readers held the slots (6 more "
         "refused), root's route set served in %.0f ms; they were closed %.1f to %.1f s "
         "after connecting" % (took * 1000, min(res["closed_after"]), max(res["closed_after"])))


def alive(pid):
    """Whether the process runs (a zombie child counts as gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


HARDENING_TESTS = [
    malformed_chunked_never_reaches_backend,
    head_deadline_beats_dribbling,
    body_deadline_beats_dribbling,
    slowloris_with_few_descriptors,
    slowhttptest_modes,
    interim_responses_are_bounded,
    idle_backend_connections_close,
    per_source_limit,
    idle_connections_let_go_of_buffers,
    soak_returns_to_baseline,
    restart_under_load_loses_nothing,
    metrics_listener_outlasts_slowloris,
    control_socket_change_beats_slow_readers,
]


def register(suite):
    global S
    S = suite
    for fn in HARDENING_TESTS:
        suite.test(fn)
