#!/usr/bin/python3
"""Every streaming suite on the ThreadSanitizer build of podfs
(build/tsan/podfs, `make build/tsan/podfs`): test_streams (attach,
log.follow, O_NONBLOCK), test_exec, test_ports (port-forward and Proxy) and
test_faults, where the multiplexers, the channel buffers and the FUSE
threads meet.  A race makes podfs exit 66 at unmount, which each suite's
clean-unmount case reports; on top of that every podfs log of the run is
collected (PODFS_KEEP_LOGS appends them) and any ThreadSanitizer report in
it -- a data race, a lock-order inversion (potential deadlock), a mutex
misuse -- fails this suite, whichever mount it came from.  Skipped
(0 passed) when the build is missing.
Prints 'test_tsan: N passed, N failed' last."""

import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SUITES = ("test_streams", "test_exec", "test_ports", "test_faults")


def tsan_reports(log):
    """-> the distinct kinds of ThreadSanitizer reports in log."""
    return sorted(set(re.findall(r"WARNING: ThreadSanitizer: ([^(\n]+)", log)))


def main():
    binary = os.path.join(ROOT, "build", "tsan", "podfs")
    if not os.path.exists(binary):
        print("skip: %s not built" % binary)
        print("test_tsan: 0 passed, 0 failed")
        return 0
    log = os.path.join(ROOT, "build", "tsan", "podfs.log")
    if os.path.exists(log):
        os.unlink(log)
    env = dict(os.environ, PODFS_BIN=binary, PODFS_KEEP_LOGS=log,
               TSAN_OPTIONS="halt_on_error=0 exitcode=66 second_deadlock_stack=1 "
                            "detect_deadlocks=1",
               # valgrind runs the plain build, not this one
               FAULTS=r"^(?!t_valgrind$)")
    passed = failed = 0
    for name in SUITES:
        p = subprocess.run(["/usr/bin/python3", os.path.join(HERE, name + ".py")],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                           timeout=1800)
        out = p.stdout.decode(errors="replace")
        sys.stdout.write(out)
        m = re.findall(r"%s: (\d+) passed, (\d+) failed" % name, out)
        sp, sf = (int(m[-1][0]), int(m[-1][1])) if m else (0, 1)
        if p.returncode and not sf:
            sf = 1
        passed += sp
        failed += sf
    text = ""
    if os.path.exists(log):
        with open(log, errors="replace") as f:
            text = f.read()
    kinds = tsan_reports(text)
    if kinds:
        failed += 1
        print("FAIL ThreadSanitizer reports in the podfs logs: %s" % ", ".join(kinds))
    else:
        passed += 1
        print("ok   no ThreadSanitizer report in any podfs log")
    if failed:
        print("podfs logs: %s" % log)
    print("test_tsan: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
