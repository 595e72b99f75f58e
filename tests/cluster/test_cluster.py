#!/usr/bin/python3
"""What only a real control plane can show: podfs side by side with kubectl
(built from the same pinned release) on the cluster of tests/cluster, and the
protocol facts a real kube-apiserver decides -- the v5 translator chosen,
close-stdin on v5, a missing binary, tty and resize, RBAC's 403 for the
read-only user on exec/attach/portforward/proxy, paging with real continue
tokens, 410 after a forced etcd compaction, the apiserver killed mid-stream
and mid-listing, the kubelet restarted under a running exec.

Needs PODFS_BACKEND=cluster and PODFS_CLUSTER_STATE (tests/cluster/check.py
sets both).  Prints 'test_cluster: N passed, N failed' last."""

import errno
import http.client
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integ"))
import fixture  # noqa: E402
from mount import Mount, Suite, check, eq, read, read_until, run  # noqa: E402

SUITE_TIMEOUT = 900
VOLATILE_META = ("resourceVersion", "managedFields", "generation")


def kubectl(fx, *args, **kw):
    r = fx.kubectl(*args, **kw)
    if r.returncode != 0:
        raise AssertionError("kubectl %s: %s" % (" ".join(args), r.stderr.decode()[-500:]))
    return r.stdout


def pods(fx):
    return json.loads(kubectl(fx, "get", "pods", "-A", "-o", "json"))["items"]


def running(p):
    return p["status"].get("phase") == "Running"


# ---- the tree against kubectl ----------------------------------------------------

def test_ls_equals_get_o_name(fx, m):
    nss = [x.split("/", 1)[1] for x in kubectl(fx, "get", "ns", "-o", "name").decode().split()]
    eq(sorted(os.listdir(m.path)), sorted(nss + [".podfs"]), "root")
    for ns in nss:
        want = sorted(x.split("/", 1)[1] for x in
                      kubectl(fx, "get", "pods", "-n", ns, "-o", "name").decode().split())
        eq(sorted(os.listdir(m.p(ns))), want, "namespace %s" % ns)
    for p in pods(fx):
        md = p["metadata"]
        entries = set(os.listdir(m.p(md["namespace"], md["name"])))
        for c in p["spec"]["containers"] + p["spec"].get("initContainers", []):
            check(c["name"] in entries, "%s/%s lacks %s" % (md["namespace"], md["name"],
                                                           c["name"]))


def strip_volatile(pod):
    pod = json.loads(json.dumps(pod))
    for k in VOLATILE_META:
        pod["metadata"].pop(k, None)
    pod.pop("status", None)
    return pod


def test_pod_json_equals_get_o_json(fx, m):
    # Every real pod, and a few of the many synthetic ones (one kubectl each).
    for p in pods(fx):
        md = p["metadata"]
        if md.get("labels", {}).get("app") == "synthetic" and md["name"] > "pod-00003":
            continue
        mine = json.loads(read(m.p(md["namespace"], md["name"], "Pod.json")))
        ref = json.loads(kubectl(fx, "get", "pod", "-n", md["namespace"], md["name"],
                                 "-o", "json"))
        for k in ("apiVersion", "kind"):
            eq(mine.get(k), ref.get(k), "%s/%s %s" % (md["namespace"], md["name"], k))
        eq(strip_volatile(mine), strip_volatile(ref), "%s/%s" % (md["namespace"], md["name"]))


def test_log_equals_kubectl_logs(fx, m):
    for p in pods(fx):
        md = p["metadata"]
        if md["name"] in ("pending", "crashy") or not running(p):
            continue
        for c in p["spec"]["containers"] + p["spec"].get("initContainers", []):
            args = ("logs", "-n", md["namespace"], md["name"], "-c", c["name"])
            # A ticking container writes between the two reads: compare the
            # part both saw.
            mine = read(m.p(md["namespace"], md["name"], c["name"], "log"))
            ref = kubectl(fx, *args)
            n = min(len(mine), len(ref))
            eq(mine[:n], ref[:n], "log of %s/%s/%s" % (md["namespace"], md["name"], c["name"]))
            check(len(mine) > 0 or len(ref) == 0, "empty log")


