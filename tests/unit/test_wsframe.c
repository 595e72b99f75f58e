/* Frame codec tests: real server bytes from the captures and libwslay as a
 * differential oracle, each fed whole, byte by byte and in random splits
 * (fixed seed), which must all give the same events; then every rejection
 * rule, control frames between data frames, and the masking helper. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wslay/wslay.h>

#include "stream/wsframe.h"
#include "tests/unit/check.h"
#include "tests/unit/captures.h"

/* ---- canonical transcript: one line per event, data slices merged ---- */

struct tr {
	struct bytes text;	/* event lines */
	struct bytes payload;	/* all data payload bytes in order */
	int frames, controls, errors, last_code;
	int close_code;		/* from the last close frame, -1 none */
};

static void tr_line(struct tr *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void tr_line(struct tr *t, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	bytes_add(&t->text, buf, (size_t)n);
}

static uint32_t fnv(const uint8_t *p, size_t n, uint32_t h)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

/* Feeds a copy of in[0..n) in chunks chosen by mode: 0 whole, 1 bytes,
 * else random sizes from seed=mode. */
static struct tr run(const uint8_t *in, size_t n, int mode, uint64_t max_frame, int server)
{
	struct tr t = { .close_code = -1 };
	struct ws_dec d;
	uint8_t *buf = malloc(n ? n : 1);
	uint64_t seed = (uint64_t)mode * 0x9e3779b97f4a7c15ULL + 1;
	size_t off = 0;
	uint32_t h = 2166136261u;
	size_t flen = 0;

	memcpy(buf, in, n);
	ws_dec_init(&d, max_frame, server);
	while (off <= n) {
		size_t chunk = n - off;
		if (mode == 1)
			chunk = chunk ? 1 : 0;
		else if (mode > 1 && chunk)
			chunk = 1 + rnd_next(&seed) % (chunk < 300 ? chunk : 300);
		uint8_t *p = buf + off;
		size_t left = chunk;
		for (;;) {
			struct ws_event ev;
			size_t used;
			enum ws_event_type ty = ws_dec_feed(&d, p, left, &used, &ev);
			if (used > left)
				CHECK(used <= left);	/* counted only when broken */
			p += used;
			left -= used;
			if (ty == WS_EV_NONE) {
				if (left)
					CHECK(left == 0);
				break;
			}
			if (ty == WS_EV_MSG_BEGIN) {
				h = 2166136261u;
				flen = 0;
				tr_line(&t, "B op=%d fin=%d len=%llu\n", ev.opcode, ev.fin,
					(unsigned long long)ev.length);
			} else if (ty == WS_EV_MSG_DATA) {
				CHECK(ev.len > 0);
				h = fnv(ev.data, ev.len, h);
				flen += ev.len;
				bytes_add(&t.payload, ev.data, ev.len);
			} else if (ty == WS_EV_MSG_END) {
				t.frames++;
				tr_line(&t, "E op=%d fin=%d got=%zu h=%08x\n", ev.opcode, ev.fin, flen, h);
			} else if (ty == WS_EV_CONTROL) {
				t.controls++;
				tr_line(&t, "C op=%d len=%zu h=%08x\n", ev.opcode, ev.len,
					fnv(ev.data, ev.len, 2166136261u));
				if (ev.opcode == WS_OP_CLOSE && ev.len >= 2)
					t.close_code = ev.data[0] << 8 | ev.data[1];
			} else if (ty == WS_EV_ERROR) {
				t.errors++;
				t.last_code = ev.close_code;
				tr_line(&t, "X %d\n", ev.close_code);
				/* stays in error */
				enum ws_event_type again = ws_dec_feed(&d, p, left, &used, &ev);
				CHECK(again == WS_EV_ERROR && used == 0 && ev.close_code == t.last_code);
				goto done;
			}
		}
		off += chunk;
		if (!chunk)
			break;
	}
done:
	free(buf);
	bytes_add(&t.text, "", 1);
	return t;
}

static void tr_free(struct tr *t)
{
	free(t->text.p);
	free(t->payload.p);
}

/* Runs all split modes and checks they agree; returns the whole-input one. */
static struct tr run_all(const uint8_t *in, size_t n, uint64_t max_frame, int server)
{
	struct tr ref = run(in, n, 0, max_frame, server);
	for (int mode = 1; mode < 12; mode++) {
		struct tr t = run(in, n, mode, max_frame, server);
		CHECK_MSG(!strcmp((char *)t.text.p, (char *)ref.text.p),
			  "split mode %d differs:\n%s\nvs whole:\n%s", mode,
			  (char *)t.text.p, (char *)ref.text.p);
		CHECK(t.payload.n == ref.payload.n &&
		      (!t.payload.n || !memcmp(t.payload.p, ref.payload.p, t.payload.n)));
		tr_free(&t);
	}
	return ref;
}

/* ---- captures ---- */

static const char EXEC_V4_OK[] =
	"82 01 01 82 05 01 6f 75 74 0a 82 05 02 65 72 72 0a 82 23 03 7b 22 6d 65 74 61 64 61 74 61 22 "
	"3a 7b 7d 2c 22 73 74 61 74 75 73 22 3a 22 53 75 63 63 65 73 73 22 7d 88 02 03 e8";

static void test_captures(void)
{
	struct bytes b = hex_bytes(EXEC_V4_OK);
	struct tr t = run_all(b.p, b.n, 32u << 20, 0);
	CHECK(t.frames == 4 && t.controls == 1 && t.errors == 0 && t.close_code == 1000);
	CHECK(t.payload.n == 1 + 5 + 5 + 35);
	CHECK(!memcmp(t.payload.p, "\x01\x01out\n\x02" "err\n\x03{", 11));
	tr_free(&t);
	free(b.p);

	static const struct { const char *file; int frames; size_t bytes; } caps[] = {
		{ "exec-v4-ok.txt", 4, 46 },
		{ "exec-v4-exit3.txt", 3, 1 + 7 + 241 },
		{ "exec-big.txt", 5, 1 + 32769 * 2 + 4465 + 35 },
		{ "attach-v4-ticker.txt", 5, 1 + 4 * 8 },
		{ "portforward-v4.txt", 4, 3 + 3 + 232 },	/* the reply in two frames */
		{ "portforward-closed.txt", 3, 0 },
	};
	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		b = cap_load(caps[i].file);
		if (!b.p)
			continue;
		t = run_all(b.p, b.n, 32u << 20, 0);
		CHECK_MSG(t.frames == caps[i].frames, "%s: %d frames", caps[i].file, t.frames);
		CHECK_MSG(!caps[i].bytes || t.payload.n == caps[i].bytes, "%s: %zu bytes",
			  caps[i].file, t.payload.n);
		CHECK_MSG(t.errors == 0 && t.close_code == 1000, "%s", caps[i].file);
		tr_free(&t);
		free(b.p);
	}
}

