# SPDX-License-Identifier: GPL-2.0-only
"""Message framing end to end (both data paths): responses of every shape a backend sends and
transfers cut short, through strgd to a real client.

suite.py registers these with register(suite_module) in every mode.

What README.md promises here ("What strgd does with a request"): bodies streamed byte-exact in
both directions, Content-Length, chunked and close-delimited responses; HEAD, 1xx, 204 and 304
responses carry no body; `101 Switching Protocols` turns the connection into a tunnel, with
half-close passed on in both directions; one backend connection per pool per client connection,
reused while both sides keep it alive. The modern pool (tools/backend.py) has an endpoint per
shape: /__chunked, /__close, /__status, /__upgrade, /__reset (see its docstring), and writes
the events that are not requests (a request body cut short, a request it refused, what a
half-closed tunnel received) to its log's ".events" file.

In kernel mode (`splice always`) every test first warms its connection: requests until the
kernel carried one (the "kernel" count of the /__status route in `strgctl stats -j` rose), so
the kernel holds the connection; then the shape under test is sent on it, and the route's
"kernel" + "passed" counts must rise by the requests sent: each was carried by the kernel or
passed up by it to strgd, i.e. sent on a connection the kernel held.
"""

import hashlib
import socket
import struct
import time
from pathlib import Path

import harness as h
from harness import RawConn, request

S = None  # the suite module (Fail, check, expect_pool, ...), set by register()

FRAMING_TESTS = []

KIB = 1024
BODY = 300 * KIB  # "a few hundred KiB" of the pattern
B = h.backend  # tools/backend.py: pattern, chunked_pieces, UPGRADE_GREETING


def framing(fn):
    FRAMING_TESTS.append(fn)
    return fn


def register(suite):
    """Add the framing tests to the suite's list."""
    global S
    S = suite
    for fn in FRAMING_TESTS:
        suite.test(fn)


# ---------------------------------------------------------------------------------------------
# Helpers


def info(name, text):
    print("     %s: %s" % (name, text), flush=True)


def kernel_mode(env):
    return getattr(env.flavour, "mode", None) == "kernel"


def sha(data):
    return hashlib.sha256(data).hexdigest()


_tags = iter(range(1, 1 << 30))


def tag(prefix):
    """A unique tag for this run (log lines, query strings)."""
    return "%s%d" % (prefix, next(_tags))


def exchange(conn, method, path, headers=(), body=b"", what=None, head_only=None):
    """One request on conn and its response; transport failures become Fail."""
    what = what or "%s %s" % (method, path)
    conn.send(request(method, path, headers=headers, body=body))
    try:
        return conn.read_response(head_only=(method == "HEAD") if head_only is None
                                  else head_only)
    except (socket.timeout, h.ProtocolError, ConnectionResetError) as e:
        raise S.Fail("%s: %s: %s" % (what, type(e).__name__, e))


def expect_status_body(resp, status, body, what):
    S.check(resp.status == status and resp.pool() == "modern",
            "%s: %r, want %d from modern" % (what, resp, status))
    if body is not None:
        S.check(resp.body == body, "%s: body %r, want %r" % (what, resp.body[:80], body))


def status_ok(conn, what, query):
    """GET /__status/200?query on conn must be answered by modern with its own body: the
    connection still frames responses right."""
    resp = exchange(conn, "GET", "/__status/200?%s" % query, what=what)
    expect_status_body(resp, 200, b"modern status 200\n", what)
    return resp


def fresh_ok(what, query):
    """status_ok on a new connection."""
    with RawConn(timeout=5.0) as c:
        return status_ok(c, what, query)


def route_counts(route, pool="modern"):
    """requests, kernel, passed of route (its text in stats -j) and pool."""
    row = S.stats_of(route, pool)
    return {k: row.get(k, 0) for k in ("requests", "kernel", "passed")}


def warm(env, conn, label):
    """Kernel mode: GET /__status/200 on conn until the kernel carried one (the "kernel" count of
    /__status rose): from then on the kernel holds the connection between requests. User mode:
    one such request, so that both modes reuse a backend connection from here on. Returns the
    last response (its X-Backend-Conn names conn's modern backend connection)."""
    kernel = kernel_mode(env)
    base = route_counts("/__status")["kernel"] if kernel else 0
    for i in range(6):
        resp = status_ok(conn, "%s: warm-up request %d" % (label, i + 1), "warm=%s-%d" % (
            label, i))
        if not kernel or route_counts("/__status")["kernel"] > base:
            return resp
    raise S.Fail("%s: warm-up: the kernel carried none of 6 GET /__status/200 on the connection "
                 "(stats -j kernel of /__status stayed at %d): it never held the connection" % (
                     label, base))


