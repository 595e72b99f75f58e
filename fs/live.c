/* The live tree (see live.h).  The cache's listener runs on the watcher's
 * loop thread (or, for the changes a relist found, there too), with no
 * cache or tree lock held: a kernel notification may wait for the very
 * directory lock that a FUSE request in that directory holds, and that
 * request may need those locks to finish (docs/locking.md).  What the
 * kernel is told:
 *   ADDED    notify_inval_entry(dir, name): a negative entry goes, so the
 *            new name resolves at once however long entry_timeout is;
 *   DELETED  notify_delete(dir, ino, name) when the kernel knows the node
 *            (inotify watchers see IN_DELETE), else notify_inval_entry;
 *   MODIFIED notify_inval_inode of the pod, its snapshot files and its
 *            containers' nodes: attributes (sizes, times) are asked again.
 * A namespace's pods also change its directory listing, which the kernel
 * does not cache (readdir always reaches podfs). */
#include "fs/live.h"

#include <errno.h>
#include <string.h>

#include "fs/events.h"
#include "fs/fs.h"
#include "fs/path.h"
#include "fs/tree.h"
#include "stream/cache.h"
#include "stream/log.h"
#include "stream/watch.h"

/* Kernel caches last this long while a watch keeps a listing current:
 * every change is notified, so the length only bounds the damage of a
 * notification lost in a race with a lookup. */
#define LIVE_TIMEOUT_S	60.0

static void inval_inode(struct fuse_session *se, const struct pfs_path *p)
{
	fuse_ino_t ino = tree_find(p);
	int rc;

	if (ino && (rc = fuse_lowlevel_notify_inval_inode(se, ino, 0, 0)) && rc != -ENOENT)
		pdebug("notify_inval_inode %lu: %s", (unsigned long)ino, strerror(-rc));
}

/* MODIFIED: the pod's node and the nodes whose attributes come from it. */
static void inval_pod(struct fuse_session *se, const struct pfs_path *pod,
		      const struct pod_info *pi)
{
	static const char *const pod_files[] = { "Pod.json", "Status" };
	static const char *const ctr_files[] = { "state", "log" };
	struct pfs_path f, ctr;

	inval_inode(se, pod);
	for (size_t i = 0; i < 2; i++)
		if (!pfs_child(pod, pod_files[i], &f))
			inval_inode(se, &f);
	for (size_t i = 0; pi && i < pi->ncontainers; i++) {
		if (pfs_child(pod, pi->containers[i].name, &ctr))
			continue;
		inval_inode(se, &ctr);
		for (size_t j = 0; j < 2; j++)
			if (!pfs_child(&ctr, ctr_files[j], &f))
				inval_inode(se, &f);
	}
}

static void tell_kernel(struct podfs *fs, const char *ns, const struct cache_change *ch)
{
	struct pfs_path root, dir, child;
	size_t len = strlen(ch->name);
	fuse_ino_t parent, ino;
	int rc = 0;

	if (!fs->se || tree_get(FUSE_ROOT_ID, &root))
		return;
	if (root.rooted) {		/* -o namespace=: only that namespace's pods */
		if (!ns || strcmp(ns, root.ns))
			return;
		dir = root;
	} else if (!ns) {
		dir = root;
	} else if (pfs_child(&root, ns, &dir)) {
		return;
	}
	if (!(parent = tree_find(&dir)) || pfs_child(&dir, ch->name, &child))
		return;		/* the kernel never saw the directory */
	ino = tree_find(&child);
	pdebug("live: %s %s%s%s", ch->type == CACHE_ADDED ? "ADDED" :
	       ch->type == CACHE_DELETED ? "DELETED" : "MODIFIED", ns ? ns : "", ns ? "/" : "", ch->name);
	if (ch->type == CACHE_ADDED)
		rc = fuse_lowlevel_notify_inval_entry(fs->se, parent, ch->name, len);
	else if (ch->type == CACHE_DELETED && ino)
		rc = fuse_lowlevel_notify_delete(fs->se, parent, ino, ch->name, len);
	else if (ch->type == CACHE_DELETED)
		rc = fuse_lowlevel_notify_inval_entry(fs->se, parent, ch->name, len);
	else if (ns && ino)
		inval_pod(fs->se, &child, ch->pod);
	if (rc && rc != -ENOENT)
		pdebug("notify for %s: %s", ch->name, strerror(-rc));
}

static void on_change(void *ud, const char *ns, const struct cache_change *ch)
{
	tell_kernel(ud, ns, ch);
	events_post(ns, ch);
}

void live_start(struct podfs *fs)
{
	if (fs->watch_idle_ms <= 0)
		return;
	if (!(fs->watcher = watcher_new(fs->rest, fs->timeout_ms))) {
		pwarn("cannot start watches: listings expire after -o cache");
		return;
	}
	cache_set_listener(fs->cache, on_change, fs);
	cache_enable_watches(fs->cache, fs->watcher, fs->watch_idle_ms);
}

void live_stop(struct podfs *fs)
{
	if (!fs->watcher)
		return;
	cache_enable_watches(fs->cache, NULL, 0);
	watcher_free(fs->watcher);
	fs->watcher = NULL;
}

static double live_or(double given, const char *ns)
{
	if (given >= 0)
		return given;
	if (podfs->watcher && cache_is_live(podfs->cache, ns))
		return LIVE_TIMEOUT_S;
	return podfs->cache_ms / 1000.0;
}

double live_entry_timeout(const char *ns)
{
	return live_or(podfs->entry_timeout, ns);
}

double live_attr_timeout(const char *ns)
{
	return live_or(podfs->attr_timeout, ns);
}
