/* Exec sessions: registry and life cycle (see xsess.h, docs/exec.md).
 *
 * The buffers of a session are made here, before the start, and handed to
 * session_start: files opened early read the very bytes the connection
 * later brings, and `echo start > ctl` followed by `cat stdout` much later
 * loses nothing (shared buffers keep bytes until read; when full, the
 * multiplexer stops reading the socket).  `wait` and `exitcode` get a
 * small buffer of their own per open file; the final line goes into each
 * when the session ends, so every reader gets it and an unfinished one
 * blocks.
 *
 * Lifetime: the registry holds one owner reference per listed session,
 * each open file one, and the running connection one (dropped after its
 * end).  rmdir hangs up and unlists; finished sessions with nothing open
 * are reaped after an idle time, lazily, by the next exec operation
 * (reap_locked), so an idle mount does no work for it.
 *
 * Locks: xlock guards the registry and every session's fields below it;
 * it comes before owners_lock (owner_get/put) and is never held while
 * calling into a buffer or a session (their callbacks come back here),
 * nor during the blocking start. */
#include "fs/xsess.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "fs/execparse.h"
#include "fs/fs.h"
#include "fs/owner.h"
#include "fs/parked.h"
#include "fs/path.h"
#include "stream/chanbuf.h"
#include "stream/log.h"
#include "stream/pod.h"
#include "stream/session.h"
#include "stream/util.h"

#define ARGV_MAX	(128 * 1024)	/* more would not fit an API server URL */
#define KEY_MAX		(PFS_LABEL_MAX + PFS_SUBDOMAIN_MAX + PFS_LABEL_MAX + 3)
#define REAP_MS_DEFAULT	(60 * 1000L)		/* ended, results read */
#define UNSTARTED_MS_DEFAULT (60 * 1000L)	/* never started (a tree walker read `new`) */
#define STALE_MS_DEFAULT (60 * 60 * 1000L)	/* ended, never read */

enum xphase { XP_NEW, XP_STARTING, XP_STARTED, XP_ENDED };

struct xw {				/* an open `wait` or `exitcode` */
	struct xs *x;
	struct chanbuf *b;		/* its own */
	int exitcode;
	struct xw *next;		/* (xlock) */
};

struct xreply {				/* a ctl write answered at the end */
	fuse_req_t req;
	size_t size;
	struct xreply *next;
};

struct xs {
	struct owner o;			/* first; o.sess once started */
	/* Fixed at creation: */
	char key[KEY_MAX];		/* ns/pod/container */
	char ns[PFS_LABEL_MAX + 1], pod[PFS_SUBDOMAIN_MAX + 1], container[PFS_LABEL_MAX + 1];
	char id[PFS_LABEL_MAX + 1];
	/* Guarded by xlock: */
	struct xs *next;
	int listed;
	int files;			/* open files */
	uint64_t idle_since;		/* when files last dropped to 0 */
	enum xphase phase;
	int hang_pending;		/* hangup asked while starting */
	char *argv;
	size_t argv_len;
	int in, tty;
	unsigned w, h;
	struct chanbuf *out[3], *inb;	/* [1] stdout, [2] stderr; made once */
	int stdin_files, stdin_used, eof_sent;
	char final[640];		/* ENDED: the status line */
	int final_err;			/* 0, or EIO when failed or lost */
	int exit_code;
	int results_read;
	struct xw *waiters;
	struct xreply *at_end;		/* hangups waiting for the end */
};

struct xctr {				/* the next id of one container */
	char key[KEY_MAX];
	unsigned long next;
	struct xctr *link;
};

static pthread_mutex_t xlock = PTHREAD_MUTEX_INITIALIZER;
static struct xs *sessions;		/* (xlock) newest first */
static struct xctr *counters;		/* (xlock) never freed before unmount */
static long reap_ms = -1, unstarted_ms = -1, stale_ms = -1;	/* (xlock) */

/* ---- helpers ---- */

static void make_key(const struct pfs_path *p, char *key)
{
	snprintf(key, KEY_MAX, "%s/%s/%s", p->ns, p->pod, p->container);
}

