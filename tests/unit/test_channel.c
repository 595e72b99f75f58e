/* Channel layer tests: the frame decoder and chan_dec together, fed with
 * real server bytes (captures, plus embedded copies that always run) whole,
 * byte by byte and in random splits; synthetic v5 signals, fragmented
 * messages, ignored channels, port-forward prefixes and errors; the
 * Status decoder on good, odd and hostile input; the client encoders. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stream/channel.h"
#include "stream/wsframe.h"
#include "tests/unit/check.h"
#include "tests/unit/captures.h"

struct rec {
	struct bytes out[256];		/* data per channel */
	int ready, nstatus, nclosed, closed[8], nperr, nproto, nctl, close_code;
	struct k8s_status st;
	struct bytes perr;
	int perr_ch;
	const char *why;
	int ws_error;
};

static void on_data(void *ud, int ch, const uint8_t *p, size_t n)
{
	struct rec *r = ud;
	CHECK(n > 0);
	bytes_add(&r->out[ch & 255], p, n);
}
static void on_ready(void *ud)
{
	struct rec *r = ud;
	CHECK(r->nstatus == 0 && r->out[1].n == 0);	/* ready comes first */
	r->ready++;
}
static void on_status(void *ud, const struct k8s_status *st)
{
	struct rec *r = ud;
	r->nstatus++;
	r->st = *st;
}
static void on_closed(void *ud, int ch)
{
	struct rec *r = ud;
	if (r->nclosed < 8)
		r->closed[r->nclosed] = ch;
	r->nclosed++;
}
static void on_perr(void *ud, int ch, const char *msg, size_t n)
{
	struct rec *r = ud;
	r->nperr++;
	r->perr_ch = ch;
	CHECK(msg[n] == 0);
	bytes_add(&r->perr, msg, n);
}
static void on_proto(void *ud, const char *why)
{
	struct rec *r = ud;
	r->nproto++;
	r->why = why;
}

static const struct chan_cb CB = { on_data, on_ready, on_status, on_closed, on_perr, on_proto };

static void rec_free(struct rec *r)
{
	for (int i = 0; i < 256; i++)
		free(r->out[i].p);
	free(r->perr.p);
}

/* Decodes the stream in the split given by mode (0 whole, 1 bytes, else
 * random with that seed). */
static void feed(struct rec *r, const uint8_t *in, size_t n, int mode,
		 enum chan_proto proto, enum chan_mode cm, uint16_t port)
{
	struct ws_dec d;
	struct chan_dec c;
	uint8_t *buf = malloc(n ? n : 1);
	uint64_t seed = (uint64_t)mode * 7919 + 3;
	size_t off = 0;

	memset(r, 0, sizeof(*r));
	r->close_code = -1;
	memcpy(buf, in, n);
	ws_dec_init(&d, 32u << 20, 0);
	chan_dec_init(&c, proto, cm, port, &CB, r);
	while (off < n) {
		size_t chunk = n - off;
		if (mode == 1)
			chunk = 1;
		else if (mode > 1)
			chunk = 1 + rnd_next(&seed) % (chunk < 500 ? chunk : 500);
		uint8_t *p = buf + off;
		size_t left = chunk;
		for (;;) {
			struct ws_event ev;
			size_t used;
			enum ws_event_type t = ws_dec_feed(&d, p, left, &used, &ev);
			p += used;
			left -= used;
			if (t == WS_EV_NONE)
				break;
			if (t == WS_EV_ERROR) {
				r->ws_error = ev.close_code;
				goto out;
			}
			if (t == WS_EV_CONTROL) {
				r->nctl++;
				if (ev.opcode == WS_OP_CLOSE && ev.len >= 2)
					r->close_code = ev.data[0] << 8 | ev.data[1];
				continue;
			}
			chan_dec_event(&c, &ev);
		}
		off += chunk;
	}
out:
	chan_dec_free(&c);
	free(buf);
}

static int bytes_eq(const struct bytes *b, const void *p, size_t n)
{
	return b->n == n && (!n || !memcmp(b->p, p, n));
}

/* Runs every split and checks each against `check`. */
typedef void (*check_fn)(struct rec *r, const char *what);
static void all_splits(const struct bytes *b, enum chan_proto proto, enum chan_mode cm,
		       uint16_t port, check_fn check, const char *what)
{
	for (int mode = 0; mode < 10; mode++) {
		struct rec r;
		feed(&r, b->p, b->n, mode, proto, cm, port);
		check(&r, what);
		rec_free(&r);
	}
}

/* ---- the transcripts ---- */

