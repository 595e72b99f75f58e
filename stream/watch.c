/* Watches on one event loop (see watch.h).  A watch is
 *   GET <collection>?watch=true&allowWatchBookmarks=true
 *       &timeoutSeconds=T&resourceVersion=RV
 * run by curlloop on the watcher's loop thread.  The body is newline-
 * delimited JSON events; a line is reassembled across reads in a buffer
 * bounded by LINE_MAX, and the complete lines of one read are handed to
 * the owner as one batch.  The resume point moves with every event and
 * BOOKMARK, so a re-watch (the server ends the body after T seconds, or a
 * dropped connection) continues where the last one stopped.  A 410 Gone
 * (as the reply, or as an ERROR event) means the history was compacted:
 * the owner lists again (relist) and the watch resumes from that list.
 *
 * Blocking parts never run on the loop: an easy handle is made on the
 * worker thread (a credential plugin may run) and so is a relist; their
 * completions are posted back.  Failures back off (0.5 s doubling to
 * 8 s); a watch failing for longer than -o timeout is WATCH_LOST.  All
 * fields of a watch are the loop thread's, except where noted. */
#include "stream/watch.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stream/auth.h"
#include "stream/curlloop.h"
#include "stream/log.h"
#include "stream/rest.h"
#include "stream/worker.h"

#define LINE_MAX_BYTES	(16u << 20)	/* one event; a pod is < 1.5 MiB in etcd */
#define WATCH_SECONDS	290		/* the server ends a watch after this */
#define BACKOFF_MIN_MS	500
#define BACKOFF_MAX_MS	8000
#define TICK_MS		250

enum job_kind { JOB_CONNECT, JOB_RELIST };

struct watch {
	struct watcher *w;		/* fixed */
	char *path;			/* fixed: the collection */
	const struct watch_ops *ops;	/* fixed */
	void *ud;			/* fixed */
	char rv[64];			/* the resume point */
	enum watch_state st;
	struct rest_xfer x;
	int added;			/* x is in the multi */
	long code;			/* of the reply, 0 before its head */
	unsigned reauth_gen;		/* a 401 came with this credential */
	int gone;			/* 410: relist before watching again */
	int broken;			/* a line could not be followed */
	char *line;			/* a partial line */
	size_t len, cap;
	char ebody[512];		/* the start of an error reply */
	size_t elen;
	uint64_t fail_since;		/* first failure in a row, 0 while fine */
	uint64_t retry_at;		/* 0: no retry pending */
	unsigned backoff_ms;
	uint64_t next_tick;
	uint64_t started;		/* mono_ms the transfer started */
	int busy;			/* a worker job is in flight */
	int stop_posted;		/* (atomic) the stop job is on its way */
	int stopping;			/* the stop job ran */
	/* the worker job: it writes these, the loop reads them afterwards */
	struct worker_job job;
	enum job_kind kind;
	int jrc;
	char jrv[64], why[256];
	struct rest_xfer next;
	struct loop_job start, stop;	/* watch_start's and watch_stop's posts */
	struct watch *link;		/* the watcher's list */
};

struct watcher {
	struct rest *rest;		/* fixed */
	long timeout_ms;		/* fixed */
	struct loop *loop;		/* fixed */
	struct curlloop *cl;		/* (loop) */
	pthread_t thread;
	struct loop_timer tick;		/* (loop) */
	struct loop_job stop_all;
	struct watch *all;		/* (loop) */
	/* watcher_free waits under lock until every watch has ended */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int nwatches;			/* (lock) */
};

const char *watch_state_name(enum watch_state st)
{
	static const char *const n[] = { "starting", "live", "stale", "lost" };

	return st <= WATCH_LOST ? n[st] : "?";
}

static void set_state(struct watch *wt, enum watch_state st)
{
	if (wt->st == st)
		return;
	pdebug("watch %s: %s -> %s", wt->path, watch_state_name(wt->st), watch_state_name(st));
	wt->st = st;
	wt->ops->state(wt->ud, st);
}

/* ---- the body: newline-delimited events ---- */

