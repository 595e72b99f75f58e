/* The session core: what every kind of session shares, whatever carries
 * its bytes.  It owns the references, the state and its end, the channel
 * buffers, the requests other threads make, and the session's place on its
 * multiplexer loop (fd, timers, kicks).  The transports (sess_ws.c,
 * sess_http.c) only move bytes and decide how a connection ended.
 *
 * Flow: session_start() of a WebSocket kind connects in the caller's
 * thread (so an open() or `start` fails with the server's errno); an HTTP
 * kind only prepares its transfer, and its opener hears from the settle
 * callback.  Then mux_add() hands it to the pod's loop, whose first kick
 * adopts it.  From then on only the loop
 * thread touches the connection; other threads change requests or buffers
 * and kick the session.
 *
 * Backpressure: the socket is read only while every output buffer has
 * room for a whole read (a read of N bytes never yields more than N bytes
 * of payload), so a write into a buffer never falls short and nothing is
 * dropped; with a slow reader we stop reading and TCP pushes back.  The
 * reader that frees room kicks the session only if it had stopped.
 *
 * Ending: output buffers end with EOF only after a normal end (decided by
 * the transport); a connection that breaks first ends them with EIO, so a
 * lost stream is never mistaken for a complete one. */
#include "stream/session_i.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stream/log.h"
#include "stream/mux.h"

/* ---- references and the public calls ---- */

void session_get(struct session *s)
{
	__atomic_add_fetch(&s->refs, 1, __ATOMIC_SEQ_CST);
}

void session_put(struct session *s)
{
	int i;

	if (__atomic_sub_fetch(&s->refs, 1, __ATOMIC_SEQ_CST))
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
	if (s->tp && s->tp->free)
		s->tp->free(s);
	if (s->mux)
		mux_put(s->mux);
	free(s->rbuf);
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
	if (!s->in)
		return -EINVAL;
	/* v4 has no half-close: closing the connection would lose output */
	if (s->kind != SESS_EXEC || s->proto != CHAN_V5)
		return -ENOTSUP;
	pthread_mutex_lock(&s->lock);
	s->req.close_input = 1;
	pthread_mutex_unlock(&s->lock);
	session_kick(s);
	return 0;
}

int session_resize(struct session *s, unsigned w, unsigned h)
{
	if (s->kind != SESS_EXEC && s->kind != SESS_ATTACH)
		return -EINVAL;
	if (w > 65535 || h > 65535)
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	s->req.resize = 1;
	s->req.w = w;
	s->req.h = h;
	pthread_mutex_unlock(&s->lock);
	session_kick(s);
	return 0;
}

void session_hangup(struct session *s)
{
	pthread_mutex_lock(&s->lock);
	s->req.hangup = 1;
	pthread_mutex_unlock(&s->lock);
	session_kick(s);
}

void sess_take_requests(struct session *s, struct sess_requests *r)
{
	pthread_mutex_lock(&s->lock);
	*r = s->req;
	s->req.resize = 0;
	pthread_mutex_unlock(&s->lock);
}

/* ---- ending ---- */

void sess_settle(struct session *s, int err)
{
	session_settled_fn fn = s->on_settled;

	if (!fn)
		return;
	s->on_settled = NULL;
	if (s->loop)
		loop_timer_stop(s->loop, &s->settle_timer);
	fn(s->settled_ud, s, err);
}

int sess_finished(struct session *s)
{
	return s->finished;	/* only the loop thread writes it */
}

void sess_finish(struct session *s, enum sess_state state, int err, const char *fmt, ...)
{
	va_list ap;

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
	pdebug("session %s: ended (%d) %s", s->label, state, s->why);
	/* Order: writers first (an end callback wakes them to fail), then the
	 * owner's end callback, then the readers, so that whatever a reader
	 * looks at after its EOF or EIO (exec's status) is final already. */
	if (s->in)	/* a refused port is that errno for writers too */
		chanbuf_finish(s->in, s->kind == SESS_PORT && state == SESS_FAILED && err ?
			       err : EPIPE);
	if (s->tp->goodbye)
		s->tp->goodbye(s);
	sess_set_conn(s, NULL);
	/* only a refusal fails the open; a later loss is the reads' EIO */
	sess_settle(s, state == SESS_FAILED ? (err ? err : EIO) : 0);
	if (s->on_end)
		s->on_end(s->ud, s);
	for (int i = 0; i < 3; i++)
		if (s->out[i])
			chanbuf_finish(s->out[i], err);
}

