#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""strg sample backend: a small, real HTTP/1.1 server (Python stdlib only).

Used as the demo's legacy/modern backend and by the integration suite.

    tools/backend.py --name modern --port 9101 [--port 9102] [--host 127.0.0.1] [--log FILE]

Every response carries `X-Pool: <name>`, `X-Backend: <name>:<port>`, `X-Backend-Conn: <n>` (a
serial number of the TCP connection, so tests can see connection reuse) and a Content-Length, and
the connection stays open (HTTP/1.1 keep-alive) unless the client asked for close.

Endpoints (any method unless stated):
  /__bytes/N       N deterministic bytes (see pattern_chunks()), streamed
  /__sha256        reads the request body (Content-Length or chunked, streamed) and answers
                   "sha256=<hex> len=<n>\\n"
  /__headers       echoes the request head exactly as received (request line + fields)
  /__sleep/MS      sleeps MS milliseconds, then answers like any other path
  /__unsolicited/MS  answers like any other path, then MS ms later sends a second, unasked-for
                   response on the same connection (a hostile or broken backend)
  /__extra/N       answers with N pattern bytes and, in the same write, an unasked-for second
                   response right after them
  anything else    200 "<name> <METHOD> <path>\\n"

--log FILE appends one line "<METHOD> <target>" per request head received (before the body is
read), flushed at once, so a test can assert that a request never reached the backend.

The byte pattern generator lives here so tests can import it:
    from backend import pattern_chunks, pattern_sha256
