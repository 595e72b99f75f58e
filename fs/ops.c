/* The FUSE low-level operations: the request router.  Every request starts
 * from the inode table (tree.c), which turns an inode into a parsed path;
 * what a node is, how it lists and how it opens comes from the node table
 * (nodes.c); existence of namespaces, pods and containers comes from the
 * listing cache, so lookup, getattr and readdir never cost a request per
 * pod.  Once a file is open, read, write, poll, flush and release go
 * through its handle's operations (handles.h), whatever the file is.
 *
 * Snapshot files are opened with direct_io: their size is only known after
 * the fetch, and the kernel would otherwise stop reading at a stale
 * st_size.  Their attributes are never cached by the kernel (timeout 0) so
 * that stat after open (tail, less, wc -c) sees the fetched size. */
#include "fs/ops.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fs/attach.h"
#include "fs/events.h"
#include "fs/exec.h"
#include "fs/follow.h"
#include "fs/fs.h"
#include "fs/handles.h"
#include "fs/live.h"
#include "fs/nodes.h"
#include "fs/path.h"
#include "fs/ports.h"
#include "fs/root.h"
#include "fs/snapshot.h"
#include "fs/tree.h"
#include "fs/xsess.h"
#include "stream/cache.h"
#include "stream/log.h"

/* The most one FUSE request carries on a stream file (read or write). */
#define STREAM_IO_SIZE (1u << 20)

#define TRACE(...) pdebug(__VA_ARGS__)

static double cache_s(void)
{
	return podfs->cache_ms / 1000.0;
}

/* ---- existence and attributes ---- */

struct nodeinfo {
	time_t mtime;		/* the one time of the node (node_time) */
	off_t size;		/* a snapshot's size from the listing, -1 if none */
	int exists;
};

/* Does the node table hide kind n on this mount?  -o ro: nothing that
 * acts on the cluster exists. */
static int hidden(const struct pfs_node *n)
{
	return podfs->read_only && (n->flags & PN_ACTS);
}

/* Every node has one time, from the object it belongs to: below a
 * container the container's start time, below a pod the pod's creation
 * time, falling back to the pod's and then the mount time when unknown.
 * Namespaces carry their creation time (namespace_exists); the root and
 * .podfs the mount time.  So `ls -lt` sorts pods by age and a stat never
 * changes between calls. */
static time_t node_time(const struct pfs_path *p, const struct pod_info *pi)
{
	const struct pod_container *c;

	if (!pi)
		return podfs->mounted;
	if (p->container[0] && (c = pod_container_find(pi, p->container)) && c->started)
		return c->started;
	return pi->created ? pi->created : podfs->mounted;
}

/* Does the namespace of p exist?  0, or -errno (with the reason noted);
 * *t gets its creation time when the namespace list has one. */
static int namespace_exists(const struct pfs_path *p, time_t *t)
{
	struct name_list *nl = NULL;
	struct pod_list *pl = NULL;
	char msg[512];
	int rc;

	if (p->rooted)
		return 0;	/* the mount root; its listing reports errors */
	long i;

	if ((rc = cache_namespaces(podfs->cache, &nl, msg, sizeof(msg))))
		return rc;
	i = name_list_find(nl, p->ns);
	rc = i >= 0 ? 0 : -ENOENT;
	if (i >= 0 && nl->created[i])
		*t = nl->created[i];
	if (rc && nl->fallback) {
		/* We may not list namespaces, but this one may still be ours
		 * to read: its pod list decides. */
		rc = cache_pods(podfs->cache, p->ns, &pl, msg, sizeof(msg));
		pod_list_put(pl);
	}
	name_list_put(nl);
	return rc;
}

/* Does p exist in the cluster (the node table's rule for its kind)?  0,
 * or -errno (with the reason noted). */