/* ---- wslay as the oracle ---- */

struct membuf {
	struct bytes out;
	const uint8_t *in;
	size_t in_n, in_off, step;
};

static ssize_t wsl_send(const uint8_t *data, size_t len, int flags, void *ud)
{
	(void)flags;
	bytes_add(&((struct membuf *)ud)->out, data, len);
	return (ssize_t)len;
}

static ssize_t wsl_recv(uint8_t *buf, size_t len, int flags, void *ud)
{
	struct membuf *m = ud;
	size_t n = m->in_n - m->in_off;
	(void)flags;
	if (!n)
		return WSLAY_ERR_WANT_READ;
	if (n > len)
		n = len;
	if (m->step && n > m->step)
		n = m->step;
	memcpy(buf, m->in + m->in_off, n);
	m->in_off += n;
	return (ssize_t)n;
}

static int wsl_mask(uint8_t *buf, size_t len, void *ud)
{
	(void)ud;
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(0x5a + 31 * i);
	return 0;
}

static void wsl_frame(struct membuf *m, int fin, int op, const uint8_t *p, size_t n)
{
	struct wslay_frame_callbacks cbs = { wsl_send, wsl_recv, wsl_mask };
	wslay_frame_context_ptr ctx;
	struct wslay_frame_iocb io = { .fin = (uint8_t)fin, .opcode = (uint8_t)op,
				       .mask = 0, .payload_length = n, .data = p,
				       .data_length = n };
	CHECK(wslay_frame_context_init(&ctx, &cbs, m) == 0);
	size_t sent = 0;
	do {
		ssize_t r = wslay_frame_send(ctx, &io);
		CHECK(r >= 0);
		if (r < 0)
			break;
		sent += (size_t)r;
		io.data = p + sent;
		io.data_length = n - sent;
	} while (sent < n);
	wslay_frame_context_free(ctx);
}

