#!/usr/bin/python3
"""Integration test of the read-only tree: mounts podfs on the fixture API
server and compares what the files say with what kubectl says about the
same cluster; checks request counts, errno values, timeouts with a stopped
or killed server, recovery after a restart, and start-up errors.
Prints 'test_tree: N passed, N failed' last."""

import errno
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture  # noqa: E402
from mount import Mount, Suite, check, eq, expect_errno, podfs_bin, read, run  # noqa: E402

SUITE_TIMEOUT = 600
BIG = 2000


def kubectl(fx, *args):
    r = fx.kubectl(*args)
    if r.returncode != 0:
        raise AssertionError("kubectl %s: %s" % (" ".join(args), r.stderr.decode()[-500:]))
    return r.stdout


def names(fx, *args):
    return sorted(line.split("/", 1)[1] for line in kubectl(fx, *args, "-o", "name")
                  .decode().split())


# ---- cases on the shared mount ------------------------------------------------

def test_root_listing(fx, m):
    eq(sorted(os.listdir(m.path)), sorted([".podfs"] + names(fx, "get", "ns")), "root")


def test_namespace_listings(fx, m):
    for ns in names(fx, "get", "ns"):
        eq(sorted(os.listdir(m.p(ns))), names(fx, "get", "pods", "-n", ns), ns)


def test_pod_and_container_dirs(fx, m):
    eq(sorted(os.listdir(m.p("demo", "multi"))),
       sorted(["Pod.json", "Status", "Events", "Ports", "Proxy", "app", "sidecar", "init"]),
       "multi")
    eq(sorted(os.listdir(m.p("demo", "multi", "app"))),
       sorted(["state", "log", "log.previous", "log.follow", "stdin", "stdout", "stderr",
               "exec"]), "container")
    eq(os.listdir(m.p("demo", "multi", "app", "exec")), ["new"], "exec")
    eq(os.listdir(m.p("demo", "multi", "Ports")), ["8080"], "ports")
    eq(os.listdir(m.p(".podfs")), ["status"], ".podfs")
    st = os.stat(m.p("demo", "multi", "Ports", "8080"))
    check(st.st_mode & 0o777 == 0o600, "port mode (owner only)")
    check(os.path.isdir(m.p("demo", "multi", "Proxy")), "Proxy is a directory")
    check(os.stat(m.p("demo", "multi", "app", "stdin")).st_mode & 0o777 == 0o200, "stdin mode (owner only)")


def test_pod_json(fx, m):
    for ns, pod in (("demo", "multi"), ("demo", "web"), ("default", "hello")):
        mine = json.loads(read(m.p(ns, pod, "Pod.json")))
        ref = json.loads(kubectl(fx, "get", "pod", "-n", ns, pod, "-o", "json"))
        for k in ("uid", "name", "namespace", "creationTimestamp"):
            eq(mine["metadata"][k], ref["metadata"][k], "%s/%s %s" % (ns, pod, k))
        eq(mine["spec"], ref["spec"], "%s/%s spec" % (ns, pod))


def test_log(fx, m):
    for ns, pod, c in (("demo", "multi", "app"), ("demo", "multi", "sidecar"),
                       ("demo", "web", "web"), ("default", "hello", "hello"),
                       ("demo", "multi", "init")):
        eq(read(m.p(ns, pod, c, "log")), kubectl(fx, "logs", "-n", ns, pod, "-c", c),
           "%s/%s/%s log" % (ns, pod, c))


def wait_restarted(fx, ns, pod):
    deadline = time.time() + 20
    while time.time() < deadline:
        st, obj = fx.get("/api/v1/namespaces/%s/pods/%s" % (ns, pod))
        cs = obj.get("status", {}).get("containerStatuses", [{}]) if st == 200 else [{}]
        if cs and cs[0].get("restartCount", 0) >= 1:
            return
        time.sleep(0.2)
    raise AssertionError("%s/%s never restarted" % (ns, pod))


