/* auth: exec credential plugins (cache until expiry, rerun when expired or
 * after a 401, apiVersion check, installHint, interactiveMode Always,
 * KUBERNETES_EXEC_INFO with and without cluster info, client certificates,
 * timeouts, one run shared by many threads), tokenFile rotation, Basic,
 * oidc id-token, removed providers, in-cluster, and live 401 -> refresh ->
 * retry on REST and on a WebSocket upgrade against tls_server.py.  The
 * plugin is tests/unit/plugins/cred.sh, steered through exec.env. */
#include "stream/auth.h"
#include "stream/conn.h"
#include "stream/credplugin.h"
#include "stream/kubeconfig.h"
#include "stream/rest.h"
#include "tests/unit/check.h"
#include "tests/unit/kubeconfigs/tls_server.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char plugdir[512];	/* tests/unit/plugins, absolute */
static char tmpdir[64];		/* scratch files */
static char countf[128], infof[128], outf[128];

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static int runs(void)
{
	FILE *f = fopen(countf, "r");
	int n = 0;

	if (f) {
		if (fscanf(f, "%d", &n) != 1)
			n = -1;
		fclose(f);
	}
	return n;
}

static void put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *b;
	size_t n;

	if (!f)
		return NULL;
	b = calloc(1, 1 << 16);
	n = b ? fread(b, 1, (1 << 16) - 1, f) : 0;
	(void)n;
	fclose(f);
	return b;
}

/* A kubeconfig with one cluster (server, extra cluster fields) and a user
 * running cred.sh with the given exec fields and env entries. */
static int load_exec(const char *server, const char *cluster_extra, const char *exec_extra,
		     const char *env, struct kc_config *kc, char *err, size_t errlen)
{
	char y[4096];

	snprintf(y, sizeof(y),
		 "current-context: a\nclusters:\n- name: c\n  cluster:\n    server: '%s'\n%s"
		 "users:\n- name: u\n  user:\n    exec:\n      command: ./cred.sh\n%s"
		 "      env:\n      - {name: COUNT_FILE, value: '%s'}\n"
		 "      - {name: INFO_FILE, value: '%s'}\n      - {name: OUT_FILE, value: '%s'}\n%s"
		 "contexts:\n- name: a\n  context: {cluster: c, user: u}\n",
		 server, cluster_extra ? cluster_extra : "",
		 exec_extra ? exec_extra : "      apiVersion: client.authentication.k8s.io/v1\n"
					   "      interactiveMode: IfAvailable\n",
		 countf, infof, outf, env ? env : "");
	return kc_load_buffer(y, strlen(y), "mem.yaml", plugdir, NULL, kc, err, errlen);
}

static struct auth *exec_auth(const char *exec_extra, const char *env, const char *cluster_extra)
{
	struct kc_config kc;
	char err[512];
	struct auth *a = NULL;

	unlink(countf);
	unlink(infof);
	if (load_exec("https://127.0.0.1:1", cluster_extra, exec_extra, env, &kc, err, sizeof(err))) {
		fprintf(stderr, "kubeconfig: %s\n", err);
		return NULL;
	}
	a = auth_new(&kc, err, sizeof(err));
	if (!a)
		fprintf(stderr, "auth_new: %s\n", err);
	kc_free(&kc);
	return a;
}

/* The generation of the credential a request would carry now. */
static unsigned cur_gen(struct auth *a)
{
	CURL *c = curl_easy_init();
	struct curl_slist *hd = NULL;
	unsigned gen = 0;

	if (c && auth_apply_gen(a, c, &hd, &gen) < 0)
		gen = 0;
	curl_slist_free_all(hd);
	curl_easy_cleanup(c);
	return gen;
}

#define V1 "      apiVersion: client.authentication.k8s.io/v1\n      interactiveMode: Never\n"
#define V1B "      apiVersion: client.authentication.k8s.io/v1beta1\n"

