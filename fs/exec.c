/* Exec session files (docs/exec.md).  Reading `new` creates a session and
 * returns its id; `status` is a one-line snapshot taken at open; `argv`
 * and `ctl` are small handles of their own; stdout, stderr, stdin, wait
 * and exitcode are stream files (parked.c) on the session's buffers,
 * opened through the session's owner, so a blocked read holds no FUSE
 * thread.  Every file but `new` counts as open on its session, which is
 * never reaped while one is. */
#include "fs/exec.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs/execparse.h"
#include "fs/handles.h"
#include "fs/owner.h"
#include "fs/path.h"
#include "fs/xsess.h"
#include "stream/chanbuf.h"
#include "stream/log.h"

#define ARGV_READ_MAX	(128 * 1024)

struct xh {			/* new, status, argv, ctl */
	struct handle hd;	/* first: the open-file table entry */
	struct xs *x;		/* a file count and a reference; NULL for `new` */
	char *snap;		/* new, status: the text */
	size_t snap_len;
};

/* ---- handles ---- */

static void xh_release(struct handle *hd)
{
	struct xh *h = (struct xh *)hd;

	if (h->x) {
		xs_file_closed(h->x);
		owner_put(xs_owner(h->x));
	}
}

static void xh_destroy(struct handle *hd)
{
	struct xh *h = (struct xh *)hd;

	free(h->snap);
	free(h);
}

static void snap_read(fuse_req_t req, struct handle *hd, size_t size, off_t off, int flags)
{
	struct xh *h = (struct xh *)hd;

	(void)flags;
	/* The handle table's reference keeps h->snap alive while the reply
	 * goes out, even if RELEASE races this read. */
	handle_reply_slice(req, h->snap, h->snap_len, off, size);
}