class Held:
    """Kernel mode: the requests the kernel saw on routes (carried, or passed up to strgd on a
    connection it held) since this was made, from stats -j. User mode: checks nothing."""

    def __init__(self, env, routes):
        self.on = kernel_mode(env)
        self.routes = routes
        self.base = {r: route_counts(r) for r in routes} if self.on else None

    def delta(self, route):
        now = route_counts(route)
        return {k: now[k] - self.base[route][k] for k in now}

    def expect(self, route, n, what):
        """Each of the n requests sent on route since was counted once, and seen by the kernel
        (kernel + passed = n). strgd counts its own exchanges when they end: wait up to 3 s."""
        if not self.on:
            return None

        def enough():
            d = self.delta(route)
            return d if d["requests"] >= n and d["kernel"] + d["passed"] >= n else None
        d = h.wait_until(enough, 3.0) or self.delta(route)
        got = "stats -j of %s rose by requests %d, kernel %d, passed %d" % (
            route, d["requests"], d["kernel"], d["passed"])
        S.check(d["requests"] >= n, "%s: %s, want %d requests: strgd has not counted %s within "
                "3 s (it counts an exchange of its own when it ends)" % (
                    what, got, n, "it" if n == 1 else "them"))
        S.check(d["requests"] == n and d["kernel"] + d["passed"] == n,
                "%s: %s; want %d requests, each carried by the kernel or passed up by it (kernel "
                "+ passed = %d): not sent on a connection the kernel held" % (what, got, n, n))
        return d


def kernel_split(d):
    """", request carried by the kernel" or ", passed up by the kernel" for a Held delta."""
    if not d:
        return ""
    return ", request %s" % ("carried by the kernel" if d["kernel"] else
                             "passed up by the kernel to strgd")


def read_to_end(conn, timeout=5.0):
    """Every byte until the connection ends: (bytes, "eof" | "reset" | "timeout")."""
    deadline = time.monotonic() + timeout
    end = "eof"
    try:
        while conn._fill(deadline):
            pass
    except socket.timeout:
        end = "timeout"
    except ConnectionResetError:
        end = "reset"
    data = bytes(conn.buf)
    conn.buf.clear()
    return data, end


def read_exact(conn, n, what, timeout=5.0):
    try:
        return conn._read_exact(n, time.monotonic() + timeout)
    except (socket.timeout, h.ProtocolError, ConnectionResetError) as e:
        raise S.Fail("%s: %s: %s" % (what, type(e).__name__, e))


def read_chunked(conn, what, timeout=10.0):
    """A chunked body as it arrives: (decoded body, the raw chunk framing through the end of the
    trailer section)."""
    deadline = time.monotonic() + timeout
    raw = bytearray()
    body = bytearray()
    try:
        while True:
            line = conn._read_until(b"\r\n", deadline, 4096)
            raw += line
            size = int(line.split(b";")[0].strip(), 16)
            if size == 0:
                while True:
                    t = conn._read_until(b"\r\n", deadline, 64 * KIB)
                    raw += t
                    if t == b"\r\n":
                        return bytes(body), bytes(raw)
            data = conn._read_exact(size + 2, deadline)
            raw += data
            S.check(data.endswith(b"\r\n"), "%s: chunk of %d bytes not followed by CRLF after "
                    "%d body bytes" % (what, size, len(body)))
            body += data[:-2]
    except (socket.timeout, h.ProtocolError, ConnectionResetError, ValueError) as e:
        raise S.Fail("%s: after %d body bytes (%d raw): %s: %s" % (
            what, len(body), len(raw), type(e).__name__, e))


def events_path(env):
    return Path(str(env.modern_log) + ".events")


def events(env):
    try:
        return events_path(env).read_text().splitlines()
    except OSError:
        return []


def wait_event(env, start, pred, timeout):
    """The first line of the backend's events log after line `start` that pred accepts, within
    timeout, or None."""
    found = []

    def look():
        for line in events(env)[start:]:
            if pred(line):
                found.append(line)
                return True
        return False
    h.wait_until(look, timeout)
    return found[0] if found else None