def test_log_previous(fx, m):
    wait_restarted(fx, "demo", "crashy")
    want = kubectl(fx, "logs", "--previous", "-n", "demo", "crashy", "-c", "crashy")
    check(want, "kubectl shows a previous log")
    eq(read(m.p("demo", "crashy", "crashy", "log.previous")), want, "log.previous")
    # No previous instance: ENODATA (documented in docs/podfs.1).
    expect_errno(lambda: read(m.p("demo", "web", "web", "log.previous")), errno.ENODATA,
                 "log.previous without a previous instance")


def test_log_grows(fx, m):
    """`log` keeps growing while open: stat and reads at its end see new
    bytes (design.md §2), so tail -f works; a plain cat costs one request."""
    f = m.p("default", "counter", "counter", "log")
    fx.reset_stats()
    run(["cat", f])
    eq(fx.stats()["by_category"].get("log", 0), 1, "log requests of one cat")
    with open(f, "rb") as fh:
        first = fh.read()
        check(first, "counter has a log")
        time.sleep(2.5)
        size = os.fstat(fh.fileno()).st_size
        check(size > len(first), "size grew: %d -> %d" % (len(first), size))
        more = fh.read()
        check(len(more) >= size - len(first) and more.endswith(b"\n"), "new bytes: %r" % more)
    whole = kubectl(fx, "logs", "-n", "default", "counter")
    check(whole.startswith(first + more), "log read while growing is a prefix of the log")
    p = subprocess.Popen(["tail", "-n", "1", "-f", f], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, start_new_session=True)
    time.sleep(3.5)
    os.killpg(p.pid, signal.SIGKILL)
    out = p.communicate()[0]
    check(len(out.splitlines()) >= 3, "tail -f saw new lines: %r" % out)


def test_status_and_state(fx, m):
    text = read(m.p("demo", "multi", "Status")).decode()
    ref = json.loads(kubectl(fx, "get", "pod", "-n", "demo", "multi", "-o", "json"))
    check("Phase: %s\n" % ref["status"]["phase"] in text, "phase in Status:\n" + text)
    check("IP: %s\n" % ref["status"].get("podIP", "") in text, "IP in Status")
    check("Node: %s\n" % ref["spec"].get("nodeName", "") in text, "node in Status")
    for c in ("app", "sidecar", "init"):
        check(re.search(r"^  %s: \S.*restarts \d+" % c, text, re.M), "%s in Status" % c)
    check("Conditions:\n" in text, "conditions in Status")
    eq(read(m.p("demo", "web", "web", "state")), b"running, restarts 0\n", "web state")
    eq(read(m.p("demo", "multi", "init", "state")), b"terminated 0, restarts 0\n", "init state")
    pend = json.loads(kubectl(fx, "get", "pod", "-n", "demo", "pending", "-o", "json"))
    reason = pend["status"]["containerStatuses"][0]["state"]["waiting"]["reason"]
    eq(read(m.p("demo", "pending", "app", "state")),
       b"waiting %s, restarts 0\n" % reason.encode(), "pending state")
    wait_restarted(fx, "demo", "crashy")
    check(re.match(rb"^(running|waiting \S+|terminated -?\d+), restarts [1-9]\d*\n$",
                   read(m.p("demo", "crashy", "crashy", "state"))), "crashy state")


def test_missing(fx, m):
    expect_errno(lambda: os.stat(m.p("demo", "nope")), errno.ENOENT, "missing pod")
    expect_errno(lambda: read(m.p("demo", "nope", "Pod.json")), errno.ENOENT, "missing Pod.json")
    expect_errno(lambda: os.listdir(m.p("nope-ns")), errno.ENOENT, "missing namespace")
    expect_errno(lambda: os.stat(m.p("demo", "multi", "nope")), errno.ENOENT,
                 "missing container")
    expect_errno(lambda: read(m.p("demo", "multi", "nope", "log")), errno.ENOENT,
                 "log of a missing container")
    expect_errno(lambda: os.stat(m.p("demo", "Multi")), errno.ENOENT, "not a k8s name")
    expect_errno(lambda: os.stat(m.p("demo", "multi", "app", "other")), errno.ENOENT,
                 "unknown file")
    expect_errno(lambda: os.stat(m.p("demo", "x" * 256)), errno.ENAMETOOLONG, "256 bytes")
    expect_errno(lambda: open(m.p("demo", "multi", "Pod.json"), "wb"), errno.EACCES,
                 "write a snapshot")


