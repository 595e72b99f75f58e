/* Raw byte streams to the API server for the WebSocket upgrade and chunked
 * HTTP.  libcurl 7.88 has no WebSocket support, so the handle is opened
 * with CURLOPT_CONNECT_ONLY (TCP, proxy tunnel and TLS with exactly the
 * settings auth_apply gives REST calls), pinned to HTTP/1.1 so ALPN cannot
 * pick h2, and the request head is written and the response head read by
 * hand with curl_easy_send/curl_easy_recv.  Everything up to the end of the
 * response head runs against one deadline.  Bytes that arrived after the
 * head are kept and handed out first by conn_recv.
 *
 * A refused upgrade is often not a neat Status: a streaming server that
 * supports none of the offered subprotocols answers
 * "HTTP/1.1 403 Forbidden\r\n\r\n" with no body and no Content-Length and
 * then closes, so the error body is read until close, Content-Length or
 * the last chunk, whichever comes first, and never past a short wait. */
#include "stream/conn.h"

#include <errno.h>
#include <limits.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "stream/k8s.h"
#include "stream/log.h"

#define HEAD_MAX	(64u << 10)
#define ERRBODY_MAX	(16u << 10)
#define ERRBODY_WAIT_MS	3000
#define WS_GUID		"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

struct conn {
	CURL *h;
	curl_socket_t fd;
	char *pend;		/* bytes read past the head */
	size_t pend_off, pend_len;
};

/* ---------------------------------------------------------------- head */

void http_head_free(struct http_head *h)
{
	if (!h)
		return;
	free(h->status_line);
	free(h->raw);
	h->status_line = NULL;
	h->raw = NULL;
	h->code = 0;
}

/* Find the end of the head: the blank line.  Lone LFs are tolerated. */
static const char *head_end(const char *buf, size_t len, size_t *skip)
{
	for (size_t i = 0; i < len; i++) {
		if (buf[i] != '\n')
			continue;
		if (i + 1 < len && buf[i + 1] == '\n') {
			*skip = 2;
			return buf + i;
		}
		if (i + 2 < len && buf[i + 1] == '\r' && buf[i + 2] == '\n') {
			*skip = 3;
			return buf + i;
		}
	}
	return NULL;
}

int http_head_parse(const char *buf, size_t len, struct http_head *h, size_t *used,
		    char *err, size_t errlen)
{
	const char *end, *eol, *p;
	size_t skip = 0, sl;
	char *raw, *q;
	int code;

	memset(h, 0, sizeof(*h));
	end = head_end(buf, len, &skip);
	if (!end) {
		if (len >= HEAD_MAX) {
			snprintf(err, errlen, "response head larger than %u KiB", HEAD_MAX >> 10);
			return -1;
		}
		/* a status line that is already wrong need not wait for more */
		if (len >= 5 && strncmp(buf, "HTTP/", 5)) {
			snprintf(err, errlen, "not an HTTP response (starts with \"%.12s\")", buf);
			return -1;
		}
		return 0;
	}
	if ((size_t)(end - buf) + skip > HEAD_MAX) {
		snprintf(err, errlen, "response head larger than %u KiB", HEAD_MAX >> 10);
		return -1;
	}
	eol = memchr(buf, '\n', (size_t)(end - buf) + 1);
	sl = (size_t)(eol - buf);
	if (sl && buf[sl - 1] == '\r')
		sl--;
	if (sl < 12 || strncmp(buf, "HTTP/1.", 7) || buf[8] != ' ' ||
	    buf[9] < '1' || buf[9] > '5' || buf[10] < '0' || buf[10] > '9' ||
	    buf[11] < '0' || buf[11] > '9' || (sl > 12 && buf[12] != ' ')) {
		snprintf(err, errlen, "malformed status line \"%.*s\"", (int)(sl > 80 ? 80 : sl), buf);
		return -1;
	}
	code = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
	h->status_line = strndup(buf, sl);
	/* header lines, each normalised to CRLF */
	raw = malloc((size_t)(end - buf) * 2 + 3);
	if (!h->status_line || !raw) {
		free(raw);
		http_head_free(h);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	q = raw;
	for (p = eol + 1; p <= end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p) + 1);
		size_t n = (size_t)(nl - p);

		if (n && p[n - 1] == '\r')
			n--;
		for (size_t i = 0; i < n; i++)
			if (p[i] == 0) {
				free(raw);
				http_head_free(h);
				snprintf(err, errlen, "NUL byte in response head");
				return -1;
			}
		if (n) {
			if (p[0] != ' ' && p[0] != '\t' && !memchr(p, ':', n)) {
				free(raw);
				http_head_free(h);
				snprintf(err, errlen, "malformed header line \"%.*s\"",
					 (int)(n > 60 ? 60 : n), p);
				return -1;
			}
			memcpy(q, p, n);
			q += n;
			*q++ = '\r';
			*q++ = '\n';
		}
		p = nl + 1;
	}
	*q = 0;
	h->raw = raw;
	h->code = code;
	*used = (size_t)(end - buf) + skip;
	return 1;
}

