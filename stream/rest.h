/* REST calls to the API server over libcurl.  Handles are pooled so
 * connections are reused; every call has a deadline so no FUSE metadata
 * operation waits longer than -o timeout. */
#ifndef PODFS_REST_H
#define PODFS_REST_H

#include <curl/curl.h>
#include <stddef.h>

#include "stream/auth.h"

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

/* Streamed GET: body bytes go to cb as they arrive; cb returns 0 to go on,
 * non-zero to stop.  Used for pod proxy downloads and the log. */
int rest_get_stream(struct rest *r, const char *path, long timeout_ms,
		    int (*cb)(void *ud, const char *p, size_t n), void *ud,
		    struct rest_resp *resp);

/* HTTP status to errno, as design.md §2 lists it. */
int http_errno(long code);

/* Extract "message" from a Status JSON body into msg (or the first line of
 * a plain-text body).  Never fails: writes "" when nothing usable. */
void k8s_status_message(const char *body, size_t len, char *msg, size_t n);

/* Escape one path segment or query value. */
char *url_escape(const char *s);

#endif
