#!/usr/bin/python3
"""Every kubeconfig auth path against the fixture cluster, through a real
mount: an exec credential plugin (cached, expiring, re-run on a 401), a
rotated tokenFile, Basic auth, an oidc id-token and in-cluster config.
Prints 'test_auth_paths: N passed, N failed' last."""

import base64
import http.server
import json
import os
import select
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture  # noqa: E402
from mount import Mount, Suite, check, eq, is_mount, podfs_bin, run  # noqa: E402

PLUGIN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "plugins", "exec-cred.sh")


def kubeconfig(fx, tmp, user_yaml):
    path = os.path.join(tmp, "kubeconfig-%d" % time.time_ns())
    with open(path, "w") as f:
        f.write("apiVersion: v1\nkind: Config\ncurrent-context: c\n"
                "clusters:\n- name: fx\n  cluster:\n    server: %s\n"
                "    certificate-authority: %s\n"
                "contexts:\n- name: c\n  context: {cluster: fx, user: u, namespace: demo}\n"
                "users:\n- name: u\n  user:\n%s" % (fx.base, fx.ca, user_yaml))
    return path


def token(fx, tok, **kw):
    fx.control("token", token=tok, **kw)


def runs(d):
    with open(os.path.join(d, "runs")) as f:
        return int(f.read())


def plugin_user(d, api="client.authentication.k8s.io/v1"):
    return ("    exec:\n      apiVersion: %s\n      command: %s\n      args: [%s]\n"
            "      env: [{name: CRED_DIR, value: %s}]\n      interactiveMode: Never\n"
            "      provideClusterInfo: true\n" % (api, PLUGIN, api, d))


def fresh_dir(tmp, name):
    d = os.path.join(tmp, name)
    os.mkdir(d)
    return d


def t_exec_plugin_cached(fx, tmp):
    """A plugin's token is used for REST and streams and cached: one run."""
    d = fresh_dir(tmp, "plug1")
    with open(os.path.join(d, "token"), "w") as f:
        f.write("plugin-token-1")
    token(fx, "plugin-token-1")
    with Mount(fx, kubeconfig=kubeconfig(fx, tmp, plugin_user(d))) as m:
        check("web" in os.listdir(m.p("demo")))
        with open(m.p("demo", "web", "Status")) as f:
            check("Running" in f.read())
        fd = os.open(m.p("demo", "ticker", "ticker", "stdout"), os.O_RDONLY)
        try:
            check(os.read(fd, 100), "no attach output")
        finally:
            os.close(fd)
        check(runs(d) == 1, "plugin ran %d times" % runs(d))
    with open(os.path.join(d, "exec_info")) as f:
        info = json.load(f)
    check(info["kind"] == "ExecCredential" and info["spec"]["interactive"] is False, info)
    check(info["spec"]["cluster"]["server"] == fx.base, "no cluster info: %r" % info)


def t_exec_plugin_expiry(fx, tmp):
    """An expired credential makes the plugin run again (v1beta1 this time)."""
    d = fresh_dir(tmp, "plug2")
    with open(os.path.join(d, "token"), "w") as f:
        f.write("plugin-token-2")
    with open(os.path.join(d, "ttl"), "w") as f:
        f.write("2")
    token(fx, "plugin-token-2")
    kc = kubeconfig(fx, tmp, plugin_user(d, "client.authentication.k8s.io/v1beta1"))
    with Mount(fx, kubeconfig=kc, opts=["cache=0"]) as m:
        os.listdir(m.p("demo"))
        check(runs(d) == 1, "plugin ran %d times" % runs(d))
        time.sleep(3)
        os.listdir(m.p("default"))
        check(runs(d) == 2, "plugin ran %d times after expiry" % runs(d))


