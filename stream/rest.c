/* REST calls to the API server.  Easy handles are pooled: each keeps its
 * own connection cache, so a handle taken from the pool usually reuses a
 * live keep-alive (or HTTP/2) connection.  Every call has a deadline
 * (CURLOPT_TIMEOUT_MS), including the retries of 429/503 that honour
 * Retry-After, so a FUSE metadata operation never waits longer than the
 * mount's timeout.  Bodies are capped; an oversized reply is an error, not
 * an out-of-memory kill.
 *
 * Transport errors map to errno as: timeout -> ETIMEDOUT, refused ->
 * ECONNREFUSED, name not resolved -> EHOSTUNREACH, server certificate not
 * trusted or client certificate refused -> EACCES (a permission problem to
 * the user), TLS handshake failure -> EPROTO, body too large -> EFBIG,
 * anything else (reset, truncated reply) -> EIO.  curl's own text goes to
 * resp->msg. */
#include "stream/rest.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "stream/log.h"

#define REST_MAX_BODY	(256u << 20)
#define REST_MAX_ERRBODY (64u << 10)	/* error bodies of streamed calls */
#define REST_POOL	16
#define REST_RETRIES	2

struct rest {
	struct auth *a;
	long timeout_ms;
	pthread_mutex_t mu;	/* a leaf: guards pool and npool only */
	CURL *pool[REST_POOL];	/* (mu) */
	int npool;		/* (mu) */
};

struct rest *rest_new(struct auth *a, long timeout_ms)
{
	struct rest *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->a = a;
	r->timeout_ms = timeout_ms > 0 ? timeout_ms : 10000;
	pthread_mutex_init(&r->mu, NULL);
	/* a credential plugin may take no longer than a call may */
	if (a)
		auth_set_exec_timeout(a, r->timeout_ms);
	return r;
}

void rest_free(struct rest *r)
{
	if (!r)
		return;
	for (int i = 0; i < r->npool; i++)
		curl_easy_cleanup(r->pool[i]);
	pthread_mutex_destroy(&r->mu);
	free(r);
}

struct auth *rest_auth(struct rest *r) { return r->a; }
long rest_timeout_ms(struct rest *r) { return r->timeout_ms; }

static CURL *take(struct rest *r)
{
	CURL *h = NULL;

	pthread_mutex_lock(&r->mu);
	if (r->npool > 0)
		h = r->pool[--r->npool];
	pthread_mutex_unlock(&r->mu);
	return h ? h : curl_easy_init();
}

static void give_back(struct rest *r, CURL *h)
{
	/* reset drops options but keeps the connection and TLS session caches */
	curl_easy_reset(h);
	pthread_mutex_lock(&r->mu);
	if (r->npool < REST_POOL) {
		r->pool[r->npool++] = h;
		h = NULL;
	}
	pthread_mutex_unlock(&r->mu);
	if (h)
		curl_easy_cleanup(h);
}

int curl_code_errno(CURLcode c)
{
	switch (c) {
	case CURLE_OK:
		return 0;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return -EHOSTUNREACH;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
		return -EACCES;
	case CURLE_SSL_CONNECT_ERROR:
		return -EPROTO;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	case CURLE_ABORTED_BY_CALLBACK:
		return -EINTR;
	case CURLE_FILESIZE_EXCEEDED:
		return -EFBIG;
	case CURLE_URL_MALFORMAT:
		return -EINVAL;
	default:
		return -EIO;
	}
}



