"""Checks the fixture's WebSocket streaming endpoints against the real server.

Replays the client side of the transcripts in /work/shared/captures (taken
from containerd's CRI streaming server) against tests/fixture/k8sws.py and
compares the server's bytes, then checks what the captures cannot show: v5
stdin close, 64 MiB output, a fast stdin push, 50 concurrent execs, x/net's
receiver quirks, the knobs, and (when tests/fixture/server.py is present)
kubectl against the full fixture API server.

A small TLS server in this file stands in for the REST layer so the suite
runs on its own.  Standard library only; run with /usr/bin/python3.  The last
line is "test_fixture_ws: N passed, N failed".
"""

import base64
import hashlib
import http.client
import os
import re
import select
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
FIXTURE = os.path.join(ROOT, "tests", "fixture")
CAPTURES = os.environ.get("PODFS_CAPTURES", "/work/shared/captures")
sys.path.insert(0, FIXTURE)

import k8sws      # noqa: E402
import runtime    # noqa: E402

PASSED = 0
FAILED = 0


def check(name, cond, detail=""):
    global PASSED, FAILED
    if cond:
        PASSED += 1
        print("ok   %s" % name)
    else:
        FAILED += 1
        print("FAIL %s %s" % (name, detail))


# ---- a stand-in REST layer ------------------------------------------------------

PODS = {
    "demo": {"containers": [
        {"name": "reader", "command": ["sh", "-c", "while read l; do echo got:$l; done"],
         "stdin": True},
        {"name": "ticker", "command": ["sh", "-c",
                                       "i=0; while :; do i=$((i+1)); echo tick$i; sleep 0.2; done"]},
    ]},
    "netpod": {"containers": [
        {"name": "web", "command": ["sleep", "1000"],
         "ports": [{"containerPort": 18080, "serve": "http:WWW"},
                   {"containerPort": 18081, "serve": "refuse"},
                   {"containerPort": 7000, "serve": "echo"},
                   {"containerPort": 9000, "serve": "sink"}]}]},
    "echo": {"containers": [{"name": "cat", "command": ["cat"], "stdin": True}]},
    "once": {"containers": [{"name": "cat", "command": ["cat"], "stdin": True,
                             "stdinOnce": True}]},
    "ttypod": {"containers": [
        {"name": "sh", "command": ["sh", "-c", "sleep 0.3; stty size; read l; echo got:$l"],
         "stdin": True, "tty": True}]},
}


class Fixture:
    def __init__(self, tmp):
        self.tmp = tmp
        self.knobs = {}
        www = os.path.join(tmp, "www")
        os.makedirs(www)
        with open(os.path.join(www, "index.html"), "w") as f:
            f.write("hello-from-pod-netns\n")
        self.rt = runtime.Runtime(os.path.join(tmp, "state"), self.knobs)
        for name, spec in PODS.items():
            spec = eval(repr(spec).replace("WWW", www))
            self.rt.start_pod("default", name, spec)
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=localhost",
                        "-days", "2", "-keyout", os.path.join(tmp, "k.pem"),
                        "-out", os.path.join(tmp, "c.pem")], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(os.path.join(tmp, "c.pem"), os.path.join(tmp, "k.pem"))
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(128)
        self.port = self.lsock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, raw):
        try:
            s = self.ctx.wrap_socket(raw, server_side=True)
        except (OSError, ssl.SSLError):
            raw.close()
            return
        try:
            rfile = s.makefile("rb")
            line = rfile.readline(65537).decode("latin-1")
            method, target, _ = line.split(" ", 2)
            hdrs = http.client.parse_headers(rfile)
            u = urllib.parse.urlsplit(target)
            segs = u.path.strip("/").split("/")
            # /api/v1/namespaces/{ns}/pods/{pod}/{kind}
            ns, pod, kind = segs[3], segs[5], segs[6]
            query = urllib.parse.parse_qs(u.query, keep_blank_values=True)
            spec = PODS.get(pod, {})
            cname = query.get("container", [""])[0] or (
                spec["containers"][0]["name"] if spec else "")
            headers = {}
            for k, v in hdrs.items():
                headers.setdefault(k.lower(), v)
            k8sws.handle(s, rfile, method, u.path, query, headers, kind, ns, pod, cname,
                         spec, self.rt, self.knobs)
        except Exception:
            traceback.print_exc()
        finally:
            try:
                s.close()
            except OSError:
                pass

    def stop(self):
        self.lsock.close()
        k8sws.drop_all()
        self.rt.stop_all()


