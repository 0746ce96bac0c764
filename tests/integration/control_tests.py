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


def register(suite):
    """Add the control plane's tests to the suite's list."""
    global S
    S = suite
    for fn in CONTROL_TESTS:
        suite.test(fn)
