#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""A long run of dpdk-vhost-vsock against bad days: scripts/soak.

One backend serves --vms VMs. Each VM has its own loop of vv-frontend runs
(tests/frontend), one at a time as a VM has one front-end, picked at random
from a weighted mix:

  g2h, h2g, bidir    one stream, 1 to 32 MiB each way, every byte checked
  pingpong           round trips of 64 bytes
  connrate           connect/close churn, one stream after another
  conns              64 streams at once, 16 KiB each way
  slowhost           g2h to a host app that reads 16 KiB per millisecond
  stuck              32 streams whose host app stops reading, then resumes
  hostgone           8 streams whose host apps vanish mid-transfer
  kill               a transfer of 2 GiB whose vv-frontend (guest, QEMU
                     and host apps at once) is SIGKILLed after 0.1 to 1.5 s;
                     the next run reattaches to the same vhost-user socket

Each run picks its virtqueue layout too: split or packed rings, with or
without indirect descriptor tables (vv-frontend --packed, --indirect).

Every run but the killed ones must verify (vv-frontend checks every byte
and exits non-zero otherwise); a run that times out is a hung stream.

After the warm-up (a quarter of the run, at most 300 s) and at the end,
the loops pause, the VMs settle (no front-end, no connection) and the
backend's file descriptors and memory are read: the end may have no fd
more and at most 2 % more memory. Memory is RssAnon, the process's
private memory: guest memory the backend maps while a front-end is
attached is the front-end's, shared, and gone when it detaches.

Last line:
  SOAK duration_s=... bytes=... bytes_lost=0 fd_growth=N rss_growth_pct=X status=OK|FAIL
with bytes verified end to end by completed runs, bytes_lost the bytes
failed runs did not deliver. Exit status 0 only with status=OK.