# ---- a tiny raw WebSocket client ---------------------------------------------

class Client:
    def __init__(self, port, path, protos="v4.channel.k8s.io", key=None, extra=b"",
                 method="GET", version="13"):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)))
        self.s.settimeout(20)
        self.key = key or base64.b64encode(os.urandom(16)).decode()
        req = ("%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: %s\r\n"
               % (method, path, port, self.key, version))
        if protos is not None:
            req += "Sec-WebSocket-Protocol: %s\r\n" % protos
        self.s.sendall(req.encode() + extra + b"\r\n")
        self.lock = threading.Lock()
        self.s.setblocking(False)
        self.buf = b""
        self.raw = b""                 # every byte after the response head
        while b"\r\n\r\n" not in self.buf:
            d = self._recv()
            if not d:
                break
            self.buf += d
        head, sep, rest = self.buf.partition(b"\r\n\r\n")
        self.head = head + sep
        self.buf = bytearray(rest)
        self.raw = bytearray(rest)
        self.keep_raw = True
        self.eof = False

    def _recv(self):
        """recv with every TLS call under one lock: the portforward test reads
        in one thread and writes in another, which OpenSSL does not allow on
        one connection at the same time."""
        deadline = time.time() + 30
        while time.time() < deadline:
            with self.lock:
                try:
                    return self.s.recv(1 << 20)
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
                    pass
                except (ssl.SSLError, OSError):
                    return b""
            select.select([self.s], [], [], 0.2)
        return b""

    def _need(self, n):
        while len(self.buf) < n:
            d = self._recv()
            if not d:
                self.eof = True
                return False
            self.buf += d
            if self.keep_raw:
                self.raw += d
        return True

    def frame(self):
        """Next server frame as (fin, opcode, payload, wire bytes) or None at EOF."""
        if not self._need(2):
            return None
        b0, b1 = self.buf[0], self.buf[1]
        n, off = b1 & 0x7F, 2
        if n == 126:
            if not self._need(4):
                return None
            n, off = int.from_bytes(self.buf[2:4], "big"), 4
        elif n == 127:
            if not self._need(10):
                return None
            n, off = int.from_bytes(self.buf[2:10], "big"), 10
        if not self._need(off + n):
            return None
        wire = bytes(self.buf[:off + n])
        del self.buf[:off + n]
        return b0 >> 7, b0 & 0x0F, wire[off:], wire

    def rest(self):
        """Read to EOF; returns the frames."""
        out = []
        while True:
            f = self.frame()
            if f is None:
                return out
            out.append(f)

    def send(self, payload, opcode=2, mask=True, fin=True):
        n = len(payload)
        b0 = (0x80 if fin else 0) | opcode
        mbit = 0x80 if mask else 0
        if n < 126:
            h = bytes([b0, mbit | n])
        elif n < 65536:
            h = bytes([b0, mbit | 126]) + n.to_bytes(2, "big")
        else:
            h = bytes([b0, mbit | 127]) + n.to_bytes(8, "big")
        if mask:
            key = os.urandom(4)
            payload = k8sws.unmask(payload, key) if n else b""
            h += key
        self.sendall(h + payload)

    def sendall(self, data):
        view = memoryview(data)
        while view:
            with self.lock:
                try:
                    n = self.s.send(view[:262144])
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
                    n = 0
            if n:
                view = view[n:]
            else:
                select.select([], [self.s], [], 0.2)

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def exec_path(pod, argv, container=None, stdin=False, stdout=True, stderr=True, tty=False):
    q = [("command", a) for a in argv]
    if container:
        q.append(("container", container))
    for k, v in (("stdin", stdin), ("stdout", stdout), ("stderr", stderr), ("tty", tty)):
        if v:
            q.append((k, "true"))
    return "/api/v1/namespaces/default/pods/%s/exec?%s" % (pod, urllib.parse.urlencode(q))


# ---- capture replay -----------------------------------------------------------------

