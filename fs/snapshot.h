/* Snapshot files: Pod.json, Status, state, log, log.previous and
 * .podfs/status.  Their content is fetched once at open into the file
 * handle; reads are ordinary seekable reads of that buffer. */
#ifndef PODFS_SNAPSHOT_H
#define PODFS_SNAPSHOT_H

#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include <fuse_lowlevel.h>

#include "fs/path.h"

struct podfs;
struct cJSON;
struct pod_info;

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

/* st_size of Pod.json, Status or state measured from pi, the pod as its
 * namespace's listing has it; -1 for other kinds (or no pi). */
off_t snapshot_listed_size(const struct pfs_path *p, const struct pod_info *pi);

/* st_size of the other snapshot files, without a request: .podfs/status
 * is rendered (it is local); a `log` with open handles has its live size
 * (refreshed when stale, which is a request); log and log.previous
 * otherwise report their last fetch (0 before the first open). */
off_t snapshot_size(fuse_ino_t ino, const struct pfs_path *p);

/* The cache's measurer (cache_set_measurer): the sizes of Pod.json,
 * Status and each container's state rendered from one listed pod. */
void snapshot_measure(const struct cJSON *pod, struct pod_info *pi);

/* Pure formatters (tested without a server).  Each returns a malloc'd,
 * NUL-terminated text ending in '\n', or NULL. */
/* Pod.json: the object with kind and apiVersion first, compact JSON. */
char *snapshot_pod_json(const struct cJSON *pod);
char *snapshot_pod_status(const struct cJSON *pod);
/* One line: "running, restarts N" | "waiting[ <reason>], restarts N" |
 * "terminated <code>, restarts N".  -ENOENT when the pod has no
 * such container. */
int snapshot_state_line(const struct cJSON *pod, const char *container,
			char *buf, size_t len);
char *snapshot_mount_status(struct podfs *fs);
/* Events as kubectl describe lists them (Type, Reason, Age, From,
 * Message; with_object: the involved object's name too), oldest first,
 * from an EventList; "<none>" when empty. */
char *snapshot_events(const struct cJSON *list, int with_object, time_t now);

#endif
