/* The one place that turns a resolved kubeconfig into the TLS settings and
 * credentials of every connection: REST handles and the CONNECT_ONLY
 * handles that carry WebSocket and chunked streams get the same options
 * from auth_apply(), so the two can never drift apart.
 *
 * tls-server-name: libcurl (7.88) has no option to set SNI and the name
 * checked in the certificate separately from the URL host.  So the URL we
 * hand to curl names the tls-server-name, and CURLOPT_CONNECT_TO sends the
 * TCP connection to the real host and port.  curl then uses that name for
 * SNI and for certificate verification (what client-go's ServerName does),
 * while the Host header still names the real server (REST: an explicit
 * Host header; streams write their own head).  Without tls-server-name the
 * URL is the server's, and curl checks DNS names or IP SANs as fits.
 *
 * tokenFile is re-read when its mtime/size/inode change, checked at most
 * every AUTH_TOKEN_RECHECK seconds under a mutex, because bound service
 * account tokens rotate.  The token itself is never logged.
 *
 * exec plugins (credplugin.c) run when a credential is needed and none is
 * cached or the cached one passed its expirationTimestamp.  One run at a
 * time: other threads wait on a condition variable and share its result
 * (or its error) instead of starting their own.  The mutex is not held
 * while the plugin runs, so a token-only caller is never stuck behind it.
 *
 * A 401 makes the caller ask auth_refresh() with the generation of the
 * credential it sent: if the credential changed since, retry with the new
 * one; else drop the plugin's cached credential (or re-read tokenFile at
 * once) and retry if that can change anything.  Generations keep a burst
 * of 401s from many threads down to one plugin run.
 *
 * Also here, because they ride on every request the same way: the
 * Impersonate-* headers; no credential at all to a plain http:// server
 * (kubectl 1.32 sends none); the oidc provider's id-token, refreshed by
 * oidc.c when it expires; and auth_observe, the record of what the server
 * last said of the credential (401, TLS failure) for .podfs/status and the
 * one log line per failing operation. */
#include "stream/auth.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "stream/credplugin.h"
#include "stream/log.h"
#include "stream/oidc.h"

#define AUTH_TOKEN_RECHECK 5		/* seconds between tokenFile stat()s */
#define AUTH_MAX_TOKEN	(64u << 10)

struct auth {
	char *server;		/* as configured, no trailing '/' */
	char *base_url;		/* what curl is given (tls-server-name as host) */
	char *host;		/* authority of the real server, for Host: */
	char *prefix;		/* path prefix of the server URL, "" if none */
	char *user, *context, *ns;
	char *proxy;
	int insecure;
	int use_sni;
	struct curl_slist *connect_to;
	struct kc_blob ca, cert, key;
	char *basic;		/* "Basic <b64>" */
	struct curl_slist *imp;	/* Impersonate-* header lines */
	int plain_http;		/* http:// server: no credential is sent */

	pthread_mutex_t mu;	/* guards the token fields below */
	int recheck;		/* seconds between tokenFile stat()s */
	char *token;
	char *token_file;
	time_t checked;		/* last stat() of token_file */
	int tf_missing;		/* its last stat() failed (warned once) */
	struct timespec mtime;
	off_t size;
	ino_t ino;

	unsigned gen;		/* bumped whenever the credential changes */
	char lasterr[512];	/* last credential failure, for callers' messages */

	/* exec plugin (immutable after auth_new) */
	struct kc_exec *exec;
	char *exec_info;	/* KUBERNETES_EXEC_INFO */
	char *exec_info_tty;	/* the same with spec.interactive true */
	long exec_timeout_ms;
	/* its cached result, under mu */
	pthread_cond_t cv;
	int running;
	unsigned long runs;	/* completed runs */
	int x_valid;
	struct cred_result x;
	int x_err;		/* -errno of the last failed run */
	char x_msg[512];
	int starting;		/* the identity check at mount is running */
	long interactive_ms;	/* > 0: plugins may use the terminal (start-up) */

	/* oidc auth-provider (under mu) */
	struct kc_oidc *oidc;

