#!/usr/bin/python3
"""Integration test of the mount conventions: every podfs option that
changes behaviour (namespace at the root, uid/gid/umask, allow_other with
its warning and default_permissions, ro, entry/attr timeouts, fsname and
subtype, auto_unmount, loglevel), owner-only modes of stream and session
files, the positional CONTEXT that mount.fuse3 passes, fstab lines through
mount(8) and mount.fuse3, daemonising without -f, --version, and
`make install` into a DESTDIR (the installed binary mounts, `man -l` reads
the page, the bash completion is installed and completes options and
contexts), options refused before the kubeconfig is read, -n NS.  Runs as
root (FUSE mounts, another user via setuid).
Prints 'test_mount_options: N passed, N failed' last."""

import errno
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture  # noqa: E402
from mount import Mount, ROOT, Suite, check, eq, expect_errno, is_mount, podfs_bin, read, run  # noqa: E402

NOBODY = 65534
SUITE_TIMEOUT = 600


def mode(path):
    return os.stat(path).st_mode & 0o7777


def mountinfo(path):
    """-> (mount options, fstype, source, super options) of the mount at path."""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            a, b = line.split(" - ", 1)
            a, b = a.split(), b.split()
            if a[4] == path:
                return a[5], b[0], b[1], b[2] if len(b) > 2 else ""
    raise AssertionError("%s is not a mount" % path)


NOBODY_PROBE = r"""
import errno, os, sys
for op, p in zip(sys.argv[1::2], sys.argv[2::2]):
    try:
        if op == "stat": os.stat(p)
        elif op == "read": open(p, "rb").close()
        elif op == "write": open(p, "wb").close()
        elif op == "rw": open(p, "r+b").close()
        print("ok")
    except OSError as e:
        print(errno.errorcode.get(e.errno, str(e.errno)))
"""


def as_nobody(*ops):
    """Run (op, path) pairs as uid/gid 65534; -> list of "ok" or errno names."""
    def drop():
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)
    args = []
    for op, p in ops:
        args += [op, p]
    r = subprocess.run(["/usr/bin/python3", "-c", NOBODY_PROBE] + args, capture_output=True,
                       preexec_fn=drop, timeout=30, cwd="/")
    check(r.returncode == 0, "probe as nobody: %r" % r.stderr[-500:])
    return r.stdout.decode().split()


def open_up(m):
    """Let other users traverse to the mount point (mkdtemp makes 0700)."""
    os.chmod(m.dir, 0o755)


def podfs_pids(path):
    """pids of podfs processes whose command line names path."""
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if path.encode() in argv and any(b"podfs" in a for a in argv[:1]):
            pids.append(int(d))
    return pids


def unmount_daemon(path, pids, what):
    """Unmount a daemonised podfs and check that it exits."""
    subprocess.run(["fusermount3", "-u", path], capture_output=True, timeout=10)
    deadline = time.time() + 10
    while time.time() < deadline and any(os.path.exists("/proc/%d" % p) for p in pids):
        time.sleep(0.05)
    left = [p for p in pids if os.path.exists("/proc/%d" % p)]
    for p in left:
        os.kill(p, signal.SIGKILL)
    if is_mount(path):
        subprocess.run(["fusermount3", "-u", "-z", path], capture_output=True, timeout=10)
    check(not left, "%s: podfs still running after unmount" % what)


class Daemon:
    """A podfs started by a command that returns (no -f); unmounted on exit."""

    def __init__(self, cmd, env=None, what="daemon", prepare=None):
        self.cmd, self.env, self.what, self.prepare = cmd, env, what, prepare
        self.dir = tempfile.mkdtemp(prefix="podfs-mnt-")
        self.path = os.path.join(self.dir, "m")
        os.mkdir(self.path)
        self.pids = []

    def __enter__(self):
        if self.prepare:
            self.prepare(self.path)
        cmd = [a.replace("MNT", self.path) for a in self.cmd]
        self.rc, self.out, self.err, self.secs = run(cmd, timeout=30, env=self.env)
        self.mounted = is_mount(self.path)     # ready when the command returns
        self.pids = podfs_pids(self.path)
        return self

    def p(self, *parts):
        return os.path.join(self.path, *parts)

    def __exit__(self, *exc):
        try:
            unmount_daemon(self.path, self.pids, self.what)
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def env_with_podfs():
    """PATH with a directory whose `podfs` is the binary under test, as
    mount.fuse3 runs `podfs CONTEXT MOUNTPOINT -o ...` through the shell."""
    d = tempfile.mkdtemp(prefix="podfs-bin-")
    os.symlink(podfs_bin(), os.path.join(d, "podfs"))
    env = dict(os.environ)
    env["PATH"] = d + ":" + env.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
    return d, env


