/* The WebSocket transport: exec, attach and port-forward sessions over the
 * Kubernetes channel protocols (channel.c) on RFC 6455 frames (wsframe.c).
 *
 * Two output queues: control frames (ping, pong, close) and data frames
 * (stdin, port data, resize, v5 half-close).  Control frames go first
 * whenever the wire is at a frame boundary, so a pong never waits behind
 * up to OQ_HIGH bytes of stdin and the keepalive cannot time out just
 * because the user pastes a large file.  The data queue remembers where
 * its frames end (a control frame cannot go inside another frame).
 *
 * Keepalive: a ping every interval; no pong within the timeout and the
 * connection is lost (EIO), as client-go's ping period does. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "stream/log.h"
#include "stream/mux.h"
#include "stream/session_i.h"
#include "stream/wsframe.h"

#define STDIN_CHUNK	(32 * 1024)	/* one message per chunk, as client-go */
#define OQ_HIGH		(128 * 1024)	/* stop pulling input above this */
#define MAX_FRAME	(32u << 20)	/* as x/net: larger server frames are refused */
#define FRAMES_MAX	64		/* data frames queued at once */

static long keepalive_interval_ms = 30000, keepalive_timeout_ms = 30000;

void mux_set_keepalive(long interval_ms, long timeout_ms)
{
	keepalive_interval_ms = interval_ms;
	keepalive_timeout_ms = timeout_ms;
}

struct bq {			/* bytes waiting for the socket */
	uint8_t *p;
	size_t len, off, cap;
	/* A send of this queue returned EAGAIN: under TLS the retry must
	 * offer the same bytes at the same address (OpenSSL's write retry
	 * rule), so the queue may grow only where it has room until then. */
	int retry;
};

/* All (loop) once the session is adopted. */
struct ws_state {
	struct ws_dec wd;
	struct chan_dec cd;
	uint8_t *scratch;
	struct bq ctl, data;
	uint32_t flen[FRAMES_MAX];	/* lengths of the queued data frames */
	int fl_head, fl_n;
	size_t frame_left;		/* unsent bytes of the data frame on the wire */
	int got_status, got_close, close_sent, close_input_sent;
	uint64_t ping_sent_ms, last_ping_ms;
	int ping_outstanding;
};

static struct ws_state *W(struct session *s)
{
	return s->tpd;
}

/* ---- queues ---- */

/* Reserve n bytes at the end of q; NULL when out of memory, or when
 * making room would move bytes a pending send retry points at. */
static uint8_t *bq_reserve(struct bq *q, size_t n)
{
	if (q->off && q->off == q->len)
		q->off = q->len = 0;
	if (q->len + n > q->cap) {
		if (q->retry)
			return NULL;
		size_t cap = q->cap ? q->cap : 4096;
		uint8_t *p;

		if (q->off) {
			memmove(q->p, q->p + q->off, q->len - q->off);
			q->len -= q->off;
			q->off = 0;
		}
		while (q->len + n > cap)
			cap *= 2;
		if (cap != q->cap) {
			if (!(p = realloc(q->p, cap)))
				return NULL;
			q->p = p;
			q->cap = cap;
		}
	}
	return q->p + q->len;
}

static void new_mask(uint8_t mask[4])
{
	if (RAND_bytes(mask, 4) != 1) {
		/* RAND_bytes does not fail once seeded; keep masking anyway */
		uint64_t t = mono_ms() * 2654435761u;

		memcpy(mask, &t, 4);
	}
}

static int queue_control(struct ws_state *w, int opcode, const void *p, size_t n)
{
	uint8_t mask[4], *o = bq_reserve(&w->ctl, n + 14);
	size_t h;

	if (!o)
		return -ENOMEM;
	new_mask(mask);
	h = ws_enc_header(o, opcode, n, mask);
	if (n)
		memcpy(o + h, p, n);
	ws_mask(o + h, n, mask, 0);
	w->ctl.len += h + n;
	return 0;
}

/* Room for one more data frame of up to n payload bytes, or NULL. */
static uint8_t *data_reserve(struct ws_state *w, size_t n)
{
	return w->fl_n < FRAMES_MAX ? bq_reserve(&w->data, n) : NULL;
}

static void data_commit(struct ws_state *w, size_t frame)
{
	w->data.len += frame;
	w->flen[(w->fl_head + w->fl_n++) % FRAMES_MAX] = (uint32_t)frame;
}

/* Send what the socket takes, control frames first at frame boundaries.
 * 0, or -errno when the connection broke. */
