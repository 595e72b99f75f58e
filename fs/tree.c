/* Inode table for podfs (see tree.h).  Two chained hash tables index the
 * same nodes, one by canonical path string and one by inode number.  A
 * node keeps its path in an allocation only up to the end of proxy_path
 * (the last field), so a pod's node costs a few hundred bytes, not the
 * 1.5 KiB of a whole struct pfs_path (docs/tree.md measures it); a rename
 * below root/ replaces that allocation.
 * Inode numbers are never reused, so a stale kernel reference can never
 * reach a different node.  One mutex guards everything; every operation is
 * a hash probe, so contention stays small. */
#include "fs/tree.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NBUCKETS 4096

/* Every field of every node, and the tables, are guarded by `lock`, a
 * leaf: nothing else is locked under it (docs/locking.md). */
struct node {
	fuse_ino_t ino;			/* fixed */
	uint64_t nlookup;		/* (lock) */
	off_t size;			/* (lock) */
	char *key;			/* (lock) pfs_format of path; changes on rename */
	struct pfs_path *path;		/* (lock) allocated up to its proxy/root
					 * path's NUL (path_size); changes on rename */
	struct node *next_key, *next_ino;	/* (lock) */
};

/* The bytes of p up to the end of its proxy (or root) path. */
static size_t path_size(const struct pfs_path *p)
{
	return offsetof(struct pfs_path, proxy_path) +
	       strnlen(p->proxy_path, sizeof(p->proxy_path) - 1) + 1;
}

/* A copy of p in path_size(p) bytes, its last path terminated; NULL when
 * out of memory. */
static struct pfs_path *path_dup(const struct pfs_path *p)
{
	size_t n = path_size(p);
	struct pfs_path *c = malloc(n);

	if (c) {
		memcpy(c, p, n);
		((char *)c)[n - 1] = 0;
	}
	return c;
}

static void path_copy(struct pfs_path *out, const struct pfs_path *p)
{
	size_t n = path_size(p);

	memcpy(out, p, n);
	memset((char *)out + n, 0, sizeof(*out) - n);
}

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct node *by_key[NBUCKETS], *by_ino[NBUCKETS];	/* (lock) */
static struct pfs_path root_path;	/* set before mounting, then fixed */
static struct node root = { .path = &root_path };
static fuse_ino_t next_ino = FUSE_ROOT_ID + 1;	/* (lock) never reused */
static size_t count;			/* (lock) */

static unsigned hash_str(const char *s)
{
	unsigned h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h % NBUCKETS;
}

static unsigned hash_ino(fuse_ino_t ino)
{
	return (unsigned)((ino * 11400714819323198485ull) >> 52) % NBUCKETS;
}

int tree_init(void)
{
	memset(&root, 0, sizeof(root));
	root.ino = FUSE_ROOT_ID;
	root.path = &root_path;
	pfs_root(&root_path);
	return 0;
}

void tree_set_root(const struct pfs_path *p)
{
	root_path = *p;
}

void tree_destroy(void)
{
	pthread_mutex_lock(&lock);
	for (int i = 0; i < NBUCKETS; i++) {
		struct node *n = by_ino[i], *nx;

		for (; n; n = nx) {
			nx = n->next_ino;
			free(n->key);
			free(n->path);
			free(n);
		}
		by_ino[i] = by_key[i] = NULL;
	}
	count = 0;
	pthread_mutex_unlock(&lock);
}

static struct node *find_key(const char *key, unsigned h)
{
	for (struct node *n = by_key[h]; n; n = n->next_key)
		if (!strcmp(n->key, key))
			return n;
	return NULL;
}

static struct node *find_ino(fuse_ino_t ino)
{
	if (ino == FUSE_ROOT_ID)
		return &root;
	for (struct node *n = by_ino[hash_ino(ino)]; n; n = n->next_ino)
		if (n->ino == ino)
			return n;
	return NULL;
}

fuse_ino_t tree_ref(const struct pfs_path *p, uint64_t nref)
{
	char key[PATH_MAX + PFS_PROXY_PATH_MAX];
	struct node *n;
	unsigned h;
	fuse_ino_t ino;

	if (pfs_is_root(p))
		return FUSE_ROOT_ID;
	if (pfs_format(p, key, sizeof(key)))
		return 0;
	h = hash_str(key);
	pthread_mutex_lock(&lock);
	n = find_key(key, h);
	if (!n) {
		n = calloc(1, sizeof(*n));
		if (!n || !(n->key = strdup(key)) || !(n->path = path_dup(p))) {
			if (n)
				free(n->key);
			free(n);
			pthread_mutex_unlock(&lock);
			return 0;
		}
		n->ino = next_ino++;
		n->next_key = by_key[h];
		by_key[h] = n;
		n->next_ino = by_ino[hash_ino(n->ino)];
		by_ino[hash_ino(n->ino)] = n;
		count++;
	}
	n->nlookup += nref;
	ino = n->ino;
	pthread_mutex_unlock(&lock);
	return ino;
}

