#!/usr/bin/python3
"""A tiny HTTPS server for the rest/conn unit tests (standard library only).

Usage: tls_server.py DIR.  Makes a throwaway CA, a server certificate
(SAN DNS:kubernetes, IP:127.0.0.1, deliberately not "localhost") and a
client certificate (CN alice) in DIR with the openssl CLI, writes a
kubeconfig DIR/kubeconfig pointing at itself, listens on 127.0.0.1 on a
free port and prints "PORT <n>" once ready.  Serves a few canned replies,
including the raw handshake replies a real streaming server sends.
Exits when stdin closes (the test process died) or on SIGTERM.
"""
import base64
import hashlib
import json
import os
import socket
import ssl
import subprocess
import sys
import threading
import time

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TOKEN = "test-token-123"


def sh(*args):
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def make_certs(d):
    def key(name):
        sh("openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
           "-out", os.path.join(d, name))
    key("ca.key")
    sh("openssl", "req", "-x509", "-new", "-key", os.path.join(d, "ca.key"), "-days", "2",
       "-subj", "/CN=podfs-test-ca", "-out", os.path.join(d, "ca.pem"))
    for name, cn, ext in (("server", "kubernetes",
                           "subjectAltName=DNS:kubernetes,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"),
                          ("client", "alice", "extendedKeyUsage=clientAuth\n")):
        key(name + ".key")
        with open(os.path.join(d, name + ".ext"), "w") as f:
            f.write(ext)
        sh("openssl", "req", "-new", "-key", os.path.join(d, name + ".key"), "-subj", "/CN=" + cn,
           "-out", os.path.join(d, name + ".csr"))
        sh("openssl", "x509", "-req", "-in", os.path.join(d, name + ".csr"), "-CA",
           os.path.join(d, "ca.pem"), "-CAkey", os.path.join(d, "ca.key"), "-CAcreateserial",
           "-days", "2", "-extfile", os.path.join(d, name + ".ext"),
           "-out", os.path.join(d, name + ".pem"))
    # a second, unrelated CA for the "wrong CA" test
    key("other.key")
    sh("openssl", "req", "-x509", "-new", "-key", os.path.join(d, "other.key"), "-days", "2",
       "-subj", "/CN=other-ca", "-out", os.path.join(d, "other.pem"))


def status(code, reason, message):
    return json.dumps({"kind": "Status", "apiVersion": "v1", "metadata": {},
                       "status": "Failure", "message": message, "reason": reason,
                       "code": code}).encode()


class Conn:
    def __init__(self, sock):
        self.s = sock
        self.buf = b""

    def head(self):
        while b"\r\n\r\n" not in self.buf:
            d = self.s.recv(65536)
            if not d:
                return None
            self.buf += d
        h, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = h.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        hdrs = {}
        for ln in lines[1:]:
            k, v = ln.split(":", 1)
            hdrs.setdefault(k.strip().lower(), v.strip())
        return method, target, hdrs

    def reply(self, code, text, body=b"", ctype="application/json", extra=""):
        self.s.sendall(("HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n%s\r\n"
                        % (code, text, ctype, len(body), extra)).encode() + body)


busy_count = {"n": 0}


