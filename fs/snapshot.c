/* Snapshot files (see snapshot.h).  Pod.json, Status and state are
 * rendered by podfs from the pod object (GET pod at open); because the
 * same renderers measure every item a pod list returns (snapshot_measure,
 * the cache's measurer), their sizes are known before any open and match
 * what an open reads while the pod is unchanged.  log and log.previous
 * are GET log with limitBytes so a huge log cannot exhaust memory.
 * Everything is fetched at open, so a file never changes under a
 * reader. */
#include "fs/snapshot.h"
#include "stream/mux.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fs/fs.h"
#include "fs/handles.h"
#include "fs/tree.h"
#include "stream/cache.h"
#include "stream/auth.h"
#include "stream/log.h"
#include "stream/rest.h"

struct logbuf;

struct snapshot {
	struct handle hd;	/* first: the open-file table entry */
	char *data;		/* fixed snapshots */
	size_t len;
	struct logbuf *log;	/* `log`: shared by the inode's open handles */
};

static void logbuf_put(struct logbuf *lb);

static void snapshot_free(struct snapshot *s)
{
	if (!s)
		return;
	free(s->data);
	logbuf_put(s->log);
	free(s);
}

/* A growing text buffer; on allocation failure it stays failed and the
 * caller gets NULL. */
struct sbuf {
	char *p;
	size_t len, cap;
	int failed;
};

__attribute__((format(printf, 2, 3)))
static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->failed)
		return;
	for (;;) {
		size_t room = b->cap - b->len;

		va_start(ap, fmt);
		n = vsnprintf(b->p ? b->p + b->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->failed = 1;
			return;
		}
		if ((size_t)n < room) {
			b->len += n;
			return;
		}
		size_t nc = (b->cap ? b->cap * 2 : 1024) + n;
		char *np = realloc(b->p, nc);

		if (!np) {
			b->failed = 1;
			return;
		}
		b->p = np;
		b->cap = nc;
	}
}

static char *sb_finish(struct sbuf *b)
{
	if (b->failed) {
		free(b->p);
		return NULL;
	}
	if (!b->p)
		sb_printf(b, "%s", "");
	return b->p;
}

static const char *jstr(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static long jint(const cJSON *o, const char *name, long dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsNumber(v) ? (long)v->valuedouble : dflt;
}

static const cJSON *find_status(const cJSON *pod, const char *container)
{
	static const char *const lists[] = {
		"containerStatuses", "initContainerStatuses",
		"ephemeralContainerStatuses"
	};
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(pod, "status");

	for (size_t i = 0; i < 3; i++) {
		const cJSON *c;

		cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(st, lists[i])) {
			const char *n = jstr(c, "name");

			if (n && !strcmp(n, container))
				return c;
		}
	}
	return NULL;
}

static int spec_has(const cJSON *pod, const char *container)
{
	static const char *const lists[] = {
		"containers", "initContainers", "ephemeralContainers"
	};
	const cJSON *spec = cJSON_GetObjectItemCaseSensitive(pod, "spec");

	for (size_t i = 0; i < 3; i++) {
		const cJSON *c;

		cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(spec, lists[i])) {
			const char *n = jstr(c, "name");

			if (n && !strcmp(n, container))
				return 1;
		}
	}
	return 0;
}

/* The state part of a container status, without restarts. */
static void state_words(const cJSON *cs, char *buf, size_t len)
{
	const cJSON *state = cJSON_GetObjectItemCaseSensitive(cs, "state");
	const cJSON *w = cJSON_GetObjectItemCaseSensitive(state, "waiting");
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(state, "terminated");
	const char *reason;

	if (cJSON_GetObjectItemCaseSensitive(state, "running"))
		snprintf(buf, len, "running");
	else if (t)
		snprintf(buf, len, "terminated %ld", jint(t, "exitCode", 0));
	else if (w && (reason = jstr(w, "reason")) && reason[0])
		snprintf(buf, len, "waiting %s", reason);
	else
		snprintf(buf, len, "waiting");
}