def test_tools(fx, m):
    """cat, wc -c, tail, cp, less and dd agree on the snapshot files."""
    for rel in (("demo", "multi", "Pod.json"), ("demo", "multi", "app", "log"),
                ("demo", "multi", "Status")):
        f = m.p(*rel)
        data = read(f)
        check(data, "%s is not empty" % f)
        rc, out, _, _ = run(["cat", f])
        eq(out, data, "cat %s" % f)
        rc, out, _, _ = run(["sh", "-c", 'wc -c < "$1"', "sh", f])
        eq(int(out), len(data), "wc -c %s" % f)
        rc, out, _, _ = run(["tail", "-c", "20", f])
        eq(out, data[-20:], "tail -c %s" % f)
        rc, out, _, _ = run(["tail", "-n", "1", f])
        eq(out, data.rstrip(b"\n").rsplit(b"\n", 1)[-1] + b"\n", "tail -n1 %s" % f)
        with tempfile.TemporaryDirectory() as d:
            rc, _, err, _ = run(["cp", f, os.path.join(d, "copy")])
            eq(rc, 0, "cp: %r" % err)
            eq(read(os.path.join(d, "copy")), data, "cp %s" % f)
        rc, out, _, _ = run(["less", "-FX", f], env=dict(os.environ, LESS="", TERM="dumb"))
        eq(out, data, "less %s" % f)
        rc, out, _, _ = run(["dd", "if=" + f, "bs=7", "skip=3", "count=2", "status=none"])
        eq(out, data[21:35], "dd %s" % f)
        eq(os.stat(f).st_size, len(data), "st_size after open %s" % f)
        # A reader that dies early (SIGPIPE) must not upset podfs.
        run(["sh", "-c", 'cat "$1" | head -c 1 >/dev/null', "sh", f])
    check(os.path.isdir(m.path) and os.listdir(m.p("demo")), "still alive")


def rfc3339(ts):
    return int(time.mktime(time.strptime(ts, "%Y-%m-%dT%H:%M:%SZ")) - time.timezone)


SNAP_EXCLUDES = ["--exclude=log.follow", "--exclude=std*", "--exclude=Ports", "--exclude=Proxy",
                 "--exclude=exec", "--exclude=log", "--exclude=log.previous"]


def test_sizes_before_open(fx, m):
    """Pod.json, Status and state report their real size from the listing:
    stat before any open equals what a read returns, with no pod request."""
    time.sleep(1.2)     # a fresh listing, so no size can come from an open
    fx.reset_stats()
    files = [m.p("demo", "web", "Pod.json"), m.p("demo", "web", "Status"),
             m.p("demo", "web", "web", "state"), m.p("demo", "multi", "app", "state")]
    sizes = [os.stat(f).st_size for f in files]
    eq(fx.stats()["pod_requests"], 0, "per-pod requests for stat")
    for f, n in zip(files, sizes):
        rc, _, _, _ = run(["test", "-s", f])
        eq(rc, 0, "test -s %s" % f)
        data = read(f)
        eq(n, len(data), "st_size before open of %s" % f)
        eq(os.stat(f).st_size, len(data), "st_size after open of %s" % f)
    with tempfile.TemporaryDirectory() as d:
        tgz = os.path.join(d, "web.tar")
        rc, _, err, _ = run(["tar", "-cf", tgz] + SNAP_EXCLUDES + ["-C", m.p("demo"), "web"])
        eq(rc, 0, "tar -c of a pod: %r" % err)
        rc, _, err, _ = run(["tar", "-xf", tgz, "-C", d])
        eq(rc, 0, "tar -x: %r" % err)
        for rel in (("web", "Pod.json"), ("web", "Status"), ("web", "web", "state")):
            got = read(os.path.join(d, *rel))
            check(got, "%s archived non-empty" % "/".join(rel))
            eq(got, read(m.p("demo", *rel)), "%s archived whole" % "/".join(rel))


