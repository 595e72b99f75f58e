/* The helper protocol of `<container>/root/` (see rootproto.h and
 * docs/root.md): shell text out, framed answers in.  The shell side is
 * the prologue's functions, written for POSIX sh with only `stat -c`,
 * `dd`, `head -c` and the shell's own printf, so BusyBox and GNU
 * coreutils both run it unchanged.  Every rule about what the shell may
 * see is here: paths single-quoted, data as octal escapes, numbers
 * printed by podfs itself. */
#include "fs/rootproto.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The attributes a stat line carries, in rp_parse_stat's order. */
#define STAT_FMT "%f %s %u %g %X %Y %Z %h %t %T %b"

/* Stdin of the shell is the request stream: no command may read it, so
 * every one runs with </dev/null.  The shell's own stderr stays open:
 * containerd ends an exec's stdin once its stderr closes (`exec
 * 2>/dev/null` killed the helper there), so each command redirects its
 * own.  Answers use only printf (a builtin),
 * so a frame's head is written before its payload in one process. */
static const char prologue[] =
	"export LC_ALL=C\n"
	"_F='" STAT_FMT "'\n"
	"_r() { printf 'R %s %s %s\\n%s' \"$1\" \"$2\" \"${#3}\" \"$3\"; }\n"
	"_c() { _i=$1; shift; _o=$(\"$@\" 2>&1 </dev/null; printf ' %s' $?); "
	"_r \"$_i\" \"${_o##* }\" \"${_o% *}\"; }\n"
	"_l() { cd \"$1\" || return; for f in .* *; do case $f in .|..) continue;; esac; "
	"[ -e \"$f\" ] || [ -L \"$f\" ] || continue; s=$(stat -c \"$_F\" \"./$f\") || continue; "
	"printf '%s %s\\n%s\\n' \"${#f}\" \"$f\" \"$s\"; done; }\n"
	"_d() { _z=$(stat -c '%s %Y' \"$2\" 2>&1 </dev/null) || { _r \"$1\" 1 \"$_z\"; return; }; "
	"if [ -d \"$2\" ]; then _r \"$1\" 1 'Is a directory'; return; fi; "
	"_e=$( (: <\"$2\") 2>&1) || { _r \"$1\" 1 \"$_e\"; return; }; "
	"_n=$((${_z% *} - $3)); [ \"$_n\" -lt 0 ] && _n=0; [ \"$_n\" -gt \"$4\" ] && _n=$4; "
	"printf 'R %s 0 %s %s\\n' \"$1\" \"$_n\" \"$_z\"; "
	"if [ \"$_n\" -gt 0 ]; then { dd if=\"$2\" bs=\"$5\" skip=$(($3 / $5)) "
	"count=$((($4 + $5 - 1) / $5)) 2>/dev/null; dd if=/dev/zero bs=65536 "
	"count=$((_n / 65536 + 1)) 2>/dev/null; } </dev/null | head -c \"$_n\"; fi; "
	"printf 'C %s %s\\n' \"$1\" \"$(stat -c '%s %Y' \"$2\" 2>&1 </dev/null)\"; }\n"
	"_w() { printf \"$4\" | dd of=\"$1\" bs=\"$3\" seek=$(($2 / $3)) conv=notrunc; }\n"
	"_mk() { if [ \"$3\" = 1 ]; then set -C; : >\"$1\" || return; else : >>\"$1\" || return; fi; "
	"chmod \"$2\" \"$1\"; }\n"
	"_nd() { if [ -d \"$1\" ] && [ ! -L \"$1\" ]; then echo 'Is a directory'; return 1; fi; "
	"[ -e \"$1\" ] || [ -L \"$1\" ] || { echo 'No such file or directory'; return 1; }; }\n"
	"_tr() { _nd \"$1\" && dd of=\"$1\" bs=1 seek=\"$2\" count=0; }\n"
	"_rm() { _nd \"$1\" && rm -f \"$1\"; }\n"
	"_isd() { [ -d \"$1\" ] && [ ! -L \"$1\" ]; }\n"
	"_mv() { [ -e \"$1\" ] || [ -L \"$1\" ] || { echo 'No such file or directory'; return 1; }; "
	"[ \"$1\" = \"$2\" ] && return 0; "
	"if [ -e \"$2\" ] || [ -L \"$2\" ]; then "
	"[ \"$3\" = 1 ] && { echo 'File exists'; return 1; }; "
	"if _isd \"$2\"; then _isd \"$1\" || { echo 'Is a directory'; return 1; }; rmdir \"$2\" || return; "
	"elif _isd \"$1\"; then echo 'Not a directory'; return 1; fi; fi; "
	"_a=$(stat -c %d \"$1\") && _b=$(stat -c %d \"${2%/*}/.\") || return; "
	"[ \"$_a\" = \"$_b\" ] || { echo 'Invalid cross-device link'; return 1; }; "
	"mv -f \"$1\" \"$2\"; }\n"
	"_m=; for _t in stat dd head mv rm mkdir rmdir chmod touch ln readlink; do "
	"command -v $_t >/dev/null || _m=\"$_m $_t\"; done\n"
	"_r 0 0 \"ok$_m\"\n";

