/* The Kubernetes facts podfs needs in more than one place, each said once:
 * how API paths are spelt, how an HTTP status becomes an errno, how a
 * server-supplied message is made safe for a log line, how an RFC 3339
 * time is read, and the monotonic clock every deadline uses (mono_ms,
 * declared in util.h).  All pure.  The one pod GET is pod.h's. */
#ifndef PODFS_K8S_H
#define PODFS_K8S_H

#include <stddef.h>
#include <stdint.h>

#include "stream/util.h"

/* ---- API paths ----
 * "/api/v1/namespaces"                          ns == NULL
 * "/api/v1/namespaces/<ns>/pods"                 pod == NULL
 * "/api/v1/namespaces/<ns>/pods/<pod>[:<port>]"  port > 0 adds ":<port>"
 * then "/<sub>" when sub is given (sub is spelt by the caller: "log",
 * "exec", "portforward", "proxy/", ...).  ns and pod are percent-escaped
 * here.  Returns the length, or -ENAMETOOLONG when it does not fit cap. */
int k8s_path(char *out, size_t cap, const char *ns, const char *pod, int port,
	     const char *sub);

/* ---- HTTP status to errno (design.md §2) ----
 * Positive errno, 0 for 2xx.  K8S_API: a reply of the API server itself
 * (5xx and 429 are EAGAIN: worth retrying).  K8S_PROXIED: a reply a pod's
 * own server sent through the proxy (5xx is EIO: the pod failed, retrying
 * the API does not help; anything non-2xx is an error). */
enum k8s_origin { K8S_API, K8S_PROXIED };
int k8s_http_errno(long code, enum k8s_origin origin);
/* The common case: k8s_http_errno(code, K8S_API). */
int http_errno(long code);

/* ---- messages from the server ----
 * Copy n bytes of untrusted text into out (cap bytes, always terminated):
 * control bytes and DEL become spaces (K8S_TEXT_LINE) or, with
 * K8S_TEXT_MULTILINE, are kept when newline or tab; leading and trailing
 * blanks go; a cut never splits a UTF-8 sequence.  So a message can go into
 * a log line or .podfs/status without forging lines or terminal escapes. */
enum { K8S_TEXT_LINE = 0, K8S_TEXT_MULTILINE = 1 };
void k8s_text(char *out, size_t cap, const char *s, size_t n, int flags);

/* ---- time ---- */

/*
 * RFC 3339 date-time: "YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)", 'T'
 * and 'Z' in either case, fractions of any length (nanoseconds kept,
 * further digits ignored).  The whole string must match.  0 with the UTC
 * seconds and nanoseconds, -1 when malformed or out of range. */
int k8s_time_parse(const char *s, int64_t *sec, int32_t *nsec);

#endif
