/* Watches that keep the listing cache current (see cache.h, watch.h).
 * The first successful list of a key starts a watch from that list's
 * resourceVersion; from then on each batch of events makes a new
 * immutable list from the old one (pods are shared by reference, so a
 * batch costs pointer copies, not parsing), publishes it, and tells the
 * listener what changed, with no lock held (the listener talks to the
 * kernel, whose requests come back to podfs and need this lock).  A
 * relist after 410 diffs the new list against the old one.  While the
 * watch is live the slot never expires; otherwise it does after -o cache,
 * as without watches.  A key nobody looked at for idle_ms loses its
 * watch and its data.
 *
 * Binding: a watch's callbacks carry a struct nswatch; the slot points
 * to it while bound.  A callback finds its slot by key and acts only
 * when the slot still points to it, so a recycled or dropped slot is
 * never touched by an old watch. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stream/cache_i.h"
#include "stream/log.h"
#include "stream/rest.h"

struct change {
	enum cache_change_type type;
	char *name;
	struct pod_info *pod;	/* a reference, or NULL */
};

struct changes {
	struct change *v;
	size_t n, cap;
};

struct nswatch {
	struct cache *c;	/* fixed */
	char key[80];		/* fixed */
	struct watch *w;	/* fixed once watch_start returned */
	struct changes relisted;	/* a relist's changes (worker, then loop) */
};

static int record(struct changes *cs, enum cache_change_type t, const char *name,
		  struct pod_info *pod)
{
	if (cs->n == cs->cap) {
		size_t nc = cs->cap ? cs->cap * 2 : 16;
		struct change *v = realloc(cs->v, nc * sizeof(*v));

		if (!v)
			return -ENOMEM;
		cs->v = v;
		cs->cap = nc;
	}
	if (!(cs->v[cs->n].name = strdup(name)))
		return -ENOMEM;
	cs->v[cs->n].type = t;
	cs->v[cs->n].pod = pod ? cache_pod_get(pod) : NULL;
	cs->n++;
	return 0;
}

/* Tell the listener (no lock held) and empty cs. */
static void tell(struct cache *c, const char *key, struct changes *cs)
{
	for (size_t i = 0; i < cs->n; i++) {
		struct cache_change ch = { cs->v[i].type, cs->v[i].name, cs->v[i].pod };

		if (c->listener)
			c->listener(c->listener_ud, key[0] ? key : NULL, &ch);
		free(cs->v[i].name);
		cache_pod_put(cs->v[i].pod);
	}
	free(cs->v);
	memset(cs, 0, sizeof(*cs));
}

/* Lock held: nw's slot while it is still bound to nw. */
static struct slot *bound(struct nswatch *nw)
{
	for (int i = 0; i < CACHE_SLOTS; i++) {
		struct slot *s = &nw->c->slots[i];

		if (s->used && s->nw == nw && !strcmp(s->key, nw->key))
			return s;
	}
	return NULL;
}

/* ---- applying events ---- */

/* Apply one pod event to pods[0..*n) (room for one more). */
static void apply_pod(struct pod_info **pods, size_t *n, enum watch_type t,
		      struct pod_info *pi, struct changes *cs)
{
	int found;
	size_t i = cache_pod_index(pods, *n, pi->name, &found);

	if (t == WATCH_DELETED) {
		if (!found)
			return;
		record(cs, CACHE_DELETED, pi->name, NULL);
		cache_pod_put(pods[i]);
		memmove(pods + i, pods + i + 1, (*n - i - 1) * sizeof(*pods));
		(*n)--;
		return;
	}
	if (found) {
		cache_pod_put(pods[i]);
	} else {
		memmove(pods + i + 1, pods + i, (*n - i) * sizeof(*pods));
		(*n)++;
	}
	pods[i] = cache_pod_get(pi);
	record(cs, found ? CACHE_MODIFIED : CACHE_ADDED, pi->name, pi);
}