"""

import argparse
import hashlib
import itertools
import signal
import socket
import socketserver
import sys
import threading
import time

# ---------------------------------------------------------------------------------------------
# Deterministic byte pattern: a 64 KiB block of SHA-256 output in counter mode (stable across
# Python versions and machines), repeated.

BLOCK_SIZE = 64 * 1024


def _make_block():
    parts = []
    for i in range(BLOCK_SIZE // 32):
        parts.append(hashlib.sha256(b"strg-pattern-%d" % i).digest())
    return b"".join(parts)


PATTERN_BLOCK = _make_block()


def pattern_chunks(n, chunk=BLOCK_SIZE):
    """Yield the first n bytes of the pattern, in pieces of at most `chunk` bytes (<= 64 KiB)."""
    chunk = max(1, min(chunk, BLOCK_SIZE))
    view = memoryview(PATTERN_BLOCK)
    sent = 0
    while sent < n:
        off = sent % BLOCK_SIZE
        take = min(n - sent, chunk, BLOCK_SIZE - off)
        yield view[off:off + take]
        sent += take


def pattern_sha256(n):
    """Hex SHA-256 of the first n pattern bytes."""
    h = hashlib.sha256()
    for piece in pattern_chunks(n):
        h.update(piece)
    return h.hexdigest()


def write_pattern_file(path, n):
    with open(path, "wb") as f:
        for piece in pattern_chunks(n):
            f.write(piece)


# ---------------------------------------------------------------------------------------------
# HTTP/1.1 server

MAX_LINE = 64 * 1024  # request line / field line
MAX_FIELDS = 256
IDLE_TIMEOUT = 60.0  # keep-alive idle and per-read timeout
REASONS = {
    100: "Continue", 200: "OK", 400: "Bad Request", 404: "Not Found", 413: "Payload Too Large",
    417: "Expectation Failed", 431: "Request Header Fields Too Large", 501: "Not Implemented",
}


# What the hostile endpoints send when nobody asked: a complete response of its own.
UNSOLICITED = (b"HTTP/1.1 200 OK\r\nX-Pool: unsolicited\r\nContent-Length: 12\r\n\r\n"
               b"unsolicited\n")


class BadRequest(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


class RequestLog:
    """Append-only request log shared by all connections."""

    def __init__(self, path):
        self.lock = threading.Lock()
        self.file = open(path, "a", buffering=1) if path else None

    def write(self, line):
        if self.file is None:
            return
        with self.lock:
            self.file.write(line + "\n")
            self.file.flush()


class Handler(socketserver.StreamRequestHandler):
    rbufsize = 64 * 1024
    timeout = IDLE_TIMEOUT
    disable_nagle_algorithm = True

    # set per server in make_server()
    name = "backend"
    port = 0
    log = None
    verbose = False
    conn_ids = itertools.count(1)

    def setup(self):
        super().setup()
        self.conn_id = next(self.conn_ids)

    # ---- reading ----

    def readline(self):
        line = self.rfile.readline(MAX_LINE + 1)
        if len(line) > MAX_LINE:
            raise BadRequest(431, "line too long")
        return line

    def read_head(self):
        """Return (raw_head, request_line, [(name, value)]) or None on a clean EOF."""
        line = self.readline()
        while line in (b"\r\n", b"\n"):  # RFC 9112 2.2: ignore empty lines before a request
            line = self.readline()
        if not line:
            return None
        raw = [line]
        fields = []
        while True:
            fl = self.readline()
            if not fl:
                raise BadRequest(400, "EOF in head")
            raw.append(fl)
            if fl in (b"\r\n", b"\n"):
                break
            if len(fields) >= MAX_FIELDS:
                raise BadRequest(431, "too many fields")
            name, sep, value = fl.partition(b":")
            if not sep or not name or name != name.strip():
                raise BadRequest(400, "bad field line")
            fields.append((name.decode("latin-1"), value.strip().decode("latin-1")))
        return b"".join(raw), line.rstrip(b"\r\n").decode("latin-1"), fields

    def body_reader(self, fields):
        """Return an iterator over the request body's bytes (possibly empty)."""
        te = [v for n, v in fields if n.lower() == "transfer-encoding"]
        cl = [v for n, v in fields if n.lower() == "content-length"]
        if te:
            codings = [c.strip().lower() for c in ",".join(te).split(",")]
            if codings != ["chunked"] or cl:
                raise BadRequest(501 if not cl else 400, "unsupported transfer-encoding")
            return self.read_chunked()
        if cl:
            values = {v.strip() for v in ",".join(cl).split(",")}
            if len(values) != 1 or not next(iter(values)).isdigit():
                raise BadRequest(400, "bad content-length")
            return self.read_length(int(values.pop()))
        return iter(())

    def read_length(self, n):
        while n > 0:
            data = self.rfile.read1(min(n, 256 * 1024))
            if not data:
                raise BadRequest(400, "EOF in body")
            n -= len(data)
            yield data

    def read_chunked(self):
        while True:
            line = self.readline()
            if not line.endswith(b"\n"):
                raise BadRequest(400, "EOF in chunk size")
            size_txt = line.split(b";", 1)[0].strip()
            try:
                size = int(size_txt, 16)
            except ValueError:
                raise BadRequest(400, "bad chunk size") from None
            if size_txt.startswith((b"-", b"+", b"0x", b"0X")):
                raise BadRequest(400, "bad chunk size")
            if size == 0:
                break
            yield from self.read_length(size)
            if self.readline() not in (b"\r\n", b"\n"):
                raise BadRequest(400, "missing CRLF after chunk")
        while True:  # trailer section
            line = self.readline()
            if not line:
                raise BadRequest(400, "EOF in trailers")
            if line in (b"\r\n", b"\n"):
                break

    # ---- writing ----

    def send_head(self, status, length, extra=(), close=False):
        lines = [
            "HTTP/1.1 %d %s" % (status, REASONS.get(status, "Status")),
            "X-Pool: %s" % self.name,
            "X-Backend: %s:%d" % (self.name, self.port),
            "X-Backend-Conn: %d" % self.conn_id,
            "Content-Type: text/plain",
            "Content-Length: %d" % length,
        ]
        lines.extend(extra)
        if close:
            lines.append("Connection: close")
        self.connection.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    def send_text(self, status, text, head_only=False, close=False):
        body = text.encode("latin-1", "replace") if isinstance(text, str) else text
        self.send_head(status, len(body), close=close)
        if body and not head_only:
            self.connection.sendall(body)

    # ---- dispatch ----

    def handle(self):
        try:
            while self.handle_one():
                pass
        except (BadRequest, ValueError) as e:
            status = getattr(e, "status", 400)
            if self.verbose:
                print("%s:%d: %d %s" % (self.name, self.port, status, e), file=sys.stderr)
            try:
                self.send_text(status, "%s: %s\n" % (self.name, e), close=True)
            except OSError:
                pass
        except (OSError, socket.timeout):
            pass

    def handle_one(self):
        head = self.read_head()
        if head is None:
            return False
        raw, request_line, fields = head
        parts = request_line.split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise BadRequest(400, "bad request line")
        method, target, version = parts
        self.log.write("%s %s" % (method, target))
        if self.verbose:
            print("%s:%d: %s %s" % (self.name, self.port, method, target), file=sys.stderr)

        conn_tokens = {t.strip().lower() for n, v in fields if n.lower() == "connection"
                       for t in v.split(",")}
        if version == "HTTP/1.0":
            keep = "keep-alive" in conn_tokens
        else:
            keep = "close" not in conn_tokens

        expect = [v.strip().lower() for n, v in fields if n.lower() == "expect"]
        if expect and expect != ["100-continue"]:
            raise BadRequest(417, "unsupported expectation")
        body = self.body_reader(fields)
        if expect and version != "HTTP/1.0":
            self.connection.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")

        path = target.split("?", 1)[0]
        head_only = method == "HEAD"

        if path == "/__sha256":
            h = hashlib.sha256()
            n = 0
            for data in body:
                h.update(data)
                n += len(data)
            self.send_text(200, "sha256=%s len=%d\n" % (h.hexdigest(), n), head_only, not keep)
            return keep

        for _ in body:  # every other endpoint ignores the body, but must consume it
            pass

        if path.startswith("/__bytes/"):
            try:
                n = int(path[len("/__bytes/"):])
            except ValueError:
                n = -1
            if n < 0:
                self.send_text(404, "bad length\n", head_only, not keep)
                return keep
            self.send_head(200, n, close=not keep)
            if not head_only:
                for piece in pattern_chunks(n):
                    self.connection.sendall(piece)
            return keep

        if path.startswith("/__extra/"):
            try:
                n = max(0, int(path[len("/__extra/"):]))
            except ValueError:
                n = 0
            body = b"".join(bytes(p) for p in pattern_chunks(n))
            head = ("HTTP/1.1 200 OK\r\nX-Pool: %s\r\nContent-Length: %d\r\n\r\n" % (
                self.name, n)).encode()
            self.connection.sendall(head + body + UNSOLICITED)
            return keep

        if path.startswith("/__unsolicited/"):
            try:
                ms = int(path[len("/__unsolicited/"):].split("/", 1)[0])
            except ValueError:
                ms = 0
            self.send_text(200, "%s %s %s\n" % (self.name, method, path), head_only, not keep)
            time.sleep(min(max(ms, 0), 60000) / 1000.0)
            self.connection.sendall(UNSOLICITED)
            return keep

        if path == "/__headers":
            self.send_text(200, raw, head_only, not keep)
            return keep

        if path.startswith("/__sleep/"):
            try:
                ms = int(path[len("/__sleep/"):].split("/", 1)[0])
            except ValueError:
                ms = 0
            time.sleep(min(max(ms, 0), 600000) / 1000.0)

        self.send_text(200, "%s %s %s\n" % (self.name, method, path), head_only, not keep)
        return keep


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 512


def make_server(host, port, name, log, verbose):
    handler = type("BoundHandler", (Handler,),
                   {"name": name, "port": port, "log": log, "verbose": verbose})
    return Server((host, port), handler)


def main(argv=None):
    ap = argparse.ArgumentParser(description="strg sample HTTP/1.1 backend")
    ap.add_argument("--name", required=True, help="pool name reported in X-Pool (legacy, modern)")
    ap.add_argument("--port", type=int, action="append", required=True,
                    help="port to listen on (repeat for several)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--log", help="append one line per request to FILE")
    ap.add_argument("-v", "--verbose", action="store_true", help="log requests to stderr")
    args = ap.parse_args(argv)

    log = RequestLog(args.log)
    servers = [make_server(args.host, p, args.name, log, args.verbose) for p in args.port]
    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    for s in servers:
        threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.1},
                         daemon=True).start()
    print("backend %s listening on %s" % (args.name, ", ".join(
        "%s:%d" % (args.host, p) for p in args.port)), file=sys.stderr, flush=True)
    while not stop.wait(0.5):
        pass
    for s in servers:
        s.shutdown()
        s.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
