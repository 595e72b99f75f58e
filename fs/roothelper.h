/* The helper shells of `<container>/root/` (docs/root.md): per container,
 * up to -o root_sessions= long-lived `sh` processes over exec, each
 * answering framed requests (rootproto.h) in order.  Requests are
 * pipelined: a caller writes its request and then waits only for the
 * answers before its own.  A caller finding every helper busy starts
 * another one while the bound allows.  A helper idle for a while is ended
 * by the next request (lazily: an idle mount does no work); one that dies
 * or answers garbage fails every request it holds with EIO, never with
 * wrong bytes, and the next request starts a fresh one. */
#ifndef PODFS_ROOTHELPER_H
#define PODFS_ROOTHELPER_H

#include <stddef.h>

#include "fs/path.h"
#include "fs/rootproto.h"

struct rh_reply {
	struct rp_head h;	/* h.rc != 0: data is the tool's error text */
	char *data;		/* h.len bytes and a NUL, malloc'd */
};

/* Writes the request for answer id into b. */
typedef int (*rh_build_fn)(struct rp_buf *b, unsigned id, void *ud);

/* One request on a helper of p's container.  `read` marks a read (its
 * frame is followed by a check line).  0 with *r filled (free it with
 * rh_reply_free), or -errno: EIO when the helper died or answered out of
 * protocol, ENOTSUP when the image has no usable shell (noted once for
 * .podfs/status). */
int rh_call(const struct pfs_path *p, rh_build_fn build, void *ud, int read,
	    struct rh_reply *r);
void rh_reply_free(struct rh_reply *r);

/* The errno of a reply (0 when it succeeded). */
int rh_errno(const struct rh_reply *r);

#endif