def load_capture(name):
    with open(os.path.join(CAPTURES, name)) as f:
        text = f.read()
    cap = {"text": text}
    m = re.search(r"^# cri.py (exec|attach|portforward) \S+ (.*)$", text, re.M)
    if m and m.group(1) == "exec":
        flags, _, cmd = m.group(2).partition("-- ")
        parts = cmd.split(" ", 2)
        cap["argv"] = parts if parts[0] != "sh" else ["sh", "-c", parts[2]]
        cap["stdin"] = "--stdin" in flags
        cap["tty"] = "--tty" in flags
    req = text.split("== request\n")[1].split("== response head")[0]
    for line in req.splitlines():
        line = line.replace("\\r\\n", "")
        if line.startswith("Sec-WebSocket-Key: "):
            cap["key"] = line.split(": ", 1)[1]
        if line.startswith("Sec-WebSocket-Protocol: "):
            cap["proto"] = line.split(": ", 1)[1]
    cap.setdefault("proto", None)
    head = text.split("== response head\n")[1]
    head = head.split("\n<<")[0].split("\n==")[0].split("\n>>")[0]
    cap["head"] = head.replace("\\r\\n\n", "\r\n").replace("\\r\\n", "\r\n").encode()
    if not cap["head"].endswith(b"\r\n\r\n"):
        cap["head"] = cap["head"].rstrip(b"\n")
    m = re.search(r"== all bytes after the response head \(hex\):\n([0-9a-f ]+)", text)
    cap["all"] = bytes.fromhex(m.group(1)) if m else None
    cap["events"] = re.findall(r"^(<<|>>) (.*)$", text, re.M)
    return cap


def replay(fx, capname, path, normalize=None):
    """Replay the client side of a capture; compare head and server bytes."""
    cap = load_capture(capname)
    c = Client(fx.port, path, protos=cap["proto"], key=cap["key"])
    ok_head = c.head == cap["head"]
    check("%s: response head" % capname, ok_head, "\n got %r\nwant %r" % (c.head, cap["head"]))
    for direction, ev in cap["events"]:
        if direction == "<<":
            f = c.frame()
            if f is None:
                break
            want = ev.split(" ...")[0]
            if not f[3].hex(" ").startswith(want.strip()) and normalize is None:
                check("%s: frame" % capname, False, "got %r want %s" % (f[3][:80], want[:80]))
        elif ev.startswith("client close"):
            c.send((1000).to_bytes(2, "big"), opcode=8)
        elif ev.startswith("close echo"):
            pass                         # our Client sends nothing: the server closed already
        else:
            hexpart = ev.split("  (")[0]
            c.sendall(bytes.fromhex(hexpart))
    c.rest()
    got = bytes(c.raw)
    want = cap["all"]
    if normalize:
        got, want = normalize(got), normalize(want)
    check("%s: server bytes" % capname, got == want and c.eof,
          "\n got %r\nwant %r" % (got[:400], want[:400]))
    c.close()


def merge_frames(raw):
    """Server bytes with consecutive data frames of one channel merged: for
    sessions whose read boundaries depend on timing (tty echo)."""
    out, i, last = [], 0, None
    raw = bytes(raw)
    while i + 2 <= len(raw):
        n, off = raw[i + 1] & 0x7F, 2
        if n == 126:
            n, off = int.from_bytes(raw[i + 2:i + 4], "big"), 4
        elif n == 127:
            n, off = int.from_bytes(raw[i + 2:i + 10], "big"), 10
        op, payload = raw[i] & 0x0F, raw[i + off:i + off + n]
        i += off + n
        if op == 2 and last is not None and out[-1][0] == 2 and payload[:1] == last and len(payload) > 1:
            out[-1] = (2, out[-1][1] + payload[1:])
        else:
            out.append((op, payload))
        last = payload[:1] if op == 2 else None
    return out


def hexid(b):
    return re.sub(rb"[0-9a-f]{64}", b"ID", b)


# ---- the tests ------------------------------------------------------------------------

