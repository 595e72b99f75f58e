/* Attach: one session per container serves all of its open stdin, stdout
 * and stderr files.
 *
 * The session starts at the first open, asks for stdin when the container
 * spec has `stdin: true`, and is hung up a little after the last of its
 * files closes (LINGER_MS), so `echo a > stdin; echo b > stdin` feed one
 * session like a FIFO.  Closing stdin never sends end-of-input: Kubernetes
 * would end the whole attach (and cut off every reader).  stdout and stderr
 * are broadcast buffers: every open file sees every byte from its open on.
 *
 * The registry (`attaches`) holds one reference on each entry's owner; an
 * entry leaves it once its session ended and no file is open.  The linger
 * thread sleeps until the earliest linger deadline (or a change), never on
 * a polling timer.
 *
 * Locks: attach_lock guards the registry and every entry's counters; it is
 * taken before owners_lock (owner_get/put) and never held while calling
 * into a session or a buffer. */
#include "fs/attach.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "fs/fs.h"
#include "fs/owner.h"
#include "fs/path.h"
#include "stream/log.h"
#include "stream/pod.h"
#include "stream/session.h"
#include "stream/util.h"

#define LINGER_MS 2000
#define HANG_BATCH 32

struct attach {
	struct owner o;			/* first; o.label is the key ns/pod/container */
	/* Guarded by attach_lock: */
	int files;			/* open files */
	int ended;			/* the session's end callback ran */
	int hung;			/* hung up after the linger time */
	int listed;			/* in `attaches` (which holds a reference) */
	uint64_t linger_until;		/* 0 while files are open */
	struct attach *next;
};

static pthread_mutex_t attach_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t attach_cond;	/* (attach_lock) a deadline or the list changed */
static struct attach *attaches;		/* (attach_lock) */
static int janitor_stop;		/* (attach_lock) */
static pthread_t janitor;
static int janitor_started;

/* ---- the owner ---- */

static void attach_ended(struct owner *o, struct session *s)
{
	struct attach *a = (struct attach *)o;

	(void)s;
	pthread_mutex_lock(&attach_lock);
	a->ended = 1;
	pthread_cond_signal(&attach_cond);
	pthread_mutex_unlock(&attach_lock);
}

static void attach_unlist_locked(struct attach *a)
{
	for (struct attach **pp = &attaches; *pp; pp = &(*pp)->next) {
		if (*pp == a) {
			*pp = a->next;
			break;
		}
	}
	a->listed = 0;
}

static void attach_teardown(struct owner *o)
{
	struct attach *a = (struct attach *)o;
	int was;

	pthread_mutex_lock(&attach_lock);
	if ((was = a->listed))
		attach_unlist_locked(a);
	pthread_mutex_unlock(&attach_lock);
	if (was)
		owner_put(o);
}

static void attach_free(struct owner *o)
{
	free(o);
}

static const struct owner_ops attach_ops = {
	.ended = attach_ended,
	.teardown = attach_teardown,
	.free = attach_free,
};

/* ---- the registry ---- */

/* A listed, live entry for key, with one more open file; NULL if none. */
static struct attach *find_locked(const char *key)
{
	for (struct attach *a = attaches; a; a = a->next) {
		if (!strcmp(a->o.label, key) && !a->ended && !a->hung) {
			a->files++;
			a->linger_until = 0;
			return a;
		}
	}
	return NULL;
}

/* One file of a closed (or never opened). */
static void file_closed(struct owner *o, void *ud)
{
	struct attach *a = (struct attach *)o;

	(void)ud;
	pthread_mutex_lock(&attach_lock);
	if (--a->files == 0)
		a->linger_until = mono_ms() + LINGER_MS;
	pthread_cond_signal(&attach_cond);
	pthread_mutex_unlock(&attach_lock);
}

/* The container's spec: does it take stdin, does it run with a tty? */
static int container_spec(const struct pfs_path *p, int *in, int *tty, char *err, size_t errlen)
{
	cJSON *pod;
	const cJSON *c;
	int e = pod_fetch(podfs->rest, p->ns, p->pod, &pod, err, errlen);

	if (e < 0) {
		podfs_note(podfs, e, err);
		return e;
	}
	if ((c = pod_container(pod, p->container, 0))) {
		*in = cJSON_IsTrue(cJSON_GetObjectItem(c, "stdin"));
		*tty = cJSON_IsTrue(cJSON_GetObjectItem(c, "tty"));
	} else {
		snprintf(err, errlen, "container %s not found in pod %s", p->container, p->pod);
		e = -ENOENT;
	}
	cJSON_Delete(pod);
	return e;
}

