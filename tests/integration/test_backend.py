#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""dpdk-vhost-vsock driven by vv-frontend, one scenario per run.

Every scenario starts its own backend (unique EAL file prefix, sockets in a
temporary directory, worker lcore 1), runs vv-frontend against it, checks
the JSON and the telemetry counters, then stops the backend with SIGTERM:
it must exit 0 and leave no socket file. The backend is killed by PID
whatever happens.

Scenarios:
  proto-MODE     MODE one of g2h h2g bidir pingpong connrate conns reboot multi
                 seqpacket: the transfer verifies, nothing is dropped, no
                 connection is left open (seqpacket: messages of 1 B to
                 256 KiB both ways with the host on two connections and
                 between two VMs, every boundary and byte checked)
  hostile-CASE   one hostile guest case on VM 3: the expected answer and the
                 expected drop counters (exactly); then VM 4 of the same
                 backend still carries a verified transfer
  vm2vm          64 VMs on one lcore, one group, 32 pairs streaming at once
  vm2vm-kill     the same with 2 VMs killed mid-transfer: their peers'
                 streams end with RST, the other 30 pairs complete; then all
                 64 (the killed ones reconnecting) stream again

A scenario may end in @packed, @indirect or @packed+indirect: the guests
then use packed virtqueues and/or indirect descriptor tables (vv-frontend
--packed, --indirect; with tables, chains are cut so that every packet and
rx buffer goes through one), the backend must log that it negotiated them,
and proto scenarios check /vsock/vm,3 names them while the guest runs.

