#!/usr/bin/python3
"""Memory per cached pod and the cost of a cached `ls -l` with a live
watch: mounts the fixture with N synthetic pods in namespace big (default
10000), lists it cold, then runs `ls -l` with the watch live and counts
the requests (none expected) and the daemon's RSS growth per pod.
Usage: bench/live_rss.py [N]   (uses ./podfs unless PODFS_BIN is set)"""
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integ"))
import fixture  # noqa: E402
from mount import Mount  # noqa: E402

N = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
os.environ.setdefault("PODFS_BIN", os.path.join(ROOT, "podfs"))
fx = fixture.Fixture(synthetic=["big:%d" % N])
fx.start()
try:
    with Mount(fx) as m:
        def rss():
            with open("/proc/%d/status" % m.proc.pid) as f:
                for ln in f:
                    if ln.startswith("VmRSS"):
                        return int(ln.split()[1]) * 1024
        os.listdir(m.path)
        os.listdir(m.p("demo"))
        time.sleep(0.5)
        r0 = rss()
        t0 = time.time()
        names = os.listdir(m.p("big"))
        t1 = time.time()
        time.sleep(1.5)     # longer than -o cache: only the watch keeps it
        fx.reset_stats()
        t2 = time.time()
        subprocess.run(["ls", "-l", m.p("big")], capture_output=True)
        t3 = time.time()
        s = fx.stats()["by_category"]
        r1 = rss()
        print("pods %d: cold ls %.2fs, cached ls -l %.3fs, requests during it: %s"
              % (len(names), t1 - t0, t3 - t2, s))
        print("rss before %d after %d: %.0f bytes per pod (cache + inode nodes)"
              % (r0, r1, (r1 - r0) / len(names)))
finally:
    fx.close()
