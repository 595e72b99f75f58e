#!/usr/bin/python3
"""First contact, as a new user meets podfs: the identity is proven at
mount (a refused token, an anonymous user, a wrong CA, a wrong
tls-server-name and a failing exec plugin fail the mount with exit 1 and
kubectl's kind of message; a user who may not list namespaces mounts and is
told so in .podfs/status), credentials that expire mid-mount show as
`connectivity: unauthorized` with one log line per failing operation,
impersonation headers on REST and WebSocket requests, no token to an
http:// server, an interactive exec plugin at start-up on a terminal, and
readiness for systemd (sd_notify).  Prints 'test_contact: N passed, N failed'
last."""

import http.server
import json
import os
import pty
import re
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture  # noqa: E402
from mount import Mount, ROOT, Suite, check, eq, is_mount, podfs_bin, read, run  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
WRONG_CA = os.path.join(ROOT, "tests", "unit", "kubeconfigs", "certs", "ca.pem")


def kubeconfig(fx, tmp, user_yaml, cluster_extra="", ca=None):
    path = os.path.join(tmp, "kubeconfig-%d" % time.time_ns())
    with open(path, "w") as f:
        f.write("apiVersion: v1\nkind: Config\ncurrent-context: c\n"
                "clusters:\n- name: fx\n  cluster:\n    server: %s\n"
                "    certificate-authority: %s\n%s"
                "contexts:\n- name: c\n  context: {cluster: fx, user: u, namespace: demo}\n"
                "users:\n- name: u\n  user:%s" % (fx.base, ca or fx.ca, cluster_extra, user_yaml))
    return path


def refused_mount(kc, tmp, *args, env=None):
    """podfs on kc must not mount: -> (exit status, stderr text)."""
    mnt = tempfile.mkdtemp(dir=tmp)
    rc, _, err, _ = run([podfs_bin(), "-f", "--kubeconfig", kc] + list(args) + [mnt],
                        timeout=30, env=env)
    if is_mount(mnt):
        subprocess.run(["fusermount3", "-u", "-z", mnt], capture_output=True)
        raise AssertionError("mounted although the identity was refused")
    return rc, err.decode(errors="replace")


def t_refused_token(fx, tmp):
    """A wrong token: exit 1, kubectl's 'You must be logged in' line, no token shown."""
    kc = kubeconfig(fx, tmp, "\n    token: not-a-known-token-4711\n")
    rc, err = refused_mount(kc, tmp)
    eq(rc, 1, "exit status")
    eq(len(err.strip().splitlines()), 1, "one line: %r" % err)
    check("You must be logged in to the server (Unauthorized)" in err, err)
    check("not-a-known-token-4711" not in err, "the token in the message")


def t_anonymous(fx, tmp):
    """No credential at all (the fixture's anonymous user): refused likewise."""
    rc, err = refused_mount(fx.kubeconfig, tmp, "--context", "fixture-anon")
    eq(rc, 1, "exit status: %s" % err)
    check("Unauthorized" in err and "fixture-anon" in err, err)


def t_wrong_ca(fx, tmp):
    """A CA that did not sign the server's certificate: a TLS error, exit 1."""
    kc = kubeconfig(fx, tmp, "\n    token: %s\n" % fx.token, ca=WRONG_CA)
    rc, err = refused_mount(kc, tmp)
    eq(rc, 1, "exit status")
    check("TLS failed" in err and "certificate" in err.lower(), err)


def t_wrong_tls_server_name(fx, tmp):
    """tls-server-name that the certificate does not name: exit 1."""
    kc = kubeconfig(fx, tmp, "\n    token: %s\n" % fx.token,
                    cluster_extra="    tls-server-name: wrong.example\n")
    rc, err = refused_mount(kc, tmp)
    eq(rc, 1, "exit status")
    check("TLS failed" in err, err)


def write_plugin(tmp, body):
    path = os.path.join(tmp, "plugin-%d.sh" % time.time_ns())
    with open(path, "w") as f:
        f.write("#!/bin/sh\n" + body)
    os.chmod(path, 0o755)
    return path


def exec_user(cmd, mode="Never"):
    return ("\n    exec:\n      apiVersion: client.authentication.k8s.io/v1\n"
            "      command: %s\n      interactiveMode: %s\n" % (cmd, mode))


def t_plugin_failure(fx, tmp):
    """A failing plugin (aws-cli style: a blank line first): exit 1 with the
    first non-blank line of its stderr."""
    plug = write_plugin(tmp, "printf '\\n\\nAn error occurred (ExpiredToken): the token "
                             "has expired\\nmore\\n' >&2\nexit 255\n")
    rc, err = refused_mount(kubeconfig(fx, tmp, exec_user(plug)), tmp)
    eq(rc, 1, "exit status")
    check("exit status 255" in err and "An error occurred (ExpiredToken)" in err, err)


