/* Stream files: attach stdin/stdout/stderr and log.follow.
 *
 * A read that finds no data does not wait: the request is parked on the
 * file handle and answered later by whichever thread brings data (the
 * pod's multiplexer, through the buffer's notify callback), so a thousand
 * blocked `cat`s hold no FUSE worker thread.  An interrupt (Ctrl-C)
 * answers a parked request with EINTR.  Writes that do not fit the
 * bounded input buffer are parked the same way and answered as the
 * buffer drains, which is how backpressure reaches the writer.
 *
 * Attach: one session per container serves all of its open stdin/stdout/
 * stderr files.  It starts at the first open, asks for stdin when the
 * container spec has `stdin: true`, and is hung up a little after the last
 * of its files closes (LINGER_MS), so `echo a > stdin; echo b > stdin`
 * feed one session like a FIFO.  Closing stdin never sends end-of-input:
 * Kubernetes would end the whole attach (and cut off every reader).
 *
 * Locking order: handle lock -> buffer lock (inside chanbuf calls).  Buffer
 * callbacks run without the buffer lock and take the handle lock.  The
 * attach table lock is never held while taking a handle lock. */
#include "fs/streams.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <time.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <linux/fuse.h>

#include "fs/fs.h"
#include "fs/handles.h"
#include "fs/path.h"
#include "stream/log.h"
#include "stream/mux.h"
#include "stream/pod.h"
#include "stream/session.h"

#define LINGER_MS 2000

enum sfh_kind { SK_ATTACH_IN, SK_ATTACH_OUT, SK_ATTACH_ERR, SK_LOG_FOLLOW, SK_GENERIC };

struct preq {			/* a parked read or write */
	fuse_req_t req;
	size_t size;		/* read: max bytes */
	char *data;		/* write: the bytes not yet accepted */
	size_t off, len;
	struct preq *next;
};

struct attach;

struct sfh {
	struct handle hd;		/* first: the table entry */
	enum sfh_kind kind;
	pthread_mutex_t lock;
	struct session *sess;
	struct attach *att;
	struct cb_reader *rd;		/* readers */
	int shared;			/* rd is on a shared (not broadcast) buffer */
	struct chanbuf *wb;		/* writers: the session's input */
	struct preq *reads, **reads_tail;
	struct preq *writes, **writes_tail;
	struct fuse_pollhandle *ph;
	struct wset *ws;		/* writers: the set this handle is in */
	struct sfh *wnext;
	void (*on_release)(void *ud);
	void *rel_ud;
	int closed;			/* released: park nothing more */
};

/* The writer handles of one input buffer: told when the buffer drains. */
struct wset {
	pthread_mutex_t lock;
	struct sfh *head;
};

struct attach {
	char key[PFS_LABEL_MAX + PFS_SUBDOMAIN_MAX + PFS_LABEL_MAX + 3];
	struct session *sess;
	int handles;			/* open files (attach_lock) */
	int ended;			/* the session's on_end ran */
	int hung;			/* hung up after the linger time */
	uint64_t linger_until;		/* 0 while files are open */
	struct wset *ws;
	struct attach *next;
};

static struct podfs *fs;
static pthread_mutex_t attach_lock = PTHREAD_MUTEX_INITIALIZER;
static struct attach *attaches;
static pthread_t janitor;
static int janitor_started, janitor_stop;
static pthread_cond_t janitor_cond = PTHREAD_COND_INITIALIZER;

/* ---- handles ---- */

static void sfh_free(struct sfh *h);

static void sfh_destroy(struct handle *hd)
{
	sfh_free((struct sfh *)hd);
}

/* The handle of fi->fh with a reference, NULL once released. */
static struct sfh *sfh_ref(uint64_t fh)
{
	return (struct sfh *)handle_get(fh);
}

static void sfh_unref(struct sfh *h)
{
	handle_put(&h->hd);
}

/* ---- parked requests ---- */

