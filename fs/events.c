/* <ns>/.events (see events.h).  Every open gets its own buffer (a
 * parked stream file, fs/parked.c) and the namespace stays watched while
 * it is open (cache_pin).  A change becomes one line written whole into
 * each buffer of its namespace; a reader more than EVENTS_BUF behind
 * misses lines rather than making podfs hold more (counted, and said in
 * the debug log).  Lines carry names the API validated and podfs checked
 * (cache.c) and a phase cut to one clean word, so a line is always one
 * line.
 *
 * ev_lock guards the readers' list; it is taken before a buffer's lock
 * (chanbuf_write wakes the reader, whose callback takes the stream
 * handle's lock), and the release callback takes it with no lock held
 * (docs/locking.md). */
#include "fs/events.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs/fs.h"
#include "fs/parked.h"
#include "stream/cache.h"
#include "stream/chanbuf.h"
#include "stream/log.h"

#define EVENTS_BUF	(64 * 1024)

struct evreader {
	struct chanbuf *b;	/* fixed */
	char ns[PFS_LABEL_MAX + 1];	/* fixed */
	long dropped;		/* (ev_lock) lines it was too slow for */
	struct evreader *next;	/* (ev_lock) */
};

static pthread_mutex_t ev_lock = PTHREAD_MUTEX_INITIALIZER;
static struct evreader *readers;	/* (ev_lock) */

static void unlink_reader(struct evreader *r)
{
	struct evreader **pp;

	pthread_mutex_lock(&ev_lock);
	for (pp = &readers; *pp; pp = &(*pp)->next)
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	pthread_mutex_unlock(&ev_lock);
}

static void reader_free(struct evreader *r)
{
	cache_pin(podfs->cache, r->ns, -1);
	chanbuf_put(r->b);
	free(r);
}

static void on_release(void *ud)
{
	struct evreader *r = ud;

	unlink_reader(r);
	if (r->dropped)
		pdebug("%s/.events: a reader missed %ld lines", r->ns, r->dropped);
	reader_free(r);
}

void events_open(fuse_req_t req, fuse_ino_t ino, const struct pfs_path *p,
		 struct fuse_file_info *fi)
{
	struct pod_list *pl = NULL;
	struct evreader *r;
	char msg[512];
	int rc;

	(void)ino;
	if ((fi->flags & O_ACCMODE) != O_RDONLY) {
		fuse_reply_err(req, EACCES);
		return;
	}
	if (!podfs->watcher) {	/* -o watch_idle=0: nothing would ever come */
		fuse_reply_err(req, EOPNOTSUPP);
		return;
	}
	/* The listing starts the namespace's watch; the pin keeps it. */
	if ((rc = cache_pods(podfs->cache, p->ns, &pl, msg, sizeof(msg)))) {
		fuse_reply_err(req, -rc);
		return;
	}
	pod_list_put(pl);
	if (!(r = calloc(1, sizeof(*r))) || !(r->b = chanbuf_new(EVENTS_BUF, 0))) {
		free(r);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	snprintf(r->ns, sizeof(r->ns), "%s", p->ns);
	cache_pin(podfs->cache, r->ns, 1);
	pthread_mutex_lock(&ev_lock);
	r->next = readers;
	readers = r;
	pthread_mutex_unlock(&ev_lock);
	if ((rc = parked_open(req, fi, &(struct parked_file){ .rd = r->b, .on_release = on_release,
							       .ud = r })) < 0) {
		unlink_reader(r);
		reader_free(r);
		fuse_reply_err(req, -rc);
	}
}

void events_post(const char *ns, const struct cache_change *ch)
{
	char line[PFS_LABEL_MAX + PFS_SUBDOMAIN_MAX + 64];
	int n;

	if (!ns)
		return;		/* the namespace list has no .events */
	if (ch->type == CACHE_ADDED)
		n = snprintf(line, sizeof(line), "ADDED %s/%s\n", ns, ch->name);
	else if (ch->type == CACHE_DELETED)
		n = snprintf(line, sizeof(line), "DELETED %s/%s\n", ns, ch->name);
	else
		n = snprintf(line, sizeof(line), "MODIFIED %s/%s phase=%s\n", ns, ch->name,
			     ch->pod && ch->pod->phase[0] ? ch->pod->phase : "Unknown");
	if (n < 0 || (size_t)n >= sizeof(line))
		return;
	pthread_mutex_lock(&ev_lock);
	for (struct evreader *r = readers; r; r = r->next) {
		if (strcmp(r->ns, ns))
			continue;
		if (chanbuf_space(r->b) >= (size_t)n)
			chanbuf_write(r->b, line, (size_t)n);
		else
			r->dropped++;
	}
	pthread_mutex_unlock(&ev_lock);
}
