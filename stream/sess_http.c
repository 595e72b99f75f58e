/* The plain-HTTP transport: a response body streamed into the session's
 * output buffer with the same backpressure as the WebSocket streams.  Two
 * kinds use it:
 *   - SESS_LOG, log.follow: the body is timestamped lines; the stamps are
 *     stripped (logstamp.c).  When the server ends the body while the
 *     container still runs (idle timeout, log rotation), the follow is
 *     resumed from the last stamp delivered.  Finding out and reconnecting
 *     block, so they run on the worker thread (worker.c) and come back as
 *     a posted job; the loop keeps serving the pod's other streams.
 *   - SESS_PROXY, a GET through the pod proxy: the status of the pod's
 *     server becomes the open's errno (K8S_PROXIED), the body is the file.
 * A body that ends before its framing says it is complete is EIO, never
 * EOF. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "stream/httpchunk.h"
#include "stream/log.h"
#include "stream/logstamp.h"
#include "stream/session_i.h"
#include "stream/worker.h"

struct http_state {
	struct hbody hb;		/* (loop) the body's framing */
	struct logfilt lf;		/* (loop) log: stamps stripped, repeats skipped */
	/* a log resume in flight: the worker writes these, the loop reads
	 * them in the posted completion */
	struct worker_job job;
	char since[64];
	struct conn *next_conn;
	struct hbody next_hb;
	char why[512];
};

static struct http_state *H(struct session *s)
{
	return s->tpd;
}

/* Framing of a 2xx body from its head. */
static void body_framing(const struct http_head *head, struct hbody *hb)
{
	char te[64], cl[64];

	if (http_head_get(head, "Transfer-Encoding", te, sizeof(te)) && strcasestr(te, "chunked"))
		hbody_init(hb, HBODY_CHUNKED, 0);
	else if (http_head_get(head, "Content-Length", cl, sizeof(cl)))
		hbody_init(hb, HBODY_LENGTH, strtoull(cl, NULL, 10));
	else
		hbody_init(hb, HBODY_CLOSE, 0);
}

/* GET path and read the head; a 2xx gives the connection and its framing,
 * anything else -errno (origin's policy) with the status line and the
 * server's message in err. */
static struct conn *get_body(struct session *s, const char *path, enum k8s_origin origin,
			     struct hbody *hb, int *perr, char *err, size_t errlen)
{
	struct http_head head;
	struct conn *c;

	memset(&head, 0, sizeof(head));
	c = conn_open(s->rest, path, NULL, rest_timeout_ms(s->rest), &head, perr, err, errlen);
	if (c && head.code >= 200 && head.code < 300) {
		body_framing(&head, hb);
		http_head_free(&head);
		return c;
	}
	if (c) {
		char msg[512];

		/* a pod's own error page says nothing a status line does not */
		snprintf(msg, sizeof(msg), "%s", err[0] == '<' ? "" : err);
		snprintf(err, errlen, "%s%s%s", head.status_line ? head.status_line : "no status",
			 msg[0] ? ": " : "", msg);
		*perr = -k8s_http_errno(head.code, origin);
		conn_close(c);
	}
	http_head_free(&head);
	return NULL;
}

