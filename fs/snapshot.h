/* Snapshot files: Pod.json, Status, state, log, log.previous and
 * .podfs/status.  Their content is fetched once at open into the file
 * handle; reads are ordinary seekable reads of that buffer. */
#ifndef PODFS_SNAPSHOT_H
#define PODFS_SNAPSHOT_H

#include <stddef.h>
#include <sys/types.h>

#include "fs/path.h"
#include "fs/handles.h"
#include "fs/streams.h"

struct podfs;
struct cJSON;

/* Logs larger than this are cut to their first SNAPSHOT_LOG_MAX bytes
 * (the server stops at limitBytes). */
#define SNAPSHOT_LOG_MAX (64L << 20)

struct logbuf;

struct snapshot {
	struct handle hd;	/* first: the open-file table entry */
	char *data;		/* fixed snapshots */
	size_t len;
	struct logbuf *log;	/* `log`: shared by the inode's open handles */
};

int snapshot_is_kind(enum pfs_kind k);

/* Fetch the content for p.  0 with *out set, or -errno; the server's
 * message is recorded for .podfs/status. */
int snapshot_fetch(struct podfs *fs, const struct pfs_path *p,
		   struct snapshot **out);
void snapshot_free(struct snapshot *s);

/* Open: like snapshot_fetch, but a container's `log` becomes a growing
 * file shared by every open handle of that inode: reads at its end and
 * stat ask the server for the bytes added since (at most once per
 * -o cache, and not within half a second), so `tail -f log` works. */
int snapshot_open(struct podfs *fs, fuse_ino_t ino, const struct pfs_path *p,
		  struct snapshot **out);

/* Up to size bytes at off: *out points into *tofree (free it after the
 * reply) or into s.  0 or -errno. */
int snapshot_read(struct podfs *fs, struct snapshot *s, off_t off, size_t size,
		  const char **out, size_t *n, char **tofree);

/* The current size of a log with open handles (refreshed when stale), or
 * -1 when no handle of ino is open. */
off_t snapshot_live_size(struct podfs *fs, fuse_ino_t ino);

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
