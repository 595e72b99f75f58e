"""The fixture API server, checked by a client nobody here wrote: kubectl 1.32.

If kubectl accepts the fixture (discovery, tables, pagination, logs, delete,
auth failures), podfs meeting it is meaningful; the few raw-HTTP checks cover
what kubectl cannot show (Status bodies, watch, expired continue tokens, the
control endpoint).  Prints "test_fixture_kubectl: N passed, N failed" last.
"""

import http.client
import json
import os
import pty
import select
import subprocess
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture import Fixture, KUBECTL  # noqa: E402

FX = None


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def ok(r, what):
    check(r.returncode == 0, "%s: exit %d: %s" % (what, r.returncode, r.stderr.decode()[-500:]))
    return r.stdout.decode()


def test_get_ns():
    out = ok(FX.kubectl("get", "ns"), "get ns")
    for ns in ("default", "demo", "kube-system", "big"):
        check("\n%s " % ns in out, "namespace %s missing in:\n%s" % (ns, out))
    check("Active" in out, out)


def test_get_pods_all_namespaces():
    out = ok(FX.kubectl("get", "pods", "-A"), "get pods -A")
    lines = out.splitlines()
    check(lines[0].split()[:3] == ["NAMESPACE", "NAME", "READY"], lines[0])
    rows = {tuple(line.split()[:2]): line.split() for line in lines[1:]}
    check(("demo", "web") in rows and ("default", "counter") in rows, "pods missing")
    check(rows[("demo", "web")][3] == "Running", rows[("demo", "web")])
    check(rows[("demo", "multi")][2] == "2/2", rows[("demo", "multi")])
    check(rows[("demo", "pending")][3] == "ContainerCreating", rows[("demo", "pending")])
    check(len(rows) > 11000, "expected the synthetic pods too, got %d" % len(rows))


def test_get_pods_chunked():
    FX.reset_stats()
    t0 = time.time()
    # kubectl throttles itself to 5 requests/s after a burst of 10, so this
    # namespace holds 1000 pods (20 pages); huge (10000) is listed raw below.
    out = ok(FX.kubectl("get", "pods", "-n", "big", "--chunk-size=50", "-o", "name",
                        timeout=60), "get pods --chunk-size=50")
    names = out.split()
    check(len(names) == 1000 and len(set(names)) == 1000, "got %d names" % len(names))
    st = FX.stats()
    check(st["by_category"].get("pod_list", 0) >= 20, "pages: %s" % st["by_category"])
    check(st["pod_requests"] == 0, "per-pod requests during a list: %s" % st["by_category"])
    check(time.time() - t0 < 15, "too slow")


def test_list_10000_quickly():
    t0 = time.time()
    n, cont, rvs = 0, "", set()
    while True:
        st, page = FX.get("/api/v1/namespaces/huge/pods?limit=500" +
                          ("&continue=" + cont if cont else ""))
        check(st == 200, page)
        n += len(page["items"])
        rvs.add(page["metadata"]["resourceVersion"])
        cont = page["metadata"].get("continue")
        if not cont:
            break
    check(n == 10000 and len(rvs) == 1, (n, rvs))
    check(time.time() - t0 < 10, "listing 10000 pods took %.1fs" % (time.time() - t0))


def test_get_pod_json_matches_rest():
    out = ok(FX.kubectl("get", "pod", "web", "-o", "json"), "get pod -o json")
    theirs = json.loads(out)
    st, ours = FX.get("/api/v1/namespaces/demo/pods/web")
    check(st == 200, st)
    check(theirs == ours, "kubectl's object differs from GET:\n%s\n%s" % (theirs, ours))
    check(ours["status"]["podIP"] == "127.0.0.1", ours["status"])
    check(ours["status"]["containerStatuses"][0]["state"].get("running"), ours["status"])


def test_list_has_no_per_pod_requests():
    FX.reset_stats()
    ok(FX.kubectl("get", "pods", "-o", "wide"), "get pods -o wide")
    st = FX.stats()
    check(st["pod_requests"] == 0 and st["by_category"].get("pod_list") == 1, st)


def test_logs():
    out = ok(FX.kubectl("logs", "web"), "logs web")
    check(out.splitlines()[0] == "web: serving index.html on :80", out)


def test_logs_tail():
    out = ok(FX.kubectl("logs", "ticker", "--tail=2"), "logs --tail=2")
    lines = out.splitlines()
    check(len(lines) == 2 and out.endswith("\n"), repr(out))
    check(all(line.startswith("tick ") or line.startswith("ticker: ") for line in lines), out)