Usage: test_backend.py PROGRAM VV_FRONTEND SCENARIO
"""
import sys
import threading

import vvtest

PORT = 5000
# Wait for an answer per hostile case (ms); an RST ends the wait early.
HOSTILE_WAIT_MS = 500

# What the backend does about each hostile case: is the misbehaving flow
# answered by RST, which drop counters move (exactly, by how much), does
# the healthy stream survive, and does the device still answer a probe
# without a reconnect. A guest may not trust the device to answer garbage,
# but this backend documents its choices (doc/architecture.md, "Hostile
# guests"): broken descriptors are dropped silently, header errors on a
# stream reset it, a broken ring stops the queue until the next boot.
HOSTILE = {
    #                 RST    drops                       stream kept  alive
    "bad_addr":       (False, {"desc_addr": 2},          True,        True),
    "cyclic_chain":   (False, {"desc_chain": 1},         True,        True),
    "long_chain":     (False, {"desc_chain": 1},         True,        True),
    "write_flag":     (False, {"desc_dir": 1},           True,        True),
    "indirect":       (False, {"desc_flags": 1},         True,        True),
    "short_hdr":      (False, {"short_hdr": 1},          True,        True),
    "len_overflow":   (True,  {"bad_len": 1},            False,       True),
    "spoof_cid":      (False, {"bad_src_cid": 1},        True,        True),
    "unknown_op":     (True,  {"bad_op": 1},             False,       True),
    "unknown_type":   (True,  {"bad_type": 1},           False,       True),
    "credit_violation": (True, {"credit_violation": 1},  False,       True),
    "tiny_flood":     (False, {},                        True,        True),
    "rx_stall":       (True,  {},                        True,        True),
    "avail_jump":     (False, {"ring_broken": 1},        True,        False),
    "vanish":         (False, {},                        False,       False),
    # With INDIRECT_DESC negotiated (@indirect).
    "indirect_nested": (False, {"desc_flags": 1},        True,        True),
    "indirect_size":  (False, {"desc_chain": 1},         True,        True),
    "indirect_addr":  (False, {"desc_addr": 1},          True,        True),
    "indirect_next":  (False, {"desc_flags": 1},         True,        True),
}

# vv-frontend flags of each layout suffix; with tables, a tx packet is
# header + 4 KiB pieces and an rx buffer header + payload, all in tables.
LAYOUTS = {
    "": [],
    "packed": ["--packed"],
    "indirect": ["--indirect", "--tx-seg", "4096", "--rx-hdr-split"],
    "packed+indirect": ["--packed", "--indirect", "--tx-seg", "4096", "--rx-hdr-split"],
}
# What the backend's "negotiated" line must then name beyond what every
# vv-frontend guest takes (BASE).
BASE = {"VERSION_1", "EVENT_IDX", "SEQPACKET"}
LAYOUT_NAMES = {
    "": [],
    "packed": ["RING_PACKED"],
    "indirect": ["INDIRECT_DESC"],
    "packed+indirect": ["RING_PACKED", "INDIRECT_DESC"],
}


def names_of(line):
    return set(line.split()) - BASE


def check_layout(rep, be, j, layout, what):
    """The guest and the backend both say the layout was negotiated."""
    want = set(LAYOUT_NAMES[layout])
    feats = int((j or {}).get("features", "0"), 16)
    bits = {"RING_PACKED": 34, "INDIRECT_DESC": 28}
    got = {n for n, b in bits.items() if feats >> b & 1}
    rep.check(got == want, "%s: the guest negotiated %s" % (what, sorted(want) or "split, direct"),
              (j or {}).get("features"))
    lines = [ln.split("negotiated ", 1)[1] for ln in be.output().splitlines()
             if "VHOST: cid 3: negotiated " in ln]
    rep.check(lines and all(names_of(ln) == want for ln in lines),
              "%s: the backend logged 'cid 3: negotiated %s'" %
              (what, " ".join(["VERSION_1", "EVENT_IDX"] + LAYOUT_NAMES[layout] +
                              ["SEQPACKET"])), lines)

PROTO = {
    # mode: (vv-frontend args, VMs needed, what "bytes" must be)
    "g2h": (["--bytes", "64M"], 1, 64 << 20),
    "h2g": (["--bytes", "64M"], 1, 64 << 20),
    "bidir": (["--bytes", "32M"], 1, 64 << 20),
    "pingpong": (["--count", "2000", "--size", "64"], 1, 2000 * 128),
    "connrate": (["--count", "500"], 1, 500 * 8),
    "conns": (["--count", "1000", "--bytes", "4K"], 1, None),
    "reboot": (["--count", "6", "--bytes", "1M"], 1, 6 << 20),
    # Rings of 32: two VMs that may talk lend each other rx buffers, and
    # each must keep enough for its own host streams.
    "multi": (["--streams", "4", "--bytes", "4M", "--queue-size", "32"], 2,
              2 * 4 * 2 * (4 << 20)),
    "seqpacket": (["--size", "256K", "--count", "100"], 2, None),
}
# VM keys a mode needs: a 256 KiB SEQPACKET message must fit in the
# device's buffer (a guest refuses a larger one with EMSGSIZE).
PROTO_KEYS = {"seqpacket": "tx_buffer_size=262144"}


def fe_vm_args(be, cid):
    return ["--socket", be.socket(cid), "--uds", be.uds(cid)]


def zero_drops(rep, be, cid, what, before=None, half_closes=0):
    """No drop counter moved, also for streams that ended with both sides
    shut for sending: the backend waits for the guest's closing SHUTDOWN
    (lib/vsock/vsock_host.c host_try_finish) instead of resetting under it.
    half_closes is kept for the callers' documentation only."""
    d = vvtest.drops_delta(before or {}, be.vm(cid)["drops"])
    rep.check(not d, "%s: VM %d dropped nothing" % (what, cid), d)


