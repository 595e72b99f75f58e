/* Stream-session owners (see owner.h): references, the start (at once or
 * answered when the session settles), the end callback, the files and the
 * teardown at unmount, once for attach, exec, Ports, Proxy and
 * log.follow.
 *
 * owners_lock guards every owner's refs and the list of live owners.  It
 * is a leaf: nothing else is locked under it and no callback runs under
 * it, so any module may take or drop a reference while holding its own
 * lock. */
#include "fs/owner.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs/fs.h"
#include "fs/handles.h"
#include "fs/parked.h"
#include "stream/chanbuf.h"
#include "stream/log.h"
#include "stream/mux.h"
#include "stream/session.h"

static pthread_mutex_t owners_lock = PTHREAD_MUTEX_INITIALIZER;
static struct owner *owners;		/* (owners_lock) */

int owner_init(struct owner *o, const struct owner_ops *ops, const char *label)
{
	o->ops = ops;
	o->sess = NULL;
	snprintf(o->label, sizeof(o->label), "%s", label);
	if (!(o->ws = wset_new()))
		return -ENOMEM;
	pthread_mutex_lock(&owners_lock);
	o->refs = 1;
	o->prev = NULL;
	if ((o->next = owners))
		owners->prev = o;
	owners = o;
	pthread_mutex_unlock(&owners_lock);
	return 0;
}

struct owner *owner_new(const struct owner_ops *ops, const char *label)
{
	struct owner *o = calloc(1, sizeof(*o));

	if (o && owner_init(o, ops, label)) {
		free(o);
		o = NULL;
	}
	return o;
}

void owner_params(struct session_params *sp, int kind, const struct pfs_path *p)
{
	memset(sp, 0, sizeof(*sp));
	sp->kind = kind;
	sp->ns = p->ns;
	sp->pod = p->pod;
	sp->container = p->container[0] ? p->container : NULL;
	sp->buffer = podfs->buffer_size;
}

void owner_get(struct owner *o)
{
	pthread_mutex_lock(&owners_lock);
	o->refs++;
	pthread_mutex_unlock(&owners_lock);
}

void owner_put(struct owner *o)
{
	struct wset *ws = o->ws;
	int last;

	pthread_mutex_lock(&owners_lock);
	if ((last = --o->refs == 0)) {
		if (o->next)
			o->next->prev = o->prev;
		if (o->prev)
			o->prev->next = o->next;
		else
			owners = o->next;
	}
	pthread_mutex_unlock(&owners_lock);
	if (!last)
		return;
	if (o->sess) {
		/* waits for a writer callback in flight: ws is unused after */
		if (session_input(o->sess))
			chanbuf_set_writer(session_input(o->sess), NULL, NULL);
		session_put(o->sess);
	}
	if (o->ops->free)
		o->ops->free(o);
	else
		free(o);
	wset_free(ws);
}

/* Multiplexer thread: the session is over. */
static void owner_on_end(void *ud, struct session *s)
{
	struct owner *o = ud;

	wset_notify(o->ws);	/* parked writers get EPIPE now */
	if (o->ops->ended)
		o->ops->ended(o, s);
	owner_put(o);		/* the session's reference */
}

/* The session is o's.  Both the start's return and the settle (on the
 * multiplexer thread, possibly first) set it, to the same session; the
 * lock orders the two. */
static void owner_bind(struct owner *o, struct session *s)
{
	pthread_mutex_lock(&owners_lock);
	o->sess = s;
	pthread_mutex_unlock(&owners_lock);
}

int owner_start(struct owner *o, const struct session_params *sp, char *err, size_t errlen)
{
	struct session_params p = *sp;
	struct session *s;
	int e = 0;

	p.in_writer = wset_notify;	/* wired before the loop sees it */
	p.in_writer_ud = o->ws;
	owner_get(o);		/* the session's, dropped by owner_on_end */
	s = session_start(podfs->rest, &p, owner_on_end, o, &e, err, errlen);
	if (!s) {
		pdebug("%s: %s", o->label, err);
		podfs_note(podfs, e, err);
		owner_put(o);	/* no session, no end callback */
		return e ? e : -EIO;
	}
	if (!p.on_settled)	/* a parked open notes at its settle */
		podfs_note(podfs, 0, NULL);
	owner_bind(o, s);
	return 0;
}

