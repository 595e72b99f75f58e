/* The bench's floor: the least CPU a client can spend per byte on one
 * Kubernetes stream on this machine.  One blocking TLS connection
 * (OpenSSL), the WebSocket upgrade, and podfs's own frame and channel
 * codecs (stream/wsframe.c, stream/channel.c, linked, not copied) fed
 * straight from a 1 MiB receive buffer; payload is counted and dropped.
 * No threads, no FUSE, no event loop: what is left is TLS + framing.
 * Client frames carry a random mask key per frame, as RFC 6455 requires
 * of a real client, so masking is part of the floor.
 *
 *   floor STATE out NS POD CONTAINER ARGV...   exec: count stdout
 *   floor STATE in  NS POD CONTAINER BYTES ARGV...   exec: BYTES zeros
 *                              into stdin, v5 close, print the stdout
 *   floor STATE pf  NS POD PORT BYTES     port-forward: BYTES to an echo
 *                              port and back, at most 1 MiB in flight
 *   floor STATE rtt NS POD CONTAINER N    attach: N one-byte round trips,
 *                              one latency (µs) a line
 *
 * STATE is a directory with port, token and ca.crt (the fixture's and the
 * reference server's state).  Throughput modes print "bytes=N seconds=S"
 * (and "out=..." for in), as bench/wsraw.py does. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "stream/channel.h"
#include "stream/wsframe.h"

#define RBUF (1u << 20)
#define CHUNK (256u * 1024)	/* stdin / port data per frame */

struct floor {
	SSL *ssl;
	struct ws_dec wd;
	struct chan_dec cd;
	uint8_t *rbuf, *wbuf;
	size_t have, pos;		/* undecoded input in rbuf[pos..have) */
	unsigned long long bytes;	/* payload on the counted channel */
	int count_ch, closed, ended;
	char out[256];			/* mode in: the command's stdout */
	size_t out_len;
};

static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("floor: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	ERR_print_errors_fp(stderr);
	exit(1);
}

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static void slurp(const char *dir, const char *name, char *out, size_t cap)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "r");
	if (!f || !fgets(out, (int)cap, f))
		die("cannot read %s", path);
	fclose(f);
	out[strcspn(out, "\r\n")] = 0;
}

/* ---- channel callbacks ------------------------------------------------ */

static void on_data(void *ud, int ch, const uint8_t *p, size_t n)
{
	struct floor *f = ud;
	if (ch == f->count_ch)
		f->bytes += n;
	if (ch == CH_STDOUT && f->out_len + n < sizeof(f->out)) {
		memcpy(f->out + f->out_len, p, n);
		f->out_len += n;
	}
}

static void on_status(void *ud, const struct k8s_status *st)
{
	struct floor *f = ud;
	f->ended = 1;
	if (st->kind == K8S_FAILURE)
		fprintf(stderr, "floor: status: %s\n", st->message);
}

static void on_port_error(void *ud, int ch, const char *msg, size_t n)
{
	(void)ud;
	die("port-forward error on channel %d: %.*s", ch, (int)n, msg);
}

static void on_proto_error(void *ud, const char *why)
{
	(void)ud;
	die("channel protocol: %s", why);
}

static const struct chan_cb callbacks = {
	.data = on_data, .status = on_status, .port_error = on_port_error,
	.proto_error = on_proto_error,
};

/* ---- TLS and WebSocket ------------------------------------------------ */

static void send_all(struct floor *f, const void *p, size_t n)
{
	size_t done;
	while (n) {
		if (SSL_write_ex(f->ssl, p, n, &done) != 1)
			die("TLS write failed");
		p = (const char *)p + done;
		n -= done;
	}
}

static void send_frame(struct floor *f, int ch, const void *p, size_t n)
{
	uint8_t mask[4];
	if (RAND_bytes(mask, sizeof(mask)) != 1)
		die("no random mask");
	send_all(f, f->wbuf, ch == CH_CLOSE_SIGNAL ? chan_enc_close(f->wbuf, CH_STDIN, mask)
						    : chan_enc_data(f->wbuf, ch, p, n, mask));
}