void k8s_status_message(const char *body, size_t len, char *msg, size_t n)
{
	cJSON *j;
	size_t i, line;

	if (!msg || !n)
		return;
	msg[0] = 0;
	if (!body || !len)
		return;
	i = 0;
	while (i < len && (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' || body[i] == '\n'))
		i++;
	if (i < len && (body[i] == '{' || body[i] == '[')) {
		j = cJSON_ParseWithLength(body, len);
		if (j) {
			const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "message");
			const cJSON *rs = cJSON_GetObjectItemCaseSensitive(j, "reason");
			if (cJSON_IsString(m) && m->valuestring[0])
				k8s_text(msg, n, m->valuestring, strlen(m->valuestring), K8S_TEXT_LINE);
			else if (cJSON_IsString(rs))
				k8s_text(msg, n, rs->valuestring, strlen(rs->valuestring), K8S_TEXT_LINE);
			cJSON_Delete(j);
		}
		return;		/* JSON that is not a Status, or broken JSON: nothing usable */
	}
	/* plain text (kubelet errors): the first line, if it is text at all */
	for (line = i; line < len && body[line] != '\n'; line++) {
		unsigned char c = (unsigned char)body[line];
		if ((c < 0x20 && c != '\t' && c != '\r') || c == 0x7f)
			return;
	}
	k8s_text(msg, n, body + i, line - i, K8S_TEXT_LINE);
}

char *url_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = s ? strlen(s) : 0;
	char *out = malloc(n * 3 + 1), *p = out;

	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~') {
			*p++ = (char)c;
		} else {
			*p++ = '%';
			*p++ = hex[c >> 4];
			*p++ = hex[c & 15];
		}
	}
	*p = 0;
	return out;
}

/* ---------------------------------------------------------------- calls */

struct sink {
	struct rest_resp *resp;
	size_t cap;
	size_t limit;
	int too_big;
	int stopped;		/* the stream callback asked to stop */
	CURL *h;
	int (*cb)(void *ud, const char *p, size_t n);
	void *ud;
	time_t last_tick;
};

static int sink_append(struct sink *s, const char *p, size_t n)
{
	struct rest_resp *r = s->resp;

	if (r->len + n > s->limit) {
		s->too_big = 1;
		return -1;
	}
	if (r->len + n + 1 > s->cap) {
		size_t nc = s->cap ? s->cap : 4096;
		char *q;
		while (nc < r->len + n + 1)
			nc *= 2;
		if (nc > s->limit + 1)
			nc = s->limit + 1;
		q = realloc(r->body, nc);
		if (!q)
			return -1;
		r->body = q;
		s->cap = nc;
	}
	memcpy(r->body + r->len, p, n);
	r->len += n;
	r->body[r->len] = 0;
	return 0;
}

static size_t on_body(char *p, size_t sz, size_t nm, void *ud)
{
	struct sink *s = ud;
	size_t n = sz * nm;

	if (s->cb) {
		long code = 0;
		curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &code);
		if (code >= 200 && code < 300) {
			if (s->cb(s->ud, p, n)) {
				s->stopped = 1;
				return 0;
			}
			return n;
		}
		/* an error body of a stream: keep its head for the message */
		if (s->resp->len < s->limit)
			sink_append(s, p, n < s->limit - s->resp->len ? n : s->limit - s->resp->len);
		return n;
	}
	return sink_append(s, p, n) < 0 ? 0 : n;
}

/* While a stream is idle the callback is ticked with n == 0 about once a
 * second, so its owner can stop a silent follow. */
static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	struct sink *s = ud;
	time_t now = time(NULL);

	(void)dt; (void)dn; (void)ut; (void)un;
	if (!s->cb || now == s->last_tick)
		return 0;
	s->last_tick = now;
	if (s->cb(s->ud, NULL, 0)) {
		s->stopped = 1;
		return 1;
	}
	return 0;
}


static void resp_reset(struct rest_resp *resp)
{
	free(resp->body);
	resp->body = NULL;
	resp->len = 0;
	resp->code = 0;
	resp->msg[0] = 0;
}

/* The request's options on a handle from the pool; timeout_ms 0: none. */
static void set_request(CURL *h, const char *method, const char *url, struct curl_slist *hdrs,
			char *errbuf, long timeout_ms, long connect_ms, struct sink *s)
{
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "podfs/0.1");
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
	if (timeout_ms)
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
	if (strcmp(method, "GET"))
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, s);
	if (s->cb) {
		curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
		curl_easy_setopt(h, CURLOPT_XFERINFODATA, s);
		curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	}
}

