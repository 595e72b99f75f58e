/* Exec sessions: the registry and their life cycle (docs/exec.md).
 *
 * A session (struct xs) is made by reading `exec/new` or by `mkdir
 * exec/NAME`, configured through `argv` and `ctl` commands, started, ended
 * and reaped here; fs/exec.c turns its files into handles.  Every session
 * is an owner (fs/owner.h): the registry, each open file and its running
 * connection hold references. */
#ifndef PODFS_XSESS_H
#define PODFS_XSESS_H

#include <fuse_lowlevel.h>
#include <stddef.h>
#include <sys/types.h>

struct pfs_path;
struct xs;
struct xw;
struct owner;
struct chanbuf;
struct ctl_cmd;

/* ---- the tree (ops.c, the node table) ---- */

/* Does the session p names (p->exec_id of its container) exist?  0 or
 * -ENOENT.  Cheap: no I/O. */
int exec_exists(const struct pfs_path *p);
/* The session ids of the container of `dir` (an exec directory), oldest
 * first. */
int exec_list(const struct pfs_path *dir, int (*add)(void *ud, const char *name), void *ud);
/* mkdir exec/NAME: a new named session.  0, -EEXIST, -ENOMEM. */
int exec_mkdir(const struct pfs_path *p);
/* rmdir exec/ID: hang up and forget the session.  0 or -ENOENT. */
int exec_rmdir(const struct pfs_path *p);
/* Truncation of argv (the shell's `>` without atomic O_TRUNC); ctl and
 * stdin accept it and ignore it. */
int exec_truncate(const struct pfs_path *p);

/* ---- sessions, for their files (fs/exec.c) ---- */

/* A new session numbered after the container's last; its id into id. */
int xs_new_numbered(const struct pfs_path *p, char *id, size_t idlen);
/* The listed session p names, with one open file counted and one owner
 * reference for the caller; NULL if there is none. */
struct xs *xs_file_open(const struct pfs_path *p);
/* The file counted by xs_file_open closed (the caller drops its own
 * reference). */
void xs_file_closed(struct xs *x);
struct owner *xs_owner(struct xs *x);

/* "new" | "running" | the final status line, with a newline. */
void xs_status_line(struct xs *x, char *buf, size_t len);
/* argv opened for writing (trunc: with O_TRUNC): -EBUSY once started. */
int xs_argv_open(struct xs *x, int trunc);
/* Copy up to size bytes of argv at off; the count, or -errno. */
ssize_t xs_argv_read(struct xs *x, off_t off, size_t size, char *out);
int xs_argv_write(struct xs *x, const char *buf, size_t size, off_t off);
/* Run one ctl command.  0 or -errno (docs/exec.md). */
int xs_ctl(struct xs *x, const struct ctl_cmd *c);
/* Reply to a ctl write (its size) once the session has ended, at once if
 * it has: after a `hangup` the end comes soon from the multiplexer (an
 * unmount ends every session), so `echo hangup > ctl; cat status`
 * already says `lost`, and no FUSE worker waits for it. */
void xs_reply_at_end(struct xs *x, fuse_req_t req, size_t size);

/* The output buffer of channel ch (1 stdout, 2 stderr) with a reference,
 * made now if the session has not started; *b NULL when the session has
 * none (stderr under a tty): reads see EOF.  0 or -ENOMEM. */
int xs_output(struct xs *x, int ch, struct chanbuf **b);
/* stdin opened: the input buffer with a reference (writing stdin before
 * the start means wanting it).  0, -EPIPE when the session runs without
 * stdin, -ENOMEM. */
int xs_stdin_open(struct xs *x, struct chanbuf **b);
/* The last close of stdin is end of input (v5 only). */
void xs_stdin_closed(struct xs *x);
/* A `wait` (exitcode 0) or `exitcode` reader: its own small buffer that
 * gets the final line when the session ends (at once if it has). */
struct xw *xs_waiter_open(struct xs *x, int exitcode, int *perr);
struct chanbuf *xw_buffer(struct xw *w);
/* Its session, whose file count the caller still holds. */
struct xs *xs_waiter_close(struct xw *w);

#endif
