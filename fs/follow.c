/* log.follow: every open starts its own log session (stream/sess_http.c
 * follows the log and resumes it after a drop), read through a stream
 * file; close hangs it up.  The open is answered from the multiplexer
 * thread once the response head came (owner_open_settled), so the
 * status of the log request is the open's errno and no FUSE worker
 * waits for it.  The owner has no registry: the file and the
 * running session are all that hold it. */
#include "fs/follow.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>

#include "fs/owner.h"
#include "fs/path.h"
#include "stream/session.h"

/* Nothing to do at the end, no registry, nothing embedding the owner. */
static const struct owner_ops follow_ops = { .ended = NULL };

void follow_open(fuse_req_t req, fuse_ino_t ino, const struct pfs_path *p,
		 struct fuse_file_info *fi)
{
	struct session_params sp;
	struct owner *o;
	char label[OWNER_LABEL_MAX];

	(void)ino;
	if ((fi->flags & O_ACCMODE) != O_RDONLY) {
		fuse_reply_err(req, EACCES);
		return;
	}
	snprintf(label, sizeof(label), "log.follow %s/%s/%s", p->ns, p->pod, p->container);
	if (!(o = owner_new(&follow_ops, label))) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	owner_params(&sp, SESS_LOG, p);
	/* its own session (the file is the buffer's sole reader); the open
	 * is answered when the log's response head came, as Proxy's is */
	owner_open_settled(o, &sp, req, fi);
}
