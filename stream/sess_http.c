/* The plain-HTTP transport: a response body streamed into the session's
 * output buffer, through libcurl's multi interface on the multiplexer
 * loop (curlloop.c).  libcurl does the framing (chunked, Content-Length,
 * until close) and reports a body cut short as an error, which becomes
 * EIO, never EOF.  Two kinds use it:
 *   - SESS_LOG, log.follow: the body is timestamped lines; the stamps are
 *     stripped (logstamp.c).  When the server ends the body while the
 *     container still runs (idle timeout, log rotation), the follow is
 *     resumed from the last stamp delivered.
 *   - SESS_PROXY, a GET through the pod proxy: the status of the pod's
 *     server becomes the open's errno (K8S_PROXIED), the body is the file.
 *
 * Backpressure: the write callback takes a slice only when the buffer has
 * room for all of it, else it pauses the transfer (CURL_WRITEFUNC_PAUSE)
 * and marks the session starved; the reader that frees room kicks the
 * session, whose pump resumes the transfer (curl_easy_pause).
 *
 * Blocking parts never run on the loop: setting up a handle may run the
 * credential plugin, and a resume needs a pod GET, so the first handle is
 * made in the starting thread and later ones on the worker thread
 * (worker.c), which posts them back.  A 401 is retried once the same way
 * after auth_refresh, as REST calls are. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "stream/curlloop.h"
#include "stream/log.h"
#include "stream/logstamp.h"
#include "stream/mux.h"
#include "stream/pod.h"
#include "stream/session_i.h"
#include "stream/worker.h"

#define ERRBODY_MAX	(16 * 1024)


enum job_kind { JOB_RESUME, JOB_REAUTH };

struct http_state {
	char *path;			/* (const) proxy: the request path */
	struct rest_xfer x;			/* (loop) the running transfer */
	int added;			/* (loop) x is in the multi */
	int paused;			/* (loop) the write callback paused x */
	size_t want;			/* (loop) the slice it could not take */
	int reauthed;			/* (loop) a 401 was retried already */
	unsigned gen401;		/* (loop) the credential that got it */
	long code;			/* (loop) the response status, 0 before */
	char status_line[128];		/* (loop) of the response */
	int head_done;			/* (loop) the final response head is in */
	uint64_t head_deadline;		/* (loop) mono_ms */
	char *ebody;			/* (loop) body of a non-2xx reply */
	size_t elen;
	struct logfilt lf;		/* (loop) log: stamps stripped, repeats skipped */
	/* a worker job in flight: it writes these, the loop reads them in
	 * the posted completion */
	struct worker_job job;
	enum job_kind job_kind;
	char since[64];
	struct rest_xfer next;
	int next_err;
	char why[512];
};

static struct http_state *H(struct session *s)
{
	return s->tpd;
}

/* ---- transfers ---- */


static size_t on_header(char *p, size_t size, size_t n, void *ud);
static size_t on_body(char *p, size_t size, size_t n, void *ud);

/* The request path of the session now (a log resumes from h->since). */
static int request_path(struct session *s, char *out, size_t cap)
{
	struct http_state *h = H(s);
	char *c;
	int n;

	if (s->kind == SESS_PROXY)
		return snprintf(out, cap, "%s", h->path) < (int)cap ? 0 : -ENAMETOOLONG;
	c = url_escape(s->container);
	n = k8s_path(out, cap, s->ns, s->pod, 0, "log");
	if (c && n > 0 && snprintf(out + n, cap - (size_t)n,
				   "?container=%s&follow=true&timestamps=true%s%s", c,
				   h->since[0] ? "&sinceTime=" : "", h->since) >= (int)(cap - (size_t)n))
		n = -ENAMETOOLONG;
	free(c);
	return !c ? -ENOMEM : n < 0 ? n : 0;
}

/* A handle for the session's GET, credentials and TLS as REST calls have
 * them.  Blocking (a credential plugin may run): never on the loop. */