Usage: soak.py --build-dir DIR [--duration S] [--vms N] [--seed N] [--keep]
"""
import argparse
import os
import random
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import vvtest  # noqa: E402

MIB = 1 << 20
PORT = 5000
# Drop reasons a well-behaved guest never causes: vv-frontend plays one, so
# any of these moving is a bug on one side. (no_conn and bad_state may come
# from a packet crossing an RST, as with a real guest.)
NEVER_DROPS = ("desc_index desc_chain desc_addr desc_dir desc_flags ring_broken short_hdr "
               "bad_src_cid bad_len bad_type bad_op credit_violation rx_buf_short "
               "rx_buf_iov").split()

# name: (weight, argv builder(rng) -> (args, expected bytes or None, kill after s or None))
MIX = {
    "g2h": (10, lambda r: xfer("g2h", r.randint(1, 32) * MIB)),
    "h2g": (10, lambda r: xfer("h2g", r.randint(1, 32) * MIB)),
    "bidir": (10, lambda r: xfer("bidir", r.randint(1, 16) * MIB)),
    "pingpong": (6, lambda r: (["pingpong", "--count", "2000", "--size", "64"], 2000 * 128,
                               None)),
    "connrate": (6, lambda r: (["connrate", "--count", "200"], 200 * 8, None)),
    "conns": (5, lambda r: (["conns", "--count", "64", "--bytes", "16K"], 64 * 2 * 16384,
                            None)),
    "slowhost": (5, lambda r: (["g2h", "--bytes", "%dM" % r.randint(2, 8), "--read-size",
                                "16K", "--host-delay-us", "1000"], None, None)),
    "stuck": (4, lambda r: (["stuck", "--count", "32", "--stuck-ms", "300"], None, None)),
    "hostgone": (5, lambda r: (["hostgone", "--count", "8", "--bytes", "4M"], None, None)),
    "kill": (8, lambda r: (["bidir" if r.random() < 0.5 else r.choice(["g2h", "h2g"]),
                            "--bytes", "2G"], None, r.uniform(0.1, 1.5))),
}


# The ring layouts a run may use (vv-frontend options).
LAYOUTS = ([], ["--packed"], ["--indirect"], ["--packed", "--indirect"])


def xfer(mode, n):
    return [mode, "--bytes", str(n)], n * (2 if mode == "bidir" else 1), None


class Soak:
    def __init__(self, args):
        self.args = args
        self.fe = os.path.join(args.build_dir, "tests", "frontend", "vv-frontend")
        prog = os.path.join(args.build_dir, "app", "dpdk-vhost-vsock")
        self.cids = list(range(3, 3 + args.vms))
        self.be = vvtest.Backend(prog, "soak", [(c, "") for c in self.cids],
                                 extra_args=args.backend_args)
        self.lock = threading.Lock()
        self.bytes = 0
        self.lost = 0
        self.runs = {}
        self.kills = 0
        self.failures = []
        self.stop = threading.Event()
        self.pause = threading.Event()
        self.idle = {c: threading.Event() for c in self.cids}
        self.tel_lock = threading.Lock()

    def vm(self, cid):
        with self.tel_lock:
            return self.be.vm(cid)

    def failed(self, what):
        with self.lock:
            self.failures.append(what)
        print("soak: FAIL: " + what, flush=True)

    def one_run(self, cid, rng):
        names = list(MIX)
        name = rng.choices(names, weights=[MIX[n][0] for n in names])[0]
        args, want, kill_after = MIX[name][1](rng)
        args = args + rng.choice(LAYOUTS)
        port = PORT + cid
        argv = [self.fe] + args + ["--port", str(port), "--socket", self.be.socket(cid),
                                   "--uds", self.be.uds(cid), "--timeout", "110"]
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if kill_after is not None:
            try:
                out, err = p.communicate(timeout=kill_after)
            except subprocess.TimeoutExpired:
                p.send_signal(signal.SIGKILL)   # our child, by PID
                p.communicate()
                with self.lock:
                    self.kills += 1
                    self.runs["kill"] = self.runs.get("kill", 0) + 1
                # The backend must notice the vanished front-end (its socket
                # closed) and wait for the next one; the next run reattaches.
                if not vvtest.wait_for(lambda: self.vm(cid)["state"] == "waiting", timeout=10):
                    self.failed("VM %d: front-end killed, still %s after 10 s" %
                                (cid, self.vm(cid)["state"]))
                # A socket file left by the killed host app of <uds>_<port>.
                try:
                    os.unlink("%s_%d" % (self.be.uds(cid), port))
                except FileNotFoundError:
                    pass
                return
            name = "kill(finished first)"
            j = vvtest.json_line(out)
        else:
            j, err = vvtest.run_frontend(p, 130)
        got = (j or {}).get("bytes", 0)
        with self.lock:
            self.runs[name] = self.runs.get(name, 0) + 1
        if j is None or not j.get("ok"):
            why = (j or {}).get("error") or err.strip()[-300:] or "no result (rc %s)" % p.returncode
            with self.lock:
                if want is not None:
                    self.lost += max(want - got, 0)
                elif "wrong byte" in why or "EOF after" in why or "timeout" in why:
                    self.lost += 1   # at least: the run lost or stalled a stream
            self.failed("VM %d %s: %s" % (cid, " ".join(args), why))
            return
        if want is not None and got != want:
            with self.lock:
                self.lost += max(want - got, 0)
            self.failed("VM %d %s: %d bytes of %d" % (cid, " ".join(args), got, want))
            return
        with self.lock:
            self.bytes += got

    def loop(self, cid):
        rng = random.Random(self.args.seed * 1000 + cid)
        while not self.stop.is_set():
            if self.pause.is_set():
                self.idle[cid].set()
                time.sleep(0.05)
                continue
            self.idle[cid].clear()
            self.one_run(cid, rng)

    def quiesce(self, what):
        """Pause every loop, let the VMs settle; return (fds, rss_anon kB, vm_rss kB)."""
        self.pause.set()
        for c in self.cids:
            self.idle[c].clear()
        for c in self.cids:
            self.idle[c].wait(timeout=150)
        settled = vvtest.wait_for(lambda: all(
            self.vm(c)["state"] == "waiting" and self.vm(c)["conns_open"] == 0 and
            self.vm(c)["host_buffered_bytes"] == 0 for c in self.cids), timeout=15)
        if not settled:
            self.failed("%s: VMs did not settle: %s" % (what, {
                c: (self.vm(c)["state"], self.vm(c)["conns_open"]) for c in self.cids}))
        time.sleep(0.5)
        return self.be.n_fds(), self.be.status("RssAnon"), self.be.status("VmRSS")

    def check_drops(self):
        for c in self.cids:
            d = self.vm(c)["drops"]
            bad = {k: d[k] for k in NEVER_DROPS if d.get(k)}
            if bad:
                self.failed("VM %d dropped what a well-behaved guest never sends: %s" % (c, bad))

    def run(self):
        a = self.args
        t0 = time.monotonic()
        if not self.be.start():
            print(self.be.output()[-3000:])
            self.failed("backend did not start")
            return self.finish(0, None, None, t0)
        threads = [threading.Thread(target=self.loop, args=(c,), daemon=True) for c in self.cids]
        for t in threads:
            t.start()
        warm = min(300.0, a.duration / 4.0)
        end = t0 + a.duration
        base = None
        next_report = time.monotonic() + 60
        while time.monotonic() < end and self.be.alive():
            time.sleep(0.2)
            if base is None and time.monotonic() - t0 >= warm:
                base = self.quiesce("warm-up")
                print("soak: warm-up done after %.0f s: fds %d, RssAnon %d kB, VmRSS %d kB"
                      % (time.monotonic() - t0, base[0], base[1], base[2]), flush=True)
                self.pause.clear()
            if time.monotonic() >= next_report:
                next_report += 60
                self.report(t0)
        alive = self.be.alive()
        if not alive:
            self.failed("backend died: exit status %s" % self.be.proc.poll())
        final = self.quiesce("end") if alive else None
        self.stop.set()
        self.pause.clear()
        for t in threads:
            t.join(timeout=150)
        if alive:
            self.check_drops()
        self.report(t0)
        if alive:
            rep = vvtest.Report()
            self.be.stop(rep)
            if rep.failed:
                self.failed("the backend did not stop cleanly (exit status 0, no socket "
                            "file left)")
        return self.finish(time.monotonic() - t0, base, final, t0)

    def report(self, t0):
        with self.lock:
            runs = ", ".join("%s %d" % kv for kv in sorted(self.runs.items()))
            print("soak: %.0f s: %d bytes verified, %d runs (%s), %d failures" %
                  (time.monotonic() - t0, self.bytes, sum(self.runs.values()), runs,
                   len(self.failures)), flush=True)

    def finish(self, secs, base, final, t0):
        fd_growth = rss_pct = None
        if base is not None and final is not None:
            fd_growth = final[0] - base[0]
            rss_pct = 100.0 * (final[1] - base[1]) / base[1]
            print("soak: end: fds %d (warm-up %d), RssAnon %d kB (warm-up %d kB), "
                  "VmRSS %d kB (warm-up %d kB)" % (final[0], base[0], final[1], base[1],
                                                    final[2], base[2]), flush=True)
            if fd_growth > 0:
                self.failed("the backend holds %d more fds than after warm-up" % fd_growth)
            if rss_pct > 2.0:
                self.failed("the backend's memory grew %.2f %% after warm-up" % rss_pct)
        elif not self.failures:
            self.failed("no warm-up and end figures (run shorter than the warm-up?)")
        if self.lost:
            self.failed("%d bytes lost" % self.lost)
        ok = not self.failures
        if not self.args.keep:
            self.be.cleanup(vvtest.Report())
        print("SOAK duration_s=%d bytes=%d bytes_lost=%d fd_growth=%s rss_growth_pct=%s "
              "status=%s" % (round(secs), self.bytes, self.lost,
                             "?" if fd_growth is None else fd_growth,
                             "?" if rss_pct is None else "%.2f" % rss_pct,
                             "OK" if ok else "FAIL"), flush=True)
        return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build-dir", default="build")
    ap.add_argument("--duration", type=float, default=3600)
    ap.add_argument("--vms", type=int, default=3)
    ap.add_argument("--seed", type=int, default=int(time.time()) % 100000)
    ap.add_argument("--keep", action="store_true", help="keep the backend's directory and log")
    ap.add_argument("--backend-args", nargs="*", default=[],
                    help="more program options after the VMs (e.g. --idle-sleep-us 20)")
    a = ap.parse_args()
    if a.duration < 20:
        ap.error("--duration: at least 20 s (a warm-up and an end)")
    print("soak: %d VMs for %d s, seed %d" % (a.vms, a.duration, a.seed), flush=True)
    s = Soak(a)
    try:
        return s.run()
    finally:
        s.stop.set()
        if s.be.proc is not None and s.be.proc.poll() is None:
            s.be.proc.kill()
            s.be.proc.wait()


if __name__ == "__main__":
    sys.exit(main())
