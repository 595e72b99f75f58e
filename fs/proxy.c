/* Proxy/<port>/<path...>: the body of a GET through the API server's pod
 * proxy (protocol.md §4.3), streamed.
 *
 * open() sends the request and reads the response head in the opening
 * thread (bounded by -o timeout), so the HTTP status becomes open's errno:
 * 404 ENOENT, 401/403 EACCES, 5xx EIO, others as design.md §2.  The body
 * then flows through a bounded buffer: one small pump thread per open file
 * reads the connection only while the buffer has room, so a large download
 * is never held in memory and a slow reader slows the transfer.  Reads are
 * ordinary stream-handle reads (streams.c): they park instead of holding a
 * FUSE worker thread.  A body cut short is EIO, never EOF.
 *
 * The last path element may end in `?query`, passed on as the query
 * string (a file name cannot hold it anywhere else).  Path segments are
 * percent-escaped; the query is passed as written except for bytes that
 * cannot appear in a request line. */
#include "fs/ports.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs/fs.h"
#include "fs/path.h"
#include "fs/streams.h"
#include "stream/chanbuf.h"
#include "stream/conn.h"
#include "stream/httpchunk.h"
#include "stream/log.h"

#define PUMP_READ	(64 * 1024)
#define POLL_MS		250	/* how soon a closed file stops its pump */

struct pxy {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int refs;		/* the open file, the pump thread */
	int stop;		/* (lock) the file closed */
	struct conn *c;		/* the pump's alone after open */
	struct hbody hb;
	struct chanbuf *b;
	char label[PFS_LABEL_MAX + PFS_SUBDOMAIN_MAX + PFS_PROXY_PATH_MAX + 16];
};

static void pxy_put(struct pxy *x)
{
	int last;

	pthread_mutex_lock(&x->lock);
	last = --x->refs == 0;
	pthread_mutex_unlock(&x->lock);
	if (!last)
		return;
	if (x->c)
		conn_close(x->c);
	if (x->b) {
		chanbuf_set_writer(x->b, NULL, NULL);
		chanbuf_put(x->b);
	}
	pthread_cond_destroy(&x->cond);
	pthread_mutex_destroy(&x->lock);
	free(x);
}

/* Buffer writer callback: a reader made room. */
static void pxy_on_space(void *ud)
{
	struct pxy *x = ud;

	pthread_mutex_lock(&x->lock);
	pthread_cond_signal(&x->cond);
	pthread_mutex_unlock(&x->lock);
}

static void pxy_release(void *ud)
{
	struct pxy *x = ud;

	pthread_mutex_lock(&x->lock);
	x->stop = 1;
	pthread_cond_signal(&x->cond);
	pthread_mutex_unlock(&x->lock);
	pxy_put(x);
}

/* Feed raw body bytes; 1 when the body is complete or broken. */
static int pump_feed(struct pxy *x, const uint8_t *p, size_t n)
{
	/* Called again after the last data slice even with no input left:
	 * the end of a Content-Length body is reported on its own. */
	for (;;) {
		const uint8_t *d;
		size_t used = 0, dn = 0;
		enum hbody_event e = hbody_feed(&x->hb, p, n, &used, &d, &dn);

		p += used;
		n -= used;
		if (e == HB_DATA) {
			/* never short: a read never exceeds the free space */
			if (chanbuf_write(x->b, d, dn) != dn) {
				chanbuf_finish(x->b, EIO);
				return 1;
			}
		} else if (e == HB_DONE) {
			chanbuf_finish(x->b, 0);
			return 1;
		} else if (e == HB_ERROR) {
			pwarn("proxy %s: bad response body: %s", x->label,
			      x->hb.why ? x->hb.why : "framing error");
			chanbuf_finish(x->b, EIO);
			return 1;
		} else {
			return 0;	/* all input taken */
		}
	}
}

