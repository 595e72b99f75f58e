/* Channel buffer tests: ring wrap and zero-copy slices, end states, the
 * broadcast rules (late readers, no readers, the slowest reader bounds the
 * writer), notifications (outside the lock: a callback may re-enter or
 * close itself), and threads moving 64 MiB with checksums in both modes
 * while the writer never exceeds the space it was given. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stream/chanbuf.h"
#include "tests/unit/check.h"
#include "tests/unit/captures.h"

/* A wake-up counter that a notify callback bumps. */
struct waker {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned long seq;
};

static void waker_init(struct waker *w)
{
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	w->seq = 0;
}

static void wake(void *ud)
{
	struct waker *w = ud;
	pthread_mutex_lock(&w->mu);
	w->seq++;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

static unsigned long waker_seq(struct waker *w)
{
	pthread_mutex_lock(&w->mu);
	unsigned long s = w->seq;
	pthread_mutex_unlock(&w->mu);
	return s;
}

static void waker_wait(struct waker *w, unsigned long seen)
{
	pthread_mutex_lock(&w->mu);
	while (w->seq == seen)
		pthread_cond_wait(&w->cv, &w->mu);
	pthread_mutex_unlock(&w->mu);
}

static int counter;
static void count(void *ud)
{
	(void)ud;
	__atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
}

static void test_basic(void)
{
	struct chanbuf *b = chanbuf_new(10, 0);
	struct cb_reader *r = chanbuf_reader_open(b, count, NULL);
	char out[32];
	struct iovec iov[2];

	CHECK(chanbuf_new(0, 0) == NULL);
	CHECK(chanbuf_space(b) == 10 && chanbuf_used(b) == 0);
	CHECK(chanbuf_read(r, out, sizeof(out)) == -EAGAIN && !chanbuf_readable(r));
	counter = 0;
	CHECK(chanbuf_write(b, "abcdefgh", 8) == 8 && counter == 1);
	CHECK(chanbuf_space(b) == 2 && chanbuf_used(b) == 8 && chanbuf_readable(r));
	CHECK(chanbuf_write(b, "ijklm", 5) == 2);	/* never more than the space */
	CHECK(chanbuf_write(b, "x", 1) == 0);
	CHECK(chanbuf_read(r, out, 6) == 6 && !memcmp(out, "abcdef", 6));
	CHECK(chanbuf_write(b, "klmnop", 6) == 6);	/* wraps */
	/* peek gives two slices across the wrap */
	CHECK(chanbuf_peek(r, iov, 100) == 10);
	CHECK(iov[0].iov_len == 4 && !memcmp(iov[0].iov_base, "ghij", 4));
	CHECK(iov[1].iov_len == 6 && !memcmp(iov[1].iov_base, "klmnop", 6));
	CHECK(chanbuf_peek(r, iov, 3) == 3 && iov[0].iov_len == 3 && iov[1].iov_len == 0);
	chanbuf_consume(r, 5);
	CHECK(chanbuf_used(b) == 5 && chanbuf_space(b) == 5);
	CHECK(chanbuf_read(r, out, sizeof(out)) == 5 && !memcmp(out, "lmnop", 5));
	CHECK(chanbuf_read(r, out, sizeof(out)) == -EAGAIN);
	chanbuf_consume(r, 100);	/* nothing there: no effect */
	CHECK(chanbuf_used(b) == 0);

	/* a second shared reader shares the cursor and sees older bytes */
	CHECK(chanbuf_write(b, "123", 3) == 3);
	struct cb_reader *r2 = chanbuf_reader_open(b, NULL, NULL);
	CHECK(chanbuf_read(r2, out, 2) == 2 && !memcmp(out, "12", 2));
	CHECK(chanbuf_read(r, out, 5) == 1 && out[0] == '3');
	chanbuf_reader_close(r2);

	/* finish: buffered bytes first, then EOF; the first finish wins */
	CHECK(chanbuf_write(b, "end", 3) == 3);
	counter = 0;
	chanbuf_finish(b, 0);
	chanbuf_finish(b, EIO);
	CHECK(counter == 1);
	int err = -1;
	CHECK(chanbuf_finished(b, &err) == 1 && err == 0);
	CHECK(chanbuf_write(b, "more", 4) == 0);
	CHECK(chanbuf_readable(r));
	CHECK(chanbuf_read(r, out, 2) == 2 && chanbuf_read(r, out, 9) == 1 && out[0] == 'd');
	CHECK(chanbuf_read(r, out, 9) == 0 && chanbuf_peek(r, iov, 9) == 0);
	CHECK(chanbuf_readable(r));
	chanbuf_reader_close(r);
	chanbuf_put(b);

	/* finish with an error after data */
	b = chanbuf_new(64, 0);
	r = chanbuf_reader_open(b, NULL, NULL);
	chanbuf_write(b, "data", 4);
	chanbuf_finish(b, ECONNRESET);
	CHECK(chanbuf_finished(b, &err) && err == ECONNRESET);
	CHECK(chanbuf_read(r, out, 2) == 2);
	CHECK(chanbuf_read(r, out, 9) == 2);
	CHECK(chanbuf_read(r, out, 9) == -ECONNRESET && chanbuf_read(r, out, 9) == -ECONNRESET);
	CHECK(chanbuf_peek(r, iov, 9) == -ECONNRESET);
	/* the buffer outlives its creator's reference while a reader holds it */
	chanbuf_put(b);
	CHECK(chanbuf_read(r, out, 9) == -ECONNRESET);
	chanbuf_reader_close(r);
}

static void test_broadcast(void)
{
	struct chanbuf *b = chanbuf_new(8, 1);
	char out[16];
	struct waker wsp;

	waker_init(&wsp);
	chanbuf_set_writer(b, wake, &wsp);
	/* nobody listening: accepted and dropped, space stays the capacity */
	CHECK(chanbuf_space(b) == 8);
	CHECK(chanbuf_write(b, "lost", 4) == 4 && chanbuf_space(b) == 8 && chanbuf_used(b) == 0);
	CHECK(chanbuf_write(b, "0123456789", 10) == 8);

	struct cb_reader *a = chanbuf_reader_open(b, NULL, NULL);
	CHECK(chanbuf_read(a, out, 16) == -EAGAIN);	/* sees only what comes next */
	CHECK(chanbuf_write(b, "AB", 2) == 2);
	struct cb_reader *c = chanbuf_reader_open(b, NULL, NULL);
	CHECK(chanbuf_write(b, "CD", 2) == 2);
	CHECK(chanbuf_space(b) == 4 && chanbuf_used(b) == 4);
	CHECK(chanbuf_read(c, out, 16) == 2 && !memcmp(out, "CD", 2));
	CHECK(chanbuf_space(b) == 4);		/* a is the slowest */
	unsigned long s0 = waker_seq(&wsp);
	CHECK(chanbuf_read(a, out, 1) == 1 && out[0] == 'A');
	CHECK(chanbuf_space(b) == 5 && waker_seq(&wsp) > s0);	/* writer told */
	CHECK(chanbuf_write(b, "EFGHIJ", 6) == 5);
	CHECK(chanbuf_space(b) == 0);
	CHECK(chanbuf_read(c, out, 16) == 5 && !memcmp(out, "EFGHI", 5));
	CHECK(chanbuf_space(b) == 0);
	/* closing the slow reader frees its share and tells the writer */
	s0 = waker_seq(&wsp);
	chanbuf_reader_close(a);
	CHECK(chanbuf_space(b) == 8 && waker_seq(&wsp) > s0);
	chanbuf_write(b, "xyz", 3);
	chanbuf_finish(b, 0);
	struct cb_reader *late = chanbuf_reader_open(b, NULL, NULL);
	CHECK(chanbuf_read(late, out, 16) == 0);	/* opened after the end */
	CHECK(chanbuf_read(c, out, 16) == 3 && chanbuf_read(c, out, 16) == 0);
	chanbuf_reader_close(late);
	chanbuf_reader_close(c);
	chanbuf_set_writer(b, NULL, NULL);
	chanbuf_put(b);
}

/* ---- callbacks that come back into the buffer ---- */

struct reenter {
	struct chanbuf *b;
	struct cb_reader *r;
	struct bytes got;
	int close_on;
	int calls;
};

static void reenter_cb(void *ud)
{
	struct reenter *x = ud;
	char tmp[64];
	ssize_t n;

	x->calls++;
	if (!x->r)
		return;
	while ((n = chanbuf_read(x->r, tmp, sizeof(tmp))) > 0)
		bytes_add(&x->got, tmp, (size_t)n);
	if (x->close_on && x->calls >= x->close_on) {
		chanbuf_reader_close(x->r);	/* close from our own callback */
		x->r = NULL;
	}
}

static void space_cb(void *ud)
{
	struct reenter *x = ud;
	x->calls++;
	(void)chanbuf_space(x->b);	/* re-entering from the writer callback */
}

static void test_reentry(void)
{
	struct chanbuf *b = chanbuf_new(16, 1);
	struct reenter x = { .b = b }, y = { .b = b, .close_on = 2 }, w = { .b = b };

	chanbuf_set_writer(b, space_cb, &w);
	x.r = chanbuf_reader_open(b, reenter_cb, &x);
	y.r = chanbuf_reader_open(b, reenter_cb, &y);
	CHECK(chanbuf_write(b, "hello ", 6) == 6);
	CHECK(chanbuf_write(b, "world", 5) == 5);
	CHECK(chanbuf_write(b, "!", 1) == 1);
	CHECK(x.got.n == 12 && !memcmp(x.got.p, "hello world!", 12));
	CHECK(y.got.n == 11 && y.r == NULL && y.calls == 2);	/* closed itself */
	CHECK(w.calls > 0);
	chanbuf_finish(b, 0);
	CHECK(x.calls == 4);
	chanbuf_reader_close(x.r);
	chanbuf_set_writer(b, NULL, NULL);
	chanbuf_put(b);
	free(x.got.p);
	free(y.got.p);

	/* many readers: more than fit the on-stack notify list */
	b = chanbuf_new(64, 1);
	struct cb_reader *rs[40];
	counter = 0;
	for (int i = 0; i < 40; i++)
		rs[i] = chanbuf_reader_open(b, count, NULL);
	chanbuf_write(b, "z", 1);
	CHECK(counter == 40);
	for (int i = 0; i < 40; i++)
		chanbuf_reader_close(rs[i]);
	chanbuf_put(b);
}

/* ---- threads ---- */

#define TOTAL (64u << 20)

struct tctx {
	struct chanbuf *b;
	struct waker wk;		/* reader: on_data */
	struct cb_reader *r;
	uint64_t sum, count;		/* shared: order-free sum */
	uint32_t hash;			/* broadcast: exact stream hash */
	int bad;
	int use_peek;
};

static uint8_t stream_byte(uint64_t i)
{
	return (uint8_t)((i * 2654435761u) >> 13);
}

struct wctx {
	struct chanbuf *b;
	struct waker wk;
	uint64_t sum;
	uint32_t hash;
	int overrun;
	size_t cap;
};

static void *writer_main(void *arg)
{
	struct wctx *w = arg;
	uint8_t chunk[20000];
	uint64_t seed = 99, pos = 0;

	w->hash = 2166136261u;
	while (pos < TOTAL) {
		size_t want = 1 + rnd_next(&seed) % sizeof(chunk);
		if (want > TOTAL - pos)
			want = (size_t)(TOTAL - pos);
		for (size_t i = 0; i < want; i++) {
			chunk[i] = stream_byte(pos + i);
		}
		size_t done = 0;
		while (done < want) {
			unsigned long seen = waker_seq(&w->wk);
			size_t n = chanbuf_write(w->b, chunk + done, want - done);
			/* readers may free space at any moment, so space() only
			 * bounds from below; the capacity bound is absolute */
			if (n > want - done || chanbuf_used(w->b) > w->cap)
				w->overrun = 1;
			if (!n) {
				waker_wait(&w->wk, seen);
				continue;
			}
			for (size_t i = 0; i < n; i++) {
				w->sum += chunk[done + i];
				w->hash = (w->hash ^ chunk[done + i]) * 16777619u;
			}
			done += n;
		}
		pos += want;
	}
	chanbuf_finish(w->b, 0);
	return NULL;
}

static void *reader_main(void *arg)
{
	struct tctx *t = arg;
	uint8_t buf[7000];
	uint64_t seed = (uint64_t)(uintptr_t)t;

	t->hash = 2166136261u;
	for (;;) {
		unsigned long seen = waker_seq(&t->wk);
		ssize_t n;
		if (t->use_peek) {
			struct iovec iov[2];
			n = chanbuf_peek(t->r, iov, 1 + rnd_next(&seed) % 9000);
			if (n > 0) {
				for (int k = 0; k < 2; k++)
					for (size_t i = 0; i < iov[k].iov_len; i++) {
						uint8_t c = ((uint8_t *)iov[k].iov_base)[i];
						t->sum += c;
						t->hash = (t->hash ^ c) * 16777619u;
					}
				chanbuf_consume(t->r, (size_t)n);
			}
		} else {
			n = chanbuf_read(t->r, buf, 1 + rnd_next(&seed) % sizeof(buf));
			for (ssize_t i = 0; i < n; i++) {
				t->sum += buf[i];
				t->hash = (t->hash ^ buf[i]) * 16777619u;
			}
		}
		if (n > 0) {
			t->count += (uint64_t)n;
			continue;
		}
		if (n == -EAGAIN) {
			waker_wait(&t->wk, seen);
			continue;
		}
		if (n != 0)
			t->bad = 1;
		break;
	}
	return NULL;
}

static void run_threads(int broadcast, int nreaders)
{
	struct wctx w = { .cap = 65536 };
	struct tctx t[4];
	pthread_t wt, rt[4];

	w.b = chanbuf_new(w.cap, broadcast);
	waker_init(&w.wk);
	chanbuf_set_writer(w.b, wake, &w.wk);
	for (int i = 0; i < nreaders; i++) {
		memset(&t[i], 0, sizeof(t[i]));
		t[i].b = w.b;
		/* peek/consume needs one consumer per cursor: in shared mode
		 * only when a single reader drains it */
		t[i].use_peek = broadcast ? (i & 1) : nreaders == 1;
		waker_init(&t[i].wk);
		t[i].r = chanbuf_reader_open(w.b, wake, &t[i].wk);
	}
	for (int i = 0; i < nreaders; i++)
		pthread_create(&rt[i], NULL, reader_main, &t[i]);
	pthread_create(&wt, NULL, writer_main, &w);
	pthread_join(wt, NULL);
	uint64_t sum = 0, cnt = 0;
	for (int i = 0; i < nreaders; i++) {
		pthread_join(rt[i], NULL);
		CHECK(!t[i].bad);
		sum += t[i].sum;
		cnt += t[i].count;
		if (broadcast)
			CHECK_MSG(t[i].count == TOTAL && t[i].sum == w.sum && t[i].hash == w.hash,
				  "broadcast reader %d: %llu bytes", i, (unsigned long long)t[i].count);
		chanbuf_reader_close(t[i].r);
	}
	if (!broadcast)
		CHECK_MSG(cnt == TOTAL && sum == w.sum, "shared: %llu bytes", (unsigned long long)cnt);
	CHECK(!w.overrun);
	chanbuf_set_writer(w.b, NULL, NULL);
	chanbuf_put(w.b);
}

/* Readers that open and close while a writer streams: no crash, no leak,
 * and the writer is never stuck behind a reader that is gone. */
struct churn {
	struct chanbuf *b;
	int stop;
};

static void *churn_main(void *arg)
{
	struct churn *c = arg;
	uint8_t buf[512];
	while (!__atomic_load_n(&c->stop, __ATOMIC_RELAXED)) {
		struct cb_reader *r = chanbuf_reader_open(c->b, count, NULL);
		for (int i = 0; i < 20; i++)
			(void)chanbuf_read(r, buf, sizeof(buf));
		chanbuf_reader_close(r);
	}
	return NULL;
}

static void test_churn(void)
{
	struct churn c = { .b = chanbuf_new(4096, 1) };
	pthread_t th[3];
	uint8_t buf[1000];
	memset(buf, 7, sizeof(buf));
	for (int i = 0; i < 3; i++)
		pthread_create(&th[i], NULL, churn_main, &c);
	size_t moved = 0;
	for (int i = 0; i < 200000 && moved < (8u << 20); i++)
		moved += chanbuf_write(c.b, buf, sizeof(buf));
	__atomic_store_n(&c.stop, 1, __ATOMIC_RELAXED);
	for (int i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	CHECK(moved > 0);
	chanbuf_put(c.b);
}

int main(void)
{
	test_basic();
	test_broadcast();
	test_reentry();
	run_threads(0, 1);
	run_threads(0, 3);
	run_threads(1, 2);
	run_threads(1, 4);
	test_churn();
	return check_report("test_chanbuf");
}
