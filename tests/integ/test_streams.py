#!/usr/bin/python3
"""Integration test of the stream files (attach stdin/stdout/stderr,
log.follow, the growing log): mounts podfs on the fixture cluster and uses
the files the way a user does -- cat, echo, timeout -s INT, poll, several
readers, O_NONBLOCK reads and writes, grep -r over a pod, a server that
drops every connection mid-stream.
Prints 'test_streams: N passed, N failed' last."""

import errno
import hashlib
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture  # noqa: E402
from mount import Mount, Suite, check, read, read_until, run  # noqa: E402

MANY = 50


def cluster_file(tmp):
    """The demo cluster plus MANY idle pods for the many-readers case."""
    with open(os.path.join(fixture.ROOT, "tests", "fixture", "cluster.json")) as f:
        c = json.load(f)
    c["namespaces"].append({"name": "many"})
    for i in range(MANY):
        c["pods"].append({"namespace": "many", "name": "idle-%d" % i,
                          "containers": [{"name": "c", "image": "busybox:1.36",
                                          "command": ["sleep", "100000"]}]})
    path = os.path.join(tmp, "cluster.json")
    with open(path, "w") as f:
        json.dump(c, f)
    return path


def t_echo_through_attach(m, fx):
    """`echo hi > stdin` reaches the container; a reader of stdout sees the answer."""
    out = os.open(m.p("demo", "echo", "echo", "stdout"), os.O_RDONLY)
    try:
        rc, _, err, _ = run(["sh", "-c", "echo hello-attach > '%s'" % m.p("demo", "echo", "echo", "stdin")])
        check(rc == 0, "echo > stdin failed: %r" % err)
        # a second writer joins the same session, like a FIFO
        rc, _, err, _ = run(["sh", "-c", "echo second-writer > '%s'" % m.p("demo", "echo", "echo", "stdin")])
        check(rc == 0, "second echo failed: %r" % err)
        got = read_until(out, b"second-writer\n")
        check(b"hello-attach\n" in got, "first line missing: %r" % got)
    finally:
        os.close(out)


def t_stdin_refused_without_spec(m, fx):
    """stdin of a container without `stdin: true` fails at open, not at write."""
    try:
        fd = os.open(m.p("demo", "ticker", "ticker", "stdin"), os.O_WRONLY)
    except OSError as e:
        check(e.errno in (errno.EPERM, errno.EACCES), "errno %d" % e.errno)
        return
    os.close(fd)
    raise AssertionError("open of stdin succeeded")


def t_big_roundtrip(m, fx):
    """100 MiB through stdin of `cat` and back out of stdout, sha256 equal."""
    size = 100 << 20
    data_sha = hashlib.sha256()
    out_sha = hashlib.sha256()
    got = [0]
    errs = []
    out = os.open(m.p("demo", "echo", "echo", "stdout"), os.O_RDONLY)

    def reader():
        try:
            while got[0] < size:
                chunk = os.read(out, 1 << 20)
                if not chunk:
                    errs.append("EOF after %d bytes" % got[0])
                    return
                out_sha.update(chunk)
                got[0] += len(chunk)
        except OSError as e:
            errs.append(str(e))

    t = threading.Thread(target=reader)
    t.start()
    block = os.urandom(1 << 20)
    with open(m.p("demo", "echo", "echo", "stdin"), "wb", buffering=0) as w:
        for i in range(size >> 20):
            # vary the blocks so a dropped or repeated block shows
            b = bytes([i & 0xff]) + block[1:]
            data_sha.update(b)
            view = memoryview(b)
            while view:
                n = w.write(view)
                view = view[n:]
    t.join(120)
    os.close(out)
    check(not t.is_alive(), "reader still running after 120 s (%d bytes)" % got[0])
    check(not errs, "reader: %s" % errs)
    check(got[0] == size, "got %d of %d bytes" % (got[0], size))
    check(out_sha.hexdigest() == data_sha.hexdigest(), "sha256 differs")


def t_two_readers(m, fx):
    """Two readers of one stdout both get every byte written after they opened."""
    a = os.open(m.p("demo", "echo", "echo", "stdout"), os.O_RDONLY)
    b = os.open(m.p("demo", "echo", "echo", "stdout"), os.O_RDONLY)
    try:
        lines = b"".join(b"line %d\n" % i for i in range(2000))
        with open(m.p("demo", "echo", "echo", "stdin"), "wb") as w:
            w.write(lines + b"two-readers-done\n")
        ga = read_until(a, b"two-readers-done\n")
        gb = read_until(b, b"two-readers-done\n")
        check(lines in ga, "reader a lost data")
        check(lines in gb, "reader b lost data")
    finally:
        os.close(a)
        os.close(b)


def t_interrupt(m, fx):
    """`timeout -s INT` on a blocked cat returns within about a second."""
    t0 = time.time()
    rc, _, _, secs = run(["timeout", "-s", "INT", "1", "cat", m.p("demo", "echo", "echo", "stdout")], timeout=10)
    check(rc is not None, "cat did not return")
    check(secs < 2.5, "took %.1f s" % secs)
    check(time.time() - t0 < 3)


