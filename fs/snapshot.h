/* Snapshot files: Pod.json, Status, state, log, log.previous and
 * .podfs/status.  Their content is fetched once at open into the file
 * handle; reads are ordinary seekable reads of that buffer. */
#ifndef PODFS_SNAPSHOT_H
#define PODFS_SNAPSHOT_H

#include <stddef.h>

#include "fs/path.h"
#include "fs/streams.h"

struct podfs;
struct cJSON;

/* Logs larger than this are cut to their first SNAPSHOT_LOG_MAX bytes
 * (the server stops at limitBytes). */
#define SNAPSHOT_LOG_MAX (64L << 20)

struct snapshot {
	struct fh_base base;	/* FH_SNAPSHOT */
	char *data;
	size_t len;
};

int snapshot_is_kind(enum pfs_kind k);

/* Fetch the content for p.  0 with *out set, or -errno; the server's
 * message is recorded for .podfs/status. */
int snapshot_fetch(struct podfs *fs, const struct pfs_path *p,
		   struct snapshot **out);
void snapshot_free(struct snapshot *s);

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