const char *http_head_get(const struct http_head *h, const char *name, char *buf, size_t len)
{
	size_t nl = strlen(name);
	const char *p;

	if (!h || !h->raw || !len)
		return NULL;
	for (p = h->raw; *p;) {
		const char *e = strstr(p, "\r\n");
		size_t n = e ? (size_t)(e - p) : strlen(p);

		if (n > nl && p[nl] == ':' && !strncasecmp(p, name, nl)) {
			const char *v = p + nl + 1, *ve = p + n;
			size_t k;
			while (v < ve && (*v == ' ' || *v == '\t'))
				v++;
			while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
				ve--;
			k = (size_t)(ve - v);
			if (k >= len)
				k = len - 1;
			memcpy(buf, v, k);
			buf[k] = 0;
			return buf;
		}
		p += n;
		if (*p)
			p += 2;
	}
	return NULL;
}

/* ---------------------------------------------------------------- I/O */


/* Wait for the socket until the deadline (one poll; a signal makes it
 * look again): 1 ready, 0 timed out.  Only the blocking handshake of a
 * session start waits here, bounded by -o timeout. */
static int wait_fd(curl_socket_t fd, short ev, long deadline)
{
	for (;;) {
		long left = deadline - (long)mono_ms();
		struct pollfd p = { .fd = fd, .events = ev };
		int r;

		if (left <= 0)
			return 0;
		r = poll(&p, 1, (int)(left > INT_MAX ? INT_MAX : left));
		if (r > 0)
			return 1;
		if (r < 0 && errno != EINTR)
			return 1;	/* let the next send/recv report it */
	}
}

static int send_all(struct conn *c, const char *p, size_t n, long deadline)
{
	while (n) {
		size_t sent = 0;
		CURLcode cc = curl_easy_send(c->h, p, n, &sent);

		if (cc == CURLE_AGAIN) {
			if (!wait_fd(c->fd, POLLOUT, deadline))
				return -ETIMEDOUT;
			continue;
		}
		if (cc != CURLE_OK)
			return -EIO;
		p += sent;
		n -= sent;
	}
	return 0;
}

/* Read what is there into buf (up to cap): >0 bytes, 0 EOF, -ETIMEDOUT,
 * -EIO. */
static ssize_t recv_some(struct conn *c, char *buf, size_t cap, long deadline)
{
	for (;;) {
		size_t got = 0;
		CURLcode cc = curl_easy_recv(c->h, buf, cap, &got);

		if (cc == CURLE_AGAIN) {
			if (!wait_fd(c->fd, POLLIN, deadline))
				return -ETIMEDOUT;
			continue;
		}
		if (cc != CURLE_OK)
			return -EIO;
		return (ssize_t)got;
	}
}

/* Is a chunked body complete (the zero-size chunk seen)?  Decodes it into
 * out when so.  Returns 1 complete, 0 incomplete, -1 malformed. */
static int dechunk(const char *b, size_t n, char *out, size_t *outlen)
{
	size_t i = 0, k = 0;

	for (;;) {
		char *end;
		unsigned long sz;
		const char *nl = memchr(b + i, '\n', n - i);

		if (!nl)
			return 0;
		sz = strtoul(b + i, &end, 16);
		if (end == b + i)
			return -1;
		i = (size_t)(nl - b) + 1;
		if (sz == 0) {
			*outlen = k;
			return 1;
		}
		if (sz > n || i + sz + 2 > n)
			return 0;
		if (out)
			memcpy(out + k, b + i, sz);
		k += sz;
		i += sz;
		if (b[i] == '\r')
			i++;
		if (i < n && b[i] == '\n')
			i++;
	}
}

