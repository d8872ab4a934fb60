#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Keep the operator files true to the program.

- every option of --help, every log type and every telemetry command is in
  doc/configuration.md (options, log types), doc/operations.md (commands)
  and the man page source;
- the built man page renders without warnings;
- the built systemd unit passes systemd-analyze verify;
- the unit's ExecStart, run with config/vms.yaml (paths moved to a temporary
  directory) and RUNTIME_DIRECTORY set as systemd sets it, serves the
  example's VMs: dpdk-telemetry.py finds it where doc/operations.md says,
  /vsock/config matches the YAML file, SIGTERM exits 0.

Usage: test_docs.py SOURCE_DIR BUILD_DIR PROGRAM
"""
import glob
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

TELEMETRY_CLIENT = "/usr/bin/dpdk-telemetry.py"
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vvtest import Report  # noqa: E402

rep = Report()
check = rep.check


def read(path):
    with open(path) as f:
        return f.read()


def check_words(src, prog):
    conf = read(os.path.join(src, "doc/configuration.md"))
    ops = read(os.path.join(src, "doc/operations.md"))
    man = read(os.path.join(src, "doc/dpdk-vhost-vsock.1.rst"))
    # The man page source escapes nothing in option names but may bold them.
    man_plain = man.replace("**", "").replace("\\", "")

    help_text = subprocess.run([prog, "--help"], capture_output=True, text=True,
                               timeout=10).stdout
    options = sorted(set(re.findall(r"(?<![\w-])--[a-z][a-z-]+", help_text)))
    options = [o for o in options if o not in ("--opt", "--lcores", "--no-pci",
                                                "--no-huge", "--file-prefix",
                                                "--log-level")]
    check(len(options) >= 11, "--help lists the options", options)
    for o in options:
        check("`" + o in conf, "configuration.md documents " + o)
        check(o in man_plain, "man page documents " + o)

    logtypes = set()
    for f in glob.glob(os.path.join(src, "lib/*/*.c")) + glob.glob(os.path.join(src, "app/*.c")):
        logtypes.update(re.findall(r"RTE_LOG_REGISTER\(\w+,\s*([\w.]+)", read(f)))
    check(len(logtypes) >= 5, "log types found in the sources", logtypes)
    for t in sorted(logtypes):
        check("`" + t + "`" in conf, "configuration.md lists log type " + t)
        check(t in man_plain, "man page lists log type " + t)

    cmds = set(re.findall(r'"(/vsock/\w+)"', read(os.path.join(src, "lib/telemetry/telemetry.c"))))
    check(len(cmds) == 5, "telemetry commands found in the sources", cmds)
    for c in sorted(cmds):
        check("`" + c in ops, "operations.md documents " + c)
        check(c in man_plain, "man page documents " + c)


def check_man(build):
    page = os.path.join(build, "doc/dpdk-vhost-vsock.1")
    if not check(os.path.exists(page), "man page built"):
        return
    man = shutil.which("man")
    if not man:
        print("# man not installed: rendering not checked")
        return
    r = subprocess.run([man, "--warnings", "-l", page], capture_output=True, text=True,
                       env=dict(os.environ, MANWIDTH="80", MANPAGER="cat", PAGER="cat"),
                       timeout=30)
    check(r.returncode == 0 and "dpdk-vhost-vsock" in r.stdout and not r.stderr.strip(),
          "man page renders without warnings", r.stderr[:500])


def unit_exec_start(build):
    unit = read(os.path.join(build, "config/dpdk-vhost-vsock.service"))
    lines = [line for line in unit.splitlines() if line.startswith("ExecStart=")]
    check(len(lines) == 1, "unit has one ExecStart", lines)
    return unit, shlex.split(lines[0][len("ExecStart="):])


def check_unit(build, prog, tmp):
    unit, _ = unit_exec_start(build)
    check("Type=simple" in unit and "KillSignal=SIGTERM" in unit and
          "Restart=on-failure" in unit, "unit: simple, SIGTERM, restart on failure")
    sa = shutil.which("systemd-analyze")
    if not sa:
        print("# systemd-analyze not installed: unit not verified")
        return
    # verify wants the program where ExecStart says; point it at the build.
    path = os.path.join(tmp, "dpdk-vhost-vsock.service")
    with open(path, "w") as f:
        f.write(re.sub(r"^ExecStart=\S+", "ExecStart=" + os.path.abspath(prog), unit,
                       flags=re.M))
    r = subprocess.run([sa, "verify", "--man=no", path], capture_output=True, text=True,
                       timeout=60)
    check(r.returncode == 0 and not r.stderr.strip(), "systemd-analyze verify accepts the unit",
          r.stderr[:500])


def yaml_vms(text):
    """The example's VMs, read the simple way its layout allows."""
    vms = []
    for line in text.splitlines():
        m = re.match(r"\s*(-\s+)?(\w+):\s*(\S+)\s*$", line)
        if not m or m.group(2) == "vms":
            continue
        if m.group(1):
            vms.append({})
        vms[-1][m.group(2)] = m.group(3)
    return vms


