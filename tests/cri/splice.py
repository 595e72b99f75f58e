"""The fixture's CRI mode: exec/attach/portforward spliced to containerd.

For every protocol but v5, a real API server does not speak the channel
protocol itself: it asks the kubelet, which asks the runtime over CRI
(Exec/Attach/PortForward) for a one-time URL on the runtime's streaming
server, and then relays the client's upgrade request there and the bytes
both ways, unchanged (UpgradeAwareHandler).  This module does the same for
the fixture server (tests/fixture/server.py --cri-endpoint): the response
head, the 101, every frame and the close come from containerd's copy of the
kubelet streaming code, not from our k8sws.py.

The query is translated the way the API server and kubelet do it:
stdin/stdout/stderr/tty (absent, "false" or "0" is false; anything else
true) become the CRI request's booleans, `command` the argv, `ports` (repeated
or comma lists) the port list -- which containerd's WebSocket port-forward
reads from the `port` query of the URL, as the kubelet passes it on.
"""

import logging
import socket
import threading
import urllib.parse

import cri

log = logging.getLogger("fixture.cri")

_live = set()
_live_lock = threading.Lock()

# Headers relayed to the streaming server; the API server sends its own
# credentials to the kubelet, never the client's, so Authorization stays here.
_RELAY = ("upgrade", "connection", "sec-websocket-key", "sec-websocket-version",
          "sec-websocket-protocol", "sec-websocket-extensions", "origin", "user-agent",
          "x-stream-protocol-version", "content-length")


def _qbool(query, name):
    v = query.get(name)
    if v is None:
        return False
    return v[0].lower() not in ("false", "0")


def _ports(query):
    out = []
    for v in query.get("ports", []):
        out += [p.strip() for p in v.split(",") if p.strip()]
    return out


class Splicer:
    def __init__(self, endpoint):
        self.client = cri.Client(endpoint)

    def url_for(self, kind, query, entry, container):
        if kind == "portforward":
            ports = _ports(query)
            if not ports:
                return None, 'query parameter "port" is required'
            for p in ports:
                if not p.isdigit() or not 0 < int(p) < 65536:
                    return None, 'invalid port "%s"' % p
            url = self.client.port_forward_url(entry["sandbox"], ports)
            return url + ("&" if "?" in url else "?") + "port=" + ",".join(ports), None
        cid = entry["containers"].get(container)
        if cid is None:
            return None, 'container not found ("%s")' % container
        tty = _qbool(query, "tty")
        io = dict(stdin=_qbool(query, "stdin"), stdout=_qbool(query, "stdout"),
                  stderr=_qbool(query, "stderr") and not tty)
        log.info("cri splice %s flags: tty=%s %s", kind, tty,
                 " ".join("%s=%s" % kv for kv in sorted(io.items())))
        if not (io["stdin"] or io["stdout"] or _qbool(query, "stderr")):
            return None, "you must specify at least 1 of stdin, stdout, stderr"
        if kind == "exec":
            cmd = query.get("command", [])
            if not cmd:
                return None, "you must specify at least one command for the container"
            return self.client.exec_url(cid, cmd, tty=tty, **io), None
        return self.client.attach_url(cid, tty=tty, **io), None

    def handle(self, sock, rfile, method, query, headers, kind, entry, container):
        """Owns sock from here; returns when both directions are done."""
        try:
            url, err = self.url_for(kind, query, entry, container)
        except cri.CriError as e:
            url, err = None, str(e)
        if url is None:
            # The kubelet's own errors are plain text, and the API server
            # passes them through as they are.
            status = 400 if "must specify" in err or "required" in err or "invalid" in err \
                else 500
            body = (err + "\n").encode()
            reason = "Bad Request" if status == 400 else "Internal Server Error"
            head = ("HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
                    "X-Content-Type-Options: nosniff\r\nContent-Length: %d\r\n"
                    "Connection: close\r\n\r\n" % (status, reason, len(body))).encode()
            try:
                sock.sendall(head + body)
            except OSError:
                pass
            _close(sock)
            return
        u = urllib.parse.urlsplit(url)
        log.info("cri splice %s -> %s (offered %r)", kind, u.path.rsplit("/", 1)[0] + "/...",
                 headers.get("sec-websocket-protocol"))
        try:
            back = socket.create_connection((u.hostname, u.port or 80), timeout=10)
        except OSError as e:
            log.warning("cri splice: cannot reach %s:%s: %s", u.hostname, u.port, e)
            _close(sock)
            return
        back.settimeout(None)
        back.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        target = u.path + ("?" + u.query if u.query else "")
        lines = ["%s %s HTTP/1.1" % (method, target), "Host: %s" % u.netloc]
        for k in _RELAY:
            if k in headers:
                lines.append("%s: %s" % ("-".join(w.capitalize() for w in k.split("-"))
                                         .replace("Websocket", "WebSocket"), headers[k]))
        back.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        with _live_lock:
            _live.add(sock)
            _live.add(back)
        up = threading.Thread(target=_pump_up, args=(rfile, back), daemon=True,
                              name="cri-up")
        up.start()
        head = b""
        try:
            while True:
                data = back.recv(65536)
                if not data:
                    break
                if head is not None:
                    head += data[:8192]
                    if b"\r\n\r\n" in head or len(head) >= 8192:
                        _log_head(kind, head)
                        head = None
                sock.sendall(data)
        except OSError:
            pass
        finally:
            # The streaming server hung up (after Close 1000): so does the API
            # server, at once, as the real proxy does.
            _close(sock)
            try:
                back.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            up.join(5)
            back.close()
            with _live_lock:
                _live.discard(sock)
                _live.discard(back)


def _log_head(kind, head):
    """One line per session in server.log: what the real server answered
    (the tests read the negotiated protocol from it)."""
    lines = head.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    proto = None
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        if k.strip().lower() == "sec-websocket-protocol":
            proto = v.strip()
    log.info("cri splice %s: %s; protocol %s", kind, lines[0],
             "(none)" if proto is None else repr(proto))


def _pump_up(rfile, back):
    try:
        while True:
            data = rfile.read1(65536)
            if not data:
                break
            back.sendall(data)
    except (OSError, ValueError):
        pass
    try:
        back.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def _close(sock):
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except (OSError, ValueError):
        pass
    try:
        sock.close()
    except OSError:
        pass


def drop_all():
    """Cut every spliced connection (the fixture's /_fixture/drop)."""
    with _live_lock:
        socks = list(_live)
    for s in socks:
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    return len(socks)