/* An API server that sheds load (429, 503) is asked again after its
 * Retry-After, capped at 10 s, else 0.5 s, 1 s: a sleep in the calling
 * thread (a FUSE worker's metadata call, the stream worker), the one
 * sleep podfs has, bounded by the call's deadline (-o timeout): no retry
 * that would end after it; a call without one waits at most REST_RETRIES
 * times 10 s (docs/architecture.md).  0 when it slept. */
static int backoff(const char *method, const char *path, long code, curl_off_t retry_after,
		   int attempt, long deadline)
{
	long wait = retry_after > 0 ? (long)retry_after * 1000 : 500L << attempt;
	struct timespec ts;

	if (wait > 10000)
		wait = 10000;
	if (deadline && (long)mono_ms() + wait >= deadline - 50)
		return -1;
	ts.tv_sec = wait / 1000;
	ts.tv_nsec = (wait % 1000) * 1000000L;
	pdebug("%s %s: HTTP %ld, retrying in %ld ms", method, path, code, wait);
	nanosleep(&ts, NULL);
	return 0;
}

static int do_call(struct rest *r, const char *method, const char *path, long timeout_ms,
		   int (*cb)(void *, const char *, size_t), void *ud, struct rest_resp *resp)
{
	long deadline = timeout_ms > 0 ? (long)mono_ms() + timeout_ms : 0;
	char *url = NULL;
	int attempt = 0, rc, reauth = 0, sent = 0;
	CURLcode last = CURLE_OK;

	memset(resp, 0, sizeof(*resp));
	if (!path || path[0] != '/') {
		snprintf(resp->msg, sizeof(resp->msg), "bad request path");
		return -EINVAL;
	}
	if (asprintf(&url, "%s%s", auth_base_url(r->a), path) < 0) {
		snprintf(resp->msg, sizeof(resp->msg), "out of memory");
		return -ENOMEM;
	}
	for (;;) {
		CURL *h = take(r);
		struct curl_slist *hdrs = NULL, *t;
		struct sink s = { .resp = resp, .h = h, .cb = cb, .ud = ud,
				  .limit = cb ? REST_MAX_ERRBODY : REST_MAX_BODY };
		char errbuf[CURL_ERROR_SIZE] = "";
		curl_off_t retry_after = 0;
		long left = deadline ? deadline - (long)mono_ms() : 0;
		unsigned gen = 0;
		CURLcode cc;

		resp_reset(resp);
		if (!h) {
			snprintf(resp->msg, sizeof(resp->msg), "out of memory");
			rc = -ENOMEM;
			break;
		}
		if (deadline && left <= 0) {
			give_back(r, h);
			snprintf(resp->msg, sizeof(resp->msg), "timed out after %ld ms", timeout_ms);
			rc = -ETIMEDOUT;
			break;
		}
		rc = auth_apply_gen(r->a, h, &hdrs, &gen);
		t = rc == 0 ? curl_slist_append(hdrs, "Accept: application/json, */*") : NULL;
		if (rc < 0 || !t) {
			curl_slist_free_all(hdrs);
			give_back(r, h);
			if (rc < 0 && rc != -ENOMEM && rc != -EINVAL)
				auth_error(r->a, resp->msg, sizeof(resp->msg));	/* plugin failed */
			else
				snprintf(resp->msg, sizeof(resp->msg), "cannot set up the request");
			rc = rc < 0 ? rc : -ENOMEM;
			break;
		}
		hdrs = t;
		set_request(h, method, url, hdrs, errbuf, deadline ? left : 0,
			    deadline ? left : r->timeout_ms, &s);
		cc = curl_easy_perform(h);
		last = cc;
		sent = 1;
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->code);
		curl_easy_getinfo(h, CURLINFO_RETRY_AFTER, &retry_after);
		curl_slist_free_all(hdrs);
		give_back(r, h);
		if (!resp->body && (resp->body = malloc(1)))
			resp->body[0] = 0;

		if (s.stopped && (cc == CURLE_WRITE_ERROR || cc == CURLE_ABORTED_BY_CALLBACK))
			cc = CURLE_OK;	/* the caller stopped the stream: not an error */
		if (s.too_big) {
			snprintf(resp->msg, sizeof(resp->msg), "response body larger than %u MiB",
				 (unsigned)(REST_MAX_BODY >> 20));
			rc = -EFBIG;
			break;
		}
		if (cc != CURLE_OK) {
			rc = curl_code_errno(cc);
			snprintf(resp->msg, sizeof(resp->msg), "%s", errbuf[0] ? errbuf : curl_easy_strerror(cc));
			/* a reply that started but broke off is still a transport error */
			break;
		}
		rc = 0;
		if (resp->code >= 200 && resp->code < 300)
			break;
		k8s_status_message(resp->body, resp->len, resp->msg, sizeof(resp->msg));
		if (!resp->msg[0])
			snprintf(resp->msg, sizeof(resp->msg), "HTTP %ld", resp->code);
		/* a refused credential: re-run the plugin / re-read tokenFile and
		 * try once more (client-go does the same for exec plugins) */
		if (resp->code == 401 && !reauth && auth_refresh(r->a, gen)) {
			pdebug("%s %s: HTTP 401, retrying with a fresh credential", method, path);
			reauth = 1;
			continue;
		}
		if ((resp->code == 429 || resp->code == 503) && attempt < REST_RETRIES &&
		    !backoff(method, path, resp->code, retry_after, attempt, deadline)) {
			attempt++;
			continue;
		}
		break;
	}
	free(url);
	if (!resp->body && (resp->body = malloc(1)))
		resp->body[0] = 0;
	if (sent)	/* what the server said of the credential, once per call */
		auth_observe(r->a, path, last, resp->code, resp->msg);
	return rc;
}

