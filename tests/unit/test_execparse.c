/* Unit test for the exec session parsers (fs/execparse.c): every ctl
 * command and its wrong forms, and the two argv formats. */
#include "fs/execparse.h"
#include "tests/unit/check.h"

#include <errno.h>
#include <string.h>

static int parse(const char *s, struct ctl_cmd *c)
{
	char word[32];

	return ctl_parse(s, strlen(s), c, word, sizeof(word));
}

static void ctl_good(void)
{
	struct ctl_cmd c;

	CHECK(parse("", &c) == 0 && c.op == CTL_NONE);
	CHECK(parse("  \t \r", &c) == 0 && c.op == CTL_NONE);
	CHECK(parse("start", &c) == 0 && c.op == CTL_START);
	CHECK(parse("start\r", &c) == 0 && c.op == CTL_START);	/* CRLF from a terminal */
	CHECK(parse("  hangup ", &c) == 0 && c.op == CTL_HANGUP);
	CHECK(parse("close-stdin", &c) == 0 && c.op == CTL_CLOSE_STDIN);
	CHECK(parse("stdin on", &c) == 0 && c.op == CTL_STDIN && c.on == 1);
	CHECK(parse("stdin off", &c) == 0 && c.op == CTL_STDIN && c.on == 0);
	CHECK(parse("tty\ton", &c) == 0 && c.op == CTL_TTY && c.on == 1);
	CHECK(parse("tty off", &c) == 0 && c.op == CTL_TTY && c.on == 0);
	CHECK(parse("resize 80 24", &c) == 0 && c.op == CTL_RESIZE && c.w == 80 && c.h == 24);
	CHECK(parse("resize 65535 1", &c) == 0 && c.w == 65535 && c.h == 1);
}

static void ctl_bad(void)
{
	struct ctl_cmd c;
	char word[8], big[CTL_LINE_MAX + 2];

	CHECK(parse("start now", &c) == -EINVAL);
	CHECK(parse("stop", &c) == -EINVAL);
	CHECK(parse("START", &c) == -EINVAL);
	CHECK(parse("stdin", &c) == -EINVAL);
	CHECK(parse("stdin yes", &c) == -EINVAL);
	CHECK(parse("tty on off", &c) == -EINVAL);
	CHECK(parse("resize 80", &c) == -EINVAL);
	CHECK(parse("resize 0 24", &c) == -EINVAL);
	CHECK(parse("resize 80 65536", &c) == -EINVAL);
	CHECK(parse("resize -80 24", &c) == -EINVAL);
	CHECK(parse("resize 80x 24", &c) == -EINVAL);
	CHECK(parse("resize +80 24", &c) == -EINVAL);
	CHECK(parse("a b c d e", &c) == -EINVAL);
	CHECK(ctl_parse("start\0x", 7, &c, NULL, 0) == -EINVAL);	/* a NUL */
	memset(big, 'a', sizeof(big));
	CHECK(ctl_parse(big, CTL_LINE_MAX + 1, &c, NULL, 0) == -EINVAL);
	CHECK(ctl_parse(big, CTL_LINE_MAX, &c, NULL, 0) == -EINVAL);	/* fits, unknown */
	/* the first word comes back, cut to the buffer, for the message */
	CHECK(ctl_parse("frobnicate 1", 12, &c, word, sizeof(word)) == -EINVAL &&
	      !strcmp(word, "frobnic"));
	CHECK(ctl_parse("", 0, &c, word, sizeof(word)) == 0 && word[0] == 0);
}

static void argv_formats(void)
{
	char **v;
	int e = 0;

	v = argv_split("sh\n-c\necho hi\n", 14, &e);
	CHECK(v && !strcmp(v[0], "sh") && !strcmp(v[1], "-c") && !strcmp(v[2], "echo hi") && !v[3]);
	argv_free(v);
	v = argv_split("ls", 2, &e);		/* no trailing separator */
	CHECK(v && !strcmp(v[0], "ls") && !v[1]);
	argv_free(v);
	/* one NUL anywhere: NUL-separated, newlines are plain bytes */
	v = argv_split("printf\0a\nb\0", 11, &e);
	CHECK(v && !strcmp(v[0], "printf") && !strcmp(v[1], "a\nb") && !v[2]);
	argv_free(v);
	v = argv_split("a\n\nb", 4, &e);	/* an empty argument stays */
	CHECK(v && !strcmp(v[0], "a") && !strcmp(v[1], "") && !strcmp(v[2], "b") && !v[3]);
	argv_free(v);
	e = 0;
	CHECK(!argv_split("", 0, &e) && e == -EINVAL);
	e = 0;
	CHECK(!argv_split("\n", 1, &e) && e == -EINVAL);
	argv_free(NULL);
}

int main(void)
{
	ctl_good();
	ctl_bad();
	argv_formats();
	return check_report("test_execparse");
}
