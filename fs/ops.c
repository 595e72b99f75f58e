/* The FUSE low-level operations table.  Every request starts from the
 * inode table (tree.c), which turns an inode into a parsed path; existence
 * of namespaces, pods and containers comes from the listing cache, so
 * lookup, getattr and readdir never cost a request per pod.  Snapshot files
 * are fetched at open (snapshot.c); stream files are handed to streams.c,
 * which may answer later from another thread.
 *
 * Snapshot files are opened with direct_io: their size is only known after
 * the fetch, and the kernel would otherwise stop reading at a stale
 * st_size.  Their attributes are never cached by the kernel (timeout 0) so
 * that stat after open (tail, less, wc -c) sees the fetched size. */
#include "fs/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fs/exec.h"
#include "fs/path.h"
#include "fs/handles.h"
#include "fs/ports.h"
#include "fs/snapshot.h"
#include "fs/streams.h"
#include "fs/tree.h"
#include "stream/cache.h"
#include "stream/log.h"

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

#define TRACE(...) pdebug(__VA_ARGS__)

static double cache_s(void)
{
	return podfs->cache_ms / 1000.0;
}

/* ---- existence and attributes ---- */

struct nodeinfo {
	time_t mtime;
	int exists;
};

/* Does p exist in the cluster?  0, or -errno (with the reason noted). */
static int check_exists(const struct pfs_path *p, struct nodeinfo *ni)
{
	struct name_list *nl = NULL;
	struct pod_list *pl = NULL;
	const struct pod_info *pi;
	char msg[512];
	int rc;

	ni->mtime = podfs->mounted;
	switch (p->kind) {
	case PK_ROOT: case PK_META_DIR: case PK_META_STATUS:
		return 0;
	case PK_NS:
		if (p->rooted)
			return 0;	/* the mount root; its listing reports errors */
		rc = cache_namespaces(podfs->cache, &nl, msg, sizeof(msg));
		if (rc)
			return rc;
		rc = name_list_has(nl, p->ns) ? 0 : -ENOENT;
		if (rc && nl->fallback) {
			/* We may not list namespaces, but this one may still
			 * be ours to read: its pod list decides. */
			rc = cache_pods(podfs->cache, p->ns, &pl, msg, sizeof(msg));
			pod_list_put(pl);
		}
		name_list_put(nl);
		return rc;
	case PK_NONE: case PK__COUNT:
		return -ENOENT;
	default:
		break;
	}
	rc = cache_pods(podfs->cache, p->ns, &pl, msg, sizeof(msg));
	if (rc)
		return rc;
	pi = pod_list_find(pl, p->pod);
	if (!pi) {
		pod_list_put(pl);
		return -ENOENT;
	}
	ni->mtime = pi->created ? pi->created : podfs->mounted;
	switch (p->kind) {
	case PK_POD: case PK_POD_JSON: case PK_POD_STATUS: case PK_PORTS_DIR:
	case PK_PROXY_DIR: case PK_PROXY_PORT: case PK_PROXY_FILE:
	case PK_PORT:
		/* Any port may be forwarded or proxied, declared or not. */
		rc = 0;
		break;
	case PK_EXEC_SESSION: case PK_EXEC_ARGV: case PK_EXEC_CTL:
	case PK_EXEC_STDIN: case PK_EXEC_STDOUT: case PK_EXEC_STDERR:
	case PK_EXEC_STATUS: case PK_EXEC_WAIT: case PK_EXEC_EXITCODE:
		rc = pod_has_container(pi, p->container) ? exec_exists(p) : -ENOENT;
		break;
	default:
		rc = pod_has_container(pi, p->container) ? 0 : -ENOENT;
		break;
	}
	pod_list_put(pl);
	return rc;
}

/* Permission bits.  Snapshots and listings are readable by whoever may
 * enter the mount (only its owner, unless allow_other); stream and session
 * files act on the cluster with the mount owner's identity, so they are the
 * owner's alone: never group or world accessible, whatever -o umask says.
 * -o umask= can only take bits away. */
