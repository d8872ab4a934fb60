#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Benchmark suite: dpdk-vhost-vsock against the reference vhost-user vsock
backend (rust-vmm's vhost-device-vsock) and against what plain Unix sockets
do on the same machine, driven by vv-frontend.

Every workload is one vv-frontend run (one JSON line, every byte verified by
the tool). By default the tool behaves like a Linux guest (--guest linux: it
sleeps on interrupts, its host applications block in read and write); the
polling guest of earlier benches is --guest poll, and every table and JSON
line says which one produced it. Each run gets a freshly started backend, so
that only one backend is ever alive: a busy-polling backend left running
would steal the backend CPU from the next one. Runs alternate between
backends (A B C A B C ...) inside a group of workloads, so that drift of the
machine hits all of them alike.

Backends by default: ours as installed (it sleeps when idle), ours with
--busy-poll (never sleeps), and the reference backend when it is found.

Placement, the same for every backend: the backend owns CPU 1 (ours: its
worker lcore, through EAL --lcores; others: taskset -c 1), the tool (the
guest and the host applications) runs on CPU 0 (taskset -c 0). The raw
figures are the same blocking reader and writer placed as the vhost path
places its socket: one end on the backend's CPU, the other on the
applications'; the ping-pong floor is two threads asleep in read() on the
two CPUs.

Other engineers share the machine: each run waits for the rest of it to
go quiet, measures how much CPU the rest used meanwhile and is repeated when
that was too much. Ours reports how busy its worker lcore was (telemetry).

Both virtqueue layouts: the rows marked "packed" are the same workloads
with vv-frontend --packed (VIRTIO_F_RING_PACKED); a backend that does not
offer it shows "not offered" there instead of a failure.

Writes to --out: results.md (the table and the goals of issue 11),
results.json (everything, every run), runs.jsonl (one line per attempt),
throughput.png and latency.png with their gnuplot scripts and data, logs/
(each backend's output). Exit status: 0 when every run passed, 1
otherwise, 2 on usage errors.

Python standard library only; plots with gnuplot.
"""

import argparse
import json
import math
import os
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

KIB = 1024
MIB = 1024 * 1024
GIB = 1024 * MIB
WRITE_SIZES = [4 * KIB, 16 * KIB, 64 * KIB, 256 * KIB, MIB]
BACKEND_CPU = "1"
# The tool's modes that run no backend: ceilings and floors.
RAW_MODES = ("raw", "rawpp", "rawconn")
TOOL_CPU = "0"
OURS = "ours"
OURS_BUSY = "ours --busy-poll"
RAW = "raw"
REFERENCE = "vhost-device-vsock"
# Where the reference backend is looked for (first found), unless --reference.
REFERENCE_PATHS = [os.environ.get("VV_BENCH_REFERENCE", ""),
                   os.path.join(REPO, "..", "shared", "anchor", "vhost-device-vsock"),
                   os.path.join(REPO, "..", "..", "shared", "anchor", "vhost-device-vsock")]
G2H_STREAMS = 4
GUEST_TEXT = {
    "linux": "like a Linux guest: it sleeps on the call eventfds and looks at a ring only "
             "after its interrupt, a send without credit waits for one, 128-entry rings and "
             "4 KiB rx buffers; the host applications block in read() and write()",
    "poll": "one tool thread plays guest and host applications and polls the rings, "
            "sleeping after 50 us without work: no guest kernel does that",
}
# The multi-VM workload wants this many VMs; the tool may accept fewer.
MULTI_VMS = 64
MULTI_STREAMS = 16
CLK_TCK = os.sysconf("SC_CLK_TCK")
# Before each run, wait (up to --settle seconds) until the rest of the
# machine uses less than this fraction of one CPU; a cell whose median run
# still saw more than NOISY_LIMIT is marked in the table.
QUIET_LIMIT = 0.2
NOISY_LIMIT = 0.1
IDLE_SAMPLE = 0.3

# Sizes: (full run, --smoke). A transfer moves about a second of the
# reference backend's traffic, several of ours.
SIZES = {
    "stream_bytes": (1 * GIB, 1 * MIB),  # as much as raw_bytes: the same warm-up share
    "raw_bytes": (1 * GIB, 1 * MIB),
    "streams_bytes": (256 * MIB, 1 * MIB),  # per stream, G2H_STREAMS of them
    "bidir_bytes": (256 * MIB, 1 * MIB),
    "pingpong_count": (20000, 300),
    "connrate_count": (5000, 50),
    "idle_bytes": (64 * MIB, 1 * MIB),
    "conns_count": (1000, 1000),
    "conns_bytes": (64 * KIB, 4 * KIB),
    "multi_vms": (MULTI_VMS, 4),
    "multi_streams": (MULTI_STREAMS, 4),
    "multi_bytes": (1 * MIB, 64 * KIB),
    "vm2vm_bytes": (256 * MIB, 1 * MIB),
    "vm2vm_many_bytes": (16 * MIB, 64 * KIB),
    "timeout": (300, 60),
}


def human_size(n):
    if n >= MIB and n % MIB == 0:
        return "%dM" % (n // MIB)
    if n >= KIB and n % KIB == 0:
        return "%dK" % (n // KIB)
    return str(n)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ------------------------------------------------------------- the machine

def cpu_busy_seconds():
    """CPU time all CPUs spent busy since boot (/proc/stat), in seconds."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal (guest is inside user)
    busy = fields[0] + fields[1] + fields[2] + fields[5] + fields[6] + fields[7]
    return busy / CLK_TCK


def own_cpu_seconds():
    """CPU time of this process and of every child it has reaped."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def proc_stat(pid):
    """(ppid, utime + stime in seconds) of a live process, or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_cpu_seconds(pid):
    """utime + stime of a live process (all its threads), or None."""
    st = proc_stat(pid)
    return None if st is None else st[1]


def tree_cpu_seconds(root):
    """CPU time of a live process and of its live descendants: a backend
    command may be a wrapper that runs the real backend as a child."""
    stats = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = proc_stat(int(d))
            if st is not None:
                stats[int(d)] = st
    if root not in stats:
        return None
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        total += stats[pid][1]
        todo += [p for p, st in stats.items() if st[0] == pid]
    return total


def other_load(interval):
    """Fraction of one CPU that processes other than this bench used over
    `interval` seconds (nothing of ours runs while this sleeps)."""
    busy0, own0 = cpu_busy_seconds(), own_cpu_seconds()
    time.sleep(interval)
    return max(0.0, (cpu_busy_seconds() - busy0) - (own_cpu_seconds() - own0)) / interval


def wait_quiet(limit, max_wait):
    """Wait (at most max_wait seconds) until the rest of the machine uses
    less than `limit` of one CPU; returns the last load measured."""
    end = time.monotonic() + max_wait
    load = other_load(0.5)
    while load >= limit and time.monotonic() < end:
        load = other_load(0.5)
    return load


def machine_snapshot():
    """Load average and the processes that look like other engineers'
    backends or VMs, to say in the report what ran beside the bench."""
    with open("/proc/loadavg") as f:
        load = f.read().split()[:3]
    others = []
    me = os.getpid()
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == me:
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        name = os.path.basename(argv[0].decode(errors="replace")) if argv and argv[0] else ""
        if name.startswith(("qemu-system", "dpdk-vhost-vsock", "vhost-device", "vv-frontend")):
            others.append({"pid": int(d), "name": name,
                           "cpu_s": proc_cpu_seconds(int(d))})
    return {"time": time.strftime("%Y-%m-%d %H:%M:%S %z"), "loadavg": load,
            "other_backends_and_vms": others}


# ------------------------------------------------------------ the backends

class Backend:
    """How to start one backend: ours (with EAL args) or a command line.
    extra: options of ours after the VM options (--busy-poll)."""

    def __init__(self, label, argv, ours, index, extra=()):
        self.label = label
        self.argv = argv
        self.ours = ours
        self.index = index
        self.extra = list(extra)

    def command(self, vms, prefix):
        """vms: list of (cid, socket, uds_path). Ours: EAL args first, its
        worker lcore on CPU 1. Others: the same options, under taskset."""
        if len(vms) == 1:
            cid, sock, uds = vms[0]
            opts = ["--guest-cid", str(cid), "--socket", sock, "--uds-path", uds]
        else:
            opts = []
            for cid, sock, uds in vms:
                opts += ["--vm", "guest_cid=%d,socket=%s,uds_path=%s" % (cid, sock, uds)]
        if self.ours:
            eal = ["--no-pci", "--no-huge", "-m", "256", "--file-prefix", prefix,
                   "--lcores", "0@%s,1@%s" % (TOOL_CPU, BACKEND_CPU), "--"]
            return self.argv + eal + opts + self.extra
        return ["taskset", "-c", BACKEND_CPU] + self.argv + opts


def group_alive(pgid):
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def dpdk_runtime_dir():
    if os.getuid() == 0:
        return "/var/run/dpdk"
    return os.path.join(os.environ.get("XDG_RUNTIME_DIR", "/tmp"), "dpdk")


def worker_busy_seconds(prefix):
    """Ours only: busy time of its worker lcores so far (telemetry
    /vsock/lcores: TSC cycles of poll rounds that found work), or None."""
    path = os.path.join(dpdk_runtime_dir(), prefix, "dpdk_telemetry.v2")
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as s:
            s.settimeout(2)
            s.connect(path)
            info = json.loads(s.recv(4096).decode())
            s.send(b"/vsock/lcores")
            d = json.loads(s.recv(info.get("max_output_len", 16384)).decode())["/vsock/lcores"]
        return sum(lc["busy_cycles"] for lc in d["lcores"].values()) / d["tsc_hz"]
    except (OSError, ValueError, KeyError, TypeError, ZeroDivisionError):
        return None


class Running:
    """One started backend; stop() ends it and says whether it had died."""

    def __init__(self, backend, vms, prefix, logpath):
        self.backend = backend
        self.vms = vms
        self.prefix = prefix
        self.logpath = logpath
        self.logf = open(logpath, "wb")
        self.proc = subprocess.Popen(backend.command(vms, prefix), stdin=subprocess.DEVNULL,
                                     stdout=self.logf, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self.cpu_mark = 0.0

    def wait_ready(self, timeout):
        """Wait until every vhost-user socket is there (the tool retries
        while the backend is still starting to listen)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                return "backend exited with status %d before its sockets appeared" % \
                    self.proc.returncode
            if all(os.path.exists(v[1]) for v in self.vms):
                return None
            time.sleep(0.01)
        return "backend sockets did not appear within %d s" % timeout

    def mark(self):
        self.cpu_mark = tree_cpu_seconds(self.proc.pid) or 0.0
        self.busy_mark = worker_busy_seconds(self.prefix) if self.backend.ours else None

    def busy_since_mark(self):
        if self.busy_mark is None:
            return None
        now = worker_busy_seconds(self.prefix)
        return None if now is None else now - self.busy_mark

    def cpu_since_mark(self):
        now = tree_cpu_seconds(self.proc.pid)
        return None if now is None else now - self.cpu_mark

    def stop(self):
        """SIGTERM, then SIGKILL after 10 s. Returns an error string if the
        backend had died on its own."""
        died = None
        if self.proc.poll() is not None:
            died = "backend died during the run (status %d)" % self.proc.returncode
        # The backend runs in its own process group (its pid): signal the
        # group, so that a wrapper's child goes too.
        pgid = self.proc.pid
        try:
            os.killpg(pgid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        end = time.monotonic() + 10
        while group_alive(pgid) and time.monotonic() < end:
            time.sleep(0.05)
        if group_alive(pgid):
            os.killpg(pgid, signal.SIGKILL)
        self.proc.wait()
        self.logf.close()
        # DPDK leaves its runtime directory behind: remove the ones this run
        # created (our prefix, or the default prefix of our CID), no other.
        for name in (self.prefix, "vvsock-%d" % self.vms[0][0]):
            path = os.path.join(dpdk_runtime_dir(), name)
            if os.path.isdir(path):
                shutil.rmtree(path, ignore_errors=True)
        return died

    def log_tail(self, n=15):
        try:
            with open(self.logpath, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""


# ------------------------------------------------------------- the tool

def tool_caps(fe):
    """What this vv-frontend can do: its modes and how many VMs it drives
    at once (asked through its usage text and argument checks)."""
    r = subprocess.run([fe, "--help"], capture_output=True, text=True, timeout=10)
    modes = []
    in_modes = False
    for line in (r.stdout + r.stderr).splitlines():
        # "modes: a b c", continued on lines indented under the first mode.
        if line.startswith("modes:"):
            modes, in_modes = line.split()[1:], True
        elif in_modes and line.startswith("       ") and not line.strip().startswith("-"):
            modes += line.split()
        else:
            in_modes = False
    max_vms = 0
    for n in (MULTI_VMS, 32, 16, 8, 4, 2):
        r = subprocess.run([fe, "multi", "--vms", str(n)], capture_output=True, text=True,
                           timeout=10)
        # Within its limit it asks for the sockets; beyond it, prints usage.
        if "needs --socket" in r.stderr:
            max_vms = n
            break
    return {"modes": modes, "max_vms": max_vms}


# -------------------------------------------------------------- workloads

class Workload:
    """One kind of vv-frontend run. kind: stream (MB/s), streams (MB/s of
    several), pingpong, connrate, idle (the backend's CPU once idle), many
    (MB/s and memory per idle connection). raw_of: the id of the raw
    workload that is this one's ceiling (throughput) or floor (latency).
    pid: the tool gets --backend-pid."""

    def __init__(self, wid, title, mode, args, kind, nvms=1, raw_of=None, note=None,
                 cpus=TOOL_CPU, pid=False):
        self.id = wid
        self.title = title
        self.mode = mode
        self.args = args
        self.kind = kind
        self.nvms = nvms
        self.raw_of = raw_of
        self.cpus = cpus  # taskset -c for the tool
        self.note = note
        self.pid = pid

    @property
    def is_raw(self):
        return self.mode in RAW_MODES


def make_workloads(smoke, caps, guest):
    """Groups of workloads; runs alternate inside a group. Returns (groups,
    skipped) where skipped lists what this tool cannot run and why."""
    def sz(key):
        return SIZES[key][1 if smoke else 0]

    groups = []
    skipped = []
    # The Linux-like guest's applications block; so do the raw ends. The
    # polling guest's host end spins: its raw ends spin too.
    poll = [] if guest == "linux" else ["--raw-poll"]
    for w in WRITE_SIZES:
        h = human_size(w)
        raw_args = ["--bytes", str(sz("raw_bytes")), "--write-size", str(w),
                    "--read-size", str(w)]
        # The ceiling: two host processes on one Unix socket placed as a
        # vhost path places that socket, one end where the backend's worker
        # runs and the other where the applications run. g2h's socket is
        # written on the backend's CPU and read on the applications'; h2g's
        # the other way round.
        rawx = Workload("rawx-" + h, "raw ceiling g2h " + h, "raw",
                        raw_args + ["--raw-cpus", "%s,%s" % (BACKEND_CPU, TOOL_CPU)] + poll,
                        "stream", cpus="%s,%s" % (TOOL_CPU, BACKEND_CPU))
        rawr = Workload("rawr-" + h, "raw ceiling h2g " + h, "raw",
                        raw_args + ["--raw-cpus", "%s,%s" % (TOOL_CPU, BACKEND_CPU)] + poll,
                        "stream", cpus="%s,%s" % (TOOL_CPU, BACKEND_CPU))
        g = [Workload("g2h-" + h, "g2h " + h, "g2h",
                      ["--bytes", str(sz("stream_bytes")), "--write-size", str(w),
                       "--read-size", str(w)], "stream", raw_of=rawx.id),
             Workload("h2g-" + h, "h2g " + h, "h2g",
                      ["--bytes", str(sz("stream_bytes")), "--write-size", str(w),
                       "--read-size", str(w)], "stream", raw_of=rawr.id),
             rawx, rawr]
        if w == 64 * KIB and guest == "linux":
            g.insert(1, Workload("g2h-64K-x%d" % G2H_STREAMS,
                                 "g2h 64K, %d streams" % G2H_STREAMS, "g2h",
                                 ["--bytes", str(sz("streams_bytes")),
                                  "--streams", str(G2H_STREAMS)], "stream",
                                 raw_of=rawx.id))
        groups.append(g)
    groups.append([Workload("bidir", "bidir 64K", "bidir",
                            ["--bytes", str(sz("bidir_bytes"))], "stream")])
    # The floor: the host application on its CPU, the echo where the
    # backend runs, both asleep in read() between messages.
    rawpp = Workload("rawpp", "raw ping-pong 64 B", "rawpp",
                     ["--count", str(sz("pingpong_count")), "--size", "64",
                      "--raw-cpus", "%s,%s" % (TOOL_CPU, BACKEND_CPU)], "pingpong",
                     cpus="%s,%s" % (TOOL_CPU, BACKEND_CPU))
    has_rawpp = "rawpp" in caps["modes"]
    # The other layout: the same runs over packed virtqueues.
    h = human_size(64 * KIB)
    packed_args = ["--bytes", str(sz("stream_bytes")), "--write-size", str(64 * KIB),
                   "--read-size", str(64 * KIB), "--packed"]
    groups.append([
        Workload("g2h-%s-packed" % h, "g2h %s packed" % h, "g2h", packed_args, "stream",
                 raw_of="rawx-" + h),
        Workload("h2g-%s-packed" % h, "h2g %s packed" % h, "h2g", packed_args, "stream",
                 raw_of="rawr-" + h),
        Workload("bidir-packed", "bidir 64K packed", "bidir",
                 ["--bytes", str(sz("bidir_bytes")), "--packed"], "stream"),
        Workload("pingpong-packed", "pingpong 64 B packed", "pingpong",
                 ["--count", str(sz("pingpong_count")), "--size", "64", "--packed"],
                 "pingpong", raw_of=rawpp.id if has_rawpp else None)])
    groups.append([Workload("pingpong", "pingpong 64 B", "pingpong",
                            ["--count", str(sz("pingpong_count")), "--size", "64"],
                            "pingpong", raw_of=rawpp.id if has_rawpp else None)] +
                  ([rawpp] if has_rawpp else []))
    # The ceiling: the connections the backend makes to the host
    # application, made by a plain client on the backend's CPU.
    has_rawconn = "rawconn" in caps["modes"]
    rawconn = Workload("rawconn", "raw connection setup", "rawconn",
                       ["--count", str(sz("connrate_count")),
                        "--raw-cpus", "%s,%s" % (BACKEND_CPU, TOOL_CPU)], "connrate",
                       cpus="%s,%s" % (TOOL_CPU, BACKEND_CPU))
    groups.append([Workload("connrate", "connection setup", "connrate",
                            ["--count", str(sz("connrate_count"))], "connrate",
                            raw_of=rawconn.id if has_rawconn else None)] +
                  ([rawconn] if has_rawconn else []))
    groups.append([Workload("idle", "idle after g2h", "g2h",
                            ["--bytes", str(sz("idle_bytes")), "--idle-check"], "idle",
                            pid=True)])
    n = sz("conns_count")
    groups.append([Workload("conns", "%d concurrent conns" % n, "conns",
                            ["--count", str(n), "--bytes", str(sz("conns_bytes"))], "many",
                            pid=True)])
    want = sz("multi_vms")
    vms = min(want, caps["max_vms"])
    st = sz("multi_streams")
    note = None
    if vms < want:
        note = ("the tool drives at most %d VMs at once: ran %d VMs x %d streams "
                "instead of %d x %d" % (caps["max_vms"], vms, st, want, st))
        skipped.append({"workload": "multi %dx%d" % (want, st), "why": note})
    groups.append([Workload("multi", "multi %dx%d" % (vms, st), "multi",
                            ["--streams", str(st), "--bytes", str(sz("multi_bytes"))],
                            "many", nvms=vms, note=note, pid=True)])
    if "vm2vm" in caps["modes"]:
        pairs = min(8, caps["max_vms"] // 2)
        groups.append([
            Workload("vm2vm", "vm2vm 2x1", "vm2vm",
                     ["--vms", "2", "--streams", "1", "--bytes", str(sz("vm2vm_bytes"))],
                     "stream", nvms=2),
            Workload("vm2vm-many", "vm2vm %dx4" % (2 * pairs), "vm2vm",
                     ["--vms", str(2 * pairs), "--streams", "4",
                      "--bytes", str(sz("vm2vm_many_bytes"))], "stream", nvms=2 * pairs)])
    else:
        skipped.append({"workload": "vm2vm",
                        "why": "this vv-frontend has no vm2vm mode (modes: %s)" %
                        " ".join(caps["modes"])})
    return groups, skipped


# ------------------------------------------------------------------ runs

class Bench:
    def __init__(self, opts, backends, fe):
        self.opts = opts
        self.backends = backends
        self.fe = fe
        self.tmp = tempfile.mkdtemp(prefix="vvb", dir="/tmp")
        self.logdir = os.path.join(opts.out, "logs")
        os.makedirs(self.logdir, exist_ok=True)
        # CIDs and EAL prefixes unique to this bench and this run: other
        # engineers' backends share the machine.
        self.cid_base = 100000 + (os.getpid() % 30000) * 10000
        self.seq = 0
        self.runs = []
        self.attempts = 0
        self.failures = []
        self.protocol_errors = []
        # (workload, backend) that failed once: their other runs are skipped
        # (a backend that cannot do a workload would only time out again).
        self.failed_cells = set()
        self.skipped_runs = []
        self.runs_file = open(os.path.join(opts.out, "runs.jsonl"), "w")

    def close(self):
        self.runs_file.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def plan(self, groups):
        plan = []
        for g in groups:
            for r in range(self.opts.runs):
                for w in g:
                    for b in ([None] if w.is_raw else self.backends):
                        plan.append((w, b, r))
        return plan

    def one(self, w, b, r, idx, total):
        """One run: start the backend, run the tool, stop the backend."""
        self.seq += 1
        label = RAW if b is None else b.label
        log("[%d/%d] %s %s run %d/%d ..." % (idx, total, w.title, label, r + 1, self.opts.runs))
        port = 20000 + self.seq
        timeout = SIZES["timeout"][1 if self.opts.smoke else 0]
        rec = {"workload": w.id, "backend": label, "run": r + 1, "ok": False}
        vms = [(self.cid_base + self.seq * 100 + i,
                os.path.join(self.tmp, "r%dvm%d.vhost" % (self.seq, i)),
                os.path.join(self.tmp, "r%dvm%d.vsock" % (self.seq, i))) for i in range(w.nvms)]
        argv = ["taskset", "-c", w.cpus, self.fe, w.mode] + w.args + \
            ["--port", str(port), "--timeout", str(timeout)]
        if not w.is_raw:
            argv += ["--guest", self.opts.guest]
            for _, sock, uds in vms:
                argv += ["--socket", sock, "--uds", uds]
        if self.opts.settle > 0:
            rec["other_load_before"] = round(wait_quiet(QUIET_LIMIT, self.opts.settle), 3)
        run = None
        err = None
        busy0 = cpu_busy_seconds()
        own0 = own_cpu_seconds()
        span0 = time.monotonic()
        if b is not None:
            prefix = "vvbench%d-%d" % (os.getpid(), self.seq)
            run = Running(b, vms, prefix,
                          os.path.join(self.logdir, "%03d-%s-%s.log" % (self.seq, w.id, b.index)))
            rec["backend_command"] = " ".join(shlex.quote(a) for a in b.command(vms, prefix))
            if w.pid:
                # taskset execs the backend: the same process.
                argv += ["--backend-pid", str(run.proc.pid)]
        rec["command"] = " ".join(shlex.quote(a) for a in argv)
        try:
            if run is not None:
                err = run.wait_ready(20)
                if err is None and w.kind != "stream":
                    # The backend's CPU rate with nothing to do (1.0 for a
                    # busy poller), to take the tool's own set-up and
                    # tear-down time out of its CPU per operation.
                    run.mark()
                    time.sleep(IDLE_SAMPLE)
                    idle = run.cpu_since_mark()
                    if idle is not None:
                        rec["backend_idle_cpu_rate"] = round(idle / IDLE_SAMPLE, 3)
                run.mark()
            if err is None:
                err = self.tool(argv, timeout, run, rec)
        finally:
            # Also on ^C: never leave a backend behind.
            if run is not None:
                died = run.stop()
                if died and err is None:
                    err = died
                if err:
                    rec["backend_log_tail"] = run.log_tail()
        # CPU the rest of the machine used meanwhile: all busy time minus
        # what this bench and its children (tool, backend) used.
        other = max(0.0, (cpu_busy_seconds() - busy0) - (own_cpu_seconds() - own0))
        rec["other_cpu_seconds"] = round(other, 3)
        # /proc/stat counts in clock ticks (10 ms per CPU): on a short run
        # the share can come out above what two CPUs allow; cap it there.
        rec["other_load"] = round(min(os.cpu_count() or 2, other /
                                      max(time.monotonic() - span0, 1e-3)), 3)
        rec["ok"] = err is None
        if err and "does not offer RING_PACKED" in err:
            # Not a failure of the backend: it does not offer that layout.
            rec["unsupported"] = "does not offer RING_PACKED"
        if err:
            rec["error"] = err
            log("[%d/%d] %s %s run %d/%d %s: %s" % (
                idx, total, w.title, label, r + 1, self.opts.runs,
                "not offered" if rec.get("unsupported") else "FAILED", err))
            if rec.get("backend_log_tail"):
                log(rec["backend_log_tail"].rstrip())
        else:
            log("[%d/%d] %s %s run %d/%d ok: %s%s" % (
                idx, total, w.title, label, r + 1, self.opts.runs, summary(w, rec),
                " (other processes used %.0f %% of a CPU)" % (100 * rec["other_load"])
                if rec["other_load"] > NOISY_LIMIT else ""))
        return rec

    def record(self, rec, kept):
        """Every attempt goes to runs.jsonl; only kept ones into the table."""
        rec["kept"] = kept
        self.attempts += 1
        if kept:
            self.runs.append(rec)
            if not rec["ok"] and not rec.get("unsupported"):
                self.failures.append(rec)
            elif rec.get("protocol_error"):
                self.protocol_errors.append(rec)
        self.runs_file.write(json.dumps(rec) + "\n")
        self.runs_file.flush()

    def attempt(self, w, b, r, idx, total):
        """A run, repeated (up to --retry-noisy times) while other processes
        disturbed it; a failed run is never repeated."""
        label = RAW if b is None else b.label
        if (w.id, label) in self.failed_cells:
            log("[%d/%d] %s %s run %d/%d skipped: an earlier run failed" % (
                idx, total, w.title, label, r + 1, self.opts.runs))
            self.skipped_runs.append({"workload": w.id, "backend": label, "run": r + 1})
            return
        for k in range(self.opts.retry_noisy + 1):
            rec = self.one(w, b, r, idx, total)
            last = k == self.opts.retry_noisy
            if not rec["ok"] or rec["other_load"] <= NOISY_LIMIT or last:
                self.record(rec, True)
                if not rec["ok"]:
                    self.failed_cells.add((w.id, label))
                return
            log("[%d/%d] %s run %d/%d: disturbed, once more" % (idx, total, w.title, r + 1,
                                                                self.opts.runs))
            self.record(rec, False)

    @staticmethod
    def tool(argv, timeout, run, rec):
        """Run vv-frontend; returns an error string or None."""
        t0 = time.monotonic()
        try:
            p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout + 30)
            out, tool_err, status = p.stdout, p.stderr, p.returncode
        except subprocess.TimeoutExpired as e:
            out = e.stdout.decode(errors="replace") if e.stdout else ""
            tool_err, status = "killed after %d s" % (timeout + 30), -1
        rec["wall_seconds"] = round(time.monotonic() - t0, 6)
        if run is not None:
            bcpu = run.cpu_since_mark()
            if bcpu is not None:
                rec["backend_cpu_seconds"] = round(bcpu, 3)
            busy = run.busy_since_mark()
            if busy is not None:
                rec["worker_busy_seconds"] = round(busy, 4)
        res = None
        for line in out.splitlines():
            if line.startswith("{"):
                try:
                    res = json.loads(line)
                except ValueError:
                    pass
        if res is None:
            return "no JSON from vv-frontend (status %d): %s" % (status, tool_err.strip()[-300:])
        rec["result"] = res
        if status != 0 or not res.get("ok"):
            # Every byte verified, then the backend's malformed packets were
            # found: another backend's figures stand (a Linux guest drops
            # such packets), and the report lists them. Ours gets no pass.
            if res.get("error_kind") == "protocol" and not rec["backend"].startswith(OURS):
                rec["protocol_error"] = res.get("error")
                return None
            return "vv-frontend failed (status %d): %s" % (status, res.get("error", "not ok"))
        return None


def per_op_cpu(m, rec, res):
    """CPU per operation. The tool's: its own count over the measured phase.
    The backend's: its CPU over the whole tool run, less its idle rate times
    the part of that run outside the measured phase (vhost-user set-up and
    tear-down), over the operations."""
    ops = res.get("ops") or 0
    if not ops:
        return
    m["tool_cpu_us"] = res.get("cpu_seconds", 0) / ops * 1e6
    if "backend_cpu_seconds" in rec and "wall_seconds" in rec:
        outside = max(0.0, rec["wall_seconds"] - res.get("seconds", 0))
        cpu = rec["backend_cpu_seconds"] - rec.get("backend_idle_cpu_rate", 0) * outside
        m["backend_cpu_us"] = max(0.0, cpu) / ops * 1e6


def metrics(w, rec):
    """The numbers a run gives for the table: {metric: value}."""
    res = rec.get("result", {})
    m = {}
    if w.kind in ("stream", "many"):
        m["MBps"] = res.get("MBps")
    if w.kind == "many" and "rss" in res:
        m["rss_per_conn"] = res["rss"].get("anon_bytes_per_conn")
    if w.kind == "idle":
        m["idle_cpu"] = res.get("idle", {}).get("backend_cpu_percent")
    elif w.kind == "pingpong":
        lat = res.get("latency_us", {})
        for p in ("p50", "p99", "p999"):
            m[p] = lat.get(p)
        per_op_cpu(m, rec, res)
    elif w.kind == "connrate":
        m["ops_per_sec"] = res.get("ops_per_sec")
        per_op_cpu(m, rec, res)
    if rec.get("worker_busy_seconds") is not None and res.get("seconds"):
        m["worker_busy"] = min(100.0, 100 * rec["worker_busy_seconds"] / res["seconds"])
    return m


METRIC_INFO = {
    # metric: (row label, unit, higher is better)
    "MBps": ("throughput", "MB/s", True),
    "p50": ("latency p50", "us", False),
    "p99": ("latency p99", "us", False),
    "p999": ("latency p99.9", "us", False),
    "ops_per_sec": ("setup rate", "conn/s", True),
    "idle_cpu": ("backend CPU 1-3 s after the last packet", "% of a CPU", False),
    "rss_per_conn": ("backend memory per idle connection (RssAnon)", "bytes", False),
    "tool_cpu_us": ("tool CPU per op", "us", False),
    "backend_cpu_us": ("backend CPU per op", "us", False),
    "worker_busy": ("worker busy", "%", False),
}


def summary(w, rec):
    m = metrics(w, rec)
    return ", ".join("%s %s %s" % (METRIC_INFO[k][0], fmt(v), METRIC_INFO[k][1])
                     for k, v in m.items() if v is not None)


def fmt(v):
    if v is None:
        return "-"
    if v >= 100:
        return "%.0f" % v
    if v >= 10:
        return "%.1f" % v
    return "%.2f" % v


# --------------------------------------------------------------- report

def aggregate(groups, backends, runs):
    """Medians per workload, backend and metric."""
    labels = [b.label for b in backends] + [RAW]
    table = []
    for g in groups:
        for w in g:
            entry = {"id": w.id, "title": w.title, "mode": w.mode, "args": w.args,
                     "kind": w.kind, "vms": w.nvms, "raw_of": w.raw_of, "note": w.note,
                     "pid": w.pid, "backends": {}}
            for label in labels:
                rs = [r for r in runs if r["workload"] == w.id and r["backend"] == label]
                if not rs:
                    continue
                ok = [r for r in rs if r["ok"]]
                med = {}
                for k in metrics(w, {}).keys() | set().union(*(metrics(w, r).keys() for r in ok)):
                    vals = [metrics(w, r).get(k) for r in ok]
                    vals = [v for v in vals if v is not None]
                    if vals:
                        med[k] = statistics.median(vals)
                unsup = [r for r in rs if r.get("unsupported")]
                entry["backends"][label] = {
                    "runs": len(rs), "failed": len(rs) - len(ok) - len(unsup), "median": med,
                    "unsupported": unsup[0]["unsupported"] if unsup and not ok else None,
                    "other_load_median": statistics.median(r.get("other_load", 0) for r in rs)}
            table.append(entry)
    return table


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


# The rows each kind of workload shows.
ROWS = {
    "stream": ["MBps"],
    "many": ["MBps", "rss_per_conn"],
    "idle": ["idle_cpu"],
    "pingpong": ["p50", "p99", "p999", "tool_cpu_us", "backend_cpu_us"],
    "connrate": ["ops_per_sec", "tool_cpu_us", "backend_cpu_us"],
}

# What each row includes, said under the table.
INCLUDES = [
    "g2h/h2g W: one stream, the application writing W bytes per write() and reading W per "
    "read(); from the first byte to the last byte verified at the other end (the vhost-user "
    "set-up is outside it); 10^6 bytes/s of payload.",
    "g2h 64K, %d streams: as many streams from one guest at once, their bytes added up." %
    G2H_STREAMS,
    "raw (throughput rows): `vv-frontend raw`, two processes on one Unix socket and no "
    "backend, the writer where the vhost path writes that socket and the reader where it "
    "reads it (g2h: CPU %s to CPU %s; h2g: CPU %s to CPU %s), with the same blocking (or, "
    "for the polling guest, spinning) reads and writes as the applications." % (
        BACKEND_CPU, TOOL_CPU, TOOL_CPU, BACKEND_CPU),
    "pingpong: a 64-byte message from the host application to the guest and back, each end "
    "asleep until it arrives; round trip percentiles in microseconds. raw: `vv-frontend "
    "rawpp`, the same round trip between two threads asleep in read() on CPU %s and CPU %s "
    "(the floor any backend on its own CPU starts from)." % (TOOL_CPU, BACKEND_CPU),
    "connection setup: guest connect, 8 bytes, close, one after the other. raw: `vv-frontend "
    "rawconn`, the same connections to the same host application (CPU %s) made by a plain "
    "client on CPU %s with no guest and no backend: a Unix connect completes without "
    "waiting for accept, so the client never sleeps (the ceiling of the host's sockets)." % (
        TOOL_CPU, BACKEND_CPU),
    "idle after g2h: a 64 MiB transfer, then the VM stays up with nothing to say; the "
    "backend's CPU time (all threads, /proc) from 1 s to 3 s after the last packet.",
    "conns, multi: every stream open at once, bytes both ways, every one verified; memory "
    "per idle connection: the backend's RssAnon with every stream open and idle, less that "
    "with the VMs up and no stream, over the streams (guest memory it touched is not "
    "RssAnon).",
    "Backend CPU per op: the backend's CPU time during the tool run, less its idle CPU rate "
    "times the tool's set-up and tear-down, over the operations. Ours worker busy: the share "
    "of the measured phase its worker lcore spent in poll rounds that found work (telemetry "
    "/vsock/lcores).",
]


def goals(table, backends):
    """Issue 11's "What must show", from this run's medians: a list of
    {"goal", "value", "met"} (met None when the run lacks a cell)."""
    byid = {e["id"]: e for e in table}
    labels = {b.label for b in backends}

    def med(wid, label, k):
        return byid.get(wid, {}).get("backends", {}).get(label, {}).get("median", {}).get(k)

    def failed(wid):
        return sum(d["failed"] for d in byid.get(wid, {}).get("backends", {}).values())

    out = []

    def add(goal, value, met):
        out.append({"goal": goal, "value": value, "met": met})

    def vs(goal, wid, k, other, want, higher=True):
        a, b = med(wid, OURS, k), med(wid, other, k)
        r = ratio(a, b)
        if r is None or other not in labels:
            add(goal, "no %s figure in this run" % other, None)
            return
        add(goal, "%s vs %s: %.2fx" % (fmt(a), fmt(b), r), r >= want if higher else r <= want)

    def vs_raw(goal, wid, rawid, k, want, aim=None):
        """Ours against a raw figure: throughput at least want x, latency
        (want > 1) at most want x; aim: the throughput the issue hopes for."""
        a, c = med(wid, OURS, k), med(rawid, RAW, k)
        if a is None or not c:
            add(goal, "no figure", None)
            return
        if want > 1:
            add(goal, "%s vs %s us: %.2fx" % (fmt(a), fmt(c), a / c), a <= want * c)
            return
        add(goal, "%s of %s MB/s: %.2fx%s" % (
            fmt(a), fmt(c), a / c,
            ", under the %.1fx aim" % aim if aim and a < aim * c else ""), a >= want * c)

    vs("g2h 64K, one stream: at least 3x the reference", "g2h-64K", "MBps", REFERENCE, 3)
    vs_raw("g2h 64K, one stream: at least 0.6x the raw ceiling (the aim is 0.8x)",
           "g2h-64K", "rawx-64K", "MBps", 0.6, 0.8)
    vs("g2h 64K, %d streams: at least 3x the reference" % G2H_STREAMS,
       "g2h-64K-x%d" % G2H_STREAMS, "MBps", REFERENCE, 3)
    vs("h2g 64K: at least 10x the reference", "h2g-64K", "MBps", REFERENCE, 10)
    vs("ping-pong p50: at most 0.4x the reference", "pingpong", "p50", REFERENCE, 0.4, False)
    vs_raw("ping-pong p50: within 1.2x the raw ping-pong", "pingpong", "rawpp", "p50", 1.2)
    # Packed rings: the same bars against the raw figures (the reference
    # offers no packed rings to compare with).
    vs_raw("packed: g2h 64K at least 0.6x the raw ceiling (the aim is 0.8x)",
           "g2h-64K-packed", "rawx-64K", "MBps", 0.6, 0.8)
    vs_raw("packed: ping-pong p50 within 1.2x the raw ping-pong", "pingpong-packed", "rawpp",
           "p50", 1.2)
    vs("connection setup: at least 3x the reference", "connrate", "ops_per_sec", REFERENCE, 3)
    v = med("idle", OURS, "idle_cpu")
    add("idle: at most 5 % of a CPU one second after the last packet",
        "no figure" if v is None else "%.1f %% of a CPU" % v, None if v is None else v <= 5)
    # Busy figures: ours against ours --busy-poll on every throughput and
    # latency row of this run.
    worst = None
    if OURS_BUSY in labels:
        for e in table:
            if e["mode"] in RAW_MODES:
                continue
            for k, higher in (("MBps", True), ("ops_per_sec", True), ("p50", False)):
                a, b = med(e["id"], OURS, k), med(e["id"], OURS_BUSY, k)
                r = ratio(a, b)
                if r is None:
                    continue
                short = (1 - r) if higher else (r - 1)
                if worst is None or short > worst[0]:
                    worst = (short, "%s %s: %s vs %s" % (e["title"], METRIC_INFO[k][0],
                                                          fmt(a), fmt(b)))
    if worst is None:
        add("busy figures within 5 % of --busy-poll", "no --busy-poll figures", None)
    else:
        add("busy figures within 5 % of --busy-poll",
            "the farthest: %s (%.1f %% %s)" % (worst[1], 100 * abs(worst[0]),
                                              "worse" if worst[0] > 0 else "better"),
            worst[0] <= 0.05)
    for wid in ("multi", "conns"):
        e = byid.get(wid)
        if e is None:
            continue
        f = failed(wid)
        add("%s: every byte kept (all runs verified)" % e["title"],
            "%d run(s) failed" % f if f else "all verified", f == 0)
        v = med(wid, OURS, "rss_per_conn")
        add("%s: memory per idle connection at most 4 KiB" % e["title"],
            "no figure" if v is None else "%.0f bytes" % v, None if v is None else v <= 4096)
    return out


def markdown(table, backends, meta, runs):
    others = [b for b in backends if b.label != OURS]
    byid = {e["id"]: e for e in table}
    head = ["Workload", "Metric"] + [b.label for b in backends] + ["raw"] + \
        ["ours/" + b.label for b in others] + ["ours/raw", "ours worker busy"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for e in table:
        if e["mode"] in RAW_MODES:
            continue
        raw = byid.get(e["raw_of"]) if e.get("raw_of") else None
        busy = e["backends"].get(OURS, {}).get("median", {}).get("worker_busy")
        first = True
        for k in ROWS.get(e["kind"], []):
            vals = {label: d["median"].get(k) for label, d in e["backends"].items()}
            if all(v is None for v in vals.values()):
                continue
            name, unit, _ = METRIC_INFO[k]
            row = [e["title"], "%s (%s)" % (name, unit)]
            for b in backends:
                d = e["backends"].get(b.label)
                cell = fmt(vals.get(b.label))
                if d and d.get("unsupported"):
                    cell = "not offered"
                elif d and d["other_load_median"] > NOISY_LIMIT:
                    cell += " *"
                if d and d["failed"]:
                    cell += " (%d/%d failed)" % (d["failed"], d["runs"])
                row.append(cell)
            rawd = raw["backends"].get(RAW, {}) if raw else {}
            rawv = rawd.get("median", {}).get(k)
            row.append((fmt(rawv) if rawv is not None else "") +
                       (" *" if rawd.get("other_load_median", 0) > NOISY_LIMIT else ""))
            ours = vals.get(OURS)
            for b in others:
                rr = ratio(ours, vals.get(b.label))
                row.append("%.2f" % rr if rr is not None else "-")
            rr = ratio(ours, rawv)
            row.append("%.2f" % rr if rr is not None else "")
            row.append("%.0f %%" % busy if first and busy is not None else "")
            first = False
            lines.append("| " + " | ".join(row) + " |")
    guest = meta.get("guest", "linux")
    out = ["# Benchmark results", "",
           "%s, %s, %d run(s) per cell, medians%s." % (
               meta["host"], meta["start"]["time"], meta["runs"],
               ", SMOKE sizes (not a measurement)" if meta["smoke"] else ""), "",
           "Guest: **%s** (%s)." % (guest, GUEST_TEXT.get(guest, guest)), ""]
    out.append("Backends:")
    for b in backends:
        out.append("- `%s`: `%s`" % (b.label, " ".join(shlex.quote(a) for a in
                                                     b.argv + (["..."] + b.extra if b.extra
                                                               else []))))
    if meta.get("reference_missing"):
        out.append("- the reference backend was not run: %s" % meta["reference_missing"])
    out.append("")
    out += lines
    out.append("")
    gl = goals(table, backends)
    if gl:
        out.append("Goals (issue 11, this run's medians)%s:" % (
            "; SMOKE sizes, they say nothing" if meta["smoke"] else ""))
        for g in gl:
            out.append("- %s %s: %s." % ({True: "met:", False: "MISSED:", None: "n/a:"}[g["met"]],
                                         g["goal"], g["value"]))
        out.append("")
    out.append("What each figure includes:")
    out += ["- " + t for t in INCLUDES]
    out.append("")
    out.append("Ratios: ours divided by the other; for latency, CPU and memory rows lower is "
               "better, so a ratio below 1 favours ours there. `*`: in the median run of that "
               "cell, other processes on the machine used more than %d %% of a CPU." %
               (100 * NOISY_LIMIT))
    if meta.get("wall_seconds"):
        out.append("")
        out.append("The bench took %.0f s (%.1f min), %d run attempt(s)." % (
            meta["wall_seconds"], meta["wall_seconds"] / 60, meta["attempts"]))
    if meta["attempts"] > sum(d["runs"] for e in table for d in e["backends"].values()):
        out.append("")
        out.append("%d run(s) were disturbed by other processes and done again "
                   "(--retry-noisy; every attempt is in runs.jsonl)." % (
                       meta["attempts"] - sum(d["runs"] for e in table
                                              for d in e["backends"].values())))
    if meta.get("skipped"):
        out.append("")
        out.append("Skipped or reduced:")
        for s in meta["skipped"]:
            out.append("- %s: %s" % (s["workload"], s["why"]))
    loads = sorted(r.get("other_load", 0) for r in runs)
    out.append("")
    if loads:
        out.append("Other processes during the %d runs in the table: a median of %.0f %% of a "
                   "CPU, at most %.0f %%; %d run(s) above %.0f %%." % (
                       len(loads), 100 * statistics.median(loads), 100 * loads[-1],
                       sum(x > NOISY_LIMIT for x in loads), 100 * NOISY_LIMIT))
    out.append("Machine: load average %s at the start, %s at the end; CPU used by other "
               "processes during the whole bench, waits for a quiet machine included: %.1f s "
               "over %.0f s of wall time (%.0f %% of one CPU); backends/VMs not ours seen: "
               "%s." % (
                   " ".join(meta["start"]["loadavg"]), " ".join(meta["end"]["loadavg"]),
                   meta["other_cpu_seconds"], meta["wall_seconds"],
                   100 * meta["other_cpu_seconds"] / max(meta["wall_seconds"], 1e-9),
                   ", ".join(sorted({"%s (pid %d)" % (p["name"], p["pid"])
                                     for p in meta["start"]["other_backends_and_vms"] +
                                     meta["end"]["other_backends_and_vms"]})) or "none"))
    if meta.get("protocol_errors"):
        out.append("")
        out.append("Runs kept although the backend sent malformed packets once every byte was "
                   "verified (a Linux guest drops them, answering an unknown type with RST): %d"
                   % len(meta["protocol_errors"]))
        for f in meta["protocol_errors"]:
            out.append("- %s %s run %d: %s" % (f["workload"], f["backend"], f["run"], f["error"]))
    if meta["failures"]:
        out.append("")
        out.append("FAILED runs: %d" % len(meta["failures"]))
        for f in meta["failures"]:
            out.append("- %s %s run %d: %s" % (f["workload"], f["backend"], f["run"], f["error"]))
    if meta.get("skipped_runs"):
        out.append("")
        out.append("Runs not made because the same backend had failed the workload before: %s."
                   % ", ".join("%s %s run %d" % (s["workload"], s["backend"], s["run"])
                               for s in meta["skipped_runs"]))
    return "\n".join(out) + "\n"


THROUGHPUT_GP = """# Throughput against write size, made by tests/bench/bench.py; rerun with
# "gnuplot throughput.gp" in this directory. Medians over the runs.
set terminal pngcairo size 1400,600 font ",11"
set output "throughput.png"
set multiplot layout 1,%(panels)d title "vhost-user vsock throughput against write size (medians of %(runs)d run(s); log scales)"
set logscale x 2
set logscale y 10
set xtics ("4K" 4, "16K" 16, "64K" 64, "256K" 256, "1M" 1024)
set xrange [3:1400]
set yrange [%(ymin)g:%(ymax)g]
set xlabel "write size (bytes per write)"
set ylabel "MB/s"
set grid xtics ytics mytics
set key bottom right box opaque
%(plots)s
unset multiplot
"""

LATENCY_GP = """# Ping-pong latency percentiles, made by tests/bench/bench.py; rerun with
# "gnuplot latency.gp" in this directory. Medians over the runs.
set terminal pngcairo size 900,600 font ",11"
set output "latency.png"
set title "64-byte ping-pong round trip: percentiles (medians of %(runs)d run(s); log scale)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set logscale y 10
set yrange [%(ymin)g:%(ymax)g]
set ylabel "round trip (us)"
set grid ytics mytics
set key top left box opaque
plot "latency.dat" using 2:xtic(1) title "p50", '' using 3 title "p99", \\
     '' using 4 title "p99.9", \\
     for [c=2:4] '' using ($0 + (c - 3) / 4.0):(column(c) * 1.25):(sprintf("%%.3g", column(c))) \\
        with labels notitle
"""


def nice_bound(v, up):
    """The nearest 1, 2 or 5 times a power of ten above (up) or below v,
    with some room: a log axis that fits the data."""
    v = v * 1.25 if up else v / 1.25
    e = math.floor(math.log10(max(v, 1e-9)))
    steps = [m * 10 ** k for k in (e - 1, e, e + 1) for m in (1, 2, 5)]
    return min(x for x in steps if x >= v) if up else max(x for x in steps if x <= v)


def plots(table, backends, outdir, runs):
    """throughput.png (g2h and h2g against write size, one line per backend,
    the raw ceiling of that direction dashed) and latency.png (ping-pong
    percentiles per backend and of the raw ping-pong). Only series with data are drawn (gnuplot refuses an empty
    one). Returns an error string or None."""
    if shutil.which("gnuplot") is None:
        return "gnuplot not found (Debian: gnuplot-nox, see scripts/deps)"
    byid = {e["id"]: e for e in table}

    def med(wid, label, k):
        return byid.get(wid, {}).get("backends", {}).get(label, {}).get("median", {}).get(k)

    jobs = []
    panels = []
    allv = []
    raw_series = {}
    for prefix, style, title in (("rawx", 'dt 2 lw 2 pt 6 lc rgb "black"', "raw ceiling"),
                                 ("rawr", 'dt 2 lw 2 pt 6 lc rgb "black"', "raw ceiling")):
        pts = [(w, med(prefix + "-" + human_size(w), RAW, "MBps")) for w in WRITE_SIZES]
        pts = [(w, v) for w, v in pts if v is not None]
        if not pts:
            continue
        with open(os.path.join(outdir, "tp-%s.dat" % prefix), "w") as f:
            f.write("# %s: write_KiB MBps\n" % title)
            f.writelines("%d %.2f\n" % (w // KIB, v) for w, v in pts)
        allv += [v for _, v in pts]
        raw_series[prefix] = ('"tp-%s.dat" using 1:2 with linespoints %s title "%s"' %
                              (prefix, style, title))
    for d, title, ceiling in (("g2h", "guest -> host (g2h)", "rawx"),
                              ("h2g", "host -> guest (h2g)", "rawr")):
        series = []
        for i, b in enumerate(backends):
            pts = [(w, med("%s-%s" % (d, human_size(w)), b.label, "MBps")) for w in WRITE_SIZES]
            pts = [(w, v) for w, v in pts if v is not None]
            if not pts:
                continue
            name = "tp-%s-%s.dat" % (d, b.index)
            with open(os.path.join(outdir, name), "w") as f:
                f.write("# %s %s: write_KiB MBps\n" % (d, b.label))
                f.writelines("%d %.2f\n" % (w // KIB, v) for w, v in pts)
            allv += [v for _, v in pts]
            series.append('"%s" using 1:2 with linespoints lw 2 pt 7 lc %d title "%s"' %
                          (name, i + 1, b.label.replace('"', "")))
        if series:
            series += [raw_series[k] for k in (ceiling,) if k in raw_series]
            panels.append('set title "%s"\nplot %s' % (title, ", \\\n     ".join(series)))
    if panels:
        jobs.append(("throughput.gp", THROUGHPUT_GP % {
            "panels": len(panels), "runs": runs, "plots": "\n".join(panels),
            "ymin": nice_bound(min(allv), False), "ymax": nice_bound(max(allv), True)}))
    lat = []
    for wid, label, name in [("pingpong", b.label, b.label) for b in backends] + \
            [("rawpp", RAW, "raw (two threads)")]:
        vals = [med(wid, label, k) for k in ("p50", "p99", "p999")]
        if all(v is not None and v > 0 for v in vals):
            lat.append((name, vals))
    if lat:
        with open(os.path.join(outdir, "latency.dat"), "w") as f:
            f.write("# backend p50 p99 p99.9 (us)\n")
            f.writelines('"%s" %.3f %.3f %.3f\n' % (lb.replace('"', ""), *v) for lb, v in lat)
        lv = [x for _, v in lat for x in v]
        jobs.append(("latency.gp", LATENCY_GP % {
            "runs": runs, "ymin": nice_bound(min(lv) / 2, False),
            "ymax": nice_bound(max(lv) * 1.6, True)}))
    errs = []
    for script, text in jobs:
        with open(os.path.join(outdir, script), "w") as f:
            f.write(text)
        p = subprocess.run(["gnuplot", script], cwd=outdir, capture_output=True, text=True,
                           timeout=60)
        if p.returncode != 0:
            errs.append("%s: %s" % (script, p.stderr.strip()[-400:]))
    return "; ".join(errs) or None


# ----------------------------------------------------------------- main

def parse_args(argv):
    ap = argparse.ArgumentParser(
        prog="scripts/bench",
        description="Benchmark dpdk-vhost-vsock against other vhost-user vsock backends "
        "and the raw Unix-socket ceiling.")
    ap.add_argument("--backend", action="append", default=[], metavar="CMD",
                    help="another backend's command line (repeatable); it gets the same "
                    "options as ours (--guest-cid N --socket S --uds-path U, or repeated "
                    "--vm guest_cid=..,socket=..,uds_path=..) and runs under taskset -c 1")
    ap.add_argument("--reference", default=None, metavar="PATH",
                    help="the reference backend (rust-vmm vhost-device-vsock); by default "
                    "$VV_BENCH_REFERENCE or ../shared/anchor/vhost-device-vsock next to the "
                    "checkout, if there (not with --smoke unless given)")
    ap.add_argument("--no-reference", action="store_true",
                    help="do not run the reference backend")
    ap.add_argument("--no-busy-poll", action="store_true",
                    help="do not run ours with --busy-poll as well")
    ap.add_argument("--guest", choices=("linux", "poll"), default="linux",
                    help="how the tool's guest behaves: linux (default: it sleeps on "
                    "interrupts, applications block) or poll (one thread polls)")
    ap.add_argument("--smoke", action="store_true",
                    help="tiny sizes, one run: checks that every workload works")
    ap.add_argument("--out", default=os.path.join(REPO, "bench-results"),
                    help="output directory (default bench-results/)")
    ap.add_argument("--runs", type=int, default=None, help="runs per cell (default 3; "
                    "--smoke: 1)")
    ap.add_argument("--settle", type=float, default=None,
                    help="before each run, wait up to this many seconds for the rest of the "
                    "machine to go quiet (default 30; --smoke: 0)")
    ap.add_argument("--retry-noisy", type=int, default=None,
                    help="repeat a run up to this many times while other processes used "
                    "more than %d %%%% of a CPU during it (default 2; --smoke: 0)" %
                    (100 * NOISY_LIMIT))
    ap.add_argument("--build-dir", default=os.path.join(REPO, "build"), help=argparse.SUPPRESS)
    ap.add_argument("--only", default=None, metavar="LIST",
                    help="only these workloads: comma-separated ids (g2h-64K, rawx-64K, "
                    "g2h-64K-x4, bidir, pingpong, rawpp, connrate, idle, conns, multi, vm2vm, "
                    "g2h-64K-packed, pingpong-packed, ...) or modes (g2h, h2g, raw)")
    ap.add_argument("--report-only", action="store_true",
                    help="run nothing: remake results.md and the plots from --out's "
                    "results.json")
    o = ap.parse_args(argv)
    if o.runs is None:
        o.runs = 1 if o.smoke else 3
    if o.settle is None:
        o.settle = 0 if o.smoke else 30
    if o.retry_noisy is None:
        o.retry_noisy = 0 if o.smoke else 2
    if o.runs < 1:
        ap.error("--runs must be at least 1")
    return o


def on_sigterm(signum, frame):
    raise KeyboardInterrupt


def report_only(opts):
    """Remake results.md and the plots from --out's results.json."""
    with open(os.path.join(opts.out, "results.json")) as f:
        data = json.load(f)
    meta = data["meta"]
    backends = [Backend(b["label"], b["argv"], b["ours"], "b%d" % i, b.get("extra", ()))
                for i, b in enumerate(meta["backends"])]
    groups = [[Workload(e["id"], e["title"], e["mode"], e["args"], e["kind"], e["vms"],
                        e["raw_of"], e["note"], pid=e.get("pid", False))
               for e in data["table"]]]
    table = aggregate(groups, backends, data["runs"])
    md = markdown(table, backends, meta, data["runs"])
    with open(os.path.join(opts.out, "results.md"), "w") as f:
        f.write(md)
    print(md, end="")
    perr = plots(table, backends, opts.out, meta["runs"])
    if perr:
        log("bench: plots failed: " + perr)
    return 1 if perr else 0


def main(argv):
    opts = parse_args(argv)
    signal.signal(signal.SIGTERM, on_sigterm)
    if opts.report_only:
        return report_only(opts)
    ours_bin = os.path.join(opts.build_dir, "app", "dpdk-vhost-vsock")
    fe = os.path.join(opts.build_dir, "tests", "frontend", "vv-frontend")
    for p in (ours_bin, fe):
        if not os.access(p, os.X_OK):
            log("bench: %s is missing: build first (scripts/build)" % p)
            return 2
    if (os.cpu_count() or 1) < 2:
        log("bench: needs two CPUs (the backend on CPU 1, the tool on CPU 0)")
        return 2
    backends = [Backend(OURS, [ours_bin], True, "b0")]
    if not opts.no_busy_poll:
        backends.append(Backend(OURS_BUSY, [ours_bin], True, "bb", ["--busy-poll"]))
    seen = {OURS, OURS_BUSY}
    reference_missing = None
    if not opts.no_reference:
        ref = opts.reference
        if ref is None and not opts.smoke:
            ref = next((p for p in REFERENCE_PATHS if p and os.access(p, os.X_OK)), None)
            if ref is None:
                reference_missing = "not found (%s); give --reference PATH" % ", ".join(
                    p for p in REFERENCE_PATHS if p)
        if ref is not None:
            if not os.access(ref, os.X_OK):
                log("bench: --reference %s is not executable" % ref)
                return 2
            backends.append(Backend(REFERENCE, [os.path.abspath(ref)], False, "br"))
            seen.add(REFERENCE)
    if reference_missing:
        log("bench: the reference backend is " + reference_missing)
    for i, cmd in enumerate(opts.backend):
        argv_b = shlex.split(cmd)
        if not argv_b:
            log("bench: empty --backend")
            return 2
        exe = shutil.which(argv_b[0]) or argv_b[0]
        if not os.access(exe, os.X_OK):
            log("bench: --backend %s: %s is not executable" % (cmd, argv_b[0]))
            return 2
        label = os.path.basename(argv_b[0])
        n = 2
        while label in seen:
            label = "%s#%d" % (os.path.basename(argv_b[0]), n)
            n += 1
        seen.add(label)
        backends.append(Backend(label, argv_b, False, "b%d" % (i + 1)))
    os.makedirs(opts.out, exist_ok=True)

    caps = tool_caps(fe)
    groups, skipped = make_workloads(opts.smoke, caps, opts.guest)
    if opts.only:
        keep = set(opts.only.split(","))
        groups = [[w for w in g if w.id in keep or w.mode in keep] for g in groups]
        groups = [g for g in groups if g]
    for s in skipped:
        log("bench: skipped/reduced %s: %s" % (s["workload"], s["why"]))

    meta = {"host": socket.gethostname(), "smoke": opts.smoke, "runs": opts.runs,
            "cpus": os.cpu_count(), "placement": {"backend_cpu": BACKEND_CPU,
                                                   "tool_cpu": TOOL_CPU},
            "tool": fe, "tool_caps": caps, "skipped": skipped, "guest": opts.guest,
            "reference_missing": reference_missing,
            "backends": [{"label": b.label, "argv": b.argv, "ours": b.ours, "extra": b.extra}
                         for b in backends],
            "start": machine_snapshot()}
    bench = Bench(opts, backends, fe)
    plan = bench.plan(groups)
    t0 = time.monotonic()
    busy0 = cpu_busy_seconds()
    own0 = own_cpu_seconds()
    interrupted = False
    try:
        for i, (w, b, r) in enumerate(plan):
            bench.attempt(w, b, r, i + 1, len(plan))
    except KeyboardInterrupt:
        interrupted = True
        log("bench: interrupted")
    finally:
        bench.close()
    meta["wall_seconds"] = round(time.monotonic() - t0, 1)
    meta["other_cpu_seconds"] = round(max(0.0, (cpu_busy_seconds() - busy0) -
                                          (own_cpu_seconds() - own0)), 1)
    meta["end"] = machine_snapshot()
    meta["attempts"] = bench.attempts
    meta["failures"] = [{k: f.get(k) for k in ("workload", "backend", "run", "error")}
                        for f in bench.failures]
    meta["skipped_runs"] = bench.skipped_runs
    meta["protocol_errors"] = [{"workload": f["workload"], "backend": f["backend"],
                                "run": f["run"], "error": f["protocol_error"]}
                               for f in bench.protocol_errors]
    table = aggregate(groups, backends, bench.runs)
    with open(os.path.join(opts.out, "results.json"), "w") as f:
        json.dump({"meta": meta, "table": table, "goals": goals(table, backends),
                   "runs": bench.runs},
                  f, indent=1)
    md = markdown(table, backends, meta, bench.runs)
    with open(os.path.join(opts.out, "results.md"), "w") as f:
        f.write(md)
    print(md, end="")
    perr = plots(table, backends, opts.out, opts.runs)
    if perr:
        log("bench: plots failed: " + perr)
    nfail = len(bench.failures)
    # The reference's own failures (its VM-to-VM stall) are results shown in
    # the table, not a failure of this bench: only ours fail the exit status.
    ours = {b.label for b in backends if b.ours}
    nfail_ours = sum(1 for f in bench.failures if f.get("backend") in ours)
    log("bench: %d run(s), %d failed (%d of ours); results in %s" %
        (len(bench.runs), nfail, nfail_ours, opts.out))
    return 1 if nfail_ours or perr or interrupted else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