def test_times(fx, m):
    """One time per node from its object, the same in readdir and stat."""
    ns = json.loads(kubectl(fx, "get", "ns", "demo", "-o", "json"))
    pod = json.loads(kubectl(fx, "get", "pod", "-n", "demo", "web", "-o", "json"))
    created = rfc3339(pod["metadata"]["creationTimestamp"])
    started = rfc3339(pod["status"]["containerStatuses"][0]["state"]["running"]["startedAt"])
    eq(int(os.stat(m.p("demo")).st_mtime), rfc3339(ns["metadata"]["creationTimestamp"]),
       "namespace time")
    for rel, want in ((("web",), created), (("web", "Pod.json"), created),
                      (("web", "web"), started), (("web", "web", "stdout"), started),
                      (("web", "web", "log"), started)):
        f = m.p("demo", *rel)
        t1 = os.stat(f).st_mtime
        listed = {e.name: e.stat().st_mtime for e in os.scandir(os.path.dirname(f))}
        t2 = os.stat(f).st_mtime
        eq(int(t1), want, "time of %s" % "/".join(rel))
        eq(t2, t1, "stat of %s stable" % "/".join(rel))
        eq(listed[os.path.basename(f)], t1, "readdir and stat agree on %s" % "/".join(rel))


def test_events(fx, m):
    """Events of a pod and of a namespace, as kubectl describe lists them."""
    ref = json.loads(kubectl(fx, "get", "events", "-n", "demo", "--field-selector",
                             "involvedObject.name=web", "-o", "json"))["items"]
    text = read(m.p("demo", "web", "Events")).decode()
    lines = text.splitlines()
    eq(lines[0].split(), ["Type", "Reason", "Age", "From", "Message"], "header:\n" + text)
    eq(len(lines) - 2, len(ref), "one line per event:\n" + text)
    for ev in ref:
        # kubectl describe's From: the source component, else the
        # reporting controller (a real scheduler's events have only that)
        src = (ev.get("source") or {}).get("component") or ev.get("reportingComponent") or ""
        check(re.search(r"^%s +%s +\S+ +%s +%s$" % (ev["type"], ev["reason"], re.escape(src),
                        re.escape(re.sub(r"[\x00-\x1f\x7f]", " ", ev["message"]).strip())), text, re.M),
              "%s in:\n%s" % (ev["reason"], text))
    ns_text = read(m.p("demo", "Events")).decode()
    check(ns_text.splitlines()[0].split() == ["Type", "Reason", "Object", "Age", "From",
                                              "Message"], ns_text)
    for pod in ("web", "multi", "crashy"):
        # Type Reason Object ...: every pod the namespace ran has events
        check(re.search(r"^\S+ +\S+ +%s " % pod, ns_text, re.M), pod + " in ns Events")
    check("Events" not in os.listdir(m.p("demo")), "namespace Events is not listed")


def test_ls_sorts_by_age(fx, m):
    for name, age in (("mid", 200), ("young", 100), ("old", 300)):
        fx.control("create", ns="aged", pod=name, age=age)
    time.sleep(1.2)     # the cached lists expire
    rc, out, err, _ = run(["ls", "-t", m.p("aged")])
    eq(rc, 0, "ls -t: %r" % err)
    eq(out.decode().split(), ["young", "mid", "old"], "ls -t order")


