#!/usr/bin/python3
"""Integration test of <container>/root/, the container's own filesystem
(docs/root.md): the fixture pod's container runs chrooted in a busybox
rootfs below the fixture's state directory, so every test checks the
file on both sides.  Prints 'test_root: N passed, N failed' last."""

import errno
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture  # noqa: E402
from mount import Mount, Suite, check, eq, expect_errno  # noqa: E402

CLUSTER = {
    "namespaces": [{"name": "ns"}],
    "pods": [
        {"namespace": "ns", "name": "pod",
         "containers": [{"name": "app", "image": "busybox", "rootfs": "busybox",
                         "command": ["sleep", "infinity"]}]},
        {"namespace": "ns", "name": "distroless",
         "containers": [{"name": "app", "image": "gcr.io/distroless/static", "rootfs": "bare",
                         "command": ["sleep", "infinity"]}]},
    ],
}

HOSTILE = ["a b", "it's", 'dq"x', "back\\slash", "new\nline", "$(touch pwned)", "`touch pwned`",
           "star*", "-leading-dash", b"\xff\xfe-not-utf8".decode("utf-8", "surrogateescape"),
           "semi;colon", "%s%n"]


def side(fx, *parts):
    """The container's file as the fixture machine sees it."""
    return os.path.join(fx.state, "containers", "ns", "pod", "app", "rootfs", *parts)


def test_read_and_list(fx, m):
    with open(side(fx, "etc", "motd"), "w") as f:
        f.write("hello from the container\n")
    with open(m.p("ns", "pod", "app", "root", "etc", "motd")) as f:
        eq(f.read(), "hello from the container\n", "read")
    check("root" not in os.listdir(m.p("ns", "pod", "app")), "root/ is not listed")
    names = os.listdir(m.p("ns", "pod", "app", "root", "etc"))
    check("motd" in names and "passwd" in names, "listing: %r" % names)
    st = os.lstat(m.p("ns", "pod", "app", "root", "bin", "sh"))
    check(os.path.islink(m.p("ns", "pod", "app", "root", "bin", "sh")), "sh is a symlink")
    eq(os.readlink(m.p("ns", "pod", "app", "root", "bin", "sh")), "busybox", "readlink")
    check(st.st_size == len("busybox"), "symlink size")
    out = subprocess.run(["ls", "-l", m.p("ns", "pod", "app", "root", "etc")],
                         capture_output=True, text=True, timeout=30)
    check(out.returncode == 0 and "motd" in out.stdout, "ls -l: %r" % out.stderr)
    expect_errno(lambda: os.stat(m.p("ns", "pod", "app", "root", "nope")), errno.ENOENT, "ENOENT")


def test_edit_like_an_editor(fx, m):
    d = m.p("ns", "pod", "app", "root", "etc")
    with open(os.path.join(d, "config.yaml"), "w") as f:
        f.write("a: 1\n")
    eq(open(side(fx, "etc", "config.yaml")).read(), "a: 1\n", "container sees the write")
    # vi-style: write a temp file, rename it over the original
    with open(os.path.join(d, ".config.yaml.swp"), "w") as f:
        f.write("a: 2\nb: 3\n")
    os.rename(os.path.join(d, ".config.yaml.swp"), os.path.join(d, "config.yaml"))
    eq(open(side(fx, "etc", "config.yaml")).read(), "a: 2\nb: 3\n", "rename over")
    check(not os.path.exists(side(fx, "etc", ".config.yaml.swp")), "temp gone")
    eq(open(os.path.join(d, "config.yaml")).read(), "a: 2\nb: 3\n", "read back after rename")
    with open(os.path.join(d, "config.yaml"), "a") as f:
        f.write("c: 4\n")
    eq(open(side(fx, "etc", "config.yaml")).read(), "a: 2\nb: 3\nc: 4\n", "append")


