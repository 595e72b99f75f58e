#!/usr/bin/python3
"""A trivial raw WebSocket client for the fixture: the ceiling (case 7).

It does the least a client can do: one TLS connection, the upgrade with
the v5 channel protocol (v4 for port-forward), and frames parsed straight
out of a large receive buffer with no per-frame allocation beyond Python's
own.  Client frames use the all-zero mask key, which the protocol allows
and which makes masking free, so what is measured is the server.

    wsraw.py KUBECONFIG-DIR out NS POD CONTAINER ARGV...   bytes of stdout -> stdout line
    wsraw.py KUBECONFIG-DIR in  NS POD CONTAINER BYTES ARGV...
                                        pushes BYTES zeros into stdin, closes it, prints stdout
    wsraw.py KUBECONFIG-DIR pf  NS POD PORT BYTES      echo port: sends BYTES, reads them back
    wsraw.py KUBECONFIG-DIR rtt NS POD CONTAINER N     attach: N one-byte round trips,
                                                       prints the latencies (µs), one a line

KUBECONFIG-DIR is the fixture's state directory (port, token, ca.crt).
Prints "bytes=N seconds=S" for the throughput modes.  Standard library only.
"""

import base64
import os
import socket
import ssl
import sys
import threading
import time
import urllib.parse


class WS:
    def __init__(self, state, path, proto):
        with open(os.path.join(state, "port")) as f:
            port = int(f.read().strip())
        with open(os.path.join(state, "token")) as f:
            token = f.read().strip()
        ctx = ssl.create_default_context(cafile=os.path.join(state, "ca.crt"))
        raw = socket.create_connection(("127.0.0.1", port))
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.s = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
        key = base64.b64encode(os.urandom(16)).decode()
        req = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
               "Sec-WebSocket-Protocol: %s\r\nAuthorization: Bearer %s\r\n\r\n"
               % (path, port, key, proto, token))
        self.s.sendall(req.encode())
        self.buf = bytearray()
        while b"\r\n\r\n" not in self.buf:
            d = self.s.recv(65536)
            if not d:
                raise SystemExit("connection closed during the upgrade")
            self.buf += d
        head, _, rest = bytes(self.buf).partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101"):
            raise SystemExit("upgrade refused: %r" % head[:200])
        self.buf = bytearray(rest)
        self.pos = 0
        self.wlock = threading.Lock()

    def send(self, channel, data):
        """One binary frame, mask key 0 (payload goes out as is)."""
        n = len(data) + 1
        if n < 126:
            h = bytes([0x82, 0x80 | n])
        elif n < 65536:
            h = bytes([0x82, 0x80 | 126]) + n.to_bytes(2, "big")
        else:
            h = bytes([0x82, 0x80 | 127]) + n.to_bytes(8, "big")
        with self.wlock:
            self.s.sendall(h + b"\0\0\0\0" + bytes([channel]) + data)

    def frames(self):
        """Yields (opcode, channel, length, buf, start) until the connection
        ends: the payload is buf[start:start+length], its first byte the
        channel (-1 when empty).  buf is only valid until the next step, so
        nothing is copied unless the caller slices it."""
        buf = self.buf
        pos = 0
        chunk = bytearray(1 << 20)
        while True:
            avail = len(buf) - pos
            if avail >= 2:
                b1 = buf[pos + 1] & 0x7F
                hl = 2 + (2 if b1 == 126 else 8 if b1 == 127 else 0)
                if avail >= hl:
                    n = b1 if b1 < 126 else int.from_bytes(buf[pos + 2:pos + hl], "big")
                    if avail >= hl + n:
                        yield (buf[pos] & 0x0F, buf[pos + hl] if n else -1, n, buf,
                               pos + hl)
                        pos += hl + n
                        continue
            if pos:
                del buf[:pos]
                pos = 0
            k = self.s.recv_into(chunk)
            if not k:
                return
            buf += memoryview(chunk)[:k]


