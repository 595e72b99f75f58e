/* Helper shells of `<container>/root/` (see roothelper.h, docs/root.md).
 *
 * Each helper is an owner (owner.h) of one exec session running sh with
 * stdin and stdout.  Its requests carry increasing ids; `wlock` keeps the
 * order in which their texts enter stdin equal to the id order, and the
 * shell answers in that order, so a caller reads its own answer once
 * `head_id` reaches its id: no reader thread, and any number of requests
 * in flight on one exec.
 *
 * Locks: hlock guards the registry and every helper's fields marked so;
 * hcond (with it) is broadcast by the buffers' callbacks and whenever an
 * answer is consumed.  Buffer calls that can run a callback (write, read,
 * reader close, set_writer) are never made under hlock, because the
 * callbacks take it; chanbuf_readable/space only take the buffer's lock,
 * which may nest inside hlock.  hlock comes before owners_lock. */
#include "fs/roothelper.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fs/fs.h"
#include "fs/owner.h"
#include "stream/chanbuf.h"
#include "stream/channel.h"
#include "stream/log.h"
#include "stream/session.h"
#include "stream/util.h"

#define KEY_MAX		(PFS_LABEL_MAX + PFS_SUBDOMAIN_MAX + PFS_LABEL_MAX + 3)
#define IDLE_MS		(30 * 1000L)	/* a helper with nothing to do is ended */
#define STALL_MS	(60 * 1000L)	/* no byte of an answer for this long: dead */
#define NOSHELL_MS	(30 * 1000L)	/* a container without a shell is retried after */
#define HEAD_MAX	160
#define ANSWER_MAX	(64u << 20)	/* a longer answer is out of protocol */

struct helper {
	struct owner o;			/* first */
	char key[KEY_MAX];		/* fixed */
	pthread_mutex_t wlock;		/* request texts enter stdin in id order */
	struct chanbuf *in;		/* fixed after the start */
	struct cb_reader *rd;
	/* (hlock) */
	struct helper *next;
	int listed, dead, inflight;
	unsigned next_id, head_id;
	uint64_t used_ms;
};

struct noshell {			/* (hlock) containers known to have no shell */
	char key[KEY_MAX];
	uint64_t until_ms;
	struct noshell *next;
};

static pthread_mutex_t hlock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t hcond = PTHREAD_COND_INITIALIZER;
static struct helper *helpers;		/* (hlock) */
static struct noshell *noshells;	/* (hlock) */

static const char *const shells[] = { "/bin/sh", "/busybox/sh", "sh" };

static void wake(void *ud)
{
	(void)ud;
	pthread_mutex_lock(&hlock);
	pthread_cond_broadcast(&hcond);
	pthread_mutex_unlock(&hlock);
}

static void unlist_locked(struct helper *h)
{
	for (struct helper **pp = &helpers; *pp; pp = &(*pp)->next)
		if (*pp == h) {
			*pp = h->next;
			h->listed = 0;
			return;
		}
}

/* The helper is unusable: every waiter fails, nobody new picks it.
 * Returns whether the caller must drop the registry's reference. */
static int kill_locked(struct helper *h)
{
	int was = h->listed;

	h->dead = 1;
	unlist_locked(h);
	pthread_cond_broadcast(&hcond);
	return was;
}

static void helper_kill(struct helper *h, const char *why)
{
	int drop;

	pthread_mutex_lock(&hlock);
	drop = kill_locked(h);
	pthread_mutex_unlock(&hlock);
	pdebug("root helper %s: %s", h->o.label, why);
	owner_hangup(&h->o);
	if (drop)
		owner_put(&h->o);
}

static void helper_ended(struct owner *o, struct session *s)
{
	(void)s;
	wake(o);
}

static void helper_teardown(struct owner *o)
{
	helper_kill((struct helper *)o, "unmount");
}

static void helper_free(struct owner *o)
{
	struct helper *h = (struct helper *)o;

	if (h->rd)
		chanbuf_reader_close(h->rd);
	pthread_mutex_destroy(&h->wlock);
	free(h);
}

