/* `<ns>/<pod>/<container>/root/`: the container's own filesystem, answered
 * by its helper shells (roothelper.h).  ops.c hands every request on a
 * node below root/ (or naming a child of one) to these functions, which
 * reply to FUSE themselves.  See docs/root.md. */
#ifndef PODFS_ROOT_H
#define PODFS_ROOT_H

#include <fuse_lowlevel.h>

#include "fs/path.h"

/* Does root.c answer for nodes of kind k (root/ and below)? */
int root_kind(enum pfs_kind k);

void root_lookup(fuse_req_t req, const struct pfs_path *parent, const char *name);
void root_getattr(fuse_req_t req, fuse_ino_t ino, const struct pfs_path *p);
void root_setattr(fuse_req_t req, fuse_ino_t ino, const struct pfs_path *p,
		  struct stat *attr, int to_set);
void root_opendir(fuse_req_t req, fuse_ino_t ino, const struct pfs_path *p,
		  struct fuse_file_info *fi);
/* readdir and readdirplus of a handle from root_opendir; 0 when fh is not
 * one (the caller answers). */
int root_readdir(fuse_req_t req, size_t size, off_t off, struct fuse_file_info *fi, int plus);
void root_open(fuse_req_t req, fuse_ino_t ino, const struct pfs_path *p,
	       struct fuse_file_info *fi);
void root_create(fuse_req_t req, const struct pfs_path *parent, const char *name,
		 mode_t mode, struct fuse_file_info *fi);
void root_mkdir(fuse_req_t req, const struct pfs_path *parent, const char *name, mode_t mode);
void root_remove(fuse_req_t req, const struct pfs_path *parent, const char *name, int dir);
void root_rename(fuse_req_t req, const struct pfs_path *parent, const char *name,
		 const struct pfs_path *newparent, const char *newname, unsigned flags);
void root_symlink(fuse_req_t req, const char *target, const struct pfs_path *parent,
		  const char *name);
void root_readlink(fuse_req_t req, const struct pfs_path *p);
void root_statfs(fuse_req_t req, const struct pfs_path *p);

#endif
