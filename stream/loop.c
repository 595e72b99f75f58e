/* The event loop: epoll for the descriptors, an eventfd that other
 * threads write to after queueing a job (or to stop the loop), and a short
 * list of armed timers (a loop has a few per session, so a list scanned per
 * pass is cheaper than a heap).  Level-triggered: a callback that leaves
 * bytes behind is called again on the next pass, so no source can be
 * forgotten.
 *
 * Locking: job_lock guards the job queue and nothing else; it is a leaf
 * (no callback runs under it).  Everything else is the loop thread's. */
#include "stream/loop.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "stream/k8s.h"

#define BATCH 64

struct loop {
	int epfd, efd;
	pthread_mutex_t job_lock;
	struct loop_job *jobs, **jobs_tail;	/* (job_lock) */
	int closed;				/* (job_lock) loop_stop was called */
	int stop;				/* atomic: copy of closed for the loop */
	struct loop_timer *timers;		/* armed, unordered */
	/* the batch being dispatched: loop_fd_del clears its entries */
	struct loop_fd *batch[BATCH];
	int batch_n;
};

struct loop *loop_new(void)
{
	struct loop *l = calloc(1, sizeof(*l));
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };

	if (!l)
		return NULL;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	l->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (l->epfd < 0 || l->efd < 0 || epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->efd, &ev) < 0) {
		if (l->epfd >= 0)
			close(l->epfd);
		if (l->efd >= 0)
			close(l->efd);
		free(l);
		return NULL;
	}
	pthread_mutex_init(&l->job_lock, NULL);
	l->jobs_tail = &l->jobs;
	return l;
}

void loop_free(struct loop *l)
{
	if (!l)
		return;
	close(l->epfd);
	close(l->efd);
	pthread_mutex_destroy(&l->job_lock);
	free(l);
}

static uint32_t ep_events(int mask)
{
	return (mask & LOOP_READ ? EPOLLIN : 0) | (mask & LOOP_WRITE ? EPOLLOUT : 0);
}

int loop_fd_add(struct loop *l, struct loop_fd *f)
{
	struct epoll_event ev = { .events = ep_events(f->mask), .data.ptr = f };

	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, f->fd, &ev) < 0)
		return -errno;
	f->added = 1;
	return 0;
}

int loop_fd_set(struct loop *l, struct loop_fd *f, int mask)
{
	struct epoll_event ev = { .events = ep_events(mask), .data.ptr = f };

	if (!f->added)
		return -EINVAL;
	if (mask == f->mask)
		return 0;
	f->mask = mask;
	return epoll_ctl(l->epfd, EPOLL_CTL_MOD, f->fd, &ev) < 0 ? -errno : 0;
}

void loop_fd_del(struct loop *l, struct loop_fd *f)
{
	if (!f->added)
		return;
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, f->fd, NULL);
	f->added = 0;
	for (int i = 0; i < l->batch_n; i++)
		if (l->batch[i] == f)
			l->batch[i] = NULL;
}

void loop_timer_at(struct loop *l, struct loop_timer *t, uint64_t due_ms)
{
	t->due_ms = due_ms;
	if (t->armed)
		return;
	t->armed = 1;
	t->next = l->timers;
	l->timers = t;
}

void loop_timer_stop(struct loop *l, struct loop_timer *t)
{
	struct loop_timer **pp;

	if (!t->armed)
		return;
	for (pp = &l->timers; *pp; pp = &(*pp)->next) {
		if (*pp == t) {
			*pp = t->next;
			break;
		}
	}
	t->armed = 0;
}

static void kick(struct loop *l)
{
	uint64_t one = 1;

	if (write(l->efd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is already non-zero, the loop will wake */
	}
}

int loop_post(struct loop *l, struct loop_job *j)
{
	int first;

	j->next = NULL;
	pthread_mutex_lock(&l->job_lock);
	if (l->closed) {
		pthread_mutex_unlock(&l->job_lock);
		return -ESHUTDOWN;
	}
	first = l->jobs == NULL;
	*l->jobs_tail = j;
	l->jobs_tail = &j->next;
	pthread_mutex_unlock(&l->job_lock);
	/* a non-empty queue has already been announced */
	if (first)
		kick(l);
	return 0;
}

void loop_stop(struct loop *l)
{
	pthread_mutex_lock(&l->job_lock);
	l->closed = 1;
	pthread_mutex_unlock(&l->job_lock);
	__atomic_store_n(&l->stop, 1, __ATOMIC_SEQ_CST);
	kick(l);
}

/* Milliseconds until the first armed timer, capped at max_ms (-1 = none). */
static int wait_ms(struct loop *l, long max_ms)
{
	uint64_t now = mono_ms();
	long w = max_ms;

	for (struct loop_timer *t = l->timers; t; t = t->next) {
		long left = t->due_ms > now ? (long)(t->due_ms - now) : 0;

		if (w < 0 || left < w)
			w = left;
	}
	return w > 0x7fffffff ? 0x7fffffff : (int)w;
}

static int run_timers(struct loop *l)
{
	uint64_t now = mono_ms();
	int ran = 0;
	struct loop_timer *t;

	/* one at a time from the head: a callback may arm or stop any timer */
	for (;;) {
		for (t = l->timers; t && t->due_ms > now; t = t->next)
			;
		if (!t)
			return ran;
		loop_timer_stop(l, t);
		t->fn(t);
		ran++;
	}
}

static int run_jobs(struct loop *l)
{
	struct loop_job *j, *next;
	int ran = 0;

	pthread_mutex_lock(&l->job_lock);
	j = l->jobs;
	l->jobs = NULL;
	l->jobs_tail = &l->jobs;
	pthread_mutex_unlock(&l->job_lock);
	for (; j; j = next, ran++) {
		next = j->next;	/* j may be freed or posted again by its job */
		j->fn(j);
	}
	return ran;
}

int loop_once(struct loop *l, long max_ms)
{
	struct epoll_event ev[BATCH];
	int n, ran = 0, woke = 0;

	n = epoll_wait(l->epfd, ev, BATCH, wait_ms(l, max_ms));
	if (n < 0)
		n = 0;		/* EINTR: a pass with nothing ready */
	l->batch_n = 0;
	for (int i = 0; i < n; i++) {
		if (!ev[i].data.ptr)
			woke = 1;
		else
			l->batch[l->batch_n++] = ev[i].data.ptr;
	}
	for (int i = 0, k = 0; i < n; i++) {
		struct loop_fd *f;
		int ready;

		if (!ev[i].data.ptr)
			continue;
		f = l->batch[k++];
		if (!f)
			continue;	/* unregistered by an earlier callback */
		ready = (ev[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR) ? LOOP_READ : 0) |
			(ev[i].events & (EPOLLOUT | EPOLLHUP | EPOLLERR) ? LOOP_WRITE : 0);
		f->fn(f, ready);
		ran++;
	}
	l->batch_n = 0;
	/* Clear the wake-up before taking the jobs: a job posted after the
	 * take announces itself again (loop_post kicks an empty queue). */
	if (woke) {
		uint64_t v;

		if (read(l->efd, &v, sizeof(v)) < 0) {
			/* EAGAIN: nothing to clear */
		}
	}
	ran += run_timers(l);
	ran += run_jobs(l);
	return ran;
}

void loop_run(struct loop *l)
{
	while (!__atomic_load_n(&l->stop, __ATOMIC_SEQ_CST))
		loop_once(l, -1);
	/* closed: nothing can be posted any more, so this empties the queue */
	while (run_jobs(l))
		;
}
