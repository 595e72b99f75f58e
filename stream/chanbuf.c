/* Bounded channel buffers: a byte ring addressed by 64-bit stream
 * positions (head = bytes ever written; a cursor = bytes a reader has
 * consumed), so "used" is head - slowest cursor and no wrap flags are
 * needed.  Copies happen under the buffer's mutex (a memcpy of at most the
 * capacity; several FUSE threads may write one stdin buffer at once), peek
 * hands out slices that stay valid because the writer never overwrites
 * bytes a cursor has not passed.
 *
 * Notifications run outside the lock.  They are collected under it (an
 * on-stack array; readers beyond NOTIFY_STACK cost one allocation, a rare
 * case), then each callback is fetched again under the lock just before it
 * runs, so a reader closed in between is skipped.  reader_close and
 * set_writer wait for a callback of theirs that is running on another
 * thread, so that after they return the old `ud` is never used again; a
 * callback may close its own reader (the thread-local marker lets it).
 * Callers must not hold a lock their callback takes while closing. */
#include "stream/chanbuf.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NOTIFY_STACK 16

struct cb_reader {
	struct chanbuf *b;
	uint64_t pos;			/* broadcast: own cursor */
	chanbuf_notify_fn on_data;
	void *ud;
	struct cb_reader *prev, *next;
	int closed;
	int pending;			/* collected notifications not yet run */
	int running;			/* callbacks running now */
	int close_waits;		/* reader_close is waiting: it frees */
};

/* Every field but the constants (cap, broadcast, ring's address) is
 * guarded by mu, a leaf: callbacks are collected under it and run after
 * it is released. */
struct chanbuf {
	pthread_mutex_t mu;
	pthread_cond_t cv;		/* a callback finished */
	int refs;
	int broadcast;
	uint8_t *ring;
	size_t cap;
	uint64_t head;
	uint64_t rpos;			/* shared: the one cursor */
	int finished, err;
	struct cb_reader *readers;
	size_t nreaders;
	chanbuf_notify_fn on_space;
	void *wud;
	int w_running;
};

/* What the current thread is notifying, so a callback may close itself. */
static __thread const void *tls_running;

static void buf_free(struct chanbuf *b)
{
	pthread_mutex_destroy(&b->mu);
	pthread_cond_destroy(&b->cv);
	free(b->ring);
	free(b);
}

struct chanbuf *chanbuf_new(size_t capacity, int broadcast)
{
	struct chanbuf *b;

	if (!capacity)
		return NULL;
	b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	b->ring = malloc(capacity);
	if (!b->ring) {
		free(b);
		return NULL;
	}
	pthread_mutex_init(&b->mu, NULL);
	pthread_cond_init(&b->cv, NULL);
	b->refs = 1;
	b->cap = capacity;
	b->broadcast = broadcast != 0;
	return b;
}

void chanbuf_get(struct chanbuf *b)
{
	__atomic_add_fetch(&b->refs, 1, __ATOMIC_RELAXED);
}

void chanbuf_put(struct chanbuf *b)
{
	if (b && __atomic_sub_fetch(&b->refs, 1, __ATOMIC_ACQ_REL) == 0)
		buf_free(b);
}

/* ---- positions (all under the lock) ---- */

static uint64_t slowest(const struct chanbuf *b)
{
	uint64_t m;

	if (!b->broadcast)
		return b->rpos;
	m = b->head;
	for (const struct cb_reader *r = b->readers; r; r = r->next)
		if (r->pos < m)
			m = r->pos;
	return m;
}

static size_t space_locked(const struct chanbuf *b)
{
	return b->cap - (size_t)(b->head - slowest(b));
}

static uint64_t *cursor(struct cb_reader *r)
{
	return r->b->broadcast ? &r->pos : &r->b->rpos;
}

/* ---- notification ---- */

struct notify {
	struct cb_reader *stack[NOTIFY_STACK];
	struct cb_reader **list;
	size_t n;
	int writer;
};

static void collect_readers(struct chanbuf *b, struct notify *nt)
{
	size_t i = 0;

	nt->list = nt->stack;
	nt->n = 0;
	if (!b->nreaders)
		return;
	if (b->nreaders > NOTIFY_STACK) {
		nt->list = malloc(b->nreaders * sizeof(*nt->list));
		if (!nt->list) {
			/* waking some readers beats waking none */
			nt->list = nt->stack;
		}
	}
	for (struct cb_reader *r = b->readers; r; r = r->next) {
		if (nt->list == nt->stack && i == NOTIFY_STACK)
			break;
		if (!r->on_data)
			continue;
		r->pending++;
		nt->list[i++] = r;
	}
	nt->n = i;
}