def demo_pods(fx):
    r = fx.kubectl("get", "pods", "-n", "demo", "-o", "name")
    return sorted(line.split("/", 1)[1] for line in r.stdout.decode().split())


# ---- cases -------------------------------------------------------------------

def test_version(fx):
    for flag in ("--version", "-V"):
        rc, out, err, _ = run([podfs_bin(), flag])
        eq(rc, 0, flag)
        text = out.decode()
        for lib in (r"^podfs \d+\.\d+", r"^libfuse \d", r"^libcurl \d", r"^OpenSSL \d",
                    r"^cJSON \d", r"^libyaml \d"):
            check(re.search(lib, text, re.M), "%s: %s missing in %r" % (flag, lib, text))


def test_namespace_at_root(fx):
    with Mount(fx, opts=["namespace=demo"]) as m:
        eq(sorted(os.listdir(m.path)), sorted([".podfs"] + demo_pods(fx)), "root = demo's pods")
        eq(sorted(os.listdir(m.p("multi"))),
           sorted(["Pod.json", "Status", "Events", "Ports", "Proxy", "app", "sidecar", "init"]),
           "pod")
        check(b'"namespace": "demo"' in read(m.p("multi", "Pod.json")).replace(b'":"', b'": "'),
              "Pod.json of demo/multi")
        eq(read(m.p("web", "web", "log")), fx.kubectl("logs", "-n", "demo", "web").stdout, "log")
        check(b"namespace: demo\n" in read(m.p(".podfs", "status")), ".podfs/status")
        eq(sorted(os.listdir(m.p("multi", ".."))), sorted(os.listdir(m.path)), "..")
        eq(os.stat(m.p("multi", "..")).st_ino, os.stat(m.path).st_ino, "inode of ..")
        expect_errno(lambda: os.stat(m.p("demo")), errno.ENOENT, "no namespace level")
        expect_errno(lambda: os.stat(m.p("hello")), errno.ENOENT, "pod of another namespace")
        # Streams work below a rooted namespace.
        rc, out, _, _ = run(["head", "-c", "5", m.p("ticker", "ticker", "log.follow")], timeout=15)
        eq((rc, len(out)), (0, 5), "log.follow")
    with Mount(fx, args=["--namespace", "default"]) as m:
        eq(sorted(os.listdir(m.path)), [".podfs", "counter", "hello"], "--namespace default")
    rc, _, err, _ = run([podfs_bin(), "-f", "--kubeconfig", fx.kubeconfig, "-o",
                         "namespace=Not_A_Name", "/tmp"])
    eq(rc, 1, "bad namespace")
    check(err.decode().count("\n") == 1 and "namespace" in err.decode(), err)