static void apply_pods(struct nswatch *nw, const struct watch_event *ev, size_t n,
		       struct changes *cs)
{
	struct cache *c = nw->c;
	struct pod_info **parsed = calloc(n, sizeof(*parsed));
	struct pod_list *old = NULL, *l = NULL;
	struct slot *s;

	if (!parsed)
		return;
	for (size_t i = 0; i < n; i++)	/* parse and measure without the lock */
		parsed[i] = cache_pod_new(ev[i].object, c->measurer);
	pthread_mutex_lock(&c->lock);
	if ((s = bound(nw)) && (old = s->data) && (l = calloc(1, sizeof(*l))) &&
	    (l->pods = malloc((old->n + n + 1) * sizeof(*l->pods)))) {
		for (size_t i = 0; i < old->n; i++)
			l->pods[i] = cache_pod_get(old->pods[i]);
		l->n = old->n;
		l->refs = 1;
		for (size_t i = 0; i < n; i++)
			if (parsed[i])
				apply_pod(l->pods, &l->n, ev[i].type, parsed[i], cs);
		s->data = l;	/* the slot's reference moves to l */
		s->fetched = mono_ms();
		l = NULL;
	} else
		old = NULL;
	pthread_mutex_unlock(&c->lock);
	free(l);
	pod_list_put(old);
	for (size_t i = 0; i < n; i++)
		cache_pod_put(parsed[i]);
	free(parsed);
}

/* Namespaces are few: their list is rebuilt from names. */
static void apply_namespaces(struct nswatch *nw, const struct watch_event *ev, size_t n,
			     struct changes *cs)
{
	struct cache *c = nw->c;
	struct collector col = { .pods = 0 };
	struct name_list *old, *l = NULL;
	struct slot *s;

	pthread_mutex_lock(&c->lock);
	if (!(s = bound(nw)) || !(old = s->data) ||
	    !(col.ns = calloc(old->n + n + 1, sizeof(*col.ns)))) {
		pthread_mutex_unlock(&c->lock);
		return;
	}
	for (size_t i = 0; i < old->n; i++)
		if ((col.ns[col.n].name = strdup(old->names[i])))
			col.ns[col.n++].created = old->created[i];
	for (size_t i = 0; i < n; i++) {
		const cJSON *meta = cJSON_GetObjectItemCaseSensitive(ev[i].object, "metadata");
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(meta, "name");
		size_t j;

		if (!cJSON_IsString(name) || !name->valuestring[0] || strchr(name->valuestring, '/'))
			continue;
		for (j = 0; j < col.n && strcmp(col.ns[j].name, name->valuestring); j++)
			;
		if (ev[i].type == WATCH_DELETED && j < col.n) {
			free(col.ns[j].name);
			col.ns[j] = col.ns[--col.n];
			record(cs, CACHE_DELETED, name->valuestring, NULL);
		} else if (ev[i].type != WATCH_DELETED && j == col.n &&
			   (col.ns[j].name = strdup(name->valuestring))) {
			col.ns[col.n++].created = cache_json_time(meta, "creationTimestamp");
			record(cs, CACHE_ADDED, name->valuestring, NULL);
		}
	}
	if ((l = cache_names_from(&col, 0))) {
		s->data = l;
		s->fetched = mono_ms();
	} else
		old = NULL;
	pthread_mutex_unlock(&c->lock);
	name_list_put(old);
}

static void w_events(void *ud, const struct watch_event *ev, size_t n)
{
	struct nswatch *nw = ud;
	struct changes cs = { 0 };

	if (nw->key[0])
		apply_pods(nw, ev, n, &cs);
	else
		apply_namespaces(nw, ev, n, &cs);
	tell(nw->c, nw->key, &cs);
}

/* ---- relisting: what changed between two lists ---- */

