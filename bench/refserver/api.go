package main

// The REST surface: what podfs and kubectl read to find a pod (version,
// discovery, namespaces, pods with limit/continue), bearer-token checked,
// and the streaming subresources handed to streams.go.

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

type api struct {
	cl      *cluster
	token   string
	kubelet *url.URL
}

func (a *api) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Header.Get("Authorization") != "Bearer "+a.token {
		a.status(w, http.StatusUnauthorized, "Unauthorized", "Unauthorized")
		return
	}
	segs := strings.Split(strings.Trim(req.URL.Path, "/"), "/")
	switch strings.Join(segs, "/") {
	case "version":
		a.json(w, map[string]string{"major": "1", "minor": "34", "gitVersion": "v1.34.4-refserver",
			"platform": "linux/amd64"})
		return
	case "api":
		a.json(w, map[string]interface{}{"kind": "APIVersions", "versions": []string{"v1"},
			"serverAddressByClientCIDRs": []interface{}{map[string]string{
				"clientCIDR": "0.0.0.0/0", "serverAddress": req.Host}}})
		return
	case "apis":
		a.json(w, map[string]interface{}{"kind": "APIGroupList", "apiVersion": "v1",
			"groups": []interface{}{}})
		return
	case "api/v1":
		a.json(w, resources())
		return
	case "healthz", "livez", "readyz":
		w.Write([]byte("ok"))
		return
	}
	if len(segs) < 3 || segs[0] != "api" || segs[1] != "v1" || segs[2] != "namespaces" {
		a.status(w, http.StatusNotFound, "NotFound", "the server could not find the requested resource")
		return
	}
	rest := segs[3:]
	switch {
	case len(rest) == 0:
		var items []interface{}
		for _, n := range a.cl.namespaces {
			items = append(items, a.cl.nsObj[n])
		}
		a.list(w, req, "NamespaceList", items)
	case len(rest) == 1:
		if o, ok := a.cl.nsObj[rest[0]]; ok {
			a.json(w, o)
		} else {
			a.notFound(w, "namespaces", rest[0])
		}
	case rest[1] != "pods":
		a.status(w, http.StatusNotFound, "NotFound", "the server could not find the requested resource")
	case len(rest) == 2:
		var items []interface{}
		for _, n := range a.cl.podKeys[rest[0]] {
			items = append(items, a.cl.pods[rest[0]+"/"+n].obj)
		}
		a.list(w, req, "PodList", items)
	case len(rest) == 3:
		if p := a.cl.pods[rest[0]+"/"+rest[2]]; p != nil {
			a.json(w, p.obj)
		} else {
			a.notFound(w, "pods", rest[2])
		}
	case len(rest) == 4 && (rest[3] == "exec" || rest[3] == "attach" || rest[3] == "portforward"):
		a.serveStream(w, req, rest[0], rest[2], rest[3])
	default:
		a.status(w, http.StatusNotFound, "NotFound", "the server could not find the requested resource")
	}
}

// list answers with items[continue:continue+limit] and a continue token
// when more remain (the token is the next index).
func (a *api) list(w http.ResponseWriter, req *http.Request, kind string, items []interface{}) {
	q := req.URL.Query()
	from, _ := strconv.Atoi(q.Get("continue"))
	if from < 0 || from > len(items) {
		from = len(items)
	}
	meta := map[string]interface{}{"resourceVersion": "1"}
	to := len(items)
	if lim, err := strconv.Atoi(q.Get("limit")); err == nil && lim > 0 && from+lim < to {
		to = from + lim
		meta["continue"] = strconv.Itoa(to)
		meta["remainingItemCount"] = len(items) - to
	}
	page := items[from:to]
	if page == nil {
		page = []interface{}{}
	}
	a.json(w, map[string]interface{}{"kind": kind, "apiVersion": "v1", "metadata": meta,
		"items": page})
}

func (a *api) json(w http.ResponseWriter, v interface{}) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}

func (a *api) status(w http.ResponseWriter, code int, reason, msg string) {
	b, _ := json.Marshal(map[string]interface{}{"kind": "Status", "apiVersion": "v1",
		"metadata": map[string]interface{}{}, "status": "Failure", "message": msg,
		"reason": reason, "code": code})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(b)
}

func (a *api) notFound(w http.ResponseWriter, kind, name string) {
	a.status(w, http.StatusNotFound, "NotFound", kind+" \""+name+"\" not found")
}

func resources() map[string]interface{} {
	rw := []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}
	sub := func(name, kind string, verbs ...string) map[string]interface{} {
		return map[string]interface{}{"name": name, "singularName": "", "namespaced": true,
			"kind": kind, "verbs": verbs}
	}
	return map[string]interface{}{"kind": "APIResourceList", "groupVersion": "v1",
		"resources": []interface{}{
			map[string]interface{}{"name": "namespaces", "singularName": "namespace",
				"namespaced": false, "kind": "Namespace", "verbs": rw, "shortNames": []string{"ns"}},
			map[string]interface{}{"name": "pods", "singularName": "pod", "namespaced": true,
				"kind": "Pod", "verbs": rw, "shortNames": []string{"po"},
				"categories": []string{"all"}},
			sub("pods/attach", "PodAttachOptions", "create", "get"),
			sub("pods/exec", "PodExecOptions", "create", "get"),
			sub("pods/portforward", "PodPortForwardOptions", "create", "get"),
		}}
}