	/* what the server last said of the credential, for .podfs/status */
	enum auth_state state;
	char state_msg[512];
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int blob_copy(struct kc_blob *dst, const struct kc_blob *src)
{
	dst->data = NULL;
	dst->len = 0;
	if (!src->len)
		return 0;
	dst->data = malloc(src->len + 1);
	if (!dst->data)
		return -1;
	memcpy(dst->data, src->data, src->len);
	dst->data[src->len] = 0;
	dst->len = src->len;
	return 0;
}

static void blob_wipe(struct kc_blob *b)
{
	if (b->data)
		OPENSSL_cleanse(b->data, b->len);
	free(b->data);
	b->data = NULL;
	b->len = 0;
}

static void str_wipe(char **s)
{
	if (*s)
		OPENSSL_cleanse(*s, strlen(*s));
	free(*s);
	*s = NULL;
}

static char *xstrdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* Split the server URL into what curl connects to and what the Host header
 * names, arranging CONNECT_TO when a tls-server-name is configured. */
static int parse_server(struct auth *a, const struct kc_config *kc, char *err, size_t errlen)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL, *eport = NULL, *path = NULL;
	int rc = -1;

	if (!u) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (curl_url_set(u, CURLUPART_URL, kc->server, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &eport, CURLU_DEFAULT_PORT) != CURLUE_OK) {
		snprintf(err, errlen, "%s: cluster \"%s\": server \"%s\" is not a valid URL",
			 kc->source ? kc->source : "kubeconfig",
			 kc->cluster_name ? kc->cluster_name : "", kc->server);
		goto out;
	}
	curl_url_get(u, CURLUPART_PORT, &port, 0);	/* NULL when not explicit */
	curl_url_get(u, CURLUPART_PATH, &path, 0);
	a->prefix = strdup(path && strcmp(path, "/") ? path : "");
	if (a->prefix) {
		size_t n = strlen(a->prefix);
		while (n && a->prefix[n - 1] == '/')
			a->prefix[--n] = 0;
	}
	if (port)
		rc = asprintf(&a->host, "%s:%s", host, port);
	else
		rc = (a->host = strdup(host)) ? 0 : -1;
	if (rc < 0 || !a->prefix)
		goto oom;
	rc = -1;
	if (kc->tls_server_name && kc->tls_server_name[0] &&
	    strcmp(kc->tls_server_name, host)) {
		char *ct;
		const char *sni = kc->tls_server_name;

		if (strpbrk(sni, "/:@?# \t\r\n[]")) {
			snprintf(err, errlen, "%s: cluster \"%s\": tls-server-name \"%s\" is not a host name",
				 kc->source ? kc->source : "kubeconfig",
				 kc->cluster_name ? kc->cluster_name : "", sni);
			goto out;
		}
		if (asprintf(&a->base_url, "%s://%s:%s%s", scheme, sni, eport, a->prefix) < 0)
			goto oom;
		if (asprintf(&ct, "%s:%s:%s:%s", sni, eport, host, eport) < 0)
			goto oom;
		a->connect_to = curl_slist_append(NULL, ct);
		free(ct);
		if (!a->connect_to)
			goto oom;
		a->use_sni = 1;
	} else if (asprintf(&a->base_url, "%s://%s%s", scheme, a->host, a->prefix) < 0) {
		goto oom;
	}
	rc = 0;
	goto out;
oom:
	snprintf(err, errlen, "out of memory");
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_free(eport);
	curl_free(path);
	curl_url_cleanup(u);
	return rc;
}

/* One header line per impersonation field, as client-go's
 * ImpersonatingRoundTripper writes them: Impersonate-User, -Uid, one
 * Impersonate-Group per group, Impersonate-Extra-<key> per value (the key
 * percent-encoded where a header name may not carry it). */
static int imp_headers(struct auth *a, const struct kc_impersonate *imp)
{
	char line[8192];

	if (!imp->user)
		return 0;
	snprintf(line, sizeof(line), "Impersonate-User: %s", imp->user);
	if (!(a->imp = curl_slist_append(NULL, line)))
		return -1;
	if (imp->uid) {
		snprintf(line, sizeof(line), "Impersonate-Uid: %s", imp->uid);
		if (!curl_slist_append(a->imp, line))
			return -1;
	}
	for (size_t i = 0; i < imp->nextra; i++) {
		const struct kc_extra *x = &imp->extra[i];
		int n = snprintf(line, sizeof(line), x->key ? "Impersonate-Extra-" : "Impersonate-Group");

		for (const char *k = x->key; k && *k && n < (int)sizeof(line) - 4; k++)
			n += snprintf(line + n, sizeof(line) - n,
				      strchr("!#$&'*+-.^_`|~", *k) || (*k >= '0' && *k <= '9') ||
				      (*k >= 'A' && *k <= 'Z') || (*k >= 'a' && *k <= 'z')
				      ? "%c" : "%%%02X", (unsigned char)*k);
		snprintf(line + n, sizeof(line) - n, ": %s", x->value);
		if (!curl_slist_append(a->imp, line))
			return -1;
	}
	return 0;
}

