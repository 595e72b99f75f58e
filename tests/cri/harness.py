"""Runs containerd's CRI server by hand, for tests against real streaming code.

containerd 1.6 (Debian 12) with its CRI plugin serves exec, attach and
portforward over WebSocket with the kubelet's own streaming package: the
server a real API server passes every non-v5 request through to.  This
harness:

* installs containerd, runc, busybox-static and python3-grpcio with apt-get
  when one is missing;
* writes a containerd config with root, state, sockets, runc root, CNI
  directories and logs all under one temporary directory, streaming server on
  127.0.0.1, snapshotter overlayfs (native when an overlay mount fails);
* gives the CRI plugin a tiny CNI plugin of its own (a shell script): it only
  brings `lo` up in the netns containerd made, so a pod network is
  loopback-only -- no bridge, no routes, nothing outside the machine;
* imports an image built from /bin/busybox (image.py) with `ctr images
  import`, which also serves as the sandbox image;
* creates the pods through the CRI gRPC API (cri.py);
* stops everything it started -- sandboxes, containerd, shims left behind
  (by pid, only those whose command line names this directory) -- and
  unmounts whatever is still mounted under the directory, on every path.

Anything that prevents the real server from running raises Unavailable with
the reason; the test then reports itself skipped.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import cri  # noqa: E402
import image  # noqa: E402

PACKAGES = ["containerd", "runc", "busybox-static", "python3-grpcio"]
IMAGE = "docker.io/podfs/busybox:1"
PAUSE = "docker.io/podfs/pause:1"


class Unavailable(Exception):
    """containerd cannot run here; the message says why."""


def _installed(pkg):
    r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", pkg], capture_output=True,
                       text=True)
    return r.returncode == 0 and "ok installed" in r.stdout


def ensure_packages(log=print, packages=()):
    missing = [p for p in PACKAGES + list(packages) if not _installed(p)]
    if not missing:
        return
    if os.geteuid() != 0:
        raise Unavailable("needs root to install %s" % " ".join(missing))
    log("cri: installing %s" % " ".join(missing))
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "-q", "--no-install-recommends"] + missing
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], capture_output=True, env=env)
        r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise Unavailable("apt-get install %s failed: %s" % (" ".join(missing),
                                                             r.stderr.strip()[-300:]))
    # A package's postinst may start containerd as a service where an init
    # system exists; ours runs on its own sockets, so that does not matter.


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _overlay_works(d):
    """Can this machine mount overlayfs under d (the overlayfs snapshotter)?"""
    base = tempfile.mkdtemp(prefix="ovl-", dir=d)
    dirs = [os.path.join(base, x) for x in ("lower", "upper", "work", "merged")]
    for x in dirs:
        os.mkdir(x)
    opts = "lowerdir=%s,upperdir=%s,workdir=%s" % tuple(dirs[:3])
    r = subprocess.run(["mount", "-t", "overlay", "overlay", "-o", opts, dirs[3]],
                       capture_output=True)
    ok = r.returncode == 0
    if ok:
        subprocess.run(["umount", dirs[3]], capture_output=True)
    shutil.rmtree(base, ignore_errors=True)
    return ok


CNI_PLUGIN = r"""#!/bin/sh
# A CNI plugin for the podfs tests: brings lo up in the pod's network
# namespace and reports 127.0.0.1, so a pod network is loopback-only.
conf=$(cat)
ver=$(printf '%s' "$conf" | sed -n 's/.*"cniVersion" *: *"\([^"]*\)".*/\1/p' | head -n 1)
[ -n "$ver" ] || ver=0.4.0
case "$CNI_COMMAND" in
ADD)
	nsenter --net="$CNI_NETNS" ip link set lo up || exit 1
	printf '{"cniVersion":"%s","interfaces":[{"name":"%s","sandbox":"%s"}],' \
		"$ver" "$CNI_IFNAME" "$CNI_NETNS"
	printf '"ips":[{"version":"4","address":"127.0.0.1/8","interface":0}],"dns":{}}\n'
	;;
VERSION)
	printf '{"cniVersion":"%s","supportedVersions":["0.3.0","0.3.1","0.4.0"]}\n' "$ver"
	;;