/* Decodes everything buffered (feeding the decoder until it says it needs
 * input, so a frame's MSG_END is seen as soon as its last byte is); reads
 * once more from TLS only when nothing was decoded.  Returns 0 at the end
 * of the stream. */
static int pump(struct floor *f)
{
	int events = 0;
	for (;;) {
		struct ws_event ev;
		size_t used;
		enum ws_event_type t = ws_dec_feed(&f->wd, f->rbuf + f->pos, f->have - f->pos,
						   &used, &ev);
		f->pos += used;
		if (t == WS_EV_NONE)
			break;
		events++;
		if (t == WS_EV_ERROR)
			die("WebSocket: %s", ev.error);
		if (t == WS_EV_CONTROL && ev.opcode == WS_OP_CLOSE) {
			f->closed = 1;
			return 0;
		}
		if (t != WS_EV_CONTROL)
			chan_dec_event(&f->cd, &ev);
	}
	f->pos = f->have = 0;
	if (events)
		return 1;
	size_t got;
	if (SSL_read_ex(f->ssl, f->rbuf, RBUF, &got) != 1) {
		f->closed = 1;
		return 0;
	}
	f->have = got;
	return 1;
}

static void connect_ws(struct floor *f, const char *state, const char *path,
		       const char *proto, enum chan_mode mode, uint16_t port)
{
	char sport[32], token[512], ca[4096];
	slurp(state, "port", sport, sizeof(sport));
	slurp(state, "token", token, sizeof(token));
	snprintf(ca, sizeof(ca), "%s/ca.crt", state);

	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx || SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1)
		die("CA %s", ca);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(atoi(sport)) };
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die("connect 127.0.0.1:%s: %s", sport, strerror(errno));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	f->ssl = SSL_new(ctx);
	X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(f->ssl), "127.0.0.1");
	SSL_set_fd(f->ssl, fd);
	if (SSL_connect(f->ssl) != 1)
		die("TLS handshake");

	char req[8192];
	int n = snprintf(req, sizeof(req),
			 "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nUpgrade: websocket\r\n"
			 "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
			 "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: %s\r\n"
			 "Authorization: Bearer %s\r\n\r\n", path, sport, proto, token);
	if (n < 0 || (size_t)n >= sizeof(req))
		die("request too long");
	send_all(f, req, (size_t)n);
	f->rbuf = malloc(RBUF);
	f->wbuf = malloc(CHUNK + CHAN_FRAME_OVERHEAD);
	if (!f->rbuf || !f->wbuf)
		die("out of memory");
	char *end = NULL;
	while (!end) {
		size_t got;
		if (f->have >= RBUF - 1 || SSL_read_ex(f->ssl, f->rbuf + f->have,
						      RBUF - 1 - f->have, &got) != 1)
			die("connection closed during the upgrade");
		f->have += got;
		f->rbuf[f->have] = 0;
		end = strstr((char *)f->rbuf, "\r\n\r\n");
	}
	if (strncmp((char *)f->rbuf, "HTTP/1.1 101", 12))
		die("upgrade refused: %.200s", (char *)f->rbuf);
	f->pos = (size_t)(end + 4 - (char *)f->rbuf);
	ws_dec_init(&f->wd, 32u << 20, 0);
	chan_dec_init(&f->cd, chan_proto_from_name(proto), mode, port, &callbacks, f);
}

/* ---- modes -------------------------------------------------------------- */

/* a: NS POD CONTAINER, then cmd[0..ncmd).  Arguments are URL-safe here
 * (the bench passes numbers, flags and paths). */
static void exec_path(char *out, size_t cap, char **a, int stdin_on, char **cmd, int ncmd)
{
	int n = snprintf(out, cap, "/api/v1/namespaces/%s/pods/%s/exec?container=%s"
			 "&stdout=true&stderr=true%s", a[0], a[1], a[2],
			 stdin_on ? "&stdin=true" : "");
	for (int i = 0; i < ncmd && n > 0 && (size_t)n < cap; i++)
		n += snprintf(out + n, cap - (size_t)n, "&command=%s", cmd[i]);
	if (n < 0 || (size_t)n >= cap)
		die("command too long");
}