static const char EXEC_V4_OK[] =
	"82 01 01 82 05 01 6f 75 74 0a 82 05 02 65 72 72 0a 82 23 03 7b 22 6d 65 74 61 64 61 74 61 22 "
	"3a 7b 7d 2c 22 73 74 61 74 75 73 22 3a 22 53 75 63 63 65 73 73 22 7d 88 02 03 e8";
/* exec-v4-exit3: "sh -c 'echo hello; exit 3'" */
static const char EXEC_V4_EXIT3[] =
	"82 01 01 82 07 01 68 65 6c 6c 6f 0a 82 7e 00 f1 03 7b 22 6d 65 74 61 64 61 74 61 22 3a 7b 7d "
	"2c 22 73 74 61 74 75 73 22 3a 22 46 61 69 6c 75 72 65 22 2c 22 6d 65 73 73 61 67 65 22 3a 22 "
	"63 6f 6d 6d 61 6e 64 20 74 65 72 6d 69 6e 61 74 65 64 20 77 69 74 68 20 6e 6f 6e 2d 7a 65 72 "
	"6f 20 65 78 69 74 20 63 6f 64 65 3a 20 65 72 72 6f 72 20 65 78 65 63 75 74 69 6e 67 20 63 6f "
	"6d 6d 61 6e 64 20 5b 73 68 20 2d 63 20 65 63 68 6f 20 68 65 6c 6c 6f 3b 20 65 78 69 74 20 33 "
	"5d 2c 20 65 78 69 74 20 63 6f 64 65 20 33 22 2c 22 72 65 61 73 6f 6e 22 3a 22 4e 6f 6e 5a 65 "
	"72 6f 45 78 69 74 43 6f 64 65 22 2c 22 64 65 74 61 69 6c 73 22 3a 7b 22 63 61 75 73 65 73 22 "
	"3a 5b 7b 22 72 65 61 73 6f 6e 22 3a 22 45 78 69 74 43 6f 64 65 22 2c 22 6d 65 73 73 61 67 65 "
	"22 3a 22 33 22 7d 5d 7d 7d 88 02 03 e8";
/* port-forward on port 18080 (0x46a0): both prefixes, a reply, close */
static const char PF_SHORT[] =
	"82 03 00 a0 46 82 03 01 a0 46 82 06 00 68 65 6c 6c 6f 88 02 03 e8";

static void chk_ok(struct rec *r, const char *what)
{
	CHECK_MSG(r->ready == 1 && bytes_eq(&r->out[1], "out\n", 4) &&
		  bytes_eq(&r->out[2], "err\n", 4), "%s", what);
	CHECK_MSG(r->nstatus == 1 && r->st.kind == K8S_SUCCESS, "%s", what);
	CHECK_MSG(r->close_code == 1000 && !r->nproto && !r->ws_error, "%s", what);
}

static void chk_exit3(struct rec *r, const char *what)
{
	CHECK_MSG(r->ready == 1 && bytes_eq(&r->out[1], "hello\n", 6) && r->out[2].n == 0, "%s", what);
	CHECK_MSG(r->nstatus == 1 && r->st.kind == K8S_EXIT && r->st.exit_code == 3, "%s", what);
	CHECK(!strcmp(r->st.reason, "NonZeroExitCode"));
	CHECK(strstr(r->st.message, "exit code 3") != NULL);
	CHECK_MSG(r->close_code == 1000 && !r->nproto, "%s", what);
}

static void chk_big(struct rec *r, const char *what)
{
	int all_a = r->out[1].n == 70000;
	for (size_t i = 0; all_a && i < r->out[1].n; i++)
		all_a = r->out[1].p[i] == 'a';
	CHECK_MSG(all_a, "%s: %zu bytes", what, r->out[1].n);
	CHECK_MSG(r->nstatus == 1 && r->st.kind == K8S_SUCCESS && r->close_code == 1000, "%s", what);
}

static void chk_ticker(struct rec *r, const char *what)
{
	CHECK_MSG(bytes_eq(&r->out[1], "tick26\ntick27\ntick28\ntick29\n", 28), "%s", what);
	CHECK_MSG(r->ready == 1 && r->nstatus == 0 && r->close_code == 1000 && !r->nproto, "%s", what);
}

static void chk_pf_short(struct rec *r, const char *what)
{
	CHECK_MSG(r->ready == 1 && bytes_eq(&r->out[0], "hello", 5) && !r->nperr && !r->nproto &&
		  r->close_code == 1000, "%s", what);
}

