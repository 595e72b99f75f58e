/* Stripping and de-duplicating timestamped log lines.  The position is
 * (stamp, count of lines with that stamp) rather than a byte offset
 * because a re-fetch from a second only repeats lines, never their
 * offsets: rotated or restarted logs start elsewhere. */
#include "stream/logstamp.h"

#include "stream/k8s.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static int cmp(int64_t as, int64_t an, int64_t bs, int64_t bn)
{
	if (as != bs)
		return as < bs ? -1 : 1;
	return an < bn ? -1 : an > bn;
}

void logfilt_init(struct logfilt *f)
{
	memset(f, 0, sizeof(*f));
}

void logfilt_resume(struct logfilt *f)
{
	f->resuming = f->last_s != 0 || f->last_ns != 0;
	f->res_s = f->last_s;
	f->res_ns = f->last_ns;
	f->res_skip = f->same;
	f->in_text = 0;
	f->ts_len = 0;
	f->skipping = 0;
}

void logfilt_since(const struct logfilt *f, char *buf, size_t len)
{
	struct tm tm;
	time_t t = (time_t)f->last_s;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* A first word was read: if it is a stamp, decide whether its line is
 * new.  Returns 0 when the word was no stamp. */
static int start_line(struct logfilt *f)
{
	int64_t s, ns;
	int32_t ns32;

	f->ts[f->ts_len] = 0;
	f->skipping = 0;
	if (k8s_time_parse(f->ts, &s, &ns32) < 0)
		return 0;
	ns = ns32;
	if (f->resuming) {
		int c = cmp(s, ns, f->res_s, f->res_ns);

		if (c < 0 || (c == 0 && f->res_skip > 0)) {
			if (c == 0)
				f->res_skip--;
			f->skipping = 1;
			return 1;
		}
		f->resuming = 0;
	}
	if (cmp(s, ns, f->last_s, f->last_ns) == 0) {
		f->same++;
	} else {
		f->last_s = s;
		f->last_ns = ns;
		f->same = 1;
	}
	return 1;
}

void logfilt_feed(struct logfilt *f, const uint8_t *p, size_t n,
		  void (*out)(void *ud, const uint8_t *p, size_t n), void *ud)
{
	while (n) {
		if (!f->in_text) {
			uint8_t c = *p;

			if (c == ' ' || c == '\n' || f->ts_len == sizeof(f->ts) - 1) {
				if (c == ' ') {
					if (!start_line(f)) {
						out(ud, (const uint8_t *)f->ts, f->ts_len);
						out(ud, (const uint8_t *)" ", 1);
					}
					p++, n--;
				} else {
					/* not a stamp: pass what we held through */
					f->skipping = 0;
					out(ud, (const uint8_t *)f->ts, f->ts_len);
				}
				f->ts_len = 0;
				f->in_text = 1;
				continue;
			}
			f->ts[f->ts_len++] = (char)c;
			p++, n--;
			continue;
		}
		{
			const uint8_t *nl = memchr(p, '\n', n);
			size_t take = nl ? (size_t)(nl - p) + 1 : n;

			if (!f->skipping)
				out(ud, p, take);
			if (nl) {
				f->in_text = 0;
				f->skipping = 0;
			}
			p += take;
			n -= take;
		}
	}
}