def test_big_listing_no_per_pod_requests(fx, m):
    time.sleep(1.2)     # let cached lists expire: count a cold listing
    fx.reset_stats()
    rc, out, err, secs = run(["ls", "-l", m.p("big")], timeout=60)
    eq(rc, 0, "ls -l big: %r" % err)
    lines = [ln for ln in out.decode().splitlines() if not ln.startswith("total")]
    eq(len(lines), BIG, "entries")
    check(all(ln.startswith("dr-xr-xr-x") for ln in lines), "all directories")
    s = fx.stats()
    eq(s["pod_requests"], 0, "per-pod requests (%s)" % s["by_category"])
    check(s["by_category"].get("pod_list", 0) <= (BIG + 499) // 500,
          "pod list requests: %s" % s["by_category"])
    eq(sorted(os.listdir(m.p("big"))), names(fx, "get", "pods", "-n", "big"), "big names")


def test_status_file(fx, m):
    # its size is known before any open (tar, `test -s`, `file` see it);
    # the "(Ns ago)" figures may move by a digit between stat and read
    size = os.stat(m.p(".podfs", "status")).st_size
    text = read(m.p(".podfs", "status")).decode()
    check(size > 0 and abs(size - len(text)) <= 8, "st_size %d, content %d" % (size, len(text)))
    user = kubectl(fx, "config", "view", "--minify", "-o",
                   "jsonpath={.contexts[0].context.user}").decode().strip()
    check(user and ("user: %s\n" % user) in text, "user name in status:\n" + text)
    check(fx.token not in text, "token leaked into .podfs/status")
    check(re.search(r"^server: https://127\.0\.0\.1:%d$" % fx.port, text, re.M), "server")
    check(re.search(r"^connectivity: ok$", text, re.M), "connectivity ok:\n" + text)
    check(fx.token not in m.read_log(), "token leaked into the log")


# ---- cases with their own mounts ------------------------------------------------

def test_stopped_and_killed_server(fx):
    timeout = 2
    with Mount(fx, opts=["timeout=%d" % timeout, "cache=0.5"]) as m:
        eq(sorted(os.listdir(m.p("demo"))), names(fx, "get", "pods", "-n", "demo"), "warm")
        pid = fx.proc.pid
        os.kill(pid, signal.SIGSTOP)
        try:
            time.sleep(0.7)
            for d in ("kube-system", "default"):
                rc, _, err, secs = run(["ls", m.p(d)], timeout=30)
                check(rc not in (0, None), "ls %s with a stopped server: rc %s" % (d, rc))
                check(secs < timeout + 2, "ls %s took %.1fs" % (d, secs))
            rc, _, _, secs = run(["cat", m.p("demo", "web", "Pod.json")], timeout=30)
            check(rc != 0 and secs < timeout + 2, "cat Pod.json: rc %s, %.1fs" % (rc, secs))
        finally:
            os.kill(pid, signal.SIGCONT)
        text = read(m.p(".podfs", "status")).decode()
        check(re.search(r"^last error: \S+ .*time", text, re.M | re.I),
              "timeout shown in status:\n" + text)
        # Killed: refused connections fail fast.
        fx.stop()
        time.sleep(0.7)
        rc, _, err, secs = run(["ls", m.p("kube-system")], timeout=30)
        check(rc not in (0, None) and secs < timeout + 2,
              "ls with a killed server: rc %s, %.1fs" % (rc, secs))
        # Restarted on the same port: picked up again.
        fx.start()
        deadline = time.time() + 10
        while True:
            rc, out, err, _ = run(["ls", m.p("kube-system")], timeout=30)
            if rc == 0 or time.time() > deadline:
                break
            time.sleep(0.3)
        eq(rc, 0, "ls after restart: %r" % err)
        eq(sorted(out.decode().split()), names(fx, "get", "pods", "-n", "kube-system"),
           "after restart")
        text = read(m.p(".podfs", "status")).decode()
        check("connectivity: ok" in text, "connectivity recovered:\n" + text)


