/* Ports/<port>: every open() is one new TCP connection into the pod.
 *
 * Kubernetes' v4 port-forward carries exactly one TCP connection per
 * WebSocket (protocol.md §3), so each open starts its own SESS_PORT
 * session; the sessions of one pod share that pod's multiplexer thread.
 * The file handle itself is a generic stream handle (parked.c): reads of
 * the session's channel-0 buffer, writes into its input buffer, parked
 * requests, interrupts and poll all come from there.
 *
 * A refused port: the server upgrades first and reports the failed dial
 * afterwards as text on the error channel; nothing signals a successful
 * dial.  So the open is answered later: the FUSE request is parked in the
 * pconn and the session tells, on its multiplexer thread, how the start
 * went (session_params.on_settled): ECONNREFUSED when that text comes
 * within a short window (settle_ms), success when the pod sends data or
 * the window passes.  No FUSE worker waits meanwhile.  A refusal that
 * comes later arrives as the errno of the next read or write.
 *
 * Lifetime: a `struct pconn` is shared by the open (then the open file)
 * and the session's end callback (which the multiplexer runs, possibly
 * after the file closed); whichever lets go last frees it.  close() hangs
 * the session up, which is the only way to end a port-forward
 * connection. */
#include "fs/ports.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs/fs.h"
#include "fs/path.h"
#include "fs/parked.h"
#include "stream/log.h"
#include "stream/session.h"

static long settle_ms = 150;

void ports_set_settle_ms(long ms)
{
	settle_ms = ms < 0 ? 0 : ms;
}

struct pconn {
	pthread_mutex_t lock;	/* guards the fields marked (L) */
	int refs;		/* (L) the open (then the file), the end callback */
	struct session *s;	/* (L) set when the open is answered */
	struct wset *ws;	/* writer handles of the session's input */
	fuse_req_t open_req;	/* the parked open, answered once settled */
	struct fuse_file_info fi;	/* its copy: the kernel's is gone by then */
	char label[PFS_LABEL_MAX + PFS_SUBDOMAIN_MAX + 16];
};

static void pconn_put(struct pconn *pc)
{
	int last;

	pthread_mutex_lock(&pc->lock);
	last = --pc->refs == 0;
	pthread_mutex_unlock(&pc->lock);
	if (!last)
		return;
	if (pc->s) {	/* the last one: nobody else can touch it now */
		/* waits for a writer callback in flight, so ws is unused after */
		if (session_input(pc->s))
			chanbuf_set_writer(session_input(pc->s), NULL, NULL);
		session_put(pc->s);
	}
	wset_free(pc->ws);
	pthread_mutex_destroy(&pc->lock);
	free(pc);
}

/* Multiplexer thread: the connection ended (pod closed, error, drop). */
static void pconn_on_end(void *ud, struct session *s)
{
	struct pconn *pc = ud;
	char why[512];
	enum sess_state st = session_state(s, NULL, why, sizeof(why));

	if (st == SESS_FAILED || st == SESS_LOST) {
		int err = 0;

		/* the input ends first, with a refusal's errno */
		if (st == SESS_LOST || !chanbuf_finished(session_input(s), &err) || !err)
			err = EIO;
		pdebug("port %s: %s", pc->label, why);
		if (strcmp(why, "hung up"))	/* our own close is no failure */
			podfs_note(podfs, -err, why);
	} else {
		pdebug("port %s: %s", pc->label, why);
	}
	wset_notify(pc->ws);	/* parked writers fail now */
	pconn_put(pc);
}

static void pconn_release(void *ud)
{
	struct pconn *pc = ud;
	struct session *s;

	pthread_mutex_lock(&pc->lock);
	s = pc->s;
	pthread_mutex_unlock(&pc->lock);
	session_hangup(s);
	pconn_put(pc);
}

/* Multiplexer thread: the session knows how the dial went; answer the
 * parked open. */
static void pconn_settled(void *ud, struct session *s, int err)
{
	struct pconn *pc = ud;
	int acc = pc->fi.flags & O_ACCMODE, e;
	fuse_req_t req = pc->open_req;
	struct chanbuf *rd, *wb;

	if (err) {	/* say why before the open returns: its caller may look */
		char why[512];

		session_state(s, NULL, why, sizeof(why));
		podfs_note(podfs, -err, why);
		pconn_put(pc);
		fuse_reply_err(req, err);
		return;
	}
	session_get(s);
	pthread_mutex_lock(&pc->lock);
	pc->s = s;
	pthread_mutex_unlock(&pc->lock);
	if (session_input(s))
		chanbuf_set_writer(session_input(s), wset_notify, pc->ws);
	rd = acc == O_WRONLY ? NULL : session_output(s, 0);
	wb = acc == O_RDONLY ? NULL : session_input(s);
	e = parked_open(req, &pc->fi, &(struct parked_file){ .rd = rd, .wb = wb,
				.ws = wb ? pc->ws : NULL, .on_release = pconn_release, .ud = pc });
	if (e < 0) {
		pconn_release(pc);
		fuse_reply_err(req, -e);
	}
}

void ports_open(fuse_req_t req, const struct pfs_path *p, struct fuse_file_info *fi)
{
	struct session *s;
	struct pconn *pc;
	char err[512] = "";
	int e = 0;

	pc = calloc(1, sizeof(*pc));
	if (!pc || !(pc->ws = wset_new())) {
		free(pc);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	pthread_mutex_init(&pc->lock, NULL);
	snprintf(pc->label, sizeof(pc->label), "%s/%s:%d", p->ns, p->pod, p->port);
	pc->open_req = req;
	pc->fi = *fi;
	pc->refs = 2;		/* the open and the session's end callback */
	s = session_start(podfs->rest, &(struct session_params){
				  .kind = SESS_PORT, .ns = p->ns, .pod = p->pod, .port = p->port,
				  .buffer = podfs->buffer_size, .on_settled = pconn_settled,
				  .settled_ud = pc, .settle_ms = settle_ms },
			  pconn_on_end, pc, &e, err, sizeof(err));
	if (!s) {
		pdebug("port %s: %s", pc->label, err);
		podfs_note(podfs, e, err);
		pc->refs = 1;	/* no callbacks for a session that never started */
		pconn_put(pc);
		fuse_reply_err(req, -e);
		return;
	}
	podfs_note(podfs, 0, NULL);
	session_put(s);		/* pconn_settled takes its own, and replies */
}