static void test_cache_and_expiry(void)
{
	char h[256], h2[256];
	struct auth *a;
	unsigned gen = 0;

	/* no expiry: cached until a 401 */
	a = exec_auth(V1, NULL, NULL);
	CHECK(a != NULL);
	if (!a)
		return;
	CHECK(auth_has_exec(a));
	CHECK(auth_header(a, h, sizeof(h)) == 0);
	CHECK_MSG(!strcmp(h, "Authorization: Bearer tok-1"), "%s", h);
	CHECK(auth_header(a, h, sizeof(h)) == 0);
	CHECK(!strcmp(h, "Authorization: Bearer tok-1"));
	CHECK_MSG(runs() == 1, "runs %d", runs());
	/* a 401: the next request runs the plugin again */
	gen = cur_gen(a);
	CHECK(auth_refresh(a, gen) == 1);
	CHECK(auth_refresh(a, gen) == 1);	/* stale generation: no second invalidation */
	CHECK(auth_header(a, h, sizeof(h)) == 0);
	CHECK_MSG(!strcmp(h, "Authorization: Bearer tok-2"), "%s", h);
	CHECK(auth_header(a, h, sizeof(h)) == 0);
	CHECK_MSG(runs() == 2, "runs %d", runs());
	auth_free(a);

	/* a future expiry: cached */
	a = exec_auth(V1, "      - {name: EXPIRY, value: '2999-01-01T00:00:00Z'}\n", NULL);
	CHECK(a && auth_header(a, h, sizeof(h)) == 0 && auth_header(a, h2, sizeof(h2)) == 0);
	CHECK(!strcmp(h, h2) && runs() == 1);
	auth_free(a);

	/* expired: every use runs it again */
	a = exec_auth(V1, "      - {name: EXPIRY, value: '2001-01-01T00:00:00+01:00'}\n", NULL);
	CHECK(a && auth_header(a, h, sizeof(h)) == 0 && auth_header(a, h2, sizeof(h2)) == 0);
	CHECK_MSG(!strcmp(h, "Authorization: Bearer tok-1") && !strcmp(h2, "Authorization: Bearer tok-2"),
		  "%s / %s", h, h2);
	CHECK(runs() == 2);
	auth_free(a);

	/* expiring in 2 s: cached, then rerun */
	{
		char env[200], ts[40];
		time_t t = time(NULL) + 2;
		strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S.123Z", gmtime(&t));
		snprintf(env, sizeof(env), "      - {name: EXPIRY, value: '%s'}\n", ts);
		a = exec_auth(V1, env, NULL);
		CHECK(a && auth_header(a, h, sizeof(h)) == 0 && auth_header(a, h, sizeof(h)) == 0);
		CHECK(runs() == 1);
		sleep(3);
		CHECK(a && auth_header(a, h, sizeof(h)) == 0);
		CHECK_MSG(runs() == 2 && !strcmp(h, "Authorization: Bearer tok-2"), "%d %s", runs(), h);
		auth_free(a);
	}
}

