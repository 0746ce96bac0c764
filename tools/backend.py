#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""strg sample backend: a small, real HTTP/1.1 server (Python stdlib only).

Used as the demo's legacy/modern backend and by the integration suite.

    tools/backend.py --name modern --port 9101 [--port 9102] [--host 127.0.0.1] [--log FILE]

Every response carries `X-Pool: <name>`, `X-Backend: <name>:<port>`, `X-Backend-Conn: <n>` (a
serial number of the TCP connection, so tests can see connection reuse) and, unless its endpoint
below says otherwise, a Content-Length, and the connection stays open (HTTP/1.1 keep-alive)
unless the client asked for close or the endpoint closes it.

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
  /__chunked/N     N pattern bytes with Transfer-Encoding: chunked, in chunks of the sizes
                   CHUNK_SIZES in turn, one write per chunk (see chunked_pieces()); with the query
                   "?ext" each size line carries a chunk extension and a trailer field follows
                   the last chunk. A HEAD answer is the head alone (it says chunked, sends none).
  /__close/N       a close-delimited response: a head with neither Content-Length nor
                   Transfer-Encoding (and no "Connection: close" unless the query has "conn"),
                   N pattern bytes, then the backend closes the connection
  /__status/CODE   answers with status CODE: 204 and 304 with a head alone (304 with
                   "Content-Length: N" for the query "?cl=N", still no body), any other code
                   (200-599) with the body "<name> status CODE\\n"; 102 and 103 with that interim
                   response (a head alone), then 200 "<name> status 200 after CODE\\n"; the
                   connection stays open
  /__upgrade[/MODE/...]  wants "Upgrade" and "Connection: upgrade" in the request (426
                   otherwise); answers "101 Switching Protocols" (Upgrade: strg-echo) and, in the
                   same write, the greeting UPGRADE_GREETING; then the connection is a tunnel:
        (none)       echoes every byte it gets; at the client's EOF it sends
                     "eof after <n> bytes sha256=<hex>\\n" (of the bytes it got) and closes
        /shut/N/TAG  sends N pattern bytes, shuts its write side (half-close), reads what the
                     client sends until EOF and records "tunnel TAG got <n> sha256=<hex>" in
                     the events log, then closes
        /close/N     sends N pattern bytes and closes
  /__reset/N       a head with "Content-Length: 2N+1", N pattern bytes, then (once the peer has
                   acknowledged them all) a reset: SO_LINGER 0 and close; with the query
                   "?chunked" a chunked head and N bytes in chunks (no last chunk) instead; with
                   "?fin" a plain close (FIN) instead of the reset
  /__drop          reads the request (head and body) and closes the connection without
                   answering (a backend that fails the request it has seen)
  /__json/K        application/json {"key": K, "price": 3K, "at": <time in ns>}: "at" differs
                   on every answer (a timestamp); with --differ PERMILLE, "price" is 3K+1 for
                   the keys K whose (K * 761) mod 1000 is below PERMILLE, so of any 1000
                   consecutive keys exactly PERMILLE differ from another backend's answer
  anything else    200 "<name> <METHOD> <path>\\n"

--log FILE appends one line "<METHOD> <target>" per request head received (before the body is
read), flushed at once, so a test can assert that a request never reached the backend. Events
that are not requests go to FILE.events, one line each: "body cut: <METHOD> <target> after <n>
of <m> bytes" (a request body ended by EOF or a reset; m is "chunked" for a chunked body), "bad
request: <status> <message>" (what the backend refused), "conn <n> end" (the connection whose
responses say X-Backend-Conn: <n> is over: the peer closed or reset it, or the backend closes
it now), "shadow copy: <METHOD> <target>" (the request carried X-Strg-Shadow: 1) and the
/__upgrade/shut lines.

The byte pattern generator lives here so tests can import it, with the exact bytes of the
chunked endpoints and the tunnel's greeting:
    from backend import pattern_chunks, pattern_sha256, pattern_at, chunked_pieces
