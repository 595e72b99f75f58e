/* The FUSE low-level operations table (fs/ops.c): the request router.
 * Only main.c needs it; nothing else imports the router. */
#ifndef PODFS_OPS_H
#define PODFS_OPS_H

#include <fuse_lowlevel.h>

extern const struct fuse_lowlevel_ops podfs_ops;

#endif