void rest_xfer_free(struct rest_xfer *x)
{
	if (x->h)
		curl_easy_cleanup(x->h);
	curl_slist_free_all(x->hdrs);
	memset(x, 0, sizeof(*x));
}

int rest_xfer_make(struct rest *r, const char *path, struct rest_xfer *x,
		   char *err, size_t errlen)
{
	char *url = NULL;
	int rc;

	memset(x, 0, sizeof(*x));
	if (asprintf(&url, "%s%s", auth_base_url(r->a), path) < 0 || !(x->h = curl_easy_init())) {
		free(url);
		msg_set(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if ((rc = auth_apply_gen(r->a, x->h, &x->hdrs, &x->gen)) < 0) {
		if (rc != -ENOMEM && rc != -EINVAL)
			auth_error(r->a, err, errlen);	/* the exec plugin's reason */
		else
			msg_set(err, errlen, "cannot set up TLS and credentials");
		free(url);
		rest_xfer_free(x);
		return rc;
	}
	curl_easy_setopt(x->h, CURLOPT_URL, url);
	free(url);
	curl_easy_setopt(x->h, CURLOPT_HTTPHEADER, x->hdrs);
	curl_easy_setopt(x->h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(x->h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(x->h, CURLOPT_USERAGENT, "podfs/0.1");
	curl_easy_setopt(x->h, CURLOPT_ERRORBUFFER, x->errbuf);
	curl_easy_setopt(x->h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(x->h, CURLOPT_CONNECTTIMEOUT_MS, r->timeout_ms);
	return 0;
}

int rest_call(struct rest *r, const char *method, const char *path, struct rest_resp *resp)
{
	return do_call(r, method ? method : "GET", path, r->timeout_ms, NULL, NULL, resp);
}

int rest_get(struct rest *r, const char *path, struct rest_resp *resp)
{
	return rest_call(r, "GET", path, resp);
}

int rest_get_stream(struct rest *r, const char *path, long timeout_ms,
		    int (*cb)(void *ud, const char *p, size_t n), void *ud,
		    struct rest_resp *resp)
{
	return do_call(r, "GET", path, timeout_ms, cb, ud, resp);
}

void rest_resp_free(struct rest_resp *resp)
{
	if (!resp)
		return;
	free(resp->body);
	resp->body = NULL;
	resp->len = 0;
}
