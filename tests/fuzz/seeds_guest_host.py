#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Seed corpora of the guest and host side targets of tests/fuzz:
virtq, vsock, uds_line, config_cli, config_yaml.

Each seed is a small input that walks one path the target was written for
(a good chain, a cycle, a stream both ways, a host-initiated stream, a
CONNECT line cut in pieces, a command line, a YAML file); libFuzzer mutates
from there. The byte layouts follow the targets' sources (their take()
calls, in order). Run from anywhere; writes tests/fuzz/corpus/<target>/.

Usage: seeds_guest_host.py
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def u8(v):
    return bytes([v & 0xff])


def u16(v):
    return struct.pack("<H", v & 0xffff)


def u32(v):
    return struct.pack("<I", v & 0xffffffff)


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# --- virtq: fuzz_virtq.c -----------------------------------------------------

NEXT, WRITE, INDIRECT = 1, 2, 4
GPA = 1024                                     # region 0: 4096 bytes at mem[0]


def table(entries, packed=False):
    """An indirect table at region offset 0: entries (offset, len, flags, next/id)."""
    b = b""
    for off, ln, fl, nx in entries:
        b += struct.pack("<QIHH", GPA + off, ln, *((nx, fl) if packed else (fl, nx)))
    return b + bytes(-len(b) % 16)


