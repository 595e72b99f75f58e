#!/usr/bin/python3
"""podfs vs kubectl on the same fixture server, in the same run.

    bench/run [--quick] [--runs N] [--only NAME,...] [--out FILE]

Cases (docs/benchmarks.md explains each and shows a full run):
  ceiling   the fixture's own rate with a trivial raw client, and FUSE's with noopfs
  execout   1 GiB of `head -c 1G /dev/zero` through exec/<id>/stdout vs kubectl exec
  execin    1 GiB into `wc -c` through exec/<id>/stdin vs kubectl exec -i
  latency   one-byte round trips through attach stdin/stdout vs kubectl attach -i
  ports     an echo port through Ports/<port>, socat and raw TCP; kubectl port-forward
            on --backend reference|cluster (the fixture cannot serve its tunnelled SPDY)

Every streaming case also runs bench/floor (C: OpenSSL + podfs's own frame
and channel codecs, output dropped): the CPU floor of TLS + framing.
--backend reference runs everything on bench/refserver (bench/refbackend.py).
  listing   ls / ls -l of a 10,000-pod namespace vs kubectl get pods, with API requests
  scale     200 exec sessions at once across 50 pods: RSS, threads, checksums
  scale1k   1 GiB split over 1, 10, 100, 1,000 sessions on the 50 scale pods:
            checksums, RSS per session, daemon CPU per byte as the count grows
  broadcast 100 readers of one attach stdout, every byte to each

Each figure is the median of N runs with min and max; ratios are podfs over
the reference.  Tables go to stdout and to --out (default bench/out/results.md).
"""

import argparse
import hashlib
import os
import select
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import lib  # noqa: E402
from lib import fmt, fmt_mmm, ratio, table  # noqa: E402

PY = "/usr/bin/python3"
FLOOR = os.path.join(lib.ROOT, "build", "floor")
FLOOR_NAME = "C floor (`bench/floor`: OpenSSL + podfs's codecs, output dropped)"
MiB = 1 << 20
GiB = 1 << 30


