/* The open-file handle table: a hash of ids under one mutex.  Operations
 * are short (a lookup and a reference), so one lock serves every worker. */
#include "fs/handles.h"

#include <pthread.h>
#include <stddef.h>

#define SLOTS 1024

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct handle *tab[SLOTS];
static uint64_t next_id = 1;

uint64_t handle_add(struct handle *h, enum fh_kind kind, void (*destroy)(struct handle *h))
{
	pthread_mutex_lock(&lock);
	h->fh = next_id++ << 2 | (uint64_t)kind;
	h->refs = 1;
	h->destroy = destroy;
	h->next = tab[(h->fh >> 2) % SLOTS];
	tab[(h->fh >> 2) % SLOTS] = h;
	pthread_mutex_unlock(&lock);
	return h->fh;
}

struct handle *handle_get(uint64_t fh)
{
	struct handle *h;

	pthread_mutex_lock(&lock);
	for (h = tab[(fh >> 2) % SLOTS]; h; h = h->next)
		if (h->fh == fh)
			break;
	if (h)
		h->refs++;
	pthread_mutex_unlock(&lock);
	return h;
}

void handle_put(struct handle *h)
{
	int last;

	pthread_mutex_lock(&lock);
	last = --h->refs == 0;
	pthread_mutex_unlock(&lock);
	if (last)
		h->destroy(h);
}

int handle_remove(uint64_t fh)
{
	struct handle **pp, *h = NULL;

	pthread_mutex_lock(&lock);
	for (pp = &tab[(fh >> 2) % SLOTS]; *pp; pp = &(*pp)->next) {
		if ((*pp)->fh == fh) {
			h = *pp;
			*pp = h->next;
			break;
		}
	}
	pthread_mutex_unlock(&lock);
	if (!h)
		return -1;
	handle_put(h);
	return 0;
}

void handles_destroy_all(void)
{
	for (size_t i = 0; i < SLOTS; i++) {
		struct handle *h;

		pthread_mutex_lock(&lock);
		h = tab[i];
		tab[i] = NULL;
		pthread_mutex_unlock(&lock);
		while (h) {
			struct handle *next = h->next;

			handle_put(h);
			h = next;
		}
	}
}
