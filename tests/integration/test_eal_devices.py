#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""EAL takes no device unless the operator names one.

The program is started as an operator starts it, with EAL arguments that
name no device (lcores, a file prefix, no hugepages), with EAL's own log and
every bus's log at debug level. It must:
- say that it gave EAL --no-pci as well, and -a auxiliary: when EAL has the
  auxiliary bus (its debug log lists the buses it registered), and EAL must
  list them in its parameters (telemetry /eal/params);
- have no device of any class: every device list EAL's libraries offer in
  telemetry (/ethdev/list, /cryptodev/list, /dmadev/list, ...) is empty;
- leave an EAL log that is at debug level (it lists the buses it registered,
  PCI among them) and has no line of a PCI device looked at or of any driver
  probing a device;
- leave every PCI device of the machine on the kernel driver it had.

Given --no-pci by the operator, the program does not add it a second time
(DPDK 25.11 refuses that).

Then the other way round: started with -b for every PCI device of the
machine (the operator names devices), the program adds nothing to EAL's
parameters, and EAL, which now scans PCI, still takes no device (all are
blocked). A blocked device is dropped in the scan itself, so EAL logs nothing
about it: what this run shows is the argument handling, not the log check.

Usage: test_eal_devices.py PROGRAM
"""
import os
import re
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vvtest import Report, Telemetry, runtime_dir, wait_for  # noqa: E402

PCI = "/sys/bus/pci/devices"
# EAL's debug level for itself (PCI logs there up to DPDK 23.11) and every
# bus (bus.pci from 24.11 on, bus.auxiliary, bus.vmbus, ...).
LOG_ARGS = ["--log-level=lib.eal:debug", "--log-level=bus.*:debug"]
ADDED = "EAL was also given --no-pci"
# Device classes whose library lists its devices in telemetry.
DEVICE_LISTS = ("/ethdev/list", "/cryptodev/list", "/dmadev/list", "/rawdev/list",
                "/eventdev/list", "/compressdev/list", "/regexdev/list", "/mldev/list",
                "/bbdev/list", "/gpudev/list")
# A PCI device looked at for a driver, a driver probing a device of any bus,
# a blocked device (scanned, then left alone).
SCAN_RE = re.compile(r"PCI device [0-9a-f]{4}:|probe \w* ?driver|Device is blocked|"
                     r"VMBUS device", re.I)

rep = Report()
check = rep.check


def read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""


def pci_devices():
    """{address: (vendor, device, class, kernel driver or "")}"""
    devs = {}
    try:
        names = sorted(os.listdir(PCI))
    except OSError:
        return devs
    for a in names:
        d = os.path.join(PCI, a)
        drv = os.path.join(d, "driver")
        devs[a] = (read(os.path.join(d, "vendor")), read(os.path.join(d, "device")),
                   read(os.path.join(d, "class")),
                   os.path.basename(os.readlink(drv)) if os.path.islink(drv) else "")
    return devs


def telemetry_checks(name, prefix):
    """EAL's parameters, and the device lists of every class: all empty."""
    tel = Telemetry(os.path.join(runtime_dir(prefix), "dpdk_telemetry.v2"))
    try:
        cmds = tel.query("/")
        params = tel.query("/eal/params")
        lists = [c for c in DEVICE_LISTS if c in cmds]
        check("/ethdev/list" in lists, "%s: telemetry offers device lists" % name, cmds)
        devices = {c: tel.query(c) for c in lists}
        check(not any(devices.values()), "%s: no device of any class (%s)" % (
            name, ", ".join(lists)), devices)
        return params
    finally:
        tel.close()