static const size_t SIZES[] = { 0, 1, 125, 126, 65535, 65536, 70000 };

static uint8_t *pattern(size_t n, uint64_t seed)
{
	uint8_t *p = malloc(n ? n : 1);
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(rnd_next(&seed) >> 56);
	return p;
}

static void test_wslay_to_ours(void)
{
	for (size_t i = 0; i < sizeof(SIZES) / sizeof(SIZES[0]); i++) {
		size_t n = SIZES[i];
		uint8_t *data = pattern(n, 7 + n);
		struct membuf m = { 0 };
		uint8_t ping[3] = { 'p', 'i', 'n' };

		/* binary, text, a fragmented binary message with a ping inside */
		wsl_frame(&m, 1, WSLAY_BINARY_FRAME, data, n);
		wsl_frame(&m, 1, WSLAY_TEXT_FRAME, data, n);
		wsl_frame(&m, 0, WSLAY_BINARY_FRAME, data, n / 2);
		wsl_frame(&m, 1, WSLAY_PING, ping, 3);
		wsl_frame(&m, 1, WSLAY_CONTINUATION_FRAME, data + n / 2, n - n / 2);
		struct tr t = run_all(m.out.p, m.out.n, 32u << 20, 0);
		CHECK_MSG(t.frames == 4 && t.controls == 1 && t.errors == 0, "size %zu", n);
		CHECK(t.payload.n == 3 * n);
		if (t.payload.n == 3 * n) {
			CHECK(!n || !memcmp(t.payload.p, data, n));
			CHECK(!n || !memcmp(t.payload.p + n, data, n));
			CHECK(!n || !memcmp(t.payload.p + 2 * n, data, n));
		}
		char want[128];
		snprintf(want, sizeof(want), "B op=2 fin=1 len=%zu\n", n);
		CHECK(!strncmp((char *)t.text.p, want, strlen(want)));
		CHECK(strstr((char *)t.text.p, "B op=0 fin=1") != NULL);
		tr_free(&t);
		free(m.out.p);
		free(data);
	}
}

static void test_ours_to_wslay(void)
{
	static const uint8_t key[4] = { 0x37, 0xfa, 0x21, 0x3d };
	for (size_t i = 0; i < sizeof(SIZES) / sizeof(SIZES[0]); i++) {
		size_t n = SIZES[i];
		uint8_t *data = pattern(n, 99 + n);
		uint8_t *frame = malloc(n + 14);
		size_t h = ws_enc_header(frame, WS_OP_BINARY, n, key);
		memcpy(frame + h, data, n);
		ws_mask(frame + h, n, key, 0);
		CHECK(h == (n < 126 ? 6u : n < 65536 ? 8u : 14u));

		for (size_t step = 0; step < 3; step++) {
			struct membuf m = { .in = frame, .in_n = h + n,
					    .step = step == 0 ? 0 : step == 1 ? 1 : 777 };
			struct wslay_frame_callbacks cbs = { wsl_send, wsl_recv, wsl_mask };
			wslay_frame_context_ptr ctx;
			struct bytes got = { 0 };
			struct wslay_frame_iocb io;
			int fin = 0, op = -1, masked = 0;
			CHECK(wslay_frame_context_init(&ctx, &cbs, &m) == 0);
			for (int guard = 0; guard < 1000000; guard++) {
				memset(&io, 0, sizeof(io));
				ssize_t r = wslay_frame_recv(ctx, &io);
				if (r == WSLAY_ERR_WANT_READ) {
					if (m.in_off < m.in_n)
						continue;
					break;
				}
				CHECK(r >= 0);
				if (r < 0)
					break;
				fin = io.fin;
				op = io.opcode;
				masked = io.mask;
				bytes_add(&got, io.data, io.data_length);
				if (got.n == n && m.in_off == m.in_n)
					break;
			}
			wslay_frame_context_free(ctx);
			CHECK_MSG(got.n == n, "size %zu step %zu: wslay got %zu", n, step, got.n);
			CHECK(!n || (got.n == n && !memcmp(got.p, data, n)));
			CHECK(fin == 1 && op == WS_OP_BINARY && masked == 1);
			free(got.p);
		}
		/* and our decoder in server mode unmasks it back, in any split */
		struct tr t = run_all(frame, h + n, 32u << 20, 1);
		CHECK(t.frames == 1 && t.payload.n == n && (!n || !memcmp(t.payload.p, data, n)));
		tr_free(&t);
		free(frame);
		free(data);
	}
}