static void test_errors(void)
{
	char h[256], err[512];
	struct auth *a;
	struct kc_config kc;
	long t0;

	/* the plugin answers with another apiVersion than configured */
	a = exec_auth(V1B, "      - {name: VERSION, value: client.authentication.k8s.io/v1}\n", NULL);
	CHECK(a && auth_header(a, h, sizeof(h)) == -EACCES && !h[0]);
	if (a) {
		auth_error(a, err, sizeof(err));
		CHECK_MSG(strstr(err, "configured to use API version client.authentication.k8s.io/v1beta1") &&
			  strstr(err, "returned version \"client.authentication.k8s.io/v1\""), "%s", err);
	}
	auth_free(a);
	a = exec_auth(V1B, "      - {name: VERSION, value: client.authentication.k8s.io/v1beta1}\n", NULL);
	CHECK(a && auth_header(a, h, sizeof(h)) == 0 && !strcmp(h, "Authorization: Bearer tok-1"));
	auth_free(a);

	/* missing command: the installHint is in the message */
	{
		const char *y = "current-context: a\nclusters:\n- name: c\n  cluster: {server: 'https://h'}\n"
			"users:\n- name: u\n  user:\n    exec:\n      command: podfs-no-such-plugin\n"
			"      apiVersion: client.authentication.k8s.io/v1\n      interactiveMode: Never\n"
			"      installHint: |\n        podfs-no-such-plugin is needed.\n        Install it with: apt install it\n"
			"contexts:\n- name: a\n  context: {cluster: c, user: u}\n";
		CHECK(kc_load_buffer(y, strlen(y), "m", plugdir, NULL, &kc, err, sizeof(err)) == 0);
		a = auth_new(&kc, err, sizeof(err));
		kc_free(&kc);
		CHECK(a && auth_header(a, h, sizeof(h)) == -EACCES);
		if (a) {
			auth_error(a, err, sizeof(err));
			CHECK_MSG(strstr(err, "executable podfs-no-such-plugin not found") &&
				  strstr(err, "Install it with: apt install it") && !strchr(err, '\n'), "%s", err);
		}
		auth_free(a);
	}

	/* interactiveMode Always: refused without running it */
	a = exec_auth("      apiVersion: client.authentication.k8s.io/v1\n      interactiveMode: Always\n",
		      NULL, NULL);
	CHECK(a && auth_header(a, h, sizeof(h)) == -EACCES);
	if (a) {
		auth_error(a, err, sizeof(err));
		CHECK_MSG(strstr(err, "needs a terminal (interactiveMode: Always)"), "%s", err);
	}
	CHECK(runs() == 0);
	auth_free(a);

	/* a failing plugin: exit status and the first stderr line */
	a = exec_auth(V1, "      - {name: MODE, value: fail}\n", NULL);
	CHECK(a && auth_header(a, h, sizeof(h)) == -EACCES);
	if (a) {
		auth_error(a, err, sizeof(err));
		CHECK_MSG(strstr(err, "exit status 3") && strstr(err, "run 'cred login' first") &&
			  !strstr(err, "more detail"), "%s", err);
	}
	auth_free(a);

	/* the first line that is not blank: aws-cli starts with an empty one */
	a = exec_auth(V1, "      - {name: MODE, value: failblank}\n", NULL);
	CHECK(a && auth_header(a, h, sizeof(h)) == -EACCES);
	if (a) {
		auth_error(a, err, sizeof(err));
		CHECK_MSG(strstr(err, "(exit status 255): An error occurred (ExpiredToken)") &&
			  !strstr(err, "second"), "%s", err);
		CHECK(auth_state(a, err, sizeof(err)) == AUTH_PLUGIN_ERROR && strstr(err, "ExpiredToken"));
	}
	auth_free(a);

	/* a hanging plugin is killed at the deadline */
	a = exec_auth(V1, "      - {name: MODE, value: hang}\n", NULL);
	if (a) {
		auth_set_exec_timeout(a, 400);
		t0 = now_ms();
		CHECK(auth_header(a, h, sizeof(h)) == -ETIMEDOUT);
		CHECK_MSG(now_ms() - t0 < 3000, "%ld ms", now_ms() - t0);
		auth_error(a, err, sizeof(err));
		CHECK_MSG(strstr(err, "did not finish within 400 ms"), "%s", err);
	}
	auth_free(a);

	/* garbage and half credentials */
	{
		struct cred_result r;
		const char *v1 = "client.authentication.k8s.io/v1";
		const char *half = "{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
			"\"status\":{\"clientCertificateData\":\"-----BEGIN CERTIFICATE-----\\nx\\n\"}}";
		const char *nost = "{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\"}";
		const char *inj = "{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
			"\"status\":{\"token\":\"a\\r\\nX-Evil: 1\"}}";
		const char *badts = "{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
			"\"status\":{\"token\":\"t\",\"expirationTimestamp\":\"tomorrow\"}}";

		CHECK(credplugin_parse("hello", 5, v1, &r, err, sizeof(err)) == -EACCES && strstr(err, "not a JSON"));
		CHECK(credplugin_parse(half, strlen(half), v1, &r, err, sizeof(err)) == -EACCES &&
		      strstr(err, "clientCertificateData without clientKeyData"));
		CHECK(credplugin_parse(nost, strlen(nost), v1, &r, err, sizeof(err)) == -EACCES &&
		      strstr(err, "didn't return a status"));
		CHECK(credplugin_parse(inj, strlen(inj), v1, &r, err, sizeof(err)) == -EACCES &&
		      strstr(err, "control characters") && !strstr(err, "Evil"));
		CHECK(credplugin_parse(badts, strlen(badts), v1, &r, err, sizeof(err)) == -EACCES &&
		      strstr(err, "RFC 3339"));
	}
}

