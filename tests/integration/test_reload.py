#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""SIGHUP reloads of --config while vv-frontend guests stream through the
backend, one scenario per run:

  reload          VMs 3, 4, 5 streaming verified data (paced, so that they
                  span the reload), then a file that drops 5 and adds 6:
                  the streams of 3 and 4 keep every byte, never stall, keep
                  their connection; 5's guest gets an RST, then its
                  front-end is disconnected, its socket files are gone; a
                  front-end attaches to 6 and streams. Then bad files (a
                  YAML error, a pinned lcore that is no worker, 1025 VMs, a
                  socket path served by another process) change nothing and
                  log the start-up message. File descriptors come back to
                  what the same number of VMs had at start.
  reload-restart  a changed tx_buffer_size restarts VM 3 (its front-end is
                  disconnected, a new one is served with the new buffer), a
                  changed queue_size and a pin to the lcore VM 4 already
                  runs on update it in place while its stream goes on.
  reload-cli      VMs from the command line: SIGHUP is logged and ignored.

Every scenario ends with SIGTERM: exit status 0, no socket file left.

Usage: test_reload.py PROGRAM VV_FRONTEND SCENARIO
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import vvtest

PORT = 5000
RATE = "8M"          # bytes/s per paced stream
PACED_BYTES = 48 << 20  # six seconds at RATE
# Longest wait for the next bytes of a paced stream (one 64 KiB write every
# 8 ms), among the waits that overlap the reload (from SIGHUP to its summary
# in the log), that is still no pause: the bound of scheduling noise on a
# shared two-CPU machine running other tests (waits of 600 ms, and once
# 2.4 s, were seen away from any reload). The reload itself takes tens of
# milliseconds, so this bounds a pause but cannot see one shorter than the
# noise; the test prints both figures. What keeps the untouched VMs going is
# that the reload never calls them (doc/architecture.md).
STALL_MS_MAX = 1500.0


class Frontend(threading.Thread):
    """vv-frontend in the background; .result is (JSON or None, stderr)."""

    def __init__(self, fe, args, timeout=120):
        super().__init__(daemon=True)
        self.fe, self.args, self.timeout, self.result = fe, args, timeout, (None, "")

    def run(self):
        self.result = vvtest.frontend(self.fe, self.args, timeout=self.timeout)

    def json(self):
        self.join(self.timeout + 10)
        return self.result


def vm_args(be, cid):
    return ["--socket", be.socket(cid), "--uds", be.uds(cid)]


def paced(fe, be, cid, mode, port):
    return Frontend(fe, [mode, "--port", str(port), "--rate", RATE, "--bytes",
                         str(PACED_BYTES)] + vm_args(be, cid))


def streaming(be, cid, field, least):
    """The VM's telemetry counter has moved past least."""
    return vvtest.wait_for(lambda: be.vm(cid)[field] >= least, timeout=15)


def check_untouched(rep, be, j, err, cid, mode, before):
    """A paced stream that ran across a reload: every byte, no stall, the
    same connection, nothing dropped or reset by the backend."""
    ok = j is not None and j.get("ok") is True
    rep.check(ok, "VM %d: %s stream verified across the reload" % (cid, mode),
              (j or {}).get("error", err[-2000:]))
    if not ok:
        return
    want = PACED_BYTES * (2 if mode == "bidir" else 1)
    rep.check(j["bytes"] == want, "VM %d: every byte (%d) arrived" % (cid, want), j["bytes"])
    rep.check(j["guest"]["proto_errors"] == 0, "VM %d: no protocol error" % cid, j["guest"])
    kept = [(e - s) * 1e3 for s, e in j["stalls"]]
    around = [(e - s) * 1e3 for s, e in j["stalls"] if s < be.reloaded_at and e > be.hup_at]
    # A wait that is not among the longest kept was shorter than all of them.
    print("# VM %d: longest wait for bytes %.1f ms; across the reload (%.1f ms from "
          "SIGHUP to its summary): %s" %
          (cid, j["stall_ms_max"], (be.reloaded_at - be.hup_at) * 1e3,
           "%.1f ms" % max(around) if around else
           "under %.1f ms (none of the %d longest)" % (min(kept or [0]), len(kept))))
    rep.check(max(around or [0]) < STALL_MS_MAX,
              "VM %d: no pause across the reload (no wait for bytes >= %.0f ms)" %
              (cid, STALL_MS_MAX), around)
    after = be.vm(cid)
    rep.check(after["conns_opened"] == before["conns_opened"] == 1,
              "VM %d: still its first connection" % cid,
              (before["conns_opened"], after["conns_opened"]))
    rep.check(not vvtest.drops_delta(before["drops"], after["drops"]),
              "VM %d: nothing dropped" % cid, vvtest.drops_delta(before["drops"], after["drops"]))