static void chk_pf(struct rec *r, const char *what)
{
	const struct bytes *o = &r->out[0];
	CHECK_MSG(o->n == 230 && !memcmp(o->p, "HTTP/1.1 200 OK\r\n", 17) &&
		  !memcmp(o->p + 209, "hello-from-pod-netns\n", 21), "%s: %zu", what, o->n);
	CHECK_MSG(!r->nperr && !r->nproto && r->close_code == 1000 && r->out[1].n == 0, "%s", what);
}

static void chk_pf_closed(struct rec *r, const char *what)
{
	CHECK_MSG(r->nperr == 1 && r->perr_ch == 1 && r->out[0].n == 0 && !r->nproto, "%s", what);
	CHECK(r->perr.n > 100 && !memcmp(r->perr.p, "error forwarding port 18081", 27));
	CHECK(r->close_code == 1000);
}

static void chk_proto(struct rec *r, const char *what)
{
	CHECK_MSG(r->nproto == 1, "%s: %d proto errors", what, r->nproto);
}

static void test_embedded(void)
{
	struct bytes b = hex_bytes(EXEC_V4_OK);
	all_splits(&b, CHAN_V4, CHAN_MODE_STREAM, 0, chk_ok, "embedded exec-v4-ok v4");
	all_splits(&b, CHAN_V5, CHAN_MODE_STREAM, 0, chk_ok, "embedded exec-v4-ok v5");
	free(b.p);
	b = hex_bytes(EXEC_V4_EXIT3);
	all_splits(&b, CHAN_V4, CHAN_MODE_STREAM, 0, chk_exit3, "embedded exec-v4-exit3");
	free(b.p);
	b = hex_bytes(PF_SHORT);
	all_splits(&b, CHAN_V4, CHAN_MODE_PORTFORWARD, 18080, chk_pf_short, "embedded pf");
	all_splits(&b, CHAN_V4, CHAN_MODE_PORTFORWARD, 18081, chk_proto, "pf wrong port");
	all_splits(&b, CHAN_V4, CHAN_MODE_PORTFORWARD, 0xa046, chk_proto, "pf byte order");
	free(b.p);
}

/* kube-apiserver 1.34's v5 translator: a missing binary is an
 * InternalError with the runtime's text; nothing on stdout or stderr. */
static void chk_nobinary(struct rec *r, const char *what)
{
	CHECK_MSG(r->ready == 1 && r->out[1].n == 0 && r->out[2].n == 0, "%s", what);
	CHECK_MSG(r->nstatus == 1 && r->st.kind == K8S_FAILURE &&
		  !strcmp(r->st.reason, "InternalError") && r->st.code == 500, "%s", what);
	CHECK_MSG(strstr(r->st.message, "executable file not found") != NULL, "%s: %s", what,
		  r->st.message);
	CHECK_MSG(r->close_code == 1000 && !r->nproto, "%s", what);
}

/* v5 end of stdin (ff 00) reached `cat | wc -c` through the translator. */
static void chk_closestdin(struct rec *r, const char *what)
{
	CHECK_MSG(r->ready == 1 && bytes_eq(&r->out[1], "6\n", 2), "%s", what);
	CHECK_MSG(r->nstatus == 1 && r->st.kind == K8S_SUCCESS && r->close_code == 1000, "%s", what);
}

/* port 80 of the web pod, relayed by the apiserver to the kubelet */
static void chk_pf80(struct rec *r, const char *what)
{
	const struct bytes *o = &r->out[0];
	CHECK_MSG(o->n > 17 && !memcmp(o->p, "HTTP/1.1 200 OK\r\n", 17), "%s: %zu", what, o->n);
	CHECK_MSG(!r->nperr && !r->nproto && r->close_code == 1000 && r->out[1].n == 0, "%s", what);
}

