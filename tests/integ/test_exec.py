#!/usr/bin/python3
"""Integration test of exec sessions as files: mounts podfs on the fixture
API server and uses <container>/exec/ as a user would (shell recipe, cat,
writes to ctl/argv/stdin), comparing stdout, stderr and exit codes with
`kubectl exec` on the same fixture; checks large binary transfers both
ways, tty resize, 100 concurrent sessions on one multiplexer thread,
dropped connections, start errors, v4 servers, rmdir and reaping.
Prints 'test_exec: N passed, N failed' last."""

import errno
import hashlib
import json
import os
import re
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture  # noqa: E402
from mount import Mount, Suite, check, expect_errno, read, run  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

# ns/pod/app so that the recipe of docs/exec.md runs verbatim.
CLUSTER = {
    "namespaces": [{"name": "ns"}],
    "pods": [
        {"namespace": "ns", "name": "pod",
         "containers": [{"name": "app", "image": "busybox", "command": ["sleep", "infinity"]}]},
        {"namespace": "ns", "name": "other",
         "containers": [{"name": "c", "image": "busybox", "command": ["sleep", "infinity"]}]},
        {"namespace": "ns", "name": "victim",
         "containers": [{"name": "c", "image": "busybox", "command": ["sleep", "infinity"]}]},
        {"namespace": "ns", "name": "pending", "fixture": {"start": False,
                                                          "waitingReason": "ContainerCreating"},
         "containers": [{"name": "app", "image": "x", "command": ["sleep", "infinity"]}]},
    ],
}


def eq(a, b, what=""):
    if a != b:
        ra, rb = repr(a), repr(b)
        raise AssertionError("%s: %s != %s" % (what, ra[:300], rb[:300]))


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def edir(m, ns="ns", pod="pod", c="app"):
    return m.p(ns, pod, c, "exec")


def new_session(m, ns="ns", pod="pod", c="app"):
    d = edir(m, ns, pod, c)
    sid = read(os.path.join(d, "new")).decode().strip()
    return os.path.join(d, sid)


def set_argv(s, argv):
    if any("\n" in a for a in argv):
        write(s + "/argv", b"".join(a.encode() + b"\0" for a in argv))
    else:
        write(s + "/argv", b"".join(a.encode() + b"\n" for a in argv))


def ctl(s, cmd):
    write(s + "/ctl", cmd.encode() + b"\n")


def exitcode(s):
    """-> int, or the errno of the failed read."""
    try:
        return int(read(s + "/exitcode"))
    except OSError as e:
        return -e.errno


def status(s):
    return read(s + "/status").decode().rstrip("\n")


def threads(m):
    return len(os.listdir("/proc/%d/task" % m.proc.pid))


# ---- cases --------------------------------------------------------------------

def test_recipe_from_docs(fx, m):
    with open(os.path.join(ROOT, "docs", "exec.md")) as f:
        doc = f.read()
    blocks = re.findall(r"```sh\n(.*?)```", doc, re.S)
    check(blocks, "docs/exec.md has a ```sh block")
    recipe = blocks[0]
    eq(len(recipe.strip().splitlines()), 3, "the recipe is three lines")
    rc, out, err, _ = run(["sh", "-ec", recipe], env=dict(os.environ, M=m.path), timeout=30)
    want = fx.kubectl("exec", "-n", "ns", "pod", "-c", "app", "--", "sh", "-c",
                      "ls -l / | sort")
    eq(rc, 0, "recipe exit (%s)" % err.decode()[-300:])
    # `ls -l /` of this very machine: link counts and times change while
    # other tests run, so compare the names and the shape of each line.
    def steady(b):
        return [(ln.split()[0], ln.split()[-1]) if ln.split() else ln
                for ln in b.split(b"\n")]
    eq(steady(out), steady(want.stdout + b"0\n"), "recipe output = kubectl's stdout + exit code 0")


