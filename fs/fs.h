/* The global state of a podfs mount, shared by the FUSE side: the API
 * client, the listing cache, the options, the FUSE session, and what
 * .podfs/status reports about connectivity.  Defined in fs/fs.c; any fs/
 * module may include this without pulling in the request router
 * (fs/ops.h). */
#ifndef PODFS_FS_H
#define PODFS_FS_H

#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stddef.h>
#include <time.h>

#include "stream/kubeconfig.h"

struct rest;
struct auth;
struct cache;
struct watcher;

#define PODFS_VERSION "0.1.0"

struct podfs {
	struct kc_config kc;		/* the resolved context */
	struct auth *auth;
	struct rest *rest;
	struct cache *cache;
	struct watcher *watcher;	/* the live tree (fs/live.c), NULL if off */
	struct fuse_session *se;

	long timeout_ms;		/* -o timeout: bound on metadata ops */
	long cache_ms;			/* -o cache: listing and kernel cache */
	long watch_idle_ms;		/* -o watch_idle: 0 = no watches */
	long login_timeout_ms;		/* -o login_timeout: interactive plugin at mount */
	size_t buffer_size;		/* -o buffer: per-stream buffer bytes */
	int debug;			/* -d: trace requests */
	const char *namespace;		/* namespace shown when listing is forbidden */
	const char *root_ns;		/* -o namespace: the namespace at the root */
	uid_t uid;			/* -o uid=, -o gid=: owner of every node */
	gid_t gid;
	mode_t umask;			/* -o umask=: bits taken from every mode */
	double entry_timeout;		/* -o entry_timeout=, attr_timeout= */
	double attr_timeout;		/* (seconds; -1: follow -o cache) */
	int root_sessions;		/* -o root_sessions=: helper shells per container */
	long root_cache_ms;		/* -o root_cache=: attributes below root/ */
	int read_only;			/* -o ro (the last of ro/rw): no node that acts on the cluster */
	time_t mounted;

	/* .podfs/status; guarded by status_lock. */
	pthread_mutex_t status_lock;
	time_t last_ok;			/* last successful API contact */
	time_t last_err_time;
	int last_err;			/* -errno of the last failure */
	char last_err_msg[512];		/* the server's message, never a secret */
	char ns_note[512];		/* set at mount when namespaces may not be
					 * listed (contact.c); "" otherwise */
};

extern struct podfs *podfs;

/* Record the outcome of an API call for .podfs/status. */
void podfs_note(struct podfs *fs, int err, const char *msg);

#endif
