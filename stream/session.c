/* Streaming sessions: the state of one connection to the API server and
 * the byte pump the multiplexer thread runs for it.
 *
 * Flow: session_start() connects and upgrades in the caller's thread (so an
 * open() or `start` fails with the server's errno), then hands the
 * connection to the pod's multiplexer (mux.c).  From then on only that
 * thread touches the connection: session_service() sends queued frames,
 * reads the socket into the channel buffers and ends the session.
 *
 * Backpressure: the socket is read only while every output buffer has
 * room for a whole read (a read of N bytes never yields more than N bytes
 * of payload), so a write into a buffer can never fall short and nothing
 * is dropped; when a reader is slow we stop reading and TCP pushes back.
 *
 * Ending: output buffers end with EOF only after a normal end (the final
 * status for exec/attach, a Close frame for port-forward, the last chunk
 * of a log); a connection that breaks first ends them with EIO, so a lost
 * stream is never mistaken for a complete one. */
#include "stream/session.h"

#include <errno.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <openssl/rand.h>
#include <poll.h>

#include "stream/conn.h"
#include "stream/httpchunk.h"
#include "stream/log.h"
#include "stream/logstamp.h"
#include "stream/mux.h"
#include "stream/session_i.h"
#include "stream/wsframe.h"

#define RBUF_SIZE	(64 * 1024)
#define STDIN_CHUNK	(32 * 1024)	/* one message per chunk, as client-go */
#define OQ_HIGH		(128 * 1024)	/* stop pulling input above this */
#define MAX_FRAME	(32u << 20)	/* as x/net: larger server frames are refused */

static long keepalive_interval_ms = 30000, keepalive_timeout_ms = 30000;

void mux_set_keepalive(long interval_ms, long timeout_ms)
{
	keepalive_interval_ms = interval_ms;
	keepalive_timeout_ms = timeout_ms;
}


struct session {
	pthread_mutex_t lock;	/* guards the fields marked (L) */
	int refs;		/* (L) */
	enum sess_kind kind;
	struct rest *rest;
	char *ns, *pod, *container;
	struct mux *mux;
	struct conn *conn;	/* owned by the mux thread after start */
	int proto;		/* CHAN_V4 / CHAN_V5; 0 for logs */
	int tty;

	struct ws_dec wd;
	struct chan_dec cd;
	struct hbody hb;

	struct chanbuf *out[3];	/* stream: [1] stdout, [2] stderr; port/log: [0] */
	struct chanbuf *in;	/* towards the server */
	struct cb_reader *in_rd;

	uint8_t *oq;		/* encoded frames waiting for the socket */
	size_t oq_len, oq_off, oq_cap;
	uint8_t *rbuf;
	uint8_t *scratch;

	/* requests from other threads (L) */
	int want_close_input, want_hangup, want_resize;
	unsigned rs_w, rs_h;
	int close_input_sent;

	/* state (L) */
	enum sess_state state;
	struct k8s_status st;
	char why[512];
	int port_err;		/* errno from a port-forward error message */
	int got_status, got_close;
	int finished;
	int starved;		/* the mux stopped reading: outputs full (atomic) */

	uint64_t ping_sent_ms, last_ping_ms;
	int ping_outstanding;

	struct logfilt lf;	/* followed log: stamps stripped, repeats skipped */

	session_end_fn on_end;
	void *ud;
};

/* ---- buffers and small helpers ---- */

/* An output buffer freed room: wake the thread only if it stopped reading
 * for want of room.  Every consumed chunk would otherwise cost an eventfd
 * write, a poll wake-up and a pass over the pod's sessions. */
static void wake_if_starved(void *ud)
{
	struct session *s = ud;

	if (__atomic_load_n(&s->starved, __ATOMIC_SEQ_CST) && s->mux)
		mux_wake(s->mux);
}

static void wake_mux(void *ud)
{
	struct session *s = ud;

	if (s->mux)
		mux_wake(s->mux);
}

void session_set_mux(struct session *s, struct mux *m)
{
	s->mux = m;
}