/* proxy-url socks5://: kubectl's dialer lets the proxy resolve the server's
 * name, which is curl's socks5h://. */
static int socks5_hostname(struct auth *a)
{
	char *p;

	if (!a->proxy || strncasecmp(a->proxy, "socks5://", 9))
		return 0;
	if (asprintf(&p, "socks5h://%s", a->proxy + 9) < 0)
		return -1;
	free(a->proxy);
	a->proxy = p;
	return 0;
}

struct auth *auth_new(const struct kc_config *kc, char *err, size_t errlen)
{
	struct auth *a;

	pthread_once(&curl_once, curl_init_once);
	if (err && errlen)
		err[0] = 0;
	if (!kc || !kc->server) {
		snprintf(err, errlen, "no server configured");
		return NULL;
	}
	a = calloc(1, sizeof(*a));
	if (!a) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&a->mu, NULL);
	pthread_cond_init(&a->cv, NULL);
	a->recheck = AUTH_TOKEN_RECHECK;
	a->exec_timeout_ms = 10000;
	if (parse_server(a, kc, err, errlen) < 0) {
		auth_free(a);
		return NULL;
	}
	a->server = xstrdup(kc->server);
	a->user = strdup(kc->user_name ? kc->user_name : "");
	a->context = strdup(kc->context ? kc->context : "");
	a->ns = strdup(kc->namespace ? kc->namespace : "default");
	a->proxy = xstrdup(kc->proxy_url);
	a->token = xstrdup(kc->token);
	a->token_file = xstrdup(kc->token_file);
	a->insecure = kc->insecure;
	a->plain_http = !strncasecmp(kc->server, "http://", 7);
	if (!a->server || !a->user || !a->context || !a->ns ||
	    (kc->proxy_url && !a->proxy) || (kc->token && !a->token) ||
	    (kc->token_file && !a->token_file) ||
	    blob_copy(&a->ca, &kc->ca) < 0 || blob_copy(&a->cert, &kc->cert) < 0 ||
	    blob_copy(&a->key, &kc->key) < 0)
		goto oom;
	if (kc->username) {
		char *up;
		size_t n;
		int len = asprintf(&up, "%s:%s", kc->username, kc->password ? kc->password : "");

		if (len < 0)
			goto oom;
		n = 4 * (((size_t)len + 2) / 3) + 1;
		a->basic = malloc(n + 6);
		if (!a->basic) {
			str_wipe(&up);
			goto oom;
		}
		memcpy(a->basic, "Basic ", 6);
		EVP_EncodeBlock((unsigned char *)a->basic + 6, (unsigned char *)up, len);
		str_wipe(&up);
	}
	if (a->token_file) {
		struct stat st;
		if (stat(a->token_file, &st) == 0) {
			a->mtime = st.st_mtim;
			a->size = st.st_size;
			a->ino = st.st_ino;
		}
		a->checked = time(NULL);
	}
	if (kc->exec && !a->token && !a->token_file && !a->basic && !a->cert.len) {
		if (!(a->exec = credplugin_exec_dup(kc->exec)) ||
		    !(a->exec_info = credplugin_exec_info(kc, 0)) ||
		    !(a->exec_info_tty = credplugin_exec_info(kc, 1)))
			goto oom;
	}
	if ((kc->oidc && !(a->oidc = kc_oidc_dup(kc->oidc))) || imp_headers(a, &kc->imp) < 0 ||
	    socks5_hostname(a) < 0)
		goto oom;
	if (a->plain_http && (a->token || a->token_file || a->basic || a->exec || a->oidc))
		pwarn("the server of cluster %s is plain http://: podfs sends no credential "
		      "there, as kubectl does (use https:// to authenticate)", a->server);
	if (a->insecure)
		pwarn("TLS verification is off for cluster %s (insecure-skip-tls-verify): "
		      "the server's identity is not checked", a->server);
	return a;
