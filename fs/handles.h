/* Open-file handles as ids.  fi->fh never holds a pointer: the kernel may
 * send RELEASE for a file while another worker still runs a READ of it (the
 * reader was killed), so every operation looks its handle up, holds a
 * reference while it runs, and the handle is destroyed by whoever drops
 * the last one.  The low two bits of an id say which module owns it. */
#ifndef PODFS_HANDLES_H
#define PODFS_HANDLES_H

#include <stdint.h>

enum fh_kind { FHK_DIR = 0, FHK_SNAPSHOT = 1, FHK_STREAM = 2, FHK_EXEC = 3 };

struct handle {
	uint64_t fh;			/* the id handed to the kernel */
	int refs;			/* (table lock) */
	void (*destroy)(struct handle *h);
	struct handle *next;
};

static inline enum fh_kind fh_kind(uint64_t fh)
{
	return (enum fh_kind)(fh & 3);
}

/* Enter h into the table with one reference (the table's); returns the id
 * for fi->fh. */
uint64_t handle_add(struct handle *h, enum fh_kind kind, void (*destroy)(struct handle *h));
/* The handle with this id plus a reference, or NULL once removed. */
struct handle *handle_get(uint64_t fh);
void handle_put(struct handle *h);
/* Take the handle out of the table (release) and drop the table's
 * reference; running operations keep theirs.  Returns 0, or -1 when the
 * id was not (or no longer) in the table. */
int handle_remove(uint64_t fh);
/* Unmount: the kernel does not release what was open when the session
 * ended; destroy every handle left (after the stream threads stopped). */
void handles_destroy_all(void);

#endif
