/* OIDC refresh for the oidc auth-provider, as client-go's
 * plugin/pkg/client/auth/oidc does it: the id-token (a JWT) is used while
 * its exp claim is more than 10 s away; after that the refresh token is
 * exchanged at the token endpoint that the issuer's discovery document
 * names.  The response must carry an id_token (client-go refuses one
 * without); a new refresh_token replaces the old one.  The issuer's TLS is
 * verified against idp-certificate-authority(-data), else the system
 * store.  Nothing here logs a token; error lines carry the issuer's
 * "error" / "error_description" only. */
#include "stream/oidc.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OIDC_MAX_BODY	(1u << 20)
#define OIDC_EXPIRY_DELTA 10

/* base64url without padding (a JWT segment) into a NUL-terminated buffer. */
static char *b64url_decode(const char *s, size_t n)
{
	size_t k = (n + 3) / 4 * 4;
	char *t = malloc(k + 1), *out;
	int r;

	if (!t)
		return NULL;
	for (size_t i = 0; i < k; i++) {
		char c = i < n ? s[i] : '=';
		t[i] = c == '-' ? '+' : c == '_' ? '/' : c;
	}
	t[k] = 0;
	out = malloc(k / 4 * 3 + 1);
	r = out ? EVP_DecodeBlock((unsigned char *)out, (unsigned char *)t, (int)k) : -1;
	free(t);
	if (r < 0) {
		free(out);
		return NULL;
	}
	out[r] = 0;
	return out;
}

int oidc_token_fresh(const char *jwt, time_t now)
{
	const char *p1 = jwt ? strchr(jwt, '.') : NULL, *p2 = p1 ? strchr(p1 + 1, '.') : NULL;
	const cJSON *exp;
	cJSON *claims;
	char *payload;
	int fresh;

	if (!p1 || !p2 || strchr(p2 + 1, '.'))
		return -1;
	if (!(payload = b64url_decode(p1 + 1, (size_t)(p2 - p1 - 1))))
		return -1;
	claims = cJSON_Parse(payload);
	free(payload);
	if (!cJSON_IsObject(claims)) {
		cJSON_Delete(claims);
		return -1;
	}
	exp = cJSON_GetObjectItemCaseSensitive(claims, "exp");
	fresh = cJSON_IsNumber(exp) && (double)now + OIDC_EXPIRY_DELTA < exp->valuedouble;
	cJSON_Delete(claims);
	return fresh;
}

struct body {
	char *p;
	size_t n;
	int too_big;
};

static size_t on_body(char *p, size_t sz, size_t nm, void *ud)
{
	struct body *b = ud;
	size_t n = sz * nm;
	char *q;

	if (b->n + n > OIDC_MAX_BODY) {
		b->too_big = 1;
		return 0;
	}
	if (!(q = realloc(b->p, b->n + n + 1)))
		return 0;
	memcpy(q + b->n, p, n);
	b->p = q;
	b->n += n;
	b->p[b->n] = 0;
	return n;
}

/* One request to the issuer; 0 with the parsed JSON reply of any status in
 * *json and the status in *code, or -errno with err set. */
static int issuer_call(const struct kc_oidc *o, const char *url, const char *form,
		       long timeout_ms, long *code, cJSON **json, char *err, size_t errlen)
{
	CURL *h = curl_easy_init();
	struct body b = { 0 };
	char ebuf[CURL_ERROR_SIZE] = "";
	CURLcode cc;

	*json = NULL;
	if (!h) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, ebuf);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https,http");
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "podfs/0.1");
	if (o->ca.len) {
		struct curl_blob ca = { o->ca.data, o->ca.len, CURL_BLOB_COPY };
		curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &ca);
	}
	if (form) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, form);
		if (o->client_secret) {
			/* oauth2's AuthStyleInHeader: both URL-encoded, then Basic */
			char *id = curl_easy_escape(h, o->client_id, 0);
			char *sec = curl_easy_escape(h, o->client_secret, 0);

			curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
			curl_easy_setopt(h, CURLOPT_USERNAME, id ? id : "");
			curl_easy_setopt(h, CURLOPT_PASSWORD, sec ? sec : "");
			curl_free(id);
			if (sec)
				OPENSSL_cleanse(sec, strlen(sec));
			curl_free(sec);
		}
	}
	cc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, code);
	curl_easy_cleanup(h);
	if (cc != CURLE_OK) {
		snprintf(err, errlen, "OIDC issuer %s: %s", o->issuer,
			 ebuf[0] ? ebuf : curl_easy_strerror(cc));
		free(b.p);
		return -EACCES;
	}
	*json = b.p ? cJSON_Parse(b.p) : NULL;
	if (b.p)
		OPENSSL_cleanse(b.p, b.n);
	free(b.p);
	if (!*json) {
		snprintf(err, errlen, "OIDC issuer %s: HTTP %ld, the reply is not JSON", o->issuer, *code);
		return -EACCES;
	}
	return 0;
}