def test_default_modes_owner_only(fx):
    with Mount(fx) as m:
        uid, gid = os.getuid(), os.getgid()
        st = os.stat(m.p("demo", "multi", "Pod.json"))
        eq((st.st_uid, st.st_gid), (uid, gid), "owner")
        for rel, want in ((("demo",), 0o555), (("demo", "multi", "Pod.json"), 0o444),
                          (("demo", "multi", "app", "log"), 0o444),
                          (("demo", "multi", "app", "log.follow"), 0o444),
                          (("demo", "multi", "app", "stdin"), 0o200),
                          (("demo", "multi", "app", "stdout"), 0o400),
                          (("demo", "multi", "app", "stderr"), 0o400),
                          (("demo", "multi", "app", "exec", "new"), 0o400),
                          (("demo", "multi", "Ports", "8080"), 0o600)):
            eq(mode(m.p(*rel)), want, "mode of %s" % "/".join(rel))
        for rel in (("demo", "multi", "app", "stdin"), ("demo", "multi", "Ports", "8080")):
            check(not mode(m.p(*rel)) & 0o077, "%s is owner only" % "/".join(rel))
        # Without allow_other the kernel keeps every other user out.
        open_up(m)
        eq(as_nobody(("stat", m.path), ("read", m.p("demo", "multi", "Pod.json"))),
           ["EACCES", "EACCES"], "another user without allow_other")
        check("allow_other" not in m.read_log(), "no allow_other warning by default")
        _, _, _, sopts = mountinfo(m.path)
        check("allow_other" not in sopts and "default_permissions" not in sopts, sopts)


def test_uid_gid_umask(fx):
    with Mount(fx, opts=["uid=%d" % NOBODY, "gid=nogroup", "umask=027"]) as m:
        st = os.stat(m.p("demo", "multi", "Pod.json"))
        eq((st.st_uid, st.st_gid), (NOBODY, NOBODY), "uid=, gid=")
        eq(mode(m.p("demo")), 0o550, "directory with umask 027")
        eq(mode(m.p("demo", "multi", "Pod.json")), 0o440, "file with umask 027")
        eq(mode(m.p("demo", "multi", "app", "stdin")), 0o200, "stdin")
        eq(mode(m.p("demo", "multi", "Ports", "8080")), 0o600, "port")
    with Mount(fx, opts=["umask=0"]) as m:
        # umask can only take bits away: session files stay owner only.
        eq(mode(m.p("demo", "multi", "app", "stdin")), 0o200, "stdin with umask 0")
        eq(mode(m.p("demo", "multi", "Ports", "8080")), 0o600, "port with umask 0")


def test_allow_other(fx):
    with Mount(fx, opts=["allow_other"]) as m:
        log = m.read_log()
        check(re.search(r"warning: allow_other lends the cluster identity", log),
              "warning in the log: %r" % log)
        check(fx.token not in log, "token in the log")
        _, _, _, sopts = mountinfo(m.path)
        check("allow_other" in sopts and "default_permissions" in sopts,
              "default_permissions turned on: %s" % sopts)
        open_up(m)
        got = as_nobody(("stat", m.path), ("read", m.p("demo", "multi", "Pod.json")),
                        ("write", m.p("demo", "echo", "echo", "stdin")),
                        ("read", m.p("demo", "echo", "echo", "stdout")),
                        ("rw", m.p("demo", "web", "Ports", "80")),
                        ("read", m.p("demo", "multi", "app", "exec", "new")))
        eq(got, ["ok", "ok", "EACCES", "EACCES", "EACCES", "EACCES"],
           "another user with allow_other")


def test_read_only(fx):
    """-o ro: reads work, writes are EROFS, and nothing that acts on the
    cluster exists (exec/new, stdin, Ports/): a walk has no side effects."""
    with Mount(fx, opts=["ro"]) as m:
        check("ro" in mountinfo(m.path)[0].split(","), "ro mount")
        check(read(m.p("demo", "multi", "Pod.json")), "reads work")
        expect_errno(lambda: open(m.p("demo", "echo", "echo", "stdin"), "wb"), errno.EROFS,
                     "write to stdin on a ro mount")
        for path in (("demo", "echo", "echo", "stdin"), ("demo", "echo", "echo", "exec", "new"),
                     ("demo", "web", "Ports"), ("demo", "web", "Ports", "80")):
            expect_errno(lambda: os.stat(m.p(*path)), errno.ENOENT, "/".join(path) + " on ro")
        eq(os.listdir(m.p("demo", "echo", "echo", "exec")), [], "exec/ on ro")
        check("stdin" not in os.listdir(m.p("demo", "echo", "echo")), "stdin listed on ro")
        check("Ports" not in os.listdir(m.p("demo", "web")), "Ports listed on ro")
        check("stdout" in os.listdir(m.p("demo", "echo", "echo")), "stdout is still there")
        expect_errno(lambda: os.mkdir(m.p("demo", "echo", "echo", "exec", "x")), errno.EROFS,
                     "mkdir of a session on ro")
    with Mount(fx, opts=["ro", "rw"]) as m:
        check("new" in os.listdir(m.p("demo", "echo", "echo", "exec")), "-o ro,rw is rw")


