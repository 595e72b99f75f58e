#!/usr/bin/python3
"""Shape rules of the C sources that a compiler does not check
(docs/architecture.md), run by `make check` as one unit-style case:

1. No function in fs/ or stream/ is longer than FUNC_MAX lines, counted
   from the line that opens its body to the line that closes it (the
   code is kernel style: a definition's braces stand alone in column 0).
   main()'s option table is declarative data, not a function, and is not
   counted.
2. Data flows one way: nothing in stream/ includes a header from fs/
   (stream/ knows sessions, buffers and the cluster; fs/ knows FUSE).
   Within fs/ the bottom layers include only what LOWER allows: the
   open-file engine and the mount state never reach up to an owner, a
   registry or the router.
3. The module map in docs/architecture.md names every .c of fs/ and
   stream/ (and every header without one), and no page of docs/ names a
   source file that does not exist.

Prints each violation and "shape: N passed, N failed"; exits 1 on any.
`--list N` prints the N longest functions instead."""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FUNC_MAX = 120
DIRS = ("fs", "stream")
# fs/ files of the bottom layers -> the fs/ headers they may include
LOWER = {
    "fs/fs.c": {"fs/fs.h"},
    "fs/handles.c": {"fs/handles.h"},
    "fs/parked.c": {"fs/parked.h", "fs/handles.h"},
    "fs/owner.c": {"fs/owner.h", "fs/fs.h", "fs/handles.h", "fs/parked.h", "fs/path.h"},
}
# a definition's head: starts in column 0, not a declaration or a macro
HEAD = re.compile(r"^[A-Za-z_][^;#=]*\b([A-Za-z_][A-Za-z0-9_]*)\s*\(")


def sources():
    for d in DIRS:
        for name in sorted(os.listdir(os.path.join(ROOT, d))):
            if name.endswith((".c", ".h")):
                yield os.path.join(d, name)


def functions(path):
    """(name, first line, length) of every function defined in path."""
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        lines = f.read().split("\n")
    name, start, out = None, None, []
    for i, line in enumerate(lines):
        if start is None:
            m = HEAD.match(line)
            if m and not line.startswith("typedef"):
                name = m.group(1)
            if line == "{" and name:
                start = i
            elif line.endswith(";") or line == "":
                name = None
        elif line == "}":
            out.append((name, start + 1, i - start + 1))
            name, start = None, None
    return out


def check():
    bad = []
    for path in sources():
        for name, line, n in functions(path):
            if n > FUNC_MAX:
                bad.append("%s:%d: %s() is %d lines (limit %d)" % (path, line, name, n, FUNC_MAX))
        if path.startswith("stream/"):
            with open(os.path.join(ROOT, path), encoding="utf-8") as f:
                for k, line in enumerate(f, 1):
                    if re.match(r'\s*#\s*include\s+"fs/', line):
                        bad.append("%s:%d: stream/ includes fs/ (%s)" % (path, k, line.strip()))
        if path in LOWER:
            with open(os.path.join(ROOT, path), encoding="utf-8") as f:
                for k, line in enumerate(f, 1):
                    m = re.match(r'\s*#\s*include\s+"(fs/[^"]+)"', line)
                    if m and m.group(1) not in LOWER[path]:
                        bad.append("%s:%d: a bottom layer includes %s" % (path, k, m.group(1)))
    return bad + check_docs()


def check_docs():
    bad = []
    docs = os.path.join(ROOT, "docs")
    with open(os.path.join(docs, "architecture.md"), encoding="utf-8") as f:
        arch = f.read()
    for path in sources():
        alone = path.endswith(".h") and not os.path.exists(os.path.join(ROOT, path[:-1] + "c"))
        if (path.endswith(".c") or alone) and "`%s`" % path not in arch:
            bad.append("docs/architecture.md: the module map does not name %s" % path)
    for name in sorted(os.listdir(docs)):
        if not name.endswith(".md"):
            continue
        with open(os.path.join(docs, name), encoding="utf-8") as f:
            for k, line in enumerate(f, 1):
                for ref in re.findall(r"\b((?:fs|stream)/[a-z_]+\.[ch])\b", line):
                    if not os.path.exists(os.path.join(ROOT, ref)):
                        bad.append("docs/%s:%d: names %s, which does not exist" % (name, k, ref))
    return bad


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--list":
        rows = [(n, p, name, line) for p in sources() for name, line, n in functions(p)]
        for n, p, name, line in sorted(rows, reverse=True)[:int(sys.argv[2])]:
            print("%4d %s:%d %s" % (n, p, line, name))
        return 0
    # the checker itself must see functions, or it would pass vacuously
    counted = sum(len(functions(p)) for p in sources())
    bad = check()
    if counted < 200:
        bad.append("only %d functions found: the parser is broken" % counted)
    for b in bad:
        print(b)
    print("shape: %d functions, %d stream/ files checked" %
          (counted, sum(1 for p in sources() if p.startswith("stream/"))))
    print("shape: %d passed, %d failed" % (0 if bad else 1, 1 if bad else 0))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
