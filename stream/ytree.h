/* The YAML document tree of the kubeconfig reader (ytree.c). */
#ifndef PODFS_YTREE_H
#define PODFS_YTREE_H

#include <stddef.h>

#define YT_MAX_DEPTH	64
#define YT_MAX_NODES	200000

enum ytype { Y_SCALAR, Y_MAP, Y_SEQ };

struct ynode {
	enum ytype type;
	char *val;		/* scalar text */
	size_t n;		/* children: maps hold key,value pairs (2n slots) */
	size_t cap;
	struct ynode **kids;
	char *anchor;
	int line;
	int plain;		/* a plain scalar without a tag: YAML 1.1 may
				 * resolve it to a bool, number or null */
	size_t start, end;	/* byte offsets in the file (a map: its start) */
	int col;		/* column of its first byte */
	int flow;		/* a { } mapping */
};

/* All nodes of one document live in an arena so aliases can point at an
 * anchored node without ownership questions. */
struct ydoc {
	struct ynode **all;
	size_t nall, capall;
	struct ynode *root;
};

/* What a scalar means to go-yaml v2 (YAML 1.1), which kubectl's
 * sigs.k8s.io/yaml uses before decoding JSON into typed fields: a quoted or
 * tagged scalar is a string; a plain one may be null, a bool (y, yes, on,
 * true ... in three spellings) or a number. */
enum ykind { YK_STR, YK_NULL, YK_BOOL, YK_NUM };

/* Parse the first document of buf.  An empty stream gives root == NULL.
 * 0, or -1 with one line in err. */
int yparse(const char *buf, size_t len, struct ydoc *d, char *err, size_t errlen);
void ydoc_free(struct ydoc *d);

/* Map lookup: the last of duplicated keys, then merged maps; NULL when
 * absent or m is not a map. */
struct ynode *yget(const struct ynode *m, const char *key);

enum ykind yresolve(const struct ynode *n, int *bval);
int yis_null(const struct ynode *n);	/* absent or a YAML null */
const char *ykind_name(const struct ynode *n);	/* "a string", "a mapping" ... */

#endif
