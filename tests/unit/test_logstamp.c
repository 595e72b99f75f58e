/* Log stamp stripping and re-fetch de-duplication, fed in every split. */
#include <string.h>

#include "stream/logstamp.h"
#include "tests/unit/check.h"

struct acc {
	char buf[4096];
	size_t len;
};

static void out(void *ud, const uint8_t *p, size_t n)
{
	struct acc *a = ud;

	memcpy(a->buf + a->len, p, n);
	a->len += n;
}

static void feed_split(struct logfilt *f, const char *in, size_t step, struct acc *a)
{
	size_t len = strlen(in);

	for (size_t off = 0; off < len;) {
		size_t n = step && step < len - off ? step : len - off;

		logfilt_feed(f, (const uint8_t *)in + off, n, out, a);
		off += n;
	}
}

static const char first[] =
	"2024-05-01T10:00:00.100000000Z a\n"
	"2024-05-01T10:00:01.5Z b\n"
	"2024-05-01T10:00:01.5Z b2\n";
/* A re-fetch from 10:00:01 repeats b and b2, then brings new lines. */
static const char again[] =
	"2024-05-01T10:00:01.5Z b\n"
	"2024-05-01T10:00:01.5Z b2\n"
	"2024-05-01T10:00:01.5Z b3\n"
	"2024-05-01T10:00:02Z c\n";

int main(void)
{
	for (size_t step = 0; step < sizeof(again); step++) {
		struct logfilt f;
		struct acc a = { .len = 0 };
		char since[64];

		logfilt_init(&f);
		feed_split(&f, first, step, &a);
		CHECK_MSG(a.len == strlen("a\nb\nb2\n") && !memcmp(a.buf, "a\nb\nb2\n", a.len),
			  "step %zu: %.*s", step, (int)a.len, a.buf);
		CHECK(f.same == 2);
		logfilt_since(&f, since, sizeof(since));
		CHECK_MSG(!strcmp(since, "2024-05-01T10:00:01Z"), "since %s", since);
		a.len = 0;
		logfilt_resume(&f);
		feed_split(&f, again, step, &a);
		CHECK_MSG(a.len == strlen("b3\nc\n") && !memcmp(a.buf, "b3\nc\n", a.len),
			  "step %zu: resumed %.*s", step, (int)a.len, a.buf);
	}
	{
		struct logfilt f;
		struct acc a = { .len = 0 };

		/* no stamp at all: text passes through */
		logfilt_init(&f);
		feed_split(&f, "plain line\nanother\n", 1, &a);
		CHECK_MSG(a.len == strlen("plain line\nanother\n") &&
			  !memcmp(a.buf, "plain line\nanother\n", a.len), "%.*s", (int)a.len, a.buf);
	}
	return check_report("test_logstamp");
}