static void test_captures(void)
{
	static const struct {
		const char *file;
		enum chan_proto proto;
		enum chan_mode mode;
		uint16_t port;
		check_fn check;
	} caps[] = {
		/* containerd 1.6's CRI streaming server (the kubelet's code) */
		{ "exec-v4-ok.txt", CHAN_V4, CHAN_MODE_STREAM, 0, chk_ok },
		{ "exec-v4-exit3.txt", CHAN_V4, CHAN_MODE_STREAM, 0, chk_exit3 },
		{ "exec-big.txt", CHAN_V4, CHAN_MODE_STREAM, 0, chk_big },
		{ "attach-v4-ticker.txt", CHAN_V4, CHAN_MODE_STREAM, 0, chk_ticker },
		{ "portforward-v4.txt", CHAN_V4, CHAN_MODE_PORTFORWARD, 18080, chk_pf },
		{ "portforward-closed.txt", CHAN_V4, CHAN_MODE_PORTFORWARD, 18081, chk_pf_closed },
		{ "portforward-v4.txt", CHAN_V4, CHAN_MODE_PORTFORWARD, 18081, chk_proto },
		/* a real kube-apiserver: its v5 translator and its v4 relay */
		{ "apiserver-exec-v5-ok.txt", CHAN_V5, CHAN_MODE_STREAM, 0, chk_ok },
		{ "apiserver-exec-v5-exit3.txt", CHAN_V5, CHAN_MODE_STREAM, 0, chk_exit3 },
		{ "apiserver-exec-v4-exit3.txt", CHAN_V4, CHAN_MODE_STREAM, 0, chk_exit3 },
		{ "apiserver-exec-v5-nobinary.txt", CHAN_V5, CHAN_MODE_STREAM, 0, chk_nobinary },
		{ "apiserver-exec-v5-closestdin.txt", CHAN_V5, CHAN_MODE_STREAM, 0, chk_closestdin },
		{ "apiserver-portforward-v4.txt", CHAN_V4, CHAN_MODE_PORTFORWARD, 80, chk_pf80 },
	};
	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		struct bytes b = cap_load(caps[i].file);
		if (!b.p)
			continue;
		all_splits(&b, caps[i].proto, caps[i].mode, caps[i].port, caps[i].check,
			   caps[i].file);
		free(b.p);
	}
	/* the apiserver's refusals before any upgrade: a Status body */
	static const struct { const char *file, *reason, *text; int code; } refusals[] = {
		{ "apiserver-exec-forbidden.txt", "Forbidden",
		  "User \"fixture-limited\" cannot get resource \"pods/exec\"", 403 },
		{ "apiserver-portforward-forbidden.txt", "Forbidden",
		  "cannot get resource \"pods/portforward\"", 403 },
		{ "apiserver-exec-notfound.txt", "NotFound", "pods \"nosuchpod\" not found", 404 },
	};
	for (size_t i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++) {
		struct bytes b = cap_load(refusals[i].file);
		struct k8s_status st;
		if (!b.p)
			continue;
		CHECK_MSG(k8s_status_parse((const char *)b.p, b.n, &st) == 0 &&
			  st.kind == K8S_FAILURE && !strcmp(st.reason, refusals[i].reason) &&
			  st.code == refusals[i].code && strstr(st.message, refusals[i].text),
			  "%s: %s %d %s", refusals[i].file, st.reason, st.code, st.message);
		free(b.p);
	}
}

/* ---- synthetic streams ---- */

static void run_hex(struct rec *r, const char *hex, enum chan_proto proto, enum chan_mode cm,
		    uint16_t port)
{
	struct bytes b = hex_bytes(hex);
	struct rec tmp;
	/* every split must agree with the whole feed on the basics */
	for (int mode = 1; mode < 6; mode++) {
		feed(&tmp, b.p, b.n, mode, proto, cm, port);
		feed(r, b.p, b.n, 0, proto, cm, port);
		CHECK_MSG(tmp.nproto == r->nproto && tmp.nclosed == r->nclosed &&
			  tmp.nstatus == r->nstatus && tmp.nperr == r->nperr &&
			  bytes_eq(&tmp.out[1], r->out[1].p, r->out[1].n) &&
			  bytes_eq(&tmp.out[0], r->out[0].p, r->out[0].n), "%s split %d", hex, mode);
		rec_free(&tmp);
		rec_free(r);
	}
	feed(r, b.p, b.n, 0, proto, cm, port);
	free(b.p);
}

