"""Mount podfs on the fixture cluster for integration tests.

    with fixture.Fixture(synthetic=["big:2000"]) as fx, Mount(fx) as m:
        os.listdir(m.path)

Mount starts the podfs binary (env PODFS_BIN, else ./build/podfs-san when it
exists, else ./podfs) in the foreground (-f) with its output in a log file,
waits until the mount point is a mount, and on exit unmounts with
`fusermount3 -u` (lazily if busy), kills the process if it does not end and
removes the temporary directory: a test never leaves a mount behind.
Standard library only.
"""

import errno
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)


def podfs_bin():
    b = os.environ.get("PODFS_BIN")
    if b:
        return os.path.abspath(b)
    san = os.path.join(ROOT, "build", "podfs-san")
    return san if os.path.exists(san) else os.path.join(ROOT, "podfs")


def run(cmd, timeout=20, input=None, env=None):
    """-> (returncode, stdout bytes, stderr bytes, seconds); rc None on timeout."""
    t0 = time.time()
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         start_new_session=True, env=env)
    try:
        out, err = p.communicate(input, timeout=timeout)
        rc = p.returncode
    except subprocess.TimeoutExpired:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, err = p.communicate()
        rc = None
    return rc, out, err, time.time() - t0


def is_mount(path):
    try:
        with open("/proc/self/mountinfo") as f:
            return any(line.split()[4] == path for line in f)
    except OSError:
        return os.path.ismount(path)


class Mount:
    def __init__(self, fx, opts=(), kubeconfig=None, args=(), wait=15):
        self.fx = fx
        self.opts = list(opts)
        self.args = list(args)
        self.kubeconfig = kubeconfig or fx.kubeconfig
        self.wait = wait
        self.dir = tempfile.mkdtemp(prefix="podfs-mnt-")
        self.path = os.path.join(self.dir, "m")
        os.mkdir(self.path)
        self.logfile = os.path.join(self.dir, "podfs.log")
        self.proc = None

    def start(self):
        cmd = [podfs_bin(), "--kubeconfig", self.kubeconfig, "-f"] + self.args
        for o in self.opts:
            cmd += ["-o", o]
        cmd.append(self.path)
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        self.log = open(self.logfile, "wb")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True,
                                     env=env)
        deadline = time.time() + self.wait
        while time.time() < deadline:
            if is_mount(self.path):
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        log = self.read_log()
        self.stop()
        raise RuntimeError("podfs did not mount (exit %s): %s" % (
            self.proc.returncode if self.proc else "?", log[-2000:]))

    def read_log(self):
        try:
            with open(self.logfile, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def p(self, *parts):
        return os.path.join(self.path, *parts)

    def stop(self, timeout=10):
        """Unmount and wait for podfs; -> its exit status (None if killed)."""
        p = self.proc
        if is_mount(self.path):
            subprocess.run(["fusermount3", "-u", self.path], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=timeout)
        rc = None
        if p is not None:
            try:
                rc = p.wait(timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait()
        if is_mount(self.path):
            # podfs is gone but the kernel still holds the mount.
            subprocess.run(["fusermount3", "-u", "-z", self.path], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=timeout)
        self.proc = None
        if getattr(self, "log", None):
            self.log.close()
            self.log = None
        return rc

    def close(self):
        self.stop()
        keep = os.environ.get("PODFS_KEEP_LOGS")
        if keep:
            # appended: a suite mounts several times, every log counts
            with open(keep, "ab") as out:
                out.write(("==== podfs log of %s\n" % self.path).encode())
                out.write(self.read_log().encode())
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()


class Unsupported(Exception):
    """A case needs what only one backend has (the fixture's fault injection,
    say); the message says what and why.  The suite reports it as skipped."""


BACKEND = os.environ.get("PODFS_BACKEND", "fixture")


class Suite:
    """Runs test functions in order; prints 'NAME: N passed, N failed' last
    (', N skipped' follows when a case needed what this backend lacks)."""

    def __init__(self, name):
        self.name = name
        self.passed = 0
        self.failed = 0
        self.skipped = 0

    def run(self, fn, *args):
        t0 = time.time()
        try:
            fn(*args)
        except Unsupported as e:
            self.skipped += 1
            print("skip %s (%s backend): %s" % (fn.__name__, BACKEND, e), flush=True)
        except Exception as e:  # a failing case must not stop the others
            self.failed += 1
            print("FAIL %s (%.1fs): %s: %s" % (fn.__name__, time.time() - t0,
                                              type(e).__name__, e), flush=True)
        else:
            self.passed += 1
            print("ok   %s (%.1fs)" % (fn.__name__, time.time() - t0), flush=True)

    def report(self):
        skipped = ", %d skipped" % self.skipped if self.skipped else ""
        print("%s: %d passed, %d failed%s" % (self.name, self.passed, self.failed, skipped),
              flush=True)
        return 1 if self.failed else 0


# Assertions shared by the integration tests.

def check(cond, msg="check failed"):
    if not cond:
        raise AssertionError(msg)


def eq(a, b, what=""):
    if a != b:
        raise AssertionError("%s: %r != %r" % (what, a, b))


def read_until(fd, want, timeout=10.0):
    """Read fd until `want` (bytes) was seen; -> everything read."""
    buf = b""
    deadline = time.time() + timeout
    while want not in buf:
        left = deadline - time.time()
        check(left > 0, "timed out waiting for %r, got %r" % (want, buf[-200:]))
        r, _, _ = select.select([fd], [], [], left)
        if r:
            chunk = os.read(fd, 65536)
            check(chunk, "EOF before %r (got %r)" % (want, buf[-200:]))
            buf += chunk
    return buf


def expect_errno(fn, code, what):
    try:
        fn()
    except OSError as e:
        if e.errno != code:
            raise AssertionError("%s: errno %s, want %s" % (
                what, errno.errorcode.get(e.errno, e.errno), errno.errorcode[code]))
        return
    raise AssertionError("%s: no error, want %s" % (what, errno.errorcode[code]))


def read(path):
    with open(path, "rb") as f:
        return f.read()