static long env_ms(const char *name, long dflt)
{
	const char *v = getenv(name);
	char *end;
	long n;

	if (!v || !*v)
		return dflt;
	n = strtol(v, &end, 10);
	return *end || n < 0 ? dflt : n;
}

/* One line for `status`/`wait`: control bytes from the server become
 * spaces so a message can never break the one-line contract. */
static void one_line(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = ' ';
}

static struct xs *find_locked(const char *key, const char *id)
{
	for (struct xs *x = sessions; x; x = x->next)
		if (!strcmp(x->key, key) && !strcmp(x->id, id))
			return x;
	return NULL;
}

static struct xs *find_path_locked(const struct pfs_path *p)
{
	char key[KEY_MAX];

	make_key(p, key);
	return find_locked(key, p->exec_id);
}

static void unlist_locked(struct xs *x)
{
	for (struct xs **pp = &sessions; *pp; pp = &(*pp)->next) {
		if (*pp == x) {
			*pp = x->next;
			break;
		}
	}
	x->listed = 0;
}

static int drained(struct chanbuf *b)
{
	return !b || (!chanbuf_used(b) && chanbuf_finished(b, NULL));
}

/* Unlists sessions nobody uses any more (caller holds xlock); returns
 * them, linked by next, for put_list outside the lock.  Running sessions
 * are never reaped: a long job in the background is legitimate. */
static struct xs *reap_locked(void)
{
	uint64_t now = mono_ms();
	struct xs **pp = &sessions, *x, *dead = NULL;

	if (reap_ms < 0) {
		reap_ms = env_ms("PODFS_EXEC_REAP_MS", REAP_MS_DEFAULT);
		unstarted_ms = env_ms("PODFS_EXEC_UNSTARTED_MS", UNSTARTED_MS_DEFAULT);
		stale_ms = env_ms("PODFS_EXEC_STALE_MS", STALE_MS_DEFAULT);
	}
	while ((x = *pp)) {
		uint64_t idle = now - x->idle_since;
		int read = x->results_read, reap = 0;

		if (x->files == 0 && (x->phase == XP_NEW || x->phase == XP_ENDED)) {
			/* stdout and stderr read to their end count as read */
			if (x->phase == XP_ENDED && !read)
				read = drained(x->out[1]) && drained(x->out[2]);
			reap = idle >= (uint64_t)(x->phase == XP_NEW ? unstarted_ms :
						  read ? reap_ms : stale_ms);
		}
		if (reap) {
			pdebug("exec %s/%s: reaped after %llu ms idle", x->key, x->id,
			       (unsigned long long)idle);
			*pp = x->next;
			x->listed = 0;
			x->next = dead;
			dead = x;
			continue;
		}
		pp = &x->next;
	}
	return dead;
}

static void put_list(struct xs *dead)
{
	while (dead) {
		struct xs *n = dead->next;

		owner_put(&dead->o);
		dead = n;
	}
}

/* ---- the owner ---- */

/* Answer parked ctl writes: their whole size, or err. */
static void reply_all(struct xreply *r, int err)
{
	while (r) {
		struct xreply *n = r->next;

		if (err)
			fuse_reply_err(r->req, err);
		else
			fuse_reply_write(r->req, r->size);
		free(r);
		r = n;
	}
}


static void xs_free(struct owner *o)
{
	struct xs *x = (struct xs *)o;

	/* every way to the end went through xs_end, which answered them;
	 * fail any left rather than leave a write hanging */
	reply_all(x->at_end, EIO);
	if (x->inb)
		chanbuf_set_writer(x->inb, NULL, NULL);
	for (int i = 0; i < 3; i++)
		if (x->out[i])
			chanbuf_put(x->out[i]);
	if (x->inb)
		chanbuf_put(x->inb);
	free(x->argv);
	free(x);
}

static void xs_end(struct xs *x, const char *line, int err, int code, int prestart);