*)	;;
esac
exit 0
"""


def _loopback_cni(cni_bin, cni_conf):
    plugin = os.path.join(cni_bin, "podfs-lo")
    with open(plugin, "w") as f:
        f.write(CNI_PLUGIN)
    os.chmod(plugin, 0o755)
    os.symlink("podfs-lo", os.path.join(cni_bin, "loopback"))
    with open(os.path.join(cni_conf, "10-podfs.conflist"), "w") as f:
        json.dump({"cniVersion": "0.4.0", "name": "podfs-lo",
                   "plugins": [{"type": "podfs-lo"}]}, f)


class Containerd:
    """One containerd with everything under self.dir; stop() undoes all of it."""

    def __init__(self, log=None, cni=None, image_files=None, parent=None):
        """cni(bin_dir, conf_dir) writes the CNI setup (default: the loopback-only
        plugin above); image_files {path: bytes} go into the test image too;
        parent is where the state directory is made (default: $TMPDIR)."""
        self.parent = parent
        self.log = log or (lambda *a: None)
        self.cni = cni or _loopback_cni
        self.image_files = image_files or {}
        self.dir = None
        self.proc = None
        self.client = None
        self.sandboxes = []
        self.stream_port = None

    # --- start ---------------------------------------------------------------

    def start(self, timeout=30):
        try:
            self._start(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self, timeout):
        if os.geteuid() != 0:
            raise Unavailable("containerd needs root (running as uid %d)" % os.geteuid())
        ensure_packages(self.log)
        for b in ("containerd", "containerd-shim-runc-v2", "runc", "ctr", "nsenter", "ip"):
            if not shutil.which(b, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin"):
                raise Unavailable("%s not found" % b)
        if not os.path.exists(image.BUSYBOX):
            raise Unavailable("%s missing (busybox-static)" % image.BUSYBOX)
        # The shims put their sockets in /run/containerd/s whatever the config
        # says; remember whether that existed, to leave the machine as found.
        self.made_run = not os.path.exists("/run/containerd")
        self.dir = tempfile.mkdtemp(prefix="podfs-cri-", dir=self.parent)
        d = self.dir
        self.sock = os.path.join(d, "containerd.sock")
        cni_bin, cni_conf = os.path.join(d, "cni", "bin"), os.path.join(d, "cni", "conf")
        os.makedirs(cni_bin)
        os.makedirs(cni_conf)
        self.cni(cni_bin, cni_conf)
        self.snapshotter = "overlayfs" if _overlay_works(d) else "native"
        self.stream_port = _free_port()
        cfg = CONFIG % {"d": d, "sock": self.sock, "port": self.stream_port,
                        "snap": self.snapshotter, "pause": PAUSE, "cni_bin": cni_bin,
                        "cni_conf": cni_conf}
        cfgpath = os.path.join(d, "config.toml")
        with open(cfgpath, "w") as f:
            f.write(cfg)
        env = dict(os.environ)
        env["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        self.env = env
        logf = open(os.path.join(d, "containerd.log"), "wb")
        self.proc = subprocess.Popen(["containerd", "--config", cfgpath], stdout=logf,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     env=env, start_new_session=True)
        logf.close()
        self.log("cri: containerd pid %d in %s (snapshotter %s, streaming port %d)"
                 % (self.proc.pid, d, self.snapshotter, self.stream_port))
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise Unavailable("containerd exited %d: %s" % (self.proc.returncode,
                                                                self.log_tail()))
            if os.path.exists(self.sock):
                try:
                    if self.client is None:
                        self.client = cri.Client(self.sock)
                    v = self.client.version(timeout=2)
                    self.version = v
                    break
                except cri.CriError as e:
                    last = e
                    if "UNIMPLEMENTED" in str(e):   # served, but no CRI plugin
                        raise Unavailable("containerd runs without its CRI plugin: %s"
                                          % self.log_tail()) from None
            time.sleep(0.2)
        else:
            raise Unavailable("containerd's CRI did not answer in %ds (%s): %s"
                              % (timeout, last, self.log_tail()))
        self._import_image()

    def log_tail(self, n=1500):
        try:
            with open(os.path.join(self.dir, "containerd.log"), "rb") as f:
                data = f.read()
        except OSError:
            return ""
        lines = [ln for ln in data.decode("utf-8", "replace").splitlines()
                 if "level=error" in ln or "level=fatal" in ln or "level=warn" in ln]
        return "\n".join(lines)[-n:] or data.decode("utf-8", "replace")[-n:]

    def _import_image(self):
        tar = image.build(os.path.join(self.dir, "busybox.tar"), [IMAGE, PAUSE],
                          files=self.image_files)
        cmd = ["ctr", "-a", self.sock, "-n", "k8s.io", "images", "import",
               "--snapshotter", self.snapshotter, tar]
        r = subprocess.run(cmd, capture_output=True, text=True, env=self.env, timeout=60)
        if r.returncode != 0:
            raise Unavailable("ctr images import failed: %s" % (r.stderr or r.stdout)[-500:])
        # The CRI plugin learns of imported images from an event: wait for it.
        deadline = time.time() + 10
        while not (self.client.image_present(IMAGE) and self.client.image_present(PAUSE)):
            if time.time() > deadline:
                raise Unavailable("CRI does not see the imported image")
            time.sleep(0.1)

    # --- pods ----------------------------------------------------------------

    def run_pod(self, namespace, name, containers, host_network=True, timeout=20):
        """containers: [{"name", "command", "stdin", "stdinOnce", "tty"}] ->
        {"sandbox": id, "containers": {name: id}, "logs": {name: path}}"""
        uid = "%08x-cri-%s" % (abs(hash((namespace, name, time.time()))) & 0xffffffff, name)
        logdir = os.path.join(self.dir, "logs", "%s_%s" % (namespace, name))
        os.makedirs(logdir, exist_ok=True)
        scfg = cri.Client.sandbox_config(name, namespace, uid, logdir, host_network)
        sid = self.client.run_pod_sandbox(scfg)
        self.sandboxes.append(sid)
        out = {"sandbox": sid, "containers": {}, "logs": {}}
        for c in containers:
            cid = self.client.create_container(
                sid, scfg, c["name"], IMAGE, c["command"], c["name"] + ".log", host_network,
                stdin=c.get("stdin", False), stdin_once=c.get("stdinOnce", False),
                tty=c.get("tty", False))
            self.client.start_container(cid)
            out["containers"][c["name"]] = cid
            out["logs"][c["name"]] = os.path.join(logdir, c["name"] + ".log")
        deadline = time.time() + timeout
        for cname, cid in out["containers"].items():
            while True:
                st, code = self.client.container_state(cid)
                if st == 1:
                    break
                if st == 2 or time.time() > deadline:
                    raise RuntimeError("container %s/%s/%s not running (state %d, exit %d): %s"
                                       % (namespace, name, cname, st, code, self.log_tail()))
                time.sleep(0.05)
        return out

    # --- stop ----------------------------------------------------------------

    def stop(self):
        """Idempotent and safe on every path: sandboxes, containerd, leftover
        shims (only ours, by pid), mounts under our directory, the directory."""
        if self.client is not None:
            for sid in list(self.sandboxes):
                for fn in (self.client.stop_pod_sandbox, self.client.remove_pod_sandbox):
                    try:
                        fn(sid)
                    except Exception as e:   # keep cleaning up
                        self.log("cri: %s %s: %s" % (fn.__name__, sid[:12], e))
            self.sandboxes = []
            try:
                self.client.close()
            except Exception:
                pass
            self.client = None
        p, self.proc = self.proc, None
        if p is not None and p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        if self.dir:
            self._kill_leftovers()
            self._unmount_all()
            shutil.rmtree(self.dir, ignore_errors=True)
            if os.path.exists(self.dir):
                self.log("cri: could not remove %s" % self.dir)
            self.dir = None
        if getattr(self, "made_run", False):
            for d in ("/run/containerd/s", "/run/containerd"):
                try:
                    os.rmdir(d)
                except OSError:
                    pass

    def _kill_leftovers(self):
        """Shims and container processes that still name our directory."""
        me = os.getpid()
        for _ in range(2):
            found = []
            for pid in os.listdir("/proc"):
                if not pid.isdigit() or int(pid) == me:
                    continue
                try:
                    with open("/proc/%s/cmdline" % pid, "rb") as f:
                        cmd = f.read()
                except OSError:
                    continue
                if (self.dir + "/").encode() in cmd:
                    found.append(int(pid))
            for pid in found:
                self.log("cri: killing leftover pid %d" % pid)
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            if not found:
                return
            time.sleep(0.3)

    def _unmount_all(self):
        for _ in range(3):
            mounts = []
            with open("/proc/self/mountinfo") as f:
                for ln in f:
                    mp = ln.split()[4].replace("\\040", " ")
                    if mp == self.dir or mp.startswith(self.dir + "/"):
                        mounts.append(mp)
            if not mounts:
                return
            for mp in sorted(mounts, key=len, reverse=True):
                subprocess.run(["umount", "-l", mp], capture_output=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


CONFIG = """version = 2
root = "%(d)s/root"
state = "%(d)s/state"
oom_score = 0
disabled_plugins = [
  "io.containerd.internal.v1.opt",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp",
]