def upgrade_request(path):
    return request("GET", path, headers=["Upgrade: strg-echo", "Connection: Upgrade"])


def open_tunnel(conn, path, what):
    """Send an upgrade request; the 101 and the greeting that came in the same write."""
    conn.send(upgrade_request(path))
    try:
        resp = conn.read_response(skip_1xx=False, head_only=True)
    except (socket.timeout, h.ProtocolError, ConnectionResetError) as e:
        raise S.Fail("%s: no 101: %s: %s" % (what, type(e).__name__, e))
    S.check(resp.status == 101 and resp.pool() == "modern" and
            (resp.header("Upgrade") or "").lower() == "strg-echo",
            "%s: %r (Upgrade %r), want 101 Switching Protocols from modern" % (
                what, resp, resp.header("Upgrade")))
    greeting = read_exact(conn, len(B.UPGRADE_GREETING), "%s: the greeting sent with the 101" %
                          what)
    S.check(greeting == B.UPGRADE_GREETING, "%s: after the 101: %r, want the greeting %r "
            "(sent in the same write as the head)" % (what, greeting, B.UPGRADE_GREETING))
    return resp


# ---------------------------------------------------------------------------------------------
# 101 Switching Protocols: a tunnel, half-close passed on both ways


def tunnel_expect(problems, held, what):
    """held.expect of the one upgrade request, once the tunnel is over (strgd counts it when
    the connection ends), recorded in problems instead of raised."""
    try:
        return held.expect("/__upgrade", 1, what)
    except S.Fail as e:
        problems.append(str(e))
        return None


def pattern_check(data, n, what):
    S.check(len(data) == n and data == B.pattern_at(0, n),
            "%s: the client got %d bytes (%s), want the backend's %d pattern bytes" % (
                what, len(data), "a pattern prefix" if data == B.pattern_at(0, len(data))
                else "not the pattern", n))


@framing
def framing_upgrade_tunnel_client_half_close(env):
    """An upgrade on a keep-alive connection (the kernel's, in kernel mode) becomes a tunnel:
    bytes both ways, an HTTP request inside it is tunnel data (echoed, never routed), and the
    client's SHUT_WR reaches the backend as EOF while the backend can still answer; the
    backend's close after its answer reaches the client as EOF."""
    fake = "/tunnel-fake-%s" % tag("t")
    problems = []
    with RawConn(timeout=5.0) as c:
        warm(env, c, "upgrade")
        held = Held(env, ["/__upgrade"])
        open_tunnel(c, "/__upgrade", "GET /__upgrade")
        sent = hashlib.sha256()
        total = 0
        messages = [b"ping\n", request("GET", fake), request("GET", "/__status/200")]
        messages += [B.pattern_at(i * 16 * KIB, 16 * KIB) for i in range(16)]
        for i, msg in enumerate(messages):
            c.send(msg)
            echo = read_exact(c, len(msg), "tunnel message %d (%d bytes)" % (i + 1, len(msg)))
            S.check(echo == msg, "tunnel message %d: echoed %r, want %r" % (
                i + 1, echo[:60], msg[:60]))
            sent.update(msg)
            total += len(msg)
        c.shutdown_write()
        want = b"eof after %d bytes sha256=%s\n" % (total, sent.hexdigest().encode())
        data, end = read_to_end(c, 5.0)
        S.check(data == want, "after the client's SHUT_WR the backend should see EOF and answer "
                "%r; the client got %r then %s" % (want, data[:120], end))
        if end != "eof":
            problems.append("the backend answered the client's EOF and closed; the client got "
                            "the answer, then %s (want EOF within 5 s): the backend's close was "
                            "not passed on" % end)
    d = tunnel_expect(problems, held, "the upgrade request")
    # The HTTP request inside the tunnel was data: neither pool saw it as a request.
    for lines, pool in ((env.nginx_log_lines, "legacy"), (env.modern_log_lines, "modern")):
        seen = [l for l in S.backend_settled(lines) if fake in l]
        S.check(not seen, "%s saw the request sent inside the tunnel: %r" % (pool, seen))
    fresh_ok("a new connection after the tunnel", "after-tunnel")
    if d:
        info("framing_upgrade_tunnel_client_half_close", "the upgrade request, on a kernel-held "
             "connection: kernel %d, passed %d" % (d["kernel"], d["passed"]))
    S.check(not problems, "; ".join(problems))


