/* Path parsing for the podfs tree (design.md §1).  Kubernetes names are
 * lowercase DNS names; every name podfs invents starts with an uppercase
 * letter or a dot, or lives inside a container directory where no
 * Kubernetes name can appear, so a name is classified by its position
 * alone.  Names that can never be Kubernetes names are rejected here with
 * ENOENT, which spares the API server requests that cannot succeed. */
#include "fs/path.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "fs/nodes.h"

const char *pfs_kind_name(enum pfs_kind k)
{
	const struct pfs_node *n = pfs_node(k);

	return k == PK_NONE ? "none" : n ? n->id : "?";
}

int pfs_is_segmented(enum pfs_kind k)
{
	return k == PK_PROXY_FILE || k == PK_CROOT_ENTRY;
}

int pfs_is_dir(enum pfs_kind k)
{
	const struct pfs_node *n = pfs_node(k);

	return n && S_ISDIR(n->mode);
}

static int alnum_lower(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* One DNS label of length n at s. */
static int label_ok(const char *s, size_t n)
{
	if (n == 0 || n > PFS_LABEL_MAX)
		return 0;
	if (!alnum_lower(s[0]) || !alnum_lower(s[n - 1]))
		return 0;
	for (size_t i = 1; i + 1 < n; i++)
		if (!alnum_lower(s[i]) && s[i] != '-')
			return 0;
	return 1;
}

int pfs_valid_label(const char *s)
{
	return label_ok(s, strlen(s));
}

int pfs_valid_subdomain(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > PFS_SUBDOMAIN_MAX)
		return 0;
	while (*s) {
		const char *dot = strchr(s, '.');
		size_t len = dot ? (size_t)(dot - s) : strlen(s);

		if (!label_ok(s, len))
			return 0;
		if (!dot)
			break;
		s = dot + 1;
		if (!*s)
			return 0;	/* trailing dot */
	}
	return 1;
}

int pfs_parse_port(const char *s)
{
	int v = 0;

	if (!s[0] || s[0] == '0' || strlen(s) > 5)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s - '0');
	}
	return v <= 65535 ? v : -1;
}

void pfs_root(struct pfs_path *out)
{
	memset(out, 0, sizeof(*out));
	out->kind = PK_ROOT;
}

int pfs_root_ns(struct pfs_path *out, const char *ns)
{
	pfs_root(out);
	if (!ns || !pfs_valid_label(ns))
		return -ENOENT;
	out->kind = PK_NS;
	out->rooted = 1;
	strcpy(out->ns, ns);	/* a valid label fits */
	return 0;
}

int pfs_is_root(const struct pfs_path *p)
{
	return p->kind == PK_ROOT || (p->kind == PK_NS && p->rooted);
}

static int copy_name(char *dst, size_t cap, const char *src)
{
	size_t n = strlen(src);

	if (n >= cap)
		return -ENOENT;
	memcpy(dst, src, n + 1);
	return 0;
}

/* Does name follow the rule of field f?  For a port field *port gets its
 * value. */
static int name_fits(enum node_field f, const char *name, int *port)
{
	switch (f) {
	case NF_NS: case NF_CONTAINER: case NF_EXEC_ID:
		return pfs_valid_label(name);
	case NF_POD:
		return pfs_valid_subdomain(name);
	case NF_PORT: case NF_PROXY_PORT:
		return (*port = pfs_parse_port(name)) >= 0;
	case NF_PROXY_PATH: case NF_ROOT_PATH:
		return 1;
	default:
		return 0;
	}
}

/* Store a variable name in its field of out. */
static int set_field(struct pfs_path *out, enum node_field f, const char *name, int port)
{
	switch (f) {
	case NF_NS:
		return copy_name(out->ns, sizeof(out->ns), name);
	case NF_POD:
		return copy_name(out->pod, sizeof(out->pod), name);
	case NF_CONTAINER:
		return copy_name(out->container, sizeof(out->container), name);
	case NF_EXEC_ID:
		return copy_name(out->exec_id, sizeof(out->exec_id), name);
	case NF_PORT:
		out->port = port;
		return 0;
	case NF_PROXY_PORT:
		out->proxy_port = port;
		out->proxy_path[0] = 0;
		return 0;
	case NF_PROXY_PATH:
		return copy_name(out->proxy_path, sizeof(out->proxy_path), name);
	case NF_ROOT_PATH:
		return copy_name(out->root_path, sizeof(out->root_path), name);
	default:
		return 0;
	}
}

/* The child of a node of kind `kind` called name: a fixed name first, else
 * the kind's variable child when the name follows its rule.  The root's
 * fixed children (.podfs) also hang below a rooted namespace. */
static int child_of(enum pfs_kind kind, int rooted, const char *name, struct pfs_path *out)
{
	const struct pfs_node *var = NULL;
	int port = 0;

	for (size_t i = 0; i < pfs_nnodes; i++) {
		const struct pfs_node *n = &pfs_nodes[i];
		int mine = n->parent == kind || (rooted && kind == PK_NS && n->parent == PK_ROOT);

		if (!mine)
			continue;
		if (n->field == NF_FIXED && !strcmp(n->name, name)) {
			out->kind = n->kind;
			return 0;
		}
		if (n->field != NF_FIXED && n->parent == kind && !var)
			var = n;
	}
	if (!var || !name_fits(var->field, name, &port))
		return -ENOENT;
	out->kind = var->kind;
	return set_field(out, var->field, name, port);
}

