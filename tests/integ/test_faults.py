#!/usr/bin/python3
"""Fault scenarios on the mounted fixture cluster (docs/reliability.md):
a server that sends garbage, names that cannot be file names, readers that
vanish, a server that stops answering, is killed or restarts, and podfs
ended by unmount or SIGTERM with sessions open.  Each scenario checks: no
crash, no hang, the right error for that operation only, nothing silently
lost, and the mount still serving afterwards.  The podfs binary runs under
ASan/UBSan (build/podfs-san) unless PODFS_BIN says otherwise; its log is
checked for sanitizer reports at every unmount.
Prints 'test_faults: N passed, N failed' last."""

import errno
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture  # noqa: E402
from mount import Mount, Suite, check, read_until  # noqa: E402

TICKER = ("demo", "ticker", "ticker")
ECHO = ("demo", "echo", "echo")
ECHO_PORT = ("demo", "echo", "Ports", "7")
LOOP = ["sh", "-c", "while :; do echo exec-tick; sleep 0.2; done"]

# A port-forward client: says ping, prints the echo, then blocks reading;
# a read error ends it with the error text on stderr (exit 3).
PORT_CLIENT = """import os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
os.write(fd, b"ping\\n")
sys.stdout.buffer.write(os.read(fd, 100)); sys.stdout.flush()
try:
    while os.read(fd, 65536):
        pass
except OSError as e:
    sys.stderr.write(os.strerror(e.errno) + "\\n"); sys.exit(3)
"""


def status(m):
    with open(m.p(".podfs", "status")) as f:
        return f.read()


def sessions(m):
    """-> (open sessions, stream threads) from .podfs/status."""
    mo = re.search(r"open sessions: (\d+) \(stream threads: (\d+)\)", status(m))
    check(mo, "no session line in .podfs/status")
    return int(mo.group(1)), int(mo.group(2))


def wait_released(m, timeout=10.0, threads=True):
    """Every session (and, with threads, every multiplexer thread) is gone."""
    deadline = time.time() + timeout
    while True:
        s, t = sessions(m)
        if s == 0 and (t == 0 or not threads):
            return
        check(time.time() < deadline,
              "resources not released after %.0f s: %d sessions, %d threads" % (timeout, s, t))
        time.sleep(0.2)


def retry(fn, timeout=10.0):
    """fn() until it stops raising OSError (the mount recovers)."""
    deadline = time.time() + timeout
    while True:
        try:
            return fn()
        except OSError as e:
            if time.time() > deadline:
                raise AssertionError("still failing after %.0f s: %s" % (timeout, e))
            time.sleep(0.2)


