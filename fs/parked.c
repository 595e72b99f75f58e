/* The stream-file engine (see parked.h for the rules it keeps).
 *
 * A handle (struct sfh) reads from one channel buffer and/or writes into
 * one.  Requests that cannot be answered now wait in two FIFO queues on
 * the handle; the buffer's callbacks answer them: sfh_on_data (a reader
 * callback: bytes, EOF or an error arrived) and wset_notify (the writer
 * callback of the input buffer: room appeared or the stream ended).  Both
 * run on whatever thread changed the buffer (a multiplexer thread, a
 * reader's FUSE worker), never under the buffer's lock.
 *
 * Broadcast readers (attach stdout/stderr: every open file sees every
 * byte) own a cursor, so a reply goes out straight from the ring
 * (fuse_reply_iov, no copy); readers of a shared buffer (exec output:
 * each byte to one reader) split one cursor and copy out under the
 * buffer lock.
 *
 * Locks (docs/locking.md, fs/ part): wset.lock -> sfh.lock -> the
 * buffer's lock (taken inside chanbuf calls).  Nothing is held while a
 * buffer callback is registered or removed. */
#include "fs/parked.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <linux/fuse.h>

#include "fs/handles.h"
#include "stream/chanbuf.h"

struct preq {			/* a parked read or write */
	fuse_req_t req;
	size_t size;		/* read: max bytes */
	char *data;		/* write: the whole request's bytes */
	size_t off, len;	/* write: off of them are in the buffer */
	struct preq *next;
};

struct pqueue {
	struct preq *head, **tail;
};

struct sfh {
	struct handle hd;		/* first: the table entry */
	pthread_mutex_t lock;
	/* Fixed after open: */
	struct chanbuf *wb;
	struct wset *ws;
	void (*on_release)(void *ud);
	void *rel_ud;
	/* Guarded by lock: */
	struct cb_reader *rd;		/* set under lock: sfh_on_data reads it */
	int shared;			/* rd is on a shared (not broadcast) buffer */
	struct pqueue reads, writes;
	struct fuse_pollhandle *ph;
	int closed;			/* released: park nothing more */
	/* Guarded by ws->lock: */
	struct sfh *wnext;
};

/* The writer handles of one input buffer: told when the buffer drains. */
struct wset {
	pthread_mutex_t lock;
	struct sfh *head;		/* (lock) */
};

static const struct handle_ops parked_ops;

/* ---- queues ---- */

static void pq_init(struct pqueue *q)
{
	q->head = NULL;
	q->tail = &q->head;
}

static void pq_push(struct pqueue *q, struct preq *p)
{
	p->next = NULL;
	*q->tail = p;
	q->tail = &p->next;
}

static struct preq *pq_pop(struct pqueue *q)
{
	struct preq *p = q->head;

	if (p && !(q->head = p->next))
		q->tail = &q->head;
	return p;
}

/* Take req out of q; NULL when it is not there (answered already). */
static struct preq *pq_take(struct pqueue *q, fuse_req_t req)
{
	for (struct preq **pp = &q->head; *pp; pp = &(*pp)->next) {
		struct preq *p = *pp;

		if (p->req != req)
			continue;
		*pp = p->next;
		if (!p->next)
			q->tail = pp;
		return p;
	}
	return NULL;
}

static void preq_free(struct preq *p)
{
	free(p->data);
	free(p);
}

/* Answer every parked request with err (the file is going away). */
static void pq_fail(struct pqueue *q, int err)
{
	struct preq *p;

	while ((p = pq_pop(q))) {
		fuse_reply_err(p->req, err);
		preq_free(p);
	}
}

/* ---- reads ---- */

/* Answer req from the handle's reader if anything is there (data, EOF or
 * an error): 1 if answered, 0 if it must wait.  Caller holds h->lock. */
