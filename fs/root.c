/* The FUSE operations below `<container>/root/` (see root.h, docs/root.md).
 * Each one is one helper request (rootproto.h) on the container's helper
 * shells (roothelper.h): a node's path in the container is "/" plus its
 * root_path, so a name can never climb out of root/ (the path parser has
 * no "." or ".." and no '/' inside a name).  Attributes come from the
 * container, with the kernel caching them -o root_cache seconds; podfs's
 * own changes reply with fresh attributes.  On -o ro every change is
 * EROFS here, before any helper is asked. */
#include "fs/root.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "fs/fs.h"
#include "fs/handles.h"
#include "fs/roothelper.h"
#include "fs/rootproto.h"
#include "fs/tree.h"
#include "stream/log.h"

#define CPATH_MAX (PFS_ROOT_PATH_MAX + 2)

int root_kind(enum pfs_kind k)
{
	return k == PK_CROOT || k == PK_CROOT_ENTRY;
}

/* The container path of a node: "/" or "/a/b". */
static void cpath(const struct pfs_path *p, char *out)
{
	snprintf(out, CPATH_MAX, "/%s", p->kind == PK_CROOT_ENTRY ? p->root_path : "");
}

static double cache_s(void)
{
	return podfs->root_cache_ms / 1000.0;
}

/* ---- requests ---- */

struct req {
	enum rp_op op;
	const char *a, *b;
	long long n1, n2;
	off_t off;
	size_t len;
	const void *data;
};

static int build_stat(struct rp_buf *b, unsigned id, void *ud)
{
	return rp_stat(b, id, ((struct req *)ud)->a);
}

static int build_list(struct rp_buf *b, unsigned id, void *ud)
{
	return rp_list(b, id, ((struct req *)ud)->a);
}

static int build_readlink(struct rp_buf *b, unsigned id, void *ud)
{
	return rp_readlink(b, id, ((struct req *)ud)->a);
}

static int build_statfs(struct rp_buf *b, unsigned id, void *ud)
{
	return rp_statfs(b, id, ((struct req *)ud)->a);
}

static int build_read(struct rp_buf *b, unsigned id, void *ud)
{
	struct req *q = ud;

	return rp_read(b, id, q->a, q->off, q->len);
}

static int build_write(struct rp_buf *b, unsigned id, void *ud)
{
	struct req *q = ud;

	return rp_write(b, id, q->a, q->off, q->data, q->len);
}

static int build_op(struct rp_buf *b, unsigned id, void *ud)
{
	struct req *q = ud;

	return rp_op(b, id, q->op, q->a, q->b, q->n1, q->n2);
}

/* One request; 0 with *r holding a successful answer, or -errno. */
static int call(const struct pfs_path *p, rh_build_fn fn, struct req *q, int read,
		struct rh_reply *r)
{
	int rc = rh_call(p, fn, q, read, r);

	if (!rc && (rc = -rh_errno(r))) {
		pdebug("root %s: %.*s", q->a, (int)(r->h.len > 200 ? 200 : r->h.len), r->data);
		rh_reply_free(r);
	}
	return rc;
}

/* call() on node p's own container path (q->a unset). */
static int ask(const struct pfs_path *p, rh_build_fn fn, struct req *q, int read,
	       struct rh_reply *r)
{
	char path[CPATH_MAX];

	cpath(p, path);
	q->a = path;
	return call(p, fn, q, read, r);
}

static int do_op(const struct pfs_path *p, struct req *q)
{
	struct rh_reply r;
	int rc = call(p, build_op, q, 0, &r);

	if (!rc)
		rh_reply_free(&r);
	return rc;
}

static void to_stat(const struct rp_attr *a, fuse_ino_t ino, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = a->mode;
	st->st_nlink = a->nlink;
	st->st_uid = a->uid;
	st->st_gid = a->gid;
	st->st_size = a->size;
	st->st_blocks = a->blocks;
	st->st_blksize = 65536;
	st->st_rdev = makedev(a->major, a->minor);
	st->st_atime = a->atime;
	st->st_mtime = a->mtime;
	st->st_ctime = a->ctime;
}

