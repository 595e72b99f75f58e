/* Proxy/<port>/<path...>: the body of a GET through the API server's pod
 * proxy (protocol.md §4.3), streamed.
 *
 * The file is a thin layer over a SESS_PROXY session (stream/sess_http.c,
 * libcurl on the pod's multiplexer loop) and its owner (fs/owner.h).
 * open() is parked until the response head arrives (bounded by -o timeout), so the status of the
 * pod's server becomes open's errno: 404 ENOENT, 401/403 EACCES, 5xx EIO,
 * others as design.md §2 (k8s_http_errno, K8S_PROXIED); no FUSE worker
 * waits meanwhile.  The body then flows into a bounded buffer, taken only
 * while the buffer has room, so a large download is never held in memory
 * and a slow reader slows the transfer.  Reads are ordinary stream-handle reads (parked.c):
 * they park instead of holding a FUSE worker thread.  A body cut short is
 * EIO, never EOF; close() hangs the session up.
 *
 * The last path element may end in `?query`, passed on as the query
 * string (a file name cannot hold it anywhere else).  Path segments are
 * percent-escaped; the query is passed as written except for bytes that
 * cannot appear in a request line. */
#include "fs/ports.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include "fs/owner.h"
#include "fs/path.h"
#include "stream/session.h"

/* Percent-escape what a request line cannot carry as is. */
static int put_escaped(char *out, size_t cap, size_t *len, const char *s, int keep_query)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		int plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			(c >= '0' && c <= '9') || strchr("-._~!$&'()*+,;=:@", c);

		if (keep_query && (c == '/' || c == '?' || c == '%'))
			plain = 1;
		if (plain) {
			if (*len + 1 >= cap)
				return -ENAMETOOLONG;
			out[(*len)++] = (char)c;
		} else {
			if (*len + 3 >= cap)
				return -ENAMETOOLONG;
			out[(*len)++] = '%';
			out[(*len)++] = hex[c >> 4];
			out[(*len)++] = hex[c & 15];
		}
	}
	out[*len] = 0;
	return 0;
}

/* "/api/v1/namespaces/<ns>/pods/<pod>:<port>/proxy/<path>[?query]" */
static int proxy_url(const struct pfs_path *p, char *out, size_t cap)
{
	char path[PFS_PROXY_PATH_MAX], *seg, *save = NULL, *q;
	size_t len;
	int n, r;

	if ((n = k8s_path(out, cap, p->ns, p->pod, p->proxy_port, "proxy/")) < 0)
		return n;
	len = (size_t)n;
	snprintf(path, sizeof(path), "%s", p->proxy_path);
	q = strchr(path, '?');
	if (q && strchr(q, '/'))
		q = NULL;	/* '?' in an inner segment is just a character */
	if (q)
		*q++ = 0;
	for (seg = strtok_r(path, "/", &save); seg; seg = strtok_r(NULL, "/", &save)) {
		if (len && out[len - 1] != '/') {
			if (len + 1 >= cap)
				return -ENAMETOOLONG;
			out[len++] = '/';
			out[len] = 0;
		}
		if ((r = put_escaped(out, cap, &len, seg, 0)))
			return r;
	}
	if (q && *q) {
		if (len + 1 >= cap)
			return -ENAMETOOLONG;
		out[len++] = '?';
		out[len] = 0;
		if ((r = put_escaped(out, cap, &len, q, 1)))
			return r;
	}
	return 0;
}

/* No registry, nothing to do at the end: the open (then its file) and
 * the download hold it. */
static const struct owner_ops proxy_ops = { .ended = NULL };

void proxy_open(fuse_req_t req, const struct pfs_path *p, struct fuse_file_info *fi)
{
	char url[PFS_PROXY_PATH_MAX * 3 + 512], label[OWNER_LABEL_MAX];
	struct session_params sp;
	struct owner *o;
	int e;

	if ((fi->flags & O_ACCMODE) != O_RDONLY) {
		fuse_reply_err(req, EACCES);
		return;
	}
	if ((e = proxy_url(p, url, sizeof(url)))) {
		fuse_reply_err(req, -e);
		return;
	}
	snprintf(label, sizeof(label), "proxy %s/%s:%d", p->ns, p->pod, p->proxy_port);
	if (!(o = owner_new(&proxy_ops, label))) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	owner_params(&sp, SESS_PROXY, p);
	sp.container = NULL;
	sp.path = url;		/* copied by the start */
	owner_open_settled(o, &sp, req, fi);
}