def count(log, pattern):
    return len(re.findall(pattern, log, re.M))


def test_entry_and_attr_timeout(fx):
    def stats(m):
        for _ in range(5):
            os.stat(m.p("demo"))
            os.stat(m.path)
            time.sleep(0.05)
        time.sleep(0.2)
        log = m.read_log()
        return count(log, r"^podfs: lookup 1 demo$"), count(log, r"^podfs: getattr 1$")
    with Mount(fx, opts=["cache=0"], args=["-d"]) as m:
        lookups, getattrs = stats(m)
        check(lookups >= 5 and getattrs >= 5, "cache=0: %d lookups, %d getattrs" % (
            lookups, getattrs))
    with Mount(fx, opts=["cache=0", "entry_timeout=60", "attr_timeout=60"], args=["-d"]) as m:
        lookups, getattrs = stats(m)
        check(lookups == 1 and getattrs <= 1, "timeouts 60: %d lookups, %d getattrs" % (
            lookups, getattrs))


def test_fsname_subtype(fx):
    with Mount(fx) as m:
        _, fstype, source, _ = mountinfo(m.path)
        eq((fstype, source), ("fuse.podfs", "fixture"), "default fsname and subtype")
    with Mount(fx, opts=["fsname=my-cluster", "subtype=kube"]) as m:
        _, fstype, source, _ = mountinfo(m.path)
        eq((fstype, source), ("fuse.kube", "my-cluster"), "fsname=, subtype=")


def test_auto_unmount(fx):
    with Mount(fx, opts=["auto_unmount"]) as m:
        os.listdir(m.path)
        os.kill(m.proc.pid, signal.SIGKILL)
        deadline = time.time() + 10
        while time.time() < deadline and is_mount(m.path):
            time.sleep(0.05)
        check(not is_mount(m.path), "auto_unmount: the mount went away with podfs")


def test_loglevel(fx):
    with Mount(fx, opts=["loglevel=info"]) as m:
        os.listdir(m.path)
        log = m.read_log()
        check(re.search(r"^podfs: mounted https://127\.0\.0\.1:\d+ at ", log, re.M),
              "info line: %r" % log)
    with Mount(fx) as m:
        os.listdir(m.path)
        check("mounted" not in m.read_log(), "quiet by default: %r" % m.read_log())


def test_bad_options(fx):
    d = tempfile.mkdtemp(prefix="podfs-mnt-")
    try:
        for opt in ("uid=no-such-user-here", "gid=no-such-group-here", "umask=999",
                    "umask=x", "entry_timeout=-1", "attr_timeout=x", "loglevel=loud"):
            rc, out, err, _ = run([podfs_bin(), "-f", "--kubeconfig", fx.kubeconfig,
                                   "-o", opt, d], timeout=15)
            eq(rc, 1, "%s: exit status" % opt)
            lines = err.decode().strip().splitlines()
            eq(len(lines), 1, "%s: one line, got %r" % (opt, lines))
            check(lines[0].startswith("podfs: -o " + opt.split("=")[0]), lines[0])
            check(not is_mount(d), "%s: not mounted" % opt)
        rc, _, err, _ = run([podfs_bin(), "-f", "--kubeconfig", fx.kubeconfig, "a", "b", d])
        eq(rc, 1, "three positional arguments")
        rc, _, err, _ = run([podfs_bin(), "-f", "--kubeconfig", fx.kubeconfig,
                             "--context", "fixture", "fixture-limited", d])
        eq(rc, 1, "two different contexts")
        check(b"context" in err, err)
    finally:
        os.rmdir(d)


