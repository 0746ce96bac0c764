#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""What the demo's users see: clients of the front door that print which system answered.

    client.py view HOST:PORT [--user U] [--tester POOL]
        one user opens the page: the page, the login, then each panel, one line each
    client.py users HOST:PORT N [--path P] [--rounds R] [--twice]
        N users sign in and each asks P R times: who answered, tallied per system; with
        --twice they come back on new connections and the users whose system changed are counted
    client.py until-rollback HOST:PORT --path P [--seconds S]
        users keep asking P (about 50 a second), a line per second, until the monolith has
        answered 20 times in a row (exit 0) or S seconds passed (exit 1)

Every user keeps one keep-alive connection, as a browser does; a user's session cookie comes
from the monolith's login (POST /v1/login), which is what strgd's sticky canary hashes.
"""

import argparse
import collections
import http.client
import json
import sys
import time

PANELS = [("sales leads", "GET", "/v1/getSalesLeads"),
          ("marketing events", "GET", "/v1/getMarketingEvents"),
          ("orders", "GET", "/v1/orders")]


class User:
    """One browser: a keep-alive connection to the front door and the user's cookie."""

    def __init__(self, door, name, tester=None):
        host, port = door.rsplit(":", 1)
        self.conn = http.client.HTTPConnection(host, int(port), timeout=10)
        self.name = name
        self.cookie = None
        self.tester = tester

    def ask(self, method, path, body=None):
        """(status, who answered, parsed JSON or {})."""
        headers = {}
        if self.cookie:
            headers["Cookie"] = self.cookie
        if self.tester:
            headers["X-Strg-Pool"] = self.tester
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        self.conn.request(method, path, body=body, headers=headers)
        r = self.conn.getresponse()
        raw = r.read()
        cookie = r.getheader("Set-Cookie")
        if cookie:
            self.cookie = cookie.split(";", 1)[0]
        try:
            j = json.loads(raw)
        except ValueError:
            j = {}
        return r.status, j.get("served_by") or r.getheader("X-Served-By") or "?", j

    def login(self):
        return self.ask("POST", "/v1/login", "user=" + self.name)

    def close(self):
        self.conn.close()


def line(what, method, path, answer):
    status, by, _ = answer
    print("      %-17s <- %-9s (%s %s: %d)" % (what, by, method, path, status))


def cmd_view(a):
    u = User(a.door, a.user, a.tester)
    line("page", "GET", "/", u.ask("GET", "/"))
    line("login", "POST", "/v1/login", u.login())
    for what, method, path in PANELS:
        line(what, method, path, u.ask(method, path))
    u.close()
    return 0


def who(answer):
    """The system that answered, with the status when it is not 200."""
    status, by, _ = answer
    return by if status == 200 else "%s %d" % (by, status)


def ask_all(a, names):
    """Each user signs in and asks a.path a.rounds times; user -> the systems that answered."""
    seen = {}
    for name in names:
        u = User(a.door, name)
        u.login()
        seen[name] = collections.Counter(who(u.ask("GET", a.path)) for _ in range(a.rounds))
        u.close()
    return seen


def tally(seen):
    total = collections.Counter()
    for c in seen.values():
        total.update(c)
    n = sum(total.values())
    return ", ".join("%s %d (%.1f %%)" % (k, v, 100.0 * v / n) for k, v in total.most_common())


def cmd_users(a):
    names = ["user%03d" % i for i in range(1, a.n + 1)]
    first = ask_all(a, names)
    print("      %d users signed in, %d requests of GET %s answered by: %s" % (
        a.n, a.n * a.rounds, a.path, tally(first)))
    if a.twice:
        again = ask_all(a, names)
        moved = sum(1 for n in names if set(first[n]) != set(again[n]))
        print("      the same users again, on new connections: %s; users whose system changed: %d"
              % (tally(again), moved))
    return 0


def cmd_until_rollback(a):
    users = [User(a.door, "user%03d" % i) for i in range(1, 6)]
    for u in users:
        u.login()
    start = time.monotonic()
    in_a_row, second, per = 0, 1, collections.Counter()
    i = 0
    while time.monotonic() - start < a.seconds:
        status, by, _ = users[i % len(users)].ask("GET", a.path)
        i += 1
        per["%s %d" % (by, status)] += 1
        in_a_row = in_a_row + 1 if by == "monolith" and status == 200 else 0
        if time.monotonic() - start >= second or in_a_row >= 20:
            print("      second %d: %s" % (second, ", ".join(
                "%s x%d" % kv for kv in sorted(per.items()))), flush=True)
            per.clear()
            second += 1
        if in_a_row >= 20:
            print("      the monolith answers GET %s again (20 in a row)" % a.path)
            return 0
        time.sleep(0.02)
    print("      no rollback within %d s" % a.seconds)
    return 1


def main():
    ap = argparse.ArgumentParser(description="the strg demo's clients")
    sub = ap.add_subparsers(dest="cmd", required=True)
    v = sub.add_parser("view")
    v.add_argument("door")
    v.add_argument("--user", default="ada")
    v.add_argument("--tester")
    u = sub.add_parser("users")
    u.add_argument("door")
    u.add_argument("n", type=int)
    u.add_argument("--path", default="/v1/getSalesLeads")
    u.add_argument("--rounds", type=int, default=1)
    u.add_argument("--twice", action="store_true")
    r = sub.add_parser("until-rollback")
    r.add_argument("door")
    r.add_argument("--path", required=True)
    r.add_argument("--seconds", type=int, default=15)
    a = ap.parse_args()
    try:
        return {"view": cmd_view, "users": cmd_users, "until-rollback": cmd_until_rollback}[a.cmd](a)
    except (OSError, http.client.HTTPException) as e:
        print("client: %s: %s" % (a.door, e), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