static void diff_pods(const struct pod_list *a, const struct pod_list *b, struct changes *cs)
{
	size_t i = 0, j = 0, na = a ? a->n : 0;

	while (i < na || j < b->n) {
		int k = i == na ? 1 : j == b->n ? -1 : strcmp(a->pods[i]->name, b->pods[j]->name);

		if (k < 0)
			record(cs, CACHE_DELETED, a->pods[i++]->name, NULL);
		else if (k > 0) {
			record(cs, CACHE_ADDED, b->pods[j]->name, b->pods[j]);
			j++;
		} else {
			if (strcmp(a->pods[i]->rv, b->pods[j]->rv))
				record(cs, CACHE_MODIFIED, b->pods[j]->name, b->pods[j]);
			i++;
			j++;
		}
	}
}

static void diff_names(const struct name_list *a, const struct name_list *b, struct changes *cs)
{
	size_t i = 0, j = 0, na = a ? a->n : 0;

	while (i < na || j < b->n) {
		int k = i == na ? 1 : j == b->n ? -1 : strcmp(a->names[i], b->names[j]);

		if (k < 0)
			record(cs, CACHE_DELETED, a->names[i++], NULL);
		else if (k > 0)
			record(cs, CACHE_ADDED, b->names[j++], NULL);
		else
			i++, j++;
	}
}

static void list_put(const char *key, void *data)
{
	if (key[0])
		pod_list_put(data);
	else
		name_list_put(data);
}

static int w_relist(void *ud, char *rv, size_t rvlen)
{
	struct nswatch *nw = ud;
	struct cache *c = nw->c;
	char msg[512], nrv[RV_MAX];
	void *data = NULL, *old = NULL;
	struct slot *s;
	int rc;

	if ((rc = cache_fetch(c, nw->key, &data, nrv, msg, sizeof(msg))) < 0) {
		pdebug("watch of %s: relist failed: %s", nw->key[0] ? nw->key : "namespaces", msg);
		return rc;
	}
	if (!nrv[0]) {			/* not a list we may watch (any more) */
		list_put(nw->key, data);
		return -EACCES;
	}
	pthread_mutex_lock(&c->lock);
	if ((s = bound(nw))) {
		old = s->data;
		s->data = data;		/* the slot takes this reference */
		s->fetched = mono_ms();
		if (nw->key[0])		/* and the diff below one more */
			__atomic_add_fetch(&((struct pod_list *)data)->refs, 1, __ATOMIC_ACQ_REL);
		else
			__atomic_add_fetch(&((struct name_list *)data)->refs, 1, __ATOMIC_ACQ_REL);
	}
	pthread_mutex_unlock(&c->lock);
	if (!s) {
		list_put(nw->key, data);
		return -ESTALE;
	}
	if (nw->key[0])
		diff_pods(old, data, &nw->relisted);
	else
		diff_names(old, data, &nw->relisted);
	list_put(nw->key, old);
	list_put(nw->key, data);
	snprintf(rv, rvlen, "%s", nrv);
	return 0;
}

static void w_relisted(void *ud)
{
	struct nswatch *nw = ud;

	tell(nw->c, nw->key, &nw->relisted);
}

/* ---- state, idleness, the end ---- */

static void w_state(void *ud, enum watch_state st)
{
	struct nswatch *nw = ud;
	struct slot *s;

	pthread_mutex_lock(&nw->c->lock);
	if ((s = bound(nw)))
		s->wst = st;
	pthread_mutex_unlock(&nw->c->lock);
	if (st == WATCH_LOST)
		pwarn("watch of %s lost: listings expire after -o cache again",
		      nw->key[0] ? nw->key : "namespaces");
}

static void w_tick(void *ud)
{
	struct nswatch *nw = ud;
	struct cache *c = nw->c;
	struct slot *s;
	int idle = 0;

	pthread_mutex_lock(&c->lock);
	if ((s = bound(nw)) && !s->fetching && !s->pins && c->idle_ms > 0 &&
	    (long long)mono_ms() - s->last_use > c->idle_ms) {
		pdebug("%s unused for %ld ms: its watch and list go",
		       nw->key[0] ? nw->key : "namespaces", c->idle_ms);
		s->nw = NULL;
		cache_slot_drop(s);
		idle = 1;
	}
	pthread_mutex_unlock(&c->lock);
	if (idle)
		watch_stop(nw->w);
}

