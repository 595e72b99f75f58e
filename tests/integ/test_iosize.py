#!/usr/bin/python3
"""Integration test of the request sizes on stream files: they report
st_blksize 1 MiB (so cat/cp/dd size their I/O by it), the kernel hands
podfs reads and writes of up to 1 MiB (max_write, max_pages), and the
bytes are still all there and in order.  Snapshots and directories keep
4 KiB.  No timing is asserted.  Prints 'test_iosize: N passed, N failed'."""

import hashlib
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture  # noqa: E402
from mount import Mount, Suite, check, read  # noqa: E402

MiB = 1 << 20


def eq(a, b, what=""):
    if a != b:
        raise AssertionError("%s: %r != %r" % (what, a, b))


def exec_session(m, argv, stdin=False):
    d = m.p("demo", "web", "web", "exec")
    s = os.path.join(d, read(os.path.join(d, "new")).decode().strip())
    with open(s + "/argv", "wb") as f:
        f.write(b"".join(a.encode() + b"\0" for a in argv))
    with open(s + "/ctl", "w") as f:
        f.write("stdin on\n" if stdin else "stdin off\n")
    with open(s + "/ctl", "w") as f:
        f.write("start\n")
    return s


def test_blksize(fx, m):
    c = m.p("demo", "web", "web")
    for name in ("stdout", "stdin", "stderr", "log.follow"):
        eq(os.stat(os.path.join(c, name)).st_blksize, MiB, name)
    for path in (os.path.join(c, "log"), m.p("demo", "web", "Pod.json"), c):
        eq(os.stat(path).st_blksize, 4096, path)


def test_one_mib_reads(fx, m):
    # The writer fills podfs's 1 MiB buffer before the first read, so a
    # 1 MiB read can be answered whole: more than 128 KiB (the kernel's
    # bound without max_pages) in one read shows the bound is lifted.
    s = exec_session(m, ["python3", "-c",
                         "import os,sys,hashlib\n"
                         "b=os.urandom(8<<20)\n"
                         "sys.stdout.buffer.write(b); sys.stdout.flush()\n"
                         "sys.stderr.write(hashlib.sha256(b).hexdigest())\n"])
    h, n, biggest = hashlib.sha256(), 0, 0
    fd = os.open(s + "/stdout", os.O_RDONLY)
    try:
        time.sleep(0.5)
        while True:
            b = os.read(fd, MiB)
            if not b:
                break
            biggest = max(biggest, len(b))
            h.update(b)
            n += len(b)
    finally:
        os.close(fd)
    eq(n, 8 * MiB, "bytes")
    eq(h.hexdigest(), read(s + "/stderr").decode(), "sha256")
    check(biggest > 128 * 1024, "largest read %d bytes: the kernel still splits at 128 KiB"
          % biggest)


def test_one_mib_writes(fx, m):
    s = exec_session(m, ["sha256sum"], stdin=True)
    data = os.urandom(4 * MiB)
    fd = os.open(s + "/stdin", os.O_WRONLY)
    try:
        off = 0
        while off < len(data):
            off += os.write(fd, data[off:off + MiB])
    finally:
        os.close(fd)
    with open(s + "/ctl", "w") as f:
        f.write("close-stdin\n")
    out = read(s + "/stdout").decode().split()[0]
    eq(out, hashlib.sha256(data).hexdigest(), "sha256 of 4 MiB written in 1 MiB writes")


def main():
    signal.signal(signal.SIGALRM, lambda *a: (_ for _ in ()).throw(TimeoutError("suite timeout")))
    signal.alarm(300)
    s = Suite("test_iosize")
    try:
        with fixture.Fixture() as fx:
            m = Mount(fx).start()
            try:
                for t in (test_blksize, test_one_mib_reads, test_one_mib_writes):
                    s.run(t, fx, m)
            finally:
                m.close()
    except Exception as e:
        s.failed += 1
        print("FAIL setup: %s: %s" % (type(e).__name__, e), flush=True)
    finally:
        signal.alarm(0)
    return s.report()


if __name__ == "__main__":
    sys.exit(main())