def t_many_blocked_readers(m, fx):
    """50 blocked readers on 50 pods hold no FUSE thread: ls still answers at once."""
    procs = [subprocess.Popen(["cat", m.p("many", "idle-%d" % i, "c", "stdout")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
             for i in range(MANY)]
    try:
        time.sleep(3)
        alive = [p for p in procs if p.poll() is None]
        check(len(alive) == MANY, "%d readers ended early: %r" % (
            MANY - len(alive), [p.stderr.read()[:200] for p in procs if p.poll() is not None][:3]))
        t0 = time.time()
        names = os.listdir(m.p("demo"))
        os.listdir(m.p("demo", "web"))
        with open(m.p("demo", "web", "Status")) as f:
            f.read()
        check("web" in names)
        check(time.time() - t0 < 2.0, "ls took %.1f s" % (time.time() - t0))
        with open(m.p(".podfs", "status")) as f:
            st = f.read()
        check(st, "empty status")
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(10)


def t_poll_wakes(m, fx):
    """poll() on stdout: quiet while nothing comes, POLLIN when data arrives."""
    fd = os.open(m.p("demo", "echo", "echo", "stdout"), os.O_RDONLY)
    try:
        p = select.poll()
        p.register(fd, select.POLLIN)
        check(p.poll(300) == [], "poll reported data on a quiet stream")
        with open(m.p("demo", "echo", "echo", "stdin"), "wb") as w:
            w.write(b"wake-up\n")
        ev = p.poll(5000)
        check(ev and ev[0][1] & select.POLLIN, "poll did not wake: %r" % ev)
        check(b"wake-up" in read_until(fd, b"wake-up\n"))
    finally:
        os.close(fd)


def t_log_follow(m, fx):
    """log.follow streams lines written after it was opened."""
    fd = os.open(m.p("demo", "echo", "echo", "log.follow"), os.O_RDONLY)
    try:
        time.sleep(0.5)
        mark = b"follow-mark-%d\n" % time.time_ns()
        with open(m.p("demo", "echo", "echo", "stdin"), "wb") as w:
            w.write(mark)
        read_until(fd, mark, timeout=10)
    finally:
        os.close(fd)


def t_log_follow_resumes(m, fx):
    """A follow the server ends while the container runs is resumed from
    the last line delivered: no line lost, none repeated (without the
    resume the follow would end: EOF before the second line)."""
    fx.set(log_follow_end="1")       # first: a backend without it leaves no fd open
    fd = os.open(m.p("demo", "echo", "echo", "log.follow"), os.O_RDONLY)
    try:
        time.sleep(0.5)
        got = b""
        for i in range(3):
            mark = b"resume-mark-%d-%d\n" % (i, time.time_ns())
            with open(m.p("demo", "echo", "echo", "stdin"), "wb") as w:
                w.write(mark)
            got += read_until(fd, mark, timeout=10)
            check(got.count(mark) == 1, "line %d delivered %d times" % (i, got.count(mark)))
    finally:
        fx.set(log_follow_end="")
        os.close(fd)


def t_tail_f_log(m, fx):
    """`tail -f log` shows lines appended while it runs, within a few seconds."""
    p = subprocess.Popen(["tail", "-n", "0", "-f", m.p("demo", "echo", "echo", "log")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        time.sleep(1.5)
        mark = b"tail-mark-%d\n" % time.time_ns()
        with open(m.p("demo", "echo", "echo", "stdin"), "wb") as w:
            w.write(mark)
        read_until(p.stdout.fileno(), mark, timeout=8)
    finally:
        p.kill()
        p.wait()


def t_drop_gives_eio(m, fx):
    """The server dropping every connection mid-stream: a blocked cat fails
    with an I/O error within a few seconds instead of hanging or ending."""
    p = subprocess.Popen(["cat", m.p("demo", "ticker", "ticker", "stdout")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        read_until(p.stdout.fileno(), b"tick", timeout=10)
        t0 = time.time()
        fx.drop()
        try:
            rc = p.wait(8)
        except subprocess.TimeoutExpired:
            raise AssertionError("cat still blocked 8 s after the drop")
        err = p.stderr.read()
        check(rc != 0, "cat ended cleanly (rc 0): the drop was taken for EOF")
        check(b"Input/output error" in err, "stderr: %r" % err)
        check(time.time() - t0 < 8)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    # and the mount still serves: a new reader works
    fd = os.open(m.p("demo", "ticker", "ticker", "stdout"), os.O_RDONLY)
    try:
        read_until(fd, b"tick", timeout=10)
    finally:
        os.close(fd)


def _blocked(signum, frame):
    raise AssertionError("blocked: O_NONBLOCK was not honoured")


def _eagain(fn):
    """Does fn fail with EAGAIN?  A call that blocks instead fails the test
    after 5 s (the alarm interrupts it) rather than hanging the suite."""
    old = signal.signal(signal.SIGALRM, _blocked)
    signal.alarm(5)
    try:
        fn()
    except BlockingIOError:
        return True
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    return False


def t_nonblock_read(m, fx):
    """O_NONBLOCK: a read with nothing ready is EAGAIN at once (attach
    stdout, log.follow once drained), also when set later by fcntl; poll
    says readable when data came, and then the read gets it."""
    import fcntl
    out = m.p("demo", "echo", "echo", "stdout")
    fd = os.open(out, os.O_RDONLY | os.O_NONBLOCK)
    try:
        t0 = time.time()
        check(_eagain(lambda: os.read(fd, 100)), "read of a quiet stdout did not fail EAGAIN")
        check(time.time() - t0 < 2, "EAGAIN took %.1f s" % (time.time() - t0))
        rc, _, err, _ = run(["sh", "-c", "echo nb-data > '%s'" % m.p("demo", "echo", "echo", "stdin")])
        check(rc == 0, "echo > stdin: %r" % err)
        r, _, _ = select.select([fd], [], [], 10)
        check(r, "poll never said readable")
        got = os.read(fd, 100)
        check(got == b"nb-data\n", "read %r" % got)
        check(_eagain(lambda: os.read(fd, 100)), "drained stdout did not fail EAGAIN")
    finally:
        os.close(fd)
    # set by fcntl after a blocking open: the flag of the read counts
    fd = os.open(out, os.O_RDONLY)
    try:
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_NONBLOCK)
        check(_eagain(lambda: os.read(fd, 100)), "fcntl O_NONBLOCK ignored")
    finally:
        os.close(fd)
    # log.follow: the log so far, then EAGAIN instead of following
    fd = os.open(m.p("demo", "multi", "sidecar", "log.follow"), os.O_RDONLY | os.O_NONBLOCK)
    try:
        deadline, got = time.time() + 10, b""
        while time.time() < deadline:
            chunk = []
            if _eagain(lambda: chunk.append(os.read(fd, 65536))):
                if got:
                    break
                select.select([fd], [], [], 0.5)
                continue
            check(chunk[0], "log.follow ended (EOF)")
            got += chunk[0]
        check(got, "log.follow gave nothing within 10 s")
    finally:
        os.close(fd)


def t_nonblock_write(m, fx):
    """O_NONBLOCK writes: stdin of an exec session not started yet takes
    bytes until its buffer is full (a short write at the edge), then
    EAGAIN; poll does not say writable then."""
    d = m.p("demo", "echo", "echo", "exec")
    sid = read(os.path.join(d, "new")).decode().strip()
    fd = os.open(os.path.join(d, sid, "stdin"), os.O_WRONLY | os.O_NONBLOCK)
    total, chunk = 0, b"x" * 65536
    try:
        t0 = time.time()
        while time.time() - t0 < 20:
            n = [0]

            def one():
                n[0] = os.write(fd, chunk)
            if _eagain(one):
                break
            check(n[0] > 0, "write returned 0")
            total += n[0]
        else:
            raise AssertionError("no EAGAIN after %d bytes" % total)
        check(total == 1 << 20, "took %d bytes, the buffer holds 1 MiB" % total)
        _, w, _ = select.select([], [fd], [], 0.2)
        check(not w, "poll says writable on a full buffer")
    finally:
        os.close(fd)
        os.rmdir(os.path.join(d, sid))


def t_grep_r(m, fx):
    """`grep -r` over a pod directory finishes (it opens with O_NONBLOCK):
    stream files answer EAGAIN instead of blocking on Ports/<port>,
    log.follow or stdout."""
    rc, out, err, _ = run(["grep", "-r", "no-such-text-anywhere", m.p("demo", "ticker")],
                          timeout=60)
    check(rc is not None, "grep -r still blocked after 60 s: %r" % err[-500:])
    check(rc in (1, 2), "grep rc %r: %r" % (rc, err[-500:]))
    check(b"Resource temporarily unavailable" in err, "no EAGAIN reported: %r" % err[-500:])


def main():
    s = Suite("test_streams")
    tmp = tempfile.mkdtemp(prefix="podfs-streams-")
    with fixture.Fixture(cluster=cluster_file(tmp)) as fx, Mount(fx) as m:
        for t in (t_echo_through_attach, t_stdin_refused_without_spec, t_two_readers,
                  t_interrupt, t_poll_wakes, t_log_follow, t_log_follow_resumes, t_tail_f_log,
                  t_many_blocked_readers, t_big_roundtrip, t_nonblock_read,
                  t_nonblock_write, t_grep_r, t_drop_gives_eio):
            s.run(t, m, fx)
        rc = m.stop()
        log = m.read_log()
        at = max(log.find("ERROR: "), log.find("runtime error:"), 0)
        s.run(lambda: check(rc == 0 and "ERROR: AddressSanitizer" not in log and
                            "ERROR: LeakSanitizer" not in log and "runtime error:" not in log,
                            "unmount: exit %r, log: %s" % (rc, log[at:at + 4000])))
    return s.report()


if __name__ == "__main__":
    sys.exit(main())