static int flush(struct session *s)
{
	struct ws_state *w = W(s);

	for (;;) {
		struct bq *q;
		size_t n;
		ssize_t sent;

		if (w->frame_left == 0 && w->ctl.len > w->ctl.off) {
			q = &w->ctl;
			n = q->len - q->off;
		} else if (w->data.len > w->data.off) {
			if (w->frame_left == 0) {
				w->frame_left = w->flen[w->fl_head];
				w->fl_head = (w->fl_head + 1) % FRAMES_MAX;
				w->fl_n--;
			}
			q = &w->data;
			n = w->frame_left;
		} else {
			return 0;
		}
		sent = conn_send(s->conn, q->p + q->off, n);
		q->retry = sent == -EAGAIN;
		if (sent == -EAGAIN)
			return 0;
		if (sent < 0)
			return (int)sent;
		q->off += (size_t)sent;
		if (q == &w->data)
			w->frame_left -= (size_t)sent;
		if (q->off == q->len)
			q->off = q->len = 0;
	}
}

/* ---- how it ended ---- */

/* The server closed (Close frame or EOF): was that a normal end? */
static void ended(struct session *s)
{
	struct ws_state *w = W(s);

	if (s->kind == SESS_PORT) {
		if (w->got_close)
			sess_finish(s, SESS_EXITED, 0, "connection closed by the pod");
		else
			sess_finish(s, SESS_LOST, EIO, "connection to the server dropped");
	} else if (!w->got_status) {
		sess_finish(s, SESS_LOST, EIO, w->got_close ? "connection closed before the exit status" :
			    "connection closed by the server without a Close frame");
	} else if (s->st.kind == K8S_FAILURE) {
		/* An attach has no status file, so a failure (including a
		 * status that is not JSON) must reach its readers as an error,
		 * not as the end of the output, and be said in the log.  Exec
		 * readers get EOF: `status` tells. */
		int e = s->kind == SESS_ATTACH ? EIO : 0;
		const char *reason = s->st.reason[0] ? s->st.reason : "Failure";

		if (e)
			pwarn("attach %s: %s: %.300s", s->label, reason, s->st.message);
		sess_finish(s, SESS_FAILED, e, "%s: %s", reason, s->st.message);
	} else {
		sess_finish(s, SESS_EXITED, 0, "exited %d",
			    s->st.kind == K8S_EXIT ? s->st.exit_code : 0);
	}
}

static void ws_goodbye(struct session *s)
{
	struct ws_state *w = W(s);
	uint8_t code[2] = { 0x03, 0xe8 };	/* 1000: normal closure */

	/* best effort, never inside a half-sent frame: the server may be gone */
	if (!w || !s->conn || w->close_sent || queue_control(w, WS_OP_CLOSE, code, 2) < 0)
		return;
	w->close_sent = 1;
	if (flush(s) < 0)
		pdebug("session %s: Close frame not sent", s->label);
}

/* ---- channel callbacks ---- */

static void on_data(void *ud, int ch, const uint8_t *p, size_t n)
{
	struct session *s = ud;

	if (s->kind == SESS_PORT)
		sess_deliver(s, ch == 0 ? 0 : -1, p, n);
	else if (ch == CH_STDOUT || ch == CH_STDERR)
		sess_deliver(s, ch, p, n);
}

static void on_ready(void *ud)
{
	(void)ud;
}

static void on_status(void *ud, const struct k8s_status *st)
{
	struct session *s = ud;

	pthread_mutex_lock(&s->lock);
	s->st = *st;
	pthread_mutex_unlock(&s->lock);
	W(s)->got_status = 1;
	pdebug("session %s: status %d exit %d %s", s->label, st->kind, st->exit_code, st->message);
}

static void on_closed(void *ud, int ch)
{
	struct session *s = ud;

	if ((ch == CH_STDOUT || ch == CH_STDERR) && s->kind != SESS_PORT && s->out[ch])
		chanbuf_finish(s->out[ch], 0);
}

static void on_port_error(void *ud, int ch, const char *msg, size_t n)
{
	struct session *s = ud;
	int err = memmem(msg, n, "connection refused", 18) ? ECONNREFUSED : EIO;

	(void)ch;
	/* the whole text: it names the port, the pod sandbox and the cause */
	pwarn("port-forward %s:%d: %.*s", s->label, W(s)->cd.port, (int)n, msg);
	sess_finish(s, SESS_FAILED, err, "%.*s", (int)n, msg);
}

static void on_proto_error(void *ud, const char *why)
{
	struct session *s = ud;

	pwarn("session %s: protocol error: %s", s->label, why);
	sess_finish(s, SESS_LOST, EIO, "protocol error: %s", why);
}

static const struct chan_cb chan_callbacks = {
	.data = on_data, .ready = on_ready, .status = on_status,
	.closed = on_closed, .port_error = on_port_error,
	.proto_error = on_proto_error,
};

/* ---- the pump ---- */

