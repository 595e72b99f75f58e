#!/usr/bin/python3
"""Runs a real single-node Kubernetes cluster by hand, for tests against it.

etcd (Debian's etcd-server), kube-apiserver, kube-controller-manager,
kube-scheduler and a kubelet built from source at one pinned release
(build.py), on a containerd of their own (tests/cri/harness.py, with its own
socket and state directory, so other containerds on the machine are never
touched).  As root, without systemd:

* all state under one temporary directory: certificates made with openssl
  (tests/fixture/certs.py: CA, serving cert for 127.0.0.1, a system:masters
  client cert, the admin and the read-only token), service-account keys, a
  token file, etcd's data, the kubelet's root, pod logs, CNI state;
* every listener on 127.0.0.1 except the kubelet's, which must not be on
  loopback (the kubelet refuses a loopback node IP): it listens on a bridge
  the harness makes, with an address from the benchmarking range
  198.18.0.0/15 that no network outside this machine uses.  Pods get their
  netns and an address on that bridge from Debian's CNI bridge and host-local
  plugins -- no gateway, no masquerading, no forwarding, so nothing a pod
  does leaves the machine; the service range gets an `unreachable` route for
  the same reason (no kube-proxy runs);
* the kubelet uses the cgroupfs driver under a cgroup root of its own in every
  v1 hierarchy, with swap and cgroup v1 checks relaxed;
* readiness of every component is polled (health endpoints, the node's Ready
  condition, the pods' phases), never slept for;
* stop() ends every process by its pid (kubelet, scheduler, controller
  manager, apiserver, etcd, then containerd with its sandboxes and shims),
  unmounts what is left under the directory, deletes the bridge, the route
  and the cgroups, on every path, including a failed start.

Anything that keeps the cluster from running raises Unavailable with the
reason.  `harness.py start DIR` / `stop DIR` run it detached for
`make demo-cluster` and `make check-cluster`; state.json in DIR tells the
tests where everything is.
"""

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import ssl

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "cri"))
sys.path.insert(0, os.path.join(ROOT, "tests", "fixture"))
import build  # noqa: E402
import certs  # noqa: E402
import workloads  # noqa: E402


