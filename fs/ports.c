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
 * dial.  So an open waits a short, bounded time (settle_ms) for that text
 * and fails with ECONNREFUSED when it comes; past that window the same
 * errno arrives at the next read or write.  The wait ends early as soon as
 * the pod sends data or the connection ends.
 *
 * Lifetime: a `struct pconn` is shared by the open file and the session's
 * end callback (which the multiplexer runs, possibly after the file
 * closed); whichever lets go last frees it.  close() hangs the session up,
 * which is the only way to end a port-forward connection. */
#include "fs/ports.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs/fs.h"
#include "fs/path.h"
#include "fs/parked.h"
#include "stream/log.h"
#include "stream/session.h"

#define SETTLE_STEP_US 2000

static long settle_ms = 150;

void ports_set_settle_ms(long ms)
{
	settle_ms = ms < 0 ? 0 : ms;
}

struct pconn {
	pthread_mutex_t lock;
	int refs;		/* the open file, the session's end callback */
	struct session *s;
	struct wset *ws;	/* writer handles of the session's input */
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
	if (pc->s) {
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

		if (!chanbuf_finished(session_output(s, 0), &err) || !err)
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

	session_hangup(pc->s);
	pconn_put(pc);
}

/* Wait (bounded) for the first sign of life or death from the server. */
static void settle(struct session *s)
{
	struct chanbuf *out = session_output(s, 0);
	long waited_us = 0;

	while (waited_us < settle_ms * 1000) {
		if (session_state(s, NULL, NULL, 0) != SESS_RUNNING)
			return;
		if (out && chanbuf_used(out) > 0)
			return;
		usleep(SETTLE_STEP_US);
		waited_us += SETTLE_STEP_US;
	}
}

void ports_open(fuse_req_t req, const struct pfs_path *p, struct fuse_file_info *fi)
{
	struct session_params sp;
	struct pconn *pc;
	char err[512] = "";
	int e = 0, acc = fi->flags & O_ACCMODE;
	struct chanbuf *rd, *wb;

	pc = calloc(1, sizeof(*pc));
	if (!pc || !(pc->ws = wset_new())) {
		free(pc);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	pthread_mutex_init(&pc->lock, NULL);
	snprintf(pc->label, sizeof(pc->label), "%s/%s:%d", p->ns, p->pod, p->port);
	memset(&sp, 0, sizeof(sp));
	sp.kind = SESS_PORT;
	sp.ns = p->ns;
	sp.pod = p->pod;
	sp.port = p->port;
	sp.buffer = podfs->buffer_size;
	pc->refs = 2;		/* the file and the session's end callback */
	pc->s = session_start(podfs->rest, &sp, pconn_on_end, pc, &e, err, sizeof(err));
	if (!pc->s) {
		pdebug("port %s: %s", pc->label, err);
		podfs_note(podfs, e, err);
		pc->refs = 1;	/* no end callback for a session that never started */
		pconn_put(pc);
		fuse_reply_err(req, -e);
		return;
	}
	podfs_note(podfs, 0, NULL);
	if (session_input(pc->s))
		chanbuf_set_writer(session_input(pc->s), wset_notify, pc->ws);

	settle(pc->s);
	if (session_state(pc->s, NULL, NULL, 0) == SESS_FAILED) {
		/* The server refused the port right away: say so at open. */
		int ferr = EIO;

		if (chanbuf_finished(session_output(pc->s, 0), &ferr) && !ferr)
			ferr = EIO;
		pconn_put(pc);
		fuse_reply_err(req, ferr);
		return;
	}
	rd = acc == O_WRONLY ? NULL : session_output(pc->s, 0);
	wb = acc == O_RDONLY ? NULL : session_input(pc->s);
	e = parked_open(req, fi, &(struct parked_file){ .rd = rd, .wb = wb,
							 .ws = wb ? pc->ws : NULL,
							 .on_release = pconn_release, .ud = pc });
	if (e < 0) {
		session_hangup(pc->s);
		pconn_put(pc);
		fuse_reply_err(req, -e);
	}
}