COMMANDS = [
    (["echo", "hello"], None),
    (["sh", "-c", "echo out; echo err >&2"], None),
    (["sh", "-c", "echo only-err >&2"], None),
    (["true"], None),
    (["false"], None),
    (["sh", "-c", "exit 3"], None),
    (["sh", "-c", "echo partial; exit 42"], None),
    (["sh", "-c", "exit 255"], None),
    (["printf", "%s", "no newline"], None),
    (["sh", "-c", "printf 'a\\0b\\0\\377\\n'"], None),
    (["seq", "1", "100000"], None),
    (["sh", "-c", "seq 1 20000 >&2; echo done"], None),
    (["sh", "-c", "head -c 3000000 /dev/zero | tr '\\0' x"], None),
    (["/no/such/binary"], None),
    (["no-such-command-anywhere"], None),
    (["cat"], b"line one\nline two\n"),
    (["wc", "-c"], b"x" * 100000),
    (["sh", "-c", "read a; echo got:$a; cat >&2"], b"first\nrest of it\n"),
    (["sort"], b"b\nc\na\n"),
    (["cat"], b""),
    (["sh", "-c", "echo \"$0|$1|$2\"", "arg with spaces", "", "*"], None),
    (["sh", "-c", "printf '%s' \"$1\" | od -c | head -2", "-", "two\nlines"], None),
    (["env"], None),
    (["sh", "-c", "kill -9 $$"], None),
    (["pwd"], None),
]


def podfs_exec(m, argv, stdin):
    s = new_session(m)
    set_argv(s, argv)
    eq(read(s + "/argv"), b"".join(a.encode() + (b"\0" if any("\n" in x for x in argv)
                                                  else b"\n") for a in argv), "argv read back")
    if stdin is not None:
        ctl(s, "stdin on")
    start_err = None
    try:
        ctl(s, "start")
    except OSError as e:
        start_err = e.errno
    if stdin is not None and start_err is None:
        write(s + "/stdin", stdin)
    out = read(s + "/stdout") if start_err is None else b""
    err = read(s + "/stderr") if start_err is None else b""
    return s, start_err, out, err, exitcode(s), status(s)


def test_commands_match_kubectl(fx, m):
    for argv, stdin in COMMANDS:
        args = ["exec"] + (["-i"] if stdin is not None else []) + \
            ["-n", "ns", "pod", "-c", "app", "--"] + argv
        k = fx.kubectl(*args, input=stdin)
        s, start_err, out, err, code, st = podfs_exec(m, argv, stdin)
        what = " ".join(argv)
        eq(start_err, None, what + ": start")
        # kubectl's own log lines (klog) are not the process's stderr
        kerr = re.sub(rb"(?m)^[EIW]\d{4} [\d:.]+ +\d+ \S+\.go:\d+\] .*\n", b"", k.stderr)
        if argv == ["env"]:
            # the fixture's process environment is the same for both
            eq(sorted(out.split(b"\n")), sorted(k.stdout.split(b"\n")), what + ": stdout")
        else:
            eq(out, k.stdout, what + ": stdout")
        m_fail = re.match(rb"error: (.*)", kerr.strip().split(b"\n")[-1]) if kerr else None
        if m_fail and b"command terminated with exit code" not in kerr:
            # kubectl reports a failed exec (exit 1 + "error: ..."): podfs says
            # failed in status and exitcode fails with EIO.
            eq(k.returncode, 1, what + ": kubectl")
            eq(code, -errno.EIO, what + ": exitcode")
            check(st.startswith("failed "), what + ": status %r" % st)
            check(m_fail.group(1).decode()[:60] in st, what + ": message in %r" % st)
            continue
        kerr = re.sub(rb"command terminated with exit code \d+\n$", b"", kerr)
        eq(err, kerr, what + ": stderr")
        eq(code, k.returncode, what + ": exit code")
        eq(st, "exited %d" % k.returncode, what + ": status")
        eq(read(s + "/wait").decode(), "exited %d\n" % k.returncode, what + ": wait")


def test_big_output_256m(fx, m):
    s = new_session(m)
    # Shell and coreutils only, so busybox in a real pod runs it too: the
    # data on stdout (fd 3), its sha256 on stderr.
    set_argv(s, ["sh", "-c", "{ head -c %d /dev/urandom | tee /dev/fd/3 | sha256sum >&2; } 3>&1"
                 % (256 << 20)])
    ctl(s, "start")
    h, n = hashlib.sha256(), 0
    with open(s + "/stdout", "rb", buffering=0) as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            h.update(b)
            n += len(b)
    eq(n, 256 << 20, "bytes")
    eq(h.hexdigest(), read(s + "/stderr").decode().split()[0], "sha256")
    eq(exitcode(s), 0, "exit")


