/* One multiplexer thread per pod with open streams, each running an event
 * loop (loop.c) on which that pod's sessions are sources.  Other threads
 * never touch a connection; they change a session's requests or buffers
 * and the session kicks its loop. */
#ifndef PODFS_MUX_H
#define PODFS_MUX_H

struct mux;
struct session;

/* Attach a started session to the pod's thread (created on demand).
 * Takes a reference on the session until the session is finished. */
int mux_add(const char *ns, const char *pod, struct session *s);
/* Number of live multiplexer threads and sessions (for .podfs/status). */
void mux_counts(int *threads, int *sessions);
/* The one stream/ shutdown (unmount): hang up every session, wait for
 * every multiplexer thread to end, then join the worker thread; after it
 * no thread started by stream/ runs, so libcurl and OpenSSL may be cleaned
 * up.  Idempotent; no session can start afterwards. */
void mux_shutdown(void);

/* Keepalive: ping every interval_ms, the connection is lost when no pong
 * came within timeout_ms.  Defaults 30 s / 30 s. */
void mux_set_keepalive(long interval_ms, long timeout_ms);

/* stream/ internal, for session.c: the loop thread is done with s (drops
 * the reference mux_add took); a session's own reference on its mux. */
void mux_session_done(struct mux *m, struct session *s);
void mux_put(struct mux *m);
/* Loop thread: the loop's libcurl multi (curlloop.h), NULL when out of
 * memory. */
struct curlloop *mux_curl(struct mux *m);

#endif