def socket_files(be, cid):
    """Every socket file a VM serves: vhost-user, uds_path, uds_path.seqpacket."""
    sock, uds = be.paths(cid)
    return (sock, uds, uds + ".seqpacket")


def check_removed(rep, be, cid, paths, hold):
    j, err = hold.json()
    rep.check(j is not None and j.get("ok") is True and j.get("reset") is True and
              j.get("disconnected") is True,
              "VM %d: its guest got an RST, then its front-end was disconnected" % cid,
              j if j is not None else err[-2000:])
    if j is not None and j.get("disconnected"):
        print("# VM %d: %d bytes verified; RST %.1f ms after SIGHUP, disconnect %.1f ms "
              "after it; %d lent rx buffers given back empty" %
              (cid, j["bytes"], (j["rst_at"] - be.hup_at) * 1e3,
               (j["disconnected_at"] - j["rst_at"]) * 1e3, j["guest"]["rx_empty"]))
        rep.check(be.hup_at < j["rst_at"] <= j["disconnected_at"],
                  "VM %d: the RST came after SIGHUP, the disconnect after the RST" % cid,
                  (be.hup_at, j["rst_at"], j["disconnected_at"]))
    left = [p for p in paths if os.path.exists(p)]
    rep.check(not left, "VM %d: its socket files are gone" % cid, left)
    rep.check(be.tel.query("/vsock/vm,%d" % cid) is None,
              "VM %d: telemetry no longer knows it" % cid)


def summary(lines):
    return [ln for ln in lines or [] if " unchanged, " in ln or " refused, " in ln]


def start_up(rep, prog, be, what, text, msg):
    """A start-up with the same mistake prints the message the reload logged."""
    path = be.config
    if text is not None:
        path = os.path.join(be.tmp, "start.yaml")
        with open(path, "w") as f:
            f.write(text)
    prefix = be.prefix + "-start"
    try:
        r = subprocess.run([prog, "--no-pci", "--no-huge", "-m", "64", "--file-prefix", prefix,
                            "--lcores", "0@0,1@1", "--", "--config", path],
                           capture_output=True, text=True, timeout=30)
    finally:
        shutil.rmtree(vvtest.runtime_dir(prefix), ignore_errors=True)
    rep.check(r.returncode != 0 and msg != "" and msg in r.stderr,
              "%s: the message a start-up with it gives" % what,
              (r.returncode, msg, r.stderr[-500:]))


def bad_files(rep, be, prog, fe):
    """Each is refused as a whole with the start-up message; nothing moves."""
    vms = be.tel.query("/vsock/vms")
    files = {}
    good = open(be.config).read()
    files["a YAML error"] = good + "  - guest_cid: 9\n    sockett: /tmp/x\n"
    files["a pinned lcore that is no worker"] = (
        good + "  - guest_cid: 9\n    socket: %s\n    uds_path: %s\n    lcore: 7\n" %
        be.paths(9))
    many = ["vms:"]
    for c in range(3, 3 + 1025):
        many += ["  - guest_cid: %d" % c, "    socket: %s/m%d.vhost" % (be.tmp, c),
                 "    uds_path: %s/m%d.vsock" % (be.tmp, c)]
    files["1025 VMs"] = "\n".join(many) + "\n"
    # A path a live process serves: a plain listener of ours.
    busy = os.path.join(be.tmp, "busy.vsock")
    lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    lsock.bind(busy)
    lsock.listen(1)
    files["a uds_path another process serves"] = (
        good + "  - guest_cid: 9\n    socket: %s\n    uds_path: %s\n" %
        (be.paths(9)[0], busy))
    # What a start-up is given to compare messages: the file itself for a
    # YAML error (same line numbers), VM 9 alone for the lcore (the others'
    # paths are served by the running backend).
    starts = {"a YAML error": None,
              "a pinned lcore that is no worker":
              "vms:\n  - guest_cid: 9\n    socket: %s\n    uds_path: %s\n    lcore: 7\n" %
              be.paths(9)}
    wants = {"a YAML error": "unknown key 'sockett'",
             "a pinned lcore that is no worker": "VM cid 9: lcore 7 is not an enabled worker lcore",
             "1025 VMs": "too many VMs (at most 1024)",
             "a uds_path another process serves": "already served by a live process"}
    try:
        for what, text in files.items():
            fds = be.fd_count()
            be.write_config_text(text)
            lines = summary(be.reload())
            msg = lines[0].split("running VMs unchanged: ", 1)[-1] if lines else ""
            rep.check(lines and " refused, running VMs unchanged: " in lines[0] and
                      wants[what] in msg, "%s: refused, and the log says why" % what, lines)
            rep.check(be.tel.query("/vsock/vms") == vms, "%s: the VMs stay" % what,
                      be.tel.query("/vsock/vms"))
            left = [p for c in vms for p in be.paths(c) if not os.path.exists(p)]
            rep.check(not left and not os.path.exists(be.paths(9)[0]),
                      "%s: no socket file removed or added" % what, left)
            rep.check(be.fd_count() == fds, "%s: no file descriptor kept" % what,
                      (fds, be.fd_count()))
            if what in starts:
                start_up(rep, prog, be, what, starts[what], msg)
    finally:
        lsock.close()
        os.unlink(busy)
        be.write_config_text(good)