def exec_path(ns, pod, container, argv, stdin):
    q = [("container", container), ("stdout", "true"), ("stderr", "true")]
    if stdin:
        q.append(("stdin", "true"))
    q += [("command", a) for a in argv]
    return "/api/v1/namespaces/%s/pods/%s/exec?%s" % (ns, pod, urllib.parse.urlencode(q))


def mode_out(state, ns, pod, container, argv):
    t0 = time.perf_counter()
    ws = WS(state, exec_path(ns, pod, container, argv, False), "v5.channel.k8s.io")
    total = 0
    for op, ch, n, _, _ in ws.frames():
        if op == 8:
            break
        if op == 2 and ch == 1:
            total += n - 1
    print("bytes=%d seconds=%.6f" % (total, time.perf_counter() - t0))


def mode_in(state, ns, pod, container, nbytes, argv):
    t0 = time.perf_counter()
    ws = WS(state, exec_path(ns, pod, container, argv, True), "v5.channel.k8s.io")
    out = bytearray()

    def reader():
        for op, ch, n, buf, at in ws.frames():
            if op == 8:
                break
            if op == 2 and ch == 1:
                out.extend(buf[at + 1:at + n])
    t = threading.Thread(target=reader)
    t.start()
    block = bytes(32768)
    left = nbytes
    while left:
        n = min(left, len(block))
        ws.send(0, block[:n] if n < len(block) else block)
        left -= n
    ws.send(255, b"\0")           # v5: close stdin
    t.join()
    print("bytes=%d seconds=%.6f out=%s" % (nbytes, time.perf_counter() - t0,
                                              out.decode(errors="replace").strip()))


def mode_pf(state, ns, pod, port, nbytes):
    t0 = time.perf_counter()
    ws = WS(state, "/api/v1/namespaces/%s/pods/%s/portforward?ports=%d" % (ns, pod, port),
            "v4.channel.k8s.io")
    got = [0]
    done = threading.Event()

    def reader():
        first = {0: True, 1: True}
        for op, ch, n, buf, at in ws.frames():
            if op == 8:
                break
            if op != 2 or n == 0:
                continue
            if ch in first and first[ch]:
                first[ch] = False       # the port number, once per channel
                continue
            if ch == 0:
                got[0] += n - 1
                if got[0] >= nbytes:
                    done.set()
                    break
            elif ch == 1:
                print("error: %s" % bytes(buf[at + 1:at + n]).decode(errors="replace"),
                      file=sys.stderr)
                done.set()
                break
        done.set()
    t = threading.Thread(target=reader, daemon=True)
    t.start()
    block = bytes(32768)
    left = nbytes
    while left and not done.is_set():
        n = min(left, len(block))
        ws.send(0, block[:n] if n < len(block) else block)
        left -= n
    done.wait()
    print("bytes=%d seconds=%.6f" % (got[0], time.perf_counter() - t0))


def mode_rtt(state, ns, pod, container, n):
    q = [("container", container), ("stdin", "true"), ("stdout", "true")]
    ws = WS(state, "/api/v1/namespaces/%s/pods/%s/attach?%s" % (ns, pod, urllib.parse.urlencode(q)),
            "v5.channel.k8s.io")
    it = ws.frames()
    lat = []
    for i in range(n):
        t0 = time.perf_counter()
        ws.send(0, b"x")
        while True:
            op, ch, k, _, _ = next(it)
            if op == 2 and ch == 1 and k > 1:
                break
        lat.append((time.perf_counter() - t0) * 1e6)
    sys.stdout.write("".join("%.1f\n" % x for x in lat))


def main(a):
    state, mode = a[1], a[2]
    if mode == "out":
        mode_out(state, a[3], a[4], a[5], a[6:])
    elif mode == "in":
        mode_in(state, a[3], a[4], a[5], int(a[6]), a[7:])
    elif mode == "pf":
        mode_pf(state, a[3], a[4], int(a[5]), int(a[6]))
    elif mode == "rtt":
        mode_rtt(state, a[3], a[4], a[5], int(a[6]))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