oom:
	snprintf(err, errlen, "out of memory");
	auth_free(a);
	return NULL;
}

void auth_free(struct auth *a)
{
	if (!a)
		return;
	free(a->server);
	free(a->base_url);
	free(a->host);
	free(a->prefix);
	free(a->user);
	free(a->context);
	free(a->ns);
	free(a->proxy);
	curl_slist_free_all(a->connect_to);
	blob_wipe(&a->ca);
	blob_wipe(&a->cert);
	blob_wipe(&a->key);
	str_wipe(&a->basic);
	str_wipe(&a->token);
	free(a->token_file);
	credplugin_exec_free(a->exec);
	free(a->exec_info);
	free(a->exec_info_tty);
	kc_oidc_free(a->oidc);
	curl_slist_free_all(a->imp);
	cred_result_free(&a->x);
	pthread_cond_destroy(&a->cv);
	pthread_mutex_destroy(&a->mu);
	free(a);
}

/* Re-read tokenFile if it changed; called with a->mu held.  A failed read
 * keeps the previous token: a rotation in progress must not log us out. */
static void token_refresh_locked(struct auth *a, int force)
{
	struct stat st;
	time_t now = time(NULL);
	FILE *f;
	char *buf;
	size_t n;

	if (!a->token_file || (!force && a->token && now - a->checked < a->recheck &&
					 now >= a->checked))
		return;
	a->checked = now;
	if (stat(a->token_file, &st) < 0) {
		/* once per outage: with `token` as the fallback (client-go's
		 * rule) a file that never appears is a normal setup */
		if (!a->tf_missing)
			pwarn("tokenFile %s: %s (keeping the previous token)", a->token_file,
			      strerror(errno));
		a->tf_missing = 1;
		return;
	}
	a->tf_missing = 0;
	if (!force && a->token && st.st_mtim.tv_sec == a->mtime.tv_sec &&
	    st.st_mtim.tv_nsec == a->mtime.tv_nsec && st.st_size == a->size && st.st_ino == a->ino)
		return;
	f = fopen(a->token_file, "rb");
	if (!f) {
		pwarn("tokenFile %s: %s (keeping the previous token)", a->token_file, strerror(errno));
		return;
	}
	buf = calloc(1, AUTH_MAX_TOKEN + 1);
	n = buf ? fread(buf, 1, AUTH_MAX_TOKEN, f) : 0;
	fclose(f);
	if (!buf)
		return;
	buf[n] = 0;
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ' || buf[n - 1] == '\t'))
		buf[--n] = 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f)
			n = 0;	/* a header injection or a half-written file: ignore */
	if (n == 0) {
		pwarn("tokenFile %s: empty or not a token (keeping the previous token)", a->token_file);
		free(buf);
		return;
	}
	a->mtime = st.st_mtim;
	a->size = st.st_size;
	a->ino = st.st_ino;
	/* a forced re-read (after a 401) must not fake a change: a retry
	 * with the same token is pointless */
	if (a->token && !strcmp(a->token, buf)) {
		OPENSSL_cleanse(buf, n);
		free(buf);
		return;
	}
	str_wipe(&a->token);
	a->token = buf;
	a->gen++;
	pinfo("tokenFile %s re-read", a->token_file);
}

static void set_state_locked(struct auth *a, enum auth_state st, const char *msg)
{
	a->state = st;
	snprintf(a->state_msg, sizeof(a->state_msg), "%s", msg ? msg : "");
}

static int x_fresh(const struct auth *a)
{
	return a->x_valid && (!a->x.expiry || time(NULL) < a->x.expiry);
}

/* Make sure the plugin's credential is cached and not expired, running
 * the plugin if needed.  Called and returns with a->mu held; drops it while
 * the plugin runs.  Threads that find a run in progress wait for it and
 * take its result, so a burst of callers costs one run. */
