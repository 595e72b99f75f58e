/* Exec sessions as files: the `<container>/exec/` subtree (docs/exec.md).
 * ops.c asks here whether a session exists, lists, creates and removes
 * session directories, and hands every open of an exec file to exec_open.
 * Output, stdin, wait and exitcode files become stream handles
 * (streams.c); new, status, argv and ctl are small handles of our own
 * (FHK_EXEC ids, fs/handles.h) that ops.c routes back here. */
#ifndef PODFS_EXEC_H
#define PODFS_EXEC_H

#include <fuse_lowlevel.h>
#include <stdint.h>

struct pfs_path;

/* Does the session p names (p->exec_id of its container) exist?  0 or
 * -ENOENT.  Cheap: no I/O. */
int exec_exists(const struct pfs_path *p);
/* The session ids of the container of `dir` (an exec directory). */
int exec_list(const struct pfs_path *dir, int (*add)(void *ud, const char *name), void *ud);
/* mkdir exec/NAME: a new named session.  0, -EEXIST, -ENOMEM. */
int exec_mkdir(const struct pfs_path *p);
/* rmdir exec/ID: hang up and forget the session.  0 or -ENOENT. */
int exec_rmdir(const struct pfs_path *p);
/* Truncation of argv (the shell's `>` without atomic O_TRUNC). */
int exec_truncate(const struct pfs_path *p);

/* Replies to req (now or, for stream handles, as streams.c does). */
void exec_open(fuse_req_t req, const struct pfs_path *p, struct fuse_file_info *fi);
/* fi->fh is one of ours (not a snapshot id). */
void exec_read(fuse_req_t req, size_t size, off_t off, struct fuse_file_info *fi);
void exec_write(fuse_req_t req, const char *buf, size_t size, off_t off,
		struct fuse_file_info *fi);
void exec_poll(fuse_req_t req, struct fuse_file_info *fi, struct fuse_pollhandle *ph);
void exec_release(fuse_req_t req, struct fuse_file_info *fi);

/* Unmount, after the multiplexers stopped: free every session. */
void exec_shutdown(void);

#endif
