#!/usr/bin/python3
"""Credentials never leak: with -d (every request traced) and a busy
mount (listings, Pod.json, logs, attach, a failing auth), neither the
bearer token, the client key nor a basic-auth password appears in podfs's
output, in the argv or environment of podfs or of any child of it, or in
any file of the mount; .podfs/status names the user, not the credential.
Prints 'test_secrets: N passed, N failed' last."""

import base64
import os
import re
import select
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture  # noqa: E402
from mount import Mount, Suite, check, is_mount, podfs_bin, run  # noqa: E402

PASSWORD = "podfs-test-password-7f3a9c"


def secrets_of(fx):
    """Every credential string of the fixture kubeconfig worth grepping for:
    whole tokens, their secret halves, and distinctive lines of the key."""
    out = []
    with open(fx.kubeconfig) as f:
        kc = f.read()
    for tok in re.findall(r"token: (\S+)", kc):
        out.append(tok)
        if "." in tok:
            out.append(tok.split(".", 1)[1])
    for key in re.findall(r"client-key-data: (\S+)", kc):
        out.append(key[:40])
        pem = base64.b64decode(key).decode()
        body = [line for line in pem.splitlines() if line and not line.startswith("-----")]
        out += body[1:4]       # lines of the key itself
    check(out, "no credentials found in the kubeconfig")
    return out


def busy(m, seconds=2.0):
    """Use the mount the way a user does, so -d traces a bit of everything."""
    for path in ([], ["demo"], ["demo", "web"], ["demo", "ticker", "ticker"]):
        os.listdir(m.p(*path))
    for path in (["demo", "web", "Pod.json"], ["demo", "web", "Status"],
                 ["demo", "ticker", "ticker", "log"], [".podfs", "status"]):
        with open(m.p(*path), "rb") as f:
            f.read()
    fd = os.open(m.p("demo", "ticker", "ticker", "stdout"), os.O_RDONLY)
    try:
        deadline = time.time() + seconds
        got = b""
        while time.time() < deadline:
            r, _, _ = select.select([fd], [], [], 0.2)
            if r:
                got += os.read(fd, 4096)
        check(b"tick" in got, "attach gave nothing")
    finally:
        os.close(fd)


def mount_files(m):
    """Every regular file of the demo namespace and .podfs (stream files
    excluded: they block)."""
    out = [m.p(".podfs", "status")]
    for pod in os.listdir(m.p("demo")):
        for name in ("Pod.json", "Status"):
            out.append(m.p("demo", pod, name))
        for c in os.listdir(m.p("demo", pod)):
            if os.path.isdir(m.p("demo", pod, c)) and c not in ("Ports", "Proxy"):
                out.append(m.p("demo", pod, c, "state"))
    return out


def proc_strings(pid):
    """argv and environment of pid and of every descendant."""
    out = []
    todo = [pid]
    while todo:
        p = todo.pop()
        for what in ("cmdline", "environ"):
            try:
                with open("/proc/%d/%s" % (p, what), "rb") as f:
                    out.append(f.read().decode(errors="replace"))
            except OSError:
                pass
        try:
            for tid in os.listdir("/proc/%d/task" % p):
                with open("/proc/%d/task/%s/children" % (p, tid)) as f:
                    todo += [int(x) for x in f.read().split()]
        except OSError:
            pass
    return "\n".join(out)


def leaks(text, secrets):
    return [s for s in secrets if s and s in text]


def t_token_debug(fx):
    """Token user, -d: log, status, argv/env, mount files are clean."""
    sec = secrets_of(fx)
    with Mount(fx, args=["-d"]) as m:
        busy(m)
        st = open(m.p(".podfs", "status")).read()
        check("user: fixture-admin" in st, "status does not name the user: %s" % st)
        check(not leaks(st, sec), "status shows a credential")
        check(not leaks(proc_strings(m.proc.pid), sec), "a credential in argv/environ")
        for path in mount_files(m):
            with open(path, "rb") as f:
                data = f.read().decode(errors="replace")
            check(not leaks(data, sec), "%s shows a credential" % path)
        m.stop()
        log = m.read_log()
        check("GET" in log or "get" in log.lower(), "-d traced nothing: %r" % log[:500])
        check(not leaks(log, sec), "the -d log shows a credential")


def t_cert_debug(fx):
    """Client-certificate user, -d: no key material anywhere."""
    sec = secrets_of(fx)
    with Mount(fx, args=["-d", "--context", "fixture-cert"]) as m:
        busy(m, 1.0)
        st = open(m.p(".podfs", "status")).read()
        check("fixture-cert-user" in st, "status does not name the user: %s" % st)
        check(not leaks(st, sec))
        m.stop()
        check(not leaks(m.read_log(), sec), "the -d log shows key material")


def t_password_rejected(fx):
    """A basic-auth user the server rejects: the mount fails, and its message
    and -d trace name the user, never the password."""
    kc = os.path.join(fx.state, "kubeconfig-basic")
    with open(fx.kubeconfig) as f:
        text = f.read()
    text = text.replace("- name: fixture-anon\n  user: {}",
                        "- name: fixture-anon\n  user:\n    username: basic-user\n"
                        "    password: %s" % PASSWORD)
    check(PASSWORD in text, "could not add the basic-auth user")
    with open(kc, "w") as f:
        f.write(text)
    mnt = tempfile.mkdtemp(prefix="podfs-mnt-")
    try:
        rc, out, err, _ = run([podfs_bin(), "-f", "-d", "--kubeconfig", kc, "--context",
                               "fixture-anon", mnt], timeout=30)
        text = (out + err).decode(errors="replace")
        check(rc == 1 and not is_mount(mnt), "mounted with a refused password: %r" % text[-300:])
        check("Unauthorized" in text and "fixture-anon" in text, text[-300:])
        check(PASSWORD not in text, "the message shows the password")
        check(base64.b64encode(("basic-user:" + PASSWORD).encode()).decode() not in text,
              "the log shows the Authorization header")
    finally:
        if is_mount(mnt):
            subprocess.run(["fusermount3", "-u", "-z", mnt], capture_output=True)
        os.rmdir(mnt)


def t_revoked_mid_mount(fx):
    """A token revoked while mounted: .podfs/status and the log say
    unauthorized and name the user, never the token."""
    tok = "revocable-%d-secret" % time.time_ns()
    fx.control("token", token=tok)
    kc = os.path.join(fx.state, "kubeconfig-revoked")
    with open(fx.kubeconfig) as f:
        text = f.read()
    with open(kc, "w") as f:
        f.write(text.replace("- name: fixture-anon\n  user: {}",
                             "- name: fixture-anon\n  user: {token: %s}" % tok))
    with Mount(fx, kubeconfig=kc, args=["-d", "--context", "fixture-anon"],
               opts=["cache=0"]) as m:
        os.listdir(m.p("demo"))
        fx.control("token", token=tok, revoke=1)
        try:
            os.listdir(m.p("default"))
        except OSError:
            pass
        st = open(m.p(".podfs", "status")).read()
        check("connectivity: unauthorized" in st and tok not in st, st)
        m.stop()
        log = m.read_log()
        check("refused the credential of user fixture-anon" in log, log[-500:])
        check(tok not in log, "the log shows the token")


def main():
    s = Suite("test_secrets")
    with fixture.Fixture() as fx:
        for t in (t_token_debug, t_cert_debug, t_password_rejected, t_revoked_mid_mount):
            s.run(t, fx)
    return s.report()


if __name__ == "__main__":
    sys.exit(main())
