/* One streaming connection to the API server and its state: an attach, an
 * exec, a port-forward connection (WebSocket channel protocols), a
 * followed log or a pod-proxy download (plain HTTP bodies).  A session
 * owns its channel buffers; the per-pod multiplexer loop (mux.c) moves
 * bytes between the socket and those buffers.  The FUSE side only ever
 * touches the buffers and the small control calls below, never the
 * connection. */
#ifndef PODFS_SESSION_H
#define PODFS_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "stream/channel.h"
#include "stream/chanbuf.h"
#include "stream/rest.h"
#include "stream/util.h"

enum sess_kind { SESS_ATTACH, SESS_EXEC, SESS_PORT, SESS_LOG, SESS_PROXY };

enum sess_state {
	SESS_NEW,		/* not started */
	SESS_RUNNING,
	SESS_EXITED,		/* a final status arrived (success or exit code) */
	SESS_FAILED,		/* the server refused or reported a failure */
	SESS_LOST,		/* the connection broke before a final status */
};

struct session;
struct conn;

/* Called once, on the multiplexer thread, when a session with a settle
 * window (settle_ms > 0 or on_settled set) knows how it started: err 0
 * once the first bytes arrived, the window passed with the session still
 * running, or it ended normally; otherwise the errno it failed with
 * (ECONNREFUSED for a refused port).  May reply to FUSE; must not block. */
typedef void (*session_settled_fn)(void *ud, struct session *s, int err);

struct session_params {
	enum sess_kind kind;
	const char *ns, *pod, *container;
	char *const *argv;	/* exec */
	int in, out, err, tty;	/* which streams to ask for */
	int port;		/* port-forward */
	const char *path;	/* proxy: the request path, escaped, from k8s_path */
	size_t buffer;		/* capacity of each channel buffer */
	int broadcast;		/* output buffers broadcast (attach) or keep (exec) */
	unsigned width, height;	/* initial tty size, 0 = none */
	/* Exec: buffers made by the caller (NULL = the session makes its own;
	 * the session takes a reference), so files opened before the start
	 * read and write the very buffers the connection then uses. */
	struct chanbuf *out_buf[3], *in_buf;
	/* Port-forward: the server reports a refused dial only after the
	 * upgrade, so the opener may wait this long for the verdict. */
	session_settled_fn on_settled;
	void *settled_ud;
	long settle_ms;
	/* The input buffer's writer callback (chanbuf_set_writer), wired
	 * before the session reaches its loop, so a writer parked on the
	 * first bytes is woken too.  NULL: none. */
	chanbuf_notify_fn in_writer;
	void *in_writer_ud;
};

/* Called from the multiplexer thread when the session's state changes
 * (running -> exited/failed/lost).  Must not block. */
typedef void (*session_end_fn)(void *ud, struct session *s);

/* WebSocket kinds: connect and upgrade (blocking, bounded by the REST
 * timeout), then hand the connection to the pod's multiplexer.  HTTP kinds
 * (SESS_LOG, SESS_PROXY) need on_settled: the request goes to the loop at
 * once and the response head settles it there (a non-2xx reply of the pod
 * maps as k8s_http_errno(K8S_PROXIED) for SESS_PROXY; the reason is
 * session_state's why, starting with the status line).  NULL with -errno
 * in *perr and the reason in err when it could not start. */
struct session *session_start(struct rest *r, const struct session_params *p,
			      session_end_fn on_end, void *ud, int *perr,
			      char *err, size_t errlen);

/* Test seam (tests/unit/test_session.c): the same over a connection that
 * is already upgraded, `chosen` being the subprotocol the server picked
 * ("v5.channel.k8s.io").  WebSocket kinds only; takes c. */
struct session *session_start_over(struct conn *c, const char *chosen,
				   const struct session_params *p, session_end_fn on_end,
				   void *ud, int *perr, char *err, size_t errlen);

void session_get(struct session *s);
void session_put(struct session *s);

/* Output buffers: CH_STDOUT, CH_STDERR (exec/attach), 0 (port data, log,
 * proxy body).
 * NULL when not requested. */
struct chanbuf *session_output(struct session *s, int ch);
/* Buffer towards the server (stdin, port data), NULL when none. */
struct chanbuf *session_input(struct session *s);

/* End of input.  v5 sends `ff 00`; -ENOTSUP on v4 (the only way there is
 * to close the whole connection, which would lose output).  Idempotent. */
int session_close_input(struct session *s);
int session_resize(struct session *s, unsigned w, unsigned h);
/* Close the connection soon (on the multiplexer thread): a running
 * session becomes LOST("hung up") and its outputs end with EIO after the
 * bytes already buffered; an ended one keeps its state. */
void session_hangup(struct session *s);

/* Current state and, when final, the decoded status or the reason. */
enum sess_state session_state(struct session *s, struct k8s_status *st,
			      char *why, size_t whylen);
int session_protocol(struct session *s);	/* CHAN_V4 / CHAN_V5, 0 for HTTP */


#endif