def test_startup_errors(fx):
    d = tempfile.mkdtemp(prefix="podfs-mnt-")
    try:
        for args, what in (
                (["--kubeconfig", os.path.join(d, "missing")], "missing kubeconfig"),
                (["--kubeconfig", fx.kubeconfig, "--context", "no-such-context"],
                 "unknown context"),
                (["--kubeconfig", fx.kubeconfig, "-o", "timeout=abc"], "bad option")):
            rc, out, err, secs = run([podfs_bin(), "-f"] + args + [d], timeout=15)
            eq(rc, 1, "%s: exit status" % what)
            lines = err.decode().strip().splitlines()
            eq(len(lines), 1, "%s: one line, got %r" % (what, lines))
            check(lines[0].startswith("podfs: "), "%s: %r" % (what, lines[0]))
            check(not os.path.ismount(d), "%s: not mounted" % what)
        rc, out, err, _ = run([podfs_bin(), "--version"])
        eq(rc, 0, "--version")
        check(re.search(rb"^podfs \d", out, re.M) and b"libfuse" in out and b"libcurl" in out
              and b"OpenSSL" in out, "--version: %r" % out)
        rc, out, err, _ = run([podfs_bin(), "--help"])
        eq(rc, 0, "--help")
        check(b"timeout=" in out and b"--kubeconfig" in out, "--help text")
    finally:
        os.rmdir(d)


def test_limited_user(fx):
    """A user who may not list namespaces sees the context's namespace."""
    with Mount(fx, args=["--context", "fixture-limited"]) as m:
        eq(sorted(os.listdir(m.path)), [".podfs", "demo"], "root of a limited user")
        eq(sorted(os.listdir(m.p("demo"))), names(fx, "get", "pods", "-n", "demo"), "demo")
        expect_errno(lambda: os.listdir(m.p("kube-system")), errno.EACCES, "forbidden ns")
        text = read(m.p(".podfs", "status")).decode()
        check("user: fixture-limited\n" in text and "forbidden" in text, "status:\n" + text)
    with Mount(fx, opts=["context=fixture-cert"]) as m:
        eq(sorted(os.listdir(m.path)), sorted([".podfs"] + names(fx, "get", "ns")),
           "client certificate user")


def test_slow_and_expiring_lists(fx):
    """The pagination loop has one deadline; expired continue tokens restart it
    (without watches: a live listing would not be listed again)."""
    with Mount(fx, opts=["timeout=2", "cache=1", "watch_idle=0"]) as m:
        try:
            fx.set(continue_ttl_s="0")
            fx.reset_stats()
            expect_errno(lambda: os.listdir(m.p("big")), errno.EAGAIN, "list that keeps expiring")
            n = fx.stats()["by_category"].get("pod_list", 0)
            eq(n, 8, "pages: first try and 3 restarts, 2 pages each")
            fx.set(continue_ttl_s="")
            time.sleep(1.1)     # the failure is remembered for a second
            eq(len(os.listdir(m.p("big"))), BIG, "after the tokens last again")
            os.listdir(m.path)
            fx.set(rest_delay_ms="700")     # 4 pages * 0.7 s > 2 s
            time.sleep(1.1)     # the pod list is stale now
            rc, _, err, secs = run(["ls", m.p("big")], timeout=30)
            check(rc not in (0, None), "slow listing must fail: rc %s" % rc)
            check(secs < 2 + 2, "slow listing took %.1fs" % secs)
        finally:
            fx.set(continue_ttl_s="", rest_delay_ms="")


