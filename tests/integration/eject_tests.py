# SPDX-License-Identifier: GPL-2.0-only
"""Passive ejection tests of the strg end-to-end suite (user and kernel modes, two workers).

- A modern backend answers 500 while its health check passes: its ejections back off (each
  ejection's hold is at least the configured one for its place in the run, so the intervals
  grow), the errors clients see are bounded by the ejections, the requests of a hold fall back
  to legacy, the notify command runs at most once per subject per coalescing period (folding
  the rest), and stats -j / pool show -j give the ejection count and the hold.
- A backend admitted again ramps up (slowstart): in its first second it gets a small share of
  its pool's new connections (bounded by the ramp's weight then), after the ramp its weight's
  share.
- Taking the last backend of a pool that serves out is refused without --force.
- One keep-alive client gets 500s: in kernel mode the kernel carries all but its first request,
  and its count of 5xx answers in a row ejects the backend as strgd's own count does.

The flapping and slow-start clients use a fresh connection per request, so strgd itself picks
the backend and sees the answer in both modes (the kernel path is the last test's).
"""

import calendar
import json
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request

import harness as h
from harness import RawConn, request

S = None  # the suite module, set by register()

STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT(\d\d):(\d\d):(\d\d)\.(\d{3})Z) ")


def info(name, text):
    print("     %s: %s" % (name, text), flush=True)


def start_backend(env, name, port):
    log = env.tmp / ("%s.log" % name)
    proc = env.spawn(name, [sys.executable, h.ROOT / "tools" / "backend.py", "--name", "modern",
                            "--port", port, "--log", log])
    h.wait_port(port, 5.0, proc)
    return proc


def notify_script(env, tag):
    """A notify command that appends 'EVENT FOLDED BACKEND' to a file, one line per run."""
    events = env.tmp / ("notify-%s" % tag)
    script = env.tmp / ("notify-%s.sh" % tag)
    script.write_text("#!/bin/sh\necho \"$STRG_EVENT $STRG_FOLDED $STRG_BACKEND\" >> %s\n"
                      % events)
    script.chmod(0o755)
    return script, events


class FreshLoad:
    """clients threads, each sending GET path on a new connection, then pausing pace s;
    records (t, status, pool, backend, wall-clock start) until stopped."""

    def __init__(self, port, path, clients, pace, max_s=30.0):
        self.port, self.path, self.pace = port, path, pace
        self.stop_ev = threading.Event()
        self.results = []
        self.lock = threading.Lock()
        self.t0 = time.monotonic()
        self.deadline = self.t0 + max_s
        self.threads = [threading.Thread(target=self.run) for _ in range(clients)]
        for t in self.threads:
            t.start()

    def run(self):
        while not self.stop_ev.is_set() and time.monotonic() < self.deadline:
            t, wall = time.monotonic() - self.t0, time.time()
            try:
                with RawConn(port=self.port, timeout=5.0) as c:
                    c.send(request("GET", self.path, headers=("Connection: close",)))
                    resp = c.read_response()
                    row = (t, resp.status, resp.pool(), resp.header("x-backend"), wall)
            except (OSError, h.ProtocolError):
                row = (t, None, None, None, wall)
            with self.lock:
                self.results.append(row)
            self.stop_ev.wait(self.pace)

    def stop(self):
        self.stop_ev.set()
        for t in self.threads:
            t.join(10)
        with self.lock:
            return list(self.results)


def log_times(text, pattern):
    """Seconds of day (with ms) of strgd's log lines matching pattern."""
    out = []
    for line in text.splitlines():
        m = STAMP.match(line)
        if m and re.search(pattern, line):
            out.append(int(m.group(2)) * 3600 + int(m.group(3)) * 60 + int(m.group(4)) +
                       int(m.group(5)) / 1000.0)
    return out


def notify_settled(proc, events, addr, snap):
    """Whether the notify command's runs and what they folded add up to the backend events
    strgd logged; snap keeps the log and the runs that were compared."""
    log = proc.stderr_text()
    told = events.read_text().splitlines() if events.exists() else []
    logged = len(log_times(log, r"backend %s of pool modern (ejected|admitted again)" %
                           re.escape(addr)))
    runs = [line.split() for line in told if line.startswith("backend-")]
    snap["log"], snap["told"] = log, told
    return logged and len(runs) + sum(int(r[1]) for r in runs) == logged