static int xfer_make(struct session *s, struct rest_xfer *x, char *err, size_t errlen)
{
	char path[4096];
	int rc;

	memset(x, 0, sizeof(*x));
	if ((rc = request_path(s, path, sizeof(path))) < 0) {
		msg_set(err, errlen, "%s", strerror(-rc));
		return rc;
	}
	if ((rc = rest_xfer_make(s->rest, path, x, err, errlen)) < 0)
		return rc;
	curl_easy_setopt(x->h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(x->h, CURLOPT_HEADERDATA, s);
	curl_easy_setopt(x->h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(x->h, CURLOPT_WRITEDATA, s);
	return 0;
}

static void on_done(void *ud, CURLcode rc);

/* Loop thread: start the transfer prepared in h->x. */
static void xfer_start(struct session *s)
{
	struct http_state *h = H(s);
	struct curlloop *cl = mux_curl(s->mux);

	h->code = 0;
	h->head_done = 0;
	h->paused = 0;
	h->elen = 0;
	h->head_deadline = mono_ms() + (uint64_t)rest_timeout_ms(s->rest);
	if (!cl || curlloop_add(cl, h->x.h, on_done, s) < 0) {
		sess_finish(s, SESS_FAILED, ENOMEM, "cannot start the transfer");
		return;
	}
	h->added = 1;
}

static void xfer_stop(struct session *s)
{
	struct http_state *h = H(s);

	if (h->added)
		curlloop_remove(mux_curl(s->mux), h->x.h);
	h->added = 0;
	rest_xfer_free(&h->x);
}

/* ---- libcurl callbacks (loop thread, inside curl) ---- */

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
	struct session *s = ud;
	struct http_state *h = H(s);
	size_t len = size * n;

	if (len >= 5 && !memcmp(p, "HTTP/", 5)) {	/* a status line: a new response */
		k8s_text(h->status_line, sizeof(h->status_line), p, len, K8S_TEXT_LINE);
		h->head_done = 0;
	} else if (len <= 2 && (p[0] == '\r' || p[0] == '\n')) {	/* the end of a head */
		curl_easy_getinfo(h->x.h, CURLINFO_RESPONSE_CODE, &h->code);
		h->head_done = h->code >= 200;	/* 1xx: another head follows */
		if (h->head_done && h->code < 300)
			sess_settle(s, 0);	/* the open succeeds */
	}
	return len;
}

static void log_out(void *ud, const uint8_t *p, size_t n)
{
	sess_deliver(ud, 0, p, n);
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	struct session *s = ud;
	struct http_state *h = H(s);
	size_t len = size * n;

	if (h->code < 200 || h->code >= 300) {	/* an error reply: keep its message */
		size_t k = h->elen + len > ERRBODY_MAX ? ERRBODY_MAX - h->elen : len;
		char *b = k ? realloc(h->ebody, h->elen + k + 1) : h->ebody;

		if (b) {
			memcpy(b + h->elen, p, k);
			h->ebody = b;
			h->elen += k;
		}
		return len;
	}
	if (chanbuf_space(s->out[0]) < len) {
		/* say so first, then look again (see sess_recv) */
		__atomic_store_n(&s->starved, 1, __ATOMIC_SEQ_CST);
		if (chanbuf_space(s->out[0]) < len) {
			h->paused = 1;
			h->want = len;
			return CURL_WRITEFUNC_PAUSE;	/* libcurl keeps the slice */
		}
	}
	__atomic_store_n(&s->starved, 0, __ATOMIC_SEQ_CST);
	if (s->kind == SESS_LOG)
		logfilt_feed(&h->lf, (const uint8_t *)p, len, log_out, s);
	else
		sess_deliver(s, 0, (const uint8_t *)p, len);
	return len;
}

static void failed_reply(struct session *s);

/* ---- worker jobs: resume a log, refresh the credential ---- */

static void job_work(struct worker_job *j)
{
	struct session *s = j->done.ud;
	struct http_state *h = H(s);
	char msg[256];
	cJSON *pod;
	int running;

	h->next_err = 0;
	if (h->job_kind == JOB_REAUTH) {	/* the credential may have changed */
		h->next_err = auth_refresh(rest_auth(s->rest), h->gen401) ?
			xfer_make(s, &h->next, h->why, sizeof(h->why)) : -EACCES;
		return;
	}
	if (pod_fetch(s->rest, s->ns, s->pod, &pod, msg, sizeof(msg)) < 0) {
		snprintf(h->why, sizeof(h->why), "log ended (pod: %s)", msg);
		h->next_err = -ENOENT;
		return;
	}
	running = pod_container_running(pod, s->container);
	cJSON_Delete(pod);
	if (!running) {
		snprintf(h->why, sizeof(h->why), "log ended");
		h->next_err = -ENOENT;
		return;
	}
	if ((h->next_err = xfer_make(s, &h->next, h->why, sizeof(h->why))) < 0)
		pwarn("log %s: resume failed: %s", s->label, h->why);
}

static void job_done(struct loop_job *j)
{
	struct session *s = j->ud;
	struct http_state *h = H(s);

	s->busy = 0;
	if (sess_finished(s)) {			/* hung up meanwhile */
		rest_xfer_free(&h->next);
	} else if (h->next_err < 0) {
		if (h->job_kind == JOB_RESUME)
			sess_finish(s, SESS_EXITED, 0, "%s", h->why);
		else	/* nothing new to try: the 401 stands */
			failed_reply(s);
	} else {
		h->x = h->next;
		memset(&h->next, 0, sizeof(h->next));
		curl_easy_setopt(h->x.h, CURLOPT_ERRORBUFFER, h->x.errbuf);	/* moved */
		if (h->job_kind == JOB_RESUME) {
			logfilt_resume(&h->lf);
			pinfo("log %s: server ended the stream, resumed", s->label);
		}
		xfer_start(s);
	}
	sess_service(s);
	session_put(s);
}

static void submit(struct session *s, enum job_kind kind)
{
	struct http_state *h = H(s);

	h->job_kind = kind;
	h->job.work = job_work;
	h->job.back = s->loop;
	h->job.done.fn = job_done;
	h->job.done.ud = s;
	session_get(s);
	s->busy = 1;
	if (worker_submit(&h->job) < 0) {
		s->busy = 0;
		session_put(s);
		sess_finish(s, kind == JOB_RESUME ? SESS_EXITED : SESS_FAILED,
			    kind == JOB_RESUME ? 0 : EACCES, "unmounting");
	}
}

/* ---- how a transfer ended ---- */

static void failed_reply(struct session *s)
{
	struct http_state *h = H(s);
	char msg[512] = "";
	enum k8s_origin o = s->kind == SESS_PROXY ? K8S_PROXIED : K8S_API;

	k8s_status_message(h->ebody, h->elen, msg, sizeof(msg));
	if (o == K8S_PROXIED && msg[0] == '<')
		msg[0] = 0;	/* a pod's own error page says nothing the status line does not */
	sess_finish(s, SESS_FAILED, k8s_http_errno(h->code, o), "%s%s%s",
		    h->status_line[0] ? h->status_line : "no status", msg[0] ? ": " : "", msg);
}

static void on_done(void *ud, CURLcode rc)
{
	struct session *s = ud;
	struct http_state *h = H(s);
	const char *why = h->x.errbuf[0] ? h->x.errbuf : curl_easy_strerror(rc);

	h->added = 0;	/* it left the multi */
	h->paused = 0;
	/* What the server said of the credential, once the retry is decided;
	 * a proxied 401 may be the pod's own answer, so it says nothing. */
	if (!(rc == CURLE_OK && h->code == 401 && !h->reauthed))
		auth_observe(rest_auth(s->rest), s->label, rc,
			     s->kind == SESS_PROXY && h->code == 401 ? 0 : h->code,
			     h->code ? h->status_line : why);
	if (rc == CURLE_OK && h->code == 401 && !h->reauthed) {
		h->reauthed = 1;
		h->gen401 = h->x.gen;
		rest_xfer_free(&h->x);
		submit(s, JOB_REAUTH);
	} else if (rc == CURLE_OK && (h->code < 200 || h->code >= 300)) {
		failed_reply(s);
	} else if (rc == CURLE_OK && s->kind == SESS_LOG) {
		rest_xfer_free(&h->x);
		if (h->lf.last_s)
			logfilt_since(&h->lf, h->since, sizeof(h->since));
		submit(s, JOB_RESUME);
	} else if (rc == CURLE_OK) {
		sess_finish(s, SESS_EXITED, 0, "body complete");
	} else if (!h->head_done) {	/* no reply: the open fails as a REST call would */
		pdebug("%s %s: %s", s->tp->name, s->label, why);
		sess_finish(s, SESS_FAILED, -curl_code_errno(rc), "%s", why);
	} else {
		pwarn("%s %s: body cut off: %s", s->kind == SESS_LOG ? "log" : "proxy", s->label, why);
		sess_finish(s, SESS_LOST, EIO, "body cut off: %s", why);
	}
	sess_service(s);
}

/* ---- the transport ---- */

static void http_pump(struct session *s, uint64_t now)
{
	struct http_state *h = H(s);
	struct sess_requests rq;

	sess_take_requests(s, &rq);
	if (rq.hangup) {
		sess_finish(s, SESS_LOST, EIO, "hung up");
	} else if (h->added && !h->head_done && now >= h->head_deadline) {
		sess_finish(s, SESS_FAILED, ETIMEDOUT, "no response within %ld ms",
			    rest_timeout_ms(s->rest));
	} else if (h->paused && chanbuf_space(s->out[0]) >= h->want) {
		h->paused = 0;	/* the callback may pause it again at once */
		curl_easy_pause(h->x.h, CURLPAUSE_CONT);
	}
}

static int http_events(struct session *s)
{
	(void)s;
	return 0;	/* libcurl's sockets are curlloop's */
}

static uint64_t http_due(struct session *s)
{
	struct http_state *h = H(s);

	return h->added && !h->head_done ? h->head_deadline : 0;
}

static void http_adopt(struct session *s)
{
	xfer_start(s);
}

static void http_goodbye(struct session *s)
{
	if (H(s))
		xfer_stop(s);
}

static int http_open(struct session *s, const struct session_params *p, char *err, size_t errlen)
{
	struct http_state *h = calloc(1, sizeof(*h));

	s->tpd = h;
	if (!h)
		return -ENOMEM;
	logfilt_init(&h->lf);
	if (s->kind == SESS_PROXY && !(p->path && (h->path = strdup(p->path))))
		return -EINVAL;
	return xfer_make(s, &h->x, err, errlen);
}

static void http_free(struct session *s)
{
	struct http_state *h = H(s);

	if (!h)
		return;
	rest_xfer_free(&h->x);	/* a start that never reached the loop */
	rest_xfer_free(&h->next);
	free(h->ebody);
	free(h->path);
	free(h);
}

const struct sess_transport sess_http_transport = {
	.name = "http", .settles_itself = 1, .open = http_open, .adopt = http_adopt,
	.pump = http_pump, .events = http_events, .due = http_due, .goodbye = http_goodbye,
	.free = http_free,
};