def test_options_checked_first(fx):
    """Unknown and ignored options are refused before the kubeconfig is read
    (no credential plugin runs); --help lists only options that do something."""
    d = tempfile.mkdtemp(prefix="podfs-opts-")
    try:
        marker = os.path.join(d, "plugin-ran")
        plug = os.path.join(d, "plugin.sh")
        with open(plug, "w") as f:
            f.write("#!/bin/sh\ntouch %s\nexit 1\n" % marker)
        os.chmod(plug, 0o755)
        kc = os.path.join(d, "kc")
        with open(kc, "w") as f:
            f.write("current-context: c\nclusters:\n- name: x\n  cluster: {server: 'https://127.0.0.1:%d'}\n"
                    "contexts:\n- name: c\n  context: {cluster: x, user: u}\nusers:\n- name: u\n"
                    "  user:\n    exec: {apiVersion: client.authentication.k8s.io/v1, command: %s,"
                    " interactiveMode: Never}\n" % (fx.port, plug))
        mnt = os.path.join(d, "m")
        os.mkdir(mnt)
        for opt in ("no_such_option", "max_threads=4", "debugx=1"):
            rc, _, err, _ = run([podfs_bin(), "-f", "--kubeconfig", kc, "-o", opt, mnt], timeout=15)
            eq(rc, 1, "-o %s: exit status" % opt)
            check(opt.split("=")[0] in err.decode(), "-o %s: %r" % (opt, err))
            check(not os.path.exists(marker), "-o %s: the plugin ran first" % opt)
            check(not is_mount(mnt), "-o %s: mounted" % opt)
        rc, out, _, _ = run([podfs_bin(), "--help"])
        eq(rc, 0, "--help")
        text = out.decode()
        check("max_threads" not in text, "--help lists max_threads: %s" % text)
        for word in ("clone_fd", "max_idle_threads", "-n NS", "--as USER", "login_timeout=",
                     "--list-contexts", "watch_idle=", "root_sessions=", "root_cache="):
            check(word in text, "%s missing in --help" % word)
        # a regular file as the mount point: refused, nothing mounted
        f = os.path.join(d, "file")
        open(f, "w").close()
        rc, _, err, _ = run([podfs_bin(), "-f", "--kubeconfig", fx.kubeconfig, f], timeout=15)
        eq(rc, 1, "regular file as mount point")
        check(b"is not a directory" in err and not is_mount(f), err)
        # the default kubeconfig path, with HOME ending in '/'
        home = os.path.join(d, "home") + "/"
        env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
        env["HOME"] = home
        rc, _, err, _ = run([podfs_bin(), "-f", mnt], env=env, timeout=15)
        eq(rc, 1, "no kubeconfig")
        check(("%s.kube/config: no kubeconfig file found" % home).encode() in err and b"//" not in err,
              err)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_dash_n_namespace(fx):
    """-n NS is the namespace, as with kubectl (also -nNS); not a context."""
    for args in (["-n", "demo"], ["-ndemo"]):
        with Mount(fx, args=args) as m:
            eq(sorted(os.listdir(m.path)), sorted([".podfs"] + demo_pods(fx)), " ".join(args))
            check(b"context: fixture\n" in read(m.p(".podfs", "status")), "context unchanged")


def completion(fx, *words, kubeconfig=True):
    """COMPREPLY of the installed-to-be completion for `podfs WORDS...`."""
    script = os.path.join(ROOT, "contrib", "podfs.bash-completion")
    pre = [podfs_bin()] + (["--kubeconfig", fx.kubeconfig] if kubeconfig else [])
    words = pre + list(words)
    prog = ("source %s; COMP_WORDS=(%s); COMP_CWORD=%d; _podfs; printf '%%s\\n' \"${COMPREPLY[@]}\""
            % (shlex.quote(script), " ".join(shlex.quote(w) for w in words), len(words) - 1))
    r = subprocess.run(["bash", "-c", prog], capture_output=True, timeout=30)
    eq(r.returncode, 0, "completion: %r" % r.stderr)
    return r.stdout.decode().split()