def backend_json(port, addr):
    for b in json.loads(h.ctl_line("stats -j", port=port)[3:])["backends"]:
        if b["backend"] == addr:
            return b
    return None


HOLD_S, MAX_HOLD_S, COALESCE_S, RUN_S, CLIENTS = 1.0, 4.0, 3.0, 10.0, 4
METRICS_PORT = 9143


def flapping_backend_backs_off(env):
    """A backend answering 500 to requests while its health check passes: ejection i (from 1)
    holds it HOLD_S * 2^(i-1) (at most MAX_HOLD_S), so over RUN_S it is ejected at most as
    often as those holds allow, the intervals between ejections are at least the holds and
    grow, clients see at most (eject after + clients in flight) errors per ejection, requests
    during a hold are served by legacy, and notify runs at most once per COALESCE_S per
    subject, folding the events between."""
    mport, port = 9141, 8140
    be = start_backend(env, "modern-flap", mport)
    script, events = notify_script(env, "flap")
    proc = env.spawn_extra_proxy(
        "flap", port, modern=(mport,),
        extra=["health modern http /__status/200 interval 250ms timeout 200ms rise 2 fall 3",
               "eject modern after 3 5xx hold %dms max-hold %dms" % (HOLD_S * 1000,
                                                                    MAX_HOLD_S * 1000),
               "notify exec %s" % script, "notify coalesce %dms" % (COALESCE_S * 1000),
               "metrics %s:%d" % (h.HOST, METRICS_PORT)])
    addr = "127.0.0.1:%d" % mport
    load, snap = None, {}
    try:
        load = FreshLoad(port, "/__status/500", CLIENTS, pace=0.02)
        time.sleep(RUN_S)
        res = load.stop()
        during = backend_json(port, addr)
        shown = json.loads(h.ctl_line("pool show -j", port=port)[3:])
        text = h.ctl_line("pool show", port=port)
        with urllib.request.urlopen("http://%s:%d/metrics" % (h.HOST, METRICS_PORT),
                                    timeout=5.0) as r:
            prom = r.read().decode()
        # No more traffic: the last hold ends, its admission is logged, and the coalescing
        # period it falls in ends and tells what it folded.
        h.wait_until(lambda: notify_settled(proc, events, addr, snap),
                     MAX_HOLD_S + COALESCE_S + 3.0, interval=0.2)
    finally:
        if load:
            load.stop()
        proc.stop(signal.SIGTERM, 3.0)
        be.stop(signal.SIGTERM, 3.0)
    log = snap.get("log") or proc.stderr_text()
    ejected = log_times(log, r"backend %s of pool modern ejected: 3 failed requests" %
                        re.escape(addr))
    admitted = log_times(log, r"backend %s of pool modern admitted again" % re.escape(addr))
    errors = [r for r in res if r[1] != 200]
    served_5xx = [r for r in res if r[1] == 500 and r[2] == "modern"]
    legacy = [r for r in res if r[1] == 200 and r[2] == "legacy"]
    intervals = [b - a for a, b in zip(ejected, ejected[1:])]
    holds = [min(HOLD_S * 2 ** i, MAX_HOLD_S) for i in range(len(ejected))]
    # How many ejections the holds leave room for in RUN_S: the (k+1)-th comes after k holds.
    room, total = 0, 0.0
    while total <= RUN_S:
        total += min(HOLD_S * 2 ** room, MAX_HOLD_S)
        room += 1
    figures = "%d requests, %d errors, %d ejections at %s, intervals %s" % (
        len(res), len(errors), len(ejected), ["%.2f" % (t - ejected[0]) for t in ejected],
        ["%.2f" % i for i in intervals])
    S.check(len(ejected) >= 2, "the backend was ejected %d times, want 2 or more: %s; %s" % (
        len(ejected), figures, proc.stderr_tail()))
    S.check(len(ejected) <= room, "ejected %d times in %.0f s, the holds leave room for %d: %s"
            % (len(ejected), RUN_S, room, figures))
    S.check(all(i >= hold - 0.05 for i, hold in zip(intervals, holds)),
            "an ejection came before its predecessor's hold ended (holds %s): %s" % (
                holds, figures))
    S.check(len(intervals) < 2 or intervals[-1] > intervals[0],
            "the intervals between ejections did not grow: %s" % figures)
    S.check(len(admitted) >= len(ejected) - 1,
            "%d ejections but %d admissions: %s" % (len(ejected), len(admitted), figures))
    S.check(len(served_5xx) <= len(ejected) * (3 + CLIENTS),
            "%d 500s for %d ejections, want at most %d each: %s" % (
                len(served_5xx), len(ejected), 3 + CLIENTS, figures))
    S.check(len(errors) == len(served_5xx), "errors other than modern's 500s: %r" % (
        [r for r in errors if r not in served_5xx][:5]))
    S.check(legacy, "no request fell back to legacy during a hold: %s" % figures)
    # Views: the ejection count and the hold.
    S.check(during and during["ejections"] == len(ejected) and
            during["ejections_in_a_row"] == len(ejected),
            "stats -j backend: %r, want %d ejections (in a row too)" % (during, len(ejected)))
    pb = [b for p in shown["pools"] if p["name"] == "modern" for b in p["backends"]]
    S.check(pb and pb[0]["ejections"] == len(ejected) and "hold_left_ms" in pb[0],
            "pool show -j: %r" % pb)
    gauge = re.search(r'^strg_backend_ejections_in_a_row\{[^}]*backend="%s"[^}]*\} (\d+)$' %
                      re.escape(addr), prom, re.M)
    S.check(gauge and int(gauge.group(1)) == len(ejected) and
            re.search(r'^strg_backend_ejection_hold_seconds\{[^}]*backend="%s"' % re.escape(addr),
                      prom, re.M),
            "/metrics: strg_backend_ejections_in_a_row %r, want %d, and a hold gauge" % (
                gauge and gauge.group(0), len(ejected)))
    line = [ln for ln in text.splitlines() if addr in ln]
    S.check(line and ("ejected %d times" % len(ejected)) in line[0],
            "pool show: %r, want 'ejected %d times' on the backend's line" % (line, len(ejected)))
    # Notify: at most one run per subject and period, the rest folded into it.
    told = snap.get("told", [])
    backend_runs = [line.split() for line in told if line.startswith("backend-")]
    folded = sum(int(r[1]) for r in backend_runs)
    periods = int((RUN_S + COALESCE_S + 1.0) / COALESCE_S) + 1
    S.check(backend_runs and len(backend_runs) <= periods,
            "notify ran %d times for the backend, want 1 to %d: %r" % (
                len(backend_runs), periods, told))
    S.check(len(backend_runs) + folded == len(ejected) + len(admitted),
            "notify told %d backend events and folded %d, strgd logged %d: %r" % (
                len(backend_runs), folded, len(ejected) + len(admitted), told))
    S.check(any(int(r[1]) > 0 for r in backend_runs) or len(ejected) + len(admitted) <= 1,
            "no notify run folded anything: %r" % told)
    info("flapping_backend_backs_off", "%s; notify ran %d times for the backend (%d events "
         "folded), %d in all; %d requests served by legacy during holds" % (
             figures, len(backend_runs), folded, len(told), len(legacy)))