static mode_t kind_mode(enum pfs_kind k)
{
	mode_t m, owner_only = 0;

	switch (k) {
	case PK_EXEC_DIR:
		m = S_IFDIR | 0700, owner_only = 1;	/* mkdir makes a session */
		break;
	case PK_EXEC_SESSION:
		m = S_IFDIR | 0700, owner_only = 1;
		break;
	case PK_STDIN: case PK_EXEC_STDIN:
		m = S_IFREG | 0200, owner_only = 1;
		break;
	case PK_EXEC_ARGV: case PK_EXEC_CTL:	/* read back what was set */
		m = S_IFREG | 0600, owner_only = 1;
		break;
	case PK_PORT:
		m = S_IFREG | 0600, owner_only = 1;
		break;
	case PK_STDOUT: case PK_STDERR: case PK_EXEC_NEW: case PK_EXEC_STDOUT:
	case PK_EXEC_STDERR: case PK_EXEC_STATUS: case PK_EXEC_WAIT:
	case PK_EXEC_EXITCODE: case PK_PROXY_FILE:
		m = S_IFREG | 0400, owner_only = 1;
		break;
	default:
		m = pfs_is_dir(k) ? S_IFDIR | 0555 : S_IFREG | 0444;
		break;
	}
	m &= ~(podfs->umask & 0777);
	if (owner_only)
		m &= ~(mode_t)077;
	return m;
}

static void fill_attr(const struct pfs_path *p, fuse_ino_t ino,
		      const struct nodeinfo *ni, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = kind_mode(p->kind);
	st->st_nlink = pfs_is_dir(p->kind) ? 2 : 1;
	st->st_uid = podfs->uid;
	st->st_gid = podfs->gid;
	st->st_blksize = 4096;
	if (snapshot_is_kind(p->kind)) {
		off_t live = p->kind == PK_LOG ? snapshot_live_size(podfs, ino) : -1;

		st->st_size = live >= 0 ? live : tree_size(ino);
		st->st_blocks = (st->st_size + 511) / 512;
	}
	st->st_atime = st->st_mtime = st->st_ctime = ni->mtime;
}

static double attr_timeout(enum pfs_kind k)
{
	/* A snapshot's size changes with every open. */
	if (snapshot_is_kind(k))
		return 0;
	return podfs->attr_timeout >= 0 ? podfs->attr_timeout : cache_s();
}

static double entry_timeout(void)
{
	return podfs->entry_timeout >= 0 ? podfs->entry_timeout : cache_s();
}

static void fill_entry(const struct pfs_path *p, fuse_ino_t ino,
		       const struct nodeinfo *ni, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = ino;
	e->attr_timeout = attr_timeout(p->kind);
	e->entry_timeout = entry_timeout();
	fill_attr(p, ino, ni, &e->attr);
}