static void mode_out(struct floor *f, const char *state, char **a, int argc)
{
	char path[8192];
	exec_path(path, sizeof(path), a, 0, a + 3, argc - 3);
	double t0 = now();
	f->count_ch = CH_STDOUT;
	connect_ws(f, state, path, "v5.channel.k8s.io", CHAN_MODE_STREAM, 0);
	while (pump(f))
		;
	printf("bytes=%llu seconds=%.6f\n", f->bytes, now() - t0);
}

static void mode_in(struct floor *f, const char *state, char **a, int argc)
{
	char path[8192];
	unsigned long long left = strtoull(a[3], NULL, 10), total = left;
	exec_path(path, sizeof(path), a, 1, a + 4, argc - 4);
	double t0 = now();
	f->count_ch = -1;
	connect_ws(f, state, path, "v5.channel.k8s.io", CHAN_MODE_STREAM, 0);
	static uint8_t zeros[CHUNK];
	while (left) {
		size_t n = left < CHUNK ? (size_t)left : CHUNK;
		send_frame(f, CH_STDIN, zeros, n);
		left -= n;
	}
	send_frame(f, CH_CLOSE_SIGNAL, NULL, 0);
	while (pump(f))
		;
	f->out[f->out_len] = 0;
	f->out[strcspn(f->out, "\r\n")] = 0;
	printf("bytes=%llu seconds=%.6f out=%s\n", total, now() - t0, f->out);
}

static void mode_pf(struct floor *f, const char *state, char **a)
{
	char path[1024];
	unsigned long long n = strtoull(a[3], NULL, 10), sent = 0;
	snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods/%s/portforward?ports=%s",
		 a[0], a[1], a[2]);
	double t0 = now();
	f->count_ch = 0;
	connect_ws(f, state, path, "v4.channel.k8s.io", CHAN_MODE_PORTFORWARD,
		   (uint16_t)atoi(a[2]));
	static uint8_t zeros[CHUNK];
	while (f->bytes < n && !f->closed) {
		if (sent < n) {
			size_t k = n - sent < CHUNK ? (size_t)(n - sent) : CHUNK;
			send_frame(f, 0, zeros, k);
			sent += k;
		}
		while (f->bytes < n && !f->closed && (sent - f->bytes > RBUF || sent == n))
			pump(f);
	}
	printf("bytes=%llu seconds=%.6f\n", f->bytes, now() - t0);
}

static void mode_rtt(struct floor *f, const char *state, char **a)
{
	char path[1024];
	int n = atoi(a[3]);
	snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods/%s/attach?container=%s"
		 "&stdin=true&stdout=true", a[0], a[1], a[2]);
	f->count_ch = CH_STDOUT;
	connect_ws(f, state, path, "v5.channel.k8s.io", CHAN_MODE_STREAM, 0);
	for (int i = 0; i < n && !f->closed; i++) {
		unsigned long long want = f->bytes + 1;
		double t0 = now();
		send_frame(f, CH_STDIN, "x", 1);
		while (f->bytes < want && !f->closed)
			pump(f);
		printf("%.1f\n", (now() - t0) * 1e6);
	}
}

int main(int argc, char **argv)
{
	struct floor f = { 0 };
	if (argc < 4)
		die("usage: floor STATE out|in|pf|rtt ARGS... (see bench/floor.c)");
	const char *state = argv[1], *mode = argv[2];
	char **a = argv + 3;
	int na = argc - 3;
	if (!strcmp(mode, "out") && na >= 4)
		mode_out(&f, state, a, na);
	else if (!strcmp(mode, "in") && na >= 5)
		mode_in(&f, state, a, na);
	else if (!strcmp(mode, "pf") && na == 4)
		mode_pf(&f, state, a);
	else if (!strcmp(mode, "rtt") && na == 4)
		mode_rtt(&f, state, a);
	else
		die("bad arguments for mode %s (see bench/floor.c)", mode);
	return 0;
}
