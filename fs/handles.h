/* Open-file handles: ids in a table, each with its table of operations.
 *
 * fi->fh never holds a pointer: the kernel may send RELEASE for a file
 * while another worker still runs a READ of it (the reader was killed), so
 * every operation looks its handle up, holds a reference while it runs,
 * and the handle is destroyed by whoever drops the last one.  What a
 * handle does is its `ops`: ops.c dispatches read, write, poll, flush and
 * release through it once, whatever the file is (directory, snapshot,
 * stream, exec control file). */
#ifndef PODFS_HANDLES_H
#define PODFS_HANDLES_H

#include <fuse_lowlevel.h>
#include <stdint.h>

struct handle;

/* Every operation replies to req exactly once, now or later (a parked
 * stream request).  `flags` are the open file's current flags as the
 * kernel sends them with the request (O_NONBLOCK may change by fcntl). */
struct handle_ops {
	const char *name;	/* for traces */
	/* NULL: EBADF (not readable, e.g. a directory). */
	void (*read)(fuse_req_t req, struct handle *h, size_t size, off_t off, int flags);
	/* NULL: EBADF. */
	void (*write)(fuse_req_t req, struct handle *h, const char *buf, size_t size,
		      off_t off, int flags);
	/* NULL: always readable and writable (nothing ever waits). */
	void (*poll)(fuse_req_t req, struct handle *h, struct fuse_pollhandle *ph);
	/* NULL: nothing is buffered on our side, close() has nothing to push
	 * (true of every handle today: writes reach a buffer before the
	 * reply). */
	int (*flush)(struct handle *h);
	/* The file closed (or the open reply could not be delivered, or the
	 * mount ends): answer whatever is parked, let go of sessions.  Runs
	 * once, while operations in flight may still hold references.  NULL:
	 * nothing to do before destroy. */
	void (*release)(struct handle *h);
	/* The last reference went: free h. */
	void (*destroy)(struct handle *h);
};

struct handle {
	uint64_t fh;			/* the id handed to the kernel */
	int refs;			/* (handles lock) */
	const struct handle_ops *ops;	/* fixed once added */
	struct handle *next;		/* (handles lock) hash chain */
};

/* Enter h into the table with one reference (the table's); returns the id
 * for fi->fh. */
uint64_t handle_add(struct handle *h, const struct handle_ops *ops);
/* The handle with this id plus a reference, or NULL once closed. */
struct handle *handle_get(uint64_t fh);
/* The same, but only when its operations are `ops` (a directory handle
 * for readdir): NULL otherwise. */
struct handle *handle_get_as(uint64_t fh, const struct handle_ops *ops);
void handle_put(struct handle *h);
/* Take the handle out of the table, run its release and drop the table's
 * reference; running operations keep theirs.  0, or -1 when the id was
 * not (or no longer) in the table. */
int handle_close(uint64_t fh);
/* Add h and reply to the open with it (direct I/O, no page cache).  When
 * the opener was interrupted the reply finds nobody and the handle is
 * closed at once: nobody else would release it. */
void handle_reply_open(fuse_req_t req, struct handle *h, const struct handle_ops *ops,
		       struct fuse_file_info *fi);
/* Reply to a read of size bytes at off from a fixed text of len bytes. */
void handle_reply_slice(fuse_req_t req, const char *data, size_t len, off_t off, size_t size);
/* Unmount: the kernel does not release what was open when the session
 * ended; close every handle left, while the FUSE session still exists
 * (a release may answer parked requests). */
void handles_close_all(void);

#endif
