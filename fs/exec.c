/* Exec sessions as files (`<container>/exec/`, docs/exec.md).
 *
 * A session is made by reading `exec/new` or by `mkdir exec/NAME`; it is
 * configured through `argv` and `ctl`, started by `start` on `ctl`, and
 * then its `stdout`, `stderr`, `stdin`, `wait` and `exitcode` files are
 * stream handles (streams.c) on the session's channel buffers, so a
 * blocked read holds no FUSE thread.  The buffers are made here, before
 * the start, and handed to session_start: files opened early read the
 * very bytes the connection later brings, and `echo start > ctl` followed
 * by `cat stdout` much later loses nothing (shared buffers keep bytes
 * until read; when full, the multiplexer stops reading the socket).
 *
 * `wait` and `exitcode` get a small buffer of their own per open file; the
 * final line goes into each when the session ends (or at once if it has
 * ended), so every reader gets it and an unfinished one blocks.
 *
 * Lifetime: a session is referenced by the list, by each open file and by
 * its running connection (the end callback).  rmdir hangs up and unlists
 * it; finished sessions with nothing open are reaped after an idle time,
 * lazily, by the next exec operation (see reap_locked).
 *
 * Locking: one mutex (xlock) for the list and every session's fields.  It
 * is never held while calling into a buffer or a session (their callbacks
 * come back here), nor during the blocking start. */
#include "fs/exec.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "fs/fs.h"
#include "fs/handles.h"
#include "fs/path.h"
#include "fs/streams.h"
#include "stream/log.h"
#include "stream/pod.h"
#include "stream/session.h"

#define ARGV_MAX	(128 * 1024)	/* more would not fit an API server URL */
#define CTL_LINE_MAX	256
#define HANGUP_WAIT_S	2
#define KEY_MAX		(PFS_LABEL_MAX + PFS_SUBDOMAIN_MAX + PFS_LABEL_MAX + 3)
#define REAP_MS_DEFAULT	(60 * 1000L)		/* ended, results read */
#define STALE_MS_DEFAULT (60 * 60 * 1000L)	/* never started, or never read */

enum xphase { XP_NEW, XP_STARTING, XP_STARTED, XP_ENDED };

struct xw {				/* an open `wait` or `exitcode` */
	struct xs *x;
	struct chanbuf *b;
	int exitcode;
	struct xw *next;
};

struct xs {
	struct xs *next;
	char key[KEY_MAX];		/* ns/pod/container */
	char ns[PFS_LABEL_MAX + 1], pod[PFS_SUBDOMAIN_MAX + 1], container[PFS_LABEL_MAX + 1];
	char id[PFS_LABEL_MAX + 1];
	int refs;
	int listed;
	int files;			/* open files */
	uint64_t idle_since;		/* when files last dropped to 0 */
	enum xphase phase;
	int hang_pending;		/* hangup asked while starting */

	char *argv;
	size_t argv_len;
	int in, tty;
	unsigned w, h;

	struct session *sess;
	struct chanbuf *out[3], *inb;	/* [1] stdout, [2] stderr */
	struct wset *ws;		/* writers of inb */
	int stdin_files, stdin_used, eof_sent;

	char final[640];		/* ENDED: the status line */
	int final_err;			/* 0, or EIO when failed or lost */
	int exit_code;
	int results_read;
	struct xw *waiters;
};

struct xctr {				/* the next id of one container */
	char key[KEY_MAX];
	unsigned long next;
	struct xctr *link;
};

enum xh_kind { XH_SNAP, XH_ARGV, XH_CTL };

struct xh {				/* FHK_EXEC: new, status, argv, ctl */
	struct handle hd;		/* first: the open-file table entry */
	enum xh_kind kind;
	struct xs *x;			/* NULL for XH_SNAP of `new` */
	char *snap;
	size_t snap_len;
};

static pthread_mutex_t xlock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t xended = PTHREAD_COND_INITIALIZER;	/* some session ended */
static struct xs *sessions;
static struct xctr *counters;
static long reap_ms = -1, stale_ms = -1;

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

