"""The reference backend of the bench (bench/run --backend reference).

bench/refserver/ (Go, the real Kubernetes streaming code) is built once
per source hash into ~/.cache/podfs/refserver-<hash>/refserver, outside
the repo, with the Go toolchain and the module proxy (the k8s.io modules
named in its go.mod).  RefServer has the part of fixture.Fixture's
interface the bench uses: start(), close(), kubeconfig, state (port,
token, ca.crt, as bench/floor and wsraw.py read them), port, proc.pid,
backend.  It has no request statistics: the listing case is fixture-only.
"""

import hashlib
import os
import shutil
import signal
import subprocess
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(HERE, "refserver")


def binary():
    """-> path of the built server, building it when its sources changed."""
    h = hashlib.sha256()
    for name in sorted(os.listdir(SRC)):
        if name.endswith((".go", ".mod", ".sum")):
            with open(os.path.join(SRC, name), "rb") as f:
                h.update(name.encode() + b"\0" + f.read())
    out = os.path.join(os.path.expanduser("~/.cache/podfs"),
                       "refserver-" + h.hexdigest()[:16], "refserver")
    if not os.path.exists(out):
        go = shutil.which("go") or "/usr/local/go/bin/go"
        os.makedirs(os.path.dirname(out), exist_ok=True)
        subprocess.run([go, "build", "-o", out + ".tmp", "."], cwd=SRC, check=True,
                       env=dict(os.environ, GOFLAGS="-mod=mod"))
        os.rename(out + ".tmp", out)
    return out


class RefServer:
    backend = "reference"

    def __init__(self, cluster):
        self.cluster = cluster
        self.proc = None
        self.state = tempfile.mkdtemp(prefix="podfs-ref-")
        self.kubeconfig = os.path.join(self.state, "kubeconfig")
        self.port = None

    def start(self, timeout=60):
        self.proc = subprocess.Popen([binary(), "-cluster", self.cluster, "-state", self.state],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        line = self.proc.stdout.readline().decode()
        if not line.startswith("ready "):
            self.close()
            raise RuntimeError("refserver did not start: %r" % line)
        self.port = int(line.split()[1].rsplit(":", 1)[1])
        return self

    def stats(self):
        raise RuntimeError("the reference server keeps no request statistics")

    reset_stats = stats

    def close(self):
        if self.proc:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            self.proc.wait()
            self.proc = None
        shutil.rmtree(self.state, ignore_errors=True)