/* ---- lookup, forget, getattr, setattr ---- */

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct pfs_path pp, c;
	struct nodeinfo ni;
	struct fuse_entry_param e;
	fuse_ino_t ino;
	int rc;

	TRACE("lookup %lu %s", (unsigned long)parent, name);
	if ((rc = tree_get(parent, &pp)) || (rc = pfs_child(&pp, name, &c)) ||
	    (rc = check_exists(&c, &ni))) {
		if (rc == -ENOENT) {
			/* Negative entry, cached like positive ones. */
			memset(&e, 0, sizeof(e));
			e.entry_timeout = entry_timeout();
			fuse_reply_entry(req, &e);
			return;
		}
		fuse_reply_err(req, -rc);
		return;
	}
	if (!(ino = tree_ref(&c, 1))) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	fill_entry(&c, ino, &ni, &e);
	if (fuse_reply_entry(req, &e))
		tree_forget(ino, 1);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	tree_forget(ino, nlookup);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count,
			    struct fuse_forget_data *forgets)
{
	for (size_t i = 0; i < count; i++)
		tree_forget(forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct pfs_path p;
	struct nodeinfo ni;
	struct stat st;
	int rc;

	(void)fi;
	TRACE("getattr %lu", (unsigned long)ino);
	if ((rc = tree_get(ino, &p)) || (rc = check_exists(&p, &ni))) {
		fuse_reply_err(req, -rc);
		return;
	}
	fill_attr(&p, ino, &ni, &st);
	fuse_reply_attr(req, &st, attr_timeout(p.kind));
}

static int truncatable(enum pfs_kind k)
{
	return k == PK_STDIN || k == PK_PORT || k == PK_EXEC_ARGV ||
	       k == PK_EXEC_CTL || k == PK_EXEC_STDIN;
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		       int to_set, struct fuse_file_info *fi)
{
	struct pfs_path p;
	struct nodeinfo ni;
	struct stat st;
	int rc;

	(void)fi;
	TRACE("setattr %lu 0x%x", (unsigned long)ino, to_set);
	if ((rc = tree_get(ino, &p)) || (rc = check_exists(&p, &ni))) {
		fuse_reply_err(req, -rc);
		return;
	}
	/* The shell's `>` truncates; on stream and control files that is
	 * accepted and means nothing.  Everything else is read-only. */
	if (to_set & ~(FUSE_SET_ATTR_SIZE | FUSE_SET_ATTR_ATIME |
		       FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_ATIME_NOW |
		       FUSE_SET_ATTR_MTIME_NOW | FUSE_SET_ATTR_CTIME)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	if (!truncatable(p.kind) ||
	    ((to_set & FUSE_SET_ATTR_SIZE) && attr->st_size != 0)) {
		fuse_reply_err(req, pfs_is_dir(p.kind) ? EISDIR : EACCES);
		return;
	}
	if ((to_set & FUSE_SET_ATTR_SIZE) && (rc = exec_truncate(&p))) {
		fuse_reply_err(req, -rc);
		return;
	}
	fill_attr(&p, ino, &ni, &st);
	fuse_reply_attr(req, &st, attr_timeout(p.kind));
}

/* ---- directories ---- */

struct dent {
	char *name;
	time_t mtime;
};

struct dirh {
	struct handle hd;	/* first: the open-file table entry */
	fuse_ino_t ino;
	struct pfs_path path;
	size_t n, cap;
	struct dent *ents;	/* "." and ".." first */
};

static int dir_add(struct dirh *d, const char *name, time_t mtime)
{
	if (d->n == d->cap) {
		size_t nc = d->cap ? d->cap * 2 : 32;
		struct dent *ne = realloc(d->ents, nc * sizeof(*ne));

		if (!ne)
			return -ENOMEM;
		d->ents = ne;
		d->cap = nc;
	}
	if (!(d->ents[d->n].name = strdup(name)))
		return -ENOMEM;
	d->ents[d->n++].mtime = mtime;
	return 0;
}

static void dir_free(struct dirh *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->ents[i].name);
	free(d->ents);
	free(d);
}

static void dir_destroy(struct handle *h)
{
	dir_free((struct dirh *)h);
}

static int dir_add_name(void *d, const char *name)
{
	return dir_add(d, name, podfs->mounted);
}

static int dir_fill(struct dirh *d)
{
	const struct pfs_path *p = &d->path;
	time_t t = podfs->mounted;
	struct name_list *nl = NULL;
	struct pod_list *pl = NULL;
	const struct pod_info *pi;
	char msg[512], num[16];
	int rc = 0;

	switch (p->kind) {
	case PK_ROOT:
		if ((rc = cache_namespaces(podfs->cache, &nl, msg, sizeof(msg))))
			return rc;
		rc = dir_add(d, ".podfs", t);
		for (size_t i = 0; !rc && i < nl->n; i++)
			rc = dir_add(d, nl->names[i], t);
		name_list_put(nl);
		return rc;
	case PK_META_DIR:
		return dir_add(d, "status", t);
	case PK_NS:
		if ((rc = cache_pods(podfs->cache, p->ns, &pl, msg, sizeof(msg))))
			return rc;
		if (p->rooted)
			rc = dir_add(d, ".podfs", t);
		for (size_t i = 0; !rc && i < pl->n; i++)
			rc = dir_add(d, pl->pods[i].name,
				     pl->pods[i].created ? pl->pods[i].created : t);
		pod_list_put(pl);
		return rc;
	case PK_CONTAINER:
		for (size_t i = 0; !rc && pfs_container_files[i]; i++)
			rc = dir_add(d, pfs_container_files[i], t);
		return rc;
	case PK_EXEC_DIR:
		if ((rc = dir_add(d, "new", t)))
			return rc;
		return exec_list(p, dir_add_name, d);
	case PK_EXEC_SESSION:
		for (size_t i = 0; !rc && pfs_exec_session_files[i]; i++)
			rc = dir_add(d, pfs_exec_session_files[i], t);
		return rc;
	case PK_PROXY_PORT: case PK_PROXY_FILE:
		return 0;	/* HTTP has no listing */
	default:
		break;
	}
	/* A pod and its Ports/ and Proxy/ directories. */
	if ((rc = cache_pods(podfs->cache, p->ns, &pl, msg, sizeof(msg))))
		return rc;
	if (!(pi = pod_list_find(pl, p->pod))) {
		pod_list_put(pl);
		return -ENOENT;
	}
	if (pi->created)
		t = pi->created;
	if (p->kind == PK_POD) {
		rc = dir_add(d, "Pod.json", t);
		if (!rc) rc = dir_add(d, "Ports", t);
		if (!rc) rc = dir_add(d, "Proxy", t);
		if (!rc) rc = dir_add(d, "Status", t);
		for (size_t i = 0; !rc && i < pi->ncontainers; i++)
			rc = dir_add(d, pi->containers[i], t);
	} else if (p->kind == PK_PORTS_DIR || p->kind == PK_PROXY_DIR) {
		for (size_t i = 0; !rc && i < pi->nports; i++) {
			snprintf(num, sizeof(num), "%d", pi->ports[i]);
			rc = dir_add(d, num, t);
		}
	}
	pod_list_put(pl);
	return rc;
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct dirh *d;
	struct nodeinfo ni;
	int rc;

	TRACE("opendir %lu", (unsigned long)ino);
	if (!(d = calloc(1, sizeof(*d)))) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	d->ino = ino;
	if ((rc = tree_get(ino, &d->path)) || (rc = check_exists(&d->path, &ni)) ||
	    (rc = pfs_is_dir(d->path.kind) ? 0 : -ENOTDIR) ||
	    (rc = dir_add(d, ".", ni.mtime)) || (rc = dir_add(d, "..", ni.mtime)) ||
	    (rc = dir_fill(d))) {
		dir_free(d);
		fuse_reply_err(req, -rc);
		return;
	}
	fi->fh = handle_add(&d->hd, FHK_DIR, dir_destroy);
	if (fuse_reply_open(req, fi))
		handle_remove(fi->fh);
}

static void do_readdir(fuse_req_t req, size_t size, off_t off,
		       struct fuse_file_info *fi, int plus)
{
	struct dirh *d = (struct dirh *)handle_get(fi->fh);
	char *buf;
	size_t used = 0;