def test_log_previous_of_crashing_pod(fx, m):
    """crashy exits 3 and restarts: log.previous is the last finished run."""
    for _ in range(5):
        ref = fx.kubectl("logs", "-n", "demo", "crashy", "--previous")
        mine = read(m.p("demo", "crashy", "crashy", "log.previous"))
        ref2 = fx.kubectl("logs", "-n", "demo", "crashy", "--previous")
        if ref.stdout == ref2.stdout:        # no restart in between
            # Either the previous run's output or, after a kubelet restart,
            # the kubelet's "unable to retrieve container logs" text with
            # 200: podfs must show what kubectl shows.
            eq(mine, ref.stdout, "log.previous")
            check(mine, "log.previous is empty")
            return
    raise AssertionError("crashy restarted during every comparison")


def test_follow(fx, m):
    fd = os.open(m.p("demo", "ticker", "ticker", "log.follow"), os.O_RDONLY)
    try:
        got = read_until(fd, b"\n", timeout=20)
        got = read_until(fd, b"tick", timeout=20)
        check(b"tick" in got, "follow: %r" % got[-100:])
    finally:
        os.close(fd)


# ---- exec against kubectl exec ----------------------------------------------------

def exec_session(m, ns, pod, c, argv, stdin=None, tty=False, resize=None, close=True):
    d = m.p(ns, pod, c, "exec")
    s = os.path.join(d, read(os.path.join(d, "new")).decode().strip())
    with open(s + "/argv", "wb") as f:
        f.write(b"".join(a.encode() + b"\0" for a in argv))
    cmds = []
    if tty:
        cmds.append("tty on")
    if resize:
        cmds.append("resize %d %d" % resize)
    if stdin is not None:
        cmds.append("stdin on")
    with open(s + "/ctl", "w") as f:
        f.write("\n".join(cmds + ["start"]) + "\n")
    if stdin is not None:
        with open(s + "/stdin", "wb") as f:
            f.write(stdin)
        if close:
            with open(s + "/ctl", "w") as f:
                f.write("close-stdin\n")
    return s


def result(s):
    out = read(s + "/stdout")
    try:
        err = read(s + "/stderr")
    except OSError:
        err = b""
    wait = read(s + "/wait").decode().strip()
    try:
        code = int(read(s + "/exitcode"))
    except OSError as e:
        code = -e.errno
    return out, err, wait, code


CMDS = [["sh", "-c", "echo out; echo err >&2"],
        ["sh", "-c", "echo hello; exit 3"],
        ["sh", "-c", "exit 0"],
        ["cat", "/www/index.html"],
        ["sh", "-c", "head -c 70000 /dev/zero | tr '\\0' a"]]


def test_exec_equals_kubectl_exec(fx, m):
    for argv in CMDS:
        s = exec_session(m, "demo", "multi", "sidecar", argv)
        out, err, wait, code = result(s)
        r = fx.kubectl("exec", "-n", "demo", "multi", "-c", "sidecar", "--", *argv)
        eq(out, r.stdout, "stdout of %r" % argv)
        kerr = r.stderr.replace(b"command terminated with exit code %d\n" % r.returncode, b"")
        eq(err, kerr, "stderr of %r" % argv)
        eq(code, r.returncode, "exit code of %r (%s)" % (argv, wait))


def test_protocol_is_v5(fx, m):
    s = exec_session(m, "demo", "multi", "sidecar", ["true"])
    eq(result(s)[3], 0, "exit")
    check("protocol v5" in m.read_log(),
          "the apiserver's v5 translator was not chosen:\n" + m.read_log()[-1500:])


def test_missing_binary(fx, m):
    s = exec_session(m, "demo", "multi", "sidecar", ["no-such-binary"])
    out, err, wait, code = result(s)
    r = fx.kubectl("exec", "-n", "demo", "multi", "-c", "sidecar", "--", "no-such-binary")
    check(r.returncode != 0, "kubectl exec of a missing binary succeeded")
    check(wait.startswith("failed ") or wait.startswith("exited "), "status %r" % wait)
    check(code != 0, "exit code 0 for a missing binary")
    if wait.startswith("failed "):
        # The same text but for the runtime's exec id, new per exec.
        def norm(t):
            return re.sub(r"[0-9a-f]{64}", "<id>", t)
        msg = norm(wait.split(": ", 1)[1])
        check(msg in norm(r.stderr.decode()), "podfs says %r, kubectl %r" % (wait, r.stderr))
    else:
        eq(code, r.returncode, "exit code of a missing binary (%s)" % wait)


def test_close_stdin_v5(fx, m):
    data = os.urandom(1 << 16)
    s = exec_session(m, "demo", "multi", "sidecar", ["sh", "-c", "cat | wc -c"], stdin=data)
    out, err, wait, code = result(s)
    eq(out.strip(), str(len(data)).encode(), "wc -c after close-stdin")
    eq(code, 0, "exit (%s)" % wait)


