/* Listing cache for namespaces and pods (see cache.h).  Lists are fetched
 * with limit=500 and continue tokens; an expired token (410) restarts the
 * list, and the whole loop runs under one deadline so a slow or vanished
 * API server cannot hold a FUSE request past -o timeout.  Each key has at
 * most one fetch in flight: later callers wait on a condition variable for
 * that fetch's result instead of sending their own request.  Published
 * lists are immutable and reference-counted, so readers use them without
 * the lock and eviction never frees a list under a reader. */
#include "stream/cache.h"
#include "stream/cache_i.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stream/log.h"
#include "stream/rest.h"
#include "stream/watch.h"

#define LIST_LIMIT	500
#define MAX_RESTARTS	3
#define MAX_ITEMS	1000000	/* bound memory on a hostile server */
/* A failed fetch is remembered this long: the kernel follows a failed
 * dentry revalidation with a fresh lookup at once, and without this each
 * would wait out the full timeout against a dead server. */
#define ERR_HOLD_MS	1000



/* ---- lists ---- */

void pod_info_clear(struct pod_info *p)
{
	free(p->name);
	free(p->rv);
	for (size_t i = 0; i < p->ncontainers; i++)
		free(p->containers[i].name);
	free(p->containers);
	free(p->ports);
	memset(p, 0, sizeof(*p));
}