static int stat_path(const struct pfs_path *p, struct rp_attr *a)
{
	struct rh_reply r;
	struct req q = { 0 };
	int rc;

	if ((rc = ask(p, build_stat, &q, 0, &r)))
		return rc;
	rc = rp_parse_stat(r.data, r.h.len, a) ? -EIO : 0;
	rh_reply_free(&r);
	return rc;
}

/* Reply with the entry of node c (attributes a). */
static void reply_entry(fuse_req_t req, const struct pfs_path *c, const struct rp_attr *a)
{
	struct fuse_entry_param e;
	fuse_ino_t ino = tree_ref(c, 1);

	if (!ino) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	memset(&e, 0, sizeof(e));
	e.ino = ino;
	e.attr_timeout = e.entry_timeout = cache_s();
	to_stat(a, ino, &e.attr);
	if (fuse_reply_entry(req, &e))
		tree_forget(ino, 1);
}

/* Stat node c and reply with its entry (after a change made it). */
static void reply_fresh(fuse_req_t req, const struct pfs_path *c)
{
	struct rp_attr a;
	int rc = stat_path(c, &a);

	if (rc)
		fuse_reply_err(req, -rc);
	else
		reply_entry(req, c, &a);
}

void root_lookup(fuse_req_t req, const struct pfs_path *parent, const char *name)
{
	struct pfs_path c;
	struct rp_attr a;
	int rc;

	if ((rc = pfs_child(parent, name, &c)) || (rc = stat_path(&c, &a))) {
		if (rc == -ENOENT) {
			struct fuse_entry_param e = { .entry_timeout = cache_s() };

			fuse_reply_entry(req, &e);
			return;
		}
		fuse_reply_err(req, -rc);
		return;
	}
	reply_entry(req, &c, &a);
}

void root_getattr(fuse_req_t req, fuse_ino_t ino, const struct pfs_path *p)
{
	struct rp_attr a;
	struct stat st;
	int rc = stat_path(p, &a);

	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	to_stat(&a, ino, &st);
	fuse_reply_attr(req, &st, cache_s());
}

/* ---- changes ---- */

static int child_path(const struct pfs_path *parent, const char *name, struct pfs_path *c,
		      char *path)
{
	int rc;

	if (podfs->read_only)
		return -EROFS;
	if ((rc = pfs_child(parent, name, c)))
		return rc == -ENOENT ? -EINVAL : rc;
	cpath(c, path);
	return 0;
}

void root_setattr(fuse_req_t req, fuse_ino_t ino, const struct pfs_path *p,
		  struct stat *attr, int to_set)
{
	char path[CPATH_MAX];
	struct req q = { .a = path };
	int rc = podfs->read_only ? -EROFS : 0;

	cpath(p, path);
	if (!rc && (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)))
		rc = -EPERM;	/* no chown through a shell we can trust to be safe */
	if (!rc && (to_set & FUSE_SET_ATTR_MODE)) {
		q.op = RP_CHMOD;
		q.n1 = attr->st_mode & 07777;
		rc = do_op(p, &q);
	}
	if (!rc && (to_set & FUSE_SET_ATTR_SIZE)) {
		q.op = RP_TRUNCATE;
		q.n1 = attr->st_size;
		rc = do_op(p, &q);
	}
	for (int i = 0; !rc && i < 2; i++) {
		int set = i ? FUSE_SET_ATTR_MTIME : FUSE_SET_ATTR_ATIME;
		int now = i ? FUSE_SET_ATTR_MTIME_NOW : FUSE_SET_ATTR_ATIME_NOW;

		if (!(to_set & (set | now)))
			continue;
		q.op = RP_UTIME;
		q.n1 = (to_set & now) ? (long long)time(NULL)
			: (long long)(i ? attr->st_mtime : attr->st_atime);
		q.n2 = i ? 'm' : 'a';
		rc = do_op(p, &q);
	}
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	root_getattr(req, ino, p);
}

