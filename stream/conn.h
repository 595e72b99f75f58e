/* A raw byte stream to the API server that carries the same TLS, proxy and
 * credential settings as REST calls (libcurl CONNECT_ONLY, pinned to
 * HTTP/1.1).  Used for the WebSocket upgrade and for chunked streams.  After
 * conn_open the stream is non-blocking and owned by one thread. */
#ifndef PODFS_CONN_H
#define PODFS_CONN_H

#include <stddef.h>
#include <sys/types.h>

#include "stream/rest.h"

struct http_head {
	int code;		/* e.g. 101, 200, 404 */
	char *status_line;	/* "HTTP/1.1 101 Switching Protocols" */
	char *raw;		/* all header lines, CRLF separated */
};

/* Header value (trimmed) or NULL; case-insensitive name.  When a header
 * repeats, the first one. */
const char *http_head_get(const struct http_head *h, const char *name,
			  char *buf, size_t len);
void http_head_free(struct http_head *h);

struct conn;

/* Connect, send "GET <path> HTTP/1.1" with Host, the credential header and
 * extra_headers (CRLF-terminated lines, may be NULL), read the response
 * head.  The whole exchange is bounded by timeout_ms.  Bytes read past the
 * head stay buffered for conn_recv.  On a non-2xx/101 reply the body (up to
 * a few KiB) is read too and its Status message stored in err.
 * Returns NULL and -errno in *perr with a message in err on failure; a
 * reply that arrived but is not what the caller wants is still returned
 * (check head->code). */
struct conn *conn_open(struct rest *r, const char *path,
		       const char *extra_headers, long timeout_ms,
		       struct http_head *head, int *perr, char *err,
		       size_t errlen);

int conn_fd(struct conn *c);		/* the socket, for poll() */
/* Non-blocking: >0 bytes, 0 on orderly EOF, -EAGAIN, or -errno. */
ssize_t conn_recv(struct conn *c, void *buf, size_t n);
ssize_t conn_send(struct conn *c, const void *buf, size_t n);
/* Bytes already read from the socket and decrypted but not yet returned:
 * poll() cannot see them, so callers drain until -EAGAIN. */
int conn_pending(struct conn *c);
void conn_close(struct conn *c);
/* Test seam: a conn over an already connected non-blocking socket (a
 * socketpair end), without TLS; conn_close closes fd. */
struct conn *conn_from_fd(int fd);

/* WebSocket upgrade over conn_open: sends the key, version 13 and
 * `protocols` ("v5.channel.k8s.io, v4.channel.k8s.io") as one header line;
 * checks 101, Upgrade, Sec-WebSocket-Accept, and that the chosen protocol
 * is one we offered (copied to chosen).  Non-101 maps to -errno via
 * http_errno with the server's message in err. */
struct conn *ws_connect(struct rest *r, const char *path,
			const char *protocols, long timeout_ms,
			char *chosen, size_t chosen_len, int *perr,
			char *err, size_t errlen);

/* Pure helpers, exposed for unit tests. */
/* Parse a response head from the start of buf: 1 when complete (*used =
 * bytes of the head including the blank line; h filled, free with
 * http_head_free), 0 when more bytes are needed, -1 when malformed or
 * larger than 64 KiB (message in err). */
int http_head_parse(const char *buf, size_t len, struct http_head *h, size_t *used,
		    char *err, size_t errlen);
void ws_accept_for_key(const char *key, char out[29]);
int ws_protocol_offered(const char *offered, const char *chosen);

#endif