static void on_control(struct session *s, const struct ws_event *ev)
{
	struct ws_state *w = W(s);

	if (ev->opcode == WS_OP_PING) {
		queue_control(w, WS_OP_PONG, ev->data, ev->len);
	} else if (ev->opcode == WS_OP_PONG) {
		w->ping_outstanding = 0;
	} else if (ev->opcode == WS_OP_CLOSE) {
		w->got_close = 1;
		ended(s);	/* the goodbye answers it */
	}
}

/* Bytes from the socket: frames to the channel decoder. */
static void consume(struct session *s, uint8_t *p, size_t n)
{
	struct ws_state *w = W(s);

	while (!sess_finished(s)) {
		struct ws_event ev;
		size_t used = 0;
		enum ws_event_type t = ws_dec_feed(&w->wd, p, n, &used, &ev);

		p += used, n -= used;
		if (t == WS_EV_NONE)
			return;
		if (t == WS_EV_CONTROL)
			on_control(s, &ev);
		else if (t == WS_EV_ERROR)
			sess_finish(s, SESS_LOST, EIO, "bad WebSocket frame from the server: %s",
				    ev.error ? ev.error : "protocol error");
		else
			chan_dec_event(&w->cd, &ev);
	}
}

/* Encode pending input (stdin, port data) and control requests. */
static void fill(struct session *s, const struct sess_requests *rq)
{
	struct ws_state *w = W(s);
	uint8_t mask[4], *o;

	if (rq->resize && (o = data_reserve(w, 128))) {
		new_mask(mask);
		data_commit(w, chan_enc_resize(o, 128, rq->w, rq->h, mask));
	}
	while (s->in_rd && w->data.len - w->data.off < OQ_HIGH &&
	       (o = data_reserve(w, STDIN_CHUNK + CHAN_FRAME_OVERHEAD))) {
		ssize_t n = chanbuf_read(s->in_rd, w->scratch, STDIN_CHUNK);

		if (n <= 0)
			break;
		new_mask(mask);
		data_commit(w, chan_enc_data(o, s->kind == SESS_PORT ? 0 : CH_STDIN,
					     w->scratch, (size_t)n, mask));
	}
	if (rq->close_input && !w->close_input_sent && chanbuf_used(s->in) == 0 &&
	    (o = data_reserve(w, 16))) {
		new_mask(mask);
		data_commit(w, chan_enc_close(o, CH_STDIN, mask));
		w->close_input_sent = 1;
	}
}

static void keepalive(struct session *s, uint64_t now)
{
	struct ws_state *w = W(s);

	if (keepalive_interval_ms <= 0)
		return;
	if (w->ping_outstanding && now - w->ping_sent_ms > (uint64_t)keepalive_timeout_ms) {
		pwarn("session %s: no pong within %ld ms of our ping: the connection is lost",
		      s->label, keepalive_timeout_ms);
		sess_finish(s, SESS_LOST, EIO, "no reply to ping within %ld s",
			    keepalive_timeout_ms / 1000);
	} else if (!w->ping_outstanding &&
		   now - w->last_ping_ms >= (uint64_t)keepalive_interval_ms) {
		queue_control(w, WS_OP_PING, "podfs", 5);
		w->ping_outstanding = 1;
		w->ping_sent_ms = w->last_ping_ms = now;
	}
}

static void ws_pump(struct session *s, uint64_t now)
{
	struct sess_requests rq;
	int e;

	sess_take_requests(s, &rq);
	if (rq.hangup) {
		sess_finish(s, SESS_LOST, EIO, "hung up");
		return;
	}
	fill(s, &rq);
	keepalive(s, now);
	if (!sess_finished(s) && (e = flush(s)) < 0)
		sess_finish(s, SESS_LOST, EIO, "connection to the server broke: %s", strerror(-e));
	while (!sess_finished(s)) {
		ssize_t n = sess_recv(s);

		if (n == -EAGAIN)
			break;
		if (n == 0) {
			ended(s);	/* with the status, only the Close is missing */
		} else if (n < 0) {
			sess_finish(s, SESS_LOST, EIO, "connection to the server broke: %s",
				    strerror((int)-n));
		} else {
			consume(s, s->rbuf, (size_t)n);
			/* a pong to send, or input freed by the server's pace */
			if (!sess_finished(s) && (e = flush(s)) < 0)
				sess_finish(s, SESS_LOST, EIO, "connection to the server broke: %s",
					    strerror(-e));
		}
	}
}

static int ws_events(struct session *s)
{
	struct ws_state *w = W(s);
	int ev = sess_want_read(s) ? LOOP_READ : 0;

	/* Input left in the buffer after fill() stopped at OQ_HIGH has
	 * already kicked us once; without LOOP_WRITE nobody would again. */
	if (w->ctl.len > w->ctl.off || w->data.len > w->data.off ||
	    (s->in_rd && chanbuf_used(s->in) > 0))
		ev |= LOOP_WRITE;
	return ev;
}

