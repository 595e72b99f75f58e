/* libFuzzer target for the RFC 6455 frame decoder (stream/wsframe.c).  The
 * first input byte picks the split of the rest into feeds, so the decoder
 * meets every boundary: header bytes one at a time, payloads cut anywhere.
 * It checks the decoder's promises: slices stay inside the input, a data
 * frame's slices add up to the announced length, and nothing reads out of
 * bounds (ASan).  The same function runs in the corpus replay. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stream/wsframe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ws_dec d;
	uint8_t *buf;
	size_t off = 0, chunk;
	uint64_t got = 0, want = 0;
	int in_msg = 0;

	if (size < 2)
		return 0;
	chunk = (data[0] & 0x3f) + 1;
	/* Low limit on odd seeds so the 1009 path is reached too. */
	ws_dec_init(&d, (data[0] & 0x40) ? 300 : 32u << 20, (data[0] & 0x80) != 0);
	data++, size--;
	/* A private copy: the decoder unmasks in place. */
	if (!(buf = malloc(size)))
		return 0;
	memcpy(buf, data, size);
	while (off < size) {
		size_t n = size - off < chunk ? size - off : chunk;
		uint8_t *p = buf + off;

		off += n;
		while (n) {
			struct ws_event ev;
			size_t used = 0;
			enum ws_event_type t = ws_dec_feed(&d, p, n, &used, &ev);

			if (used > n)
				abort();
			if (t == WS_EV_MSG_BEGIN) {
				if (in_msg)
					abort();
				in_msg = 1, got = 0, want = ev.length;
			} else if (t == WS_EV_MSG_DATA) {
				if (!in_msg || ev.data < p || ev.data + ev.len > p + n)
					abort();
				got += ev.len;
				if (got > want)
					abort();
			} else if (t == WS_EV_MSG_END) {
				if (!in_msg || got != want)
					abort();
				in_msg = 0;
			} else if (t == WS_EV_CONTROL) {
				if (ev.len > 125)
					abort();
			} else if (t == WS_EV_ERROR) {
				if (ev.close_code != 1002 && ev.close_code != 1009 &&
				    ev.close_code != 1007)
					abort();
				goto out;
			}
			p += used, n -= used;
			if (t == WS_EV_NONE)
				break;
		}
	}
out:
	free(buf);
	return 0;
}
