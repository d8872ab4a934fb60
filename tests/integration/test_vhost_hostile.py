#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""dpdk-vhost-vsock against hostile vhost-user front-ends (issue 17).

vv-frontend's vuhostile mode (tests/frontend/vvfe_vuhostile.c) sends what a
compromised, buggy or dying QEMU could: memory files shorter than their
regions, inflight fds, pipes as notifiers, floods, missing payloads, guest
RAM truncated under a running device. One backend serves VMs 3 and 4; VM 3
is attacked.

Scenarios:
  cases        every case alone, one vv-frontend run each: the backend
               closes the misbehaving connection, counts it under the
               expected reason in /vsock/vm,3, serves a correct front-end
               right after, and its fd count is back to where it started
  traffic      all cases in one run on VM 3 while VM 4 streams verified
               data through vv-frontend the whole time: VM 4 loses no
               byte, the process lives, fds are back at the end
  short-memfd  the memory-table cases (files shorter than their regions,
               mmap_offset past the end, pipes, overlaps), fds per case
  truncate     guest RAM truncated under a running device: the SIGBUS
               guard survives it, the front-end is disconnected, its
               stream's host end closes, mem_faults counts it

Usage: test_vhost_hostile.py PROGRAM VV_FRONTEND SCENARIO
"""
import os
import sys
import threading
import time

import vvtest

PORT = 5000
WAIT_MS = 1500

# Per case: what /vsock/vm,3's "vhost" section must show afterwards, as
# minimum increases: refused.<reason>, or a top-level vhost counter.
EXPECT = {
    "mem_short":        {"refused.mem_fd": 1},
    "mem_offset_end":   {"refused.mem_fd": 1},
    "mem_tx_past_end":  {"refused.mem_fd": 1},
    "mem_overlap":      {"refused.mem_table": 1},
    "mem_wrap":         {"refused.mem_table": 1},
    "mem_too_many":     {"refused.mem_table": 1},
    "mem_size_zero":    {"refused.mem_table": 1},
    "mem_bad_fd":       {"refused.mem_fd": 1},
    "mem_huge":         {"refused.mem_fd": 1},
    "inflight_fd":      {"refused.request": 1},
    "get_inflight_fd":  {"refused.request": 1},
    "postcopy":         {"refused.request": 3},
    "call_pipe":        {"refused.notify_fd": 1},
    "kick_pipe":        {"refused.notify_fd": 1},
    "unknown_request":  {"refused.request": 6},
    "bad_flags":        {"refused.header": 5},
    "bad_size":         {"refused.header": 3},
    "fd_count":         {"refused.fds": 4},
    "ring_outside":     {"refused.vring": 3},
    "vring_num":        {"refused.vring": 3},
    "vring_index":      {"refused.vring": 6},
    "features":         {"refused.features": 3},
    "get_config":       {"refused.config": 4, "refused.header": 1},
    # rte_vhost's own read times out (SO_RCVTIMEO): no refusal to count.
    "missing_payload":  {},
    "reply_flood":      {"refused.connection": 1},
    "conn_flood":       {"conns_refused": 6},
    "flood_close":      {},
    "remap_refused":    {"refused.mem_fd": 1},
    "remap_rings_gone": {"remap_failed": 1, "disconnects": 1},
    "truncate_running": {"mem_faults": 1, "disconnects": 1},
    "truncate_tx_hdr":  {"mem_faults": 1, "disconnects": 1},
}

SHORT_MEMFD = ["mem_short", "mem_offset_end", "mem_tx_past_end", "mem_overlap", "mem_wrap",
               "mem_too_many", "mem_size_zero", "mem_bad_fd", "mem_huge", "remap_refused"]
TRUNCATE = ["truncate_running", "truncate_tx_hdr"]


def fd_count(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return -1


def vhost_counter(vm, key):
    v = vm["vhost"]
    if key.startswith("refused."):
        return v["refused"][key[8:]]
    return v[key]


def settle_fds(be, base, timeout=3.0):
    """Teardown of a front-end is asynchronous: wait for the count to come back."""
    return vvtest.wait_for(lambda: fd_count(be.proc.pid) == base, timeout=timeout) or \
        fd_count(be.proc.pid) == base


def run_case(fe, be, case):
    return vvtest.frontend(fe, ["vuhostile", "--case", case, "--socket", be.socket(3),
                                "--uds", be.uds(3), "--port", str(PORT),
                                "--wait-ms", str(WAIT_MS)], timeout=120)


def one_by_one(rep, be, fe, cases):
    base = fd_count(be.proc.pid)
    rep.check(base > 0, "baseline: %d fds" % base)
    for case in cases:
        before = be.vm(3)
        j, err = run_case(fe, be, case)
        c = j["cases"][0] if j and j.get("cases") else None
        rep.check(c is not None and c["pass"], case + ": connection closed, correct front-end "
                  "served after", c if c else err[-800:])
        rep.check(be.alive(), case + ": backend alive")
        if not be.alive():
            return
        after = be.vm(3)
        for key, want in EXPECT[case].items():
            got = vhost_counter(after, key) - vhost_counter(before, key)
            rep.check(got >= want, "%s: vhost.%s +%d (at least %d)" % (case, key, got, want))
        rep.check(settle_fds(be, base), "%s: fds back to %d" % (case, base), fd_count(be.proc.pid))
        if case == "missing_payload" and c is not None:
            # The stalled read costs every other front-end at most the
            # socket timeout (1 s), not until the attacker leaves.
            rep.check(0 <= c["other_ms"] <= 2500,
                      "missing_payload: another front-end waited %d ms" % c["other_ms"])


def streamer(fe, be, stop, results):
    """VM 4 streams verified data, run after run, until told to stop."""
    while not stop.is_set():
        j, err = vvtest.frontend(fe, ["g2h", "--socket", be.socket(4), "--uds", be.uds(4),
                                      "--port", str(PORT + 1), "--bytes", "256M"], timeout=120)
        results.append((j, err))


def traffic(rep, be, fe):
    base = fd_count(be.proc.pid)
    stop = threading.Event()
    results = []
    th = threading.Thread(target=streamer, args=(fe, be, stop, results))
    th.start()
    # Let the stream get going before the attack.
    vvtest.wait_for(lambda: be.vm(4)["rx_bytes"] > 0, timeout=10)
    before = be.vm(3)
    # VM 4's stream shares the lcore and both CPUs: a generous bound on
    # each close (a case that passes does not wait for it).
    j, err = vvtest.frontend(fe, ["vuhostile", "--case", "all", "--socket", be.socket(3),
                                  "--uds", be.uds(3), "--port", str(PORT),
                                  "--wait-ms", str(3 * WAIT_MS)], timeout=300)
    # At least one whole transfer after the attack ends, too.
    n = len(results)
    vvtest.wait_for(lambda: len(results) > n, timeout=60)
    stop.set()
    th.join(timeout=150)
    failed = [c for c in (j or {}).get("cases", []) if not c["pass"]]
    rep.check(j is not None and j.get("ok") and not failed and
              len(j["cases"]) == len(EXPECT),
              "VM 3: all %d hostile front-end cases closed, a correct one served after each"
              % len(EXPECT), failed if j else err[-800:])
    rep.check(be.alive(), "backend alive after the attack")
    after = be.vm(3)
    total = sum(after["vhost"]["refused"].values()) - sum(before["vhost"]["refused"].values())
    rep.check(total >= 50, "VM 3: %d messages refused and counted" % total)
    rep.check(after["vhost"]["mem_faults"] - before["vhost"]["mem_faults"] >= 2,
              "VM 3: guest memory faults survived and counted",
              after["vhost"]["mem_faults"])
    bad = [(r[0] or {}).get("error", r[1][-300:]) for r in results if not (r[0] and r[0].get("ok"))]
    moved = sum(r[0]["bytes"] for r in results if r[0] and r[0].get("ok"))
    rep.check(len(results) >= 2 and not bad,
              "VM 4: %d verified transfers, %d MiB, none failed during the attack"
              % (len(results), moved >> 20), bad)
    v4 = be.vm(4)
    rep.check(sum(v4["vhost"]["refused"].values()) == 0 and v4["vhost"]["mem_faults"] == 0,
              "VM 4: no refusal, no fault", v4["vhost"])
    rep.check(settle_fds(be, base, timeout=5), "fds back to %d" % base, fd_count(be.proc.pid))


def main():
    if len(sys.argv) != 4:
        print(__doc__)
        return 2
    prog, fe, scen = sys.argv[1:]
    if scen not in ("cases", "traffic", "short-memfd", "truncate"):
        print(__doc__)
        return 2
    rep = vvtest.Report()
    be = vvtest.Backend(prog, "vuh-" + scen, [(3, ""), (4, "")])
    try:
        if not rep.check(be.start(), "backend started with VMs 3 and 4"):
            return rep.finish()
        if scen == "cases":
            one_by_one(rep, be, fe, list(EXPECT))
        elif scen == "short-memfd":
            one_by_one(rep, be, fe, SHORT_MEMFD)
        elif scen == "truncate":
            one_by_one(rep, be, fe, TRUNCATE)
            log = be.output()
            rep.check("guest memory lost its backing" in log,
                      "the guard's WARNING names the lost memory")
        else:
            traffic(rep, be, fe)
        be.stop(rep)
    finally:
        be.cleanup(rep)
    return rep.finish()


if __name__ == "__main__":
    sys.exit(main())
