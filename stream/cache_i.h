/* The listing cache's insides, shared by cache.c (lists, slots, the
 * fetch path) and cache_watch.c (the watches that keep slots current).
 * Nothing else includes this. */
#ifndef PODFS_CACHE_I_H
#define PODFS_CACHE_I_H

#include <cjson/cJSON.h>
#include <pthread.h>

#include "stream/cache.h"
#include "stream/watch.h"

#define CACHE_SLOTS	256
#define RV_MAX		64	/* a resourceVersion, bounded */

struct slot {
	int used;
	char key[80];		/* "" = namespaces, else a namespace name */
	void *data;		/* struct name_list * or struct pod_list * */
	long long fetched;	/* mono_ms of the data */
	long long last_use;
	int fetching;
	unsigned gen;		/* bumped when a fetch finishes */
	int err;		/* result of the last finished fetch */
	long long err_at;	/* mono_ms of that failure */
	char msg[512];
	struct nswatch *nw;	/* the watch keeping data current, or NULL */
	enum watch_state wst;	/* its state */
	int pins;		/* cache_pin: never idle, never recycled */
};

struct cache {
	struct rest *rest;
	long ttl_ms, timeout_ms;
	char *fallback_ns;
	/* Guards slots; never held across a REST call or the observer (a
	 * fetch drops it and waiters sleep on `done`), so it is a leaf. */
	pthread_mutex_t lock;
	pthread_cond_t done;
	struct slot slots[CACHE_SLOTS];	/* (lock) */
	void (*observer)(void *ud, int err, const char *msg);
	void *observer_ud;
	void (*measurer)(const cJSON *pod, struct pod_info *pi);
	void (*listener)(void *ud, const char *ns, const struct cache_change *ch);
	void *listener_ud;
	struct watcher *watcher;	/* NULL: lists expire after ttl_ms */
	long idle_ms;
};

struct ns_ent {
	char *name;
	time_t created;
};

struct collector {
	int pods;		/* 1: pod_info items, 0: namespaces */
	size_t n, cap;
	struct pod_info **pi;
	struct ns_ent *ns;
	void (*measurer)(const cJSON *pod, struct pod_info *pi);
	char rv[RV_MAX];	/* the list's resourceVersion (its first page's) */
};

/* cache.c */
struct pod_info *cache_pod_get(struct pod_info *p);
void cache_pod_put(struct pod_info *p);
/* Where name is, or would be inserted, in the sorted pods[0..n). */
size_t cache_pod_index(struct pod_info *const *pods, size_t n, const char *name, int *found);
/* A pod item as the cache holds it (measured), or NULL to skip it. */
struct pod_info *cache_pod_new(const cJSON *item,
			       void (*measurer)(const cJSON *, struct pod_info *));
time_t cache_json_time(const cJSON *o, const char *field);
void cache_collector_reset(struct collector *col);
/* The collected namespaces as a published list (sorted); col is emptied. */
struct name_list *cache_names_from(struct collector *col, int fallback);
/* The listing of key ("" = namespaces) and its resourceVersion (rv,
 * RV_MAX bytes; "" when it cannot be watched).  No lock held. */
int cache_fetch(struct cache *c, const char *key, void **out, char *rv,
		char *msg, size_t msglen);
/* Lock held: drop the slot's data. */
void cache_slot_drop(struct slot *s);

/* cache_watch.c; lock held */
void cache_slot_watch(struct cache *c, struct slot *s, const char *rv);
void cache_slot_unwatch(struct slot *s);

#endif
