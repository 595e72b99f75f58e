package main

// The streaming side, all of it the real Kubernetes server code, in the
// shape of a real cluster: the API handler is the apiserver's (an
// apimachinery UpgradeAwareHandler proxying to the kubelet, with the
// apiserver's StreamTranslatorHandler for WebSocket v5 exec/attach and its
// TunnelingHandler for kubectl's SPDY-over-WebSocket port-forward), and a
// local "kubelet" listener runs the kubelet's remotecommand.ServeExec /
// ServeAttach and portforward.ServePortForward.  This file only supplies
// the local processes and sockets behind them.

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/httpstream/wsstream"
	utilproxy "k8s.io/apimachinery/pkg/util/proxy"
	translator "k8s.io/apiserver/pkg/util/proxy"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/kubelet/pkg/cri/streaming/portforward"
	krc "k8s.io/kubelet/pkg/cri/streaming/remotecommand"
	utilexec "k8s.io/utils/exec"

	remotecommandconsts "k8s.io/apimachinery/pkg/util/remotecommand"
)

const (
	idleTimeout   = 4 * time.Hour
	streamTimeout = 30 * time.Second
	copyBuf       = 1 << 20
	fSetPipeSz    = 1031 // F_SETPIPE_SZ
)

// bigPipe is a pipe of 1 MiB, so a process's output reaches the server in
// large reads (64 KiB pipes would make the server pay per 64 KiB).
func bigPipe() (r, w *os.File, err error) {
	r, w, err = os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	syscall.Syscall(syscall.SYS_FCNTL, w.Fd(), fSetPipeSz, copyBuf)
	return r, w, nil
}

type runtime struct{ cl *cluster }

// ExecInContainer runs cmd as a local process; its exit status is reported
// the kubelet's way (utilexec.ExitError -> NonZeroExitCode status).
func (rt runtime) ExecInContainer(ctx context.Context, name string, uid types.UID, container string,
	cmd []string, in io.Reader, out, errw io.WriteCloser, tty bool,
	resize <-chan remotecommand.TerminalSize, timeout time.Duration) error {
	if len(cmd) == 0 {
		return errors.New("no command")
	}
	c := exec.Command(cmd[0], cmd[1:]...)
	c.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	var copies sync.WaitGroup
	var stdinW *os.File
	if in != nil {
		r, w, err := bigPipe()
		if err != nil {
			return err
		}
		c.Stdin, stdinW = r, w
		defer r.Close()
	}
	var outR, errR *os.File
	for _, x := range []struct {
		dst  io.Writer
		set  *io.Writer
		keep **os.File
	}{{out, &c.Stdout, &outR}, {errw, &c.Stderr, &errR}} {
		if x.dst == nil {
			continue
		}
		r, w, err := bigPipe()
		if err != nil {
			return err
		}
		*x.set, *x.keep = w, r
		defer w.Close()
	}
	if err := c.Start(); err != nil {
		if stdinW != nil {
			stdinW.Close()
		}
		return err
	}
	closeChildEnds(c)
	if stdinW != nil {
		go func() {
			io.CopyBuffer(stdinW, in, make([]byte, copyBuf))
			stdinW.Close()
		}()
	}
	for _, p := range []struct {
		r   *os.File
		dst io.Writer
	}{{outR, out}, {errR, errw}} {
		if p.r == nil {
			continue
		}
		copies.Add(1)
		go func(r *os.File, dst io.Writer) {
			defer copies.Done()
			defer r.Close()
			io.CopyBuffer(onlyWriter{dst}, r, make([]byte, copyBuf))
		}(p.r, p.dst)
	}
	copies.Wait()
	err := c.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.Exited() {
		return utilexec.CodeExitError{Err: err, Code: ee.ExitCode()}
	}
	return err
}

// closeChildEnds closes the parent's copies of the child's pipe ends, so
// the readers see EOF when the process (and its children) are done.
func closeChildEnds(c *exec.Cmd) {
	for _, f := range []interface{}{c.Stdin, c.Stdout, c.Stderr} {
		if file, ok := f.(*os.File); ok {
			file.Close()
		}
	}
}

// onlyWriter hides ReadFrom so io.CopyBuffer really uses the 1 MiB buffer.
type onlyWriter struct{ w io.Writer }

func (o onlyWriter) Write(p []byte) (int, error) { return o.w.Write(p) }

// AttachContainer joins the container's main process: its output from now
// on, and this client's stdin into the process's stdin (never closed: the
// spec's stdinOnce is false).
func (rt runtime) AttachContainer(ctx context.Context, name string, uid types.UID, container string,
	in io.Reader, out, errw io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) error {
	ns, pname, _ := strings.Cut(name, "/")
	_, c, err := rt.cl.container(ns, pname, container)
	if err != nil {
		return err
	}
	m, err := c.attachTarget()
	if err != nil {
		return err
	}
	done := make(chan error, 2)
	if out != nil {
		stopped := m.subscribe(out)
		defer m.unsubscribe(out)
		go func() { done <- <-stopped }()
	}
	if in != nil {
		go func() {
			_, err := io.CopyBuffer(m.stdin, in, make([]byte, 64<<10))
			done <- err
		}()
	}
	if out == nil && in == nil {
		return nil
	}
	<-done
	return nil
}

