/* The files of exec sessions: `<container>/exec/new` and everything in
 * `exec/<id>/` (docs/exec.md).  The sessions themselves live in
 * fs/xsess.c. */
#ifndef PODFS_EXEC_H
#define PODFS_EXEC_H

#include <fuse_lowlevel.h>

struct pfs_path;

/* Replies to req (now or, for stream files, as parked.c does). */
void exec_open(fuse_req_t req, fuse_ino_t ino, const struct pfs_path *p,
	       struct fuse_file_info *fi);

#endif
