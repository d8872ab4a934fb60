#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""The bounds on what a guest or a host program can make the backend hold.

Every scenario starts its own backend (vvtest.Backend) and stops it with
SIGTERM at the end (exit 0, no socket file left).

Scenarios:
  bounds-conns   max_connections=100: a guest opening 150 streams at once
                 gets 100 and 50 RSTs (drops.conn_limit +50); once they are
                 closed the next 100 are served
  bounds-stuck   1000 guest streams to a host program that accepts and never
                 reads: the backend holds exactly tx_buffer_size per stream
                 (host_buffered_bytes), the guest gets no more credit, its
                 private memory grows by about that much and no more; then
                 the program reads and every byte arrives
  bounds-flood   10 000 host clients on uds_path that send nothing, half a
                 CONNECT line or garbage, while host-to-guest and both-ways
                 transfers run on the same VM: the transfers verify, the
                 backend closes every flood client, each counted once:
                 bad_connect_lines (timed out, refused), connect_lines_evicted
                 (pushed out by newer ones), connect_no_guest (no guest
                 driver up); no connection and no fd is left
  bounds-perms   socket_user/group/mode and uds_user/group/mode give the
                 files the owner, group and mode asked for; a user the mode
                 lets in connects, another is refused (needs root)

Usage: test_bounds.py PROGRAM VV_FRONTEND SCENARIO
"""
import errno
import os
import selectors
import socket
import stat
import subprocess
import sys
import threading
import time

import vvtest

PORT = 5000


def fe_vm_args(be, cid):
    return ["--socket", be.socket(cid), "--uds", be.uds(cid)]


def conns(rep, be, fe):
    before = be.vm(3)["drops"]
    j, err = vvtest.frontend(fe, ["connlimit", "--count", "150", "--port", str(PORT)] +
                             fe_vm_args(be, 3))
    if not rep.check(j is not None and j.get("ok") is True, "150 streams at once: run verified",
                     (j or {}).get("error", err[-2000:])):
        return
    rep.check(j["established"] == 100 and j["refused"] == 50,
              "max_connections=100: 100 established, 50 answered with RST",
              (j["established"], j["refused"]))
    rep.check(j["bytes"] == 800, "every established stream reached the host", j["bytes"])
    d = vvtest.drops_delta(before, be.vm(3)["drops"])
    rep.check(d == {"conn_limit": 50}, "drops.conn_limit counted the 50, nothing else", d)
    rep.check(vvtest.wait_for(lambda: be.vm(3)["conns_open"] == 0, timeout=5),
              "every stream closed", be.vm(3)["conns_open"])
    j, err = vvtest.frontend(fe, ["connlimit", "--count", "100", "--port", str(PORT)] +
                             fe_vm_args(be, 3))
    rep.check(j is not None and j.get("ok") and j["established"] == 100 and j["refused"] == 0,
              "the slots came back: 100 more streams served", j or err[-2000:])


def stuck(rep, be, fe):
    n, tx = 1000, 65536
    # Private memory: guest memory the backend maps is shared and would
    # count in VmRSS as soon as the backend touches it.
    anon0 = be.status("RssAnon")
    argv = [fe, "stuck", "--count", str(n), "--stuck-ms", "3000", "--port", str(PORT),
            "--timeout", "150"] + fe_vm_args(be, 3)
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line, err = "", ""
    for line in p.stderr:
        err += line
        if line.startswith("STUCK "):
            break
    if rep.check(line.startswith("STUCK "), "all %d streams stuck" % n, err[-2000:]):
        vm = be.vm(3)
        anon = be.status("RssAnon")
        rep.check(vm["conns_open"] == n, "%d connections open" % n, vm["conns_open"])
        rep.check(line.split()[-1] == "credit=0", "the guest has no credit left on any stream",
                  line.strip())
        rep.check(vm["host_buffered_bytes"] == n * tx and vm["host_buffer_mem_bytes"] == n * tx,
                  "held exactly tx_buffer_size per stream (host_buffered_bytes)",
                  (vm["host_buffered_bytes"], vm["host_buffer_mem_bytes"]))
        rep.check(vm["drops"]["credit_violation"] == 0 and not vvtest.drops_delta({}, vm["drops"]),
                  "the guest sent nothing past its credit", vm["drops"])
        grown = (anon - anon0) * 1024
        print("# private memory %d kB -> %d kB with %d stuck streams: %.1f KiB each" %
              (anon0, anon, n, grown / n / 1024.0))
        rep.check(grown <= n * (tx + 16384),
                  "private memory grew by %.1f MiB, at most tx_buffer_size + 16 KiB per stream"
                  % (grown / 1048576.0), grown)
    j, rest = vvtest.run_frontend(p, 150)
    rep.check(j is not None and j.get("ok") is True and j["bytes"] == j["stuck_bytes"] > n * tx,
              "the program read every byte it was sent, in order",
              (j or {}).get("error", (err + rest)[-2000:]))
    vm = vvtest.wait_for(lambda: (lambda v: v if v["conns_open"] == 0 else None)(be.vm(3)),
                         timeout=5) or be.vm(3)
    rep.check(vm["conns_open"] == 0 and vm["host_buffered_bytes"] == 0 and
              vm["host_buffer_mem_bytes"] == 0, "streams closed, buffers freed",
              (vm["conns_open"], vm["host_buffered_bytes"], vm["host_buffer_mem_bytes"]))


# What the flood's clients send: nothing, half a line, garbage with and
# without a newline (the last one longer than any CONNECT line).
FLOOD_KINDS = [b"", b"CONNECT 12", b"GET / HTTP/1.0\r\n", b"\x00\xff" * 50]


class Flood:
    """n clients on path, at most max_open at a time; each stays until the
    backend closes it (closed counts them). New clients come only while
    gate() is true."""

    def __init__(self, path, n, gate, max_open=3000):
        self.path, self.n, self.gate, self.max_open = path, n, gate, max_open
        self.opened = 0
        self.closed = 0
        self.errors = []
        self.done = threading.Event()

    def run(self):
        sel = selectors.DefaultSelector()
        try:
            while self.closed < self.n and not self.done.is_set():
                gate = self.opened < self.n and self.gate()
                while gate and self.opened < self.n and self.opened - self.closed < self.max_open:
                    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    s.setblocking(False)
                    try:
                        s.connect(self.path)
                    except (BlockingIOError, InterruptedError):
                        s.close()  # backlog full: the backend is behind, wait
                        break
                    data = FLOOD_KINDS[self.opened % len(FLOOD_KINDS)]
                    if data:
                        try:
                            s.send(data)
                        except OSError:
                            pass  # already closed: seen as EOF below
                    sel.register(s, selectors.EVENT_READ)
                    self.opened += 1
                    if self.opened % 64 == 0:
                        break  # the gate again
                for key, _ in sel.select(timeout=0.01):
                    s = key.fileobj
                    try:
                        b = s.recv(64)
                    except ConnectionResetError:
                        b = b""
                    except BlockingIOError:
                        continue
                    if b:
                        self.errors.append("a flood client got %r" % b)
                    sel.unregister(s)
                    s.close()
                    self.closed += 1
        except Exception as e:  # reported by the test
            self.errors.append(repr(e))
        finally:
            for key in list(sel.get_map().values()):
                key.fileobj.close()
            sel.close()


def flood(rep, be, fe):
    n = 10000
    be0 = be.vm(3)
    fds0 = be.n_fds()
    tel = vvtest.Telemetry(be.tel_path)
    # Host clients are kept (and bounded) only while a guest driver runs;
    # otherwise the backend closes them at once, which tests nothing. The
    # flood goes on only while a transfer's guest is up.
    f = Flood(be.uds(3), n, lambda: tel.query("/vsock/vm,3")["state"] == "running")
    t = threading.Thread(target=f.run)
    runs = []
    t0 = time.monotonic()
    t.start()
    # Real traffic on the same VM while the flood goes on: host-initiated
    # streams (their CONNECT lines compete with the flood's) and guest ones.
    # Each run is a guest boot: between runs the backend closes host
    # clients at once (no guest driver), during them it keeps and bounds them.
    while (t.is_alive() or len(runs) < 4) and len(runs) < 200:
        mode = "h2g" if len(runs) % 2 == 0 else "bidir"
        start = f.opened
        j, err = vvtest.frontend(fe, [mode, "--bytes", "8M", "--port", str(PORT)] +
                                 fe_vm_args(be, 3))
        runs.append((mode, j, err, f.opened - start))
    t.join(timeout=30)
    f.done.set()
    tel.close()
    secs = time.monotonic() - t0
    during = [r for r in runs if r[3] > 0]
    print("# %d flood clients in %.1f s; %d transfers, %d of them while clients came"
          % (f.opened, secs, len(runs), len(during)))
    bad = [(m, (j or {}).get("error", e[-500:])) for m, j, e, _ in runs
           if j is None or not j.get("ok")]
    rep.check(not bad, "%d verified transfers, h2g and bidir, during and after the flood"
              % len(runs), bad)
    rep.check(len(during) >= 1 and sum(r[3] for r in during) >= n // 10,
              "transfers ran while the flood was on", [r[3] for r in runs])
    rep.check(f.opened == n and f.closed == n and not f.errors,
              "the backend closed all %d flood clients" % n, (f.opened, f.closed, f.errors[:5]))
    vm = be.vm(3)
    moved = {k: vm[k] - be0[k] for k in ("bad_connect_lines", "connect_lines_evicted",
                                         "connect_no_guest")}
    # vv-frontend's own CONNECTs closed before its guest driver was up
    # count as connect_no_guest too; it says how many it retried.
    retries = sum((j or {}).get("host_connect_retries", 0) for _, j, _, _ in runs)
    print("# " + ", ".join("%s +%d" % kv for kv in moved.items()) +
          "; vv-frontend's own CONNECTs retried: %d" % retries)
    rep.check(sum(moved.values()) == n + retries and moved["bad_connect_lines"] > 0 and
              moved["connect_lines_evicted"] > 0,
              "every flood client timed out, refused, pushed out or closed with no guest, "
              "counted once", moved)
    rep.check(vvtest.wait_for(lambda: be.vm(3)["conns_open"] == 0, timeout=5),
              "no connection left", be.vm(3)["conns_open"])
    rep.check(not vvtest.drops_delta(be0["drops"], be.vm(3)["drops"]), "no guest packet dropped",
              vvtest.drops_delta(be0["drops"], be.vm(3)["drops"]))
    fds = vvtest.wait_for(lambda: be.n_fds() if be.n_fds() <= fds0 else None, timeout=5)
    rep.check(fds is not None, "no fd left: as many as before the flood (%d)" % fds0,
              be.n_fds())


def perm_of(path):
    st = os.lstat(path)
    return st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)


def connect_as(path, uid, gid, groups, kind=socket.SOCK_STREAM):
    """Connect to path in a child that runs as uid:gid with groups. Returns 0 or errno."""
    pid = os.fork()
    if pid == 0:
        code = 99
        try:
            os.setgroups(groups)
            os.setgid(gid)
            os.setuid(uid)
            s = socket.socket(socket.AF_UNIX, kind)
            try:
                s.connect(path)
                code = 0
            except OSError as e:
                code = e.errno if e.errno < 99 else 98
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def perms(rep, be, fe, umask):
    sock3, uds3 = be.socket(3), be.uds(3)
    sock4, uds4 = be.socket(4), be.uds(4)
    rep.check(perm_of(sock3) == (65534, 4242, 0o660),
              "socket: nobody, group 4242, 0660", perm_of(sock3))
    rep.check(perm_of(uds3) == (0, 65534, 0o620), "uds_path: root, nogroup, 0620",
              perm_of(uds3))
    rep.check(perm_of(uds3 + ".seqpacket") == (0, 65534, 0o620),
              "uds_path.seqpacket: the same as uds_path", perm_of(uds3 + ".seqpacket"))
    rep.check(perm_of(sock4)[2] == 0o777 & ~umask and perm_of(uds4)[2] == 0o777 & ~umask,
              "without the keys, the modes the umask gives (%04o)" % (0o777 & ~umask),
              (oct(perm_of(sock4)[2]), oct(perm_of(uds4)[2])))
    # Who may connect, tried for real: connecting takes write permission.
    rep.check(connect_as(sock3, 65534, 65534, []) == 0, "the socket's owner connects")
    rep.check(connect_as(sock3, 4343, 4242, [4242]) == 0, "a member of its group connects")
    rep.check(connect_as(sock3, 4343, 4343, []) == errno.EACCES, "anyone else is refused")
    rep.check(connect_as(uds3, 4343, 65534, []) == 0, "uds_path: its group connects")
    rep.check(connect_as(uds3, 65534, 4242, [4242]) == errno.EACCES,
              "uds_path: others are refused")
    seq = uds3 + ".seqpacket"
    rep.check(connect_as(seq, 4343, 65534, [], socket.SOCK_SEQPACKET) == 0 and
              connect_as(seq, 65534, 4242, [4242], socket.SOCK_SEQPACKET) == errno.EACCES,
              "uds_path.seqpacket: its group connects, others are refused")
    # The backend still serves the VM after those knocks.
    j, err = vvtest.frontend(fe, ["bidir", "--bytes", "1M", "--port", str(PORT)] +
                             fe_vm_args(be, 3))
    rep.check(j is not None and j.get("ok") is True, "VM 3 carries a verified transfer",
              (j or {}).get("error", err[-2000:]))


def main():
    if len(sys.argv) != 4:
        print(__doc__)
        return 2
    prog, fe, scen = sys.argv[1:]
    rep = vvtest.Report()
    umask = os.umask(0o022)
    os.umask(umask)
    if scen == "bounds-conns":
        vms = [(3, "max_connections=100")]
    elif scen in ("bounds-stuck", "bounds-flood"):
        vms = [(3, "")]
    elif scen == "bounds-perms":
        if os.getuid() != 0:
            print("# bounds-perms needs root (chown, setuid): skipped")
            return 77
        vms = [(3, "socket_user=nobody,socket_group=4242,socket_mode=0660,"
                   "uds_user=0,uds_group=nogroup,uds_mode=620"), (4, "")]
    else:
        print(__doc__)
        return 2
    be = vvtest.Backend(prog, scen, vms)
    # Other users must reach the sockets' directory to try the modes.
    os.chmod(be.tmp, 0o755)
    body = {"bounds-conns": lambda: conns(rep, be, fe),
            "bounds-stuck": lambda: stuck(rep, be, fe),
            "bounds-flood": lambda: flood(rep, be, fe),
            "bounds-perms": lambda: perms(rep, be, fe, umask)}[scen]
    return vvtest.run(rep, be, body)

if __name__ == "__main__":
    sys.exit(main())