static void test_exec_info(void)
{
	char h[256], *s;
	struct auth *a;
	cJSON *j;

	a = exec_auth(V1, NULL, NULL);
	CHECK(a && auth_header(a, h, sizeof(h)) == 0);
	auth_free(a);
	s = slurp(infof);
	j = s ? cJSON_Parse(s) : NULL;
	CHECK_MSG(j != NULL, "%s", s ? s : "(no file)");
	if (j) {
		const cJSON *spec = cJSON_GetObjectItem(j, "spec");
		CHECK(!strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(j, "apiVersion")),
			      "client.authentication.k8s.io/v1"));
		CHECK(!strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(j, "kind")), "ExecCredential"));
		CHECK(cJSON_IsFalse(cJSON_GetObjectItem(spec, "interactive")));
		CHECK(!cJSON_GetObjectItem(spec, "cluster"));	/* provideClusterInfo false */
	}
	cJSON_Delete(j);
	free(s);

	a = exec_auth(V1B "      provideClusterInfo: true\n",
		      "      - {name: VERSION, value: client.authentication.k8s.io/v1beta1}\n",
		      "    tls-server-name: kubernetes\n    proxy-url: 'socks5://127.0.0.1:1080'\n"
		      "    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCnh4Cg==\n"
		      "    extensions:\n    - name: client.authentication.k8s.io/exec\n"
		      "      extension: {audience: sts}\n");
	CHECK(a && auth_header(a, h, sizeof(h)) == 0);
	auth_free(a);
	s = slurp(infof);
	j = s ? cJSON_Parse(s) : NULL;
	CHECK_MSG(j != NULL, "%s", s ? s : "(no file)");
	if (j) {
		const cJSON *cl = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "spec"), "cluster");
		CHECK(!strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(j, "apiVersion")),
			      "client.authentication.k8s.io/v1beta1"));
		CHECK(cl && !strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(cl, "server")), "https://127.0.0.1:1"));
		CHECK(cl && !strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(cl, "tls-server-name")), "kubernetes"));
		CHECK(cl && !strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(cl, "proxy-url")), "socks5://127.0.0.1:1080"));
		CHECK(cl && !strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(cl, "certificate-authority-data")),
				    "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCnh4Cg=="));
		CHECK(cl && !strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(cl, "config"),
									      "audience")), "sts"));
	}
	cJSON_Delete(j);
	free(s);
}

struct many {
	struct auth *a;
	char h[256];
	int rc;
};

static void *one(void *arg)
{
	struct many *m = arg;

	m->rc = auth_header(m->a, m->h, sizeof(m->h));
	return NULL;
}

/* Eight threads needing a credential at once: one run, one answer. */
static void test_single_flight(void)
{
	struct many m[8];
	pthread_t t[8];
	struct auth *a = exec_auth(V1, "      - {name: SLEEP, value: '0.3'}\n", NULL);

	if (!a) {
		CHECK(0);
		return;
	}
	for (int i = 0; i < 8; i++) {
		m[i].a = a;
		pthread_create(&t[i], NULL, one, &m[i]);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(t[i], NULL);
		CHECK_MSG(m[i].rc == 0 && !strcmp(m[i].h, "Authorization: Bearer tok-1"), "%d %s", m[i].rc, m[i].h);
	}
	CHECK_MSG(runs() == 1, "runs %d", runs());
	auth_free(a);
}

