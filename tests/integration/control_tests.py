# SPDX-License-Identifier: GPL-2.0-only
"""The control plane's promises, end to end: strgctl's exit codes when strgd refuses it, changes
that survive a restart racing with them, a failed save reported for the change it concerns, a
restart that waits without stalling worker 0, a failed restart that leaves everything (pins
included) as it was.

suite.py registers these with register(suite_module). Tests that restart or break a strgd run one
of their own (env.spawn_extra_proxy) and stop every process they started by pid.
"""

import json
import os
import re
import select
import signal
import socket
import subprocess
import time
import urllib.request

import harness as h

S = None  # the suite module (Fail, Skip, check, ...), set by register()

CONTROL_TESTS = []


def control(fn):
    CONTROL_TESTS.append(fn)
    return fn


def strgd_only(env):
    if env.flavour.name != "strgd":
        raise S.Skip("a strgd behaviour")


def strgctl_at(port, *args, timeout=30):
    """strgctl against the strgd listening on port; the CompletedProcess."""
    argv = [str(h.ROOT / "strgctl"), "-s", h.control_path(port)] + [str(a) for a in args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


def fill_control_socket(path, limit=300):
    """Connections to the control socket, opened at once, until strgd refuses some (it says so
    and closes them); the ones it took, to close when done (it closes them itself after its
    timeout for a silent connection)."""
    held = []
    try:
        for _ in range(limit):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(path)
            held.append(s)
            if len(held) % 16:
                continue
            # The refused ones are told so at once; the others wait for their command.
            ready, _, _ = select.select(held, [], [], 0.2)
            if ready:
                said = ready[0].recv(200)
                S.check(b"too many" in said, "a refused connection was told %r" % said)
                for r in ready:
                    held.remove(r)
                    r.close()
                return held
    except BaseException:
        for s in held:
            s.close()
        raise
    for s in held:
        s.close()
    raise S.Fail("strgd took %d control connections without refusing one" % limit)


@control
def strgctl_refused_connection_exits_1(env):
    """With every control connection taken, strgd refuses the next one (it says why and closes
    it, often before strgctl has written its command): strgctl exits 1 with that reason, never
    dies of SIGPIPE (exit 141) or exits with another code."""
    strgd_only(env)
    held = fill_control_socket(h.control_path())
    codes = {}
    try:
        for _ in range(20):
            # A long line: strgd closes while it is still being written.
            r = h.strgctl("route", "set", "/" + "x" * 3000, "modern", timeout=10)
            codes[r.returncode] = codes.get(r.returncode, 0) + 1
            S.check(r.returncode in (0, 1), "strgctl exited %d (stderr %r)" % (
                r.returncode, r.stderr[-200:]))
            if r.returncode == 1:
                S.check("too many control connections" in r.stderr,
                        "a refusal without its reason: %r" % r.stderr[-200:])
            else:  # a held connection timed out and made room: undo the change
                h.strgctl("route", "del", "/" + "x" * 3000)
    finally:
        for s in held:
            s.close()
    S.check(codes.get(1, 0) >= 10, "too few refusals to tell: %r" % codes)


# ---------------------------------------------------------------------------------------------
# Restarts: a strgd of the test's own and the successors "strgctl restart" starts from it


def alive(pid):
    """Whether the process runs (a zombie counts as gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def children(pid):
    """The pids of pid's children."""
    out = []
    try:
        for task in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, task)) as f:
                out += [int(c) for c in f.read().split()]
    except OSError:
        pass
    return out


class Restartable:
    """A strgd of the test's own on port, and every strgd that restarts take it over to; stop()
    ends them all by pid."""

    def __init__(self, env, tag, port, **cfg_kw):
        self.env, self.port = env, port
        self.proc = env.spawn_extra_proxy(tag, port, **cfg_kw)
        self.pids = [self.proc.pid]
        # The control socket answers once the data path is set up (its maps pinned).
        S.check(h.wait_until(lambda: self.ctl("route", "show").returncode == 0, 5.0),
                "the strgd on port %d does not answer on its control socket" % port)

    @property
    def pid(self):
        return self.pids[-1]

    def ctl(self, *args, timeout=40):
        return strgctl_at(self.port, *args, timeout=timeout)

    def restart(self, timeout=40):
        """strgctl restart; the CompletedProcess (the new pid is followed when it worked)."""
        r = self.ctl("restart", timeout=timeout)
        self.note(r.stdout)
        return r

    def note(self, text):
        m = re.search(r"strgd pid (\d+) serves", text)
        if m:
            self.pids.append(int(m.group(1)))
        return m

    def log(self):
        return self.proc.stderr_text()

    def wait_old_gone(self, timeout=35.0):
        """Until every strgd before the last has exited (they finish their connections)."""
        S.check(h.wait_until(lambda: not any(alive(p) for p in self.pids[:-1]), timeout),
                "an old strgd did not exit: %r" % [p for p in self.pids[:-1] if alive(p)])

    def stop(self):
        for p in reversed(self.pids[1:]):
            if alive(p):
                os.kill(p, signal.SIGTERM)
                if not h.wait_until(lambda: not alive(p), 5.0):
                    os.kill(p, signal.SIGKILL)
                    self.proc.notes.append("successor pid %d still running 5 s after "
                                           "SIGTERM: killed" % p)
        self.proc.stop(signal.SIGTERM, 5.0)