static int sfh_answer(struct sfh *h, fuse_req_t req, size_t size)
{
	struct iovec iov[2];
	ssize_t n;

	if (!h->rd) {
		fuse_reply_buf(req, NULL, 0);
		return 1;
	}
	if (h->shared) {
		char *tmp = malloc(size ? size : 1);

		if (!tmp) {
			fuse_reply_err(req, ENOMEM);
			return 1;
		}
		n = chanbuf_read(h->rd, tmp, size);
		if (n >= 0)
			fuse_reply_buf(req, tmp, (size_t)n);
		else if (n != -EAGAIN)
			fuse_reply_err(req, (int)-n);
		free(tmp);
		return n != -EAGAIN;
	}
	n = chanbuf_peek(h->rd, iov, size);
	if (n == -EAGAIN)
		return 0;
	if (n > 0) {
		fuse_reply_iov(req, iov, iov[1].iov_len && (size_t)n > iov[0].iov_len ? 2 : 1);
		chanbuf_consume(h->rd, (size_t)n);
	} else if (n == 0) {
		fuse_reply_buf(req, NULL, 0);
	} else {
		fuse_reply_err(req, (int)-n);
	}
	return 1;
}

static void sfh_complete_reads_locked(struct sfh *h)
{
	while (h->reads.head && sfh_answer(h, h->reads.head->req, h->reads.head->size))
		preq_free(pq_pop(&h->reads));
}

static void sfh_notify_poll_locked(struct sfh *h, int ready)
{
	if (h->ph && ready) {
		fuse_lowlevel_notify_poll(h->ph);
		fuse_pollhandle_destroy(h->ph);
		h->ph = NULL;
	}
}

/* Reader callback: data, EOF or an error arrived. */
static void sfh_on_data(void *ud)
{
	struct sfh *h = ud;

	pthread_mutex_lock(&h->lock);
	sfh_complete_reads_locked(h);
	sfh_notify_poll_locked(h, h->rd && chanbuf_readable(h->rd));
	pthread_mutex_unlock(&h->lock);
}

/* ---- writes ---- */

/* Move parked writes into the input buffer as room appears; once the
 * stream has ended, fail what is left with EPIPE (or report the part that
 * went through). */
static void sfh_flush_writes_locked(struct sfh *h)
{
	int werr = 0, ended = chanbuf_finished(h->wb, &werr);
	struct preq *p;

	while ((p = h->writes.head)) {
		if (!ended && p->off < p->len)
			p->off += chanbuf_write(h->wb, p->data + p->off, p->len - p->off);
		if (p->off < p->len && !ended)
			break;
		pq_pop(&h->writes);
		if (p->off > 0)
			fuse_reply_write(p->req, p->off);
		else
			fuse_reply_err(p->req, werr ? werr : EPIPE);
		preq_free(p);
	}
	sfh_notify_poll_locked(h, ended || chanbuf_space(h->wb) > 0);
}

struct wset *wset_new(void)
{
	struct wset *w = calloc(1, sizeof(*w));

	if (w)
		pthread_mutex_init(&w->lock, NULL);
	return w;
}

void wset_free(struct wset *w)
{
	if (!w)
		return;
	pthread_mutex_destroy(&w->lock);
	free(w);
}

void wset_notify(void *ud)
{
	struct wset *w = ud;

	pthread_mutex_lock(&w->lock);
	for (struct sfh *h = w->head; h; h = h->wnext) {
		pthread_mutex_lock(&h->lock);
		sfh_flush_writes_locked(h);
		pthread_mutex_unlock(&h->lock);
	}
	pthread_mutex_unlock(&w->lock);
}

static void wset_add(struct wset *w, struct sfh *h)
{
	pthread_mutex_lock(&w->lock);
	h->wnext = w->head;
	w->head = h;
	pthread_mutex_unlock(&w->lock);
}

static void wset_remove(struct wset *w, struct sfh *h)
{
	pthread_mutex_lock(&w->lock);
	for (struct sfh **pp = &w->head; *pp; pp = &(*pp)->wnext) {
		if (*pp == h) {
			*pp = h->wnext;
			break;
		}
	}
	pthread_mutex_unlock(&w->lock);
}

/* ---- interrupts ---- */

static void on_interrupt(fuse_req_t req, void *ud)
{
	struct sfh *h = (struct sfh *)handle_get_as((uint64_t)(uintptr_t)ud, &parked_ops);
	struct preq *p;

	if (!h)
		return;		/* closed: its requests were answered */
	pthread_mutex_lock(&h->lock);
	if (!(p = pq_take(&h->reads, req)))
		p = pq_take(&h->writes, req);
	if (p) {
		if (p->data && p->off)
			fuse_reply_write(req, p->off);	/* part went through */
		else
			fuse_reply_err(req, EINTR);
		preq_free(p);
	}
	pthread_mutex_unlock(&h->lock);
	handle_put(&h->hd);
}