def handle(sock):
    c = Conn(sock)
    while True:
        r = c.head()
        if r is None:
            return
        method, target, h = r
        path = target.split("?")[0]
        cert = sock.getpeercert()
        cn = None
        if cert:
            for rdn in cert.get("subject", ()):
                for k, v in rdn:
                    if k == "commonName":
                        cn = v
        authed = h.get("authorization") == "Bearer " + TOKEN or cn is not None
        if path == "/whoami":
            body = json.dumps({"cn": cn, "host": h.get("host"), "auth": h.get("authorization", ""),
                               "method": method, "accept": h.get("accept", "")}).encode()
            c.reply(200, "OK", body)
        elif not authed:
            c.reply(401, "Unauthorized", status(401, "Unauthorized", "Unauthorized"))
        elif path == "/api/v1/namespaces/default/pods":
            c.reply(200, "OK", b'{"kind":"PodList","items":[]}')
        elif path == "/notfound":
            c.reply(404, "Not Found", status(404, "NotFound", 'pods "nope" not found'))
        elif path == "/text500":
            c.reply(500, "Internal Server Error", b'container not found ("app")\n', "text/plain")
        elif path == "/busy":
            busy_count["n"] += 1
            if busy_count["n"] % 2 == 1:
                c.reply(429, "Too Many Requests", status(429, "TooManyRequests", "slow down"),
                        extra="Retry-After: 1\r\n")
            else:
                c.reply(200, "OK", b'{"ok":true}')
        elif path == "/big":
            c.s.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                        b"Transfer-Encoding: chunked\r\n\r\n")
            for i in range(5):
                c.s.sendall(b"6\r\nline%d\n\r\n" % i)
                time.sleep(0.05)
            c.s.sendall(b"0\r\n\r\n")
        elif path == "/slow":
            time.sleep(3)
            c.reply(200, "OK", b"{}")
        elif path == "/ws":
            offered = [p.strip() for p in h.get("sec-websocket-protocol", "").split(",")]
            pick = next((p for p in offered if p in ("v4.channel.k8s.io", "channel.k8s.io")), None)
            key = h.get("sec-websocket-key", "")
            acc = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
            if h.get("sec-websocket-version") != "13" or pick is None:
                c.s.sendall(b"HTTP/1.1 403 Forbidden\r\n\r\n")
                return
            if "v5only" in target:
                return
            proto = pick
            if "badproto" in target:
                proto = "v9.channel.k8s.io"
            if "badaccept" in target:
                acc = "AAAAAAAAAAAAAAAAAAAAAAAAAAA="
            line = "Sec-WebSocket-Protocol: %s\r\n" % proto
            if "emptyproto" in target:
                line = "Sec-WebSocket-Protocol: \r\n"
            if "noproto" in target:
                line = ""
            c.s.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                         "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n%s\r\n"
                         % (acc, line)).encode() + b"\x82\x01\x01")
            # echo raw bytes until the client closes
            data = c.buf
            while True:
                if data:
                    c.s.sendall(data)
                data = c.s.recv(65536)
                if not data:
                    return
        elif path == "/chunked-403":
            c.s.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\n"
                        b"Transfer-Encoding: chunked\r\n\r\n")
            body = status(403, "Forbidden", 'pods "web" is forbidden: User "bob" cannot get')
            c.s.sendall(b"%x\r\n%s\r\n" % (10, body[:10]))
            c.s.sendall(b"%x\r\n%s\r\n0\r\n\r\n" % (len(body) - 10, body[10:]))
        elif path == "/hang":
            time.sleep(5)
            return
        else:
            c.reply(404, "Not Found", status(404, "NotFound", "the server could not find the requested resource"))


def serve(conn, ctx):
    try:
        with ctx.wrap_socket(conn, server_side=True) as s:
            handle(s)
    except (OSError, ssl.SSLError, ValueError):
        pass


def main():
    d = sys.argv[1]
    make_certs(d)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(d, "server.pem"), os.path.join(d, "server.key"))
    ctx.load_verify_locations(os.path.join(d, "ca.pem"))
    ctx.verify_mode = ssl.CERT_OPTIONAL
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(64)
    port = ls.getsockname()[1]
    with open(os.path.join(d, "kubeconfig"), "w") as f:
        f.write("""apiVersion: v1
kind: Config
current-context: token
clusters:
- name: ip
  cluster: {server: "https://127.0.0.1:%d", certificate-authority: ca.pem}
- name: byname
  cluster: {server: "https://localhost:%d", certificate-authority: ca.pem}
- name: sni
  cluster: {server: "https://localhost:%d/", certificate-authority: ca.pem, tls-server-name: kubernetes}
- name: insecure
  cluster: {server: "https://localhost:%d", insecure-skip-tls-verify: true}
- name: wrongca
  cluster: {server: "https://127.0.0.1:%d", certificate-authority: other.pem}
users:
- name: tok
  user: {token: %s}
- name: cert
  user: {client-certificate: client.pem, client-key: client.key}
- name: file
  user: {tokenFile: token}
contexts:
- {name: token, context: {cluster: ip, user: tok}}
- {name: cert, context: {cluster: ip, user: cert}}
- {name: anon, context: {cluster: ip}}
- {name: byname, context: {cluster: byname, user: tok}}
- {name: sni, context: {cluster: sni, user: tok}}
- {name: insecure, context: {cluster: insecure, user: tok}}
- {name: wrongca, context: {cluster: wrongca, user: tok}}
- {name: file, context: {cluster: ip, user: file}}
""" % (port, port, port, port, port, TOKEN))
    with open(os.path.join(d, "token"), "w") as f:
        f.write("wrong-token\n")
    print("PORT %d" % port, flush=True)

    def watchdog():
        sys.stdin.read()
        os._exit(0)
    threading.Thread(target=watchdog, daemon=True).start()
    while True:
        conn, _ = ls.accept()
        threading.Thread(target=serve, args=(conn, ctx), daemon=True).start()


if __name__ == "__main__":
    main()