class Bench:
    def __init__(self, args):
        self.a = args
        self.quick = args.quick
        self.runs = args.runs or (2 if args.quick else 5)
        self.size = (64 * MiB) if args.quick else GiB
        self.env = None
        self.out = []

    def emit(self, text):
        print(text, flush=True)
        self.out.append(text)

    def note(self, msg):
        print("  .. " + msg, file=sys.stderr, flush=True)

    # ---- exec through files ----------------------------------------------

    def exec_session(self, ns, pod, c, argv, stdin=False):
        """Makes and starts an exec session through the files; -> its dir."""
        d = self.env.p(ns, pod, c, "exec")
        with open(os.path.join(d, "new")) as f:
            sid = f.read().strip()
        s = os.path.join(d, sid)
        with open(os.path.join(s, "argv"), "wb") as f:
            f.write(b"\0".join(a.encode() for a in argv))
        with open(os.path.join(s, "ctl"), "w") as f:
            f.write("stdin on\n" if stdin else "stdin off\n")
        with open(os.path.join(s, "ctl"), "w") as f:
            f.write("start\n")
        return s

    def exec_done(self, s):
        with open(os.path.join(s, "exitcode")) as f:
            code = f.read().strip()
        try:
            os.rmdir(s)
        except OSError:
            pass
        return code

    def cpu_pair(self):
        return lib.proc_cpu(self.env.podfs_pid), lib.proc_cpu(self.env.fixture_pid)

    # ---- 7. ceiling ----------------------------------------------------------

    def case_ceiling(self):
        e = self.env
        n = self.size
        raw, fus1, fus128 = [], [], []
        for _ in range(self.runs):
            r = lib.run4([PY, os.path.join(HERE, "wsraw.py"), e.fx.state, "out", "bench", "box",
                          "box", "head", "-c", str(n), "/dev/zero"],
                         stdout_path=self.tmp("raw.out"))
            got = self.kv(self.tmp("raw.out"))
            if int(got.get("bytes", 0)) != n:
                raise RuntimeError("raw client got %s bytes" % got.get("bytes"))
            raw.append((n / MiB / float(got["seconds"]), r.cpu))
        rawin = []
        for _ in range(self.runs):
            r = lib.run4([PY, os.path.join(HERE, "wsraw.py"), e.fx.state, "in", "bench", "box",
                          "box", str(n), "wc", "-c"], stdout_path=self.tmp("rawin.out"))
            got = self.kv(self.tmp("rawin.out"))
            if got.get("out") != str(n):
                raise RuntimeError("raw stdin: wc said %r" % got.get("out"))
            rawin.append(n / MiB / float(got["seconds"]))
        # FUSE: noopfs read with dd at 1 MiB and 128 KiB (cat's size).
        nf = self.noopfs()
        if nf:
            mnt, proc = nf
            try:
                for _ in range(self.runs):
                    for bs, acc in ((MiB, fus1), (128 * 1024, fus128)):
                        cnt = max(1, (4 * n) // bs)
                        t0 = time.perf_counter()
                        lib.run4(["dd", "if=" + os.path.join(mnt, "zero"), "of=/dev/null",
                                  "bs=%d" % bs, "count=%d" % cnt, "status=none"])
                        acc.append(cnt * bs / MiB / (time.perf_counter() - t0))
            finally:
                subprocess.run(["fusermount3", "-u", mnt])
                proc.wait(10)
                shutil.rmtree(os.path.dirname(mnt), ignore_errors=True)
        self.emit("### 7. The ceiling\n")
        self.emit(table(["path", "MB/s (MiB/s), median (min–max)", "client CPU s/GiB"], [
            ["fixture exec stdout → raw Python WebSocket client (%d MiB)" % (n // MiB),
             fmt_mmm([x[0] for x in raw]), fmt_mmm([x[1] * GiB / n for x in raw])],
            ["raw client → fixture exec stdin (`wc -c`)", fmt_mmm(rawin), "—"],
            ["no-op FUSE file, `dd bs=1M`", fmt_mmm(fus1), "—"],
            ["no-op FUSE file, `dd bs=128K`", fmt_mmm(fus128), "—"],
        ]))
        self.ceiling = statistics.median([x[0] for x in raw])

    def noopfs(self):
        exe = os.path.join(lib.ROOT, "build", "noopfs")
        if not os.path.exists(exe):
            self.note("build/noopfs missing (make bench builds it)")
            return None
        d = tempfile.mkdtemp(prefix="noopfs-")
        mnt = os.path.join(d, "m")
        os.mkdir(mnt)
        proc = subprocess.Popen([exe, "-f", mnt], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        for _ in range(100):
            if lib.mount.is_mount(mnt):
                return mnt, proc
            time.sleep(0.05)
        proc.kill()
        return None

    # ---- 1. exec output ------------------------------------------------------

    def case_execout(self):
        e, n = self.env, self.size
        argv = ["head", "-c", str(n), "/dev/zero"]
        pf, kc, fl = [], [], []
        for i in range(self.runs):
            # podfs: the session's setup counts, as kubectl's does.
            p0, f0 = self.cpu_pair()
            t0 = time.perf_counter()
            s = self.exec_session("bench", "box", "box", argv)
            r = lib.run4(["cat", os.path.join(s, "stdout")])
            wall = time.perf_counter() - t0
            p1, f1 = self.cpu_pair()
            code = self.exec_done(s)
            if r.rc != 0 or code != "0":
                raise RuntimeError("podfs exec: cat rc %s, exit %s: %s" % (r.rc, code, r.err))
            pf.append((n / MiB / wall, (p1 - p0 + r.cpu) * GiB / n, p1 - p0, r.cpu, f1 - f0))
            # kubectl
            f0 = lib.proc_cpu(e.fixture_pid)
            r = lib.run4(e.kubectl_argv("exec", "-n", "bench", "box", "--") + argv,
                         env=e.kubectl_env())
            f1 = lib.proc_cpu(e.fixture_pid)
            if r.rc != 0:
                raise RuntimeError("kubectl exec: rc %s: %s" % (r.rc, r.err[-300:]))
            kc.append((n / MiB / r.wall, r.cpu * GiB / n, f1 - f0))
            fl.append(self.floor_run("out", "bench", "box", "box", *argv))
        self.emit("### 1. Exec output: `head -c %s /dev/zero`\n" % self.hsize(n))
        self.emit(table(["client", "MB/s", "client CPU s/GiB", "of which daemon", "of which reader",
                         "fixture CPU s"], [
            ["podfs `cat exec/<id>/stdout`", fmt_mmm([x[0] for x in pf]),
             fmt_mmm([x[1] for x in pf]), fmt_mmm([x[2] * GiB / n for x in pf]),
             fmt_mmm([x[3] * GiB / n for x in pf]), fmt_mmm([x[4] for x in pf])],
            ["`kubectl exec`", fmt_mmm([x[0] for x in kc]), fmt_mmm([x[1] for x in kc]),
             "—", "—", fmt_mmm([x[2] for x in kc])],
            [FLOOR_NAME, fmt_mmm([x[0] for x in fl]), fmt_mmm([x[1] for x in fl]),
             "—", "—", "—"],
            ["**podfs / kubectl**", ratio([x[0] for x in pf], [x[0] for x in kc]),
             ratio([x[1] for x in pf], [x[1] for x in kc]), "", "", ""],
            ["**podfs / C floor**", ratio([x[0] for x in pf], [x[0] for x in fl]),
             ratio([x[1] for x in pf], [x[1] for x in fl]), "", "", ""],
        ]))

    # ---- 2. exec input ---------------------------------------------------------

    def case_execin(self):
        e, n = self.env, self.size
        cnt = n // MiB
        dd = ["dd", "if=/dev/zero", "bs=1M", "count=%d" % cnt, "status=none"]
        pf, kc, fl = [], [], []
        for i in range(self.runs):
            p0, _ = self.cpu_pair()
            t0 = time.perf_counter()
            s = self.exec_session("bench", "box", "box", ["wc", "-c"], stdin=True)
            r = lib.run4(dd + ["of=" + os.path.join(s, "stdin"), "conv=notrunc"])
            # dd's close is the last close of stdin: that ends the input
            # (docs/exec.md), so no close-stdin (it would race the exit:
            # EPIPE once wc has finished).
            with open(os.path.join(s, "stdout")) as f:
                out = f.read().strip()
            wall = time.perf_counter() - t0
            p1, _ = self.cpu_pair()
            code = self.exec_done(s)
            if out != str(n) or code != "0":
                raise RuntimeError("podfs stdin: wc said %r, exit %s, dd: %s" % (out, code, r.err))
            pf.append((n / MiB / wall, (p1 - p0 + r.cpu) * GiB / n))
            r = lib.run4(["sh", "-c", " ".join(dd) + " | " + " ".join(
                e.kubectl_argv("exec", "-i", "-n", "bench", "box", "--", "wc", "-c"))],
                stdout_path=self.tmp("kin.out"), env=e.kubectl_env())
            with open(self.tmp("kin.out")) as f:
                out = f.read().strip()
            if out != str(n):
                raise RuntimeError("kubectl exec -i: wc said %r: %s" % (out, r.err[-300:]))
            kc.append((n / MiB / r.wall, r.cpu * GiB / n))
            fl.append(self.floor_run("in", "bench", "box", "box", str(n), "wc", "-c", want=str(n)))
        self.emit("### 2. Exec input: `dd bs=1M` of %s into `wc -c`\n" % self.hsize(n))
        self.emit(table(["client", "MB/s", "client CPU s/GiB (incl. dd)"], [
            ["podfs `dd of=exec/<id>/stdin`", fmt_mmm([x[0] for x in pf]), fmt_mmm([x[1] for x in pf])],
            ["`dd \\| kubectl exec -i`", fmt_mmm([x[0] for x in kc]), fmt_mmm([x[1] for x in kc])],
            [FLOOR_NAME, fmt_mmm([x[0] for x in fl]), fmt_mmm([x[1] for x in fl])],
            ["**podfs / kubectl**", ratio([x[0] for x in pf], [x[0] for x in kc]),
             ratio([x[1] for x in pf], [x[1] for x in kc])],
            ["**podfs / C floor**", ratio([x[0] for x in pf], [x[0] for x in fl]),
             ratio([x[1] for x in pf], [x[1] for x in fl])],
        ]))

    # ---- 3. latency ------------------------------------------------------------

    def case_latency(self):
        e = self.env
        n = 1000 if self.quick else 10000
        runs = max(1, min(self.runs, 3))
        pf, kc, raw, fl = [], [], [], []
        for _ in range(runs):
            pf.append(self.rtt_podfs(n))
            kc.append(self.rtt_kubectl(n))
            r = lib.run4([PY, os.path.join(HERE, "wsraw.py"), e.fx.state, "rtt", "bench", "echo",
                          "echo", str(n)], stdout_path=self.tmp("rtt.out"))
            with open(self.tmp("rtt.out")) as f:
                raw.append(self.pct([float(x) for x in f.read().split()]))
            lib.run4([FLOOR, e.fx.state, "rtt", "bench", "echo", "echo", str(n)],
                     stdout_path=self.tmp("rtt.out"))
            with open(self.tmp("rtt.out")) as f:
                fl.append(self.pct([float(x) for x in f.read().split()]))
        rows = []
        for name, xs in (("podfs attach `stdin` → `stdout`", pf), ("`kubectl attach -i`", kc),
                         ("raw WebSocket client (ceiling)", raw), (FLOOR_NAME, fl)):
            rows.append([name, fmt_mmm([x[0] for x in xs]), fmt_mmm([x[1] for x in xs]),
                         fmt_mmm([x[2] for x in xs])])
        rows.append(["**podfs / kubectl**", ratio([x[0] for x in pf], [x[0] for x in kc]),
                     ratio([x[1] for x in pf], [x[1] for x in kc]),
                     ratio([x[2] for x in pf], [x[2] for x in kc])])
        rows.append(["**podfs / C floor**", ratio([x[0] for x in pf], [x[0] for x in fl]),
                     ratio([x[1] for x in pf], [x[1] for x in fl]),
                     ratio([x[2] for x in pf], [x[2] for x in fl])])
        self.emit("### 3. Interactive latency: %d one-byte round trips through `cat`, µs\n" % n)
        self.emit(table(["client", "p50 µs", "p99 µs", "mean µs"], rows))

    @staticmethod
    def pct(lat):
        lat = sorted(lat)
        return (lat[len(lat) // 2], lat[min(len(lat) - 1, int(len(lat) * 0.99))],
                statistics.fmean(lat))

    def rtt_podfs(self, n):
        d = self.env.p("bench", "echo", "echo")
        rfd = os.open(os.path.join(d, "stdout"), os.O_RDONLY)
        wfd = os.open(os.path.join(d, "stdin"), os.O_WRONLY)
        try:
            lat = []
            for _ in range(n):
                t0 = time.perf_counter()
                os.write(wfd, b"x")
                if not os.read(rfd, 64):
                    raise RuntimeError("podfs stdout ended")
                lat.append((time.perf_counter() - t0) * 1e6)
            return self.pct(lat)
        finally:
            os.close(wfd)
            os.close(rfd)

    def rtt_kubectl(self, n):
        e = self.env
        p = subprocess.Popen(e.kubectl_argv("attach", "-i", "-n", "bench", "echo", "-c", "echo"),
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, env=e.kubectl_env(), bufsize=0)
        wfd, rfd = p.stdin.fileno(), p.stdout.fileno()
        try:
            # Wait until the session is up: a byte comes back.
            deadline = time.time() + 20
            while True:
                os.write(wfd, b"x")
                r, _, _ = select.select([rfd], [], [], 0.2)
                if r:
                    os.read(rfd, 64)
                    break
                if time.time() > deadline:
                    raise RuntimeError("kubectl attach did not echo")
            time.sleep(0.2)
            while select.select([rfd], [], [], 0)[0]:
                os.read(rfd, 4096)
            lat = []
            for _ in range(n):
                t0 = time.perf_counter()
                os.write(wfd, b"x")
                if not os.read(rfd, 64):
                    raise RuntimeError("kubectl attach ended")
                lat.append((time.perf_counter() - t0) * 1e6)
            return self.pct(lat)
        finally:
            p.stdin.close()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            p.stdout.close()

    # ---- 4. port-forward ---------------------------------------------------------

    def case_ports(self):
        e = self.env
        n = (32 * MiB) if self.quick else (256 * MiB)
        ports = e.listen_ports()
        echo_port = None
        for port in ports:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                    s.sendall(b"?")
                    s.settimeout(0.5)
                    if s.recv(1) == b"?":
                        echo_port = port
                        break
            except OSError:
                continue
        res = {"podfs": [], "socat": [], "tcp": [], "raw": [], "floor": []}
        kmsg = self.kubectl_pf_try()
        for _ in range(self.runs):
            p0, _ = self.cpu_pair()
            fd = os.open(self.env.p("bench", "echo", "Ports", "7"), os.O_RDWR)
            try:
                w, c = self.echo_window(fd, n)
            finally:
                os.close(fd)
            p1, _ = self.cpu_pair()
            res["podfs"].append((n / MiB / w, (p1 - p0 + c) * GiB / n))
            res["socat"].append(self.via_socat(n))
            if echo_port:
                with socket.create_connection(("127.0.0.1", echo_port)) as s:
                    w, c = self.echo_fd(s.fileno(), s.fileno(), n)
                res["tcp"].append((n / MiB / w, c * GiB / n))
            r = lib.run4([PY, os.path.join(HERE, "wsraw.py"), e.fx.state, "pf", "bench", "echo",
                          "7", str(n)], stdout_path=self.tmp("pf.out"))
            got = self.kv(self.tmp("pf.out"))
            if int(got.get("bytes", 0)) == n:
                res["raw"].append((n / MiB / float(got["seconds"]), r.cpu * GiB / n))
            res["floor"].append(self.floor_run("pf", "bench", "echo", "7", str(n)))
        self.emit("### 4. Port-forward: %s through the echo port (sent and read back)\n"
                  % self.hsize(n))
        rows = [
            ["podfs `Ports/7` (one fd O_RDWR, 1 MiB in flight)", fmt_mmm([x[0] for x in res["podfs"]]),
             fmt_mmm([x[1] for x in res["podfs"]])],
            ["TCP → `socat -b 1048576 … OPEN:Ports/7` → podfs", fmt_mmm([x[0] for x in res["socat"]]),
             fmt_mmm([x[1] for x in res["socat"]])],
            ["raw WebSocket client → fixture (ceiling)", fmt_mmm([x[0] for x in res["raw"]]),
             fmt_mmm([x[1] for x in res["raw"]])],
            ["raw local TCP to the pod's echo server (no API server)",
             fmt_mmm([x[0] for x in res["tcp"]]), fmt_mmm([x[1] for x in res["tcp"]])],
            ["`kubectl port-forward`", "not measurable", "—"],
            ["**podfs / raw WebSocket**", ratio([x[0] for x in res["podfs"]], [x[0] for x in res["raw"]]),
             ""],
            [FLOOR_NAME, fmt_mmm([x[0] for x in res["floor"]]), fmt_mmm([x[1] for x in res["floor"]])],
            ["**podfs / C floor**", ratio([x[0] for x in res["podfs"]], [x[0] for x in res["floor"]]),
             ratio([x[1] for x in res["podfs"]], [x[1] for x in res["floor"]])],
        ]
        if self.env.backend in ("cluster", "reference"):
            kc = [self.via_kubectl_pf(n) for _ in range(self.runs)]
            rows[4] = ["`kubectl port-forward` (real apiserver, SPDY)",
                       fmt_mmm([x[0] for x in kc]), fmt_mmm([x[1] for x in kc])]
            rows.append(["**podfs / kubectl port-forward**",
                         ratio([x[0] for x in res["podfs"]], [x[0] for x in kc]),
                         ratio([x[1] for x in res["podfs"]], [x[1] for x in kc])])
            if self.env.backend == "cluster":
                # wsraw.py and the local echo server are the fixture's
                rows[2][0] = "raw WebSocket client (fixture only)"
                rows[3][0] = "raw local TCP to the pod's echo server (fixture only)"
        self.emit(table(["path", "MB/s (each way)", "client CPU s/GiB"], rows))
        self.emit("kubectl port-forward against the %s: `%s`\n" % (self.env.backend, kmsg))

    def via_kubectl_pf(self, n):
        """n bytes through `kubectl port-forward` to the echo port, both ways;
        kubectl's CPU counts (it is the client)."""
        p, port = self.kubectl_pf(stderr=subprocess.DEVNULL)
        try:
            buf = b""
            while b"Forwarding from" not in buf:
                b = p.stdout.read1(4096)
                if not b:
                    raise RuntimeError("kubectl port-forward ended: %r" % buf)
                buf += b
            c0 = lib.proc_cpu(p.pid)
            with socket.create_connection(("127.0.0.1", port)) as c:
                w, cpu = self.echo_fd(c.fileno(), c.fileno(), n)
            c1 = lib.proc_cpu(p.pid)
        finally:
            p.terminate()
            p.wait(10)
            p.stdout.close()
        return n / MiB / w, (cpu + c1 - c0) * GiB / n

    def echo_fd(self, wfd, rfd, n):
        """Writes n bytes to wfd in a thread while reading n back from rfd;
        -> (seconds, CPU seconds of this process during it)."""
        block = bytes(MiB)
        err = []

        def writer():
            left = n
            try:
                while left:
                    k = os.write(wfd, memoryview(block)[:min(left, MiB)])
                    left -= k
            except OSError as x:
                err.append(x)
        c0 = time.process_time()
        t0 = time.perf_counter()
        t = threading.Thread(target=writer)
        t.start()
        got = 0
        while got < n:
            b = os.read(rfd, MiB)
            if not b:
                break
            got += len(b)
        t.join()
        w = time.perf_counter() - t0
        if err or got != n:
            raise RuntimeError("echo: got %d of %d bytes %s" % (got, n, err))
        return w, time.process_time() - c0

    def echo_window(self, fd, n, chunk=256 * 1024, window=MiB):
        """One thread on one fd: write a chunk, then read back until at most
        `window` bytes are in flight.  Two threads on one podfs fd would
        serialize on the kernel's file position lock (libfuse 3.14 cannot
        open a file as FOPEN_STREAM), see docs/benchmarks.md."""
        block = memoryview(bytes(chunk))
        sent = got = 0
        c0 = time.process_time()
        t0 = time.perf_counter()
        while got < n:
            if sent < n:
                k = os.write(fd, block[:min(chunk, n - sent)])
                sent += k
            while got < n and (sent - got > window or sent == n):
                b = os.read(fd, MiB)
                if not b:
                    raise RuntimeError("echo: EOF after %d of %d bytes" % (got, n))
                got += len(b)
        return time.perf_counter() - t0, time.process_time() - c0

    def via_socat(self, n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        p0, _ = self.cpu_pair()
        sp = subprocess.Popen(["socat", "-b", "1048576", "TCP-LISTEN:%d,bind=127.0.0.1,reuseaddr" % port,
                               "OPEN:" + self.env.p("bench", "echo", "Ports", "7")],
                              stderr=subprocess.DEVNULL)
        try:
            for _ in range(100):
                try:
                    c = socket.create_connection(("127.0.0.1", port))
                    break
                except OSError:
                    time.sleep(0.05)
            else:
                raise RuntimeError("socat did not listen")
            with c:
                w, cpu = self.echo_fd(c.fileno(), c.fileno(), n)
                c.shutdown(socket.SHUT_WR)
        finally:
            try:
                sp.wait(5)
            except subprocess.TimeoutExpired:
                sp.kill()
                sp.wait()
        p1, _ = self.cpu_pair()
        return n / MiB / w, (p1 - p0 + cpu) * GiB / n

    def kubectl_pf(self, stderr):
        """`kubectl port-forward` of bench/echo's port 7 to a free local port."""
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        p = subprocess.Popen(self.env.kubectl_argv("port-forward", "-n", "bench", "pod/echo",
                                                   "%d:7" % port), env=self.env.kubectl_env(),
                             stdout=subprocess.PIPE, stderr=stderr)
        return p, port

    def kubectl_pf_try(self):
        p, port = self.kubectl_pf(stderr=subprocess.STDOUT)
        try:
            time.sleep(3)
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=3) as c:
                    c.sendall(b"?")
                    c.settimeout(3)
                    c.recv(1)
            except OSError:
                pass
            time.sleep(0.5)
        finally:
            p.terminate()
            try:
                out = p.communicate(timeout=5)[0]
            except subprocess.TimeoutExpired:
                p.kill()
                out = p.communicate()[0]
        lines = [x for x in out.decode(errors="replace").splitlines() if x.strip()]
        return " / ".join(lines[-3:])[:400] or "no output"

    # ---- 5. listing ----------------------------------------------------------------

    def case_listing(self):
        e = self.env
        ns = "big"
        res = {k: [] for k in ("ls cold", "ls cached", "ls -l cold", "ls -l cached",
                               "kubectl -o name", "kubectl -o wide")}
        reqs = {k: [] for k in res}
        pods = {}

        def timed(key, argv, env=None, check=None):
            e.reset_stats()
            r = lib.run4(argv, stdout_path=self.tmp("ls.out"), env=env)
            st = e.stats()
            if r.rc != 0:
                raise RuntimeError("%s: rc %s %s" % (key, r.rc, r.err[-300:]))
            with open(self.tmp("ls.out")) as f:
                pods[key] = sum(1 for _ in f)
            res[key].append(r.wall)
            reqs[key].append((st["total"], st["pod_requests"]))
        for _ in range(self.runs):
            for flag, name in (([], "ls"), (["-l"], "ls -l")):
                e.remount()
                d = e.p(ns)
                timed(name + " cold", ["ls"] + flag + [d])
                timed(name + " cached", ["ls"] + flag + [d])
            timed("kubectl -o name", e.kubectl_argv("get", "pods", "-n", ns, "-o", "name"),
                  env=e.kubectl_env())
            timed("kubectl -o wide", e.kubectl_argv("get", "pods", "-n", ns, "-o", "wide"),
                  env=e.kubectl_env())
        rows = []
        for k in res:
            rows.append([k, fmt_mmm([x * 1000 for x in res[k]]),
                         fmt_mmm([x[0] for x in reqs[k]], 0), fmt_mmm([x[1] for x in reqs[k]], 0),
                         pods.get(k, "?")])
        rows.append(["**ls cold / kubectl -o name**", ratio(res["ls cold"], res["kubectl -o name"]),
                     "", "", ""])
        rows.append(["**ls -l cold / kubectl -o wide**",
                     ratio(res["ls -l cold"], res["kubectl -o wide"]), "", "", ""])
        self.emit("### 5. Listing a %d-pod namespace\n" % e.big)
        self.emit(table(["command", "ms", "API requests", "of which per-pod", "output lines"], rows))
        self.emit("Cold: a freshly mounted podfs (nothing cached). kubectl's discovery cache "
                  "is warm (KUBECACHEDIR kept between runs), as on a workstation.\n")

    # ---- 6. scale ----------------------------------------------------------------

    def case_scale(self):
        e = self.env
        npods, per = 50, 4
        count = 30000 if self.quick else 300000
        argv = ["seq", "1", str(count)]
        want = hashlib.sha256(subprocess.run(argv, stdout=subprocess.PIPE).stdout).hexdigest()
        size = len(subprocess.run(argv, stdout=subprocess.PIPE).stdout)
        e.remount()
        base = lib.proc_status(e.podfs_pid)
        results = []
        for _ in range(max(1, min(self.runs, 3))):
            sessions = []
            t0 = time.perf_counter()
            p0, _ = self.cpu_pair()
            with lib.Sampler(e.podfs_pid) as smp:
                def start(i):
                    pod = "s-%02d" % (i % npods)
                    sessions.append(self.exec_session("scale", pod, "c", argv))
                ths = [threading.Thread(target=start, args=(i,)) for i in range(npods * per)]
                for t in ths:
                    t.start()
                for t in ths:
                    t.join()
                readers = [subprocess.Popen(["sha256sum", os.path.join(s, "stdout")],
                                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                           for s in sessions]
                sums = [r.communicate()[0].split()[:1] for r in readers]
                mid = lib.proc_status(e.podfs_pid)
            wall = time.perf_counter() - t0
            p1, _ = self.cpu_pair()
            bad = sum(1 for x in sums if not x or x[0].decode() != want)
            for s in sessions:
                self.exec_done(s)
            results.append((wall, len(sessions), bad, smp.peak_rss, smp.peak_threads,
                            mid["hwm"], p1 - p0))
        # kubectl: the same 200 sessions as 200 processes.
        kres = []
        for _ in range(1 if self.quick else 2):
            t0 = time.perf_counter()
            procs = []
            for i in range(npods * per):
                r_, w_ = os.pipe()
                kp = subprocess.Popen(e.kubectl_argv("exec", "-n", "scale", "s-%02d" % (i % npods),
                                                     "--") + argv,
                                      stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                      env=e.kubectl_env())
                procs.append(kp)
            bad = 0
            rss = 0
            cpu = 0.0
            for kp in procs:
                h = hashlib.sha256()
                while True:
                    b = kp.stdout.read(MiB)
                    if not b:
                        break
                    h.update(b)
                _, status, ru = os.wait4(kp.pid, 0)
                kp.returncode = 0
                kp.stdout.close()
                bad += h.hexdigest() != want
                rss += ru.ru_maxrss * 1024
                cpu += ru.ru_utime + ru.ru_stime
            kres.append((time.perf_counter() - t0, bad, rss, cpu))
        self.emit("### 6. Scale: %d exec sessions at once across %d pods, `seq 1 %d` each (%s)\n"
                  % (npods * per, npods, count, self.hsize(size)))
        self.emit(table(["client", "wall s", "bad checksums", "peak RSS MiB", "threads (peak)",
                         "client CPU s"], [
            ["podfs (one daemon; `sha256sum` readers)", fmt_mmm([x[0] for x in results]),
             fmt_mmm([x[2] for x in results], 0),
             fmt_mmm([x[3] / MiB for x in results]),
             fmt_mmm([x[4] for x in results], 0), fmt_mmm([x[6] for x in results])],
            ["200 × `kubectl exec` (sum over processes)", fmt_mmm([x[0] for x in kres]),
             fmt_mmm([x[1] for x in kres], 0), fmt_mmm([x[2] / MiB for x in kres]),
             "—", fmt_mmm([x[3] for x in kres])],
        ]))
        self.emit("podfs idle before the run: RSS %.1f MiB, %d threads; peak RSS per session "
                  "above idle: %.0f KiB.\n" % (base["rss"] / MiB, base["threads"],
                                               (statistics.median([x[3] for x in results]) -
                                                base["rss"]) / 1024 / (npods * per)))

    # ---- 8. scale to 1,000 sessions and 100 broadcast readers -------------------

    def scale_round(self, nsess, argv, want):
        """nsess exec sessions started at once over the scale pods, read by
        a pool of 32 threads; -> (bad checksums, peak RSS, peak threads,
        daemon CPU s, bytes)."""
        import concurrent.futures as cf
        e = self.env
        npods = 50

        def start(i):
            return self.exec_session("scale", "s-%02d" % (i % npods), "c", argv)

        def drain(s):
            h = hashlib.sha256()
            with open(os.path.join(s, "stdout"), "rb", buffering=0) as f:
                while True:
                    b = f.read(MiB)
                    if not b:
                        break
                    h.update(b)
            self.exec_done(s)
            return h.hexdigest() == want
        p0, _ = self.cpu_pair()
        with lib.Sampler(e.podfs_pid) as smp, cf.ThreadPoolExecutor(32) as pool:
            sessions = list(pool.map(start, range(nsess)))
            oks = list(pool.map(drain, sessions))
        p1, _ = self.cpu_pair()
        return oks.count(False), smp.peak_rss, smp.peak_threads, p1 - p0

    def case_scale1k(self):
        """The same total (1 GiB, quick 64 MiB) split over 1..1,000 sessions,
        so the CPU per byte of each row is comparable with the first."""
        e = self.env
        total = (64 * MiB) if self.quick else GiB
        rows = []
        for nsess in ((1, 10, 100) if self.quick else (1, 10, 100, 1000)):
            each = total // nsess
            argv = ["head", "-c", str(each), "/dev/zero"]
            want = hashlib.sha256(bytes(each)).hexdigest()
            e.remount()
            idle = lib.proc_status(e.podfs_pid)["rss"]
            t0 = time.perf_counter()
            bad, rss, thr, cpu = self.scale_round(nsess, argv, want)
            wall = time.perf_counter() - t0
            rows.append([str(nsess), self.hsize(each), str(bad), fmt((rss - idle) / MiB),
                         fmt((rss - idle) / 1024 / nsess), str(thr), fmt(total / MiB / wall),
                         fmt(cpu * GiB / total)])
        self.emit("### 8. %s split over 1 to 1,000 exec sessions on 50 pods (32 readers)\n"
                  % self.hsize(total))
        self.emit(table(["sessions", "each", "bad checksums", "peak RSS above idle MiB",
                         "KiB per session", "threads (peak)", "MB/s total",
                         "daemon CPU s/GiB"], rows))

    def case_broadcast(self):
        e = self.env
        nread, n = 100, (4 * MiB if self.quick else 64 * MiB)
        d = e.p("bench", "echo", "echo")
        fds = [os.open(os.path.join(d, "stdout"), os.O_RDONLY) for _ in range(nread)]
        got = [0] * nread

        def reader(i):
            while got[i] < n:
                b = os.read(fds[i], MiB)
                if not b:
                    break
                got[i] += len(b)
        ths = [threading.Thread(target=reader, args=(i,), daemon=True) for i in range(nread)]
        p0, _ = self.cpu_pair()
        t0 = time.perf_counter()
        for t in ths:
            t.start()
        wfd = os.open(os.path.join(d, "stdin"), os.O_WRONLY)
        block, left = bytes(256 * 1024), n
        while left:
            left -= os.write(wfd, block[:min(left, len(block))])
        for t in ths:
            t.join(300)
        wall = time.perf_counter() - t0
        p1, _ = self.cpu_pair()
        os.close(wfd)
        for fd in fds:
            os.close(fd)
        short = sum(1 for g in got if g != n)
        self.emit("### 9. Broadcast: %d readers of one attach `stdout`, %s written to `stdin`\n"
                  % (nread, self.hsize(n)))
        self.emit(table(["readers", "readers short", "MB/s per reader", "MB/s delivered",
                         "daemon CPU s/GiB delivered"], [
            [str(nread), str(short), fmt(n / MiB / wall), fmt(n * nread / MiB / wall),
             fmt((p1 - p0) * GiB / (n * nread))]]))

    # ---- helpers ---------------------------------------------------------------------

    def floor_run(self, mode, *args, want=None):
        """bench/floor in a throughput mode -> (MB/s, client CPU s/GiB)."""
        r = lib.run4([FLOOR, self.env.fx.state, mode] + list(args),
                     stdout_path=self.tmp("floor.out"))
        got = self.kv(self.tmp("floor.out"))
        if r.rc != 0 or (want is not None and got.get("out") != want):
            raise RuntimeError("floor %s: rc %s, %r: %s" % (mode, r.rc, got, r.err[-300:]))
        n = int(got["bytes"])
        return n / MiB / float(got["seconds"]), r.cpu * GiB / n

    def tmp(self, name):
        return os.path.join(self.tmpdir, name)

    @staticmethod
    def kv(path):
        with open(path) as f:
            return dict(x.split("=", 1) for x in f.read().split() if "=" in x)

    @staticmethod
    def hsize(n):
        if n >= GiB and n % GiB == 0:
            return "%d GiB" % (n // GiB)
        return "%.1f MiB" % (n / MiB) if n >= MiB else "%d KiB" % (n // 1024)

    def bench_pods_only(self):
        """bench/cluster.json without the scale namespace, in the temp dir."""
        import json
        with open(os.path.join(HERE, "cluster.json")) as f:
            c = json.load(f)
        c["namespaces"] = [n for n in c["namespaces"] if n["name"] != "scale"]
        c["pods"] = [p for p in c["pods"] if p["namespace"] != "scale"]
        path = os.path.join(self.tmpdir, "cluster.json")
        with open(path, "w") as f:
            json.dump(c, f)
        return path

    def main(self):
        cases = ["ceiling", "execout", "execin", "latency", "ports", "listing", "scale",
                 "scale1k", "broadcast"]
        only = self.a.only.split(",") if self.a.only else cases
        self.tmpdir = tempfile.mkdtemp(prefix="podfs-bench-")
        t0 = time.time()
        self.emit("## Machine\n")
        self.emit(table(["", ""], lib.machine()))
        self.emit("Mode: %s, %d runs per figure, run started %s.\n" % (
            "quick" if self.quick else "full", self.runs,
            time.strftime("%Y-%m-%d %H:%M:%S", time.localtime())))
        failed = []
        big = 1000 if self.quick else 10000
        cluster_file = None
        if self.a.backend == "cluster":
            # Real pods cost a container each: the 10,000 only for the
            # listing case, the 50 scale pods only for the scale case.
            big = big if "listing" in only else 0
            if "scale" not in only:
                cluster_file = self.bench_pods_only()
        if self.a.backend == "reference":
            big = 0   # bench/refserver serves the cluster file only (no listing case)
        with lib.Env(big=big, cluster_file=cluster_file,
                     reference=self.a.backend == "reference") as self.env:
            for c in cases:
                if c not in only:
                    continue
                self.note("case %s" % c)
                try:
                    getattr(self, "case_" + c)()
                except Exception as x:  # one broken case must not hide the others
                    failed.append(c)
                    self.emit("### %s: FAILED\n\n`%s: %s`\n" % (c, type(x).__name__, x))
        shutil.rmtree(self.tmpdir, ignore_errors=True)
        self.emit("Total bench time: %.0f s.\n" % (time.time() - t0))
        os.makedirs(os.path.dirname(os.path.abspath(self.a.out)), exist_ok=True)
        with open(self.a.out, "w") as f:
            f.write("\n".join(self.out))
        print("tables written to %s" % self.a.out, file=sys.stderr)
        return 1 if failed else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes, 2 runs")
    ap.add_argument("--runs", type=int, default=0)
    ap.add_argument("--only", default="")
    ap.add_argument("--out", default=os.path.join(HERE, "out", "results.md"))
    ap.add_argument("--backend", choices=["fixture", "reference", "cluster"],
                    default=os.environ.get("PODFS_BACKEND", "fixture"),
                    help="cluster: the real cluster of tests/cluster (bench/run starts it)")
    return Bench(ap.parse_args()).main()


if __name__ == "__main__":
    sys.exit(main())