def proto(rep, be, fe, mode, layout=""):
    args, nvms, want_bytes = PROTO[mode]
    argv = [mode, "--port", str(PORT)] + args + LAYOUTS[layout]
    for cid in range(3, 3 + nvms):
        argv += fe_vm_args(be, cid)
    if layout and mode != "reboot":
        # While the guest runs, telemetry names what it negotiated. (Not
        # in reboot, whose power cycles are too short to be sure to see
        # one running; the log line and the guest's side are checked.)
        out = {}
        t = threading.Thread(target=lambda: out.update(r=vvtest.frontend(fe, argv)))
        t.start()

        def running():
            v = be.vm(3)
            return v if v["state"] == "running" else None
        seen = vvtest.wait_for(running, timeout=20)
        t.join()
        j, err = out.get("r", (None, "vv-frontend did not run"))
        rep.check(seen and set(seen["negotiated"].split()) == BASE | set(LAYOUT_NAMES[layout]),
                  "%s: /vsock/vm,3 shows negotiated %s" % (mode, LAYOUT_NAMES[layout]),
                  seen and seen.get("negotiated"))
    else:
        j, err = vvtest.frontend(fe, argv)
    if layout:
        check_layout(rep, be, j, layout, mode)
    if not rep.check(j is not None and j.get("ok") is True, "%s: verified run" % mode,
                     (j or {}).get("error", err[-2000:])):
        return
    if want_bytes is not None:
        rep.check(j["bytes"] == want_bytes, "%s: %d bytes verified" % (mode, want_bytes),
                  j["bytes"])
    if mode == "conns":
        rep.check(j["ops"] == 1000 and j["bytes"] == 1000 * 2 * 4096,
                  "conns: 1000 concurrent streams, 4 KiB each way", (j["ops"], j["bytes"]))
    if mode in ("pingpong", "connrate"):
        lat = j.get("latency_us", {})
        rep.check(lat.get("n", 0) > 0 and 0 < lat["p50"] <= lat["p99"],
                  "%s: latency percentiles reported" % mode, lat)
    if mode == "reboot":
        rep.check(j["ops"] == 6, "reboot: 6 power cycles with the same CID", j["ops"])
    if mode == "seqpacket":
        sp = j.get("seqpacket", {})
        rep.check(sp.get("directions") == 6 and sp.get("max_msg") == 256 << 10
                  and sp.get("messages_per_direction", 0) > 100,
                  "seqpacket: messages up to 256 KiB, 2 host connections and VM to VM", sp)
        feats = int(j.get("features", "0"), 16)
        rep.check(feats & 2, "seqpacket: VIRTIO_VSOCK_F_SEQPACKET negotiated", hex(feats))
    g = j.get("guest", {})
    rep.check(g.get("proto_errors") == 0, "%s: the backend broke no protocol rule" % mode, g)
    for cid in range(3, 3 + nvms):
        zero_drops(rep, be, cid, mode, half_closes=1 if mode == "bidir" else 0)
        st = vvtest.wait_for(lambda c=cid: be.vm(c)["conns_open"] == 0, timeout=5)
        rep.check(st, "%s: VM %d has no connection left open" % (mode, cid),
                  be.vm(cid)["conns_open"])
    vm = be.vm(3)
    # Payload bytes per direction and VM, as telemetry must count them.
    per_vm = {"g2h": 64 << 20, "h2g": 64 << 20, "bidir": 32 << 20, "multi": 4 * (4 << 20)}
    if mode in ("g2h", "bidir", "multi"):
        rep.check(vm["rx_bytes"] >= per_vm[mode], "%s: telemetry counted the guest's bytes" % mode,
                  vm["rx_bytes"])
    if mode in ("h2g", "bidir", "multi"):
        rep.check(vm["tx_bytes"] >= per_vm[mode], "%s: telemetry counted the host's bytes" % mode,
                  vm["tx_bytes"])
    if mode in ("connrate", "conns"):
        n = 500 if mode == "connrate" else 1000
        rep.check(vm["conns_opened"] >= n and vm["conns_closed"] >= n,
                  "%s: %d connections opened and closed" % (mode, n),
                  (vm["conns_opened"], vm["conns_closed"]))