void owner_hangup(struct owner *o)
{
	struct session *s;

	pthread_mutex_lock(&owners_lock);
	s = o->sess;
	pthread_mutex_unlock(&owners_lock);
	if (s)
		session_hangup(s);
}

struct ofile {			/* what a file's release needs */
	struct owner *o;
	void (*closed)(struct owner *o, void *ud);
	void *ud;
};

static void ofile_release(void *ud)
{
	struct ofile *f = ud;

	if (f->closed)
		f->closed(f->o, f->ud);
	owner_put(f->o);
	free(f);
}

int owner_open(struct owner *o, fuse_req_t req, struct fuse_file_info *fi,
	       struct chanbuf *rd, struct chanbuf *wb,
	       void (*closed)(struct owner *o, void *ud), void *ud)
{
	struct ofile *f = malloc(sizeof(*f));
	struct parked_file pf = {
		.rd = rd, .wb = wb, .ws = wb ? o->ws : NULL,
		.on_release = ofile_release, .ud = f,
	};
	int e;

	if (!f)
		return -ENOMEM;
	f->o = o;
	f->closed = closed;
	f->ud = ud;
	owner_get(o);
	if ((e = parked_open(req, fi, &pf)) < 0) {
		owner_put(o);
		free(f);
	}
	return e;
}

struct oparked {		/* an open answered when its session settles */
	struct owner *o;	/* a reference of its own */
	fuse_req_t req;
	struct fuse_file_info fi;	/* a copy: the kernel's is gone by then */
};

static void closed_hangup(struct owner *o, void *ud)
{
	(void)ud;
	owner_hangup(o);
}

/* Multiplexer thread: how the start went; answer the parked open. */
static void owner_on_settled(void *ud, struct session *s, int err)
{
	struct oparked *po = ud;
	struct owner *o = po->o;
	int acc = po->fi.flags & O_ACCMODE, e = -err;
	char why[600];

	owner_bind(o, s);
	if (err) {	/* said before the open returns: its caller may look */
		session_state(s, NULL, why, sizeof(why));
		pdebug("%s: %s", o->label, why);
		podfs_note(podfs, e, why);
	} else {
		podfs_note(podfs, 0, NULL);
		e = owner_open(o, po->req, &po->fi, acc == O_WRONLY ? NULL : session_output(s, 0),
			       acc == O_RDONLY ? NULL : session_input(s), closed_hangup, NULL);
		if (e < 0)
			owner_hangup(o);
	}
	if (e < 0)
		fuse_reply_err(po->req, -e);
	owner_put(o);
	free(po);
}

void owner_open_settled(struct owner *o, const struct session_params *sp, fuse_req_t req,
			struct fuse_file_info *fi)
{
	struct oparked *po = malloc(sizeof(*po));
	struct session_params p = *sp;
	char err[600];
	int e = -ENOMEM;

	if (po) {
		po->o = o;
		po->req = req;
		po->fi = *fi;
		p.on_settled = owner_on_settled;
		p.settled_ud = po;
		/* po's own: the settle may come, and drop it, before
		 * owner_start returns, while the caller's keeps o alive */
		owner_get(o);
		if ((e = owner_start(o, &p, err, sizeof(err))))
			owner_put(o);	/* no settle will come */
	}
	if (e) {
		free(po);
		fuse_reply_err(req, -e);
	}
	owner_put(o);		/* the caller's */
}

void owners_shutdown(void)
{
	struct owner **all = NULL, *o;
	size_t n = 0, i = 0;

	mux_shutdown();		/* every session ends: no callback after this */
	handles_close_all();	/* every file's reference goes */
	pthread_mutex_lock(&owners_lock);
	for (o = owners; o; o = o->next)
		n++;
	if (n && (all = calloc(n, sizeof(*all))))
		for (o = owners; o; o = o->next) {
			o->refs++;
			all[i++] = o;
		}
	pthread_mutex_unlock(&owners_lock);
	for (i = 0; all && i < n; i++) {
		if (all[i]->ops->teardown)
			all[i]->ops->teardown(all[i]);
		owner_put(all[i]);
	}
	free(all);
	pthread_mutex_lock(&owners_lock);
	for (o = owners; o; o = o->next)
		pwarn("unmount: %s still held (%d references)", o->label, o->refs);
	pthread_mutex_unlock(&owners_lock);
}