/* From the multiplexer thread: the connection ended. */
static void xs_ended(struct owner *o, struct session *s)
{
	struct k8s_status st;
	char why[512], line[600];
	enum sess_state state = session_state(s, &st, why, sizeof(why));
	int err = EIO, code = -1;

	switch (state) {
	case SESS_EXITED:
		code = st.kind == K8S_EXIT ? st.exit_code : 0;
		err = 0;
		snprintf(line, sizeof(line), "exited %d", code);
		break;
	case SESS_FAILED:
		snprintf(line, sizeof(line), "failed %s", why);
		break;
	default:
		snprintf(line, sizeof(line), "lost %s", why[0] ? why : "connection");
		break;
	}
	xs_end((struct xs *)o, line, err, code, 0);
}

/* Unmount: the registry lets go. */
static void xs_teardown(struct owner *o)
{
	struct xs *x = (struct xs *)o;
	struct xctr *c;
	int was;

	pthread_mutex_lock(&xlock);
	if ((was = x->listed))
		unlist_locked(x);
	if (!sessions) {
		while ((c = counters)) {
			counters = c->link;
			free(c);
		}
	}
	pthread_mutex_unlock(&xlock);
	if (was)
		owner_put(o);
}

static const struct owner_ops xs_ops = {
	.ended = xs_ended,
	.teardown = xs_teardown,
	.free = xs_free,
};

/* ---- creation ---- */

/* The container's next free number as id (caller holds xlock). */
static int next_id_locked(struct xs *x)
{
	struct xctr *c;

	for (c = counters; c && strcmp(c->key, x->key); c = c->link)
		;
	if (!c) {
		if (!(c = calloc(1, sizeof(*c))))
			return -ENOMEM;
		snprintf(c->key, sizeof(c->key), "%s", x->key);
		c->next = 1;
		c->link = counters;
		counters = c;
	}
	/* never reuse an id, nor take a name made by mkdir */
	do
		snprintf(x->id, sizeof(x->id), "%lu", c->next++);
	while (find_locked(x->key, x->id));
	return 0;
}

/* A new listed session (id NULL: the container's next free number). */
static struct xs *xs_create(const struct pfs_path *p, const char *id, int *perr)
{
	struct xs *x = calloc(1, sizeof(*x)), *dead;
	char label[OWNER_LABEL_MAX];
	int e = 0;

	if (!x) {
		*perr = -ENOMEM;
		return NULL;
	}
	make_key(p, x->key);
	snprintf(x->ns, sizeof(x->ns), "%s", p->ns);
	snprintf(x->pod, sizeof(x->pod), "%s", p->pod);
	snprintf(x->container, sizeof(x->container), "%s", p->container);
	x->idle_since = mono_ms();
	x->listed = 1;
	pthread_mutex_lock(&xlock);
	dead = reap_locked();
	if (id && find_locked(x->key, id))
		e = -EEXIST;
	else if (id)
		snprintf(x->id, sizeof(x->id), "%s", id);
	else
		e = next_id_locked(x);
	snprintf(label, sizeof(label), "exec %s/%s", x->key, x->id);
	if (!e && owner_init(&x->o, &xs_ops, label))	/* the registry's reference */
		e = -ENOMEM;
	if (!e) {
		x->next = sessions;
		sessions = x;
	}
	pthread_mutex_unlock(&xlock);
	put_list(dead);
	if (e) {
		free(x);
		*perr = e;
		return NULL;
	}
	return x;
}

int xs_new_numbered(const struct pfs_path *p, char *id, size_t idlen)
{
	int e = 0;
	struct xs *x = xs_create(p, NULL, &e);

	if (x)
		snprintf(id, idlen, "%s", x->id);	/* fixed once listed */
	return x ? 0 : e;
}

/* The buffer of a not yet started session (which 0: stdin); caller holds
 * xlock.  0 or -ENOMEM. */
static int ensure_buf_locked(struct xs *x, int which)
{
	size_t cap = podfs->buffer_size ? podfs->buffer_size : (1u << 20);
	struct chanbuf **pb = which == 0 ? &x->inb : &x->out[which];

	if (*pb)
		return 0;
	if (!(*pb = chanbuf_new(cap, 0)))
		return -ENOMEM;
	if (which == 0)
		chanbuf_set_writer(*pb, wset_notify, x->o.ws);
	return 0;
}

/* ---- ending ---- */