void root_mkdir(fuse_req_t req, const struct pfs_path *parent, const char *name, mode_t mode)
{
	char path[CPATH_MAX];
	struct pfs_path c;
	struct req q = { .op = RP_MKDIR, .a = path, .n1 = mode & 07777 };
	int rc;

	if ((rc = child_path(parent, name, &c, path)) || (rc = do_op(&c, &q)))
		fuse_reply_err(req, -rc);
	else
		reply_fresh(req, &c);
}

void root_remove(fuse_req_t req, const struct pfs_path *parent, const char *name, int dir)
{
	char path[CPATH_MAX];
	struct pfs_path c;
	struct req q = { .op = dir ? RP_RMDIR : RP_UNLINK, .a = path };
	int rc;

	if (!(rc = child_path(parent, name, &c, path)))
		rc = do_op(&c, &q);
	fuse_reply_err(req, -rc);
}

void root_rename(fuse_req_t req, const struct pfs_path *parent, const char *name,
		 const struct pfs_path *newparent, const char *newname, unsigned flags)
{
	char from[CPATH_MAX], to[CPATH_MAX];
	struct pfs_path a, b;
	struct req q = { .op = RP_RENAME, .a = from, .b = to, .n1 = flags & RENAME_NOREPLACE };
	int rc;

	if ((rc = child_path(parent, name, &a, from)) ||
	    (rc = child_path(newparent, newname, &b, to)))
		goto out;
	if (flags & ~RENAME_NOREPLACE)
		rc = -EINVAL;	/* RENAME_EXCHANGE, RENAME_WHITEOUT */
	else if (!root_kind(newparent->kind) || strcmp(a.ns, b.ns) || strcmp(a.pod, b.pod) ||
		 strcmp(a.container, b.container))
		rc = -EXDEV;
	else if (!(rc = do_op(&a, &q)))
		tree_rename(&a, &b);
out:
	fuse_reply_err(req, -rc);
}

void root_symlink(fuse_req_t req, const char *target, const struct pfs_path *parent,
		  const char *name)
{
	char path[CPATH_MAX];
	struct pfs_path c;
	struct req q = { .op = RP_SYMLINK, .a = path, .b = target };
	int rc;

	if ((rc = child_path(parent, name, &c, path)) || (rc = do_op(&c, &q)))
		fuse_reply_err(req, -rc);
	else
		reply_fresh(req, &c);
}

void root_readlink(fuse_req_t req, const struct pfs_path *p)
{
	struct req q = { 0 };
	struct rh_reply r;
	int rc;

	if ((rc = ask(p, build_readlink, &q, 0, &r))) {
		fuse_reply_err(req, -rc);
		return;
	}
	if (r.h.len && r.data[r.h.len - 1] == '\n')
		r.data[r.h.len - 1] = 0;	/* readlink's own newline */
	fuse_reply_readlink(req, r.data);
	rh_reply_free(&r);
}

void root_statfs(fuse_req_t req, const struct pfs_path *p)
{
	struct req q = { 0 };
	struct rp_statfs sf;
	struct statvfs sv;
	struct rh_reply r;
	int rc;

	if ((rc = ask(p, build_statfs, &q, 0, &r))) {
		fuse_reply_err(req, -rc);
		return;
	}
	rc = rp_parse_statfs(r.data, r.h.len, &sf);
	rh_reply_free(&r);
	if (rc) {
		fuse_reply_err(req, EIO);
		return;
	}
	memset(&sv, 0, sizeof(sv));
	sv.f_bsize = sv.f_frsize = sf.bsize;
	sv.f_blocks = sf.blocks;
	sv.f_bfree = sf.bfree;
	sv.f_bavail = sf.bavail;
	sv.f_files = sf.files;
	sv.f_ffree = sf.ffree;
	sv.f_namemax = sf.namemax;
	fuse_reply_statfs(req, &sv);
}