def test_captures(fx):
    for name in ("exec-v4-ok.txt", "exec-v4-exit3.txt", "exec-v1-ok.txt", "exec-v1-exit3.txt",
                 "exec-v1b64-exit3.txt", "exec-v4b64-exit3.txt", "exec-noproto.txt",
                 "exec-multiproto.txt", "exec-v4-stdin.txt", "exec-v4b64-stdin.txt",
                 "exec-v4-tty.txt", "exec-v4-stdin-clientclose.txt", "exec-big.txt"):
        cap = load_capture(name)
        fx.knobs["no_v5"] = name == "exec-multiproto.txt"   # the CRI server has no v5
        path = exec_path("demo", cap["argv"], "reader", stdin=cap["stdin"], tty=cap["tty"],
                         stderr=not cap["tty"])
        if name == "exec-big.txt":
            # a v4 transcript whose frame boundaries depend on pipe timing: compare payload
            c = Client(fx.port, path, key=cap["key"])
            frames = c.rest()
            data = b"".join(f[2][1:] for f in frames if f[2][:1] == b"\x01")
            check("exec-big: head", c.head == cap["head"])
            check("exec-big: frames <= 32769 and unfragmented",
                  all(len(f[2]) <= 32769 and f[0] == 1 for f in frames))
            check("exec-big: data, status, close", data == b"a" * 70000 and
                  frames[-2][3] == bytes.fromhex("82 23 03") + b'{"metadata":{},"status":"Success"}'
                  and frames[-1][3] == b"\x88\x02\x03\xe8" and c.eof)
            c.close()
            continue
        replay(fx, name, path, normalize=merge_frames if cap["tty"] else None)
    fx.knobs["no_v5"] = False
    # v5-only offered to a server without v5: 403 with no body, then close
    cap = load_capture("exec-v5only.txt")
    fx.knobs["no_v5"] = True
    c = Client(fx.port, exec_path("demo", cap["argv"], "reader"), protos="v5.channel.k8s.io",
               key=cap["key"])
    c.rest()
    check("exec-v5only: 403 no body", c.head == b"HTTP/1.1 403 Forbidden\r\n\r\n" and c.raw == b""
          and c.eof, repr(c.head + c.raw))
    c.close()
    fx.knobs["no_v5"] = False
    # executable not found: the exec id is random, everything else byte for byte
    cap = load_capture("exec-v4-notfound.txt")
    c = Client(fx.port, exec_path("demo", ["/no/such/cmd"], "reader"), key=cap["key"])
    c.rest()
    check("exec-v4-notfound: bytes", c.head == cap["head"] and hexid(c.raw) == hexid(cap["all"]),
          repr(c.raw[:300]))
    c.close()


def test_attach(fx):
    cap = load_capture("attach-v4-nostdin.txt")
    replay(fx, "attach-v4-nostdin.txt",
           "/api/v1/namespaces/default/pods/demo/attach?container=reader&stdout=true&stderr=true")
    replay(fx, "attach-v4-stdin.txt", "/api/v1/namespaces/default/pods/demo/attach?"
           "container=reader&stdin=true&stdout=true&stderr=true")
    # ticker: live lines only, from several sessions at once
    path = "/api/v1/namespaces/default/pods/demo/attach?container=ticker&stdout=true&stderr=true"
    cs = [Client(fx.port, path) for _ in range(3)]
    got = []
    for c in cs:
        frames = [c.frame() for _ in range(3)]
        got.append(frames)
    ok = all(f is not None for fr in got for f in fr)
    ok = ok and all(fr[0][3] == b"\x82\x01\x01" and re.match(rb"\x01tick\d+\n$", fr[1][2])
                    for fr in got)
    check("attach ticker: ready then live lines to 3 sessions", ok, repr(got)[:300])
    first = int(re.search(rb"tick(\d+)", got[0][1][2]).group(1))
    check("attach ticker: no history", first > 1, first)
    for c in cs:
        c.send((1000).to_bytes(2, "big"), opcode=8)
        rest = c.rest()
        check("attach ticker: client close -> Close 1000, EOF, no status",
              rest and rest[-1][3] == b"\x88\x02\x03\xe8" and
              all(f[2][:1] != b"\x03" for f in rest if f[1] == 2) and c.eof, repr(rest))
        c.close()
    del cap


def test_attach_stdin(fx):
    base = "/api/v1/namespaces/default/pods/%s/attach?container=cat&stdin=true&stdout=true"
    c = Client(fx.port, base % "echo", protos="v5.channel.k8s.io")
    c.frame()
    c.send(b"\x00one\n")
    f = c.frame()
    c.send(b"\xff\x00")
    frames = c.rest()
    check("attach v5: stdin close ends the session with Success",
          f and f[2] == b"\x01one\n" and frames and
          frames[-2][2] == b'\x03{"metadata":{},"status":"Success"}' and c.eof, repr(frames))
    c.close()
    time.sleep(0.3)
    check("attach v5: container stdin stays open without stdinOnce",
          "running" in fx.rt.container_status("default", "echo", "cat")["state"])
    c = Client(fx.port, base % "echo")
    c.frame()
    c.send(b"\x00two\n")
    f = c.frame()
    check("attach: a later session still reaches stdin", f and f[2] == b"\x01two\n", repr(f))
    c.close()
    c = Client(fx.port, base % "once")
    c.frame()
    c.send(b"\x00x\n")
    c.frame()
    c.send((1000).to_bytes(2, "big"), opcode=8)
    c.rest()
    c.close()
    deadline = time.time() + 5
    while time.time() < deadline and "running" in fx.rt.container_status(
            "default", "once", "cat")["state"]:
        time.sleep(0.05)
    st = fx.rt.container_status("default", "once", "cat")["state"]
    check("attach: stdinOnce closes the container's stdin after the first session",
          st.get("terminated", {}).get("exitCode") == 0, st)


