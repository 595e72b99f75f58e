/* The `ctl` command language and the `argv` format of exec sessions (see
 * execparse.h).  Commands are words separated by blanks; anything not in
 * the table below, or with the wrong number of words, is EINVAL. */
#include "fs/execparse.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WORDS_MAX 4

static int parse_dim(const char *s, unsigned *out)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return -1;
	v = strtoul(s, &end, 10);
	if (*end || v == 0 || v > 65535)
		return -1;
	*out = (unsigned)v;
	return 0;
}

static int parse_onoff(const char *s, int *on)
{
	if (!strcmp(s, "on") || !strcmp(s, "off")) {
		*on = s[1] == 'n';
		return 0;
	}
	return -1;
}

int ctl_parse(const char *line, size_t len, struct ctl_cmd *out, char *word, size_t wordlen)
{
	static const struct { const char *name; enum ctl_op op; int words; } cmds[] = {
		{ "stdin", CTL_STDIN, 2 }, { "tty", CTL_TTY, 2 },
		{ "start", CTL_START, 1 }, { "close-stdin", CTL_CLOSE_STDIN, 1 },
		{ "hangup", CTL_HANGUP, 1 }, { "resize", CTL_RESIZE, 3 },
	};
	char buf[CTL_LINE_MAX + 1], *arg[WORDS_MAX], *save = NULL, *t;
	int n = 0;

	memset(out, 0, sizeof(*out));
	if (word && wordlen)
		word[0] = 0;
	if (len > CTL_LINE_MAX || memchr(line, 0, len))
		return -EINVAL;
	memcpy(buf, line, len);
	buf[len] = 0;
	for (t = strtok_r(buf, " \t\r", &save); t; t = strtok_r(NULL, " \t\r", &save)) {
		if (n == WORDS_MAX)
			return -EINVAL;
		arg[n++] = t;
	}
	if (!n)
		return 0;	/* CTL_NONE */
	if (word && wordlen)
		snprintf(word, wordlen, "%s", arg[0]);
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (strcmp(arg[0], cmds[i].name))
			continue;
		if (n != cmds[i].words)
			return -EINVAL;
		out->op = cmds[i].op;
		if (out->op == CTL_STDIN || out->op == CTL_TTY)
			return parse_onoff(arg[1], &out->on) ? -EINVAL : 0;
		if (out->op == CTL_RESIZE)
			return parse_dim(arg[1], &out->w) || parse_dim(arg[2], &out->h) ?
			       -EINVAL : 0;
		return 0;
	}
	return -EINVAL;
}

char **argv_split(const char *buf, size_t len, int *perr)
{
	char sep = memchr(buf, 0, len) ? '\0' : '\n';
	size_t n = 1, i, start;
	char **v;

	if (len && buf[len - 1] == sep)
		len--;
	if (!len) {
		*perr = -EINVAL;
		return NULL;
	}
	for (i = 0; i < len; i++)
		n += buf[i] == sep;
	if (!(v = calloc(n + 1, sizeof(*v)))) {
		*perr = -ENOMEM;
		return NULL;
	}
	for (i = 0, start = 0, n = 0; i <= len; i++) {
		if (i < len && buf[i] != sep)
			continue;
		if (!(v[n++] = strndup(buf + start, i - start))) {
			argv_free(v);
			*perr = -ENOMEM;
			return NULL;
		}
		start = i + 1;
	}
	return v;
}

void argv_free(char **v)
{
	if (!v)
		return;
	for (char **a = v; *a; a++)
		free(*a);
	free(v);
}