static void deliver(struct chanbuf *b, int exitcode, const char *line, int err, int code)
{
	char num[16];

	if (exitcode) {
		if (!err) {
			int n = snprintf(num, sizeof(num), "%d\n", code);

			chanbuf_write(b, num, (size_t)n);
		}
		chanbuf_finish(b, err);
	} else {
		chanbuf_write(b, line, strlen(line));
		chanbuf_write(b, "\n", 1);
		chanbuf_finish(b, 0);
	}
}

/* The waiters' buffers and kinds, with references, to deliver to outside
 * xlock; *n 0 when there are none (or no memory: their reads then end
 * with ENOMEM rather than block for ever).  Caller holds xlock. */
static struct xw *waiters_take_locked(struct xs *x, int *n)
{
	struct xw *copy = NULL;
	int k = 0;

	for (struct xw *w = x->waiters; w; w = w->next)
		k++;
	if (k && !(copy = calloc((size_t)k, sizeof(*copy)))) {
		for (struct xw *w = x->waiters; w; w = w->next)
			chanbuf_finish(w->b, ENOMEM);	/* no callback into us */
		k = 0;
	}
	k = 0;
	for (struct xw *w = x->waiters; w && copy; w = w->next, k++) {
		chanbuf_get(w->b);
		copy[k] = *w;
	}
	if (k)
		x->results_read = 1;
	*n = k;
	return copy;
}

/* The session is over: record the final line and tell every waiter.
 * prestart: it never got a connection, so its buffers are ended here. */
static void xs_end(struct xs *x, const char *line, int err, int code, int prestart)
{
	struct chanbuf *bufs[4] = { NULL, NULL, NULL, NULL };
	struct xreply *replies;
	struct xw *ws;
	int n;

	pthread_mutex_lock(&xlock);
	if (x->phase == XP_ENDED) {
		pthread_mutex_unlock(&xlock);
		return;
	}
	x->phase = XP_ENDED;
	snprintf(x->final, sizeof(x->final), "%s", line);
	one_line(x->final);
	x->final_err = err;
	x->exit_code = code;
	if (x->files == 0)
		x->idle_since = mono_ms();
	ws = waiters_take_locked(x, &n);
	replies = x->at_end;
	x->at_end = NULL;
	for (int j = 0; prestart && j < 4; j++)
		if ((bufs[j] = j == 3 ? x->inb : x->out[j]))
			chanbuf_get(bufs[j]);
	pthread_mutex_unlock(&xlock);

	for (int i = 0; i < n; i++) {
		deliver(ws[i].b, ws[i].exitcode, x->final, err, code);
		chanbuf_put(ws[i].b);
	}
	free(ws);
	reply_all(replies, 0);
	for (int j = 0; j < 4; j++) {
		if (bufs[j]) {
			chanbuf_finish(bufs[j], j == 3 ? EPIPE : EIO);
			chanbuf_put(bufs[j]);
		}
	}
	if (prestart)
		wset_notify(x->o.ws);	/* parked stdin writers get EPIPE */
}

/* ---- starting ---- */

/* The container must be running: a fresh look at the pod, so `start`
 * fails with a clear errno instead of a session that fails at once (on v5
 * the server can only say so after the upgrade). */
static int check_running(const struct xs *x, char *reason, size_t rlen, char *msg, size_t mlen)
{
	cJSON *o;
	const cJSON *state;
	int e = pod_fetch(podfs->rest, x->ns, x->pod, &o, msg, mlen);

	if (e < 0) {
		snprintf(reason, rlen, "%s", e == -ENOENT ? "NotFound" : e == -EACCES ?
			 "Forbidden" : e == -ETIMEDOUT ? "Timeout" : "Error");
		podfs_note(podfs, e, msg);
		return e;
	}
	state = cJSON_GetObjectItem(pod_container(o, x->container, 1), "state");
	if (!cJSON_GetObjectItem(state, "running")) {
		cJSON *wr = cJSON_GetObjectItem(cJSON_GetObjectItem(state, "waiting"), "reason");

		snprintf(reason, rlen, "ContainerNotRunning");
		if (cJSON_GetObjectItem(state, "terminated"))
			snprintf(msg, mlen, "container %s has terminated", x->container);
		else
			snprintf(msg, mlen, "container %s is not running%s%s", x->container,
				 cJSON_IsString(wr) ? ": " : "",
				 cJSON_IsString(wr) ? wr->valuestring : "");
		e = -EAGAIN;
	}
	cJSON_Delete(o);
	return e;
}