def test_portforward(fx):
    norm = lambda b: b   # noqa: E731
    for name, proto in (("portforward-v4.txt", "v4.channel.k8s.io"),
                        ("portforward-v4b64.txt", "v4.base64.channel.k8s.io")):
        cap = load_capture(name)
        c = Client(fx.port, "/api/v1/namespaces/default/pods/netpod/portforward?ports=18080",
                   protos=proto, key=cap["key"])
        check("%s: head" % name, c.head == cap["head"])
        req = b"GET / HTTP/1.0\r\n\r\n"
        if proto.startswith("v4.base64"):
            c.send(b"0" + base64.b64encode(req), opcode=1)
        else:
            c.send(b"\x00" + req)
        frames = c.rest()
        if proto.startswith("v4.base64"):
            dec = [(f[2][:1], base64.b64decode(f[2][1:])) for f in frames if f[1] == 1]
            pre = [b"0", b"1"]
        else:
            dec = [(f[2][:1], f[2][1:]) for f in frames if f[1] == 2]
            pre = [b"\x00", b"\x01"]
        ok = dec[0] == (pre[0], b"\xa0F") and dec[1] == (pre[1], b"\xa0F")
        body = b"".join(d for ch, d in dec[2:] if ch == pre[0])
        ok = ok and body.startswith(b"HTTP/1.1 200 OK\r\n") and body.endswith(
            b"\r\n\r\nhello-from-pod-netns\n")
        ok = ok and frames[-1][3] == b"\x88\x02\x03\xe8" and c.eof
        check("%s: prefixes, response, close" % name, ok, repr(frames)[:400])
        c.close()
    del norm
    cap = load_capture("portforward-closed.txt")
    c = Client(fx.port, "/api/v1/namespaces/default/pods/netpod/portforward?ports=18081",
               key=cap["key"])
    c.send(b"\x00x")
    c.rest()
    n = lambda b: re.sub(rb"cni-[0-9a-f-]{36}", b"NETNS", hexid(b))  # noqa: E731
    got, want = n(c.raw), n(cap["all"])
    check("portforward-closed: refused text and close", got == want and c.eof,
          "\n got %r\nwant %r" % (got[:200], want[:200]))
    c.close()
    # two ports, comma list and repeated; echo both ways, 16 MiB
    for q in ("ports=7000,9000", "ports=7000&ports=9000"):
        c = Client(fx.port, "/api/v1/namespaces/default/pods/netpod/portforward?" + q)
        pre = [c.frame()[2] for _ in range(4)]
        check("portforward %s: prefix frames" % q,
              pre == [b"\x00\x58\x1b", b"\x01\x58\x1b", b"\x02\x28\x23", b"\x03\x28\x23"], pre)
        c.keep_raw = False
        blob = os.urandom(16 << 20)
        got = bytearray()

        def reader():
            while len(got) < len(blob):
                f = c.frame()
                if f is None:
                    return
                if f[2][:1] == b"\x00":
                    got.extend(f[2][1:])
        t = threading.Thread(target=reader)
        t.start()
        t0 = time.time()
        for i in range(0, len(blob), 65536):
            c.send(b"\x00" + blob[i:i + 65536])
            c.send(b"\x02" + blob[i:i + 65536])        # sink
        t.join(60)
        dt = time.time() - t0
        check("portforward %s: 16 MiB echo intact (%.1f MiB/s)" % (q, 16 / max(dt, 1e-3)),
              bytes(got) == blob, "got %d bytes, first diff at %s" % (len(got), next((i for i in range(0, min(len(got), len(blob)), 4096) if got[i:i + 4096] != blob[i:i + 4096]), None)))
        c.close()