def hostile(rep, be, fe, case, layout=""):
    rst, want_drops, kept, alive = HOSTILE[case]
    before = be.vm(3)
    j, err = vvtest.frontend(fe, ["hostile", "--case", case, "--port", str(PORT),
                                  "--wait-ms", str(HOSTILE_WAIT_MS)] + LAYOUTS[layout] +
                             fe_vm_args(be, 3))
    if not rep.check(j is not None and len(j.get("cases", [])) == 1,
                     "%s: case ran" % case, err[-2000:]):
        return
    check_layout(rep, be, j, layout, case)
    r = j["cases"][0]
    rep.check(r["pass"], "%s: no corruption, host end closed, backend answers" % case,
              r.get("why", ""))
    if rst:
        rep.check(r["answer"] == "rst", "%s: answered by RST" % case, r)
    else:
        rep.check(r["answer"] in ("none", "other"), "%s: no RST for this flow" % case, r)
    rep.check(r["stream_ok"] == kept, "%s: healthy stream %s in the guest" %
              (case, "still established" if kept else "ended"), r)
    if kept and case != "avail_jump":
        rep.check(r["stream_after"], "%s: healthy stream still carries data" % case, r)
    rep.check(r["alive"] == alive,
              "%s: device %s a probe without reconnect" % (case, "answers" if alive else
                                                           "does not answer"), r)
    rep.check(r["alive_after_reconnect"], "%s: a fresh boot of VM 3 is served" % case, r)
    after = vvtest.wait_for(lambda: be.vm(3) if vvtest.drops_delta(
        before["drops"], be.vm(3)["drops"]) == want_drops else None, timeout=3) or be.vm(3)
    delta = vvtest.drops_delta(before["drops"], after["drops"])
    rep.check(delta == want_drops, "%s: drop counters moved by %s" % (case, want_drops or "0"),
              delta)
    if case == "rx_stall":
        # Twice the guest's ring: 256 with the Linux-like guest's 128 entries.
        refused = after["host_conn_refused"] - before["host_conn_refused"]
        sent = int(r["note"].split()[1])
        rep.check(sent >= 256 and refused >= sent, "rx_stall: every REQUEST to nobody refused",
                  (sent, refused))
    # The other VM of the same backend is unaffected.
    before4 = be.vm(4)["drops"]
    j2, err2 = vvtest.frontend(fe, ["bidir", "--bytes", "4M", "--port", str(PORT + 1)] +
                               LAYOUTS[layout] + fe_vm_args(be, 4))
    rep.check(j2 is not None and j2.get("ok") is True and j2["bytes"] == 8 << 20,
              "%s: VM 4 still carries a verified transfer" % case,
              (j2 or {}).get("error", err2[-2000:]))
    zero_drops(rep, be, 4, case, before4, half_closes=1)


def vm_sockets(be, cids):
    args = []
    for c in cids:
        args += ["--socket", be.socket(c)]
    return args


