#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""A modern service of the demo: the new home of one endpoint of the monolith, answering it
with the same records, `served_by` (and `X-Served-By`) naming the service.

    tools/demoapp/service.py --name leads|events --port N [--diff P]

  GET  /v1/getSalesLeads (leads) or /v1/getMarketingEvents (events)
  POST /__demo/set?diff=P&fail=P  change its behaviour at runtime (either may be left out):
       diff  P % of its answers carry a deliberate difference from the monolith's (a lead's
             value off by a factor of ten: the bug a shadow comparison finds); 0 is the fix
       fail  P % of its answers are 500 (the fault that trips the automatic rollback)
  GET  /__demo/state              {"diff": P, "fail": P, "answers": N}
  GET  /healthz                   200
Exactly P % of the answers are affected, evenly spread (every tenth for 10 %), so the share a
comparison reports can be checked against it.
"""

import argparse
import copy
import sys
import threading

import data
import web

ENDPOINTS = {"leads": "/v1/getSalesLeads", "events": "/v1/getMarketingEvents"}


class Service(web.Handler):
    diff = 0.0
    fail = 0.0
    answers = 0
    lock = threading.Lock()

    def endpoint(self):
        with self.lock:
            Service.answers += 1
            n = Service.answers
        if data.every(n, self.fail):
            self.send_json(500, {"error": "the %s service failed" % self.system})
            return
        if self.system == "events":
            self.send_json(200, {"events": data.EVENTS})
            return
        leads = data.LEADS
        if data.every(n, self.diff):
            leads = copy.deepcopy(leads)
            leads[2]["value_eur"] //= 10  # the bug: a lead's value off by a factor of ten
        self.send_json(200, {"leads": leads})

    def set(self):
        q = self.query()
        try:
            for knob in ("diff", "fail"):
                if knob in q:
                    value = float(q[knob])
                    if not 0 <= value <= 100:
                        raise ValueError(knob)
                    setattr(Service, knob, value)
        except ValueError:
            self.send_json(400, {"error": "diff and fail take a percentage (0-100)"})
            return
        self.state()

    def state(self):
        self.send_json(200, {"diff": Service.diff, "fail": Service.fail,
                             "answers": Service.answers})

    def healthz(self):
        self.send_json(200, {"ok": True})


def main():
    ap = argparse.ArgumentParser(description="a modern service of the strg demo")
    ap.add_argument("--name", choices=sorted(ENDPOINTS), required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--diff", type=float, default=0.0,
                    help="percentage of answers with a deliberate difference (leads)")
    args = ap.parse_args()
    routes = {("GET", ENDPOINTS[args.name]): "endpoint", ("POST", "/__demo/set"): "set",
              ("GET", "/__demo/state"): "state", ("GET", "/healthz"): "healthz"}
    handler = type("Bound", (Service,), {"system": args.name, "routes": routes})
    Service.diff = args.diff
    return web.serve(handler, args.port)


if __name__ == "__main__":
    sys.exit(main())
