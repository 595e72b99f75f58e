#!/usr/bin/python3
"""Records the transcripts in tests/captures/ from real servers.

Two sources, both started here by the repository's own harnesses:

* containerd 1.6's CRI streaming server (tests/cri/harness.py) -- the
  kubelet's streaming code, what a kube-apiserver relays every non-v5 exec,
  attach and port-forward to: the files the unit tests replay under the
  names they always had (exec-v4-ok.txt, exec-big.txt, ...);
* a real kube-apiserver with its kubelet (tests/cluster/, `record.py
  apiserver STATE`, run by hand on a running cluster): its v5 translator,
  its relay of v4, its refusals and list errors (apiserver-*.txt).

Each file: the scenario, the request head, the response head, every frame
(`<<` from the server, `>>` what the client did) in hex with a decoded
line, and last all bytes after the response head in hex, which is what
tests/unit/captures.h loads.  Usage:

    record.py cri [OUTDIR]            # needs root (containerd)
    record.py apiserver STATE [OUTDIR]
"""

import base64
import json
import os
import socket
import ssl
import struct
import sys
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


# ---- a WebSocket client that writes down everything ------------------------------

def _shown(b):
    return b.decode("latin-1").replace("\r", "\\r").replace("\n", "\\n\n")


def _hex(b):
    return " ".join("%02x" % x for x in b)