/* Answer req from the handle's reader if anything is there (data, EOF or
 * an error): 1 if answered, 0 if the caller must wait.  Broadcast readers
 * own their cursor, so the reply goes out straight from the ring; readers
 * of a shared buffer split one cursor and copy out under the buffer lock. */
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
		if (n == -EAGAIN) {
			free(tmp);
			return 0;
		}
		if (n >= 0)
			fuse_reply_buf(req, tmp, (size_t)n);
		else
			fuse_reply_err(req, (int)-n);
		free(tmp);
		return 1;
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
	while (h->reads) {
		struct preq *p = h->reads;

		if (!sfh_answer(h, p->req, p->size))
			break;
		h->reads = p->next;
		if (!h->reads)
			h->reads_tail = &h->reads;
		free(p);
	}
}

static void sfh_notify_poll_locked(struct sfh *h, int ready)
{
	if (h->ph && ready) {
		fuse_lowlevel_notify_poll(h->ph);
		fuse_pollhandle_destroy(h->ph);
		h->ph = NULL;
	}
}

static void sfh_on_data(void *ud)
{
	struct sfh *h = ud;

	pthread_mutex_lock(&h->lock);
	sfh_complete_reads_locked(h);
	sfh_notify_poll_locked(h, h->rd && chanbuf_readable(h->rd));
	pthread_mutex_unlock(&h->lock);
}

/* Become a reader of b.  Under the handle's lock: from the moment the
 * reader is registered the multiplexer may run sfh_on_data, which reads
 * h->rd and h->shared (ThreadSanitizer saw the unlocked store race). */
static int sfh_reader_open(struct sfh *h, struct chanbuf *b, int shared)
{
	pthread_mutex_lock(&h->lock);
	h->rd = chanbuf_reader_open(b, sfh_on_data, h);
	h->shared = shared;
	pthread_mutex_unlock(&h->lock);
	return h->rd ? 0 : -ENOMEM;
}

/* Move parked writes into the input buffer as room appears; once the
 * stream has ended, fail what is left with EPIPE (or report the part that
 * went through). */