	if (!d) {
		fuse_reply_err(req, EBADF);
		return;
	}
	if (size > 1 << 20)
		size = 1 << 20;
	if (!(buf = malloc(size))) {
		handle_put(&d->hd);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	for (size_t i = off < 0 ? 0 : (size_t)off; i < d->n; i++) {
		const char *name = d->ents[i].name;
		int dot = i < 2;	/* "." and ".." */
		struct pfs_path c;
		struct nodeinfo ni = { .mtime = d->ents[i].mtime, .exists = 1 };
		struct fuse_entry_param e;
		size_t need;

		if (dot) {
			if (i == 0)
				c = d->path;
			else
				pfs_parent(&d->path, &c);
		} else if (pfs_child(&d->path, name, &c))
			continue;
		if (plus) {
			/* The kernel keeps a reference for every entry but
			 * "." and "..", as lookup would. */
			fuse_ino_t ino = dot ? (i == 0 ? d->ino : tree_find(&c))
					     : tree_ref(&c, 1);

			if (!ino && !dot)
				break;
			fill_entry(&c, ino ? ino : FUSE_ROOT_ID, &ni, &e);
			need = fuse_add_direntry_plus(req, buf + used, size - used,
						      name, &e, (off_t)i + 1);
			if (need > size - used) {
				if (!dot)
					tree_forget(ino, 1);
				break;
			}
		} else {
			struct stat st;
			fuse_ino_t ino = i == 0 ? d->ino : tree_find(&c);

			memset(&st, 0, sizeof(st));
			st.st_ino = ino ? ino : 0xffffffff;	/* "unknown", as libfuse uses */
			st.st_mode = kind_mode(c.kind);
			need = fuse_add_direntry(req, buf + used, size - used,
						 name, &st, (off_t)i + 1);
			if (need > size - used)
				break;
		}
		used += need;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
	handle_put(&d->hd);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	TRACE("readdir %lu off %lld", (unsigned long)ino, (long long)off);
	do_readdir(req, size, off, fi, 0);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
			   off_t off, struct fuse_file_info *fi)
{
	TRACE("readdirplus %lu off %lld", (unsigned long)ino, (long long)off);
	do_readdir(req, size, off, fi, 1);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	(void)ino;
	handle_remove(fi->fh);
	fuse_reply_err(req, 0);
}

/* ---- files ---- */

static void snap_destroy(struct handle *h)
{
	snapshot_free((struct snapshot *)h);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct pfs_path p;
	struct nodeinfo ni;
	struct snapshot *s;
	uint64_t fh;
	int rc;

	TRACE("open %lu flags 0%o", (unsigned long)ino, fi->flags);
	if ((rc = tree_get(ino, &p)) || (rc = check_exists(&p, &ni))) {
		fuse_reply_err(req, -rc);
		return;
	}
	if (pfs_is_dir(p.kind)) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	if (p.kind >= PK_EXEC_NEW && p.kind <= PK_EXEC_EXITCODE) {
		exec_open(req, &p, fi);
		return;
	}
	if (p.kind == PK_PORT || p.kind == PK_PROXY_FILE) {
		(p.kind == PK_PORT ? ports_open : proxy_open)(req, &p, fi);
		return;
	}
	if (!snapshot_is_kind(p.kind)) {
		streams_open(req, &p, fi);
		return;
	}
	if ((fi->flags & O_ACCMODE) != O_RDONLY) {
		fuse_reply_err(req, EACCES);
		return;
	}
	if ((rc = snapshot_open(podfs, ino, &p, &s))) {
		fuse_reply_err(req, -rc);
		return;
	}
	if (!s->log)
		tree_set_size(ino, (off_t)s->len);
	fi->fh = fh = handle_add(&s->hd, FHK_SNAPSHOT, snap_destroy);
	fi->direct_io = 1;
	fi->keep_cache = 0;
	if (fuse_reply_open(req, fi))
		handle_remove(fh);	/* the opener was interrupted */
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct snapshot *s;
	const char *data;
	char *tofree;
	size_t n;
	int rc;

	(void)ino;
	TRACE("read %lu size %zu off %lld", (unsigned long)ino, size, (long long)off);
	if (fh_kind(fi->fh) == FHK_EXEC) {
		exec_read(req, size, off, fi);
		return;
	}
	if (fh_kind(fi->fh) == FHK_STREAM) {
		streams_read(req, size, fi);
		return;
	}
	if (!(s = (struct snapshot *)handle_get(fi->fh))) {
		fuse_reply_err(req, EBADF);
		return;
	}
	rc = snapshot_read(podfs, s, off, size, &data, &n, &tofree);
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_buf(req, data, n);
	free(tofree);
	handle_put(&s->hd);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
		     size_t size, off_t off, struct fuse_file_info *fi)
{
	(void)ino;
	(void)off;
	TRACE("write %lu size %zu", (unsigned long)ino, size);
	if (fh_kind(fi->fh) == FHK_EXEC) {
		exec_write(req, buf, size, off, fi);
		return;
	}
	if (fh_kind(fi->fh) == FHK_STREAM) {
		streams_write(req, buf, size, fi);
		return;
	}
	fuse_reply_err(req, EBADF);
}

static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	fuse_reply_err(req, 0);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	TRACE("release %lu", (unsigned long)ino);
	if (fh_kind(fi->fh) == FHK_EXEC) {
		exec_release(req, fi);
		return;
	}
	if (fh_kind(fi->fh) == FHK_STREAM) {
		streams_release(req, fi);
		return;
	}
	handle_remove(fi->fh);
	fuse_reply_err(req, 0);
}

static void op_poll(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
		    struct fuse_pollhandle *ph)
{
	(void)ino;
	TRACE("poll %lu", (unsigned long)ino);
	if (fh_kind(fi->fh) == FHK_EXEC) {
		exec_poll(req, fi, ph);
		return;
	}
	if (fh_kind(fi->fh) == FHK_STREAM) {
		streams_poll(req, fi, ph);
		return;
	}
	if (ph)
		fuse_pollhandle_destroy(ph);
	fuse_reply_poll(req, POLLIN | POLLRDNORM);
}

/* mkdir and rmdir exist only for exec sessions. */
static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct pfs_path pp, c;
	struct nodeinfo ni;
	struct fuse_entry_param e;
	fuse_ino_t ino;
	int rc;