static int event_type(const char *t, enum watch_type *out)
{
	if (!strcmp(t, "ADDED"))
		*out = WATCH_ADDED;
	else if (!strcmp(t, "MODIFIED"))
		*out = WATCH_MODIFIED;
	else if (!strcmp(t, "DELETED"))
		*out = WATCH_DELETED;
	else
		return -1;
	return 0;
}

static void take_rv(struct watch *wt, const cJSON *obj)
{
	const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	const cJSON *rv = cJSON_GetObjectItemCaseSensitive(meta, "resourceVersion");

	if (cJSON_IsString(rv) && rv->valuestring[0] && strlen(rv->valuestring) < sizeof(wt->rv))
		snprintf(wt->rv, sizeof(wt->rv), "%s", rv->valuestring);
}

/* One line: an event into docs/ev (the caller hands them over), a
 * BOOKMARK moves the resume point, an ERROR ends the body.  0, or -1 to
 * stop reading (gone or broken is set). */
static int one_line(struct watch *wt, const char *p, size_t n, cJSON **docs,
		    struct watch_event *ev, size_t *nev)
{
	cJSON *doc = cJSON_ParseWithLength(p, n);
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(doc, "type");
	const cJSON *obj = cJSON_GetObjectItemCaseSensitive(doc, "object");
	enum watch_type t;

	if (!cJSON_IsString(type) || !cJSON_IsObject(obj)) {
		pwarn("watch %s: an event that is not JSON: following it again", wt->path);
		cJSON_Delete(doc);
		wt->broken = 1;
		return -1;
	}
	if (!strcmp(type->valuestring, "BOOKMARK")) {
		take_rv(wt, obj);
		cJSON_Delete(doc);
		return 0;
	}
	if (!strcmp(type->valuestring, "ERROR")) {
		const cJSON *code = cJSON_GetObjectItemCaseSensitive(obj, "code");

		if (cJSON_IsNumber(code) && code->valueint == 410)
			wt->gone = 1;
		else
			wt->broken = 1;
		pdebug("watch %s: ERROR event (code %d)", wt->path,
		       cJSON_IsNumber(code) ? code->valueint : 0);
		cJSON_Delete(doc);
		return -1;
	}
	if (event_type(type->valuestring, &t)) {
		cJSON_Delete(doc);	/* a type from a newer server: skip it */
		return 0;
	}
	take_rv(wt, obj);
	docs[*nev] = doc;
	ev[*nev].type = t;
	ev[*nev].object = obj;
	(*nev)++;
	return 0;
}

/* The complete lines in p (after the partial line kept from before). */
static int feed(struct watch *wt, const char *p, size_t n)
{
	size_t maxev = 1, nev = 0, i;
	struct watch_event *ev;
	cJSON **docs;
	int rc = 0;

	for (i = 0; i < n; i++)
		maxev += p[i] == '\n';
	ev = calloc(maxev, sizeof(*ev));
	docs = calloc(maxev, sizeof(*docs));
	if (!ev || !docs) {
		free(ev);
		free(docs);
		wt->broken = 1;
		return -1;
	}
	while (n && !rc) {
		const char *nl = memchr(p, '\n', n);
		size_t k = nl ? (size_t)(nl - p) : n;

		if (wt->len + k > LINE_MAX_BYTES) {
			pwarn("watch %s: an event longer than %u MiB", wt->path, LINE_MAX_BYTES >> 20);
			wt->broken = 1;
			rc = -1;
			break;
		}
		if (!nl || wt->len) {	/* reassemble across reads */
			if (wt->len + k + 1 > wt->cap) {
				size_t nc = wt->cap ? wt->cap : 4096;
				char *b;

				while (nc < wt->len + k + 1)
					nc *= 2;
				if (!(b = realloc(wt->line, nc))) {
					wt->broken = 1;
					rc = -1;
					break;
				}
				wt->line = b;
				wt->cap = nc;
			}
			memcpy(wt->line + wt->len, p, k);
			wt->len += k;
		}
		if (nl) {
			if (wt->len)
				rc = one_line(wt, wt->line, wt->len, docs, ev, &nev);
			else if (k)
				rc = one_line(wt, p, k, docs, ev, &nev);
			wt->len = 0;
			k++;
		}
		p += k;
		n -= k;
	}
	if (nev)
		wt->ops->events(wt->ud, ev, nev);
	for (i = 0; i < nev; i++)
		cJSON_Delete(docs[i]);
	free(ev);
	free(docs);
	if (wt->cap > 65536 && !wt->len) {	/* give a huge line's room back */
		free(wt->line);
		wt->line = NULL;
		wt->cap = 0;
	}
	return rc;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
	struct watch *wt = ud;
	size_t len = size * n;

	if (len <= 2 && (p[0] == '\r' || p[0] == '\n')) {	/* the end of a head */
		curl_easy_getinfo(wt->x.h, CURLINFO_RESPONSE_CODE, &wt->code);
		if (wt->code == 200) {
			wt->fail_since = 0;
			wt->backoff_ms = 0;
			set_state(wt, WATCH_LIVE);
		}
	}
	return len;
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	struct watch *wt = ud;
	size_t len = size * n;

	if (wt->code != 200) {		/* an error reply: keep its start */
		size_t k = sizeof(wt->ebody) - 1 - wt->elen;

		k = k < len ? k : len;
		memcpy(wt->ebody + wt->elen, p, k);
		wt->elen += k;
		wt->ebody[wt->elen] = 0;
		return len;
	}
	return feed(wt, p, len) ? 0 : len;	/* 0 ends the transfer */
}

