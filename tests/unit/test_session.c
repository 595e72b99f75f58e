/* The session core and the WebSocket transport without a mount or an API
 * server: session_start_over() runs a session on a real multiplexer loop
 * over one end of a socketpair; this file is the server on the other end
 * (scripted frames in, frames out).  Covered: output delivery and the
 * normal end, stdin frames, a lost connection is EIO, hang-up sends a
 * Close, a pong overtakes queued stdin, and the port-forward settle
 * verdicts (refused, data, window passed). */
#include "stream/channel.h"
#include "stream/conn.h"
#include "stream/mux.h"
#include "stream/session.h"
#include "stream/wsframe.h"
#include "tests/unit/check.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- the fake server ---- */

struct srv {
	int fd;
	struct ws_dec wd;
	uint8_t buf[256 * 1024];
	size_t have, off;
};

static void srv_frame(struct srv *v, int opcode, const void *p, size_t n)
{
	uint8_t h[14];
	size_t hl = ws_enc_header(h, opcode, n, NULL);

	CHECK(write(v->fd, h, hl) == (ssize_t)hl);
	if (n)
		CHECK(write(v->fd, p, n) == (ssize_t)n);
}

static void srv_chan(struct srv *v, int ch, const char *s, size_t n)
{
	uint8_t m[512];

	m[0] = (uint8_t)ch;
	memcpy(m + 1, s, n);
	srv_frame(v, WS_OP_BINARY, m, n + 1);
}

/* The next frame from the client: its opcode (-1 at EOF or after 5 s),
 * payload in out (up to cap; *len is the full length). */
static int srv_read(struct srv *v, uint8_t *out, size_t cap, size_t *len)
{
	int op = -1;

	*len = 0;
	for (;;) {
		struct ws_event ev;
		size_t used = 0;
		enum ws_event_type t = ws_dec_feed(&v->wd, v->buf + v->off, v->have - v->off, &used, &ev);

		v->off += used;
		if (t == WS_EV_MSG_BEGIN) {
			op = ev.opcode;
		} else if (t == WS_EV_MSG_DATA) {
			if (*len + ev.len <= cap)
				memcpy(out + *len, ev.data, ev.len);
			*len += ev.len;
		} else if (t == WS_EV_MSG_END) {
			return op;
		} else if (t == WS_EV_CONTROL) {
			memcpy(out, ev.data, ev.len < cap ? ev.len : cap);
			*len = ev.len;
			return ev.opcode;
		} else if (t == WS_EV_ERROR) {
			return -2;
		} else {
			struct pollfd p = { .fd = v->fd, .events = POLLIN };
			ssize_t r;

			if (poll(&p, 1, 5000) <= 0)
				return -1;
			v->have = v->off = 0;
			r = read(v->fd, v->buf, sizeof(v->buf));
			if (r <= 0)
				return -1;
			v->have = (size_t)r;
		}
	}
}

/* ---- the client side ---- */

struct ends {
	int ended, settled, settle_err;
	pthread_mutex_t lock;
};

static void on_end(void *ud, struct session *s)
{
	struct ends *e = ud;

	(void)s;
	pthread_mutex_lock(&e->lock);
	e->ended++;
	pthread_mutex_unlock(&e->lock);
}

static void on_settled(void *ud, struct session *s, int err)
{
	struct ends *e = ud;

	(void)s;
	pthread_mutex_lock(&e->lock);
	e->settled++;
	e->settle_err = err;
	pthread_mutex_unlock(&e->lock);
}

static int get(struct ends *e, int *field)
{
	int v;

	pthread_mutex_lock(&e->lock);
	v = *field;
	pthread_mutex_unlock(&e->lock);
	return v;
}

static struct session *start(struct srv *v, struct session_params *p, const char *proto,
			     struct ends *e, int sndbuf)
{
	int sv[2];
	char err[256];
	int perr = 0;
	struct session *s;

	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	if (sndbuf)
		setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	memset(v, 0, sizeof(*v));
	v->fd = sv[1];
	ws_dec_init(&v->wd, 1u << 26, 1);
	p->ns = "ns";
	p->pod = "pod";
	s = session_start_over(conn_from_fd(sv[0]), proto, p, on_end, e, &perr, err, sizeof(err));
	CHECK_MSG(s != NULL, "%d %s", perr, err);
	return s;
}

/* Read from a buffer until n bytes came or it ended: the bytes, and the
 * final return (0 EOF, -errno, or 1 when n bytes arrived first). */
static int drain(struct chanbuf *b, char *out, size_t n, size_t *got)
{
	struct cb_reader *r = chanbuf_reader_open(b, NULL, NULL);
	int rc = -ETIMEDOUT;

	*got = 0;
	for (int i = 0; i < 5000 && *got < n; i++) {
		ssize_t k = chanbuf_read(r, out + *got, n - *got);

		if (k > 0) {
			*got += (size_t)k;
			continue;
		}
		if (k != -EAGAIN) {
			rc = (int)k;
			break;
		}
		usleep(1000);
	}
	if (*got == n && rc == -ETIMEDOUT) {
		char c;
		ssize_t k = -EAGAIN;

		for (int i = 0; i < 5000 && k == -EAGAIN; i++, usleep(1000))
			k = chanbuf_read(r, &c, 1);
		rc = k == 0 ? 0 : k < 0 ? (int)k : 1;
	}
	chanbuf_reader_close(r);
	return rc;
}