static void w_ended(void *ud)
{
	struct nswatch *nw = ud;
	struct slot *s;

	pthread_mutex_lock(&nw->c->lock);
	if ((s = bound(nw)))
		s->nw = NULL;
	pthread_mutex_unlock(&nw->c->lock);
	tell(nw->c, nw->key, &nw->relisted);	/* nothing, or what a relist found */
	free(nw);
}

static const struct watch_ops nswatch_ops = {
	.events = w_events,
	.relist = w_relist,
	.relisted = w_relisted,
	.state = w_state,
	.tick = w_tick,
	.ended = w_ended,
};

/* ---- the cache's side ---- */

void cache_slot_watch(struct cache *c, struct slot *s, const char *rv)
{
	struct nswatch *nw = calloc(1, sizeof(*nw));
	char path[256];

	if (!nw || k8s_path(path, sizeof(path), s->key[0] ? s->key : NULL, NULL, 0, NULL) < 0) {
		free(nw);
		return;
	}
	nw->c = c;
	snprintf(nw->key, sizeof(nw->key), "%s", s->key);
	/* Bound before the first callback can look: they need this lock. */
	s->nw = nw;
	s->wst = WATCH_STARTING;
	if (!(nw->w = watch_start(c->watcher, path, rv, &nswatch_ops, nw))) {
		s->nw = NULL;
		free(nw);
	}
}

void cache_slot_unwatch(struct slot *s)
{
	struct nswatch *nw = s->nw;

	if (!nw)
		return;
	s->nw = NULL;
	watch_stop(nw->w);	/* w_ended frees nw */
}

void cache_set_listener(struct cache *c,
			void (*fn)(void *ud, const char *ns, const struct cache_change *ch),
			void *ud)
{
	c->listener = fn;
	c->listener_ud = ud;
}

void cache_enable_watches(struct cache *c, struct watcher *w, long idle_ms)
{
	pthread_mutex_lock(&c->lock);
	c->watcher = w;
	c->idle_ms = idle_ms;
	pthread_mutex_unlock(&c->lock);
}

void cache_pin(struct cache *c, const char *ns, int delta)
{
	pthread_mutex_lock(&c->lock);
	for (int i = 0; i < CACHE_SLOTS; i++) {
		struct slot *s = &c->slots[i];

		if (s->used && !strcmp(s->key, ns)) {
			s->pins = s->pins + delta < 0 ? 0 : s->pins + delta;
			s->last_use = mono_ms();
			break;
		}
	}
	pthread_mutex_unlock(&c->lock);
}

int cache_is_live(struct cache *c, const char *ns)
{
	const char *key = ns ? ns : "";
	int live = 0;

	pthread_mutex_lock(&c->lock);
	for (int i = 0; i < CACHE_SLOTS && !live; i++) {
		struct slot *s = &c->slots[i];

		live = s->used && s->nw && s->wst == WATCH_LIVE && !strcmp(s->key, key);
	}
	pthread_mutex_unlock(&c->lock);
	return live;
}

void cache_watch_states(struct cache *c, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = 0;
	pthread_mutex_lock(&c->lock);
	for (int i = 0; i < CACHE_SLOTS; i++) {
		struct slot *s = &c->slots[i];
		int n;

		if (!s->used || !s->nw || used >= len)
			continue;
		n = snprintf(buf + used, len - used, "%s%s %s", used ? ", " : "",
			     s->key[0] ? s->key : "(namespaces)", watch_state_name(s->wst));
		used += n > 0 ? (size_t)n : 0;
	}
	pthread_mutex_unlock(&c->lock);
}