def scenario_reload(rep, be, prog, fe):
    fds0 = be.fd_count()
    print("# file descriptors with VMs 3, 4, 5 and no front-end: %d" % fds0)
    g2h = paced(fe, be, 3, "g2h", PORT)
    bidir = paced(fe, be, 4, "bidir", PORT + 1)
    hold = Frontend(fe, ["hold", "--port", str(PORT + 2), "--rate", RATE] + vm_args(be, 5))
    for t in (g2h, bidir, hold):
        t.start()
    rep.check(streaming(be, 3, "rx_bytes", 4 << 20) and streaming(be, 4, "tx_bytes", 4 << 20)
              and streaming(be, 5, "rx_bytes", 4 << 20), "VMs 3, 4, 5 stream",
              [be.vm(c)["rx_bytes"] for c in (3, 4, 5)])
    before = {c: be.vm(c) for c in (3, 4)}
    gone = socket_files(be, 5)
    be.write_config([(3, ""), (4, ""), (6, "")])
    lines = be.reload()
    print("\n".join("# " + ln for ln in lines or []))
    rep.check(lines and "cid 5: removed" in "\n".join(lines) and
              "cid 6: added on lcore 1" in "\n".join(lines),
              "the log names what the reload did per CID", lines)
    rep.check(summary(lines) and re.search(r"1 added, 1 removed, 0 restarted, 0 updated, "
                                           r"2 unchanged, 0 failed", summary(lines)[0]),
              "the summary line counts it", summary(lines))
    rep.check(be.tel.query("/vsock/vms") == [3, 4, 6], "/vsock/vms is 3, 4, 6",
              be.tel.query("/vsock/vms"))
    rep.check(all(be.vm(c)["state"] == "running" for c in (3, 4)),
              "VMs 3 and 4 still running", [be.vm(c)["state"] for c in (3, 4)])
    check_removed(rep, be, 5, gone, hold)
    rep.check(all(os.path.exists(p) for p in socket_files(be, 6)), "VM 6: its sockets exist")
    # A front-end attaches to the new VM and streams while 3 and 4 go on
    # (paced too: a stream at full speed would starve the paced ones of CPU
    # on a two-CPU machine, and their stall would say nothing of the reload).
    j, err = vvtest.frontend(fe, ["bidir", "--port", str(PORT + 3), "--bytes", "8M",
                                  "--rate", RATE] + vm_args(be, 6))
    rep.check(j is not None and j.get("ok") is True and j["bytes"] == 16 << 20 and
              j["cid"] == 6, "VM 6: a front-end attaches and streams 8 MiB each way",
              (j or {}).get("error", err[-2000:]))
    lc = be.tel.query("/vsock/lcores")["lcores"]["1"]
    rep.check(sorted(lc["vms"]) == [3, 4, 6] and lc["n_vms"] == 3,
              "lcore 1 polls 3, 4 and 6", lc)
    j, err = g2h.json()
    check_untouched(rep, be, j, err, 3, "g2h", before[3])
    j, err = bidir.json()
    check_untouched(rep, be, j, err, 4, "bidir", before[4])

    bad_files(rep, be, prog, fe)

    # Every front-end gone: three VMs again, as many descriptors as at start.
    settled = vvtest.wait_for(lambda: be.fd_count() == fds0 and all(
        be.vm(c)["state"] == "waiting" for c in (3, 4, 6)), timeout=10)
    rep.check(settled, "file descriptors back to %d (three VMs, no front-end)" % fds0,
              be.fd_count())
    be.write_config([(3, ""), (4, "")])
    lines = summary(be.reload())
    rep.check(lines and "0 added, 1 removed" in lines[0], "VM 6 removed", lines)
    per_vm = fds0 - be.fd_count()
    print("# file descriptors per idle VM: %d" % per_vm)
    rep.check(per_vm == 4, "a removed VM leaves none of its 4 descriptors "
              "(vhost-user listener, uds_path and uds_path.seqpacket listeners, epoll)",
              per_vm)


