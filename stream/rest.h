/* REST calls to the API server over libcurl.  Handles are pooled so
 * connections are reused; every call has a deadline so no FUSE metadata
 * operation waits longer than -o timeout. */
#ifndef PODFS_REST_H
#define PODFS_REST_H

#include <curl/curl.h>
#include <stddef.h>

#include "stream/auth.h"
#include "stream/k8s.h"

struct rest;

struct rest_resp {
	long code;		/* HTTP status, 0 if none arrived */
	char *body;		/* NUL-terminated, malloc'd */
	size_t len;
	char msg[512];		/* the server's Status message, or the transport error */
};

struct rest *rest_new(struct auth *a, long timeout_ms);
void rest_free(struct rest *r);
struct auth *rest_auth(struct rest *r);
long rest_timeout_ms(struct rest *r);

/* method "GET"/"DELETE"; path starts with '/' and is already escaped.
 * Returns 0 when an HTTP response arrived (any code: check resp->code),
 * -errno on a transport failure (-ETIMEDOUT, -ECONNREFUSED, -EHOSTUNREACH,
 * -EIO ...).  resp->msg is filled either way. */
int rest_call(struct rest *r, const char *method, const char *path,
	      struct rest_resp *resp);
int rest_get(struct rest *r, const char *path, struct rest_resp *resp);
void rest_resp_free(struct rest_resp *resp);

/* Streamed GET: body bytes of a 2xx reply go to cb as they arrive; cb
 * returns 0 to go on, non-zero to stop (then the call returns 0).  While
 * the stream is idle cb is also called with p == NULL, n == 0 about once a
 * second, so a follow on a silent container can still be stopped.
 * timeout_ms 0 = no overall deadline (the connect is still bounded by the
 * rest timeout).  A non-2xx reply is not passed to cb: its first 64 KiB
 * are in resp->body and its message in resp->msg.  Used for pod proxy
 * downloads and the log. */
int rest_get_stream(struct rest *r, const char *path, long timeout_ms,
		    int (*cb)(void *ud, const char *p, size_t n), void *ud,
		    struct rest_resp *resp);

/* A long GET run by a curlloop (log.follow, pod proxy, watches): an easy
 * handle with the URL, credentials, TLS and timeouts REST calls have, and
 * what it needs to live.  The caller sets the header and write callbacks.
 * Blocking (a credential plugin may run): never on a loop thread. */
struct rest_xfer {
	CURL *h;
	struct curl_slist *hdrs;
	unsigned gen;			/* the credential generation it carries */
	char errbuf[CURL_ERROR_SIZE];
};
int rest_xfer_make(struct rest *r, const char *path, struct rest_xfer *x,
		   char *err, size_t errlen);
void rest_xfer_free(struct rest_xfer *x);

/* curl transport result to -errno (0 for CURLE_OK); docs/kubeconfig.md
 * lists the mapping. */
int curl_code_errno(CURLcode c);

/* HTTP status to errno, as design.md §2 lists it (positive; 0 for 2xx). */
int http_errno(long code);

/* Extract "message" from a Status JSON body into msg (or the first line of
 * a plain-text body).  Never fails: writes "" when nothing usable. */
void k8s_status_message(const char *body, size_t len, char *msg, size_t n);

/* Escape one path segment or query value. */
char *url_escape(const char *s);

#endif