@framing
def framing_upgrade_backend_half_close(env):
    """The backend half-closes the tunnel (SHUT_WR after its bytes): the client gets every byte
    then EOF, and can still send: the backend gets those bytes and the client's EOF."""
    n = 100 * KIB
    label = tag("half")
    start = len(events(env))
    problems = []
    with RawConn(timeout=5.0) as c:
        warm(env, c, "upgrade-shut")
        held = Held(env, ["/__upgrade"])
        open_tunnel(c, "/__upgrade/shut/%d/%s" % (n, label), "GET /__upgrade/shut")
        data, end = read_to_end(c, 5.0)
        pattern_check(data, n, "after the 101")
        if end != "eof":
            problems.append("the backend sent %d bytes and shut its write side; the client got "
                            "%d bytes, then %s (want EOF within 5 s): the backend's half-close "
                            "was not passed on" % (n, len(data), end))
        # The client's direction stays open (whether or not the EOF came).
        upstream = b"after the backend's FIN\n" + B.pattern_at(777, 64 * KIB)
        c.send(upstream)
        S.check(c.send_error is None, "the client could not send after the backend's half-close "
                "(%s): strgd closed the client connection instead of passing the FIN on" %
                c.send_error)
        try:
            c.shutdown_write()
        except OSError as e:
            raise S.Fail("after the backend's half-close the client connection was gone "
                         "(shutdown(SHUT_WR) after sending: %s): the FIN was not passed on as a "
                         "half-close" % e)
        want = "tunnel %s got %d sha256=%s" % (label, len(upstream), sha(upstream))
        line = wait_event(env, start, lambda l: l.startswith("tunnel %s " % label), 5.0)
        if line != want:
            problems.append("the backend, after its half-close, read %r from the client, want "
                            "%r (the %d bytes the client sent after the backend's FIN, then EOF)"
                            % (line, want, len(upstream)))
        if line is not None:
            # The backend closed after the client's EOF: the connection ends.
            end = c.wait_eof(5.0)
            if end not in ("eof", "reset"):
                problems.append("after both half-closes (the backend then closed) the client "
                                "connection did not end within 5 s: %s" % end)
    tunnel_expect(problems, held, "the upgrade request")
    S.check(not problems, "; ".join(problems))


@framing
def framing_upgrade_backend_close(env):
    """The backend closes the tunnel after its bytes: the client gets them all, then EOF. On a
    fresh connection (the upgrade is its first request) and on a warmed one."""
    n = 200 * KIB
    problems = []
    for warmed in (False, True):
        what = "backend close, %s connection" % ("warmed" if warmed else "fresh")
        with RawConn(timeout=5.0) as c:
            held = None
            if warmed:
                warm(env, c, "upgrade-close")
                held = Held(env, ["/__upgrade"])
            open_tunnel(c, "/__upgrade/close/%d" % n, "%s: GET /__upgrade/close" % what)
            data, end = read_to_end(c, 5.0)
            pattern_check(data, n, what)
            if end != "eof":
                problems.append("%s: the client got the backend's %d bytes, then %s (want EOF "
                                "within 5 s): the backend's close was not passed on" % (
                                    what, n, end))
        if held:
            tunnel_expect(problems, held, "%s: the upgrade request" % what)
    fresh_ok("a new connection after the tunnels", "after-close")
    S.check(not problems, "; ".join(problems))


@framing
def framing_upgrade_refused_stays_http(env):
    """An Upgrade request answered with a plain response (426, Content-Length) is no tunnel:
    the connection goes on with the next request."""
    with RawConn(timeout=5.0) as c:
        warm(env, c, "upgrade-refused")
        held = Held(env, ["/__upgrade"])
        # Upgrade without "Connection: upgrade": the backend refuses with 426.
        resp = exchange(c, "GET", "/__upgrade", headers=["Upgrade: strg-echo"])
        S.check(resp.status == 426 and resp.pool() == "modern" and
                resp.body.startswith(b"modern: want Upgrade"), "GET /__upgrade with Upgrade "
                "only: %r, want 426 from modern" % resp)
        S.check(not resp.connection_close(), "426: Connection: close (%r)" % resp)
        status_ok(c, "the request after the refused upgrade", "after-426")
    held.expect("/__upgrade", 1, "the refused upgrade request")


# ---------------------------------------------------------------------------------------------
# Chunked and close-delimited responses