/* Read an error reply's body (bounded) and put its message into err. */
static void read_error_body(struct conn *c, struct http_head *head, long deadline,
			    char *err, size_t errlen)
{
	char *body = malloc(ERRBODY_MAX + 1), *plain = NULL;
	char v[64], te[64];
	size_t len = 0, want = ERRBODY_MAX, plen = 0;
	int chunked;
	long d2 = (long)mono_ms() + ERRBODY_WAIT_MS;

	if (!body)
		return;
	if (d2 < deadline)
		deadline = d2;
	chunked = http_head_get(head, "Transfer-Encoding", te, sizeof(te)) &&
		  strcasestr(te, "chunked");
	if (!chunked && http_head_get(head, "Content-Length", v, sizeof(v))) {
		unsigned long cl = strtoul(v, NULL, 10);
		if (cl < want)
			want = cl;
	}
	if (c->pend_len) {
		len = c->pend_len < ERRBODY_MAX ? c->pend_len : ERRBODY_MAX;
		memcpy(body, c->pend, len);
	}
	while (len < want) {
		ssize_t r;
		if (chunked && dechunk(body, len, NULL, &plen) != 0)
			break;
		r = recv_some(c, body + len, want - len, deadline);
		if (r <= 0)
			break;		/* EOF (the 403-and-close case), timeout or error */
		len += (size_t)r;
	}
	body[len] = 0;
	if (chunked && (plain = malloc(len + 1))) {
		if (dechunk(body, len, plain, &plen) == 1) {
			memcpy(body, plain, plen);
			len = plen;
		}
		free(plain);
	}
	if (len > want)
		len = want;
	k8s_status_message(body, len, err, errlen);
	free(body);
}


/* TCP, proxy tunnel and TLS with the REST settings; the credential
 * headers go to *hdrs.  0 or -errno with the reason in err. */
static int connect_raw(struct conn *c, struct auth *a, long deadline, unsigned *gen,
		       struct curl_slist **hdrs, CURLcode *ccp, char *err, size_t errlen)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	long left = deadline - (long)mono_ms();
	CURLcode cc;
	int rc;

	if ((rc = auth_apply_gen(a, c->h, hdrs, gen)) < 0) {
		if (rc != -ENOMEM && rc != -EINVAL && err && errlen)
			auth_error(a, err, errlen);	/* the exec plugin's reason */
		else
			msg_set(err, errlen, "cannot set up TLS and credentials");
		return rc;
	}
	curl_easy_setopt(c->h, CURLOPT_URL, auth_base_url(a));
	curl_easy_setopt(c->h, CURLOPT_CONNECT_ONLY, 1L);
	curl_easy_setopt(c->h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(c->h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c->h, CURLOPT_CONNECTTIMEOUT_MS, left > 0 ? left : 1L);
	curl_easy_setopt(c->h, CURLOPT_TCP_KEEPALIVE, 1L);
	if (auth_has_proxy(a))
		curl_easy_setopt(c->h, CURLOPT_HTTPPROXYTUNNEL, 1L);
	*ccp = cc = curl_easy_perform(c->h);
	curl_easy_setopt(c->h, CURLOPT_ERRORBUFFER, NULL);	/* errbuf goes out of scope */
	if (cc != CURLE_OK) {
		msg_set(err, errlen, "connect to %s: %s", auth_server(a),
			errbuf[0] ? errbuf : curl_easy_strerror(cc));
		return curl_code_errno(cc);
	}
	if (curl_easy_getinfo(c->h, CURLINFO_ACTIVESOCKET, &c->fd) != CURLE_OK ||
	    c->fd == CURL_SOCKET_BAD) {
		msg_set(err, errlen, "connect to %s: no socket", auth_server(a));
		return -EIO;
	}
	return 0;
}

/* The request head; the Host line is ours, auth's Host line (for REST
 * with tls-server-name) is skipped.  The head carries the credential, so
 * its copy is wiped. */
static int send_request(struct conn *c, struct auth *a, const char *path,
			const struct curl_slist *hdrs, const char *extra_headers, long deadline,
			char *err, size_t errlen)
{
	char *req = NULL;
	size_t reqlen = 0;
	FILE *m = open_memstream(&req, &reqlen);
	int rc;

	if (!m)
		return -ENOMEM;
	fprintf(m, "GET %s%s HTTP/1.1\r\nHost: %s\r\nUser-Agent: podfs/0.1\r\n",
		auth_prefix(a), path, auth_host(a));
	for (const struct curl_slist *s = hdrs; s; s = s->next)
		if (strncasecmp(s->data, "Host:", 5))
			fprintf(m, "%s\r\n", s->data);
	if (extra_headers)
		fputs(extra_headers, m);
	fputs("\r\n", m);
	if (fclose(m) != 0) {
		free(req);
		return -ENOMEM;
	}
	rc = send_all(c, req, reqlen, deadline);
	OPENSSL_cleanse(req, reqlen);
	free(req);
	if (rc < 0)
		msg_set(err, errlen, "sending the request to %s %s", auth_server(a),
			rc == -ETIMEDOUT ? "timed out" : "failed");
	return rc;
}