class Session:
    """One upgrade and its frames, kept as a transcript."""

    def __init__(self, url, protos, token=None, cafile=None, title="", notes=()):
        u = urllib.parse.urlsplit(url)
        self.lines = ["# scenario: %s" % title] + ["# %s" % n for n in notes]
        self.raw = b""
        self.frames = []
        sock = socket.create_connection((u.hostname, u.port), timeout=10)
        if u.scheme == "https":
            ctx = ssl.create_default_context(cafile=cafile)
            ctx.set_alpn_protocols(["http/1.1"])
            sock = ctx.wrap_socket(sock, server_hostname=u.hostname)
        self.sock = sock
        key = base64.b64encode(os.urandom(16)).decode()
        path = u.path + ("?" + u.query if u.query else "")
        req = ["GET %s HTTP/1.1" % path, "Host: %s" % u.netloc, "Upgrade: websocket",
               "Connection: Upgrade", "Sec-WebSocket-Key: %s" % key,
               "Sec-WebSocket-Version: 13"]
        if protos is not None:
            req.append("Sec-WebSocket-Protocol: %s" % protos)
        shown = list(req)
        if token:
            req.append("Authorization: Bearer %s" % token)
            shown.append("Authorization: Bearer <token>")
        sock.sendall(("\r\n".join(req) + "\r\n\r\n").encode())
        self.lines.append("== request")
        self.lines += [ln + "\\r\\n" for ln in shown] + ["\\r\\n"]
        head = b""
        while b"\r\n\r\n" not in head:
            b = sock.recv(65536)
            if not b:
                break
            head += b
        head, _, rest = head.partition(b"\r\n\r\n")
        self.status = int(head.split(b" ", 2)[1]) if head else 0
        self.lines.append("== response head")
        self.lines.append(_shown(head + b"\r\n\r\n").rstrip("\n"))
        self.buf = rest
        self.eof = False
        if self.status != 101:       # the body is the refusal: keep it whole
            self.read_rest(timeout=5)

    def read_rest(self, timeout):
        self.sock.settimeout(timeout)
        try:
            while True:
                b = self.sock.recv(65536)
                if not b:
                    break
                self.buf += b
        except (socket.timeout, ssl.SSLError, OSError):
            pass
        self.raw += self.buf
        self.lines.append("== body")
        self.lines.append(_shown(self.buf))
        self.buf = b""

    def _fill(self, n, deadline):
        while len(self.buf) < n:
            left = deadline - time.time()
            if left <= 0:
                return False
            self.sock.settimeout(left)
            try:
                b = self.sock.recv(65536)
            except (socket.timeout, ssl.SSLWantReadError):
                return False
            if not b:
                self.eof = True
                return False
            self.buf += b
        return True

    def frame(self, timeout=10):
        """-> (opcode, payload) of the next server frame, or None."""
        deadline = time.time() + timeout
        if not self._fill(2, deadline):
            return None
        b0, b1 = self.buf[0], self.buf[1]
        n, off = b1 & 0x7f, 2
        if n == 126:
            if not self._fill(4, deadline):
                return None
            n, off = struct.unpack(">H", self.buf[2:4])[0], 4
        elif n == 127:
            if not self._fill(10, deadline):
                return None
            n, off = struct.unpack(">Q", self.buf[2:10])[0], 10
        if not self._fill(off + n, deadline):
            return None
        whole, payload = self.buf[:off + n], self.buf[off:off + n]
        self.buf = self.buf[off + n:]
        self.raw += whole
        op = b0 & 0x0f
        if len(whole) > 600:
            shown = _hex(whole[:24]) + " ... (%d bytes)" % len(whole)
        else:
            shown = _hex(whole)
        self.lines.append("<< " + shown)
        if op == 8:
            code = struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else None
            self.lines.append("   fin=%d op=close len=%d code=%s reason=%r"
                              % (b0 >> 7, n, code, payload[2:]))
        else:
            ch = payload[0] if payload else None
            data = payload[1:] if len(payload) > 200 else payload[1:]
            self.lines.append("   fin=%d op=%s len=%d ch=%s data=%r"
                              % (b0 >> 7, {1: "text", 2: "binary"}.get(op, op), n, ch,
                                 data[:200] + (b"..." if len(data) > 200 else b"")))
        self.frames.append((op, payload))
        return op, payload

    def send(self, payload, op=2, what=None):
        mask = os.urandom(4)
        n = len(payload)
        head = bytes([0x80 | op])
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack(">Q", n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(head + mask + masked)
        self.lines.append(">> %s" % (what or ("op=%d %s" % (op, _hex(payload)))))

    def run(self, max_frames=1000, timeout=15, on_frame=None):
        """Read frames until the server closes; echo its close."""
        while len(self.frames) < max_frames:
            f = self.frame(timeout)
            if f is None:
                break
            if on_frame:
                on_frame(self, f)
            if f[0] == 8:
                self.send(f[1][:2], op=8, what="close echo %s" % f[1][:2].hex())
                break
        self.read_eof(timeout)

    def read_eof(self, timeout=5):
        deadline = time.time() + timeout
        while not self.eof and self._fill(len(self.buf) + 1, deadline):
            pass
        if self.buf:
            self.raw += self.buf
            self.lines.append("<< (trailing) " + _hex(self.buf))
        self.lines.append("== TCP EOF from server" if self.eof else "== no EOF in %ds" % timeout)

    def save(self, path):
        self.sock.close()
        text = "\n".join(self.lines) + "\n== all bytes after the response head (hex):\n"
        text += _hex(self.raw) + "\n"
        with open(path, "w") as f:
            f.write(text)
        print("record: %s (%d bytes)" % (os.path.relpath(path, ROOT), len(self.raw)))


# ---- containerd --------------------------------------------------------------------

def record_cri(out):
    sys.path.insert(0, os.path.join(ROOT, "tests", "cri"))
    import harness
    page = b"hello-from-pod-netns\n"
    with harness.Containerd(log=print, image_files={"www/index.html": page}) as c:
        app = c.run_pod("rec", "app", [{"name": "app", "command": ["sleep", "100000"]}])
        # The ticker waits for /tmp/go, which the recorder creates once it is
        # attached, so the four lines it records are always the same.
        tick = c.run_pod("rec", "ticker", [{"name": "ticker", "command": [
            "sh", "-c", "while [ ! -e /tmp/go ]; do sleep 0.05; done; "
            "for i in 26 27 28 29; do echo tick$i; sleep 0.2; done; exec sleep 100000"]}])
        web = c.run_pod("rec", "web", [{"name": "web", "command": [
            "sh", "-c", "httpd -p 18080 -h /www; exec sleep 100000"]}], host_network=False)
        cid = app["containers"]["app"]

        def exec_case(name, argv, protos="v4.channel.k8s.io"):
            url = c.client.exec_url(cid, argv)
            s = Session(url, protos, title=name, notes=[
                "cri exec %s -- %s" % (cid[:12], " ".join(argv)),
                "containerd %s" % c.version, "offered: %r" % protos])
            if s.status == 101:
                s.run()
            s.save(os.path.join(out, name + ".txt"))

        exec_case("exec-v4-ok", ["sh", "-c", "echo out; echo err >&2"])
        exec_case("exec-v4-exit3", ["sh", "-c", "echo hello; exit 3"])
        exec_case("exec-big", ["sh", "-c", 'head -c 70000 /dev/zero | tr "\\0" a'])
        exec_case("exec-v5only", ["sh", "-c", "echo hello; exit 3"], "v5.channel.k8s.io")
        exec_case("exec-multiproto", ["sh", "-c", "echo hello; exit 3"],
                  "v5.channel.k8s.io, v4.channel.k8s.io, channel.k8s.io")

        tcid = tick["containers"]["ticker"]
        s = Session(c.client.attach_url(tcid), "v4.channel.k8s.io", title="attach-v4-ticker",
                    notes=["cri attach %s (stdout, stderr); the ticker starts when "
                           "/tmp/go appears; the client closes after four lines" % tcid[:12]])
        s.frame()                                   # ready
        go = Session(c.client.exec_url(tcid, ["touch", "/tmp/go"]), "v4.channel.k8s.io")
        go.run()
        go.sock.close()
        while sum(1 for op, p in s.frames if op == 2 and p[:1] == b"\x01" and len(p) > 1) < 4:
            if s.frame() is None:
                break
        s.send(struct.pack(">H", 1000), op=8, what="close 1000")
        s.run()
        s.save(os.path.join(out, "attach-v4-ticker.txt"))

        sid = web["sandbox"]
        for name, port, data in (("portforward-v4", 18080, b"GET / HTTP/1.0\r\n\r\n"),
                                 ("portforward-closed", 18081, b"x")):
            s = Session(c.client.port_forward_url(sid, [port]), "v4.channel.k8s.io",
                        title=name, notes=["cri portforward %s %d" % (sid[:12], port),
                                           "the client sends %r on channel 0" % data])
            s.frame()
            s.frame()                               # the two port prefixes
            s.send(b"\x00" + data, what="ch 0 %r" % data)
            s.run()
            s.save(os.path.join(out, name + ".txt"))


# ---- a real kube-apiserver ---------------------------------------------------------

def record_apiserver(state, out):
    with open(state) as f:
        st = json.load(f)
    base, tok, ca = st["base"], st["token"], st["ca"]
    wsbase = base
    ns, pod, c = "demo", "multi", "sidecar"

    def url(sub, **q):
        qs = urllib.parse.urlencode([(k, x) for k, v in q.items()
                                     for x in (v if isinstance(v, list) else [v])])
        return "%s/api/v1/namespaces/%s/pods/%s/%s?%s" % (wsbase, ns, pod, sub, qs)

    def case(name, u, protos, token=tok, note="", **kw):
        s = Session(u, protos, token=token, cafile=ca, title=name, notes=[
            "kube-apiserver %s, offered %r" % (st["version"], protos), note])
        if s.status == 101:
            s.run(**kw)
        s.save(os.path.join(out, name + ".txt"))
        return s

    exec_q = dict(container=c, stdout="true", stderr="true")
    case("apiserver-exec-v5-ok", url("exec", command=["sh", "-c", "echo out; echo err >&2"],
                                     **exec_q),
         "v5.channel.k8s.io, v4.channel.k8s.io", note="podfs's offer: the translator answers")
    case("apiserver-exec-v5-exit3", url("exec", command=["sh", "-c", "echo hello; exit 3"],
                                        **exec_q), "v5.channel.k8s.io, v4.channel.k8s.io")
    case("apiserver-exec-v5-nobinary", url("exec", command=["no-such-binary"], **exec_q),
         "v5.channel.k8s.io, v4.channel.k8s.io", note="a missing binary: InternalError")
    case("apiserver-exec-v4-exit3", url("exec", command=["sh", "-c", "echo hello; exit 3"],
                                        **exec_q), "v4.channel.k8s.io",
         note="no v5 offered: relayed to the kubelet's streaming server unchanged")
    s = Session(url("exec", command=["sh", "-c", "cat | wc -c"], stdin="true", **exec_q),
                "v5.channel.k8s.io", token=tok, cafile=ca, title="apiserver-exec-v5-closestdin",
                notes=["stdin 'hello\\n', then v5's close of channel 0 (ff 00)"])
    s.frame()
    s.send(b"\x00hello\n", what="ch 0 'hello\\n'")
    s.send(b"\xff\x00", what="ch 255 close stdin (00)")
    s.run()
    s.save(os.path.join(out, "apiserver-exec-v5-closestdin.txt"))
    case("apiserver-exec-forbidden", url("exec", command=["true"], **exec_q),
         "v5.channel.k8s.io, v4.channel.k8s.io", token=st["limited_token"],
         note="the read-only user: RBAC's 403 before any upgrade")
    ns_saved = pod
    pod = "nosuchpod"
    case("apiserver-exec-notfound", url("exec", command=["true"], **exec_q),
         "v5.channel.k8s.io, v4.channel.k8s.io")
    pod = ns_saved
    pod = "web"
    case("apiserver-portforward-v4", url("portforward", ports="80"), "v4.channel.k8s.io",
         note="relayed to the kubelet: port prefixes, then the pod's reply",
         on_frame=lambda s, f: (len(s.frames) == 2 and s.send(
             b"\x00GET /index.html HTTP/1.0\r\n\r\n", what="ch 0 GET /index.html")))
    case("apiserver-portforward-forbidden", url("portforward", ports="80"),
         "v4.channel.k8s.io", token=st["limited_token"])


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "cri":
        record_cri(sys.argv[2] if len(sys.argv) > 2 else HERE)
    elif len(sys.argv) >= 3 and sys.argv[1] == "apiserver":
        record_apiserver(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else HERE)
    else:
        print(__doc__)
        sys.exit(2)
