/* The one place that turns a kubeconfig into TLS and credentials for every
 * connection podfs makes: REST calls and the raw streams that carry
 * WebSocket and chunked log traffic. */
#ifndef PODFS_AUTH_H
#define PODFS_AUTH_H

#include <curl/curl.h>
#include <stddef.h>

#include "stream/kubeconfig.h"

struct auth;

/* What the API server last said of the credential (auth_observe). */
enum auth_state {
	AUTH_UNKNOWN,		/* no answer yet */
	AUTH_OK,		/* an HTTP answer other than 401 */
	AUTH_UNAUTHORIZED,	/* 401: the credential was refused */
	AUTH_TLS_ERROR,		/* the server's certificate failed, or ours */
	AUTH_PLUGIN_ERROR,	/* no credential: the exec plugin or OIDC refresh failed */
};

/* Copies what it needs from kc.  Warns (once) when TLS verification is off.
 * NULL with a message in err on failure. */
struct auth *auth_new(const struct kc_config *kc, char *err, size_t errlen);
void auth_free(struct auth *a);

/* Set TLS verification, CA, client certificate/key, SNI name and proxy on
 * an easy handle, and append the credential header (if any) to *hdrs.
 * Returns 0 or -errno. */
int auth_apply(struct auth *a, CURL *h, struct curl_slist **hdrs);

/* The "Authorization: ..." header line without CRLF, or "" when the
 * credential is a client certificate only.  Written into buf. */
int auth_header(struct auth *a, char *buf, size_t len);

const char *auth_server(const struct auth *a);	/* base URL, no trailing '/' */
const char *auth_user(const struct auth *a);	/* user name for display */
const char *auth_context(const struct auth *a);
const char *auth_namespace(const struct auth *a);

/* What requests are built from.  auth_base_url() is the URL to give curl:
 * the server URL, except that with a tls-server-name its host is that name
 * (auth_apply routes the TCP connection to the real server with
 * CURLOPT_CONNECT_TO, so SNI and certificate checks use the name).
 * auth_host() is the real server's authority for a Host header,
 * auth_prefix() the server URL's path prefix ("" or "/prefix"). */
const char *auth_base_url(const struct auth *a);
const char *auth_host(const struct auth *a);
const char *auth_prefix(const struct auth *a);
int auth_has_proxy(const struct auth *a);

/* auth_apply that also reports the generation of the credential it put
 * on the handle, for auth_refresh after a 401. */
int auth_apply_gen(struct auth *a, CURL *h, struct curl_slist **hdrs, unsigned *gen);

/* After a 401 to a request made with credential generation `gen`: re-run
 * the exec plugin next time / re-read tokenFile now.  Returns 1 when a
 * retry may succeed (the credential changed or will be fetched anew), 0
 * when nothing can change (a static token, basic auth, a certificate). */
int auth_refresh(struct auth *a, unsigned gen);

/* Why the last credential fetch failed (an exec plugin's error), for
 * messages when auth_apply returned an error. */
int auth_error(struct auth *a, char *buf, size_t len);

/* Record the outcome of one request (after its retries) that reached the
 * transport: curl's result and the HTTP status (0 when none).  A 401, a
 * TLS failure or a refused credential logs one warning line naming `what`
 * (a path, never a credential). */
void auth_observe(struct auth *a, const char *what, CURLcode cc, long code, const char *msg);

/* The last state and its message (the server's or curl's words). */
enum auth_state auth_state(struct auth *a, char *msg, size_t len);
const char *auth_state_name(enum auth_state s);

/* The start-up phase (the identity check at mount): refusals are not
 * logged by auth_observe, the caller reports them; and with
 * interactive_ms > 0 (stdin is a terminal) exec plugins whose
 * interactiveMode allows it run with the terminal and that deadline
 * instead of the REST one.  auth_set_starting(a, 0, 0) ends it. */
void auth_set_starting(struct auth *a, int starting, long interactive_ms);

/* Deadline of one exec plugin run (rest_new sets it to the REST timeout). */
void auth_set_exec_timeout(struct auth *a, long timeout_ms);
int auth_has_exec(const struct auth *a);

/* How often tokenFile is stat()ed for a rotation (default 5 s; 0 = on
 * every request, for tests). */
void auth_set_token_recheck(struct auth *a, int seconds);

#endif
