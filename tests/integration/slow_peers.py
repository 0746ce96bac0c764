# SPDX-License-Identifier: GPL-2.0-only
"""Slow peers for the tests of strgd's small servers (control socket, metrics listener).

usage: slow_peers.py ADDR N SECONDS INTERVAL PREFIX

ADDR is a Unix socket's path or HOST:PORT. Opens N connections and sends each PREFIX (the start
of a request that never completes), then one more byte of it on every open connection every
INTERVAL seconds, for SECONDS in all (bounded: nothing runs longer). Prints "ready HELD REFUSED"
once every connection is open and the server had 0.5 s to refuse some (REFUSED: answered and
closed at once, the server's "busy"), then at the end one JSON line: "held", "refused",
"closed_after" (seconds from connect to the server's close, per held connection it closed) and
"open" (held connections still open at the end).
"""
import json
import select
import socket
import sys
import time


def connect(addr):
    if "/" in addr:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        # Blocking: a full backlog makes a Unix connect wait (a timeout would make it EAGAIN).
        s.connect(addr)
        s.settimeout(5.0)
    else:
        host, port = addr.rsplit(":", 1)
        s = socket.create_connection((host, int(port)), timeout=5.0)
    return s


def closed_now(s):
    """Whether the server closed s (what it sent before, if anything, is read and dropped)."""
    try:
        while select.select([s], [], [], 0)[0]:
            if not s.recv(65536):
                return True
    except OSError:
        return True
    return False


def main():
    addr, n, seconds, interval, prefix = sys.argv[1:6]
    n, seconds, interval = int(n), float(seconds), float(interval)
    end = time.monotonic() + seconds
    conns = []  # [socket, connected at, closed after (None: open)]
    for _ in range(n):
        s = connect(addr)
        try:
            s.sendall(prefix.encode())
        except OSError:
            pass  # refused and closed already (a fast server): closed_now() counts it
        conns.append([s, time.monotonic(), None])
    time.sleep(0.5)
    refused = [c for c in conns if closed_now(c[0])]
    held = [c for c in conns if c not in refused]
    print("ready %d %d" % (len(held), len(refused)), flush=True)
    while time.monotonic() < end:
        time.sleep(min(interval, max(0.0, end - time.monotonic())))
        for c in held:
            if c[2] is not None:
                continue
            if closed_now(c[0]):
                c[2] = time.monotonic() - c[1]
                continue
            try:
                c[0].send(b"x")
            except OSError:
                c[2] = time.monotonic() - c[1]
    print(json.dumps({"held": len(held), "refused": len(refused),
                      "closed_after": [round(c[2], 2) for c in held if c[2] is not None],
                      "open": sum(1 for c in held if c[2] is None)}), flush=True)
    for c in conns:
        c[0].close()


if __name__ == "__main__":
    main()