	(void)mode;
	TRACE("mkdir %lu %s", (unsigned long)parent, name);
	if ((rc = tree_get(parent, &pp)) || (rc = check_exists(&pp, &ni)))
		goto fail;
	if (pp.kind != PK_EXEC_DIR) {
		rc = -EPERM;
		goto fail;
	}
	if ((rc = pfs_child(&pp, name, &c)) == -ENOENT)
		rc = -EINVAL;	/* not a name a session can have */
	if (rc || (rc = exec_mkdir(&c)))
		goto fail;
	if (!(ino = tree_ref(&c, 1))) {
		rc = -ENOMEM;
		goto fail;
	}
	fill_entry(&c, ino, &ni, &e);
	if (fuse_reply_entry(req, &e))
		tree_forget(ino, 1);
	return;
fail:
	fuse_reply_err(req, -rc);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct pfs_path pp, c;
	int rc;

	TRACE("rmdir %lu %s", (unsigned long)parent, name);
	if (!(rc = tree_get(parent, &pp)) && !(rc = pfs_child(&pp, name, &c)))
		rc = pp.kind == PK_EXEC_DIR ? exec_rmdir(&c) : -EPERM;
	fuse_reply_err(req, -rc);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv;

	(void)ino;
	memset(&sv, 0, sizeof(sv));
	sv.f_bsize = sv.f_frsize = 4096;
	sv.f_namemax = PFS_NAME_MAX;
	sv.f_files = tree_count();
	fuse_reply_statfs(req, &sv);
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	/* Stream reads must not be serialised per file; readdirplus saves
	 * a lookup per entry; O_TRUNC arrives with open so `>` needs no
	 * separate setattr. */
	if (conn->capable & FUSE_CAP_ASYNC_READ)
		conn->want |= FUSE_CAP_ASYNC_READ;
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	if (conn->capable & FUSE_CAP_READDIRPLUS_AUTO)
		conn->want |= FUSE_CAP_READDIRPLUS_AUTO;
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	conn->want &= ~FUSE_CAP_SPLICE_READ;
	conn->want &= ~FUSE_CAP_SPLICE_WRITE;
	conn->want &= ~FUSE_CAP_SPLICE_MOVE;
	conn->max_write = 1 << 20;
	conn->max_readahead = 1 << 20;
	pdebug("init: protocol %u.%u, max_write %u", conn->proto_major,
	       conn->proto_minor, conn->max_write);
}

static void op_destroy(void *userdata)
{
	/* main() shuts the stream side down after the loop, once. */
	(void)userdata;
}

const struct fuse_lowlevel_ops podfs_ops = {
	.init = op_init,
	.destroy = op_destroy,
	.lookup = op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = op_getattr,
	.setattr = op_setattr,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.readdirplus = op_readdirplus,
	.releasedir = op_releasedir,
	.open = op_open,
	.read = op_read,
	.write = op_write,
	.flush = op_flush,
	.release = op_release,
	.poll = op_poll,
	.statfs = op_statfs,
	.mkdir = op_mkdir,
	.rmdir = op_rmdir,
};