def test_tree_ops(fx, m):
    r = m.p("ns", "pod", "app", "root", "tmp")
    os.mkdir(os.path.join(r, "d"))
    check(os.path.isdir(side(fx, "tmp", "d")), "mkdir")
    with open(os.path.join(r, "d", "f"), "wb") as f:
        f.write(b"x" * 10)
    expect_errno(lambda: os.rmdir(os.path.join(r, "d")), errno.ENOTEMPTY, "ENOTEMPTY")
    expect_errno(lambda: os.mkdir(os.path.join(r, "d")), errno.EEXIST, "EEXIST")
    expect_errno(lambda: os.unlink(os.path.join(r, "d")), errno.EISDIR, "EISDIR")
    os.truncate(os.path.join(r, "d", "f"), 3)
    eq(os.path.getsize(side(fx, "tmp", "d", "f")), 3, "truncate")
    os.chmod(os.path.join(r, "d", "f"), 0o600)
    eq(os.stat(side(fx, "tmp", "d", "f")).st_mode & 0o777, 0o600, "chmod")
    os.utime(os.path.join(r, "d", "f"), (1000000000, 1000000000))
    eq(int(os.stat(side(fx, "tmp", "d", "f")).st_mtime), 1000000000, "utime")
    os.symlink("../target", os.path.join(r, "d", "l"))
    eq(os.readlink(side(fx, "tmp", "d", "l")), "../target", "symlink")
    os.unlink(os.path.join(r, "d", "f"))
    os.unlink(os.path.join(r, "d", "l"))
    os.rmdir(os.path.join(r, "d"))
    check(not os.path.exists(side(fx, "tmp", "d")), "rmdir")
    sv = os.statvfs(m.p("ns", "pod", "app", "root"))
    check(sv.f_blocks > 0, "statfs")


def test_hostile_names(fx, m):
    r = m.p("ns", "pod", "app", "root", "tmp")
    for i, name in enumerate(HOSTILE):
        data = ("content %d\n" % i).encode()
        with open(os.path.join(r, name), "wb") as f:
            f.write(data)
        eq(open(side(fx, "tmp", name), "rb").read(), data, "write %r" % name)
        eq(open(os.path.join(r, name), "rb").read(), data, "read %r" % name)
    names = set(os.listdir(r))
    for name in HOSTILE:
        check(name in names, "listed %r" % name)
    check(not os.path.exists(side(fx, "pwned")) and not os.path.exists(side(fx, "tmp", "pwned")),
          "a name was interpreted by the shell")
    for name in HOSTILE:
        os.unlink(os.path.join(r, name))
    eq(os.listdir(side(fx, "tmp")), [], "all removed, no temp file left")


def test_copy_in_out(fx, m):
    src = tempfile.mkdtemp(prefix="podfs-root-src-")
    try:
        rnd = random.Random(7)
        for i in range(20):
            sub = os.path.join(src, "d%d" % (i % 3))
            os.makedirs(sub, exist_ok=True)
            with open(os.path.join(sub, "f%d" % i), "wb") as f:
                f.write(bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(0, 300000))))
        dst = m.p("ns", "pod", "app", "root", "tmp", "tree")
        shutil.copytree(src, dst)
        back = tempfile.mkdtemp(prefix="podfs-root-back-")
        shutil.rmtree(back)
        shutil.copytree(dst, back)
        for dirpath, _, files in os.walk(src):
            for fn in files:
                rel = os.path.relpath(os.path.join(dirpath, fn), src)
                want = hashlib.sha256(open(os.path.join(src, rel), "rb").read()).hexdigest()
                for where in (side(fx, "tmp", "tree", rel), os.path.join(back, rel)):
                    eq(hashlib.sha256(open(where, "rb").read()).hexdigest(), want, rel)
        out = subprocess.run(["grep", "-rl", "--", "zzz-no-such", dst], capture_output=True,
                             timeout=60)
        eq(out.returncode, 1, "grep -r ran over the tree")
        shutil.rmtree(back)
        shutil.rmtree(dst)
    finally:
        shutil.rmtree(src, ignore_errors=True)