static const char *errno_reason(int e)
{
	switch (-e) {
	case ENOENT: return "NotFound";
	case EACCES: return "Forbidden";
	case EINVAL: return "BadRequest";
	case EBUSY: return "Conflict";
	case EAGAIN: return "Unavailable";
	case ETIMEDOUT: return "Timeout";
	default: return "Error";
	}
}

/* Move a new session to STARTING with its buffers made and the session
 * parameters filled in (sp points into x, argv is the caller's to free).
 * Caller holds xlock.  0 or -errno. */
static int prepare_locked(struct xs *x, struct session_params *sp, char ***argv)
{
	int e = 0;

	if (x->phase != XP_NEW)
		return -EBUSY;
	if (!x->argv_len) {
		pwarn("exec %s/%s: start with an empty argv", x->key, x->id);
		return -EINVAL;
	}
	if (!(*argv = argv_split(x->argv, x->argv_len, &e)) || (e = ensure_buf_locked(x, 1)) ||
	    (!x->tty && (e = ensure_buf_locked(x, 2))) || (x->in && (e = ensure_buf_locked(x, 0)))) {
		argv_free(*argv);
		return e;
	}
	x->phase = XP_STARTING;
	memset(sp, 0, sizeof(*sp));
	sp->kind = SESS_EXEC;
	sp->ns = x->ns;
	sp->pod = x->pod;
	sp->container = x->container;
	sp->argv = *argv;
	sp->in = x->in;
	sp->out = sp->err = 1;
	sp->tty = x->tty;
	sp->buffer = podfs->buffer_size;
	sp->width = x->w;
	sp->height = x->h;
	sp->out_buf[1] = x->out[1];
	sp->out_buf[2] = x->out[2];
	sp->in_buf = x->in ? x->inb : NULL;
	return 0;
}

/* The session runs: what was asked meanwhile happens now. */
static void started(struct xs *x)
{
	struct session *s = x->o.sess;
	int hang, close_in;

	pthread_mutex_lock(&xlock);
	if (x->phase == XP_STARTING)
		x->phase = XP_STARTED;
	hang = x->hang_pending;
	close_in = x->in && x->stdin_used && !x->stdin_files && !x->eof_sent &&
		   session_protocol(s) == CHAN_V5;
	if (close_in)
		x->eof_sent = 1;
	pthread_mutex_unlock(&xlock);
	/* Buffers the connection does not use end now: stderr under a tty
	 * (merged into stdout), stdin when not asked for. */
	if (x->tty && x->out[2])
		chanbuf_finish(x->out[2], 0);
	if (!x->in && x->inb) {
		chanbuf_finish(x->inb, EPIPE);
		wset_notify(x->o.ws);
	}
	if (close_in) {
		/* stdin was written and closed before the start */
		chanbuf_finish(x->inb, EPIPE);
		session_close_input(s);
	}
	if (hang)
		session_hangup(s);
}

static int xs_start(struct xs *x)
{
	struct session_params sp;
	char **argv = NULL, reason[64] = "", msg[512] = "", line[640];
	int e;

	pthread_mutex_lock(&xlock);
	e = prepare_locked(x, &sp, &argv);
	pthread_mutex_unlock(&xlock);
	if (e)
		return e;
	if (!(e = check_running(x, reason, sizeof(reason), msg, sizeof(msg))) &&
	    (e = owner_start(&x->o, &sp, msg, sizeof(msg))))
		snprintf(reason, sizeof(reason), "%s", errno_reason(e));
	argv_free(argv);
	if (e) {
		pwarn("exec %s/%s: start failed: %s", x->key, x->id, msg);
		snprintf(line, sizeof(line), "failed %s: %s", reason, msg);
		xs_end(x, line, EIO, -1, 1);
		return e;
	}
	started(x);
	return 0;
}

