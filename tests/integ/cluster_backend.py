"""The real-cluster backend of the integration suites (PODFS_BACKEND=cluster).

It has the interface of fixture.Fixture, so a suite written against the
fixture runs unchanged against the cluster that tests/cluster/harness.py
started (its state.json is named by PODFS_CLUSTER_STATE):

* start() the first time attaches: it reads the state, and when the suite
  asked for a cluster file or synthetic pods it creates them with kubectl
  (tests/cluster/workloads.py translates the fixture's schema; synthetic
  pods are bound to a node that does not exist, so they stay Pending like
  the fixture's, without costing a container each) and waits for them;
* stop() and start() afterwards stop and start kube-apiserver itself (by
  its pid, then with the argv the harness used), and proc.pid is the
  apiserver's: a suite that stops, freezes or kills "the server" does that
  to the real one;
* stats() counts podfs's requests (user agent podfs/) in the apiserver's
  audit log by the fixture's categories, so request-count assertions hold
  on the real server too (the components have a user of their own that the
  audit policy leaves out);
* what only the fixture can do (its /_fixture/ control endpoint: knobs,
  injected garbage, its runtime) raises mount.Unsupported with the reason,
  which the suite reports as a skip with that reason.
"""

import json
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.parse

from apiclient import ApiClient
from mount import Unsupported

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "cluster"))
import workloads  # noqa: E402
sys.path.insert(0, os.path.join(ROOT, "tests", "fixture"))
import server as fixture_server  # noqa: E402  (its request categories)

PHANTOM_NODE = "podfs-phantom"
APISERVER = "kube-apiserver"


def state_file():
    p = os.environ.get("PODFS_CLUSTER_STATE")
    if not p or not os.path.exists(p):
        raise RuntimeError("PODFS_BACKEND=cluster needs PODFS_CLUSTER_STATE naming the "
                           "state.json of a running tests/cluster harness (make check-cluster)")
    return p


def _alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


class _Proc:
    """What a suite needs of fixture.proc: the apiserver's pid."""

    def __init__(self, pid):
        self.pid = pid

    def poll(self):
        return None if _alive(self.pid) else 0