/* Runs the collected callbacks; called without the lock. */
static void run_notify(struct chanbuf *b, struct notify *nt)
{
	const void *saved = tls_running;
	int puts = 0;

	if (nt->writer) {
		pthread_mutex_lock(&b->mu);
		chanbuf_notify_fn fn = b->on_space;
		void *ud = b->wud;
		if (fn)
			b->w_running++;
		pthread_mutex_unlock(&b->mu);
		if (fn) {
			tls_running = &b->on_space;
			fn(ud);
			tls_running = saved;
			pthread_mutex_lock(&b->mu);
			b->w_running--;
			pthread_cond_broadcast(&b->cv);
			pthread_mutex_unlock(&b->mu);
		}
	}
	for (size_t i = 0; i < nt->n; i++) {
		struct cb_reader *r = nt->list[i];
		chanbuf_notify_fn fn = NULL;
		void *ud = NULL;
		int dead = 0;

		pthread_mutex_lock(&b->mu);
		r->pending--;
		if (!r->closed) {
			fn = r->on_data;
			ud = r->ud;
			r->running++;
		} else if (!r->pending && !r->running && !r->close_waits) {
			dead = 1;	/* closed meanwhile; we hold the last use */
		}
		pthread_mutex_unlock(&b->mu);
		if (fn) {
			tls_running = r;
			fn(ud);
			tls_running = saved;
			pthread_mutex_lock(&b->mu);
			r->running--;
			dead = r->closed && !r->running && !r->pending && !r->close_waits;
			pthread_cond_broadcast(&b->cv);
			pthread_mutex_unlock(&b->mu);
		}
		if (dead) {
			free(r);
			puts++;
		}
	}
	if (nt->list != nt->stack)
		free(nt->list);
	nt->n = 0;
	nt->writer = 0;
	/* the readers' references, dropped last: b is not touched after */
	while (puts--)
		chanbuf_put(b);
}

/* ---- writer side ---- */

void chanbuf_set_writer(struct chanbuf *b, chanbuf_notify_fn on_space, void *ud)
{
	pthread_mutex_lock(&b->mu);
	b->on_space = on_space;
	b->wud = ud;
	while (b->w_running > (tls_running == &b->on_space ? 1 : 0))
		pthread_cond_wait(&b->cv, &b->mu);
	pthread_mutex_unlock(&b->mu);
}

size_t chanbuf_space(struct chanbuf *b)
{
	size_t s;

	pthread_mutex_lock(&b->mu);
	s = space_locked(b);
	pthread_mutex_unlock(&b->mu);
	return s;
}

/* Copies n bytes into the ring at stream position pos. */
static void ring_put(struct chanbuf *b, uint64_t pos, const uint8_t *p, size_t n)
{
	size_t off = (size_t)(pos % b->cap);
	size_t first = b->cap - off;

	if (first > n)
		first = n;
	memcpy(b->ring + off, p, first);
	if (n > first)
		memcpy(b->ring, p + first, n - first);
}

size_t chanbuf_write(struct chanbuf *b, const void *p, size_t n)
{
	struct notify nt = { .writer = 0 };
	size_t s;

	if (!n)
		return 0;
	pthread_mutex_lock(&b->mu);
	if (b->finished) {
		pthread_mutex_unlock(&b->mu);
		return 0;
	}
	s = space_locked(b);
	if (n > s)
		n = s;
	if (!n) {
		pthread_mutex_unlock(&b->mu);
		return 0;
	}
	/* broadcast with nobody listening: accepted and dropped */
	if (b->broadcast && !b->readers) {
		b->head += n;
		pthread_mutex_unlock(&b->mu);
		return n;
	}
	ring_put(b, b->head, p, n);
	b->head += n;
	collect_readers(b, &nt);
	pthread_mutex_unlock(&b->mu);
	run_notify(b, &nt);
	return n;
}

void chanbuf_finish(struct chanbuf *b, int err)
{
	struct notify nt = { .writer = 1 };

	pthread_mutex_lock(&b->mu);
	if (b->finished) {
		pthread_mutex_unlock(&b->mu);
		return;
	}
	b->finished = 1;
	b->err = err < 0 ? -err : err;
	collect_readers(b, &nt);
	pthread_mutex_unlock(&b->mu);
	run_notify(b, &nt);
}

size_t chanbuf_used(struct chanbuf *b)
{
	size_t u;

	pthread_mutex_lock(&b->mu);
	u = (size_t)(b->head - slowest(b));
	pthread_mutex_unlock(&b->mu);
	return u;
}

int chanbuf_finished(struct chanbuf *b, int *err)
{
	int f;

	pthread_mutex_lock(&b->mu);
	f = b->finished;
	if (err)
		*err = f ? b->err : 0;
	pthread_mutex_unlock(&b->mu);
	return f;
}

/* ---- reader side ---- */

struct cb_reader *chanbuf_reader_open(struct chanbuf *b, chanbuf_notify_fn on_data,
				      void *ud)
{
	struct cb_reader *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	chanbuf_get(b);
	r->b = b;
	r->on_data = on_data;
	r->ud = ud;
	pthread_mutex_lock(&b->mu);
	r->pos = b->head;
	r->next = b->readers;
	if (b->readers)
		b->readers->prev = r;
	b->readers = r;
	b->nreaders++;
	pthread_mutex_unlock(&b->mu);
	return r;
}

