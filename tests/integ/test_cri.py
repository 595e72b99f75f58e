#!/usr/bin/python3
"""podfs against a real Kubernetes streaming server: containerd's CRI.

Our fixture server is ours and may share our misunderstandings, so this
suite puts the kubelet's own streaming code (containerd 1.6's CRI server) on
the other end.  tests/cri/harness.py runs containerd by hand under a
temporary directory and makes four pods from a busybox image: cri/echo (cat
on stdin), cri/ticker (a line every 0.2 s), cri/web (httpd on the host
network) and cri/netweb (httpd in its own loopback-only network namespace).
The fixture API server runs in CRI mode: exec, attach and portforward of
those pods are relayed byte for byte to containerd, as a real API server
does for every protocol but v5.  Then:

* a raw WebSocket client of our own checks the spliced endpoints: exec
  output, status and exit codes, tty resize, port-forward into the netns,
  v5-only refused -- so the relay itself is proven before podfs is judged;
* podfs is mounted on it and used as a user would: attach output of the
  ticker, echo through attach stdin (podfs offers v5 first and gets v4 from
  the real code), and, with the exec and Ports files, the exec recipe with
  exit codes, close-stdin refused with ENOTSUP on v4, Ports/<port> into the
  netns pod.

Without root or when containerd cannot start, prints
"test_cri: skipped: <reason>" and "test_cri: 0 passed, 0 failed".
"""

import base64
import errno
import json
import os
import select
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "cri"))
sys.dont_write_bytecode = True
import fixture  # noqa: E402
from mount import Mount, Suite, check, read_until, podfs_bin  # noqa: E402

NS = "cri"
TICKER = "i=0; while :; do echo tick $i; i=$((i+1)); sleep 0.2; done"
# The protocol cannot set a tty's size before the process starts: the server
# applies it just after, and a loaded machine may take longer than a fixed
# sleep.  So wait (up to 5 s) until a size is there, then print it.
STTY = ("i=0; while [ $i -lt 50 ]; do s=$(stty size 2>/dev/null); "
        "case \"$s\" in ''|'0 0') sleep 0.1; i=$((i+1));; *) break;; esac; done; echo $s")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


# --- pods -------------------------------------------------------------------

def make_pods(ctd, web_port, net_port):
    """-> cluster.json entries for the fixture, each with fixture.cri set."""
    page = "mkdir -p /tmp/w && echo %s > /tmp/w/index.html && exec httpd -f -p 127.0.0.1:%d -h /tmp/w"
    pods = [
        ("echo", True, [{"name": "echo", "command": ["cat"], "stdin": True}]),
        ("ticker", True, [{"name": "ticker", "command": ["sh", "-c", TICKER]}]),
        ("web", True, [{"name": "web", "command": ["sh", "-c", page % ("hello-from-host-net",
                                                                         web_port)],
                        "ports": [{"containerPort": web_port}]}]),
        ("netweb", False, [{"name": "web", "command": ["sh", "-c", page % ("hello-from-pod-netns",
                                                                            net_port)],
                            "ports": [{"containerPort": net_port}]}]),
    ]
    out = []
    for name, hostnet, cs in pods:
        ent = ctd.run_pod(NS, name, cs, host_network=hostnet)
        out.append({"namespace": NS, "name": name, "labels": {"app": name},
                    "nodeName": "cri-node",
                    "fixture": {"start": False, "running": True, "cri": ent},
                    "containers": [{"name": c["name"], "image": "podfs/busybox:1",
                                    "command": c["command"], "stdin": c.get("stdin", False),
                                    "ports": c.get("ports", [])} for c in cs]})
    return out


# --- a raw WebSocket client (to check the relay itself) -----------------------

