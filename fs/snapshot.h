/* Snapshot files: Pod.json, Status, state, log, log.previous and
 * .podfs/status.  Their content is fetched once at open into the file
 * handle; reads are ordinary seekable reads of that buffer. */
#ifndef PODFS_SNAPSHOT_H
#define PODFS_SNAPSHOT_H

#include <stddef.h>
#include <sys/types.h>

#include <fuse_lowlevel.h>

#include "fs/path.h"

struct podfs;
struct cJSON;

/* Logs larger than this are cut to their first SNAPSHOT_LOG_MAX bytes
 * (the server stops at limitBytes). */
#define SNAPSHOT_LOG_MAX (64L << 20)

/* The open of a snapshot file: fetch now (bounded by -o timeout), record
 * the size for getattr, reply with a handle whose reads are ordinary
 * seekable reads of what was fetched.  A container's `log` becomes a
 * growing file shared by every open handle of that inode: reads at its end
 * and stat ask the server for the bytes added since (at most once per
 * -o cache, and not within half a second), so `tail -f log` works.
 * Replies to req. */
void snapshot_open(fuse_req_t req, fuse_ino_t ino, const struct pfs_path *p,
		   struct fuse_file_info *fi);

/* st_size of a snapshot file, without a request: .podfs/status is
 * rendered (it is local); a `log` with open handles has its live size
 * (refreshed when stale, which is a request); others report their last
 * fetch (0 before the first open). */
off_t snapshot_size(fuse_ino_t ino, const struct pfs_path *p);

/* Pure formatters (tested without a server).  Each returns a malloc'd,
 * NUL-terminated text ending in '\n', or NULL. */
char *snapshot_pod_status(const struct cJSON *pod);
/* One line: "running, restarts N" | "waiting[ <reason>], restarts N" |
 * "terminated <code>, restarts N".  -ENOENT when the pod has no
 * such container. */
int snapshot_state_line(const struct cJSON *pod, const char *container,
			char *buf, size_t len);
char *snapshot_mount_status(struct podfs *fs);

#endif
