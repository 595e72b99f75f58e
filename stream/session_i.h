/* What the multiplexer thread needs of a session; private to stream/. */
#ifndef PODFS_SESSION_I_H
#define PODFS_SESSION_I_H

#include <stdint.h>

struct session;
struct mux;

void session_set_mux(struct session *s, struct mux *m);
int session_fd(struct session *s);
/* poll() events the session wants now. */
short session_events(struct session *s);
/* Move bytes both ways and handle timers.  Returns 1 once the session is
 * finished (connection closed, buffers ended, on_end called). */
int session_service(struct session *s, uint64_t now_ms);
/* Milliseconds until the session's next timer (ping, pong deadline). */
long session_timer(struct session *s, uint64_t now_ms);
/* Finish now with `why` (unmount). */
void session_abort(struct session *s, const char *why);

#endif