static void test_stream_rules(void)
{
	struct rec r;

	/* ready only */
	run_hex(&r, "82 01 01", CHAN_V4, CHAN_MODE_STREAM, 0);
	CHECK(r.ready == 1 && r.out[1].n == 0 && !r.nproto);
	rec_free(&r);
	/* a ready frame on ch 3 (no stdout/stderr asked) is no status */
	run_hex(&r, "82 01 03 82 02 03 7b", CHAN_V4, CHAN_MODE_STREAM, 0);
	CHECK(r.ready == 1 && r.nstatus == 1 && r.st.kind == K8S_FAILURE);
	rec_free(&r);
	/* a zero-length message (no channel byte) counts as first, nothing else */
	run_hex(&r, "82 00 82 02 01 41", CHAN_V4, CHAN_MODE_STREAM, 0);
	CHECK(r.ready == 1 && bytes_eq(&r.out[1], "A", 1) && !r.nproto);
	rec_free(&r);
	/* a fragmented message: the channel byte only once */
	run_hex(&r, "02 02 01 61 00 02 62 63 80 01 64", CHAN_V4, CHAN_MODE_STREAM, 0);
	CHECK(bytes_eq(&r.out[1], "abcd", 4) && !r.nproto);
	rec_free(&r);
	/* ... even when its first fragment is empty; pings in between */
	run_hex(&r, "02 00 89 00 00 02 02 78 80 01 79", CHAN_V4, CHAN_MODE_STREAM, 0);
	CHECK(bytes_eq(&r.out[2], "xy", 2) && r.nctl == 1 && !r.nproto);
	rec_free(&r);
	/* channels the server never writes: ignored, not errors */
	run_hex(&r, "82 02 00 41 82 02 04 42 82 02 07 43 82 02 fe 44 82 02 01 45",
		CHAN_V4, CHAN_MODE_STREAM, 0);
	CHECK(bytes_eq(&r.out[1], "E", 1) && r.out[0].n == 0 && r.out[4].n == 0 &&
	      r.out[7].n == 0 && !r.nproto);
	rec_free(&r);
	/* v5 close signal */
	run_hex(&r, "82 02 ff 01 82 02 ff 02 82 02 01 41", CHAN_V5, CHAN_MODE_STREAM, 0);
	CHECK(r.nclosed == 2 && r.closed[0] == 1 && r.closed[1] == 2 && !r.nproto);
	CHECK(bytes_eq(&r.out[1], "A", 1));
	rec_free(&r);
	/* under v4, ff is just an unknown channel */
	run_hex(&r, "82 02 ff 01 82 01 ff 82 03 ff 01 02", CHAN_V4, CHAN_MODE_STREAM, 0);
	CHECK(r.nclosed == 0 && !r.nproto);
	rec_free(&r);
	/* v5: a signal of the wrong length or for channel >= 5 */
	run_hex(&r, "82 01 ff", CHAN_V5, CHAN_MODE_STREAM, 0);
	CHECK(r.nproto == 1 && r.nclosed == 0);
	rec_free(&r);
	run_hex(&r, "82 03 ff 01 02", CHAN_V5, CHAN_MODE_STREAM, 0);
	CHECK(r.nproto == 1 && r.nclosed == 0);
	rec_free(&r);
	run_hex(&r, "82 02 ff 07", CHAN_V5, CHAN_MODE_STREAM, 0);
	CHECK(r.nproto == 1 && r.nclosed == 0);
	rec_free(&r);
	/* text frames: we only speak binary protocols; nothing after counts */
	run_hex(&r, "81 02 31 41 82 02 01 42", CHAN_V4, CHAN_MODE_STREAM, 0);
	CHECK(r.nproto == 1 && r.out[1].n == 0);
	rec_free(&r);
	/* only the first status is reported */
	run_hex(&r, "82 23 03 7b 22 6d 65 74 61 64 61 74 61 22 3a 7b 7d 2c 22 73 74 61 74 75 73 22 "
		    "3a 22 53 75 63 63 65 73 73 22 7d 82 02 03 7b",
		CHAN_V4, CHAN_MODE_STREAM, 0);
	CHECK(r.nstatus == 1 && r.st.kind == K8S_SUCCESS && !r.nproto);
	rec_free(&r);

	/* a status larger than the bound is a protocol error; at the bound fine */
	for (int over = 0; over < 2; over++) {
		size_t n = CHAN_ACC_MAX + (size_t)over;
		uint8_t *f = malloc(n + 20);
		size_t h = ws_enc_header(f, WS_OP_BINARY, n + 1, NULL);
		f[h] = 3;
		memset(f + h + 1, ' ', n);
		memcpy(f + h + 1 + n - 21, "{\"status\":\"Success\"}", 20);
		struct bytes b = { f, h + 1 + n, 0 };
		for (int mode = 0; mode < 3; mode++) {
			feed(&r, b.p, b.n, mode, CHAN_V4, CHAN_MODE_STREAM, 0);
			if (over)
				CHECK(r.nproto == 1 && r.nstatus == 0);
			else
				CHECK(r.nproto == 0 && r.nstatus == 1 && r.st.kind == K8S_SUCCESS);
			rec_free(&r);
		}
		free(f);
	}
}

