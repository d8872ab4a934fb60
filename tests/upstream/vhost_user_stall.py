#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""rte_vhost: one vhost-user front-end stalls every other one.

rte_vhost serves all its vhost-user sockets from one thread (vhost-events).
read_vhost_message() reads a message's payload with a blocking read() on
the connection socket. A front-end that sends a header announcing a
payload and then sends nothing keeps that thread in read() until it sends
the bytes or closes: meanwhile no other front-end, on any socket of the
process, gets a reply. Seen in DPDK 22.11; the same code is in 24.11 and
25.11 (lib/vhost/vhost_user.c, read_vhost_message).

Reproduce against any rte_vhost application, e.g.

    dpdk-testpmd --no-pci --no-huge -m 256 --vdev 'net_vhost0,iface=/tmp/vu.sock' -- -i
    python3 vhost_user_stall.py /tmp/vu.sock

The script connects twice. The first connection sends VHOST_USER_SET_FEATURES
with size 8 and no payload, and holds (--hold seconds, default 5). The
second sends VHOST_USER_GET_FEATURES and times the reply. Expected: a reply
in milliseconds. Actual: the reply comes only when the first connection
closes, after --hold seconds. Exit status 1 if the second front-end waited
more than --limit seconds (default 2).
"""
import argparse
import socket
import struct
import sys
import time

GET_FEATURES = 1
SET_FEATURES = 2
VERSION = 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("socket", help="the application's vhost-user server socket")
    ap.add_argument("--hold", type=float, default=5.0,
                    help="seconds the first front-end keeps its half message (5)")
    ap.add_argument("--limit", type=float, default=2.0,
                    help="longest acceptable wait of the second front-end (2)")
    a = ap.parse_args()

    first = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    first.connect(a.socket)
    # Header only: request, flags, size = 8; the 8 payload bytes never come.
    first.sendall(struct.pack("<III", SET_FEATURES, VERSION, 8))
    time.sleep(0.1)  # let the server start reading it

    second = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    second.connect(a.socket)
    second.settimeout(a.hold + 10)
    t0 = time.monotonic()
    second.sendall(struct.pack("<III", GET_FEATURES, VERSION, 0))
    closer_at = t0 + a.hold
    first.settimeout(0.05)
    reply = b""
    second.setblocking(False)
    while len(reply) < 20:
        now = time.monotonic()
        if first is not None and now >= closer_at:
            first.close()
            first = None
        if now - t0 > a.hold + 10:
            break
        try:
            chunk = second.recv(20 - len(reply))
            if not chunk:
                break
            reply += chunk
        except BlockingIOError:
            time.sleep(0.005)
    waited = time.monotonic() - t0
    if first is not None:
        first.close()
    second.close()
    if len(reply) < 20:
        print("second front-end: no reply at all (%.2f s)" % waited)
        return 1
    req, flags, size, features = struct.unpack("<IIIQ", reply)
    print("second front-end: GET_FEATURES answered after %.3f s (features %#x); "
          "first front-end held its half message for %.1f s" % (waited, features, a.hold))
    return 1 if waited > a.limit else 0


if __name__ == "__main__":
    sys.exit(main())