static int exec_ensure_locked(struct auth *a)
{
	struct cred_result r;
	char msg[sizeof(a->x_msg)];
	long timeout;
	int rc, interactive;

	for (;;) {
		if (x_fresh(a))
			return 0;
		if (a->running) {
			unsigned long seen = a->runs;

			while (a->running)
				pthread_cond_wait(&a->cv, &a->mu);
			if (a->runs != seen && !a->x_valid) {
				snprintf(a->lasterr, sizeof(a->lasterr), "%s", a->x_msg);
				return a->x_err;
			}
			continue;
		}
		a->running = 1;
		interactive = a->interactive_ms > 0 && credplugin_can_interact(a->exec);
		timeout = interactive ? a->interactive_ms : a->exec_timeout_ms;
		pthread_mutex_unlock(&a->mu);
		pdebug("running exec plugin %s%s", a->exec->command,
		       interactive ? " with the terminal" : "");
		rc = credplugin_run(a->exec, interactive ? a->exec_info_tty : a->exec_info,
				    timeout, interactive, &r, msg, sizeof(msg));
		pthread_mutex_lock(&a->mu);
		a->running = 0;
		a->runs++;
		if (rc == 0) {
			cred_result_free(&a->x);
			a->x = r;
			a->x_valid = 1;
			a->gen++;
			if (r.expiry && r.expiry <= time(NULL))
				pwarn("exec plugin %s returned a credential that has already expired",
				      a->exec->command);
		} else {
			/* an expired credential is no fallback; one without expiry
			 * was dropped by a 401 already */
			cred_result_free(&a->x);
			a->x_valid = 0;
			a->x_err = rc;
			snprintf(a->x_msg, sizeof(a->x_msg), "%s", msg);
			snprintf(a->lasterr, sizeof(a->lasterr), "%s", msg);
			set_state_locked(a, AUTH_PLUGIN_ERROR, msg);
			if (!a->starting)	/* at start-up the caller says it */
				pwarn("%s", msg);
		}
		pthread_cond_broadcast(&a->cv);
		return rc;
	}
}

/* The oidc id-token, refreshed when it has expired, with a->mu held (the
 * issuer round trip is short and every caller needs its result). */
static int oidc_ensure_locked(struct auth *a)
{
	struct kc_oidc *o = a->oidc;
	char *id, *rt, err[512];
	int fresh = oidc_token_fresh(o->id_token, time(NULL)), rc;

	if (fresh > 0)
		return 0;
	if (fresh < 0 && o->id_token) {
		snprintf(a->lasterr, sizeof(a->lasterr), "the oidc id-token of user %s is not a "
			 "JWT (client-go refuses it too)", a->user);
		set_state_locked(a, AUTH_PLUGIN_ERROR, a->lasterr);
		return -EACCES;
	}
	pinfo("the oidc id-token of user %s has expired: refreshing it at %s", a->user, o->issuer);
	rc = oidc_refresh(o, a->exec_timeout_ms, &id, &rt, err, sizeof(err));
	if (rc < 0) {
		snprintf(a->lasterr, sizeof(a->lasterr), "%s", err);
		set_state_locked(a, AUTH_PLUGIN_ERROR, err);
		if (!a->starting)
			pwarn("%s", err);
		return rc;
	}
	str_wipe(&o->id_token);
	o->id_token = id;
	if (rt) {
		str_wipe(&o->refresh_token);
		o->refresh_token = rt;
	}
	a->gen++;
	/* as client-go's persister: the new tokens go back into the file
	 * that defines the user; a failed write is not fatal */
	if (kc_persist_oidc(o->file, o->user, o->id_token, rt, err, sizeof(err)) < 0)
		pwarn("oidc: the refreshed id-token could not be saved: %s", err);
	return 0;
}

/* The credential of the next request, with a->mu held: refreshes tokenFile,
 * the OIDC id-token or the plugin as needed.  Over plain http:// none is
 * sent, so none is fetched. */
static int cred_locked(struct auth *a)
{
	if (a->plain_http)
		return 0;
	token_refresh_locked(a, 0);
	if (a->token || a->basic)
		return 0;
	if (a->oidc)
		return oidc_ensure_locked(a);
	return a->exec ? exec_ensure_locked(a) : 0;
}

/* The header for the current credential into buf, with a->mu held. */
static int header_locked(struct auth *a, char *buf, size_t len)
{
	int n = 0;

	buf[0] = 0;
	if (a->plain_http)
		return 0;
	if (a->token)
		n = snprintf(buf, len, "Authorization: Bearer %s", a->token);
	else if (a->oidc && a->oidc->id_token)
		n = snprintf(buf, len, "Authorization: Bearer %s", a->oidc->id_token);
	else if (a->basic)
		n = snprintf(buf, len, "Authorization: %s", a->basic);
	else if (a->exec && a->x_valid && a->x.token)
		n = snprintf(buf, len, "Authorization: Bearer %s", a->x.token);
	if (n < 0 || (size_t)n >= len) {
		OPENSSL_cleanse(buf, len);
		buf[0] = 0;
		return -ENOSPC;
	}
	return 0;
}

