package main

// The cluster: namespaces and pods from a cluster file in the fixture's
// schema, the Pod objects the API serves for them (every pod Running, every
// container running), and each container's local side: its main process,
// started on first attach, and a TCP server per declared port.

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"sort"
	"sync"
	"syscall"
	"time"
)

type portSpec struct {
	ContainerPort int32  `json:"containerPort"`
	Serve         string `json:"serve"`
}

type containerSpec struct {
	Name    string     `json:"name"`
	Image   string     `json:"image"`
	Command []string   `json:"command"`
	Stdin   bool       `json:"stdin"`
	TTY     bool       `json:"tty"`
	Ports   []portSpec `json:"ports"`
}

type podSpec struct {
	Namespace  string            `json:"namespace"`
	Name       string            `json:"name"`
	Labels     map[string]string `json:"labels"`
	Containers []containerSpec   `json:"containers"`
}

type clusterFile struct {
	Namespaces []struct {
		Name string `json:"name"`
	} `json:"namespaces"`
	Pods []podSpec `json:"pods"`
}

type container struct {
	spec  containerSpec
	mu    sync.Mutex
	main  *mainProc          // started on first attach
	ports map[int32]net.Addr // containerPort -> local listener
	lns   []net.Listener
}

type pod struct {
	spec       podSpec
	uid        string
	obj        map[string]interface{}
	containers map[string]*container
}

type cluster struct {
	namespaces []string
	nsObj      map[string]map[string]interface{}
	pods       map[string]*pod // "ns/name"
	podKeys    map[string][]string
}

var started = time.Now().UTC().Format(time.RFC3339)

func loadCluster(path string) (*cluster, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f clusterFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, err
	}
	cl := &cluster{nsObj: map[string]map[string]interface{}{}, pods: map[string]*pod{},
		podKeys: map[string][]string{}}
	for _, n := range f.Namespaces {
		cl.addNamespace(n.Name)
	}
	for i, ps := range f.Pods {
		if ps.Namespace == "" || ps.Name == "" || len(ps.Containers) == 0 {
			return nil, fmt.Errorf("pod %d: namespace, name and containers are required", i)
		}
		cl.addNamespace(ps.Namespace)
		p := &pod{spec: ps, uid: fmt.Sprintf("00000000-0000-4000-8000-%012d", i+1),
			containers: map[string]*container{}}
		for _, cs := range ps.Containers {
			c := &container{spec: cs, ports: map[int32]net.Addr{}}
			if err := c.listen(); err != nil {
				return nil, fmt.Errorf("pod %s/%s: %v", ps.Namespace, ps.Name, err)
			}
			p.containers[cs.Name] = c
		}
		p.obj = podObject(p)
		key := ps.Namespace + "/" + ps.Name
		cl.pods[key] = p
		cl.podKeys[ps.Namespace] = append(cl.podKeys[ps.Namespace], ps.Name)
	}
	sort.Strings(cl.namespaces)
	for ns := range cl.podKeys {
		sort.Strings(cl.podKeys[ns])
	}
	return cl, nil
}

func (cl *cluster) addNamespace(name string) {
	if _, ok := cl.nsObj[name]; ok {
		return
	}
	cl.namespaces = append(cl.namespaces, name)
	cl.nsObj[name] = map[string]interface{}{
		"kind": "Namespace", "apiVersion": "v1",
		"metadata": map[string]interface{}{"name": name, "uid": "ns-" + name,
			"resourceVersion": "1", "creationTimestamp": started},
		"spec":   map[string]interface{}{"finalizers": []string{"kubernetes"}},
		"status": map[string]interface{}{"phase": "Active"},
	}
}