def test_v5(fx):
    c = Client(fx.port, exec_path("demo", ["sh", "-c", "cat; echo done"], "reader", stdin=True),
               protos="v5.channel.k8s.io, v4.channel.k8s.io")
    check("v5: chosen", b"Sec-WebSocket-Protocol: v5.channel.k8s.io\r\n" in c.head)
    c.send(b"\x00hello\n")
    c.send(b"\xff\x00")
    c.send(b"\x00dropped\n")
    frames = c.rest()
    out = b"".join(f[2][1:] for f in frames if f[2][:1] == b"\x01")
    check("v5: stdin close gives EOF, output, status, close",
          out == b"hello\ndone\n" and frames[-2][2] == b'\x03{"metadata":{},"status":"Success"}'
          and frames[-1][3] == b"\x88\x02\x03\xe8" and c.eof, repr(frames))
    c.close()
    c = Client(fx.port, exec_path("demo", ["sh", "-c", "exit 3"], "reader"),
               protos="v5.channel.k8s.io")
    frames = c.rest()
    want = (b'\x03{"metadata":{},"status":"Failure","message":"command terminated with non-zero'
            b' exit code: command terminated with exit code 3","reason":"NonZeroExitCode",'
            b'"details":{"causes":[{"reason":"ExitCode","message":"3"}]}}')
    check("v5: exit 3 status (translator text)", len(frames) >= 2 and frames[-2][2] == want,
          repr(frames))
    c.close()
    # malformed close signal: teardown without status
    c = Client(fx.port, exec_path("demo", ["sleep", "5"], "reader", stdin=True),
               protos="v5.channel.k8s.io")
    c.send(b"\xff\x00\x00")
    frames = c.rest()
    check("v5: 3-byte close signal tears down", c.eof and
          all(f[2][:1] != b"\x03" for f in frames if f[1] == 2), repr(frames))
    c.close()


def test_handshake(fx):
    p = exec_path("demo", ["true"], "reader")
    c = Client(fx.port, p, method="POST")
    check("handshake: POST -> 405", c.head.startswith(b"HTTP/1.1 405 Method Not Allowed\r\n"))
    c.close()
    c = Client(fx.port, p, version="8")
    check("handshake: version 8 -> 400 + Sec-WebSocket-Version",
          c.head == b"HTTP/1.1 400 Bad Request\r\nSec-WebSocket-Version: 13\r\n\r\n")
    c.close()
    c = Client(fx.port, p, protos="foo.k8s.io", extra=b"Sec-WebSocket-Protocol: v4.channel.k8s.io\r\n")
    c.rest()
    check("handshake: only the first protocol line counts -> 403",
          c.head == b"HTTP/1.1 403 Forbidden\r\n\r\n" and c.raw == b"")
    c.close()
    c = Client(fx.port, p, protos="base64.channel.k8s.io, v4.channel.k8s.io")
    check("handshake: client priority",
          b"Sec-WebSocket-Protocol: base64.channel.k8s.io\r\n" in c.head)
    c.close()


def test_framing(fx):
    # unmasked client frame -> Close 1002 and drop
    c = Client(fx.port, exec_path("demo", ["sleep", "5"], "reader", stdin=True))
    c.frame()
    c.send(b"\x00x", mask=False)
    frames = c.rest()
    check("framing: unmasked -> 1002", frames and frames[-1][3] == b"\x88\x02\x03\xea" and c.eof,
          repr(frames))
    c.close()
    # ping -> pong with the same payload; zero-length message ignored
    c = Client(fx.port, exec_path("demo", ["cat"], "reader", stdin=True))
    c.frame()
    c.send(b"", opcode=2)
    c.send(b"pingdata", opcode=9)
    f = c.frame()
    check("framing: pong echoes ping", f is not None and f[3] == b"\x8a\x08pingdata", repr(f))
    # fragmented message: continuation's first byte is read as a channel
    c.send(b"\x00ab", fin=False)
    c.send(b"\x01cd\n", opcode=0)       # channel 1 (stdout) from the client: discarded
    c.send(b"\x00ef\n")
    out = b""
    while not out.endswith(b"\n"):
        f = c.frame()
        if f is None:
            break
        out += f[2][1:]
    check("framing: no reassembly", out == b"abef\n", repr(out))
    c.close()


def test_limits(fx):
    c = Client(fx.port, exec_path("demo", ["sleep", "5"], "reader", stdin=True))
    c.frame()
    c.sendall(bytes([0x82, 0xFF]) + ((32 << 20) + 1).to_bytes(8, "big") + os.urandom(4))
    frames = c.rest()
    check("framing: frame over 32 MiB ends the session", c.eof and frames and
          frames[-1][3] == b"\x88\x02\x03\xe8", repr(frames))
    c.close()
    fx.knobs["delay_ms"] = 300
    t0 = time.time()
    c = Client(fx.port, exec_path("demo", ["true"], "reader"))
    c.rest()
    dt = time.time() - t0
    fx.knobs["delay_ms"] = 0
    check("knob delay_ms: ready+status+close delayed (%.2fs)" % dt, dt >= 0.85)
    c.close()


