/* Timestamped log lines ("<RFC3339Nano> <text>\n", what the log endpoint
 * sends with timestamps=true), pure: the stamps are stripped and lines
 * already delivered are skipped when a log is fetched again from a given
 * second (sinceTime has one-second precision, so a re-fetch repeats the
 * lines of that second).  Used by log.follow's resume and by the growing
 * `log` snapshot.  Fed in any split. */
#ifndef PODFS_LOGSTAMP_H
#define PODFS_LOGSTAMP_H

#include <stddef.h>
#include <stdint.h>

struct logfilt {
	/* position: the stamp of the last line delivered, and how many lines
	 * carried exactly that stamp */
	int64_t last_s, last_ns;
	int same;
	/* a re-fetch: skip lines up to the position */
	int resuming;
	int64_t res_s, res_ns;
	int res_skip;
	/* private parse state */
	int in_text, skipping;
	char ts[64];
	size_t ts_len;
};

void logfilt_init(struct logfilt *f);
/* The next bytes come from a fetch that starts at or before the position
 * reached so far: lines at or before it are dropped once. */
void logfilt_resume(struct logfilt *f);
/* Feed bytes; out(ud, p, n) receives the text of new lines (stamps
 * stripped).  A line without a stamp is passed through unchanged. */
void logfilt_feed(struct logfilt *f, const uint8_t *p, size_t n,
		  void (*out)(void *ud, const uint8_t *p, size_t n), void *ud);
/* "2024-01-01T00:00:00Z", the second of the position, for sinceTime. */
void logfilt_since(const struct logfilt *f, char *buf, size_t len);

#endif