static void test_static(void)
{
	struct kc_config kc;
	char err[512], h[256], tf[128];
	struct auth *a;
	unsigned gen = 0;
	const char *y;

	/* Basic */
	y = "current-context: a\nclusters:\n- name: c\n  cluster: {server: 'https://h'}\n"
	    "users:\n- name: u\n  user: {username: alice, password: secret}\n"
	    "contexts:\n- name: a\n  context: {cluster: c, user: u}\n";
	CHECK(kc_load_buffer(y, strlen(y), "m", plugdir, NULL, &kc, err, sizeof(err)) == 0);
	a = auth_new(&kc, err, sizeof(err));
	kc_free(&kc);
	CHECK(a && auth_header(a, h, sizeof(h)) == 0 && !strcmp(h, "Authorization: Basic YWxpY2U6c2VjcmV0"));
	CHECK(a && auth_refresh(a, 0) == 0);	/* nothing to refresh: no retry */
	auth_free(a);

	/* oidc: a fresh id-token (exp in 2100) is sent as it is */
	y = "current-context: a\nclusters:\n- name: c\n  cluster: {server: 'https://h'}\n"
	    "users:\n- name: u\n  user:\n    auth-provider: {name: oidc, config: {id-token: eyJhbGciOiJub25lIn0.eyJleHAiOiA0MTAyNDQ0ODAwfQ.sig, "
	    "refresh-token: r, client-id: k, idp-issuer-url: 'https://i'}}\n"
	    "contexts:\n- name: a\n  context: {cluster: c, user: u}\n";
	CHECK(kc_load_buffer(y, strlen(y), "m", plugdir, NULL, &kc, err, sizeof(err)) == 0);
	a = auth_new(&kc, err, sizeof(err));
	kc_free(&kc);
	CHECK(a && auth_header(a, h, sizeof(h)) == 0 && !strcmp(h, "Authorization: Bearer eyJhbGciOiJub25lIn0.eyJleHAiOiA0MTAyNDQ0ODAwfQ.sig"));
	auth_free(a);

	/* gcp: a pointer to the plugin that replaced it */
	y = "current-context: a\nclusters:\n- name: c\n  cluster: {server: 'https://h'}\n"
	    "users:\n- name: u\n  user:\n    auth-provider: {name: gcp, config: {access-token: ya29.secret}}\n"
	    "contexts:\n- name: a\n  context: {cluster: c, user: u}\n";
	CHECK(kc_load_buffer(y, strlen(y), "m", plugdir, NULL, &kc, err, sizeof(err)) == -1);
	CHECK_MSG(strstr(err, "gcp auth plugin has been removed") && strstr(err, "gke-gcloud-auth-plugin") &&
		  !strstr(err, "ya29"), "%s", err);

	/* tokenFile rotation */
	snprintf(tf, sizeof(tf), "%s/token", tmpdir);
	put(tf, "first\n");
	y = "current-context: a\nclusters:\n- name: c\n  cluster: {server: 'https://h'}\n"
	    "users:\n- name: u\n  user: {tokenFile: token}\ncontexts:\n- name: a\n  context: {cluster: c, user: u}\n";
	CHECK(kc_load_buffer(y, strlen(y), "m", tmpdir, NULL, &kc, err, sizeof(err)) == 0);
	a = auth_new(&kc, err, sizeof(err));
	kc_free(&kc);
	if (!a) {
		CHECK(0);
		return;
	}
	auth_set_token_recheck(a, 3600);
	CHECK(auth_header(a, h, sizeof(h)) == 0 && !strcmp(h, "Authorization: Bearer first"));
	put(tf, "second\n");
	CHECK(auth_header(a, h, sizeof(h)) == 0 && !strcmp(h, "Authorization: Bearer first"));
	gen = cur_gen(a);
	CHECK(auth_refresh(a, gen) == 1);	/* a 401 re-reads it at once */
	CHECK(auth_header(a, h, sizeof(h)) == 0 && !strcmp(h, "Authorization: Bearer second"));
	CHECK(auth_refresh(a, gen + 1) == 0);	/* unchanged file: a retry is pointless */
	auth_set_token_recheck(a, 0);
	put(tf, "third-token-longer\n");
	CHECK(auth_header(a, h, sizeof(h)) == 0 && !strcmp(h, "Authorization: Bearer third-token-longer"));
	put(tf, "");			/* mid-rotation: keep the previous one */
	CHECK(auth_header(a, h, sizeof(h)) == 0 && !strcmp(h, "Authorization: Bearer third-token-longer"));
	auth_free(a);
}

/* The header lines a request would carry. */
static char *request_headers(struct auth *a)
{
	CURL *c = curl_easy_init();
	struct curl_slist *hd = NULL;
	char *out = calloc(1, 4096);

	if (c && out && auth_apply(a, c, &hd) == 0)
		for (struct curl_slist *i = hd; i; i = i->next)
			snprintf(out + strlen(out), 4096 - strlen(out), "%s\n", i->data);
	curl_slist_free_all(hd);
	curl_easy_cleanup(c);
	return out;
}