def log_epoch(text, pattern):
    """Wall-clock time (epoch seconds) of strgd's first log line matching pattern, or None."""
    for line in text.splitlines():
        m = STAMP.match(line)
        if m and re.search(pattern, line):
            return calendar.timegm(time.strptime(m.group(1)[:19], "%Y-%m-%dT%H:%M:%S")) + \
                int(m.group(5)) / 1000.0
    return None


SLOWSTART_S = 6.0


def slowstart_ramps(env):
    """Pool modern of two backends with slowstart SLOWSTART_S: B is killed (its check ejects
    it), restarted, admitted by its check. In the first second of load after that its weight is
    at most (offset + 1) / SLOWSTART_S of A's, offset being how late after the admission the
    load started, so its share of new connections is at most w / (1 + w) (plus 5 points);
    after the ramp it is about half."""
    aport, bport, port = 9151, 9152, 8150
    a = start_backend(env, "modern-ss-a", aport)
    b = start_backend(env, "modern-ss-b", bport)
    proc = env.spawn_extra_proxy(
        "slowstart", port, modern=(aport, bport),
        extra=["health modern http /__status/200 interval 200ms timeout 150ms rise 2 fall 2",
               "eject modern after 3 hold 500ms slowstart %dms" % (SLOWSTART_S * 1000)])
    bname = "modern:%d" % bport
    try:
        b.stop(signal.SIGKILL)
        S.check(h.wait_until(lambda: "ejected" in proc.stderr_text(), 5.0, interval=0.05) or
                h.wait_until(lambda: not backend_json(port, "127.0.0.1:%d" % bport)["healthy"],
                             5.0), "B was not ejected: %s" % proc.stderr_tail())
        b = start_backend(env, "modern-ss-b", bport)
        S.check(h.wait_until(lambda: "admitted again" in proc.stderr_text(), 5.0,
                             interval=0.02), "B was not admitted again: %s" % proc.stderr_tail())
        load = FreshLoad(port, "/__status/200", 4, pace=0.005)
        time.sleep(1.0)
        first = load.stop()
        admitted = log_epoch(proc.stderr_text(), "admitted again")
        time.sleep(max(0.0, admitted + SLOWSTART_S + 0.3 - time.time()))
        load = FreshLoad(port, "/__status/200", 4, pace=0.005)
        time.sleep(1.0)
        after = load.stop()
    finally:
        proc.stop(signal.SIGTERM, 3.0)
        a.stop(signal.SIGTERM, 3.0)
        b.stop(signal.SIGTERM, 3.0)

    def share(rows):
        ok = [r for r in rows if r[1] == 200]
        return len(ok), sum(1 for r in ok if r[3] == bname)

    offset = min(r[4] for r in first) - admitted
    weight = min(1.0, (offset + 1.0) / SLOWSTART_S)
    bound = weight / (1.0 + weight) + 0.05
    n1, b1 = share(first)
    n2, b2 = share(after)
    S.check(n1 >= 50 and n2 >= 50, "too few requests served: %d, then %d" % (n1, n2))
    S.check(offset + 1.0 <= SLOWSTART_S / 2, "the load started %.1f s after the admission: too "
            "late to see a %.0f s ramp" % (offset, SLOWSTART_S))
    S.check(b1 <= bound * n1, "%.2f s after its admission B served %d of %d requests in a "
            "second, want at most %.0f %%" % (offset, b1, n1, 100 * bound))
    S.check(0.35 * n2 <= b2 <= 0.65 * n2, "after the ramp B served %d of %d, want about half"
            % (b2, n2))
    info("slowstart_ramps", "B served %d of %d requests (%.0f %%, bound %.0f %%) in the second "
         "from %.2f s after its admission, %d of %d (%.0f %%) after the ramp" % (
             b1, n1, 100.0 * b1 / max(n1, 1), 100 * bound, offset, b2, n2,
             100.0 * b2 / max(n2, 1)))


