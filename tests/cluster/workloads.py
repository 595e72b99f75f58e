"""The workloads of the real test cluster, as a user would give them to kubectl.

The pods are those of the fixture's demo cluster (tests/fixture/cluster.json),
translated into real Pod manifests so that one integration suite can run
against either backend and find the same names: every container runs the
busybox test image with `imagePullPolicy: Never` (the machine is offline),
and what the fixture serves itself on a port (`"serve"`) is served inside
the pod by a busybox server started in front of the container's own command
(httpd for http:www, nc for echo and sink; "refuse" has nothing listening).
Fixture-only knobs are mapped to what a kubelet really does: a pod that must
never start keeps an image that is not there (ErrImageNeverPull), a crashing
container restarts under the pod's restartPolicy.

On top of the fixture's pods come what only a real control plane runs: a
Deployment with two replicas behind a Service (its endpoints come from the
EndpointSlice controller).
"""

import json
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLUSTER_JSON = os.path.join(ROOT, "tests", "fixture", "cluster.json")
WWW = os.path.join(ROOT, "tests", "fixture", "www")
IMAGE = "docker.io/podfs/busybox:1"

# The servers started in front of a container's command, by "serve" kind.
SERVERS = {
    "http:www": "httpd -p %d -h /www;",
    "echo": "nc -ll -p %d -e cat &",
    "sink": "nc -ll -p %d -e sh -c 'cat >/dev/null' &",
}


def www_files():
    """The fixture's www/ tree, for the test image's /www (busybox httpd)."""
    out = {}
    for base, _, files in os.walk(WWW):
        for f in files:
            p = os.path.join(base, f)
            with open(p, "rb") as fh:
                out[os.path.join("www", os.path.relpath(p, WWW))] = fh.read()
    return out


def _container(c, start=True):
    servers = []
    ports = []
    for p in c.get("ports", []):
        ports.append({"containerPort": p["containerPort"], "protocol": "TCP"})
        tmpl = SERVERS.get(p.get("serve", ""))
        if tmpl:
            servers.append(tmpl % p["containerPort"])
    command = list(c["command"])
    if servers:
        # `exec "$0" "$@"` keeps the original command the container's main
        # process, with its own arguments untouched.
        command = ["sh", "-c", " ".join(servers) + ' exec "$0" "$@"'] + command
    out = {"name": c["name"], "image": IMAGE if start else c["image"],
           "imagePullPolicy": "Never", "command": command}
    if ports:
        out["ports"] = ports
    for k in ("stdin", "stdinOnce", "tty"):
        if k in c:
            out[k] = c[k]
    return out


def pod_manifest(namespace, p):
    """A fixture cluster pod definition -> a v1 Pod manifest."""
    start = p.get("fixture", {}).get("start", True)
    spec = {"containers": [_container(c, start) for c in p["containers"]],
            "terminationGracePeriodSeconds": 1,
            "automountServiceAccountToken": False,
            "enableServiceLinks": False}
    if p.get("initContainers"):
        spec["initContainers"] = [_container(c) for c in p["initContainers"]]
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": p["name"], "namespace": namespace,
                         "labels": p.get("labels", {})},
            "spec": spec}


def fixture_cluster(path=CLUSTER_JSON):
    """-> (namespace manifests, pod manifests) of a fixture cluster file."""
    with open(path) as f:
        d = json.load(f)
    nss = [{"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": n["name"], "labels": n.get("labels", {})}}
           for n in d.get("namespaces", [])]
    pods = [pod_manifest(p["namespace"], p) for p in d.get("pods", [])]
    return nss, pods


def extras():
    """The Deployment and Service that only a real control plane can run."""
    labels = {"app": "hello-deploy"}
    deploy = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "hello-deploy", "namespace": "default"},
        "spec": {"replicas": 2, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels},
                              "spec": {"terminationGracePeriodSeconds": 1,
                                       "automountServiceAccountToken": False,
                                       "enableServiceLinks": False,
                                       "containers": [_container({
                                           "name": "web", "image": IMAGE,
                                           "command": ["sleep", "infinity"],
                                           "ports": [{"containerPort": 8080,
                                                      "serve": "http:www"}]})]}}}}
    svc = {"apiVersion": "v1", "kind": "Service",
           "metadata": {"name": "hello-svc", "namespace": "default"},
           "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": 8080}]}}
    return [deploy, svc]


def rbac(user, namespace="demo"):
    """The read-only user: get/list/watch on pods and pods/log, nothing else."""
    return [
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
         "metadata": {"name": "pod-reader", "namespace": namespace},
         "rules": [{"apiGroups": [""], "resources": ["pods", "pods/log"],
                    "verbs": ["get", "list", "watch"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": {"name": "pod-reader", "namespace": namespace},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                     "name": "pod-reader"},
         "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User",
                       "name": user}]},
    ]


def as_list(objs):
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": objs})
