/* Attach: a container's stdin, stdout and stderr files (see attach.c). */
#ifndef PODFS_ATTACH_H
#define PODFS_ATTACH_H

#include <fuse_lowlevel.h>

struct pfs_path;

/* The linger thread: start before serving, stop after the FUSE loop (the
 * sessions themselves end in owners_shutdown). */
int attach_start(void);
void attach_stop(void);

/* Open stdin (write-only), stdout or stderr (read-only) of p's
 * container.  Replies to req. */
void attach_open(fuse_req_t req, fuse_ino_t ino, const struct pfs_path *p,
		 struct fuse_file_info *fi);

#endif