def vm2vm(rep, be, fe, kill, layout=""):
    cids = sorted(be.vms)
    before = {c: be.vm(c) for c in cids}
    args = ["vm2vm", "--vms", str(len(cids)), "--streams", "2", "--bytes", "2M",
            "--port", str(PORT)] + LAYOUTS[layout] + vm_sockets(be, cids)
    if kill:
        args += ["--kill", str(kill)]
    j, err = vvtest.frontend(fe, args)
    what = "vm2vm %d VMs%s" % (len(cids), ", %d killed" % kill if kill else "")
    if not rep.check(j is not None and j.get("ok") is True, what + ": run verified",
                     (j or {}).get("error", err[-2000:])):
        return
    pr = j["pair_results"]
    npairs = len(cids) // 2
    rep.check(len(pr) == npairs, what + ": %d pairs" % npairs, len(pr))
    killed = [p for p in pr if p["killed"] is not None]
    whole = [p for p in pr if p["killed"] is None]
    rep.check(len(killed) == kill and all(p["killed_at"] == "mid-transfer" for p in killed),
              what + ": %d VMs vanished mid-transfer" % kill, killed)
    rep.check(all(p["ok"] and p["completed"] == 4 and p["bytes"] == 4 * (2 << 20) for p in whole),
              what + ": %d pairs completed both ways, every byte verified" % len(whole),
              [p for p in whole if not p["ok"]])
    if kill:
        rep.check(all(p["reset"] + p["completed"] == 2 and p["reset"] >= 1 for p in killed),
                  what + ": the survivors' streams ended with RST", killed)
        rep.check(all(p["rst_ms_max"] < 1000 for p in killed),
                  what + ": RST within 1 s of the peer vanishing",
                  [p["rst_ms_max"] for p in killed])
    after = {c: be.vm(c) for c in cids}
    dropped = {c: vvtest.drops_delta(before[c]["drops"], after[c]["drops"]) for c in cids}
    # A survivor's packets already on their way to the vanished VM are
    # answered with RST as no_route; nothing else may be dropped.
    peers = [c for p in killed for c in p["cids"] if c != p["killed"]]
    bad = {c: d for c, d in dropped.items()
           if d and not (c in peers and set(d) == {"no_route"})}
    rep.check(not bad, what + ": nothing dropped%s" % (" (but no_route to the vanished)"
                                                       if kill else ""), bad)
    moved = [after[c]["vm_tx_bytes"] - before[c]["vm_tx_bytes"] for c in cids]
    survivors = [c for c in cids if c not in [p["killed"] for p in killed]]
    rep.check(all(after[c]["vm_tx_bytes"] - before[c]["vm_tx_bytes"] >= 2 * (2 << 20)
                  for c in survivors if not any(c in p["cids"] for p in killed)),
              what + ": telemetry shows VM-to-VM bytes on every whole pair", moved)
    if kill:
        resets = {c: after[c]["vm_peer_resets"] - before[c]["vm_peer_resets"] for c in cids}
        rep.check(all(resets[c] == 2 for c in peers) and
                  not any(resets[c] for c in cids if c not in peers),
                  what + ": the backend reset each survivor's 2 streams (vm_peer_resets)",
                  {c: r for c, r in resets.items() if r or c in peers})
        gone = [p["killed"] for p in killed]
        rep.check(all(after[c]["state"] == "waiting" for c in gone),
                  what + ": the vanished VMs wait for a new front-end",
                  [after[c]["state"] for c in gone])


def main():
    if len(sys.argv) != 4:
        print(__doc__)
        return 2
    prog, fe, scen = sys.argv[1:]
    scen, _, layout = scen.partition("@")
    if layout not in LAYOUTS:
        print(__doc__)
        return 2
    rep = vvtest.Report()
    if scen.startswith("proto-") and scen[6:] in PROTO:
        nvms = PROTO[scen[6:]][1]
        vms = [(3 + i, PROTO_KEYS.get(scen[6:], "")) for i in range(nvms)]
    elif scen.startswith("hostile-") and scen[8:] in HOSTILE:
        vms = [(3, ""), (4, "")]
    elif scen in ("vm2vm", "vm2vm-kill"):
        vms = [(3 + i, "groups=g,lcore=1") for i in range(64)]
    else:
        print(__doc__)
        return 2
    be = vvtest.Backend(prog, scen + ("-" + layout.replace("+", "-") if layout else ""), vms)

    def body():
        if scen.startswith("proto-"):
            proto(rep, be, fe, scen[6:], layout)
        elif scen.startswith("hostile-"):
            hostile(rep, be, fe, scen[8:], layout)
        elif scen == "vm2vm":
            vm2vm(rep, be, fe, 0, layout)
        else:
            vm2vm(rep, be, fe, 2, layout)
            # The killed VMs come back (a new QEMU on the same socket) and
            # everyone streams again.
            vm2vm(rep, be, fe, 0, layout)
    return vvtest.run(rep, be, body)


if __name__ == "__main__":
    sys.exit(main())