/* ---- directories ---- */

struct rdir {
	struct handle hd;		/* first */
	struct pfs_path path;
	char *data;			/* the listing payload */
	size_t len;
};

static void rdir_destroy(struct handle *h)
{
	struct rdir *d = (struct rdir *)h;

	free(d->data);
	free(d);
}

static const struct handle_ops rdir_ops = { .name = "root-dir", .destroy = rdir_destroy };

void root_opendir(fuse_req_t req, fuse_ino_t ino, const struct pfs_path *p,
		  struct fuse_file_info *fi)
{
	struct req q = { 0 };
	struct rh_reply r;
	struct rdir *d;
	int rc;

	(void)ino;
	if ((rc = ask(p, build_list, &q, 0, &r))) {
		fuse_reply_err(req, -rc);
		return;
	}
	if (!(d = calloc(1, sizeof(*d)))) {
		rh_reply_free(&r);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	d->path = *p;
	d->data = r.data;
	d->len = r.h.len;
	fi->fh = handle_add(&d->hd, &rdir_ops);
	if (fuse_reply_open(req, fi))
		handle_close(fi->fh);
}

/* Offsets: 1 and 2 are "." and "..", then the byte offset + 3 of the
 * next entry in the listing. */
static size_t add_entry(fuse_req_t req, struct rdir *d, char *buf, size_t room,
			const char *name, const struct rp_attr *a, off_t next, int plus)
{
	struct pfs_path c;
	struct stat st;
	size_t need;

	if (!plus) {
		to_stat(a, 0xffffffff, &st);
		return fuse_add_direntry(req, buf, room, name, &st, next);
	}
	if (pfs_child(&d->path, name, &c) == 0) {
		struct fuse_entry_param e;
		fuse_ino_t ino = tree_ref(&c, 1);

		memset(&e, 0, sizeof(e));
		if (!ino)
			return room + 1;
		e.ino = ino;
		e.attr_timeout = e.entry_timeout = cache_s();
		to_stat(a, ino, &e.attr);
		need = fuse_add_direntry_plus(req, buf, room, name, &e, next);
		if (need > room)
			tree_forget(ino, 1);
		return need;
	}
	return 0;	/* a name podfs cannot hold (too long): left out */
}

int root_readdir(fuse_req_t req, size_t size, off_t off, struct fuse_file_info *fi, int plus)
{
	struct rdir *d = (struct rdir *)handle_get_as(fi->fh, &rdir_ops);
	char name[PFS_NAME_MAX + 1], *buf;
	struct rp_attr a;
	size_t used = 0, at;
	int rc = 0;

	if (!d)
		return 0;
	if (size > 1 << 20)
		size = 1 << 20;
	if (!(buf = malloc(size))) {
		handle_put(&d->hd);
		fuse_reply_err(req, ENOMEM);
		return 1;
	}
	for (; off < 2; off++) {
		/* "." and "..": no inode the kernel would link (ino 0) */
		struct fuse_entry_param e = { .attr.st_mode = S_IFDIR | 0755,
					      .attr.st_ino = 0xffffffff };
		const char *dot = off ? ".." : ".";
		size_t need = plus ? fuse_add_direntry_plus(req, buf + used, size - used, dot, &e,
							    off + 1)
				   : fuse_add_direntry(req, buf + used, size - used, dot, &e.attr,
						       off + 1);

		if (need > size - used)
			goto done;
		used += need;
	}
	at = (size_t)(off - 2);
	while ((rc = rp_list_next(d->data, d->len, &at, name, sizeof(name), &a)) == 1) {
		size_t need = add_entry(req, d, buf + used, size - used, name, &a,
					(off_t)at + 2, plus);

		if (need > size - used)
			break;
		used += need;
	}
done:
	if (rc < 0 && !used)
		fuse_reply_err(req, EIO);
	else
		fuse_reply_buf(req, buf, used);
	free(buf);
	handle_put(&d->hd);
	return 1;
}

/* ---- files ---- */

struct rfile {
	struct handle hd;		/* first */
	struct pfs_path path;
};

/* A read or a write at q->off of the open file. */
static void rfile_io(fuse_req_t req, struct handle *h, struct req *q, int write)
{
	struct rfile *f = (struct rfile *)h;
	struct rh_reply r;
	int rc = ask(&f->path, write ? build_write : build_read, q, !write, &r);

	if (!rc && !write && r.h.len > q->len) {
		rh_reply_free(&r);
		rc = -EIO;	/* more than asked: not an answer to this read */
	}
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	if (write)
		fuse_reply_write(req, q->len);
	else
		fuse_reply_buf(req, r.data, r.h.len);
	rh_reply_free(&r);
}

static void rfile_read(fuse_req_t req, struct handle *h, size_t size, off_t off, int flags)
{
	(void)flags;
	rfile_io(req, h, &(struct req){ .off = off, .len = size }, 0);
}

/* Writes go through at once: the write() returns after the bytes are in
 * the container's file (docs/root.md: what close() guarantees). */
static void rfile_write(fuse_req_t req, struct handle *h, const char *buf, size_t size,
			off_t off, int flags)
{
	(void)flags;
	rfile_io(req, h, &(struct req){ .off = off, .len = size, .data = buf }, 1);
}

static void rfile_destroy(struct handle *h)
{
	free(h);
}

static const struct handle_ops rfile_ops = {
	.name = "root-file", .read = rfile_read, .write = rfile_write, .destroy = rfile_destroy,
};

static int open_handle(const struct pfs_path *p, struct fuse_file_info *fi)
{
	struct rfile *f = calloc(1, sizeof(*f));

	if (!f)
		return -ENOMEM;
	f->path = *p;
	fi->fh = handle_add(&f->hd, &rfile_ops);
	fi->direct_io = 0;
	fi->keep_cache = 0;
	return 0;
}

void root_open(fuse_req_t req, fuse_ino_t ino, const struct pfs_path *p,
	       struct fuse_file_info *fi)
{
	char path[CPATH_MAX];
	struct req q = { .op = RP_TRUNCATE, .a = path };
	int rc = 0;