/* Until the session has ended and its end callback ran (e outlives
 * nothing that may still call into it). */
static void wait_state(struct session *s, struct ends *e, enum sess_state want)
{
	for (int i = 0; i < 5000 && (session_state(s, NULL, NULL, 0) != want || !get(e, &e->ended)); i++)
		usleep(1000);
}

static void test_exec_roundtrip(void)
{
	struct session_params p = { .kind = SESS_EXEC, .container = "c", .in = 1, .out = 1, .err = 1 };
	struct ends e = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct srv v;
	struct session *s = start(&v, &p, "v5.channel.k8s.io", &e, 0);
	uint8_t f[64];
	size_t n;
	char out[16];
	const char *st = "{\"kind\":\"Status\",\"status\":\"Success\"}";

	srv_chan(&v, CH_STDOUT, "", 0);		/* ready */
	srv_chan(&v, CH_STDOUT, "hello", 5);
	CHECK(chanbuf_write(session_input(s), "abc", 3) == 3);
	CHECK(srv_read(&v, f, sizeof(f), &n) == WS_OP_BINARY && n == 4 && f[0] == CH_STDIN &&
	      !memcmp(f + 1, "abc", 3));
	srv_chan(&v, CH_ERROR, st, strlen(st));
	srv_frame(&v, WS_OP_CLOSE, "\x03\xe8", 2);
	CHECK(drain(session_output(s, CH_STDOUT), out, 5, &n) == 0 && n == 5 &&
	      !memcmp(out, "hello", 5));
	wait_state(s, &e, SESS_EXITED);
	CHECK(session_state(s, NULL, NULL, 0) == SESS_EXITED && get(&e, &e.ended) == 1);
	CHECK(srv_read(&v, f, sizeof(f), &n) == WS_OP_CLOSE);	/* the reply */
	session_put(s);
	close(v.fd);
}

static void test_lost_is_eio(void)
{
	struct session_params p = { .kind = SESS_EXEC, .container = "c", .out = 1 };
	struct ends e = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct srv v;
	struct session *s = start(&v, &p, "v5.channel.k8s.io", &e, 0);
	char out[16];
	size_t n;

	srv_chan(&v, CH_STDOUT, "part", 4);
	close(v.fd);		/* no status: never a clean end */
	CHECK(drain(session_output(s, CH_STDOUT), out, 4, &n) == -EIO && n == 4);
	wait_state(s, &e, SESS_LOST);
	CHECK(session_state(s, NULL, NULL, 0) == SESS_LOST && get(&e, &e.ended) == 1);
	session_put(s);
}

static void test_hangup_sends_close(void)
{
	struct session_params p = { .kind = SESS_ATTACH, .container = "c", .out = 1 };
	struct ends e = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct srv v;
	struct session *s = start(&v, &p, "v4.channel.k8s.io", &e, 0);
	uint8_t f[16];
	size_t n;
	char why[64];

	session_hangup(s);
	CHECK(srv_read(&v, f, sizeof(f), &n) == WS_OP_CLOSE && n == 2 && f[0] == 3 && f[1] == 0xe8);
	wait_state(s, &e, SESS_LOST);
	CHECK(session_state(s, NULL, why, sizeof(why)) == SESS_LOST && !strcmp(why, "hung up"));
	CHECK(session_close_input(s) == -EINVAL);	/* no stdin asked for */
	session_put(s);
	close(v.fd);
}

/* With stdin frames queued behind a full socket, a ping's pong must not
 * wait for them: it goes at the next frame boundary. */
static void test_pong_first(void)
{
	struct session_params p = { .kind = SESS_EXEC, .container = "c", .in = 1, .out = 1,
				    .buffer = 4u << 20 };
	struct ends e = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct srv v;
	struct session *s = start(&v, &p, "v5.channel.k8s.io", &e, 4096);
	static uint8_t big[1u << 20], f[64 * 1024];
	size_t n, before = 0, total = 0;
	int op;

	memset(big, 'x', sizeof(big));
	CHECK(chanbuf_write(session_input(s), big, sizeof(big)) == sizeof(big));
	usleep(200000);		/* the loop fills its queue and the socket */
	srv_frame(&v, WS_OP_PING, "hi", 2);
	usleep(100000);
	while ((op = srv_read(&v, f, sizeof(f), &n)) == WS_OP_BINARY)
		before += n;
	CHECK_MSG(op == WS_OP_PONG && n == 2 && !memcmp(f, "hi", 2), "op %d", op);
	/* at most what the socket held and the frame on the wire, never the
	 * 128 KiB queue behind them */
	CHECK_MSG(before < 96 * 1024, "%zu stdin bytes went before the pong", before);
	total = before;
	while (total < sizeof(big) + sizeof(big) / (32 * 1024) &&
	       srv_read(&v, f, sizeof(f), &n) == WS_OP_BINARY)
		total += n;
	CHECK_MSG(total == sizeof(big) + sizeof(big) / (32 * 1024), "%zu", total);
	session_hangup(s);
	wait_state(s, &e, SESS_LOST);
	session_put(s);
	close(v.fd);
}