@framing
def framing_chunked_response_byte_exact(env):
    """Chunked responses of 300 KiB (chunks of many sizes, then with chunk extensions and a
    trailer) reach the client byte-exact, framing and all; the keep-alive connection then serves
    the next request; a HEAD answer that says chunked has no body; a request pipelined behind
    a chunked response is answered after it."""
    with RawConn(timeout=10.0) as c:
        warm(env, c, "chunked")
        held = Held(env, ["/__chunked", "/__status"])
        n_status = 0
        for ext in (False, True):
            path = "/__chunked/%d%s" % (BODY, "?ext" if ext else "")
            resp = exchange(c, "GET", path, head_only=True)
            S.check(resp.status == 200 and resp.pool() == "modern" and
                    (resp.header("Transfer-Encoding") or "").lower() == "chunked" and
                    resp.header("Content-Length") is None,
                    "GET %s: %r (Transfer-Encoding %r, Content-Length %r), want a chunked 200" % (
                        path, resp, resp.header("Transfer-Encoding"),
                        resp.header("Content-Length")))
            body, raw = read_chunked(c, "GET %s" % path)
            want = B.pattern_at(0, BODY)
            S.check(len(body) == BODY and sha(body) == sha(want),
                    "GET %s: decoded body of %d bytes, sha256 %s, want %d pattern bytes (%s)" % (
                        path, len(body), sha(body)[:16], BODY, sha(want)[:16]))
            want_raw = b"".join(B.chunked_pieces(BODY, ext))
            S.check(sha(raw) == sha(want_raw), "GET %s: the chunk framing the client got (%d "
                    "bytes) differs from what the backend sent (%d bytes)%s" % (
                        path, len(raw), len(want_raw),
                        ": the trailer is missing" if ext and B.CHUNK_TRAILER not in raw
                        else ""))
            status_ok(c, "the request after GET %s" % path, "after-chunked-%d" % ext)
            n_status += 1
        # HEAD: the head says chunked, no chunk follows.
        resp = exchange(c, "HEAD", "/__chunked/%d" % BODY)
        S.check(resp.status == 200 and (resp.header("Transfer-Encoding") or "").lower() ==
                "chunked", "HEAD /__chunked: %r" % resp)
        status_ok(c, "the request after HEAD /__chunked", "after-head-chunked")
        n_status += 1
        # Pipelined behind a chunked response.
        c.send(request("GET", "/__chunked/5000") + request("GET", "/__status/200?pipelined"))
        resp = c.read_response()
        expect_status_body(resp, 200, B.pattern_at(0, 5000), "pipelined GET /__chunked/5000")
        resp = c.read_response()
        expect_status_body(resp, 200, b"modern status 200\n",
                           "GET /__status/200 pipelined behind a chunked response")
        n_status += 1
    held.expect("/__chunked", 4, "the chunked responses")
    held.expect("/__status", n_status, "the requests after chunked responses")
    if held.on:
        d = held.delta("/__chunked")
        info("framing_chunked_response_byte_exact", "4 chunked responses on a kernel-held "
             "connection: kernel carried %d requests, passed %d" % (d["kernel"], d["passed"]))


@framing
def framing_close_delimited_response(env):
    """Responses with neither Content-Length nor Transfer-Encoding, ended by the backend's
    close (with and without "Connection: close"): the client gets the 300 KiB byte-exact, then
    EOF; strgd goes on serving."""
    for query in ("", "?conn"):
        path = "/__close/%d%s" % (BODY, query)
        with RawConn(timeout=10.0) as c:
            warm(env, c, "close")
            held = Held(env, ["/__close"])
            resp = exchange(c, "GET", path, head_only=True)
            S.check(resp.status == 200 and resp.pool() == "modern" and
                    resp.header("Content-Length") is None and
                    resp.header("Transfer-Encoding") is None,
                    "GET %s: %r, want a 200 without Content-Length or Transfer-Encoding" % (
                        path, resp))
            data, end = read_to_end(c, 10.0)
            want = B.pattern_at(0, BODY)
            S.check(len(data) == BODY and sha(data) == sha(want),
                    "GET %s: %d bytes before %s (sha256 %s), want %d pattern bytes (%s)" % (
                        path, len(data), end, sha(data)[:16], BODY, sha(want)[:16]))
            S.check(end == "eof", "GET %s: the body ended with %s, want EOF" % (path, end))
            held.expect("/__close", 1, "GET %s" % path)
    fresh_ok("a new connection after close-delimited responses", "after-close-delimited")