	(void)ino;
	cpath(p, path);
	if ((fi->flags & O_ACCMODE) != O_RDONLY && podfs->read_only)
		rc = -EROFS;
	else if ((fi->flags & O_TRUNC) && (fi->flags & O_ACCMODE) != O_RDONLY)
		rc = do_op(p, &q);
	if (rc || (rc = open_handle(p, fi))) {
		fuse_reply_err(req, -rc);
		return;
	}
	if (fuse_reply_open(req, fi))
		handle_close(fi->fh);
}

void root_create(fuse_req_t req, const struct pfs_path *parent, const char *name,
		 mode_t mode, struct fuse_file_info *fi)
{
	char path[CPATH_MAX];
	struct pfs_path c;
	struct req q = { .op = RP_CREATE, .a = path, .n1 = mode & 07777,
			 .n2 = !!(fi->flags & O_EXCL) };
	struct fuse_entry_param e;
	struct rp_attr a;
	fuse_ino_t ino;
	int rc;

	if ((rc = child_path(parent, name, &c, path)) || (rc = do_op(&c, &q)) ||
	    ((fi->flags & O_TRUNC) && (q.op = RP_TRUNCATE, q.n1 = 0, rc = do_op(&c, &q))) ||
	    (rc = stat_path(&c, &a)) || (rc = open_handle(&c, fi))) {
		fuse_reply_err(req, -rc);
		return;
	}
	if (!(ino = tree_ref(&c, 1))) {
		handle_close(fi->fh);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	memset(&e, 0, sizeof(e));
	e.ino = ino;
	e.attr_timeout = e.entry_timeout = cache_s();
	to_stat(&a, ino, &e.attr);
	if (fuse_reply_create(req, &e, fi)) {
		tree_forget(ino, 1);
		handle_close(fi->fh);
	}
}