int pfs_child(const struct pfs_path *parent, const char *name,
	      struct pfs_path *out)
{
	size_t n = strlen(name);

	if (n > PFS_NAME_MAX)
		return -ENAMETOOLONG;
	if (!pfs_is_dir(parent->kind) && !pfs_is_segmented(parent->kind))
		return -ENOTDIR;
	if (n == 0 || !strcmp(name, ".") || !strcmp(name, "..") ||
	    strchr(name, '/'))
		return -ENOENT;
	*out = *parent;
	/* Below Proxy/<port> names are only HTTP path segments, below root/
	 * the container's names: whether one is a directory is up to the pod,
	 * so any such node may have children (same buffer, see path.h). */
	if (pfs_is_segmented(parent->kind)) {
		size_t have = strlen(out->proxy_path);

		if (have + 1 + n >= sizeof(out->proxy_path))
			return -ENAMETOOLONG;
		out->proxy_path[have] = '/';
		memcpy(out->proxy_path + have + 1, name, n + 1);
		return 0;
	}
	return child_of(parent->kind, parent->rooted, name, out);
}

int pfs_parse(const char *path, struct pfs_path *out)
{
	struct pfs_path cur, next;
	char comp[PFS_NAME_MAX + 2];
	const char *s = path;

	if (!path || path[0] != '/')
		return -ENOENT;
	pfs_root(&cur);
	for (;;) {
		const char *e;
		size_t n;
		int rc;

		while (*s == '/')
			s++;
		if (!*s)
			break;
		e = strchrnul(s, '/');
		n = (size_t)(e - s);
		if (n > PFS_NAME_MAX)
			return -ENAMETOOLONG;
		memcpy(comp, s, n);
		comp[n] = 0;
		rc = pfs_child(&cur, comp, &next);
		if (rc)
			return rc;
		cur = next;
		s = e;
	}
	*out = cur;
	return 0;
}

static int put(char *buf, size_t len, size_t *at, const char *s)
{
	size_t n = strlen(s);

	if (*at + n + 1 > len)
		return -ENAMETOOLONG;
	memcpy(buf + *at, s, n + 1);
	*at += n;
	return 0;
}

/* The name of p's own level: its fixed name or the value of its field. */
static const char *level_name(const struct pfs_path *p, const struct pfs_node *n, char *num,
			      size_t numlen)
{
	switch (n->field) {
	case NF_FIXED: return n->name;
	case NF_NS: return p->ns;
	case NF_POD: return p->pod;
	case NF_CONTAINER: return p->container;
	case NF_EXEC_ID: return p->exec_id;
	case NF_PORT: snprintf(num, numlen, "%d", p->port); return num;
	case NF_PROXY_PORT: snprintf(num, numlen, "%d", p->proxy_port); return num;
	case NF_PROXY_PATH: return p->proxy_path;
	case NF_ROOT_PATH: return p->root_path;
	}
	return "";
}

static int format_at(const struct pfs_path *p, enum pfs_kind k, char *buf, size_t len,
		     size_t *at)
{
	const struct pfs_node *n = pfs_node(k);
	char num[16];
	int rc;

	if (!n || k == PK_ROOT)
		return n ? 0 : -EINVAL;
	if ((rc = format_at(p, n->parent, buf, len, at)))
		return rc;
	return put(buf, len, at, "/") | put(buf, len, at, level_name(p, n, num, sizeof(num)));
}

int pfs_format(const struct pfs_path *p, char *buf, size_t len)
{
	size_t at = 0;
	int rc;

	if (len < 2)
		return -ENAMETOOLONG;
	buf[0] = 0;
	if (p->kind == PK_ROOT)
		return put(buf, len, &at, "/");
	rc = format_at(p, p->kind, buf, len, &at);
	return rc == -EINVAL ? rc : rc ? -ENAMETOOLONG : 0;
}

void pfs_parent(const struct pfs_path *p, struct pfs_path *out)
{
	const struct pfs_node *n = pfs_node(p->kind);
	char *slash;

	*out = *p;
	if (!n || n->parent == PK_NONE || n->parent == PK_ROOT) {
		/* The root's parent is the root; a rooted namespace is the
		 * root of its mount, and keeps its ns. */
		if (p->rooted)
			out->kind = PK_NS;
		else
			pfs_root(out);
		return;
	}
	out->kind = n->parent;
	switch (n->field) {
	case NF_POD: out->pod[0] = 0; break;
	case NF_CONTAINER: out->container[0] = 0; break;
	case NF_EXEC_ID: out->exec_id[0] = 0; break;
	case NF_PORT: out->port = 0; break;
	case NF_PROXY_PORT: out->proxy_port = 0; break;
	case NF_PROXY_PATH: case NF_ROOT_PATH:
		/* one path segment up, or Proxy/<port> (root/) itself */
		if ((slash = strrchr(out->proxy_path, '/'))) {
			*slash = 0;
			out->kind = p->kind;
		} else {
			out->proxy_path[0] = 0;
		}
		break;
	default:
		break;
	}
}