# ---------------------------------------------------------------------------------------------
# Responses without a body: 204, 304, HEAD


@framing
def framing_bodiless_204_304_head(env):
    """204, 304 (also one with the representation's Content-Length), HEAD answers (with
    Content-Length, or saying chunked) and an interim 103 have no body: each is followed on the
    same keep-alive connection by the next response, sequential and pipelined."""
    seq = [
        ("GET", "/__status/204", 204, None),
        ("GET", "/__status/200?after-204", 200, b"modern status 200\n"),
        ("GET", "/__status/304", 304, None),
        ("GET", "/__status/304?cl=5000", 304, None),
        ("GET", "/__status/200?after-304", 200, b"modern status 200\n"),
        ("HEAD", "/__bytes/100000", 200, None),
        ("GET", "/__status/200?after-head", 200, b"modern status 200\n"),
        ("HEAD", "/__status/404", 404, None),
        ("GET", "/__status/204", 204, None),
        ("GET", "/__status/204", 204, None),
        ("HEAD", "/__chunked/100000", 200, None),
        ("GET", "/__status/200?end", 200, b"modern status 200\n"),
    ]
    with RawConn(timeout=5.0) as c:
        warm(env, c, "bodiless")
        held = Held(env, ["/__status", "/__bytes", "/__chunked"])
        for i, (method, path, status, body) in enumerate(seq):
            what = "request %d, %s %s" % (i + 1, method, path)
            resp = exchange(c, method, path, what=what)
            expect_status_body(resp, status, body, what)
            if path == "/__status/304?cl=5000":
                S.check(resp.header("Content-Length") == "5000", "%s: Content-Length %r, the "
                        "backend sent 5000" % (what, resp.header("Content-Length")))
            if method == "HEAD" and path.startswith("/__bytes/"):
                S.check(resp.header("Content-Length") == "100000", "%s: Content-Length %r" % (
                    what, resp.header("Content-Length")))
            S.check(not resp.connection_close(), "%s: Connection: close" % what)
            # Nothing may follow a bodiless answer before the next request's response.
            S.check(not c.buf, "%s: %d bytes right after the head: %r" % (
                what, len(c.buf), bytes(c.buf[:60])))
        # An interim 103 (a head alone), then the final response.
        c.send(request("GET", "/__status/103"))
        try:
            interim = c.read_response(skip_1xx=False)
            final = c.read_response()
        except (socket.timeout, h.ProtocolError, ConnectionResetError) as e:
            raise S.Fail("GET /__status/103: %s: %s" % (type(e).__name__, e))
        S.check(interim.status == 103 and interim.header("Link") == "</__status/200>",
                "GET /__status/103: first %r, want the backend's 103 Early Hints" % interim)
        expect_status_body(final, 200, b"modern status 200 after 103\n",
                           "GET /__status/103, the final response after the 103")
        status_ok(c, "the request after a 103 and its final response", "after-103")
        # The same, pipelined in one write.
        pipe = [("GET", "/__status/204", 204, None),
                ("GET", "/__status/304?cl=5000", 304, None),
                ("HEAD", "/__bytes/1000", 200, None),
                ("GET", "/__status/200?pipelined", 200, b"modern status 200\n")]
        c.send(b"".join(request(m, p) for m, p, _, _ in pipe))
        for i, (method, path, status, body) in enumerate(pipe):
            what = "pipelined %d, %s %s" % (i + 1, method, path)
            try:
                resp = c.read_response(head_only=(method == "HEAD"))
            except (socket.timeout, h.ProtocolError, ConnectionResetError) as e:
                raise S.Fail("%s: %s: %s" % (what, type(e).__name__, e))
            expect_status_body(resp, status, body, what)
    # The sequence, the pipeline, and GET /__status/103 with the request after it.
    n_status = sum(1 for _, p, _, _ in seq + pipe if p.startswith("/__status/")) + 2
    n_bytes = sum(1 for _, p, _, _ in seq + pipe if p.startswith("/__bytes/"))
    held.expect("/__status", n_status, "the 204, 304 and other /__status requests")
    held.expect("/__bytes", n_bytes, "HEAD /__bytes")
    held.expect("/__chunked", 1, "HEAD /__chunked")
    if held.on:
        d = held.delta("/__status")
        info("framing_bodiless_204_304_head", "%d /__status requests on a kernel-held "
             "connection: kernel carried %d, passed %d" % (n_status, d["kernel"], d["passed"]))