def route_ids(r):
    """{path: id} of a strgd's routes."""
    doc = json.loads(r.ctl("route", "show", "-j").stdout)
    return {x["path"]: x["id"] for x in doc["routes"]}


RACE_TRIES = int(os.environ.get("STRG_IT_RESTART_RACES", "6"))


@control
def restart_racing_changes_loses_none(env):
    """strgctl route set and strgctl restart started together, STRG_IT_RESTART_RACES times
    (default 6; 100 for the release check): a change answered 'added' (exit 0) is in the new
    strgd's table under the id it was given, a refused one (exit 1) is nowhere, no other exit
    code; no id is handed out twice; every restart succeeds."""
    strgd_only(env)
    r = Restartable(env, "race", 8161)
    acked, refused = {}, 0
    try:
        for i in range(RACE_TRIES):
            path = "/race%d" % i
            argv = [str(h.ROOT / "strgctl"), "-s", h.control_path(r.port)]
            change = subprocess.Popen(argv + ["route", "set", path, "modern"], text=True,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            restart = subprocess.Popen(argv + ["restart"], text=True, stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE)
            c_out, c_err = change.communicate(timeout=40)
            r_out, r_err = restart.communicate(timeout=40)
            S.check(restart.returncode == 0 and r.note(r_out),
                    "try %d: restart exited %d: %s %s" % (i, restart.returncode, r_out, r_err))
            S.check(change.returncode in (0, 1), "try %d: route set exited %d: %s %s" % (
                i, change.returncode, c_out, c_err))
            if change.returncode == 0:
                m = re.search(r"route (\d+) added", c_out)
                S.check(m, "try %d: route set said %r" % (i, c_out))
                S.check(int(m.group(1)) not in acked.values(), "try %d: id %s given twice: %r"
                        % (i, m.group(1), acked))
                acked[path] = int(m.group(1))
            else:
                refused += 1
            ids = route_ids(r)  # the new strgd's
            S.check(len(set(ids.values())) == len(ids), "ids twice in the table: %r" % ids)
            for p, want in acked.items():
                S.check(ids.get(p) == want, "try %d: %s was answered as route %d, the new "
                        "strgd has %r" % (i, p, want, ids.get(p)))
            if change.returncode == 1:
                S.check(path not in ids, "try %d: %s refused but in the table" % (i, path))
            r.wait_old_gone()
        for p in acked:
            S.check(r.ctl("route", "del", p).returncode == 0, "route del %s" % p)
    finally:
        r.stop()
    print("     restart_racing_changes_loses_none: %d tries: %d changes kept, %d refused, "
          "none lost" % (RACE_TRIES, len(acked), refused), flush=True)


restart_racing_changes_loses_none.timeout = 60 + 8 * RACE_TRIES


class SmallFs:
    """A tmpfs of its own, small enough to fill (a state file's full disk); unmounted at the
    end."""

    def __init__(self, where, size_kib=512):
        self.dir = where
        os.makedirs(where, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%dk" % size_kib, "strg-it", where],
                       check=True)
        self.filler = os.path.join(where, "filler")

    def fill(self):
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            while os.write(fd, b"\0" * 4096) > 0:
                pass
        except OSError:
            pass  # full
        finally:
            os.close(fd)

    def free(self):
        os.unlink(self.filler)

    def close(self):
        subprocess.run(["umount", "-l", self.dir], check=False)


@control
def failed_save_is_reported_for_its_change(env):
    """A change whose state file cannot be written (its file system full) is in force but
    reported as not saved: exit 1 and a message that says both; the state file keeps what was
    saved; strgctl restart refuses while the table is not saved (nothing restarts). Once there is
    room again, the next change saves everything and a restart keeps every route and its id."""
    strgd_only(env)
    fs = SmallFs(str(env.tmp / "smallfs"))
    state = os.path.join(fs.dir, "state")
    r = None
    try:
        r = Restartable(env, "fullfs", 8162, extra=["state-file %s" % state])
        ok = r.ctl("route", "set", "/saved1", "modern")
        S.check(ok.returncode == 0, "route set /saved1: %s" % ok.stderr)
        S.check("/saved1 " in open(state).read(), "/saved1 not in the state file")
        fs.fill()
        bad = r.ctl("route", "set", "/unsaved", "modern")
        S.check(bad.returncode == 1, "route set on a full disk exited %d: %r %r" % (
            bad.returncode, bad.stdout, bad.stderr))
        S.check(re.search(r"in force", bad.stderr) and re.search(r"not saved", bad.stderr) and
                "No space left on device" in bad.stderr,
                "the refusal does not say in force and not saved: %r" % bad.stderr)
        m = re.search(r"route (\d+) added: /unsaved modern", bad.stdout + bad.stderr)
        S.check(m, "the change itself is not told: %r %r" % (bad.stdout, bad.stderr))
        unsaved_id = int(m.group(1))
        with h.RawConn(port=8162) as c:
            c.send(h.request("GET", "/unsaved/x"))
            S.check(c.read_response().pool() == "modern", "/unsaved is not in force")
        S.check("/unsaved " not in open(state).read(), "the state file changed")
        # A restart now would lose the change: refused, the same strgd carries on.
        rs = r.restart()
        S.check(rs.returncode == 1 and "cannot be saved" in rs.stderr,
                "restart with an unsaved table exited %d: %r" % (rs.returncode, rs.stderr))
        S.check(len(r.pids) == 1 and alive(r.pid), "the strgd changed: %r" % r.pids)
        fs.free()
        later = r.ctl("route", "set", "/later", "modern")
        S.check(later.returncode == 0, "route set with room again: %r" % later.stderr)
        text = open(state).read()
        S.check("/unsaved " in text and "/later " in text, "not saved: %r" % text[-300:])
        rs = r.restart()
        S.check(rs.returncode == 0, "restart: %r" % rs.stderr)
        ids = route_ids(r)
        S.check(ids.get("/unsaved") == unsaved_id and "/later" in ids and "/saved1" in ids,
                "after the restart: %r (want /unsaved as %d)" % (ids, unsaved_id))
        S.check(len(set(ids.values())) == len(ids), "an id twice: %r" % ids)
    finally:
        if r is not None:
            r.stop()
        fs.close()


def kernel_mode(env):
    return getattr(env.flavour, "mode", None) == "kernel"


def pins_of(env, tag):
    """{name: the map id it pins} in the pin directory of the extra strgd tagged tag."""
    d = env.flavour.pin_dir(env.tmp / ("%s.conf" % tag))
    out = {}
    for name in sorted(os.listdir(d)) if os.path.isdir(d) else []:
        b = subprocess.run(["bpftool", "-j", "map", "show", "pinned", os.path.join(d, name)],
                           capture_output=True, text=True)
        out[name] = json.loads(b.stdout)["id"] if b.returncode == 0 else "bpftool failed"
    return out


@control
def failed_restart_changes_nothing(env):
    """A successor that cannot start (the configuration file broken since the start): strgctl
    restart exits 1 with the successor's own error (FILE:LINE: message), which the running
    strgd logs too; it carries on as before: it serves, its control socket answers, every BPF
    map it pinned is pinned again (bpftool reads each). Mended, the next restart works."""
    strgd_only(env)
    r = Restartable(env, "badrestart", 8163)
    cfg = env.tmp / "badrestart.conf"
    # The successor's error, which it writes to the stderr it shares with the running strgd.
    r.proc.expect(allow=[re.escape(str(cfg)) + r":\d+: unknown directive 'no-such-directive'"])
    text = cfg.read_text()
    try:
        pins = pins_of(env, "badrestart")
        if kernel_mode(env):
            S.check(len(pins) >= 13, "too few pins to tell: %r" % pins)
        cfg.write_text(text + "no-such-directive 1\n")
        line = len(text.splitlines()) + 1
        rs = r.restart()
        want = "%s:%d: unknown directive 'no-such-directive'" % (cfg, line)
        S.check(rs.returncode == 1 and want in rs.stderr,
                "restart exited %d, want 1 and %r: %r" % (rs.returncode, want, rs.stderr))
        S.check(h.wait_until(lambda: re.search(r"restart failed.*" + re.escape(want),
                                                r.log()), 3.0),
                "the running strgd did not log the successor's error: %s" % r.log()[-600:])
        S.check(len(r.pids) == 1 and alive(r.pid), "the strgd changed: %r" % r.pids)
        after = pins_of(env, "badrestart")
        S.check(after == pins, "pins before %r, after the failed restart %r" % (pins, after))
        with h.RawConn(port=8163) as c:
            c.send(h.request("GET", "/a/after"))
            S.check(c.read_response().status == 200, "the strgd does not serve")
        S.check(r.ctl("route", "show").returncode == 0, "the control socket does not answer")
        cfg.write_text(text)
        rs = r.restart()
        S.check(rs.returncode == 0, "restart once mended: %r" % rs.stderr)
    finally:
        cfg.write_text(text)
        r.stop()


def serves_metrics(port):
    """Whether /metrics answers on port (False when the connection is refused)."""
    try:
        with urllib.request.urlopen("http://%s:%d/metrics" % (h.HOST, port), timeout=5.0) as r:
            return r.status == 200 and b"strg_" in r.read()
    except OSError:
        return False


@control
def restart_moves_listeners_and_names_the_live_strgd(env):
    """listen and metrics moved in the file: strgctl restart makes the successor serve on the new
    addresses (the old ones close with the old strgd); a second strgd given the same control
    socket afterwards names the live successor's pid, not the dead one's; a move to an address
    that is taken fails the restart with the successor's reason in strgctl's reply, and the
    running strgd carries on; so does a control socket moved in the file."""
    strgd_only(env)
    port, new_port, mport, new_mport = 8108, 8109, 9311, 9312
    r = Restartable(env, "moved", port, extra=["metrics %s:%d" % (h.HOST, mport)])
    cfg = env.tmp / "moved.conf"
    text = cfg.read_text()
    busy = h.LEGACY_PORTS[0]  # nginx listens there
    r.proc.expect(allow=[r"restart: metrics %s:%d \(moved in the configuration\): Address "
                         r"already in use" % (re.escape(h.HOST), busy),
                         r"restart: control \S+ \(moved in the configuration from "])
    try:
        S.check(serves_metrics(mport), "no /metrics on %d at the start" % mport)
        cfg.write_text(text.replace("listen %s:%d" % (h.HOST, port),
                                    "listen %s:%d" % (h.HOST, new_port))
                       .replace("metrics %s:%d" % (h.HOST, mport),
                                "metrics %s:%d" % (h.HOST, new_mport)))
        rs = r.restart()
        S.check(rs.returncode == 0 and len(r.pids) == 2, "restart: %r" % rs)
        S.check(serves_metrics(new_mport), "the successor does not serve /metrics on the "
                "moved address %d: %s" % (new_mport, r.log()[-600:]))
        with h.RawConn(port=new_port) as c:
            c.send(h.request("GET", "/a/moved"))
            S.check(c.read_response().status == 200, "the successor does not serve on %d" %
                    new_port)
        r.wait_old_gone()
        S.check(not serves_metrics(mport) and not h.port_open(port),
                "the old addresses still answer after the old strgd exited")
        S.check(re.search(r"restart: metrics moved from %s:%d to %s:%d" % (
            re.escape(h.HOST), mport, re.escape(h.HOST), new_mport), r.log()),
            "the move is not logged: %s" % r.log()[-600:])
        # A second strgd on the same control socket: refused, naming the live strgd.
        second = subprocess.run(env.flavour.argv(cfg), capture_output=True, text=True,
                                timeout=20)
        want = "another strgd (pid %d) answers there" % r.pid
        S.check(second.returncode != 0 and want in second.stderr,
                "a second strgd: exit %d, want %r: %r" % (second.returncode, want,
                                                          second.stderr[-400:]))
        # Moved to a taken address: refused with the successor's reason; nothing changes.
        moved = cfg.read_text()
        cfg.write_text(moved.replace("metrics %s:%d" % (h.HOST, new_mport),
                                     "metrics %s:%d" % (h.HOST, busy)))
        rs = r.restart()
        want = "restart: metrics %s:%d (moved in the configuration): Address already in use" % (
            h.HOST, busy)
        S.check(rs.returncode == 1 and want in rs.stderr, "restart to a taken metrics "
                "address: %r" % rs)
        S.check(alive(r.pid) and serves_metrics(new_mport), "the running strgd stopped "
                "serving after the refused restart")
        with h.RawConn(port=new_port) as c:
            c.send(h.request("GET", "/a/after"))
            S.check(c.read_response().status == 200, "the strgd does not serve after the "
                    "refused restart")
        # The control socket is what strgctl reached: a restart cannot move it, and says so.
        ctl_path = h.control_path(port)
        cfg.write_text(moved.replace("control %s" % ctl_path, "control %s.moved" % ctl_path))
        rs = r.restart()
        want = "restart: control %s.moved (moved in the configuration from %s)" % (ctl_path,
                                                                                    ctl_path)
        S.check(rs.returncode == 1 and want in rs.stderr and alive(r.pid),
                "restart with the control socket moved: %r" % rs)
    finally:
        cfg.write_text(text)
        r.stop()


def pin_dir_without_bpffs(env):
    """A --pin-dir that is not on a BPF file system gets one mounted (as bpftool does): every map
    is pinned there and bpftool reads it, and strgd says so. One where nothing can be mounted
    (under /proc): strgd says exactly what is missing and that the maps are not pinned, and runs
    its fast path and its XDP guard all the same."""
    strgd_only(env)
    plain = env.tmp / "plainpins"
    nowhere = "/proc/strg-it-%d-pins" % os.getpid()
    cfg = env.tmp / "plainpins.conf"
    cfg.write_text(env.flavour.config(listen_port=8165))
    argv = env.flavour.argv(cfg)
    at = argv.index("--pin-dir")
    proc = None
    try:
        for pin_dir in (str(plain), nowhere):
            argv[at + 1] = pin_dir
            proc = env.spawn("strgd-pins", argv)
            h.wait_port(8165, h.START_S, proc)
            S.check(h.wait_until(lambda: strgctl_at(8165, "route", "show").returncode == 0,
                                 5.0), "no control socket")
            log = proc.stderr_text()
            xdp = strgctl_at(8165, "xdp", "show")
            S.check(xdp.returncode == 0 and "not loaded" not in xdp.stdout,
                    "the guard is not loaded: %r" % xdp.stdout)
            if pin_dir == nowhere:
                S.check("pin directory %s: cannot make the directory" % nowhere in log and
                        "maps not pinned in %s" % nowhere in log and
                        "maps pinned in" not in log.replace("maps not pinned in", ""),
                        "what is missing is not said: %s" % log[-800:])
            else:
                names = sorted(os.listdir(pin_dir))
                S.check(len(names) >= 13 and "kstats" in names and "guard_stats" in names,
                        "pins: %r" % names)
                b = subprocess.run(["bpftool", "map", "show", "pinned",
                                    os.path.join(pin_dir, "kstats")], capture_output=True)
                S.check(b.returncode == 0, "bpftool cannot read the pin: %r" % b.stderr)
                S.check("mounted a BPF file system there" in log and
                        "maps pinned in %s" % pin_dir in log, "not said: %s" % log[-800:])
            proc.stop(signal.SIGTERM, 5.0)
            proc = None
    finally:
        if proc is not None:
            proc.stop(signal.SIGTERM, 5.0)
        subprocess.run(["umount", "-l", str(plain)], check=False, capture_output=True)


def hanging_successor_test(env):
    """strgctl restart of a strgd whose binary file was replaced by one that never answers (a
    successor that hangs): worker 0 goes on serving meanwhile (new connections answered at once;
    one worker, so every connection is worker 0's); a change on a control connection it had
    taken before is refused (the successor reads the state file as it was), a new control
    connection waits for whichever strgd serves next; strgctl restart fails after its bound
    (15 s) with a message that says so, the hung successor is killed, strgd carries on (its pins
    too) and serves the control connection that waited; with its binary back, the next restart
    works."""
    strgd_only(env)
    bindir = env.tmp / "hangbin"
    bindir.mkdir(exist_ok=True)
    binary = bindir / "strgd"
    subprocess.run(["cp", env.flavour.binary, str(binary)], check=True)
    port = 8164
    cfg = env.tmp / "hang.conf"
    cfg.write_text(env.flavour.config(listen_port=port))
    proc = env.spawn("strgd-hang", [str(binary)] + env.flavour.argv(cfg)[1:])
    h.wait_port(port, h.START_S, proc)
    r = Restartable.__new__(Restartable)
    r.env, r.port, r.proc, r.pids = env, port, proc, [proc.pid]
    S.check(h.wait_until(lambda: r.ctl("route", "show").returncode == 0, 5.0),
            "the strgd does not answer on its control socket")
    try:
        pins = pins_of(env, "hang")
        early = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        early.settimeout(20.0)
        early.connect(h.control_path(port))
        S.check(h.wait_until(lambda: r.ctl("route", "show").returncode == 0, 2.0),
                "no control connection answered")  # so early has been taken too
        hang = bindir / "strgd.hang"
        hang.write_text("#!/bin/sh\nexec sleep 120\n")
        hang.chmod(0o755)
        os.rename(hang, binary)  # the file strgd restarts from, replaced as an upgrade would
        t0 = time.monotonic()
        restart = subprocess.Popen([str(h.ROOT / "strgctl"), "-s", h.control_path(port),
                                    "restart"], text=True, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE)
        S.check(h.wait_until(lambda: any(
            open("/proc/%d/cmdline" % c, "rb").read().startswith(b"sleep")
            for c in children(proc.pid) if alive(c)), 5.0), "the successor never started")
        early.sendall(b"route set /during-restart modern\n")
        said = early.recv(4096).decode()
        early.close()
        S.check(said.startswith("error: strgd is restarting"), "a change during the restart: "
                "%r" % said)
        queued = subprocess.Popen([str(h.ROOT / "strgctl"), "-s", h.control_path(port), "route",
                                   "set", "/queued", "modern"], text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        slowest = 0.0
        for i in range(30):
            t = time.monotonic()
            with h.RawConn(port=port, timeout=10.0) as c:
                c.send(h.request("GET", "/a/during-restart"))
                S.check(c.read_response().status == 200, "request %d failed" % i)
            slowest = max(slowest, time.monotonic() - t)
            time.sleep(0.1)
        S.check(restart.poll() is None, "strgctl restart returned before its bound")
        S.check(queued.poll() is None, "a new control connection was served during the restart")
        S.check(slowest < 1.0, "worker 0 stalled during the restart: a request took %.2f s"
                % slowest)
        out, err = restart.communicate(timeout=30)
        took = time.monotonic() - t0
        S.check(restart.returncode == 1 and "did not serve within 15 s" in err,
                "strgctl restart exited %d: %r %r" % (restart.returncode, out, err))
        S.check(14.0 <= took <= 25.0, "the restart gave up after %.1f s, not its 15 s" % took)
        S.check(not [c for c in children(proc.pid) if alive(c)],
                "the hung successor still runs: %r" % children(proc.pid))
        q_out, q_err = queued.communicate(timeout=10)
        S.check(queued.returncode == 0 and "/queued modern" in q_out,
                "the change that waited: exit %d %r %r" % (queued.returncode, q_out, q_err))
        S.check(r.ctl("route", "del", "/queued").returncode == 0, "route del /queued")
        S.check("/during-restart" not in r.ctl("route", "show").stdout,
                "the refused change is in the table")
        S.check(pins_of(env, "hang") == pins, "the pins changed")
        with h.RawConn(port=port) as c:
            c.send(h.request("GET", "/a/after"))
            S.check(c.read_response().status == 200, "the strgd does not serve")
        subprocess.run(["cp", env.flavour.binary, str(bindir / "strgd.new")], check=True)
        os.rename(bindir / "strgd.new", binary)
        rs = r.restart()
        S.check(rs.returncode == 0, "restart with the binary back: %r" % rs.stderr)
    finally:
        r.stop()
    print("     restart_waits_for_a_hung_successor_without_stalling: slowest request %.0f ms while the restart waited; it "
          "gave up after %.1f s" % (slowest * 1000, took), flush=True)


hanging_successor_test.__name__ = "restart_waits_for_a_hung_successor_without_stalling"
hanging_successor_test.timeout = 60


def register(suite):
    """Add the control plane's tests to the suite's list."""
    global S
    S = suite
    for fn in CONTROL_TESTS:
        suite.test(fn)
    if suite.KERNEL_MODE and os.environ.get("STRG_IT_MODE") == "kernel":
        suite.test(pin_dir_without_bpffs)
    # 15 s each: once per data path, with one worker (every connection is worker 0's).
    if os.environ.get("STRG_IT_MODE", "user").endswith("-w1"):
        suite.test(hanging_successor_test)