def check_example(src, build, prog, tmp):
    _, argv = unit_exec_start(build)
    text = read(os.path.join(src, "config/vms.yaml"))
    text = text.replace("/run/dpdk-vhost-vsock/", tmp + "/")
    conf = os.path.join(tmp, "vms.yaml")
    with open(conf, "w") as f:
        f.write(text)
    vms = yaml_vms(text)
    check(len(vms) >= 2 and all("socket" in v and "uds_path" in v for v in vms),
          "example vms.yaml has VMs with both paths", vms)

    prefix = "dpdk-vhost-vsock"   # the unit's, kept: RUNTIME_DIRECTORY isolates it
    check(argv[argv.index("--file-prefix") + 1] == prefix, "unit's file prefix", argv)
    argv[0] = prog
    argv[argv.index("--config") + 1] = conf
    if "-l" in argv:            # the unit's CPUs may not exist here: map lcores 0,1
        cpus = sorted(os.sched_getaffinity(0))
        i = argv.index("-l")
        argv[i:i + 2] = ["--lcores", "0@%d,1@%d" % (cpus[0], cpus[-1])]
    rundir = os.path.join(tmp, "run")
    os.mkdir(rundir)
    env = dict(os.environ, RUNTIME_DIRECTORY=rundir)
    log = open(os.path.join(tmp, "log"), "w+")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
    tel = os.path.join(rundir, "dpdk", prefix, "dpdk_telemetry.v2")
    try:
        end = time.monotonic() + 10
        while time.monotonic() < end and proc.poll() is None and not (
                os.path.exists(tel) and all(os.path.exists(v["uds_path"]) for v in vms)):
            time.sleep(0.05)
        if not check(proc.poll() is None and os.path.exists(tel),
                     "unit's command line serves the example vms.yaml",
                     (proc.poll(), argv)):
            log.seek(0)
            print(log.read())
            return
        out = subprocess.run([TELEMETRY_CLIENT, "-f", prefix], input="/vsock/config\n",
                             capture_output=True, text=True, env=env, timeout=30)
        replies = [json.loads(x) for x in out.stdout.splitlines() if x.startswith("{")]
        if check(len(replies) == 1, "dpdk-telemetry.py with RUNTIME_DIRECTORY answers",
                 out.stdout + out.stderr):
            cfg = replies[0]["/vsock/config"]
            check(cfg["n_vms"] == len(vms) and cfg["config_file"] == conf,
                  "/vsock/config: the example's VM count and file", cfg)
            for v in vms:
                got = cfg["vms"].get(v["guest_cid"], {})
                want = {k: (val if k in ("socket", "uds_path") else
                            val.split("+") if k == "groups" else int(val))
                        for k, val in v.items()}
                check(all(got.get(k) == w for k, w in want.items()),
                      "/vsock/config: VM %s as in vms.yaml" % v["guest_cid"], (want, got))
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            rc = None
        check(rc == 0, "exit 0 on SIGTERM (the unit's KillSignal)", rc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()


def main():
    if len(sys.argv) != 4:
        print(__doc__)
        return 2
    src, build, prog = sys.argv[1:]
    tmp = tempfile.mkdtemp(prefix="vv-docs-")
    try:
        check_words(src, prog)
        check_man(build)
        check_unit(build, prog, tmp)
        check_example(src, build, prog, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return rep.finish()


if __name__ == "__main__":
    sys.exit(main())
