"""Benchmark harness: the fixture cluster, a podfs mount, timing and tables.

Every case runs podfs and kubectl (or the raw path) on the same fixture
server in the same run, N times each; a figure is reported as the median
with min and max, and as a ratio to its reference.  Nothing here asserts a
speed: these machines are small and noisy, so the numbers are written to
markdown tables, never turned into pass/fail.

CPU time is taken from the kernel, not estimated: a client process's user
+ system seconds come from wait4() (children included), the podfs daemon's
and the fixture's from /proc/PID/stat before and after a run (all threads).

Standard library only; runs with /usr/bin/python3.
"""

import json
import os
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integ"))

import fixture  # noqa: E402
import refbackend  # noqa: E402
import mount  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
KUBECTL = os.environ.get("KUBECTL", "/usr/bin/kubectl")


# ---- processes --------------------------------------------------------------

def proc_cpu(pid):
    """User + system CPU seconds of every thread of pid so far (0 if gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def proc_status(pid):
    """-> {'rss': bytes, 'hwm': bytes, 'threads': n} from /proc/PID/status."""
    out = {"rss": 0, "hwm": 0, "threads": 0}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                if k == "VmRSS":
                    out["rss"] = int(v.split()[0]) * 1024
                elif k == "VmHWM":
                    out["hwm"] = int(v.split()[0]) * 1024
                elif k == "Threads":
                    out["threads"] = int(v)
    except OSError:
        pass
    return out


class Run:
    """One timed client command: wall seconds, its CPU (wait4), exit status."""

    def __init__(self, wall, cpu, rc, out=b"", err=b""):
        self.wall, self.cpu, self.rc, self.out, self.err = wall, cpu, rc, out, err


def run(cmd, stdin=None, stdout=None, timeout=600, env=None, shell=False):
    """Runs cmd to completion; stdout None captures it.  -> Run.

    The CPU figure is the rusage of the process and its children, so
    `sh -c 'cat f > /dev/null'` counts the cat."""
    cap = stdout is None
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdin=stdin if stdin is not None else subprocess.DEVNULL,
                         stdout=subprocess.PIPE if cap else stdout, stderr=subprocess.PIPE,
                         env=env, shell=shell, start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        raise RuntimeError("timed out after %ss: %s" % (timeout, cmd))
    # Popen has reaped it; its rusage is in RUSAGE_CHILDREN only as a sum,
    # so run it again through wait4 semantics: see run4 for exact figures.
    return Run(time.perf_counter() - t0, None, p.returncode, out or b"", err)


def run4(argv, stdin_path=None, stdout_path="/dev/null", env=None, timeout=900):
    """fork/exec argv with stdin/stdout redirected to files, reap it with
    wait4 and return Run(wall, user+sys of it and its children, rc, b'', stderr)."""
    errr, errw = os.pipe()
    t0 = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        try:
            os.setsid()
            fd = os.open(stdin_path or "/dev/null", os.O_RDONLY)
            os.dup2(fd, 0)
            fd = os.open(stdout_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(fd, 1)
            os.dup2(errw, 2)
            os.closerange(3, 1 << 16)
            os.execvpe(argv[0], argv, env if env is not None else os.environ)
        except BaseException:
            os._exit(127)
    os.close(errw)
    err = bytearray()
    deadline = time.time() + timeout
    while True:
        import select
        r, _, _ = select.select([errr], [], [], 1.0)
        if r:
            b = os.read(errr, 65536)
            if not b:
                break
            if len(err) < 65536:
                err += b
        if time.time() > deadline:
            os.killpg(pid, signal.SIGKILL)
            break
    os.close(errr)
    _, status, ru = os.wait4(pid, 0)
    wall = time.perf_counter() - t0
    return Run(wall, ru.ru_utime + ru.ru_stime, os.waitstatus_to_exitcode(status), b"", bytes(err))


# ---- statistics and tables ---------------------------------------------------

def mmm(xs):
    """-> (median, min, max) of a non-empty list."""
    return statistics.median(xs), min(xs), max(xs)


def fmt(x, digits=None):
    if x is None:
        return "—"
    if isinstance(x, str):
        return x
    if digits is None:
        a = abs(x)
        digits = 0 if a >= 100 else 1 if a >= 10 else 2 if a >= 1 else 3
    return "%.*f" % (digits, x)


def fmt_mmm(xs, digits=None):
    """'median (min–max)' of a list of numbers."""
    if not xs:
        return "—"
    m, lo, hi = mmm(xs)
    if len(xs) == 1:
        return fmt(m, digits)
    return "%s (%s–%s)" % (fmt(m, digits), fmt(lo, digits), fmt(hi, digits))


def ratio(a, b):
    """Ratio of medians, '—' when either is missing."""
    if not a or not b:
        return "—"
    mb = statistics.median(b)
    if mb == 0:
        return "—"
    return "%.2fx" % (statistics.median(a) / mb)


def table(headers, rows):
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    for r in rows:
        out.append("| " + " | ".join(str(c) for c in r) + " |")
    return "\n".join(out) + "\n"


# ---- the environment ----------------------------------------------------------

class Env:
    """The fixture with the bench cluster and a 10,000-pod namespace, podfs
    (the -O2 ./podfs, never the sanitizer build) mounted on it."""

    def __init__(self, big=10000, opts=(), cluster_file=None, reference=False):
        self.big = big
        self.reference = reference   # bench/refserver instead of the fixture
        self.opts = list(opts)
        self.cluster_file = cluster_file or os.path.join(HERE, "cluster.json")
        self.fx = None
        self.m = None

    def start(self):
        os.environ["PODFS_BIN"] = os.environ.get("PODFS_BIN", os.path.join(ROOT, "podfs"))
        syn = ["big:%d" % self.big] if self.big else []
        # PODFS_BACKEND=cluster: the real cluster of tests/cluster instead.
        if self.reference:
            self.fx = refbackend.RefServer(self.cluster_file)
        else:
            self.fx = fixture.Fixture(synthetic=syn, cluster=self.cluster_file)
        self.fx.start(timeout=60)
        self.m = mount.Mount(self.fx, opts=self.opts).start()
        return self

    def remount(self, opts=None):
        """A fresh podfs on the same fixture: empty caches, no sessions."""
        self.m.close()
        self.m = mount.Mount(self.fx, opts=self.opts if opts is None else opts).start()
        return self.m

    def close(self):
        if self.m:
            self.m.close()
            self.m = None
        if self.fx:
            self.fx.close()
            self.fx = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    @property
    def backend(self):
        """fixture, reference or cluster."""
        return getattr(self.fx, "backend", "fixture")

    @property
    def podfs_pid(self):
        return self.m.proc.pid

    @property
    def fixture_pid(self):
        return self.fx.proc.pid

    def p(self, *parts):
        return self.m.p(*parts)

    def kubectl_env(self):
        return dict(os.environ, KUBECONFIG=self.fx.kubeconfig,
                    KUBECACHEDIR=os.path.join(self.fx.state, "kubecache"), HOME=self.fx.state)

    def kubectl_argv(self, *args):
        return [self.kubectl, "--kubeconfig", self.fx.kubeconfig] + list(args)

    @property
    def kubectl(self):
        """The cluster's own kubectl (same release as the server) when there is one."""
        return getattr(self.fx, "st", {}).get("kubectl", KUBECTL)

    def stats(self):
        return self.fx.stats()

    def reset_stats(self):
        self.fx.reset_stats()

    def listen_ports(self):
        """TCP ports the fixture listens on besides the API port (its
        containers' port servers), from /proc/net/tcp and its fds."""
        inodes = set()
        fd_dir = "/proc/%d/fd" % self.fixture_pid
        for fd in os.listdir(fd_dir):
            try:
                t = os.readlink(os.path.join(fd_dir, fd))
            except OSError:
                continue
            if t.startswith("socket:["):
                inodes.add(t[8:-1])
        ports = []
        with open("/proc/net/tcp") as f:
            next(f)
            for line in f:
                x = line.split()
                if x[3] == "0A" and x[9] in inodes:   # LISTEN
                    port = int(x[1].split(":")[1], 16)
                    if port != self.fx.port:
                        ports.append(port)
        return sorted(ports)