int auth_header(struct auth *a, char *buf, size_t len)
{
	int rc;

	if (!len)
		return -EINVAL;
	buf[0] = 0;
	pthread_mutex_lock(&a->mu);
	rc = cred_locked(a);
	if (rc == 0)
		rc = header_locked(a, buf, len);
	pthread_mutex_unlock(&a->mu);
	return rc;
}

int auth_apply(struct auth *a, CURL *h, struct curl_slist **hdrs)
{
	return auth_apply_gen(a, h, hdrs, NULL);
}

int auth_apply_gen(struct auth *a, CURL *h, struct curl_slist **hdrs, unsigned *gen)
{
	CURLcode rc = CURLE_OK;
	char line[AUTH_MAX_TOKEN + 64];
	int r;

#define SET(opt, val) do { if (rc == CURLE_OK) rc = curl_easy_setopt(h, opt, val); } while (0)
	SET(CURLOPT_SSL_VERIFYPEER, a->insecure ? 0L : 1L);
	SET(CURLOPT_SSL_VERIFYHOST, a->insecure ? 0L : 2L);
	if (a->ca.len) {
		struct curl_blob b = { a->ca.data, a->ca.len, CURL_BLOB_COPY };
		SET(CURLOPT_CAINFO_BLOB, &b);
	}
	if (a->connect_to)
		SET(CURLOPT_CONNECT_TO, a->connect_to);
	if (a->proxy)
		SET(CURLOPT_PROXY, a->proxy);
	if (rc != CURLE_OK) {
		perr("curl option for cluster %s refused: %s", a->server, curl_easy_strerror(rc));
		return -EINVAL;
	}

	/* the credential: static, tokenFile or the plugin's, read under the
	 * lock so the certificate, the header and the generation match */
	pthread_mutex_lock(&a->mu);
	if ((r = cred_locked(a)) < 0) {
		pthread_mutex_unlock(&a->mu);
		return r;
	}
	{
		const struct kc_blob *cert = &a->cert, *key = &a->key;

		if (!cert->len && a->exec && a->x_valid) {
			cert = &a->x.cert;
			key = &a->x.key;
		}
		if (cert->len && key->len) {
			struct curl_blob c = { cert->data, cert->len, CURL_BLOB_COPY };
			struct curl_blob k = { key->data, key->len, CURL_BLOB_COPY };
			SET(CURLOPT_SSLCERTTYPE, "PEM");
			SET(CURLOPT_SSLCERT_BLOB, &c);
			SET(CURLOPT_SSLKEYTYPE, "PEM");
			SET(CURLOPT_SSLKEY_BLOB, &k);
		}
	}
#undef SET
	line[0] = 0;
	r = hdrs ? header_locked(a, line, sizeof(line)) : 0;
	if (gen)
		*gen = a->gen;
	pthread_mutex_unlock(&a->mu);
	if (rc != CURLE_OK) {
		perr("curl refused the client certificate for cluster %s: %s", a->server,
		     curl_easy_strerror(rc));
		return -EINVAL;
	}
	if (r < 0 || !hdrs)
		return r;
	if (line[0]) {
		struct curl_slist *n = curl_slist_append(*hdrs, line);
		OPENSSL_cleanse(line, sizeof(line));
		if (!n)
			return -ENOMEM;
		*hdrs = n;
	}
	for (struct curl_slist *i = a->imp; i; i = i->next) {
		struct curl_slist *n = curl_slist_append(*hdrs, i->data);

		if (!n)
			return -ENOMEM;
		*hdrs = n;
	}
	if (a->use_sni) {
		struct curl_slist *n;
		snprintf(line, sizeof(line), "Host: %s", a->host);
		if (!(n = curl_slist_append(*hdrs, line)))
			return -ENOMEM;
		*hdrs = n;
	}
	return 0;
}