def _load_cri_harness():
    """tests/cri/harness.py, under another name than this file's."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        "cri_harness", os.path.join(ROOT, "tests", "cri", "harness.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


cri_harness = _load_cri_harness()
_free_port = cri_harness._free_port

Unavailable = cri_harness.Unavailable
PACKAGES = ["etcd-server", "containernetworking-plugins", "openssl", "iproute2"]
CNI_PLUGINS = "/usr/lib/cni"
NODE = "podfs-node"
ADMIN = "fixture-admin"
LIMITED = "fixture-limited"
COMPONENTS = "podfs-components"


def _ip(*args, check=True):
    r = subprocess.run(["ip"] + list(args), capture_output=True, text=True)
    if check and r.returncode != 0:
        raise Unavailable("ip %s: %s" % (" ".join(args), r.stderr.strip()))
    return r


def _pick_subnets():
    """Two unused /24s of 198.18.0.0/15: pods (and the node) and services."""
    used = _ip("-4", "route", "show", "table", "all").stdout
    for _ in range(50):
        n = random.randrange(1, 250)
        pod, svc = "198.18.%d" % n, "198.19.%d" % n
        if pod + "." not in used and svc + "." not in used:
            return pod, svc
    raise Unavailable("no free /24 in 198.18.0.0/15")


class Cluster:
    """One cluster with everything under self.dir; stop() undoes all of it."""

    def __init__(self, log=None, dir=None):
        self.log = log or (lambda *a: None)
        self.dir = dir
        self.procs = {}          # name -> Popen, in start order
        self.ctd = None
        self.bridge = None
        self.svc_route = None
        self.cgroups = []

    # --- start ---------------------------------------------------------------

    def start(self, timeout=180):
        try:
            self._start(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self, timeout):
        if os.geteuid() != 0:
            raise Unavailable("needs root (running as uid %d)" % os.geteuid())
        if not os.path.exists(build.GO):
            raise Unavailable("no Go toolchain at %s" % build.GO)
        self._packages()
        t0 = time.time()
        try:
            self.bin = build.build_k8s(log=self.log)
        except build.BuildError as e:
            raise Unavailable("building Kubernetes failed: %s" % e) from None
        self.build_seconds = time.time() - t0
        self.etcd_bin = build.debian_etcd() or build.build_etcd(log=self.log)
        if self.dir is None:
            self.dir = tempfile.mkdtemp(prefix="podfs-cluster-")
        else:
            os.makedirs(self.dir, exist_ok=True)
        self._network()
        self._pki()
        t1 = time.time()
        self._etcd()
        self._apiserver()
        self._bootstrap()
        self._controllers()
        self._containerd()
        self._kubelet()
        self._workloads(timeout)
        self.start_seconds = time.time() - t1
        self._write_state()
        self.log("cluster: up in %.0fs (build %.0fs) in %s" % (self.start_seconds,
                                                                self.build_seconds, self.dir))

    def _packages(self):
        cri_harness.ensure_packages(self.log, PACKAGES)

    def p(self, *parts):
        return os.path.join(self.dir, *parts)

    def _network(self):
        pod, svc = _pick_subnets()
        self.node_ip = pod + ".1"
        self.pod_cidr = pod + ".0/24"
        self.svc_cidr = svc + ".0/24"
        name = "pfs%d" % (os.getpid() % 100000)
        _ip("link", "add", name, "type", "bridge")
        self.bridge = name
        _ip("addr", "add", self.node_ip + "/24", "dev", name)
        _ip("link", "set", name, "up")
        _ip("route", "add", "unreachable", self.svc_cidr)
        self.svc_route = self.svc_cidr

    def _pki(self):
        pki = self.p("pki")
        self.crt = certs.ensure(pki)
        self.tokens = self.crt["tokens"]
        self.sa_key, self.sa_pub = self.p("pki", "sa.key"), self.p("pki", "sa.pub")
        for args in (["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                      "-out", self.sa_key],
                     ["pkey", "-in", self.sa_key, "-pubout", "-out", self.sa_pub]):
            r = subprocess.run(["openssl"] + args, capture_output=True, text=True)
            if r.returncode != 0:
                raise Unavailable("openssl %s: %s" % (args[0], r.stderr.strip()))
        self.token_file = self.p("pki", "tokens.csv")
        # The components get a user of their own, so that the audit log
        # (the suites' request counters) holds only what the tests' clients do.
        self.components_token = "components." + os.urandom(16).hex()
        with open(self.token_file, "w") as f:
            f.write('%s,%s,uid-admin,"system:masters"\n' % (self.tokens["admin"], ADMIN))
            f.write('%s,%s,uid-limited\n' % (self.tokens["limited"], LIMITED))
            f.write('%s,%s,uid-components,"system:masters"\n' % (self.components_token,
                                                                  COMPONENTS))
        os.chmod(self.token_file, 0o600)
        self.audit_policy = self.p("pki", "audit-policy.json")
        with open(self.audit_policy, "w") as f:
            json.dump({"apiVersion": "audit.k8s.io/v1", "kind": "Policy",
                       "omitStages": ["RequestReceived"],
                       "rules": [{"level": "Metadata",
                                  "users": [ADMIN, LIMITED, "fixture-cert-user"]},
                                 {"level": "None"}]}, f)

    # --- processes -------------------------------------------------------------

    def _spawn(self, name, argv):
        logf = open(self.p(name + ".log"), "ab")
        p = subprocess.Popen(argv, stdout=logf, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, start_new_session=True,
                             cwd=self.dir)
        logf.close()
        self.procs[name] = p
        self.argv = getattr(self, "argv", {})
        self.argv[name] = argv
        self.log("cluster: %s pid %d" % (name, p.pid))
        return p

    def log_tail(self, name, n=2000):
        try:
            with open(self.p(name + ".log"), "rb") as f:
                f.seek(0, 2)
                f.seek(max(0, f.tell() - n))
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def _wait(self, name, ready, timeout, what):
        """Poll ready() until true; fail early when the process died."""
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            p = self.procs.get(name)
            if p is not None and p.poll() is not None:
                raise Unavailable("%s exited %d: %s" % (name, p.returncode,
                                                        self.log_tail(name)))
            try:
                if ready():
                    return
            except Exception as e:   # not up yet
                last = e
            time.sleep(0.2)
        raise Unavailable("%s not %s in %ds (%s): %s" % (name, what, timeout, last,
                                                         self.log_tail(name)))

    def stop_proc(self, name, timeout=15):
        p = self.procs.pop(name, None)
        if p is None or p.poll() is not None:
            return
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)

    def restart_proc(self, name):
        """Kill one component (SIGKILL: a crash, not a shutdown) and start it
        again with the same arguments; waits until it serves again."""
        p = self.procs.pop(name)
        p.kill()
        p.wait(10)
        self._spawn(name, self.argv[name])
        if name == "kube-apiserver":
            self._wait(name, lambda: self._api_ok("/readyz"), 90, "ready")

    def kill_proc(self, name):
        p = self.procs.pop(name)
        p.kill()
        p.wait(10)
        return p.pid

    def _etcd(self):
        self.etcd_port, peer = _free_port(), _free_port()
        url = "http://127.0.0.1:%d" % self.etcd_port
        self.etcd_url = url
        self._spawn("etcd", [
            self.etcd_bin, "--name", "podfs", "--data-dir", self.p("etcd"),
            "--listen-client-urls", url, "--advertise-client-urls", url,
            "--listen-peer-urls", "http://127.0.0.1:%d" % peer,
            "--initial-advertise-peer-urls", "http://127.0.0.1:%d" % peer,
            "--initial-cluster", "podfs=http://127.0.0.1:%d" % peer,
            "--listen-metrics-urls", "http://127.0.0.1:%d" % _free_port(),
            "--log-level", "warn"])
        self._wait("etcd", lambda: b'"true"' in urllib.request.urlopen(
            url + "/health", timeout=2).read(), 30, "healthy")

    def _apiserver(self):
        self.port = _free_port()
        self.base = "https://127.0.0.1:%d" % self.port
        self.ssl = ssl.create_default_context(cafile=self.crt["ca"])
        self._spawn("kube-apiserver", [
            os.path.join(self.bin, "kube-apiserver"),
            "--etcd-servers", self.etcd_url,
            "--bind-address", "127.0.0.1", "--secure-port", str(self.port),
            "--advertise-address", self.node_ip,
            "--tls-cert-file", self.crt["server_crt"],
            "--tls-private-key-file", self.crt["server_key"],
            "--client-ca-file", self.crt["ca"],
            "--token-auth-file", self.token_file,
            "--authorization-mode", "RBAC",
            "--service-account-issuer", "https://kubernetes.default.svc",
            "--service-account-key-file", self.sa_pub,
            "--service-account-signing-key-file", self.sa_key,
            "--service-cluster-ip-range", self.svc_cidr,
            "--kubelet-preferred-address-types", "InternalIP",
            "--allow-privileged=true", "--profiling=false",
            "--cert-dir", self.p("pki", "apiserver"),
            "--audit-policy-file", self.audit_policy,
            "--audit-log-path", self.p("audit.log"), "--audit-log-format", "json",
            "--audit-log-mode", "blocking", "--audit-log-maxsize", "0",
            "--v", "1"])
        self._wait("kube-apiserver", lambda: self._api_ok("/readyz"), 90, "ready")

    def _api_ok(self, path):
        req = urllib.request.Request(self.base + path, headers={
            "Authorization": "Bearer " + self.tokens["admin"]})
        return urllib.request.urlopen(req, context=self.ssl, timeout=3).status == 200

    def _bootstrap(self):
        self.kubeconfig = self.p("kubeconfig")
        write_kubeconfig(self.kubeconfig, self.base, self.crt)
        self.admin_kubeconfig = self.p("admin.kubeconfig")
        write_kubeconfig(self.admin_kubeconfig, self.base, self.crt, namespace="default")
        self.components_kubeconfig = self.p("components.kubeconfig")
        write_kubeconfig(self.components_kubeconfig, self.base, self.crt, namespace="default",
                         token=self.components_token)
        nss, self.pods = workloads.fixture_cluster()
        objs = [n for n in nss if n["metadata"]["name"] not in ("default", "kube-system")]
        self.apply(objs + workloads.rbac(LIMITED))

    def _controllers(self):
        self._spawn("kube-controller-manager", [
            os.path.join(self.bin, "kube-controller-manager"),
            "--kubeconfig", self.components_kubeconfig,
            "--bind-address", "127.0.0.1", "--secure-port", str(_free_port()),
            "--leader-elect=false",
            "--service-account-private-key-file", self.sa_key,
            "--root-ca-file", self.crt["ca"],
            "--use-service-account-credentials=false",
            "--controllers", "*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller",
            "--v", "1"])
        self._spawn("kube-scheduler", [
            os.path.join(self.bin, "kube-scheduler"),
            "--kubeconfig", self.components_kubeconfig,
            "--bind-address", "127.0.0.1", "--secure-port", str(_free_port()),
            "--leader-elect=false", "--v", "1"])

    def _bridge_cni(self, cni_bin, cni_conf):
        for plugin in ("bridge", "host-local", "loopback"):
            src = os.path.join(CNI_PLUGINS, plugin)
            if not os.path.exists(src):
                raise Unavailable("%s missing (containernetworking-plugins)" % src)
            os.symlink(src, os.path.join(cni_bin, plugin))
        conf = {"cniVersion": "0.4.0", "name": "podfs", "plugins": [{
            "type": "bridge", "bridge": self.bridge, "isGateway": False,
            "ipMasq": False, "hairpinMode": False,
            "ipam": {"type": "host-local", "dataDir": self.p("cni-ipam"),
                     "ranges": [[{"subnet": self.pod_cidr,
                                  "rangeStart": self.node_ip.rsplit(".", 1)[0] + ".10"}]]}}]}
        with open(os.path.join(cni_conf, "10-podfs.conflist"), "w") as f:
            json.dump(conf, f)

    def _containerd(self):
        self.ctd = cri_harness.Containerd(log=self.log, cni=self._bridge_cni,
                                          image_files=workloads.www_files(), parent=self.dir)
        self.ctd.start()

    def _cgroup_root(self):
        """A cgroup of our own in every v1 hierarchy, the kubelet's cgroupRoot."""
        name = "podfs-%s" % os.path.basename(self.dir)
        with open("/proc/self/mountinfo") as f:
            for ln in f:
                parts = ln.split()
                fstype = parts[parts.index("-") + 1]
                if fstype == "cgroup":
                    d = os.path.join(parts[4], name)
                    os.makedirs(d, exist_ok=True)
                    self.cgroups.append(d)
        return "/" + name

    # Paths the kubelet uses whatever its root dir: the device-plugin socket
    # and the log links.  Those it makes are removed at stop.
    KUBELET_FIXED = ["/var/lib/kubelet/device-plugins", "/var/lib/kubelet",
                     "/var/log/containers"]

    def _kubelet(self):
        self.made_dirs = [d for d in self.KUBELET_FIXED if not os.path.exists(d)]
        self.kubelet_port = _free_port()
        cfg = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
            "address": self.node_ip, "port": self.kubelet_port, "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1", "healthzPort": _free_port(),
            "containerRuntimeEndpoint": "unix://" + self.ctd.sock,
            "cgroupDriver": "cgroupfs", "cgroupRoot": self._cgroup_root(),
            "failSwapOn": False, "failCgroupV1": False,
            "podLogsDir": self.p("pod-logs"),
            "authentication": {"anonymous": {"enabled": True},
                               "webhook": {"enabled": False}},
            "authorization": {"mode": "AlwaysAllow"},
            "evictionHard": {"memory.available": "50Mi", "nodefs.available": "1%",
                             "imagefs.available": "1%", "nodefs.inodesFree": "1%"},
            "imageGCHighThresholdPercent": 100, "imageGCLowThresholdPercent": 99,
            "resolvConf": "/etc/resolv.conf",
            "makeIPTablesUtilChains": False,
            "serializeImagePulls": False,
            "nodeStatusUpdateFrequency": "2s",
            "syncFrequency": "10s", "fileCheckFrequency": "10s",
        }
        path = self.p("kubelet.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        self._spawn("kubelet", [
            os.path.join(self.bin, "kubelet"), "--config", path,
            "--kubeconfig", self.components_kubeconfig,
            "--root-dir", self.p("kubelet"), "--cert-dir", self.p("kubelet", "pki"),
            "--node-ip", self.node_ip, "--hostname-override", NODE, "--v", "1"])
        self._wait("kubelet", self._node_ready, 120, "Ready")

    def _node_ready(self):
        r = self.kubectl("get", "node", NODE, "-o", "json")
        if r.returncode != 0:
            return False
        conds = json.loads(r.stdout)["status"].get("conditions", [])
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conds)

    def _workloads(self, timeout):
        self.apply(self.pods + workloads.extras())
        self.wait_pods(timeout)

    def wait_pods(self, timeout=120):
        """Until every pod that can run does (the crashing one has restarted
        once, the never-pulled one waits), and the Service has endpoints."""
        def ready():
            r = self.kubectl("get", "pods", "-A", "-o", "json")
            pods = json.loads(r.stdout)["items"]
            self.not_ready = []
            for p in pods:
                name = p["metadata"]["name"]
                sts = p["status"].get("containerStatuses", [])
                if name == "pending":
                    ok = any("waiting" in s.get("state", {}) for s in sts)
                elif name == "crashy":
                    ok = any(s.get("restartCount", 0) >= 1 for s in sts)
                else:
                    ok = p["status"].get("phase") == "Running" and sts and all(
                        s.get("ready") for s in sts)
                if not ok:
                    self.not_ready.append(name)
            eps = self.kubectl("get", "endpointslices", "-n", "default", "-l",
                               "kubernetes.io/service-name=hello-svc", "-o", "json")
            n = sum(len(s.get("endpoints") or []) for s in json.loads(eps.stdout)["items"])
            if n < 2:
                self.not_ready.append("hello-svc endpoints")
            return len(pods) >= len(self.pods) + 2 and not self.not_ready
        self._wait("kubelet", ready, timeout, "running the workloads (%s)"
                   % getattr(self, "not_ready", "?"))

    # --- clients ---------------------------------------------------------------

    def kubectl(self, *args, input=None, timeout=60, kubeconfig=None):
        env = dict(os.environ, KUBECACHEDIR=self.p("kubecache"), HOME=self.dir)
        return subprocess.run([os.path.join(self.bin, "kubectl"), "--kubeconfig",
                               kubeconfig or self.admin_kubeconfig] + list(args),
                              input=input, capture_output=True, timeout=timeout, env=env)

    def apply(self, objs):
        r = self.kubectl("apply", "-f", "-", input=workloads.as_list(objs).encode())
        if r.returncode != 0:
            raise Unavailable("kubectl apply: %s" % r.stderr.decode()[-1000:])

    def _write_state(self):
        st = {"dir": self.dir, "base": self.base, "port": self.port,
              "kubeconfig": self.kubeconfig, "admin_kubeconfig": self.admin_kubeconfig,
              "ca": self.crt["ca"], "token": self.tokens["admin"],
              "audit_log": self.p("audit.log"),
              "limited_token": self.tokens["limited"], "bin": self.bin,
              "kubectl": os.path.join(self.bin, "kubectl"), "etcd": self.etcd_url,
              "etcd_bin": self.etcd_bin, "node_ip": self.node_ip,
              "containerd_sock": self.ctd.sock, "version": build.K8S_VERSION,
              "pids": {n: p.pid for n, p in self.procs.items()},
              "argv": self.argv, "build_seconds": round(self.build_seconds),
              "start_seconds": round(self.start_seconds)}
        with open(self.p("state.json"), "w") as f:
            json.dump(st, f, indent=1)

    # --- stop ------------------------------------------------------------------

    def stop(self):
        """Idempotent and safe on every path."""
        self._stop_restarted()
        for name in ("kubelet", "kube-scheduler", "kube-controller-manager",
                     "kube-apiserver", "etcd"):
            try:
                self.stop_proc(name)
            except Exception as e:
                self.log("cluster: stopping %s: %s" % (name, e))
        if self.ctd is not None:
            try:
                if self.ctd.client is not None:
                    self.ctd.sandboxes = self.ctd.client.list_sandboxes()
            except Exception as e:
                self.log("cluster: listing sandboxes: %s" % e)
            self.ctd.stop()
            self.ctd = None
        for d in sorted(self.cgroups, reverse=True):
            _rmdir_tree(d)
        self.cgroups = []
        if self.svc_route:
            _ip("route", "del", "unreachable", self.svc_route, check=False)
            self.svc_route = None
        if self.bridge:
            _ip("link", "del", self.bridge, check=False)
            self.bridge = None
        if self.dir and os.path.isdir(self.dir):
            _unmount_under(self.dir)
            _unlink_log_links(self.dir)
        for d in getattr(self, "made_dirs", []):    # deepest first, as listed
            if d.endswith("device-plugins"):
                for n in ("kubelet.sock", "kubelet_internal_checkpoint"):
                    try:
                        os.unlink(os.path.join(d, n))
                    except OSError:
                        pass
            try:
                os.rmdir(d)
            except OSError:
                pass
        self.made_dirs = []
        if self.dir and os.path.isdir(self.dir):
            if not os.environ.get("PODFS_KEEP_CLUSTER"):
                shutil.rmtree(self.dir, ignore_errors=True)

    def _stop_restarted(self):
        """A suite may have restarted a component (tests/integ/cluster_backend.py):
        state.json then names a pid that is not our child.  Stop it by that pid,
        once /proc confirms it still runs with our directory in its arguments."""
        try:
            with open(self.p("state.json")) as f:
                pids = json.load(f)["pids"]
        except (OSError, ValueError, KeyError, TypeError):
            return
        for name, pid in pids.items():
            mine = self.procs.get(name)
            if mine is not None and mine.pid == pid:
                continue
            try:
                with open("/proc/%d/cmdline" % pid, "rb") as f:
                    if (self.dir + "/").encode() not in f.read():
                        continue
                os.kill(pid, signal.SIGTERM)
            except OSError:
                continue
            deadline = time.time() + 15
            while os.path.exists("/proc/%d/cmdline" % pid) and time.time() < deadline:
                time.sleep(0.1)
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def _rmdir_tree(d):
    """Remove a cgroup directory tree bottom-up (cgroupfs only allows rmdir)."""
    for base, dirs, _ in os.walk(d, topdown=False):
        for x in dirs:
            try:
                os.rmdir(os.path.join(base, x))
            except OSError:
                pass
    try:
        os.rmdir(d)
    except OSError:
        pass