[grpc]
  address = "%(sock)s"

[ttrpc]
  address = "%(sock)s.ttrpc"

[debug]
  address = "%(d)s/debug.sock"
  level = "info"

[metrics]
  address = ""

[plugins."io.containerd.grpc.v1.cri"]
  stream_server_address = "127.0.0.1"
  stream_server_port = "%(port)d"
  enable_tls_streaming = false
  sandbox_image = "%(pause)s"
  disable_apparmor = true
  restrict_oom_score_adj = true
  enable_selinux = false
  max_container_log_line_size = 16384

[plugins."io.containerd.grpc.v1.cri".containerd]
  snapshotter = "%(snap)s"
  default_runtime_name = "runc"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
  Root = "%(d)s/runc"
  SystemdCgroup = false

[plugins."io.containerd.grpc.v1.cri".cni]
  bin_dir = "%(cni_bin)s"
  conf_dir = "%(cni_conf)s"
  max_conf_num = 1
"""


if __name__ == "__main__":
    # Manual smoke test: start, make a pod, exec URL, stop.
    with Containerd(log=print) as c:
        print(c.version)
        p = c.run_pod("cri", "smoke", [{"name": "c", "command": ["sh", "-c", "echo hi; sleep 100"]}])
        print(p)
        print(c.client.exec_url(p["containers"]["c"], ["echo", "x"]))
        p2 = c.run_pod("cri", "smoke2", [{"name": "c", "command": ["sleep", "100"]}],
                       host_network=False)
        print(p2, c.client.port_forward_url(p2["sandbox"], [8080]))
        time.sleep(0.5)
        print(open(p["logs"]["c"]).read())