/* Park p on q unless the request was interrupted meanwhile or the file
 * closed; 0 when parked, else the errno to answer with.  Caller holds
 * h->lock. */
static int park_locked(struct sfh *h, struct pqueue *q, struct preq *p)
{
	if (h->closed)
		return EBADF;
	if (fuse_req_interrupted(p->req))
		return EINTR;
	pq_push(q, p);
	return 0;
}

/* ---- operations ---- */

static void sfh_read(fuse_req_t req, struct handle *hd, size_t size, off_t off, int flags)
{
	struct sfh *h = (struct sfh *)hd;
	struct preq *p;
	int e;

	(void)off;
	if (!h->rd && h->wb) {
		fuse_reply_err(req, EBADF);	/* a write-only stream */
		return;
	}
	fuse_req_interrupt_func(req, on_interrupt, (void *)(uintptr_t)hd->fh);
	pthread_mutex_lock(&h->lock);
	if (!h->reads.head && sfh_answer(h, req, size)) {
		pthread_mutex_unlock(&h->lock);
		return;
	}
	if ((flags & O_NONBLOCK) || !(p = calloc(1, sizeof(*p)))) {
		pthread_mutex_unlock(&h->lock);
		fuse_reply_err(req, (flags & O_NONBLOCK) ? EAGAIN : ENOMEM);
		return;
	}
	p->req = req;
	p->size = size;
	if ((e = park_locked(h, &h->reads, p))) {
		pthread_mutex_unlock(&h->lock);
		free(p);
		fuse_reply_err(req, e);
		return;
	}
	/* data may have arrived between the peek and parking */
	sfh_complete_reads_locked(h);
	pthread_mutex_unlock(&h->lock);
}

/* A parked write: the whole request, its first n bytes already in. */
static struct preq *write_preq(fuse_req_t req, const char *buf, size_t size, size_t n)
{
	struct preq *p = calloc(1, sizeof(*p));

	if (!p || !(p->data = malloc(size))) {
		free(p);
		return NULL;
	}
	memcpy(p->data, buf, size);
	p->req = req;
	p->off = n;
	p->len = size;
	return p;
}

static void sfh_write(fuse_req_t req, struct handle *hd, const char *buf, size_t size,
		      off_t off, int flags)
{
	struct sfh *h = (struct sfh *)hd;
	struct preq *p;
	size_t n = 0;
	int werr = 0, e;

	(void)off;
	if (!h->wb) {
		fuse_reply_err(req, EBADF);
		return;
	}
	fuse_req_interrupt_func(req, on_interrupt, (void *)(uintptr_t)hd->fh);
	pthread_mutex_lock(&h->lock);
	if (h->closed || chanbuf_finished(h->wb, &werr)) {
		pthread_mutex_unlock(&h->lock);
		/* a finished input: e.g. a refused port */
		fuse_reply_err(req, h->closed ? EBADF : werr ? werr : EPIPE);
		return;
	}
	if (!h->writes.head)
		n = chanbuf_write(h->wb, buf, size);
	if (n == size || (n && (flags & O_NONBLOCK))) {
		pthread_mutex_unlock(&h->lock);
		fuse_reply_write(req, n);
		return;
	}
	if ((flags & O_NONBLOCK) || !(p = write_preq(req, buf, size, n))) {
		pthread_mutex_unlock(&h->lock);
		if (n)
			fuse_reply_write(req, n);
		else
			fuse_reply_err(req, (flags & O_NONBLOCK) ? EAGAIN : ENOMEM);
		return;
	}
	if ((e = park_locked(h, &h->writes, p))) {
		pthread_mutex_unlock(&h->lock);
		if (n)
			fuse_reply_write(req, n);
		else
			fuse_reply_err(req, e);
		preq_free(p);
		return;
	}
	sfh_flush_writes_locked(h);
	pthread_mutex_unlock(&h->lock);
}

