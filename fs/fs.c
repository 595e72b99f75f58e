/* The mount-wide state (fs/fs.h) and the one place that records API
 * outcomes for .podfs/status.  Kept apart from the router (ops.c) so that
 * the modules that talk to the cluster (snapshots, sessions, ports) can
 * report without importing it. */
#include "fs/fs.h"

#include <errno.h>
#include <stdio.h>

struct podfs *podfs;

void podfs_note(struct podfs *fs, int err, const char *msg)
{
	time_t now = time(NULL);

	pthread_mutex_lock(&fs->status_lock);
	if (!err || err == -ENOENT || err == -ENODATA) {
		/* A reply arrived: the server is there even if the object
		 * is not. */
		fs->last_ok = now;
	}
	if (err) {
		fs->last_err_time = now;
		fs->last_err = err;
		snprintf(fs->last_err_msg, sizeof(fs->last_err_msg), "%s",
			 msg ? msg : "");
	}
	pthread_mutex_unlock(&fs->status_lock);
}