def test_logs_container():
    out = ok(FX.kubectl("logs", "multi", "-c", "sidecar"), "logs -c sidecar")
    check(out == "sidecar: started\n", repr(out))
    # stdout and stderr are separate pipes: their relative order is not fixed.
    out = ok(FX.kubectl("logs", "multi", "-c", "app"), "logs -c app")
    check(sorted(out.splitlines()) == ["app: ready", "app: started", "app: warming up"],
          repr(out))
    out = ok(FX.kubectl("logs", "multi", "-c", "init"), "logs -c init")
    check(out == "init: preparing\ninit: done\n", repr(out))
    r = FX.kubectl("logs", "multi", "-c", "nope")
    check(r.returncode != 0 and b"container nope is not valid for pod multi" in r.stderr,
          r.stderr)


def test_logs_previous():
    out = ok(FX.kubectl("logs", "crashy", "--previous"), "logs --previous")
    check("crashy: starting" in out and "crashy: config file missing" in out, out)
    r = FX.kubectl("logs", "web", "--previous")
    check(r.returncode != 0 and
          b'previous terminated container "web" in pod "web" not found' in r.stderr, r.stderr)
    st, pod = FX.get("/api/v1/namespaces/demo/pods/crashy")
    cs = pod["status"]["containerStatuses"][0]
    check(cs["restartCount"] >= 1 and cs["lastState"].get("terminated"), cs)


def test_log_errors_raw():
    st, body = FX.get("/api/v1/namespaces/demo/pods/multi/log")
    check(st == 400 and body["reason"] == "BadRequest" and body["message"] ==
          "a container name must be specified for pod multi, choose one of: "
          "[init app sidecar]", body)
    st, body = FX.get("/api/v1/namespaces/demo/pods/ticker/log?tailLines=-1")
    check(st == 422 and body["reason"] == "Invalid" and body["kind"] == "Status", body)
    st, body = FX.get("/api/v1/namespaces/demo/pods/ticker/log?limitBytes=0")
    check(st == 422, body)
    st, body = FX.get("/api/v1/namespaces/demo/pods/pending/log")
    check(st == 400 and "is waiting to start: ContainerCreating" in body["message"], body)
    st, body = FX.get("/api/v1/namespaces/demo/pods/nope/log")
    check(st == 404 and body["message"] == 'pods "nope" not found' and
          body["details"] == {"name": "nope", "kind": "pods"}, body)
    st, body = FX.get("/api/v1/namespaces/demo/pods/ticker/log?tailLines=3&limitBytes=4")
    check(st == 200 and body == b"tick", body)


def test_delete_pod():
    t0 = time.time()
    out = ok(FX.kubectl("delete", "pod", "counter", "-n", "default"), "delete pod")
    check('pod "counter" deleted' in out, out)
    check(time.time() - t0 < 10, "delete took too long")
    r = FX.kubectl("get", "pod", "counter", "-n", "default")
    check(r.returncode != 0 and b'pods "counter" not found' in r.stderr, r.stderr)


def test_cert_context():
    out = ok(FX.kubectl("get", "pods", context="fixture-cert"), "cert context")
    check("ticker" in out, out)


def test_limited_context():
    r = FX.kubectl("get", "ns", context="fixture-limited")
    check(r.returncode != 0 and
          b'namespaces is forbidden: User "fixture-limited" cannot list resource '
          b'"namespaces" in API group "" at the cluster scope' in r.stderr, r.stderr)
    out = ok(FX.kubectl("get", "pods", context="fixture-limited"), "limited get pods")
    check("web" in out, out)
    r = FX.kubectl("get", "pods", "-n", "default", context="fixture-limited")
    check(r.returncode != 0 and b"Forbidden" in r.stderr, r.stderr)


def _kubectl_on_pty(args, answers, timeout=20):
    """kubectl prompts for a username/password when a user has no credentials
    at all; answer on a pty (it reads the password from a terminal)."""
    m, s = pty.openpty()
    env = dict(os.environ, HOME=FX.state, KUBECACHEDIR=os.path.join(FX.state, "kubecache"))
    p = subprocess.Popen([KUBECTL, "--kubeconfig", FX.kubeconfig] + args, stdin=s, stdout=s,
                         stderr=s, env=env, start_new_session=True)
    os.close(s)
    buf, t0, done = b"", time.time(), {}
    try:
        while time.time() - t0 < timeout:
            r, _, _ = select.select([m], [], [], 0.2)
            if r:
                try:
                    d = os.read(m, 4096)
                except OSError:
                    break
                if not d:
                    break
                buf += d
                for prompt, ans in answers:   # it may ask more than once
                    if buf.count(prompt) > done.get(prompt, 0):
                        os.write(m, ans)
                        done[prompt] = buf.count(prompt)
            elif p.poll() is not None:
                break
    finally:
        if p.poll() is None:
            p.kill()
        p.wait()
        os.close(m)
    return p.returncode, buf


