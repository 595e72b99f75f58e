/* A small YAML document tree for the kubeconfig reader, built from
 * libyaml's event API: bounded in size and depth, aliases shared rather
 * than copied (a "billion laughs" file costs only its own size), with
 * lookups and scalar typing as go-yaml v2 (YAML 1.1) does them, because
 * that is what kubectl's sigs.k8s.io/yaml uses: the last of duplicated keys
 * wins, merge keys ("<<: *base") are followed, and a plain scalar may be a
 * bool, a number or null.  Every node remembers its byte offsets so a
 * value can be rewritten in place (kcpersist.c). */
#include "stream/ytree.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>


static struct ynode *ynew(struct ydoc *d, enum ytype t, int line)
{
	struct ynode *n;

	if (d->nall >= YT_MAX_NODES)
		return NULL;
	if (d->nall == d->capall) {
		size_t nc = d->capall ? d->capall * 2 : 64;
		struct ynode **p = realloc(d->all, nc * sizeof(*p));
		if (!p)
			return NULL;
		d->all = p;
		d->capall = nc;
	}
	n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	n->type = t;
	n->line = line;
	d->all[d->nall++] = n;
	return n;
}

static int yadd(struct ynode *parent, struct ynode *kid)
{
	if (parent->n == parent->cap) {
		size_t nc = parent->cap ? parent->cap * 2 : 8;
		struct ynode **p = realloc(parent->kids, nc * sizeof(*p));
		if (!p)
			return -1;
		parent->kids = p;
		parent->cap = nc;
	}
	parent->kids[parent->n++] = kid;
	return 0;
}

void ydoc_free(struct ydoc *d)
{
	for (size_t i = 0; i < d->nall; i++) {
		free(d->all[i]->val);
		free(d->all[i]->kids);
		free(d->all[i]->anchor);
		free(d->all[i]);
	}
	free(d->all);
	memset(d, 0, sizeof(*d));
}

static struct ynode *yfind_anchor(struct ydoc *d, const char *anchor)
{
	/* the latest definition of an anchor wins, as in YAML */
	for (size_t i = d->nall; i-- > 0;)
		if (d->all[i]->anchor && !strcmp(d->all[i]->anchor, anchor))
			return d->all[i];
	return NULL;
}

/* Parse the first document of buf.  An empty stream gives root == NULL. */
int yparse(const char *buf, size_t len, struct ydoc *d, char *err,
		  size_t errlen)
{
	yaml_parser_t p;
	yaml_event_t ev;
	struct ynode *stack[YT_MAX_DEPTH + 1];
	int depth = 0, done = 0, rc = -1, docs = 0;

	memset(d, 0, sizeof(*d));
	if (!yaml_parser_initialize(&p)) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	yaml_parser_set_input_string(&p, (const unsigned char *)buf, len);
	while (!done) {
		struct ynode *n = NULL;
		int line;

		if (!yaml_parser_parse(&p, &ev)) {
			snprintf(err, errlen, "not valid YAML: line %lu column %lu: %s",
				 (unsigned long)p.problem_mark.line + 1,
				 (unsigned long)p.problem_mark.column + 1,
				 p.problem ? p.problem : "parse error");
			goto out;
		}
		line = (int)ev.start_mark.line + 1;
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = 1;
			break;
		case YAML_DOCUMENT_START_EVENT:
			docs++;
			break;
		case YAML_DOCUMENT_END_EVENT:
			done = 1;	/* only the first document counts */
			break;
		case YAML_SCALAR_EVENT:
			n = ynew(d, Y_SCALAR, line);
			if (!n || !(n->val = strndup((const char *)ev.data.scalar.value,
						       ev.data.scalar.length)))
				goto toobig;
			if (ev.data.scalar.anchor)
				n->anchor = strdup((const char *)ev.data.scalar.anchor);
			n->plain = ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
				   (!ev.data.scalar.tag || !strcmp((const char *)ev.data.scalar.tag, "!"));
			break;
		case YAML_ALIAS_EVENT:
			n = yfind_anchor(d, (const char *)ev.data.alias.anchor);
			if (!n) {
				snprintf(err, errlen, "not valid YAML: line %d: unknown alias", line);
				yaml_event_delete(&ev);
				goto out;
			}
			break;
		case YAML_MAPPING_START_EVENT:
		case YAML_SEQUENCE_START_EVENT:
			if (depth >= YT_MAX_DEPTH) {
				snprintf(err, errlen, "line %d: nested deeper than %d levels",
					 line, YT_MAX_DEPTH);
				yaml_event_delete(&ev);
				goto out;
			}
			n = ynew(d, ev.type == YAML_MAPPING_START_EVENT ? Y_MAP : Y_SEQ, line);
			if (!n)
				goto toobig;
			n->flow = ev.type == YAML_MAPPING_START_EVENT &&
				  ev.data.mapping_start.style == YAML_FLOW_MAPPING_STYLE;
			{
				const yaml_char_t *a = ev.type == YAML_MAPPING_START_EVENT
					? ev.data.mapping_start.anchor : ev.data.sequence_start.anchor;
				if (a)
					n->anchor = strdup((const char *)a);
			}
			break;
		case YAML_MAPPING_END_EVENT:
		case YAML_SEQUENCE_END_EVENT:
			if (depth > 0)
				depth--;
			break;
		default:
			break;
		}
		if (n && ev.type != YAML_ALIAS_EVENT) {
			n->start = ev.start_mark.index;
			n->end = ev.end_mark.index;
			n->col = (int)ev.start_mark.column;
		}
		if (n) {
			if (depth == 0) {
				if (!d->root)
					d->root = n;
			} else if (yadd(stack[depth - 1], n) < 0) {
				goto toobig;
			}
			if ((ev.type == YAML_MAPPING_START_EVENT ||
			     ev.type == YAML_SEQUENCE_START_EVENT))
				stack[depth++] = n;
		}
		yaml_event_delete(&ev);
	}
	(void)docs;
	rc = 0;
	goto out;
