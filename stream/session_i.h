/* Inside a session, private to stream/: the core (session.c) that every
 * kind shares, and the transport table a kind plugs into it.  Two
 * transports exist: the WebSocket channel protocols (sess_ws.c: exec,
 * attach, port-forward) and plain HTTP bodies (sess_http.c: log.follow,
 * the pod proxy).
 *
 * Threads: a session lives on one multiplexer loop (mux.c).  Fields marked
 * (L) are guarded by s->lock; (loop) are touched only by the loop thread
 * once the session is adopted (before that, only by the starting thread);
 * (const) are set before the session is published and never change. */
#ifndef PODFS_SESSION_I_H
#define PODFS_SESSION_I_H

#include <pthread.h>
#include <stdint.h>

#include "stream/conn.h"
#include "stream/loop.h"
#include "stream/session.h"

struct mux;

struct sess_transport {
	const char *name;
	/* The transport tells when the start is settled (sess_settle), e.g.
	 * once a response head arrived; otherwise the core does (first data,
	 * settle_ms, the end). */
	int settles_itself;
	/* Connect and set up the transport state (in the starting thread,
	 * blocking, bounded by the REST timeout).  0, or -errno with the
	 * reason in err. */
	int (*open)(struct session *s, const struct session_params *p, char *err, size_t errlen);
	/* Loop thread, once: the loop takes the session over (NULL: the core
	 * watches s->conn). */
	void (*adopt)(struct session *s);
	/* Loop thread: move bytes both ways, act on requests; may finish. */
	void (*pump)(struct session *s, uint64_t now);
	/* Loop thread: the LOOP_* events wanted now, and the next deadline
	 * (mono_ms, 0 = none). */
	int (*events)(struct session *s);
	uint64_t (*due)(struct session *s);
	/* Loop thread, from sess_finish before s->conn closes: a last
	 * best-effort word to the server (a Close frame), and the end of
	 * whatever else the transport holds on the loop. */
	void (*goodbye)(struct session *s);
	void (*free)(struct session *s);
};

extern const struct sess_transport sess_ws_transport, sess_http_transport;

/* The WebSocket transport's state for a connection already upgraded to
 * `chosen` (ws_open's second half; session_start_over's whole). */
int sess_ws_setup(struct session *s, const struct session_params *p, const char *chosen,
		  char *err, size_t errlen);

struct sess_requests {
	int close_input, hangup, resize;
	unsigned w, h;
};

struct session {
	pthread_mutex_t lock;		/* a leaf: guards the (L) fields */
	int refs;			/* atomic */
	enum sess_kind kind;		/* (const) */
	const struct sess_transport *tp;	/* (const) */
	void *tpd;			/* (loop) the transport's state */
	struct rest *rest;		/* (const) */
	char *ns, *pod, *container;	/* (const) */
	char label[160];		/* (const) "ns/pod/container" for messages */
	int proto;			/* (const) CHAN_V4 / CHAN_V5; 0 for HTTP */

	/* the loop (mux.c sets them before the session is posted to it) */
	struct mux *mux;		/* (const once set) */
	struct loop *loop;		/* (const once set) */
	struct conn *conn;		/* (loop) */
	struct loop_fd lfd;		/* (loop) the connection's socket */
	struct loop_timer timer;	/* (loop) the transport's deadline */
	struct loop_timer settle_timer;	/* (loop) ports: the settle window */
	struct loop_job kick;		/* posted by session_kick */
	int kick_queued;		/* atomic: kick is in the loop's queue */
	int adopted;			/* (loop) the loop owns the connection */
	int busy;			/* (loop) a worker job holds the session */
	int detached;			/* (loop) left the loop */

	/* buffers: pointers (const), contents are the buffers' own business */
	struct chanbuf *out[3];		/* stream: [1] stdout, [2] stderr; else [0] */
	struct chanbuf *in;		/* towards the server */
	struct cb_reader *in_rd;	/* (loop) */
	uint8_t *rbuf;			/* (loop) socket reads */
	int starved;			/* atomic: reads stopped, outputs full */

	struct sess_requests req;	/* (L) from other threads */
	enum sess_state state;		/* (L) */
	struct k8s_status st;		/* (L) */
	char why[512];			/* (L) */
	int finished;			/* (L) written by the loop thread alone */

	session_end_fn on_end;		/* (loop) cleared when a start fails late */
	void *ud;
	session_settled_fn on_settled;	/* (loop) cleared once called */
	void *settled_ud;
	long settle_ms;			/* (const) */
};

#define SESS_RBUF	(64 * 1024)

/* ---- core services for transports (loop thread) ---- */

/* End once: record the state, end every buffer (readers get the bytes
 * that came first, then EOF or err), say goodbye, close, call on_end. */
void sess_finish(struct session *s, enum sess_state state, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
int sess_finished(struct session *s);
/* Tell the opener how the start went (once; later calls do nothing). */
void sess_settle(struct session *s, int err);
/* Payload for output ch; finishes the session on an overrun. */
void sess_deliver(struct session *s, int ch, const uint8_t *p, size_t n);
/* Read the socket into s->rbuf, never more than every output has room
 * for: >0 bytes, 0 at EOF, -EAGAIN (nothing, or no room: then a reader
 * freeing room kicks the session), -errno. */
ssize_t sess_recv(struct session *s);
/* Does the socket deserve a read now (room in every output)?  For the
 * transports' events(). */
int sess_want_read(struct session *s);
/* Take the requests other threads made (the resize is consumed). */
void sess_take_requests(struct session *s, struct sess_requests *r);
/* Replace the connection (NULL: none for now, e.g. while a worker
 * reconnects); the loop watches the new socket. */
void sess_set_conn(struct session *s, struct conn *c);
/* Run the transport and settle the loop registrations (fd mask, timer,
 * leaving the loop once finished and not busy). */
void sess_service(struct session *s);

/* ---- for mux.c ---- */

/* On the loop thread: take over the connection (register the fd, arm
 * timers, first pump). */
void session_adopt(struct session *s);
/* Any thread: have the loop service the session soon. */
void session_kick(struct session *s);

#endif