# ---------------------------------------------------------------------------------------------
# Transfers cut short


def split_response(data):
    """(Response of the head at the start of data, the bytes after it), or (None, data)."""
    i = data.find(b"\r\n\r\n")
    if i < 0:
        return None, data
    lines = data[:i].decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        return None, data
    fields = [(n.strip(), v.strip()) for n, _, v in (l.partition(":") for l in lines[1:])]
    return h.Response(parts[0], int(parts[1]), parts[2] if len(parts) > 2 else "", fields,
                      b""), data[i + 4:]


@framing
def framing_backend_reset_mid_body(env):
    """A backend that resets (RST) inside its body, or closes (FIN) there: the client gets the
    head and every byte the backend sent, no more (no made-up end, no second response), then
    the connection ends; another client's keep-alive connection and new connections are served
    as before. The backend resets only once strgd's socket acknowledged all it sent."""
    cases = [("/__reset/1000", "Content-Length", 1000, "RST"),
             ("/__reset/%d" % BODY, "Content-Length", BODY, "RST"),
             ("/__reset/%d?chunked" % BODY, "chunked", BODY, "RST"),
             ("/__reset/%d?fin" % BODY, "Content-Length", BODY, "FIN")]
    other = RawConn(timeout=5.0)
    try:
        status_ok(other, "another client's first request", "other-0")
        for i, (path, kind, n, how) in enumerate(cases):
            if kind == "chunked":
                want = b"".join(B.chunked_pieces(n, last=False))
            else:
                want = B.pattern_at(0, n)
            what = "GET %s (%s, then %s)" % (path, kind, how)
            with RawConn(timeout=5.0) as c:
                warm(env, c, "reset")
                held = Held(env, ["/__reset"])
                c.send(request("GET", path))
                data, end = read_to_end(c, 5.0)
                S.check(end in ("eof", "reset"), "%s: after %d bytes the connection was still "
                        "open 5 s after the backend's %s (%s)" % (what, len(data), how, end))
                resp, body = split_response(data)
                S.check(resp is not None, "%s: the client got %d bytes, then %s, and no response "
                        "head: the head and the %d body bytes the backend sent before its %s "
                        "were lost (%r)" % (what, len(data), end, len(want), how, data[:80]))
                S.check(resp.status == 200 and resp.pool() == "modern",
                        "%s: %r, want the backend's 200 head" % (what, resp))
                if kind == "chunked":
                    S.check((resp.header("Transfer-Encoding") or "").lower() == "chunked",
                            "%s: not chunked: %r" % (what, resp.headers))
                else:
                    S.check(resp.header("Content-Length") == str(2 * n + 1),
                            "%s: Content-Length %r, want %d" % (
                                what, resp.header("Content-Length"), 2 * n + 1))
                prefix = body == want[:len(body)]
                S.check(body == want, "%s: the client got %d bytes after the head (%s)%s, then "
                        "%s; want exactly the %d the backend sent before its %s, then the end" % (
                            what, len(body),
                            "a prefix of what the backend sent" if prefix else
                            "NOT what the backend sent",
                            "" if prefix or len(body) <= len(want) else
                            ", ending %r" % body[len(want):][:80], end, len(want), how))
                d = held.expect("/__reset", 1, what)
            info("framing_backend_reset_mid_body", "%s: %d bytes of %s then %s%s" % (
                what, len(body), kind, end, kernel_split(d)))
            status_ok(other, "another client's request after %s" % what, "other-%d" % (i + 1))
            fresh_ok("a new connection after %s" % what, "new-%d" % (i + 1))
    finally:
        other.close()


def abort(conn, how):
    """End a client connection: "fin" (close) or "rst" (SO_LINGER 0, then close)."""
    if how == "rst":
        conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def sha_answer(body):
    return ("sha256=%s len=%d\n" % (sha(body), len(body))).encode()