static void argv_read(fuse_req_t req, struct handle *hd, size_t size, off_t off, int flags)
{
	struct xh *h = (struct xh *)hd;
	char *tmp;
	ssize_t n;

	(void)flags;
	if (size > ARGV_READ_MAX)
		size = ARGV_READ_MAX;
	if (!(tmp = malloc(size ? size : 1))) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if ((n = xs_argv_read(h->x, off, size, tmp)) < 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_buf(req, tmp, (size_t)n);
	free(tmp);
}

static void argv_write(fuse_req_t req, struct handle *hd, const char *buf, size_t size,
		       off_t off, int flags)
{
	int e = xs_argv_write(((struct xh *)hd)->x, buf, size, off);

	(void)flags;
	if (e)
		fuse_reply_err(req, -e);
	else
		fuse_reply_write(req, size);
}

static void ctl_read(fuse_req_t req, struct handle *hd, size_t size, off_t off, int flags)
{
	(void)hd;
	(void)size;
	(void)off;
	(void)flags;
	fuse_reply_buf(req, NULL, 0);
}

/* Each line is one command; a write's last line needs no newline (the
 * shell's `echo` and `printf` write whole commands at once).  The first
 * failing command fails the write with its errno; a write with a
 * `hangup` is answered when the session has ended. */
static void ctl_write(fuse_req_t req, struct handle *hd, const char *buf, size_t size,
		      off_t off, int flags)
{
	struct xs *x = ((struct xh *)hd)->x;
	struct ctl_cmd c;
	char word[48];
	size_t i = 0;
	int e = 0, hang = 0;

	(void)off;
	(void)flags;
	while (i < size && !e) {
		const char *nl = memchr(buf + i, '\n', size - i);
		size_t len = nl ? (size_t)(nl - (buf + i)) : size - i;

		if ((e = ctl_parse(buf + i, len, &c, word, sizeof(word))) && word[0])
			pwarn("%s: bad ctl command \"%.40s\"", xs_owner(x)->label, word);
		if (!e && !(e = xs_ctl(x, &c)))
			hang |= c.op == CTL_HANGUP;
		i += len + (nl ? 1 : 0);
	}
	if (e)
		fuse_reply_err(req, -e);
	else if (hang)
		xs_reply_at_end(x, req, size);
	else
		fuse_reply_write(req, size);
}

static const struct handle_ops snap_ops = {
	.name = "exec-snapshot", .read = snap_read,
	.release = xh_release, .destroy = xh_destroy,
};
static const struct handle_ops argv_ops = {
	.name = "exec-argv", .read = argv_read, .write = argv_write,
	.release = xh_release, .destroy = xh_destroy,
};
static const struct handle_ops ctl_ops = {
	.name = "exec-ctl", .read = ctl_read, .write = ctl_write,
	.release = xh_release, .destroy = xh_destroy,
};

/* A small handle on x (NULL for `new`), replying to the open; on failure
 * returns -errno and the caller replies. */
static int xh_open(fuse_req_t req, struct fuse_file_info *fi, const struct handle_ops *ops,
		   struct xs *x, const char *snap)
{
	struct xh *h = calloc(1, sizeof(*h));

	if (!h || (snap && !(h->snap = strdup(snap)))) {
		free(h);
		return -ENOMEM;
	}
	h->x = x;
	h->snap_len = snap ? strlen(snap) : 0;
	handle_reply_open(req, &h->hd, ops, fi);
	return 0;
}

/* ---- stream files ---- */

static void closed_file(struct owner *o, void *ud)
{
	xs_file_closed(ud);
	(void)o;
}

static void closed_stdin(struct owner *o, void *ud)
{
	xs_stdin_closed(ud);
	xs_file_closed(ud);
	(void)o;
}

static void closed_wait(struct owner *o, void *ud)
{
	xs_file_closed(xs_waiter_close(ud));
	(void)o;
}

/* stdout, stderr, stdin, wait, exitcode: 0 or -errno (the file count of
 * x is the stream file's from here on, or given back on failure). */
static int open_stream(fuse_req_t req, struct fuse_file_info *fi, const struct pfs_path *p,
		       struct xs *x)
{
	int acc = fi->flags & O_ACCMODE, e;
	struct owner *o = xs_owner(x);
	struct chanbuf *b = NULL;
	struct xw *w;

	if (acc != (p->kind == PK_EXEC_STDIN ? O_WRONLY : O_RDONLY))
		e = -EACCES;
	else if (p->kind == PK_EXEC_STDIN) {
		if (!(e = xs_stdin_open(x, &b)) &&
		    (e = owner_open(o, req, fi, NULL, b, closed_stdin, x)) < 0)
			xs_stdin_closed(x);
	} else if (p->kind == PK_EXEC_WAIT || p->kind == PK_EXEC_EXITCODE) {
		if ((w = xs_waiter_open(x, p->kind == PK_EXEC_EXITCODE, &e)) &&
		    (e = owner_open(o, req, fi, xw_buffer(w), NULL, closed_wait, w)) < 0)
			xs_waiter_close(w);
	} else if (!(e = xs_output(x, p->kind == PK_EXEC_STDOUT ? 1 : 2, &b))) {
		e = owner_open(o, req, fi, b, NULL, closed_file, x);
	}
	if (b)
		chanbuf_put(b);
	if (e < 0)
		xs_file_closed(x);
	return e < 0 ? e : 0;
}

/* ---- open ---- */

static void open_new(fuse_req_t req, struct fuse_file_info *fi, const struct pfs_path *p)
{
	char line[PFS_LABEL_MAX + 2];
	int e;

	if ((fi->flags & O_ACCMODE) != O_RDONLY)
		e = -EACCES;
	else if (!(e = xs_new_numbered(p, line, sizeof(line) - 1))) {
		strcat(line, "\n");
		e = xh_open(req, fi, &snap_ops, NULL, line);
	}
	if (e)
		fuse_reply_err(req, -e);
}

void exec_open(fuse_req_t req, fuse_ino_t ino, const struct pfs_path *p,
	       struct fuse_file_info *fi)
{
	int acc = fi->flags & O_ACCMODE, e = 0;
	char line[700];
	struct xs *x;

	(void)ino;
	if (p->kind == PK_EXEC_NEW) {
		open_new(req, fi, p);
		return;
	}
	if (!(x = xs_file_open(p))) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	switch (p->kind) {
	case PK_EXEC_STATUS:
		if (acc != O_RDONLY) {
			e = -EACCES;
			break;
		}
		xs_status_line(x, line, sizeof(line));
		if (!(e = xh_open(req, fi, &snap_ops, x, line)))
			return;		/* the handle keeps x */
		break;
	case PK_EXEC_ARGV:
	case PK_EXEC_CTL:
		if (p->kind == PK_EXEC_ARGV && acc != O_RDONLY &&
		    (e = xs_argv_open(x, fi->flags & O_TRUNC)))
			break;
		e = xh_open(req, fi, p->kind == PK_EXEC_ARGV ? &argv_ops : &ctl_ops, x, NULL);
		if (!e)
			return;	/* the handle keeps x */
		break;
	default:
		e = open_stream(req, fi, p, x);
		owner_put(xs_owner(x));	/* the stream file holds its own */
		if (e)
			fuse_reply_err(req, -e);
		return;
	}
	xs_file_closed(x);
	owner_put(xs_owner(x));
	fuse_reply_err(req, -e);
}