def test_big_stdin_100m(fx, m):
    s = new_session(m)
    set_argv(s, ["sha256sum"])
    ctl(s, "stdin on")
    ctl(s, "start")
    h = hashlib.sha256()
    chunk = os.urandom(1 << 20)
    with open(s + "/stdin", "wb", buffering=0) as f:
        for i in range(100):
            b = chunk[i:] + chunk[:i]
            h.update(b)
            mv = memoryview(b)
            while mv:
                mv = mv[f.write(mv):]
    eq(read(s + "/stdout").decode().split()[0], h.hexdigest(), "sha256 of stdin")
    eq(exitcode(s), 0, "exit")


def test_tty_resize(fx, m):
    s = new_session(m)
    # The size reaches the process just after it starts (as with kubectl:
    # the protocol has no way to give it before); a moment's sleep lets it.
    set_argv(s, ["sh", "-c", "sleep 0.3; stty size"])
    ctl(s, "tty on")
    ctl(s, "resize 100 40")
    ctl(s, "start")
    eq(read(s + "/stdout").decode().strip(), "40 100", "stty size")
    eq(read(s + "/stderr"), b"", "stderr merges into stdout")
    eq(exitcode(s), 0, "exit")
    # resize while running
    s = new_session(m)
    set_argv(s, ["sh", "-c", "read x; stty size"])
    write(s + "/ctl", b"tty on\nstdin on\nresize 80 24\nstart\n")
    ctl(s, "resize 132 50")
    time.sleep(0.3)
    # stdin stays open until the output is read: on a real kubelet the end
    # of a tty's input ends the session before the rest of its output.
    with open(s + "/stdin", "wb", buffering=0) as f:
        f.write(b"go\n")
        out = read(s + "/stdout").decode()
    check(out.strip().endswith("50 132"), "stty after resize: %r" % out)


def test_100_sessions(fx, m):
    base = threads(m)
    sess = [new_session(m, "ns", "other", "c") for _ in range(100)]
    for i, s in enumerate(sess):
        set_argv(s, ["sh", "-c", "sleep 1; echo out $0; echo err $0 >&2; exit $(($0 % 7))", str(i)])
    errs = []

    def start(s):
        try:
            ctl(s, "start")
        except OSError as e:
            errs.append(e)
    ts = [threading.Thread(target=start, args=(s,)) for s in sess]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    eq(errs, [], "start errors")
    results = {}

    def reader(i, s):
        results[i] = (read(s + "/stdout"), read(s + "/stderr"), exitcode(s))
    rs = [threading.Thread(target=reader, args=(i, s)) for i, s in enumerate(sess)]
    for t in rs:
        t.start()
    time.sleep(0.5)     # every read is parked now, the processes still sleep
    during = threads(m)
    for t in rs:
        t.join()
    for i in range(100):
        eq(results[i], (b"out %d\n" % i, b"err %d\n" % i, i % 7), "session %d" % i)
    # One multiplexer for the pod, FUSE workers bounded: nowhere near 100.
    check(during <= base + 16, "threads: %d at rest, %d with 100 sessions" % (base, during))


def test_dropped_connection(fx, m):
    s = new_session(m)
    set_argv(s, ["sh", "-c", "echo first; sleep 30"])
    ctl(s, "start")
    f = open(s + "/stdout", "rb", buffering=0)
    try:
        eq(f.read(100), b"first\n", "bytes before the drop")
        eq(status(s), "running", "status")
        fx.drop()
        expect_errno(lambda: f.read(100), errno.EIO, "stdout after the drop")
    finally:
        f.close()
    check(status(s).startswith("lost "), "status %r" % status(s))
    eq(exitcode(s), -errno.EIO, "exitcode after a drop")
    check(read(s + "/wait").decode().startswith("lost "), "wait")