def blocked_reader(m, *path):
    """A `cat` of a stream file that has shown its first output."""
    p = subprocess.Popen(["cat", m.p(*path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return p


def expect_eio(p, within, what, errors=(b"Input/output error",)):
    """p (a cat) ends with an I/O error within `within` seconds."""
    try:
        rc = p.wait(within)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        raise AssertionError("%s: reader still blocked after %.0f s" % (what, within))
    err = p.stderr.read()
    check(rc != 0, "%s: reader ended cleanly: the fault was taken for EOF" % what)
    check(any(e in err for e in errors), "%s: stderr %r" % (what, err))


def exec_start(m, argv, path=TICKER):
    """A started exec session in the container at path -> its directory."""
    d = m.p(*path, "exec")
    with open(os.path.join(d, "new")) as f:
        s = os.path.join(d, f.read().strip())
    with open(os.path.join(s, "argv"), "w") as f:
        f.write("\n".join(argv) + "\n")
    with open(os.path.join(s, "ctl"), "w") as f:
        f.write("start\n")
    return s


def exec_status(s):
    with open(os.path.join(s, "status")) as f:
        return f.read().strip()


def exec_reader(s):
    return subprocess.Popen(["cat", os.path.join(s, "stdout")], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def port_client(m):
    p = subprocess.Popen(["/usr/bin/python3", "-c", PORT_CLIENT, m.p(*ECHO_PORT)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    read_until(p.stdout.fileno(), b"ping\n", timeout=10)
    return p


def exitcode_fails(s):
    try:
        with open(os.path.join(s, "exitcode")) as f:
            got = f.read()
    except OSError as e:
        check(e.errno == errno.EIO, "exitcode: errno %d" % e.errno)
        return
    raise AssertionError("exitcode of a lost/failed session read %r" % got)


def sanitizer_clean(log):
    return ("ERROR: AddressSanitizer" not in log and "ERROR: LeakSanitizer" not in log
            and "runtime error:" not in log and "ThreadSanitizer" not in log)


def ticks_still_flow(m):
    fd = os.open(m.p(*TICKER, "stdout"), os.O_RDONLY)
    try:
        read_until(fd, b"tick", timeout=10)
    finally:
        os.close(fd)


# ---- the server sends garbage ---------------------------------------------------


def t_garbage_list_json(m, fx):
    """A pod list that is not JSON: EIO for that listing, the next one works."""
    fx.garbage("list")
    try:
        os.listdir(m.p("demo"))
        raise AssertionError("a truncated JSON list was accepted")
    except OSError as e:
        check(e.errno == errno.EIO, "errno %d" % e.errno)
    check("web" in retry(lambda: os.listdir(m.p("demo"))))
    check("not a JSON list" in m.read_log() + status(m),
          "no clear message: %s" % status(m))


def t_garbage_list_chunked(m, fx):
    """A chunked list body cut off before its last chunk: EIO, then recovery."""
    fx.garbage("chunked")
    try:
        os.listdir(m.p("demo"))
        raise AssertionError("a truncated chunked body was accepted")
    except OSError as e:
        check(e.errno == errno.EIO, "errno %d" % e.errno)
    check("web" in retry(lambda: os.listdir(m.p("demo"))))


def t_garbage_namespaces(m, fx):
    """The namespace list garbled: the root listing fails, then recovers."""
    fx.garbage("list")
    try:
        os.listdir(m.path)
    except OSError as e:
        check(e.errno == errno.EIO, "errno %d" % e.errno)
    check("demo" in retry(lambda: os.listdir(m.path)))


def t_garbage_pod(m, fx):
    """A pod object that is not JSON: reading Pod.json fails or shows the
    server's bytes, never crashes; the next read is the real pod."""
    fx.garbage("pod")
    try:
        with open(m.p("demo", "web", "Pod.json"), "rb") as f:
            f.read()
    except OSError as e:
        check(e.errno in (errno.EIO, errno.EPROTO), "errno %d" % e.errno)

    def good():
        with open(m.p("demo", "web", "Pod.json"), "rb") as f:
            data = f.read()
        if b'"web"' not in data:
            raise OSError(errno.EIO, "still garbage")
        return data
    retry(good)


def ws_garbage(m, fx, what, within=8, errors=(b"Input/output error",)):
    wait_released(m, threads=False)
    fx.set(ws_garbage=what)
    try:
        p = blocked_reader(m, *TICKER, "stdout")
        expect_eio(p, within, what, errors)
    finally:
        fx.set(ws_garbage="")
    wait_released(m)
    ticks_still_flow(m)


def t_ws_invalid_frame(m, fx):
    """A frame with reserved bits set: the reader gets EIO (after the data
    that came before it), the session is closed, the next open works."""
    ws_garbage(m, fx, "invalid_frame")


def t_ws_oversized_frame(m, fx):
    """A frame announcing 64 MiB (past the 32 MiB limit): EIO at once, no
    64 MiB allocation."""
    ws_garbage(m, fx, "oversized")


def t_ws_status_not_json(m, fx):
    """Channel 3 carries text that is not a Status: the attach ends as a
    failure (EIO) with the text in .podfs/status, not as a clean end."""
    ws_garbage(m, fx, "status_not_json")
    check("this status is not JSON" in status(m) or "this status is not JSON" in m.read_log(),
          "the server's text is not shown: %s" % status(m))


def t_ws_bad_accept(m, fx):
    """101 with the wrong Sec-WebSocket-Accept: the open fails (EPROTO)."""
    ws_garbage(m, fx, "bad_accept", errors=(b"Protocol error",))


def t_ws_bad_protocol(m, fx):
    """101 choosing a subprotocol we did not offer: the open fails (EPROTO)."""
    ws_garbage(m, fx, "bad_protocol", errors=(b"Protocol error",))


def t_ws_unknown_channel(m, fx):
    """A message on channel 7 is dropped with a debug line (as client-go
    does); the stream goes on and nothing else is lost."""
    wait_released(m, threads=False)
    fx.set(ws_garbage="unknown_channel")
    try:
        fd = os.open(m.p(*TICKER, "stdout"), os.O_RDONLY)
        try:
            got = read_until(fd, b"after-unknown-channel\n", timeout=10)
            check(b"junk" not in got, "channel 7 bytes reached stdout: %r" % got)
            read_until(fd, b"tick", timeout=10)
        finally:
            os.close(fd)
    finally:
        fx.set(ws_garbage="")
    wait_released(m)


def t_exec_status_not_json(m, fx):
    """An exec whose channel 3 carries text that is not a Status: stdout
    ends (EOF) after the output, `status` is `failed` with the text, and
    `exitcode` fails with EIO."""
    fx.set(ws_garbage="status_not_json")
    try:
        s = exec_start(m, ["echo", "never-runs"])
    finally:
        fx.set(ws_garbage="")
    with open(os.path.join(s, "stdout"), "rb") as f:
        out = f.read()
    check(b"before-garbage" in out, "stdout %r" % out)
    st = exec_status(s)
    check(st.startswith("failed") and "this status is not JSON" in st, "status %r" % st)
    exitcode_fails(s)


def t_exec_invalid_frame(m, fx):
    """An invalid frame in an exec session: stdout readers get EIO,
    `status` says lost (protocol error), `exitcode` EIO."""
    fx.set(ws_garbage="invalid_frame")
    try:
        s = exec_start(m, ["echo", "never-runs"])
    finally:
        fx.set(ws_garbage="")
    expect_eio(exec_reader(s), 8, "exec stdout")
    st = exec_status(s)
    check(st.startswith("lost") and "frame" in st, "status %r" % st)
    exitcode_fails(s)
    wait_released(m)


def t_bad_names(m, fx):
    """Names that cannot be file names ('/', '.', '..', empty, > 255 bytes)
    are skipped with a log line, never listed or followed."""
    fx.set(bad_names="1")
    try:
        time.sleep(0.1)
        root = retry(lambda: os.listdir(m.path))
        demo = retry(lambda: os.listdir(m.p("demo")))
        for names in (root, demo):
            for n in names:
                check(n not in (".", "..", "") and "/" not in n and len(n.encode()) <= 255,
                      "bad name listed: %r" % n)
        check("demo" in root and "web" in demo, "good names lost: %r %r" % (root, demo))
        check("bad-containers" in demo)
        inner = os.listdir(m.p("demo", "bad-containers"))
        check("good" in inner, "the good container is missing: %r" % inner)
        check(not any(n.startswith("x" * 50) or n in ("..", ".", "a/b") for n in inner),
              "bad container listed: %r" % inner)
        # ".." inside the mount still means the kernel's parent, not a pod.
        check(os.path.realpath(m.p("demo", "..")) == os.path.realpath(m.path))
        check("skipping a pod name" in m.read_log(), "no log line for skipped names")
        check("skipping a container name" in m.read_log())
        check("skipping a namespace name" in m.read_log())
    finally:
        fx.set(bad_names="")


# ---- readers vanish -----------------------------------------------------------


def t_reader_killed(m, fx):
    """`cat` killed with SIGKILL while blocked in read: its session ends."""
    wait_released(m)
    p = blocked_reader(m, *TICKER, "stdout")
    read_until(p.stdout.fileno(), b"tick", timeout=10)
    check(sessions(m)[0] >= 1, "no session while cat reads")
    # block it in read(): wait for the next tick to be consumed first
    time.sleep(0.3)
    p.kill()
    p.wait()
    wait_released(m)


def t_stdin_holder_killed(m, fx):
    """A process holding stdin open is killed: session and writer released."""
    wait_released(m)
    p = subprocess.Popen(["sh", "-c", "exec 3>'%s'; echo opened; sleep 1000" % m.p(*ECHO, "stdin")],
                         stdout=subprocess.PIPE, start_new_session=True)
    read_until(p.stdout.fileno(), b"opened", timeout=10)
    check(sessions(m)[0] >= 1)
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    wait_released(m)
    # the container still takes input
    out = os.open(m.p(*ECHO, "stdout"), os.O_RDONLY)
    try:
        with open(m.p(*ECHO, "stdin"), "wb") as w:
            w.write(b"still-alive\n")
        read_until(out, b"still-alive\n")
    finally:
        os.close(out)
    wait_released(m)


def t_abandoned_unread(m, fx):
    """A session abandoned with megabytes unread (stdout open, 8 MiB sent
    through stdin, nothing read, then everything closed): released, memory
    bounded by the buffer, and the mount serves on."""
    wait_released(m)
    out = os.open(m.p(*ECHO, "stdout"), os.O_RDONLY)
    try:
        w = os.open(m.p(*ECHO, "stdin"), os.O_WRONLY | os.O_NONBLOCK)
        sent = 0
        block = b"z" * 65536
        deadline = time.time() + 10
        try:
            while sent < (8 << 20) and time.time() < deadline:
                try:
                    sent += os.write(w, block)
                except BlockingIOError:
                    time.sleep(0.01)
        finally:
            os.close(w)
        check(sent >= (2 << 20), "only %d bytes went in" % sent)
    finally:
        os.close(out)
    wait_released(m, timeout=15)
    ticks_still_flow(m)
    wait_released(m)


# ---- the server goes away -----------------------------------------------------


def t_server_stopped(fx):
    """SIGSTOP on the server (TCP stays open): metadata operations fail with
    ETIMEDOUT within -o timeout; a blocked stream reader notices through the
    missing pong (-o keepalive=1) and gets EIO; after SIGCONT all recovers."""
    # cache=60: an open of exec/<id>/status checks that the pod exists,
    # which with the server gone only the cache can answer; the listing
    # that must time out is of a namespace not listed before.
    with Mount(fx, opts=["timeout=2", "cache=60", "keepalive=1"]) as m:
        p = blocked_reader(m, *TICKER, "stdout")
        read_until(p.stdout.fileno(), b"tick", timeout=10)
        s = exec_start(m, LOOP)
        xr = exec_reader(s)
        read_until(xr.stdout.fileno(), b"exec-tick", timeout=10)
        pc = port_client(m)
        os.kill(fx.proc.pid, signal.SIGSTOP)
        try:
            t0 = time.time()
            try:
                os.listdir(m.p("kube-system"))
                raise AssertionError("listing a stopped server succeeded")
            except OSError as e:
                check(e.errno == errno.ETIMEDOUT, "errno %d (%s)" % (e.errno, e))
            took = time.time() - t0
            check(took < 4.5, "ETIMEDOUT after %.1f s with timeout=2" % took)
            expect_eio(p, 6, "missing pong")
            expect_eio(xr, 6, "exec: missing pong")
            expect_eio(pc, 6, "port-forward: missing pong")
            st = exec_status(s)
            check(st.startswith("lost"), "exec status %r" % st)
            exitcode_fails(s)
            check("pong" in status(m) + m.read_log(), "no word of the missing pong")
        finally:
            os.kill(fx.proc.pid, signal.SIGCONT)
        check("coredns-0" in retry(lambda: os.listdir(m.p("kube-system"))))
        ticks_still_flow(m)
        rc = m.stop()
        log = m.read_log()
        check(rc == 0 and sanitizer_clean(log), "exit %r: %s" % (rc, log[-1500:]))


def t_server_killed_and_restarted(fx):
    """The server is killed mid-stream (attach stdout and log.follow blocked
    in read): both get EIO within a few seconds; listing fails cleanly while
    it is down; after a restart on the same port new opens and listings work
    without remounting."""
    with Mount(fx, opts=["timeout=3", "cache=60"]) as m:
        att = blocked_reader(m, *TICKER, "stdout")
        fol = blocked_reader(m, *TICKER, "log.follow")
        read_until(att.stdout.fileno(), b"tick", timeout=10)
        read_until(fol.stdout.fileno(), b"tick", timeout=10)
        s = exec_start(m, LOOP)
        xr = exec_reader(s)
        read_until(xr.stdout.fileno(), b"exec-tick", timeout=10)
        pc = port_client(m)
        os.kill(fx.proc.pid, signal.SIGKILL)
        t0 = time.time()
        expect_eio(att, 6, "attach after kill")
        expect_eio(fol, 6, "log.follow after kill")
        expect_eio(xr, 6, "exec after kill")
        expect_eio(pc, 6, "port-forward after kill")
        st = exec_status(s)
        check(st.startswith("lost"), "exec status %r" % st)
        exitcode_fails(s)
        check(time.time() - t0 < 6)
        try:
            os.listdir(m.p("kube-system"))
            raise AssertionError("listing a dead server succeeded")
        except OSError as e:
            # EPROTO: a dying kube-apiserver's kernel still completes TCP
            # handshakes from its backlog, then resets them mid-TLS.
            check(e.errno in (errno.EIO, errno.ECONNREFUSED, errno.ENOTCONN,
                              errno.EHOSTUNREACH, errno.ETIMEDOUT, errno.EPROTO),
                  "errno %d" % e.errno)
        fx.stop()
        fx.start()
        check("coredns-0" in retry(lambda: os.listdir(m.p("kube-system")), timeout=15))
        retry(lambda: ticks_still_flow(m), timeout=15)
        fd = os.open(m.p(*TICKER, "log.follow"), os.O_RDONLY)
        try:
            read_until(fd, b"tick", timeout=10)
        finally:
            os.close(fd)
        s = exec_start(m, ["echo", "after-restart"])
        with open(os.path.join(s, "stdout"), "rb") as f:
            check(f.read() == b"after-restart\n", "exec after the restart")
        pc = port_client(m)
        pc.kill()
        pc.wait()
        rc = m.stop()
        log = m.read_log()
        check(rc == 0 and sanitizer_clean(log), "exit %r: %s" % (rc, log[-1500:]))


# ---- podfs ends with sessions open -------------------------------------------


def end_all(procs):
    for p in procs:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                p.kill()
    for p in procs:
        p.wait()


def t_unmount_with_sessions(fx):
    """Unmount while readers are blocked and a writer holds stdin: plain
    `fusermount3 -u` refuses (EBUSY) and podfs keeps serving; the lazy
    unmount detaches at once, podfs serves the open files until their
    processes end, then exits 0 with no sanitizer report (leaks included)."""
    m = Mount(fx).start()
    procs = []
    try:
        for path in ((*TICKER, "stdout"), (*TICKER, "log.follow"), (*ECHO, "stdout")):
            procs.append(subprocess.Popen(["cat", m.p(*path)], stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, start_new_session=True))
        procs.append(subprocess.Popen(["sh", "-c", "exec 3>'%s'; sleep 1000" % m.p(*ECHO, "stdin")],
                                      start_new_session=True))
        read_until(procs[0].stdout.fileno(), b"tick", timeout=10)
        read_until(procs[1].stdout.fileno(), b"tick", timeout=10)
        time.sleep(0.5)
        busy = subprocess.run(["fusermount3", "-u", m.path], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=10)
        check(busy.returncode != 0, "unmount with open files succeeded")
        read_until(procs[0].stdout.fileno(), b"tick", timeout=10)
        subprocess.run(["fusermount3", "-u", "-z", m.path], timeout=10)
        read_until(procs[0].stdout.fileno(), b"tick", timeout=10)   # still served
        end_all(procs)
        rc = m.proc.wait(20)
        log = m.read_log()
        check(rc == 0, "exit %r: %s" % (rc, log[-1500:]))
        check(sanitizer_clean(log), log[-3000:])
    finally:
        end_all(procs)
        m.close()


def t_sigterm_with_sessions(fx):
    """SIGTERM with readers blocked: podfs unmounts, exits 0, no leaks."""
    m = Mount(fx).start()
    try:
        readers = [blocked_reader(m, *TICKER, "stdout"), blocked_reader(m, *TICKER, "stderr")]
        read_until(readers[0].stdout.fileno(), b"tick", timeout=10)
        m.proc.send_signal(signal.SIGTERM)
        rc = m.proc.wait(20)
        for r in readers:
            try:
                r.wait(10)
            except subprocess.TimeoutExpired:
                r.kill()
                r.wait()
        log = m.read_log()
        check(rc == 0, "exit %r: %s" % (rc, log[-1500:]))
        check(sanitizer_clean(log), log[-3000:])
    finally:
        m.close()


def open_every_kind(m):
    """One open file of every kind of session, each shown to be live:
    attach stdout, log.follow, exec stdout, a Ports connection and a
    Proxy download -> the processes holding them."""
    procs = [blocked_reader(m, *TICKER, "stdout"), blocked_reader(m, *TICKER, "log.follow")]
    read_until(procs[0].stdout.fileno(), b"tick", timeout=10)
    read_until(procs[1].stdout.fileno(), b"tick", timeout=10)
    procs.append(exec_reader(exec_start(m, LOOP)))
    read_until(procs[2].stdout.fileno(), b"exec-tick", timeout=10)
    procs.append(port_client(m))
    procs.append(subprocess.Popen(
        ["sh", "-c", "exec 3<'%s'; echo opened; sleep 1000" %
         m.p("demo", "web", "Proxy", "80", "index.html")], stdout=subprocess.PIPE,
        start_new_session=True))
    read_until(procs[4].stdout.fileno(), b"opened", timeout=10)
    return procs


def clean_exit(m, rc):
    log = m.read_log()
    check(rc == 0, "exit %r: %s" % (rc, log[-1500:]))
    check(sanitizer_clean(log), log[-3000:])
    check("still held" not in log, "an owner outlived the unmount: %s" % log[-1500:])


def t_unmount_every_kind(fx):
    """attach, exec, Ports, Proxy and log.follow open: `fusermount3 -u`
    refuses while they are (EBUSY); the lazy unmount detaches, the holders
    end, podfs exits 0 with every owner gone and no sanitizer report."""
    m = Mount(fx).start()
    procs = []
    try:
        procs = open_every_kind(m)
        busy = subprocess.run(["fusermount3", "-u", m.path], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=10)
        check(busy.returncode != 0, "unmount with open files succeeded")
        subprocess.run(["fusermount3", "-u", "-z", m.path], timeout=10)
        end_all(procs)
        clean_exit(m, m.proc.wait(20))
    finally:
        end_all(procs)
        m.close()


def t_sigterm_every_kind(fx):
    """SIGTERM with attach, exec, Ports, Proxy and log.follow open: podfs
    closes every open file itself (libfuse frees handles without RELEASE), ends every
    session, exits 0, no leak, no sanitizer report."""
    m = Mount(fx).start()
    procs = []
    try:
        procs = open_every_kind(m)
        m.proc.send_signal(signal.SIGTERM)
        rc = m.proc.wait(20)
        end_all(procs)
        clean_exit(m, rc)
    finally:
        end_all(procs)
        m.close()


def t_valgrind(fx):
    """The non-sanitizer ./podfs under valgrind --leak-check=full: mount,
    stream, unmount with sessions open; no errors, no definite leaks."""
    vg = "/usr/bin/valgrind"
    plain = os.path.join(fixture.ROOT, "podfs")
    if not os.path.exists(vg) or not os.path.exists(plain):
        print("skip valgrind: %s" % ("no valgrind" if not os.path.exists(vg) else "no ./podfs"))
        return
    wrapper = os.path.join(fx.state, "podfs-valgrind")
    vlog = os.path.join(fx.state, "valgrind.log")
    with open(wrapper, "w") as f:
        f.write("#!/bin/sh\nexec %s -q --leak-check=full --errors-for-leak-kinds=definite "
                "--error-exitcode=99 --log-file=%s %s \"$@\"\n" % (vg, vlog, plain))
    os.chmod(wrapper, 0o755)
    old = os.environ.get("PODFS_BIN")
    os.environ["PODFS_BIN"] = wrapper
    try:
        m = Mount(fx, wait=60).start()
    finally:
        if old is None:
            del os.environ["PODFS_BIN"]
        else:
            os.environ["PODFS_BIN"] = old
    procs = []
    try:
        for path in ((*TICKER, "stdout"), (*TICKER, "log.follow")):
            procs.append(subprocess.Popen(["cat", m.p(*path)], stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, start_new_session=True))
        read_until(procs[0].stdout.fileno(), b"tick", timeout=30)
        read_until(procs[1].stdout.fileno(), b"tick", timeout=30)
        os.listdir(m.p("demo"))
        # SIGTERM with the sessions open: the FUSE loop ends and podfs
        # tears everything down under valgrind's eye.
        m.proc.send_signal(signal.SIGTERM)
        rc = m.proc.wait(60)
        end_all(procs)
        with open(vlog) as f:
            report = f.read()
        check(rc == 0, "valgrind exit %r: %s %s" % (rc, report[-3000:], m.read_log()[-1000:]))
        check("definitely lost" not in report and "Invalid" not in report, report[-3000:])
    finally:
        end_all(procs)
        m.close()


def main():
    s = Suite("test_faults")
    only = os.environ.get("FAULTS")   # a regex of scenario names, for debugging
    if only:
        run_ = s.run
        s.run = lambda fn, *a: run_(fn, *a) if re.search(only, fn.__name__) else None
    with fixture.Fixture() as fx:
        with Mount(fx, opts=["timeout=3", "cache=0"]) as m:
            for t in (t_garbage_list_json, t_garbage_list_chunked, t_garbage_namespaces,
                      t_garbage_pod, t_ws_invalid_frame, t_ws_oversized_frame,
                      t_ws_status_not_json, t_ws_bad_accept, t_ws_bad_protocol,
                      t_ws_unknown_channel, t_exec_status_not_json, t_exec_invalid_frame,
                      t_bad_names, t_reader_killed,
                      t_stdin_holder_killed, t_abandoned_unread):
                s.run(t, m, fx)
            rc = m.stop()
            log = m.read_log()
            s.run(lambda: check(rc == 0 and sanitizer_clean(log),
                                "unmount: exit %r, log: %s" % (rc, log[-1500:])))
        for t in (t_server_stopped, t_server_killed_and_restarted, t_unmount_with_sessions,
                  t_sigterm_with_sessions, t_unmount_every_kind, t_sigterm_every_kind,
                  t_valgrind):
            if fx.proc is None:
                fx.start()
            s.run(t, fx)
    return s.report()


if __name__ == "__main__":
    sys.exit(main())