static void xs_free(struct xs *x)
{
	if (x->inb)
		chanbuf_set_writer(x->inb, NULL, NULL);
	if (x->sess)
		session_put(x->sess);
	for (int i = 0; i < 3; i++)
		if (x->out[i])
			chanbuf_put(x->out[i]);
	if (x->inb)
		chanbuf_put(x->inb);
	wset_free(x->ws);
	free(x->argv);
	free(x);
}

static void xs_put(struct xs *x)
{
	int last;

	pthread_mutex_lock(&xlock);
	last = --x->refs == 0;
	pthread_mutex_unlock(&xlock);
	if (last)
		xs_free(x);
}

/* Caller holds xlock: file counts and the idle clock. */
static void file_opened_locked(struct xs *x)
{
	x->refs++;
	x->files++;
}

static void file_closed(struct xs *x)
{
	pthread_mutex_lock(&xlock);
	if (--x->files == 0)
		x->idle_since = mono_ms();
	pthread_mutex_unlock(&xlock);
	xs_put(x);
}

/* Unlists sessions nobody uses any more (caller holds xlock); returns
 * them for xs_put outside the lock.  Running sessions are never reaped:
 * a long job in the background is legitimate. */
static struct xs *reap_locked(void)
{
	uint64_t now = mono_ms();
	struct xs **pp = &sessions, *x, *dead = NULL;

	if (reap_ms < 0) {
		reap_ms = env_ms("PODFS_EXEC_REAP_MS", REAP_MS_DEFAULT);
		stale_ms = env_ms("PODFS_EXEC_STALE_MS", STALE_MS_DEFAULT);
	}
	while ((x = *pp)) {
		uint64_t idle = now - x->idle_since;
		int read = x->results_read, reap = 0;

		if (x->files == 0 && (x->phase == XP_NEW || x->phase == XP_ENDED)) {
			if (x->phase == XP_ENDED && !read) {
				read = 1;
				for (int i = 1; i < 3; i++)
					if (x->out[i] && (chanbuf_used(x->out[i]) ||
							  !chanbuf_finished(x->out[i], NULL)))
						read = 0;
			}
			if (x->phase == XP_ENDED && read)
				reap = idle >= (uint64_t)reap_ms;
			else
				reap = idle >= (uint64_t)stale_ms;
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

		xs_put(dead);
		dead = n;
	}
}

/* A new session (id NULL: the container's next free number). */
static struct xs *xs_create(const struct pfs_path *p, const char *id, int *perr)
{
	struct xs *x = calloc(1, sizeof(*x)), *dead;
	struct xctr *c;