static uint64_t ws_due(struct session *s)
{
	struct ws_state *w = W(s);

	if (keepalive_interval_ms <= 0)
		return 0;
	if (w->ping_outstanding)
		return w->ping_sent_ms + (uint64_t)keepalive_timeout_ms + 1;
	return w->last_ping_ms + (uint64_t)keepalive_interval_ms;
}

/* ---- starting ---- */

static int append(char *b, size_t cap, size_t *len, const char *fmt, const char *v)
{
	int n = snprintf(b + *len, cap - *len, fmt, v);

	if (n < 0 || (size_t)n >= cap - *len)
		return -ENAMETOOLONG;
	*len += (size_t)n;
	return 0;
}

/* The query of an exec/attach; argv words are escaped one by one. */
static int stream_query(char *b, size_t cap, size_t *len, const struct session_params *p)
{
	char *e = url_escape(p->container);
	int r = e ? append(b, cap, len, "?container=%s", e) : -ENOMEM;

	free(e);
	for (char *const *a = p->kind == SESS_EXEC ? p->argv : NULL; !r && a && *a; a++) {
		e = url_escape(*a);
		r = e ? append(b, cap, len, "&command=%s", e) : -ENOMEM;
		free(e);
	}
	/* explicit values: servers differ on defaults (protocol.md §1.2) */
	if (!r)
		r = append(b, cap, len, "&stdin=%s", p->in ? "true" : "false");
	if (!r)
		r = append(b, cap, len, "&stdout=%s", p->out ? "true" : "false");
	if (!r)
		r = append(b, cap, len, "&stderr=%s", p->err && !p->tty ? "true" : "false");
	if (!r)
		r = append(b, cap, len, "&tty=%s", p->tty ? "true" : "false");
	return r;
}

/* The request path, malloc'd (an argv may be long), or NULL. */
static char *ws_path(const struct session_params *p)
{
	size_t cap = 4096, len;
	char *b = NULL, port[32];
	int n, r;

	for (const char *const *a = (const char *const *)p->argv; p->kind == SESS_EXEC && a && *a; a++)
		cap += strlen(*a) * 3 + 16;
	if (!(b = malloc(cap)))
		return NULL;
	n = k8s_path(b, cap, p->ns, p->pod, 0, p->kind == SESS_EXEC ? "exec" :
		     p->kind == SESS_ATTACH ? "attach" : "portforward");
	if (n < 0) {
		free(b);
		return NULL;
	}
	len = (size_t)n;
	snprintf(port, sizeof(port), "%d", p->port);
	r = p->kind == SESS_PORT ? append(b, cap, &len, "?ports=%s", port) :
		stream_query(b, cap, &len, p);
	if (r < 0) {
		free(b);
		return NULL;
	}
	return b;
}

int sess_ws_setup(struct session *s, const struct session_params *p, const char *chosen,
		  char *err, size_t errlen)
{
	struct ws_state *w = calloc(1, sizeof(*w));

	s->tpd = w;
	if (!w || !(w->scratch = malloc(STDIN_CHUNK)))
		return -ENOMEM;
	s->proto = chan_proto_from_name(chosen);
	if (s->proto < 0) {
		snprintf(err, errlen, "server chose protocol \"%s\", which podfs did not offer", chosen);
		return -EPROTO;
	}
	ws_dec_init(&w->wd, MAX_FRAME, 0);
	chan_dec_init(&w->cd, (enum chan_proto)s->proto,
		      p->kind == SESS_PORT ? CHAN_MODE_PORTFORWARD : CHAN_MODE_STREAM,
		      (uint16_t)p->port, &chan_callbacks, s);
	w->last_ping_ms = mono_ms();
	return 0;
}

static int ws_open(struct session *s, const struct session_params *p, char *err, size_t errlen)
{
	char chosen[64] = "", *path = ws_path(p);
	int e = 0;

	if (!path)
		return -ENOMEM;
	s->conn = ws_connect(s->rest, path, p->kind == SESS_PORT ? "v4.channel.k8s.io" :
			     "v5.channel.k8s.io, v4.channel.k8s.io",
			     rest_timeout_ms(s->rest), chosen, sizeof(chosen), &e, err, errlen);
	free(path);
	if (!s->conn)
		return e ? e : -EIO;
	return sess_ws_setup(s, p, chosen, err, errlen);
}

static void ws_free(struct session *s)
{
	struct ws_state *w = W(s);

	if (!w)
		return;
	chan_dec_free(&w->cd);
	free(w->ctl.p);
	free(w->data.p);
	free(w->scratch);
	free(w);
}

const struct sess_transport sess_ws_transport = {
	.name = "websocket", .open = ws_open, .pump = ws_pump, .events = ws_events,
	.due = ws_due, .goodbye = ws_goodbye, .free = ws_free,
};
