/* Watches of API collections (the namespace list, the pods of a
 * namespace), kept open from a list's resourceVersion so the listing cache
 * follows the cluster instead of listing again.  Every watch is an HTTP
 * body on one event loop (curlloop.c), parsed as newline-delimited JSON
 * events with bounded memory; no thread per watch.  Knows nothing of the
 * cache: it hands parsed events to its owner's callbacks. */
#ifndef PODFS_WATCH_H
#define PODFS_WATCH_H

#include <stddef.h>

struct rest;
struct cJSON;
struct watcher;
struct watch;

enum watch_state {
	WATCH_STARTING,		/* connecting; the owner's list is fresh */
	WATCH_LIVE,		/* the body is open: the owner's data is current */
	WATCH_STALE,		/* lost, reconnecting (for less than -o timeout) */
	WATCH_LOST,		/* reconnecting for longer than -o timeout */
};

const char *watch_state_name(enum watch_state st);

enum watch_type { WATCH_ADDED, WATCH_MODIFIED, WATCH_DELETED };

struct watch_event {
	enum watch_type type;
	const struct cJSON *object;	/* valid during the callback only */
};

/* The owner's side.  Loop-thread callbacks run with no watcher lock held;
 * relist runs on the worker thread (it may block). */
struct watch_ops {
	/* the events of one read of the body, in order */
	void (*events)(void *ud, const struct watch_event *ev, size_t n);
	/* The history is gone (410 Gone, or the stream could not be
	 * followed): list again, publish the list and what changed, put
	 * the list's resourceVersion in rv.  0 or -errno (then the watch
	 * retries later). */
	int (*relist)(void *ud, char *rv, size_t rvlen);
	/* on the loop after a relist succeeded: announce what it changed */
	void (*relisted)(void *ud);
	void (*state)(void *ud, enum watch_state st);
	/* about once a second: the owner may call watch_stop from here */
	void (*tick)(void *ud);
	/* after watch_stop (or watcher_free): the last call with ud */
	void (*ended)(void *ud);
};

/* One loop thread for every watch.  timeout_ms: how long reconnecting
 * may fail before the state is WATCH_LOST. */
struct watcher *watcher_new(struct rest *r, long timeout_ms);
/* Stop every watch (each gets `ended`), wait for their worker jobs, join
 * the thread.  Before worker_shutdown. */
void watcher_free(struct watcher *w);

/* Any thread: watch the collection at path (…/pods or /api/v1/namespaces)
 * from resourceVersion rv.  NULL on failure (nothing will be called). */
struct watch *watch_start(struct watcher *w, const char *path, const char *rv,
			  const struct watch_ops *ops, void *ud);
/* Any thread, once per watch: end it; `ended` follows on the loop. */
void watch_stop(struct watch *wt);

#endif