/* ---- ctl ---- */

/* The running session with a reference, when phase is STARTED. */
static struct session *session_ref_locked(struct xs *x)
{
	if (x->phase != XP_STARTED)
		return NULL;
	session_get(x->o.sess);
	return x->o.sess;
}

/* The session ends on its multiplexer soon after; a ctl write that asked
 * for it is answered then (xs_reply_at_end), never by a waiting worker. */
static int xs_hangup(struct xs *x)
{
	struct session *s = NULL;

	pthread_mutex_lock(&xlock);
	if (x->phase == XP_NEW) {
		pthread_mutex_unlock(&xlock);
		xs_end(x, "lost hung up before the start", EIO, -1, 1);
		return 0;
	}
	if (x->phase == XP_STARTING)
		x->hang_pending = 1;	/* started() hangs up */
	s = session_ref_locked(x);
	pthread_mutex_unlock(&xlock);
	if (s) {
		session_hangup(s);
		session_put(s);
	}
	return 0;
}

void xs_reply_at_end(struct xs *x, fuse_req_t req, size_t size)
{
	struct xreply *r = malloc(sizeof(*r));

	if (!r) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	r->req = req;
	r->size = size;
	pthread_mutex_lock(&xlock);
	if (x->phase != XP_ENDED) {
		r->next = x->at_end;
		x->at_end = r;
		r = NULL;
	}
	pthread_mutex_unlock(&xlock);
	if (r) {
		r->next = NULL;
		reply_all(r, 0);
	}
}

/* End of input: the buffer refuses later writes (they fail, not vanish)
 * and the server is told.  s is a reference, dropped here. */
static int send_eof(struct xs *x, struct session *s)
{
	int e;

	chanbuf_finish(x->inb, EPIPE);
	wset_notify(x->o.ws);
	e = session_close_input(s);
	session_put(s);
	return e;
}

static int xs_close_stdin(struct xs *x)
{
	struct session *s = NULL;
	int e = 0;

	pthread_mutex_lock(&xlock);
	if (x->phase != XP_STARTED || !x->in)
		e = x->phase == XP_ENDED ? -EPIPE : -EINVAL;
	else if (session_protocol(x->o.sess) != CHAN_V5)
		e = -ENOTSUP;
	else if (!x->eof_sent) {
		x->eof_sent = 1;
		s = session_ref_locked(x);
	}
	pthread_mutex_unlock(&xlock);
	if (e == -ENOTSUP)
		pwarn("exec %s/%s: close-stdin: the server speaks v4.channel.k8s.io, which cannot "
		      "end stdin without ending the session", x->key, x->id);
	return s ? send_eof(x, s) : e;
}

static int xs_resize(struct xs *x, unsigned w, unsigned h)
{
	struct session *s = NULL;
	int e = 0;

	pthread_mutex_lock(&xlock);
	x->w = w;
	x->h = h;
	if (x->tty)
		s = session_ref_locked(x);
	pthread_mutex_unlock(&xlock);
	if (s) {
		e = session_resize(s, w, h);
		session_put(s);
	}
	return e;
}

int xs_ctl(struct xs *x, const struct ctl_cmd *c)
{
	int e = 0;

	switch (c->op) {
	case CTL_NONE:
		return 0;
	case CTL_STDIN:
	case CTL_TTY:
		pthread_mutex_lock(&xlock);
		if (x->phase != XP_NEW)
			e = -EBUSY;
		else if (c->op == CTL_STDIN)
			x->in = c->on;
		else if ((x->tty = c->on))
			x->in = 1;	/* a tty without stdin shows nothing on
					 * kubelet/containerd (docs/servers.md) */
		pthread_mutex_unlock(&xlock);
		return e;
	case CTL_START:
		return xs_start(x);
	case CTL_CLOSE_STDIN:
		return xs_close_stdin(x);
	case CTL_HANGUP:
		return xs_hangup(x);
	case CTL_RESIZE:
		return xs_resize(x, c->w, c->h);
	}
	return -EINVAL;
}

/* ---- the tree ---- */

