"""Builds a container image from Debian's busybox-static, without a registry.

The result is a `docker save`-style archive (manifest.json, the image config,
one uncompressed layer) that `ctr images import` accepts.  The layer holds
/bin/busybox, a symlink per applet in /bin, /tmp and a few /etc files, so
`sh`, `cat`, `httpd`, `stty`... exist inside the container.  The same image
serves as the sandbox ("pause") image: its default command sleeps.
"""

import hashlib
import io
import json
import os
import subprocess
import tarfile
import time

BUSYBOX = "/bin/busybox"


def _applets(busybox):
    out = subprocess.run([busybox, "--list"], capture_output=True, text=True, check=True)
    return sorted(set(a.strip() for a in out.stdout.split() if a.strip()))


def _layer(busybox, files):
    buf = io.BytesIO()
    now = int(time.time())
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        def add_dir(name, mode=0o755):
            ti = tarfile.TarInfo(name)
            ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, mode, now
            t.addfile(ti)

        def add_file(name, data, mode=0o644):
            ti = tarfile.TarInfo(name)
            ti.size, ti.mode, ti.mtime = len(data), mode, now
            t.addfile(ti, io.BytesIO(data))
        for d in ("bin", "etc", "proc", "sys", "dev", "root", "var", "www"):
            add_dir(d)
        add_dir("tmp", 0o1777)
        with open(busybox, "rb") as f:
            add_file("bin/busybox", f.read(), 0o755)
        for a in _applets(busybox):
            if a == "busybox" or "/" in a:
                continue
            ti = tarfile.TarInfo("bin/" + a)
            ti.type, ti.linkname, ti.mode, ti.mtime = tarfile.SYMTYPE, "busybox", 0o777, now
            t.addfile(ti)
        add_file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n")
        add_file("etc/group", b"root:x:0:\n")
        extra = dict(files)
        add_file("www/index.html", extra.pop("www/index.html", b"hello-from-cri\n"))
        for name in sorted(extra):
            for i in range(1, name.count("/")):    # parents below the fixed dirs
                add_dir("/".join(name.split("/")[:i + 1]))
            add_file(name, extra[name])
    return buf.getvalue()


def build(path, refs, busybox=BUSYBOX, files=None):
    """Write the archive to path, tagged with every name in refs; files
    {relative path: bytes} are added to the layer (www/ for httpd)."""
    layer = _layer(busybox, files or {})
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = json.dumps({
        "architecture": "amd64", "os": "linux",
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "config": {"Env": ["PATH=/bin"], "Cmd": ["/bin/sleep", "2147483647"],
                   "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created_by": "podfs tests/cri/image.py"}],
    }, sort_keys=True).encode()
    cfg_name = hashlib.sha256(config).hexdigest() + ".json"
    layer_name = hashlib.sha256(layer).hexdigest() + "/layer.tar"
    manifest = json.dumps([{"Config": cfg_name, "RepoTags": list(refs),
                            "Layers": [layer_name]}]).encode()
    tmp = path + ".tmp"
    with tarfile.open(tmp, "w") as t:
        for name, data in ((layer_name, layer), (cfg_name, config),
                           ("manifest.json", manifest)):
            ti = tarfile.TarInfo(name)
            ti.size, ti.mode, ti.mtime = len(data), 0o644, int(time.time())
            t.addfile(ti, io.BytesIO(data))
    os.rename(tmp, path)
    return path
