# SPDX-License-Identifier: GPL-2.0-only
"""The demo application's HTTP plumbing, shared by the monolith and the modern services:
an HTTP/1.1 keep-alive server (Python's standard library), JSON and file answers that say which
system served them, and a clean stop on SIGTERM or SIGINT."""

import http.server
import json
import signal
import socketserver
import sys
import threading


class Handler(http.server.BaseHTTPRequestHandler):
    """One request handler; a subclass sets `system` (who answers) and `routes`, a dict from
    (method, path) to the name of a method taking no argument."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # a head and its body go in two writes: neither may wait
    system = "?"
    routes = {}

    def do_GET(self):
        self.dispatch("GET")

    def do_HEAD(self):
        self.dispatch("HEAD")

    def do_POST(self):
        self.dispatch("POST")

    def dispatch(self, method):
        path = self.path.split("?", 1)[0]
        self.body = self.read_body()
        name = self.routes.get((method, path)) or self.routes.get((None, path))
        if name is None:
            self.send_json(404, {"error": "no such endpoint: %s %s" % (method, path)})
            return
        getattr(self, name)()

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def query(self):
        """The query string as a dict (last value wins)."""
        q = self.path.split("?", 1)[1] if "?" in self.path else ""
        return dict(p.split("=", 1) if "=" in p else (p, "") for p in q.split("&") if p)

    def send_json(self, status, obj, fields=()):
        obj = dict(obj, served_by=self.system)
        body = (json.dumps(obj, indent=None, separators=(", ", ": ")) + "\n").encode()
        self.send_bytes(status, "application/json", body, fields)

    def send_bytes(self, status, ctype, body, fields=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Served-By", self.system)
        self.send_header("Cache-Control", "no-store")
        for name, value in fields:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, fmt, *args):
        pass  # quiet: the demo prints what a client sees


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 256


def serve(handler, port, host="127.0.0.1"):
    """Serve until SIGTERM or SIGINT, then exit 0."""
    server = Server((host, port), handler)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                     daemon=True).start()
    print("%s listening on %s:%d" % (handler.system, host, port), file=sys.stderr, flush=True)
    while not stop.wait(0.5):
        pass
    server.shutdown()
    server.server_close()
    return 0
