/* noopfs: the fastest FUSE filesystem this machine can run, for the ceiling.
 *
 * One file, /zero, of SIZE bytes (argument -o size=BYTES is not parsed:
 * the size is 64 GiB, far more than a benchmark reads), opened with
 * direct_io like podfs's stream files so every read() is a FUSE request,
 * answered from one static buffer of zeros: no allocation, no copy on our
 * side, no locks.  Its init asks for what podfs asks for (max_write and
 * max_readahead 1 MiB), so `dd if=MNT/zero bs=1M` measures the kernel's
 * FUSE round trip at podfs's request sizes and nothing else.
 *
 *   noopfs [-f] [-s] MOUNTPOINT      (fusermount3 -u MOUNTPOINT to end)
 */
#define FUSE_USE_VERSION 35
#include <errno.h>
#include <fuse_lowlevel.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ZERO_INO 2
#define ZERO_SIZE (64ULL << 30)
#define BUF_MAX (1 << 20)

static char zeros[BUF_MAX];

static void fill(fuse_ino_t ino, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	if (ino == FUSE_ROOT_ID) {
		st->st_mode = S_IFDIR | 0555;
		st->st_nlink = 2;
	} else {
		st->st_mode = S_IFREG | 0444;
		st->st_nlink = 1;
		st->st_size = (off_t)ZERO_SIZE;
	}
}

static void nf_init(void *ud, struct fuse_conn_info *conn)
{
	(void)ud;
	conn->max_write = BUF_MAX;
	conn->max_readahead = BUF_MAX;
}

static void nf_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e;

	if (parent != FUSE_ROOT_ID || strcmp(name, "zero")) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	memset(&e, 0, sizeof(e));
	e.ino = ZERO_INO;
	e.attr_timeout = e.entry_timeout = 3600;
	fill(ZERO_INO, &e.attr);
	fuse_reply_entry(req, &e);
}

static void nf_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st;

	(void)fi;
	if (ino != FUSE_ROOT_ID && ino != ZERO_INO) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	fill(ino, &st);
	fuse_reply_attr(req, &st, 3600);
}

static void nf_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (ino != ZERO_INO) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	fi->direct_io = 1;
	fuse_reply_open(req, fi);
}

static void nf_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	(void)ino;
	(void)off;
	(void)fi;
	fuse_reply_buf(req, zeros, size < BUF_MAX ? size : BUF_MAX);
}

static const struct fuse_lowlevel_ops ops = {
	.init = nf_init,
	.lookup = nf_lookup,
	.getattr = nf_getattr,
	.open = nf_open,
	.read = nf_read,
};

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts o;
	struct fuse_session *se;
	int rc = 1;

	if (fuse_parse_cmdline(&args, &o) != 0 || !o.mountpoint) {
		fprintf(stderr, "usage: %s [-f] [-s] MOUNTPOINT\n", argv[0]);
		return 2;
	}
	se = fuse_session_new(&args, &ops, sizeof(ops), NULL);
	if (!se)
		goto out;
	if (fuse_set_signal_handlers(se) != 0)
		goto out_se;
	if (fuse_session_mount(se, o.mountpoint) != 0)
		goto out_sig;
	fuse_daemonize(o.foreground);
	if (o.singlethread) {
		rc = fuse_session_loop(se);
	} else {
		struct fuse_loop_config cfg = { .clone_fd = 0, .max_idle_threads = 10 };

		rc = fuse_session_loop_mt(se, &cfg);
	}
	fuse_session_unmount(se);
out_sig:
	fuse_remove_signal_handlers(se);
out_se:
	fuse_session_destroy(se);
out:
	free(o.mountpoint);
	fuse_opt_free_args(&args);
	return rc ? 1 : 0;
}