int exec_exists(const struct pfs_path *p)
{
	int rc;

	pthread_mutex_lock(&xlock);
	rc = find_path_locked(p) ? 0 : -ENOENT;
	pthread_mutex_unlock(&xlock);
	return rc;
}

int exec_list(const struct pfs_path *dir, int (*add)(void *ud, const char *name), void *ud)
{
	char key[KEY_MAX], (*ids)[PFS_LABEL_MAX + 1] = NULL;
	size_t n = 0, cap = 0;
	struct xs *dead;
	int rc = 0;

	make_key(dir, key);
	pthread_mutex_lock(&xlock);
	dead = reap_locked();
	for (struct xs *x = sessions; x && !rc; x = x->next) {
		if (strcmp(x->key, key))
			continue;
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 16;
			void *ni = realloc(ids, nc * sizeof(*ids));

			if (!ni) {
				rc = -ENOMEM;
				break;
			}
			ids = ni;
			cap = nc;
		}
		memcpy(ids[n++], x->id, sizeof(x->id));
	}
	pthread_mutex_unlock(&xlock);
	put_list(dead);
	/* newest first in the list: list oldest first */
	while (!rc && n)
		rc = add(ud, ids[--n]);
	free(ids);
	return rc;
}

int exec_mkdir(const struct pfs_path *p)
{
	int e = 0;

	if (p->kind != PK_EXEC_SESSION)
		return p->kind == PK_EXEC_NEW ? -EEXIST : -EPERM;
	return xs_create(p, p->exec_id, &e) ? 0 : e;
}

int exec_rmdir(const struct pfs_path *p)
{
	struct xs *x;

	if (p->kind != PK_EXEC_SESSION)
		return p->kind == PK_EXEC_NEW ? -ENOTDIR : -EPERM;
	pthread_mutex_lock(&xlock);
	if ((x = find_path_locked(p)))
		unlist_locked(x);
	pthread_mutex_unlock(&xlock);
	if (!x)
		return -ENOENT;
	xs_hangup(x);
	owner_put(&x->o);	/* the registry's reference */
	return 0;
}

int exec_truncate(const struct pfs_path *p)
{
	struct xs *x;
	int e = 0;

	if (p->kind != PK_EXEC_ARGV)
		return 0;	/* ctl and stdin: accepted and meaningless */
	pthread_mutex_lock(&xlock);
	if (!(x = find_path_locked(p)))
		e = -ENOENT;
	else if (x->phase != XP_NEW)
		e = -EBUSY;
	else
		x->argv_len = 0;
	pthread_mutex_unlock(&xlock);
	return e;
}

/* ---- files ---- */

struct xs *xs_file_open(const struct pfs_path *p)
{
	struct xs *x;

	pthread_mutex_lock(&xlock);
	if ((x = find_path_locked(p))) {
		x->files++;
		owner_get(&x->o);
	}
	pthread_mutex_unlock(&xlock);
	return x;
}

void xs_file_closed(struct xs *x)
{
	pthread_mutex_lock(&xlock);
	if (--x->files == 0)
		x->idle_since = mono_ms();
	pthread_mutex_unlock(&xlock);
}

struct owner *xs_owner(struct xs *x)
{
	return &x->o;
}

void xs_status_line(struct xs *x, char *buf, size_t len)
{
	pthread_mutex_lock(&xlock);
	switch (x->phase) {
	case XP_NEW:
	case XP_STARTING:
		snprintf(buf, len, "new\n");
		break;
	case XP_STARTED:
		snprintf(buf, len, "running\n");
		break;
	case XP_ENDED:
		snprintf(buf, len, "%s\n", x->final);
		break;
	}
	pthread_mutex_unlock(&xlock);
}

int xs_argv_open(struct xs *x, int trunc)
{
	int e = 0;

	pthread_mutex_lock(&xlock);
	if (x->phase != XP_NEW)
		e = -EBUSY;	/* argv is fixed once started */
	else if (trunc)
		x->argv_len = 0;
	pthread_mutex_unlock(&xlock);
	return e;
}

