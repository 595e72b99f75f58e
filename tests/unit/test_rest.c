/* rest and auth: the HTTP status -> errno table, Status message
 * extraction, escaping, and live calls against a throwaway-CA HTTPS server
 * on 127.0.0.1 (token, client certificate, tokenFile rotation, IP SAN vs
 * host name, tls-server-name, insecure, wrong CA, timeout, refused, 429
 * retry, streamed bodies, many threads on one pool). */
#include "stream/auth.h"
#include "stream/kubeconfig.h"
#include "stream/rest.h"
#include "tests/unit/check.h"
#include "tests/unit/kubeconfigs/tls_server.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void test_errno(void)
{
	CHECK(http_errno(200) == 0 && http_errno(201) == 0 && http_errno(204) == 0);
	CHECK(http_errno(404) == ENOENT);
	CHECK(http_errno(401) == EACCES && http_errno(403) == EACCES);
	CHECK(http_errno(409) == EBUSY);
	CHECK(http_errno(400) == EINVAL && http_errno(422) == EINVAL);
	CHECK(http_errno(429) == EAGAIN && http_errno(500) == EAGAIN && http_errno(503) == EAGAIN);
	CHECK(http_errno(504) == EAGAIN);
	CHECK(http_errno(410) == ESTALE);
	CHECK(http_errno(405) == EOPNOTSUPP);
	CHECK(http_errno(418) == EINVAL);
	CHECK(http_errno(0) == EIO && http_errno(301) == EIO && http_errno(101) == EIO);
	CHECK(curl_code_errno(CURLE_OK) == 0);
	CHECK(curl_code_errno(CURLE_OPERATION_TIMEDOUT) == -ETIMEDOUT);
	CHECK(curl_code_errno(CURLE_COULDNT_CONNECT) == -ECONNREFUSED);
	CHECK(curl_code_errno(CURLE_COULDNT_RESOLVE_HOST) == -EHOSTUNREACH);
	CHECK(curl_code_errno(CURLE_PEER_FAILED_VERIFICATION) == -EACCES);
	CHECK(curl_code_errno(CURLE_RECV_ERROR) == -EIO);
}

static void test_status_message(void)
{
	char m[512], small[8];
	const char *st = "{\"kind\": \"Status\", \"apiVersion\": \"v1\", \"metadata\": {}, \"status\": "
			 "\"Failure\", \"message\": \"pods \\\"nosuchpod\\\" not found\", \"reason\": "
			 "\"NotFound\", \"code\": 404, \"details\": {\"name\": \"nosuchpod\", \"kind\": \"pods\"}}";

	k8s_status_message(st, strlen(st), m, sizeof(m));
	CHECK_MSG(!strcmp(m, "pods \"nosuchpod\" not found"), "%s", m);
	k8s_status_message("container not found (\"app\")\nmore\n", 34, m, sizeof(m));
	CHECK_MSG(!strcmp(m, "container not found (\"app\")"), "%s", m);
	k8s_status_message("  Unauthorized\r\n", 16, m, sizeof(m));
	CHECK_MSG(!strcmp(m, "Unauthorized"), "%s", m);
	k8s_status_message("{\"reason\":\"Expired\",\"code\":410}", 31, m, sizeof(m));
	CHECK_MSG(!strcmp(m, "Expired"), "%s", m);
	k8s_status_message("{\"message\":\"a\\nb\\u0000c\"}", 25, m, sizeof(m));
	CHECK_MSG(!strcmp(m, "a b"), "[%s]", m);
	k8s_status_message("{\"message\": 42}", 15, m, sizeof(m));
	CHECK(m[0] == 0);
	k8s_status_message("{\"message\":\"x\"", 14, m, sizeof(m));	/* broken JSON */
	CHECK(m[0] == 0);
	k8s_status_message("[1,2]", 5, m, sizeof(m));
	CHECK(m[0] == 0);
	k8s_status_message("\x01\x02\xff garbage\x00", 12, m, sizeof(m));
	CHECK(m[0] == 0);
	k8s_status_message("", 0, m, sizeof(m));
	CHECK(m[0] == 0);
	k8s_status_message(NULL, 5, m, sizeof(m));
	CHECK(m[0] == 0);
	k8s_status_message(st, strlen(st), small, sizeof(small));
	CHECK(!strcmp(small, "pods \"n"));
	/* length is honoured: no NUL needed, nothing read past len */
	{
		char *p = malloc(3);
		memcpy(p, "abc", 3);
		k8s_status_message(p, 3, m, sizeof(m));
		CHECK(!strcmp(m, "abc"));
		free(p);
	}
}

static void test_escape(void)
{
	char *e = url_escape("a b/c?d=e&f%g~h.i-j_k\xc3\xa9");

	CHECK_MSG(e && !strcmp(e, "a%20b%2Fc%3Fd%3De%26f%25g~h.i-j_k%C3%A9"), "%s", e);
	free(e);
	e = url_escape("");
	CHECK(e && !e[0]);
	free(e);
}

/* ------------------------------------------------------------ live */

static struct tsrv srv;