/* Read up to the end of the response head into head; bytes past it stay
 * in c->pend.  0 or -errno with the reason in err. */
static int read_head(struct conn *c, struct auth *a, long deadline, struct http_head *head,
		     char *err, size_t errlen)
{
	char *buf = malloc(HEAD_MAX + 1), herr[160];
	size_t len = 0, used = 0;
	int rc = 0, pr = 0;

	if (!buf)
		return -ENOMEM;
	while (pr == 0) {
		ssize_t got = recv_some(c, buf + len, HEAD_MAX - len, deadline);

		if (got <= 0) {
			rc = got == 0 ? -ECONNRESET : (int)got;
			if (got == 0)
				msg_set(err, errlen, "%s closed the connection %s", auth_server(a),
					len ? "in the middle of the response head" : "without a reply");
			else
				msg_set(err, errlen, "reading the response head from %s %s",
					auth_server(a), rc == -ETIMEDOUT ? "timed out" : "failed");
			break;
		}
		len += (size_t)got;
		pr = http_head_parse(buf, len, head, &used, herr, sizeof(herr));
		if (pr < 0) {
			rc = -EPROTO;
			msg_set(err, errlen, "bad reply from %s: %s", auth_server(a), herr);
		}
	}
	if (pr == 1 && len > used) {
		if ((c->pend = malloc(len - used))) {
			memcpy(c->pend, buf + used, len - used);
			c->pend_len = len - used;
		} else {
			rc = -ENOMEM;
		}
	}
	free(buf);
	return rc;
}

static struct conn *open_once(struct rest *r, const char *path, const char *extra_headers,
			      long deadline, struct http_head *head, int *perr, char *err,
			      size_t errlen, unsigned *gen, CURLcode *ccp)
{
	struct auth *a = rest_auth(r);
	struct conn *c = calloc(1, sizeof(*c));
	struct curl_slist *hdrs = NULL;
	int rc;

	memset(head, 0, sizeof(*head));
	if (err && errlen)
		err[0] = 0;
	*perr = 0;
	if (!c || !(c->h = curl_easy_init())) {
		free(c);
		*perr = -ENOMEM;
		msg_set(err, errlen, "out of memory");
		return NULL;
	}
	if (!path || path[0] != '/' || strpbrk(path, " \r\n")) {
		rc = -EINVAL;
		msg_set(err, errlen, "bad request path");
	} else if (!(rc = connect_raw(c, a, deadline, gen, &hdrs, ccp, err, errlen)) &&
		   !(rc = send_request(c, a, path, hdrs, extra_headers, deadline, err, errlen))) {
		rc = read_head(c, a, deadline, head, err, errlen);
	}
	curl_slist_free_all(hdrs);
	if (rc < 0) {
		http_head_free(head);
		conn_close(c);
		*perr = rc;
		return NULL;
	}
	if (head->code != 101 && (head->code < 200 || head->code >= 300)) {
		read_error_body(c, head, deadline, err, errlen);
		if (err && errlen && !err[0])
			snprintf(err, errlen, "%s%s", head->status_line,
				 head->code == 403 ? " (no body)" : "");
	}
	return c;
}

struct conn *conn_open(struct rest *r, const char *path, const char *extra_headers,
		       long timeout_ms, struct http_head *head, int *perr, char *err,
		       size_t errlen)
{
	long deadline = (long)mono_ms() + (timeout_ms > 0 ? timeout_ms : rest_timeout_ms(r));
	unsigned gen = 0;
	CURLcode cc = CURLE_COULDNT_CONNECT;	/* until a connection was tried */
	struct conn *c = open_once(r, path, extra_headers, deadline, head, perr, err, errlen, &gen,
				   &cc);

	/* a refused credential (also on a WebSocket upgrade): refresh it and
	 * try once more, within the same deadline */
	if (c && head->code == 401 && auth_refresh(rest_auth(r), gen) && (long)mono_ms() < deadline) {
		pdebug("GET %s: HTTP 401, retrying with a fresh credential", path);
		conn_close(c);
		http_head_free(head);
		c = open_once(r, path, extra_headers, deadline, head, perr, err, errlen, &gen, &cc);
	}
	auth_observe(rest_auth(r), path, cc, c ? head->code : 0, err ? err : "");
	return c;
}