/* ---- rejections ---- */

static int expect_error(const char *hex, uint64_t max_frame, int server)
{
	struct bytes b = hex_bytes(hex);
	struct tr t = run_all(b.p, b.n, max_frame, server);
	int code = t.errors ? t.last_code : 0;
	tr_free(&t);
	free(b.p);
	return code;
}

static void test_rejections(void)
{
	CHECK(expect_error("82 81 01 02 03 04 05", 0, 0) == 1002);	/* masked from server */
	CHECK(expect_error("82 01 05", 0, 1) == 1002);		/* unmasked from client */
	CHECK(expect_error("c2 01 01", 0, 0) == 1002);		/* RSV1 */
	CHECK(expect_error("a2 01 01", 0, 0) == 1002);		/* RSV2 */
	CHECK(expect_error("92 01 01", 0, 0) == 1002);		/* RSV3 */
	static const char *ops[] = { "83 00", "84 00", "85 00", "86 00", "87 00",
				     "8b 00", "8c 00", "8d 00", "8e 00", "8f 00" };
	for (size_t i = 0; i < 10; i++)
		CHECK_MSG(expect_error(ops[i], 0, 0) == 1002, "%s", ops[i]);
	CHECK(expect_error("89 7e 00 7e", 0, 0) == 1002);	/* ping of 126 bytes */
	CHECK(expect_error("09 00", 0, 0) == 1002);		/* fragmented ping */
	CHECK(expect_error("88 01 03", 0, 0) == 1002);		/* close with 1 byte */
	CHECK(expect_error("82 7e 00 7d", 0, 0) == 1002);	/* 125 in 16 bits */
	CHECK(expect_error("82 7f 00 00 00 00 00 00 ff ff", 0, 0) == 1002); /* 65535 in 64 */
	CHECK(expect_error("82 7f 80 00 00 00 00 00 00 00", 0, 0) == 1002); /* top bit */
	CHECK(expect_error("82 7f ff ff ff ff ff ff ff ff", 0, 0) == 1002);
	CHECK(expect_error("82 7e 03 e9", 1000, 0) == 1009);	/* 1001 > 1000 */
	CHECK(expect_error("82 7f 00 00 00 01 00 00 00 00", 32u << 20, 0) == 1009);
	CHECK(expect_error("80 01 41", 0, 0) == 1002);		/* CONT alone */
	CHECK(expect_error("82 01 01 80 01 41", 0, 0) == 1002);	/* CONT after FIN */
	CHECK(expect_error("02 01 01 82 01 01", 0, 0) == 1002);	/* new msg in fragmented */
	CHECK(expect_error("02 01 01 81 01 01", 0, 0) == 1002);
	/* the limit itself is fine */
	CHECK(expect_error("82 7e 03 e8", 1000, 0) == 0);
	/* errors come after the good frames before them */
	struct bytes b = hex_bytes("82 02 01 41 89 00 c2 00");
	struct tr t = run_all(b.p, b.n, 0, 0);
	CHECK(t.frames == 1 && t.controls == 1 && t.errors == 1 && t.last_code == 1002);
	tr_free(&t);
	free(b.p);
}

