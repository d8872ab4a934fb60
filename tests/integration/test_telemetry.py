#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Integration test of the /vsock/ telemetry commands.

Starts dpdk-vhost-vsock with two VMs (no guest attached), reads every
command through DPDK's telemetry socket and through the stock
dpdk-telemetry.py client, checks values against the command line, watches
values move (lcore rounds, a vhost-user front-end connecting), sends bad
parameters, then stops the program with SIGTERM and checks that it exits 0
and removes its sockets.

Usage: test_telemetry.py PATH/TO/dpdk-vhost-vsock
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

TELEMETRY_CLIENT = "/usr/bin/dpdk-telemetry.py"
COUNTERS = ("rx_pkts rx_bytes tx_pkts tx_bytes rst_sent rst_rcvd credit_stalls "
            "host_stalls conns_opened conns_closed conns_open host_conn_refused "
            "bad_connect_lines connect_lines_evicted connect_no_guest host_buffered_bytes "
            "host_buffer_mem_bytes vm_tx_pkts vm_tx_bytes vm_rx_pkts vm_rx_bytes "
            "vm_stalls vm_peer_resets").split()
DROPS = ("desc_index desc_chain desc_addr desc_dir desc_flags ring_broken "
         "short_hdr bad_src_cid bad_len bad_type bad_op no_conn bad_state "
         "credit_violation no_route conn_limit rx_buf_short rx_buf_iov msg_size").split()
COMMANDS = ["/vsock/vms", "/vsock/vm", "/vsock/conns", "/vsock/lcores",
            "/vsock/config"]

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vvtest import Report, Telemetry, runtime_dir, wait_for  # noqa: E402