static const struct owner_ops helper_ops = {
	.ended = helper_ended, .teardown = helper_teardown, .free = helper_free,
};

/* Wait (hlock held) for progress on h, at most until deadline. */
static int wait_locked(struct helper *h, uint64_t deadline)
{
	struct timespec ts;
	uint64_t now = mono_ms();

	if (h->dead || now >= deadline)
		return -EIO;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 1;
	pthread_cond_timedwait(&hcond, &hlock, &ts);
	return 0;
}

/* Exactly n bytes of the answer stream; -EIO when the helper ended, went
 * silent for STALL_MS or was killed. */
static int rx(struct helper *h, void *p, size_t n)
{
	uint64_t deadline = mono_ms() + STALL_MS;
	char *d = p;
	int rc = 0;

	while (n && !rc) {
		ssize_t r = chanbuf_read(h->rd, d, n);

		if (r > 0) {
			d += r;
			n -= (size_t)r;
			deadline = mono_ms() + STALL_MS;
			continue;
		}
		if (r != -EAGAIN) {
			/* EOF or an error in the middle of an answer */
			pdebug("%s: output ended (%zd)", h->o.label, r);
			return -EIO;
		}
		pthread_mutex_lock(&hlock);
		if (!chanbuf_readable(h->rd))
			rc = wait_locked(h, deadline);
		pthread_mutex_unlock(&hlock);
	}
	return rc;
}

/* One line without its '\n'. */
static int rx_line(struct helper *h, char *line, size_t cap, size_t *len)
{
	size_t n = 0;
	int rc;

	while (!(rc = rx(h, line + n, 1))) {
		if (line[n] == '\n') {
			line[n] = 0;
			*len = n;
			return 0;
		}
		if (++n == cap)
			return -EIO;
	}
	return rc;
}

/* Write all of b into stdin (wlock held). */
static int tx(struct helper *h, const struct rp_buf *b)
{
	uint64_t deadline = mono_ms() + STALL_MS;
	size_t at = 0;
	int rc = 0;

	while (at < b->n && !rc) {
		size_t w = chanbuf_write(h->in, b->p + at, b->n - at);

		if (w) {
			at += w;
			deadline = mono_ms() + STALL_MS;
			continue;
		}
		if (chanbuf_finished(h->in, NULL))
			return -EIO;
		pthread_mutex_lock(&hlock);
		if (!chanbuf_space(h->in))
			rc = wait_locked(h, deadline);
		pthread_mutex_unlock(&hlock);
	}
	return rc;
}

/* Read the answer with head id (the caller's turn has come). */
static int rx_answer(struct helper *h, unsigned id, int read, struct rh_reply *r)
{
	char line[HEAD_MAX];
	size_t n;
	int rc;

	if ((rc = rx_line(h, line, sizeof(line), &n)))
		return rc;
	if (rp_parse_head(line, n, &r->h) || r->h.id != id || r->h.len > ANSWER_MAX) {
		pdebug("%s: answer %u: bad head [%.*s]", h->o.label, id, (int)n, line);
		return -EIO;
	}
	if (!(r->data = malloc(r->h.len + 1)))
		return -ENOMEM;	/* the stream cannot be resynchronised either */
	if ((rc = rx(h, r->data, r->h.len)))
		return rc;
	r->data[r->h.len] = 0;
	if (read && r->h.rc == 0) {
		if ((rc = rx_line(h, line, sizeof(line), &n)))
			return rc;
		if ((rc = rp_check_line(line, n, &r->h)) == -EPROTO)
			return -EIO;
		return rc ? -EAGAIN : 0;	/* the file changed during the copy */
	}
	return 0;
}

/* Send one request and read its answer.  h is referenced by the caller. */
static int helper_call(struct helper *h, rh_build_fn build, void *ud, int read,
		       struct rh_reply *r)
{
	struct rp_buf b = { 0 };
	unsigned id;
	int rc;