def _unmount_under(d):
    for _ in range(3):
        with open("/proc/self/mountinfo") as f:
            mounts = [ln.split()[4] for ln in f]
        mine = [m for m in mounts if m == d or m.startswith(d + "/")]
        if not mine:
            return
        for mp in sorted(mine, key=len, reverse=True):
            subprocess.run(["umount", "-l", mp], capture_output=True)


def _unlink_log_links(d):
    """The kubelet links each container's log into /var/log/containers."""
    base = "/var/log/containers"
    try:
        names = os.listdir(base)
    except OSError:
        return
    for n in names:
        p = os.path.join(base, n)
        try:
            if os.readlink(p).startswith(d + "/"):
                os.unlink(p)
        except OSError:
            pass


def write_kubeconfig(path, server, crt, namespace="demo", token=None):
    """The same users and contexts as the fixture's kubeconfig, so a suite
    picks a context by name whichever backend it runs on (token replaces the
    admin's: the components' kubeconfig)."""
    import base64

    def b64(p):
        with open(p, "rb") as f:
            return base64.b64encode(f.read()).decode()
    toks = crt["tokens"]
    users = [("fixture-admin", {"token": token or toks["admin"]}),
             ("fixture-cert-user", {"client-certificate-data": b64(crt["client_crt"]),
                                    "client-key-data": b64(crt["client_key"])}),
             ("fixture-anon", {}),
             ("fixture-limited", {"token": toks["limited"]})]
    ctx = {"fixture": "fixture-admin", "fixture-cert": "fixture-cert-user",
           "fixture-anon": "fixture-anon", "fixture-limited": "fixture-limited"}
    cfg = {"apiVersion": "v1", "kind": "Config", "preferences": {},
           "current-context": "fixture",
           "clusters": [{"name": "fixture", "cluster": {
               "server": server, "certificate-authority-data": b64(crt["ca"])}}],
           "users": [{"name": n, "user": u} for n, u in users],
           "contexts": [{"name": c, "context": {"cluster": "fixture", "user": u,
                                                "namespace": namespace}}
                        for c, u in ctx.items()]}
    certs._atomic(path, json.dumps(cfg, indent=1) + "\n", 0o600)


# --- detached use: make demo-cluster / check-cluster ----------------------------

def _serve(d):
    """Start the cluster in d and keep it until SIGTERM; prints 'ready' or
    'unavailable: reason' on stdout for the parent."""
    c = Cluster(log=lambda m: print(m, file=sys.stderr, flush=True), dir=d)
    # A stop request during start-up is noted and honoured once up; the
    # signals are blocked only after the children are started (a mask is
    # inherited across exec, a handler is not).
    stop = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *a: stop.append(1))
    try:
        c.start()
    except Unavailable as e:
        print("unavailable: %s" % e, flush=True)
        return 2
    except BaseException as e:
        print("unavailable: %s: %s" % (type(e).__name__, e), flush=True)
        c.stop()
        return 1
    print("ready %s" % c.p("state.json"), flush=True)
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGTERM, signal.SIGINT])
    try:
        if not stop:
            signal.sigwait([signal.SIGTERM, signal.SIGINT])
    finally:
        c.stop()
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "serve":
        sys.exit(_serve(sys.argv[2]))
    print("usage: harness.py serve DIR", file=sys.stderr)
    sys.exit(2)