/* A new entry with a running session, listed; *perr on failure. */
static struct attach *attach_new(const struct pfs_path *p, const char *key, int want_stdin,
				 int *perr)
{
	struct session_params sp;
	struct attach *a, *o;
	char err[512] = "";
	int in = 0, tty = 0;

	if ((*perr = container_spec(p, &in, &tty, err, sizeof(err))))
		return NULL;
	if (want_stdin && !in) {
		pwarn("attach %s: stdin refused: the container spec has no \"stdin: true\"", key);
		*perr = -EPERM;
		return NULL;
	}
	if (!(a = calloc(1, sizeof(*a))) || owner_init(&a->o, &attach_ops, key)) {
		free(a);
		*perr = -ENOMEM;
		return NULL;
	}
	owner_params(&sp, SESS_ATTACH, p);
	sp.in = in;
	sp.out = sp.err = 1;
	sp.tty = tty;
	sp.broadcast = 1;
	if ((*perr = owner_start(&a->o, &sp, err, sizeof(err)))) {
		pwarn("attach %s: %s", key, err);
		owner_put(&a->o);
		return NULL;
	}
	pthread_mutex_lock(&attach_lock);
	/* Another open may have attached meanwhile: use the first one; ours
	 * goes on the list already lingering, so it is hung up and freed
	 * after its end like any other. */
	if ((o = find_locked(key)))
		a->linger_until = mono_ms();
	else
		a->files = 1;
	a->listed = 1;
	a->next = attaches;
	attaches = a;
	pthread_cond_signal(&attach_cond);
	pthread_mutex_unlock(&attach_lock);
	return o ? o : a;
}

/* Find or start the container's attach session, with one open file
 * counted. */
static struct attach *attach_get(const struct pfs_path *p, int want_stdin, int *perr)
{
	char key[OWNER_LABEL_MAX];
	struct attach *a;

	snprintf(key, sizeof(key), "%s/%s/%s", p->ns, p->pod, p->container);
	pthread_mutex_lock(&attach_lock);
	a = find_locked(key);
	pthread_mutex_unlock(&attach_lock);
	if (!a)
		return attach_new(p, key, want_stdin, perr);
	if (want_stdin && !session_input(a->o.sess)) {
		file_closed(&a->o, NULL);
		pwarn("attach %s: stdin refused: the container spec has no \"stdin: true\"", key);
		*perr = -EPERM;
		return NULL;
	}
	return a;
}

void attach_open(fuse_req_t req, fuse_ino_t ino, const struct pfs_path *p,
		 struct fuse_file_info *fi)
{
	int in = p->kind == PK_STDIN, acc = fi->flags & O_ACCMODE, e = 0;
	struct chanbuf *rd = NULL, *wb = NULL;
	struct attach *a;

	(void)ino;
	if (acc != (in ? O_WRONLY : O_RDONLY)) {
		fuse_reply_err(req, EACCES);
		return;
	}
	if (!(a = attach_get(p, in, &e))) {
		fuse_reply_err(req, -e);
		return;
	}
	if (in)
		wb = session_input(a->o.sess);
	else
		rd = session_output(a->o.sess, p->kind == PK_STDOUT ? 1 : 2);
	if ((e = owner_open(&a->o, req, fi, rd, wb, file_closed, NULL)) < 0) {
		file_closed(&a->o, NULL);
		fuse_reply_err(req, -e);
	}
}

/* ---- lingering ---- */

/* One pass over the registry (attach_lock held): unlist ended entries
 * with no file open onto *dead, pick expired lingerers to hang up; returns
 * the earliest deadline still pending (0: none). */
static uint64_t sweep_locked(uint64_t now, struct attach **dead, struct owner **hang, int *nhang)
{
	struct attach **pp = &attaches, *a;
	uint64_t next = 0;

	while ((a = *pp)) {
		if (a->files == 0 && a->ended) {
			*pp = a->next;
			a->listed = 0;
			a->next = *dead;
			*dead = a;
			continue;
		}
		if (a->files == 0 && !a->hung && a->linger_until) {
			if (now >= a->linger_until && *nhang < HANG_BATCH) {
				a->hung = 1;
				owner_get(&a->o);
				hang[(*nhang)++] = &a->o;
			} else if (!next || a->linger_until < next) {
				next = a->linger_until;
			}
		}
		pp = &a->next;
	}
	return next;
}

static void *janitor_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&attach_lock);
	while (!janitor_stop) {
		struct attach *dead = NULL;
		struct owner *hang[HANG_BATCH];
		int nhang = 0;
		uint64_t next = sweep_locked(mono_ms(), &dead, hang, &nhang);

		if (dead || nhang) {
			pthread_mutex_unlock(&attach_lock);
			while (dead) {
				struct attach *n = dead->next;

				owner_put(&dead->o);	/* the registry's */
				dead = n;
			}
			for (int i = 0; i < nhang; i++) {
				pdebug("attach %s: no file open for %d ms, hanging up",
				       hang[i]->label, LINGER_MS);
				owner_hangup(hang[i]);
				owner_put(hang[i]);
			}
			pthread_mutex_lock(&attach_lock);
		} else if (next) {
			struct timespec ts = { .tv_sec = (time_t)(next / 1000),
					       .tv_nsec = (long)(next % 1000) * 1000000L };

			pthread_cond_timedwait(&attach_cond, &attach_lock, &ts);
		} else {
			pthread_cond_wait(&attach_cond, &attach_lock);
		}
	}
	pthread_mutex_unlock(&attach_lock);
	return NULL;
}

int attach_start(void)
{
	pthread_condattr_t ca;
	sigset_t all, old;
	int r;

	/* Deadlines are mono_ms() values. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&attach_cond, &ca);
	pthread_condattr_destroy(&ca);
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	r = pthread_create(&janitor, NULL, janitor_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r)
		return -r;
	janitor_started = 1;
	return 0;
}

void attach_stop(void)
{
	if (!janitor_started)
		return;
	pthread_mutex_lock(&attach_lock);
	janitor_stop = 1;
	pthread_cond_signal(&attach_cond);
	pthread_mutex_unlock(&attach_lock);
	pthread_join(janitor, NULL);
	janitor_started = 0;
}