static void test_portforward_rules(void)
{
	struct rec r;

	/* first message not 3 bytes: short, long, data first */
	run_hex(&r, "82 02 00 a0", CHAN_V4, CHAN_MODE_PORTFORWARD, 18080);
	CHECK(r.nproto == 1);
	rec_free(&r);
	run_hex(&r, "82 04 00 a0 46 00", CHAN_V4, CHAN_MODE_PORTFORWARD, 18080);
	CHECK(r.nproto == 1);
	rec_free(&r);
	run_hex(&r, "82 01 00", CHAN_V4, CHAN_MODE_PORTFORWARD, 18080);
	CHECK(r.nproto == 1);
	rec_free(&r);
	/* channels of other ports */
	run_hex(&r, "82 03 00 a0 46 82 03 02 a0 46", CHAN_V4, CHAN_MODE_PORTFORWARD, 18080);
	CHECK(r.nproto == 1);
	rec_free(&r);
	/* data on ch 0 before ch 1's prefix is fine; empty data is nothing */
	run_hex(&r, "82 03 00 a0 46 82 03 00 61 62 82 01 00 82 03 01 a0 46 82 02 00 63",
		CHAN_V4, CHAN_MODE_PORTFORWARD, 18080);
	CHECK(bytes_eq(&r.out[0], "abc", 3) && !r.nproto && !r.nperr);
	rec_free(&r);
	/* error text comes whole, even split over fragments */
	run_hex(&r, "82 03 00 a0 46 82 03 01 a0 46 02 04 01 62 61 64 80 02 21 0a",
		CHAN_V4, CHAN_MODE_PORTFORWARD, 18080);
	CHECK(r.nperr == 1 && r.perr_ch == 1 && bytes_eq(&r.perr, "bad!\n", 5) && !r.nproto);
	rec_free(&r);
	/* a huge error text is kept truncated, not a protocol error */
	size_t n = 100000;
	uint8_t *f = malloc(n + 40);
	memcpy(f, "\x82\x03\x01\xa0\x46", 5);
	size_t h = ws_enc_header(f + 5, WS_OP_BINARY, n + 1, NULL);
	f[5 + h] = 1;
	memset(f + 6 + h, 'e', n);
	feed(&r, f, 6 + h + n, 2, CHAN_V4, CHAN_MODE_PORTFORWARD, 18080);
	CHECK(r.nperr == 1 && r.perr.n == CHAN_ACC_MAX && !r.nproto);
	rec_free(&r);
	free(f);
	/* a status is not part of port-forward */
	run_hex(&r, "82 03 00 a0 46 82 02 03 7b", CHAN_V4, CHAN_MODE_PORTFORWARD, 18080);
	CHECK(r.nproto == 1 && r.nstatus == 0);
	rec_free(&r);
}

/* ---- status decoding ---- */

static int st(const char *js, struct k8s_status *s)
{
	return k8s_status_parse(js, strlen(js), s);
}