func podObject(p *pod) map[string]interface{} {
	var specs, statuses []interface{}
	for _, cs := range p.spec.Containers {
		c := map[string]interface{}{"name": cs.Name, "image": cs.Image,
			"command": cs.Command, "stdin": cs.Stdin, "tty": cs.TTY,
			"imagePullPolicy": "IfNotPresent"}
		if len(cs.Ports) > 0 {
			var ports []interface{}
			for _, pt := range cs.Ports {
				ports = append(ports, map[string]interface{}{"containerPort": pt.ContainerPort,
					"protocol": "TCP"})
			}
			c["ports"] = ports
		}
		specs = append(specs, c)
		statuses = append(statuses, map[string]interface{}{
			"name": cs.Name, "ready": true, "started": true, "restartCount": 0,
			"image": cs.Image, "imageID": "", "containerID": "ref://" + p.uid + "/" + cs.Name,
			"state": map[string]interface{}{"running": map[string]interface{}{"startedAt": started}},
		})
	}
	meta := map[string]interface{}{"name": p.spec.Name, "namespace": p.spec.Namespace,
		"uid": p.uid, "resourceVersion": "1", "creationTimestamp": started}
	if len(p.spec.Labels) > 0 {
		meta["labels"] = p.spec.Labels
	}
	cond := func(t string) map[string]interface{} {
		return map[string]interface{}{"type": t, "status": "True", "lastProbeTime": nil,
			"lastTransitionTime": started}
	}
	return map[string]interface{}{
		"kind": "Pod", "apiVersion": "v1", "metadata": meta,
		"spec": map[string]interface{}{"containers": specs, "restartPolicy": "Always",
			"nodeName": "ref-node", "dnsPolicy": "ClusterFirst"},
		"status": map[string]interface{}{"phase": "Running", "hostIP": "127.0.0.1",
			"podIP": "127.0.0.1", "startTime": started, "qosClass": "BestEffort",
			"conditions": []interface{}{cond("Initialized"), cond("Ready"),
				cond("ContainersReady"), cond("PodScheduled")},
			"containerStatuses": statuses},
	}
}

func (cl *cluster) container(ns, name, cname string) (*pod, *container, error) {
	p := cl.pods[ns+"/"+name]
	if p == nil {
		return nil, nil, fmt.Errorf("pod %s/%s not found", ns, name)
	}
	if cname == "" {
		cname = p.spec.Containers[0].Name
	}
	c := p.containers[cname]
	if c == nil {
		return nil, nil, fmt.Errorf("container %s is not valid for pod %s", cname, name)
	}
	return p, c, nil
}

func (cl *cluster) stop() {
	for _, p := range cl.pods {
		for _, c := range p.containers {
			c.mu.Lock()
			if c.main != nil {
				c.main.cmd.Process.Kill()
			}
			c.mu.Unlock()
		}
	}
}

// ---- ports ------------------------------------------------------------------

// listen starts a local TCP server per declared port: "echo" sends every
// byte back, anything else ("sink") reads and discards.
func (c *container) listen() error {
	for _, pt := range c.spec.Ports {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		c.ports[pt.ContainerPort] = ln.Addr()
		c.lns = append(c.lns, ln)
		echo := pt.Serve == "echo"
		go func() {
			for {
				conn, err := ln.Accept()
				if err != nil {
					return
				}
				go servePort(conn, echo)
			}
		}()
	}
	return nil
}

func servePort(conn net.Conn, echo bool) {
	defer conn.Close()
	buf := make([]byte, 1<<20)
	if !echo {
		io.CopyBuffer(io.Discard, conn, buf)
		return
	}
	io.CopyBuffer(conn, conn.(*net.TCPConn), buf)
	conn.(*net.TCPConn).CloseWrite()
}

// ---- the container's main process, for attach -----------------------------------

// mainProc is the container's command with its stdout fanned out to every
// attached client (a slow client slows the others, as with one pipe).
type mainProc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	mu    sync.Mutex
	outs  map[io.Writer]chan error
}

func (c *container) attachTarget() (*mainProc, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.main != nil {
		return c.main, nil
	}
	argv := c.spec.Command
	if len(argv) == 0 {
		argv = []string{"sleep", "infinity"}
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	r, w, err := bigPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return nil, err
	}
	w.Close()
	m := &mainProc{cmd: cmd, stdin: in, outs: map[io.Writer]chan error{}}
	go m.fanOut(r)
	c.main = m
	return m, nil
}

func (m *mainProc) fanOut(r *os.File) {
	buf := make([]byte, 1<<20)
	for {
		n, err := r.Read(buf)
		m.mu.Lock()
		for w, done := range m.outs {
			if n > 0 {
				if _, werr := w.Write(buf[:n]); werr != nil {
					delete(m.outs, w)
					done <- werr
				}
			}
			if err != nil {
				delete(m.outs, w)
				done <- err
			}
		}
		m.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// subscribe: w receives the output from now on; the channel says when it
// stopped (the client went away or the process ended).
func (m *mainProc) subscribe(w io.Writer) chan error {
	done := make(chan error, 1)
	m.mu.Lock()
	m.outs[w] = done
	m.mu.Unlock()
	return done
}

func (m *mainProc) unsubscribe(w io.Writer) {
	m.mu.Lock()
	delete(m.outs, w)
	m.mu.Unlock()
}
