#!/usr/bin/python3
"""Integration test of Ports/<port> and Proxy/<port>/<path> on the fixture
cluster: the shell idiom and socat+curl fetch a page, 256 MiB each way
through an echo server keep their sha256, 50 connections at once keep their
data apart, a refused port is ECONNREFUSED, a dropped server is EIO (not
EOF), a pod restart breaks only what was in flight, and the pod proxy gives
the page or ENOENT.  Prints 'test_ports: N passed, N failed' last."""

import errno
import hashlib
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture  # noqa: E402
from mount import Mount, Suite, check, run  # noqa: E402

SUITE_TIMEOUT = 300
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
INDEX = os.path.join(ROOT, "tests", "fixture", "www", "index.html")
BIG = 256 << 20


def eq(a, b, what=""):
    if a != b:
        ra, rb = repr(a), repr(b)
        raise AssertionError("%s: %s != %s" % (what, ra[:300], rb[:300]))


def expect_errno(fn, code, what):
    try:
        r = fn()
    except OSError as e:
        if e.errno != code:
            raise AssertionError("%s: errno %s, want %s" % (
                what, errno.errorcode.get(e.errno, e.errno), errno.errorcode[code]))
        return
    raise AssertionError("%s: no error (got %r), want %s" % (what, r, errno.errorcode[code]))


def index_html():
    with open(INDEX, "rb") as f:
        return f.read()


def read_all(fd, limit=1 << 30):
    out = []
    n = 0
    while n < limit:
        b = os.read(fd, 1 << 20)
        if not b:
            break
        out.append(b)
        n += len(b)
    return b"".join(out)


def http_body(resp):
    head, _, body = resp.partition(b"\r\n\r\n")
    check(head.startswith(b"HTTP/1."), "not an HTTP response: %r" % resp[:100])
    return head, body


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


# ---- cases ----------------------------------------------------------------------

def test_listing_and_mode(fx, m):
    eq(os.listdir(m.p("demo", "web", "Ports")), ["80"], "declared ports of web")
    eq(os.listdir(m.p("demo", "echo", "Ports")), ["7"], "declared ports of echo")
    st = os.stat(m.p("demo", "web", "Ports", "80"))
    eq(st.st_mode & 0o777, 0o600, "mode of Ports/80")
    # undeclared ports can be looked up (Kubernetes forwards them too)
    os.stat(m.p("demo", "web", "Ports", "12345"))
    expect_errno(lambda: os.stat(m.p("demo", "web", "Ports", "0")), errno.ENOENT, "port 0")
    expect_errno(lambda: os.stat(m.p("demo", "web", "Ports", "65536")), errno.ENOENT,
                 "port 65536")


def test_shell_idiom(fx, m):
    port = m.p("demo", "web", "Ports", "80")
    rc, out, err, secs = run(["bash", "-c", "exec 3<>%s; printf 'GET /index.html HTTP/1.0\\r\\n"
                              "\\r\\n' >&3; cat <&3" % port], timeout=30)
    eq(rc, 0, "shell idiom exit status (stderr %r)" % err)
    head, body = http_body(out)
    check(b" 200 " in head.split(b"\r\n")[0], "status line %r" % head[:80])
    eq(body, index_html(), "page through Ports/80")


def test_write_after_remote_close(fx, m):
    fd = os.open(m.p("demo", "web", "Ports", "80"), os.O_RDWR)
    try:
        os.write(fd, b"GET /index.html HTTP/1.0\r\n\r\n")
        data = read_all(fd)
        eq(http_body(data)[1], index_html(), "page")
        eq(os.read(fd, 100), b"", "EOF stays EOF")
        expect_errno(lambda: os.write(fd, b"more"), errno.EPIPE, "write after the pod closed")
    finally:
        os.close(fd)


def test_socat_curl(fx, m):
    lport = free_port()
    sp = subprocess.Popen(["socat", "TCP-LISTEN:%d,bind=127.0.0.1,fork,reuseaddr" % lport,
                           "OPEN:%s" % m.p("demo", "web", "Ports", "80")],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          start_new_session=True)
    try:
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", lport), 1).close()
                break
            except OSError:
                time.sleep(0.05)
        time.sleep(0.3)
        for i in range(3):	# fork: every client is a new connection into the pod
            rc, out, err, _ = run(["curl", "-sS", "--max-time", "20",
                                   "http://127.0.0.1:%d/index.html" % lport], timeout=30)
            eq(rc, 0, "curl %d (%r)" % (i, err))
            eq(out, index_html(), "page through socat %d" % i)
    finally:
        os.killpg(sp.pid, signal.SIGTERM)
        sp.wait(10)


def pump(path, size, seed, result):
    """Send `size` bytes through an echo port, read them back; sha256 both."""
    fd = os.open(path, os.O_RDWR)
    block = hashlib.sha256(seed).digest() * 2048 * 8  # 512 KiB, varied by seed
    blocks = [hashlib.sha256(seed + bytes([i])).digest()[:16] + block for i in range(16)]
    sent = hashlib.sha256()
    got = hashlib.sha256()
    werr = []

    def writer():
        left = size
        i = 0
        try:
            while left:
                b = blocks[i % 16][:left]
                i += 1
                view = memoryview(b)
                while view:
                    n = os.write(fd, view)
                    view = view[n:]
                sent.update(b)
                left -= len(b)
        except OSError as e:
            werr.append(e)

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    n = 0
    try:
        while n < size:
            b = os.read(fd, 1 << 20)
            if not b:
                break
            got.update(b)
            n += len(b)
        t.join(60)
    finally:
        os.close(fd)
    result.append((n, sent.hexdigest(), got.hexdigest(), werr))