class Sampler:
    """Samples a pid's RSS and thread count every `every` seconds in a
    thread; .peak_rss, .peak_threads (VmHWM is also read at the end)."""

    def __init__(self, pid, every=0.05):
        import threading
        self.pid, self.every = pid, every
        self.peak_rss = self.peak_threads = 0
        self.stop_ev = threading.Event()
        self.t = threading.Thread(target=self._loop, daemon=True)

    def _loop(self):
        while not self.stop_ev.is_set():
            s = proc_status(self.pid)
            self.peak_rss = max(self.peak_rss, s["rss"])
            self.peak_threads = max(self.peak_threads, s["threads"])
            self.stop_ev.wait(self.every)

    def __enter__(self):
        self.t.start()
        return self

    def __exit__(self, *exc):
        self.stop_ev.set()
        self.t.join()


def machine():
    """The machine and versions, for docs/benchmarks.md."""
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    def out(cmd):
        try:
            return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  timeout=20).stdout.decode(errors="replace").strip()
        except (OSError, subprocess.TimeoutExpired):
            return "?"
    mem = "?"
    try:
        with open("/proc/meminfo") as f:
            mem = "%.1f GiB" % (int(f.readline().split()[1]) / 1048576)
    except OSError:
        pass
    kv = out([KUBECTL, "version", "--client", "-o", "json"])
    try:
        kv = json.loads(kv)["clientVersion"]["gitVersion"]
    except (ValueError, KeyError):
        kv = kv.splitlines()[0] if kv else "?"
    return [
        ("CPUs (nproc)", str(os.cpu_count())),
        ("CPU model", model),
        ("memory", mem),
        ("kernel", os.uname().release),
        ("kubectl", kv),
        ("python (fixture)", out(["/usr/bin/python3", "--version"])),
        ("libfuse", out(["pkg-config", "--modversion", "fuse3"])),
        ("OpenSSL", out(["openssl", "version"])),
        ("compiler", out(["cc", "--version"]).splitlines()[0] if out(["cc", "--version"]) else "?"),
        ("podfs", out(["git", "-C", ROOT, "describe", "--always", "--dirty"])),
    ]
