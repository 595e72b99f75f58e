/* <ns>/.events: a stream file with one line per change of the
 * namespace's pods, from the open on (docs/tree.md, "The live tree"). */
#ifndef PODFS_EVENTS_H
#define PODFS_EVENTS_H

#include <fuse_lowlevel.h>

#include "fs/path.h"

struct cache_change;

/* The open (the node table's NO_EVENTS opener); replies to req. */
void events_open(fuse_req_t req, fuse_ino_t ino, const struct pfs_path *p,
		 struct fuse_file_info *fi);
/* A change of ns's pods (the cache's listener, no lock held): a line to
 * every open .events of ns. */
void events_post(const char *ns, const struct cache_change *ch);

#endif
