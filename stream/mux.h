/* One multiplexer thread per pod with open streams.  It owns the
 * connections of that pod's sessions: polls their sockets and a wake-up
 * eventfd, and lets each session move bytes.  Other threads never touch a
 * connection; they change a session's requests and call mux_wake. */
#ifndef PODFS_MUX_H
#define PODFS_MUX_H

struct mux;
struct session;

/* Attach a started session to the pod's thread (created on demand).
 * Takes a reference on the session until the session is finished. */
int mux_add(const char *ns, const char *pod, struct session *s);
void mux_wake(struct mux *m);
void mux_put(struct mux *m);
/* Number of live multiplexer threads and sessions (for .podfs/status). */
void mux_counts(int *threads, int *sessions);
/* Hang up every session and wait for every thread to end (unmount). */
void mux_shutdown(void);

/* Keepalive: ping every interval_ms, the connection is lost when no pong
 * came within timeout_ms.  Defaults 30 s / 30 s. */
void mux_set_keepalive(long interval_ms, long timeout_ms);

#endif