int conn_fd(struct conn *c)
{
	return (int)c->fd;
}

ssize_t conn_recv(struct conn *c, void *buf, size_t n)
{
	size_t got = 0;
	CURLcode cc;

	if (!n)
		return 0;
	if (c->pend_len) {
		size_t k = n < c->pend_len ? n : c->pend_len;
		memcpy(buf, c->pend + c->pend_off, k);
		c->pend_off += k;
		c->pend_len -= k;
		if (!c->pend_len) {
			free(c->pend);
			c->pend = NULL;
			c->pend_off = 0;
		}
		return (ssize_t)k;
	}
	if (!c->h) {	/* conn_from_fd */
		ssize_t r = recv(c->fd, buf, n, 0);

		return r >= 0 ? r : errno == EAGAIN || errno == EWOULDBLOCK ? -EAGAIN : -errno;
	}
	/* curl_easy_recv hands out one TLS record (at most 16 KiB) per call:
	 * gather what is already readable, up to n, so the caller decodes
	 * and wakes its readers once per batch, not once per record.  An
	 * error or EOF after some bytes is left for the next call (a broken
	 * connection stays broken; EOF stays EOF). */
	while (got < n) {
		size_t k = 0;

		cc = curl_easy_recv(c->h, (char *)buf + got, n - got, &k);
		if (cc == CURLE_OK && k > 0) {
			got += k;
			continue;
		}
		if (got)
			break;
		if (cc == CURLE_AGAIN)
			return -EAGAIN;
		if (cc != CURLE_OK)
			return -ECONNRESET;
		break;	/* EOF */
	}
	return (ssize_t)got;
}

ssize_t conn_send(struct conn *c, const void *buf, size_t n)
{
	size_t sent = 0;
	CURLcode cc;

	if (!n)
		return 0;
	if (!c->h) {	/* conn_from_fd */
		ssize_t r = send(c->fd, buf, n, MSG_NOSIGNAL);

		return r >= 0 ? r : errno == EAGAIN || errno == EWOULDBLOCK ? -EAGAIN : -EPIPE;
	}
	cc = curl_easy_send(c->h, buf, n, &sent);
	if (cc == CURLE_AGAIN)
		return -EAGAIN;
	if (cc != CURLE_OK)
		return -EPIPE;
	return (ssize_t)sent;
}

int conn_pending(struct conn *c)
{
	return c->pend_len > (size_t)0x7fffffff ? 0x7fffffff : (int)c->pend_len;
}

struct conn *conn_from_fd(int fd)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (c)
		c->fd = fd;
	return c;
}

void conn_close(struct conn *c)
{
	if (!c)
		return;
	if (c->h)
		curl_easy_cleanup(c->h);
	else
		close(c->fd);
	free(c->pend);
	free(c);
}

/* ---------------------------------------------------------------- WebSocket */

void ws_accept_for_key(const char *key, char out[29])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char buf[128];
	int n = snprintf(buf, sizeof(buf), "%s%s", key, WS_GUID);

	out[0] = 0;
	if (n < 0 || (size_t)n >= sizeof(buf) ||
	    !EVP_Digest(buf, (size_t)n, md, &mdlen, EVP_sha1(), NULL) || mdlen != 20)
		return;
	EVP_EncodeBlock((unsigned char *)out, md, 20);	/* 28 chars + NUL */
}

/* Is token one of the items of a comma-separated header value? */
static int list_has(const char *list, const char *token, int icase)
{
	size_t tl = strlen(token);
	const char *p = list;

	while (*p) {
		const char *s, *e;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		s = p;
		while (*p && *p != ',')
			p++;
		e = p;
		while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if ((size_t)(e - s) == tl && !(icase ? strncasecmp(s, token, tl) : strncmp(s, token, tl)))
			return 1;
	}
	return 0;
}

int ws_protocol_offered(const char *offered, const char *chosen)
{
	if (!offered || !chosen || !chosen[0])
		return 0;
	return list_has(offered, chosen, 0);	/* protocol names are case-sensitive */
}

