# SPDX-License-Identifier: BSD-3-Clause
"""Helpers of the integration tests that run dpdk-vhost-vsock for real.

Backend starts the program with its own EAL file prefix and a temporary
directory for every socket, so tests may run side by side; it is always
killed by PID, and stop() checks the SIGTERM exit path (status 0, no socket
file left). Telemetry reads the /vsock/ commands through the DPDK telemetry
socket. frontend() runs vv-frontend and returns its one JSON line.
"""
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time


class Report:
    """ok / not ok lines, and the closing "N passed, N failed" line."""

    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, cond, what, detail=""):
        if cond:
            self.passed += 1
            print("ok - " + what, flush=True)
        else:
            self.failed += 1
            msg = "not ok - " + what
            if detail != "":
                msg += ": " + str(detail)
            print(msg, flush=True)
        return bool(cond)

    def finish(self):
        print("%d passed, %d failed" % (self.passed, self.failed), flush=True)
        return 1 if self.failed else 0


def runtime_dir(prefix):
    """Where EAL keeps its runtime files (same rule as dpdk-telemetry.py)."""
    base = os.environ.get("RUNTIME_DIRECTORY")
    if not base:
        base = "/var/run" if os.getuid() == 0 else os.environ.get("XDG_RUNTIME_DIR", "/tmp")
    return os.path.join(base, "dpdk", prefix)


def wait_for(pred, timeout=10.0, step=0.02):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


def sockets_under(path):
    """Socket files anywhere below path."""
    found = []
    for root, _dirs, files in os.walk(path):
        for f in files:
            p = os.path.join(root, f)
            try:
                if stat.S_ISSOCK(os.lstat(p).st_mode):
                    found.append(p)
            except FileNotFoundError:
                pass
    return found


class Telemetry:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.s.settimeout(10)
        self.s.connect(path)
        info = json.loads(self.s.recv(4096))
        self.max_len = info["max_output_len"]

    def query(self, cmd):
        self.s.send(cmd.encode())
        reply = json.loads(self.s.recv(self.max_len + 1))
        return reply[cmd.split(",")[0]]

    def close(self):
        self.s.close()