def run(prog, tmp, name, eal_extra):
    """Start the program, wait until it serves its VM, read telemetry,
    SIGTERM it; return (EAL's parameters, log text)."""
    cpus = sorted(os.sched_getaffinity(0))
    sock = os.path.join(tmp, name + ".vhost")
    uds = os.path.join(tmp, name + ".vsock")
    prefix = "vv-it-eal-%s-%d" % (name, os.getpid())
    argv = ([prog, "--lcores", "0@%d,1@%d" % (cpus[0], cpus[-1]), "--no-huge", "-m", "256",
             "--file-prefix", prefix] + LOG_ARGS +
            eal_extra + ["--", "--guest-cid", "3", "--socket", sock, "--uds-path", uds])
    print("# " + " ".join(argv), flush=True)
    tel = os.path.join(runtime_dir(prefix), "dpdk_telemetry.v2")
    params = []
    with open(os.path.join(tmp, name + ".log"), "w+") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        try:
            up = wait_for(lambda: proc.poll() is not None or
                          (os.path.exists(sock) and os.path.exists(uds) and
                           os.path.exists(tel)), timeout=30)
            if check(up and proc.poll() is None, "%s: the program serves its VM" % name,
                     proc.poll()):
                params = telemetry_checks(name, prefix)
                proc.send_signal(signal.SIGTERM)
            rc = proc.wait(timeout=30)
            check(rc == 0, "%s: exit 0 on SIGTERM" % name, rc)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        log.seek(0)
        return params, log.read()


def no_devices(prog, tmp, before):
    params, log = run(prog, tmp, "nodev", [])
    check(ADDED in log, "nodev: the program says it added --no-pci", log[-2000:])
    check("--no-pci" in params, "nodev: EAL's parameters have --no-pci", params)
    check("Registered [pci] bus" in log,
          "nodev: EAL logs at debug level (it lists the buses it registered)", log[:2000])
    if "Registered [auxiliary] bus" in log:
        check(ADDED + " -a auxiliary:" in log and "auxiliary:" in params,
              "nodev: EAL has the auxiliary bus: the program added -a auxiliary:", params)
    else:
        check("auxiliary:" not in params,
              "nodev: EAL has no auxiliary bus: the program added no -a auxiliary:", params)
    hits = [line for line in log.splitlines() if SCAN_RE.search(line)]
    check(not hits, "nodev: EAL's log has no PCI device looked at, no driver probing",
          hits[:10])
    after = pci_devices()
    check(after == before, "nodev: every PCI device keeps its kernel driver",
          {a: (before.get(a), after.get(a)) for a in set(before) | set(after)
           if before.get(a) != after.get(a)})


def own_no_pci(prog, tmp):
    """The operator's own --no-pci (as the systemd unit has it) is not given
    twice: DPDK 25.11 refuses a flag given twice."""
    params, log = run(prog, tmp, "nopci", ["--no-pci"])
    check(params.count("--no-pci") == 1, "nopci: EAL's parameters have --no-pci once",
          params)
    check(ADDED not in log, "nopci: the program did not add a second --no-pci")


def named_devices(prog, tmp, before):
    """The operator blocks every PCI device: EAL gets the arguments as they
    are, scans PCI, and takes nothing."""
    extra = []
    for a in before:
        extra += ["-b", a]
    params, log = run(prog, tmp, "blocked", extra)
    check(ADDED not in log and "--no-pci" not in params and "auxiliary:" not in params,
          "blocked: with -b the program adds nothing to EAL's parameters", params)
    check(all(a in params for a in before), "blocked: EAL's parameters have every -b",
          params)
    probed = [line for line in log.splitlines() if re.search(r"Probe PCI driver", line, re.I)]
    check(not probed, "blocked: EAL probed no PCI device", probed[:10])
    after = pci_devices()
    check(after == before, "blocked: every PCI device keeps its kernel driver")


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    prog = sys.argv[1]
    before = pci_devices()
    nics = {a: v for a, v in before.items() if v[2].startswith("0x02")}
    print("# PCI devices: %d, network controllers: %s" % (
        len(before), ", ".join("%s %s:%s (%s)" % (a, v[0], v[1], v[3] or "no driver")
                               for a, v in nics.items()) or "none"), flush=True)
    if not nics:
        print("# no PCI NIC on this machine: the checks below run, but there is no NIC "
              "EAL could have taken", flush=True)
    tmp = tempfile.mkdtemp(prefix="vv-it-eal-")
    try:
        no_devices(prog, tmp, before)
        own_no_pci(prog, tmp)
        if before:
            named_devices(prog, tmp, before)
    finally:
        subprocess.run(["rm", "-rf", tmp])
    return rep.finish()


if __name__ == "__main__":
    sys.exit(main())