def test_throughput_256mib(fx, m):
    res = []
    t0 = time.time()
    pump(m.p("demo", "echo", "Ports", "7"), BIG, b"big", res)
    secs = time.time() - t0
    n, a, b, werr = res[0]
    eq(werr, [], "writer errors")
    eq(n, BIG, "bytes echoed")
    eq(b, a, "sha256 of 256 MiB echoed")
    print("     256 MiB each way in %.1f s (%.0f MiB/s)" % (secs, 256 / secs), flush=True)


def test_fifty_connections(fx, m):
    res = []
    ts = [threading.Thread(target=pump, args=(m.p("demo", "echo", "Ports", "7"), 256 << 10,
                                              b"c%d" % i, res), daemon=True)
          for i in range(50)]
    for t in ts:
        t.start()
    deadline = time.time() + 60
    for t in ts:
        t.join(max(0.1, deadline - time.time()))
    eq(len(res), 50, "finished connections")
    for n, a, b, werr in res:
        eq(werr, [], "writer errors")
        eq(n, 256 << 10, "bytes")
        eq(b, a, "sha256")
    eq(len(set(r[1] for r in res)), 50, "distinct streams")


def test_refused(fx, m):
    path = m.p("demo", "db", "Ports", "5432")
    t0 = time.time()
    expect_errno(lambda: os.open(path, os.O_RDWR), errno.ECONNREFUSED, "open of a refused port")
    check(time.time() - t0 < 5, "refusal took %.1f s" % (time.time() - t0))
    with open(m.p(".podfs", "status")) as f:
        st = f.read()
    check("connection refused" in st, "status does not say why: %r" % st)
    check("connection refused" in m.read_log(), "log does not have the error text")


def test_drop_is_eio(fx, m):
    fd = os.open(m.p("demo", "echo", "Ports", "7"), os.O_RDWR)
    try:
        os.write(fd, b"hello\n")
        got = b""
        while len(got) < 6:
            got += os.read(fd, 100)
        eq(got, b"hello\n", "echo")
        fx.drop()
        r, _, _ = select.select([fd], [], [], 10)
        check(r, "poll did not wake after the drop")
        expect_errno(lambda: os.read(fd, 100), errno.EIO, "read after the server dropped")
        expect_errno(lambda: os.write(fd, b"x"), errno.EPIPE, "write after the server dropped")
    finally:
        os.close(fd)
    # the next open works again
    res = []
    pump(m.p("demo", "echo", "Ports", "7"), 1 << 16, b"after-drop", res)
    eq(res[0][2], res[0][1], "echo after the drop")


def test_pod_restart(fx, m):
    """A restart must not poison the pod: the connection in flight either
    goes on or ends (EOF or an error) without hanging, and the next open
    works.  (The fixture keeps its port servers across a container
    restart, so here the old connection usually survives.)"""
    fd = os.open(m.p("demo", "echo", "Ports", "7"), os.O_RDWR)
    try:
        os.write(fd, b"x")
        eq(os.read(fd, 10), b"x", "echo before restart")
        fx.restart_pod("demo", "echo")
        try:
            os.write(fd, b"y")
            r, _, _ = select.select([fd], [], [], 10)
            check(r, "connection in flight neither answered nor ended")
            got = os.read(fd, 10)
            check(got in (b"y", b""), "in flight after restart: %r" % got)
        except OSError as e:
            check(e.errno in (errno.EIO, errno.EPIPE), "in flight after restart: %s" % e)
    finally:
        os.close(fd)
    res = []
    pump(m.p("demo", "echo", "Ports", "7"), 1 << 16, b"after-restart", res)
    eq(res[0][2], res[0][1], "echo after the restart")


def test_proxy(fx, m):
    with open(m.p("demo", "web", "Proxy", "80", "index.html"), "rb") as f:
        eq(f.read(), index_html(), "Proxy/80/index.html")
    with open(m.p("demo", "web", "Proxy", "80", "index.html?x=1&y=a%20b"), "rb") as f:
        eq(f.read(), index_html(), "with a query string")
    expect_errno(lambda: open(m.p("demo", "web", "Proxy", "80", "nope.html"), "rb").read(),
                 errno.ENOENT, "404 through the proxy")
    expect_errno(lambda: open(m.p("demo", "db", "Proxy", "5432", "x"), "rb").read(),
                 errno.EIO, "503 (refused) through the proxy")
    expect_errno(lambda: open(m.p("demo", "web", "Proxy", "80", "index.html"), "wb"),
                 errno.EACCES, "proxy files are read-only")
    check("404" in m.read_log(), "status line not in the debug log")


def main():
    signal.signal(signal.SIGALRM, lambda *a: (_ for _ in ()).throw(TimeoutError("suite timeout")))
    signal.alarm(SUITE_TIMEOUT)
    s = Suite("test_ports")
    fx = fixture.Fixture()
    try:
        fx.start()
        m = Mount(fx, args=["-d"])
        try:
            m.start()
            for t in (test_listing_and_mode, test_shell_idiom, test_write_after_remote_close,
                      test_socat_curl, test_throughput_256mib, test_fifty_connections,
                      test_refused, test_proxy, test_drop_is_eio, test_pod_restart):
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
    except Exception as e:
        s.failed += 1
        print("FAIL setup: %s: %s" % (type(e).__name__, e), flush=True)
    finally:
        signal.alarm(0)
        fx.close()
    return s.report()


if __name__ == "__main__":
    sys.exit(main())