def test_start_errors(fx, m):
    # container not running
    s = new_session(m, "ns", "pending", "app")
    set_argv(s, ["true"])
    expect_errno(lambda: ctl(s, "start"), errno.EAGAIN, "start in a waiting container")
    check(status(s).startswith("failed ContainerNotRunning: "), status(s))
    eq(exitcode(s), -errno.EIO, "exitcode")
    # pod gone after the session was made
    s = new_session(m, "ns", "victim", "c")
    set_argv(s, ["true"])
    with open(s + "/ctl", "wb", buffering=0) as f, open(s + "/wait", "rb") as w:
        # Grace 0: a real apiserver keeps a gracefully deleted pod (and
        # its running container) until the kubelet has stopped it.
        st, _, _ = fx.request("DELETE", "/api/v1/namespaces/ns/pods/victim?gracePeriodSeconds=0")
        eq(st, 200, "delete pod")
        expect_errno(lambda: f.write(b"start\n"), errno.ENOENT, "start in a deleted pod")
        line = w.read().decode()
        check(line.startswith("failed NotFound: "), line)
    # bad use
    s = new_session(m)
    expect_errno(lambda: ctl(s, "start"), errno.EINVAL, "start without argv")
    expect_errno(lambda: ctl(s, "frobnicate"), errno.EINVAL, "unknown command")
    expect_errno(lambda: ctl(s, "resize 0 10"), errno.EINVAL, "bad resize")
    set_argv(s, ["true"])
    ctl(s, "start")
    expect_errno(lambda: ctl(s, "start"), errno.EBUSY, "second start")
    expect_errno(lambda: set_argv(s, ["x"]), errno.EBUSY, "argv after start")
    eq(exitcode(s), 0, "exit")


def test_wait_blocks_every_reader(fx, m):
    s = new_session(m)
    set_argv(s, ["sh", "-c", "sleep 1; exit 5"])
    eq(status(s), "new", "status before start")
    ctl(s, "start")
    eq(status(s), "running", "status while running")
    got = []
    ts = [threading.Thread(target=lambda: got.append(read(s + "/wait"))) for _ in range(5)]
    t0 = time.time()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    check(time.time() - t0 > 0.5, "wait blocked")
    eq(got, [b"exited 5\n"] * 5, "every reader gets the line")
    eq(exitcode(s), 5, "exitcode")
    eq(read(s + "/stdout"), b"", "empty output is EOF")


def test_stdin_before_start_and_close_stdin(fx, m):
    # writing stdin before the start, closed: end of input after the start
    s = new_session(m)
    set_argv(s, ["wc", "-l"])
    write(s + "/stdin", b"a\nb\nc\n")
    ctl(s, "start")
    eq(read(s + "/stdout").strip(), b"3", "wc -l")
    # close-stdin with the file still open
    s = new_session(m)
    set_argv(s, ["cat"])
    ctl(s, "stdin on")
    ctl(s, "start")
    f = open(s + "/stdin", "wb", buffering=0)
    f.write(b"kept\n")
    ctl(s, "close-stdin")
    eq(read(s + "/stdout"), b"kept\n", "output after close-stdin")
    expect_errno(lambda: f.write(b"late"), errno.EPIPE, "write after close-stdin")
    f.close()
    eq(exitcode(s), 0, "exit")


def test_v4_server(fx, m):
    fx.set(no_v5=1)
    try:
        s = new_session(m)
        set_argv(s, ["sh", "-c", "echo v4; exit 2"])
        ctl(s, "start")
        eq(read(s + "/stdout"), b"v4\n", "stdout")
        eq(exitcode(s), 2, "exit")
        s = new_session(m)
        set_argv(s, ["cat"])
        ctl(s, "stdin on")
        ctl(s, "start")
        write(s + "/stdin", b"one\n")
        expect_errno(lambda: ctl(s, "close-stdin"), errno.ENOTSUP, "close-stdin on v4")
        with open(s + "/stdout", "rb", buffering=0) as f:
            eq(f.read(100), b"one\n", "output still flows")
        eq(status(s), "running", "the last close did not end the session")
        ctl(s, "hangup")
        check(status(s).startswith("lost "), status(s))
        eq(exitcode(s), -errno.EIO, "exitcode after hangup")
    finally:
        fx.set(no_v5=0)


