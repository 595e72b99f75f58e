/* The inode table: inode number <-> node (a parsed path), with the kernel's
 * lookup count.  A path keeps its inode number for as long as the kernel
 * knows it (until forget brings the count to zero).  Thread-safe. */
#ifndef PODFS_TREE_H
#define PODFS_TREE_H

#include <fuse_lowlevel.h>
#include <stdint.h>
#include <sys/types.h>

#include "fs/path.h"

int tree_init(void);
/* Make root (pfs_root_ns) the node of FUSE_ROOT_ID; call after tree_init,
 * before mounting. */
void tree_set_root(const struct pfs_path *root);
void tree_destroy(void);

/* The node for p, created if new, its lookup count raised by n (0 = just
 * find or create).  Returns its inode number, 0 on allocation failure.
 * The root is always FUSE_ROOT_ID. */
fuse_ino_t tree_ref(const struct pfs_path *p, uint64_t n);
/* The inode number of p if the table knows it, else 0. */
fuse_ino_t tree_find(const struct pfs_path *p);
/* Copy the node's path; -ESTALE for an unknown inode. */
int tree_get(fuse_ino_t ino, struct pfs_path *out);
void tree_forget(fuse_ino_t ino, uint64_t n);

/* Size of a snapshot file's last fetch, reported by getattr. */
void tree_set_size(fuse_ino_t ino, off_t size);
off_t tree_size(fuse_ino_t ino);

size_t tree_count(void);

/* A rename below root/: the node of `from` and every node below it take
 * the new path (the kernel keeps their inode numbers); a node that was at
 * `to` keeps its inode but no path finds it any more. */
void tree_rename(const struct pfs_path *from, const struct pfs_path *to);

#endif
