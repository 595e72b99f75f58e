/* The background worker: a FIFO of jobs and one thread, started with the
 * first job and joined at unmount.  One thread is enough: its jobs are
 * rare (a followed log the server ended) and each is bounded by -o timeout.
 *
 * Locking: wk_lock guards the queue, `running` and `closing`; it is a leaf,
 * no job runs under it. */
#include "stream/worker.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>

#include "stream/log.h"

static pthread_mutex_t wk_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wk_cond = PTHREAD_COND_INITIALIZER;
static struct worker_job *wk_head, **wk_tail = &wk_head;	/* (wk_lock) */
static int running, closing;					/* (wk_lock) */
static pthread_t wk_thread;

static void *worker_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&wk_lock);
	for (;;) {
		struct worker_job *j = wk_head;

		if (!j) {
			if (closing)
				break;
			pthread_cond_wait(&wk_cond, &wk_lock);
			continue;
		}
		wk_head = j->next;
		if (!wk_head)
			wk_tail = &wk_head;
		pthread_mutex_unlock(&wk_lock);
		j->work(j);
		/* the loop waits for it: its session is still attached */
		if (loop_post(j->back, &j->done) < 0)
			perr("worker: the loop of a finished job has ended");
		pthread_mutex_lock(&wk_lock);
	}
	pthread_mutex_unlock(&wk_lock);
	return NULL;
}

int worker_submit(struct worker_job *j)
{
	int r = 0;

	j->next = NULL;
	pthread_mutex_lock(&wk_lock);
	if (closing) {
		r = -ESHUTDOWN;
	} else if (!running) {
		sigset_t all, old;

		/* signals belong to the FUSE loop (unmount on SIGINT/SIGTERM) */
		sigfillset(&all);
		pthread_sigmask(SIG_BLOCK, &all, &old);
		r = -pthread_create(&wk_thread, NULL, worker_main, NULL);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		running = r == 0;
	}
	if (!r) {
		*wk_tail = j;
		wk_tail = &j->next;
		pthread_cond_signal(&wk_cond);
	}
	pthread_mutex_unlock(&wk_lock);
	return r;
}

void worker_shutdown(void)
{
	int join;

	pthread_mutex_lock(&wk_lock);
	closing = 1;
	join = running;
	running = 0;
	pthread_cond_signal(&wk_cond);
	pthread_mutex_unlock(&wk_lock);
	if (join)
		pthread_join(wk_thread, NULL);
}