def last_backend_needs_force(env):
    """Taking the last backend of a pool that serves out of new connections (state drain or
    maint, weight 0, backend del) is refused with one line on stderr and exit 1, --dry-run
    too, and nothing changes; with --force it is done, with a warning on stderr, and the
    pool's routes fall back to legacy. A backend with another ready one beside it drains
    without a word; --force with another command is a usage error."""
    port = 8160
    proc = env.spawn_extra_proxy("lastbe", port)
    sock = h.control_path(port)
    modern = "%s:%d" % (h.HOST, h.MODERN_PORT)
    first, second = ("%s:%d" % (h.HOST, p) for p in h.LEGACY_PORTS[:2])

    def ctl(*args):
        return subprocess.run([str(h.ROOT / "strgctl"), "-s", sock] + list(args),
                              capture_output=True, text=True, timeout=10)

    def backend(pool, addr):
        pools = json.loads(h.ctl_line("pool show -j", port=port)[3:])["pools"]
        return [b for p in pools if p["name"] == pool for b in p["backends"]
                if b["addr"] == addr]

    try:
        for args in (("set", "modern", modern, "state", "drain"),
                     ("set", "modern", modern, "state", "maint"),
                     ("set", "modern", modern, "weight", "0"),
                     ("del", "modern", modern),
                     ("--dry-run", "set", "modern", modern, "state", "drain")):
            r = ctl("backend", *args)
            S.check(r.returncode == 1 and len(r.stderr.splitlines()) == 1 and
                    "last backend of pool modern that serves" in r.stderr and
                    "--force" in r.stderr and not r.stdout,
                    "backend %s: exit %d, stdout %r, stderr %r; want exit 1 and one line "
                    "naming the pool and --force" % (" ".join(args), r.returncode, r.stdout,
                                                      r.stderr))
            b = backend("modern", modern)
            S.check(b and b[0]["state"] == "ready" and b[0]["weight"] == 1,
                    "after the refused 'backend %s': %r" % (" ".join(args), b))
        r = ctl("backend", "set", "legacy", first, "state", "drain")
        S.check(r.returncode == 0 and not r.stderr, "draining one of legacy's two backends: "
                "exit %d, stderr %r" % (r.returncode, r.stderr))
        r = ctl("backend", "set", "legacy", second, "state", "maint")
        S.check(r.returncode == 1 and "last backend of pool legacy" in r.stderr,
                "legacy's other backend: exit %d, %r" % (r.returncode, r.stderr))
        S.check(ctl("backend", "set", "legacy", first, "state", "ready").returncode == 0,
                "legacy's first backend ready again")
        r = ctl("route", "show", "--force")
        S.check(r.returncode == 2 and "--force" in r.stderr,
                "route show --force: exit %d, %r" % (r.returncode, r.stderr))
        r = ctl("--force", "backend", "set", "modern", modern, "state", "drain")
        S.check(r.returncode == 0 and "warning" in r.stderr and "modern" in r.stderr,
                "--force: exit %d, stdout %r, stderr %r; want 0 and a warning" % (
                    r.returncode, r.stdout, r.stderr))
        b = backend("modern", modern)
        S.check(b and b[0]["state"] == "drain", "after --force: %r" % b)
        with RawConn(port=port) as c:
            c.send(request("GET", "/v1/getSalesLeads/forced"))
            resp = c.read_response()
        S.check(resp.status == 200 and resp.pool() == "legacy",
                "the drained pool's route: %d from %s, want legacy's fallback" % (
                    resp.status, resp.pool()))
        S.check(re.search(r"forced: the pool has no backend that serves", proc.stderr_text()),
                "strgd did not log the forced change: %s" % proc.stderr_tail())
    finally:
        proc.stop(signal.SIGTERM, 3.0)
    info("last_backend_needs_force", "drain, maint, weight 0, del and --dry-run refused with "
         "one line; --force drains with a warning, the route falls back to legacy")