static struct auth *auth_of(const char *yaml)
{
	struct kc_config kc;
	char err[512];
	struct auth *a = NULL;

	if (kc_load_buffer(yaml, strlen(yaml), "m", tmpdir, NULL, &kc, err, sizeof(err)) == 0) {
		a = auth_new(&kc, err, sizeof(err));
		kc_free(&kc);
	}
	if (!a)
		fprintf(stderr, "auth_of: %s\n", err);
	return a;
}

/* Impersonation headers, no credential over http://, what the server said. */
static void test_identity(void)
{
	struct auth *a;
	char *h, msg[256];

	a = auth_of("current-context: a\nclusters:\n- name: c\n  cluster: {server: 'https://h'}\n"
		    "users:\n- name: u\n  user:\n    token: t0k\n    as: alice\n    as-uid: '7'\n"
		    "    as-groups: [dev, 'ops team']\n"
		    "    as-user-extra: {'reason/why': [audit], scope: [a, b]}\n"
		    "contexts:\n- name: a\n  context: {cluster: c, user: u}\n");
	h = a ? request_headers(a) : NULL;
	CHECK_MSG(h && strstr(h, "Authorization: Bearer t0k\nImpersonate-User: alice\n"
			      "Impersonate-Uid: 7\nImpersonate-Group: dev\n"
			      "Impersonate-Group: ops team\nImpersonate-Extra-reason%2Fwhy: audit\n"
			      "Impersonate-Extra-scope: a\nImpersonate-Extra-scope: b\n"),
		  "%s", h ? h : "(none)");
	free(h);
	CHECK(a && auth_state(a, msg, sizeof(msg)) == AUTH_UNKNOWN);
	if (a) {
		auth_observe(a, "/api", CURLE_OK, 401, "Unauthorized");
		CHECK(auth_state(a, msg, sizeof(msg)) == AUTH_UNAUTHORIZED && !strcmp(msg, "Unauthorized"));
		auth_observe(a, "/api", CURLE_COULDNT_CONNECT, 0, "refused");
		CHECK(auth_state(a, msg, sizeof(msg)) == AUTH_UNAUTHORIZED);	/* says nothing */
		auth_observe(a, "/api", CURLE_PEER_FAILED_VERIFICATION, 0, "SSL certificate problem");
		CHECK(auth_state(a, msg, sizeof(msg)) == AUTH_TLS_ERROR && strstr(msg, "SSL"));
		auth_observe(a, "/api", CURLE_OK, 403, "forbidden");
		CHECK(auth_state(a, msg, sizeof(msg)) == AUTH_OK);
		CHECK(!strcmp(auth_state_name(AUTH_UNAUTHORIZED), "unauthorized") &&
		      !strcmp(auth_state_name(AUTH_TLS_ERROR), "tls error"));
	}
	auth_free(a);

	/* http://: no Authorization at all, impersonation still */
	a = auth_of("current-context: a\nclusters:\n- name: c\n  cluster: {server: 'http://h:8080'}\n"
		    "users:\n- name: u\n  user: {username: bob, password: pw, as: carol}\n"
		    "contexts:\n- name: a\n  context: {cluster: c, user: u}\n");
	h = a ? request_headers(a) : NULL;
	CHECK_MSG(h && !strstr(h, "Authorization") && strstr(h, "Impersonate-User: carol"), "%s",
		  h ? h : "(none)");
	free(h);
	auth_free(a);
}

