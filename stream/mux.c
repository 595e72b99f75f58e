/* The per-pod multiplexer threads.
 *
 * Each pod with open streams gets one thread running an event loop; its
 * sessions are sources on that loop (their sockets, keepalive timers and
 * kicks from other threads).  A thread with no sessions left lingers
 * briefly (a shell loop opens and closes files in quick succession: a
 * timer on the loop, not a poll) and then ends; at unmount it ends as soon
 * as its last session has.
 *
 * Locking: mux_lock guards the registry (muxes, nthreads, zombies,
 * shutting_down) and every mux's session array, refs and `exiting`.  It
 * is taken before a session's lock, never after; no session callback runs
 * under it.  Lifetime: a mux is referenced by its thread and by each
 * session attached to it (a session may kick its loop from another thread
 * until the session is freed), so the loop stays valid as long as anyone
 * can post to it.  Threads are joined (an ended one by the next mux_add or
 * at unmount), so none outlives the unmount. */
#include "stream/mux.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stream/curlloop.h"
#include "stream/log.h"
#include "stream/session_i.h"
#include "stream/worker.h"

#define LINGER_MS 2000

struct mux {
	pthread_t th;			/* (const) */
	char *key;			/* (const) "ns/pod" */
	struct loop *loop;		/* (const) */
	int refs;			/* (mux_lock) */
	struct session **sess;		/* (mux_lock) */
	int n, cap;			/* (mux_lock) */
	int exiting;			/* (mux_lock) unlinked, the loop stops */
	struct curlloop *curl;		/* (loop) HTTP transfers, made on demand */
	struct loop_timer linger;	/* (loop) */
	struct loop_job idle_check;	/* posted by mux_shutdown */
	struct mux *next;		/* (mux_lock) */
};

static pthread_mutex_t mux_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t mux_gone = PTHREAD_COND_INITIALIZER;
static struct mux *muxes;		/* (mux_lock) */
static int nthreads, shutting_down;	/* (mux_lock) */
/* Threads that ended and wait to be joined (by the next mux_add or by
 * mux_shutdown), so none outlives the unmount and leaves thread-local
 * library state behind. */
struct zombie {
	pthread_t th;
	struct zombie *next;
};
static struct zombie *zombies;		/* (mux_lock) */

/* Caller holds mux_lock; joins outside it. */
static struct zombie *take_zombies(void)
{
	struct zombie *z = zombies;

	zombies = NULL;
	return z;
}

static void join_zombies(struct zombie *z)
{
	while (z) {
		struct zombie *next = z->next;

		pthread_join(z->th, NULL);
		free(z);
		z = next;
	}
}

void mux_put(struct mux *m)
{
	int left;

	pthread_mutex_lock(&mux_lock);
	left = --m->refs;
	pthread_mutex_unlock(&mux_lock);
	if (left)
		return;
	loop_free(m->loop);
	free(m->sess);
	free(m->key);
	free(m);
}

/* Caller holds mux_lock: the mux leaves the registry and its thread will
 * be joined.  0, or -ENOMEM (then it stays, and a later check retries). */
static int retire(struct mux *m)
{
	struct zombie *z = malloc(sizeof(*z));
	struct mux **pp;

	if (!z)
		return -ENOMEM;
	z->th = m->th;
	z->next = zombies;
	zombies = z;
	m->exiting = 1;
	for (pp = &muxes; *pp; pp = &(*pp)->next) {
		if (*pp == m) {
			*pp = m->next;
			break;
		}
	}
	nthreads--;
	pthread_cond_broadcast(&mux_gone);
	return 0;
}

/* Loop thread: end the thread if it has no session (now, or after the
 * linger unless unmounting). */
static void check_idle(struct mux *m, int now)
{
	int stop = 0;

	pthread_mutex_lock(&mux_lock);
	if (m->n == 0 && !m->exiting) {
		if (now || shutting_down)
			stop = retire(m) == 0;
		if (!stop)
			loop_timer_at(m->loop, &m->linger, mono_ms() + (now ? 100 : LINGER_MS));
	}
	pthread_mutex_unlock(&mux_lock);
	if (stop)
		loop_stop(m->loop);
}

static void on_linger(struct loop_timer *t)
{
	check_idle(t->ud, 1);
}

static void on_idle_check(struct loop_job *j)
{
	check_idle(j->ud, 0);
}

void mux_session_done(struct mux *m, struct session *s)
{
	pthread_mutex_lock(&mux_lock);
	for (int j = 0; j < m->n; j++) {
		if (m->sess[j] == s) {
			m->sess[j] = m->sess[--m->n];
			break;
		}
	}
	pthread_mutex_unlock(&mux_lock);
	check_idle(m, 0);
	session_put(s);
}

