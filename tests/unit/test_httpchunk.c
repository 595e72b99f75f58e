/* HTTP body framing fed in every split, down to one byte at a time. */
#include <stdlib.h>
#include <string.h>

#include "stream/httpchunk.h"
#include "tests/unit/check.h"

/* Decode `in` handing the decoder pieces of `step` bytes (0 = all at
 * once); returns the body and whether HB_DONE / HB_ERROR was seen. */
static size_t run(enum hbody_mode mode, uint64_t length, const char *in, size_t len,
		  size_t step, char *out, int *done, int *error)
{
	struct hbody b;
	size_t off = 0, olen = 0;
	uint8_t *copy = malloc(len ? len : 1);

	memcpy(copy, in, len);
	hbody_init(&b, mode, length);
	*done = *error = 0;
	while (off < len || (!*done && !*error)) {
		size_t avail = len - off, piece = step && step < avail ? step : avail, used;
		const uint8_t *p;
		size_t n;
		enum hbody_event e = hbody_feed(&b, copy + off, piece, &used, &p, &n);

		off += used;
		if (e == HB_DATA) {
			memcpy(out + olen, p, n);
			olen += n;
		} else if (e == HB_DONE) {
			*done = 1;
		} else if (e == HB_ERROR) {
			*error = 1;
			break;
		} else if (off >= len || used == 0) {
			break;
		}
		if (*done)
			break;
	}
	free(copy);
	return olen;
}

static void each_split(enum hbody_mode mode, uint64_t length, const char *in,
		       const char *want, int want_done, int want_error)
{
	char out[4096];
	size_t len = strlen(in);

	for (size_t step = 0; step <= len; step++) {
		int done, error;
		size_t n = run(mode, length, in, len, step, out, &done, &error);

		CHECK_MSG(error == want_error, "step %zu: error %d", step, error);
		if (want_error)
			continue;
		CHECK_MSG(done == want_done, "step %zu: done %d", step, done);
		CHECK_MSG(n == strlen(want) && !memcmp(out, want, n), "step %zu: body %.*s", step,
			  (int)n, out);
	}
}

int main(void)
{
	each_split(HBODY_CHUNKED, 0, "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "hello world", 1, 0);
	each_split(HBODY_CHUNKED, 0, "a;ext=1\r\n0123456789\r\n0\r\nX-Trailer: y\r\n\r\n",
		   "0123456789", 1, 0);
	each_split(HBODY_CHUNKED, 0, "A\r\n0123456789\r\n0\r\n\r\n", "0123456789", 1, 0);
	each_split(HBODY_CHUNKED, 0, "3\nabc\n0\n\n", "abc", 1, 0);	/* bare LF */
	each_split(HBODY_CHUNKED, 0, "5\r\nhel", "hel", 0, 0);		/* truncated: not done */
	each_split(HBODY_CHUNKED, 0, "zz\r\nhello\r\n", "", 0, 1);
	each_split(HBODY_CHUNKED, 0, "5\r\nhelloXX", "", 0, 1);		/* no CRLF after data */
	each_split(HBODY_CHUNKED, 0, "ffffffffffffffffff\r\n", "", 0, 1);	/* size overflow */
	each_split(HBODY_CHUNKED, 0, "\r\n", "", 0, 1);			/* empty size line */
	each_split(HBODY_LENGTH, 5, "hello", "hello", 1, 0);
	each_split(HBODY_LENGTH, 3, "hello", "hel", 1, 0);
	each_split(HBODY_CLOSE, 0, "until close", "until close", 0, 0);
	{
		int done, error;
		char out[8];

		run(HBODY_LENGTH, 0, "", 0, 0, out, &done, &error);
		CHECK(done && !error);
	}
	return check_report("test_httpchunk");
}