rep = Report()
check = rep.check


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    prog = sys.argv[1]
    tmp = tempfile.mkdtemp(prefix="vv-telemetry-")
    prefix = "vv-test-telemetry-%d" % os.getpid()
    cpus = sorted(os.sched_getaffinity(0))
    lcores = "0@%d,1@%d" % (cpus[0], cpus[-1])
    sock3, uds3 = tmp + "/vhost3.sock", tmp + "/vm3.vsock"
    sock4, uds4 = tmp + "/vhost4.sock", tmp + "/vm4.vsock"
    argv = [prog, "--no-pci", "--no-huge", "-m", "256", "--file-prefix", prefix,
            "--lcores", lcores, "--",
            "--vm", "guest-cid=3,socket=%s,uds-path=%s" % (sock3, uds3),
            "--vm", "guest_cid=4,socket=%s,uds_path=%s,tx-buffer-size=8192,"
                    "queue-size=256,groups=a+b,lcore=1,max_connections=1023,"
                    "max-pending-connects=16,socket_mode=0640,uds_mode=0600,uds_group=0"
                    % (sock4, uds4),
            "--idle-sleep-us", "50"]
    log = open(tmp + "/log", "w+")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    tel_path = os.path.join(runtime_dir(prefix), "dpdk_telemetry.v2")
    tel = None
    try:
        up = wait_for(lambda: proc.poll() is None and os.path.exists(tel_path)
                      and all(os.path.exists(p) for p in (sock3, sock4, uds3, uds4)))
        if not check(up, "program started, telemetry socket and VM sockets exist"):
            return 1
        tel = Telemetry(tel_path)
        check(tel.max_len >= 1024, "telemetry socket answers /info", tel.max_len)

        cmds = tel.query("/")
        check(all(c in cmds for c in COMMANDS), "all /vsock/ commands registered", cmds)
        for c in COMMANDS:
            h = tel.query("/help," + c)
            check(isinstance(h, dict) and h.get(c), "help text for " + c, h)

        check(tel.query("/vsock/vms") == [3, 4], "/vsock/vms lists CIDs 3 and 4")
        check(tel.query("/vsock/vms,1") == [4], "/vsock/vms,1 starts at the second VM")
        check(tel.query("/vsock/vms,2") == [], "/vsock/vms,2 is empty")

        vm3 = tel.query("/vsock/vm,3")
        check(vm3["guest_cid"] == 3, "vm,3 guest_cid")
        check(vm3["state"] == "waiting", "vm,3 waits for a front-end", vm3["state"])
        check(vm3["features"] == "0x0", "vm,3 has no negotiated features", vm3["features"])
        check(vm3.get("negotiated") == "none", "vm,3 names no negotiated feature",
              vm3.get("negotiated"))
        check(vm3["lcore"] == 1, "vm,3 runs on worker lcore 1", vm3["lcore"])
        check(vm3["socket"] == sock3 and vm3["uds_path"] == uds3, "vm,3 paths", vm3)
        check(all(vm3.get(k) == 0 for k in COUNTERS), "vm,3 has every counter, all 0",
              {k: vm3.get(k) for k in COUNTERS})
        check(isinstance(vm3.get("drops"), dict) and sorted(vm3["drops"]) == sorted(DROPS)
              and not any(vm3["drops"].values()), "vm,3 drops by reason", vm3.get("drops"))
        vm4 = tel.query("/vsock/vm,4")
        check(vm4["guest_cid"] == 4 and vm4["uds_path"] == uds4, "vm,4 is the second VM")

        cfg = tel.query("/vsock/config")
        check(cfg["idle_sleep_us"] == 50 and cfg["idle_poll_us"] == 200
              and cfg["busy_poll"] == 0 and cfg["n_vms"] == 2 and cfg["vms_not_shown"] == 0
              and cfg["config_file"] == "", "config: global keys", cfg)
        want3 = {"guest_cid": 3, "socket": sock3, "uds_path": uds3,
                 "tx_buffer_size": 65536, "queue_size": 1024, "groups": ["default"],
                 "max_connections": 2048, "max_pending_connects": 128}
        want4 = {"guest_cid": 4, "socket": sock4, "uds_path": uds4,
                 "tx_buffer_size": 8192, "queue_size": 256, "groups": ["a", "b"],
                 "lcore": 1, "max_connections": 1023, "max_pending_connects": 16,
                 "socket_mode": "0640", "uds_group": 0, "uds_mode": "0600"}
        check(cfg["vms"] == {"3": want3, "4": want4}, "config: every VM's keys", cfg["vms"])
        check(tel.query("/vsock/config,4") == want4, "config,4 is VM 4's keys alone")

        conns = tel.query("/vsock/conns,3")
        check(conns == {"guest_cid": 3, "first": 0, "total": 0, "shown": 0,
                        "not_shown": 0, "conns": {}}, "conns,3 is empty", conns)

        lc = tel.query("/vsock/lcores")
        l1 = lc["lcores"].get("1", {})
        check(lc["n_lcores"] == 1 and lc["lcores_not_shown"] == 0 and lc["tsc_hz"] > 0,
              "lcores: one worker", lc)
        check(l1.get("n_vms") == 2 and l1.get("vms") == [3, 4], "lcore 1 runs VMs 3 and 4", l1)
        check(0 <= l1.get("busy_percent", -1) <= 100, "lcore 1 busy_percent in 0..100", l1)
        time.sleep(0.3)
        l1b = tel.query("/vsock/lcores")["lcores"]["1"]
        # No guest driver: nothing to do, so the worker sleeps (and its time
        # asleep counts while it sleeps).
        check(l1b["sleeps"] >= 1 and l1b["sleep_cycles"] > l1["sleep_cycles"],
              "lcore 1 sleeps while its VMs are idle",
              (l1["sleep_cycles"], l1b["sleep_cycles"], l1b["sleeps"]))
        spent = [sum(x[k] for k in ("busy_cycles", "idle_cycles", "sleep_cycles"))
                 for x in (l1, l1b)]
        check(spent[1] - spent[0] >= 0.2 * lc["tsc_hz"],
              "lcore 1 accounts for its time (working, polling idle, asleep)", spent)
        check(l1b["sleep_percent"] > 50 and
              l1b["busy_percent"] + l1b["idle_percent"] + l1b["sleep_percent"] <= 100,
              "lcore 1 mostly asleep", l1b)
        check("APP: --idle-sleep-us is no longer used" in open(tmp + "/log").read(),
              "the old --idle-sleep-us is accepted with a warning")

        # A vhost-user front-end connecting (no message yet) is seen by rte_vhost.
        fe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        fe.connect(sock3)
        st = wait_for(lambda: tel.query("/vsock/vm,3")["state"] == "connected")
        check(st, "vm,3 connected while a front-end holds the socket",
              tel.query("/vsock/vm,3")["state"])
        check(tel.query("/vsock/vm,4")["state"] == "waiting", "vm,4 still waiting")
        fe.close()
        st = wait_for(lambda: tel.query("/vsock/vm,3")["state"] == "waiting")
        check(st, "vm,3 waiting again after the front-end left")

        # No guest driver: a host app connecting to uds_path is closed at once.
        h = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        h.settimeout(5)
        h.connect(uds3)
        try:
            eof = h.recv(16) == b""
        except OSError:
            eof = True
        h.close()
        check(eof, "host connection without a guest is closed")
        check(tel.query("/vsock/vm,3")["conns_open"] == 0, "no connection left open")

        for bad in ["/vsock/vm", "/vsock/vm,", "/vsock/vm,abc", "/vsock/vm,99",
                    "/vsock/vm,3,4", "/vsock/vm,-3", "/vsock/vm,+3", "/vsock/vm, 3",
                    "/vsock/vm,99999999999999999999999", "/vsock/conns",
                    "/vsock/conns,7", "/vsock/conns,3,x", "/vsock/conns,3,1,2",
                    "/vsock/lcores,1", "/vsock/config,7", "/vsock/config,3,",
                    "/vsock/vms,3", "/vsock/vms,x"]:
            r = tel.query(bad)
            check(r is None, "null reply to " + bad, r)
        check(proc.poll() is None and tel.query("/vsock/vms") == [3, 4],
              "still serving after bad parameters")

        # The stock client, non-interactive: one JSON reply per line.
        if check(os.access(TELEMETRY_CLIENT, os.X_OK), TELEMETRY_CLIENT + " installed"):
            out = subprocess.run([TELEMETRY_CLIENT, "-f", prefix],
                                 input="/vsock/vms\n/vsock/vm,4\nquit\n",
                                 capture_output=True, text=True, timeout=30)
            lines = [json.loads(x) for x in out.stdout.splitlines() if x.startswith("{")]
            check(len(lines) == 2 and lines[0] == {"/vsock/vms": [3, 4]}
                  and lines[1]["/vsock/vm"]["guest_cid"] == 4,
                  "dpdk-telemetry.py -f <prefix> reads the commands", out.stdout + out.stderr)

        tel.close()
        tel = None
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            rc = None
        check(rc == 0, "exit status 0 after SIGTERM", rc)
        check(not any(os.path.exists(p) for p in (sock3, sock4, uds3, uds4)),
              "vhost-user sockets and uds paths removed",
              [p for p in (sock3, sock4, uds3, uds4) if os.path.exists(p)])
    finally:
        if tel is not None:
            tel.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if rep.failed:
            log.seek(0)
            print("--- program output ---\n" + log.read())
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(runtime_dir(prefix), ignore_errors=True)
    return rep.finish()


if __name__ == "__main__":
    sys.exit(main())
