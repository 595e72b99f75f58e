/* Kubernetes helpers: API paths, the HTTP-status policy, the message
 * sanitiser, the RFC 3339 parser and the monotonic clock (declared in
 * util.h, which both halves include).  Each of
 * these rules used to be written out at every place that needed it, with
 * small differences (three time parsers disagreed on time-zone offsets);
 * they live here once so a fix applies everywhere. */
#include "stream/k8s.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "stream/rest.h"

uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---------------------------------------------------------------- paths */

/* Append s percent-escaped (RFC 3986 unreserved bytes stay). */
static int put_esc(char *out, size_t cap, size_t *len, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		int plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			(c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';

		if (*len + (plain ? 1 : 3) >= cap)
			return -ENAMETOOLONG;
		if (plain) {
			out[(*len)++] = (char)c;
		} else {
			out[(*len)++] = '%';
			out[(*len)++] = hex[c >> 4];
			out[(*len)++] = hex[c & 15];
		}
	}
	out[*len] = 0;
	return 0;
}

static int put_raw(char *out, size_t cap, size_t *len, const char *fmt, const char *s, int n)
{
	int k = s ? snprintf(out + *len, cap - *len, fmt, s) :
		snprintf(out + *len, cap - *len, fmt, n);

	if (k < 0 || (size_t)k >= cap - *len)
		return -ENAMETOOLONG;
	*len += (size_t)k;
	return 0;
}

int k8s_path(char *out, size_t cap, const char *ns, const char *pod, int port,
	     const char *sub)
{
	size_t len = 0;
	int r;

	if (!cap)
		return -ENAMETOOLONG;
	out[0] = 0;
	if ((r = put_raw(out, cap, &len, "%s", "/api/v1/namespaces", 0)))
		return r;
	if (ns) {
		if ((r = put_raw(out, cap, &len, "%s", "/", 0)) || (r = put_esc(out, cap, &len, ns)) ||
		    (r = put_raw(out, cap, &len, "%s", "/pods", 0)))
			return r;
		if (pod && ((r = put_raw(out, cap, &len, "%s", "/", 0)) ||
			    (r = put_esc(out, cap, &len, pod))))
			return r;
		if (pod && port > 0 && (r = put_raw(out, cap, &len, ":%d", NULL, port)))
			return r;
	}
	if (sub && (r = put_raw(out, cap, &len, "/%s", sub, 0)))
		return r;
	return (int)len;
}

/* ---------------------------------------------------------------- errno */

int k8s_http_errno(long code, enum k8s_origin origin)
{
	if (code >= 200 && code < 300)
		return 0;
	switch (code) {
	case 400: return EINVAL;
	case 401: return EACCES;
	case 403: return EACCES;
	case 404: return ENOENT;
	case 405: return EOPNOTSUPP;	/* e.g. a verb the resource lacks */
	case 408: return ETIMEDOUT;
	case 409: return EBUSY;
	case 410: return ESTALE;	/* expired resourceVersion / continue token */
	case 413: return EFBIG;
	case 415: return EINVAL;
	case 422: return EINVAL;
	case 429: return EAGAIN;
	default:
		break;
	}
	if (code >= 500 && code < 600)
		return origin == K8S_PROXIED ? EIO : EAGAIN;
	if (code >= 400 && code < 500)
		return EINVAL;
	return EIO;		/* no reply, 1xx or an unfollowed redirect */
}

int http_errno(long code)
{
	return k8s_http_errno(code, K8S_API);
}

/* ---------------------------------------------------------------- text */

static int is_blank(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

void k8s_text(char *out, size_t cap, const char *s, size_t n, int flags)
{
	size_t k = 0;

	if (!cap)
		return;
	if (!s)
		n = 0;
	while (n && is_blank((unsigned char)*s)) {
		s++;
		n--;
	}
	while (n && is_blank((unsigned char)s[n - 1]))
		n--;
	if (n > cap - 1) {
		n = cap - 1;
		/* back off continuation bytes so the cut is on a boundary */
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		int keep = (flags & K8S_TEXT_MULTILINE) && (c == '\n' || c == '\t');

		out[k++] = (c < 0x20 || c == 0x7f) && !keep ? ' ' : (char)c;
	}
	while (k && out[k - 1] == ' ')
		k--;
	out[k] = 0;
}

/* ---------------------------------------------------------------- time */

/* n decimal digits at s into *v; 0 on success. */
static int digits(const char *s, int n, int *v)
{
	*v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		*v = *v * 10 + (s[i] - '0');
	}
	return 0;
}

static int days_in_month(int y, int m)
{
	static const int d[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : d[m - 1];
}

/* Days since 1970-01-01 of a proleptic Gregorian date (no time zone, no
 * locale: timegm and strptime differ between C libraries at the edges). */
static int64_t days_from_civil(int y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

int k8s_time_parse(const char *s, int64_t *sec, int32_t *nsec)
{
	int y, mo, d, h, mi, se, oh = 0, om = 0, frac = 0, nd = 0;
	const char *p;
	int64_t off = 0;

	if (!s || strlen(s) < 20)
		return -1;
	if (digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) || s[7] != '-' ||
	    digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') || digits(s + 11, 2, &h) ||
	    s[13] != ':' || digits(s + 14, 2, &mi) || s[16] != ':' || digits(s + 17, 2, &se))
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || se > 60)
		return -1;
	p = s + 19;
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++, nd++)
			if (nd < 9)
				frac = frac * 10 + (*p - '0');
		if (nd == 0)
			return -1;
		for (; nd < 9; nd++)
			frac *= 10;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		if (digits(p + 1, 2, &oh) || p[3] != ':' || digits(p + 4, 2, &om) || oh > 23 || om > 59)
			return -1;
		off = (oh * 3600 + om * 60) * (*p == '+' ? 1 : -1);
		p += 6;
	} else {
		return -1;
	}
	if (*p)
		return -1;
	/* a leap second (":60") is the last instant of its minute */
	*sec = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + (se == 60 ? 59 : se) - off;
	*nsec = se == 60 ? 999999999 : frac;
	return 0;
}
