/* Stream files (attach stdin/stdout/stderr, log.follow, and later exec and
 * port files): opened, read, written and polled without ever holding a
 * FUSE worker thread while waiting.  ops.c dispatches here by node kind at
 * open, and by the file handle's type afterwards. */
#ifndef PODFS_STREAMS_H
#define PODFS_STREAMS_H

#include <fuse_lowlevel.h>

struct podfs;
struct pfs_path;

int streams_init(struct podfs *fs);
void streams_shutdown(void);

/* Each replies to req exactly once (possibly later, from another thread). */
void streams_open(fuse_req_t req, const struct pfs_path *p, struct fuse_file_info *fi);
void streams_read(fuse_req_t req, size_t size, struct fuse_file_info *fi);
void streams_write(fuse_req_t req, const char *buf, size_t size, struct fuse_file_info *fi);
void streams_poll(fuse_req_t req, struct fuse_file_info *fi, struct fuse_pollhandle *ph);
void streams_release(fuse_req_t req, struct fuse_file_info *fi);

/* Building blocks for other stream files (exec sessions, port-forward
 * connections): a handle that reads from `rd` and/or writes to `wb` with
 * the same parking, interrupt and poll rules.  `ws` is the set of writer
 * handles of `wb`; make wset_notify(ws) the buffer's writer callback.  The
 * handle keeps a reference on `sess` (may be NULL); on_release(ud) runs
 * when the file is closed.  Replies to the open on success; on failure
 * returns -errno and the caller replies. */
struct session;
struct chanbuf;
struct wset;
struct wset *wset_new(void);
void wset_free(struct wset *w);
void wset_notify(void *wset);
int streams_open_fh(fuse_req_t req, struct fuse_file_info *fi, struct session *sess,
		    struct chanbuf *rd, struct chanbuf *wb, struct wset *ws,
		    void (*on_release)(void *ud), void *ud);

#endif
