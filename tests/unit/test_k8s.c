/* stream/k8s.c: API paths, the HTTP-status policy, the message
 * sanitiser, the RFC 3339 parser and the clock. */
#include "stream/k8s.h"
#include "tests/unit/check.h"

#include <errno.h>
#include <string.h>

static void test_paths(void)
{
	char p[64];

	CHECK(k8s_path(p, sizeof(p), NULL, NULL, 0, NULL) == 18 && !strcmp(p, "/api/v1/namespaces"));
	CHECK(k8s_path(p, sizeof(p), "ns", NULL, 0, NULL) > 0 && !strcmp(p, "/api/v1/namespaces/ns/pods"));
	CHECK(k8s_path(p, sizeof(p), "ns", "web-1", 0, NULL) > 0 &&
	      !strcmp(p, "/api/v1/namespaces/ns/pods/web-1"));
	CHECK(k8s_path(p, sizeof(p), "ns", "web", 0, "log") > 0 &&
	      !strcmp(p, "/api/v1/namespaces/ns/pods/web/log"));
	CHECK(k8s_path(p, sizeof(p), "ns", "web", 8080, "proxy/") > 0 &&
	      !strcmp(p, "/api/v1/namespaces/ns/pods/web:8080/proxy/"));
	/* names are escaped: nothing can add a segment or a query */
	CHECK(k8s_path(p, sizeof(p), "a/b", "c?d", 0, NULL) > 0 &&
	      !strcmp(p, "/api/v1/namespaces/a%2Fb/pods/c%3Fd"));
	/* too long is an error, never a silent cut */
	CHECK(k8s_path(p, 20, "ns", NULL, 0, NULL) == -ENAMETOOLONG);
	CHECK(k8s_path(p, sizeof(p), "ns", "averyveryverylongpodnamethatdoesnotfit", 0, "log") ==
	      -ENAMETOOLONG);
}

static void test_errno(void)
{
	CHECK(k8s_http_errno(200, K8S_API) == 0 && k8s_http_errno(206, K8S_PROXIED) == 0);
	CHECK(k8s_http_errno(404, K8S_API) == ENOENT && k8s_http_errno(404, K8S_PROXIED) == ENOENT);
	CHECK(k8s_http_errno(401, K8S_PROXIED) == EACCES && k8s_http_errno(403, K8S_PROXIED) == EACCES);
	/* the API's 5xx is worth a retry, a pod's own 5xx is not */
	CHECK(k8s_http_errno(503, K8S_API) == EAGAIN && k8s_http_errno(503, K8S_PROXIED) == EIO);
	CHECK(k8s_http_errno(500, K8S_PROXIED) == EIO);
	CHECK(k8s_http_errno(302, K8S_PROXIED) == EIO && k8s_http_errno(0, K8S_API) == EIO);
	CHECK(http_errno(409) == EBUSY);
}

static void test_text(void)
{
	char o[16];

	k8s_text(o, sizeof(o), "  a\x1b[31mb\r\n", 11, K8S_TEXT_LINE);
	CHECK_MSG(!strcmp(o, "a [31mb"), "%s", o);
	k8s_text(o, sizeof(o), "x\ny\tz\x01", 6, K8S_TEXT_MULTILINE);
	CHECK_MSG(!strcmp(o, "x\ny\tz"), "%s", o);
	k8s_text(o, sizeof(o), "x\ny", 3, K8S_TEXT_LINE);
	CHECK(!strcmp(o, "x y"));
	/* a cut never splits a UTF-8 sequence: 14 bytes then "é" (2 bytes) */
	k8s_text(o, sizeof(o), "aaaaaaaaaaaaaa\xc3\xa9", 16, K8S_TEXT_LINE);
	CHECK_MSG(!strcmp(o, "aaaaaaaaaaaaaa"), "%s", o);
	k8s_text(o, sizeof(o), NULL, 5, 0);
	CHECK(o[0] == 0);
}

static void test_time(void)
{
	int64_t s;
	int32_t ns;

	CHECK(k8s_time_parse("2026-01-01T00:00:00Z", &s, &ns) == 0 && s == 1767225600 && ns == 0);
	CHECK(k8s_time_parse("1970-01-01T00:00:00Z", &s, &ns) == 0 && s == 0);
	CHECK(k8s_time_parse("2026-01-01t01:30:00.5+01:30", &s, &ns) == 0 && s == 1767225600 &&
	      ns == 500000000);
	CHECK(k8s_time_parse("2025-12-31T23:00:00-01:00", &s, &ns) == 0 && s == 1767225600);
	CHECK(k8s_time_parse("2024-05-01T10:00:00.123456789Z", &s, &ns) == 0 && ns == 123456789);
	CHECK(k8s_time_parse("2024-05-01T10:00:00.1234567891Z", &s, &ns) == 0 && ns == 123456789);
	CHECK(k8s_time_parse("2024-02-29T00:00:00z", &s, &ns) == 0 && s == 1709164800);
	CHECK(k8s_time_parse("2023-02-29T00:00:00Z", &s, &ns) < 0);
	CHECK(k8s_time_parse("2024-05-01T10:00:00.Z", &s, &ns) < 0);
	CHECK(k8s_time_parse("2024-05-01 10:00:00Z", &s, &ns) < 0);
	CHECK(k8s_time_parse("2024-05-01T10:00:00", &s, &ns) < 0);
	CHECK(k8s_time_parse("2024-05-01T10:00:00Zjunk", &s, &ns) < 0);
	CHECK(k8s_time_parse("2024-05-01T10:00:00+0200", &s, &ns) < 0);
	CHECK(k8s_time_parse("2024-13-01T10:00:00Z", &s, &ns) < 0);
	CHECK(k8s_time_parse("2024-05-01T24:00:00Z", &s, &ns) < 0);
	CHECK(k8s_time_parse(" 2024-05-01T10:00:00Z", &s, &ns) < 0);
	CHECK(k8s_time_parse("garbage", &s, &ns) < 0 && k8s_time_parse(NULL, &s, &ns) < 0);
}

static void test_clock(void)
{
	uint64_t a = mono_ms(), b = mono_ms();

	CHECK(b >= a);
}

int main(void)
{
	test_paths();
	test_errno();
	test_text();
	test_time();
	test_clock();
	return check_report("test_k8s");
}
