/* The listing cache: namespaces and the pods of each namespace, fetched
 * with paginated list calls and kept for -o cache seconds, so that lookup,
 * getattr and readdir of thousands of pods cost a few list requests and
 * never one request per pod.  Thread-safe; concurrent misses on one key
 * share a single fetch (no stampede).  Knows nothing of FUSE. */
#ifndef PODFS_CACHE_H
#define PODFS_CACHE_H

#include <stddef.h>
#include <time.h>

struct rest;
struct cache;

struct pod_container {
	char *name;
	time_t started;		/* its status's startedAt (running or
				 * terminated), 0 if unknown */
	size_t state_size;	/* bytes of its `state` file (the measurer) */
};

/* Immutable once published and shared by the lists that hold it. */
struct pod_info {
	int refs;
	char *name;
	char *rv;		/* metadata.resourceVersion ("" if none) */
	char phase[16];		/* status.phase ("" if none) */
	struct pod_container *containers;	/* containers, initContainers,
						 * ephemeralContainers */
	size_t ncontainers;
	int *ports;		/* declared containerPorts, sorted, unique */
	size_t nports;
	time_t created;		/* metadata.creationTimestamp, 0 if unknown */
	/* Bytes of Pod.json and Status rendered from this object, filled by
	 * the measurer (cache_set_measurer); 0 without one. */
	size_t json_size, status_size;
};

/* Immutable once published; readers hold a reference. */
struct pod_list {
	int refs;
	size_t n;
	struct pod_info **pods;	/* sorted by name, each a reference */
};

struct name_list {
	int refs;
	size_t n;
	char **names;		/* sorted */
	time_t *created;	/* per name: creationTimestamp, 0 if unknown */
	int fallback;		/* 1: listing namespaces was forbidden; this is
				 * just the context's namespace */
};

/* ttl_ms 0 = no caching (concurrent callers still share a fetch).
 * timeout_ms bounds every call including the whole pagination loop.
 * fallback_ns is shown when listing namespaces is forbidden. */
struct cache *cache_new(struct rest *r, long ttl_ms, long timeout_ms,
			const char *fallback_ns);
void cache_free(struct cache *c);

/* Told about every API outcome: err 0 on success, else -errno with the
 * server's message (never a credential). */
void cache_set_observer(struct cache *c,
			void (*fn)(void *ud, int err, const char *msg),
			void *ud);

/* fn(ud, pod, pi) is called for every pod item a list returns, after pi
 * was parsed from it: it fills the sizes the tree reports before an open
 * (json_size, status_size, each container's state_size), so they come
 * from the very object the list returned.  Set before the first list. */
struct cJSON;
void cache_set_measurer(struct cache *c,
			void (*fn)(const struct cJSON *pod, struct pod_info *pi));

/* A change the cache applied from a watch (or found by a relist), told
 * to the listener with no cache lock held: ns NULL for the namespace
 * list; pod is the new state (NULL for namespaces and for DELETED). */
enum cache_change_type { CACHE_ADDED, CACHE_MODIFIED, CACHE_DELETED };
struct cache_change {
	enum cache_change_type type;
	const char *name;
	const struct pod_info *pod;
};
void cache_set_listener(struct cache *c,
			void (*fn)(void *ud, const char *ns, const struct cache_change *ch),
			void *ud);

/* Keep every listing a user looks at current with a watch (watch.h)
 * instead of listing again after -o cache; a listing nobody used for
 * idle_ms drops its watch and its memory.  Set before the first list. */
struct watcher;
void cache_enable_watches(struct cache *c, struct watcher *w, long idle_ms);
/* Is ns's pod list (NULL: the namespace list) kept current by a healthy
 * watch now? */
int cache_is_live(struct cache *c, const char *ns);
/* While ns is pinned (delta +1, undone by -1) its watch never idles out
 * (an open .events needs the events). */
void cache_pin(struct cache *c, const char *ns, int delta);
/* "demo live, big stale": every watched listing and its watch state. */
void cache_watch_states(struct cache *c, char *buf, size_t len);

/* 0 with a reference in *out, or -errno with a message in msg. */
int cache_namespaces(struct cache *c, struct name_list **out, char *msg,
		     size_t msglen);
int cache_pods(struct cache *c, const char *ns, struct pod_list **out,
	       char *msg, size_t msglen);
/* Drop cached pods of ns (or everything when ns is NULL). */
void cache_invalidate(struct cache *c, const char *ns);

void pod_list_put(struct pod_list *l);
void name_list_put(struct name_list *l);
const struct pod_info *pod_list_find(const struct pod_list *l, const char *name);
/* The index of name in l, or -1. */
long name_list_find(const struct name_list *l, const char *name);
int name_list_has(const struct name_list *l, const char *name);
const struct pod_container *pod_container_find(const struct pod_info *p,
					       const char *name);
int pod_has_container(const struct pod_info *p, const char *name);
int pod_has_port(const struct pod_info *p, int port);

/* Parse one pod object (as in a list's items) into *out; 0 or -EINVAL.
 * Exposed for tests. */
int pod_info_from_json(const struct cJSON *pod, struct pod_info *out);
void pod_info_clear(struct pod_info *p);
/* Parse one list page the way a listing does (pods: pod items, else
 * namespace names); *count gets the items kept, *cont the continue token
 * (malloc'd, NULL on the last page).  0, -EBADMSG for a body that is not
 * a JSON object, or -errno.  Pure; exposed for fuzzing. */
int cache_parse_page(const char *p, size_t n, int pods, size_t *count,
		     char **cont);

#include "stream/util.h"

#endif