static void sfh_flush_writes_locked(struct sfh *h)
{
	int werr = 0, ended = chanbuf_finished(h->wb, &werr);

	while (h->writes) {
		struct preq *p = h->writes;

		if (!ended && p->off < p->len)
			p->off += chanbuf_write(h->wb, p->data + p->off, p->len - p->off);
		if (p->off < p->len && !ended)
			break;
		h->writes = p->next;
		if (!h->writes)
			h->writes_tail = &h->writes;
		if (p->off == p->len || p->off > 0)
			fuse_reply_write(p->req, p->off);
		else
			fuse_reply_err(p->req, werr ? werr : EPIPE);
		free(p->data);
		free(p);
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
	struct sfh *h;

	pthread_mutex_lock(&w->lock);
	for (h = w->head; h; h = h->wnext) {
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

static void on_interrupt(fuse_req_t req, void *ud)
{
	struct sfh *h = sfh_ref((uint64_t)(uintptr_t)ud);
	struct preq **pp, *p = NULL;

	if (!h)
		return;		/* released: its requests were answered */
	pthread_mutex_lock(&h->lock);
	for (pp = &h->reads; *pp; pp = &(*pp)->next) {
		if ((*pp)->req == req) {
			p = *pp;
			*pp = p->next;
			if (!h->reads)
				h->reads_tail = &h->reads;
			else if (!p->next)
				h->reads_tail = pp;
			break;
		}
	}
	if (!p) {
		for (pp = &h->writes; *pp; pp = &(*pp)->next) {
			if ((*pp)->req == req) {
				p = *pp;
				*pp = p->next;
				if (!h->writes)
					h->writes_tail = &h->writes;
				else if (!p->next)
					h->writes_tail = pp;
				break;
			}
		}
	}
	if (p) {
		if (p->data && p->off)
			fuse_reply_write(req, p->off);	/* part went through */
		else
			fuse_reply_err(req, EINTR);
		free(p->data);
		free(p);
	}
	pthread_mutex_unlock(&h->lock);
	sfh_unref(h);
}

/* ---- attach sessions ---- */

static void attach_on_end(void *ud, struct session *s)
{
	struct attach *a = ud;

	(void)s;
	wset_notify(a->ws);	/* parked writers get EPIPE now */
	/* Last touch of `a` from the session: the janitor may free it as soon
	 * as it sees `ended`. */
	pthread_mutex_lock(&attach_lock);
	a->ended = 1;
	pthread_cond_signal(&janitor_cond);
	pthread_mutex_unlock(&attach_lock);
}

/* The container's spec: does it take stdin, does it run with a tty? */
static int container_spec(const struct pfs_path *p, int *in, int *tty, char *err, size_t errlen)
{
	cJSON *pod;
	const cJSON *c;
	int e = pod_fetch(fs->rest, p->ns, p->pod, &pod, err, errlen);

	if (e < 0)
		return e;
	c = pod_container(pod, p->container, 0);
	if (c) {
		*in = cJSON_IsTrue(cJSON_GetObjectItem(c, "stdin"));
		*tty = cJSON_IsTrue(cJSON_GetObjectItem(c, "tty"));
	} else {
		snprintf(err, errlen, "container %s not found in pod %s", p->container, p->pod);
		e = -ENOENT;
	}
	cJSON_Delete(pod);
	return e;
}

/* Only once the session ended (its callbacks are over) or never started. */
static void attach_free(struct attach *a)
{
	if (a->sess)
		session_put(a->sess);
	wset_free(a->ws);
	free(a);
}

/* Find or start the container's attach session; takes a handle count. */
static struct attach *attach_get(const struct pfs_path *p, int want_stdin, int *perr)
{
	struct attach *a;
	char key[sizeof(a->key)], err[512] = "";
	int in = 0, tty = 0, e;
	struct session_params sp;

	snprintf(key, sizeof(key), "%s/%s/%s", p->ns, p->pod, p->container);
	pthread_mutex_lock(&attach_lock);
	for (a = attaches; a; a = a->next) {
		if (!strcmp(a->key, key) && !a->ended && !a->hung) {
			a->handles++;
			a->linger_until = 0;
			pthread_mutex_unlock(&attach_lock);
			if (want_stdin && !session_input(a->sess)) {
				pthread_mutex_lock(&attach_lock);
				a->handles--;
				if (!a->handles)
					a->linger_until = mono_ms() + LINGER_MS;
				pthread_mutex_unlock(&attach_lock);
				pwarn("attach %s: stdin refused: the container spec has no \"stdin: true\"", key);
				*perr = -EPERM;
				return NULL;
			}
			return a;
		}
	}
	pthread_mutex_unlock(&attach_lock);

	/* Not attached yet: connect outside the lock (bounded by -o timeout). */
	e = container_spec(p, &in, &tty, err, sizeof(err));
	if (e < 0) {
		podfs_note(fs, e, err);
		*perr = e;
		return NULL;
	}
	if (want_stdin && !in) {
		pwarn("attach %s: stdin refused: the container spec has no \"stdin: true\"", key);
		*perr = -EPERM;
		return NULL;
	}
	a = calloc(1, sizeof(*a));
	if (!a) {
		*perr = -ENOMEM;
		return NULL;
	}
	snprintf(a->key, sizeof(a->key), "%s", key);
	a->ws = wset_new();
	if (!a->ws) {
		free(a);
		*perr = -ENOMEM;
		return NULL;
	}
	memset(&sp, 0, sizeof(sp));
	sp.kind = SESS_ATTACH;
	sp.ns = p->ns;
	sp.pod = p->pod;
	sp.container = p->container;
	sp.in = in;
	sp.out = 1;
	sp.err = 1;
	sp.tty = tty;
	sp.buffer = fs->buffer_size;
	sp.broadcast = 1;
	a->sess = session_start(fs->rest, &sp, attach_on_end, a, &e, err, sizeof(err));
	if (!a->sess) {
		pwarn("attach %s: %s", key, err);
		podfs_note(fs, e, err);
		wset_free(a->ws);
		free(a);
		*perr = e;
		return NULL;
	}
	podfs_note(fs, 0, NULL);
	if (session_input(a->sess))
		chanbuf_set_writer(session_input(a->sess), wset_notify, a->ws);

	pthread_mutex_lock(&attach_lock);
	/* Another open may have attached meanwhile: use the first one. */
	{
		struct attach *o;

		for (o = attaches; o; o = o->next)
			if (!strcmp(o->key, key) && !o->ended && !o->hung)
				break;
		if (o) {
			/* ours goes on the list too, already lingering, so the
			 * janitor hangs it up and frees it after its end */
			o->handles++;
			o->linger_until = 0;
			a->linger_until = mono_ms();
			a->next = attaches;
			attaches = a;
			pthread_mutex_unlock(&attach_lock);
			pthread_cond_signal(&janitor_cond);
			return o;
		}
	}
	a->handles = 1;
	a->next = attaches;
	attaches = a;
	pthread_mutex_unlock(&attach_lock);
	pthread_cond_signal(&janitor_cond);
	return a;
}

static void attach_release(struct attach *a)
{
	pthread_mutex_lock(&attach_lock);
	if (--a->handles == 0)
		a->linger_until = mono_ms() + LINGER_MS;
	pthread_mutex_unlock(&attach_lock);
	pthread_cond_signal(&janitor_cond);
}

/* Hangs up attach sessions whose files all closed LINGER_MS ago, and frees
 * entries once their session ended with no file open. */
static void *janitor_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&attach_lock);
	while (!janitor_stop) {
		struct attach **pp = &attaches, *a, *dead = NULL;
		struct session *hang[32];
		int nhang = 0;
		uint64_t now = mono_ms();
		struct timespec ts;

		while ((a = *pp)) {
			if (a->handles == 0 && a->ended) {
				*pp = a->next;
				a->next = dead;
				dead = a;
				continue;
			}
			if (a->handles == 0 && !a->hung && a->linger_until && now >= a->linger_until &&
			    nhang < 32) {
				a->hung = 1;
				session_get(a->sess);
				hang[nhang++] = a->sess;
			}
			pp = &a->next;
		}
		if (dead || nhang) {
			pthread_mutex_unlock(&attach_lock);
			while ((a = dead)) {
				dead = a->next;
				attach_free(a);
			}
			for (int i = 0; i < nhang; i++) {
				pdebug("attach: no file open for %d ms, hanging up", LINGER_MS);
				session_hangup(hang[i]);
				session_put(hang[i]);
			}
			pthread_mutex_lock(&attach_lock);
			continue;
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 250 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&janitor_cond, &attach_lock, &ts);
	}
	pthread_mutex_unlock(&attach_lock);
	return NULL;
}

/* ---- operations ---- */

int streams_init(struct podfs *f)
{
	sigset_t all, old;
	int r;

	fs = f;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	r = pthread_create(&janitor, NULL, janitor_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r)
		return -r;
	janitor_started = 1;
	return 0;
}

void streams_shutdown(void)
{
	struct attach *a;

	if (janitor_started) {
		pthread_mutex_lock(&attach_lock);
		janitor_stop = 1;
		pthread_cond_signal(&janitor_cond);
		pthread_mutex_unlock(&attach_lock);
		pthread_join(janitor, NULL);
		janitor_started = 0;
	}
	mux_shutdown();		/* every session ends: no callback after this */
	while ((a = attaches)) {
		attaches = a->next;
		attach_free(a);
	}
}

static struct sfh *sfh_new(enum sfh_kind kind)
{
	struct sfh *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->kind = kind;
	pthread_mutex_init(&h->lock, NULL);
	h->reads_tail = &h->reads;
	h->writes_tail = &h->writes;
	return h;
}

/* Answer every parked request with EBADF: the file is going away. */
static void fail_parked(struct sfh *h)
{
	struct preq *p;

	while ((p = h->reads)) {
		h->reads = p->next;
		fuse_reply_err(p->req, EBADF);
		free(p);
	}
	h->reads_tail = &h->reads;
	while ((p = h->writes)) {
		h->writes = p->next;
		fuse_reply_err(p->req, EBADF);
		free(p->data);
		free(p);
	}
	h->writes_tail = &h->writes;
}

static void sfh_free(struct sfh *h)
{
	fail_parked(h);
	if (h->rd)
		chanbuf_reader_close(h->rd);
	if (h->ph)
		fuse_pollhandle_destroy(h->ph);
	if (h->sess)
		session_put(h->sess);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

/* FOPEN_STREAM, which libfuse 3.14 cannot express in fuse_file_info, so
 * the open reply is built here (it is just a fuse_open_out).  Without it a
 * regular file has a file position, and the kernel serialises read() and
 * write() on one open file through its position lock: a read parked for
 * data would block the write of the same fd that the data answers (a
 * read-write Ports/<port> file used by two threads deadlocks). */
static void reply_open(fuse_req_t req, struct sfh *h, struct fuse_file_info *fi)
{
	struct fuse_open_out o;

	fi->fh = handle_add(&h->hd, FHK_STREAM, sfh_destroy);
	fi->direct_io = 1;
	fi->nonseekable = 1;
	fi->keep_cache = 0;
	memset(&o, 0, sizeof(o));
	o.fh = fi->fh;
	o.open_flags = FOPEN_DIRECT_IO | FOPEN_NONSEEKABLE | FOPEN_STREAM;
	if (fuse_reply_buf(req, (const char *)&o, sizeof(o)) == -ENOENT) {
		/* the opener was interrupted: nobody will release this handle */
		streams_release(NULL, fi);
	}
}

int streams_open_fh(fuse_req_t req, struct fuse_file_info *fi, struct session *sess,
		    struct chanbuf *rd, struct chanbuf *wb, struct wset *ws,
		    void (*on_release)(void *ud), void *ud)
{
	struct sfh *h = sfh_new(SK_GENERIC);

	if (!h)
		return -ENOMEM;
	if (rd) {
		if (sfh_reader_open(h, rd, !chanbuf_is_broadcast(rd))) {
			sfh_free(h);
			return -ENOMEM;
		}
	}
	if (sess) {
		h->sess = sess;
		session_get(sess);
	}
	h->wb = wb;
	if (wb && ws) {
		h->ws = ws;
		wset_add(ws, h);
	}
	h->on_release = on_release;
	h->rel_ud = ud;
	reply_open(req, h, fi);
	return 0;
}

void streams_open(fuse_req_t req, const struct pfs_path *p, struct fuse_file_info *fi)
{
	struct sfh *h = NULL;
	int e = 0, acc = fi->flags & O_ACCMODE;

	switch (p->kind) {
	case PK_STDIN:
	case PK_STDOUT:
	case PK_STDERR: {
		enum sfh_kind k = p->kind == PK_STDIN ? SK_ATTACH_IN :
			p->kind == PK_STDOUT ? SK_ATTACH_OUT : SK_ATTACH_ERR;
		struct attach *a;

		if ((k == SK_ATTACH_IN && acc != O_WRONLY) || (k != SK_ATTACH_IN && acc != O_RDONLY)) {
			e = -EACCES;
			break;
		}
		a = attach_get(p, k == SK_ATTACH_IN, &e);
		if (!a)
			break;
		h = sfh_new(k);
		if (!h) {
			attach_release(a);
			e = -ENOMEM;
			break;
		}
		h->att = a;
		h->sess = a->sess;
		session_get(h->sess);
		if (k == SK_ATTACH_IN) {
			h->wb = session_input(h->sess);
			h->ws = a->ws;
			wset_add(h->ws, h);
		} else {
			struct chanbuf *b = session_output(h->sess, k == SK_ATTACH_OUT ? 1 : 2);

			if (b) {
				e = sfh_reader_open(h, b, 0);
			}
		}
		break;
	}
	case PK_LOG_FOLLOW: {
		struct session_params sp;
		char err[512] = "";
		struct chanbuf *b;

		if (acc != O_RDONLY) {
			e = -EACCES;
			break;
		}
		memset(&sp, 0, sizeof(sp));
		sp.kind = SESS_LOG;
		sp.ns = p->ns;
		sp.pod = p->pod;
		sp.container = p->container;
		sp.buffer = fs->buffer_size;
		h = sfh_new(SK_LOG_FOLLOW);
		if (!h) {
			e = -ENOMEM;
			break;
		}
		h->sess = session_start(fs->rest, &sp, NULL, NULL, &e, err, sizeof(err));
		if (!h->sess) {
			pdebug("log.follow %s/%s/%s: %s", p->ns, p->pod, p->container, err);
			podfs_note(fs, e, err);
			break;
		}
		b = session_output(h->sess, 0);
		e = sfh_reader_open(h, b, 0);	/* its own session: sole reader */
		break;
	}
	default:
		e = -ENOSYS;
	}
	if (e < 0) {
		if (h) {
			if (h->ws)
				wset_remove(h->ws, h);
			if (h->att)
				attach_release(h->att);
			sfh_free(h);
		}
		fuse_reply_err(req, -e);
		return;
	}
	reply_open(req, h, fi);
}

static void do_read(fuse_req_t req, size_t size, struct fuse_file_info *fi, struct sfh *h);

void streams_read(fuse_req_t req, size_t size, struct fuse_file_info *fi)
{
	struct sfh *h = sfh_ref(fi->fh);

	if (!h) {
		fuse_reply_err(req, EBADF);
		return;
	}
	do_read(req, size, fi, h);
	sfh_unref(h);
}

static void do_read(fuse_req_t req, size_t size, struct fuse_file_info *fi, struct sfh *h)
{
	struct preq *p;

	if (h->kind == SK_ATTACH_IN || (h->wb && !h->rd && h->kind == SK_GENERIC)) {
		fuse_reply_err(req, EBADF);
		return;
	}
	fuse_req_interrupt_func(req, on_interrupt, (void *)(uintptr_t)fi->fh);
	pthread_mutex_lock(&h->lock);
	if (!h->reads && sfh_answer(h, req, size)) {
		pthread_mutex_unlock(&h->lock);
		return;
	}
	if (h->closed || fuse_req_interrupted(req)) {
		pthread_mutex_unlock(&h->lock);
		fuse_reply_err(req, h->closed ? EBADF : EINTR);
		return;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		pthread_mutex_unlock(&h->lock);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	p->req = req;
	p->size = size;
	*h->reads_tail = p;
	h->reads_tail = &p->next;
	/* data may have arrived between the peek and parking */
	sfh_complete_reads_locked(h);
	pthread_mutex_unlock(&h->lock);
}

static void do_write(fuse_req_t req, const char *buf, size_t size, struct fuse_file_info *fi,
		     struct sfh *h);

void streams_write(fuse_req_t req, const char *buf, size_t size, struct fuse_file_info *fi)
{
	struct sfh *h = sfh_ref(fi->fh);

	if (!h) {
		fuse_reply_err(req, EBADF);
		return;
	}
	do_write(req, buf, size, fi, h);
	sfh_unref(h);
}

static void do_write(fuse_req_t req, const char *buf, size_t size, struct fuse_file_info *fi,
		     struct sfh *h)
{
	struct preq *p;
	size_t n = 0;
	int werr = 0;

	if (!h->wb) {
		fuse_reply_err(req, EBADF);
		return;
	}
	fuse_req_interrupt_func(req, on_interrupt, (void *)(uintptr_t)fi->fh);
	pthread_mutex_lock(&h->lock);
	if (h->closed) {
		pthread_mutex_unlock(&h->lock);
		fuse_reply_err(req, EBADF);
		return;
	}
	if (chanbuf_finished(h->wb, &werr)) {
		pthread_mutex_unlock(&h->lock);
		fuse_reply_err(req, werr ? werr : EPIPE);	/* e.g. a refused port */
		return;
	}
	if (!h->writes)
		n = chanbuf_write(h->wb, buf, size);
	if (n == size) {
		pthread_mutex_unlock(&h->lock);
		fuse_reply_write(req, size);
		return;
	}
	p = calloc(1, sizeof(*p));
	if (p)
		p->data = malloc(size - n);
	if (!p || !p->data) {
		pthread_mutex_unlock(&h->lock);
		free(p);
		if (n)
			fuse_reply_write(req, n);
		else
			fuse_reply_err(req, ENOMEM);
		return;
	}
	/* Keep the whole request so a reply counts every byte; off says how
	 * much already went into the buffer. */
	memcpy(p->data, buf + n, size - n);
	p->req = req;
	p->off = 0;
	p->len = size - n;
	if (n) {
		/* the first n bytes are in: count them on reply */
		char *all = malloc(size);

		if (all) {
			memcpy(all, buf, n);
			memcpy(all + n, p->data, size - n);
			free(p->data);
			p->data = all;
			p->off = n;
			p->len = size;
		}
	}
	*h->writes_tail = p;
	h->writes_tail = &p->next;
	sfh_flush_writes_locked(h);
	pthread_mutex_unlock(&h->lock);
}

void streams_poll(fuse_req_t req, struct fuse_file_info *fi, struct fuse_pollhandle *ph)
{
	struct sfh *h = sfh_ref(fi->fh);
	unsigned rev = 0;

	if (!h) {
		if (ph)
			fuse_pollhandle_destroy(ph);
		fuse_reply_poll(req, POLLERR);
		return;
	}
	pthread_mutex_lock(&h->lock);
	if (h->rd && chanbuf_readable(h->rd))
		rev |= POLLIN;
	if (h->wb) {
		if (chanbuf_finished(h->wb, NULL))
			rev |= POLLERR;
		else if (chanbuf_space(h->wb) > 0 && !h->writes)
			rev |= POLLOUT;
	}
	if (!h->rd && !h->wb)
		rev |= POLLIN;		/* no such channel: reads see EOF at once */
	if (ph) {
		if (h->ph)
			fuse_pollhandle_destroy(h->ph);
		h->ph = ph;
		if (rev)
			sfh_notify_poll_locked(h, 1);
	}
	pthread_mutex_unlock(&h->lock);
	sfh_unref(h);
	fuse_reply_poll(req, rev);
}

void streams_release(fuse_req_t req, struct fuse_file_info *fi)
{
	struct sfh *h = sfh_ref(fi->fh);

	if (!h) {
		if (req)
			fuse_reply_err(req, 0);
		return;
	}
	if (h->ws)
		wset_remove(h->ws, h);
	/* Nothing parked may be left unanswered. */
	pthread_mutex_lock(&h->lock);
	h->closed = 1;
	fail_parked(h);
	pthread_mutex_unlock(&h->lock);
	if (h->kind == SK_LOG_FOLLOW && h->sess)
		session_hangup(h->sess);
	if (h->att)
		attach_release(h->att);
	if (h->on_release)
		h->on_release(h->rel_ud);
	sfh_unref(h);		/* ours */
	handle_remove(fi->fh);	/* the table's: freed now or after the last running op */
	if (req)
		fuse_reply_err(req, 0);
}