struct curlloop *mux_curl(struct mux *m)
{
	if (!m->curl)
		m->curl = curlloop_new(m->loop);
	return m->curl;
}

static void *mux_thread(void *arg)
{
	struct mux *m = arg;

	loop_run(m->loop);
	curlloop_free(m->curl);	/* every session has left: no transfer is left */
	m->curl = NULL;
	mux_put(m);
	return NULL;
}

/* Caller holds mux_lock. */
static int new_mux(const char *key, struct mux **out)
{
	struct mux *m = calloc(1, sizeof(*m));
	sigset_t all, old;
	int r;

	if (!m || !(m->key = strdup(key)) || !(m->loop = loop_new())) {
		if (m)
			free(m->key);
		free(m);
		return -ENOMEM;
	}
	m->refs = 1;	/* the thread's */
	m->linger.fn = on_linger;
	m->linger.ud = m->idle_check.ud = m;
	m->idle_check.fn = on_idle_check;
	/* Signals belong to the FUSE loop (unmount on SIGINT/SIGTERM). */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	r = -pthread_create(&m->th, NULL, mux_thread, m);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r) {
		loop_free(m->loop);
		free(m->key);
		free(m);
		return r;
	}
	m->next = muxes;
	muxes = m;
	nthreads++;
	pdebug("multiplexer %s: started", key);
	*out = m;
	return 0;
}

int mux_add(const char *ns, const char *pod, struct session *s)
{
	struct mux *m;
	struct zombie *z;
	char key[600];
	int r = 0;

	snprintf(key, sizeof(key), "%s/%s", ns, pod);
	pthread_mutex_lock(&mux_lock);
	z = take_zombies();
	if (shutting_down) {
		r = -ESHUTDOWN;
		goto out;
	}
	for (m = muxes; m; m = m->next)
		if (!m->exiting && !strcmp(m->key, key))
			break;
	if (!m && (r = new_mux(key, &m)))
		goto out;
	if (m->n == m->cap) {
		int cap = m->cap ? m->cap * 2 : 8;
		struct session **p = realloc(m->sess, sizeof(*p) * cap);

		if (!p) {
			r = -ENOMEM;
			if (m->n == 0)	/* a new mux: let it end */
				loop_post(m->loop, &m->idle_check);
			goto out;
		}
		m->sess = p;
		m->cap = cap;
	}
	session_get(s);		/* the loop's, dropped by mux_session_done */
	m->sess[m->n++] = s;
	m->refs++;		/* the session's, dropped when it is freed */
	s->mux = m;
	s->loop = m->loop;
out:
	pthread_mutex_unlock(&mux_lock);
	join_zombies(z);
	if (!r)
		session_kick(s);	/* its first run adopts it */
	return r;
}

void mux_counts(int *threads, int *sessions)
{
	struct mux *m;
	int n = 0;

	pthread_mutex_lock(&mux_lock);
	for (m = muxes; m; m = m->next)
		n += m->n;
	*threads = nthreads;
	*sessions = n;
	pthread_mutex_unlock(&mux_lock);
}

/* Caller holds mux_lock: every attached session, referenced. */
static struct session **take_sessions(int *count)
{
	struct session **all;
	int n = 0, k = 0;

	for (struct mux *m = muxes; m; m = m->next)
		n += m->n;
	all = calloc((size_t)n + 1, sizeof(*all));
	for (struct mux *m = muxes; all && m; m = m->next) {
		for (int i = 0; i < m->n; i++) {
			session_get(m->sess[i]);
			all[k++] = m->sess[i];
		}
		if (m->n == 0 && loop_post(m->loop, &m->idle_check) < 0) {
			/* its loop is stopping already */
		}
	}
	*count = k;
	return all;
}

void mux_shutdown(void)
{
	struct session **all;
	struct zombie *z;
	int n;

	pthread_mutex_lock(&mux_lock);
	shutting_down = 1;
	all = take_sessions(&n);
	pthread_mutex_unlock(&mux_lock);
	for (int i = 0; i < n; i++) {
		session_hangup(all[i]);
		session_put(all[i]);
	}
	free(all);
	pthread_mutex_lock(&mux_lock);
	while (nthreads > 0)
		pthread_cond_wait(&mux_gone, &mux_lock);
	z = take_zombies();
	pthread_mutex_unlock(&mux_lock);
	join_zombies(z);
	/* after the loops: a log resume in flight completes on its loop */
	worker_shutdown();
}