class WS:
    def __init__(self, fx, path, protos=("v5.channel.k8s.io", "v4.channel.k8s.io")):
        ctx = ssl.create_default_context(cafile=fx.ca)
        raw = socket.create_connection(("127.0.0.1", fx.port), timeout=15)
        self.s = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
        key = base64.b64encode(os.urandom(16)).decode()
        head = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
                "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
                "Authorization: Bearer %s\r\n" % (path, fx.port, key, fx.token))
        if protos:
            head += "Sec-WebSocket-Protocol: %s\r\n" % ", ".join(protos)
        self.s.sendall((head + "\r\n").encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            d = self.s.recv(4096)
            if not d:
                break
            buf += d
        h, _, self.buf = buf.partition(b"\r\n\r\n")
        lines = h.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1]) if lines[0].startswith("HTTP/") else 0
        self.headers = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            self.headers[k.strip().lower()] = v.strip()
        self.eof = False

    def _need(self, n):
        while len(self.buf) < n:
            d = self.s.recv(65536)
            if not d:
                raise EOFError("connection closed")
            self.buf += d
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def frame(self):
        """-> (opcode, payload)."""
        b0, b1 = self._need(2)
        n = b1 & 0x7F
        if n == 126:
            n = int.from_bytes(self._need(2), "big")
        elif n == 127:
            n = int.from_bytes(self._need(8), "big")
        check(not b1 & 0x80, "server frame masked")
        check(b0 & 0x80, "server frame fragmented")
        return b0 & 0x0F, self._need(n)

    def send(self, payload, opcode=2):
        mask = os.urandom(4)
        n = len(payload)
        h = bytes([0x80 | opcode])
        if n < 126:
            h += bytes([0x80 | n])
        elif n < 65536:
            h += bytes([0x80 | 126]) + n.to_bytes(2, "big")
        else:
            h += bytes([0x80 | 127]) + n.to_bytes(8, "big")
        self.s.sendall(h + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def session(self, timeout=15):
        """Read until the server's close: -> ({channel: bytes}, status dict or
        None, close code, first message per channel)."""
        self.s.settimeout(timeout)
        chans, firsts, status, code = {}, {}, None, None
        while True:
            try:
                op, p = self.frame()
            except EOFError:
                break
            if op == 8:
                code = int.from_bytes(p[:2], "big") if len(p) >= 2 else None
                try:
                    self.send(p[:2], 8)
                except OSError:
                    pass
                break
            if op in (1, 2) and p:
                ch = p[0]
                firsts.setdefault(ch, p[1:])
                if ch == 3 and p[1:]:
                    status = json.loads(p[1:])
                chans[ch] = chans.get(ch, b"") + p[1:]
        self.close()
        return chans, status, code, firsts

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def exec_path(pod, container, argv, **flags):
    q = "&".join("command=%s" % _q(a) for a in argv)
    q += "&container=%s" % container
    for k in ("stdin", "stdout", "stderr", "tty"):
        if flags.get(k, k in ("stdout", "stderr")):
            q += "&%s=true" % k
    return "/api/v1/namespaces/%s/pods/%s/exec?%s" % (NS, pod, q)


def _q(s):
    import urllib.parse
    return urllib.parse.quote(s, safe="")


def exit_code(status):
    if status is None:
        return None
    if status.get("status") == "Success":
        return 0
    for c in status.get("details", {}).get("causes", []):
        if c.get("reason") == "ExitCode":
            return int(c["message"])
    return status.get("reason")


# --- raw tests: the relay, against the captures' facts --------------------------

def t_raw_exec_v4(fx, env):
    """Offering v5 then v4 gets v4 from containerd; output, status, close 1000."""
    w = WS(fx, exec_path("echo", "echo", ["sh", "-c", "echo out; echo err >&2"]))
    check(w.status == 101, "status %d" % w.status)
    check(w.headers.get("sec-websocket-protocol") == "v4.channel.k8s.io", w.headers)
    chans, st, code, firsts = w.session()
    check(chans.get(1) == b"out\n" and chans.get(2) == b"err\n", chans)
    check(st == {"metadata": {}, "status": "Success"}, st)
    check(code == 1000, "close %r" % code)


def t_raw_exit_codes(fx, env):
    """exit 3 -> NonZeroExitCode with cause ExitCode "3"; a missing binary ->
    InternalError 500 on channel 3 (the runtime's failure, not an exit code)."""
    w = WS(fx, exec_path("echo", "echo", ["sh", "-c", "echo hello; exit 3"]))
    chans, st, code, _ = w.session()
    check(chans.get(1) == b"hello\n", chans)
    check(st and st["reason"] == "NonZeroExitCode" and exit_code(st) == 3, st)
    w = WS(fx, exec_path("echo", "echo", ["/no/such/cmd"]))
    chans, st, code, _ = w.session()
    check(st and st.get("reason") == "InternalError" and st.get("code") == 500, st)
    check("/no/such/cmd" in st.get("message", ""), st)


def t_raw_v5_only_refused(fx, env):
    """containerd has no v5: offering only v5 is 403 with no body."""
    w = WS(fx, exec_path("echo", "echo", ["true"]), protos=("v5.channel.k8s.io",))
    check(w.status == 403, "status %d" % w.status)
    w.close()


def t_raw_tty_resize(fx, env):
    """A tty exec sees the size sent on channel 4."""
    w = WS(fx, exec_path("echo", "echo", ["sh", "-c", STTY], stdin=True,
                         tty=True, stderr=False))
    check(w.status == 101, "status %d" % w.status)
    w.send(b"\x04" + b'{"Width":101,"Height":33}\n')
    chans, st, code, _ = w.session()
    check(b"33 101" in chans.get(1, b""), chans)
    check(exit_code(st) == 0, st)


def t_raw_tty_without_stdin(fx, env):
    """A real-server quirk, pinned so that we notice if it changes: containerd
    1.6 gives a tty exec without stdin no output at all (status Success)."""
    w = WS(fx, exec_path("echo", "echo", ["sh", "-c", "sleep 0.3; echo hi"], tty=True,
                         stderr=False))
    chans, st, code, _ = w.session()
    check(chans.get(1, b"") == b"" and exit_code(st) == 0, (chans, st))


def t_raw_portforward_netns(fx, env):
    """Port-forward enters the pod's own network namespace: the page is served
    there, while the same port on the host refuses."""
    port = env["net_port"]
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        raise AssertionError("port %d answers on the host: the test proves nothing" % port)
    except ConnectionRefusedError:
        pass
    w = WS(fx, "/api/v1/namespaces/%s/pods/netweb/portforward?ports=%d" % (NS, port))
    check(w.status == 101 and w.headers.get("sec-websocket-protocol") == "v4.channel.k8s.io",
          (w.status, w.headers))
    w.send(b"\x00GET / HTTP/1.0\r\n\r\n")
    chans, st, code, firsts = w.session()
    prefix = port.to_bytes(2, "little")
    check(firsts.get(0) == prefix and firsts.get(1) == prefix, firsts)
    body = chans.get(0, b"")[2:]
    check(body.startswith(b"HTTP/1.") and b"hello-from-pod-netns" in body, body[:300])
    check(code == 1000, "close %r" % code)


# --- podfs on the spliced fixture -------------------------------------------------

def splice_lines(fx, kind):
    with open(os.path.join(fx.state, "server.log"), errors="replace") as f:
        return [ln for ln in f if "cri splice %s" % kind in ln]


def t_podfs_attach_ticker(m, fx, env):
    """cat of the ticker's stdout shows its live lines; podfs offered v5 and
    the real server chose v4."""
    fd = os.open(m.p(NS, "ticker", "ticker", "stdout"), os.O_RDONLY)
    try:
        buf = read_until(fd, b"tick", timeout=10)
        read_until(fd, b"\n", timeout=5)
        t0 = time.time()
        buf = b""
        while buf.count(b"\n") < 4:
            buf += os.read(fd, 65536)
        check(time.time() - t0 < 5, "slow ticks")
        nums = [int(ln.split()[1]) for ln in buf.split(b"\n")[:3] if ln.startswith(b"tick ")]
        check(len(nums) >= 2 and all(b == a + 1 for a, b in zip(nums, nums[1:])), buf)
    finally:
        os.close(fd)
    lines = splice_lines(fx, "attach")
    check(any("offered 'v5.channel.k8s.io" in ln for ln in lines), lines[-3:])
    check(any("101 Switching Protocols; protocol 'v4.channel.k8s.io'" in ln for ln in lines),
          lines[-3:])


def t_podfs_attach_echo(m, fx, env):
    """echo into the echo container's stdin comes back on its stdout."""
    fd = os.open(m.p(NS, "echo", "echo", "stdout"), os.O_RDONLY)
    try:
        time.sleep(0.3)
        mark = b"cri-mark-%d\n" % time.time_ns()
        with open(m.p(NS, "echo", "echo", "stdin"), "wb") as w:
            w.write(mark)
        read_until(fd, mark, timeout=10)
    finally:
        os.close(fd)


# --- podfs exec and Ports files (branches exec and ports) ------------------------

def have_exec(m):
    return os.path.exists(m.p(NS, "echo", "echo", "exec", "new"))


def have_ports(m):
    return os.path.isdir(m.p(NS, "netweb", "Ports"))


def exec_session(m, pod, cont, argv):
    d = m.p(NS, pod, cont, "exec")
    with open(os.path.join(d, "new")) as f:
        sid = f.read().strip()
    s = os.path.join(d, sid)
    with open(os.path.join(s, "argv"), "w") as f:
        f.write("".join(a + "\n" for a in argv))
    return s


def slurp(path, timeout=15):
    r = subprocess.run(["timeout", str(timeout), "cat", path], capture_output=True)
    check(r.returncode == 0, "cat %s: rc %d %r" % (path, r.returncode, r.stderr))
    return r.stdout


def t_podfs_exec_recipe(m, fx, env):
    """The exec recipe: stdout, stderr and exit codes 0, 3, and a missing binary."""
    for argv, out, err, code in (
            (["sh", "-c", "echo out; echo err >&2"], b"out\n", b"err\n", "0"),
            (["sh", "-c", "echo hello; exit 3"], b"hello\n", b"", "3"),
            (["/no/such/cmd"], b"", None, None)):
        s = exec_session(m, "echo", "echo", argv)
        with open(os.path.join(s, "ctl"), "w") as f:
            f.write("start\n")
        got_out = slurp(os.path.join(s, "stdout"))
        got_err = slurp(os.path.join(s, "stderr"))
        check(got_out == out, "%s: stdout %r" % (argv, got_out))
        if err is not None:
            check(got_err == err, "%s: stderr %r" % (argv, got_err))
        r = subprocess.run(["timeout", "15", "cat", os.path.join(s, "exitcode")],
                           capture_output=True)
        st = slurp(os.path.join(s, "status")).decode()
        if code is not None:
            check(r.returncode == 0 and r.stdout.decode().strip() == code,
                  "%s: exitcode %r %r (status %r)" % (argv, r.stdout, r.stderr, st))
            check(st.strip() == "exited " + code, "%s: status %r" % (argv, st))
        else:
            # The runtime's failure is a status, not an exit code: EIO.
            check(r.returncode != 0 and b"Input/output error" in r.stderr,
                  "%s: exitcode %r %r" % (argv, r.stdout, r.stderr))
            check(st.startswith("failed InternalError:") and "/no/such/cmd" in st,
                  "%s: status %r" % (argv, st))


def t_podfs_close_stdin_enotsup(m, fx, env):
    """On this v4-only path `close-stdin` fails with ENOTSUP, and output the
    command already produced is still all there."""
    s = exec_session(m, "echo", "echo", ["sh", "-c", "read l; echo got:$l; sleep 1; echo done"])
    with open(os.path.join(s, "ctl"), "w") as f:
        f.write("stdin on\nstart\n")
    out = os.open(os.path.join(s, "stdout"), os.O_RDONLY)
    try:
        with open(os.path.join(s, "stdin"), "wb") as f:
            f.write(b"x\n")
        read_until(out, b"got:x\n", timeout=10)
        try:
            with open(os.path.join(s, "ctl"), "w") as f:
                f.write("close-stdin\n")
            raise AssertionError("close-stdin succeeded on a v4 session")
        except OSError as e:
            check(e.errno == errno.ENOTSUP, "close-stdin: %s" % e)
        rest = b""
        deadline = time.time() + 10
        while time.time() < deadline:
            r, _, _ = select.select([out], [], [], deadline - time.time())
            if not r:
                break
            d = os.read(out, 65536)
            if not d:
                break
            rest += d
        check(rest == b"done\n", "after close-stdin: %r" % rest)
    finally:
        os.close(out)


def t_podfs_ports_netns(m, fx, env):
    """Ports/<port> into the netns pod fetches its page."""
    p = m.p(NS, "netweb", "Ports", str(env["net_port"]))
    fd = os.open(p, os.O_RDWR)
    try:
        os.write(fd, b"GET / HTTP/1.0\r\n\r\n")
        buf = b""
        deadline = time.time() + 10
        while time.time() < deadline:
            r, _, _ = select.select([fd], [], [], deadline - time.time())
            if not r:
                break
            d = os.read(fd, 65536)
            if not d:
                break
            buf += d
        check(buf.startswith(b"HTTP/1.") and b"hello-from-pod-netns" in buf, buf[:300])
    finally:
        os.close(fd)


def t_podfs_exec_tty_resize(m, fx, env):
    """tty sessions: the initial size and a resize while running reach stty,
    as in test_exec's tty case on our fixture -- but with stdin on, as kubectl
    does it (-t without -i turns the tty off): containerd 1.6 drops all the
    output of a tty exec without stdin (t_raw_tty_without_stdin)."""
    s = exec_session(m, "echo", "echo", ["sh", "-c", STTY])
    with open(os.path.join(s, "ctl"), "w") as f:
        f.write("tty on\nstdin on\nresize 100 40\nstart\n")
    out = slurp(os.path.join(s, "stdout"))
    st = slurp(os.path.join(s, "status")).decode().strip()
    check(out.strip() == b"40 100" and st == "exited 0", "stty: %r, %s" % (out, st))
    s = exec_session(m, "echo", "echo", ["sh", "-c", "read x; stty size"])
    with open(os.path.join(s, "ctl"), "w") as f:
        f.write("tty on\nstdin on\nresize 80 24\nstart\n")
    with open(os.path.join(s, "ctl"), "w") as f:
        f.write("resize 132 50\n")
    time.sleep(0.3)
    with open(os.path.join(s, "stdin"), "wb") as f:
        f.write(b"go\n")
    out = slurp(os.path.join(s, "stdout"))
    check(out.strip().endswith(b"50 132"), "stty after resize: %r" % out)


def t_podfs_root(m, fx, env):
    """root/ over containerd's v4 exec in the busybox image: read a file of
    the image, write one and read it back, rename, and the container sees
    it through an exec of its own."""
    r = m.p(NS, "echo", "echo", "root")
    check(b"root:" in slurp(os.path.join(r, "etc", "passwd")), "read /etc/passwd")
    data = bytes(range(256)) * 1000
    with open(os.path.join(r, "tmp", "podfs it's"), "wb") as f:
        f.write(data)
    check(slurp(os.path.join(r, "tmp", "podfs it's")) == data, "read back")
    os.rename(os.path.join(r, "tmp", "podfs it's"), os.path.join(r, "tmp", "moved"))
    s = exec_session(m, "echo", "echo", ["sh", "-c", "wc -c < /tmp/moved"])
    with open(os.path.join(s, "ctl"), "w") as f:
        f.write("start\n")
    check(slurp(os.path.join(s, "stdout")).strip() == str(len(data)).encode(),
          "the container sees the file")
    check("moved" in os.listdir(os.path.join(r, "tmp")), "listed")
    os.unlink(os.path.join(r, "tmp", "moved"))
    check(os.listdir(os.path.join(r, "tmp")) == [], "no file left in /tmp")


def main():
    s = Suite("test_cri")
    try:
        import harness
    except Exception as e:
        print("test_cri: skipped: cannot load tests/cri: %s" % e)
        return s.report()
    if not os.path.exists(podfs_bin()):
        print("test_cri: skipped: no podfs binary (%s); run make" % podfs_bin())
        return s.report()
    ctd = harness.Containerd(log=lambda msg: print(msg, flush=True))
    tmp = tempfile.mkdtemp(prefix="podfs-cri-test-")
    try:
        try:
            ctd.start()
        except harness.Unavailable as e:
            print("test_cri: skipped: %s" % e)
            return s.report()
        print("cri: %(runtime_name)s %(runtime_version)s, CRI %(runtime_api_version)s"
              % ctd.version, flush=True)
        env = {"web_port": free_port(), "net_port": free_port()}
        pods = make_pods(ctd, env["web_port"], env["net_port"])
        cluster = os.path.join(tmp, "cluster.json")
        with open(cluster, "w") as f:
            json.dump({"criEndpoint": ctd.sock, "namespaces": [{"name": NS}], "pods": pods}, f)
        with fixture.Fixture(cluster=cluster) as fx:
            for t in (t_raw_exec_v4, t_raw_exit_codes, t_raw_v5_only_refused, t_raw_tty_resize,
                      t_raw_tty_without_stdin, t_raw_portforward_netns):
                s.run(t, fx, env)
            with Mount(fx) as m:
                for t in (t_podfs_attach_ticker, t_podfs_attach_echo):
                    s.run(t, m, fx, env)
                if have_exec(m):
                    for t in (t_podfs_exec_recipe, t_podfs_close_stdin_enotsup,
                              t_podfs_exec_tty_resize, t_podfs_root):
                        s.run(t, m, fx, env)
                else:
                    print("skip exec-file tests: this build has no exec/new files "
                          "(branch exec not merged)")
                if have_ports(m):
                    s.run(t_podfs_ports_netns, m, fx, env)
                else:
                    print("skip Ports test: this build has no Ports/ directory "
                          "(branch ports not merged)")
                rc = m.stop()
                log = m.read_log()

                def t_unmount_clean():
                    check(rc == 0 and "ERROR: AddressSanitizer" not in log and
                          "runtime error:" not in log,
                          "unmount: exit %r, log: %s" % (rc, log[-1500:]))
                s.run(t_unmount_clean)
    except Exception:
        s.failed += 1
        print("FAIL setup: %s" % traceback.format_exc()[-3000:], flush=True)
    finally:
        ctd.stop()
        import shutil
        shutil.rmtree(tmp, ignore_errors=True)
    return s.report()


if __name__ == "__main__":
    sys.exit(main())
