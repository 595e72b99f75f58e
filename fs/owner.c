/* Stream-session owners (see owner.h): references, the start, the end
 * callback, the files and the teardown at unmount, once for attach, exec,
 * Ports and log.follow.
 *
 * owners_lock guards every owner's refs and the list of live owners.  It
 * is a leaf: nothing else is locked under it and no callback runs under
 * it, so any module may take or drop a reference while holding its own
 * lock. */
#include "fs/owner.h"

#include <errno.h>
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

int owner_start(struct owner *o, const struct session_params *sp, char *err, size_t errlen)
{
	struct session *s;
	int e = 0;

	owner_get(o);		/* the session's, dropped by owner_on_end */
	s = session_start(podfs->rest, sp, owner_on_end, o, &e, err, errlen);
	if (!s) {
		pdebug("%s: %s", o->label, err);
		podfs_note(podfs, e, err);
		owner_put(o);	/* no session, no end callback */
		return e ? e : -EIO;
	}
	podfs_note(podfs, 0, NULL);
	o->sess = s;
	if (session_input(s))
		chanbuf_set_writer(session_input(s), wset_notify, o->ws);
	return 0;
}

void owner_hangup(struct owner *o)
{
	if (o->sess)
		session_hangup(o->sess);
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