static int check_exists(const struct pfs_path *p, struct nodeinfo *ni)
{
	const struct pfs_node *n = pfs_node(p->kind);
	struct pod_list *pl = NULL;
	const struct pod_info *pi;
	char msg[512];
	int rc;

	ni->mtime = podfs->mounted;
	ni->size = -1;
	if (!n || hidden(n))
		return -ENOENT;
	if (n->exists == NE_ALWAYS)
		return 0;
	if (n->exists == NE_NAMESPACE)
		return namespace_exists(p, &ni->mtime);
	if ((rc = cache_pods(podfs->cache, p->ns, &pl, msg, sizeof(msg))))
		return rc;
	if (!(pi = pod_list_find(pl, p->pod))) {
		pod_list_put(pl);
		return -ENOENT;
	}
	ni->mtime = node_time(p, pi);
	ni->size = snapshot_listed_size(p, pi);
	/* Any port may be forwarded or proxied, declared or not (NE_POD). */
	if (n->exists != NE_POD && !pod_has_container(pi, p->container))
		rc = -ENOENT;
	else if (n->exists == NE_EXEC)
		rc = exec_exists(p);
	pod_list_put(pl);
	return rc;
}

/* Permission bits from the node table; -o umask= can only take bits
 * away, and owner-only nodes never get group or world bits. */
static mode_t kind_mode(enum pfs_kind k)
{
	const struct pfs_node *n = pfs_node(k);
	mode_t m;

	if (!n)
		return S_IFREG;
	m = n->mode & ~(podfs->umask & 0777);
	if (n->flags & PN_OWNER_ONLY)
		m &= ~(mode_t)077;
	return m;
}

static int is_snapshot(enum pfs_kind k)
{
	const struct pfs_node *n = pfs_node(k);

	return n && n->open == NO_SNAPSHOT;
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
	/* Stream files: coreutils (cat, cp) size their reads and writes by
	 * st_blksize (at least 128 KiB), so 1 MiB here lets one request
	 * carry as much as the kernel allows (max_write, max_pages below)
	 * instead of 8 round trips through FUSE per MiB. */
	st->st_blksize = pfs_is_dir(p->kind) || is_snapshot(p->kind) ? 4096 : STREAM_IO_SIZE;
	if (is_snapshot(p->kind)) {
		st->st_size = ni->size >= 0 ? ni->size : snapshot_size(ino, p);
		st->st_blocks = (st->st_size + 511) / 512;
	}
	st->st_atime = st->st_mtime = st->st_ctime = ni->mtime;
}

/* The listing whose watch keeps p's existence and attributes current
 * (a namespace's pods, or NULL: the namespace list), or "" when none
 * does: exec sessions live in podfs, not in a listing. */
static const char *decided_by(const struct pfs_path *p)
{
	const struct pfs_node *n = pfs_node(p->kind);

	if (!n || n->exists == NE_EXEC)
		return "";
	if ((p->kind == PK_NS && !p->rooted) || !p->ns[0])
		return NULL;
	return p->ns;
}

static double attr_timeout(const struct pfs_path *p)
{
	const char *ns = decided_by(p);

	/* A snapshot's size changes with every open. */
	if (is_snapshot(p->kind))
		return 0;
	if (ns && !ns[0])
		return podfs->attr_timeout >= 0 ? podfs->attr_timeout : cache_s();
	return live_attr_timeout(ns);
}

/* The entry of child, or the negative entry of a name in dir: long only
 * where a watch notifies changes (a negative entry below a pod may be an
 * exec session that is yet to be made). */
static double entry_timeout(const struct pfs_path *dir, const struct pfs_path *child)
{
	const char *ns = child ? decided_by(child) :
			 dir->kind != PK_ROOT && dir->kind != PK_NS ? "" :
			 dir->ns[0] ? dir->ns : NULL;

	if (ns && !ns[0])
		return podfs->entry_timeout >= 0 ? podfs->entry_timeout : cache_s();
	return live_entry_timeout(ns);
}

static void fill_entry(const struct pfs_path *p, fuse_ino_t ino,
		       const struct nodeinfo *ni, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = ino;
	e->attr_timeout = attr_timeout(p);
	e->entry_timeout = entry_timeout(NULL, p);
	fill_attr(p, ino, ni, &e->attr);
}

/* Below <container>/root/ the names are the container's own: root.c
 * answers for ino (a node of root/ or below) entirely. */