static void test_controls(void)
{
	/* data, ping "abc", data, pong, empty ping, close 1000 "bye" */
	struct bytes b = hex_bytes("82 02 01 41 89 03 61 62 63 82 03 02 42 43 8a 00 89 00 "
				   "88 05 03 e8 62 79 65");
	struct tr t = run_all(b.p, b.n, 0, 0);
	CHECK(t.frames == 2 && t.controls == 4 && t.close_code == 1000 && !t.errors);
	CHECK(strstr((char *)t.text.p, "C op=9 len=3") != NULL);
	CHECK(strstr((char *)t.text.p, "C op=10 len=0") != NULL);
	CHECK(strstr((char *)t.text.p, "C op=8 len=5") != NULL);
	CHECK(t.payload.n == 5 && !memcmp(t.payload.p, "\x01" "A\x02" "BC", 5));
	tr_free(&t);
	free(b.p);

	/* empty data frames give BEGIN and END with no DATA */
	b = hex_bytes("82 00 82 00");
	t = run_all(b.p, b.n, 0, 0);
	CHECK(t.frames == 2 && t.payload.n == 0);
	tr_free(&t);
	free(b.p);

	/* masked control frames in server mode are unmasked */
	uint8_t f[32];
	static const uint8_t key[4] = { 1, 2, 3, 4 };
	size_t h = ws_enc_header(f, WS_OP_PING, 5, key);
	memcpy(f + h, "hello", 5);
	ws_mask(f + h, 5, key, 0);
	struct ws_dec d;
	struct ws_event ev;
	size_t used;
	ws_dec_init(&d, 0, 1);
	CHECK(ws_dec_feed(&d, f, h + 5, &used, &ev) == WS_EV_CONTROL);
	CHECK(ev.len == 5 && !memcmp(ev.data, "hello", 5) && used == h + 5);
	CHECK(ws_dec_feed(&d, f + used, 0, &used, &ev) == WS_EV_NONE);
}

static void test_mask(void)
{
	uint64_t seed = 42;
	uint8_t buf[300], ref[300], key[4] = { 0xde, 0xad, 0xbe, 0xef };

	for (int round = 0; round < 2000; round++) {
		size_t start = rnd_next(&seed) % 9, len = rnd_next(&seed) % 280;
		size_t off = rnd_next(&seed) % 4, cut = len ? rnd_next(&seed) % (len + 1) : 0;
		for (size_t i = 0; i < sizeof(buf); i++)
			buf[i] = ref[i] = (uint8_t)rnd_next(&seed);
		for (size_t i = 0; i < len; i++)
			ref[start + i] ^= key[(off + i) & 3];
		/* in two pieces, the second continuing the key offset */
		ws_mask(buf + start, cut, key, off);
		ws_mask(buf + start + cut, len - cut, key, off + cut);
		CHECK_MSG(!memcmp(buf, ref, sizeof(buf)), "start %zu len %zu off %zu cut %zu",
			  start, len, off, cut);
	}
	uint8_t h[14];
	CHECK(ws_enc_header(h, WS_OP_BINARY, 0, NULL) == 2 && h[0] == 0x82 && h[1] == 0);
	CHECK(ws_enc_header(h, WS_OP_BINARY, 125, NULL) == 2 && h[1] == 125);
	CHECK(ws_enc_header(h, WS_OP_BINARY, 126, NULL) == 4 && h[1] == 126 && h[3] == 126);
	CHECK(ws_enc_header(h, WS_OP_BINARY, 65535, NULL) == 4 && h[2] == 0xff);
	CHECK(ws_enc_header(h, WS_OP_BINARY, 65536, NULL) == 10 && h[1] == 127 && h[7] == 1);
	CHECK(ws_enc_header(h, WS_OP_CLOSE, 2, key) == 6 && h[0] == 0x88 && h[1] == 0x82 &&
	      !memcmp(h + 2, key, 4));
}

/* Random bytes must never crash the decoder (ASan/UBSan watch). */
static void test_garbage(void)
{
	uint64_t seed = 1234;
	uint8_t buf[512];
	for (int round = 0; round < 3000; round++) {
		size_t n = rnd_next(&seed) % sizeof(buf);
		for (size_t i = 0; i < n; i++)
			buf[i] = (uint8_t)rnd_next(&seed);
		if (n)
			buf[0] = (uint8_t)(0x80 | (buf[0] & 0x0f));
		struct tr t = run(buf, n, round % 5, 1 << 16, round & 1);
		tr_free(&t);
	}
	CHECK(1);
}

int main(void)
{
	test_captures();
	test_wslay_to_ours();
	test_ours_to_wslay();
	test_rejections();
	test_controls();
	test_mask();
	test_garbage();
	return check_report("test_wsframe");
}