/* ---- bytes ---- */

void sess_deliver(struct session *s, int ch, const uint8_t *p, size_t n)
{
	struct chanbuf *b = ch >= 0 && ch < 3 ? s->out[ch] : NULL;
	size_t w;

	if (!b || sess_finished(s))
		return;		/* a channel we did not ask for: ignored, as servers do */
	w = chanbuf_write(b, p, n);
	if (w != n) {
		/* Cannot happen while reads are capped by the free space; if it
		 * does, losing bytes silently would be worse than failing. */
		perr("session %s: buffer overrun (%zu of %zu bytes)", s->label, w, n);
		sess_finish(s, SESS_LOST, EIO, "internal buffer overrun");
		return;
	}
	if (n)
		sess_settle(s, 0);
}

static size_t read_room(struct session *s)
{
	size_t min = SESS_RBUF;

	for (int i = 0; i < 3; i++) {
		if (s->out[i]) {
			size_t sp = chanbuf_space(s->out[i]);

			if (sp < min)
				min = sp;
		}
	}
	return min;
}

static int can_read(struct session *s, size_t room)
{
	return room >= 4096 || (room > 0 && conn_pending(s->conn));
}

ssize_t sess_recv(struct session *s)
{
	size_t room = read_room(s);

	if (!s->conn)
		return -EAGAIN;
	if (!can_read(s, room)) {
		/* Say so first, then look again: a reader that freed room in
		 * between either sees the flag or we see its room. */
		__atomic_store_n(&s->starved, 1, __ATOMIC_SEQ_CST);
		room = read_room(s);
		if (!can_read(s, room))
			return -EAGAIN;
	}
	__atomic_store_n(&s->starved, 0, __ATOMIC_SEQ_CST);
	return conn_recv(s->conn, s->rbuf, room);
}

int sess_want_read(struct session *s)
{
	return s->conn && can_read(s, read_room(s));
}

/* ---- the loop ---- */

void sess_set_conn(struct session *s, struct conn *c)
{
	if (s->conn) {
		if (s->loop)
			loop_fd_del(s->loop, &s->lfd);
		conn_close(s->conn);
	}
	s->conn = c;
	if (c && s->adopted) {
		s->lfd.fd = conn_fd(c);
		s->lfd.mask = s->tp->events(s);
		if (loop_fd_add(s->loop, &s->lfd) < 0)
			sess_finish(s, SESS_LOST, EIO, "cannot watch the connection");
	}
}

static void detach(struct session *s)
{
	loop_timer_stop(s->loop, &s->timer);
	loop_timer_stop(s->loop, &s->settle_timer);
	__atomic_store_n(&s->detached, 1, __ATOMIC_SEQ_CST);
	mux_session_done(s->mux, s);	/* may drop the last reference */
}

void sess_service(struct session *s)
{
	uint64_t due;

	if (!s->adopted || __atomic_load_n(&s->detached, __ATOMIC_SEQ_CST))
		return;
	if (!sess_finished(s))
		s->tp->pump(s, mono_ms());
	if (sess_finished(s)) {
		if (!s->busy)
			detach(s);
		return;
	}
	if (s->conn)
		loop_fd_set(s->loop, &s->lfd, s->tp->events(s));
	due = s->tp->due(s);
	if (due)
		loop_timer_at(s->loop, &s->timer, due);
	else
		loop_timer_stop(s->loop, &s->timer);
}

static void on_fd(struct loop_fd *f, int ready)
{
	(void)ready;
	sess_service(f->ud);
}

static void on_timer(struct loop_timer *t)
{
	sess_service(t->ud);
}

