/* Leveled logging to stderr or syslog.  One line per call, written with a
 * single write so lines from different threads do not interleave. */
#include "stream/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int plog_level = LOG_WARNING;
static int plog_syslog;

void plog_init(int level, int use_syslog)
{
	plog_level = level;
	plog_syslog = use_syslog;
	if (use_syslog)
		openlog("podfs", LOG_PID, LOG_DAEMON);
}

void plog(int level, const char *fmt, ...)
{
	char line[2048];
	va_list ap;
	int n;

	if (level > plog_level)
		return;
	va_start(ap, fmt);
	if (plog_syslog) {
		vsyslog(level, fmt, ap);
		va_end(ap);
		return;
	}
	n = snprintf(line, sizeof(line), "podfs: ");
	n += vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, n) < 0) {
		/* nowhere left to report it */
	}
}


void msg_set(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (!buf || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}
