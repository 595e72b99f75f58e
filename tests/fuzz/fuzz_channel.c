/* libFuzzer target for the channel layer (stream/channel.c) behind the
 * frame decoder, as a session runs it: the first byte picks v4 or v5,
 * stream or port-forward mode and the feed size; the rest is server bytes.
 * Checks that callbacks get in-bounds data on valid channels, and that
 * after a protocol error the layer stays broken. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stream/channel.h"
#include "stream/wsframe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_chan_state {
	int broken;
	size_t bytes;
};

static void fuzz_chan_data(void *ud, int ch, const uint8_t *p, size_t n)
{
	struct fuzz_chan_state *s = ud;

	if (ch < 0 || ch > 255 || s->broken || !n)
		abort();
	/* Touch every byte so ASan sees a bad slice. */
	for (size_t i = 0; i < n; i++)
		s->bytes += p[i];
}

static void fuzz_chan_ready(void *ud)
{
	(void)ud;
}

static void fuzz_chan_status(void *ud, const struct k8s_status *st)
{
	(void)ud;
	if (!memchr(st->message, 0, sizeof(st->message)))
		abort();
}

static void fuzz_chan_closed(void *ud, int ch)
{
	(void)ud;
	if (ch < 0 || ch > 255)
		abort();
}

static void fuzz_chan_port_error(void *ud, int ch, const char *msg, size_t n)
{
	struct fuzz_chan_state *s = ud;

	if (n > CHAN_ACC_MAX || !(ch & 1))
		abort();
	for (size_t i = 0; i < n; i++)
		s->bytes += (unsigned char)msg[i];
}

static void fuzz_chan_proto_error(void *ud, const char *why)
{
	struct fuzz_chan_state *s = ud;

	if (!why)
		abort();
	s->broken = 1;
}

static const struct chan_cb fuzz_chan_cbs = {
	.data = fuzz_chan_data, .ready = fuzz_chan_ready,
	.status = fuzz_chan_status, .closed = fuzz_chan_closed,
	.port_error = fuzz_chan_port_error, .proto_error = fuzz_chan_proto_error,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_chan_state st = { 0 };
	struct ws_dec d;
	struct chan_dec c;
	uint8_t *buf;
	size_t off = 0, chunk;

	if (size < 2 || size > 1 << 20)
		return 0;
	chunk = (data[0] & 0x1f) * 7 + 1;
	ws_dec_init(&d, 1 << 20, 0);
	chan_dec_init(&c, (data[0] & 0x20) ? CHAN_V5 : CHAN_V4,
		      (data[0] & 0x40) ? CHAN_MODE_PORTFORWARD : CHAN_MODE_STREAM,
		      (data[0] & 0x80) ? 8080 : 80, &fuzz_chan_cbs, &st);
	data++, size--;
	if (!(buf = malloc(size))) {
		chan_dec_free(&c);
		return 0;
	}
	memcpy(buf, data, size);
	while (off < size) {
		size_t n = size - off < chunk ? size - off : chunk;
		uint8_t *p = buf + off;

		off += n;
		while (n) {
			struct ws_event ev;
			size_t used = 0;
			enum ws_event_type t = ws_dec_feed(&d, p, n, &used, &ev);

			p += used, n -= used;
			if (t == WS_EV_ERROR)
				goto out;
			if (t == WS_EV_MSG_BEGIN || t == WS_EV_MSG_DATA ||
			    t == WS_EV_MSG_END) {
				int was = st.broken;
				int rc = chan_dec_event(&c, &ev);

				if (was && rc == 0)
					abort();	/* a broken layer must stay broken */
				if (rc == 0 && st.broken)
					abort();
			}
			if (t == WS_EV_NONE)
				break;
		}
	}
out:
	chan_dec_free(&c);
	free(buf);
	return 0;
}