	if (!x || !(x->ws = wset_new())) {
		free(x);
		*perr = -ENOMEM;
		return NULL;
	}
	make_key(p, x->key);
	snprintf(x->ns, sizeof(x->ns), "%s", p->ns);
	snprintf(x->pod, sizeof(x->pod), "%s", p->pod);
	snprintf(x->container, sizeof(x->container), "%s", p->container);
	x->refs = 1;		/* the list's */
	x->listed = 1;
	x->idle_since = mono_ms();
	pthread_mutex_lock(&xlock);
	dead = reap_locked();
	if (id) {
		if (find_locked(x->key, id)) {
			pthread_mutex_unlock(&xlock);
			put_list(dead);
			wset_free(x->ws);
			free(x);
			*perr = -EEXIST;
			return NULL;
		}
		snprintf(x->id, sizeof(x->id), "%s", id);
	} else {
		for (c = counters; c && strcmp(c->key, x->key); c = c->link)
			;
		if (!c) {
			if (!(c = calloc(1, sizeof(*c)))) {
				pthread_mutex_unlock(&xlock);
				put_list(dead);
				wset_free(x->ws);
				free(x);
				*perr = -ENOMEM;
				return NULL;
			}
			snprintf(c->key, sizeof(c->key), "%s", x->key);
			c->next = 1;
			c->link = counters;
			counters = c;
		}
		/* never reuse an id, nor take a name made by mkdir */
		do
			snprintf(x->id, sizeof(x->id), "%lu", c->next++);
		while (find_locked(x->key, x->id));
	}
	x->next = sessions;
	sessions = x;
	pthread_mutex_unlock(&xlock);
	put_list(dead);
	return x;
}

/* The buffer files of a not yet started session use (caller holds xlock).
 * 0 or -ENOMEM. */
static int ensure_buf_locked(struct xs *x, int which)
{
	size_t cap = podfs->buffer_size ? podfs->buffer_size : (1u << 20);
	struct chanbuf **pb = which == 0 ? &x->inb : &x->out[which];

	if (*pb)
		return 0;
	if (!(*pb = chanbuf_new(cap, 0)))
		return -ENOMEM;
	if (which == 0)
		chanbuf_set_writer(*pb, wset_notify, x->ws);
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

/* The session is over: record the final line and tell every waiter.
 * prestart: it never got a connection, so its buffers are ended here. */
static void xs_end(struct xs *x, const char *line, int err, int code, int prestart)
{
	struct chanbuf **bs = NULL, *bufs[4] = { NULL, NULL, NULL, NULL };
	int *ex = NULL, n = 0, i;

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
	for (struct xw *w = x->waiters; w; w = w->next)
		n++;
	if (n) {
		bs = calloc((size_t)n, sizeof(*bs));
		ex = calloc((size_t)n, sizeof(*ex));
		if (!bs || !ex) {
			/* cannot tell the waiters: end their reads with ENOMEM
			 * rather than leave them blocked for ever */
			n = 0;
		}
	}
	i = 0;
	for (struct xw *w = x->waiters; w && i < n; w = w->next, i++) {
		chanbuf_get(w->b);
		bs[i] = w->b;
		ex[i] = w->exitcode;
	}
	if (!bs && x->waiters) {
		for (struct xw *w = x->waiters; w; w = w->next)
			chanbuf_finish(w->b, ENOMEM);	/* no callback into us */
	}
	if (n)
		x->results_read = 1;
	pthread_cond_broadcast(&xended);
	if (prestart) {
		for (int j = 0; j < 3; j++)
			if ((bufs[j] = x->out[j]))
				chanbuf_get(bufs[j]);
		if ((bufs[3] = x->inb))
			chanbuf_get(bufs[3]);
	}
	pthread_mutex_unlock(&xlock);

	for (i = 0; i < n; i++) {
		deliver(bs[i], ex[i], x->final, err, code);
		chanbuf_put(bs[i]);
	}
	free(bs);
	free(ex);
	for (int j = 0; j < 4; j++) {
		if (bufs[j]) {
			chanbuf_finish(bufs[j], j == 3 ? EPIPE : EIO);
			chanbuf_put(bufs[j]);
		}
	}
	if (prestart)
		wset_notify(x->ws);	/* parked stdin writers get EPIPE */
}

/* From the multiplexer thread: the connection ended. */
static void on_session_end(void *ud, struct session *s)
{
	struct xs *x = ud;
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
	xs_end(x, line, err, code, 0);
	wset_notify(x->ws);		/* parked stdin writers get EPIPE */
	xs_put(x);			/* the connection's reference */
}

/* ---- starting ---- */

/* argv as written: NUL-separated when it holds a NUL, else one argument
 * per line; one trailing separator ends the last argument. */
static char **split_argv(const char *buf, size_t len, int *perr)
{
	char sep = memchr(buf, 0, len) ? '\0' : '\n';
	size_t n = 0, i, start;
	char **v;

	if (len && buf[len - 1] == sep)
		len--;
	if (!len) {
		*perr = -EINVAL;
		return NULL;
	}
	for (i = 0; i < len; i++)
		if (buf[i] == sep)
			n++;
	n++;
	if (!(v = calloc(n + 1, sizeof(*v)))) {
		*perr = -ENOMEM;
		return NULL;
	}
	for (i = 0, start = 0, n = 0; i <= len; i++) {
		if (i == len || buf[i] == sep) {
			if (!(v[n] = strndup(buf + start, i - start))) {
				for (size_t k = 0; k < n; k++)
					free(v[k]);
				free(v);
				*perr = -ENOMEM;
				return NULL;
			}
			n++;
			start = i + 1;
		}
	}
	return v;
}

static void free_argv(char **v)
{
	if (!v)
		return;
	for (char **a = v; *a; a++)
		free(*a);
	free(v);
}

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

static int xs_start(struct xs *x)
{
	struct session_params sp;
	struct session *s;
	char **argv, reason[64] = "", msg[512] = "", line[640];
	int e = 0, hang, close_in;

	pthread_mutex_lock(&xlock);
	if (x->phase != XP_NEW) {
		pthread_mutex_unlock(&xlock);
		return -EBUSY;
	}
	if (!x->argv_len) {
		pthread_mutex_unlock(&xlock);
		pwarn("exec %s/%s: start with an empty argv", x->key, x->id);
		return -EINVAL;
	}
	argv = split_argv(x->argv, x->argv_len, &e);
	if (!argv || (e = ensure_buf_locked(x, 1)) || (!x->tty && (e = ensure_buf_locked(x, 2))) ||
	    (x->in && (e = ensure_buf_locked(x, 0)))) {
		pthread_mutex_unlock(&xlock);
		free_argv(argv);
		return e;
	}
	x->phase = XP_STARTING;
	x->refs++;		/* the connection's, dropped by on_session_end */
	memset(&sp, 0, sizeof(sp));
	sp.kind = SESS_EXEC;
	sp.ns = x->ns;
	sp.pod = x->pod;
	sp.container = x->container;
	sp.argv = argv;
	sp.in = x->in;
	sp.out = 1;
	sp.err = 1;
	sp.tty = x->tty;
	sp.buffer = podfs->buffer_size;
	sp.broadcast = 0;
	sp.width = x->w;
	sp.height = x->h;
	sp.out_buf[1] = x->out[1];
	sp.out_buf[2] = x->out[2];
	sp.in_buf = x->in ? x->inb : NULL;
	pthread_mutex_unlock(&xlock);

	e = check_running(x, reason, sizeof(reason), msg, sizeof(msg));
	s = NULL;
	if (!e) {
		s = session_start(podfs->rest, &sp, on_session_end, x, &e, msg, sizeof(msg));
		if (!s)
			snprintf(reason, sizeof(reason), "%s", errno_reason(e));
	}
	free_argv(argv);
	if (!s) {
		pwarn("exec %s/%s: start failed: %s", x->key, x->id, msg);
		podfs_note(podfs, e, msg);
		snprintf(line, sizeof(line), "failed %s: %s", reason, msg);
		xs_end(x, line, EIO, -1, 1);
		xs_put(x);	/* no connection, no callback */
		return e;
	}
	podfs_note(podfs, 0, NULL);

	pthread_mutex_lock(&xlock);
	x->sess = s;		/* the reference session_start gave us */
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
		wset_notify(x->ws);
	}
	if (close_in) {
		/* stdin was written and closed before the start */
		chanbuf_finish(x->inb, EPIPE);
		session_close_input(s);
	}
	if (hang)
		session_hangup(s);
	return 0;
}

/* ---- ctl ---- */

static int parse_uint(const char *s, unsigned *out)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return -1;
	v = strtoul(s, &end, 10);
	if (*end || v == 0 || v > 65535)
		return -1;
	*out = (unsigned)v;
	return 0;
}