class ClusterBackend(ApiClient):
    backend = "cluster"
    kubectl_timeout = 60

    def __init__(self, state=None, port=0, synthetic=(), cluster=None, keep=False):
        self.synthetic = list(synthetic)
        self.cluster = cluster
        self.attached = False
        self.created = []            # namespaces this backend made, deleted at close
        self.proc = None
        self._popens = {}

    # --- lifecycle -----------------------------------------------------------

    def start(self, timeout=300):
        if not self.attached:
            self._attach(timeout)
            return self
        if self.proc is None:
            self._start_apiserver()
        return self

    def _attach(self, timeout):
        self.state_path = state_file()
        with open(self.state_path) as f:
            st = json.load(f)
        self.st = st
        self.state = st["dir"]
        self.port, self.base = st["port"], st["base"]
        self.token, self.limited_token = st["token"], st["limited_token"]
        self.kubeconfig, self.ca = st["kubeconfig"], st["ca"]
        self.kubectl_bin = st["kubectl"]
        self.ssl = ssl.create_default_context(cafile=self.ca)
        self.proc = _Proc(st["pids"][APISERVER])
        self.attached = True
        if self.cluster:
            self._create_cluster_file(self.cluster, timeout)
        for spec in self.synthetic:
            ns, count = spec.split(":")
            self._create_synthetic(ns, int(count))

    def _create_cluster_file(self, path, timeout):
        nss, pods = workloads.fixture_cluster(path)
        have = set(self._names("namespaces"))
        new_ns = [n for n in nss if n["metadata"]["name"] not in have]
        self.created += [n["metadata"]["name"] for n in new_ns]
        existing = {(p["metadata"]["namespace"], p["metadata"]["name"])
                    for p in self._pods_json()}
        new = [p for p in pods
               if (p["metadata"]["namespace"], p["metadata"]["name"]) not in existing]
        if new_ns:
            self.apply(new_ns)
            # The ServiceAccount admission refuses pods until the controller
            # made the namespace's default account (as for any kubectl user
            # applying a namespace and its pods at once).
            self._wait_default_sa([n["metadata"]["name"] for n in new_ns], timeout)
        if new:
            self.apply(new)
        self._wait_running([(p["metadata"]["namespace"], p["metadata"]["name"])
                            for p in new if p["spec"]["containers"][0]["image"]
                            == workloads.IMAGE], timeout)

    def _wait_default_sa(self, namespaces, timeout):
        deadline = time.time() + timeout
        for ns in namespaces:
            while self.kubectl("get", "serviceaccount", "default", "-n", ns).returncode != 0:
                if time.time() > deadline:
                    raise RuntimeError("no default serviceaccount in %s after %ds"
                                       % (ns, timeout))
                time.sleep(0.2)

    def _create_synthetic(self, ns, count):
        """Pods bound to a node without a kubelet: listed, never run.  The
        Node object must exist (the pod garbage collector deletes pods bound
        to a missing node), and the pods tolerate the unreachable taint the
        node lifecycle controller puts on it (or they would be evicted)."""
        if PHANTOM_NODE not in self._names("nodes"):
            self.apply([{"apiVersion": "v1", "kind": "Node",
                         "metadata": {"name": PHANTOM_NODE,
                                      "labels": {"podfs/phantom": "true"}}}])
        have = set(self._names("namespaces"))
        if ns not in have:
            self.apply([{"apiVersion": "v1", "kind": "Namespace",
                         "metadata": {"name": ns, "labels": {"fixture": "synthetic"}}}])
            self._wait_default_sa([ns], 120)
        have = set(self._names("pods", "-n", ns))
        pods = [{"apiVersion": "v1", "kind": "Pod",
                 "metadata": {"name": "pod-%05d" % i, "namespace": ns,
                              "labels": {"app": "synthetic", "shard": str(i % 4)}},
                 "spec": {"nodeName": PHANTOM_NODE,
                          "tolerations": [{"operator": "Exists"}], "containers": [{
                     "name": "app", "image": "registry.example/app:1.0",
                     "imagePullPolicy": "Never", "command": ["sleep", "infinity"]}]}}
                for i in range(count) if "pod-%05d" % i not in have]
        for i in range(0, len(pods), 500):   # kubectl reads one List at a time
            self.apply(pods[i:i + 500], timeout=300)

    def _wait_running(self, keys, timeout):
        deadline = time.time() + timeout
        want = set(keys)
        while want:
            running = {(p["metadata"]["namespace"], p["metadata"]["name"])
                       for p in self._pods_json() if p["status"].get("phase") == "Running"}
            want -= running
            if not want:
                return
            if time.time() > deadline:
                raise RuntimeError("pods not running after %ds: %s" % (timeout, sorted(want)))
            time.sleep(0.5)

    def stop(self, timeout=30):
        """Stop kube-apiserver (SIGTERM, then SIGKILL)."""
        p, self.proc = self.proc, None
        if p is None:
            return None
        if _alive(p.pid):
            os.kill(p.pid, signal.SIGTERM)
            deadline = time.time() + timeout
            while _alive(p.pid) and time.time() < deadline:
                time.sleep(0.05)
            if _alive(p.pid):
                os.kill(p.pid, signal.SIGKILL)
        while _alive(p.pid):
            time.sleep(0.05)
        return 0

    def _spawn(self, name):
        """Start a component again with the argv the harness used."""
        with open(os.path.join(self.state, name + ".log"), "ab") as logf:
            p = subprocess.Popen(self.st["argv"][name], stdout=logf, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, start_new_session=True,
                                 cwd=self.state)
        self._popens[name] = p       # reaped by us; the harness stops it by pid
        self._record_pid(name, p.pid)
        return p

    def _log_tail(self, name, lines=8):
        try:
            with open(os.path.join(self.state, name + ".log"), "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - 8192))
                return b"\n".join(f.read().splitlines()[-lines:]).decode("utf-8", "replace")
        except OSError as e:
            return "(no log: %s)" % e

    def _start_apiserver(self, timeout=120, tries=2):
        p = self._spawn(APISERVER)
        self.proc = _Proc(p.pid)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if p.poll() is not None:
                # Seen once in a loaded check-cluster run and not again:
                # say why (its own last lines) and start it once more, so
                # only a restart that fails twice fails the case.
                why = self._log_tail(APISERVER)
                print("     kube-apiserver exited %d on restart; its log ends:\n%s"
                      % (p.returncode, why))
                if tries > 1:
                    time.sleep(1)
                    return self._start_apiserver(max(1, deadline - time.time()), tries - 1)
                raise RuntimeError("kube-apiserver exited %d on restart" % p.returncode)
            try:
                if self.request("GET", "/readyz", timeout=3)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError("kube-apiserver not ready %ds after restart" % timeout)

    def restart_component(self, name):
        """SIGKILL one component (a crash) and start it again."""
        pid = self.st["pids"][name]
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
        while _alive(pid):
            time.sleep(0.05)
        if name == APISERVER:
            self._start_apiserver()
        else:
            self._spawn(name)

    def wait_node_ready(self, timeout=120):
        deadline = time.time() + timeout
        while time.time() < deadline:
            r = self.kubectl("get", "nodes", "-l", "!podfs/phantom", "-o", "json")
            if r.returncode == 0 and all(
                    any(c["type"] == "Ready" and c["status"] == "True"
                        for c in n["status"].get("conditions", []))
                    for n in json.loads(r.stdout)["items"]):
                return
            time.sleep(0.5)
        raise RuntimeError("node not Ready %ds after a kubelet restart" % timeout)

    def _record_pid(self, name, pid):
        """The harness stops what state.json names, also a restarted component."""
        with open(self.state_path) as f:
            st = json.load(f)
        st["pids"][name] = pid
        tmp = self.state_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(st, f, indent=1)
        os.rename(tmp, self.state_path)
        self.st = st

    def restart(self):
        self.stop()
        return self.start()

    def close(self):
        if self.attached and self.proc is None:
            self._start_apiserver()     # leave the cluster as found
        for ns in self.created:
            # waited for: a next suite may make the same namespace again
            self.kubectl("delete", "namespace", ns, "--wait=true", timeout=180)
        self.created = []

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    # --- kubectl ---------------------------------------------------------------

    def apply(self, objs, timeout=120):
        r = self.kubectl("apply", "-f", "-", input=workloads.as_list(objs).encode(),
                         timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError("kubectl apply: %s" % r.stderr.decode()[-1000:])

    def _names(self, *args):
        r = self.kubectl("get", *args, "-o", "name")
        return [ln.split("/", 1)[1] for ln in r.stdout.decode().split()]

    def _pods_json(self):
        r = self.kubectl("get", "pods", "-A", "-o", "json")
        return json.loads(r.stdout)["items"]

    # --- what only the fixture has --------------------------------------------

    def control(self, endpoint, method="POST", **params):
        raise Unsupported("the fixture's /_fixture/%s (fault injection and counters) has "
                          "no counterpart in a real kube-apiserver" % endpoint)

    def reset_stats(self):
        self._audit_from = os.path.getsize(self.st["audit_log"])
        return {}

    def _audit_events(self):
        with open(self.st["audit_log"], "rb") as f:
            f.seek(getattr(self, "_audit_from", 0))
            lines = f.read().splitlines()
        seen = {}
        for ln in lines:
            try:
                ev = json.loads(ln)
            except ValueError:
                continue            # a line being written
            if ev.get("userAgent", "").startswith("podfs/"):
                seen.setdefault(ev["auditID"], ev)
        return list(seen.values())

    def stats(self):
        """The fixture's stats shape from the audit log.  An event is
        written as its response ends, so poll until the count settles."""
        events, last, deadline = [], -1, time.time() + 3
        while time.time() < deadline:
            events = self._audit_events()
            if len(events) == last:
                break
            last = len(events)
            time.sleep(0.3)
        cats = {}
        for ev in events:
            u = urllib.parse.urlsplit(ev["requestURI"])
            segs = [urllib.parse.unquote(x) for x in u.path.strip("/").split("/")] \
                if u.path != "/" else []
            cat = fixture_server.App.categorize(segs, urllib.parse.parse_qs(u.query))
            cats[cat] = cats.get(cat, 0) + 1
        return {"total": len(events), "by_category": cats,
                "pod_requests": sum(v for k, v in cats.items()
                                    if k in ("pod", "log", "exec", "attach", "portforward",
                                             "proxy"))}

    def set(self, **knobs):
        return self.control("set")

    def drop(self):
        return self.control("drop")

    def restart_pod(self, ns, pod):
        return self.control("restart")

    def garbage(self, what, count=1):
        return self.control("garbage")

    @property
    def rt(self):
        raise Unsupported("the fixture's process runtime; the cluster's runtime is "
                          "containerd behind the kubelet")

    @property
    def knobs(self):
        raise Unsupported("the fixture's knobs")
