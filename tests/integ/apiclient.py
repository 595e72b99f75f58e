"""What the suites use to talk to either backend's API server: REST with a
bearer token over the backend's TLS, and kubectl with its kubeconfig.
fixture.Fixture and cluster_backend.ClusterBackend both inherit it; they set
port, ssl, token, kubeconfig, state and kubectl_bin.  Standard library only.
"""

import http.client
import json
import os
import subprocess


class ApiClient:
    kubectl_timeout = 30

    def request(self, method, path, headers=None, body=None, auth=True, timeout=20):
        """-> (status, headers dict with lower-case names, body bytes)."""
        c = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ssl,
                                        timeout=timeout)
        h = dict(headers or {})
        if auth is True:
            h["Authorization"] = "Bearer " + self.token
        elif isinstance(auth, str):
            h["Authorization"] = "Bearer " + auth
        try:
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            data = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, data
        finally:
            c.close()

    def get(self, path, **kw):
        st, _, body = self.request("GET", path, **kw)
        try:
            return st, json.loads(body)
        except ValueError:
            return st, body

    def kubectl(self, *args, context=None, input=None, timeout=None):
        cmd = [self.kubectl_bin, "--kubeconfig", self.kubeconfig]
        if context:
            cmd += ["--context", context]
        cmd += list(args)
        env = dict(os.environ, KUBECACHEDIR=os.path.join(self.state, "kubecache"),
                   HOME=self.state)
        return subprocess.run(cmd, input=input, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=timeout or self.kubectl_timeout,
                              env=env, stdin=None if input is not None else subprocess.DEVNULL)