static void test_status(void)
{
	struct k8s_status s;

	CHECK(st("{\"metadata\":{},\"status\":\"Success\"}", &s) == 0 && s.kind == K8S_SUCCESS);
	CHECK(st("{\"status\":\"Failure\",\"reason\":\"NonZeroExitCode\",\"message\":\"m\","
		 "\"details\":{\"causes\":[{\"reason\":\"ExitCode\",\"message\":\"3\"}]}}", &s) == 0);
	CHECK(s.kind == K8S_EXIT && s.exit_code == 3 && !strcmp(s.reason, "NonZeroExitCode") &&
	      !strcmp(s.message, "m") && s.code == 0);
	CHECK(st("{\"status\":\"Failure\",\"details\":{\"causes\":[{\"reason\":\"Other\"},"
		 "{\"reason\":\"ExitCode\",\"message\":\"255\"}]}}", &s) == 0);
	CHECK(s.kind == K8S_EXIT && s.exit_code == 255);
	CHECK(st("{\"status\":\"Failure\",\"details\":{\"causes\":[{\"reason\":\"ExitCode\","
		 "\"message\":\"007\"}]}}", &s) == 0 && s.kind == K8S_EXIT && s.exit_code == 7);
	CHECK(st("{\"status\":\"Failure\",\"details\":{\"causes\":[{\"reason\":\"ExitCode\","
		 "\"message\":\"0\"}]}}", &s) == 0 && s.kind == K8S_EXIT && s.exit_code == 0);
	static const char *bad_codes[] = { "256", "-1", "+3", "", "3 ", " 3", "abc", "0x3",
					   "99999999999999999999", "3.0" };
	for (size_t i = 0; i < sizeof(bad_codes) / sizeof(bad_codes[0]); i++) {
		char js[256];
		snprintf(js, sizeof(js), "{\"status\":\"Failure\",\"message\":\"x\",\"details\":"
			 "{\"causes\":[{\"reason\":\"ExitCode\",\"message\":\"%s\"}]}}", bad_codes[i]);
		CHECK_MSG(st(js, &s) == 0 && s.kind == K8S_FAILURE, "exit code \"%s\"", bad_codes[i]);
	}
	/* the number as JSON number, causes not an array, details not an object */
	CHECK(st("{\"status\":\"Failure\",\"details\":{\"causes\":[{\"reason\":\"ExitCode\","
		 "\"message\":3}]}}", &s) == 0 && s.kind == K8S_FAILURE);
	CHECK(st("{\"status\":\"Failure\",\"details\":{\"causes\":{\"reason\":\"ExitCode\"}}}", &s) == 0 &&
	      s.kind == K8S_FAILURE);
	CHECK(st("{\"status\":\"Failure\",\"details\":7}", &s) == 0 && s.kind == K8S_FAILURE);
	/* exit code text is never parsed from the message */
	CHECK(st("{\"status\":\"Failure\",\"message\":\"exit code 3\"}", &s) == 0 &&
	      s.kind == K8S_FAILURE && !strcmp(s.message, "exit code 3"));
	/* InternalError */
	CHECK(st("{\"metadata\":{},\"status\":\"Failure\",\"message\":\"Internal error occurred: "
		 "unable to upgrade connection: container not found (\\\"app\\\")\",\"reason\":"
		 "\"InternalError\",\"details\":{\"causes\":[{\"message\":\"unable to upgrade\"}]},"
		 "\"code\":500}", &s) == 0);
	CHECK(s.kind == K8S_FAILURE && s.code == 500 && !strcmp(s.reason, "InternalError") &&
	      !strcmp(s.message, "Internal error occurred: unable to upgrade connection: "
			  "container not found (\"app\")"));
	/* not JSON: the text is kept */
	CHECK(st("container not found (\"app\")", &s) == -1 && s.kind == K8S_FAILURE &&
	      !strcmp(s.message, "container not found (\"app\")"));
	CHECK(st("{\"status\":\"Succ", &s) == -1 && s.kind == K8S_FAILURE &&
	      !strcmp(s.message, "{\"status\":\"Succ"));
	CHECK(st("[1,2]", &s) == -1 && s.kind == K8S_FAILURE);
	CHECK(st("null", &s) == -1 && st("\"Success\"", &s) == -1 && st("", &s) == -1);
	CHECK(k8s_status_parse(NULL, 0, &s) == -1 && s.kind == K8S_FAILURE && !s.message[0]);
	/* no message: the raw text stands in; control bytes are masked */
	CHECK(st("{\"status\":\"Failure\",\"reason\":\"Weird\"}", &s) == 0 && s.kind == K8S_FAILURE &&
	      !strcmp(s.message, "{\"status\":\"Failure\",\"reason\":\"Weird\"}"));
	CHECK(k8s_status_parse("bad\0\x1b[2Jtext", 12, &s) == -1 && !strcmp(s.message, "bad  [2Jtext"));
	/* huge: message and reason truncated, on a UTF-8 boundary */
	size_t big = 1 << 20;
	char *h = malloc(big + 200);
	int k = sprintf(h, "{\"status\":\"Failure\",\"reason\":\"");
	for (int i = 0; i < 100; i++)
		h[k++] = 'R';
	k += sprintf(h + k, "\",\"message\":\"a");
	for (size_t i = 0; i < big / 2; i++) {
		h[k++] = (char)0xc3;	/* U+00E9, two bytes each */
		h[k++] = (char)0xa9;
	}
	k += sprintf(h + k, "\"}");
	CHECK(k8s_status_parse(h, (size_t)k, &s) == 0 && s.kind == K8S_FAILURE);
	CHECK(strlen(s.reason) == 63 && strlen(s.message) == 511 &&
	      (unsigned char)s.message[510] == 0xa9);
	/* huge and not JSON */
	memset(h, 'z', big);
	CHECK(k8s_status_parse(h, big, &s) == -1 && strlen(s.message) == 511);
	/* deep nesting: cJSON's limit, no crash */
	for (size_t i = 0; i < 100000; i++)
		h[i] = '[';
	CHECK(k8s_status_parse(h, 100000, &s) == -1);
	/* random mutations of a real status */
	const char *base = "{\"metadata\":{},\"status\":\"Failure\",\"message\":\"m\",\"reason\":"
			   "\"NonZeroExitCode\",\"details\":{\"causes\":[{\"reason\":\"ExitCode\","
			   "\"message\":\"3\"}]}}";
	size_t bl = strlen(base);
	uint64_t seed = 77;
	for (int round = 0; round < 20000; round++) {
		memcpy(h, base, bl);
		size_t len = bl;
		int muts = 1 + (int)(rnd_next(&seed) % 4);
		for (int m = 0; m < muts; m++) {
			size_t at = rnd_next(&seed) % len;
			switch (rnd_next(&seed) % 3) {
			case 0: h[at] = (char)rnd_next(&seed); break;
			case 1: len = at; break;
			default: h[at] = "{}[]\",:0 "[rnd_next(&seed) % 9]; break;
			}
			if (!len)
				break;
		}
		k8s_status_parse(h, len, &s);
		CHECK(s.kind == K8S_SUCCESS || s.kind == K8S_FAILURE ||
		      (s.kind == K8S_EXIT && s.exit_code >= 0 && s.exit_code <= 255));
	}
	free(h);
}