static int ctl_hangup(struct xs *x)
{
	struct session *s = NULL;

	pthread_mutex_lock(&xlock);
	switch (x->phase) {
	case XP_NEW:
		pthread_mutex_unlock(&xlock);
		xs_end(x, "lost hung up before the start", EIO, -1, 1);
		return 0;
	case XP_STARTING:
		x->hang_pending = 1;
		break;
	case XP_STARTED:
		s = x->sess;
		session_get(s);
		break;
	case XP_ENDED:
		break;
	}
	pthread_mutex_unlock(&xlock);
	if (s) {
		struct timespec ts;

		session_hangup(s);
		session_put(s);
		/* The multiplexer ends it in a moment: wait (briefly) so that
		 * `echo hangup > ctl; cat status` already says `lost`. */
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += HANGUP_WAIT_S;
		pthread_mutex_lock(&xlock);
		while (x->phase != XP_ENDED &&
		       pthread_cond_timedwait(&xended, &xlock, &ts) == 0)
			;
		pthread_mutex_unlock(&xlock);
	}
	return 0;
}

static int ctl_close_stdin(struct xs *x)
{
	struct session *s = NULL;
	int e = 0;

	pthread_mutex_lock(&xlock);
	if (x->phase != XP_STARTED || !x->in)
		e = x->phase == XP_ENDED ? -EPIPE : -EINVAL;
	else if (session_protocol(x->sess) != CHAN_V5)
		e = -ENOTSUP;
	else if (!x->eof_sent) {
		x->eof_sent = 1;
		s = x->sess;
		session_get(s);
	}
	pthread_mutex_unlock(&xlock);
	if (e == -ENOTSUP)
		pwarn("exec %s/%s: close-stdin: the server speaks v4.channel.k8s.io, which cannot "
		      "end stdin without ending the session", x->key, x->id);
	if (s) {
		chanbuf_finish(x->inb, EPIPE);
		wset_notify(x->ws);
		e = session_close_input(s);
		session_put(s);
	}
	return e;
}