int session_fd(struct session *s)
{
	return s->conn ? conn_fd(s->conn) : -1;
}

void session_get(struct session *s)
{
	pthread_mutex_lock(&s->lock);
	s->refs++;
	pthread_mutex_unlock(&s->lock);
}

void session_put(struct session *s)
{
	int i, left;

	pthread_mutex_lock(&s->lock);
	left = --s->refs;
	pthread_mutex_unlock(&s->lock);
	if (left)
		return;
	if (s->conn)
		conn_close(s->conn);
	for (i = 0; i < 3; i++) {
		if (s->out[i]) {
			chanbuf_set_writer(s->out[i], NULL, NULL);
			chanbuf_put(s->out[i]);
		}
	}
	if (s->in_rd)
		chanbuf_reader_close(s->in_rd);
	if (s->in)
		chanbuf_put(s->in);
	if (s->mux)
		mux_put(s->mux);
	chan_dec_free(&s->cd);
	free(s->oq);
	free(s->rbuf);
	free(s->scratch);
	free(s->ns);
	free(s->pod);
	free(s->container);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

struct chanbuf *session_output(struct session *s, int ch)
{
	return ch >= 0 && ch < 3 ? s->out[ch] : NULL;
}

struct chanbuf *session_input(struct session *s)
{
	return s->in;
}

int session_protocol(struct session *s)
{
	return s->proto;
}

enum sess_state session_state(struct session *s, struct k8s_status *st,
			      char *why, size_t whylen)
{
	enum sess_state state;

	pthread_mutex_lock(&s->lock);
	state = s->state;
	if (st)
		*st = s->st;
	if (why && whylen)
		snprintf(why, whylen, "%s", s->why);
	pthread_mutex_unlock(&s->lock);
	return state;
}

int session_close_input(struct session *s)
{
	int r = 0;

	if (!s->in)
		return -EINVAL;
	if (s->kind == SESS_EXEC && s->proto != CHAN_V5)
		return -ENOTSUP;
	if (s->kind != SESS_EXEC)
		return -ENOTSUP;
	pthread_mutex_lock(&s->lock);
	s->want_close_input = 1;
	pthread_mutex_unlock(&s->lock);
	wake_mux(s);
	return r;
}

int session_resize(struct session *s, unsigned w, unsigned h)
{
	if (s->kind != SESS_EXEC && s->kind != SESS_ATTACH)
		return -EINVAL;
	if (w > 65535 || h > 65535)
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	s->want_resize = 1;
	s->rs_w = w;
	s->rs_h = h;
	pthread_mutex_unlock(&s->lock);
	wake_mux(s);
	return 0;
}

void session_hangup(struct session *s)
{
	pthread_mutex_lock(&s->lock);
	s->want_hangup = 1;
	pthread_mutex_unlock(&s->lock);
	wake_mux(s);
}

/* Reserve n bytes at the end of the output queue. */
static uint8_t *oq_reserve(struct session *s, size_t n)
{
	if (s->oq_off && s->oq_off == s->oq_len)
		s->oq_off = s->oq_len = 0;
	if (s->oq_len + n > s->oq_cap) {
		size_t cap = s->oq_cap ? s->oq_cap : 4096;
		uint8_t *p;

		if (s->oq_off) {
			memmove(s->oq, s->oq + s->oq_off, s->oq_len - s->oq_off);
			s->oq_len -= s->oq_off;
			s->oq_off = 0;
		}
		while (s->oq_len + n > cap)
			cap *= 2;
		if (cap != s->oq_cap) {
			p = realloc(s->oq, cap);
			if (!p)
				return NULL;
			s->oq = p;
			s->oq_cap = cap;
		}
	}
	return s->oq + s->oq_len;
}

static void new_mask(uint8_t mask[4])
{
	if (RAND_bytes(mask, 4) != 1) {
		/* RAND_bytes does not fail once seeded; keep masking anyway */
		uint64_t t = mono_ms() * 2654435761u;

		memcpy(mask, &t, 4);
	}
}

static int queue_control(struct session *s, int opcode, const void *p, size_t n)
{
	uint8_t mask[4], *o = oq_reserve(s, n + 14);
	size_t h;

	if (!o)
		return -ENOMEM;
	new_mask(mask);
	h = ws_enc_header(o, opcode, n, mask);
	if (n)
		memcpy(o + h, p, n);
	ws_mask(o + h, n, mask, 0);
	s->oq_len += h + n;
	return 0;
}

/* ---- ending ---- */

/* Ends the session once: records the state, ends every buffer (readers get
 * the bytes that arrived first, then EOF or err), closes the connection. */
static void finish(struct session *s, enum sess_state state, int err,
		   const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void finish(struct session *s, enum sess_state state, int err,
		   const char *fmt, ...)
{
	va_list ap;
	int i;

	pthread_mutex_lock(&s->lock);
	if (s->finished) {
		pthread_mutex_unlock(&s->lock);
		return;
	}
	s->finished = 1;
	s->state = state;
	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(s->why, sizeof(s->why), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&s->lock);
	pdebug("session %s/%s/%s: ended (%d) %s", s->ns, s->pod,
	       s->container ? s->container : "-", state, s->why);
	for (i = 0; i < 3; i++)
		if (s->out[i])
			chanbuf_finish(s->out[i], err);
	if (s->in)	/* a refused port is that errno for writers too */
		chanbuf_finish(s->in, s->kind == SESS_PORT && state == SESS_FAILED && err ?
			       err : EPIPE);
	if (s->conn) {
		conn_close(s->conn);
		s->conn = NULL;
	}
	if (s->on_end)
		s->on_end(s->ud, s);
}

void session_abort(struct session *s, const char *why)
{
	finish(s, SESS_LOST, EIO, "%s", why);
}

/* The connection ended (EOF, Close frame, or the end of a log body). */
static void ended_normally(struct session *s)
{
	switch (s->kind) {
	case SESS_EXEC:
	case SESS_ATTACH:
		if (!s->got_status) {
			finish(s, SESS_LOST, EIO, "connection closed before the exit status");
		} else if (s->st.kind == K8S_FAILURE) {
			/* An attach has no status file, so a failure (including
			 * a status that is not JSON) must reach its readers as
			 * an error, not as the end of the output, and be said
			 * in the log.  Exec readers get EOF: `status` tells. */
			int e = s->kind == SESS_ATTACH ? EIO : 0;

			if (e)
				pwarn("attach %s/%s/%s: %s: %.300s", s->ns, s->pod,
				      s->container ? s->container : "-",
				      s->st.reason[0] ? s->st.reason : "Failure", s->st.message);
			finish(s, SESS_FAILED, e, "%s: %s", s->st.reason[0] ? s->st.reason : "Failure",
			       s->st.message);
		} else {
			finish(s, SESS_EXITED, 0, "exited %d", s->st.kind == K8S_EXIT ? s->st.exit_code : 0);
		}
		break;
	case SESS_PORT:
		if (s->got_close)
			finish(s, SESS_EXITED, 0, "connection closed by the pod");
		else
			finish(s, SESS_LOST, EIO, "connection to the server dropped");
		break;
	case SESS_LOG:
		finish(s, SESS_EXITED, 0, "log ended");
		break;
	}
}

/* ---- channel callbacks ---- */

static void on_data(void *ud, int ch, const uint8_t *p, size_t n)
{
	struct session *s = ud;
	struct chanbuf *b = NULL;
	size_t w;

	if (s->kind == SESS_PORT || s->kind == SESS_LOG) {
		if (ch == 0)
			b = s->out[0];
	} else if (ch == CH_STDOUT || ch == CH_STDERR) {
		b = s->out[ch];
	}
	if (!b)
		return;		/* a channel we did not ask for: ignored, as servers do */
	w = chanbuf_write(b, p, n);
	if (w != n) {
		/* Cannot happen while reads are capped by the free space; if it
		 * does, losing bytes silently would be worse than failing. */
		perr("session %s/%s: buffer overrun (%zu of %zu bytes)", s->ns, s->pod, w, n);
		finish(s, SESS_LOST, EIO, "internal buffer overrun");
	}
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
	s->got_status = 1;
	pthread_mutex_unlock(&s->lock);
	pdebug("session %s/%s: status %d exit %d %s", s->ns, s->pod, st->kind,
	       st->exit_code, st->message);
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
	pwarn("port-forward %s/%s:%d: %.*s", s->ns, s->pod, s->cd.port, (int)n, msg);
	s->port_err = err;
	finish(s, SESS_FAILED, err, "%.*s", (int)n, msg);
}

static void on_proto_error(void *ud, const char *why)
{
	struct session *s = ud;

	pwarn("session %s/%s: protocol error: %s", s->ns, s->pod, why);
	finish(s, SESS_LOST, EIO, "protocol error: %s", why);
}

static const struct chan_cb chan_callbacks = {
	.data = on_data, .ready = on_ready, .status = on_status,
	.closed = on_closed, .port_error = on_port_error,
	.proto_error = on_proto_error,
};

/* ---- followed logs ---- */

static void log_out(void *ud, const uint8_t *p, size_t n)
{
	on_data(ud, 0, p, n);
}

static void log_feed(struct session *s, const uint8_t *p, size_t n)
{
	logfilt_feed(&s->lf, p, n, log_out, s);
}

static char *build_path(const struct session *s, const struct session_params *p);

static int container_running(struct session *s)
{
	char msg[256];
	cJSON *pod;
	int running;

	if (k8s_pod_get(s->rest, s->ns, s->pod, &pod, msg, sizeof(msg)) < 0)
		return 0;
	running = k8s_container_running(pod, s->container);
	cJSON_Delete(pod);
	return running;
}

static int open_log(struct session *s, const char *since, int *perr, char *err, size_t errlen);

/* The server ended a followed log (idle timeout, rotation) although the
 * container still runs: follow again from the last stamp delivered. */
static int log_resume(struct session *s)
{
	char since[64], err[512];
	int e;

	if (!container_running(s))
		return -1;
	logfilt_since(&s->lf, since, sizeof(since));
	conn_close(s->conn);
	s->conn = NULL;
	if (open_log(s, s->lf.last_s ? since : NULL, &e, err, sizeof(err)) < 0) {
		pwarn("log %s/%s/%s: resume failed: %s", s->ns, s->pod, s->container, err);
		return -1;
	}
	logfilt_resume(&s->lf);
	pinfo("log %s/%s/%s: server ended the stream, resumed", s->ns, s->pod, s->container);
	return 0;
}

/* ---- the pump ---- */

static size_t read_room(struct session *s);

short session_events(struct session *s)
{
	short ev = 0;
	size_t room;

	if (!s->conn)
		return 0;
	/* Ask for input only when it can be taken: with the buffers full, a
	 * readable socket would wake the thread for nothing, over and over. */
	room = read_room(s);
	if (room >= 4096 || (room > 0 && conn_pending(s->conn)))
		ev |= POLLIN;
	/* Input left in the buffer after fill_output stopped at OQ_HIGH has
	 * already woken us once; without POLLOUT nobody wakes us again and
	 * it would wait for the next timer (1 s stalls in stdin throughput). */
	if (s->oq_len > s->oq_off || (s->in_rd && chanbuf_used(s->in) > 0))
		ev |= POLLOUT;
	return ev;
}

static size_t read_room(struct session *s)
{
	size_t min = RBUF_SIZE;
	int i;

	for (i = 0; i < 3; i++) {
		if (s->out[i]) {
			size_t sp = chanbuf_space(s->out[i]);

			if (sp < min)
				min = sp;
		}
	}
	return min;
}

/* Bytes from the socket: WebSocket frames or an HTTP body. */
static int consume(struct session *s, uint8_t *p, size_t n)
{
	while (n && !s->finished) {
		size_t used = 0;

		if (s->kind == SESS_LOG) {
			const uint8_t *d;
			size_t dn;
			enum hbody_event e = hbody_feed(&s->hb, p, n, &used, &d, &dn);

			p += used, n -= used;
			if (e == HB_DATA) {
				log_feed(s, d, dn);
			} else if (e == HB_DONE) {
				if (log_resume(s) < 0) {
					ended_normally(s);
					return 1;
				}
				return 0;	/* the rest belonged to the old stream */
			} else if (e == HB_ERROR) {
				finish(s, SESS_LOST, EIO, "bad log stream: %s", s->hb.why);
				return 1;
			} else if (used == 0) {
				break;
			}
			continue;
		} else {
			struct ws_event ev;
			enum ws_event_type t = ws_dec_feed(&s->wd, p, n, &used, &ev);

			p += used, n -= used;
			switch (t) {
			case WS_EV_NONE:
				if (!used)
					return 0;
				break;
			case WS_EV_MSG_BEGIN:
			case WS_EV_MSG_DATA:
			case WS_EV_MSG_END:
				chan_dec_event(&s->cd, &ev);
				break;
			case WS_EV_CONTROL:
				if (ev.opcode == WS_OP_PING) {
					queue_control(s, WS_OP_PONG, ev.data, ev.len);
				} else if (ev.opcode == WS_OP_PONG) {
					s->ping_outstanding = 0;
				} else if (ev.opcode == WS_OP_CLOSE) {
					uint8_t code[2] = { 0x03, 0xe8 };

					s->got_close = 1;
					queue_control(s, WS_OP_CLOSE, code, 2);
					if (s->conn)	/* best effort: the server may be gone */
						conn_send(s->conn, s->oq + s->oq_off, s->oq_len - s->oq_off);
					s->oq_off = s->oq_len = 0;
					ended_normally(s);
					return 1;
				}
				break;
			case WS_EV_ERROR:
				finish(s, SESS_LOST, EIO, "bad WebSocket frame from the server: %s",
				       ev.error ? ev.error : "protocol error");
				return 1;
			}
		}
	}
	return s->finished;
}

/* Encode pending input (stdin, port data) and control requests. */
static void fill_output(struct session *s)
{
	int close_input, hangup, resize;
	unsigned w, h;

	pthread_mutex_lock(&s->lock);
	close_input = s->want_close_input && !s->close_input_sent;
	hangup = s->want_hangup;
	resize = s->want_resize;
	w = s->rs_w;
	h = s->rs_h;
	s->want_resize = 0;
	pthread_mutex_unlock(&s->lock);

	if (hangup) {
		/* a clean close: Close 1000, best effort, then the socket */
		if (s->conn && s->proto) {
			uint8_t code[2] = { 0x03, 0xe8 };

			if (queue_control(s, WS_OP_CLOSE, code, 2) == 0)
				conn_send(s->conn, s->oq + s->oq_off, s->oq_len - s->oq_off);
		}
		finish(s, SESS_LOST, EIO, "hung up");
		return;
	}
	if (resize && s->proto) {
		uint8_t mask[4], *o = oq_reserve(s, 128);

		if (o) {
			new_mask(mask);
			s->oq_len += chan_enc_resize(o, 128, w, h, mask);
		}
	}
	while (s->in_rd && s->oq_len - s->oq_off < OQ_HIGH) {
		uint8_t mask[4], *o;
		ssize_t n = chanbuf_read(s->in_rd, s->scratch, STDIN_CHUNK);

		if (n <= 0)
			break;
		o = oq_reserve(s, (size_t)n + CHAN_FRAME_OVERHEAD);
		if (!o) {
			finish(s, SESS_LOST, ENOMEM, "out of memory");
			return;
		}
		new_mask(mask);
		s->oq_len += chan_enc_data(o, s->kind == SESS_PORT ? 0 : CH_STDIN,
					   s->scratch, (size_t)n, mask);
	}
	if (close_input && (!s->in || chanbuf_used(s->in) == 0)) {
		uint8_t mask[4], *o = oq_reserve(s, 16);

		if (o) {
			new_mask(mask);
			s->oq_len += chan_enc_close(o, CH_STDIN, mask);
			pthread_mutex_lock(&s->lock);
			s->close_input_sent = 1;
			pthread_mutex_unlock(&s->lock);
		}
	}
}

int session_service(struct session *s, uint64_t now_ms)
{
	if (s->finished)
		return 1;
	fill_output(s);
	if (s->finished)
		return 1;

	/* keepalive */
	if (s->kind != SESS_LOG && keepalive_interval_ms > 0) {
		if (s->ping_outstanding && now_ms - s->ping_sent_ms > (uint64_t)keepalive_timeout_ms) {
			pwarn("session %s/%s: no pong within %ld ms of our ping: the connection is lost",
			      s->ns, s->pod, keepalive_timeout_ms);
			finish(s, SESS_LOST, EIO, "no reply to ping within %ld s",
			       keepalive_timeout_ms / 1000);
			return 1;
		}
		if (!s->ping_outstanding && now_ms - s->last_ping_ms >= (uint64_t)keepalive_interval_ms) {
			queue_control(s, WS_OP_PING, "podfs", 5);
			s->ping_outstanding = 1;
			s->ping_sent_ms = s->last_ping_ms = now_ms;
		}
	}

	while (s->oq_len > s->oq_off) {
		ssize_t n = conn_send(s->conn, s->oq + s->oq_off, s->oq_len - s->oq_off);

		if (n == -EAGAIN)
			break;
		if (n < 0) {
			finish(s, SESS_LOST, EIO, "connection to the server broke: %s", strerror((int)-n));
			return 1;
		}
		s->oq_off += (size_t)n;
	}
	if (s->oq_off == s->oq_len)
		s->oq_off = s->oq_len = 0;

	for (;;) {
		size_t room = read_room(s);
		ssize_t n;

		if (room < 4096 && !(room > 0 && conn_pending(s->conn))) {
			/* Say so first, then look again: a reader that freed room
			 * in between either sees the flag or we see its room. */
			__atomic_store_n(&s->starved, 1, __ATOMIC_SEQ_CST);
			room = read_room(s);
			if (room < 4096 && !(room > 0 && conn_pending(s->conn)))
				break;
		}
		__atomic_store_n(&s->starved, 0, __ATOMIC_SEQ_CST);
		n = conn_recv(s->conn, s->rbuf, room);
		if (n == -EAGAIN)
			break;
		if (n == 0) {
			if (s->kind == SESS_LOG && s->hb.mode == HBODY_CLOSE) {
				if (log_resume(s) == 0)
					continue;
				ended_normally(s);
			} else {
				const char *what = s->kind == SESS_LOG ? "log stream cut off" :
					"connection closed by the server without a Close frame";

				if ((s->kind == SESS_EXEC || s->kind == SESS_ATTACH) && s->got_status)
					ended_normally(s);	/* status arrived; only the Close is missing */
				else
					finish(s, SESS_LOST, EIO, "%s", what);
			}
			return 1;
		}
		if (n < 0) {
			finish(s, SESS_LOST, EIO, "connection to the server broke: %s", strerror((int)-n));
			return 1;
		}
		if (consume(s, s->rbuf, (size_t)n))
			return 1;
		if (!s->conn)
			return 1;
	}
	return s->finished;
}

long session_timer(struct session *s, uint64_t now_ms)
{
	uint64_t due;

	if (s->kind == SESS_LOG || keepalive_interval_ms <= 0)
		return -1;
	if (s->ping_outstanding)
		due = s->ping_sent_ms + (uint64_t)keepalive_timeout_ms + 1;
	else
		due = s->last_ping_ms + (uint64_t)keepalive_interval_ms;
	return due > now_ms ? (long)(due - now_ms) : 0;
}

/* ---- starting ---- */

static int append(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int append(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(*buf + *len, *cap - *len, fmt, ap);
		va_end(ap);
		if (n < 0)
			return -1;
		if ((size_t)n < *cap - *len)
			break;
		*cap = (*cap + (size_t)n) * 2;
		*buf = realloc(*buf, *cap);
		if (!*buf)
			return -1;
	}
	*len += (size_t)n;
	return 0;
}

static char *build_path(const struct session *s, const struct session_params *p)
{
	size_t len = 0, cap = 256;
	char *b = malloc(cap), *e, base[1024];
	const char *sub = p->kind == SESS_EXEC ? "exec" : p->kind == SESS_ATTACH ? "attach" :
		p->kind == SESS_PORT ? "portforward" : "log";

	if (!b || k8s_path(base, sizeof(base), s->ns, s->pod, 0, sub) < 0)
		goto fail;
	append(&b, &len, &cap, "%s?", base);
	if (p->kind == SESS_PORT) {
		append(&b, &len, &cap, "ports=%d", p->port);
	} else {
		e = url_escape(s->container);
		if (!e)
			goto fail;
		append(&b, &len, &cap, "container=%s", e);
		free(e);
	}
	if (p->kind == SESS_EXEC && p->argv) {
		for (char *const *a = p->argv; *a; a++) {
			e = url_escape(*a);
			if (!e)
				goto fail;
			append(&b, &len, &cap, "&command=%s", e);
			free(e);
		}
	}
	if (p->kind == SESS_EXEC || p->kind == SESS_ATTACH) {
		/* explicit values: servers differ on defaults (protocol.md §1.2) */
		append(&b, &len, &cap, "&stdin=%s&stdout=%s&stderr=%s&tty=%s",
		       p->in ? "true" : "false", p->out ? "true" : "false",
		       p->err && !p->tty ? "true" : "false", p->tty ? "true" : "false");
	}
	return b;
fail:
	free(b);
	return NULL;
}

static int open_log(struct session *s, const char *since, int *perr, char *err, size_t errlen)
{
	char *c = url_escape(s->container);
	char path[2048], te[64], cl[64];
	struct http_head head;
	struct conn *cn;
	int n = k8s_path(path, sizeof(path), s->ns, s->pod, 0, "log");

	if (!c || n < 0) {
		free(c);
		*perr = -ENOMEM;
		return -1;
	}
	snprintf(path + n, sizeof(path) - (size_t)n, "?container=%s&follow=true&timestamps=true%s%s",
		 c, since ? "&sinceTime=" : "", since ? since : "");
	free(c);
	memset(&head, 0, sizeof(head));
	cn = conn_open(s->rest, path, NULL, rest_timeout_ms(s->rest), &head, perr, err, errlen);
	if (!cn) {
		http_head_free(&head);
		return -1;
	}
	if (head.code != 200) {
		*perr = -http_errno(head.code);
		if (!err[0])
			snprintf(err, errlen, "%s", head.status_line ? head.status_line : "bad reply");
		http_head_free(&head);
		conn_close(cn);
		return -1;
	}
	if (http_head_get(&head, "Transfer-Encoding", te, sizeof(te)) && strcasestr(te, "chunked"))
		hbody_init(&s->hb, HBODY_CHUNKED, 0);
	else if (http_head_get(&head, "Content-Length", cl, sizeof(cl)))
		hbody_init(&s->hb, HBODY_LENGTH, strtoull(cl, NULL, 10));
	else
		hbody_init(&s->hb, HBODY_CLOSE, 0);
	http_head_free(&head);
	s->conn = cn;
	return 0;
}

static struct chanbuf *given_or_new(struct chanbuf *given, size_t cap, int broadcast)
{
	if (given) {
		chanbuf_get(given);
		return given;
	}
	return chanbuf_new(cap, broadcast);
}

static const char *sess_kind_name(int kind)
{
	switch (kind) {
	case SESS_LOG: return "log";
	case SESS_ATTACH: return "attach";
	case SESS_EXEC: return "exec";
	case SESS_PORT: return "port-forward";
	default: return "stream";
	}
}

struct session *session_start(struct rest *r, const struct session_params *p,
			      session_end_fn on_end, void *ud, int *perr,
			      char *err, size_t errlen)
{
	struct session *s = calloc(1, sizeof(*s));
	char chosen[64] = "", *path = NULL;
	size_t cap = p->buffer ? p->buffer : (1u << 20);
	int e = 0;

	err[0] = 0;
	if (!s) {
		*perr = -ENOMEM;
		return NULL;
	}
	pthread_mutex_init(&s->lock, NULL);
	s->refs = 1;
	s->kind = p->kind;
	s->rest = r;
	s->tty = p->tty;
	s->ns = strdup(p->ns);
	s->pod = strdup(p->pod);
	s->container = p->container ? strdup(p->container) : NULL;
	s->rbuf = malloc(RBUF_SIZE);
	s->scratch = malloc(STDIN_CHUNK);
	s->on_end = on_end;
	s->ud = ud;
	s->state = SESS_RUNNING;
	if (!s->ns || !s->pod || (p->container && !s->container) || !s->rbuf || !s->scratch) {
		e = -ENOMEM;
		goto fail;
	}

	if (p->kind == SESS_LOG) {
		if (open_log(s, NULL, &e, err, errlen) < 0)
			goto fail;
		s->out[0] = chanbuf_new(cap, 0);
	} else {
		path = build_path(s, p);
		if (!path) {
			e = -ENOMEM;
			goto fail;
		}
		s->conn = ws_connect(r, path, p->kind == SESS_PORT ? "v4.channel.k8s.io" :
				     "v5.channel.k8s.io, v4.channel.k8s.io",
				     rest_timeout_ms(r), chosen, sizeof(chosen), &e, err, errlen);
		if (!s->conn)
			goto fail;
		s->proto = chan_proto_from_name(chosen);
		if (s->proto < 0) {
			e = -EPROTO;
			snprintf(err, errlen, "server chose protocol \"%s\", which podfs did not offer", chosen);
			goto fail;
		}
		ws_dec_init(&s->wd, MAX_FRAME, 0);
		chan_dec_init(&s->cd, (enum chan_proto)s->proto,
			      p->kind == SESS_PORT ? CHAN_MODE_PORTFORWARD : CHAN_MODE_STREAM,
			      (uint16_t)p->port, &chan_callbacks, s);
		if (p->kind == SESS_PORT) {
			s->out[0] = chanbuf_new(cap, 0);
			s->in = chanbuf_new(cap, 0);
		} else {
			if (p->out)
				s->out[CH_STDOUT] = given_or_new(p->out_buf[CH_STDOUT], cap, p->broadcast);
			if (p->err && !p->tty)
				s->out[CH_STDERR] = given_or_new(p->out_buf[CH_STDERR], cap, p->broadcast);
			if (p->in)
				s->in = given_or_new(p->in_buf, cap, 0);
		}
		if (p->tty && p->width && p->height) {
			s->want_resize = 1;
			s->rs_w = p->width;
			s->rs_h = p->height;
		}
	}
	for (int i = 0; i < 3; i++)
		if (s->out[i])
			chanbuf_set_writer(s->out[i], wake_if_starved, s);
	if (s->in) {
		s->in_rd = chanbuf_reader_open(s->in, wake_mux, s);
		if (!s->in_rd) {
			e = -ENOMEM;
			goto fail;
		}
	}
	s->last_ping_ms = mono_ms();
	free(path);
	e = mux_add(s->ns, s->pod, s);
	if (e < 0) {
		snprintf(err, errlen, "cannot start the stream thread: %s", strerror(-e));
		s->on_end = NULL;
		finish(s, SESS_LOST, EIO, "no thread");
		session_put(s);
		*perr = e;
		return NULL;
	}
	/* -d: one line per session; never the exec argv, which may carry
	 * secrets typed by the user. */
	pdebug("session %s/%s/%s: %s started%s%s", s->ns, s->pod,
	       s->container ? s->container : "", sess_kind_name(p->kind),
	       chosen[0] ? ", protocol " : "", chosen);
	return s;
fail:
	free(path);
	*perr = e ? e : -EIO;
	if (!err[0])
		snprintf(err, errlen, "%s", strerror(-*perr));
	pdebug("session %s/%s/%s: %s failed (%d) %s", p->ns, p->pod,
	       p->container ? p->container : "", sess_kind_name(p->kind), *perr, err);
	s->on_end = NULL;
	session_put(s);
	return NULL;
}
