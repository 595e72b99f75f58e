/* Logging shared by both halves of podfs.  Messages go to stderr in the
 * foreground and to syslog once daemonised.  Never pass a credential to
 * these functions: callers log names (user, context), not secrets. */
#ifndef PODFS_LOG_H
#define PODFS_LOG_H

#include <stddef.h>
#include <syslog.h>

extern int plog_level;		/* LOG_ERR .. LOG_DEBUG */

void plog_init(int level, int use_syslog);
void plog(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The reason for a failure, into a caller's buffer (NULL or 0: none). */
void msg_set(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define pdebug(...)	do { if (plog_level >= LOG_DEBUG) plog(LOG_DEBUG, __VA_ARGS__); } while (0)
#define pinfo(...)	do { if (plog_level >= LOG_INFO) plog(LOG_INFO, __VA_ARGS__); } while (0)
#define pwarn(...)	plog(LOG_WARNING, __VA_ARGS__)
#define perr(...)	plog(LOG_ERR, __VA_ARGS__)

#endif
