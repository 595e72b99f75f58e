/* The FUSE-side owner of one stream session: attach, exec, Ports, Proxy
 * and log.follow all use it.
 *
 * It gathers what every stream owner needs: the session's parameters and
 * start, the writer set of its input buffer, the end callback, a reference
 * count shared by the owner's registry, its open files and its running
 * session, and a teardown that also runs at unmount.  A module embeds
 * `struct owner` first in its own object and supplies the ops.
 *
 * References: owner_init gives the creator one; owner_start gives the
 * session one, dropped after ops->ended; every owner_open file holds one
 * until it closes.  The last owner_put releases the session (clearing its
 * input buffer's writer callback), calls ops->free, and frees the writer
 * set.
 *
 * At unmount (owners_shutdown, after the FUSE loop): every session ends
 * (mux_shutdown: ended callbacks run), every open file is closed (their
 * releases run and drop their references), then ops->teardown lets each
 * registry drop its hold; an owner still alive after that is a leak and is
 * reported. */
#ifndef PODFS_OWNER_H
#define PODFS_OWNER_H

#include <fuse_lowlevel.h>
#include <stddef.h>

#include "fs/path.h"

struct owner;
struct session;
struct session_params;
struct chanbuf;

struct owner_ops {
	/* A multiplexer thread: the session ended; parked writers of its
	 * input were already told (they get EPIPE).  NULL: nothing to do. */
	void (*ended)(struct owner *o, struct session *s);
	/* Drop the hold o's registry has on it (unmount).  NULL: o has no
	 * registry; only its files and its session hold it. */
	void (*teardown)(struct owner *o);
	/* The last reference went and the session is released: free what
	 * embeds o (o->ws is still valid here and freed after).  NULL: o
	 * came from owner_new and is freed as it is. */
	void (*free)(struct owner *o);
};

#define OWNER_LABEL_MAX 512	/* "exec ns/pod/container/id" and the like */

struct owner {
	const struct owner_ops *ops;
	/* Set once by the start (owner_start, or the settle of
	 * owner_open_settled on the multiplexer thread) under owners_lock;
	 * read by whoever the start's outcome reached (its registry, the
	 * open file), fixed after: */
	struct session *sess;		/* the start's reference, or NULL */
	struct wset *ws;		/* writers of the session's input, fixed */
	char label[OWNER_LABEL_MAX];	/* "ns/pod/container" for messages */
	/* Guarded by owners_lock (owner.c): */
	int refs;
	struct owner *next, *prev;	/* every live owner */
};

/* One reference (the caller's).  0 or -ENOMEM. */
int owner_init(struct owner *o, const struct owner_ops *ops, const char *label);
/* An owner embedded in nothing (ops->free NULL), initialised; NULL on
 * allocation failure. */
struct owner *owner_new(const struct owner_ops *ops, const char *label);
/* Parameters of a session on p's pod (and container) of this kind, with
 * the mount's buffer size; the caller adds what the kind needs. */
void owner_params(struct session_params *sp, int kind, const struct pfs_path *p);
/* Start the session (a WebSocket kind: blocking, bounded by -o timeout):
 * the session holds a reference until its end; its input buffer's writer
 * callback becomes wset_notify(o->ws).  The outcome is noted for
 * .podfs/status.  0, or -errno with err saying why (nothing taken). */
int owner_start(struct owner *o, const struct session_params *sp, char *err, size_t errlen);
/* Start the session and answer the open later, from the multiplexer
 * thread, once the session settles (the response head of an HTTP body, a
 * port's dial verdict after sp->settle_ms): then a stream file on the
 * session's channel-0 output (unless O_WRONLY) and its input (unless
 * O_RDONLY) opens as with owner_open, and its close hangs the session up;
 * a failure is noted and is the open's errno.  No FUSE worker waits.
 * Takes the caller's reference; replies to req exactly once. */
void owner_open_settled(struct owner *o, const struct session_params *sp, fuse_req_t req,
			struct fuse_file_info *fi);
void owner_get(struct owner *o);
void owner_put(struct owner *o);
/* Hang the session up (it ends on its multiplexer soon after). */
void owner_hangup(struct owner *o);
/* A stream file (parked.h) reading rd and/or writing wb (wb's writer set
 * is o->ws).  It holds a reference on o until it closes; then closed(o,
 * ud) runs (may be NULL) and the reference drops.  Replies to the open on
 * success; -errno on failure (closed does not run), the caller replies. */
int owner_open(struct owner *o, fuse_req_t req, struct fuse_file_info *fi,
	       struct chanbuf *rd, struct chanbuf *wb,
	       void (*closed)(struct owner *o, void *ud), void *ud);

/* Unmount, after the FUSE loop ended and registries stopped their own
 * threads: see above.  The FUSE session must still exist. */
void owners_shutdown(void);

#endif