	pthread_mutex_lock(&h->wlock);
	pthread_mutex_lock(&hlock);
	id = h->next_id++;
	h->inflight++;
	pthread_mutex_unlock(&hlock);
	rc = build(&b, id, ud) ? -ENOMEM : tx(h, &b);
	pthread_mutex_unlock(&h->wlock);
	rp_buf_free(&b);
	pthread_mutex_lock(&hlock);
	while (!rc && !h->dead && h->head_id != id)
		pthread_cond_wait(&hcond, &hlock);
	if (h->dead)
		rc = -EIO;
	pthread_mutex_unlock(&hlock);
	if (!rc)
		rc = rx_answer(h, id, read, r);
	/* A request that could not be written, or an answer that could not
	 * be read whole, leaves the stream out of step: end the helper. */
	if (rc && rc != -EAGAIN)
		helper_kill(h, rc == -ENOMEM ? "out of memory" : "answer lost");
	pthread_mutex_lock(&hlock);
	h->inflight--;
	h->head_id = id + 1;
	h->used_ms = mono_ms();
	pthread_cond_broadcast(&hcond);
	pthread_mutex_unlock(&hlock);
	return rc;
}

static int prologue(struct rp_buf *b, unsigned id, void *ud)
{
	(void)id;
	(void)ud;
	return rp_prologue(b);
}

/* Does a refused start say the program is not in the image? */
static int missing(const char *msg)
{
	return strstr(msg, "no such file or directory") || strstr(msg, "not found");
}

/* Did h's exec end because its program is not in the image (the
 * runtime's message says so)? */
static int shell_missing(struct helper *h)
{
	struct k8s_status st;
	char why[512] = "";

	session_state(h->o.sess, &st, why, sizeof(why));
	return missing(why);
}

/* Start sh in the container (each shell in turn) and check its tools.
 * Returns the helper with the registry's and the caller's references, or
 * NULL with -errno in *err and the reason in why. */
static struct helper *helper_start(const struct pfs_path *p, const char *key, int *err,
				   char *why, size_t whylen)
{
	struct helper *h = NULL;
	struct rh_reply r = { 0 };
	char label[OWNER_LABEL_MAX];

	snprintf(label, sizeof(label), "root %s", key);
	*err = -ENOTSUP;
	snprintf(why, whylen, "no shell (tried /bin/sh, /busybox/sh, sh)");
	for (size_t i = 0; i < sizeof(shells) / sizeof(shells[0]); i++) {
		struct session_params sp;
		char *argv[] = { (char *)shells[i], NULL };
		char msg[256];
		int rc;

		if (!(h = calloc(1, sizeof(*h))) || owner_init(&h->o, &helper_ops, label)) {
			free(h);
			*err = -ENOMEM;
			return NULL;
		}
		snprintf(h->key, sizeof(h->key), "%s", key);
		pthread_mutex_init(&h->wlock, NULL);
		owner_params(&sp, SESS_EXEC, p);
		sp.argv = argv;
		sp.in = sp.out = 1;
		if ((rc = owner_start(&h->o, &sp, msg, sizeof(msg)))) {
			owner_put(&h->o);
			if (missing(msg))
				continue;
			/* The cluster refused, not the image. */
			*err = rc;
			snprintf(why, whylen, "%s", msg);
			return NULL;
		}
		h->in = session_input(h->o.sess);
		h->rd = chanbuf_reader_open(session_output(h->o.sess, CH_STDOUT), wake, h);
		chanbuf_set_writer(h->in, wake, h);
		/* Not listed while probed: a failure here drops nothing but
		 * the creator's reference, below. */
		rc = helper_call(h, prologue, NULL, 0, &r);
		if (!rc && r.h.rc == 0 && !strcmp(r.data, "ok")) {
			rh_reply_free(&r);
			h->next_id = h->head_id = 1;
			h->listed = 1;		/* the creator's reference is the registry's */
			owner_get(&h->o);	/* the caller's */
			return h;
		}
		if (!rc && r.h.rc == 0) {
			snprintf(why, whylen, "%s has no%s", shells[i], r.data + 2);
			i = sizeof(shells) / sizeof(shells[0]);	/* a shell, not its tools */
		} else if (!shell_missing(h)) {
			/* It ran and died (killed, the pod went away): not a
			 * verdict on the image. */
			*err = -EIO;
			snprintf(why, whylen, "the helper shell ended during its start");
			i = sizeof(shells) / sizeof(shells[0]);
		}
		rh_reply_free(&r);
		helper_kill(h, "no usable shell");
		owner_put(&h->o);
	}
	return NULL;
}