"""

import argparse
import fcntl
import hashlib
import itertools
import json
import signal
import socket
import socketserver
import struct
import sys
import termios
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


def pattern_at(offset, n):
    """n pattern bytes from stream offset `offset` (any n)."""
    out = bytearray()
    while len(out) < n:
        off = (offset + len(out)) % BLOCK_SIZE
        out += PATTERN_BLOCK[off:off + min(n - len(out), BLOCK_SIZE - off)]
    return bytes(out)


# Chunk sizes of /__chunked/N, used in turn (small and large, so framing crosses reads).
CHUNK_SIZES = (1, 13, 255, 4096, 1000, 65536, 7, 30000, 2, 16384)
CHUNK_TRAILER = b"X-Strg-Trailer: done\r\n"


def chunked_pieces(n, ext=False, last=True):
    """The exact bytes /__chunked/N sends after its head, one chunk per piece: the first n
    pattern bytes in chunks of CHUNK_SIZES in turn, then the last chunk (and, with ext, a chunk
    extension on each size line and a trailer field). last=False leaves the last chunk out."""
    sent = 0
    i = 0
    while sent < n:
        size = min(CHUNK_SIZES[i % len(CHUNK_SIZES)], n - sent)
        line = (b"%X;strg=%d\r\n" % (size, i)) if ext else (b"%x\r\n" % size)
        yield line + pattern_at(sent, size) + b"\r\n"
        sent += size
        i += 1
    if last:
        yield b"0\r\n" + (CHUNK_TRAILER if ext else b"") + b"\r\n"


UPGRADE_GREETING = b"strg-echo ready\n"


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
    100: "Continue", 101: "Switching Protocols", 102: "Processing", 103: "Early Hints",
    200: "OK", 204: "No Content",
    304: "Not Modified", 400: "Bad Request", 404: "Not Found", 413: "Payload Too Large",
    417: "Expectation Failed", 426: "Upgrade Required", 431: "Request Header Fields Too Large",
    501: "Not Implemented",
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
    events = None
    verbose = False
    conn_ids = itertools.count(1)
    delay_ms = 0  # --delay: every answer waits this long
    differ = 0  # --differ: per mille of /__json keys whose price is off by one

    def setup(self):
        super().setup()
        self.conn_id = next(self.conn_ids)
        self.current = "-"  # "<METHOD> <target>" of the request being read, for events

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
            return self.tracked(self.read_chunked(), "chunked")
        if cl:
            values = {v.strip() for v in ",".join(cl).split(",")}
            if len(values) != 1 or not next(iter(values)).isdigit():
                raise BadRequest(400, "bad content-length")
            n = int(values.pop())
            return self.tracked(self.read_length(n), n)
        return iter(())

    def tracked(self, body, total):
        """body, recording a "body cut" event when it ends early (EOF or a reset)."""
        n = 0
        try:
            for data in body:
                n += len(data)
                yield data
        except (BadRequest, OSError) as e:
            if isinstance(e, OSError) or str(e).startswith("EOF"):
                e.cut = True
                self.events.write("body cut: %s after %d of %s bytes" % (self.current, n, total))
            raise

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

    def head_bytes(self, status, fields, close=False):
        """A response head: status line, the X-Pool/X-Backend/X-Backend-Conn fields, fields."""
        lines = [
            "HTTP/1.1 %d %s" % (status, REASONS.get(status, "Status")),
            "X-Pool: %s" % self.name,
            "X-Backend: %s:%d" % (self.name, self.port),
            "X-Backend-Conn: %d" % self.conn_id,
        ]
        lines.extend(fields)
        if close:
            lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def send_head(self, status, length, extra=(), close=False):
        fields = ["Content-Type: text/plain", "Content-Length: %d" % length] + list(extra)
        self.connection.sendall(self.head_bytes(status, fields, close))

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
            if not getattr(e, "cut", False):
                self.events.write("bad request: %d %s" % (status, e))
            if self.verbose:
                print("%s:%d: %d %s" % (self.name, self.port, status, e), file=sys.stderr)
            try:
                self.send_text(status, "%s: %s\n" % (self.name, e), close=True)
            except OSError:
                pass
        except (OSError, socket.timeout):
            pass
        finally:
            self.events.write("conn %d end" % self.conn_id)

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
        self.current = "%s %s" % (method, target)
        if any(n.lower() == "x-strg-shadow" and v.strip() == "1" for n, v in fields):
            self.events.write("shadow copy: %s %s" % (method, target))
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

        query = target.split("?", 1)[1] if "?" in target else ""
        args = path.split("/")[2:]  # "/__chunked/5" -> ["5"]

        if path.startswith("/__chunked/"):
            n = int_arg(args, 0, 0)
            ext = "ext" in query.split("&")
            resp_fields = ["Content-Type: application/octet-stream",
                           "Transfer-Encoding: chunked"]
            if ext:
                resp_fields.append("Trailer: X-Strg-Trailer")
            self.connection.sendall(self.head_bytes(200, resp_fields, not keep))
            if not head_only:
                for piece in chunked_pieces(n, ext):
                    self.connection.sendall(piece)
            return keep

        if path.startswith("/__close/"):
            n = int_arg(args, 0, 0)
            resp_fields = ["Content-Type: application/octet-stream"]
            self.connection.sendall(self.head_bytes(200, resp_fields, "conn" in query.split("&")))
            if not head_only:
                for piece in pattern_chunks(n):
                    self.connection.sendall(piece)
            return False  # the close ends the body

        if path.startswith("/__status/"):
            code = int_arg(args, 0, 200)
            if code in (102, 103):
                self.connection.sendall(self.head_bytes(code, ["Link: </__status/200>"]))
                self.send_text(200, "%s status 200 after %d\n" % (self.name, code), head_only,
                               not keep)
                return keep
            if not 200 <= code <= 599:
                self.send_text(404, "bad status\n", head_only, not keep)
                return keep
            if code in (204, 304):
                resp_fields = []
                if code == 304 and query.startswith("cl="):
                    resp_fields.append("Content-Length: %d" % int(query[3:].split("&")[0]))
                self.connection.sendall(self.head_bytes(code, resp_fields, not keep))
                return keep
            self.send_text(code, "%s status %d\n" % (self.name, code), head_only, not keep)
            return keep

        if path == "/__upgrade" or path.startswith("/__upgrade/"):
            return self.upgrade(fields, args, keep, head_only)

        if path == "/__drop" or path.startswith("/__drop/"):
            return False  # the body was read above; no answer, the connection closes

        if self.delay_ms:
            time.sleep(self.delay_ms / 1000.0)

        if path.startswith("/__json/"):
            k = int_arg(args, 0, 0)
            price = 3 * k + (1 if (k * 761) % 1000 < self.differ else 0)
            doc = json.dumps({"key": k, "price": price, "at": time.time_ns()}).encode()
            self.connection.sendall(self.head_bytes(200, [
                "Content-Type: application/json", "Content-Length: %d" % len(doc)],
                not keep) + (b"" if head_only else doc))
            return keep

        if path.startswith("/__reset/"):
            opts = query.split("&")
            self.reset(int_arg(args, 0, 0), "chunked" in opts, "fin" in opts)
            return False

        if path.startswith("/__sleep/"):
            try:
                ms = int(path[len("/__sleep/"):].split("/", 1)[0])
            except ValueError:
                ms = 0
            time.sleep(min(max(ms, 0), 600000) / 1000.0)

        self.send_text(200, "%s %s %s\n" % (self.name, method, path), head_only, not keep)
        return keep

    # ---- the tunnel and the reset ----

    def upgrade(self, fields, args, keep, head_only):
        upgrade = [v for n, v in fields if n.lower() == "upgrade"]
        conn_tokens = {t.strip().lower() for n, v in fields if n.lower() == "connection"
                       for t in v.split(",")}
        if not upgrade or "upgrade" not in conn_tokens:
            self.send_text(426, "%s: want Upgrade and Connection: upgrade\n" % self.name,
                           head_only, not keep)
            return keep
        head = self.head_bytes(101, ["Upgrade: strg-echo", "Connection: Upgrade"])
        self.connection.sendall(head + UPGRADE_GREETING)  # one write: head and first bytes
        mode = args[0] if args else ""
        if mode in ("shut", "close"):
            for piece in pattern_chunks(int_arg(args, 1, 0)):
                self.connection.sendall(piece)
            if mode == "close":
                return False
            self.connection.shutdown(socket.SHUT_WR)
            n, digest = self.drain_tunnel(echo=False)
            tag = args[2] if len(args) > 2 else "-"
            self.events.write("tunnel %s got %d sha256=%s" % (tag, n, digest))
            return False
        n, digest = self.drain_tunnel(echo=True)
        self.connection.sendall(b"eof after %d bytes sha256=%s\n" % (n, digest.encode()))
        return False

    def drain_tunnel(self, echo):
        """Read the tunnel until EOF (echoing each read when echo); (count, sha256 hex)."""
        h = hashlib.sha256()
        n = 0
        while True:
            data = self.rfile.read1(64 * 1024)
            if not data:
                return n, h.hexdigest()
            h.update(data)
            n += len(data)
            if echo:
                self.connection.sendall(data)

    def reset(self, n, chunked, fin=False):
        sock = self.connection
        if chunked:
            sock.sendall(self.head_bytes(200, ["Content-Type: application/octet-stream",
                                               "Transfer-Encoding: chunked"]))
            pieces = chunked_pieces(n, last=False)
        else:
            sock.sendall(self.head_bytes(200, ["Content-Type: application/octet-stream",
                                               "Content-Length: %d" % (2 * n + 1)]))
            pieces = pattern_chunks(n)
        for piece in pieces:
            sock.sendall(piece)
        # Reset only once the peer has acknowledged every byte: what was sent is the peer's.
        deadline = time.monotonic() + 5.0
        while unacked(sock) and time.monotonic() < deadline:
            time.sleep(0.005)
        if not fin:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.rfile.close()  # it holds a reference: the socket closes (RST or FIN) with the last
        sock.close()


def int_arg(args, i, default):
    try:
        return int(args[i])
    except (IndexError, ValueError):
        return default


def unacked(sock):
    """Bytes in sock's send queue the peer has not acknowledged yet (SIOCOUTQ)."""
    buf = fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0")
    return struct.unpack("i", buf)[0]


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 512


