#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""The tests' own SYN flood: COUNT TCP SYN segments from SRC to DST:PORT over a raw socket
(IP_HDRINCL), as fast as they go, bounded by count and by SECONDS. Each has its own source
port and sequence number. Prints how many were sent. Run inside the namespace they leave from;
answers (SYN-ACKs) go to SRC, which nobody holds, so no RST comes back from the sender.

  synflood.py SRC DST PORT COUNT [SECONDS]
"""
import random
import socket
import struct
import sys
import time


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def syn(src, dst, sport, dport, seq):
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, 0, 5 << 4, 0x02, 65535, 0, 0)
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", checksum(pseudo + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), random.randrange(65536), 0, 64,
                     6, 0, socket.inet_aton(src), socket.inet_aton(dst))
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    return ip + tcp


def main():
    src, dst, port, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    limit = float(sys.argv[5]) if len(sys.argv) > 5 else 10.0
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
    t0 = time.monotonic()
    sent = 0
    while sent < count and time.monotonic() - t0 < limit:
        s.sendto(syn(src, dst, 1024 + sent % 60000, port, random.randrange(1 << 32)), (dst, 0))
        sent += 1
    print(sent, flush=True)


if __name__ == "__main__":
    main()