def test_tty_resize(fx, m):
    # `tty on` turns stdin on; stdin is left open: closing a tty's input
    # ends the session before the output is read.
    # The initial size reaches the pty after the process started (kubectl
    # races the same way), so the pod polls for it.
    poll = ('i=0; while [ $i -lt 100 ]; do s=$(stty size 2>/dev/null); '
            '[ -n "$s" ] && [ "$s" != "0 0" ] && break; i=$((i+1)); sleep 0.05; done; echo $s')
    s = exec_session(m, "demo", "multi", "sidecar", ["sh", "-c", poll], tty=True,
                     resize=(101, 33))
    out, _, wait, code = result(s)
    eq(out.replace(b"\r", b"").strip(), b"33 101", "stty size under a tty (%s)" % wait)


# ---- ports and proxy against kubectl port-forward and get --raw -------------------

def http_get_via(path_or_port, request=b"GET /index.html HTTP/1.0\r\n\r\n"):
    fd = os.open(path_or_port, os.O_RDWR)
    try:
        os.write(fd, request)
        out = b""
        while True:
            b = os.read(fd, 65536)
            if not b:
                return out
            out += b
    finally:
        os.close(fd)


def body(resp):
    return resp.split(b"\r\n\r\n", 1)[1]


def test_ports_equal_port_forward(fx, m):
    mine = http_get_via(m.p("demo", "web", "Ports", "80"))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    lport = sock.getsockname()[1]
    sock.close()
    pf = subprocess.Popen([fx.st["kubectl"], "--kubeconfig", fx.kubeconfig, "port-forward",
                           "-n", "demo", "pod/web", "%d:80" % lport, "--address", "127.0.0.1"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          env=dict(os.environ, HOME=fx.state), start_new_session=True)
    try:
        read_until(pf.stdout.fileno(), b"Forwarding from", timeout=30)
        ref = urllib.request.urlopen("http://127.0.0.1:%d/index.html" % lport,
                                     timeout=10).read()
    finally:
        pf.terminate()
        pf.wait(10)
        pf.stdout.close()
        pf.stderr.close()
    eq(body(mine), ref, "Ports/80 vs kubectl port-forward")


def test_proxy_equals_get_raw(fx, m):
    mine = read(m.p("demo", "web", "Proxy", "80", "index.html"))
    ref = kubectl(fx, "get", "--raw", "/api/v1/namespaces/demo/pods/web:80/proxy/index.html")
    eq(mine, ref, "Proxy/80/index.html vs get --raw")
    try:
        read(m.p("demo", "web", "Proxy", "80", "nope.html"))
        raise AssertionError("404 through the proxy read fine")
    except OSError as e:
        eq(e.errno, errno.ENOENT, "404 through the proxy")


# ---- RBAC: the read-only user -----------------------------------------------------

def test_rbac_readonly_user(fx):
    # -d: podfs logs the server's refusal of a Ports/ or Proxy/ open only in
    # its debug trace (exec has its status file, attach a warning).
    with Mount(fx, opts=["context=fixture-limited"], args=["-d"]) as m:
        eq(sorted(os.listdir(m.p("demo"))), sorted(
            x.split("/", 1)[1] for x in kubectl(fx, "get", "pods", "-n", "demo", "-o", "name")
            .decode().split()), "the read-only user lists demo")
        read(m.p("demo", "hello" if os.path.exists(m.p("demo", "hello")) else "multi",
                 "Pod.json"))
        r = fx.kubectl("exec", "-n", "demo", "multi", "-c", "sidecar", "--", "true",
                       context="fixture-limited")
        check(r.returncode != 0 and b"forbidden" in r.stderr, "kubectl exec: %r" % r.stderr)
        d = m.p("demo", "multi", "sidecar", "exec")
        s = os.path.join(d, read(os.path.join(d, "new")).decode().strip())
        with open(s + "/argv", "w") as f:
            f.write("true\n")
        fd = os.open(s + "/ctl", os.O_WRONLY)   # one write: a buffered file retries at close
        try:
            os.write(fd, b"start\n")
            raise AssertionError("exec start succeeded for the read-only user")
        except OSError as e:
            eq(e.errno, errno.EACCES, "exec start errno")
        finally:
            os.close(fd)
        st = read(s + "/status").decode()
        check(st.startswith("failed Forbidden: ") and "pods/exec" in st and
              'User "fixture-limited"' in st, "exec status %r" % st)
        for what, path, mode in (("attach", m.p("demo", "echo", "echo", "stdin"), os.O_WRONLY),
                                 ("portforward", m.p("demo", "web", "Ports", "80"), os.O_RDWR)):
            try:
                fd = os.open(path, mode)
                os.close(fd)
                raise AssertionError("%s open succeeded for the read-only user" % what)
            except OSError as e:
                eq(e.errno, errno.EACCES, "%s errno" % what)
        try:
            read(m.p("demo", "web", "Proxy", "80", "index.html"))
            raise AssertionError("proxy read succeeded for the read-only user")
        except OSError as e:
            eq(e.errno, errno.EACCES, "proxy errno")
        log = m.read_log()
        for sub in ("pods/attach", "pods/portforward", "pods/proxy"):
            check(sub in log, "the server's 403 message for %s not in the log:\n%s"
                  % (sub, log[-2000:]))


# ---- lists: continue tokens and 410 ------------------------------------------------

def list_page(fx, ns, limit, cont=None):
    q = "limit=%d" % limit + ("&continue=%s" % cont if cont else "")
    return fx.get("/api/v1/namespaces/%s/pods?%s" % (ns, q))


def etcd_compact(fx):
    """Compact etcd to its current revision (etcd's JSON gateway, v3 API)."""
    url = fx.st["etcd"]

    def post(path, doc):
        req = urllib.request.Request(url + path, data=json.dumps(doc).encode(),
                                     headers={"Content-Type": "application/json"})
        return json.loads(urllib.request.urlopen(req, timeout=10).read())
    rev = int(post("/v3/kv/range", {"key": "Lw=="})["header"]["revision"])
    post("/v3/kv/compaction", {"revision": rev, "physical": True})
    return rev


def fixture_expired_message():
    """The fixture's text for an expired continue token, to compare."""
    src = read(os.path.join(ROOT, "tests", "fixture", "server.py")).decode()
    m = re.search(r"^EXPIRED_CONTINUE_MSG = \((.*?)\)$", src, re.M | re.S)
    return "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(1)))


def test_paging_and_410(fx, m):
    st, page = list_page(fx, "big", 100)
    eq(st, 200, "first page")
    cont = page["metadata"].get("continue")
    check(cont, "a real continue token after 100 of many pods")
    st, page2 = list_page(fx, "big", 100, cont)
    eq(st, 200, "second page")
    check(page2["items"][0]["metadata"]["name"] > page["items"][-1]["metadata"]["name"],
          "pages in order")
    # Writes move the revision on, then compaction makes the token too old
    # for etcd.  The watch cache still serves it from its snapshot
    # (ListFromCacheSnapshot, 1.34), so only a restarted apiserver, which has
    # no snapshot, goes to etcd and answers 410.
    kubectl(fx, "annotate", "pod", "-n", "big", "pod-00000", "podfs/touch=%d" % time.time(),
            "--overwrite")
    etcd_compact(fx)
    eq(list_page(fx, "big", 100, cont)[0], 200, "token served from the watch cache snapshot")
    fx.stop()
    fx.start()
    st, gone = list_page(fx, "big", 100, cont)
    eq(st, 410, "continue token after compaction and restart")
    eq((gone.get("reason"), gone.get("code")), ("Expired", 410), "410 status")
    eq(gone.get("message"), fixture_expired_message(), "the fixture's 410 text")
    check(gone.get("metadata", {}).get("continue"), "a fresh continue token in the 410")
    # podfs pages through the whole namespace after the restart.
    names = sorted(x.split("/", 1)[1] for x in
                   kubectl(fx, "get", "pods", "-n", "big", "-o", "name").decode().split())
    eq(sorted(os.listdir(m.p("big"))), names, "big listing")


# ---- the apiserver and the kubelet going away --------------------------------------

def test_apiserver_killed_mid_stream(fx, m):
    fd = os.open(m.p("demo", "ticker", "ticker", "log.follow"), os.O_RDONLY)
    try:
        read_until(fd, b"tick", timeout=20)
        os.kill(fx.proc.pid, signal.SIGKILL)
        fx.stop()
        # Data already buffered may still come, then the stream ends with
        # EOF or EIO: never a hang.
        deadline = time.time() + 60
        ended = None
        while time.time() < deadline and ended is None:
            try:
                if not os.read(fd, 65536):
                    ended = "EOF"
            except OSError as e:
                ended = errno.errorcode[e.errno]
        check(ended is not None, "log.follow still open 60s after the apiserver died")
    finally:
        os.close(fd)
        fx.start()
    got = read(m.p("demo", "hello", "hello", "log")) if os.path.exists(
        m.p("demo", "hello")) else read(m.p("default", "hello", "hello", "log"))
    check(b"Hello" in got, "reads work after the restart")


def test_apiserver_killed_mid_listing(fx, m):
    errs = []

    def lister():
        try:
            errs.append(("ok", len(os.listdir(m.p("big")))))
        except OSError as e:
            errs.append(("err", errno.errorcode[e.errno]))
    t = threading.Thread(target=lister)
    t.start()
    time.sleep(0.05)        # let the listing begin (a race by nature: either order is fine)
    os.kill(fx.proc.pid, signal.SIGKILL)
    fx.stop()
    t.join(90)
    check(not t.is_alive(), "listing hangs with the apiserver dead")
    check(errs and (errs[0][0] == "err" or errs[0][1] > 0), "listing: %r" % errs)
    fx.start()
    deadline = time.time() + 60
    while True:
        try:
            n = len(os.listdir(m.p("big")))
            break
        except OSError:
            check(time.time() < deadline, "listing does not recover after the restart")
            time.sleep(1)
    check(n > 0, "listing after restart")


def test_kubelet_restart_during_exec(fx, m):
    """The kubelet killed under a running exec.  podfs must never invent an
    exit code; on the v5 path it can only repeat the server's verdict, and
    kube-apiserver 1.34's translator reports Success when its SPDY stream to
    the kubelet ends without a status (kubectl exits 0 too: kubectl#1726,
    fix proposed in kubernetes#137404).  So podfs must agree with kubectl run
    side by side, and the exec that was cut must not be reported as anything
    but exited 0 (the server's word) or lost/failed."""
    s = exec_session(m, "demo", "multi", "sidecar", ["sh", "-c", "echo started; sleep 600"])
    fd = os.open(s + "/stdout", os.O_RDONLY)
    try:
        read_until(fd, b"started\n", timeout=30)
    finally:
        os.close(fd)
    kc = subprocess.Popen([fx.st["kubectl"], "--kubeconfig", fx.kubeconfig, "exec", "-n",
                           "demo", "multi", "-c", "sidecar", "--", "sh", "-c",
                           "echo started; sleep 600"], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, env=dict(os.environ, HOME=fx.state))
    try:
        read_until(kc.stdout.fileno(), b"started\n", timeout=30)
        fx.restart_component("kubelet")
        rc, out, _, _ = run(["cat", s + "/wait"], timeout=120)
        check(rc == 0, "wait did not return after the kubelet restart")
        kc.wait(120)
    finally:
        if kc.poll() is None:
            kc.kill()
            kc.wait()
        kc.stdout.close()
        kc.stderr.close()
    line = out.decode().strip()
    if kc.returncode == 0:
        eq(line, "exited 0", "podfs and kubectl after the kubelet went away (server said Success)")
    else:
        check(line.startswith("lost") or line.startswith("failed"),
              "session after a kubelet restart: %r, kubectl exit %d" % (line, kc.returncode))
    fx.wait_node_ready()


def main():
    signal.signal(signal.SIGALRM, lambda *a: (_ for _ in ()).throw(TimeoutError("suite timeout")))
    signal.alarm(SUITE_TIMEOUT)
    s = Suite("test_cluster")
    if fixture.BACKEND != "cluster":
        print("test_cluster: needs PODFS_BACKEND=cluster (tests/cluster/check.py)")
        print("test_cluster: 0 passed, 1 failed")
        return 1
    fx = fixture.Fixture(synthetic=["big:2000"])
    with fx:
        with Mount(fx, args=["-d"]) as m:
            for t in (test_ls_equals_get_o_name, test_pod_json_equals_get_o_json,
                      test_log_equals_kubectl_logs, test_log_previous_of_crashing_pod,
                      test_follow, test_exec_equals_kubectl_exec, test_protocol_is_v5,
                      test_missing_binary, test_close_stdin_v5, test_tty_resize,
                      test_ports_equal_port_forward, test_proxy_equals_get_raw,
                      test_paging_and_410, test_apiserver_killed_mid_stream,
                      test_apiserver_killed_mid_listing, test_kubelet_restart_during_exec):
                s.run(t, fx, m)
            check("Bearer" not in m.read_log() and fx.token not in m.read_log(),
                  "token in the -d log")
        s.run(test_rbac_readonly_user, fx)
    return s.report()


if __name__ == "__main__":
    sys.exit(main())