void rp_buf_free(struct rp_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

void rp_buf_reset(struct rp_buf *b)
{
	b->n = 0;
	b->oom = 0;
}

static int grow(struct rp_buf *b, size_t more)
{
	if (b->oom)
		return -ENOMEM;
	if (b->n + more + 1 > b->cap) {
		size_t nc = b->cap ? b->cap : 256;
		char *np;

		while (nc < b->n + more + 1)
			nc *= 2;
		if (!(np = realloc(b->p, nc))) {
			b->oom = 1;
			return -ENOMEM;
		}
		b->p = np;
		b->cap = nc;
	}
	return 0;
}

static int add(struct rp_buf *b, const char *s, size_t n)
{
	if (grow(b, n))
		return -ENOMEM;
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = 0;
	return 0;
}

static int addf(struct rp_buf *b, const char *fmt, ...)
{
	char tmp[128];
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (r < 0 || (size_t)r >= sizeof(tmp))
		return -EINVAL;
	return add(b, tmp, (size_t)r);
}

/* ' then the bytes, each ' as '\'' (close, escaped quote, reopen), then '.
 * Inside single quotes sh interprets nothing. */
static int quote(struct rp_buf *b, const char *s)
{
	int r = add(b, " '", 2);

	for (; !r && *s; s++)
		r = *s == '\'' ? add(b, "'\\''", 4) : add(b, s, 1);
	return r ? r : add(b, "'", 1);
}

int rp_prologue(struct rp_buf *b)
{
	return add(b, prologue, sizeof(prologue) - 1);
}

/* `<fn> <id>` then the quoted paths: the start of most requests. */
static int call(struct rp_buf *b, const char *fn, unsigned id, const char *a, const char *c)
{
	int r = addf(b, "%s %u", fn, id);

	if (!r && a)
		r = quote(b, a);
	if (!r && c)
		r = quote(b, c);
	return r;
}

static int end(struct rp_buf *b)
{
	return add(b, "\n", 1);
}

int rp_stat(struct rp_buf *b, unsigned id, const char *path)
{
	return addf(b, "_c %u stat -c \"$_F\"", id) || quote(b, path) || end(b) ? -ENOMEM : 0;
}

int rp_list(struct rp_buf *b, unsigned id, const char *dir)
{
	return call(b, "_c", id, NULL, NULL) || add(b, " _l", 3) || quote(b, dir) || end(b)
		? -ENOMEM : 0;
}

int rp_readlink(struct rp_buf *b, unsigned id, const char *path)
{
	return call(b, "_c", id, NULL, NULL) || add(b, " readlink", 9) || quote(b, path) ||
		end(b) ? -ENOMEM : 0;
}

int rp_statfs(struct rp_buf *b, unsigned id, const char *path)
{
	return addf(b, "_c %u stat -f -c '%%S %%b %%f %%a %%c %%d %%l'", id) || quote(b, path) ||
		end(b) ? -ENOMEM : 0;
}

size_t rp_block(off_t off)
{
	size_t bs = 65536;

	while (bs > 1 && (off % (off_t)bs))
		bs /= 2;
	return bs;
}

int rp_read(struct rp_buf *b, unsigned id, const char *path, off_t off, size_t len)
{
	return call(b, "_d", id, path, NULL) ||
		addf(b, " %jd %zu %zu\n", (intmax_t)off, len, rp_block(off)) ? -ENOMEM : 0;
}

/* Bytes as a printf format: letters and digits as they are, every other
 * byte as \ooo (so no %, no quote, no newline reaches the shell). */
static int octal(struct rp_buf *b, const unsigned char *d, size_t n)
{
	char *o;

	if (grow(b, n * 4 + 2))
		return -ENOMEM;
	o = b->p + b->n;
	*o++ = ' ';
	*o++ = '\'';
	for (size_t i = 0; i < n; i++) {
		unsigned c = d[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
			*o++ = (char)c;
		} else {
			*o++ = '\\';
			*o++ = (char)('0' + (c >> 6));
			*o++ = (char)('0' + ((c >> 3) & 7));
			*o++ = (char)('0' + (c & 7));
		}
	}
	b->n = (size_t)(o - b->p);
	return add(b, "'", 1);
}

int rp_write(struct rp_buf *b, unsigned id, const char *path, off_t off,
	     const void *data, size_t len)
{
	return call(b, "_c", id, NULL, NULL) || add(b, " _w", 3) || quote(b, path) ||
		addf(b, " %jd %zu", (intmax_t)off, rp_block(off)) || octal(b, data, len) ||
		end(b) ? -ENOMEM : 0;
}

int rp_op(struct rp_buf *b, unsigned id, enum rp_op op, const char *a, const char *bpath,
	  long long n1, long long n2)
{
	int r = call(b, "_c", id, NULL, NULL);

	if (r)
		return r;
	switch (op) {
	case RP_CREATE:
		r = add(b, " _mk", 4) || quote(b, a) || addf(b, " %llo %d", n1, n2 ? 1 : 0);
		break;
	case RP_TRUNCATE:
		r = add(b, " _tr", 4) || quote(b, a) || addf(b, " %lld", n1);
		break;
	case RP_MKDIR:
		r = addf(b, " mkdir -m %llo", n1) || quote(b, a);
		break;
	case RP_RMDIR:
		r = add(b, " rmdir", 6) || quote(b, a);
		break;
	case RP_UNLINK:
		r = add(b, " _rm", 4) || quote(b, a);
		break;
	case RP_RENAME:
		r = add(b, " _mv", 4) || quote(b, a) || quote(b, bpath) ||
			addf(b, " %d", n1 ? 1 : 0);
		break;
	case RP_SYMLINK:
		r = add(b, " ln -s --", 9) || quote(b, bpath) || quote(b, a);
		break;
	case RP_CHMOD:
		r = addf(b, " chmod %llo", n1 & 07777) || quote(b, a);
		break;
	case RP_UTIME:
		r = addf(b, " touch -c -%c -d @%lld", n2 == 'a' ? 'a' : 'm', n1) || quote(b, a);
		break;
	default:
		return -EINVAL;
	}
	return r || end(b) ? -ENOMEM : 0;
}

/* ---- decoding ---- */

/* Unsigned decimal at s[*at..n), then one separator (space or end). */
static int num(const char *s, size_t n, size_t *at, int base, unsigned long long *v)
{
	unsigned long long x = 0;
	size_t i = *at, start = i;

	for (; i < n && s[i] != ' ' && s[i] != '\n'; i++) {
		int d = s[i] >= '0' && s[i] <= '9' ? s[i] - '0'
			: base == 16 && s[i] >= 'a' && s[i] <= 'f' ? s[i] - 'a' + 10 : -1;

		if (d < 0 || x > (~0ull - (unsigned)d) / (unsigned)base)
			return -EPROTO;
		x = x * (unsigned)base + (unsigned)d;
	}
	if (i == start)
		return -EPROTO;
	*v = x;
	*at = i < n && s[i] == ' ' ? i + 1 : i;
	return 0;
}

int rp_parse_head(const char *line, size_t n, struct rp_head *h)
{
	unsigned long long id, rc, len;
	size_t at = 2;

	memset(h, 0, sizeof(*h));
	if (n < 2 || line[0] != 'R' || line[1] != ' ' || num(line, n, &at, 10, &id) ||
	    num(line, n, &at, 10, &rc) || num(line, n, &at, 10, &len) ||
	    id > UINT32_MAX || rc > 255 || len > SIZE_MAX / 2)
		return -EPROTO;
	if (n - at >= sizeof(h->extra))
		return -EPROTO;
	memcpy(h->extra, line + at, n - at);
	h->extra[n - at] = 0;
	h->id = (unsigned)id;
	h->rc = (int)rc;
	h->len = (size_t)len;
	return 0;
}

int rp_check_line(const char *line, size_t n, const struct rp_head *h)
{
	unsigned long long id;
	size_t at = 2;

	if (n < 2 || line[0] != 'C' || line[1] != ' ' || num(line, n, &at, 10, &id) ||
	    id != h->id)
		return -EPROTO;
	return strlen(h->extra) == n - at && !memcmp(h->extra, line + at, n - at) ? 0 : -EIO;
}

int rp_parse_stat(const char *s, size_t n, struct rp_attr *a)
{
	unsigned long long v[11];
	static const int base[11] = { 16, 10, 10, 10, 10, 10, 10, 10, 16, 16, 10 };
	size_t at = 0;

	while (n && s[n - 1] == '\n')
		n--;
	for (int i = 0; i < 11; i++)
		if (num(s, n, &at, base[i], &v[i]))
			return -EPROTO;
	if (at != n)
		return -EPROTO;
	memset(a, 0, sizeof(*a));
	a->mode = (mode_t)v[0];
	a->size = (off_t)v[1];
	a->uid = (uid_t)v[2];
	a->gid = (gid_t)v[3];
	a->atime = (time_t)v[4];
	a->mtime = (time_t)v[5];
	a->ctime = (time_t)v[6];
	a->nlink = (unsigned long)v[7];
	a->major = (unsigned)v[8];
	a->minor = (unsigned)v[9];
	a->blocks = (long long)v[10];
	return 0;
}

int rp_list_next(const char *s, size_t n, size_t *at, char *name, size_t cap,
		 struct rp_attr *a)
{
	unsigned long long len;
	size_t i = *at, nl;
	const char *e;

	if (i >= n)
		return 0;
	if (num(s, n, &i, 10, &len) || len == 0 || len >= cap || len > n - i ||
	    i + len >= n || s[i + len] != '\n')
		return -EPROTO;
	memcpy(name, s + i, len);
	name[len] = 0;
	i += len + 1;
	if (!(e = memchr(s + i, '\n', n - i)))
		return -EPROTO;
	nl = (size_t)(e - s);
	if (memchr(name, '/', len) || memchr(name, 0, len) ||
	    rp_parse_stat(s + i, nl - i, a))
		return -EPROTO;
	*at = nl + 1;
	return 1;
}

int rp_parse_statfs(const char *s, size_t n, struct rp_statfs *sf)
{
	unsigned long long v[7];
	size_t at = 0;

	while (n && s[n - 1] == '\n')
		n--;
	for (int i = 0; i < 7; i++)
		if (num(s, n, &at, 10, &v[i]))
			return -EPROTO;
	if (at != n)
		return -EPROTO;
	sf->bsize = (unsigned long)v[0];
	sf->blocks = v[1];
	sf->bfree = v[2];
	sf->bavail = v[3];
	sf->files = v[4];
	sf->ffree = v[5];
	sf->namemax = (unsigned long)v[6];
	return 0;
}

static const struct { const char *text; int err; } messages[] = {
	{ "No such file or directory", ENOENT },
	{ "Permission denied", EACCES },
	{ "Operation not permitted", EPERM },
	{ "Not a directory", ENOTDIR },
	{ "Is a directory", EISDIR },
	{ "Directory not empty", ENOTEMPTY },
	{ "File exists", EEXIST },
	{ "No space left on device", ENOSPC },
	{ "Disk quota exceeded", EDQUOT },
	{ "Read-only file system", EROFS },
	{ "Invalid cross-device link", EXDEV },
	{ "File name too long", ENAMETOOLONG },
	{ "Too many levels of symbolic links", ELOOP },
	{ "File too large", EFBIG },
	{ "Text file busy", ETXTBSY },
	{ "Device or resource busy", EBUSY },
	{ "Invalid argument", EINVAL },
	{ "cannot overwrite existing file", EEXIST },	/* sh's set -C */
};

int rp_errno(const char *msg, size_t n)
{
	for (size_t i = 0; i < sizeof(messages) / sizeof(messages[0]); i++) {
		size_t l = strlen(messages[i].text);

		for (size_t j = 0; l <= n && j + l <= n; j++)
			if (!memcmp(msg + j, messages[i].text, l))
				return messages[i].err;
	}
	return EIO;
}