void chanbuf_reader_close(struct cb_reader *r)
{
	struct chanbuf *b;
	struct notify nt = { .writer = 0 };
	size_t before;
	int last;

	if (!r)
		return;
	b = r->b;
	pthread_mutex_lock(&b->mu);
	before = space_locked(b);
	if (r->prev)
		r->prev->next = r->next;
	else
		b->readers = r->next;
	if (r->next)
		r->next->prev = r->prev;
	b->nreaders--;
	r->closed = 1;
	/* whoever sees closed, idle and nobody waiting frees r: while we
	 * wait, that is us */
	r->close_waits = 1;
	while (r->running > (tls_running == r ? 1 : 0))
		pthread_cond_wait(&b->cv, &b->mu);
	r->close_waits = 0;
	/* with the slowest reader gone, the writer may go on */
	nt.writer = !b->finished && space_locked(b) > before;
	/* pending notifications and our own running callback free it later */
	last = !r->pending && !r->running;
	pthread_mutex_unlock(&b->mu);
	if (nt.writer)
		run_notify(b, &nt);
	if (last) {
		free(r);
		chanbuf_put(b);
	}
}

/* Under the lock: bytes available to r, or the end code when none. */
static ssize_t avail_locked(struct cb_reader *r, uint64_t *pos)
{
	struct chanbuf *b = r->b;

	*pos = *cursor(r);
	if (b->head > *pos)
		return (ssize_t)(b->head - *pos);
	if (b->finished)
		return b->err ? -b->err : 0;
	return -EAGAIN;
}

/* Advances r's cursor; says whether the writer gained space. */
static int advance_locked(struct cb_reader *r, size_t n)
{
	struct chanbuf *b = r->b;
	uint64_t old = slowest(b);

	*cursor(r) += n;
	return !b->finished && slowest(b) != old;
}

/* The n bytes of the ring from stream position pos, as one or two spans
 * (the second empty unless they wrap). */
static void ring_span(const struct chanbuf *b, uint64_t pos, size_t n, struct iovec iov[2])
{
	size_t off = (size_t)(pos % b->cap), first = b->cap - off;

	if (first > n)
		first = n;
	iov[0].iov_base = b->ring + off;
	iov[0].iov_len = first;
	iov[1].iov_base = b->ring;
	iov[1].iov_len = n - first;
}

ssize_t chanbuf_read(struct cb_reader *r, void *p, size_t n)
{
	struct chanbuf *b = r->b;
	struct notify nt = { .writer = 0 };
	struct iovec iov[2];
	uint64_t pos;
	ssize_t a;

	pthread_mutex_lock(&b->mu);
	a = avail_locked(r, &pos);
	if (a <= 0 || !n) {
		pthread_mutex_unlock(&b->mu);
		return a > 0 ? 0 : a;
	}
	if ((size_t)a > n)
		a = (ssize_t)n;
	ring_span(b, pos, (size_t)a, iov);
	memcpy(p, iov[0].iov_base, iov[0].iov_len);
	memcpy((uint8_t *)p + iov[0].iov_len, iov[1].iov_base, iov[1].iov_len);
	nt.writer = advance_locked(r, (size_t)a);
	pthread_mutex_unlock(&b->mu);
	if (nt.writer)
		run_notify(b, &nt);
	return a;
}

ssize_t chanbuf_peek(struct cb_reader *r, struct iovec iov[2], size_t n)
{
	struct chanbuf *b = r->b;
	uint64_t pos;
	ssize_t a;

	pthread_mutex_lock(&b->mu);
	a = avail_locked(r, &pos);
	if (a > 0 && (size_t)a > n)
		a = (ssize_t)n;
	if (a > 0)
		ring_span(b, pos, (size_t)a, iov);
	pthread_mutex_unlock(&b->mu);
	return a;
}

void chanbuf_consume(struct cb_reader *r, size_t n)
{
	struct chanbuf *b = r->b;
	struct notify nt = { .writer = 0 };
	uint64_t pos;
	ssize_t a;

	pthread_mutex_lock(&b->mu);
	a = avail_locked(r, &pos);
	if (a > 0) {
		if (n > (size_t)a)
			n = (size_t)a;
		nt.writer = advance_locked(r, n);
	}
	pthread_mutex_unlock(&b->mu);
	if (nt.writer)
		run_notify(b, &nt);
}

int chanbuf_readable(struct cb_reader *r)
{
	struct chanbuf *b = r->b;
	int ok;

	pthread_mutex_lock(&b->mu);
	ok = b->head > *cursor(r) || b->finished;
	pthread_mutex_unlock(&b->mu);
	return ok;
}

int chanbuf_is_broadcast(struct chanbuf *b)
{
	return b->broadcast;
}