def test_no_stampede(fx):
    """Concurrent cold lookups of one namespace share one listing."""
    with Mount(fx) as m:
        fx.reset_stats()
        procs = [subprocess.Popen(["ls", "-l", m.p("big", "pod-%05d" % i, "")],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                 for i in range(0, 2000, 100)]
        for p in procs:
            _, err = p.communicate(timeout=60)
            eq(p.returncode, 0, "ls: %r" % err)
        s = fx.stats()
        eq(s["pod_requests"], 0, "per-pod requests")
        check(s["by_category"].get("pod_list", 0) <= 4, "pod lists: %s" % s["by_category"])


def test_debug_trace(fx):
    # --namespace mounts that one namespace at the root.
    with Mount(fx, args=["-d", "--namespace", "demo"]) as m:
        os.listdir(m.p("multi"))
        read(m.p("multi", "Pod.json"))
        text = read(m.p(".podfs", "status")).decode()
        check("namespace: demo\n" in text, "--namespace:\n" + text)
        log = m.read_log()
        check("lookup" in log and "open" in log, "trace in the -d log")
        check(fx.token not in log, "token in the -d log")


def test_unreachable_at_mount(fx):
    """A server that is down at mount time is not fatal: mount, report."""
    port = fx.port
    fx.stop()
    try:
        with Mount(fx, opts=["timeout=2"]) as m:
            rc, _, err, secs = run(["ls", m.path], timeout=30)
            check(rc not in (0, None) and secs < 4, "ls root: rc %s %.1fs" % (rc, secs))
            text = read(m.p(".podfs", "status")).decode()
            check("connectivity: failing" in text, "status:\n" + text)
    finally:
        fx.port = port
        fx.start()


def test_sigterm_unmounts(fx):
    m = Mount(fx)
    m.start()
    try:
        os.kill(m.proc.pid, signal.SIGTERM)
        rc = m.proc.wait(10)
        eq(rc, 0, "exit status after SIGTERM")
        from mount import is_mount
        check(not is_mount(m.path), "unmounted after SIGTERM")
        log = m.read_log()
        check("AddressSanitizer" not in log and "runtime error" not in log, "sanitizer:\n" + log)
    finally:
        m.close()


def test_empty_namespace(fx):
    """A namespace without pods (kube-node-lease on a real cluster) lists as
    empty; the list of no pods once crashed podfs (qsort of a NULL array)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "cluster.json")
        with open(path, "w") as f:
            json.dump({"namespaces": [{"name": "empty"}], "pods": []}, f)
        with fixture.Fixture(cluster=path) as fx2, Mount(fx2) as m:
            eq(os.listdir(m.p("empty")), [], "empty namespace")
            check(os.path.isdir(m.p("empty")), "empty namespace is a directory")
            rc = m.stop()
            eq(rc, 0, "podfs exit status:\n" + m.read_log()[-2000:])


def main():
    signal.signal(signal.SIGALRM, lambda *a: (_ for _ in ()).throw(TimeoutError("suite timeout")))
    signal.alarm(SUITE_TIMEOUT)
    s = Suite("test_tree")
    fx = fixture.Fixture(synthetic=["big:%d" % BIG])
    try:
        fx.start()
        m = Mount(fx)
        try:
            m.start()
            for t in (test_root_listing, test_namespace_listings, test_pod_and_container_dirs,
                      test_pod_json, test_log, test_log_grows, test_log_previous, test_status_and_state,
                      test_missing, test_tools, test_sizes_before_open, test_times, test_events,
                      test_ls_sorts_by_age, test_big_listing_no_per_pod_requests,
                      test_status_file):
                s.run(t, fx, m)
        finally:
            rc = m.stop()
            log = m.read_log()
            m.close()

        def test_clean_unmount():
            eq(rc, 0, "podfs exit status after fusermount3 -u")
            check("AddressSanitizer" not in log and "runtime error" not in log,
                  "sanitizer report:\n" + log[-3000:])
        s.run(test_clean_unmount)
        s.run(test_startup_errors, fx)
        s.run(test_sigterm_unmounts, fx)
        s.run(test_limited_user, fx)
        s.run(test_slow_and_expiring_lists, fx)
        s.run(test_no_stampede, fx)
        s.run(test_debug_trace, fx)
        s.run(test_stopped_and_killed_server, fx)
        s.run(test_unreachable_at_mount, fx)
        s.run(test_empty_namespace, fx)
    except Exception as e:
        s.failed += 1
        print("FAIL setup: %s: %s" % (type(e).__name__, e), flush=True)
    finally:
        signal.alarm(0)
        fx.close()
    return s.report()


if __name__ == "__main__":
    sys.exit(main())