def test_bash_completion(fx):
    """Options, -o options (after a comma too) and the kubeconfig's contexts."""
    rc, out, _, _ = run([podfs_bin(), "--kubeconfig", fx.kubeconfig, "--list-contexts"])
    eq((rc, sorted(out.decode().split())),
       (0, ["fixture", "fixture-anon", "fixture-cert", "fixture-limited"]), "--list-contexts")
    eq(sorted(completion(fx, "--context", "fixture-")),
       ["fixture-anon", "fixture-cert", "fixture-limited"], "--context")
    check({"fixture", "fixture-limited"} <= set(completion(fx, "fix")), "positional context")
    eq(sorted(completion(fx, "--as-")), ["--as-group", "--as-uid"], "options")
    eq(completion(fx, "-o", "cache=1,time"), ["cache=1,timeout="], "-o after a comma")
    check("allow_other" in completion(fx, "-o", "allow"), "-o allow_other")
    # KUBECONFIG instead of --kubeconfig
    os.environ["KUBECONFIG"] = fx.kubeconfig
    try:
        check("fixture-cert" in completion(fx, "--context", "", kubeconfig=False), "$KUBECONFIG")
    finally:
        del os.environ["KUBECONFIG"]


def test_positional_context(fx):
    with Mount(fx, args=["fixture-limited"]) as m:
        eq(sorted(os.listdir(m.path)), [".podfs", "demo"], "CONTEXT before the mount point")
        check(b"user: fixture-limited\n" in read(m.p(".podfs", "status")), "status")
    with Mount(fx, args=["-"]) as m:
        check(b"context: fixture\n" in read(m.p(".podfs", "status")), "'-' = current-context")


def test_daemonize(fx):
    with Daemon([podfs_bin(), "--kubeconfig", fx.kubeconfig, "MNT"], what="podfs") as d:
        eq(d.rc, 0, "podfs without -f returns: %r" % d.err)
        check(d.mounted, "mounted when the command returned")
        check(d.secs < 10, "returned in %.1fs" % d.secs)
        check(len(d.pids) == 1, "one daemon: %r" % d.pids)
        check(os.getsid(d.pids[0]) == d.pids[0], "the daemon leads its own session")
        check("demo" in os.listdir(d.path), "listing through the daemon")
        # Its threads were started after the fork: streams work.
        rc, out, _, _ = run(["head", "-c", "5", d.p("demo", "ticker", "ticker", "log.follow")],
                            timeout=15)
        eq((rc, len(out)), (0, 5), "log.follow through the daemon")


def test_mount_fuse3(fx):
    bindir, env = env_with_podfs()
    try:
        with Daemon(["mount.fuse3", "podfs#fixture-limited", "MNT", "-o",
                     "kubeconfig=%s,cache=2" % fx.kubeconfig], env=env, what="mount.fuse3") as d:
            eq(d.rc, 0, "mount.fuse3: %r" % d.err)
            check(d.mounted, "mounted")
            eq(sorted(os.listdir(d.path)), [".podfs", "demo"], "context from podfs#CONTEXT")
            eq(mountinfo(d.path)[1], "fuse.podfs", "type")
        # fstab, through mount(8).  mount(8) runs its helpers with a
        # standard PATH, so the line names the binary under test by path.
        fstab = os.path.join(bindir, "fstab")
        line = "%s#fixture %%s fuse noauto,user,kubeconfig=%s,namespace=demo 0 0" % (
            os.path.join(bindir, "podfs"), fx.kubeconfig)

        def prepare(path):
            with open(fstab, "w") as f:
                f.write(line % path + "\n")
        with Daemon(["mount", "-T", fstab, "MNT"], env=env, what="fstab",
                    prepare=prepare) as d:
            eq(d.rc, 0, "mount %r: %r" % (line, d.err))
            check(d.mounted, "mounted: %s" % line)
            eq(sorted(os.listdir(d.path)), sorted([".podfs"] + demo_pods(fx)), "fstab")
        # Type fuse.podfs: mount(8) runs mount.fuse3 with -t fuse.podfs.
        with Daemon(["mount.fuse3", "fixture-limited", "MNT", "-t", "fuse.podfs", "-o",
                     "noauto,kubeconfig=" + fx.kubeconfig], env=env, what="fuse.podfs") as d:
            eq(d.rc, 0, "mount.fuse3 -t fuse.podfs: %r" % d.err)
            eq(sorted(os.listdir(d.path)), [".podfs", "demo"], "type fuse.podfs")
    finally:
        shutil.rmtree(bindir, ignore_errors=True)