ssize_t xs_argv_read(struct xs *x, off_t off, size_t size, char *out)
{
	size_t n = 0;

	if (off < 0)
		return -EINVAL;
	/* Copy out under the lock: a writer may realloc argv. */
	pthread_mutex_lock(&xlock);
	if ((size_t)off < x->argv_len) {
		n = x->argv_len - (size_t)off;
		if (n > size)
			n = size;
		memcpy(out, x->argv + off, n);
	}
	pthread_mutex_unlock(&xlock);
	return (ssize_t)n;
}

int xs_argv_write(struct xs *x, const char *buf, size_t size, off_t off)
{
	size_t end = (size_t)off + size;
	int e = 0;

	if (off < 0 || (size_t)off > ARGV_MAX || size > ARGV_MAX - (size_t)off)
		return -EFBIG;
	pthread_mutex_lock(&xlock);
	if (x->phase != XP_NEW) {
		e = -EBUSY;
	} else if (end > x->argv_len) {
		char *na = realloc(x->argv, end ? end : 1);

		if (!na) {
			e = -ENOMEM;
		} else {
			x->argv = na;
			if ((size_t)off > x->argv_len)
				memset(na + x->argv_len, 0, (size_t)off - x->argv_len);
			x->argv_len = end;
		}
	}
	if (!e)
		memcpy(x->argv + off, buf, size);
	pthread_mutex_unlock(&xlock);
	return e;
}

int xs_output(struct xs *x, int ch, struct chanbuf **b)
{
	int e = 0;

	pthread_mutex_lock(&xlock);
	if (x->phase == XP_NEW)
		e = ensure_buf_locked(x, ch);
	/* NULL: not asked for (stderr under a tty): EOF */
	if ((*b = e ? NULL : x->out[ch]))
		chanbuf_get(*b);
	pthread_mutex_unlock(&xlock);
	return e;
}

int xs_stdin_open(struct xs *x, struct chanbuf **b)
{
	int e = 0;

	*b = NULL;
	pthread_mutex_lock(&xlock);
	if (x->phase == XP_NEW) {
		/* writing stdin means wanting it */
		if (!(e = ensure_buf_locked(x, 0)))
			x->in = 1;
	} else if (!x->in || !x->inb) {
		e = -EPIPE;
	}
	if (!e) {
		*b = x->inb;
		chanbuf_get(*b);
		x->stdin_files++;
		x->stdin_used = 1;
	}
	pthread_mutex_unlock(&xlock);
	return e;
}

/* Last close of stdin: end of input (v5 only; v4 cannot say it without
 * ending the session, so the process's stdin stays open until the end). */
void xs_stdin_closed(struct xs *x)
{
	struct session *s = NULL;

	pthread_mutex_lock(&xlock);
	if (--x->stdin_files == 0 && x->phase == XP_STARTED && x->in && !x->eof_sent &&
	    session_protocol(x->o.sess) == CHAN_V5) {
		x->eof_sent = 1;
		s = session_ref_locked(x);
	}
	pthread_mutex_unlock(&xlock);
	if (s)
		send_eof(x, s);
}

struct xw *xs_waiter_open(struct xs *x, int exitcode, int *perr)
{
	struct xw *w = calloc(1, sizeof(*w));

	if (!w || !(w->b = chanbuf_new(sizeof(x->final) + 8, 0))) {
		free(w);
		*perr = -ENOMEM;
		return NULL;
	}
	w->x = x;
	w->exitcode = exitcode;
	pthread_mutex_lock(&xlock);
	if (x->phase == XP_ENDED) {
		x->results_read = 1;
		deliver(w->b, w->exitcode, x->final, x->final_err, x->exit_code);
	} else {
		w->next = x->waiters;
		x->waiters = w;
	}
	pthread_mutex_unlock(&xlock);
	return w;
}

struct chanbuf *xw_buffer(struct xw *w)
{
	return w->b;
}

struct xs *xs_waiter_close(struct xw *w)
{
	struct xs *x = w->x;

	pthread_mutex_lock(&xlock);
	for (struct xw **pp = &x->waiters; *pp; pp = &(*pp)->next) {
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	}
	pthread_mutex_unlock(&xlock);
	chanbuf_put(w->b);
	free(w);
	return x;
}