def test_mkdir_rmdir_listing(fx, m):
    d = edir(m)
    os.mkdir(d + "/build")
    expect_errno(lambda: os.mkdir(d + "/build"), errno.EEXIST, "mkdir twice")
    expect_errno(lambda: os.mkdir(d + "/Bad_Name"), errno.EINVAL, "mkdir bad name")
    check("build" in os.listdir(d), "listed")
    eq(oct(os.stat(d + "/build").st_mode & 0o777), oct(0o700), "session dir mode")
    eq(oct(os.stat(d + "/build/ctl").st_mode & 0o777), oct(0o600), "ctl mode")
    eq(oct(os.stat(d + "/build/stdout").st_mode & 0o777), oct(0o400), "stdout mode")
    eq(sorted(os.listdir(d + "/build")),
       sorted(["argv", "ctl", "stdin", "stdout", "stderr", "status", "wait", "exitcode"]), "files")
    set_argv(d + "/build", ["sleep", "30"])
    ctl(d + "/build", "start")
    f = open(d + "/build/stdout", "rb", buffering=0)
    os.rmdir(d + "/build")
    check("build" not in os.listdir(d), "gone after rmdir")
    expect_errno(lambda: os.stat(d + "/build/status"), errno.ENOENT, "stat after rmdir")
    expect_errno(lambda: f.read(10), errno.EIO, "open stdout after rmdir (hung up)")
    f.close()
    a, b = new_session(m), new_session(m)
    check(a != b and int(os.path.basename(b)) > int(os.path.basename(a)), "ids grow")


def test_reaping(fx, m):
    # this mount runs with PODFS_EXEC_REAP_MS=300 (and UNSTARTED_MS=300)
    d = edir(m)
    s = new_session(m)
    set_argv(s, ["echo", "x"])
    ctl(s, "start")
    f = open(s + "/status", "rb")     # an open file keeps it
    eq(read(s + "/stdout"), b"x\n", "out")
    eq(exitcode(s), 0, "exit")
    time.sleep(0.6)
    check(os.path.basename(s) in os.listdir(d), "kept while a file is open")
    f.close()
    time.sleep(0.6)
    check(os.path.basename(s) not in os.listdir(d), "reaped after the idle time")
    s2 = new_session(m)
    set_argv(s2, ["sh", "-c", "sleep 2"])
    ctl(s2, "start")
    time.sleep(0.8)
    check(os.path.basename(s2) in os.listdir(d), "a running session is never reaped")
    eq(exitcode(s2), 0, "exit")
    # never started (a tree walker read `new`): this mount runs with
    # PODFS_EXEC_UNSTARTED_MS=300, the default is a minute
    s3 = new_session(m)
    set_argv(s3, ["echo", "never"])
    time.sleep(0.1)
    check(os.path.basename(s3) in os.listdir(d), "an unstarted session is listed at first")
    time.sleep(0.6)
    check(os.path.basename(s3) not in os.listdir(d), "an unstarted session expires")


def main():
    suite = Suite("test_exec")
    tmp = tempfile.mkdtemp(prefix="podfs-exec-")
    cl = os.path.join(tmp, "cluster.json")
    with open(cl, "w") as f:
        json.dump(CLUSTER, f)
    with fixture.Fixture(cluster=cl) as fx:
        m = Mount(fx).start()
        try:
            for t in (test_recipe_from_docs, test_commands_match_kubectl, test_big_output_256m,
                      test_big_stdin_100m, test_tty_resize, test_100_sessions,
                      test_wait_blocks_every_reader, test_stdin_before_start_and_close_stdin,
                      test_v4_server, test_mkdir_rmdir_listing, test_start_errors,
                      test_dropped_connection):
                suite.run(t, fx, m)
            # sessions left open at unmount: freed, no sanitizer report
            s = new_session(m)
            set_argv(s, ["sleep", "30"])
            ctl(s, "start")
            suite.run(test_clean_exit, m)
        finally:
            m.close()
        os.environ["PODFS_EXEC_REAP_MS"] = "300"
        os.environ["PODFS_EXEC_UNSTARTED_MS"] = "300"
        try:
            with Mount(fx) as m:
                suite.run(test_reaping, fx, m)
        finally:
            del os.environ["PODFS_EXEC_REAP_MS"]
            del os.environ["PODFS_EXEC_UNSTARTED_MS"]
    return suite.report()


def test_clean_exit(m):
    rc = m.stop()
    log = m.read_log()
    check("Sanitizer" not in log, "sanitizer report: " + log[-3000:])
    eq(rc, 0, "podfs exit status")


if __name__ == "__main__":
    sys.exit(main())