static int ctl_command(struct xs *x, char *line)
{
	char *arg[4] = { NULL, NULL, NULL, NULL }, *save = NULL, *t;
	int n = 0, e = 0;

	for (t = strtok_r(line, " \t\r", &save); t; t = strtok_r(NULL, " \t\r", &save)) {
		if (n == 4)
			return -EINVAL;
		arg[n++] = t;
	}
	if (!n)
		return 0;
	if ((!strcmp(arg[0], "stdin") || !strcmp(arg[0], "tty")) && n == 2 &&
	    (!strcmp(arg[1], "on") || !strcmp(arg[1], "off"))) {
		pthread_mutex_lock(&xlock);
		if (x->phase != XP_NEW)
			e = -EBUSY;
		else if (arg[0][0] == 's')
			x->in = arg[1][1] == 'n';
		else if ((x->tty = arg[1][1] == 'n'))
			x->in = 1;	/* a tty without stdin shows nothing on
					 * kubelet/containerd (docs/servers.md) */
		pthread_mutex_unlock(&xlock);
		return e;
	}
	if (!strcmp(arg[0], "start") && n == 1)
		return xs_start(x);
	if (!strcmp(arg[0], "close-stdin") && n == 1)
		return ctl_close_stdin(x);
	if (!strcmp(arg[0], "hangup") && n == 1)
		return ctl_hangup(x);
	if (!strcmp(arg[0], "resize") && n == 3) {
		unsigned w, h;
		struct session *s = NULL;

		if (parse_uint(arg[1], &w) || parse_uint(arg[2], &h))
			return -EINVAL;
		pthread_mutex_lock(&xlock);
		x->w = w;
		x->h = h;
		if (x->phase == XP_STARTED && x->tty) {
			s = x->sess;
			session_get(s);
		}
		pthread_mutex_unlock(&xlock);
		if (s) {
			e = session_resize(s, w, h);
			session_put(s);
		}
		return e;
	}
	pwarn("exec %s/%s: unknown ctl command \"%.40s\"", x->key, x->id, arg[0]);
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

static void xs_unlist_and_hangup(struct xs *x)
{
	ctl_hangup(x);
	xs_put(x);		/* the list's reference */
}

int exec_rmdir(const struct pfs_path *p)
{
	struct xs **pp, *x = NULL;

	if (p->kind != PK_EXEC_SESSION)
		return p->kind == PK_EXEC_NEW ? -ENOTDIR : -EPERM;
	pthread_mutex_lock(&xlock);
	for (pp = &sessions; *pp; pp = &(*pp)->next) {
		char key[KEY_MAX];

		make_key(p, key);
		if (!strcmp((*pp)->key, key) && !strcmp((*pp)->id, p->exec_id)) {
			x = *pp;
			*pp = x->next;
			x->listed = 0;
			break;
		}
	}
	pthread_mutex_unlock(&xlock);
	if (!x)
		return -ENOENT;
	xs_unlist_and_hangup(x);
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

static void rel_file(void *ud)
{
	file_closed(ud);
}

/* Last close of stdin: end of input (v5 only; v4 cannot say it without
 * ending the session, so the process's stdin stays open until the end). */
static void rel_stdin(void *ud)
{
	struct xs *x = ud;
	struct session *s = NULL;

	pthread_mutex_lock(&xlock);
	if (--x->stdin_files == 0 && x->phase == XP_STARTED && x->in && !x->eof_sent &&
	    session_protocol(x->sess) == CHAN_V5) {
		x->eof_sent = 1;
		s = x->sess;
		session_get(s);
	}
	pthread_mutex_unlock(&xlock);
	if (s) {
		chanbuf_finish(x->inb, EPIPE);	/* later writes fail, not vanish */
		session_close_input(s);
		session_put(s);
	}
	file_closed(x);
}

static void rel_wait(void *ud)
{
	struct xw *w = ud;
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
	file_closed(x);
}

static void xh_destroy(struct handle *hd)
{
	struct xh *h = (struct xh *)hd;

	free(h->snap);
	free(h);
}

static void xh_reply_open(fuse_req_t req, struct xh *h, struct fuse_file_info *fi)
{
	fi->fh = handle_add(&h->hd, FHK_EXEC, xh_destroy);
	fi->direct_io = 1;
	fi->keep_cache = 0;
	if (fuse_reply_open(req, fi) == -ENOENT)
		exec_release(NULL, fi);	/* the opener was interrupted */
}

static struct xh *xh_new(enum xh_kind kind, struct xs *x, const char *snap)
{
	struct xh *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->kind = kind;
	h->x = x;
	if (snap) {
		h->snap_len = strlen(snap);
		if (!(h->snap = strdup(snap))) {
			free(h);
			return NULL;
		}
	}
	return h;
}

static void status_line_locked(const struct xs *x, char *buf, size_t len)
{
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
}

void exec_open(fuse_req_t req, const struct pfs_path *p, struct fuse_file_info *fi)
{
	int acc = fi->flags & O_ACCMODE, e = 0;
	struct xs *x;
	struct xh *h;
	char line[700];

	if (p->kind == PK_EXEC_NEW) {
		if (acc != O_RDONLY) {
			fuse_reply_err(req, EACCES);
			return;
		}
		if (!(x = xs_create(p, NULL, &e))) {
			fuse_reply_err(req, -e);
			return;
		}
		snprintf(line, sizeof(line), "%s\n", x->id);	/* id is fixed once listed */
		if (!(h = xh_new(XH_SNAP, NULL, line))) {
			fuse_reply_err(req, ENOMEM);
			return;
		}
		xh_reply_open(req, h, fi);
		return;
	}

	pthread_mutex_lock(&xlock);
	if (!(x = find_path_locked(p))) {
		pthread_mutex_unlock(&xlock);
		fuse_reply_err(req, ENOENT);
		return;
	}
	switch (p->kind) {
	case PK_EXEC_STATUS:
	case PK_EXEC_ARGV:
	case PK_EXEC_CTL:
		if (p->kind == PK_EXEC_STATUS && acc != O_RDONLY) {
			e = -EACCES;
			break;
		}
		if (p->kind == PK_EXEC_ARGV && acc != O_RDONLY && x->phase != XP_NEW) {
			e = -EBUSY;	/* argv is fixed once started */
			break;
		}
		if (p->kind == PK_EXEC_ARGV && (fi->flags & O_TRUNC) && acc != O_RDONLY)
			x->argv_len = 0;
		status_line_locked(x, line, sizeof(line));
		h = xh_new(p->kind == PK_EXEC_STATUS ? XH_SNAP : p->kind == PK_EXEC_ARGV ?
			   XH_ARGV : XH_CTL, x, p->kind == PK_EXEC_STATUS ? line : NULL);
		if (!h) {
			e = -ENOMEM;
			break;
		}
		file_opened_locked(x);
		pthread_mutex_unlock(&xlock);
		xh_reply_open(req, h, fi);
		return;
	case PK_EXEC_STDOUT:
	case PK_EXEC_STDERR: {
		int ch = p->kind == PK_EXEC_STDOUT ? 1 : 2;
		struct chanbuf *b;

		if (acc != O_RDONLY) {
			e = -EACCES;
			break;
		}
		if (x->phase == XP_NEW && (e = ensure_buf_locked(x, ch)))
			break;
		b = x->out[ch];		/* NULL: not asked for (stderr under a tty): EOF */
		if (b)
			chanbuf_get(b);
		file_opened_locked(x);
		pthread_mutex_unlock(&xlock);
		e = streams_open_fh(req, fi, NULL, b, NULL, NULL, rel_file, x);
		if (b)
			chanbuf_put(b);
		if (e < 0) {
			file_closed(x);
			fuse_reply_err(req, -e);
		}
		return;
	}
	case PK_EXEC_STDIN: {
		struct chanbuf *b;

		if (acc != O_WRONLY) {
			e = -EACCES;
			break;
		}
		if (x->phase == XP_NEW) {
			/* writing stdin means wanting it */
			if ((e = ensure_buf_locked(x, 0)))
				break;
			x->in = 1;
		} else if (!x->in || !x->inb) {
			e = -EPIPE;
			break;
		}
		b = x->inb;
		chanbuf_get(b);
		x->stdin_files++;
		x->stdin_used = 1;
		file_opened_locked(x);
		pthread_mutex_unlock(&xlock);
		e = streams_open_fh(req, fi, NULL, NULL, b, x->ws, rel_stdin, x);
		chanbuf_put(b);
		if (e < 0) {
			rel_stdin(x);
			fuse_reply_err(req, -e);
		}
		return;
	}
	case PK_EXEC_WAIT:
	case PK_EXEC_EXITCODE: {
		struct xw *w;
		int ended;

		if (acc != O_RDONLY) {
			e = -EACCES;
			break;
		}
		if (!(w = calloc(1, sizeof(*w))) || !(w->b = chanbuf_new(sizeof(x->final) + 8, 0))) {
			free(w);
			e = -ENOMEM;
			break;
		}
		w->x = x;
		w->exitcode = p->kind == PK_EXEC_EXITCODE;
		ended = x->phase == XP_ENDED;
		if (ended) {
			x->results_read = 1;
			deliver(w->b, w->exitcode, x->final, x->final_err, x->exit_code);
		} else {
			w->next = x->waiters;
			x->waiters = w;
		}
		file_opened_locked(x);
		pthread_mutex_unlock(&xlock);
		e = streams_open_fh(req, fi, NULL, w->b, NULL, NULL, rel_wait, w);
		if (e < 0) {
			rel_wait(w);
			fuse_reply_err(req, -e);
		}
		return;
	}
	default:
		e = -EISDIR;
		break;
	}
	pthread_mutex_unlock(&xlock);
	fuse_reply_err(req, -e);
}

static void do_read(fuse_req_t req, struct xh *h, size_t size, off_t off);

void exec_read(fuse_req_t req, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct xh *h = (struct xh *)handle_get(fi->fh);

	if (!h) {
		fuse_reply_err(req, EBADF);
		return;
	}
	do_read(req, h, size, off);
	handle_put(&h->hd);
}

static void do_read(fuse_req_t req, struct xh *h, size_t size, off_t off)
{
	char *tmp;
	size_t n = 0;

	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	switch (h->kind) {
	case XH_SNAP:
		/* The handle table's reference keeps h->snap alive while the
		 * reply goes out, even if RELEASE races this read. */
		if ((size_t)off < h->snap_len) {
			n = h->snap_len - (size_t)off;
			if (n > size)
				n = size;
		}
		fuse_reply_buf(req, n ? h->snap + off : NULL, n);
		return;
	case XH_ARGV:
		/* Copy out under the lock: a writer may realloc argv. */
		if (size > ARGV_MAX)
			size = ARGV_MAX;
		if (!(tmp = malloc(size ? size : 1))) {
			fuse_reply_err(req, ENOMEM);
			return;
		}
		pthread_mutex_lock(&xlock);
		if ((size_t)off < h->x->argv_len) {
			n = h->x->argv_len - (size_t)off;
			if (n > size)
				n = size;
			memcpy(tmp, h->x->argv + off, n);
		}
		pthread_mutex_unlock(&xlock);
		fuse_reply_buf(req, tmp, n);
		free(tmp);
		return;
	case XH_CTL:
		fuse_reply_buf(req, NULL, 0);
		return;
	}
}

static int argv_write(struct xs *x, const char *buf, size_t size, off_t off)
{
	int e = 0;

	pthread_mutex_lock(&xlock);
	if (x->phase != XP_NEW) {
		e = -EBUSY;
	} else if (off < 0 || (size_t)off > ARGV_MAX || size > ARGV_MAX - (size_t)off) {
		e = -EFBIG;
	} else {
		size_t end = (size_t)off + size;

		if (end > x->argv_len) {
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
	}
	pthread_mutex_unlock(&xlock);
	return e;
}

/* Each line is one command; a write's last line needs no newline (the
 * shell's `echo` and `printf` write whole commands at once).  The first
 * failing command fails the write with its errno. */
static int ctl_write(struct xs *x, const char *buf, size_t size)
{
	char line[CTL_LINE_MAX + 1];
	size_t i = 0;
	int e;

	while (i < size) {
		const char *nl = memchr(buf + i, '\n', size - i);
		size_t len = nl ? (size_t)(nl - (buf + i)) : size - i;

		if (len > CTL_LINE_MAX || memchr(buf + i, 0, len))
			return -EINVAL;
		memcpy(line, buf + i, len);
		line[len] = 0;
		if ((e = ctl_command(x, line)))
			return e;
		i += len + (nl ? 1 : 0);
	}
	return 0;
}

void exec_write(fuse_req_t req, const char *buf, size_t size, off_t off,
		struct fuse_file_info *fi)
{
	struct xh *h = (struct xh *)handle_get(fi->fh);
	int e;

	if (!h) {
		fuse_reply_err(req, EBADF);
		return;
	}
	switch (h->kind) {
	case XH_ARGV:
		e = argv_write(h->x, buf, size, off);
		break;
	case XH_CTL:
		e = ctl_write(h->x, buf, size);
		break;
	default:
		e = -EBADF;
		break;
	}
	handle_put(&h->hd);
	if (e)
		fuse_reply_err(req, -e);
	else
		fuse_reply_write(req, size);
}

void exec_poll(fuse_req_t req, struct fuse_file_info *fi, struct fuse_pollhandle *ph)
{
	(void)fi;
	if (ph)
		fuse_pollhandle_destroy(ph);
	fuse_reply_poll(req, POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM);
}

void exec_release(fuse_req_t req, struct fuse_file_info *fi)
{
	struct xh *h = (struct xh *)handle_get(fi->fh);

	if (h) {
		if (h->x)
			file_closed(h->x);
		handle_put(&h->hd);
		handle_remove(fi->fh);	/* freed now or after a running op */
	}
	if (req)
		fuse_reply_err(req, 0);
}

void exec_shutdown(void)
{
	struct xs *x, *list;
	struct xctr *c;

	/* After mux_shutdown: every connection ended and its end callback
	 * dropped its reference, so only the list's and none of a file's
	 * (the FUSE loop is over) are left. */
	pthread_mutex_lock(&xlock);
	list = sessions;
	sessions = NULL;
	while ((c = counters)) {
		counters = c->link;
		free(c);
	}
	pthread_mutex_unlock(&xlock);
	while ((x = list)) {
		list = x->next;
		x->listed = 0;
		xs_put(x);
	}
}