static const char *jstr(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) && v->valuestring[0] ? v->valuestring : NULL;
}

/* The token endpoint from the discovery document, malloc'd. */
static char *token_endpoint(const struct kc_oidc *o, long timeout_ms, char *err, size_t errlen)
{
	size_t n = strlen(o->issuer);
	char *url, *ep = NULL;
	cJSON *j;
	long code = 0;

	while (n && o->issuer[n - 1] == '/')
		n--;
	if (asprintf(&url, "%.*s/.well-known/openid-configuration", (int)n, o->issuer) < 0)
		return NULL;
	if (issuer_call(o, url, NULL, timeout_ms, &code, &j, err, errlen) == 0) {
		if (code == 200 && jstr(j, "token_endpoint"))
			ep = strdup(jstr(j, "token_endpoint"));
		else
			snprintf(err, errlen, "OIDC issuer %s: discovery (HTTP %ld) names no "
				 "token_endpoint", o->issuer, code);
		cJSON_Delete(j);
	}
	free(url);
	return ep;
}

int oidc_refresh(const struct kc_oidc *o, long timeout_ms, char **id_token,
		 char **refresh_token, char *err, size_t errlen)
{
	char *ep, *form = NULL, *rt, *id;
	const char *v;
	cJSON *j = NULL;
	long code = 0;
	int rc = -EACCES;

	*id_token = *refresh_token = NULL;
	if (!o->refresh_token) {
		snprintf(err, errlen, "the OIDC id-token has expired and there is no refresh-token "
			 "(log in again)");
		return -EACCES;
	}
	if (!(ep = token_endpoint(o, timeout_ms, err, errlen)))
		return -EACCES;
	rt = curl_easy_escape(NULL, o->refresh_token, 0);
	id = curl_easy_escape(NULL, o->client_id, 0);
	if (!rt || !id || asprintf(&form, "grant_type=refresh_token&refresh_token=%s%s%s", rt,
				   o->client_secret ? "" : "&client_id=",
				   o->client_secret ? "" : id) < 0)
		form = NULL;
	if (rt)
		OPENSSL_cleanse(rt, strlen(rt));
	curl_free(rt);
	curl_free(id);
	if (form && issuer_call(o, ep, form, timeout_ms, &code, &j, err, errlen) == 0) {
		if (code != 200)
			snprintf(err, errlen, "OIDC issuer %s refused the refresh token (HTTP %ld): %s%s%s",
				 o->issuer, code, jstr(j, "error") ? jstr(j, "error") : "error",
				 jstr(j, "error_description") ? ": " : "",
				 jstr(j, "error_description") ? jstr(j, "error_description") : "");
		else if (!(v = jstr(j, "id_token")))
			snprintf(err, errlen, "OIDC issuer %s: the token response did not contain "
				 "an id_token", o->issuer);
		else if (!(*id_token = strdup(v)) ||
			 ((v = jstr(j, "refresh_token")) && !(*refresh_token = strdup(v))))
			snprintf(err, errlen, "out of memory");
		else
			rc = 0;
	} else if (!form) {
		snprintf(err, errlen, "out of memory");
	}
	if (rc < 0) {
		free(*id_token);
		*id_token = NULL;
	}
	if (form)
		OPENSSL_cleanse(form, strlen(form));
	free(form);
	free(ep);
	cJSON_Delete(j);	/* held tokens: cJSON frees without wiping, a known limit */
	return rc;
}