/* ---- connecting, relisting, retrying ---- */

static void submit(struct watch *wt, enum job_kind kind);

static void finish(struct watch *wt)
{
	struct watcher *w = wt->w;
	struct watch **pp;

	for (pp = &w->all; *pp; pp = &(*pp)->link)
		if (*pp == wt) {
			*pp = wt->link;
			break;
		}
	if (wt->added)
		curlloop_remove(w->cl, wt->x.h);
	rest_xfer_free(&wt->x);
	wt->ops->ended(wt->ud);
	free(wt->line);
	free(wt->path);
	free(wt);
	pthread_mutex_lock(&w->lock);
	w->nwatches--;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

static void failed(struct watch *wt, const char *why)
{
	uint64_t now = mono_ms();

	if (!wt->fail_since)
		wt->fail_since = now;
	wt->backoff_ms = wt->backoff_ms ? wt->backoff_ms * 2 : BACKOFF_MIN_MS;
	if (wt->backoff_ms > BACKOFF_MAX_MS)
		wt->backoff_ms = BACKOFF_MAX_MS;
	wt->retry_at = now + wt->backoff_ms;
	pdebug("watch %s: %s; again in %u ms", wt->path, why, wt->backoff_ms);
	set_state(wt, now - wt->fail_since >= (uint64_t)wt->w->timeout_ms ?
		  WATCH_LOST : WATCH_STALE);
}

static void on_done(void *ud, CURLcode rc)
{
	struct watch *wt = ud;
	char why[600];

	wt->added = 0;
	if (!wt->gone && !wt->broken)
		auth_observe(rest_auth(wt->w->rest), wt->path, rc, wt->code,
			     wt->x.errbuf[0] ? wt->x.errbuf : curl_easy_strerror(rc));
	if (wt->code == 401)
		wt->reauth_gen = wt->x.gen;
	rest_xfer_free(&wt->x);
	if (wt->stopping) {
		finish(wt);
	} else if (wt->gone || wt->code == 410) {
		pinfo("watch %s: history compacted (410): listing again", wt->path);
		submit(wt, JOB_RELIST);
	} else if (wt->broken) {
		submit(wt, JOB_RELIST);
	} else if (rc == CURLE_OK && wt->code == 200 && mono_ms() - wt->started >= 1000) {
		submit(wt, JOB_CONNECT);	/* the server's timeout: watch on */
	} else if (rc == CURLE_OK && wt->code == 200) {
		failed(wt, "the server ended the watch at once");
	} else {
		if (wt->code)
			k8s_status_message(wt->ebody, wt->elen, why, sizeof(why));
		else
			snprintf(why, sizeof(why), "%s", curl_easy_strerror(rc));
		failed(wt, why);
	}
}

static void job_work(struct worker_job *j)
{
	struct watch *wt = j->done.ud;
	struct rest *r = wt->w->rest;
	char path[1200], *rv;

	wt->why[0] = 0;
	wt->jrc = 0;
	snprintf(wt->jrv, sizeof(wt->jrv), "%s", wt->rv);
	if (wt->kind == JOB_RELIST && (wt->jrc = wt->ops->relist(wt->ud, wt->jrv, sizeof(wt->jrv))) < 0) {
		snprintf(wt->why, sizeof(wt->why), "list: %s", strerror(-wt->jrc));
		return;
	}
	if (wt->reauth_gen && !auth_refresh(rest_auth(r), wt->reauth_gen)) {
		wt->jrc = -EACCES;
		snprintf(wt->why, sizeof(wt->why), "401 Unauthorized");
		return;
	}
	if (!(rv = url_escape(wt->jrv))) {
		wt->jrc = -ENOMEM;
		return;
	}
	snprintf(path, sizeof(path),
		 "%s?watch=true&allowWatchBookmarks=true&timeoutSeconds=%d&resourceVersion=%s",
		 wt->path, WATCH_SECONDS, rv);
	free(rv);
	wt->jrc = rest_xfer_make(r, path, &wt->next, wt->why, sizeof(wt->why));
}

static void job_done(struct loop_job *j)
{
	struct watch *wt = j->ud;

	wt->busy = 0;
	if (wt->stopping) {
		rest_xfer_free(&wt->next);
		finish(wt);
		return;
	}
	if (wt->jrc < 0) {
		failed(wt, wt->why[0] ? wt->why : strerror(-wt->jrc));
		return;
	}
	if (wt->kind == JOB_RELIST)
		wt->ops->relisted(wt->ud);
	wt->reauth_gen = 0;
	snprintf(wt->rv, sizeof(wt->rv), "%s", wt->jrv);
	wt->x = wt->next;
	memset(&wt->next, 0, sizeof(wt->next));
	curl_easy_setopt(wt->x.h, CURLOPT_ERRORBUFFER, wt->x.errbuf);	/* moved */
	curl_easy_setopt(wt->x.h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(wt->x.h, CURLOPT_HEADERDATA, wt);
	curl_easy_setopt(wt->x.h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(wt->x.h, CURLOPT_WRITEDATA, wt);
	curl_easy_setopt(wt->x.h, CURLOPT_ACCEPT_ENCODING, "");
	wt->code = 0;
	wt->gone = wt->broken = 0;
	wt->len = wt->elen = 0;
	wt->started = mono_ms();
	if (curlloop_add(wt->w->cl, wt->x.h, on_done, wt) < 0) {
		rest_xfer_free(&wt->x);
		failed(wt, "cannot start the transfer");
		return;
	}
	wt->added = 1;
}

static void submit(struct watch *wt, enum job_kind kind)
{
	wt->kind = kind;
	wt->job.work = job_work;
	wt->job.back = wt->w->loop;
	wt->job.done.fn = job_done;
	wt->job.done.ud = wt;
	wt->busy = 1;
	if (worker_submit(&wt->job) < 0) {
		wt->busy = 0;
		failed(wt, "no worker thread");
	}
}

/* Retries that are due, escalation to lost, and the owners' ticks. */
static void on_tick(struct loop_timer *t)
{
	struct watcher *w = t->ud;
	uint64_t now = mono_ms();
	struct watch *wt, *next;

	for (wt = w->all; wt; wt = next) {
		next = wt->link;
		if (wt->stopping)
			continue;
		if (wt->fail_since && now - wt->fail_since >= (uint64_t)w->timeout_ms)
			set_state(wt, WATCH_LOST);
		if (wt->retry_at && now >= wt->retry_at && !wt->busy && !wt->added) {
			wt->retry_at = 0;
			submit(wt, JOB_CONNECT);
		}
		if (now >= wt->next_tick) {
			wt->next_tick = now + 1000;
			wt->ops->tick(wt->ud);	/* may post watch_stop */
		}
	}
	loop_timer_at(w->loop, &w->tick, now + TICK_MS);
}

/* ---- starting and stopping ---- */

static void on_start(struct loop_job *j)
{
	struct watch *wt = j->ud;
	struct watcher *w = wt->w;

	wt->link = w->all;
	w->all = wt;
	wt->next_tick = mono_ms() + 1000;
	submit(wt, JOB_CONNECT);
}

static void on_stop(struct loop_job *j)
{
	struct watch *wt = j->ud;

	wt->stopping = 1;
	if (wt->added) {
		curlloop_remove(wt->w->cl, wt->x.h);
		wt->added = 0;
	}
	if (!wt->busy)
		finish(wt);	/* else job_done finishes it */
}

struct watch *watch_start(struct watcher *w, const char *path, const char *rv,
			  const struct watch_ops *ops, void *ud)
{
	struct watch *wt = calloc(1, sizeof(*wt));

	if (!wt || !(wt->path = strdup(path))) {
		free(wt);
		return NULL;
	}
	wt->w = w;
	wt->ops = ops;
	wt->ud = ud;
	snprintf(wt->rv, sizeof(wt->rv), "%s", rv ? rv : "");
	wt->start.fn = on_start;
	wt->start.ud = wt;
	wt->stop.fn = on_stop;
	wt->stop.ud = wt;
	pthread_mutex_lock(&w->lock);
	w->nwatches++;
	pthread_mutex_unlock(&w->lock);
	if (loop_post(w->loop, &wt->start) < 0) {
		pthread_mutex_lock(&w->lock);
		w->nwatches--;
		pthread_mutex_unlock(&w->lock);
		free(wt->path);
		free(wt);
		return NULL;
	}
	return wt;
}

void watch_stop(struct watch *wt)
{
	if (__atomic_exchange_n(&wt->stop_posted, 1, __ATOMIC_ACQ_REL))
		return;		/* watcher_free is stopping it */
	if (loop_post(wt->w->loop, &wt->stop) < 0)
		pwarn("watch %s: the watcher has stopped", wt->path);
}

static void *watcher_thread(void *arg)
{
	struct watcher *w = arg;

	loop_run(w->loop);
	return NULL;
}

static void on_first(struct loop_job *j)
{
	struct watcher *w = j->ud;

	w->tick.fn = on_tick;
	w->tick.ud = w;
	loop_timer_at(w->loop, &w->tick, mono_ms() + TICK_MS);
}

struct watcher *watcher_new(struct rest *r, long timeout_ms)
{
	struct watcher *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->rest = r;
	w->timeout_ms = timeout_ms > 0 ? timeout_ms : 10000;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	if (!(w->loop = loop_new()) || !(w->cl = curlloop_new(w->loop)))
		goto fail;
	w->stop_all.fn = on_first;	/* reused: arms the tick first */
	w->stop_all.ud = w;
	if (loop_post(w->loop, &w->stop_all) < 0 ||
	    pthread_create(&w->thread, NULL, watcher_thread, w))
		goto fail;
	return w;
fail:
	if (w->cl)
		curlloop_free(w->cl);
	if (w->loop)
		loop_free(w->loop);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cond);
	free(w);
	return NULL;
}

static void on_stop_all(struct loop_job *j)
{
	struct watcher *w = j->ud;

	struct watch *wt, *next;

	for (wt = w->all; wt; wt = next) {
		next = wt->link;	/* on_stop may free wt */
		if (!__atomic_exchange_n(&wt->stop_posted, 1, __ATOMIC_ACQ_REL))
			on_stop(&wt->stop);
	}
	loop_timer_stop(w->loop, &w->tick);
}

void watcher_free(struct watcher *w)
{
	if (!w)
		return;
	w->stop_all.fn = on_stop_all;
	loop_post(w->loop, &w->stop_all);
	pthread_mutex_lock(&w->lock);
	while (w->nwatches > 0)
		pthread_cond_wait(&w->cond, &w->lock);
	pthread_mutex_unlock(&w->lock);
	loop_stop(w->loop);
	pthread_join(w->thread, NULL);
	curlloop_free(w->cl);
	loop_free(w->loop);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cond);
	free(w);
}
