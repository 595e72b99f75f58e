/* Temporary stand-in for the stream files (attach, log.follow, exec,
 * ports, proxy): every open fails with ENOSYS until the real fs/streams.c
 * replaces this file. */
#include "fs/streams.h"

#include <errno.h>

int streams_init(struct podfs *fs)
{
	(void)fs;
	return 0;
}

void streams_shutdown(void)
{
}

void streams_open(fuse_req_t req, const struct pfs_path *p, struct fuse_file_info *fi)
{
	(void)p;
	(void)fi;
	fuse_reply_err(req, ENOSYS);
}

void streams_read(fuse_req_t req, size_t size, struct fuse_file_info *fi)
{
	(void)size;
	(void)fi;
	fuse_reply_err(req, EBADF);
}

void streams_write(fuse_req_t req, const char *buf, size_t size, struct fuse_file_info *fi)
{
	(void)buf;
	(void)size;
	(void)fi;
	fuse_reply_err(req, EBADF);
}

void streams_poll(fuse_req_t req, struct fuse_file_info *fi, struct fuse_pollhandle *ph)
{
	(void)fi;
	if (ph)
		fuse_pollhandle_destroy(ph);
	fuse_reply_err(req, EBADF);
}

void streams_release(fuse_req_t req, struct fuse_file_info *fi)
{
	(void)fi;
	fuse_reply_err(req, 0);
}
