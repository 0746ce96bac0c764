#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""The fleet end to end: a 3-member etcd cluster, 3 strgd hosts following one prefix, clients on
every host. Runs in a network namespace of its own (as root it re-executes itself under
`unshare --net`); every process it starts has its own files and is stopped by pid.

Each host reaches etcd through relays of its own (TCP forwarders in this process), so one host can
be cut off from the store silently, the way a dead link does it, while the others stay in touch.

    tests/fleet/fleet_tests.py [NAME-SUBSTRING...]

Prints cmocka-style lines ("[       OK ] name", "[  PASSED  ] N test(s).") so tests/run-unit counts
its cases, and the convergence figures it measured.
"""

import base64
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ETCD_PORTS = (2379, 2381, 2383)  # client ports; peer ports are the next ones
HOST_PORTS = (8101, 8102, 8103)
LEGACY, MODERN = 9001, 9101
PREFIX = "/strg/it/"


class Fail(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Fail(what)


def wait_for(pred, timeout, what, step=0.02):
    """Poll pred until true, for at most timeout seconds."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    raise Fail("timed out after %.1f s waiting for %s" % (timeout, what))


def b64(s):
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


def unb64(s):
    return base64.b64decode(s).decode()


def prefix_end(p):
    return p[:-1] + chr(ord(p[-1]) + 1)


# ---------------------------------------------------------------------------------------------
# etcd