int snapshot_state_line(const cJSON *pod, const char *container, char *buf,
			size_t len)
{
	const cJSON *cs = find_status(pod, container);
	char words[160];

	if (!cs) {
		if (!spec_has(pod, container))
			return -ENOENT;
		/* Declared but not reported yet: the pod is still being set up. */
		snprintf(buf, len, "waiting, restarts 0\n");
		return 0;
	}
	state_words(cs, words, sizeof(words));
	snprintf(buf, len, "%s, restarts %ld\n", words, jint(cs, "restartCount", 0));
	return 0;
}

static void status_containers(struct sbuf *b, const cJSON *pod,
			      const char *title, const char *speclist)
{
	const cJSON *spec = cJSON_GetObjectItemCaseSensitive(pod, "spec");
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(spec, speclist);
	const cJSON *c;

	if (!cJSON_GetArraySize(arr))
		return;
	sb_printf(b, "%s:\n", title);
	cJSON_ArrayForEach(c, arr) {
		const char *name = jstr(c, "name");
		const cJSON *cs;
		char words[160] = "waiting";
		const cJSON *ready;

		if (!name)
			continue;
		cs = find_status(pod, name);
		if (cs)
			state_words(cs, words, sizeof(words));
		ready = cs ? cJSON_GetObjectItemCaseSensitive(cs, "ready") : NULL;
		sb_printf(b, "  %s: %s, restarts %ld%s\n", name, words,
			  cs ? jint(cs, "restartCount", 0) : 0L,
			  cJSON_IsTrue(ready) ? ", ready" : "");
		if (cs) {
			const cJSON *st = cJSON_GetObjectItemCaseSensitive(cs, "state");
			const cJSON *w = cJSON_GetObjectItemCaseSensitive(st, "waiting");
			const cJSON *t = cJSON_GetObjectItemCaseSensitive(st, "terminated");
			const char *msg = jstr(w ? w : t, "message");
			const char *reason = t ? jstr(t, "reason") : NULL;

			if (reason)
				sb_printf(b, "    reason: %s\n", reason);
			if (msg)
				sb_printf(b, "    message: %s\n", msg);
		}
	}
}

char *snapshot_pod_json(const cJSON *pod)
{
	const char *kind = jstr(pod, "kind"), *api = jstr(pod, "apiVersion");
	cJSON *o = cJSON_CreateObject();
	const cJSON *c;
	char *text = NULL, *out = NULL;
	int ok;

	/* A list item has no kind and apiVersion; GET pod has them first.
	 * Both print the same once they are put in front, so the size
	 * measured from a list is the size an open reads. */
	ok = o && cJSON_AddStringToObject(o, "kind", kind ? kind : "Pod") &&
	     cJSON_AddStringToObject(o, "apiVersion", api ? api : "v1");
	for (c = pod ? pod->child : NULL; ok && c; c = c->next)
		if (c->string && strcmp(c->string, "kind") && strcmp(c->string, "apiVersion"))
			/* a reference: o never owns (or frees) the pod's items */
			ok = cJSON_AddItemReferenceToObject(o, c->string, (cJSON *)c);
	if (ok)
		text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (text && asprintf(&out, "%s\n", text) < 0)
		out = NULL;
	free(text);
	return out;
}

void snapshot_measure(const cJSON *pod, struct pod_info *pi)
{
	char *text, line[256];

	if ((text = snapshot_pod_json(pod)))
		pi->json_size = strlen(text);
	free(text);
	if ((text = snapshot_pod_status(pod)))
		pi->status_size = strlen(text);
	free(text);
	for (size_t i = 0; i < pi->ncontainers; i++)
		if (!snapshot_state_line(pod, pi->containers[i].name, line, sizeof(line)))
			pi->containers[i].state_size = strlen(line);
}

