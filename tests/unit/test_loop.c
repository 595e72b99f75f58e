/* stream/loop.c: descriptors, timers, jobs posted from another thread, a
 * descriptor removed while its event is pending, and stop closing the
 * loop to new jobs. */
#include "stream/k8s.h"
#include "stream/loop.h"
#include "tests/unit/check.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct rec {
	int fired, ready, jobs;
	struct loop *l;
	struct loop_fd *victim;
};

static void on_fd(struct loop_fd *f, int ready)
{
	struct rec *r = f->ud;
	char b[16];

	r->fired++;
	r->ready |= ready;
	if (r->victim) {	/* remove the other fd, whose event is pending too */
		loop_fd_del(r->l, r->victim);
		r->victim = NULL;
	}
	if (ready & LOOP_READ && read(f->fd, b, sizeof(b)) < 0) {
		/* nothing */
	}
}

static void on_timer(struct loop_timer *t)
{
	(*(int *)t->ud)++;
}

static void on_job(struct loop_job *j)
{
	((struct rec *)j->ud)->jobs++;
}

static void *poster(void *arg)
{
	struct loop_job *jobs = arg;

	for (int i = 0; i < 100; i++)
		loop_post(jobs[i].ud ? ((struct rec *)jobs[i].ud)->l : NULL, &jobs[i]);
	return NULL;
}

static void test_fds(void)
{
	struct loop *l = loop_new();
	int a[2], b[2];
	struct rec ra = { 0 }, rb = { 0 };
	struct loop_fd fa = { .mask = LOOP_READ, .fn = on_fd, .ud = &ra };
	struct loop_fd fb = { .mask = LOOP_READ, .fn = on_fd, .ud = &rb };

	CHECK(l && socketpair(AF_UNIX, SOCK_STREAM, 0, a) == 0 && socketpair(AF_UNIX, SOCK_STREAM, 0, b) == 0);
	fa.fd = a[0];
	fb.fd = b[0];
	CHECK(loop_fd_add(l, &fa) == 0 && loop_fd_add(l, &fb) == 0);
	CHECK(loop_once(l, 0) == 0);		/* nothing ready */
	CHECK(write(a[1], "x", 1) == 1);
	CHECK(loop_once(l, 1000) == 1 && ra.fired == 1 && ra.ready == LOOP_READ && rb.fired == 0);
	/* both ready; whichever runs first removes the other: one callback */
	ra.l = rb.l = l;
	ra.victim = &fb;
	rb.victim = &fa;
	CHECK(write(a[1], "x", 1) == 1 && write(b[1], "y", 1) == 1);
	ra.fired = rb.fired = 0;
	CHECK(loop_once(l, 1000) == 1 && ra.fired + rb.fired == 1);
	/* write interest */
	{
		struct loop_fd *left = fa.added ? &fa : &fb;
		struct rec *rr = left->ud;

		rr->victim = NULL;
		rr->ready = 0;
		CHECK(loop_fd_set(l, left, LOOP_WRITE) == 0);
		CHECK(loop_once(l, 1000) == 1 && rr->ready == LOOP_WRITE);
		loop_fd_del(l, left);
	}
	CHECK(loop_once(l, 0) == 0);
	close(a[0]), close(a[1]), close(b[0]), close(b[1]);
	loop_free(l);
}

static void test_timers(void)
{
	struct loop *l = loop_new();
	int n1 = 0, n2 = 0;
	struct loop_timer t1 = { .fn = on_timer, .ud = &n1 }, t2 = { .fn = on_timer, .ud = &n2 };
	uint64_t t0 = mono_ms();

	loop_timer_at(l, &t1, t0 + 30);
	loop_timer_at(l, &t2, t0 + 5000);
	while (n1 == 0 && mono_ms() - t0 < 2000)
		loop_once(l, -1);	/* the wait is bounded by t1 */
	CHECK(n1 == 1 && n2 == 0 && mono_ms() - t0 >= 30 && mono_ms() - t0 < 2000);
	CHECK(!t1.armed && t2.armed);
	loop_timer_stop(l, &t2);
	CHECK(!t2.armed && loop_once(l, 0) == 0 && n2 == 0);
	/* re-arming moves the deadline */
	loop_timer_at(l, &t1, mono_ms() + 10000);
	loop_timer_at(l, &t1, mono_ms());
	CHECK(loop_once(l, 1000) == 1 && n1 == 2);
	loop_free(l);
}

static void test_jobs(void)
{
	struct loop *l = loop_new();
	struct rec r = { .l = l };
	struct loop_job jobs[100], late = { .fn = on_job, .ud = &r };
	pthread_t th;
	uint64_t t0 = mono_ms();

	for (int i = 0; i < 100; i++)
		jobs[i] = (struct loop_job){ .fn = on_job, .ud = &r };
	CHECK(pthread_create(&th, NULL, poster, jobs) == 0);
	while (r.jobs < 100 && mono_ms() - t0 < 5000)
		loop_once(l, 1000);	/* woken by the eventfd, never by a timeout */
	pthread_join(th, NULL);
	CHECK_MSG(r.jobs == 100, "%d jobs", r.jobs);
	CHECK(mono_ms() - t0 < 5000);
	/* stop: queued jobs still run, later posts are refused */
	CHECK(loop_post(l, &jobs[0]) == 0);
	loop_stop(l);
	CHECK(loop_post(l, &late) == -ESHUTDOWN);
	loop_run(l);
	CHECK(r.jobs == 101);
	loop_free(l);
}

int main(void)
{
	test_fds();
	test_timers();
	test_jobs();
	return check_report("test_loop");
}
