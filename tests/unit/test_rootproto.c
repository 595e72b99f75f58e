/* Unit test of the root/ helper protocol (fs/rootproto.c): request texts
 * byte by byte (quoting, octal data, numbers), the frame and stat/listing
 * decoders on good and malformed input, the errno table, and the
 * prologue plus requests run by a real `sh` (BusyBox's when installed)
 * on names that would be interpreted if any byte escaped its quotes. */
#include "fs/rootproto.h"
#include "tests/unit/check.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int same(const struct rp_buf *b, const char *want)
{
	int ok = b->n == strlen(want) && !memcmp(b->p, want, b->n);

	if (!ok)
		fprintf(stderr, "got  [%.*s]\nwant [%s]\n", (int)b->n, b->p, want);
	return ok;
}

static void requests(void)
{
	struct rp_buf b = { 0 };

	CHECK(rp_stat(&b, 7, "/etc/it's") == 0);
	CHECK(same(&b, "_c 7 stat -c \"$_F\" '/etc/it'\\''s'\n"));
	rp_buf_reset(&b);
	CHECK(rp_list(&b, 8, "/a b/$(x)`y`*") == 0);
	CHECK(same(&b, "_c 8 _l '/a b/$(x)`y`*'\n"));
	rp_buf_reset(&b);
	CHECK(rp_read(&b, 9, "/f\nx", 8192, 4096) == 0);
	CHECK(same(&b, "_d 9 '/f\nx' 8192 4096 8192\n"));
	rp_buf_reset(&b);
	CHECK(rp_write(&b, 10, "/-x", 3, "a%\n\xff", 4) == 0);
	CHECK(same(&b, "_c 10 _w '/-x' 3 1 'a\\045\\012\\377'\n"));
	rp_buf_reset(&b);
	CHECK(rp_op(&b, 11, RP_MKDIR, "/d", NULL, 0755, 0) == 0);
	CHECK(same(&b, "_c 11 mkdir -m 755 '/d'\n"));
	rp_buf_reset(&b);
	CHECK(rp_op(&b, 12, RP_RENAME, "/a", "/b'", 1, 0) == 0);
	CHECK(same(&b, "_c 12 _mv '/a' '/b'\\''' 1\n"));
	rp_buf_reset(&b);
	CHECK(rp_op(&b, 13, RP_SYMLINK, "/l", "-> '", 0, 0) == 0);
	CHECK(same(&b, "_c 13 ln -s -- '-> '\\''' '/l'\n"));
	rp_buf_reset(&b);
	CHECK(rp_op(&b, 14, RP_UTIME, "/f", NULL, 1000000000, 'm') == 0);
	CHECK(same(&b, "_c 14 touch -c -m -d @1000000000 '/f'\n"));
	rp_buf_free(&b);
	CHECK(rp_block(0) == 65536 && rp_block(4096) == 4096 && rp_block(3) == 1 &&
	      rp_block(131072 * 3) == 65536 && rp_block(6) == 2);
}