static void test_in_cluster(void)
{
	struct kc_config kc;
	char err[512], h[256], p[128];
	struct auth *a;

	snprintf(p, sizeof(p), "%s/token", tmpdir);
	put(p, "sa-1\n");
	snprintf(p, sizeof(p), "%s/ca.crt", tmpdir);
	put(p, "-----BEGIN CERTIFICATE-----\nZmFrZQ==\n-----END CERTIFICATE-----\n");
	snprintf(p, sizeof(p), "%s/namespace", tmpdir);
	put(p, "kube-system\n");
	setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1", 1);
	setenv("KUBERNETES_SERVICE_PORT", "6443", 1);
	setenv("PODFS_SA_DIR", tmpdir, 1);
	CHECK_MSG(kc_load_in_cluster(&kc, err, sizeof(err)) == 0, "%s", err);
	a = auth_new(&kc, err, sizeof(err));
	kc_free(&kc);
	unsetenv("KUBERNETES_SERVICE_HOST");
	unsetenv("KUBERNETES_SERVICE_PORT");
	unsetenv("PODFS_SA_DIR");
	if (!a) {
		CHECK(0);
		return;
	}
	CHECK(!strcmp(auth_server(a), "https://127.0.0.1:6443") && !strcmp(auth_namespace(a), "kube-system"));
	auth_set_token_recheck(a, 0);
	CHECK(auth_header(a, h, sizeof(h)) == 0 && !strcmp(h, "Authorization: Bearer sa-1"));
	snprintf(p, sizeof(p), "%s/token", tmpdir);
	put(p, "sa-2-rotated\n");
	CHECK(auth_header(a, h, sizeof(h)) == 0 && !strcmp(h, "Authorization: Bearer sa-2-rotated"));
	auth_free(a);
}

