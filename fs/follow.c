/* log.follow: every open starts its own log session (stream/session.c
 * follows the log and resumes it after a drop), read through a stream
 * file; close hangs it up.  The owner has no registry: the file and the
 * running session are all that hold it. */
#include "fs/follow.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs/fs.h"
#include "fs/owner.h"
#include "fs/path.h"
#include "stream/session.h"

static void follow_free(struct owner *o)
{
	free(o);
}

static const struct owner_ops follow_ops = { .free = follow_free };

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
	if (!(o = calloc(1, sizeof(*o))) || owner_init(o, &follow_ops, label)) {
		free(o);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	memset(&sp, 0, sizeof(sp));
	sp.kind = SESS_LOG;
	sp.ns = p->ns;
	sp.pod = p->pod;
	sp.container = p->container;
	sp.buffer = podfs->buffer_size;
	/* its own session: the file is the buffer's sole reader */
	if (!(e = owner_start(o, &sp, err, sizeof(err))) &&
	    (e = owner_open(o, req, fi, session_output(o->sess, 0), NULL, follow_closed, NULL)) < 0)
		owner_hangup(o);
	owner_put(o);		/* the creator's: the file and the session hold it */
	if (e < 0)
		fuse_reply_err(req, -e);
}