def t_namespaces_forbidden_noted(fx, tmp):
    """403 on the namespace list: mounted, the context's namespace, and the
    status says why."""
    with Mount(fx, args=["--context", "fixture-limited"]) as m:
        eq(sorted(os.listdir(m.path)), [".podfs", "demo"], "root")
        st = read(m.p(".podfs", "status")).decode()
        check(re.search(r"^namespaces: listing namespaces is forbidden .*"
                        r"showing the context's namespace demo only$", st, re.M), st)
        check(re.search(r"^connectivity: ok$", st, re.M), st)
    # with the namespace at the root, namespaces are never listed: no note
    with Mount(fx, args=["--context", "fixture-limited", "-n", "demo"]) as m:
        st = read(m.p(".podfs", "status")).decode()
        check("namespaces:" not in st and "connectivity: ok" in st, st)


def t_expired_mid_mount(fx, tmp):
    """A token that expires while mounted: status 'unauthorized' with the
    server's words, one log line per failing operation."""
    tok = "short-lived-%d" % time.time_ns()
    fx.control("token", token=tok, ttl="4")
    kc = kubeconfig(fx, tmp, "\n    token: %s\n" % tok)
    with Mount(fx, kubeconfig=kc, opts=["cache=0", "entry_timeout=0", "attr_timeout=0"]) as m:
        check("web" in os.listdir(m.p("demo")), "listing while valid")
        st = read(m.p(".podfs", "status")).decode()
        check(re.search(r"^connectivity: ok$", st, re.M), st)
        time.sleep(4.5)
        before = m.read_log().count("refused the credential")
        failed = 0
        for ns in ("default", "kube-system", "demo"):
            try:
                os.listdir(m.p(ns))
            except OSError:
                failed += 1
        check(failed == 3, "%d of 3 listings failed" % failed)
        st = read(m.p(".podfs", "status")).decode()
        check(re.search(r"^connectivity: unauthorized \(Unauthorized\)$", st, re.M), st)
        lines = [ln for ln in m.read_log().splitlines() if "refused the credential" in ln]
        check(len(lines) - before >= failed, "log lines: %r" % lines)
        check(all("401 Unauthorized" in ln and "user u" in ln for ln in lines), lines)
        check(tok not in m.read_log(), "the token in the log")


def impersonations(fx):
    return fx.stats().get("impersonations", [])


def t_impersonation_kubeconfig(fx, tmp):
    """as, as-groups, as-uid, as-user-extra: headers on REST and the
    WebSocket upgrade; the server acts as the impersonated user."""
    kc = kubeconfig(fx, tmp, "\n    token: %s\n    as: fixture-limited\n"
                    "    as-groups: [team-a, team-b]\n    as-uid: '1234'\n"
                    "    as-user-extra:\n      scopes.example.com/x: [read, write]\n" % fx.token)
    fx.reset_stats()
    with Mount(fx, kubeconfig=kc) as m:
        eq(sorted(os.listdir(m.path)), [".podfs", "demo"], "acts as fixture-limited")
        st = read(m.p(".podfs", "status")).decode()
        check("impersonating: fixture-limited\n" in st, st)
        fd = os.open(m.p("demo", "ticker", "ticker", "stdout"), os.O_RDONLY)
        try:
            check(os.read(fd, 100), "attach output")
        finally:
            os.close(fd)
    rec = impersonations(fx)
    check(rec, "no impersonation headers seen")
    for r in rec:
        eq((r["user"], r["groups"], r["uid"]), ("fixture-limited", ["team-a", "team-b"], "1234"),
           "headers of %s" % r["path"])
        eq(r["extra"], {"scopes.example.com/x": ["read", "write"]}, "extra of %s" % r["path"])
    check(any(r["upgrade"] for r in rec), "the WebSocket upgrade carried them: %r" % rec)
    stats = fx.stats()["by_path"]
    check(all(r["path"] in stats for r in rec), "every recorded request was served")


def t_impersonation_flags(fx, tmp):
    """--as, --as-group, --as-uid replace the kubeconfig's; -o as= for fstab."""
    kc = kubeconfig(fx, tmp, "\n    token: %s\n    as: nobody-at-all\n" % fx.token)
    fx.reset_stats()
    with Mount(fx, kubeconfig=kc, args=["--as", "fixture-limited", "--as-group", "g1",
                                        "--as-group=g2", "--as-uid", "42"]) as m:
        eq(sorted(os.listdir(m.path)), [".podfs", "demo"], "--as")
    rec = impersonations(fx)
    check(rec and all((r["user"], r["groups"], r["uid"]) == ("fixture-limited", ["g1", "g2"], "42")
                      for r in rec), rec)
    fx.reset_stats()
    with Mount(fx, opts=["as=fixture-limited", "as_group=g3"]) as m:
        eq(sorted(os.listdir(m.path)), [".podfs", "demo"], "-o as=")
    rec = impersonations(fx)
    check(rec and all(r["groups"] == ["g3"] for r in rec), rec)
    rc, err = refused_mount(fx.kubeconfig, tmp, "--as-group", "g1")
    eq(rc, 1, "--as-group without --as")