def test_big_and_fast(fx, tmp):
    path = os.path.join(tmp, "big.bin")
    with open(path, "wb") as f:
        for _ in range(64):
            f.write(os.urandom(1 << 20))
    with open(path, "rb") as f:
        want = hashlib.sha256(f.read()).hexdigest()
    t0 = time.time()
    c = Client(fx.port, exec_path("demo", ["cat", path], "reader"))
    c.keep_raw = False
    h = hashlib.sha256()
    maxlen = 0
    while True:
        fr = c.frame()
        if fr is None:
            break
        if fr[2][:1] == b"\x01" and fr[1] == 2:
            h.update(fr[2][1:])
            maxlen = max(maxlen, len(fr[2]))
    dt = time.time() - t0
    check("big: 64 MiB checksum (%.0f MiB/s)" % (64 / max(dt, 1e-3)),
          h.hexdigest() == want and maxlen <= 32769)
    c.close()
    # stdin push: 256 MiB in 1 MiB frames to wc -c
    n = 256
    c = Client(fx.port, exec_path("demo", ["wc", "-c"], "reader", stdin=True),
               protos="v5.channel.k8s.io")
    c.keep_raw = False
    c.frame()
    blob = b"\x00" + os.urandom(1 << 20)
    t0 = time.time()
    for _ in range(n):
        c.send(blob)
    c.send(b"\xff\x00")
    frames = c.rest()
    dt = time.time() - t0
    out = b"".join(f[2][1:] for f in frames if f[2][:1] == b"\x01")
    check("stdin push: %d MiB (%.0f MiB/s)" % (n, n / max(dt, 1e-3)),
          out.strip() == str(n << 20).encode(), repr(out))
    c.close()