/* Does a comma list (Connection:) contain token, case-insensitively? */
static int has_token(const char *list, const char *token)
{
	return list_has(list, token, 1);
}

struct conn *ws_connect(struct rest *r, const char *path, const char *protocols,
			long timeout_ms, char *chosen, size_t chosen_len, int *perr,
			char *err, size_t errlen)
{
	unsigned char raw[16];
	char key[32], want[29], v[256], *extra = NULL;
	struct http_head head;
	struct conn *c;
	int offered = protocols && protocols[0];

	if (chosen && chosen_len)
		chosen[0] = 0;
	if (offered && strpbrk(protocols, "\r\n")) {
		*perr = -EINVAL;
		msg_set(err, errlen, "bad protocol list");
		return NULL;
	}
	if (RAND_bytes(raw, sizeof(raw)) != 1) {
		*perr = -EIO;
		msg_set(err, errlen, "no randomness for the WebSocket key");
		return NULL;
	}
	EVP_EncodeBlock((unsigned char *)key, raw, sizeof(raw));
	if (asprintf(&extra, "Upgrade: websocket\r\nConnection: Upgrade\r\n"
		     "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s%s%s",
		     key, offered ? "Sec-WebSocket-Protocol: " : "",
		     offered ? protocols : "", offered ? "\r\n" : "") < 0) {
		*perr = -ENOMEM;
		return NULL;
	}
	c = conn_open(r, path, extra, timeout_ms, &head, perr, err, errlen);
	free(extra);
	if (!c)
		return NULL;
	if (head.code != 101) {
		char msg[400];
		int e = http_errno(head.code);

		snprintf(msg, sizeof(msg), "%s", err && errlen ? err : "");
		if (head.code == 403 && strstr(msg, "(no body)"))
			msg_set(err, errlen, "upgrade refused: %s with no body: the server accepts "
				"none of the offered subprotocols (%s)", head.status_line,
				offered ? protocols : "none offered");
		else
			msg_set(err, errlen, "upgrade refused: HTTP %d: %s", head.code, msg);
		*perr = -(e ? e : EPROTO);
		goto fail;
	}
	*perr = -EPROTO;
	if (!http_head_get(&head, "Upgrade", v, sizeof(v))) {
		msg_set(err, errlen, "upgrade failed: the 101 reply has no Upgrade header");
		goto fail;
	}
	if (strcasecmp(v, "websocket")) {
		msg_set(err, errlen, "upgrade failed: Upgrade header is \"%.100s\", expected \"websocket\"", v);
		goto fail;
	}
	if (!http_head_get(&head, "Connection", v, sizeof(v))) {
		msg_set(err, errlen, "upgrade failed: the 101 reply has no Connection header");
		goto fail;
	}
	if (!has_token(v, "upgrade")) {
		msg_set(err, errlen, "upgrade failed: Connection header \"%.100s\" lacks \"upgrade\"", v);
		goto fail;
	}
	ws_accept_for_key(key, want);
	if (!http_head_get(&head, "Sec-WebSocket-Accept", v, sizeof(v))) {
		msg_set(err, errlen, "upgrade failed: the 101 reply has no Sec-WebSocket-Accept header");
		goto fail;
	}
	if (strcmp(v, want)) {
		msg_set(err, errlen, "upgrade failed: Sec-WebSocket-Accept \"%.100s\" does not match "
			"our key (expected \"%s\")", v, want);
		goto fail;
	}
	if (!http_head_get(&head, "Sec-WebSocket-Protocol", v, sizeof(v))) {
		if (offered) {
			msg_set(err, errlen, "upgrade failed: the server sent no Sec-WebSocket-Protocol "
				"header (offered: %s)", protocols);
			goto fail;
		}
	} else if (!v[0]) {
		if (offered) {
			msg_set(err, errlen, "upgrade failed: the server sent an empty "
				"Sec-WebSocket-Protocol header (offered: %s)", protocols);
			goto fail;
		}
	} else if (!offered || !ws_protocol_offered(protocols, v)) {
		msg_set(err, errlen, "upgrade failed: the server chose subprotocol \"%.100s\", "
			"which was not offered (offered: %s)", v, offered ? protocols : "none");
		goto fail;
	} else if (chosen && chosen_len) {
		snprintf(chosen, chosen_len, "%s", v);
	}
	*perr = 0;
	http_head_free(&head);
	return c;
fail:
	http_head_free(&head);
	conn_close(c);
	return NULL;
}