def test_anon_context():
    st, hdr, body = FX.request("GET", "/api/v1/namespaces/demo/pods", auth=False)
    obj = json.loads(body)
    check(st == 401 and hdr["content-type"] == "application/json" and obj == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": "Unauthorized", "reason": "Unauthorized", "code": 401}, (st, body))
    rc, out = _kubectl_on_pty(["--context", "fixture-anon", "get", "pods"],
                              [(b"Username:", b"anon\n"), (b"Password:", b"\n")])
    check(rc != 0 and b"You must be logged in to the server" in out, out)


def test_watch():
    FX.set(bookmark_ms=500)
    c = http.client.HTTPSConnection("127.0.0.1", FX.port, context=FX.ssl, timeout=10)
    c.request("GET", "/api/v1/namespaces/demo/pods?watch=true&timeoutSeconds=3"
              "&allowWatchBookmarks=true",
              headers={"Authorization": "Bearer " + FX.token})
    r = c.getresponse()
    check(r.status == 200 and r.getheader("Transfer-Encoding") == "chunked", r.status)
    events = []
    restarted = False
    while True:
        line = r.readline()
        if not line:
            break
        ev = json.loads(line)
        events.append(ev)
        if not restarted and ev["type"] == "ADDED" and ev["object"]["metadata"]["name"] == "web":
            pass
        if not restarted and len([e for e in events if e["type"] == "ADDED"]) >= 6:
            FX.restart_pod("demo", "multi")
            restarted = True
    c.close()
    added = [e["object"]["metadata"]["name"] for e in events if e["type"] == "ADDED"]
    check({"web", "echo", "ticker", "multi", "crashy", "pending"} <= set(added), added)
    check(all(e["object"]["kind"] == "Pod" for e in events if e["type"] != "BOOKMARK"), events)
    mod = [e for e in events if e["type"] == "MODIFIED" and
           e["object"]["metadata"]["name"] == "multi"]
    check(mod, [e["type"] for e in events])
    check(any(e["type"] == "BOOKMARK" for e in events), [e["type"] for e in events])
    FX.set(bookmark_ms="")
    # Split into 7-byte chunks the stream still parses line by line.
    FX.set(watch_split=7)
    st, hdr, body = FX.request("GET", "/api/v1/namespaces/demo/pods?watch=1&timeoutSeconds=1")
    FX.set(watch_split="")
    check(st == 200 and len([json.loads(x) for x in body.splitlines()]) >= 7, body[:300])
    # A resourceVersion from before the server's history: 410 inside a 200 stream.
    st, hdr, body = FX.request("GET", "/api/v1/namespaces/demo/pods?watch=1&resourceVersion=5")
    ev = json.loads(body.splitlines()[0])
    check(st == 200 and ev["type"] == "ERROR" and ev["object"]["code"] == 410, body)


def test_kubectl_watch_sees_admin_changes():
    """kubectl get pods -w follows pods made and deleted through the admin
    endpoint (/_fixture/create, DELETE), as it would on a real server."""
    p = subprocess.Popen([KUBECTL, "--kubeconfig", FX.kubeconfig, "get", "pods", "-n", "demo",
                          "-w", "--output-watch-events"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, start_new_session=True)
    try:
        time.sleep(2)
        FX.control("create", ns="demo", pod="kw", running="0")
        FX.control("modify", ns="demo", pod="kw", running="1")
        FX.request("DELETE", "/api/v1/namespaces/demo/pods/kw")
        time.sleep(2)
    finally:
        p.terminate()
        out, err = p.communicate(timeout=10)
    lines = [ln.split() for ln in out.decode().splitlines()]
    kw = [ln[0] for ln in lines if len(ln) > 1 and ln[1] == "kw"]
    check(kw == ["ADDED", "MODIFIED", "DELETED"], (out.decode(), err.decode()[-500:]))
    check(any(ln[:2] == ["ADDED", "web"] for ln in lines), out.decode())
    st, _ = FX.get("/api/v1/namespaces/demo/pods/kw")
    check(st == 404, st)


def test_pagination_expired():
    st, page = FX.get("/api/v1/namespaces/big/pods?limit=100")
    check(st == 200 and len(page["items"]) == 100 and page["metadata"]["continue"] and
          page["metadata"]["remainingItemCount"] == 900, page["metadata"])
    tok = page["metadata"]["continue"]
    st, page2 = FX.get("/api/v1/namespaces/big/pods?limit=100&continue=" + tok)
    check(st == 200 and page2["metadata"]["resourceVersion"] == page["metadata"]
          ["resourceVersion"] and page2["items"][0]["metadata"]["name"] == "pod-00100",
          page2["metadata"])
    check("kind" not in page2["items"][0], "list items must not carry kind")
    FX.set(expire_continue=1)
    st, body = FX.get("/api/v1/namespaces/big/pods?limit=100&continue=" + tok)
    check(st == 410 and body["reason"] == "Expired", body)
    st, body = FX.get("/api/v1/namespaces/demo/pods?labelSelector=app%3Dweb")
    check([p["metadata"]["name"] for p in body["items"]] == ["web"], body)
    st, body = FX.get("/api/v1/pods?fieldSelector=metadata.name%3Dticker")
    check([p["metadata"]["name"] for p in body["items"]] == ["ticker"], body)


def test_follow_and_drop():
    c = http.client.HTTPSConnection("127.0.0.1", FX.port, context=FX.ssl, timeout=10)
    c.request("GET", "/api/v1/namespaces/demo/pods/ticker/log?follow=true&tailLines=1",
              headers={"Authorization": "Bearer " + FX.token})
    r = c.getresponse()
    check(r.status == 200, r.status)
    first = r.readline()
    second = r.readline()   # arrives only while following
    check(first.startswith(b"tick") and second.startswith(b"tick"), (first, second))
    d = FX.drop()
    check(d["dropped"] >= 1, d)
    try:
        while r.read(4096):
            pass
        cut = False
    except (http.client.IncompleteRead, OSError, http.client.HTTPException):
        cut = True
    c.close()
    check(cut, "follow stream ended cleanly instead of being cut")


def test_exec_errors_before_upgrade():
    r = FX.kubectl("exec", "nope", "--", "true")
    check(r.returncode != 0 and b'pods "nope" not found' in r.stderr, r.stderr)
    st, body = FX.get("/api/v1/namespaces/demo/pods/multi/exec?command=true&container=x"
                      "&stdout=true")
    check(st == 400 and body["message"] == "container x is not valid for pod multi", body)
    st, body = FX.get("/api/v1/namespaces/demo/pods/web/exec?command=true&stdout=true",
                      auth="wrong")
    check(st == 401 and body["reason"] == "Unauthorized", body)


def test_proxy():
    st, hdr, body = FX.request("GET", "/api/v1/namespaces/demo/pods/web/proxy/index.html")
    check(st == 200 and b"Hello from the fixture cluster" in body, (st, body[:200]))
    st, hdr, body = FX.request("GET", "/api/v1/namespaces/demo/pods/web:80/proxy")
    check(st == 301 and hdr["location"].endswith("/web:80/proxy/"), (st, hdr))
    st, body = FX.get("/api/v1/namespaces/demo/pods/db/proxy/")
    check(st == 503 and "connection refused" in body["message"], body)


def test_garbage_and_stats():
    FX.garbage("list")
    st, body = FX.get("/api/v1/namespaces/demo/pods")
    check(st == 200 and isinstance(body, bytes), "expected a malformed body")
    st, body = FX.get("/api/v1/namespaces/demo/pods")
    check(st == 200 and body["kind"] == "PodList", body)
    FX.reset_stats()
    FX.get("/api/v1/namespaces/demo/pods/web")
    FX.get("/version")
    s = FX.stats()
    check(s["total"] == 2 and s["pod_requests"] == 1 and
          s["by_path"] == {"/api/v1/namespaces/demo/pods/web": 1, "/version": 1}, s)


def test_restart_same_port():
    port = FX.port
    FX.restart()
    check(FX.port == port, "port changed")
    out = ok(FX.kubectl("get", "pods"), "get pods after restart")
    check("ticker" in out, out)


def main():
    global FX
    tests = [(n, f) for n, f in globals().items() if n.startswith("test_") and callable(f)]
    passed = failed = 0
    FX = Fixture(synthetic=["big:1000", "huge:10000"])
    try:
        FX.start()
        for name, fn in tests:
            t0 = time.time()
            try:
                fn()
                passed += 1
                print("ok   %s (%.1fs)" % (name, time.time() - t0), flush=True)
            except Exception:
                failed += 1
                print("FAIL %s" % name, flush=True)
                traceback.print_exc(file=sys.stdout)
    except Exception:
        failed += 1
        traceback.print_exc(file=sys.stdout)
    finally:
        FX.close()
    print("test_fixture_kubectl: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
