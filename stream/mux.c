/* The per-pod multiplexer threads.
 *
 * Each pod with open streams gets one thread that polls the sockets of
 * that pod's sessions plus an eventfd; FUSE threads and buffer callbacks
 * wake it through the eventfd when there is input to send, room to read
 * into, or a request (resize, close-input, hang-up).  A thread with no
 * sessions left lingers briefly (a shell loop opens and closes files in
 * quick succession) and then ends.
 *
 * Locking: one mutex (mux_lock) guards the registry and every mux's
 * session array.  It is never held while a session runs, so a session may
 * call back into buffers and FUSE without ordering concerns.  Lifetime: a
 * mux is referenced by its thread and by each session attached to it (a
 * session may wake its mux from another thread until the session is
 * freed), so the eventfd stays valid as long as anyone can write to it.
 * Threads are joined (an ended one by the next mux_add or at unmount), so
 * none outlives the unmount. */
#include "stream/mux.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "stream/log.h"
#include "stream/session.h"
#include "stream/session_i.h"

#define LINGER_MS 2000

struct mux {
	pthread_t th;
	char *key;		/* "ns/pod" */
	int efd;
	int refs;		/* (mux_lock) */
	struct session **sess;	/* (mux_lock) */
	int n, cap;
	int exiting;
	struct mux *next;
};

static pthread_mutex_t mux_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t mux_gone = PTHREAD_COND_INITIALIZER;
static struct mux *muxes;
static int nthreads, shutting_down;
/* Threads that ended and wait to be joined (by the next mux_add or by
 * mux_shutdown), so none outlives the unmount and leaves thread-local
 * library state behind. */
struct zombie {
	pthread_t th;
	struct zombie *next;
};
static struct zombie *zombies;

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

void mux_wake(struct mux *m)
{
	uint64_t one = 1;

	if (write(m->efd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is already non-zero, the thread will wake */
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
	close(m->efd);
	free(m->sess);
	free(m->key);
	free(m);
}

static void unlink_mux(struct mux *m)
{
	struct mux **pp;

	for (pp = &muxes; *pp; pp = &(*pp)->next) {
		if (*pp == m) {
			*pp = m->next;
			break;
		}
	}
}

static void *mux_thread(void *arg)
{
	struct mux *m = arg;
	struct session **local = NULL;
	struct pollfd *pfd = NULL;
	int cap = 0;
	uint64_t idle_since = mono_ms();

	for (;;) {
		int i, n, np = 0;
		long timeout = 1000;
		uint64_t now;

		pthread_mutex_lock(&mux_lock);
		n = m->n;
		if (n == 0) {
			if (shutting_down || mono_ms() - idle_since >= LINGER_MS) {
				struct zombie *z = malloc(sizeof(*z));

				if (!z) {	/* retry later: exiting unjoined would leak */
					pthread_mutex_unlock(&mux_lock);
					usleep(100000);
					continue;
				}
				z->th = pthread_self();
				z->next = zombies;
				zombies = z;
				m->exiting = 1;
				unlink_mux(m);
				nthreads--;
				pthread_cond_broadcast(&mux_gone);
				pthread_mutex_unlock(&mux_lock);
				break;
			}
		} else {
			idle_since = 0;
		}
		if (n + 1 > cap) {
			cap = (n + 1) * 2;
			local = realloc(local, sizeof(*local) * cap);
			pfd = realloc(pfd, sizeof(*pfd) * cap);
			if (!local || !pfd)
				abort();	/* a few pointers: nothing sane to do */
		}
		memcpy(local, m->sess, sizeof(*local) * n);
		pthread_mutex_unlock(&mux_lock);

		now = mono_ms();
		pfd[np].fd = m->efd;
		pfd[np].events = POLLIN;
		np++;
		for (i = 0; i < n; i++) {
			long t = session_timer(local[i], now);

			pfd[np].fd = session_fd(local[i]);
			pfd[np].events = session_events(local[i]);
			pfd[np].revents = 0;
			np++;
			if (t >= 0 && t < timeout)
				timeout = t;
		}
		if (n == 0)
			timeout = LINGER_MS / 4;
		if (poll(pfd, np, (int)timeout) < 0 && errno != EINTR) {
			perr("multiplexer %s: poll: %s", m->key, strerror(errno));
			usleep(10000);
		}
		if (pfd[0].revents) {
			uint64_t v;

			if (read(m->efd, &v, sizeof(v)) < 0) {
				/* EAGAIN: someone else drained it */
			}
		}
		now = mono_ms();
		for (i = 0; i < n; i++) {
			if (!session_service(local[i], now))
				continue;
			pthread_mutex_lock(&mux_lock);
			for (int j = 0; j < m->n; j++) {
				if (m->sess[j] == local[i]) {
					m->sess[j] = m->sess[--m->n];
					break;
				}
			}
			if (m->n == 0)
				idle_since = mono_ms();
			pthread_mutex_unlock(&mux_lock);
			session_put(local[i]);
		}
		if (n == 0 && !idle_since)
			idle_since = mono_ms();
	}
	free(local);
	free(pfd);
	mux_put(m);
	return NULL;
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
		pthread_mutex_unlock(&mux_lock);
		return -ESHUTDOWN;
	}
	for (m = muxes; m; m = m->next)
		if (!m->exiting && !strcmp(m->key, key))
			break;
	if (!m) {
		sigset_t all, old;

		m = calloc(1, sizeof(*m));
		if (!m || !(m->key = strdup(key))) {
			free(m);
			r = -ENOMEM;
			goto out;
		}
		m->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (m->efd < 0) {
			r = -errno;
			free(m->key);
			free(m);
			goto out;
		}
		m->refs = 1;	/* the thread's */
		/* Signals belong to the FUSE loop (unmount on SIGINT/SIGTERM). */
		sigfillset(&all);
		pthread_sigmask(SIG_BLOCK, &all, &old);
		r = -pthread_create(&m->th, NULL, mux_thread, m);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (r) {
			close(m->efd);
			free(m->key);
			free(m);
			goto out;
		}
		m->next = muxes;
		muxes = m;
		nthreads++;
		pdebug("multiplexer %s: started", key);
	}
	if (m->n == m->cap) {
		int cap = m->cap ? m->cap * 2 : 8;
		struct session **p = realloc(m->sess, sizeof(*p) * cap);

		if (!p) {
			r = -ENOMEM;
			goto out;
		}
		m->sess = p;
		m->cap = cap;
	}
	session_get(s);
	m->sess[m->n++] = s;
	m->refs++;	/* the session's, dropped when it is freed */
	session_set_mux(s, m);
out:
	pthread_mutex_unlock(&mux_lock);
	join_zombies(z);
	if (!r)
		mux_wake(m);
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

void mux_shutdown(void)
{
	struct mux *m;
	struct zombie *z;

	pthread_mutex_lock(&mux_lock);
	shutting_down = 1;
	for (m = muxes; m; m = m->next) {
		for (int i = 0; i < m->n; i++)
			session_hangup(m->sess[i]);
		mux_wake(m);
	}
	while (nthreads > 0)
		pthread_cond_wait(&mux_gone, &mux_lock);
	z = take_zombies();
	pthread_mutex_unlock(&mux_lock);
	join_zombies(z);
}