def virtq_head(packed, indirect, fill, qsize_byte, start, writable, event_idx):
    b = u8((1 if packed else 0) | (2 if indirect else 0))
    b += u8(1)                                 # regions
    b += u16(4096) + u8(0) + u16(GPA // 64)    # size, "near 0", gpa
    b += u8(len(fill) // 16) + fill
    b += u8(qsize_byte)
    if packed:
        b += u8(start >> 15) + u16(start & 0x7fff)
    elif start is None:
        b += u8(0) + u16(0)                    # last_avail_idx 0
    else:
        b += u8(1) + u8(start - 0xfff0)        # near the wrap
    return b + u16(0) + u8(1) + u8(event_idx) + u8(writable)


def pops(n, what=1):
    """Per pop: flush (bit 0), give back and pop again (bit 1); a slice."""
    return (u8(what) + u16(0) + u16(64)) * n


def virtq(descs, heads, qsize_log=3, writable=0, start=None, event_idx=1, indirect=False,
          fill=b"", what=1):
    """Split ring; descs: (offset, len, flags, next)."""
    q = 1 << qsize_log
    b = virtq_head(False, indirect, fill, qsize_log, start, writable, event_idx)
    for i in range(q):
        off, ln, fl, nx = descs[i] if i < len(descs) else (0, 0, 0, 0)
        b += u8(0) + u16(off) + u8(1) + u16(ln) + u8(fl) + u8(0) + u8(nx % q)
    b += u8(0) + u8(len(heads))
    for i in range(q):
        b += u8(0) + u8(heads[i] if i < len(heads) else 0)
    b += u16(0) + u8(0)                        # used_event, avail flags
    return b + pops(len(heads), what)


def virtq_packed(descs, qsize, nbufs, writable=0, start=0x8000, indirect=False, fill=b"",
                 what=1):
    """Packed ring; descs: (offset, len, flags, id), made available in order."""
    b = virtq_head(True, indirect, fill, qsize, start, writable, 1)
    for i in range(qsize):
        off, ln, fl, bid = descs[i] if i < len(descs) else (0, 0, 0, 0)
        avail = 0 if i < len(descs) else 2     # available or used
        b += u8(fl) + u8(0) + u16(off) + u8(1) + u16(ln) + u8(avail) + u16(bid)
    b += u16(0) + u8(0)                        # driver event area
    return b + pops(nbufs, what)


def seeds_virtq():
    write("virtq", "one_desc", virtq([(0, 100, 0, 0)], [0]))
    write("virtq", "two_descs", virtq([(0, 44, NEXT, 1), (100, 200, 0, 0)], [0]))
    write("virtq", "rx_chain", virtq([(0, 44, NEXT | WRITE, 1), (64, 4000, WRITE, 0)], [0],
                                     writable=1))
    write("virtq", "cycle", virtq([(0, 10, NEXT, 1), (10, 10, NEXT, 0)], [0]))
    write("virtq", "wrap", virtq([(0, 8, 0, 0), (8, 8, 0, 0)], [0, 1], start=0xfffe))
    write("virtq", "past_end", virtq([(4090, 100, 0, 0)], [0]))
    write("virtq", "unpop", virtq([(0, 8, 0, 0), (8, 8, 0, 0)], [0, 1], what=3))
    tab = table([(256, 44, NEXT, 1), (512, 1000, 0, 0)])
    write("virtq", "indirect", virtq([(0, len(tab), INDIRECT, 0)], [0], indirect=True,
                                     fill=tab))
    write("virtq", "indirect_off", virtq([(0, len(tab), INDIRECT, 0)], [0], fill=tab))
    write("virtq", "packed_one", virtq_packed([(0, 100, 0, 7)], 4, 1))
    write("virtq", "packed_chain", virtq_packed([(0, 44, NEXT, 0), (100, 200, 0, 3)], 5, 1))
    write("virtq", "packed_rx", virtq_packed([(0, 44, NEXT | WRITE, 0), (64, 4000, WRITE, 1)],
                                             8, 1, writable=1))
    write("virtq", "packed_wrap", virtq_packed([(0, 8, 0, 0), (8, 8, 0, 1), (16, 8, 0, 2)], 3,
                                               3, start=2, what=3))
    ptab = table([(256, 44, 0, 0), (512, 1000, 0, 0)], packed=True)
    write("virtq", "packed_indirect", virtq_packed([(0, len(ptab), INDIRECT, 9)], 4, 1,
                                                   indirect=True, fill=ptab))


# --- vsock: fuzz_vsock.c -------------------------------------------------------

REQUEST, RW, RESPONSE, RST, SHUTDOWN, CREDIT_UPDATE = 0, 1, 4, 5, 6, 7  # op table indices


SEQ_PAIRS = (2, 5)  # the target's pairs i with i % 3 == 2 are SEQPACKET ones


def v_send(pair, op, length=0, flags=0, cuts=()):
    how = 0x06                                 # buf_alloc 65536, fwd_cnt = received
    b = u8(0) + u8(pair) + u8(op) + u8(how)
    if op == SHUTDOWN:
        b += u8(flags)
    if op == RW and pair in SEQ_PAIRS:
        b += u8(flags or 1)                    # EOM
    if op == RW:
        b += u16(length - 1)
    b += u8(len(cuts)) + b"".join(u8(c) for c in cuts)
    return b


def v_rx(*sizes):  # sizes as the target's table indices: 4 = 4096
    return u8(4) + u8(len(sizes) - 1) + b"".join(u8(s) for s in sizes)


def v_poll(n=1):
    return u8(7) + u8(n - 1)


V_RECV = u8(6)
V_POLL_RECV = u8(15)


def v_time(step):  # 0: 1 ms, 1: 25 ms, 2: 0.5 s, 3: 2.1 s
    return u8(9) + u8(step)


def v_app(app, action, length=0):  # 0 read, 2 write, 3 shut_wr, 4 close
    b = u8(10) + u8(app) + u8(action)
    if action == 2:
        b += u16(length - 1)
    return b


def v_client(gport_idx, kind=0, seqpacket=False):
    return u8(12) + u8(gport_idx) + u8(seqpacket) + u8(kind)


def vsock(modes, ops, wrap=False, seqpacket=True):
    # port modes, rx start, features (0: SEQPACKET negotiated), tx start
    return bytes(modes) + u8(wrap) + u8(not seqpacket) + u8(wrap) + b"".join(ops)


def seeds_vsock():
    rx4 = v_rx(4, 4, 4)
    write("vsock", "g2h_h2g", vsock([1] * 8, [
        rx4, rx4, v_send(0, REQUEST), v_poll(2), V_RECV, v_send(0, RW, 1000, cuts=(10, 100)),
        v_poll(2), v_app(0, 0), v_app(0, 2, 3000), v_poll(3), V_RECV, rx4,
        v_send(0, SHUTDOWN, flags=3), V_POLL_RECV, v_app(0, 4), V_POLL_RECV, v_time(3),
        V_POLL_RECV]))
    write("vsock", "host_initiated", vsock([0] * 8, [
        rx4, v_client(0), v_poll(2), V_RECV, v_send(6, RESPONSE), V_POLL_RECV, v_app(0, 0),
        v_app(0, 2, 500), V_POLL_RECV, v_send(6, RW, 300), V_POLL_RECV, v_app(0, 0)], wrap=True))
    write("vsock", "connecting", vsock([2, 3, 2, 3, 0, 1, 2, 3], [
        rx4, v_send(0, REQUEST), v_send(1, REQUEST), v_send(2, REQUEST), v_poll(2),
        v_send(1, RW, 10), v_time(3), V_POLL_RECV, V_POLL_RECV]))
    write("vsock", "stuck_app", vsock([1] * 8, [
        rx4, v_send(0, REQUEST), V_POLL_RECV] + [v_send(0, RW, 4000), V_POLL_RECV] * 6 +
        [v_app(0, 0), V_POLL_RECV]))
    # Pair 2 is a SEQPACKET one: messages both ways, then a host-initiated one.
    write("vsock", "seqpacket", vsock([1] * 8, [
        rx4, rx4, v_send(2, REQUEST), V_POLL_RECV, v_send(2, RW, 700), v_send(2, RW, 300),
        V_POLL_RECV, v_app(0, 0), v_app(0, 2, 900), V_POLL_RECV, V_POLL_RECV,
        v_client(1, seqpacket=True), V_POLL_RECV, V_POLL_RECV]))
    write("vsock", "pause_quiesce", vsock([1] * 8, [
        rx4, v_send(0, REQUEST), V_POLL_RECV, u8(14) + u8(0), v_send(0, RW, 100),
        V_POLL_RECV, u8(14) + u8(2), V_POLL_RECV]))


# --- uds_line: fuzz_uds_line.c ---------------------------------------------------

def uds_line(clients, accept=3):
    b = u8(len(clients) - 1)
    for c in clients:
        b += u8(len(c)) + c
    b += u8(0) * len(clients)                    # connect all, then write
    # Then the answers to REQUESTs, piece sizes and rounds, interleaved as
    # they come: one byte value for all (3: accept, 4-byte pieces, 2 rounds;
    # 4: refuse, 5-byte pieces, 1 round).
    return b + u8(accept) * 200


def seeds_uds_line():
    write("uds_line", "good_and_data", uds_line([b"CONNECT 1234\nhello, after the line"]))
    write("uds_line", "crlf_blanks", uds_line([b" connect\t77 \r\npayload"]))
    write("uds_line", "refused", uds_line([b"CONNECT 5\nx"], accept=4))
    write("uds_line", "bad", uds_line([b"CONNECT 4294967296\n", b"HELLO\n"]))
    write("uds_line", "long", uds_line([b"CONNECT " + b"0" * 54 + b"7\n"]))
    write("uds_line", "three", uds_line([b"", b"CONNECT 12", b"CONNECT 9\nabc"]))


# --- config_cli, config_yaml -------------------------------------------------------

def seeds_config():
    argvs = {
        "single": ["--guest-cid", "4", "--socket", "/tmp/v.sock", "--uds-path", "/tmp/v.vsock",
                   "--tx-buffer-size", "8192", "--queue-size", "256", "--groups", "a+b"],
        "vms": ["--vm", "guest_cid=4,socket=/s4,uds_path=/u4,lcore=1,max_connections=100",
                "--vm", "guest-cid=5,socket=/s5,uds-path=/u5,socket_mode=0660,uds_group=root",
                "--idle-sleep-us", "50"],
        "bounds": ["--socket=/s", "--uds-path=/u", "--max-connections=1",
                   "--max-pending-connects", "4", "--socket-user", "root", "--uds-mode", "600"],
        "help": ["--help"],
        "bad": ["--socket", "/s", "--sockett", "/x"],
    }
    for name, args in argvs.items():
        write("config_cli", name, b"\0".join(a.encode() for a in args))
    yaml = (b"vms:\n  - guest_cid: 3\n    socket: /run/v3.vhost\n    uds_path: /run/v3.vsock\n"
            b"  - guest_cid: 4\n    socket: /run/v4.vhost\n    uds_path: /run/v4.vsock\n"
            b"    tx_buffer_size: 262144\n    groups: g1+g2\n    lcore: 1\n"
            b"    socket_mode: 0660\n    max_connections: 1023\n")
    write("config_cli", "config_file", b"--config\0/x.yaml\0\0\0" + yaml)
    write("config_yaml", "two_vms", yaml)
    write("config_yaml", "flow", b"vms:\n  - {guest_cid: 6, socket: /s6, uds_path: /u6}\n")
    write("config_yaml", "empty_list", b"vms: []\n")
    write("config_yaml", "bad_key", b"vms:\n  - guest_cid: 3\n    sockett: /s\n")


def main():
    seeds_virtq()
    seeds_vsock()
    seeds_uds_line()
    seeds_config()


if __name__ == "__main__":
    main()
