#!/usr/bin/python3
"""`make check-cluster`: the integration suites against a real cluster.

Builds (or reuses) the Kubernetes binaries, starts tests/cluster/harness.py
detached in a temporary directory, runs each suite with PODFS_BACKEND=cluster
and PODFS_CLUSTER_STATE pointing at the harness's state.json, stops the
harness (every process by pid, mounts, bridge, cgroups) and prints the tally:
'N passed, N failed' (', N skipped' with the cases that need the fixture).

On a machine that cannot run it (not root, no Go, containerd cannot be
installed) it prints 'check-cluster: skipped: <reason>' and exits 0.
PODFS_CLUSTER_SUITES (a regex) narrows the suites; PODFS_KEEP_CLUSTER=1
keeps the state directory for a post-mortem.

`check.py demo` / `check.py demo-stop` start and end the same cluster with
podfs mounted at ./mnt-cluster for a person (make demo-cluster / demo-stop);
`check.py bench ARGS` runs bench/bench.py ARGS on it (bench/run --backend
cluster).
"""

import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import build  # noqa: E402

PY = "/usr/bin/python3"
# The suites that run on both backends, then the real-cluster-only suite.
SUITES = ["tests/integ/test_tree.py", "tests/integ/test_streams.py",
          "tests/integ/test_exec.py", "tests/integ/test_ports.py",
          "tests/integ/test_faults.py", "tests/cluster/test_cluster.py"]
DEMO_DIR = os.path.join(ROOT, ".demo-cluster")
DEMO_MNT = os.path.join(ROOT, "mnt-cluster")


def skip_reason():
    if os.geteuid() != 0:
        return "needs root (uid %d)" % os.geteuid()
    if not os.path.exists(build.GO):
        return "no Go toolchain at %s" % build.GO
    for tool in ("apt-get", "dpkg-query", "apt-cache"):
        if not shutil.which(tool):
            return "%s not found (containerd and etcd come from Debian)" % tool
    for pkg in ("containerd", "etcd-server"):
        r = subprocess.run(["apt-cache", "show", pkg], capture_output=True)
        if r.returncode != 0 and not shutil.which(pkg.split("-")[0]):
            return "%s neither installed nor installable" % pkg
    return None