static int below_root(fuse_ino_t ino, struct pfs_path *p)
{
	return !tree_get(ino, p) && root_kind(p->kind);
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
	if (below_root(parent, &pp)) {
		root_lookup(req, &pp, name);
		return;
	}
	if ((rc = tree_get(parent, &pp)) || (rc = pfs_child(&pp, name, &c)) ||
	    (rc = check_exists(&c, &ni))) {
		if (rc == -ENOENT) {
			/* Negative entry, cached like positive ones. */
			memset(&e, 0, sizeof(e));
			e.entry_timeout = entry_timeout(&pp, NULL);
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
	if (below_root(ino, &p) && p.kind == PK_CROOT_ENTRY) {
		root_getattr(req, ino, &p);
		return;
	}
	if ((rc = tree_get(ino, &p)) || (rc = check_exists(&p, &ni))) {
		fuse_reply_err(req, -rc);
		return;
	}
	fill_attr(&p, ino, &ni, &st);
	fuse_reply_attr(req, &st, attr_timeout(&p));
}

static int truncatable(enum pfs_kind k)
{
	const struct pfs_node *n = pfs_node(k);

	return n && (n->flags & PN_TRUNC);
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
	if (below_root(ino, &p) && p.kind == PK_CROOT_ENTRY) {
		root_setattr(req, ino, &p, attr, to_set);
		return;
	}
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
	fuse_reply_attr(req, &st, attr_timeout(&p));
}

/* ---- directories ---- */

struct dent {
	char *name;
	time_t mtime;
	off_t size;		/* as nodeinfo's */
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
	d->ents[d->n].size = -1;
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

/* Directory handles are read by readdir only: read, write and poll of a
 * directory handle are EBADF. */
static const struct handle_ops dir_ops = { .name = "dir", .destroy = dir_destroy };

struct dir_at {			/* exec_list's callback: entries at one time */
	struct dirh *d;
	time_t t;
};

static int dir_add_at(void *ud, const char *name)
{
	struct dir_at *a = ud;

	return dir_add(a->d, name, a->t);
}

/* The fixed children of d's node, in table order; they share its time
 * t (node_time), and snapshots below a pod pi get their listed size. */
static int dir_fixed(struct dirh *d, const struct pod_info *pi, time_t t)
{
	const struct pfs_path *p = &d->path;
	struct pfs_path cp;
	int rc = 0;

	for (size_t i = 0; !rc && i < pfs_nnodes; i++) {
		const struct pfs_node *c = &pfs_nodes[i];

		if (c->field == NF_FIXED && !hidden(c) && !(c->flags & PN_UNLISTED) &&
		    (c->parent == p->kind || (p->rooted && p->kind == PK_NS && c->parent == PK_ROOT)) &&
		    !(rc = dir_add(d, c->name, t)) && pi && !pfs_child(p, c->name, &cp))
			d->ents[d->n - 1].size = snapshot_listed_size(&cp, pi);
	}
	return rc;
}

/* The variable children of d's node; pi is its pod (for the kinds below
 * a pod). */
static int dir_variable(struct dirh *d, enum node_list list, const struct pod_info *pi, time_t t)
{
	struct name_list *nl = NULL;
	struct pod_list *pl = NULL;
	char msg[512], num[16];
	int rc = 0;

	switch (list) {
	case NL_NAMESPACES:
		if ((rc = cache_namespaces(podfs->cache, &nl, msg, sizeof(msg))))
			return rc;
		for (size_t i = 0; !rc && i < nl->n; i++)
			rc = dir_add(d, nl->names[i], nl->created[i] ? nl->created[i] : t);
		name_list_put(nl);
		return rc;
	case NL_PODS:
		if ((rc = cache_pods(podfs->cache, d->path.ns, &pl, msg, sizeof(msg))))
			return rc;
		for (size_t i = 0; !rc && i < pl->n; i++)
			rc = dir_add(d, pl->pods[i]->name, node_time(&d->path, pl->pods[i]));
		pod_list_put(pl);
		return rc;
	case NL_CONTAINERS:
		for (size_t i = 0; !rc && i < pi->ncontainers; i++)
			rc = dir_add(d, pi->containers[i].name, pi->containers[i].started ?
				     pi->containers[i].started : t);
		return rc;
	case NL_PORTS:
		for (size_t i = 0; !rc && i < pi->nports; i++) {
			snprintf(num, sizeof(num), "%d", pi->ports[i]);
			rc = dir_add(d, num, t);
		}
		return rc;
	case NL_EXEC_SESSIONS:
		return exec_list(&d->path, dir_add_at, &(struct dir_at){ d, t });
	case NL_NONE:
		break;
	}
	return 0;
}

/* The entries of d's node after "." and "..": its fixed children, then
 * its variable ones, each with its node_time. */
static int dir_fill(struct dirh *d)
{
	const struct pfs_node *n = pfs_node(d->path.kind);
	struct pod_list *pl = NULL;
	const struct pod_info *pi = NULL;
	time_t t = podfs->mounted;
	char msg[512];
	int rc;

	if (n->exists >= NE_POD) {
		if ((rc = cache_pods(podfs->cache, d->path.ns, &pl, msg, sizeof(msg))))
			return rc;
		if (!(pi = pod_list_find(pl, d->path.pod))) {
			pod_list_put(pl);
			return -ENOENT;
		}
		t = node_time(&d->path, pi);
	}
	if (!(rc = dir_fixed(d, pi, t)))
		rc = dir_variable(d, n->list, pi, t);
	pod_list_put(pl);
	return rc;
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct pfs_path rp;
	struct dirh *d;
	struct nodeinfo ni;
	int rc;

	TRACE("opendir %lu", (unsigned long)ino);
	if (below_root(ino, &rp)) {
		root_opendir(req, ino, &rp, fi);
		return;
	}
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
	fi->fh = handle_add(&d->hd, &dir_ops);
	if (fuse_reply_open(req, fi))
		handle_close(fi->fh);
}

static void do_readdir(fuse_req_t req, size_t size, off_t off,
		       struct fuse_file_info *fi, int plus)
{
	struct dirh *d;
	char *buf;
	size_t used = 0;

	if (root_readdir(req, size, off, fi, plus))
		return;
	if (!(d = (struct dirh *)handle_get_as(fi->fh, &dir_ops))) {
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
		struct nodeinfo ni = { .mtime = d->ents[i].mtime, .size = d->ents[i].size,
				       .exists = 1 };
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
	handle_close(fi->fh);
	fuse_reply_err(req, 0);
}

/* ---- files ---- */

typedef void (*open_fn)(fuse_req_t req, fuse_ino_t ino, const struct pfs_path *p,
			struct fuse_file_info *fi);

/* ports.c and proxy.c open by path alone. */
static void open_port(fuse_req_t req, fuse_ino_t ino, const struct pfs_path *p,
		      struct fuse_file_info *fi)
{
	(void)ino;
	ports_open(req, p, fi);
}

static void open_proxy(fuse_req_t req, fuse_ino_t ino, const struct pfs_path *p,
		       struct fuse_file_info *fi)
{
	(void)ino;
	proxy_open(req, p, fi);
}

/* How each kind of file opens (nodes.h, enum node_open). */
static const open_fn openers[NO__COUNT] = {
	[NO_SNAPSHOT] = snapshot_open,
	[NO_ATTACH] = attach_open,
	[NO_FOLLOW] = follow_open,
	[NO_EXEC] = exec_open,
	[NO_PORT] = open_port,
	[NO_PROXY] = open_proxy,
	[NO_EVENTS] = events_open,
	[NO_ROOT] = root_open,
};

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	const struct pfs_node *n;
	struct pfs_path p;
	struct nodeinfo ni;
	int rc;

	TRACE("open %lu flags 0%o", (unsigned long)ino, fi->flags);
	if ((rc = tree_get(ino, &p)) || (rc = check_exists(&p, &ni))) {
		fuse_reply_err(req, -rc);
		return;
	}
	n = pfs_node(p.kind);
	if (n->open == NO_DIR) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	/* `>` on a file that cannot be truncated: as setattr would say */
	if ((fi->flags & O_TRUNC) && (fi->flags & O_ACCMODE) != O_RDONLY &&
	    !(n->flags & PN_TRUNC)) {
		fuse_reply_err(req, EACCES);
		return;
	}
	openers[n->open](req, ino, &p, fi);
}

/* The open file's handle with a reference, or NULL after an EBADF reply. */
static struct handle *file_handle(fuse_req_t req, struct fuse_file_info *fi)
{
	struct handle *h = handle_get(fi->fh);

	if (!h)
		fuse_reply_err(req, EBADF);
	return h;
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct handle *h;

	TRACE("read %lu size %zu off %lld", (unsigned long)ino, size, (long long)off);
	if (!(h = file_handle(req, fi)))
		return;
	if (h->ops->read)
		h->ops->read(req, h, size, off, fi->flags);
	else
		fuse_reply_err(req, EBADF);
	handle_put(h);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
		     size_t size, off_t off, struct fuse_file_info *fi)
{
	struct handle *h;

	TRACE("write %lu size %zu", (unsigned long)ino, size);
	if (!(h = file_handle(req, fi)))
		return;
	if (h->ops->write)
		h->ops->write(req, h, buf, size, off, fi->flags);
	else
		fuse_reply_err(req, EBADF);
	handle_put(h);
}

static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct handle *h;

	(void)ino;
	if (!(h = file_handle(req, fi)))
		return;
	fuse_reply_err(req, h->ops->flush ? -h->ops->flush(h) : 0);
	handle_put(h);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	TRACE("release %lu", (unsigned long)ino);
	handle_close(fi->fh);	/* freed now or after the last running op */
	fuse_reply_err(req, 0);
}

static void op_poll(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
		    struct fuse_pollhandle *ph)
{
	struct handle *h = handle_get(fi->fh);

	TRACE("poll %lu", (unsigned long)ino);
	if (h && h->ops->poll) {
		h->ops->poll(req, h, ph);
	} else {
		/* No poll: nothing ever waits; a closed handle is an error. */
		if (ph)
			fuse_pollhandle_destroy(ph);
		fuse_reply_poll(req, !h ? POLLERR : POLLIN | POLLRDNORM |
				(h->ops->write ? POLLOUT | POLLWRNORM : 0));
	}
	if (h)
		handle_put(h);
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
	if (below_root(parent, &pp)) {
		root_mkdir(req, &pp, name, mode);
		return;
	}
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
	if (below_root(parent, &pp)) {
		root_remove(req, &pp, name, 1);
		return;
	}
	if (!(rc = tree_get(parent, &pp)) && !(rc = pfs_child(&pp, name, &c)))
		rc = pp.kind == PK_EXEC_DIR ? exec_rmdir(&c) : -EPERM;
	fuse_reply_err(req, -rc);
}

/* create, unlink, rename, symlink and readlink exist only below root/;
 * elsewhere the tree is podfs's and nothing is made or removed there. */
static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	struct pfs_path pp;

	TRACE("create %lu %s", (unsigned long)parent, name);
	if (below_root(parent, &pp))
		root_create(req, &pp, name, mode, fi);
	else
		fuse_reply_err(req, podfs->read_only ? EROFS : EACCES);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct pfs_path pp;

	TRACE("unlink %lu %s", (unsigned long)parent, name);
	if (below_root(parent, &pp))
		root_remove(req, &pp, name, 0);
	else
		fuse_reply_err(req, podfs->read_only ? EROFS : EPERM);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		      fuse_ino_t newparent, const char *newname, unsigned flags)
{
	struct pfs_path pp, np;

	TRACE("rename %lu %s -> %lu %s", (unsigned long)parent, name,
	      (unsigned long)newparent, newname);
	if (below_root(parent, &pp) && !tree_get(newparent, &np))
		root_rename(req, &pp, name, &np, newname, flags);
	else
		fuse_reply_err(req, podfs->read_only ? EROFS : EPERM);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	struct pfs_path pp;

	TRACE("symlink %lu %s", (unsigned long)parent, name);
	if (below_root(parent, &pp))
		root_symlink(req, link, &pp, name);
	else
		fuse_reply_err(req, podfs->read_only ? EROFS : EPERM);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct pfs_path p;

	if (below_root(ino, &p) && p.kind == PK_CROOT_ENTRY)
		root_readlink(req, &p);
	else
		fuse_reply_err(req, EINVAL);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv;
	struct pfs_path p;

	if (below_root(ino, &p)) {
		root_statfs(req, &p);
		return;
	}
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
	/* 1 MiB per request both ways: libfuse derives max_pages (the
	 * kernel's bound on a direct_io read) from max_write; max_read 0 is
	 * "no bound below that". */
	conn->max_write = STREAM_IO_SIZE;
	conn->max_read = 0;
	conn->max_readahead = STREAM_IO_SIZE;
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
	.create = op_create,
	.unlink = op_unlink,
	.rename = op_rename,
	.symlink = op_symlink,
	.readlink = op_readlink,
};