class Server6(Server):
    address_family = socket.AF_INET6


def make_server(host, port, name, log, verbose, events=None, delay_ms=0, differ=0):
    handler = type("BoundHandler", (Handler,),
                   {"name": name, "port": port, "log": log, "verbose": verbose,
                    "events": events or RequestLog(None), "delay_ms": delay_ms,
                    "differ": differ})
    return (Server6 if ":" in host else Server)((host, port), handler)


def main(argv=None):
    ap = argparse.ArgumentParser(description="strg sample HTTP/1.1 backend")
    ap.add_argument("--name", required=True, help="pool name reported in X-Pool (legacy, modern)")
    ap.add_argument("--port", type=int, action="append", required=True,
                    help="port to listen on (repeat for several)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--log", help="append one line per request to FILE")
    ap.add_argument("-v", "--verbose", action="store_true", help="log requests to stderr")
    ap.add_argument("--delay", type=int, default=0, metavar="MS",
                    help="every answer waits MS milliseconds (a slow pool)")
    ap.add_argument("--differ", type=int, default=0, metavar="PERMILLE",
                    help="/__json/K answers a price off by one for PERMILLE of the keys")
    args = ap.parse_args(argv)

    log = RequestLog(args.log)
    events = RequestLog(args.log + ".events" if args.log else None)
    servers = [make_server(args.host, p, args.name, log, args.verbose, events, args.delay,
                           args.differ)
               for p in args.port]
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
