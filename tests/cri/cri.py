"""A small CRI (runtime.v1) client over gRPC, for the containerd tests.

Uses Debian's python3-grpcio with generic unary calls (identity
serializers) and the hand-made protobuf messages of pb.py, so no generated
code and no protoc.  Field numbers are those of k8s.io/cri-api
pkg/apis/runtime/v1/api.proto.  Only what the tests need: version, images,
pod sandboxes, containers, and the three streaming calls (Exec, Attach,
PortForward) that return a URL on the runtime's streaming server.
"""

import pb

RUNTIME = "/runtime.v1.RuntimeService/"
IMAGES = "/runtime.v1.ImageService/"

# NamespaceMode
POD, CONTAINER, NODE = 0, 1, 2


class CriError(Exception):
    pass


class Client:
    def __init__(self, sock, timeout=30):
        import grpc     # only the CRI tests need it (python3-grpcio)
        self.grpc = grpc
        self.sock = sock
        self.timeout = timeout
        self.chan = grpc.insecure_channel("unix://" + sock)

    def close(self):
        self.chan.close()

    def call(self, method, fields, timeout=None):
        fn = self.chan.unary_unary(method, request_serializer=None,
                                   response_deserializer=None)
        try:
            raw = fn(pb.encode(fields), timeout=timeout or self.timeout)
        except self.grpc.RpcError as e:
            raise CriError("%s: %s: %s" % (method.rsplit("/", 1)[1], e.code().name,
                                           e.details())) from None
        return pb.decode(raw)

    # --- runtime ------------------------------------------------------------

    def version(self, timeout=None):
        m = self.call(RUNTIME + "Version", [(1, "v1")], timeout)
        return {"runtime_name": pb.string(m, 2), "runtime_version": pb.string(m, 3),
                "runtime_api_version": pb.string(m, 4)}

    def image_present(self, ref):
        m = self.call(IMAGES + "ImageStatus", [(1, [(1, ref)])])
        return bool(m.get(1))

    @staticmethod
    def sandbox_config(name, namespace, uid, log_dir, host_network):
        ns_opts = [(1, NODE if host_network else POD), (2, CONTAINER), (3, POD)]
        return [
            (1, [(1, name), (2, uid), (3, namespace), (4, 0)]),    # metadata
            (2, "" if host_network else name),                       # hostname
            (3, log_dir),                                            # log_directory
            (6, {"io.kubernetes.pod.name": name,
                 "io.kubernetes.pod.namespace": namespace}),         # labels
            (8, [(2, [(1, ns_opts)])]),     # linux.security_context.namespace_options
        ]

    def run_pod_sandbox(self, config):
        m = self.call(RUNTIME + "RunPodSandbox", [(1, config)], timeout=60)
        return pb.string(m, 1)

    def stop_pod_sandbox(self, sid):
        self.call(RUNTIME + "StopPodSandbox", [(1, sid)], timeout=60)

    def remove_pod_sandbox(self, sid):
        self.call(RUNTIME + "RemovePodSandbox", [(1, sid)], timeout=60)

    def create_container(self, sid, sandbox_config, name, image, command, log_path,
                         host_network, stdin=False, stdin_once=False, tty=False):
        ns_opts = [(1, NODE if host_network else POD), (2, CONTAINER), (3, POD)]
        cfg = [(1, [(1, name), (2, 0)]), (2, [(1, image)])]  # metadata, image
        cfg += [(3, a) for a in command[:1]]                 # command
        cfg += [(4, a) for a in command[1:]]                 # args
        cfg += [(11, log_path), (12, stdin), (13, stdin_once), (14, tty),
                (15, [(2, [(3, ns_opts)])])]      # linux.security_context.namespace_options
        m = self.call(RUNTIME + "CreateContainer", [(1, sid), (2, cfg), (3, sandbox_config)],
                      timeout=60)
        return pb.string(m, 1)

    def start_container(self, cid):
        self.call(RUNTIME + "StartContainer", [(1, cid)], timeout=60)

    def container_state(self, cid):
        """-> (state, exit_code): state 0 created, 1 running, 2 exited, 3 unknown."""
        m = self.call(RUNTIME + "ContainerStatus", [(1, cid)])
        st = pb.decode(pb.first(m, 1, b""))
        return pb.first(st, 3, 0), pb.first(st, 7, 0)

    def list_sandboxes(self):
        m = self.call(RUNTIME + "ListPodSandbox", [])
        return [pb.string(pb.decode(it), 1) for it in m.get(1, [])]

    # --- streaming: each returns the URL on the runtime's streaming server ---

    def exec_url(self, cid, cmd, tty=False, stdin=False, stdout=True, stderr=True):
        f = [(1, cid)] + [(2, a) for a in cmd] + [(3, tty), (4, stdin), (5, stdout),
                                                   (6, stderr)]
        return pb.string(self.call(RUNTIME + "Exec", f), 1)

    def attach_url(self, cid, stdin=False, tty=False, stdout=True, stderr=True):
        f = [(1, cid), (2, stdin), (3, tty), (4, stdout), (5, stderr)]
        return pb.string(self.call(RUNTIME + "Attach", f), 1)

    def port_forward_url(self, sid, ports):
        f = [(1, sid)] + [(2, int(p)) for p in ports]
        return pb.string(self.call(RUNTIME + "PortForward", f), 1)