/* Live: tls_server.py refuses every token but its own with 401. */
static void test_live(void)
{
	struct tsrv t;
	struct kc_config kc;
	struct rest *r;
	struct rest_resp resp;
	struct auth *a;
	char err[512], srv[64], ca[200], chosen[64], *s;
	int perr;
	struct conn *c;

	if (tsrv_start(&t, __FILE__) < 0) {
		CHECK_MSG(0, "tls_server.py did not start");
		tsrv_stop(&t);
		return;
	}
	snprintf(srv, sizeof(srv), "https://127.0.0.1:%d", t.port);
	snprintf(ca, sizeof(ca), "    certificate-authority: %s/ca.pem\n", t.dir);

	/* REST: the first run's token is refused, the plugin runs again */
	CHECK(load_exec(srv, ca, NULL, "      - {name: MODE, value: alternate}\n"
			"      - {name: TOKEN, value: test-token-123}\n", &kc, err, sizeof(err)) == 0);
	unlink(countf);
	a = auth_new(&kc, err, sizeof(err));
	kc_free(&kc);
	r = a ? rest_new(a, 5000) : NULL;
	if (r) {
		CHECK(rest_get(r, "/api/v1/namespaces/default/pods", &resp) == 0);
		CHECK_MSG(resp.code == 200, "%ld %s", resp.code, resp.msg);
		CHECK_MSG(runs() == 2, "runs %d", runs());
		rest_resp_free(&resp);
		CHECK(rest_get(r, "/api/v1/namespaces/default/pods", &resp) == 0 && resp.code == 200);
		CHECK(runs() == 2);	/* cached */
		rest_resp_free(&resp);

		/* WebSocket upgrade: as after a 401, the next run gives a stale
		 * token, the upgrade's 401 runs it once more */
		CHECK(auth_refresh(a, cur_gen(a)) == 1);
		c = ws_connect(r, "/ws", "v4.channel.k8s.io", 5000, chosen, sizeof(chosen), &perr,
			       err, sizeof(err));
		CHECK_MSG(c != NULL, "%d %s", perr, err);
		CHECK_MSG(runs() == 4, "runs %d", runs());
		conn_close(c);
	}
	rest_free(r);
	auth_free(a);

	/* a plugin that always gives a refused token: one retry, then 401 */
	CHECK(load_exec(srv, ca, NULL, "      - {name: TOKEN, value: nope}\n", &kc, err, sizeof(err)) == 0);
	unlink(countf);
	a = auth_new(&kc, err, sizeof(err));
	kc_free(&kc);
	r = a ? rest_new(a, 5000) : NULL;
	if (r) {
		CHECK(rest_get(r, "/api/v1/namespaces/default/pods", &resp) == 0 && resp.code == 401);
		CHECK_MSG(runs() == 2, "runs %d", runs());
		rest_resp_free(&resp);
		/* the same on an upgrade: 401 after one retry */
		c = ws_connect(r, "/ws", "v4.channel.k8s.io", 5000, chosen, sizeof(chosen), &perr,
			       err, sizeof(err));
		CHECK_MSG(!c && perr == -EACCES && strstr(err, "401"), "%d %s", perr, err);
		CHECK_MSG(runs() == 3, "runs %d", runs());	/* one more run for the one retry */
		conn_close(c);
	}
	rest_free(r);
	auth_free(a);

	/* a client certificate from the plugin */
	{
		char cp[200], kp[200], *cert, *key, *json;
		cJSON *o = cJSON_CreateObject(), *st;

		snprintf(cp, sizeof(cp), "%s/client.pem", t.dir);
		snprintf(kp, sizeof(kp), "%s/client.key", t.dir);
		cert = slurp(cp);
		key = slurp(kp);
		cJSON_AddStringToObject(o, "apiVersion", "client.authentication.k8s.io/v1");
		cJSON_AddStringToObject(o, "kind", "ExecCredential");
		st = cJSON_AddObjectToObject(o, "status");
		cJSON_AddStringToObject(st, "clientCertificateData", cert ? cert : "");
		cJSON_AddStringToObject(st, "clientKeyData", key ? key : "");
		json = cJSON_Print(o);
		put(outf, json);
		free(json);
		cJSON_Delete(o);
		free(cert);
		free(key);
	}
	CHECK(load_exec(srv, ca, NULL, "      - {name: MODE, value: file}\n", &kc, err, sizeof(err)) == 0);
	a = auth_new(&kc, err, sizeof(err));
	kc_free(&kc);
	r = a ? rest_new(a, 5000) : NULL;
	if (r) {
		CHECK(rest_get(r, "/whoami", &resp) == 0 && resp.code == 200);
		s = resp.body;
		CHECK_MSG(s && strstr(s, "\"cn\": \"alice\"") && strstr(s, "\"auth\": \"\""), "%s", s ? s : "");
		rest_resp_free(&resp);
	}
	rest_free(r);
	auth_free(a);

	/* tokenFile: the server's kubeconfig has "wrong-token"; rotate it and
	 * a 401 picks the new one up before the recheck interval */
	CHECK(kc_load(t.kubeconfig, "file", &kc, err, sizeof(err)) == 0);
	a = auth_new(&kc, err, sizeof(err));
	kc_free(&kc);
	r = a ? rest_new(a, 5000) : NULL;
	if (r) {
		char tf[200];

		auth_set_token_recheck(a, 3600);
		CHECK(rest_get(r, "/api/v1/namespaces/default/pods", &resp) == 0 && resp.code == 401);
		rest_resp_free(&resp);
		snprintf(tf, sizeof(tf), "%s/token", t.dir);
		put(tf, "test-token-123\n");
		CHECK(rest_get(r, "/api/v1/namespaces/default/pods", &resp) == 0);
		CHECK_MSG(resp.code == 200, "%ld %s", resp.code, resp.msg);
		rest_resp_free(&resp);
	}
	rest_free(r);
	auth_free(a);
	tsrv_stop(&t);
}

int main(void)
{
	const char *slash = strrchr(__FILE__, '/');
	char cwd[256], cmd[128];

	if (!getcwd(cwd, sizeof(cwd)))
		return 2;
	snprintf(plugdir, sizeof(plugdir), "%s/%.*s/plugins", cwd,
		 slash ? (int)(slash - __FILE__) : 1, slash ? __FILE__ : ".");
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/podfs-auth-XXXXXX");
	if (!mkdtemp(tmpdir))
		return 2;
	snprintf(countf, sizeof(countf), "%s/count", tmpdir);
	snprintf(infof, sizeof(infof), "%s/info", tmpdir);
	snprintf(outf, sizeof(outf), "%s/out", tmpdir);
	unsetenv("KUBERNETES_SERVICE_HOST");
	curl_global_init(CURL_GLOBAL_DEFAULT);

	test_cache_and_expiry();
	test_errors();
	test_exec_info();
	test_single_flight();
	test_static();
	test_identity();
	test_in_cluster();
	test_live();

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmpdir);
	curl_global_cleanup();
	return check_report("test_auth");
}
