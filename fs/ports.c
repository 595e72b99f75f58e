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
 * Lifetime: the connection's owner (fs/owner.h) is shared by the open file
 * and the session's end callback (which the multiplexer runs, possibly
 * after the file closed); whichever lets go last frees it.  close() hangs
 * the session up, which is the only way to end a port-forward connection. */
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
#include "fs/owner.h"
#include "stream/log.h"
#include "stream/session.h"

#define SETTLE_STEP_US 2000

static long settle_ms = 150;

void ports_set_settle_ms(long ms)
{
	settle_ms = ms < 0 ? 0 : ms;
}

/* A port connection is an owner (fs/owner.h) with no registry: the open
 * file and the running session hold it. */
/* Multiplexer thread: the connection ended (pod closed, error, drop). */
static void port_ended(struct owner *o, struct session *s)
{
	char why[512];
	enum sess_state st = session_state(s, NULL, why, sizeof(why));

	if (st == SESS_FAILED || st == SESS_LOST) {
		int err = 0;

		if (!chanbuf_finished(session_output(s, 0), &err) || !err)
			err = EIO;
		pdebug("port %s: %s", o->label, why);
		if (strcmp(why, "hung up"))	/* our own close is no failure */
			podfs_note(podfs, -err, why);
	} else {
		pdebug("port %s: %s", o->label, why);
	}
}

static const struct owner_ops port_ops = { .ended = port_ended };

static void port_closed(struct owner *o, void *ud)
{
	(void)ud;
	owner_hangup(o);
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

void ports_open(fuse_req_t req, fuse_ino_t ino, const struct pfs_path *p,
		struct fuse_file_info *fi)
{
	struct session_params sp;
	struct owner *pc;
	char err[512] = "", label[OWNER_LABEL_MAX];
	int e = 0, acc = fi->flags & O_ACCMODE;
	struct chanbuf *rd, *wb;

	(void)ino;
	snprintf(label, sizeof(label), "%s/%s:%d", p->ns, p->pod, p->port);
	if (!(pc = owner_new(&port_ops, label))) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	owner_params(&sp, SESS_PORT, p);
	sp.port = p->port;
	if ((e = owner_start(pc, &sp, err, sizeof(err)))) {
		owner_put(pc);
		fuse_reply_err(req, -e);
		return;
	}
	settle(pc->sess);
	if (session_state(pc->sess, NULL, NULL, 0) == SESS_FAILED) {
		/* The server refused the port right away: say so at open. */
		int ferr = EIO;

		if (chanbuf_finished(session_output(pc->sess, 0), &ferr) && !ferr)
			ferr = EIO;
		owner_put(pc);
		fuse_reply_err(req, ferr);
		return;
	}
	rd = acc == O_WRONLY ? NULL : session_output(pc->sess, 0);
	wb = acc == O_RDONLY ? NULL : session_input(pc->sess);
	if ((e = owner_open(pc, req, fi, rd, wb, port_closed, NULL)) < 0) {
		owner_hangup(pc);
		fuse_reply_err(req, -e);
	}
	owner_put(pc);		/* the creator's: the file and the session hold it */
}