def t_401_refresh(fx, tmp):
    """A 401 (the token was revoked) runs the plugin again and retries once."""
    d = fresh_dir(tmp, "plug3")
    with open(os.path.join(d, "token"), "w") as f:
        f.write("plugin-token-3a")
    token(fx, "plugin-token-3a")
    with Mount(fx, kubeconfig=kubeconfig(fx, tmp, plugin_user(d)), opts=["cache=0"]) as m:
        os.listdir(m.p("demo"))
        token(fx, "plugin-token-3a", revoke=1)
        token(fx, "plugin-token-3b")
        with open(os.path.join(d, "token"), "w") as f:
            f.write("plugin-token-3b")
        check("hello" in os.listdir(m.p("default")), "listing after the 401 failed")
        check(runs(d) == 2, "plugin ran %d times" % runs(d))
        # streams too: the upgrade after another revocation
        token(fx, "plugin-token-3b", revoke=1)
        token(fx, "plugin-token-3c")
        with open(os.path.join(d, "token"), "w") as f:
            f.write("plugin-token-3c")
        fd = os.open(m.p("demo", "ticker", "ticker", "stdout"), os.O_RDONLY)
        try:
            check(os.read(fd, 100), "no attach output")
        finally:
            os.close(fd)
        check(runs(d) == 3, "plugin ran %d times" % runs(d))


def t_token_file_rotation(fx, tmp):
    """A rotated tokenFile (service-account style) is picked up without a remount."""
    tf = os.path.join(tmp, "sa-token")
    with open(tf, "w") as f:
        f.write("file-token-1\n")
    token(fx, "file-token-1")
    kc = kubeconfig(fx, tmp, "    tokenFile: %s\n" % tf)
    with Mount(fx, kubeconfig=kc, opts=["cache=0"]) as m:
        os.listdir(m.p("demo"))
        token(fx, "file-token-2")
        with open(tf + ".new", "w") as f:
            f.write("file-token-2\n")
        os.rename(tf + ".new", tf)
        token(fx, "file-token-1", revoke=1)
        check("hello" in os.listdir(m.p("default")), "listing after rotation failed")


def t_basic(fx, tmp):
    """username/password as Basic auth."""
    fx.control("basic", user="alice", password="s3cret-pw")
    kc = kubeconfig(fx, tmp, "    username: alice\n    password: s3cret-pw\n")
    with Mount(fx, kubeconfig=kc) as m:
        check("web" in os.listdir(m.p("demo")))
        with open(m.p(".podfs", "status")) as f:
            st = f.read()
        check("s3cret-pw" not in st, "password shown in .podfs/status")


def jwt(exp, sub="alice"):
    """An unsigned JWT with the exp claim (podfs, like client-go, reads exp only)."""
    def seg(obj):
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")
    return "%s.%s.sig" % (seg({"alg": "RS256"}), seg({"sub": sub, "exp": int(exp),
                                                      "n": time.time_ns()}))


def t_oidc(fx, tmp):
    """auth-provider oidc sends its id-token while it is fresh (no issuer
    contact: the issuer URL does not even resolve)."""
    tok = jwt(time.time() + 3600)
    token(fx, tok)
    kc = kubeconfig(fx, tmp, "    auth-provider:\n      name: oidc\n      config:\n"
                    "        id-token: %s\n        client-id: podfs\n"
                    "        idp-issuer-url: https://issuer.invalid\n" % tok)
    with Mount(fx, kubeconfig=kc) as m:
        check("web" in os.listdir(m.p("demo")))