def test_concurrent(fx):
    res = {}

    def one(i):
        try:
            c = Client(fx.port, exec_path("demo", ["sh", "-c", "echo n$0; sleep 0.2", str(i)],
                                          "reader"))
            frames = c.rest()
            res[i] = (b"".join(f[2][1:] for f in frames if f[2][:1] == b"\x01"),
                      frames[-1][3] if frames else b"")
            c.close()
        except Exception as e:
            res[i] = (repr(e).encode(), b"")
    ts = [threading.Thread(target=one, args=(i,)) for i in range(50)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    ok = all(res.get(i) == (b"n%d\n" % i, b"\x88\x02\x03\xe8") for i in range(50))
    check("50 concurrent execs", ok, repr([res.get(i) for i in range(50) if
                                           res.get(i) != (b"n%d\n" % i, b"\x88\x02\x03\xe8")][:3]))


def test_knobs(fx):
    fx.knobs["split"] = 3
    c = Client(fx.port, exec_path("demo", ["echo", "abcdefg"], "reader"))
    frames = c.rest()
    data = [f[2] for f in frames if f[2][:1] == b"\x01"]
    check("knob split", data[1:] == [b"\x01abc", b"\x01def", b"\x01g\n"], repr(data))
    c.close()
    fx.knobs["split"] = 0
    fx.knobs["close_wait"] = True
    c = Client(fx.port, exec_path("demo", ["true"], "reader"))
    frames = [c.frame() for _ in range(3)]
    c.s.settimeout(0.5)
    try:
        more = c.s.recv(10)
    except (socket.timeout, ssl.SSLError, OSError) as e:
        more = e
    check("knob close_wait: after Close the server waits",
          frames[-1] and frames[-1][3] == b"\x88\x02\x03\xe8" and isinstance(more, socket.timeout),
          repr(more))
    c.s.settimeout(5)
    c.send((1000).to_bytes(2, "big"), opcode=8)
    c.rest()
    check("knob close_wait: ends after the client's Close", c.eof)
    c.close()
    fx.knobs["close_wait"] = False
    c = Client(fx.port, "/api/v1/namespaces/default/pods/demo/attach?container=ticker&stdout=true")
    c.frame()
    k8sws.drop_all()
    frames = c.rest()
    check("drop_all: no Close frame", c.eof and all(f[1] != 8 for f in frames))
    c.close()
    fx.knobs["stall"] = True
    c = Client(fx.port, exec_path("demo", ["echo", "x"], "reader"))
    c.s.settimeout(0.6)
    try:
        d = c.s.recv(10)
    except (socket.timeout, ssl.SSLError, OSError) as e:
        d = e
    check("knob stall: nothing sent", isinstance(d, socket.timeout), repr(d))
    fx.knobs["stall"] = False
    c.s.settimeout(5)
    frames = c.rest()
    check("knob stall: resumes", frames and frames[-1][3] == b"\x88\x02\x03\xe8")
    c.close()


def test_runtime(fx):
    rt = fx.rt
    st = rt.container_status("default", "demo", "ticker")
    check("runtime: running status", "running" in st["state"] and st["restartCount"] == 0, st)
    time.sleep(0.5)
    p = rt.log_path("default", "demo", "ticker")
    with open(p, "rb") as f:
        first = f.readline()
    check("runtime: CRI log line", re.match(
        rb"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z stdout F tick\d+\n$", first), first)
    rt.restart_pod("default", "demo")
    st = rt.container_status("default", "demo", "ticker")
    check("runtime: restart", st["restartCount"] == 1 and "terminated" in st["lastState"] and
          rt.log_path("default", "demo", "ticker", previous=True) == p, st)
    rt.start_pod("default", "once", {"containers": [
        {"name": "c", "command": ["sh", "-c", "echo out; echo err >&2; printf tail; exit 4"]},
        {"name": "w", "command": None}]})
    time.sleep(0.5)
    st = rt.container_status("default", "once", "c")
    with open(rt.log_path("default", "once", "c"), "rb") as f:
        lines = [ln.split(b" ", 1)[1] for ln in f.read().splitlines()]
    check("runtime: exit code and log streams",
          st["state"].get("terminated", {}).get("exitCode") == 4 and
          sorted(lines) == sorted([b"stdout F out", b"stderr F err", b"stdout F tail"]),
          (st, lines))
    check("runtime: waiting without command",
          "waiting" in rt.container_status("default", "once", "w")["state"])
    try:
        rt.port_connect("default", "netpod", 18081)
        refused = False
    except OSError:
        refused = True
    check("runtime: refuse port", refused)
    try:
        rt.port_connect("default", "netpod", 1234)
        refused = False
    except OSError:
        refused = True
    check("runtime: undeclared port refused", refused)
    rt.delete_pod("default", "once")


def test_kubectl(tmp):
    server = os.path.join(FIXTURE, "server.py")
    kubectl = shutil.which("kubectl")
    if not os.path.exists(server) or not kubectl:
        print("skip kubectl tests (no server.py or kubectl)")
        return
    state = os.path.join(tmp, "kstate")
    p = subprocess.Popen(["/usr/bin/python3", server, "--state", state], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, start_new_session=True)
    try:
        line = p.stdout.readline().decode()
        check("kubectl: fixture server ready", line.startswith("ready "), line)
        env = dict(os.environ, KUBECONFIG=os.path.join(state, "kubeconfig"))

        def k(*args, inp=None, timeout=20):
            return subprocess.run([kubectl, "-n", "demo"] + list(args), input=inp, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  timeout=timeout)
        r = k("exec", "web", "--", "echo", "hi")
        check("kubectl exec echo hi", r.returncode == 0 and r.stdout == b"hi\n", r)
        r = k("exec", "web", "--", "sh", "-c", "exit 3")
        check("kubectl exec exit 3", r.returncode == 3, r)
        r = k("exec", "-i", "web", "--", "cat", inp=b"data\n")
        check("kubectl exec -i cat", r.returncode == 0 and r.stdout == b"data\n", r)
        try:
            r = k("attach", "ticker", timeout=2)
            out = r.stdout
        except subprocess.TimeoutExpired as e:
            out = e.stdout or b""
        check("kubectl attach ticker", re.search(rb"tick \d+\n", out) is not None, out[:200])
    finally:
        os.killpg(p.pid, signal.SIGTERM)
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def main():
    tmp = tempfile.mkdtemp(prefix="fixture-ws-")
    fx = Fixture(tmp)
    try:
        time.sleep(0.5)
        for t in (test_captures, test_attach, test_attach_stdin, test_limits, test_portforward, test_v5, test_handshake,
                  test_framing, test_concurrent, test_knobs):
            try:
                t(fx)
            except Exception:
                check(t.__name__, False, traceback.format_exc())
        try:
            test_big_and_fast(fx, tmp)
        except Exception:
            check("test_big_and_fast", False, traceback.format_exc())
        try:
            test_runtime(fx)
        except Exception:
            check("test_runtime", False, traceback.format_exc())
    finally:
        fx.stop()
    try:
        test_kubectl(tmp)
    except Exception:
        check("test_kubectl", False, traceback.format_exc())
    shutil.rmtree(tmp, ignore_errors=True)
    print("test_fixture_ws: %d passed, %d failed" % (PASSED, FAILED))
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
