/* conn and the WebSocket handshake: the pure helpers (accept hash, offered
 * protocol check, response head parser fed the real heads from the
 * captures, whole and byte by byte) and live upgrades against the
 * throwaway-CA server: a good one with bytes after the head, the body-less
 * 403, empty/missing/unoffered protocol, bad accept, Status errors plain
 * and chunked, timeouts, client certificates on CONNECT_ONLY. */
#include "stream/auth.h"
#include "stream/conn.h"
#include "stream/kubeconfig.h"
#include "stream/rest.h"
#include "tests/unit/check.h"
#include "tests/unit/kubeconfigs/tls_server.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void test_accept(void)
{
	char out[29];

	ws_accept_for_key("dGhlIHNhbXBsZSBub25jZQ==", out);
	CHECK_MSG(!strcmp(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "%s", out);
	/* keys and answers from captures/exec-noproto.txt and exec-multiproto.txt */
	ws_accept_for_key("PZi6CoFYEOzFaZBoM9sUgA==", out);
	CHECK_MSG(!strcmp(out, "DTnkJ9sCYQWzLLTjo0zlXeFqa6Q="), "%s", out);
	ws_accept_for_key("9bKu1n8cvd1KpuimQbkT+w==", out);
	CHECK_MSG(!strcmp(out, "pEJzXUFxPre6g0IwoYTa3qFg2Qg="), "%s", out);
}

static void test_offered(void)
{
	const char *o = "v5.channel.k8s.io, v4.channel.k8s.io,channel.k8s.io";

	CHECK(ws_protocol_offered(o, "v5.channel.k8s.io"));
	CHECK(ws_protocol_offered(o, "v4.channel.k8s.io"));
	CHECK(ws_protocol_offered(o, "channel.k8s.io"));
	CHECK(!ws_protocol_offered(o, "base64.channel.k8s.io"));
	CHECK(!ws_protocol_offered(o, "v4.channel"));
	CHECK(!ws_protocol_offered(o, ""));
	CHECK(!ws_protocol_offered(o, NULL));
	CHECK(!ws_protocol_offered("", "v4.channel.k8s.io"));
	CHECK(!ws_protocol_offered(NULL, "x"));
	CHECK(ws_protocol_offered(" x ,", "x"));
	CHECK(!ws_protocol_offered("V4.CHANNEL.K8S.IO", "v4.channel.k8s.io"));	/* tokens are case-sensitive */
}

/* captures/exec-noproto.txt: 101 with an empty protocol header, then frames */
static const char noproto[] =
	"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	"Sec-WebSocket-Accept: DTnkJ9sCYQWzLLTjo0zlXeFqa6Q=\r\nSec-WebSocket-Protocol: \r\n\r\n"
	"\x82\x01\x01\x82\x07\x01hello\n";
/* captures/exec-v5only.txt: the whole reply */
static const char forbidden[] = "HTTP/1.1 403 Forbidden\r\n\r\n";
/* captures/shim-pod-notfound.txt */
static const char notfound[] =
	"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 203\r\n"
	"Connection: close\r\n\r\n{\"kind\": \"Status\"";

static void test_head(void)
{
	struct http_head h;
	char err[200], v[128];
	size_t used = 0;
	int r;

	r = http_head_parse(noproto, sizeof(noproto) - 1, &h, &used, err, sizeof(err));
	CHECK(r == 1 && h.code == 101);
	CHECK(!strcmp(h.status_line, "HTTP/1.1 101 Switching Protocols"));
	CHECK(used == sizeof(noproto) - 1 - 12);
	CHECK(http_head_get(&h, "upgrade", v, sizeof(v)) && !strcmp(v, "websocket"));
	CHECK(http_head_get(&h, "SEC-WEBSOCKET-ACCEPT", v, sizeof(v)) &&
	      !strcmp(v, "DTnkJ9sCYQWzLLTjo0zlXeFqa6Q="));
	/* present but empty is not the same as missing */
	CHECK(http_head_get(&h, "Sec-WebSocket-Protocol", v, sizeof(v)) && v[0] == 0);
	CHECK(http_head_get(&h, "Sec-WebSocket-Extensions", v, sizeof(v)) == NULL);
	CHECK(http_head_get(&h, "Sec-WebSocket", v, sizeof(v)) == NULL);
	http_head_free(&h);

	/* byte by byte: incomplete until the last byte of the blank line */
	for (size_t n = 1; n < used; n++) {
		r = http_head_parse(noproto, n, &h, &used, err, sizeof(err));
		if (r != 0) {
			CHECK_MSG(0, "complete at %zu: %s", n, err);
			http_head_free(&h);
			break;
		}
	}
	r = http_head_parse(forbidden, sizeof(forbidden) - 1, &h, &used, err, sizeof(err));
	CHECK(r == 1 && h.code == 403 && used == sizeof(forbidden) - 1 && h.raw && !h.raw[0]);
	CHECK(http_head_get(&h, "Content-Length", v, sizeof(v)) == NULL);
	http_head_free(&h);

	r = http_head_parse(notfound, sizeof(notfound) - 1, &h, &used, err, sizeof(err));
	CHECK(r == 1 && h.code == 404);
	CHECK(http_head_get(&h, "content-length", v, sizeof(v)) && !strcmp(v, "203"));
	CHECK(!strncmp(notfound + used, "{\"kind\"", 7));
	http_head_free(&h);

	/* LF-only heads, repeated headers (first wins), folded whitespace */
	r = http_head_parse("HTTP/1.0 200 OK\nX-A:  one \nx-a: two\n\nbody", 41, &h, &used, err, sizeof(err));
	CHECK(r == 1 && h.code == 200);
	CHECK(http_head_get(&h, "X-A", v, sizeof(v)) && !strcmp(v, "one"));
	CHECK(!strcmp("body", "HTTP/1.0 200 OK\nX-A:  one \nx-a: two\n\nbody" + used));
	http_head_free(&h);
	/* a value longer than the buffer is truncated, not overflowed */
	r = http_head_parse("HTTP/1.1 200 OK\r\nX: 0123456789\r\n\r\n", 34, &h, &used, err, sizeof(err));
	CHECK(r == 1 && http_head_get(&h, "X", v, 5) && !strcmp(v, "0123"));
	http_head_free(&h);

	/* garbage */
	r = http_head_parse("SSH-2.0-OpenSSH_9.2\r\n", 21, &h, &used, err, sizeof(err));
	CHECK(r == -1 && strstr(err, "not an HTTP response"));
	r = http_head_parse("HTTP/1.1 abc OK\r\n\r\n", 19, &h, &used, err, sizeof(err));
	CHECK(r == -1 && strstr(err, "malformed status line"));
	r = http_head_parse("HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", 34, &h, &used, err, sizeof(err));
	CHECK(r == -1 && strstr(err, "malformed header line"));
	r = http_head_parse("HTTP/1.1 200 OK\r\nX: a\0b\r\n\r\n", 27, &h, &used, err, sizeof(err));
	CHECK(r == -1 && strstr(err, "NUL"));
	r = http_head_parse("HTTP/1.1 2", 10, &h, &used, err, sizeof(err));
	CHECK(r == 0);
	{
		size_t big = 70000;
		char *b = malloc(big);
		memcpy(b, "HTTP/1.1 200 OK\r\nX: ", 20);
		memset(b + 20, 'a', big - 20);
		r = http_head_parse(b, big, &h, &used, err, sizeof(err));
		CHECK(r == -1 && strstr(err, "64 KiB"));
		free(b);
	}
}

/* ------------------------------------------------------------ live */

static struct tsrv srv;

static struct rest *open_ctx(const char *ctx, long timeout_ms)
{
	struct kc_config kc;
	char err[512];
	struct auth *a;

	if (kc_load(srv.kubeconfig, ctx, &kc, err, sizeof(err)) < 0) {
		CHECK_MSG(0, "kc_load %s: %s", ctx, err);
		return NULL;
	}
	a = auth_new(&kc, err, sizeof(err));
	kc_free(&kc);
	CHECK_MSG(a != NULL, "auth_new %s: %s", ctx, err);
	return a ? rest_new(a, timeout_ms) : NULL;
}

static void close_ctx(struct rest *r)
{
	struct auth *a;

	if (!r)
		return;
	a = rest_auth(r);
	rest_free(r);
	auth_free(a);
}

static long ms_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Read until `want` bytes or the text `until` arrived or 3 s passed, the
 * way a multiplexer does: drain until -EAGAIN, then poll. */
static size_t read_some(struct conn *c, char *buf, size_t want, const char *until)
{
	size_t len = 0;
	long end = ms_now() + 3000;

	while (len < want && ms_now() < end) {
		if (until && memmem(buf, len, until, strlen(until)))
			break;
		ssize_t n = conn_recv(c, buf + len, want - len);
		if (n > 0) {
			len += (size_t)n;
			continue;
		}
		if (n == 0 || n != -EAGAIN)
			break;
		{
			struct pollfd p = { .fd = conn_fd(c), .events = POLLIN };
			poll(&p, 1, 200);
		}
	}
	return len;
}

static void ws_fail(struct rest *r, const char *path, const char *protos, int want_errno,
		    const char *want_msg, int line)
{
	char chosen[64], err[512];
	int e = 0;
	long t0 = ms_now();
	struct conn *c = ws_connect(r, path, protos, 5000, chosen, sizeof(chosen), &e, err, sizeof(err));

	CHECK_MSG(c == NULL, "line %d: upgrade should fail", line);
	CHECK_MSG(e == want_errno, "line %d: errno %d, want %d (%s)", line, e, want_errno, err);
	CHECK_MSG(strstr(err, want_msg), "line %d: \"%s\" lacks \"%s\"", line, err, want_msg);
	CHECK_MSG(ms_now() - t0 < 2500, "line %d: took %ld ms", line, ms_now() - t0);
	conn_close(c);
}

static void test_live(void)
{
	struct rest *r = open_ctx("token", 5000);
	char chosen[64], err[512], buf[256], want[128];
	struct http_head head;
	struct conn *c;
	int e = 0;
	long t0;

	if (!r)
		return;
	c = ws_connect(r, "/ws", "v5.channel.k8s.io, v4.channel.k8s.io", 5000, chosen,
		       sizeof(chosen), &e, err, sizeof(err));
	CHECK_MSG(c != NULL && e == 0, "ws_connect: %d %s", e, err);
	if (c) {
		ssize_t n;
		CHECK(!strcmp(chosen, "v4.channel.k8s.io"));
		CHECK(conn_pending(c) == 3);	/* the ready frame came with the head */
		n = conn_recv(c, buf, 2);
		CHECK(n == 2 && !memcmp(buf, "\x82\x01", 2) && conn_pending(c) == 1);
		n = conn_recv(c, buf, sizeof(buf));
		CHECK(n == 1 && buf[0] == 1 && conn_pending(c) == 0);
		CHECK(conn_recv(c, buf, sizeof(buf)) == -EAGAIN);
		CHECK(conn_send(c, "echo me", 7) == 7);
		CHECK(read_some(c, buf, 7, NULL) == 7 && !memcmp(buf, "echo me", 7));
		CHECK(conn_fd(c) >= 0);
		conn_close(c);
	}

	/* the strict server's answer when nothing offered matches (no body) */
	ws_fail(r, "/ws?v5only", "v5.channel.k8s.io", -EACCES,
		"403 Forbidden with no body: the server accepts none of the offered subprotocols "
		"(v5.channel.k8s.io)", __LINE__);
	ws_fail(r, "/ws?emptyproto", "v4.channel.k8s.io", -EPROTO,
		"empty Sec-WebSocket-Protocol header (offered: v4.channel.k8s.io)", __LINE__);
	ws_fail(r, "/ws?noproto", "v4.channel.k8s.io", -EPROTO,
		"no Sec-WebSocket-Protocol header", __LINE__);
	ws_fail(r, "/ws?badproto", "v4.channel.k8s.io", -EPROTO,
		"chose subprotocol \"v9.channel.k8s.io\", which was not offered", __LINE__);
	ws_fail(r, "/ws?badaccept", "v4.channel.k8s.io", -EPROTO, "Sec-WebSocket-Accept", __LINE__);
	ws_fail(r, "/notfound", "v4.channel.k8s.io", -ENOENT, "pods \"nope\" not found", __LINE__);
	ws_fail(r, "/chunked-403", "v4.channel.k8s.io", -EACCES,
		"pods \"web\" is forbidden: User \"bob\" cannot get", __LINE__);
	ws_fail(r, "/text500", "v4.channel.k8s.io", -EAGAIN, "container not found (\"app\")", __LINE__);

	/* conn_open returns replies it does not like, for the caller to judge */
	c = conn_open(r, "/chunked-403", NULL, 5000, &head, &e, err, sizeof(err));
	CHECK(c && head.code == 403 && strstr(err, "forbidden"));
	http_head_free(&head);
	conn_close(c);

	/* a chunked 200: body bytes stay for conn_recv */
	c = conn_open(r, "/big", NULL, 5000, &head, &e, err, sizeof(err));
	CHECK_MSG(c && head.code == 200, "%d %s", e, err);
	if (c) {
		size_t n = read_some(c, buf, 120, "0\r\n\r\n");
		buf[n] = 0;
		CHECK_MSG(strstr(buf, "6\r\nline0\n\r\n") && strstr(buf, "0\r\n\r\n"), "%s", buf);
		http_head_free(&head);
		conn_close(c);
	}

	/* the head must arrive within the deadline */
	t0 = ms_now();
	c = conn_open(r, "/hang", NULL, 500, &head, &e, err, sizeof(err));
	CHECK_MSG(!c && e == -ETIMEDOUT && strstr(err, "timed out"), "%d %s", e, err);
	CHECK(ms_now() - t0 < 1500);
	c = conn_open(r, "bad path", NULL, 500, &head, &e, err, sizeof(err));
	CHECK(!c && e == -EINVAL);
	close_ctx(r);

	/* client certificate and tls-server-name work on CONNECT_ONLY too */
	r = open_ctx("cert", 5000);
	c = conn_open(r, "/whoami", NULL, 5000, &head, &e, err, sizeof(err));
	if (c) {
		size_t n = read_some(c, buf, 250, "}");
		buf[n] = 0;
		CHECK_MSG(strstr(buf, "\"cn\": \"alice\""), "%s", buf);
		http_head_free(&head);
		conn_close(c);
	} else {
		CHECK_MSG(0, "cert conn_open: %s", err);
	}
	close_ctx(r);
	r = open_ctx("sni", 5000);
	c = conn_open(r, "/whoami", NULL, 5000, &head, &e, err, sizeof(err));
	if (c) {
		size_t n = read_some(c, buf, 250, "}");
		buf[n] = 0;
		snprintf(want, sizeof(want), "\"host\": \"localhost:%d\"", srv.port);
		CHECK_MSG(strstr(buf, want) && strstr(buf, "Bearer test-token-123"), "%s", buf);
		http_head_free(&head);
		conn_close(c);
	} else {
		CHECK_MSG(0, "sni conn_open: %s", err);
	}
	close_ctx(r);
	r = open_ctx("byname", 5000);
	c = conn_open(r, "/whoami", NULL, 5000, &head, &e, err, sizeof(err));
	CHECK_MSG(!c && e == -EACCES && strstr(err, "connect to"), "%d %s", e, err);
	close_ctx(r);
	r = open_ctx("wrongca", 5000);
	c = conn_open(r, "/whoami", NULL, 5000, &head, &e, err, sizeof(err));
	CHECK_MSG(!c && e == -EACCES, "%d %s", e, err);
	close_ctx(r);
}

int main(void)
{
	test_accept();
	test_offered();
	test_head();
	if (tsrv_start(&srv, __FILE__) == 0)
		test_live();
	else
		CHECK_MSG(0, "could not start the TLS test server");
	tsrv_stop(&srv);
	curl_global_cleanup();
	return check_report("test_conn");
}