toobig:
	yaml_event_delete(&ev);
	snprintf(err, errlen, "document too large (more than %d nodes) or out of memory",
		 YT_MAX_NODES);
out:
	yaml_parser_delete(&p);
	if (rc < 0)
		ydoc_free(d);
	return rc;
}

/* A merge key "<<" (YAML 1.1, which sigs.k8s.io/yaml follows): its value is
 * a map or a list of maps whose keys the enclosing map inherits, the
 * earlier list entries first. */
static int ymerge_key(const struct ynode *k)
{
	return k->type == Y_SCALAR && k->plain && !strcmp(k->val, "<<");
}

/* Map lookup as go-yaml resolves it: with duplicate keys the last wins;
 * keys of the map itself win over merged ones. */
static struct ynode *yget_depth(const struct ynode *m, const char *key, int depth)
{
	if (!m || m->type != Y_MAP || depth > YT_MAX_DEPTH)
		return NULL;
	for (size_t i = m->n & ~(size_t)1; i >= 2; i -= 2)
		if (m->kids[i - 2]->type == Y_SCALAR && !ymerge_key(m->kids[i - 2]) &&
		    !strcmp(m->kids[i - 2]->val, key))
			return m->kids[i - 1];
	for (size_t i = 0; i + 1 < m->n; i += 2) {
		const struct ynode *v = m->kids[i + 1];
		struct ynode *r = NULL;

		if (!ymerge_key(m->kids[i]))
			continue;
		if (v->type == Y_MAP)
			r = yget_depth(v, key, depth + 1);
		for (size_t j = 0; v->type == Y_SEQ && j < v->n && !r; j++)
			r = yget_depth(v->kids[j], key, depth + 1);
		if (r)
			return r;
	}
	return NULL;
}

struct ynode *yget(const struct ynode *m, const char *key)
{
	return yget_depth(m, key, 0);
}

enum ykind yresolve(const struct ynode *n, int *bval)
{
	static const char *const yes[] = { "y", "Y", "yes", "Yes", "YES", "true", "True",
					   "TRUE", "on", "On", "ON" };
	static const char *const no[] = { "n", "N", "no", "No", "NO", "false", "False",
					  "FALSE", "off", "Off", "OFF" };
	const char *v = n->val;
	char *end;

	if (!n->plain)
		return v[0] ? YK_STR : YK_NULL;	/* "" means unset to a Go field too */
	if (!v[0] || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") ||
	    !strcmp(v, "NULL"))
		return YK_NULL;
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (!strcmp(v, yes[i]) || !strcmp(v, no[i])) {
			if (bval)
				*bval = !strcmp(v, yes[i]);
			return YK_BOOL;
		}
	}
	if (!strchr("+-.0123456789", v[0]))
		return YK_STR;
	if (!strcmp(v, ".inf") || !strcmp(v, "-.inf") || !strcmp(v, "+.inf") ||
	    !strcmp(v, ".nan") || !strcmp(v, ".Inf") || !strcmp(v, ".NaN"))
		return YK_NUM;
	errno = 0;
	(void)strtoll(v, &end, 0);
	if (!*end && end != v)
		return YK_NUM;
	(void)strtod(v, &end);
	return !*end && end != v ? YK_NUM : YK_STR;
}

/* A YAML null ("", "~", "null") in a field means "not set". */
int yis_null(const struct ynode *n)
{
	return !n || (n->type == Y_SCALAR && yresolve(n, NULL) == YK_NULL);
}

const char *ykind_name(const struct ynode *n)
{
	if (n->type != Y_SCALAR)
		return n->type == Y_MAP ? "a mapping" : "a list";
	switch (yresolve(n, NULL)) {
	case YK_BOOL: return "a boolean";
	case YK_NUM: return "a number";
	default: return "a string";
	}
}