static void on_settle_timer(struct loop_timer *t)
{
	sess_settle(t->ud, 0);	/* no refusal within the window: it runs */
}

void session_adopt(struct session *s)
{
	struct conn *c = s->conn;

	s->adopted = 1;
	s->conn = NULL;
	sess_set_conn(s, c);
	if (s->tp->adopt)
		s->tp->adopt(s);
	if (s->on_settled && !s->tp->settles_itself) {
		if (s->settle_ms > 0)
			loop_timer_at(s->loop, &s->settle_timer, mono_ms() + (uint64_t)s->settle_ms);
		else
			sess_settle(s, 0);
	}
	sess_service(s);
}

static void kick_job(struct loop_job *j)
{
	struct session *s = j->ud;

	__atomic_store_n(&s->kick_queued, 0, __ATOMIC_SEQ_CST);
	if (!s->adopted && !__atomic_load_n(&s->detached, __ATOMIC_SEQ_CST))
		session_adopt(s);
	else
		sess_service(s);
	session_put(s);
}

void session_kick(struct session *s)
{
	if (!s->loop || __atomic_load_n(&s->detached, __ATOMIC_SEQ_CST))
		return;
	if (__atomic_exchange_n(&s->kick_queued, 1, __ATOMIC_SEQ_CST))
		return;		/* already queued: that run will see this too */
	session_get(s);
	if (loop_post(s->loop, &s->kick) < 0) {	/* the loop has ended */
		__atomic_store_n(&s->kick_queued, 0, __ATOMIC_SEQ_CST);
		session_put(s);
	}
}

/* Buffer callbacks.  An output freed room: kick only if the loop stopped
 * reading for want of it, or every consumed chunk would cost a wake-up. */
static void wake_if_starved(void *ud)
{
	struct session *s = ud;

	if (__atomic_load_n(&s->starved, __ATOMIC_SEQ_CST))
		session_kick(s);
}

static void wake(void *ud)
{
	session_kick(ud);
}

/* ---- starting ---- */

static struct chanbuf *given_or_new(struct chanbuf *given, size_t cap, int broadcast)
{
	if (given) {
		chanbuf_get(given);
		return given;
	}
	return chanbuf_new(cap, broadcast);
}

static const char *kind_name(int kind)
{
	static const char *const names[] = {
		[SESS_ATTACH] = "attach", [SESS_EXEC] = "exec", [SESS_PORT] = "port-forward",
		[SESS_LOG] = "log", [SESS_PROXY] = "proxy",
	};

	return kind >= 0 && kind <= SESS_PROXY ? names[kind] : "stream";
}

/* The buffers the kind asks for; 0 or -ENOMEM. */
static int make_buffers(struct session *s, const struct session_params *p)
{
	size_t cap = p->buffer ? p->buffer : (1u << 20);

	switch (p->kind) {
	case SESS_EXEC:
	case SESS_ATTACH:
		if (p->out && !(s->out[CH_STDOUT] = given_or_new(p->out_buf[CH_STDOUT], cap,
								  p->broadcast)))
			return -ENOMEM;
		if (p->err && !p->tty &&
		    !(s->out[CH_STDERR] = given_or_new(p->out_buf[CH_STDERR], cap, p->broadcast)))
			return -ENOMEM;
		if (p->in && !(s->in = given_or_new(p->in_buf, cap, 0)))
			return -ENOMEM;
		break;
	case SESS_PORT:
		if (!(s->in = chanbuf_new(cap, 0)))
			return -ENOMEM;
		/* fall through */
	case SESS_LOG:
	case SESS_PROXY:
		if (!(s->out[0] = chanbuf_new(cap, 0)))
			return -ENOMEM;
		break;
	}
	return 0;
}

