# SPDX-License-Identifier: GPL-2.0-only
"""Gives a real client's IPv6 packets extension headers, for the XDP guard's tests.

usage: exthdr_relay.py TUN DEV MAC SRC DST N SECONDS

Run inside a client's network namespace. Creates the tun device TUN and routes DST/128 through
it with source address SRC, so the kernel's TCP (curl, say) sends its packets to DST there; each
IPv6 TCP packet to DST read from TUN gets N destination options headers of 8 bytes (one PadN
option each) after its fixed header and goes out of DEV, as an Ethernet frame to MAC, through
an AF_PACKET socket. Replies come back on DEV the ordinary way (SRC is an address of DEV).
Prints "ready" once the route is in place, then relays until SECONDS have passed or it is
signalled; the tun device and its route go with the process. Prints the packets relayed at the
end.
"""
import fcntl
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TUN, IFF_NO_PI = 0x0001, 0x1000
NEXTHDR_DEST, IPPROTO_TCP = 60, 6
MTU = 1400  # room for the headers added within DEV's 1500


def dest_opts(next_header):
    """A destination options header of 8 bytes: one PadN option of 4 zero bytes."""
    return bytes([next_header, 0, 1, 4, 0, 0, 0, 0])


def with_headers(pkt, n):
    """pkt (IPv6, no extension headers) with n destination options headers before its payload."""
    nexthdr = pkt[6]
    chain = b"".join(dest_opts(NEXTHDR_DEST if i + 1 < n else nexthdr) for i in range(n))
    plen = struct.unpack("!H", pkt[4:6])[0] + len(chain)
    return pkt[:4] + struct.pack("!HB", plen, NEXTHDR_DEST if n else nexthdr) + pkt[7:40] + \
        chain + pkt[40:]


def main():
    tun, dev, mac, src, dst, n, seconds = sys.argv[1:8]
    n, deadline = int(n), time.monotonic() + float(seconds)
    dst_bin = socket.inet_pton(socket.AF_INET6, dst)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", tun.encode(), IFF_TUN | IFF_NO_PI))
    for argv in (["ip", "link", "set", tun, "mtu", str(MTU), "up"],
                 ["ip", "-6", "route", "add", dst + "/128", "dev", tun, "src", src]):
        subprocess.run(argv, check=True, timeout=10)
    out = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    out.bind((dev, 0))
    eth = bytes.fromhex(mac.replace(":", "")) + out.getsockname()[4] + b"\x86\xdd"
    print("ready", flush=True)
    relayed = 0
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.2)
            if not ready:
                continue
            pkt = os.read(fd, 65536)
            # Only the client's TCP to DST: neighbour and router solicitations stay home.
            if len(pkt) < 40 or pkt[0] >> 4 != 6 or pkt[6] != IPPROTO_TCP or \
                    pkt[24:40] != dst_bin:
                continue
            out.send(eth + with_headers(pkt, n))
            relayed += 1
    finally:
        print("relayed %d" % relayed, flush=True)


if __name__ == "__main__":
    main()