static struct conn *open_log(struct session *s, const char *since, struct hbody *hb,
			     int *perr, char *err, size_t errlen)
{
	char *c = url_escape(s->container), path[2048];
	int n = k8s_path(path, sizeof(path), s->ns, s->pod, 0, "log");

	if (!c || n < 0) {
		free(c);
		*perr = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	snprintf(path + n, sizeof(path) - (size_t)n, "?container=%s&follow=true&timestamps=true%s%s",
		 c, since ? "&sinceTime=" : "", since ? since : "");
	free(c);
	return get_body(s, path, K8S_API, hb, perr, err, errlen);
}

/* ---- resuming a followed log (worker thread, then the loop) ---- */

static void resume_work(struct worker_job *j)
{
	struct session *s = j->done.ud;
	struct http_state *h = H(s);
	char msg[256];
	cJSON *pod;
	int e, running;

	h->next_conn = NULL;
	if (k8s_pod_get(s->rest, s->ns, s->pod, &pod, msg, sizeof(msg)) < 0) {
		snprintf(h->why, sizeof(h->why), "log ended (pod: %s)", msg);
		return;
	}
	running = k8s_container_running(pod, s->container);
	cJSON_Delete(pod);
	if (!running) {
		snprintf(h->why, sizeof(h->why), "log ended");
		return;
	}
	h->next_conn = open_log(s, h->since[0] ? h->since : NULL, &h->next_hb, &e, h->why,
				sizeof(h->why));
	if (!h->next_conn)
		pwarn("log %s: resume failed: %s", s->label, h->why);
}

static void resume_done(struct loop_job *j)
{
	struct session *s = j->ud;
	struct http_state *h = H(s);

	s->busy = 0;
	if (sess_finished(s)) {		/* hung up meanwhile */
		if (h->next_conn)
			conn_close(h->next_conn);
	} else if (h->next_conn) {
		h->hb = h->next_hb;
		logfilt_resume(&h->lf);
		sess_set_conn(s, h->next_conn);
		pinfo("log %s: server ended the stream, resumed", s->label);
	} else {
		sess_finish(s, SESS_EXITED, 0, "%s", h->why);
	}
	h->next_conn = NULL;
	sess_service(s);
	session_put(s);
}

/* The server ended a followed log: follow again from the last stamp
 * delivered if the container still runs, else that was the end. */
static void start_resume(struct session *s)
{
	struct http_state *h = H(s);

	sess_set_conn(s, NULL);
	if (h->lf.last_s)
		logfilt_since(&h->lf, h->since, sizeof(h->since));
	else
		h->since[0] = 0;
	h->job.work = resume_work;
	h->job.back = s->loop;
	h->job.done.fn = resume_done;
	h->job.done.ud = s;
	session_get(s);
	s->busy = 1;
	if (worker_submit(&h->job) < 0) {
		s->busy = 0;
		session_put(s);
		sess_finish(s, SESS_EXITED, 0, "log ended");
	}
}

/* ---- the pump ---- */

static void log_out(void *ud, const uint8_t *p, size_t n)
{
	sess_deliver(ud, 0, p, n);
}

/* The body is complete. */
static void body_done(struct session *s)
{
	if (s->kind == SESS_LOG)
		start_resume(s);
	else
		sess_finish(s, SESS_EXITED, 0, "body complete");
}

/* Raw bytes from the socket (n may be 0: a Content-Length body reports
 * its end on a call of its own). */
static void consume(struct session *s, const uint8_t *p, size_t n)
{
	struct http_state *h = H(s);

	while (s->conn && !sess_finished(s)) {
		const uint8_t *d;
		size_t used = 0, dn = 0;
		enum hbody_event e = hbody_feed(&h->hb, p, n, &used, &d, &dn);

		p += used, n -= used;
		if (e == HB_DATA) {
			if (s->kind == SESS_LOG)
				logfilt_feed(&h->lf, d, dn, log_out, s);
			else
				sess_deliver(s, 0, d, dn);
		} else if (e == HB_DONE) {
			body_done(s);	/* the rest belonged to the old stream */
		} else if (e == HB_ERROR) {
			pwarn("%s %s: bad response body: %s", s->kind == SESS_LOG ? "log" : "proxy",
			      s->label, h->hb.why ? h->hb.why : "framing error");
			sess_finish(s, SESS_LOST, EIO, "bad response body: %s",
				    h->hb.why ? h->hb.why : "framing error");
		} else {
			return;		/* all input taken */
		}
	}
}

static void http_pump(struct session *s, uint64_t now)
{
	struct sess_requests rq;

	(void)now;
	sess_take_requests(s, &rq);
	if (rq.hangup) {
		sess_finish(s, SESS_LOST, EIO, "hung up");
		return;
	}
	consume(s, NULL, 0);	/* an empty body is complete at once */
	while (s->conn && !sess_finished(s)) {
		ssize_t n = sess_recv(s);

		if (n == -EAGAIN)
			break;
		if (n > 0) {
			consume(s, s->rbuf, (size_t)n);
		} else if (n == 0 && H(s)->hb.mode == HBODY_CLOSE) {
			body_done(s);
		} else {
			pwarn("%s %s: %s", s->kind == SESS_LOG ? "log" : "proxy", s->label,
			      n == 0 ? "connection closed before the end of the body" :
			      strerror((int)-n));
			sess_finish(s, SESS_LOST, EIO, "%s", n == 0 ? "body cut off" : strerror((int)-n));
		}
	}
}

static int http_events(struct session *s)
{
	return sess_want_read(s) ? LOOP_READ : 0;
}

static uint64_t http_due(struct session *s)
{
	(void)s;
	return 0;
}

static int http_open(struct session *s, const struct session_params *p, char *err, size_t errlen)
{
	struct http_state *h = calloc(1, sizeof(*h));
	int e = 0;

	s->tpd = h;
	if (!h)
		return -ENOMEM;
	logfilt_init(&h->lf);
	if (s->kind == SESS_LOG)
		s->conn = open_log(s, NULL, &h->hb, &e, err, errlen);
	else if (p->path)
		s->conn = get_body(s, p->path, K8S_PROXIED, &h->hb, &e, err, errlen);
	else
		return -EINVAL;
	return s->conn ? 0 : (e ? e : -EIO);
}

static void http_free(struct session *s)
{
	free(s->tpd);
}

const struct sess_transport sess_http_transport = {
	.name = "http", .open = http_open, .pump = http_pump, .events = http_events,
	.due = http_due, .free = http_free,
};