class Etcd:
    """Three members on loopback, each with its own data directory."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.procs = [None] * 3
        self.initial = ",".join("m%d=http://127.0.0.1:%d" % (i, p + 1)
                                for i, p in enumerate(ETCD_PORTS))

    def start(self, i, state="new"):
        port = ETCD_PORTS[i]
        log = open(self.tmp / ("etcd%d.log" % i), "ab")
        self.procs[i] = subprocess.Popen(
            ["etcd", "--name", "m%d" % i, "--data-dir", str(self.tmp / ("etcd%d" % i)),
             "--listen-client-urls", "http://127.0.0.1:%d" % port,
             "--advertise-client-urls", "http://127.0.0.1:%d" % port,
             "--listen-peer-urls", "http://127.0.0.1:%d" % (port + 1),
             "--initial-advertise-peer-urls", "http://127.0.0.1:%d" % (port + 1),
             "--initial-cluster", self.initial, "--initial-cluster-state", state,
             "--initial-cluster-token", "strg-fleet-it", "--heartbeat-interval", "50",
             "--election-timeout", "500"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        log.close()

    def start_all(self):
        for i in range(3):
            self.start(i)
        wait_for(lambda: self.leader() is not None, 30, "an etcd leader")

    def stop(self, i, sig=signal.SIGTERM):
        p = self.procs[i]
        if p is None:
            return
        p.send_signal(signal.SIGCONT)
        p.send_signal(sig)
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        self.procs[i] = None

    def stop_all(self):
        for i in range(3):
            self.stop(i)

    def call(self, path, body, member=None, timeout=3):
        """POST to the JSON gateway of a live member (or the one given)."""
        order = [member] if member is not None else [i for i in range(3) if self.procs[i]]
        err = None
        for i in order:
            req = urllib.request.Request("http://127.0.0.1:%d%s" % (ETCD_PORTS[i], path),
                                         data=json.dumps(body).encode())
            try:
                with urllib.request.urlopen(req, timeout=timeout) as r:
                    return json.loads(r.read())
            except OSError as e:
                err = e
        raise Fail("etcd %s: %s" % (path, err))

    def leader(self):
        ids, leader = {}, None
        for i in range(3):
            if not self.procs[i]:
                continue
            try:
                st = self.call("/v3/maintenance/status", {}, member=i, timeout=1)
            except Fail:
                continue
            ids[st["header"]["member_id"]] = i
            if st.get("leader") and st.get("leader") != "0":
                leader = st["leader"]
        return ids.get(leader)

    def put(self, name, value):
        """Put PREFIX+name; returns the revision."""
        text = value if isinstance(value, str) else json.dumps(value)
        r = self.call("/v3/kv/put", {"key": b64(PREFIX + name), "value": b64(text)})
        return int(r["header"]["revision"])

    def delete(self, name):
        r = self.call("/v3/kv/deleterange", {"key": b64(PREFIX + name)})
        return int(r["header"]["revision"])

    def prefix(self, sub=""):
        p = PREFIX + sub
        r = self.call("/v3/kv/range", {"key": b64(p), "range_end": b64(prefix_end(p))})
        return {unb64(kv["key"])[len(PREFIX):]: unb64(kv.get("value", ""))
                for kv in r.get("kvs", [])}, int(r["header"]["revision"])

    def nodes(self):
        return {k[len("nodes/"):]: json.loads(v) for k, v in self.prefix("nodes/")[0].items()}

    def compact(self):
        rev = self.prefix()[1]
        self.call("/v3/kv/compaction", {"revision": str(rev), "physical": True})
        return rev


# ---------------------------------------------------------------------------------------------
# relays: a host's way to etcd, cut and healed on demand


class Relay:
    """Forwards 127.0.0.1:port to an etcd member. Cut, it swallows bytes both ways and answers
    nothing, as a link that died silently does; healed, it drops the swallowed connections.
    Its watches frozen, what etcd sends on watch streams is held back (until thawed): the host
    does not hear of revisions, while its other requests go through."""

    def __init__(self, port, target):
        self.port, self.target = port, target
        self.cut = False
        self.frozen = False
        self.conns = []
        self.streams = []  # [client socket, is a watch, held bytes, lock]
        self.lock = threading.Lock()
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(("127.0.0.1", port))
        self.ls.listen(64)
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                c, _ = self.ls.accept()
            except OSError:
                return
            try:
                u = socket.create_connection(("127.0.0.1", self.target), timeout=2)
                u.settimeout(None)
            except OSError:
                c.close()
                continue
            # Forwarded as it comes: Nagle's wait on the relay is no part of the fleet.
            for s in (c, u):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            st = [c, False, [], threading.Lock()]
            with self.lock:
                self.conns += [c, u]
                self.streams.append(st)
            threading.Thread(target=self.pump, args=(c, u, st, True), daemon=True).start()
            threading.Thread(target=self.pump, args=(u, c, st, False), daemon=True).start()

    def pump(self, a, b, st, upstream):
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                if self.cut:
                    continue
                if upstream:
                    st[1] = st[1] or b"/v3/watch" in data
                    b.sendall(data)
                    continue
                with st[3]:
                    if st[1] and self.frozen:
                        st[2].append(data)
                    else:
                        b.sendall(b"".join(st[2]) + data)
                        st[2] = []
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def set_frozen(self, frozen):
        self.frozen = frozen
        if frozen:
            return
        with self.lock:
            streams = list(self.streams)
        for st in streams:
            with st[3]:
                try:
                    st[0].sendall(b"".join(st[2]))
                except OSError:
                    pass
                st[2] = []

    def set_cut(self, cut):
        self.cut = cut
        if not cut:
            with self.lock:
                conns, self.conns = self.conns, []
                self.streams = []
            for s in conns:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                    s.close()
                except OSError:
                    pass


# ---------------------------------------------------------------------------------------------
# strgd hosts


class Host:
    def __init__(self, env, i):
        self.env, self.i = env, i
        self.port = HOST_PORTS[i]
        self.dir = env.tmp / ("h%d" % i)
        self.dir.mkdir(exist_ok=True)
        self.relays = [Relay(7000 + 10 * i + m, ETCD_PORTS[m]) for m in range(3)]
        self.proc = None
        # One kept-alive connection per thread: a test's client thread and its main thread
        # both ask this host.
        self.local = threading.local()

    @property
    def conn(self):
        return getattr(self.local, "conn", None)

    @conn.setter
    def conn(self, value):
        self.local.conn = value

    def config(self):
        urls = ",".join("http://127.0.0.1:%d" % r.port for r in self.relays)
        return "\n".join([
            "listen 127.0.0.1:%d" % self.port,
            "pool legacy 127.0.0.1:%d" % LEGACY,
            "pool modern 127.0.0.1:%d" % MODERN,
            "route / legacy",
            "route /api modern",
            "workers 2",
            "sticky header X-User",
            "control %s/ctl.sock" % self.dir,
            "state-file %s/state" % self.dir,
            "store etcd %s prefix %s node h%d" % (urls, PREFIX.rstrip("/"), self.i),
            "metrics 127.0.0.1:%d" % (self.port + 100),
        ]) + "\n"

    def start(self):
        (self.dir / "strgd.conf").write_text(self.config())
        self.err = open(self.dir / "strgd.err", "ab")
        self.proc = subprocess.Popen(
            [str(ROOT / "strgd"), "--no-bpf", "--pin-dir", "/sys/fs/bpf/strg-fleet-%d-%d" %
             (os.getpid(), self.i), "-c", str(self.dir / "strgd.conf")],
            stdin=subprocess.DEVNULL, stdout=self.err, stderr=self.err, cwd=str(ROOT))
        wait_for(self.serving, 10, "h%d serving" % self.i)

    def serving(self):
        try:
            return self.get("/") is not None
        except OSError:
            return False

    def stop(self):
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGCONT)
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None
        self.local = threading.local()

    def get(self, path, headers=None, source=None, field="X-Pool"):
        """The pool that answered path (X-Pool, or another field), over a kept-alive
        connection."""
        for attempt in range(2):
            if self.conn is None or source:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5,
                                                  source_address=(source, 0) if source else None)
                if not source:
                    self.conn = conn
            else:
                conn = self.conn
            try:
                conn.request("GET", path, headers=headers or {})
                r = conn.getresponse()
                r.read()
                if source:
                    conn.close()
                return r.getheader(field)
            except (OSError, http.client.HTTPException):
                conn.close()
                self.conn = None
                if attempt:
                    raise
        return None

    def metrics(self):
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % (self.port + 100),
                                    timeout=5) as r:
            return {l.split()[0]: float(l.split()[1]) for l in r.read().decode().splitlines()
                    if l.startswith("strg_store") or l.startswith("strg_fleet")}

    def node(self):
        return self.env.etcd.nodes().get("h%d" % self.i)

    def log(self):
        p = self.dir / "strgd.err"
        return p.read_text(errors="replace") if p.exists() else ""


    def ctl(self, *args):
        return subprocess.run([str(ROOT / "strgctl"), "-s", str(self.dir / "ctl.sock")] +
                              list(args), capture_output=True, text=True, timeout=10)


def route_obj(path, pool, **kw):
    o = {"schema": 1, "path": path, "pool": pool}
    o.update(kw)
    return o


# ---------------------------------------------------------------------------------------------
# the environment


class Env:
    def __init__(self):
        self.tmp = Path(tempfile.mkdtemp(prefix="strg-fleet-"))
        self.etcd = Etcd(self.tmp)
        self.backends = []
        self.hosts = []

    def start(self):
        # modern also answers on MODERN + 1, for a pool change that requests can see.
        for name, ports in (("legacy", [LEGACY]), ("modern", [MODERN, MODERN + 1])):
            log = open(self.tmp / ("%s.log" % name), "ab")
            argv = [sys.executable, str(ROOT / "tools" / "backend.py"), "--name", name]
            for p in ports:
                argv += ["--port", str(p)]
            self.backends.append(subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                                  stderr=log))
            log.close()
        self.etcd.start_all()
        self.hosts = [Host(self, i) for i in range(3)]
        # The first host moves into the fleet: its table is offered to the empty prefix.
        self.hosts[0].start()
        wait_for(lambda: "routes/1" in self.etcd.prefix("routes/")[0], 10, "the offered table")
        for h in self.hosts[1:]:
            h.start()
        self.converged()

    def converged(self, timeout=10):
        """Every host reports the same table hash, of the store's latest table revision."""
        def same():
            nodes = self.etcd.nodes()
            hashes = {n.get("table_hash") for n in nodes.values()}
            return len(nodes) == 3 and len(hashes) == 1 and "0000000000000000" not in hashes
        wait_for(same, timeout, "three hosts with one table hash")
        return self.etcd.nodes()

    def stop(self):
        for h in self.hosts:
            h.stop()
        self.etcd.stop_all()
        for b in self.backends:
            b.terminate()
            b.wait(10)
        if not os.environ.get("STRG_KEEP"):
            shutil.rmtree(self.tmp, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# tests


def pool_on_all(env, path, want, timeout=5):
    for h in env.hosts:
        wait_for(lambda: h.get(path) == want, timeout, "h%d: %s -> %s" % (h.i, path, want))


def test_offered_table_everywhere(env):
    """The first host's table went to the empty prefix; every host runs it and reports it."""
    objs, _ = env.etcd.prefix()
    check("pools/legacy" in objs and "pools/modern" in objs, "pools offered: %s" % list(objs))
    check(json.loads(objs["routes/2"])["path"] == "/api", "route /api offered as routes/2")
    for h in env.hosts:
        check(h.get("/api/x") == "modern" and h.get("/x") == "legacy", "h%d routes" % h.i)
    env.converged()
    # Each host reported itself stale until its first read of the store, then in touch.
    nodes = wait_for(lambda: (lambda n: n if all(v["stale_since"] is None for v in n.values())
                              else None)(env.etcd.nodes()), 10, "three reports in touch")
    for name, n in nodes.items():
        check(n["address"].startswith("127.0.0.1:") and n["revision"] > 0,
              "%s report %s" % (name, n))


def percentile(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def test_convergence(env, changes=200):
    """Each change written to etcd is in force on all three hosts: the time from the write to
    the last host's first request routed by the new table."""
    results = []
    pools = ("legacy", "modern")
    for n in range(changes):
        want = pools[n % 2]
        t0 = time.monotonic()
        env.etcd.put("routes/50", route_obj("/conv", want))
        seen = []
        for h in env.hosts:
            wait_for(lambda: h.get("/conv/x") == want, 5, "h%d /conv -> %s" % (h.i, want),
                     step=0)
            seen.append(time.monotonic())
        results.append(max(seen) - t0)
    ms = [r * 1000 for r in results]
    print("convergence over %d changes, 3 hosts: p50 %.1f ms, p99 %.1f ms, max %.1f ms" %
          (changes, percentile(ms, 50), percentile(ms, 99), max(ms)))
    env.figures["convergence_ms"] = {"p50": percentile(ms, 50), "p99": percentile(ms, 99),
                                     "max": max(ms), "changes": changes}


def test_bad_object_refused(env):
    """An invalid route written with etcdctl: every host refuses that revision, keeps serving
    and says so in its report; the next good write is applied everywhere."""
    env.etcd.put("routes/60", route_obj("/good", "modern"))
    pool_on_all(env, "/good", "modern")
    urls = "http://127.0.0.1:%d" % ETCD_PORTS[0]
    bad = json.dumps(route_obj("/bad", "nowhere"))
    r = subprocess.run(["etcdctl", "--endpoints", urls, "-w", "json", "put",
                        PREFIX + "routes/61", bad], capture_output=True, text=True, timeout=10)
    check(r.returncode == 0, "etcdctl put: %s" % r.stderr)
    bad_rev = json.loads(r.stdout)["header"]["revision"]
    wait_for(lambda: all((h.node() or {}).get("rejected_revision") == bad_rev
                         for h in env.hosts), 5, "three refusals of revision %d" % bad_rev)
    for h in env.hosts:
        n = h.node()
        check("routes/61" in n["rejected"] and "unknown pool 'nowhere'" in n["rejected"],
              "h%d says why: %s" % (h.i, n["rejected"]))
        check(h.get("/good/x") == "modern" and h.get("/bad") == "legacy", "h%d serves" % h.i)
        check("revision %d refused" % bad_rev in h.log(), "h%d logs the refusal" % h.i)
    env.etcd.put("routes/60", route_obj("/good", "legacy"))
    pool_on_all(env, "/good", "legacy")
    env.etcd.delete("routes/61")
    env.converged()


def test_leader_killed(env):
    """Killing the etcd leader changes nothing visible; changes go on once a new one leads."""
    leader = env.etcd.leader()
    check(leader is not None, "a leader")
    stop = threading.Event()
    errors = []

    def clients():
        while not stop.is_set():
            for h in env.hosts:
                try:
                    if h.get("/api/x") != "modern":
                        errors.append("h%d misrouted" % h.i)
                except OSError as e:
                    errors.append("h%d: %s" % (h.i, e))
    t = threading.Thread(target=clients)
    t.start()
    try:
        env.etcd.stop(leader, signal.SIGKILL)
        wait_for(lambda: env.etcd.leader() is not None, 10, "a new leader")
        env.etcd.put("routes/70", route_obj("/after-leader", "modern"))
        pool_on_all(env, "/after-leader", "modern", timeout=10)
    finally:
        stop.set()
        t.join()
        env.etcd.start(leader, "existing")
    check(not errors, "requests failed meanwhile: %s" % errors[:5])
    wait_for(lambda: env.etcd.leader() is not None, 10, "the old leader back")


def test_host_cut_off(env):
    """A host cut off from etcd keeps serving its table and reports itself stale once back;
    meanwhile the others move on; after the cut heals it converges: all hashes agree."""
    h = env.hosts[2]
    for r in h.relays:
        r.set_cut(True)
    try:
        # Its lease runs out: it drops out of nodes/ (TTL 10 s).
        wait_for(lambda: h.node() is None, 20, "h2 out of nodes/")
        env.etcd.put("routes/80", route_obj("/cut", "modern"))
        for o in env.hosts[:2]:
            wait_for(lambda: o.get("/cut/x") == "modern", 5, "h%d /cut" % o.i)
        check(h.get("/cut/x") == "legacy" and h.get("/api/x") == "modern",
              "the cut host serves its last table")
        check("out of touch with etcd" in h.log(), "the cut host logs it is stale")
        m = wait_for(lambda: (lambda m: m if m["strg_store_connected"] == 0 else None)(
            h.metrics()), 10, "h2's metrics: not connected")
        check(m["strg_store_stale_seconds"] > 0, "h2's metrics: stale %r" % m)
    finally:
        for r in h.relays:
            r.set_cut(False)
    wait_for(lambda: h.get("/cut/x") == "modern", 15, "h2 converges after the cut")
    nodes = env.converged(15)
    check(nodes["h2"]["stale_since"] is None, "h2 in touch again")
    m = wait_for(lambda: (lambda m: m if m["strg_store_connected"] == 1 else None)(
        h.metrics()), 10, "h2's metrics: connected")
    check(m["strg_store_stale_seconds"] == 0 and m["strg_fleet_hosts"] == 3 and
          m["strg_store_revision"] == nodes["h2"]["revision"], "h2's metrics: %r" % m)


def test_compaction_while_stopped(env):
    """Compaction while a host is stopped (SIGSTOP) and its watch broken: at SIGCONT the
    revisions it missed are gone, so it reads everything again, and converges."""
    h = env.hosts[1]
    os.kill(h.proc.pid, signal.SIGSTOP)
    try:
        for r in h.relays:
            r.set_cut(True)
        for k in range(5):
            env.etcd.put("routes/90", route_obj("/compact", ("modern", "legacy")[k % 2]))
        env.etcd.put("routes/90", route_obj("/compact", "modern"))
        env.etcd.compact()
    finally:
        for r in h.relays:
            r.set_cut(False)
        os.kill(h.proc.pid, signal.SIGCONT)
    wait_for(lambda: h.get("/compact/x") == "modern", 15, "h1 converges after compaction")
    env.converged(15)
    check("was compacted" in h.log(), "h1 read everything again after the compaction")


def test_starts_without_etcd(env):
    """etcd entirely down when a strgd starts: it serves the table it saved."""
    saved_rev = env.etcd.put("routes/95", route_obj("/saved", "modern"))
    pool_on_all(env, "/saved", "modern")
    h = env.hosts[0]
    h.stop()
    env.etcd.stop_all()
    try:
        h.start()
        check(h.get("/saved/x") == "modern", "the saved table is served")
        check(h.get("/conv/x") in ("legacy", "modern"), "other saved routes are served")
        wait_for(lambda: "etcd cannot be reached" in h.log(), 10, "stale logged")
        m = h.metrics()
        check(m["strg_store_revision"] >= saved_rev and m["strg_store_connected"] == 0,
              "the saved table's revision, stale: %r (saved at %d)" % (m, saved_rev))
    finally:
        for i in range(3):
            env.etcd.start(i, "existing")
        wait_for(lambda: env.etcd.leader() is not None, 30, "etcd back")
    env.converged(20)


def test_sticky_canary_agrees(env):
    """A 5 % canary sends the same users to modern on every host."""
    env.etcd.put("routes/96", route_obj("/canary", "modern", percent=5))
    wait_for(lambda: all(h.get("/canary", {"X-User": "probe"}) is not None for h in env.hosts),
             5, "the canary route")
    time.sleep(0.5)
    env.converged()
    chosen = []
    for u in range(400):
        pools = {h.get("/canary/x", {"X-User": "user-%d" % u}) for h in env.hosts}
        check(len(pools) == 1, "user-%d goes to %s depending on the host" % (u, pools))
        chosen.append(pools.pop())
    share = chosen.count("modern") / len(chosen)
    print("canary 5 %%: %d of %d users on modern (%.1f %%), the same on all three hosts" %
          (chosen.count("modern"), len(chosen), share * 100))
    check(0.01 <= share <= 0.12, "canary share %.3f far from 5 %%" % share)


def test_strgctl_through_store(env):
    """A strgctl change on one host goes to the store and is in force on all three; its reply
    comes once it is in force on the host that took it."""
    h = env.hosts[1]
    r = h.ctl("route", "set", "/via-ctl", "modern")
    check(r.returncode == 0 and "in force here at store revision" in r.stdout,
          "strgctl route set: %r %r" % (r.stdout, r.stderr))
    check(h.get("/via-ctl/x") == "modern", "in force on the host when the reply came")
    objs, _ = env.etcd.prefix("routes/")
    check(any(json.loads(v).get("path") == "/via-ctl" for v in objs.values()),
          "the route is in the store")
    pool_on_all(env, "/via-ctl", "modern")
    r = env.hosts[2].ctl("route", "set", "/via-ctl", "legacy")
    check(r.returncode == 0, "a change on another host: %r" % r.stderr)
    pool_on_all(env, "/via-ctl", "legacy")


def test_concurrent_changes_conflict(env):
    """Two strgctl changes of the same route at once, on two hosts, neither having seen the
    other's (the first host's watches are held back meanwhile, so that "at once" does not hang
    on the scheduler): exactly one wins, the other gets a conflict that names the route, and
    every host ends with the winner's."""
    pool_on_all(env, "/via-ctl", "legacy")
    env.converged()
    a, b = env.hosts[0], env.hosts[2]
    for r in a.relays:
        r.set_frozen(True)
    try:
        rb = b.ctl("route", "set", "/via-ctl", "modern", "percent", "50")
        ra = a.ctl("route", "set", "/via-ctl", "modern")
    finally:
        for r in a.relays:
            r.set_frozen(False)
    check(rb.returncode == 0 and "in force here" in rb.stdout, "b's change: %r" % (rb,))
    print("the other: %s" % ra.stderr.strip())
    check(ra.returncode == 1 and "conflict" in ra.stderr and "routes/" in ra.stderr,
          "a's change conflicts, and says what: %r" % (ra,))
    objs, _ = env.etcd.prefix("routes/")
    mine = [json.loads(v) for v in objs.values() if json.loads(v).get("path") == "/via-ctl"]
    check(len(mine) == 1 and mine[0].get("percent") == 50, "the winner's in the store: %r" %
          mine)
    env.converged()


def test_rollback_trip_fleet_wide(env):
    """A rollback tripped on one host is in force on all three (the others roll the route back
    too, the figures in the store); route activate on another host clears it everywhere."""
    rb = {"errors_percent": 20, "window_s": 2, "min": 5}
    env.etcd.put("routes/97", route_obj("/rb", "modern", strip_prefix=True, rollback=rb))
    pool_on_all(env, "/rb/x", "modern")
    h = env.hosts[0]
    end = time.monotonic() + 10
    while h.get("/rb/x") == "modern" and time.monotonic() < end:
        for _ in range(10):
            h.get("/rb/__status/500")
        time.sleep(0.05)
    t0 = time.monotonic()
    check(h.get("/rb/x") == "legacy", "h0 tripped the route")
    for o in env.hosts[1:]:
        wait_for(lambda: o.get("/rb/x") == "legacy", 5, "h%d rolled back too" % o.i, step=0)
    print("rollback trip on h0 in force on all three %.1f ms after h0's" %
          ((time.monotonic() - t0) * 1000))
    obj = json.loads(env.etcd.prefix("routes/97")[0]["routes/97"])
    check("tripped" in obj and "5xx" in obj["tripped"], "the trip's figures: %r" % obj)
    r = env.hosts[2].ctl("route", "activate", "97")
    check(r.returncode == 0, "route activate: %r" % r.stderr)
    pool_on_all(env, "/rb/x", "modern")
    check("tripped" not in json.loads(env.etcd.prefix("routes/97")[0]["routes/97"]),
          "cleared in the store")


def test_fleet_view(env):
    """strgctl fleet lists every host with its revision, lag and whether its table is this
    host's; -j gives the same as JSON."""
    env.converged()

    def in_step():
        r = env.hosts[0].ctl("fleet")
        lines = [l for l in r.stdout.splitlines() if l.startswith("  h")]
        ok = r.returncode == 0 and len(lines) == 3 and all(
            "same as here" in l and "in step" in l for l in lines)
        return r if ok else None
    wait_for(in_step, 10, "strgctl fleet: three hosts in step, one table", step=0.1)
    r = env.hosts[0].ctl("-j", "fleet")
    view = json.loads(r.stdout)
    check(view["node"] == "h0" and len(view["nodes"]) == 3, "JSON view: %r" % view)
    check(env.hosts[0].ctl("fleet", "x").returncode != 0, "arguments refused")


def test_wait_fleet(env):
    """strgctl --wait-fleet: a change returns once all three hosts report the revision it wrote;
    with one host stopped (SIGSTOP: its report stays in nodes/ until its lease runs out), it
    runs out of time and names that host alone; a strgd without a store refuses it before
    anything changes."""
    env.converged()
    h, s = env.hosts[0], env.hosts[2]
    r = h.ctl("route", "set", "/wait-fleet", "modern", "--wait-fleet", "5")
    m = re.search(r"store revision (\d+)", r.stdout)
    check(r.returncode == 0 and m and "in force on all 3 hosts" in r.stdout,
          "--wait-fleet 5: %r" % (r,))
    rev = int(m.group(1))
    nodes = env.etcd.nodes()
    check(len(nodes) == 3 and all(n["revision"] >= rev for n in nodes.values()),
          "every report at revision %d when strgctl returned: %r" % (rev, nodes))
    pool_on_all(env, "/wait-fleet/x", "modern")
    os.kill(s.proc.pid, signal.SIGSTOP)
    try:
        r = h.ctl("route", "set", "/wait-fleet", "legacy", "--wait-fleet", "2")
    finally:
        os.kill(s.proc.pid, signal.SIGCONT)
    m = re.search(r"store revision (\d+)", r.stdout)
    print("with h2 stopped: %s" % r.stderr.strip())
    check(r.returncode == 1 and m and re.search(
        r"^strgctl: fleet: host h2 \(revision \d+\) has not applied revision %s after 2\.\d s$"
        % m.group(1), r.stderr, re.M) and "h0" not in r.stderr and "h1" not in r.stderr,
        "--wait-fleet 2 names h2 alone: %r" % (r,))
    pool_on_all(env, "/wait-fleet/x", "legacy", timeout=15)
    env.converged(15)
    # Without a store: one line, exit 2, nothing changed.
    d = env.tmp / "lone"
    d.mkdir(exist_ok=True)
    (d / "strgd.conf").write_text("listen 127.0.0.1:8109\npool legacy 127.0.0.1:%d\n"
                                  "route / legacy\ncontrol %s/ctl.sock\nstate-file %s/state\n"
                                  % (LEGACY, d, d))
    with open(d / "strgd.err", "ab") as err:
        lone = subprocess.Popen([str(ROOT / "strgd"), "--no-bpf", "--pin-dir",
                                 "/sys/fs/bpf/strg-fleet-%d-lone" % os.getpid(), "-c",
                                 str(d / "strgd.conf")], stdin=subprocess.DEVNULL, stdout=err,
                                stderr=err, cwd=str(ROOT))
    try:
        ctl = [str(ROOT / "strgctl"), "-s", str(d / "ctl.sock")]
        wait_for(lambda: subprocess.run(ctl + ["route", "show"], capture_output=True,
                                        timeout=10).returncode == 0, 10, "a strgd alone")
        r = subprocess.run(ctl + ["--wait-fleet", "route", "set", "/alone", "legacy"],
                           capture_output=True, text=True, timeout=10)
        check(r.returncode == 2 and len(r.stderr.splitlines()) == 1 and
              "no 'store' line" in r.stderr and "nothing was changed" in r.stderr,
              "without a store: %r" % (r,))
        r = subprocess.run(ctl + ["route", "show"], capture_output=True, text=True, timeout=10)
        check("/alone" not in r.stdout, "nothing changed: %r" % r.stdout)
    finally:
        lone.terminate()
        lone.wait(15)


def test_dry_run_in_fleet(env):
    """--dry-run on a host in a fleet shows the transaction the change would write (each key,
    the compare against the revision this host runs, the object) and writes nothing."""
    env.converged()
    h = env.hosts[1]
    before, _ = env.etcd.prefix("routes/")
    newest = max(int(v["mod_revision"]) for v in env.etcd.call(
        "/v3/kv/range", {"key": b64(PREFIX), "range_end": b64(prefix_end(PREFIX))})["kvs"]
        if not unb64(v["key"]).startswith(PREFIX + "nodes/"))
    r = h.ctl("--dry-run", "route", "set", "/dry-fleet", "modern", "percent", "7")
    print(r.stdout.strip())
    m = re.search(r"would write one transaction of 1 key, holding only if none changed since "
                  r"revision (\d+) \(this host's\); nothing written:\n  put %sroutes/\d+ if its "
                  r"mod revision is below (\d+): (\{.*\})$" % re.escape(PREFIX), r.stdout, re.M)
    check(r.returncode == 0 and m, "the transaction shown: %r" % (r,))
    check(int(m.group(2)) == int(m.group(1)) + 1 and int(m.group(1)) >= newest,
          "compared with this host's revision %s (the table's newest object: %d)" %
          (m.group(1), newest))
    obj = json.loads(m.group(3))
    check(obj["path"] == "/dry-fleet" and obj["pool"] == "modern" and obj["percent"] == 7,
          "the object it would put: %r" % obj)
    check(env.etcd.prefix("routes/")[0] == before, "nothing written to the store")
    check(h.get("/dry-fleet/x") == "legacy", "nothing in force")
    r = h.ctl("--dry-run", "route", "deactivate", "/api")
    check(r.returncode == 0 and re.search(r"^  put %sroutes/2 .*\"inactive\":true" %
                                          re.escape(PREFIX), r.stdout, re.M),
          "a deactivation's transaction: %r" % (r,))
    check(env.etcd.prefix("routes/")[0] == before, "still nothing written")


WRK_LUA = """
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) seen = 0; wrong = 0 end
function response(status, headers, body)
  seen = seen + 1
  if status ~= 200 or headers["X-Pool"] ~= "modern" then wrong = wrong + 1 end
end
function done(summary, latency, requests)
  local s, w = 0, 0
  for _, t in ipairs(threads) do s = s + t:get("seen"); w = w + t:get("wrong") end
  io.write(string.format("checked %d wrong %d\\n", s, w))
end
"""


def test_changes_under_load(env, changes=500):
    """500 changes written to etcd while wrk loads all three hosts: no request lost (socket
    errors, non-2xx) or misrouted (a route the changes do not touch answered by another pool).
    wrk's threads check each response in Lua."""
    script = env.tmp / "check.lua"
    script.write_text(WRK_LUA)
    wrks = [subprocess.Popen(["wrk", "-t1", "-c8", "-d60s", "-s", str(script),
                              "http://127.0.0.1:%d/api/x" % h.port],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for h in env.hosts]
    t0 = time.monotonic()
    try:
        time.sleep(0.5)

        # Four writers, each toggling a route of its own.
        def writer(k):
            for n in range(changes // 4):
                env.etcd.put("routes/4%d" % k, route_obj("/load%d" % k,
                                                         ("legacy", "modern")[n % 2]))
        ts = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        for k in range(4):
            pool_on_all(env, "/load%d" % k, ("legacy", "modern")[(changes // 4 - 1) % 2])
    finally:
        for w in wrks:
            w.send_signal(signal.SIGINT)
    took = time.monotonic() - t0
    total = 0
    for h, w in zip(env.hosts, wrks):
        out, _ = w.communicate(timeout=30)
        check("Socket errors" not in out and "Non-2xx" not in out,
              "h%d: wrk saw errors: %s" % (h.i, out))
        m = re.search(r"checked (\d+) wrong (\d+)", out)
        check(m and int(m.group(2)) == 0 and int(m.group(1)) > 0,
              "h%d: misrouted or unchecked: %s" % (h.i, out))
        total += int(m.group(1))
    print("%d changes in %.1f s under wrk on 3 hosts: %d requests, none lost or misrouted" %
          (changes, took, total))
    env.converged()


TESTS = [test_offered_table_everywhere, test_convergence, test_bad_object_refused,
         test_strgctl_through_store, test_concurrent_changes_conflict,
         test_rollback_trip_fleet_wide, test_fleet_view, test_wait_fleet,
         test_dry_run_in_fleet, test_changes_under_load, test_sticky_canary_agrees,
         test_leader_killed, test_host_cut_off, test_compaction_while_stopped,
         test_starts_without_etcd]


def main():
    if os.geteuid() == 0 and not os.environ.get("STRG_FLEET_NETNS"):
        os.environ["STRG_FLEET_NETNS"] = "1"
        os.execvp("unshare", ["unshare", "--net", "--", sys.executable] + sys.argv)
    if os.environ.get("STRG_FLEET_NETNS"):
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    if not shutil.which("etcd") or not (ROOT / "strgd").exists():
        print("[  SKIPPED ] 1 test(s).\nfleet: etcd or strgd missing")
        return 77
    want = sys.argv[1:]
    tests = [t for t in TESTS if not want or any(w in t.__name__ for w in want)]
    env = Env()
    env.figures = {}
    passed, failed = [], []
    try:
        env.start()
        for t in tests:
            print("[ RUN      ] %s" % t.__name__, flush=True)
            t0 = time.monotonic()
            try:
                t(env)
                passed.append(t.__name__)
                print("[       OK ] %s (%.1f s)" % (t.__name__, time.monotonic() - t0),
                      flush=True)
            except Exception as e:  # noqa: BLE001 (a test's failure, whatever it is)
                failed.append(t.__name__)
                print("[  ERROR   ] %s: %s: %s" % (t.__name__, type(e).__name__, e))
                print("[  FAILED  ] %s" % t.__name__, flush=True)
    except Fail as e:
        print("[  ERROR   ] set-up: %s" % e)
        failed.append("set-up")
    finally:
        if failed:
            for h in env.hosts:
                print("--- h%d log (tail) ---\n%s" % (h.i, "\n".join(h.log().splitlines()[-15:])))
        env.stop()
    if env.figures:
        print("fleet figures: %s" % json.dumps(env.figures))
    print("[  PASSED  ] %d test(s)." % len(passed))
    if failed:
        print("[  FAILED  ] %d test(s), listed below:" % len(failed))
        for f in failed:
            print("[  FAILED  ] %s" % f)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
