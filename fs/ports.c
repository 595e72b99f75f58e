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
 * dial.  So the open is answered later (owner_open_settled, fs/owner.h):
 * the session tells, on its multiplexer thread, how the start went:
 * ECONNREFUSED when that text comes within a short window (settle_ms),
 * success when the pod sends data or the window passes.  No FUSE worker
 * waits meanwhile.  A refusal that comes later arrives as the errno of the
 * next read or write.
 *
 * Each connection is an owner without a registry: the parked open (then
 * the open file) and the running session hold it.  close() hangs the
 * session up, which is the only way to end a port-forward connection. */
#include "fs/ports.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "fs/fs.h"
#include "fs/owner.h"
#include "fs/path.h"
#include "stream/log.h"
#include "stream/session.h"

static long settle_ms = 150;

void ports_set_settle_ms(long ms)
{
	settle_ms = ms < 0 ? 0 : ms;
}

/* Multiplexer thread: the connection ended (pod closed, error, drop). */
static void port_ended(struct owner *o, struct session *s)
{
	char why[512];
	enum sess_state st = session_state(s, NULL, why, sizeof(why));

	pdebug("%s: %s", o->label, why);
	if ((st == SESS_FAILED || st == SESS_LOST) && strcmp(why, "hung up")) {
		int err = 0;	/* our own close is no failure */

		/* the input ends first, with a refusal's errno */
		if (st == SESS_LOST || !chanbuf_finished(session_input(s), &err) || !err)
			err = EIO;
		podfs_note(podfs, -err, why);
	}
}

/* No registry: the open (then its file) and the session hold it. */
static const struct owner_ops port_ops = { .ended = port_ended };

void ports_open(fuse_req_t req, const struct pfs_path *p, struct fuse_file_info *fi)
{
	struct session_params sp;
	struct owner *o;
	char label[OWNER_LABEL_MAX];

	snprintf(label, sizeof(label), "port %s/%s:%d", p->ns, p->pod, p->port);
	if (!(o = owner_new(&port_ops, label))) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	owner_params(&sp, SESS_PORT, p);
	sp.container = NULL;
	sp.port = p->port;
	sp.settle_ms = settle_ms;
	owner_open_settled(o, &sp, req, fi);
}