static void sfh_poll(fuse_req_t req, struct handle *hd, struct fuse_pollhandle *ph)
{
	struct sfh *h = (struct sfh *)hd;
	unsigned rev = 0;

	pthread_mutex_lock(&h->lock);
	if (h->rd && chanbuf_readable(h->rd))
		rev |= POLLIN | POLLRDNORM;
	if (h->wb) {
		if (chanbuf_finished(h->wb, NULL))
			rev |= POLLERR;
		else if (chanbuf_space(h->wb) > 0 && !h->writes.head)
			rev |= POLLOUT | POLLWRNORM;
	}
	if (!h->rd && !h->wb)
		rev |= POLLIN | POLLRDNORM;	/* no such channel: reads see EOF at once */
	if (ph) {
		if (h->ph)
			fuse_pollhandle_destroy(h->ph);
		h->ph = ph;
		if (rev)
			sfh_notify_poll_locked(h, 1);
	}
	pthread_mutex_unlock(&h->lock);
	fuse_reply_poll(req, rev);
}

static void sfh_release(struct handle *hd)
{
	struct sfh *h = (struct sfh *)hd;

	if (h->ws)
		wset_remove(h->ws, h);
	/* Nothing parked may be left unanswered. */
	pthread_mutex_lock(&h->lock);
	h->closed = 1;
	pq_fail(&h->reads, EBADF);
	pq_fail(&h->writes, EBADF);
	pthread_mutex_unlock(&h->lock);
	if (h->on_release)
		h->on_release(h->rel_ud);
}

static void sfh_destroy(struct handle *hd)
{
	struct sfh *h = (struct sfh *)hd;

	pq_fail(&h->reads, EBADF);	/* never added: nothing; else released */
	pq_fail(&h->writes, EBADF);
	if (h->rd)
		chanbuf_reader_close(h->rd);
	if (h->ph)
		fuse_pollhandle_destroy(h->ph);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

static const struct handle_ops parked_ops = {
	.name = "stream",
	.read = sfh_read,
	.write = sfh_write,
	.poll = sfh_poll,
	.release = sfh_release,
	.destroy = sfh_destroy,
};

/* FOPEN_STREAM, which libfuse 3.14 cannot express in fuse_file_info, so
 * the open reply is built here (it is just a fuse_open_out).  Without it a
 * regular file has a file position, and the kernel serialises read() and
 * write() on one open file through its position lock: a read parked for
 * data would block the write of the same fd that the data answers (a
 * read-write Ports/<port> file used by two threads deadlocks). */
static void reply_open(fuse_req_t req, struct sfh *h, struct fuse_file_info *fi)
{
	struct fuse_open_out o;

	fi->fh = handle_add(&h->hd, &parked_ops);
	fi->direct_io = 1;
	fi->nonseekable = 1;
	fi->keep_cache = 0;
	memset(&o, 0, sizeof(o));
	o.fh = fi->fh;
	o.open_flags = FOPEN_DIRECT_IO | FOPEN_NONSEEKABLE | FOPEN_STREAM;
	if (fuse_reply_buf(req, (const char *)&o, sizeof(o)))
		handle_close(fi->fh);	/* the opener was interrupted */
}

int parked_open(fuse_req_t req, struct fuse_file_info *fi, const struct parked_file *pf)
{
	struct sfh *h = calloc(1, sizeof(*h));

	if (!h)
		return -ENOMEM;
	pthread_mutex_init(&h->lock, NULL);
	pq_init(&h->reads);
	pq_init(&h->writes);
	if (pf->rd) {
		/* Under the lock: from the moment the reader is registered the
		 * multiplexer may run sfh_on_data, which reads h->rd and
		 * h->shared (ThreadSanitizer saw the unlocked store race). */
		pthread_mutex_lock(&h->lock);
		h->rd = chanbuf_reader_open(pf->rd, sfh_on_data, h);
		h->shared = !chanbuf_is_broadcast(pf->rd);
		pthread_mutex_unlock(&h->lock);
		if (!h->rd) {
			sfh_destroy(&h->hd);
			return -ENOMEM;
		}
	}
	h->wb = pf->wb;
	h->on_release = pf->on_release;
	h->rel_ud = pf->ud;
	if (pf->wb && pf->ws) {
		h->ws = pf->ws;
		wset_add(h->ws, h);
	}
	reply_open(req, h, fi);
	return 0;
}