static struct rest *open_ctx(const char *ctx, long timeout_ms)
{
	struct kc_config kc;
	char err[512];
	struct auth *a;
	struct rest *r;

	if (kc_load(srv.kubeconfig, ctx, &kc, err, sizeof(err)) < 0) {
		CHECK_MSG(0, "kc_load %s: %s", ctx, err);
		return NULL;
	}
	a = auth_new(&kc, err, sizeof(err));
	kc_free(&kc);
	CHECK_MSG(a != NULL, "auth_new %s: %s", ctx, err);
	if (!a)
		return NULL;
	r = rest_new(a, timeout_ms);
	CHECK(r != NULL);
	return r;
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

struct collect {
	char buf[256];
	size_t len;
	int calls, ticks, stop_after;
};

static int collect_cb(void *ud, const char *p, size_t n)
{
	struct collect *c = ud;

	if (!n) {
		c->ticks++;
		return 0;
	}
	c->calls++;
	if (c->len + n < sizeof(c->buf)) {
		memcpy(c->buf + c->len, p, n);
		c->len += n;
		c->buf[c->len] = 0;
	}
	return c->stop_after && c->calls >= c->stop_after;
}

static void *hammer(void *arg)
{
	struct rest *r = arg;
	long ok = 0;

	for (int i = 0; i < 15; i++) {
		struct rest_resp resp;
		if (rest_get(r, "/api/v1/namespaces/default/pods", &resp) == 0 && resp.code == 200)
			ok++;
		rest_resp_free(&resp);
	}
	return (void *)ok;
}

static void test_live(void)
{
	struct rest_resp resp;
	struct rest *r;
	char want[128];
	long t0;
	int rc;

	/* bearer token over a CA from a file, IP SAN */
	r = open_ctx("token", 5000);
	if (!r)
		return;
	rc = rest_get(r, "/api/v1/namespaces/default/pods", &resp);
	CHECK_MSG(rc == 0 && resp.code == 200, "rc %d code %ld msg %s", rc, resp.code, resp.msg);
	CHECK(resp.body && strstr(resp.body, "PodList") && resp.len == strlen(resp.body));
	rest_resp_free(&resp);
	rc = rest_get(r, "/whoami", &resp);
	CHECK(rc == 0 && strstr(resp.body, "\"auth\": \"Bearer test-token-123\""));
	CHECK_MSG(strstr(resp.body, "application/json"), "%s", resp.body);
	rest_resp_free(&resp);
	rc = rest_call(r, "DELETE", "/whoami", &resp);
	CHECK(rc == 0 && strstr(resp.body, "\"method\": \"DELETE\""));
	rest_resp_free(&resp);
	rc = rest_get(r, "/notfound", &resp);
	CHECK(rc == 0 && resp.code == 404 && http_errno(resp.code) == ENOENT);
	CHECK_MSG(!strcmp(resp.msg, "pods \"nope\" not found"), "%s", resp.msg);
	rest_resp_free(&resp);
	rc = rest_get(r, "/text500", &resp);
	CHECK(rc == 0 && resp.code == 500);
	CHECK_MSG(!strcmp(resp.msg, "container not found (\"app\")"), "%s", resp.msg);
	rest_resp_free(&resp);
	/* 429 with Retry-After: 1 is retried within the deadline */
	t0 = ms_now();
	rc = rest_get(r, "/busy", &resp);
	CHECK_MSG(rc == 0 && resp.code == 200, "code %ld", resp.code);
	CHECK(ms_now() - t0 >= 900);
	rest_resp_free(&resp);
	CHECK(strcmp(auth_server(rest_auth(r)), "") && !strcmp(auth_namespace(rest_auth(r)), "default"));
	CHECK(!strcmp(auth_user(rest_auth(r)), "tok") && !strcmp(auth_context(rest_auth(r)), "token"));

	/* streamed body, whole and stopped early */
	{
		struct collect c = { .stop_after = 0 };
		rc = rest_get_stream(r, "/big", 0, collect_cb, &c, &resp);
		CHECK_MSG(rc == 0 && resp.code == 200, "rc %d %s", rc, resp.msg);
		CHECK_MSG(!strcmp(c.buf, "line0\nline1\nline2\nline3\nline4\n"), "%s", c.buf);
		rest_resp_free(&resp);
		memset(&c, 0, sizeof(c));
		c.stop_after = 1;
		rc = rest_get_stream(r, "/big", 5000, collect_cb, &c, &resp);
		CHECK_MSG(rc == 0 && c.calls == 1, "rc %d calls %d", rc, c.calls);
		rest_resp_free(&resp);
		memset(&c, 0, sizeof(c));
		rc = rest_get_stream(r, "/notfound", 5000, collect_cb, &c, &resp);
		CHECK(rc == 0 && resp.code == 404 && c.calls == 0 && strstr(resp.msg, "not found"));
		rest_resp_free(&resp);
	}

	/* many threads share one pool */
	{
		pthread_t th[8];
		long total = 0;
		for (int i = 0; i < 8; i++)
			pthread_create(&th[i], NULL, hammer, r);
		for (int i = 0; i < 8; i++) {
			void *v;
			pthread_join(th[i], &v);
			total += (long)v;
		}
		CHECK_MSG(total == 8 * 15, "%ld of %d", total, 8 * 15);
	}
	close_ctx(r);

	/* timeout: the server sleeps 3 s, the deadline is 400 ms */
	r = open_ctx("token", 400);
	t0 = ms_now();
	rc = rest_get(r, "/slow", &resp);
	CHECK_MSG(rc == -ETIMEDOUT, "rc %d %s", rc, resp.msg);
	CHECK(ms_now() - t0 < 2000);
	rest_resp_free(&resp);
	close_ctx(r);

	/* no credentials */
	r = open_ctx("anon", 5000);
	rc = rest_get(r, "/api/v1/namespaces/default/pods", &resp);
	CHECK(rc == 0 && resp.code == 401 && !strcmp(resp.msg, "Unauthorized"));
	rest_resp_free(&resp);
	close_ctx(r);

	/* client certificate from files */
	r = open_ctx("cert", 5000);
	rc = rest_get(r, "/whoami", &resp);
	CHECK_MSG(rc == 0 && resp.body && strstr(resp.body, "\"cn\": \"alice\""), "rc %d %s", rc, resp.msg);
	rest_resp_free(&resp);
	close_ctx(r);

	/* "localhost" is not in the certificate: refused */
	r = open_ctx("byname", 5000);
	rc = rest_get(r, "/whoami", &resp);
	CHECK_MSG(rc == -EACCES, "rc %d %s", rc, resp.msg);
	CHECK_MSG(resp.msg[0], "no message");
	rest_resp_free(&resp);
	close_ctx(r);

	/* tls-server-name: verified as "kubernetes", Host still the server */
	r = open_ctx("sni", 5000);
	rc = rest_get(r, "/whoami", &resp);
	snprintf(want, sizeof(want), "\"host\": \"localhost:%d\"", srv.port);
	CHECK_MSG(rc == 0 && resp.code == 200 && strstr(resp.body, want), "rc %d %s %s", rc, resp.msg,
		  resp.body ? resp.body : "");
	rest_resp_free(&resp);
	close_ctx(r);

	/* insecure: any name, any CA */
	r = open_ctx("insecure", 5000);
	rc = rest_get(r, "/whoami", &resp);
	CHECK_MSG(rc == 0 && resp.code == 200, "rc %d %s", rc, resp.msg);
	rest_resp_free(&resp);
	close_ctx(r);

	/* the server's certificate is signed by another CA */
	r = open_ctx("wrongca", 5000);
	rc = rest_get(r, "/whoami", &resp);
	CHECK_MSG(rc == -EACCES, "rc %d %s", rc, resp.msg);
	rest_resp_free(&resp);
	close_ctx(r);

	/* tokenFile: a rotated token is picked up */
	r = open_ctx("file", 5000);
	if (r) {
		char path[160];
		FILE *f;

		auth_set_token_recheck(rest_auth(r), 0);
		rc = rest_get(r, "/api/v1/namespaces/default/pods", &resp);
		CHECK(rc == 0 && resp.code == 401);
		rest_resp_free(&resp);
		snprintf(path, sizeof(path), "%s/token", srv.dir);
		f = fopen(path, "w");
		if (f) {
			fputs("test-token-123\n", f);
			fclose(f);
		}
		rc = rest_get(r, "/api/v1/namespaces/default/pods", &resp);
		CHECK_MSG(rc == 0 && resp.code == 200, "code %ld", resp.code);
		rest_resp_free(&resp);
		close_ctx(r);
	}
}

static void test_refused(void)
{
	const char *y = "current-context: x\nclusters:\n- name: c\n  cluster: {server: 'https://127.0.0.1:1'}\n"
			"contexts:\n- name: x\n  context: {cluster: c}\n";
	struct kc_config kc;
	struct rest_resp resp;
	char err[256];
	struct auth *a;
	struct rest *r;
	int rc;

	CHECK(kc_load_buffer(y, strlen(y), "mem", ".", NULL, &kc, err, sizeof(err)) == 0);
	a = auth_new(&kc, err, sizeof(err));
	kc_free(&kc);
	CHECK(a != NULL);
	if (!a)
		return;
	r = rest_new(a, 2000);
	rc = rest_get(r, "/api", &resp);
	CHECK_MSG(rc == -ECONNREFUSED, "rc %d %s", rc, resp.msg);
	CHECK(resp.code == 0 && resp.msg[0]);
	rest_resp_free(&resp);
	rc = rest_get(r, "no-slash", &resp);
	CHECK(rc == -EINVAL);
	rest_resp_free(&resp);
	rest_free(r);
	auth_free(a);
}

int main(void)
{
	test_errno();
	test_status_message();
	test_escape();
	test_refused();
	if (tsrv_start(&srv, __FILE__) == 0)
		test_live();
	else
		CHECK_MSG(0, "could not start the TLS test server");
	tsrv_stop(&srv);
	curl_global_cleanup();
	return check_report("test_rest");
}