class Issuer:
    """A tiny OpenID Connect issuer on loopback TLS (the fixture's server
    certificate): discovery and a refresh_token grant that hands out a new
    id-token (accepted by the fixture) and a new refresh token."""

    def __init__(self, fx, refresh_token):
        self.fx, self.want, self.calls, self.issued = fx, refresh_token, [], []
        me = self

        class H(http.server.BaseHTTPRequestHandler):
            def reply(self, code, obj):
                body = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                if self.path == "/.well-known/openid-configuration":
                    return self.reply(200, {"issuer": me.url,
                                            "token_endpoint": me.url + "/token"})
                self.reply(404, {})

            def do_POST(self):
                form = urllib.parse.parse_qs(self.rfile.read(
                    int(self.headers.get("Content-Length") or 0)).decode())
                me.calls.append({"form": form, "auth": self.headers.get("Authorization")})
                if form.get("grant_type") != ["refresh_token"] or \
                        form.get("refresh_token") != [me.want]:
                    return self.reply(400, {"error": "invalid_grant",
                                            "error_description": "unknown refresh token"})
                new = jwt(time.time() + 3600)
                me.issued.append(new)
                me.fx.control("token", token=new)
                me.want = "refresh-%d" % len(me.issued)
                self.reply(200, {"access_token": "at", "token_type": "Bearer",
                                 "id_token": new, "refresh_token": me.want})

            def log_message(self, *a):
                pass
        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.path.join(fx.state, "server.crt"),
                            os.path.join(fx.state, "server.key"))
        self.srv.socket = ctx.wrap_socket(self.srv.socket, server_side=True)
        self.url = "https://127.0.0.1:%d" % self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


def t_oidc_refresh(fx, tmp):
    """An expired id-token is refreshed at the issuer's token endpoint (found
    by discovery, client credentials as HTTP Basic) and both tokens are
    written back into the kubeconfig, the rest of the file unchanged."""
    iss = Issuer(fx, "refresh-0")
    try:
        old = jwt(time.time() - 60)
        kc = kubeconfig(fx, tmp, "    auth-provider:\n      name: oidc\n      config:\n"
                        "        client-id: podfs-cli\n        client-secret: s3cr3t\n"
                        "        id-token: %s\n        idp-certificate-authority: %s\n"
                        "        idp-issuer-url: %s\n        refresh-token: refresh-0\n"
                        "# a comment that must survive\n" % (old, fx.ca, iss.url))
        before = open(kc).read()
        with Mount(fx, kubeconfig=kc) as m:
            check("web" in os.listdir(m.p("demo")), "listing with the refreshed token")
            log = m.read_log()
        eq(len(iss.calls), 1, "refresh requests")
        auth = base64.b64decode(iss.calls[0]["auth"].split()[1]).decode()
        eq(auth, "podfs-cli:s3cr3t", "client credentials")
        after = open(kc).read()
        check(iss.issued[0] in after and "refresh-token: \"refresh-1\"" in after, after)
        check(old not in after and "refresh-0" not in after, after)
        eq(after.replace('"%s"' % iss.issued[0], old).replace('"refresh-1"', "refresh-0"),
           before, "the rest of the kubeconfig")
        for secret in ("s3cr3t", "refresh-0", "refresh-1", iss.issued[0]):
            check(secret not in log, "a secret in the log")
        # a refresh the issuer refuses: the mount fails with its words
        old2 = jwt(time.time() - 60)
        kc2 = kubeconfig(fx, tmp, "    auth-provider:\n      name: oidc\n      config:\n"
                         "        client-id: podfs-cli\n        id-token: %s\n"
                         "        idp-certificate-authority: %s\n        idp-issuer-url: %s\n"
                         "        refresh-token: stale\n" % (old2, fx.ca, iss.url))
        mnt = fresh_dir(tmp, "oidcmnt")
        rc, _, err, _ = run([podfs_bin(), "--kubeconfig", kc2, "-f", mnt], timeout=30)
        if is_mount(mnt):
            subprocess.run(["fusermount3", "-u", "-z", mnt], capture_output=True)
        err = err.decode()
        check(rc == 1 and "invalid_grant: unknown refresh token" in err, err)
        eq(iss.calls[-1]["form"].get("client_id"), ["podfs-cli"], "client_id without a secret")
        check(not is_mount(mnt))
    finally:
        iss.close()


