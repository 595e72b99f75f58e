/* The open-file handle table: a hash of ids under one mutex.  Operations
 * are short (a lookup and a reference), so one lock serves every worker.
 * No handle operation runs under it. */
#include "fs/handles.h"

#include <errno.h>
#include <pthread.h>
#include <stddef.h>

#define SLOTS 1024

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct handle *tab[SLOTS];	/* (lock) */
static uint64_t next_id = 1;		/* (lock) never reused */

uint64_t handle_add(struct handle *h, const struct handle_ops *ops)
{
	pthread_mutex_lock(&lock);
	h->fh = next_id++;
	h->refs = 1;
	h->ops = ops;
	h->next = tab[h->fh % SLOTS];
	tab[h->fh % SLOTS] = h;
	pthread_mutex_unlock(&lock);
	return h->fh;
}

struct handle *handle_get(uint64_t fh)
{
	struct handle *h;

	pthread_mutex_lock(&lock);
	for (h = tab[fh % SLOTS]; h; h = h->next)
		if (h->fh == fh)
			break;
	if (h)
		h->refs++;
	pthread_mutex_unlock(&lock);
	return h;
}

struct handle *handle_get_as(uint64_t fh, const struct handle_ops *ops)
{
	struct handle *h = handle_get(fh);

	if (h && h->ops != ops) {
		handle_put(h);
		return NULL;
	}
	return h;
}

void handle_put(struct handle *h)
{
	int last;

	pthread_mutex_lock(&lock);
	last = --h->refs == 0;
	pthread_mutex_unlock(&lock);
	if (last)
		h->ops->destroy(h);
}

/* Unlink fh from the table; the caller inherits the table's reference. */
static struct handle *take(uint64_t fh)
{
	struct handle **pp, *h = NULL;

	pthread_mutex_lock(&lock);
	for (pp = &tab[fh % SLOTS]; *pp; pp = &(*pp)->next) {
		if ((*pp)->fh == fh) {
			h = *pp;
			*pp = h->next;
			break;
		}
	}
	pthread_mutex_unlock(&lock);
	return h;
}

static void close_taken(struct handle *h)
{
	if (h->ops->release)
		h->ops->release(h);
	handle_put(h);
}

int handle_close(uint64_t fh)
{
	struct handle *h = take(fh);

	if (!h)
		return -1;
	close_taken(h);
	return 0;
}

void handle_reply_open(fuse_req_t req, struct handle *h, const struct handle_ops *ops,
		       struct fuse_file_info *fi)
{
	fi->fh = handle_add(h, ops);
	fi->direct_io = 1;
	fi->keep_cache = 0;
	if (fuse_reply_open(req, fi))
		handle_close(fi->fh);	/* the opener was interrupted */
}

void handle_reply_slice(fuse_req_t req, const char *data, size_t len, off_t off, size_t size)
{
	size_t n = 0;

	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if ((size_t)off < len)
		n = len - (size_t)off < size ? len - (size_t)off : size;
	fuse_reply_buf(req, n ? data + off : NULL, n);
}

void handles_close_all(void)
{
	for (size_t i = 0; i < SLOTS; i++) {
		struct handle *h;

		pthread_mutex_lock(&lock);
		h = tab[i];
		tab[i] = NULL;
		pthread_mutex_unlock(&lock);
		while (h) {
			struct handle *next = h->next;

			close_taken(h);
			h = next;
		}
	}
}
