/* Pure parsers of an exec session's control files (docs/exec.md): the
 * `ctl` commands and the `argv` text.  No I/O and no state, so they are
 * unit-tested on their own (tests/unit/test_execparse.c). */
#ifndef PODFS_EXECPARSE_H
#define PODFS_EXECPARSE_H

#include <stddef.h>

#define CTL_LINE_MAX 256

enum ctl_op {
	CTL_NONE,		/* an empty line: nothing to do */
	CTL_STDIN,		/* stdin on|off (before the start) */
	CTL_TTY,		/* tty on|off (before the start) */
	CTL_START,
	CTL_CLOSE_STDIN,
	CTL_HANGUP,
	CTL_RESIZE,		/* resize W H, each 1..65535 */
};

struct ctl_cmd {
	enum ctl_op op;
	int on;			/* CTL_STDIN, CTL_TTY */
	unsigned w, h;		/* CTL_RESIZE */
};

/* One command line of len bytes (no newline; at most CTL_LINE_MAX, no
 * NUL).  0, or -EINVAL for anything else (a bad or unknown command).  The
 * line's first word, if any, is copied to `word` for messages. */
int ctl_parse(const char *line, size_t len, struct ctl_cmd *out, char *word, size_t wordlen);

/* argv as written: NUL-separated when it holds a NUL, else one argument
 * per line; one trailing separator ends the last argument.  A malloc'd
 * NULL-terminated vector, or NULL with *perr = -EINVAL (empty) or
 * -ENOMEM.  Free with argv_free. */
char **argv_split(const char *buf, size_t len, int *perr);
void argv_free(char **v);

#endif
