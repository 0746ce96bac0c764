#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""The demo's monolith: the web page (static/) and every JSON endpoint of the application, each
answer saying it came from the monolith (`served_by` in JSON, `X-Served-By` on every answer).

    tools/demoapp/monolith.py --port 19001

  GET  /, /app.js, /app.css   the page
  POST /v1/login              body user=NAME: sets the cookie session=ID (HttpOnly)
  GET  /v1/getSalesLeads      the sales leads
  GET  /v1/getMarketingEvents the marketing events
  GET  /v1/orders             the signed-in user's orders (401 without a session)
  GET  /healthz               200
"""

import argparse
import os
import sys
import threading
import urllib.parse

import data
import web

STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
FILES = {"/": ("index.html", "text/html; charset=utf-8"),
         "/app.js": ("app.js", "text/javascript; charset=utf-8"),
         "/app.css": ("app.css", "text/css; charset=utf-8")}


class Monolith(web.Handler):
    system = "monolith"
    routes = {("GET", p): "page" for p in FILES}
    routes.update({("POST", "/v1/login"): "login", ("GET", "/v1/getSalesLeads"): "leads",
                   ("GET", "/v1/getMarketingEvents"): "events", ("GET", "/v1/orders"): "orders",
                   ("GET", "/healthz"): "healthz"})
    sessions = {}
    lock = threading.Lock()

    def page(self):
        name, ctype = FILES[self.path.split("?", 1)[0]]
        with open(os.path.join(STATIC, name), "rb") as f:
            self.send_bytes(200, ctype, f.read())

    def login(self):
        form = urllib.parse.parse_qs(self.body.decode("utf-8", "replace"))
        user = (form.get("user") or [""])[0].strip()[:40]
        if not user:
            self.send_json(400, {"error": "user=NAME wanted"})
            return
        sid = data.session_for(user)
        with self.lock:
            self.sessions[sid] = user
        cookie = "session=%s; Path=/; HttpOnly; SameSite=Lax" % sid
        self.send_json(200, {"user": user}, [("Set-Cookie", cookie)])

    def session(self):
        for part in (self.headers.get("Cookie") or "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == "session":
                with self.lock:
                    return value, self.sessions.get(value)
        return None, None

    def orders(self):
        sid, user = self.session()
        if user is None:
            self.send_json(401, {"error": "sign in first"})
            return
        self.send_json(200, {"user": user, "orders": data.orders_for(sid)})

    def leads(self):
        self.send_json(200, {"leads": data.LEADS})

    def events(self):
        self.send_json(200, {"events": data.EVENTS})

    def healthz(self):
        self.send_json(200, {"ok": True})


def main():
    ap = argparse.ArgumentParser(description="the strg demo's monolith")
    ap.add_argument("--port", type=int, required=True)
    return web.serve(Monolith, ap.parse_args().port)


if __name__ == "__main__":
    sys.exit(main())
