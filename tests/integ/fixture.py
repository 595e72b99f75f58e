"""Helpers for tests that need the fixture API server.

Starts tests/fixture/server.py in a temporary state directory, waits for its
"ready" line, talks to it (REST with the admin token, the /_fixture/ control
endpoint, kubectl with the generated kubeconfig), restarts it on the same port
and stops it without leaving processes behind.  Standard library only.

    with Fixture(synthetic=["big:10000"]) as fx:
        fx.kubectl("get", "pods", "-A")
        fx.get("/api/v1/namespaces/demo/pods/web")
        fx.control("restart", ns="demo", pod="crashy")
"""

import json
import os
import select
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
import urllib.parse

from apiclient import ApiClient  # noqa: E402
from mount import BACKEND, Unsupported  # noqa: F401  (suites catch fixture.Unsupported)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SERVER = os.path.join(ROOT, "tests", "fixture", "server.py")
PY = "/usr/bin/python3"
KUBECTL = os.environ.get("KUBECTL", "/usr/bin/kubectl")


def _children(pid):
    """Child pids of pid that lead their own process group (Linux /proc)."""
    out = []
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                out += [int(x) for x in f.read().split()]
    except OSError:
        return []
    return [(k, _started(k)) for k in set(out) if _pgid(k) == k]


def _pgid(pid):
    try:
        return os.getpgid(pid)
    except OSError:
        return None


def _started(pid):
    """Start time of pid (field 22 of /proc/pid/stat): tells a recycled pid apart."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


class Fixture(ApiClient):
    backend = "fixture"
    kubectl_bin = KUBECTL

    def __init__(self, state=None, port=0, synthetic=(), cluster=None, keep=False):
        self.own_state = state is None
        self.state = state or tempfile.mkdtemp(prefix="podfs-fixture-")
        self.port = port
        self.synthetic = list(synthetic)
        self.cluster = cluster
        self.keep = keep
        self.proc = None
        self.kids = set()

    # --- lifecycle -----------------------------------------------------------

    def start(self, timeout=30):
        cmd = [PY, SERVER, "--state", self.state, "--port", str(self.port)]
        if self.cluster:
            cmd += ["--cluster", self.cluster]
        for s in self.synthetic:
            cmd += ["--synthetic", s]
        # Own session: a test that dies still lets stop() kill the whole group.
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     start_new_session=True)
        deadline = time.time() + timeout
        line = b""
        while time.time() < deadline:
            r, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if r:
                line = self.proc.stdout.readline()
                if line.startswith(b"ready "):
                    break
                if not line:
                    break
            if self.proc.poll() is not None:
                break
        if not line.startswith(b"ready "):
            err = self.proc.stderr.read() if self.proc.poll() is not None else b""
            self.stop()
            raise RuntimeError("fixture server did not start: %r %r" % (line, err[-2000:]))
        self.kids = set(_children(self.proc.pid))   # the containers started so far
        self.base = line.split()[1].decode()
        self.port = int(self.base.rsplit(":", 1)[1])
        with open(os.path.join(self.state, "token")) as f:
            self.token = f.read().strip()
        self.kubeconfig = os.path.join(self.state, "kubeconfig")
        self.ca = os.path.join(self.state, "ca.crt")
        self.ssl = ssl.create_default_context(cafile=self.ca)
        return self

    def stop(self, timeout=10):
        p, self.proc = self.proc, None
        if p is None:
            return None
        kids = set(_children(p.pid)) | self.kids
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(p.pid, signal.SIGKILL)   # anything left in its group
        except (ProcessLookupError, PermissionError):
            pass
        p.wait()
        # Containers run in sessions of their own; should the server have died
        # without stopping them, end the groups it had started.
        for k, started in kids:
            if started is None or _started(k) != started:
                continue
            try:
                os.killpg(k, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        for f in (p.stdout, p.stderr):
            f.close()
        return p.returncode

    def restart(self):
        """Stop, then start again on the same port with the same state."""
        self.stop()
        return self.start()

    def close(self):
        self.stop()
        if self.own_state and not self.keep:
            shutil.rmtree(self.state, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    # --- the fixture's control endpoint ---------------------------------------

    def control(self, endpoint, method="POST", **params):
        q = urllib.parse.urlencode(params)
        st, _, body = self.request(method, "/_fixture/%s%s" % (endpoint, "?" + q if q else ""),
                                   auth=False)
        if st != 200:
            raise RuntimeError("control %s: %d %r" % (endpoint, st, body))
        return json.loads(body)

    def stats(self):
        return self.control("stats", method="GET")

    def reset_stats(self):
        return self.control("reset-stats")

    def set(self, **knobs):
        return self.control("set", **knobs)

    def drop(self):
        return self.control("drop")

    def restart_pod(self, ns, pod):
        return self.control("restart", ns=ns, pod=pod)

    def garbage(self, what, count=1):
        return self.control("garbage", what=what, count=count)

def only_fixture(fx, why):
    """A case that needs the fixture: on another backend, skip with why."""
    if fx.backend != "fixture":
        raise Unsupported(why)


# PODFS_BACKEND=cluster: the suites' Fixture is the real cluster of
# tests/cluster (see cluster_backend.py), with the same interface.
if BACKEND == "cluster":
    from cluster_backend import ClusterBackend as Fixture  # noqa: E402,F811
elif BACKEND != "fixture":
    raise SystemExit("PODFS_BACKEND must be fixture or cluster, not %r" % BACKEND)