void cache_pod_put(struct pod_info *p)
{
	if (!p || __atomic_sub_fetch(&p->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	pod_info_clear(p);
	free(p);
}

struct pod_info *cache_pod_get(struct pod_info *p)
{
	__atomic_add_fetch(&p->refs, 1, __ATOMIC_ACQ_REL);
	return p;
}

void pod_list_put(struct pod_list *l)
{
	if (!l || __atomic_sub_fetch(&l->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	for (size_t i = 0; i < l->n; i++)
		cache_pod_put(l->pods[i]);
	free(l->pods);
	free(l);
}

void name_list_put(struct name_list *l)
{
	if (!l || __atomic_sub_fetch(&l->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	for (size_t i = 0; i < l->n; i++)
		free(l->names[i]);
	free(l->names);
	free(l->created);
	free(l);
}

static int cmp_pod(const void *a, const void *b)
{
	return strcmp((*(struct pod_info *const *)a)->name,
		      (*(struct pod_info *const *)b)->name);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

/* Where name is, or would be inserted, in the sorted pods[0..n). */
size_t cache_pod_index(struct pod_info *const *pods, size_t n, const char *name, int *found)
{
	size_t lo = 0, hi = n;

	*found = 0;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(pods[mid]->name, name);

		if (!c) {
			*found = 1;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

const struct pod_info *pod_list_find(const struct pod_list *l, const char *name)
{
	size_t i;
	int found;

	if (!l || !l->n)
		return NULL;
	i = cache_pod_index(l->pods, l->n, name, &found);
	return found ? l->pods[i] : NULL;
}

long name_list_find(const struct name_list *l, const char *name)
{
	char **hit;

	if (!l || !l->n)
		return -1;
	hit = bsearch(&name, l->names, l->n, sizeof(char *), cmp_str);
	return hit ? hit - l->names : -1;
}

int name_list_has(const struct name_list *l, const char *name)
{
	return name_list_find(l, name) >= 0;
}

const struct pod_container *pod_container_find(const struct pod_info *p,
					       const char *name)
{
	for (size_t i = 0; i < p->ncontainers; i++)
		if (!strcmp(p->containers[i].name, name))
			return &p->containers[i];
	return NULL;
}

int pod_has_container(const struct pod_info *p, const char *name)
{
	return pod_container_find(p, name) != NULL;
}

/* An RFC 3339 time of the API as seconds, 0 when absent or bad. */
time_t cache_json_time(const cJSON *o, const char *field)
{
	const cJSON *ts = cJSON_GetObjectItemCaseSensitive(o, field);
	int64_t sec;
	int32_t ns;

	if (!cJSON_IsString(ts) || k8s_time_parse(ts->valuestring, &sec, &ns))
		return 0;
	return (time_t)sec;
}

int pod_has_port(const struct pod_info *p, int port)
{
	for (size_t i = 0; i < p->nports; i++)
		if (p->ports[i] == port)
			return 1;
	return 0;
}

/* A name from the server becomes a directory entry, so it must be one
 * component that the kernel accepts and that cannot climb the tree.  The
 * API server validates names, but podfs must not trust it to: anything
 * else is skipped (and said so), never followed. */
static int name_ok(const char *what, const char *s)
{
	size_t n = strlen(s);
	const char *why = NULL;

	if (!n)
		why = "empty";
	else if (n > 255)
		why = "longer than 255 bytes";
	else if (strchr(s, '/'))
		why = "contains '/'";
	else if (!strcmp(s, ".") || !strcmp(s, ".."))
		why = "is . or ..";
	if (!why)
		return 1;
	/* Only a bounded prefix: the name is hostile input. */
	pwarn("skipping a %s name from the server that %s: \"%.40s%s\"",
	      what, why, s, n > 40 ? "..." : "");
	return 0;
}

static int add_containers(const cJSON *arr, struct pod_info *out)
{
	const cJSON *c;

	cJSON_ArrayForEach(c, arr) {
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(c, "name");
		const cJSON *ports = cJSON_GetObjectItemCaseSensitive(c, "ports");
		const cJSON *pt;
		struct pod_container *nc;

		if (!cJSON_IsString(name) || !name_ok("container", name->valuestring))
			continue;
		nc = realloc(out->containers,
			     (out->ncontainers + 1) * sizeof(*nc));
		if (!nc)
			return -ENOMEM;
		out->containers = nc;
		memset(&nc[out->ncontainers], 0, sizeof(*nc));
		if (!(nc[out->ncontainers].name = strdup(name->valuestring)))
			return -ENOMEM;
		out->ncontainers++;
		cJSON_ArrayForEach(pt, ports) {
			const cJSON *cp = cJSON_GetObjectItemCaseSensitive(pt, "containerPort");
			int *np;

			if (!cJSON_IsNumber(cp) || cp->valueint < 1 ||
			    cp->valueint > 65535)
				continue;
			np = realloc(out->ports, (out->nports + 1) * sizeof(int));
			if (!np)
				return -ENOMEM;
			out->ports = np;
			np[out->nports++] = cp->valueint;
		}
	}
	return 0;
}

/* Each container's start time from the pod's status lists. */
static void add_started(const cJSON *status, struct pod_info *out)
{
	static const char *const lists[] = {
		"containerStatuses", "initContainerStatuses",
		"ephemeralContainerStatuses"
	};

	for (size_t i = 0; i < 3; i++) {
		const cJSON *cs;

		cJSON_ArrayForEach(cs, cJSON_GetObjectItemCaseSensitive(status, lists[i])) {
			const cJSON *name = cJSON_GetObjectItemCaseSensitive(cs, "name");
			const cJSON *st = cJSON_GetObjectItemCaseSensitive(cs, "state");
			const cJSON *run = cJSON_GetObjectItemCaseSensitive(st, "running");
			struct pod_container *c;

			if (!cJSON_IsString(name) ||
			    !(c = (struct pod_container *)pod_container_find(out, name->valuestring)))
				continue;
			c->started = cache_json_time(run ? run : cJSON_GetObjectItemCaseSensitive(st, "terminated"),
					       "startedAt");
		}
	}
}

int pod_info_from_json(const cJSON *pod, struct pod_info *out)
{
	const cJSON *meta = cJSON_GetObjectItemCaseSensitive(pod, "metadata");
	const cJSON *spec = cJSON_GetObjectItemCaseSensitive(pod, "spec");
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(meta, "name");
	size_t j = 0;

	const cJSON *rv = cJSON_GetObjectItemCaseSensitive(meta, "resourceVersion");
	const cJSON *phase = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(pod, "status"), "phase");

	memset(out, 0, sizeof(*out));
	if (!cJSON_IsString(name) || !name_ok("pod", name->valuestring))
		return -EINVAL;
	if (!(out->name = strdup(name->valuestring)) ||
	    !(out->rv = strdup(cJSON_IsString(rv) ? rv->valuestring : ""))) {
		pod_info_clear(out);
		return -ENOMEM;
	}
	out->refs = 1;
	if (cJSON_IsString(phase))
		k8s_text(out->phase, sizeof(out->phase), phase->valuestring,
			 strlen(phase->valuestring), K8S_TEXT_LINE);
	out->created = cache_json_time(meta, "creationTimestamp");
	if (add_containers(cJSON_GetObjectItemCaseSensitive(spec, "containers"), out) ||
	    add_containers(cJSON_GetObjectItemCaseSensitive(spec, "initContainers"), out) ||
	    add_containers(cJSON_GetObjectItemCaseSensitive(spec, "ephemeralContainers"), out)) {
		pod_info_clear(out);
		return -ENOMEM;
	}
	add_started(cJSON_GetObjectItemCaseSensitive(pod, "status"), out);
	if (out->nports) {
		qsort(out->ports, out->nports, sizeof(int), cmp_int);
		for (size_t i = 0; i < out->nports; i++)
			if (!j || out->ports[j - 1] != out->ports[i])
				out->ports[j++] = out->ports[i];
		out->nports = j;
	}
	return 0;
}

/* ---- paginated list ---- */



void cache_collector_reset(struct collector *col)
{
	for (size_t i = 0; i < col->n; i++) {
		if (col->pods)
			cache_pod_put(col->pi[i]);
		else
			free(col->ns[i].name);
	}
	free(col->pi);
	free(col->ns);
	col->pi = NULL;
	col->ns = NULL;
	col->n = col->cap = 0;
	col->rv[0] = 0;
}

/* A pod item as the cache holds it (measured), or NULL to skip it. */
struct pod_info *cache_pod_new(const cJSON *item,
				void (*measurer)(const cJSON *, struct pod_info *))
{
	struct pod_info *pi = calloc(1, sizeof(*pi));

	if (!pi || pod_info_from_json(item, pi)) {
		free(pi);
		return NULL;
	}
	if (measurer)
		measurer(item, pi);
	return pi;
}

static int collector_add(struct collector *col, const cJSON *item)
{
	if (col->n >= MAX_ITEMS)
		return -EFBIG;
	if (col->n == col->cap) {
		size_t nc = col->cap ? col->cap * 2 : 64;
		void *p = col->pods ? realloc(col->pi, nc * sizeof(*col->pi))
				    : realloc(col->ns, nc * sizeof(*col->ns));
		if (!p)
			return -ENOMEM;
		if (col->pods)
			col->pi = p;
		else
			col->ns = p;
		col->cap = nc;
	}
	if (col->pods) {
		if (!(col->pi[col->n] = cache_pod_new(item, col->measurer)))
			return 0;	/* skip an item without a name */
	} else {
		const cJSON *meta = cJSON_GetObjectItemCaseSensitive(item, "metadata");
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(meta, "name");

		if (!cJSON_IsString(name) || !name_ok("namespace", name->valuestring))
			return 0;
		if (!(col->ns[col->n].name = strdup(name->valuestring)))
			return -ENOMEM;
		col->ns[col->n].created = cache_json_time(meta, "creationTimestamp");
	}
	col->n++;
	return 0;
}

/* Bodies of list pages are collected here, bounded. */
#define PAGE_MAX	(256u << 20)

struct pagebuf {
	char *p;
	size_t len, cap;
	int too_big;
};

static int page_cb(void *ud, const char *p, size_t n)
{
	struct pagebuf *b = ud;

	if (!p || !n)
		return 0;	/* idle tick */
	if (b->len + n + 1 > PAGE_MAX) {
		b->too_big = 1;
		return 1;
	}
	if (b->len + n + 1 > b->cap) {
		size_t nc = b->cap ? b->cap : 65536;
		char *q;

		while (nc < b->len + n + 1)
			nc *= 2;
		if (!(q = realloc(b->p, nc))) {
			b->too_big = 1;
			return 1;
		}
		b->p = q;
		b->cap = nc;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = 0;
	return 0;
}

static int neg_errno_for(long code)
{
	int e = http_errno(code);

	if (e > 0)
		e = -e;
	return e ? e : -EIO;
}

/* One page of a list: its items into col, metadata.continue into *cont
 * (NULL on the last page).  -EBADMSG when the body is not a JSON object
 * (items that are not objects, or lack a usable name, are skipped). */
static int parse_page(struct collector *col, const char *p, size_t n, char **cont)
{
	cJSON *doc, *items, *it, *meta, *ct;
	int rc = 0;

	*cont = NULL;
	doc = p && n ? cJSON_ParseWithLength(p, n) : NULL;
	if (!cJSON_IsObject(doc)) {
		cJSON_Delete(doc);
		return -EBADMSG;
	}
	items = cJSON_GetObjectItemCaseSensitive(doc, "items");
	if (cJSON_IsArray(items)) {
		cJSON_ArrayForEach(it, items) {
			if (!cJSON_IsObject(it))
				continue;
			if ((rc = collector_add(col, it)) < 0)
				break;
		}
	}
	meta = cJSON_GetObjectItemCaseSensitive(doc, "metadata");
	ct = cJSON_GetObjectItemCaseSensitive(meta, "resourceVersion");
	if (!col->rv[0] && cJSON_IsString(ct) && strlen(ct->valuestring) < sizeof(col->rv))
		snprintf(col->rv, sizeof(col->rv), "%s", ct->valuestring);
	ct = cJSON_GetObjectItemCaseSensitive(meta, "continue");
	if (rc == 0 && cJSON_IsString(ct) && ct->valuestring[0] &&
	    !(*cont = strdup(ct->valuestring)))
		rc = -ENOMEM;
	cJSON_Delete(doc);
	return rc;
}

int cache_parse_page(const char *p, size_t n, int pods, size_t *count,
		     char **cont)
{
	struct collector col = { .pods = pods };
	int rc = parse_page(&col, p, n, cont);

	*count = col.n;
	cache_collector_reset(&col);
	return rc;
}

/* GET base?limit=..&continue=.. until the list is complete. */
static int list_all(struct cache *c, const char *base, struct collector *col,
		    char *msg, size_t msglen)
{
	long long deadline = mono_ms() + c->timeout_ms;
	struct pagebuf page = { 0 };
	char *cont = NULL;
	int restarts = 0, rc = 0;

	msg[0] = 0;
	for (;;) {
		struct rest_resp resp;
		char path[1024];

		if ((long long)mono_ms() > deadline) {
			snprintf(msg, msglen, "listing %s took longer than the %ld ms timeout",
				 base, c->timeout_ms);
			rc = -ETIMEDOUT;
			break;
		}
		if (cont) {
			char *esc = url_escape(cont);

			if (!esc) {
				rc = -ENOMEM;
				break;
			}
			snprintf(path, sizeof(path), "%s?limit=%d&continue=%s",
				 base, LIST_LIMIT, esc);
			free(esc);
		} else
			snprintf(path, sizeof(path), "%s?limit=%d", base, LIST_LIMIT);
		memset(&resp, 0, sizeof(resp));
		free(page.p);
		memset(&page, 0, sizeof(page));
		/* Each page gets what is left of the one deadline, so a slow
		 * server cannot stretch the listing past -o timeout. */
		rc = rest_get_stream(c->rest, path, deadline - mono_ms() > 1 ?
				     deadline - mono_ms() : 1, page_cb, &page, &resp);
		if (rc == 0 && page.too_big) {
			snprintf(msg, msglen, "listing %s: a page is larger than %u MiB",
				 base, PAGE_MAX >> 20);
			rc = -EFBIG;
		}
		if (rc < 0) {
			if (!msg[0])
				snprintf(msg, msglen, "%s", resp.msg[0] ? resp.msg : strerror(-rc));
			rest_resp_free(&resp);
			break;
		}
		if (resp.code == 410 && cont && restarts < MAX_RESTARTS) {
			/* The continue token expired: start a fresh snapshot. */
			pdebug("list %s: continue token expired, restarting", base);
			rest_resp_free(&resp);
			free(cont);
			cont = NULL;
			restarts++;
			cache_collector_reset(col);
			continue;
		}
		if (resp.code != 200) {
			if (resp.msg[0])
				snprintf(msg, msglen, "%s", resp.msg);
			else
				k8s_status_message(resp.body, resp.len, msg, msglen);
			if (!msg[0])
				snprintf(msg, msglen, "HTTP %ld", resp.code);
			/* A list that keeps expiring is worth retrying later,
			 * not a stale handle. */
			rc = resp.code == 410 ? -EAGAIN : neg_errno_for(resp.code);
			rest_resp_free(&resp);
			break;
		}
		rest_resp_free(&resp);
		free(cont);
		cont = NULL;
		rc = parse_page(col, page.p, page.len, &cont);
		free(page.p);
		memset(&page, 0, sizeof(page));
		if (rc == -EBADMSG) {
			snprintf(msg, msglen, "listing %s: the reply is not a JSON list", base);
			rc = -EIO;
			break;
		}
		if (rc < 0) {
			snprintf(msg, msglen, "listing %s: %s", base, strerror(-rc));
			break;
		}
		if (!cont)
			break;
	}
	free(page.p);
	free(cont);
	return rc;
}

static int cmp_ns(const void *a, const void *b)
{
	return strcmp(((const struct ns_ent *)a)->name, ((const struct ns_ent *)b)->name);
}

/* The collected namespaces as a published list (sorted); col is emptied. */
struct name_list *cache_names_from(struct collector *col, int fallback)
{
	struct name_list *l = calloc(1, sizeof(*l));

	if (!l || (col->n && (!(l->names = calloc(col->n, sizeof(char *))) ||
			      !(l->created = calloc(col->n, sizeof(time_t)))))) {
		if (l) {
			free(l->names);
			free(l);
		}
		cache_collector_reset(col);
		return NULL;
	}
	if (col->n)
		qsort(col->ns, col->n, sizeof(*col->ns), cmp_ns);
	for (size_t i = 0; i < col->n; i++) {
		l->names[i] = col->ns[i].name;
		l->created[i] = col->ns[i].created;
	}
	l->refs = 1;
	l->fallback = fallback;
	l->n = col->n;
	free(col->ns);
	col->ns = NULL;
	col->n = col->cap = 0;
	return l;
}

static int fetch_namespaces(struct cache *c, void **out, char *rv, char *msg, size_t msglen)
{
	struct collector col = { .pods = 0 };
	struct name_list *l;
	char path[32];
	int rc;

	k8s_path(path, sizeof(path), NULL, NULL, 0, NULL);
	rc = list_all(c, path, &col, msg, msglen);

	if (rc == -EACCES && c->fallback_ns) {
		/* Namespaced users often may not list namespaces: show the
		 * one their context names, as kubectl would use it. */
		pdebug("listing namespaces forbidden (%s); showing %s only",
		       msg, c->fallback_ns);
		cache_collector_reset(&col);
		col.ns = calloc(1, sizeof(*col.ns));
		if (!col.ns || !(col.ns[0].name = strdup(c->fallback_ns))) {
			cache_collector_reset(&col);
			return -ENOMEM;
		}
		col.n = col.cap = 1;
		rc = 1;
	}
	if (rc < 0) {
		cache_collector_reset(&col);
		return rc;
	}
	/* the fallback is no list: there is nothing to watch */
	snprintf(rv, RV_MAX, "%s", rc == 1 ? "" : col.rv);
	if (!(l = cache_names_from(&col, rc == 1)))
		return -ENOMEM;
	*out = l;
	return 0;
}

static int fetch_pods(struct cache *c, const char *ns, void **out, char *rv,
		      char *msg, size_t msglen)
{
	struct collector col = { .pods = 1, .measurer = c->measurer };
	struct pod_list *l;
	char base[256];
	int rc;

	if (k8s_path(base, sizeof(base), ns, NULL, 0, NULL) < 0)
		return -ENAMETOOLONG;
	rc = list_all(c, base, &col, msg, msglen);
	if (rc < 0) {
		cache_collector_reset(&col);
		return rc;
	}
	if (!(l = calloc(1, sizeof(*l)))) {
		cache_collector_reset(&col);
		return -ENOMEM;
	}
	l->refs = 1;
	l->n = col.n;
	l->pods = col.pi;
	if (l->n)
		qsort(l->pods, l->n, sizeof(*l->pods), cmp_pod);
	snprintf(rv, RV_MAX, "%s", col.rv);
	*out = l;
	return 0;
}

/* The listing of key ("" = namespaces) and its resourceVersion (rv,
 * RV_MAX bytes; "" when it cannot be watched). */
int cache_fetch(struct cache *c, const char *key, void **out, char *rv,
		 char *msg, size_t msglen)
{
	return key[0] ? fetch_pods(c, key, out, rv, msg, msglen)
		      : fetch_namespaces(c, out, rv, msg, msglen);
}

/* ---- slots ---- */

void cache_slot_drop(struct slot *s)
{
	if (!s->data)
		return;
	if (s->key[0])
		pod_list_put(s->data);
	else
		name_list_put(s->data);
	s->data = NULL;
}

struct cache *cache_new(struct rest *r, long ttl_ms, long timeout_ms,
			const char *fallback_ns)
{
	struct cache *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->rest = r;
	c->ttl_ms = ttl_ms < 0 ? 0 : ttl_ms;
	c->timeout_ms = timeout_ms > 0 ? timeout_ms : 10000;
	if (fallback_ns && !(c->fallback_ns = strdup(fallback_ns))) {
		free(c);
		return NULL;
	}
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->done, NULL);
	return c;
}

void cache_free(struct cache *c)
{
	if (!c)
		return;
	for (int i = 0; i < CACHE_SLOTS; i++) {
		cache_slot_unwatch(&c->slots[i]);
		cache_slot_drop(&c->slots[i]);
	}
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->done);
	free(c->fallback_ns);
	free(c);
}

void cache_set_observer(struct cache *c,
			void (*fn)(void *ud, int err, const char *msg), void *ud)
{
	c->observer = fn;
	c->observer_ud = ud;
}

void cache_set_measurer(struct cache *c,
			void (*fn)(const cJSON *pod, struct pod_info *pi))
{
	c->measurer = fn;
}

/* Caller holds the lock.  Finds the slot for key or recycles the least
 * recently used idle one; NULL when every slot is busy fetching. */
static struct slot *slot_get(struct cache *c, const char *key)
{
	struct slot *free_s = NULL, *lru = NULL;

	for (int i = 0; i < CACHE_SLOTS; i++) {
		struct slot *s = &c->slots[i];

		if (s->used && !strcmp(s->key, key))
			return s;
		if (!s->used) {
			if (!free_s)
				free_s = s;
		} else if (!s->fetching && !s->pins && (!lru || s->last_use < lru->last_use))
			lru = s;
	}
	if (!free_s && lru) {
		cache_slot_unwatch(lru);
		cache_slot_drop(lru);
		free_s = lru;
	}
	if (!free_s)
		return NULL;
	memset(free_s, 0, sizeof(*free_s));
	free_s->used = 1;
	snprintf(free_s->key, sizeof(free_s->key), "%s", key);
	return free_s;
}

static void take_ref(const struct slot *s, void **out)
{
	if (s->key[0])
		__atomic_add_fetch(&((struct pod_list *)s->data)->refs, 1, __ATOMIC_ACQ_REL);
	else
		__atomic_add_fetch(&((struct name_list *)s->data)->refs, 1, __ATOMIC_ACQ_REL);
	*out = s->data;
}

static int cache_get(struct cache *c, const char *key, void **out, char *msg,
		     size_t msglen)
{
	long long now = mono_ms(), deadline = now + c->timeout_ms;
	struct slot *s;
	void *data = NULL;
	char rv[RV_MAX] = "";
	int rc;

	msg[0] = 0;
	pthread_mutex_lock(&c->lock);
	s = slot_get(c, key);
	if (!s) {
		pthread_mutex_unlock(&c->lock);
		snprintf(msg, msglen, "too many listings in flight");
		return -EAGAIN;
	}
	s->last_use = now;
	if (s->data && ((s->nw && s->wst == WATCH_LIVE) ||
			(c->ttl_ms > 0 && now - s->fetched < c->ttl_ms))) {
		take_ref(s, out);
		pthread_mutex_unlock(&c->lock);
		return 0;
	}
	if (!s->fetching && s->err && now - s->err_at < ERR_HOLD_MS) {
		snprintf(msg, msglen, "%s", s->msg);
		rc = s->err;
		pthread_mutex_unlock(&c->lock);
		return rc;
	}
	if (s->fetching) {
		/* Someone is fetching this key already: wait for its result. */
		unsigned gen = s->gen;
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += c->timeout_ms / 1000;
		ts.tv_nsec += (c->timeout_ms % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		while (s->used && s->gen == gen && s->fetching &&
		       !strcmp(s->key, key) && (long long)mono_ms() < deadline)
			if (pthread_cond_timedwait(&c->done, &c->lock, &ts) == ETIMEDOUT)
				break;
		if (!s->used || strcmp(s->key, key) || s->gen == gen) {
			pthread_mutex_unlock(&c->lock);
			snprintf(msg, msglen, "timed out waiting for a listing of %s",
				 key[0] ? key : "namespaces");
			return -ETIMEDOUT;
		}
		if (s->err) {
			rc = s->err;
			snprintf(msg, msglen, "%s", s->msg);
		} else if (s->data) {
			take_ref(s, out);
			rc = 0;
		} else
			rc = -EIO;
		pthread_mutex_unlock(&c->lock);
		return rc;
	}
	s->fetching = 1;
	pthread_mutex_unlock(&c->lock);

	rc = cache_fetch(c, key, &data, rv, msg, msglen);
	if (c->observer)
		c->observer(c->observer_ud, rc, msg);

	pthread_mutex_lock(&c->lock);
	s->fetching = 0;
	s->gen++;
	s->err = rc;
	s->err_at = mono_ms();
	snprintf(s->msg, sizeof(s->msg), "%s", msg);
	if (rc == 0) {
		cache_slot_drop(s);
		s->data = data;
		s->fetched = mono_ms();
		take_ref(s, out);
		if (c->watcher && !s->nw && rv[0])
			cache_slot_watch(c, s, rv);
	} else {
		/* A failure leaves no stale list behind: the next caller asks
		 * again, and nobody is shown pods that may be gone. */
		cache_slot_drop(s);
	}
	pthread_cond_broadcast(&c->done);
	pthread_mutex_unlock(&c->lock);
	return rc;
}

int cache_namespaces(struct cache *c, struct name_list **out, char *msg,
		     size_t msglen)
{
	void *p = NULL;
	int rc = cache_get(c, "", &p, msg, msglen);

	*out = rc ? NULL : p;
	return rc;
}

int cache_pods(struct cache *c, const char *ns, struct pod_list **out,
	       char *msg, size_t msglen)
{
	void *p = NULL;
	int rc;

	if (!ns || !ns[0] || strlen(ns) >= sizeof(((struct slot *)0)->key)) {
		snprintf(msg, msglen, "bad namespace name");
		*out = NULL;
		return -ENOENT;
	}
	rc = cache_get(c, ns, &p, msg, msglen);
	*out = rc ? NULL : p;
	return rc;
}

void cache_invalidate(struct cache *c, const char *ns)
{
	pthread_mutex_lock(&c->lock);
	for (int i = 0; i < CACHE_SLOTS; i++) {
		struct slot *s = &c->slots[i];

		if (s->used && !s->fetching && (!ns || !strcmp(s->key, ns))) {
			cache_slot_unwatch(s);
			cache_slot_drop(s);
		}
	}
	pthread_mutex_unlock(&c->lock);
}