class PlainServer:
    """An http:// API server stand-in on loopback that records the
    Authorization headers it is sent."""

    def __init__(self):
        seen = self.seen = []

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                seen.append(self.headers.get("Authorization"))
                body = json.dumps({"kind": "NamespaceList", "items": [],
                                   "metadata": {}}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass
        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


def t_no_token_over_http(fx, tmp):
    """kubectl 1.32 sends no Authorization to an http:// server; neither does
    podfs, and it says so once."""
    ps = PlainServer()
    try:
        path = os.path.join(tmp, "kubeconfig-http")
        with open(path, "w") as f:
            f.write("apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters:\n- name: p\n"
                    "  cluster: {server: 'http://127.0.0.1:%d'}\ncontexts:\n- name: c\n"
                    "  context: {cluster: p, user: u}\nusers:\n- name: u\n"
                    "  user: {token: plain-secret-token}\n" % ps.port)
        with Mount(fx, kubeconfig=path, opts=["cache=0"]) as m:
            for _ in range(2):
                try:
                    os.listdir(m.path)
                except OSError:
                    pass	# the stand-in's lists are empty shells
            log = m.read_log()
        check(ps.seen, "the server saw no request")
        eq(set(ps.seen), {None}, "Authorization headers sent")
        eq(log.count("plain http://"), 1, "one warning: %r" % log)
        check("plain-secret-token" not in log, "the token in the log")
    finally:
        ps.close()


def t_interactive_plugin_on_terminal(fx, tmp):
    """On a terminal, a plugin that may be interactive gets the terminal and
    login_timeout, not -o timeout, while the mount starts."""
    tok = "device-code-token-%d" % time.time_ns()
    fx.control("token", token=tok)
    info = os.path.join(tmp, "interactive-info")
    plug = write_plugin(tmp, "printf '%%s' \"$KUBERNETES_EXEC_INFO\" > %s\n"
                        "if [ ! -t 0 ]; then echo 'no terminal' >&2; exit 1; fi\n"
                        "echo 'open https://login.example/device and enter ABCD' >&2\n"
                        "sleep 2\n"
                        "printf '{\"apiVersion\":\"client.authentication.k8s.io/v1\","
                        "\"kind\":\"ExecCredential\",\"status\":{\"token\":\"%s\"}}'\n"
                        % (info, tok))
    kc = kubeconfig(fx, tmp, exec_user(plug, "IfAvailable"))
    mnt = tempfile.mkdtemp(dir=tmp)
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(podfs_bin(), [podfs_bin(), "--kubeconfig", kc, "-o", "timeout=1",
                               "-o", "login_timeout=30", mnt])
    out = b""
    try:
        deadline = time.time() + 30
        while time.time() < deadline:
            r, _, _ = select.select([fd], [], [], 0.2)
            if r:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                out += chunk
            done, st = os.waitpid(pid, os.WNOHANG)
            if done:
                pid = 0
                eq(os.waitstatus_to_exitcode(st), 0, "podfs exit: %r" % out)
                break
        check(b"login.example/device" in out, "the plugin's prompt on the terminal: %r" % out)
        check(is_mount(mnt), "mounted after the login: %r" % out)
        check("web" in os.listdir(os.path.join(mnt, "demo")), "listing with the token")
        with open(info) as f:
            check(json.load(f)["spec"]["interactive"] is True, "spec.interactive")
    finally:
        if pid:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        os.close(fd)
        # the daemon it left behind exits when unmounted
        subprocess.run(["fusermount3", "-u", mnt], capture_output=True)


def t_sd_notify(fx, tmp):
    """NOTIFY_SOCKET set: READY=1 (with MAINPID) once the mount is live,
    STOPPING=1 at unmount."""
    path = os.path.join(tmp, "notify.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    os.environ["NOTIFY_SOCKET"] = path
    try:
        m = Mount(fx)
        m.start()
        try:
            s.settimeout(10)
            msg = s.recv(4096).decode()
            check(is_mount(m.path), "READY before the mount")
            lines = msg.split("\n")
            check("READY=1" in lines and "MAINPID=%d" % m.proc.pid in lines, msg)
            check("demo" in os.listdir(m.path), "serving when READY came")
        finally:
            m.close()
        msg = s.recv(4096).decode()
        check("STOPPING=1" in msg.split("\n"), msg)
    finally:
        del os.environ["NOTIFY_SOCKET"]
        s.close()
    unit = read(os.path.join(ROOT, "docs", "podfs@.service")).decode()
    check(re.search(r"^Type=notify$", unit, re.M), "Type=notify in the unit")
    check(not re.search(r"^(After|Wants)=.*network-online", unit, re.M),
          "no network-online.target in a user unit")


def main():
    s = Suite("test_contact")
    tmp = tempfile.mkdtemp(prefix="podfs-contact-")
    try:
        with fixture.Fixture() as fx:
            for t in (t_refused_token, t_anonymous, t_wrong_ca, t_wrong_tls_server_name,
                      t_plugin_failure, t_namespaces_forbidden_noted, t_expired_mid_mount,
                      t_impersonation_kubeconfig, t_impersonation_flags, t_no_token_over_http,
                      t_interactive_plugin_on_terminal, t_sd_notify):
                s.run(t, fx, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return s.report()


if __name__ == "__main__":
    sys.exit(main())