char *snapshot_pod_status(const cJSON *pod)
{
	const cJSON *meta = cJSON_GetObjectItemCaseSensitive(pod, "metadata");
	const cJSON *spec = cJSON_GetObjectItemCaseSensitive(pod, "spec");
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(pod, "status");
	const cJSON *c;
	struct sbuf b = { 0 };
	const char *s;

	sb_printf(&b, "Name: %s\n", (s = jstr(meta, "name")) ? s : "");
	sb_printf(&b, "Namespace: %s\n", (s = jstr(meta, "namespace")) ? s : "");
	sb_printf(&b, "Phase: %s\n", (s = jstr(st, "phase")) ? s : "Unknown");
	if ((s = jstr(st, "reason")))
		sb_printf(&b, "Reason: %s\n", s);
	if ((s = jstr(st, "message")))
		sb_printf(&b, "Message: %s\n", s);
	sb_printf(&b, "IP: %s\n", (s = jstr(st, "podIP")) ? s : "");
	sb_printf(&b, "Node: %s\n", (s = jstr(spec, "nodeName")) ? s : "");
	sb_printf(&b, "Start Time: %s\n", (s = jstr(st, "startTime")) ? s : "");
	if (cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(st, "conditions"))) {
		sb_printf(&b, "Conditions:\n");
		cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(st, "conditions")) {
			const char *type = jstr(c, "type"), *val = jstr(c, "status");
			const char *reason = jstr(c, "reason");

			sb_printf(&b, "  %s: %s%s%s\n", type ? type : "?",
				  val ? val : "?", reason ? " " : "",
				  reason ? reason : "");
		}
	}
	status_containers(&b, pod, "Init Containers", "initContainers");
	status_containers(&b, pod, "Containers", "containers");
	status_containers(&b, pod, "Ephemeral Containers", "ephemeralContainers");
	return sb_finish(&b);
}

/* An age as kubectl shows it (apimachinery's duration.HumanDuration). */
static void human_age(long s, char *buf, size_t len)
{
	long m = s / 60, h = m / 60;

	if (s < 0)
		snprintf(buf, len, "0s");
	else if (s < 120)
		snprintf(buf, len, "%lds", s);
	else if (m < 10 && s % 60)
		snprintf(buf, len, "%ldm%lds", m, s % 60);
	else if (m < 180)
		snprintf(buf, len, "%ldm", m);
	else if (h < 8 && m % 60)
		snprintf(buf, len, "%ldh%ldm", h, m % 60);
	else if (h < 48)
		snprintf(buf, len, "%ldh", h);
	else if (h < 24 * 8 && h % 24)
		snprintf(buf, len, "%ldd%ldh", h / 24, h % 24);
	else if (h < 24 * 365 * 2)
		snprintf(buf, len, "%ldd", h / 24);
	else
		snprintf(buf, len, "%ldy", h / (24 * 365));
}

/* When an event last happened: lastTimestamp, else eventTime, else
 * firstTimestamp (events.k8s.io writers set only eventTime). */
static time_t event_time(const cJSON *ev)
{
	static const char *const fields[] = { "lastTimestamp", "eventTime", "firstTimestamp" };

	for (size_t i = 0; i < 3; i++) {
		const char *t = jstr(ev, fields[i]);
		int64_t sec;
		int32_t ns;

		if (t && !k8s_time_parse(t, &sec, &ns))
			return (time_t)sec;
	}
	return 0;
}

static int cmp_event(const void *a, const void *b)
{
	time_t x = event_time(*(cJSON *const *)a), y = event_time(*(cJSON *const *)b);

	return x < y ? -1 : x > y;
}

/* One column of the table: the widest cell decides. */
static int col_width(cJSON **evs, size_t n, const char *title, const char *(*cell)(const cJSON *))
{
	int w = (int)strlen(title);

	for (size_t i = 0; i < n; i++) {
		const char *s = cell(evs[i]);
		int l = s ? (int)strlen(s) : 0;

		w = l > w ? l : w;
	}
	return w;
}

static const char *ev_type(const cJSON *e) { return jstr(e, "type"); }
static const char *ev_reason(const cJSON *e) { return jstr(e, "reason"); }
static const char *ev_message(const cJSON *e) { return jstr(e, "message"); }

static const char *ev_from(const cJSON *e)
{
	const char *s = jstr(cJSON_GetObjectItemCaseSensitive(e, "source"), "component");

	return s && s[0] ? s : jstr(e, "reportingComponent");
}