/* ---- random garbage through both layers ---- */

static void test_garbage(void)
{
	uint64_t seed = 4242;
	uint8_t buf[600];
	for (int round = 0; round < 4000; round++) {
		size_t n = 0;
		/* mostly valid frame headers with random payloads */
		while (n < sizeof(buf) - 140) {
			size_t len = rnd_next(&seed) % 120;
			uint8_t op = (rnd_next(&seed) % 8) ? 0x82 : (uint8_t)rnd_next(&seed);
			buf[n++] = op;
			buf[n++] = (uint8_t)len;
			for (size_t i = 0; i < len; i++)
				buf[n++] = (uint8_t)(rnd_next(&seed) % 4 ? rnd_next(&seed) % 6 : 0xff);
		}
		struct rec r;
		feed(&r, buf, n, round % 4, round & 1 ? CHAN_V5 : CHAN_V4,
		     round % 3 ? CHAN_MODE_STREAM : CHAN_MODE_PORTFORWARD, (uint16_t)round);
		CHECK(r.nproto <= 1);
		rec_free(&r);
	}
}

/* ---- encoders ---- */

static void test_encoders(void)
{
	static const uint8_t key[4] = { 0x11, 0x22, 0x33, 0x44 };
	uint8_t f[1000 + CHAN_FRAME_OVERHEAD];
	struct ws_dec d;
	struct ws_event ev;
	size_t used, n;

	n = chan_enc_data(f, CH_STDIN, "foo\n", 4, key);
	CHECK(n == 6 + 5 && f[0] == 0x82 && f[1] == 0x85);
	ws_dec_init(&d, 0, 1);
	CHECK(ws_dec_feed(&d, f, n, &used, &ev) == WS_EV_MSG_BEGIN && ev.length == 5);
	CHECK(ws_dec_feed(&d, f + used, n - used, &used, &ev) == WS_EV_MSG_DATA &&
	      ev.len == 5 && !memcmp(ev.data, "\x00" "foo\n", 5));

	/* unmasked form, for a test server: protocol.md's example bytes */
	n = chan_enc_data(f, CH_STDIN, "foo\n", 4, NULL);
	CHECK(n == 7 && !memcmp(f, "\x82\x05\x00" "foo\n", 7));
	n = chan_enc_close(f, CH_STDIN, NULL);
	CHECK(n == 4 && !memcmp(f, "\x82\x02\xff\x00", 4));
	n = chan_enc_close(f, CH_STDIN, key);
	CHECK(n == 8 && f[1] == 0x82 && (f[6] ^ key[0]) == 0xff && (f[7] ^ key[1]) == 0);
	n = chan_enc_resize(f, sizeof(f), 80, 24, NULL);
	CHECK(n == 2 + 1 + 25 && !memcmp(f + 2, "\x04{\"Width\":80,\"Height\":24}\n", 26));
	n = chan_enc_resize(f, sizeof(f), 70000, 1, NULL);
	CHECK(n > 0 && !memcmp(f + 3, "{\"Width\":65535,\"Height\":1}\n", 27));
	CHECK(chan_enc_resize(f, 20, 80, 24, key) == 0);

	/* a big frame gets the 16-bit length; overhead bound holds */
	uint8_t payload[1000];
	memset(payload, 'q', sizeof(payload));
	n = chan_enc_data(f, CH_STDIN, payload, sizeof(payload), key);
	CHECK(n == 8 + 1001 && n <= sizeof(payload) + CHAN_FRAME_OVERHEAD);

	CHECK(chan_proto_from_name("v4.channel.k8s.io") == CHAN_V4);
	CHECK(chan_proto_from_name(" v5.channel.k8s.io ") == CHAN_V5);
	CHECK(chan_proto_from_name("v4.base64.channel.k8s.io") == -1);
	CHECK(chan_proto_from_name("channel.k8s.io") == -1);
	CHECK(chan_proto_from_name("") == -1 && chan_proto_from_name(NULL) == -1);
	CHECK(chan_proto_from_name("V4.channel.k8s.io") == -1);
}

int main(void)
{
	test_embedded();
	test_captures();
	test_stream_rules();
	test_portforward_rules();
	test_status();
	test_garbage();
	test_encoders();
	return check_report("test_channel");
}