def t_oidc_no_issuer(fx, tmp):
    """oidc without idp-issuer-url is an error at start, as in client-go."""
    kc = kubeconfig(fx, tmp, "    auth-provider:\n      name: oidc\n      config:\n"
                    "        id-token: %s\n        client-id: podfs\n" % jwt(time.time() + 60))
    mnt = fresh_dir(tmp, "noissuer")
    rc, _, err, _ = run([podfs_bin(), "--kubeconfig", kc, "-f", mnt], timeout=20)
    if is_mount(mnt):
        subprocess.run(["fusermount3", "-u", "-z", mnt], capture_output=True)
    check(rc == 1 and b"idp-issuer-url: missing" in err, err)


def t_gcp_provider_message(fx, tmp):
    """A removed in-tree provider is a clear start-up error naming its replacement."""
    kc = kubeconfig(fx, tmp, "    auth-provider:\n      name: gcp\n      config: {}\n")
    mnt = fresh_dir(tmp, "gcpmnt")
    r = subprocess.run([podfs_bin(), "--kubeconfig", kc, "-f", mnt], capture_output=True,
                       timeout=20)
    err = r.stderr.decode()
    check(r.returncode == 1, "exit %r" % r.returncode)
    check("gke-gcloud-auth-plugin" in err, err)
    check(not is_mount(mnt))


def t_in_cluster(fx, tmp):
    """No kubeconfig, KUBERNETES_SERVICE_HOST/PORT set: the service account."""
    sa = fresh_dir(tmp, "sa")
    shutil.copy(fx.ca, os.path.join(sa, "ca.crt"))
    with open(os.path.join(sa, "token"), "w") as f:
        f.write("in-cluster-token")
    with open(os.path.join(sa, "namespace"), "w") as f:
        f.write("demo")
    token(fx, "in-cluster-token")
    home = fresh_dir(tmp, "home")
    mnt = fresh_dir(tmp, "icmnt")
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    env.update(HOME=home, KUBERNETES_SERVICE_HOST="127.0.0.1",
               KUBERNETES_SERVICE_PORT=str(fx.port), PODFS_SA_DIR=sa)
    log = open(os.path.join(tmp, "incluster.log"), "wb")
    p = subprocess.Popen([podfs_bin(), "-f", mnt], env=env, stdout=log, stderr=subprocess.STDOUT,
                         start_new_session=True)
    try:
        deadline = time.time() + 15
        while not is_mount(mnt) and time.time() < deadline and p.poll() is None:
            time.sleep(0.05)
        check(is_mount(mnt), "no mount: %s" % open(log.name).read()[-500:])
        check("web" in os.listdir(os.path.join(mnt, "demo")))
    finally:
        subprocess.run(["fusermount3", "-u", mnt], capture_output=True)
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        log.close()


