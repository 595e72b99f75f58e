/* The helper protocol of `<container>/root/` (docs/root.md): the shell
 * text podfs sends to the long-lived `sh` in the container, and the
 * decoding of its framed answers.  Pure: no I/O, no global state, so it is
 * unit-tested byte by byte (tests/unit/test_rootproto.c).
 *
 * Requests are shell commands calling functions the prologue defines.
 * A path reaches the shell only single-quoted (a `'` inside becomes
 * '\''), always absolute, so no byte of a name is ever interpreted: not a
 * space, quote, backslash, newline, `$(...)`, backtick, `*`, nor a
 * leading dash.  Data to write is a printf format of octal escapes.
 *
 * Every answer is one frame: a head line `R <id> <rc> <len>[ <extra>]`
 * then exactly len bytes.  rc 0: the payload is the result (a stat line,
 * a listing, file bytes); else the payload is the tool's error text,
 * mapped to an errno by rp_errno.  A read's frame is followed by a check
 * line `C <id> <size> <mtime>`: the file's size and time after the copy,
 * which must equal the <extra> of the head (taken before it), or the bytes
 * may be torn and the read fails with EIO. */
#ifndef PODFS_ROOTPROTO_H
#define PODFS_ROOTPROTO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct rp_buf {
	char *p;
	size_t n, cap;
	int oom;		/* an append failed: the text is unusable */
};

void rp_buf_free(struct rp_buf *b);
void rp_buf_reset(struct rp_buf *b);

/* Attributes from one `stat -c` line (RP_STAT_FMT). */
struct rp_attr {
	mode_t mode;
	off_t size;
	uid_t uid;
	gid_t gid;
	time_t atime, mtime, ctime;
	unsigned long nlink;
	unsigned major, minor;
	long long blocks;
};

/* The shell functions every request uses; sent once at the start of a
 * helper.  Its first answer (id 0) says which shell features exist. */
int rp_prologue(struct rp_buf *b);

/* Requests.  path is the container path, absolute ("/etc/hosts"). */
int rp_stat(struct rp_buf *b, unsigned id, const char *path);
int rp_list(struct rp_buf *b, unsigned id, const char *dir);
int rp_readlink(struct rp_buf *b, unsigned id, const char *path);
int rp_statfs(struct rp_buf *b, unsigned id, const char *path);
/* len bytes at off; the answer is at most len bytes (less at EOF). */
int rp_read(struct rp_buf *b, unsigned id, const char *path, off_t off, size_t len);
int rp_write(struct rp_buf *b, unsigned id, const char *path, off_t off,
	     const void *data, size_t len);

enum rp_op {
	RP_CREATE,		/* a: path, n1: mode, n2: 1 = O_EXCL */
	RP_TRUNCATE,		/* a: path, n1: size */
	RP_MKDIR,		/* a: path, n1: mode */
	RP_RMDIR,		/* a: path */
	RP_UNLINK,		/* a: path (not a directory) */
	RP_RENAME,		/* a -> b with rename(2) semantics, n1: 1 = no replace */
	RP_SYMLINK,		/* a: the link, b: its target (any text) */
	RP_CHMOD,		/* a: path, n1: mode */
	RP_UTIME,		/* a: path, n1: seconds, n2: 'a' or 'm' */
};
int rp_op(struct rp_buf *b, unsigned id, enum rp_op op, const char *a, const char *bpath,
	  long long n1, long long n2);

/* The largest power of two <= 65536 dividing off (dd's block size for an
 * offset). */
size_t rp_block(off_t off);

/* Decoding. */
struct rp_head {
	unsigned id;
	int rc;
	size_t len;
	char extra[64];		/* read: "size mtime" before the copy */
};
/* One head line without its '\n': 0, or -EPROTO. */
int rp_parse_head(const char *line, size_t n, struct rp_head *h);
/* A read's check line ("C <id> <size> <mtime>"), compared with the head:
 * 0 when equal, -EIO when the file changed, -EPROTO when malformed. */
int rp_check_line(const char *line, size_t n, const struct rp_head *h);
int rp_parse_stat(const char *s, size_t n, struct rp_attr *a);
/* The next entry of a listing payload ("<len> <name>\n<stat line>\n"):
 * 1 with name (NUL-terminated, cap >= 256) and attributes, 0 at the end,
 * -EPROTO when malformed.  *at advances. */
int rp_list_next(const char *s, size_t n, size_t *at, char *name, size_t cap,
		 struct rp_attr *a);
/* statfs payload: "bsize blocks bfree bavail files ffree namemax". */
struct rp_statfs {
	unsigned long bsize, namemax;
	unsigned long long blocks, bfree, bavail, files, ffree;
};
int rp_parse_statfs(const char *s, size_t n, struct rp_statfs *sf);
/* The errno for a failed request from the tool's message (C locale
 * strerror texts, as BusyBox and coreutils print them); EIO when none
 * matches. */
int rp_errno(const char *msg, size_t n);

#endif