def test_install(fx):
    dest = tempfile.mkdtemp(prefix="podfs-destdir-")
    try:
        r = subprocess.run(["make", "-s", "-C", ROOT, "install", "DESTDIR=" + dest,
                            "PREFIX=/usr"], capture_output=True, timeout=300)
        eq(r.returncode, 0, "make install: %r" % r.stderr[-1000:])
        binary = os.path.join(dest, "usr", "bin", "podfs")
        page = os.path.join(dest, "usr", "share", "man", "man1", "podfs.1")
        helper = os.path.join(dest, "usr", "sbin", "mount.fuse.podfs")
        compl = os.path.join(dest, "usr", "share", "bash-completion", "completions", "podfs")
        check(os.path.isfile(compl) and b"complete -F _podfs podfs" in read(compl),
              "bash completion installed")
        rc, out, _, _ = run([binary, "--version"])
        eq(rc, 0, "installed podfs --version")
        check(out.startswith(b"podfs "), out)
        if shutil.which("man") and shutil.which("groff"):
            env = dict(os.environ, MANPAGER="cat", PAGER="cat", MANWIDTH="80")
            rc, out, err, _ = run(["man", "-l", page], env=env)
            eq(rc, 0, "man -l: %r" % err)
            text = re.sub(r".\x08", "", out.decode(errors="replace"))
            r = subprocess.run(["groff", "-man", "-ww", "-z", page], capture_output=True)
            eq(r.stderr, b"", "groff warnings")
        else:
            # tests/deps.sh does not install man-db; say so rather than fail.
            print("note: man or groff missing; the page's text is checked, not its rendering")
            text = read(page).decode().replace("\\-", "-").replace("\\fB", "")
        for word in ("SYNOPSIS", "OPTIONS", "namespace=", "allow_other", "umask=", "fstab",
                     "ENOENT", "EROFS"):
            check(word in text, "%s in the man page" % word)
        check(os.path.islink(helper) and os.readlink(helper).endswith("mount.fuse3"),
              "mount helper link")
        # The installed binary mounts, through the installed helper.
        env = dict(os.environ, PATH=os.path.dirname(binary) + ":" + os.environ["PATH"])
        with Daemon([helper, "fixture", "MNT", "-o", "kubeconfig=" + fx.kubeconfig],
                    env=env, what="installed podfs") as d:
            eq(d.rc, 0, "mount.fuse.podfs: %r" % d.err)
            check("demo" in os.listdir(d.path), "installed podfs mounted")
        r = subprocess.run(["make", "-s", "-C", ROOT, "uninstall", "DESTDIR=" + dest,
                            "PREFIX=/usr"], capture_output=True, timeout=60)
        eq(r.returncode, 0, "make uninstall")
        left = [os.path.join(dp, f) for dp, _, fs in os.walk(dest) for f in fs]
        eq(left, [], "files left after uninstall")
    finally:
        shutil.rmtree(dest, ignore_errors=True)


def main():
    signal.alarm(SUITE_TIMEOUT)
    s = Suite("test_mount_options")
    with fixture.Fixture() as fx:
        for t in (test_version, test_namespace_at_root, test_default_modes_owner_only,
                  test_uid_gid_umask, test_allow_other, test_read_only,
                  test_entry_and_attr_timeout, test_fsname_subtype, test_auto_unmount,
                  test_loglevel, test_bad_options, test_options_checked_first,
                  test_dash_n_namespace, test_bash_completion, test_positional_context,
                  test_daemonize, test_mount_fuse3, test_install):
            s.run(t, fx)
    return s.report()


if __name__ == "__main__":
    sys.exit(main())