def scenario_restart(rep, be, prog, fe):
    hold = Frontend(fe, ["hold", "--port", str(PORT), "--rate", RATE] + vm_args(be, 3))
    g2h = paced(fe, be, 4, "g2h", PORT + 1)
    hold.start()
    g2h.start()
    rep.check(streaming(be, 3, "rx_bytes", 4 << 20) and streaming(be, 4, "rx_bytes", 4 << 20),
              "VMs 3 and 4 stream")
    before = be.vm(4)
    be.write_config([(3, "tx_buffer_size=16384"), (4, "queue_size=256,lcore=1")])
    lines = be.reload()
    text = "\n".join(lines or [])
    print("\n".join("# " + ln for ln in lines or []))
    rep.check("cid 3: restarted on lcore 1 (changed: tx_buffer_size)" in text,
              "VM 3 restarted for its tx_buffer_size", lines)
    rep.check("cid 4: updated in place (changed: queue_size, lcore)" in text,
              "VM 4 updated in place (queue_size, lcore where it runs)", lines)
    rep.check(summary(lines) and "0 added, 0 removed, 1 restarted, 1 updated, 0 unchanged, "
              "0 failed" in summary(lines)[0], "the summary counts it", summary(lines))
    j, err = hold.json()
    rep.check(j is not None and j.get("ok") is True and j.get("reset") is True and
              j.get("disconnected") is True,
              "VM 3: RST, then its front-end disconnected", j or err[-2000:])
    rep.check(be.tel.query("/vsock/config,3")["tx_buffer_size"] == 16384 and
              be.tel.query("/vsock/config,4")["queue_size"] == 256 and
              be.tel.query("/vsock/config,4")["lcore"] == 1,
              "telemetry shows the new keys",
              (be.tel.query("/vsock/config,3"), be.tel.query("/vsock/config,4")))
    j, err = vvtest.frontend(fe, ["g2h", "--port", str(PORT + 2), "--bytes", "8M",
                                  "--rate", RATE] + vm_args(be, 3))
    rep.check(j is not None and j.get("ok") is True and j["bytes"] == 8 << 20,
              "VM 3: a new front-end is served after the restart",
              (j or {}).get("error", err[-2000:]))
    j, err = g2h.json()
    check_untouched(rep, be, j, err, 4, "g2h", before)


def scenario_cli(rep, be, prog, fe):
    start = len(be.output())
    be.proc.send_signal(signal.SIGHUP)
    seen = vvtest.wait_for(lambda: "nothing to reload" in be.output()[start:], timeout=10)
    rep.check(seen, "SIGHUP without --config is logged",
              be.output()[start:][-500:])
    time.sleep(0.2)
    rep.check(be.alive() and be.tel.query("/vsock/vms") == [3, 4],
              "and ignored: the VMs stay")
    j, err = vvtest.frontend(fe, ["g2h", "--port", str(PORT), "--bytes", "4M"] +
                             vm_args(be, 3))
    rep.check(j is not None and j.get("ok") is True, "VM 3 still serves",
              (j or {}).get("error", err[-2000:]))


SCENARIOS = {
    "reload": (scenario_reload, [(3, ""), (4, ""), (5, "")], True),
    "reload-restart": (scenario_restart, [(3, ""), (4, "")], True),
    "reload-cli": (scenario_cli, [(3, ""), (4, "")], False),
}


def main():
    if len(sys.argv) != 4 or sys.argv[3] not in SCENARIOS:
        print(__doc__)
        return 2
    prog, fe, scen = sys.argv[1:]
    fn, vms, config = SCENARIOS[scen]
    rep = vvtest.Report()
    be = vvtest.Backend(prog, scen, vms, config=config)
    return vvtest.run(rep, be, lambda: fn(rep, be, prog, fe))


if __name__ == "__main__":
    sys.exit(main())
