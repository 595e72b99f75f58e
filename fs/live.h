/* The live tree: the watcher that keeps the listing cache current
 * (stream/watch.h, stream/cache.h) and what the kernel is told when the
 * cluster changes, so its long-lived caches of names and attributes
 * never show a stale tree (docs/tree.md, "The live tree"). */
#ifndef PODFS_LIVE_H
#define PODFS_LIVE_H

struct podfs;

/* After the fork, before requests are served; nothing when -o
 * watch_idle=0 (or the watcher cannot start: listings then expire after
 * -o cache, as before). */
void live_start(struct podfs *fs);
/* Before the worker and the FUSE session end: every watch stops, and no
 * notification is sent after this returns. */
void live_stop(struct podfs *fs);

/* The kernel's entry and attribute timeouts for nodes of namespace ns
 * (NULL: the root's children): long while a watch keeps that listing
 * current, else the -o cache value (or the -o entry_timeout= /
 * attr_timeout= the user gave). */
double live_entry_timeout(const char *ns);
double live_attr_timeout(const char *ns);

#endif