def keepalive_5xx_ejects(env):
    """One keep-alive client whose requests all go to a backend answering 500: in kernel mode
    the kernel carries every request after the first, and its 5xx answers count as failed
    requests too (strgd looks every 100 ms), so within a second of the third 500 (ten looks)
    the backend is ejected, and from then on the route falls back to legacy."""
    mport, port = 9161, 8161
    be = start_backend(env, "modern-ka", mport)
    proc = env.spawn_extra_proxy(
        "ka5xx", port, modern=(mport,),
        extra=["health modern http /__status/200 interval 500ms timeout 400ms rise 2 fall 3",
               "eject modern after 3 5xx hold 30s"])
    rows = []
    try:
        with RawConn(port=port, timeout=5.0) as c:
            for i in range(80):
                t = time.monotonic()
                c.send(request("GET", "/__status/500"))
                resp = c.read_response()
                rows.append((t, resp.status, resp.pool()))
                time.sleep(0.03)
    finally:
        proc.stop(signal.SIGTERM, 3.0)
        be.stop(signal.SIGTERM, 3.0)
    errors = [r for r in rows if r[1] == 500]
    third = errors[2][0] if len(errors) >= 3 else rows[0][0]
    late = [r for r in rows if r[0] >= third + 1.0]
    S.check(re.search(r"backend 127\.0\.0\.1:%d of pool modern ejected" % mport,
                      proc.stderr_text()), "not ejected: %s" % proc.stderr_tail())
    S.check(len(late) >= 20 and all(r[1:] == (200, "legacy") for r in late),
            "a second after the third 500, %d of %d answers were not legacy's (%d 500s in "
            "all): %r" % (sum(1 for r in late if r[1:] != (200, "legacy")), len(late),
                          len(errors), [r[1:] for r in rows]))
    info("keepalive_5xx_ejects", "%d 500s on one keep-alive connection, then legacy (%s)" % (
        len(errors), "kernel-carried 5xx counted" if "kernel carried" in proc.stderr_text()
        else "strgd-carried"))


EJECT_TESTS = [flapping_backend_backs_off, slowstart_ramps, last_backend_needs_force,
               keepalive_5xx_ejects]


def register(suite):
    """Add the passive ejection tests (two-worker modes: both data paths once each)."""
    global S
    S = suite
    for fn in EJECT_TESTS:
        suite.test(fn)