class Harness:
    """The harness as a child process: 'ready STATE' or 'unavailable: why'."""

    def __init__(self, d):
        self.dir = d
        self.logpath = os.path.join(d, "harness.log")
        log = open(self.logpath, "ab")
        self.proc = subprocess.Popen([PY, os.path.join(HERE, "harness.py"), "serve",
                                      os.path.join(d, "c")],
                                     stdout=subprocess.PIPE, stderr=log,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()

    def wait_ready(self, timeout=3600):
        deadline = time.time() + timeout
        while time.time() < deadline:
            r, _, _ = select.select([self.proc.stdout], [], [], 1)
            if r:
                line = self.proc.stdout.readline().decode().strip()
                if line.startswith("ready "):
                    return line.split(" ", 1)[1], None
                if line.startswith("unavailable: ") or not line:
                    return None, line or "harness exited %s" % self.proc.poll()
        return None, "harness not ready in %ds" % timeout

    def stop(self, timeout=120):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        return self.proc.returncode

    def tail(self, n=3000):
        with open(self.logpath, "rb") as f:
            return f.read()[-n:].decode("utf-8", "replace")


RESULT = re.compile(r"([0-9]+) passed, ([0-9]+) failed(?:, ([0-9]+) skipped)?")


def run_suites(state):
    env = dict(os.environ, PODFS_BACKEND="cluster", PODFS_CLUSTER_STATE=state)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
    only = os.environ.get("PODFS_CLUSTER_SUITES")
    passed = failed = skipped = 0
    for s in SUITES:
        if only and not re.search(only, s):
            continue
        t0 = time.time()
        r = subprocess.run([PY, os.path.join(ROOT, s)], cwd=ROOT, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out = r.stdout.decode("utf-8", "replace")
        sys.stdout.write(out)
        m = list(RESULT.finditer(out))
        name = os.path.basename(s)[:-3]
        if not m:
            print("%s: no result line (exit %d)" % (name, r.returncode))
            failed += 1
            continue
        p, f, k = int(m[-1].group(1)), int(m[-1].group(2)), int(m[-1].group(3) or 0)
        if r.returncode != 0 and f == 0:
            print("%s: exited %d" % (name, r.returncode))
            f = 1
        passed, failed, skipped = passed + p, failed + f, skipped + k
        print("check-cluster: %s took %.0fs" % (name, time.time() - t0), flush=True)
    return passed, failed, skipped


def check():
    why = skip_reason()
    if why:
        print("check-cluster: skipped: %s" % why)
        return 0
    t0 = time.time()
    try:
        bindir = build.build_k8s()
    except build.BuildError as e:
        print("check-cluster: build failed: %s" % e)
        print("0 passed, 1 failed")
        return 1
    print("check-cluster: binaries in %s (%.0fs)" % (bindir, time.time() - t0), flush=True)
    d = tempfile.mkdtemp(prefix="podfs-check-cluster-")
    h = Harness(d)
    try:
        state, err = h.wait_ready()
        if state is None:
            print("check-cluster: the cluster did not start: %s\n%s" % (err, h.tail()))
            print("0 passed, 1 failed")
            return 1
        with open(state) as f:
            st = json.load(f)
        print("check-cluster: %s up in %ss" % (st["version"], st["start_seconds"]), flush=True)
        t1 = time.time()
        passed, failed, skipped = run_suites(state)
        print("check-cluster: suites took %.0fs" % (time.time() - t1))
    finally:
        rc = h.stop()
        if rc not in (0, None):
            print("check-cluster: harness exited %s:\n%s" % (rc, h.tail()))
        if not os.environ.get("PODFS_KEEP_CLUSTER"):
            shutil.rmtree(d, ignore_errors=True)
    print("check-cluster: total %.0fs" % (time.time() - t0))
    print("%d passed, %d failed%s" % (passed, failed,
                                      ", %d skipped" % skipped if skipped else ""))
    return 1 if failed else 0


def demo():
    why = skip_reason()
    if why:
        print("demo-cluster: cannot run: %s" % why)
        return 1
    if os.path.exists(os.path.join(DEMO_DIR, "harness.pid")):
        print("demo-cluster: already running (make demo-stop)")
        return 1
    os.makedirs(DEMO_DIR, exist_ok=True)
    h = Harness(DEMO_DIR)
    state, err = h.wait_ready()
    if state is None:
        h.stop()
        print("demo-cluster: the cluster did not start: %s" % err)
        return 1
    with open(os.path.join(DEMO_DIR, "harness.pid"), "w") as f:
        f.write("%d\n" % h.proc.pid)
    with open(state) as f:
        st = json.load(f)
    os.makedirs(DEMO_MNT, exist_ok=True)
    r = subprocess.run([os.path.join(ROOT, "podfs"), "--kubeconfig", st["kubeconfig"],
                        DEMO_MNT])
    if r.returncode != 0:
        print("demo-cluster: podfs did not mount; the cluster still runs (make demo-stop)")
        return 1
    print("demo-cluster: %s mounted at %s\n  kubectl: %s --kubeconfig %s\n"
          "  make demo-stop ends it" % (st["version"], DEMO_MNT, st["kubectl"],
                                        st["kubeconfig"]))
    return 0


def demo_stop():
    subprocess.run(["fusermount3", "-u", DEMO_MNT], stderr=subprocess.DEVNULL)
    pidfile = os.path.join(DEMO_DIR, "harness.pid")
    try:
        with open(pidfile) as f:
            pid = int(f.read())
    except (OSError, ValueError):
        return 0            # no cluster demo: `make demo-stop` also ends the fixture's
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            ours = b"harness.py" in f.read()
    except OSError:
        ours = False
    if ours:
        os.kill(pid, signal.SIGTERM)
        while os.path.exists("/proc/%d" % pid):
            time.sleep(0.2)
    os.unlink(pidfile)
    shutil.rmtree(DEMO_DIR, ignore_errors=True)
    try:
        os.rmdir(DEMO_MNT)
    except OSError:
        pass
    print("demo-stop: cluster stopped")
    return 0


def bench():
    """bench/run --backend cluster: the benchmarks with the cluster up."""
    why = skip_reason()
    if why:
        print("bench: cannot run on the cluster: %s" % why)
        return 1
    d = tempfile.mkdtemp(prefix="podfs-bench-cluster-")
    h = Harness(d)
    try:
        state, err = h.wait_ready()
        if state is None:
            print("bench: the cluster did not start: %s\n%s" % (err, h.tail()))
            return 1
        env = dict(os.environ, PODFS_BACKEND="cluster", PODFS_CLUSTER_STATE=state)
        return subprocess.run([PY, os.path.join(ROOT, "bench", "bench.py")] + sys.argv[2:],
                              cwd=ROOT, env=env).returncode
    finally:
        h.stop()
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else "check"
    sys.exit({"check": check, "demo": demo, "demo-stop": demo_stop, "bench": bench}[cmd]())