static void decoding(void)
{
	struct rp_head h;
	struct rp_attr a;
	struct rp_statfs sf;
	char name[256];
	size_t at = 0;
	const char list[] = "3 a\nb\n81a4 5 1 2 3 4 5 1 0 0 8\n1 c\n41ed 4096 0 0 1 2 3 2 0 0 8\n";

	CHECK(rp_parse_head("R 12 0 5", 8, &h) == 0 && h.id == 12 && h.rc == 0 && h.len == 5);
	CHECK(rp_parse_head("R 12 0 5 10 99", 14, &h) == 0 && !strcmp(h.extra, "10 99"));
	CHECK(rp_check_line("C 12 10 99", 10, &h) == 0);
	CHECK(rp_check_line("C 12 11 99", 10, &h) == -EIO);
	CHECK(rp_check_line("C 13 10 99", 10, &h) == -EPROTO);
	CHECK(rp_parse_head("R x 0 5", 7, &h) == -EPROTO);
	CHECK(rp_parse_head("Q 1 0 5", 7, &h) == -EPROTO);
	CHECK(rp_parse_head("R 1 0", 5, &h) == -EPROTO);
	CHECK(rp_parse_head("R 1 0 99999999999999999999999", 29, &h) == -EPROTO);
	CHECK(rp_parse_stat("81a4 5 1 2 3 4 5 1 0 0 8\n", 25, &a) == 0 &&
	      a.mode == (S_IFREG | 0644) && a.size == 5 && a.uid == 1 && a.gid == 2 &&
	      a.atime == 3 && a.mtime == 4 && a.ctime == 5 && a.blocks == 8);
	CHECK(rp_parse_stat("81a4 5 1 2 3 4 5 1 0 0", 22, &a) == -EPROTO);
	CHECK(rp_parse_stat("81a4 5 1 2 3 4 5 1 0 0 8 9", 26, &a) == -EPROTO);
	CHECK(rp_parse_stat("zz 5 1 2 3 4 5 1 0 0 8", 22, &a) == -EPROTO);
	CHECK(rp_list_next(list, sizeof(list) - 1, &at, name, sizeof(name), &a) == 1 &&
	      !strcmp(name, "a\nb") && S_ISREG(a.mode));
	CHECK(rp_list_next(list, sizeof(list) - 1, &at, name, sizeof(name), &a) == 1 &&
	      !strcmp(name, "c") && S_ISDIR(a.mode));
	CHECK(rp_list_next(list, sizeof(list) - 1, &at, name, sizeof(name), &a) == 0);
	at = 0;
	CHECK(rp_list_next("9 a\n", 4, &at, name, sizeof(name), &a) == -EPROTO);
	at = 0;
	CHECK(rp_list_next("3 a/b\n81a4 5 1 2 3 4 5 1 0 0 8\n", 32, &at, name, sizeof(name), &a)
	      == -EPROTO);
	CHECK(rp_parse_statfs("4096 10 5 4 100 50 255\n", 23, &sf) == 0 && sf.bsize == 4096 &&
	      sf.blocks == 10 && sf.bavail == 4 && sf.namemax == 255);
	CHECK(rp_errno("rmdir: '/d': Directory not empty", 32) == ENOTEMPTY);
	CHECK(rp_errno("mv: can't rename: Invalid cross-device link", 43) == EXDEV);
	CHECK(rp_errno("sh: can't create /x: File exists", 32) == EEXIST);
	CHECK(rp_errno("something else", 14) == EIO);
}

/* The prologue and requests, run by a real shell in a scratch directory. */
static void shell(void)
{
	const char *sh = access("/bin/busybox", X_OK) == 0 ? "/bin/busybox sh" : "/bin/sh";
	char dir[] = "/tmp/podfs-rootproto-XXXXXX", path[512], cmd[640], out[4096];
	const char *name = "it's $(touch pwned) `x` *\n\\ \xff";
	struct rp_buf b = { 0 };
	struct rp_head h;
	FILE *f;
	size_t n;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	CHECK(rp_prologue(&b) == 0);
	CHECK(rp_write(&b, 1, path, 0, "hello\0world", 11) == 0);
	CHECK(rp_read(&b, 2, path, 6, 100) == 0);
	CHECK(rp_op(&b, 3, RP_MKDIR, path, NULL, 0700, 0) == 0);
	snprintf(cmd, sizeof(cmd), "%s > %s/.out", sh, dir);
	f = popen(cmd, "w");
	CHECK(f && fwrite(b.p, 1, b.n, f) == b.n);
	CHECK(f && pclose(f) == 0);
	snprintf(path, sizeof(path), "%s/.out", dir);
	f = fopen(path, "rb");
	n = f ? fread(out, 1, sizeof(out), f) : 0;
	if (f)
		fclose(f);
	/* R 0 0 2\nok, R 1 0 <dd's report>, R 2 0 5 <size mtime>\nworld C 2 ..., R 3 1 <EEXIST> */
	CHECK(n > 8 && !memcmp(out, "R 0 0 2\nok", 10));
	{
		char *r1 = memmem(out, n, "R 1 0 ", 6), *r2 = memmem(out, n, "R 2 0 5 11 ", 11);
		char *r3 = memmem(out, n, "R 3 1 ", 6);

		CHECK(r1 != NULL);
		CHECK(r2 && rp_parse_head(r2, (size_t)(strchr(r2, '\n') - r2), &h) == 0 &&
		      !memcmp(strchr(r2, '\n') + 1, "world", 5));
		CHECK(r2 && rp_check_line(strchr(r2, '\n') + 6,
					  (size_t)(strchr(strchr(r2, '\n') + 6, '\n') -
						   (strchr(r2, '\n') + 6)), &h) == 0);
		CHECK(r3 && rp_errno(r3, n - (size_t)(r3 - out)) == EEXIST);
	}
	snprintf(path, sizeof(path), "%s/pwned", dir);
	CHECK(access(path, F_OK) != 0);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	CHECK(system(cmd) == 0);
	rp_buf_free(&b);
}

int main(void)
{
	requests();
	decoding();
	shell();
	return check_report("test_rootproto");
}
