/* Stream files: the one engine behind every file whose reads and writes
 * wait for the cluster (attach stdin/stdout/stderr, log.follow, exec
 * stdout/stderr/stdin/wait/exitcode, Ports/<port>, Proxy/ files).
 *
 * A read that finds no data, or a write that finds the input buffer full,
 * does not hold a FUSE worker: the request is parked on the handle and
 * answered later by whichever thread brings data or room.  The rules:
 *   - a read gets what is there (a short read), EOF once the buffer is
 *     finished and drained, or its error (EIO for a lost stream);
 *   - O_NONBLOCK (at open or by fcntl): a read with nothing ready and a
 *     write with no room are EAGAIN instead of parking; a write that fits
 *     in part is a short write;
 *   - an interrupt (Ctrl-C) answers a parked request with EINTR (a write
 *     that got in part: the part);
 *   - once the stream ended, parked and new writes are EPIPE (or the
 *     buffer's error, e.g. ECONNREFUSED);
 *   - close answers what is still parked with EBADF;
 *   - poll: POLLIN when a read would not park, POLLOUT when a write
 *     would not, POLLERR once input can no longer be written.
 * The open reply sets FOPEN_STREAM (no file position, see parked.c). */
#ifndef PODFS_PARKED_H
#define PODFS_PARKED_H

#include <fuse_lowlevel.h>

struct chanbuf;

/* The writer handles of one input buffer, told when it drains: make
 * wset_notify(ws) the buffer's writer callback (chanbuf_set_writer). */
struct wset;
struct wset *wset_new(void);
void wset_free(struct wset *w);
void wset_notify(void *wset);

struct parked_file {
	struct chanbuf *rd;	/* reads come from here; NULL: reads are EOF
				 * (EBADF when wb is set: a write-only file) */
	struct chanbuf *wb;	/* writes go here; NULL: EBADF */
	struct wset *ws;	/* wb's writer set (when wb is set) */
	void (*on_release)(void *ud);	/* the file closed */
	void *ud;
};

/* A stream handle for pf; replies to the open on success.  On failure
 * returns -errno (nothing was taken from pf) and the caller replies. */
int parked_open(fuse_req_t req, struct fuse_file_info *fi, const struct parked_file *pf);

#endif
