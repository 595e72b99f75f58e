/* log.follow: every open starts its own log session (stream/session.c
 * follows the log and resumes it after a drop), read through a stream
 * file; close hangs it up.  The owner has no registry: the file and the
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

static void follow_closed(struct owner *o, void *ud)
{
	(void)ud;
	owner_hangup(o);
}

void follow_open(fuse_req_t req, fuse_ino_t ino, const struct pfs_path *p,
		 struct fuse_file_info *fi)
{
	struct session_params sp;
	struct owner *o;
	char label[OWNER_LABEL_MAX], err[512] = "";
	int e;

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
	/* its own session: the file is the buffer's sole reader */
	if (!(e = owner_start(o, &sp, err, sizeof(err))) &&
	    (e = owner_open(o, req, fi, session_output(o->sess, 0), NULL, follow_closed, NULL)) < 0)
		owner_hangup(o);
	owner_put(o);		/* the creator's: the file and the session hold it */
	if (e < 0)
		fuse_reply_err(req, -e);
}