static struct session *sess_new(const struct session_params *p, session_end_fn on_end, void *ud)
{
	struct session *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	pthread_mutex_init(&s->lock, NULL);
	s->refs = 1;
	s->kind = p->kind;
	s->tp = p->kind == SESS_LOG || p->kind == SESS_PROXY ? &sess_http_transport :
		&sess_ws_transport;
	s->ns = strdup(p->ns);
	s->pod = strdup(p->pod);
	s->container = p->container ? strdup(p->container) : NULL;
	s->rbuf = malloc(SESS_RBUF);
	s->on_end = on_end;
	s->ud = ud;
	s->on_settled = p->on_settled;
	s->settled_ud = p->settled_ud;
	s->settle_ms = p->settle_ms;
	s->state = SESS_RUNNING;
	s->lfd.fn = on_fd;
	s->lfd.ud = s->timer.ud = s->settle_timer.ud = s->kick.ud = s;
	s->timer.fn = on_timer;
	s->settle_timer.fn = on_settle_timer;
	s->kick.fn = kick_job;
	snprintf(s->label, sizeof(s->label), "%s/%s/%s", p->ns, p->pod,
		 p->container ? p->container : "-");
	if (p->tty && p->width && p->height) {
		s->req.resize = 1;
		s->req.w = p->width;
		s->req.h = p->height;
	}
	if (!s->ns || !s->pod || (p->container && !s->container) || !s->rbuf ||
	    make_buffers(s, p) < 0) {
		session_put(s);
		return NULL;
	}
	if (s->in && p->in_writer)
		chanbuf_set_writer(s->in, p->in_writer, p->in_writer_ud);
	return s;
}

/* After the transport opened: wire the buffers and go to the loop. */
static struct session *launch(struct session *s, int e, char *err, size_t errlen, int *perr)
{
	if (e < 0)
		goto fail;
	for (int i = 0; i < 3; i++)
		if (s->out[i])
			chanbuf_set_writer(s->out[i], wake_if_starved, s);
	if (s->in && !(s->in_rd = chanbuf_reader_open(s->in, wake, s))) {
		e = -ENOMEM;
		goto fail;
	}
	if ((e = mux_add(s->ns, s->pod, s)) < 0) {
		snprintf(err, errlen, "cannot start the stream thread: %s", strerror(-e));
		goto fail;
	}
	/* -d: one line per session; never the exec argv, which may carry
	 * secrets typed by the user. */
	pdebug("session %s: %s started%s", s->label, kind_name(s->kind),
	       s->proto ? (s->proto == CHAN_V5 ? ", protocol v5" : ", protocol v4") : "");
	return s;
fail:
	*perr = e ? e : -EIO;
	if (!err[0])
		snprintf(err, errlen, "%s", strerror(-*perr));
	pdebug("session %s: %s failed (%d) %s", s->label, kind_name(s->kind), *perr, err);
	s->on_end = NULL;
	s->on_settled = NULL;
	sess_finish(s, SESS_FAILED, EIO, "%s", err);
	session_put(s);
	return NULL;
}

struct session *session_start(struct rest *r, const struct session_params *p,
			      session_end_fn on_end, void *ud, int *perr,
			      char *err, size_t errlen)
{
	struct session *s;

	err[0] = 0;
	if ((p->kind == SESS_LOG || p->kind == SESS_PROXY) && !p->on_settled) {
		/* nothing would answer its opener: no FUSE worker waits here */
		*perr = -EINVAL;
		snprintf(err, errlen, "an HTTP session needs on_settled");
		return NULL;
	}
	if (!(s = sess_new(p, on_end, ud))) {
		*perr = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->rest = r;
	return launch(s, s->tp->open(s, p, err, errlen), err, errlen, perr);
}

struct session *session_start_over(struct conn *c, const char *chosen,
				   const struct session_params *p, session_end_fn on_end,
				   void *ud, int *perr, char *err, size_t errlen)
{
	struct session *s = p->kind == SESS_LOG || p->kind == SESS_PROXY ? NULL :
		sess_new(p, on_end, ud);

	err[0] = 0;
	if (!s) {
		conn_close(c);
		*perr = -EINVAL;
		snprintf(err, errlen, "not a WebSocket session, or out of memory");
		return NULL;
	}
	s->conn = c;
	return launch(s, sess_ws_setup(s, p, chosen, err, errlen), err, errlen, perr);
}