def test_big_random_offsets(fx, m):
    size = 64 << 20
    path = side(fx, "tmp", "big")
    rnd = random.Random(16)
    with open(path, "wb") as f:
        f.write(os.urandom(size))
    data = open(path, "rb").read()
    with open(m.p("ns", "pod", "app", "root", "tmp", "big"), "rb") as f:
        for _ in range(20):
            off, n = rnd.randrange(0, size), rnd.randrange(1, 300000)
            f.seek(off)
            eq(f.read(n), data[off:off + n], "read at %d" % off)
    with open(m.p("ns", "pod", "app", "root", "tmp", "big"), "r+b") as f:
        for _ in range(5):
            off = rnd.randrange(0, size - 1000)
            f.seek(off)
            f.write(b"W" * 777)
    os.unlink(path)


def helper_pids(fx):
    """Processes running inside the pod's rootfs: the helper shells and
    their children (the container's main process is not chrooted)."""
    root = os.path.realpath(side(fx))
    pids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                if os.path.realpath("/proc/%s/root" % d) == root:
                    pids.append(int(d))
            except OSError:
                pass
    return pids


def test_helper_killed_mid_transfer(fx, m):
    size = 32 << 20
    with open(side(fx, "tmp", "victim"), "wb") as f:
        f.write(os.urandom(size))
    want = hashlib.sha256(open(side(fx, "tmp", "victim"), "rb").read()).hexdigest()
    outcomes = []
    for delay in (0.05, 0.2, 0.5):
        h = hashlib.sha256()
        done = threading.Event()

        def killer():
            time.sleep(delay)
            while not done.is_set():
                for pid in helper_pids(fx):
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
                done.wait(0.05)
        t = threading.Thread(target=killer)
        t.start()
        try:
            with open(m.p("ns", "pod", "app", "root", "tmp", "victim"), "rb") as f:
                while True:
                    b = f.read(1 << 20)
                    if not b:
                        break
                    h.update(b)
            outcomes.append("ok")
            eq(h.hexdigest(), want, "a read that succeeded has the right bytes")
        except OSError as e:
            eq(e.errno, errno.EIO, "a killed helper is EIO")
            outcomes.append("EIO")
        finally:
            done.set()
            t.join()
    check("EIO" in outcomes, "no transfer was cut: %r" % outcomes)
    # the next request starts a new helper
    eq(open(m.p("ns", "pod", "app", "root", "etc", "hostname")).read(), "fixture\n",
       "a new helper after the kill")
    os.unlink(side(fx, "tmp", "victim"))


def test_no_shell(fx, m):
    expect_errno(lambda: os.listdir(m.p("ns", "distroless", "app", "root")), errno.ENOTSUP,
                 "distroless root/")
    status = open(m.p(".podfs", "status")).read()
    check("no shell" in status, "status names the missing shell: %r" % status[-400:])


def test_read_only(fx):
    with open(side(fx, "etc", "ro"), "w") as f:
        f.write("ro\n")
    with Mount(fx, opts=["ro"]) as m:
        eq(open(m.p("ns", "pod", "app", "root", "etc", "ro")).read(), "ro\n", "ro read")
        expect_errno(lambda: open(m.p("ns", "pod", "app", "root", "etc", "ro"), "w"),
                     errno.EROFS, "ro write")
        expect_errno(lambda: os.mkdir(m.p("ns", "pod", "app", "root", "etc", "x")),
                     errno.EROFS, "ro mkdir")


def main():
    suite = Suite("test_root")
    tmp = tempfile.mkdtemp(prefix="podfs-root-")
    cl = os.path.join(tmp, "cluster.json")
    with open(cl, "w") as f:
        json.dump(CLUSTER, f)
    with fixture.Fixture(cluster=cl) as fx:
        m = Mount(fx).start()
        try:
            for t in (test_read_and_list, test_edit_like_an_editor, test_tree_ops,
                      test_hostile_names, test_copy_in_out, test_big_random_offsets,
                      test_helper_killed_mid_transfer, test_no_shell):
                suite.run(t, fx, m)
        finally:
            m.close()
        suite.run(test_read_only, fx)
    shutil.rmtree(tmp, ignore_errors=True)
    return suite.report()


if __name__ == "__main__":
    sys.exit(main())