/* Pick (hlock held) a helper of key: an idle one, else NULL when another
 * may be started, else the least busy.  Ends helpers idle too long. */
static struct helper *pick_locked(const char *key, struct helper **idle_out)
{
	struct helper *best = NULL;
	int count = 0, max = podfs->root_sessions > 0 ? podfs->root_sessions : 2;
	uint64_t now = mono_ms();

	*idle_out = NULL;
	for (struct helper *h = helpers; h; h = h->next) {
		if (strcmp(h->key, key))
			continue;
		if (!h->inflight && now - h->used_ms > IDLE_MS && !*idle_out) {
			*idle_out = h;	/* ended by the caller, outside hlock */
			continue;
		}
		count++;
		if (!best || h->inflight < best->inflight)
			best = h;
	}
	if (best && best->inflight && count < max)
		best = NULL;
	if (best)
		owner_get(&best->o);
	return best;
}

/* -ENOTSUP while key is known to have no shell. */
static int noshell_locked(const char *key, const char *why)
{
	uint64_t now = mono_ms();

	for (struct noshell *n = noshells; n; n = n->next)
		if (!strcmp(n->key, key)) {
			if (why)
				n->until_ms = now + NOSHELL_MS;
			return n->until_ms > now ? -ENOTSUP : 0;
		}
	if (why) {
		struct noshell *n = calloc(1, sizeof(*n));

		if (n) {
			snprintf(n->key, sizeof(n->key), "%s", key);
			n->until_ms = now + NOSHELL_MS;
			n->next = noshells;
			noshells = n;
		}
		return -ENOTSUP;
	}
	return 0;
}

static struct helper *helper_get(const struct pfs_path *p, int *err)
{
	char key[KEY_MAX], why[256], note[KEY_MAX + 300];
	struct helper *h, *idle;

	snprintf(key, sizeof(key), "%s/%s/%s", p->ns, p->pod, p->container);
	pthread_mutex_lock(&hlock);
	if ((*err = noshell_locked(key, NULL))) {
		pthread_mutex_unlock(&hlock);
		return NULL;
	}
	h = pick_locked(key, &idle);
	pthread_mutex_unlock(&hlock);
	if (idle)
		helper_kill(idle, "idle");
	if (h)
		return h;
	if ((h = helper_start(p, key, err, why, sizeof(why)))) {
		pthread_mutex_lock(&hlock);
		h->next = helpers;
		helpers = h;
		h->used_ms = mono_ms();
		pthread_mutex_unlock(&hlock);
		return h;
	}
	if (*err == -ENOTSUP) {
		/* One log line and one status note per verdict. */
		snprintf(note, sizeof(note), "root/ of %s: %s", key, why);
		plog(LOG_WARNING, "%s", note);
		podfs_note(podfs, -ENOTSUP, note);
		pthread_mutex_lock(&hlock);
		noshell_locked(key, why);
		pthread_mutex_unlock(&hlock);
	}
	return NULL;
}

int rh_call(const struct pfs_path *p, rh_build_fn build, void *ud, int read,
	    struct rh_reply *r)
{
	int rc = 0;

	memset(r, 0, sizeof(*r));
	/* A read that saw the file change during its copy is tried once
	 * more; any other failure is the caller's. */
	for (int tries = 0; tries < 2; tries++) {
		struct helper *h = helper_get(p, &rc);

		if (!h)
			return rc;
		rh_reply_free(r);
		rc = helper_call(h, build, ud, read, r);
		owner_put(&h->o);
		if (rc != -EAGAIN)
			break;
	}
	if (rc)
		rh_reply_free(r);
	return rc == -EAGAIN ? -EIO : rc;
}

void rh_reply_free(struct rh_reply *r)
{
	free(r->data);
	r->data = NULL;
}

int rh_errno(const struct rh_reply *r)
{
	return r->h.rc ? rp_errno(r->data, r->h.len) : 0;
}