int auth_refresh(struct auth *a, unsigned gen)
{
	int retry = 0;

	pthread_mutex_lock(&a->mu);
	if (a->gen != gen) {
		retry = 1;		/* someone else has a new credential already */
	} else if (a->token || a->basic) {
		if (a->token_file) {
			token_refresh_locked(a, 1);
			retry = a->gen != gen;
		}
	} else if (a->exec) {
		/* the server refused the plugin's credential although it had
		 * not expired (revoked, or no expirationTimestamp): run again */
		pinfo("the API server refused the credential of exec plugin %s (401): "
		      "running it again", a->exec->command);
		a->x_valid = 0;
		a->gen++;
		retry = 1;
	}
	pthread_mutex_unlock(&a->mu);
	return retry;
}

int auth_error(struct auth *a, char *buf, size_t len)
{
	if (!len)
		return 0;
	pthread_mutex_lock(&a->mu);
	snprintf(buf, len, "%s", a->lasterr[0] ? a->lasterr : "no credential");
	pthread_mutex_unlock(&a->mu);
	return 0;
}

void auth_set_exec_timeout(struct auth *a, long timeout_ms)
{
	pthread_mutex_lock(&a->mu);
	a->exec_timeout_ms = timeout_ms > 0 ? timeout_ms : 10000;
	pthread_mutex_unlock(&a->mu);
}

int auth_has_exec(const struct auth *a) { return a->exec != NULL; }

void auth_set_token_recheck(struct auth *a, int seconds)
{
	pthread_mutex_lock(&a->mu);
	a->recheck = seconds < 0 ? 0 : seconds;
	pthread_mutex_unlock(&a->mu);
}

const char *auth_server(const struct auth *a) { return a->server; }
const char *auth_user(const struct auth *a) { return a->user; }
const char *auth_context(const struct auth *a) { return a->context; }
const char *auth_namespace(const struct auth *a) { return a->ns; }
const char *auth_base_url(const struct auth *a) { return a->base_url; }
const char *auth_host(const struct auth *a) { return a->host; }
const char *auth_prefix(const struct auth *a) { return a->prefix; }
int auth_has_proxy(const struct auth *a) { return a->proxy != NULL; }

/* curl results that mean the TLS handshake or a certificate failed. */
static int tls_failure(CURLcode cc)
{
	return cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CONNECT_ERROR ||
	       cc == CURLE_SSL_CACERT_BADFILE || cc == CURLE_SSL_CERTPROBLEM ||
	       cc == CURLE_SSL_ISSUER_ERROR;
}

void auth_observe(struct auth *a, const char *what, CURLcode cc, long code, const char *msg)
{
	enum auth_state st;
	int quiet;

	if (code == 401)
		st = AUTH_UNAUTHORIZED;
	else if (code > 0)
		st = AUTH_OK;
	else if (tls_failure(cc))
		st = AUTH_TLS_ERROR;
	else
		return;		/* unreachable, timed out: says nothing of the credential */
	pthread_mutex_lock(&a->mu);
	set_state_locked(a, st, msg);
	quiet = a->starting;
	pthread_mutex_unlock(&a->mu);
	if (quiet)
		return;
	if (st == AUTH_UNAUTHORIZED)
		pwarn("%s: the API server refused the credential of user %s (401 Unauthorized): %s",
		      what, a->user[0] ? a->user : "(none)", msg && msg[0] ? msg : "Unauthorized");
	else if (st == AUTH_TLS_ERROR)
		pwarn("%s: TLS with %s failed: %s", what, a->server, msg && msg[0] ? msg : "");
}

enum auth_state auth_state(struct auth *a, char *msg, size_t len)
{
	enum auth_state st;

	pthread_mutex_lock(&a->mu);
	st = a->state;
	if (len)
		snprintf(msg, len, "%s", a->state_msg);
	pthread_mutex_unlock(&a->mu);
	return st;
}

const char *auth_state_name(enum auth_state s)
{
	switch (s) {
	case AUTH_OK: return "ok";
	case AUTH_UNAUTHORIZED: return "unauthorized";
	case AUTH_TLS_ERROR: return "tls error";
	case AUTH_PLUGIN_ERROR: return "no credential";
	default: return "unknown";
	}
}

void auth_set_starting(struct auth *a, int starting, long interactive_ms)
{
	pthread_mutex_lock(&a->mu);
	a->starting = starting;
	a->interactive_ms = starting && interactive_ms > 0 ? interactive_ms : 0;
	pthread_mutex_unlock(&a->mu);
}