// PortForward connects the stream to the pod port's local TCP server.
func (rt runtime) PortForward(ctx context.Context, name string, uid types.UID, port int32,
	stream io.ReadWriteCloser) error {
	defer stream.Close()
	ns, pname, _ := strings.Cut(name, "/")
	p, _, err := rt.cl.container(ns, pname, "")
	if err != nil {
		return err
	}
	var addr net.Addr
	for _, c := range p.containers {
		if a, ok := c.ports[port]; ok {
			addr = a
		}
	}
	if addr == nil {
		return errors.New("no such port")
	}
	conn, err := net.Dial("tcp", addr.String())
	if err != nil {
		return err
	}
	defer conn.Close()
	sent := make(chan struct{})
	go func() {
		io.CopyBuffer(onlyWriter{conn}, stream, make([]byte, copyBuf))
		conn.(*net.TCPConn).CloseWrite()
		close(sent)
	}()
	io.CopyBuffer(onlyWriter{stream}, conn, make([]byte, copyBuf))
	<-sent
	return nil
}

// ---- the kubelet ----------------------------------------------------------------

// startKubelet serves /{exec,attach,portforward}/<ns>/<pod>?<query> on a
// plain local listener with the kubelet's streaming handlers; the API side
// proxies to it as an apiserver proxies to a kubelet.
func startKubelet(cl *cluster) (*url.URL, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	k := kubelet{cl: cl, rt: runtime{cl}}
	go http.Serve(ln, k)
	return &url.URL{Scheme: "http", Host: ln.Addr().String()}, nil
}

type kubelet struct {
	cl *cluster
	rt runtime
}

func (k kubelet) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if os.Getenv("REFSERVER_DEBUG") != "" {
		log.Printf("kubelet: %s %s", req.Method, req.URL)
	}
	parts := strings.Split(strings.TrimPrefix(req.URL.Path, "/"), "/")
	if len(parts) != 3 {
		http.NotFound(w, req)
		return
	}
	name := parts[1] + "/" + parts[2]
	p := k.cl.pods[name]
	if p == nil {
		http.NotFound(w, req)
		return
	}
	uid := types.UID(p.uid)
	q := req.URL.Query()
	if parts[0] == "portforward" {
		var opts *portforward.V4Options
		if wsstream.IsWebSocketRequest(req) {
			o, err := portforward.NewV4Options(req)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			opts = o
		}
		portforward.ServePortForward(w, req, k.rt, name, uid, opts, idleTimeout, streamTimeout,
			portforward.SupportedProtocols)
		return
	}
	opts, err := krc.NewOptions(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	protos := remotecommandconsts.SupportedStreamingProtocols
	switch parts[0] {
	case "exec":
		krc.ServeExec(w, req, k.rt, name, uid, q.Get("container"), q["command"], opts,
			idleTimeout, streamTimeout, protos)
	case "attach":
		krc.ServeAttach(w, req, k.rt, name, uid, q.Get("container"), opts, idleTimeout,
			streamTimeout, protos)
	default:
		http.NotFound(w, req)
	}
}

// ---- the apiserver side ------------------------------------------------------------

// serveStream is the apiserver's pods/{exec,attach,portforward} connect
// handler: an upgrade-aware proxy to the kubelet, with the stream
// translator (WebSocket v5 -> SPDY) in front of exec/attach and the SPDY
// tunnel (kubectl port-forward's SPDY in WebSocket) in front of portforward.
func (a *api) serveStream(w http.ResponseWriter, req *http.Request, ns, name, sub string) {
	p := a.cl.pods[ns+"/"+name]
	if p == nil {
		a.notFound(w, "pods", name)
		return
	}
	q := req.URL.Query()
	if sub != "portforward" {
		if _, _, err := a.cl.container(ns, name, q.Get("container")); err != nil {
			a.status(w, http.StatusBadRequest, "BadRequest", err.Error())
			return
		}
	}
	loc := *a.kubelet
	loc.Path = "/" + sub + "/" + ns + "/" + name
	loc.RawQuery = kubeletQuery(q).Encode()
	proxy := utilproxy.NewUpgradeAwareHandler(&loc, http.DefaultTransport, false, true, responder{})
	var h http.Handler
	if sub == "portforward" {
		h = translator.NewTranslatingHandler(proxy, translator.NewTunnelingHandler(proxy),
			wsstream.IsWebSocketRequestWithTunnelingProtocol)
	} else {
		opts := translator.Options{Stdin: qbool(q, "stdin"), Stdout: qbool(q, "stdout"),
			Stderr: qbool(q, "stderr"), Tty: qbool(q, "tty")}
		st := translator.NewStreamTranslatorHandler(&loc, http.DefaultTransport, 0, opts)
		h = translator.NewTranslatingHandler(proxy, st, wsstream.IsWebSocketRequestWithStreamCloseProtocol)
	}
	h.ServeHTTP(w, req)
}

func qbool(q url.Values, k string) bool {
	b, err := strconv.ParseBool(q.Get(k))
	return err == nil && b
}

// kubeletQuery turns the API's options into the kubelet's parameters, as
// the apiserver does (the kubelet reads input=1, not stdin=true).
func kubeletQuery(q url.Values) url.Values {
	out := url.Values{}
	for _, k := range [][2]string{{"stdin", "input"}, {"stdout", "output"}, {"stderr", "error"},
		{"tty", "tty"}} {
		if qbool(q, k[0]) {
			out.Set(k[1], "1")
		}
	}
	for _, k := range []string{"command", "container"} {
		if v, ok := q[k]; ok {
			out[k] = v
		}
	}
	if v, ok := q["ports"]; ok { // PodPortForwardOptions.ports -> the kubelet's port
		out["port"] = v
	}
	return out
}

type responder struct{}

func (responder) Error(w http.ResponseWriter, req *http.Request, err error) {
	http.Error(w, err.Error(), http.StatusBadGateway)
}