static const char *ev_object(const cJSON *e)
{
	return jstr(cJSON_GetObjectItemCaseSensitive(e, "involvedObject"), "name");
}

char *snapshot_events(const cJSON *list, int with_object, time_t now)
{
	const cJSON *items = cJSON_GetObjectItemCaseSensitive(list, "items"), *it;
	size_t n = 0, cap = (size_t)cJSON_GetArraySize(items);
	cJSON **evs = calloc(cap ? cap : 1, sizeof(*evs));
	struct sbuf b = { 0 };
	int wt, wr, wf, wo;

	if (!evs)
		return NULL;
	cJSON_ArrayForEach(it, items)
		if (cJSON_IsObject(it) && n < cap)
			evs[n++] = (cJSON *)it;
	if (!n) {
		free(evs);
		sb_printf(&b, "<none>\n");
		return sb_finish(&b);
	}
	qsort(evs, n, sizeof(*evs), cmp_event);
	wt = col_width(evs, n, "Type", ev_type);
	wr = col_width(evs, n, "Reason", ev_reason);
	wf = col_width(evs, n, "From", ev_from);
	wo = with_object ? col_width(evs, n, "Object", ev_object) : 0;
	if (with_object)
		sb_printf(&b, "%-*s  %-*s  %-*s  %-6s  %-*s  Message\n%-*s  %-*s  %-*s  %-6s  %-*s  -------\n",
			  wt, "Type", wr, "Reason", wo, "Object", "Age", wf, "From",
			  wt, "----", wr, "------", wo, "------", "---", wf, "----");
	else
		sb_printf(&b, "%-*s  %-*s  %-6s  %-*s  Message\n%-*s  %-*s  %-6s  %-*s  -------\n",
			  wt, "Type", wr, "Reason", "Age", wf, "From",
			  wt, "----", wr, "------", "----", wf, "----");
	for (size_t i = 0; i < n; i++) {
		const char *t = ev_type(evs[i]), *r = ev_reason(evs[i]), *f = ev_from(evs[i]);
		const char *o = ev_object(evs[i]), *m = ev_message(evs[i]);
		char age[24], msg[1024];

		human_age((long)(now - event_time(evs[i])), age, sizeof(age));
		/* a message is the cluster's text: one clean line */
		k8s_text(msg, sizeof(msg), m ? m : "", m ? strlen(m) : 0, K8S_TEXT_LINE);
		sb_printf(&b, "%-*s  %-*s  ", wt, t ? t : "", wr, r ? r : "");
		if (with_object)
			sb_printf(&b, "%-*s  ", wo, o ? o : "");
		sb_printf(&b, "%-6s  %-*s  %s\n", age, wf, f ? f : "", msg);
	}
	free(evs);
	return sb_finish(&b);
}