fuse_ino_t tree_find(const struct pfs_path *p)
{
	char key[PATH_MAX + PFS_PROXY_PATH_MAX];
	struct node *n;
	fuse_ino_t ino = 0;

	if (pfs_is_root(p))
		return FUSE_ROOT_ID;
	if (pfs_format(p, key, sizeof(key)))
		return 0;
	pthread_mutex_lock(&lock);
	if ((n = find_key(key, hash_str(key))))
		ino = n->ino;
	pthread_mutex_unlock(&lock);
	return ino;
}

int tree_get(fuse_ino_t ino, struct pfs_path *out)
{
	struct node *n;
	int rc = -ESTALE;

	pthread_mutex_lock(&lock);
	if ((n = find_ino(ino))) {
		path_copy(out, n->path);
		rc = 0;
	}
	pthread_mutex_unlock(&lock);
	return rc;
}

static void unlink_node(struct node *n)
{
	struct node **pp;

	for (pp = &by_key[hash_str(n->key)]; *pp; pp = &(*pp)->next_key)
		if (*pp == n) {
			*pp = n->next_key;
			break;
		}
	for (pp = &by_ino[hash_ino(n->ino)]; *pp; pp = &(*pp)->next_ino)
		if (*pp == n) {
			*pp = n->next_ino;
			break;
		}
	count--;
}

void tree_forget(fuse_ino_t ino, uint64_t nref)
{
	struct node *n;

	if (ino == FUSE_ROOT_ID)
		return;
	pthread_mutex_lock(&lock);
	n = find_ino(ino);
	if (n) {
		n->nlookup = nref >= n->nlookup ? 0 : n->nlookup - nref;
		if (!n->nlookup) {
			unlink_node(n);
			free(n->key);
			free(n->path);
			free(n);
		}
	}
	pthread_mutex_unlock(&lock);
}

void tree_set_size(fuse_ino_t ino, off_t size)
{
	struct node *n;

	pthread_mutex_lock(&lock);
	if ((n = find_ino(ino)))
		n->size = size;
	pthread_mutex_unlock(&lock);
}

off_t tree_size(fuse_ino_t ino)
{
	struct node *n;
	off_t s = 0;

	pthread_mutex_lock(&lock);
	if ((n = find_ino(ino)))
		s = n->size;
	pthread_mutex_unlock(&lock);
	return s;
}

size_t tree_count(void)
{
	size_t c;

	pthread_mutex_lock(&lock);
	c = count;
	pthread_mutex_unlock(&lock);
	return c;
}

/* Re-key n (lock held) to key k, parsed as its new path; a key that is no
 * path (a replaced node's) keeps the old path, which nothing finds. */
static void rekey_locked(struct node *n, char *k)
{
	struct node **pp = &by_key[hash_str(n->key)];
	unsigned h = hash_str(k);
	struct pfs_path np, *c;

	for (; *pp; pp = &(*pp)->next_key)
		if (*pp == n) {
			*pp = n->next_key;
			break;
		}
	free(n->key);
	n->key = k;
	if (k[0] == '/' && !pfs_parse(k, &np) && (c = path_dup(&np))) {
		free(n->path);
		n->path = c;
	}
	n->next_key = by_key[h];
	by_key[h] = n;
}

void tree_rename(const struct pfs_path *from, const struct pfs_path *to)
{
	char a[PATH_MAX + PFS_PROXY_PATH_MAX], b[PATH_MAX + PFS_PROXY_PATH_MAX];
	size_t la;
	struct node *old;

	if (pfs_format(from, a, sizeof(a)) || pfs_format(to, b, sizeof(b)))
		return;
	la = strlen(a);
	pthread_mutex_lock(&lock);
	/* The node the rename replaced keeps its inode for the kernel, but
	 * no path leads to it any more. */
	if ((old = find_key(b, hash_str(b)))) {
		char *k = malloc(32);

		if (k) {
			snprintf(k, 32, "\1replaced %lu", (unsigned long)old->ino);
			rekey_locked(old, k);
		}
	}
	for (int i = 0; i < NBUCKETS; i++)
		for (struct node *n = by_ino[i]; n; n = n->next_ino) {
			char *k;

			if (strncmp(n->key, a, la) || (n->key[la] && n->key[la] != '/'))
				continue;
			if (!(k = malloc(strlen(b) + strlen(n->key + la) + 1)))
				continue;
			strcpy(k, b);
			strcat(k, n->key + la);
			rekey_locked(n, k);
		}
	pthread_mutex_unlock(&lock);
}
