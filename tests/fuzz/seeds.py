#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Write the seed corpus of fuzz_vhost_msg (corpus/vhost_msg/): QEMU's own
message sequence, and one file per kind of message the checks refuse, in the
target's input format (see fuzz_vhost_msg.c). Run it again after changing
the format; the files are committed."""
import os
import struct

OFFERED = (1 << 32) | (1 << 29) | (1 << 30)
OFFERED_PROTO = (1 << 9) | (1 << 3) | (1 << 15)  # CONFIGURE_MEM_SLOTS too, to reach ADD_MEM_REG
REG, EVT, OTHER = 1, 2, 0
MIB = 1 << 20
BASE = 0x7f0000000000


def msg(req, payload=b"", flags=1, fds=()):
    body = struct.pack("<III", req, flags, len(payload)) + payload
    rec = struct.pack("<HB", len(body), len(fds))
    for kind, size in fds:
        rec += struct.pack("<BQ", kind, size)
    return rec + body


def u64(req, v, fds=()):
    return msg(req, struct.pack("<Q", v), fds=fds)


def state(req, idx, num):
    return msg(req, struct.pack("<II", idx, num))


def table(regions, fds):
    p = struct.pack("<II", len(regions), 0)
    for r in regions:
        p += struct.pack("<QQQQ", *r)
    return msg(5, p, fds=fds)


def addr(idx, desc, used, avail):
    return msg(9, struct.pack("<IIQQQQ", idx, 0, desc, used, avail, 0))


def qemu():
    s = [msg(1), msg(15), u64(16, (1 << 9) | (1 << 3)), msg(3),
         msg(24, struct.pack("<III", 0, 8, 0) + bytes(8)), u64(2, OFFERED),
         table([(0, 16 * MIB, BASE, 0)], [(REG, 16 * MIB)])]
    for q in (0, 1):
        b = BASE + q * 0x10000
        s += [state(8, q, 256), state(10, q, 0), addr(q, b, b + 0x2000, b + 0x1000),
              u64(12, q, [(EVT, 0)]), u64(13, q, [(EVT, 0)]), u64(14, q, [(EVT, 0)]),
              state(18, q, 1)]
    return s + [state(11, 0, 0), state(11, 1, 0)]


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "vhost_msg")
    os.makedirs(out, exist_ok=True)
    head = struct.pack("<QQ", OFFERED, OFFERED_PROTO)
    nego = [u64(16, OFFERED_PROTO), u64(2, OFFERED)]
    seeds = {
        "qemu": qemu(),
        "mem_short": nego + [table([(0, 4 * MIB, BASE, 0)], [(REG, 192 * 1024)])],
        "mem_overlap": nego + [table([(0, 4 * MIB, BASE, 0), (2 * MIB, MIB, BASE + 8 * MIB, 0)],
                                     [(REG, 4 * MIB), (REG, MIB)])],
        "mem_wrap": nego + [table([(2**64 - MIB, 4 * MIB, BASE, 0)], [(REG, 4 * MIB)])],
        "mem_pipe": nego + [table([(0, MIB, BASE, 0)], [(OTHER, 0)])],
        "add_mem_reg": nego + [table([(0, MIB, BASE, 0)], [(REG, MIB)]),
                               msg(37, struct.pack("<QQQQQ", 0, 64 * MIB, MIB, BASE + 64 * MIB, 0),
                                   fds=[(REG, MIB)]),
                               msg(38, struct.pack("<QQQQQ", 0, 64 * MIB, MIB, BASE + 64 * MIB, 0))],
        "inflight": [msg(32, struct.pack("<QQHH", 4096, 0, 256, 65535), fds=[(REG, 4096)])],
        "call_pipe": nego + [u64(13, 0, [(OTHER, 0)])],
        "vring": nego + [state(8, 0, 3), state(8, 3, 64), state(10, 0, 65536)],
        "config": nego + [msg(24, struct.pack("<III", 250, 8, 0) + bytes(8))],
        "flags": [msg(1, flags=5), msg(1, flags=2)],
        "unknown": [msg(99), msg(0)],
    }
    for name, recs in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(head + b"".join(recs))


if __name__ == "__main__":
    main()