class Backend:
    """dpdk-vhost-vsock with VMs given as (cid, extra keys) pairs, on the
    command line (--vm) or, with config=True, in a --config file that
    write_config() rewrites for a reload."""

    def __init__(self, prog, name, vms, extra_args=(), config=False):
        self.prog = prog
        self.tmp = tempfile.mkdtemp(prefix="vv-it-%s-" % name)
        self.prefix = "vv-it-%s-%d" % (name, os.getpid())
        self.vms = {}
        self.config = os.path.join(self.tmp, "vms.yaml") if config else None
        argv = [prog, "--no-pci", "--no-huge", "-m", "256", "--file-prefix", self.prefix,
                "--lcores", "0@0,1@1", "--"]
        if config:
            self.write_config(vms)
            argv += ["--config", self.config]
        for cid, keys in vms:
            self.vms[cid] = self.paths(cid)
            if not config:
                argv += ["--vm", "guest_cid=%d,socket=%s,uds_path=%s%s" % (
                    (cid,) + self.paths(cid) + ("," + keys if keys else "",))]
        self.argv = argv + list(extra_args)
        self.log = open(os.path.join(self.tmp, "backend.log"), "w+")
        self.proc = None
        self.tel = None

    def start(self):
        self.proc = subprocess.Popen(self.argv, stdout=self.log, stderr=subprocess.STDOUT)
        tel_path = self.tel_path = os.path.join(runtime_dir(self.prefix), "dpdk_telemetry.v2")
        paths = [p for pair in self.vms.values() for p in pair]
        up = wait_for(lambda: self.proc.poll() is None and os.path.exists(tel_path)
                      and all(os.path.exists(p) for p in paths), timeout=20)
        if up:
            self.tel = Telemetry(tel_path)
        return bool(up)

    def paths(self, cid):
        """The VM's vhost-user socket and uds_path in the test's directory."""
        return (os.path.join(self.tmp, "vm%d.vhost" % cid),
                os.path.join(self.tmp, "vm%d.vsock" % cid))

    def write_config(self, vms):
        """The --config file for these (cid, "key=val,...") VMs; the VMs the
        test talks to become these (a reload makes it so)."""
        lines = ["vms:"]
        for cid, keys in vms:
            sock, uds = self.paths(cid)
            lines += ["  - guest_cid: %d" % cid, "    socket: %s" % sock,
                      "    uds_path: %s" % uds]
            for kv in filter(None, keys.split(",")):
                k, v = kv.split("=", 1)
                lines.append("    %s: %s" % (k, v))
        self.write_config_text("\n".join(lines) + "\n")
        self.vms = {cid: self.paths(cid) for cid, _ in vms}

    def write_config_text(self, text):
        """Replace the --config file at once (a reload never reads half of it)."""
        tmp = self.config + ".new"
        with open(tmp, "w") as f:
            f.write(text)
        os.rename(tmp, self.config)

    def socket(self, cid):
        return self.vms[cid][0]

    def uds(self, cid):
        return self.vms[cid][1]

    def vm(self, cid):
        return self.tel.query("/vsock/vm,%d" % cid)

    def status(self, field):
        """A /proc/PID/status figure in kB (VmRSS, RssAnon, ...)."""
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        return None

    def n_fds(self):
        return len(os.listdir("/proc/%d/fd" % self.proc.pid))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def fd_count(self):
        return len(os.listdir("/proc/%d/fd" % self.proc.pid))

    def fd_count_settled(self, quiet=0.5, timeout=10.0):
        """The fd count once it stopped moving for `quiet` seconds: the
        teardown of a front-end that just left is asynchronous."""
        end = time.monotonic() + timeout
        n, since = self.fd_count(), time.monotonic()
        while time.monotonic() < end:
            time.sleep(0.05)
            m = self.fd_count()
            if m != n:
                n, since = m, time.monotonic()
            elif time.monotonic() - since >= quiet:
                break
        return n

    def reload(self, timeout=20):
        """SIGHUP; returns the log lines the reload wrote (up to its summary
        or its refusal), or None if none came within timeout."""
        start = len(self.output())
        self.hup_at = time.monotonic()
        self.proc.send_signal(signal.SIGHUP)

        def done():
            text = self.output()[start:]
            if "RELOAD: " in text and (" unchanged, " in text or " refused, " in text):
                return [line for line in text.splitlines() if "RELOAD: " in line]
            return None
        lines = wait_for(done, timeout=timeout)
        self.reloaded_at = time.monotonic()  # the log said so by now
        return lines

    def stop(self, rep):
        """SIGTERM: exit status 0 and every socket file gone."""
        if self.tel is not None:
            self.tel.close()
            self.tel = None
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            rc = None
        rep.check(rc == 0, "backend exits 0 on SIGTERM", rc)
        left = sockets_under(self.tmp) + sockets_under(runtime_dir(self.prefix))
        rep.check(not left, "no socket file left behind", left)

    def output(self):
        """The backend's log so far. Read through a file of our own: the
        backend writes at the offset it shares with self.log, and moving
        that offset while it runs would make it overwrite its own lines."""
        with open(self.log.name, errors="replace") as f:
            return f.read()

    def cleanup(self, rep):
        """Always: kill by PID if still running, show the log on failure."""
        if self.tel is not None:
            self.tel.close()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if rep.failed:
            print("--- backend output (last 60 lines) ---")
            print("\n".join(self.output().splitlines()[-60:]))
        self.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)
        shutil.rmtree(runtime_dir(self.prefix), ignore_errors=True)


def run(rep, be, body):
    """Start be, run body(), check that the backend still runs, stop it
    (stop() checks the SIGTERM exit), clean up whatever happened; returns
    the report's exit status."""
    n = len(be.vms)
    try:
        if rep.check(be.start(), "backend started with %d VM(s)" % n):
            t0 = time.monotonic()
            body()
            rep.check(be.alive(), "backend still running after %.1f s" %
                      (time.monotonic() - t0))
            be.stop(rep)
    finally:
        be.cleanup(rep)
    return rep.finish()


def json_line(out):
    """vv-frontend's result: the last JSON object line of its stdout, or None."""
    j = None
    for line in out.splitlines():
        if line.startswith("{"):
            try:
                j = json.loads(line)
            except ValueError:
                pass
    return j


def run_frontend(p, timeout):
    """Wait for a started vv-frontend (killed by PID past timeout s); (JSON or None, stderr)."""
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
    return json_line(out), err


def frontend(fe, args, timeout=120):
    """Run vv-frontend; returns (parsed JSON line or None, stderr text)."""
    try:
        r = subprocess.run([fe] + args + ["--timeout", str(timeout - 10)], capture_output=True,
                           text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        return None, "vv-frontend did not finish: %s" % e
    for line in r.stdout.splitlines():
        if line.startswith("{"):
            try:
                return json.loads(line), r.stderr
            except ValueError:
                break
    return None, r.stdout + r.stderr


def drops_delta(before, after):
    """Non-zero changes of the drops dict."""
    return {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}