static void fmt_time(time_t t, char *buf, size_t len)
{
	struct tm tm;

	if (!t) {
		snprintf(buf, len, "never");
		return;
	}
	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

char *snapshot_mount_status(struct podfs *fs)
{
	struct sbuf b = { 0 };
	char ok[40], errt[40], mounted[40];
	time_t now = time(NULL);
	int err, sessions, threads;
	char msg[512], cmsg[512];
	time_t last_ok, last_err;
	enum auth_state cred;

	pthread_mutex_lock(&fs->status_lock);
	last_ok = fs->last_ok;
	last_err = fs->last_err_time;
	err = fs->last_err;
	snprintf(msg, sizeof(msg), "%s", fs->last_err_msg);
	pthread_mutex_unlock(&fs->status_lock);
	mux_counts(&threads, &sessions);	/* not under status_lock: a leaf */
	fmt_time(last_ok, ok, sizeof(ok));
	fmt_time(last_err, errt, sizeof(errt));
	fmt_time(fs->mounted, mounted, sizeof(mounted));

	sb_printf(&b, "server: %s\n", fs->kc.server ? fs->kc.server : "");
	sb_printf(&b, "context: %s\n", fs->kc.context ? fs->kc.context : "");
	sb_printf(&b, "cluster: %s\n", fs->kc.cluster_name ? fs->kc.cluster_name : "");
	/* The user's name only: the credential itself never leaves auth. */
	sb_printf(&b, "user: %s\n", fs->kc.user_name ? fs->kc.user_name : "");
	if (fs->kc.imp.user)
		sb_printf(&b, "impersonating: %s\n", fs->kc.imp.user);
	sb_printf(&b, "namespace: %s\n", fs->namespace ? fs->namespace : "");
	if ((cred = auth_state(fs->auth, cmsg, sizeof(cmsg))) >= AUTH_UNAUTHORIZED)
		/* the server answers but refuses us: say so, in its words */
		sb_printf(&b, "connectivity: %s (%s)\n", auth_state_name(cred), cmsg);
	else if (!last_ok && !last_err)
		sb_printf(&b, "connectivity: unknown (no request yet)\n");
	else if (last_ok >= last_err)
		sb_printf(&b, "connectivity: ok\n");
	else
		sb_printf(&b, "connectivity: failing\n");
	sb_printf(&b, "last contact: %s", ok);
	if (last_ok)
		sb_printf(&b, " (%lds ago)", (long)(now - last_ok));
	sb_printf(&b, "\n");
	if (last_err)
		sb_printf(&b, "last error: %s %s: %s\n", errt, strerror(-err), msg);
	else
		sb_printf(&b, "last error: none\n");
	if (fs->ns_note[0])
		sb_printf(&b, "namespaces: %s\n", fs->ns_note);
	sb_printf(&b, "timeout: %.3gs\n", fs->timeout_ms / 1000.0);
	sb_printf(&b, "cache: %.3gs\n", fs->cache_ms / 1000.0);
	if (fs->watcher) {
		char w[1024];

		cache_watch_states(fs->cache, w, sizeof(w));
		sb_printf(&b, "watches: %s\n", w[0] ? w : "none");
	} else
		sb_printf(&b, "watches: off\n");
	sb_printf(&b, "buffer: %zu bytes\n", fs->buffer_size);
	sb_printf(&b, "open sessions: %d (stream threads: %d)\n", sessions, threads);
	sb_printf(&b, "mounted: %s\n", mounted);
	return sb_finish(&b);
}

/* GET path; 0 with the response, or -errno with the reason recorded.
 * enodata_400: a 400 means "nothing there yet" (logs). */
static int get(struct podfs *fs, const char *path, struct rest_resp *resp,
	       int enodata_400)
{
	int rc;
	char msg[512];

	memset(resp, 0, sizeof(*resp));
	rc = rest_get(fs->rest, path, resp);
	if (rc < 0) {
		podfs_note(fs, rc, resp->msg[0] ? resp->msg : strerror(-rc));
		rest_resp_free(resp);
		return rc;
	}
	if (resp->code == 200) {
		podfs_note(fs, 0, NULL);
		return 0;
	}
	if (resp->msg[0])
		snprintf(msg, sizeof(msg), "%s", resp->msg);
	else
		k8s_status_message(resp->body, resp->len, msg, sizeof(msg));
	if (resp->code == 400 && enodata_400)
		rc = -ENODATA;
	else {
		rc = http_errno(resp->code);
		rc = rc > 0 ? -rc : (rc ? rc : -EIO);
	}
	/* A reply arrived, so the server is reachable; the failure is still
	 * worth showing in .podfs/status with the server's words. */
	podfs_note(fs, rc, msg[0] ? msg : "request failed");
	pdebug("GET %s: HTTP %ld: %s", path, resp->code, msg);
	rest_resp_free(resp);
	return rc;
}

static int get_pod(struct podfs *fs, const struct pfs_path *p,
		   struct rest_resp *resp, cJSON **doc)
{
	char path[512];
	int rc;

	if (k8s_path(path, sizeof(path), p->ns, p->pod, 0, NULL) < 0)
		return -ENAMETOOLONG;
	if ((rc = get(fs, path, resp, 0)))
		return rc;
	if (doc && !(*doc = cJSON_ParseWithLength(resp->body, resp->len))) {
		podfs_note(fs, -EIO, "GET pod: the reply is not JSON");
		rest_resp_free(resp);
		return -EIO;
	}
	return 0;
}

/* GET the events of p's namespace, or (Events of a pod) of that pod. */
static int fetch_events(struct podfs *fs, const struct pfs_path *p, char **data,
			size_t *len)
{
	struct rest_resp resp;
	char path[512];
	cJSON *doc;
	int pod = p->kind == PK_POD_EVENTS, rc;

	/* names are DNS labels and subdomains: nothing to escape */
	snprintf(path, sizeof(path), "/api/v1/namespaces/%s/events%s%s", p->ns,
		 pod ? "?fieldSelector=involvedObject.kind%3DPod%2CinvolvedObject.name%3D" : "",
		 pod ? p->pod : "");
	if ((rc = get(fs, path, &resp, 0)))
		return rc;
	doc = cJSON_ParseWithLength(resp.body, resp.len);
	rest_resp_free(&resp);
	if (!cJSON_IsObject(doc)) {
		cJSON_Delete(doc);
		podfs_note(fs, -EIO, "GET events: the reply is not JSON");
		return -EIO;
	}
	*data = snapshot_events(doc, !pod, time(NULL));
	cJSON_Delete(doc);
	if (!*data)
		return -ENOMEM;
	*len = strlen(*data);
	return 0;
}

static int fetch(struct podfs *fs, const struct pfs_path *p, char **data,
		 size_t *len)
{
	struct rest_resp resp;
	cJSON *doc = NULL;
	char line[256], path[1024];
	int rc;

	switch (p->kind) {
	case PK_META_STATUS:
		if (!(*data = snapshot_mount_status(fs)))
			return -ENOMEM;
		*len = strlen(*data);
		return 0;
	case PK_POD_JSON:
	case PK_POD_STATUS:
	case PK_STATE:
		if ((rc = get_pod(fs, p, &resp, &doc)))
			return rc;
		rest_resp_free(&resp);
		if (p->kind != PK_STATE) {
			*data = p->kind == PK_POD_JSON ? snapshot_pod_json(doc)
						       : snapshot_pod_status(doc);
			rc = *data ? 0 : -ENOMEM;
		} else if ((rc = snapshot_state_line(doc, p->container, line,
						     sizeof(line))) == 0)
			rc = (*data = strdup(line)) ? 0 : -ENOMEM;
		cJSON_Delete(doc);
		if (!rc)
			*len = strlen(*data);
		return rc;
	case PK_POD_EVENTS:
	case PK_NS_EVENT_LIST:
		return fetch_events(fs, p, data, len);
	case PK_LOG:
	case PK_LOG_PREVIOUS: {
		char *c = url_escape(p->container);
		int n = k8s_path(path, sizeof(path), p->ns, p->pod, 0, "log");

		if (c && n > 0)
			snprintf(path + n, sizeof(path) - (size_t)n, "?container=%s&limitBytes=%ld%s",
				 c, SNAPSHOT_LOG_MAX, p->kind == PK_LOG_PREVIOUS ? "&previous=true" : "");
		free(c);
		if (!c || n < 0)
			return -ENOMEM;
		if ((rc = get(fs, path, &resp, 1)))
			return rc;
		*len = resp.len > (size_t)SNAPSHOT_LOG_MAX ? (size_t)SNAPSHOT_LOG_MAX : resp.len;
		*data = resp.body;
		resp.body = NULL;
		rest_resp_free(&resp);
		if (!*data && !(*data = strdup("")))
			return -ENOMEM;
		return 0;
	}
	default:
		return -EINVAL;
	}
}

static int snapshot_fetch(struct podfs *fs, const struct pfs_path *p,
			  struct snapshot **out)
{
	struct snapshot *s = calloc(1, sizeof(*s));
	int rc;

	if (!s)
		return -ENOMEM;
	if ((rc = fetch(fs, p, &s->data, &s->len))) {
		free(s);
		return rc;
	}
	*out = s;
	return 0;
}

/* ---- the growing log ----
 *
 * One logbuf per inode of a `log` with open handles.  A refresh fetches the
 * log again and keeps the new bytes when the old content is a prefix of the
 * new; otherwise (a restarted container, a rotated log) the new content
 * replaces the old, as a truncated file would.  The lock is held across the
 * refresh so concurrent readers share one request. */

struct logbuf {
	fuse_ino_t ino;		/* fixed */
	int refs;		/* (logs_lock) */
	pthread_mutex_t lock;	/* held across a refresh (a REST GET), so
				 * concurrent readers share one request */
	struct pfs_path path;	/* fixed */
	char *data;		/* (lock) */
	size_t len;		/* (lock) */
	long long fetched;	/* (lock) mono_ms */
	struct logbuf *next;	/* (logs_lock) */
};

/* logs_lock is never held while taking a logbuf's lock; a logbuf's lock
 * comes before the REST client's, the status lock and the tree lock
 * (docs/locking.md). */
static pthread_mutex_t logs_lock = PTHREAD_MUTEX_INITIALIZER;
static struct logbuf *logs;		/* (logs_lock) */

static void logbuf_put(struct logbuf *lb)
{
	struct logbuf **pp;

	if (!lb)
		return;
	pthread_mutex_lock(&logs_lock);
	if (--lb->refs > 0) {
		pthread_mutex_unlock(&logs_lock);
		return;
	}
	for (pp = &logs; *pp; pp = &(*pp)->next)
		if (*pp == lb) {
			*pp = lb->next;
			break;
		}
	pthread_mutex_unlock(&logs_lock);
	pthread_mutex_destroy(&lb->lock);
	free(lb->data);
	free(lb);
}

static struct logbuf *logbuf_find(fuse_ino_t ino, const struct pfs_path *create)
{
	struct logbuf *lb;

	pthread_mutex_lock(&logs_lock);
	for (lb = logs; lb; lb = lb->next)
		if (lb->ino == ino)
			break;
	if (lb)
		lb->refs++;
	else if (create && (lb = calloc(1, sizeof(*lb)))) {
		lb->ino = ino;
		lb->refs = 1;
		lb->path = *create;
		pthread_mutex_init(&lb->lock, NULL);
		lb->next = logs;
		logs = lb;
	}
	pthread_mutex_unlock(&logs_lock);
	return lb;
}

static long refresh_interval(struct podfs *fs)
{
	return fs->cache_ms > 500 ? fs->cache_ms : 500;
}

/* Caller holds lb->lock.  force: refresh whatever its age (open). */
static int logbuf_refresh(struct podfs *fs, struct logbuf *lb, int force)
{
	char *nd = NULL;
	size_t nl = 0;
	int rc;

	if (!force && lb->data && (long)(mono_ms() - lb->fetched) < refresh_interval(fs))
		return 0;
	rc = fetch(fs, &lb->path, &nd, &nl);
	if (rc) {
		/* Keep what we have; a reader at the end sees no growth. */
		lb->fetched = mono_ms();
		return lb->data ? 0 : rc;
	}
	if (lb->data && nl >= lb->len && !memcmp(nd, lb->data, lb->len)) {
		free(lb->data);		/* grew (or stayed): same prefix */
	} else if (lb->data) {
		pdebug("log of %s/%s/%s was replaced (%zu -> %zu bytes)",
		       lb->path.ns, lb->path.pod, lb->path.container, lb->len, nl);
		free(lb->data);
	}
	lb->data = nd;
	lb->len = nl;
	lb->fetched = mono_ms();
	tree_set_size(lb->ino, (off_t)nl);
	return 0;
}

static int snapshot_get(struct podfs *fs, fuse_ino_t ino, const struct pfs_path *p,
			struct snapshot **out)
{
	struct snapshot *s;
	struct logbuf *lb;
	int rc;

	if (p->kind != PK_LOG)
		return snapshot_fetch(fs, p, out);
	if (!(s = calloc(1, sizeof(*s))))
		return -ENOMEM;
	if (!(lb = logbuf_find(ino, p))) {
		free(s);
		return -ENOMEM;
	}
	pthread_mutex_lock(&lb->lock);
	rc = logbuf_refresh(fs, lb, 1);
	pthread_mutex_unlock(&lb->lock);
	if (rc) {
		logbuf_put(lb);
		free(s);
		return rc;
	}
	s->log = lb;
	*out = s;
	return 0;
}

/* A read of a growing log: up to size bytes at off, copied (another
 * thread may replace the buffer after unlock) into *out (free it). */
static int log_read(struct podfs *fs, struct logbuf *lb, off_t off, size_t size,
		    char **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	if (off < 0)
		return -EINVAL;
	pthread_mutex_lock(&lb->lock);
	if ((size_t)off >= lb->len)
		logbuf_refresh(fs, lb, 0);
	if ((size_t)off < lb->len) {
		*n = lb->len - (size_t)off < size ? lb->len - (size_t)off : size;
		if (!(*out = malloc(*n ? *n : 1))) {
			pthread_mutex_unlock(&lb->lock);
			*n = 0;
			return -ENOMEM;
		}
		memcpy(*out, lb->data + off, *n);
	}
	pthread_mutex_unlock(&lb->lock);
	return 0;
}

/* The current size of a log with open handles (refreshed when stale), or
 * -1 when no handle of ino is open. */
static off_t live_size(struct podfs *fs, fuse_ino_t ino)
{
	struct logbuf *lb = logbuf_find(ino, NULL);
	off_t size;

	if (!lb)
		return -1;
	pthread_mutex_lock(&lb->lock);
	logbuf_refresh(fs, lb, 0);
	size = (off_t)lb->len;
	pthread_mutex_unlock(&lb->lock);
	logbuf_put(lb);
	return size;
}

off_t snapshot_listed_size(const struct pfs_path *p, const struct pod_info *pi)
{
	const struct pod_container *c;

	if (!pi)
		return -1;
	if (p->kind == PK_POD_JSON)
		return (off_t)pi->json_size;
	if (p->kind == PK_POD_STATUS)
		return (off_t)pi->status_size;
	if (p->kind == PK_STATE && (c = pod_container_find(pi, p->container)))
		return (off_t)c->state_size;
	return -1;
}

off_t snapshot_size(fuse_ino_t ino, const struct pfs_path *p)
{
	char *text;
	off_t n;

	if (p->kind == PK_META_STATUS && (text = snapshot_mount_status(podfs))) {
		n = (off_t)strlen(text);
		free(text);
		return n;
	}
	if (p->kind == PK_LOG && (n = live_size(podfs, ino)) >= 0)
		return n;
	return tree_size(ino);
}

/* ---- the file handle ---- */

static void snap_read(fuse_req_t req, struct handle *hd, size_t size, off_t off, int flags)
{
	struct snapshot *s = (struct snapshot *)hd;
	char *copy;
	size_t n;
	int rc;

	(void)flags;
	if (!s->log) {
		handle_reply_slice(req, s->data, s->len, off, size);
		return;
	}
	if ((rc = log_read(podfs, s->log, off, size, &copy, &n)))
		fuse_reply_err(req, -rc);
	else
		fuse_reply_buf(req, copy, n);
	free(copy);
}

static void snap_destroy(struct handle *hd)
{
	snapshot_free((struct snapshot *)hd);
}

static const struct handle_ops snapshot_ops = {
	.name = "snapshot",
	.read = snap_read,
	.destroy = snap_destroy,
};

void snapshot_open(fuse_req_t req, fuse_ino_t ino, const struct pfs_path *p,
		   struct fuse_file_info *fi)
{
	struct snapshot *s;
	int rc;

	if ((fi->flags & O_ACCMODE) != O_RDONLY) {
		fuse_reply_err(req, EACCES);
		return;
	}
	if ((rc = snapshot_get(podfs, ino, p, &s))) {
		fuse_reply_err(req, -rc);
		return;
	}
	if (!s->log)
		tree_set_size(ino, (off_t)s->len);
	handle_reply_open(req, &s->hd, &snapshot_ops, fi);
}