/* An echo server on its own thread: every stdin frame comes back as
 * stdout, as the fixture's `cat` does, with both directions full. */
static void *echo_server(void *arg)
{
	struct srv *v = arg;
	static uint8_t f[64 * 1024];
	size_t n;
	int op;

	while ((op = srv_read(v, f, sizeof(f), &n)) == WS_OP_BINARY) {
		if (n > 1 && f[0] == CH_STDIN) {
			f[0] = CH_STDOUT;
			srv_frame(v, WS_OP_BINARY, f, n);
		}
	}
	return (void *)(intptr_t)op;
}

static void test_echo_both_ways(void)
{
	struct session_params p = { .kind = SESS_ATTACH, .container = "c", .in = 1, .out = 1,
				    .broadcast = 1, .buffer = 1u << 20 };
	struct ends e = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct srv v;
	struct session *s = start(&v, &p, "v5.channel.k8s.io", &e, 16384);
	struct cb_reader *r = chanbuf_reader_open(session_output(s, CH_STDOUT), NULL, NULL);
	size_t total = 24u << 20, sent = 0, got = 0, bad = 0;
	static uint8_t block[100000], in[65536];
	pthread_t th;
	void *op;

	for (size_t i = 0; i < sizeof(block); i++)
		block[i] = (uint8_t)(i * 7 + 3);
	CHECK(pthread_create(&th, NULL, echo_server, &v) == 0);
	while (got < total) {
		if (sent < total) {
			size_t want = total - sent < sizeof(block) ? total - sent : sizeof(block);
			size_t off = sent % sizeof(block), k = sizeof(block) - off < want ?
				sizeof(block) - off : want;

			sent += chanbuf_write(session_input(s), block + off, k);
		}
		for (;;) {
			ssize_t k = chanbuf_read(r, in, sizeof(in));

			if (k <= 0) {
				if (k != -EAGAIN) {
					CHECK_MSG(0, "read %zd after %zu bytes", k, got);
					got = total;
				}
				break;
			}
			for (ssize_t i = 0; i < k; i++)
				bad += in[i] != block[(got + (size_t)i) % sizeof(block)];
			got += (size_t)k;
		}
		usleep(100);
	}
	CHECK_MSG(bad == 0 && session_state(s, NULL, NULL, 0) == SESS_RUNNING, "%zu bad bytes", bad);
	chanbuf_reader_close(r);
	session_hangup(s);
	pthread_join(th, &op);
	CHECK_MSG((intptr_t)op == WS_OP_CLOSE, "the server saw %d", (int)(intptr_t)op);
	wait_state(s, &e, SESS_LOST);
	session_put(s);
	close(v.fd);
}

static void port_case(const char *what, long settle_ms, int want_err)
{
	struct session_params p = { .kind = SESS_PORT, .port = 80, .on_settled = on_settled,
				    .settle_ms = settle_ms };
	struct ends e = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct srv v;
	struct session *s;
	static const char refused[] = "\x50\x00" "error forwarding port 80: connection refused";

	p.settled_ud = &e;
	s = start(&v, &p, "v4.channel.k8s.io", &e, 0);
	srv_chan(&v, 0, "\x50\x00", 2);		/* port prefixes, data and error */
	srv_chan(&v, 1, "\x50\x00", 2);
	if (!strcmp(what, "refused"))
		srv_chan(&v, 1, refused + 2, sizeof(refused) - 3);
	else if (!strcmp(what, "data"))
		srv_chan(&v, 0, "pong", 4);
	for (int i = 0; i < 5000 && !get(&e, &e.settled); i++)
		usleep(1000);
	CHECK_MSG(get(&e, &e.settled) == 1 && get(&e, &e.settle_err) == want_err, "%s: %d %d", what,
		  get(&e, &e.settled), get(&e, &e.settle_err));
	session_hangup(s);
	wait_state(s, &e, want_err ? SESS_FAILED : SESS_LOST);
	CHECK(get(&e, &e.settled) == 1);	/* once */
	session_put(s);
	close(v.fd);
}

int main(void)
{
	mux_set_keepalive(0, 0);
	test_exec_roundtrip();
	test_lost_is_eio();
	test_hangup_sends_close();
	test_pong_first();
	test_echo_both_ways();
	port_case("refused", 10000, ECONNREFUSED);
	port_case("data", 10000, 0);
	port_case("window", 50, 0);
	mux_shutdown();		/* joins every thread stream/ started */
	return check_report("test_session");
}