class Proxy:
    """A tiny HTTP CONNECT and SOCKS5 proxy on 127.0.0.1 that relays to
    loopback only and counts the tunnels it made."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.tunnels = {"http": 0, "socks5": 0}
        self.hosts = []     # the destinations asked for, as the client named them
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def serve(self, c):
        try:
            first = c.recv(1, socket.MSG_PEEK)
            if first == b"\x05":
                host, port = self.socks5(c)
                kind = "socks5"
            else:
                head = b""
                while b"\r\n\r\n" not in head:
                    d = c.recv(4096)
                    if not d:
                        return
                    head += d
                line = head.split(b"\r\n")[0].split()
                if line[0] != b"CONNECT":
                    c.sendall(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
                    return
                host, port = line[1].decode().rsplit(":", 1)
                kind = "http"
            self.hosts.append(host)
            if host not in ("127.0.0.1", "localhost", "kubernetes"):
                return
            u = socket.create_connection(("127.0.0.1", int(port)))
            if kind == "http":
                c.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            self.tunnels[kind] += 1
            self.relay(c, u)
        except (OSError, IndexError, ValueError):
            pass
        finally:
            c.close()

    def socks5(self, c):
        n = c.recv(2)[1]
        c.recv(n)
        c.sendall(b"\x05\x00")                      # no authentication
        ver, cmd, _, atyp = c.recv(4)
        if atyp == 1:
            host = socket.inet_ntoa(c.recv(4))
        elif atyp == 3:
            host = c.recv(c.recv(1)[0]).decode()
        else:
            raise ValueError("address type")
        port = struct.unpack(">H", c.recv(2))[0]
        c.sendall(b"\x05\x00\x00\x01" + socket.inet_aton("127.0.0.1") + struct.pack(">H", 0))
        return host, port

    @staticmethod
    def relay(a, b):
        try:
            while True:
                r, _, _ = select.select([a, b], [], [], 60)
                if not r:
                    return
                for s in r:
                    d = s.recv(65536)
                    if not d:
                        return
                    (b if s is a else a).sendall(d)
        finally:
            b.close()

    def close(self):
        self.sock.close()


def t_proxy_url(fx, tmp):
    """proxy-url (http and socks5) carries REST and WebSocket traffic alike."""
    px = Proxy()
    try:
        for scheme in ("http", "socks5"):
            kc = kubeconfig(fx, tmp, "    token: %s\n" % fx.token)
            with open(kc) as f:
                text = f.read()
            text = text.replace("    certificate-authority:",
                                "    proxy-url: %s://127.0.0.1:%d\n    certificate-authority:"
                                % (scheme, px.port))
            with open(kc, "w") as f:
                f.write(text)
            before = px.tunnels[scheme]
            with Mount(fx, kubeconfig=kc) as m:
                check("web" in os.listdir(m.p("demo")), "listing through the proxy")
                rest = px.tunnels[scheme]
                fd = os.open(m.p("demo", "ticker", "ticker", "stdout"), os.O_RDONLY)
                try:
                    check(os.read(fd, 100), "no attach output through the proxy")
                finally:
                    os.close(fd)
            check(rest > before, "%s: REST did not go through the proxy" % scheme)
            check(px.tunnels[scheme] > rest, "%s: the WebSocket did not go through the proxy" % scheme)
    finally:
        px.close()


def t_socks5_hostname(fx, tmp):
    """proxy-url socks5:// with a server name only the proxy can resolve
    ("kubernetes", a name in the fixture's certificate): kubectl lets the
    proxy resolve it, curl's socks5h; so does podfs."""
    px = Proxy()
    try:
        kc = kubeconfig(fx, tmp, "    token: %s\n" % fx.token)
        with open(kc) as f:
            text = f.read()
        text = text.replace("server: https://127.0.0.1:", "server: https://kubernetes:")
        text = text.replace("    certificate-authority:", "    proxy-url: socks5://127.0.0.1:%d\n"
                            "    certificate-authority:" % px.port)
        with open(kc, "w") as f:
            f.write(text)
        with Mount(fx, kubeconfig=kc) as m:
            check("web" in os.listdir(m.p("demo")), "listing through socks5 by name")
            fd = os.open(m.p("demo", "ticker", "ticker", "stdout"), os.O_RDONLY)
            try:
                check(os.read(fd, 100), "attach through socks5 by name")
            finally:
                os.close(fd)
        check(px.hosts and set(px.hosts) == {"kubernetes"}, "names sent: %r" % px.hosts)
    finally:
        px.close()


def main():
    s = Suite("test_auth_paths")
    tmp = tempfile.mkdtemp(prefix="podfs-auth-")
    try:
        with fixture.Fixture() as fx:
            for t in (t_exec_plugin_cached, t_exec_plugin_expiry, t_401_refresh,
                      t_token_file_rotation, t_basic, t_oidc, t_oidc_refresh, t_oidc_no_issuer,
                      t_gcp_provider_message,
                      t_in_cluster, t_proxy_url, t_socks5_hostname):
                s.run(t, fx, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return s.report()


if __name__ == "__main__":
    sys.exit(main())