@framing
def framing_client_abort_mid_upload(env):
    """A client that sends half of a 1 MiB upload (Content-Length, or chunked) and then closes
    or resets: strgd closes that client's backend connection (if the head reached the backend,
    it sees the body cut, with no byte more than the client sent), never sends another client's
    request on it (that request gets its own answer, from its own backend connection), the
    backend refuses nothing (no garbage), and new connections are served."""
    total = 1024 * KIB
    half = 256 * KIB
    cases = [("fin", "length"), ("rst", "length"), ("fin", "chunked")]
    ev_start = len(events(env))
    log_start = len(env.modern_log_lines())
    other = RawConn(timeout=5.0)
    own = []  # the request lines the test sent to modern after the start, in order
    try:
        other_conn = warm(env, other, "abort-other").header("X-Backend-Conn")
        for i, (how, kind) in enumerate(cases):
            label = tag("abort")
            target = "/__sha256?t=%s" % label
            what = "upload %d (%s body, then %s)" % (i + 1, kind, how.upper())
            c = RawConn(timeout=5.0)
            try:
                aborted_conn = warm(env, c, label).header("X-Backend-Conn")
                held = Held(env, ["/__sha256"])
                if kind == "length":
                    head = request("POST", target, headers=["Content-Length: %d" % total])
                    body = B.pattern_at(0, half)
                else:
                    head = request("POST", target, headers=["Transfer-Encoding: chunked"])
                    body = b"".join(B.chunked_pieces(half, last=False))
                c.send(head + body)
                S.check(c.send_error is None, "%s: send: %s" % (what, c.send_error))
            finally:
                abort(c, how)
            # strgd closes the aborted client's backend connection: the backend sees it end.
            ended = wait_event(env, ev_start, lambda l: l == "conn %s end" % aborted_conn, 10.0)
            reached = "POST %s" % target in env.modern_log_lines()
            S.check(ended is not None, "%s: 10 s after the client went away its backend "
                    "connection %s is still open%s: strgd did not close it" % (
                        what, aborted_conn, " (the backend waits for the rest of the body)"
                        if reached else ""))
            d = None
            if reached:
                # The head went on: the backend must see the body cut short, never complete.
                own.append("POST %s" % target)
                cut = [l for l in events(env)[ev_start:]
                       if l.startswith("body cut: POST %s " % target)]
                S.check(cut, "%s: the backend got the upload's head and then its connection "
                        "ended without a body cut: events %r" % (what, events(env)[ev_start:]))
                got = int(cut[0].split(" after ", 1)[1].split(" ", 1)[0])
                S.check(got <= half, "%s: the backend got %d body bytes, the client sent %d: "
                        "%s" % (what, got, half, cut[0]))
                d = held.expect("/__sha256", 1, "%s: the upload" % what)
                outcome = "the backend got %d of the %d body bytes sent" % (got, half)
            else:
                # Allowed: a client that aborts may lose what it sent, the head included.
                outcome = "the request never reached the backend"
            # Another client's request: its own answer, over its own backend connection.
            mine = b"another client's body after %s" % label.encode()
            t_other = "/__sha256?t=%s-other" % label
            resp = exchange(other, "POST", t_other, body=mine, what="%s: another client's "
                            "request on its open connection" % what)
            own.append("POST %s" % t_other)
            expect_status_body(resp, 200, sha_answer(mine), "%s: another client's upload" % what)
            S.check(resp.header("X-Backend-Conn") == other_conn, "%s: another client's request "
                    "went over backend connection %s, its own is %s (the aborted client's was "
                    "%s)" % (what, resp.header("X-Backend-Conn"), other_conn, aborted_conn))
            # A new connection.
            t_new = "/__sha256?t=%s-new" % label
            with RawConn(timeout=5.0) as n:
                resp = exchange(n, "POST", t_new, body=mine, what="%s: a new connection" % what)
            own.append("POST %s" % t_new)
            expect_status_body(resp, 200, sha_answer(mine), "%s: a new connection's upload" %
                               what)
            S.check(resp.header("X-Backend-Conn") != aborted_conn, "%s: a new client's request "
                    "went over the aborted upload's backend connection %s" % (what, aborted_conn))
            info("framing_client_abort_mid_upload", "%s: %s, its backend connection closed%s"
                 % (what, outcome, kernel_split(d)))
    finally:
        other.close()
    # The backend refused nothing (garbage would be a bad request) and saw exactly the test's
    # requests to /__sha256 (besides the warm-ups, which go to /__status).
    refused = [l for l in events(env)[ev_start:] if l.startswith("bad request")]
    S.check(not refused, "the backend refused requests: %r" % refused)
    seen = [l for l in S.backend_settled(env.modern_log_lines)[log_start:]
            if l.startswith("POST /__sha256")]
    S.check(seen == own, "the backend's POST /__sha256 requests: %r, want %r" % (seen, own))