static void *pump_main(void *arg)
{
	struct pxy *x = arg;
	uint8_t *buf = malloc(PUMP_READ);

	if (!buf) {
		chanbuf_finish(x->b, ENOMEM);
		pxy_put(x);
		return NULL;
	}
	for (;;) {
		size_t room = 0;
		ssize_t n;

		pthread_mutex_lock(&x->lock);
		while (!x->stop && (room = chanbuf_space(x->b)) < 4096 &&
		       !(room > 0 && conn_pending(x->c)))
			pthread_cond_wait(&x->cond, &x->lock);
		if (x->stop) {
			pthread_mutex_unlock(&x->lock);
			chanbuf_finish(x->b, EIO);
			break;
		}
		pthread_mutex_unlock(&x->lock);
		if (room > PUMP_READ)
			room = PUMP_READ;
		n = conn_recv(x->c, buf, room);
		if (n == -EAGAIN) {
			struct pollfd pfd = { .fd = conn_fd(x->c), .events = POLLIN };

			poll(&pfd, 1, POLL_MS);
			continue;
		}
		if (n == 0) {
			if (x->hb.mode == HBODY_CLOSE) {
				chanbuf_finish(x->b, 0);
			} else {
				pwarn("proxy %s: connection closed before the end of the body", x->label);
				chanbuf_finish(x->b, EIO);
			}
			break;
		}
		if (n < 0) {
			pwarn("proxy %s: %s", x->label, strerror((int)-n));
			chanbuf_finish(x->b, EIO);
			break;
		}
		if (pump_feed(x, buf, (size_t)n))
			break;
	}
	free(buf);
	pxy_put(x);
	return NULL;
}

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

void proxy_open(fuse_req_t req, const struct pfs_path *p, struct fuse_file_info *fi)
{
	char url[PFS_PROXY_PATH_MAX * 3 + 512], err[512] = "", te[64], cl[64];
	struct http_head head;
	struct pxy *x;
	pthread_t th;
	sigset_t all, old;
	int e = 0, r;

	if ((fi->flags & O_ACCMODE) != O_RDONLY) {
		fuse_reply_err(req, EACCES);
		return;
	}
	if ((r = proxy_url(p, url, sizeof(url)))) {
		fuse_reply_err(req, -r);
		return;
	}
	x = calloc(1, sizeof(*x));
	if (!x) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	pthread_mutex_init(&x->lock, NULL);
	pthread_cond_init(&x->cond, NULL);
	x->refs = 1;
	snprintf(x->label, sizeof(x->label), "%s/%s:%d/%s", p->ns, p->pod, p->proxy_port,
		 p->proxy_path);
	memset(&head, 0, sizeof(head));
	x->c = conn_open(podfs->rest, url, NULL, podfs->timeout_ms, &head, &e, err, sizeof(err));
	if (!x->c) {
		pdebug("proxy %s: %s", x->label, err);
		podfs_note(podfs, e, err);
		http_head_free(&head);
		pxy_put(x);
		fuse_reply_err(req, -e);
		return;
	}
	if (head.code < 200 || head.code > 299) {
		char msg[600];

		e = k8s_http_errno(head.code, K8S_PROXIED);
		/* the pod's own error page says nothing a status line does not */
		if (err[0] == '<')
			err[0] = 0;
		snprintf(msg, sizeof(msg), "%s%s%s", head.status_line ? head.status_line : "no status",
			 err[0] ? ": " : "", err);
		pdebug("proxy %s: %s", x->label, msg);
		podfs_note(podfs, e == ENOENT ? -ENOENT : -e, msg);
		http_head_free(&head);
		pxy_put(x);
		fuse_reply_err(req, e);
		return;
	}
	pdebug("proxy %s: %s", x->label, head.status_line ? head.status_line : "");
	podfs_note(podfs, 0, NULL);
	if (http_head_get(&head, "Transfer-Encoding", te, sizeof(te)) && strcasestr(te, "chunked"))
		hbody_init(&x->hb, HBODY_CHUNKED, 0);
	else if (http_head_get(&head, "Content-Length", cl, sizeof(cl)))
		hbody_init(&x->hb, HBODY_LENGTH, strtoull(cl, NULL, 10));
	else
		hbody_init(&x->hb, HBODY_CLOSE, 0);
	http_head_free(&head);

	x->b = chanbuf_new(podfs->buffer_size ? podfs->buffer_size : (1u << 20), 0);
	if (!x->b) {
		pxy_put(x);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	chanbuf_set_writer(x->b, pxy_on_space, x);
	if (x->hb.mode == HBODY_LENGTH && x->hb.remaining == 0)
		chanbuf_finish(x->b, 0);

	x->refs = 2;		/* the file and the pump */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	r = pthread_create(&th, NULL, pump_main, x);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r) {
		x->refs = 1;
		pxy_put(x);
		fuse_reply_err(req, EAGAIN);
		return;
	}
	pthread_detach(th);
	e = streams_open_fh(req, fi, NULL, x->b, NULL, NULL, pxy_release, x);
	if (e < 0) {
		pxy_release(x);
		fuse_reply_err(req, -e);
	}
}
