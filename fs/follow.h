/* log.follow: a container's log, streamed like `kubectl logs -f`. */
#ifndef PODFS_FOLLOW_H
#define PODFS_FOLLOW_H

#include <fuse_lowlevel.h>

struct pfs_path;

/* Every open is a follow session of its own, from the start of the log,
 * hung up at close.  Replies to req. */
void follow_open(fuse_req_t req, fuse_ino_t ino, const struct pfs_path *p,
		 struct fuse_file_info *fi);

#endif
