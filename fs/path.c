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

const char *const pfs_container_files[] = {
	"exec", "log", "log.follow", "log.previous", "state",
	"stderr", "stdin", "stdout", NULL
};

const char *const pfs_exec_session_files[] = {
	"argv", "ctl", "exitcode", "status", "stderr", "stdin", "stdout",
	"wait", NULL
};

static const char *const kind_names[PK__COUNT] = {
	[PK_NONE] = "none", [PK_ROOT] = "root", [PK_META_DIR] = "meta-dir",
	[PK_META_STATUS] = "meta-status", [PK_NS] = "namespace",
	[PK_POD] = "pod", [PK_POD_JSON] = "pod-json",
	[PK_POD_STATUS] = "pod-status", [PK_PORTS_DIR] = "ports-dir",
	[PK_PORT] = "port", [PK_PROXY_DIR] = "proxy-dir",
	[PK_PROXY_PORT] = "proxy-port", [PK_PROXY_FILE] = "proxy-file",
	[PK_CONTAINER] = "container", [PK_STATE] = "state", [PK_LOG] = "log",
	[PK_LOG_PREVIOUS] = "log-previous", [PK_LOG_FOLLOW] = "log-follow",
	[PK_STDIN] = "stdin", [PK_STDOUT] = "stdout", [PK_STDERR] = "stderr",
	[PK_EXEC_DIR] = "exec-dir", [PK_EXEC_NEW] = "exec-new",
	[PK_EXEC_SESSION] = "exec-session", [PK_EXEC_ARGV] = "exec-argv",
	[PK_EXEC_CTL] = "exec-ctl", [PK_EXEC_STDIN] = "exec-stdin",
	[PK_EXEC_STDOUT] = "exec-stdout", [PK_EXEC_STDERR] = "exec-stderr",
	[PK_EXEC_STATUS] = "exec-status", [PK_EXEC_WAIT] = "exec-wait",
	[PK_EXEC_EXITCODE] = "exec-exitcode",
};

const char *pfs_kind_name(enum pfs_kind k)
{
	if ((int)k < 0 || k >= PK__COUNT || !kind_names[k])
		return "?";
	return kind_names[k];
}

int pfs_is_dir(enum pfs_kind k)
{
	switch (k) {
	case PK_ROOT: case PK_META_DIR: case PK_NS: case PK_POD:
	case PK_PORTS_DIR: case PK_PROXY_DIR: case PK_PROXY_PORT:
	case PK_CONTAINER: case PK_EXEC_DIR: case PK_EXEC_SESSION:
		return 1;
	default:
		return 0;
	}
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

static enum pfs_kind container_file(const char *name)
{
	static const struct { const char *n; enum pfs_kind k; } t[] = {
		{ "state", PK_STATE }, { "log", PK_LOG },
		{ "log.previous", PK_LOG_PREVIOUS },
		{ "log.follow", PK_LOG_FOLLOW }, { "stdin", PK_STDIN },
		{ "stdout", PK_STDOUT }, { "stderr", PK_STDERR },
		{ "exec", PK_EXEC_DIR },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (!strcmp(name, t[i].n))
			return t[i].k;
	return PK_NONE;
}

static enum pfs_kind exec_file(const char *name)
{
	static const struct { const char *n; enum pfs_kind k; } t[] = {
		{ "argv", PK_EXEC_ARGV }, { "ctl", PK_EXEC_CTL },
		{ "stdin", PK_EXEC_STDIN }, { "stdout", PK_EXEC_STDOUT },
		{ "stderr", PK_EXEC_STDERR }, { "status", PK_EXEC_STATUS },
		{ "wait", PK_EXEC_WAIT }, { "exitcode", PK_EXEC_EXITCODE },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (!strcmp(name, t[i].n))
			return t[i].k;
	return PK_NONE;
}

int pfs_child(const struct pfs_path *parent, const char *name,
	      struct pfs_path *out)
{
	size_t n = strlen(name);
	enum pfs_kind k;
	int port;

	if (n > PFS_NAME_MAX)
		return -ENAMETOOLONG;
	if (!pfs_is_dir(parent->kind) && parent->kind != PK_PROXY_FILE)
		return -ENOTDIR;
	if (n == 0 || !strcmp(name, ".") || !strcmp(name, "..") ||
	    strchr(name, '/'))
		return -ENOENT;
	*out = *parent;
	/* Below Proxy/<port> names are only HTTP path segments: whether one
	 * is a "directory" is up to the pod, so any file may have children. */
	if (parent->kind == PK_PROXY_FILE) {
		size_t have = strlen(out->proxy_path);

		if (have + 1 + n >= sizeof(out->proxy_path))
			return -ENAMETOOLONG;
		out->proxy_path[have] = '/';
		memcpy(out->proxy_path + have + 1, name, n + 1);
		return 0;
	}

	switch (parent->kind) {
	case PK_ROOT:
		if (!strcmp(name, ".podfs")) {
			out->kind = PK_META_DIR;
			return 0;
		}
		if (!pfs_valid_label(name))
			return -ENOENT;
		out->kind = PK_NS;
		return copy_name(out->ns, sizeof(out->ns), name);
	case PK_META_DIR:
		if (strcmp(name, "status"))
			return -ENOENT;
		out->kind = PK_META_STATUS;
		return 0;
	case PK_NS:
		if (parent->rooted && !strcmp(name, ".podfs")) {
			/* The namespace is the mount root: .podfs lives here,
			 * and no pod can be called that. */
			out->kind = PK_META_DIR;
			return 0;
		}
		if (!pfs_valid_subdomain(name))
			return -ENOENT;
		out->kind = PK_POD;
		return copy_name(out->pod, sizeof(out->pod), name);
	case PK_POD:
		if (!strcmp(name, "Pod.json"))
			out->kind = PK_POD_JSON;
		else if (!strcmp(name, "Status"))
			out->kind = PK_POD_STATUS;
		else if (!strcmp(name, "Ports"))
			out->kind = PK_PORTS_DIR;
		else if (!strcmp(name, "Proxy"))
			out->kind = PK_PROXY_DIR;
		else if (pfs_valid_label(name)) {
			out->kind = PK_CONTAINER;
			return copy_name(out->container, sizeof(out->container), name);
		} else
			return -ENOENT;
		return 0;
	case PK_PORTS_DIR:
		if ((port = pfs_parse_port(name)) < 0)
			return -ENOENT;
		out->kind = PK_PORT;
		out->port = port;
		return 0;
	case PK_PROXY_DIR:
		if ((port = pfs_parse_port(name)) < 0)
			return -ENOENT;
		out->kind = PK_PROXY_PORT;
		out->proxy_port = port;
		out->proxy_path[0] = 0;
		return 0;
	case PK_PROXY_PORT:
		out->kind = PK_PROXY_FILE;
		return copy_name(out->proxy_path, sizeof(out->proxy_path), name);
	case PK_CONTAINER:
		if ((k = container_file(name)) == PK_NONE)
			return -ENOENT;
		out->kind = k;
		return 0;
	case PK_EXEC_DIR:
		if (!strcmp(name, "new")) {
			out->kind = PK_EXEC_NEW;
			return 0;
		}
		if (!pfs_valid_label(name))
			return -ENOENT;
		out->kind = PK_EXEC_SESSION;
		return copy_name(out->exec_id, sizeof(out->exec_id), name);
	case PK_EXEC_SESSION:
		if ((k = exec_file(name)) == PK_NONE)
			return -ENOENT;
		out->kind = k;
		return 0;
	default:
		return -ENOTDIR;
	}
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

int pfs_format(const struct pfs_path *p, char *buf, size_t len)
{
	size_t at = 0;
	char num[16];
	int rc = 0;
	enum pfs_kind k = p->kind;

	if (len < 2)
		return -ENAMETOOLONG;
	buf[0] = 0;
	switch (k) {
	case PK_ROOT:
		return put(buf, len, &at, "/");
	case PK_META_DIR:
		return put(buf, len, &at, "/.podfs");
	case PK_META_STATUS:
		return put(buf, len, &at, "/.podfs/status");
	case PK_NONE: case PK__COUNT:
		return -EINVAL;
	default:
		break;
	}
	rc |= put(buf, len, &at, "/");
	rc |= put(buf, len, &at, p->ns);
	if (k == PK_NS)
		return rc;
	rc |= put(buf, len, &at, "/");
	rc |= put(buf, len, &at, p->pod);
	switch (k) {
	case PK_POD:
		return rc;
	case PK_POD_JSON:
		return rc | put(buf, len, &at, "/Pod.json");
	case PK_POD_STATUS:
		return rc | put(buf, len, &at, "/Status");
	case PK_PORTS_DIR:
		return rc | put(buf, len, &at, "/Ports");
	case PK_PORT:
		snprintf(num, sizeof(num), "/%d", p->port);
		return rc | put(buf, len, &at, "/Ports") | put(buf, len, &at, num);
	case PK_PROXY_DIR:
		return rc | put(buf, len, &at, "/Proxy");
	case PK_PROXY_PORT:
	case PK_PROXY_FILE:
		snprintf(num, sizeof(num), "/%d", p->proxy_port);
		rc |= put(buf, len, &at, "/Proxy") | put(buf, len, &at, num);
		if (k == PK_PROXY_FILE)
			rc |= put(buf, len, &at, "/") |
			      put(buf, len, &at, p->proxy_path);
		return rc;
	default:
		break;
	}
	rc |= put(buf, len, &at, "/");
	rc |= put(buf, len, &at, p->container);
	switch (k) {
	case PK_CONTAINER:
		return rc;
	case PK_STATE:
		return rc | put(buf, len, &at, "/state");
	case PK_LOG:
		return rc | put(buf, len, &at, "/log");
	case PK_LOG_PREVIOUS:
		return rc | put(buf, len, &at, "/log.previous");
	case PK_LOG_FOLLOW:
		return rc | put(buf, len, &at, "/log.follow");
	case PK_STDIN:
		return rc | put(buf, len, &at, "/stdin");
	case PK_STDOUT:
		return rc | put(buf, len, &at, "/stdout");
	case PK_STDERR:
		return rc | put(buf, len, &at, "/stderr");
	default:
		break;
	}
	rc |= put(buf, len, &at, "/exec");
	if (k == PK_EXEC_DIR)
		return rc;
	if (k == PK_EXEC_NEW)
		return rc | put(buf, len, &at, "/new");
	rc |= put(buf, len, &at, "/");
	rc |= put(buf, len, &at, p->exec_id);
	switch (k) {
	case PK_EXEC_SESSION: return rc;
	case PK_EXEC_ARGV: return rc | put(buf, len, &at, "/argv");
	case PK_EXEC_CTL: return rc | put(buf, len, &at, "/ctl");
	case PK_EXEC_STDIN: return rc | put(buf, len, &at, "/stdin");
	case PK_EXEC_STDOUT: return rc | put(buf, len, &at, "/stdout");
	case PK_EXEC_STDERR: return rc | put(buf, len, &at, "/stderr");
	case PK_EXEC_STATUS: return rc | put(buf, len, &at, "/status");
	case PK_EXEC_WAIT: return rc | put(buf, len, &at, "/wait");
	case PK_EXEC_EXITCODE: return rc | put(buf, len, &at, "/exitcode");
	default: return -EINVAL;
	}
}

void pfs_parent(const struct pfs_path *p, struct pfs_path *out)
{
	*out = *p;
	if (p->rooted && (p->kind == PK_NS || p->kind == PK_META_DIR)) {
		/* The root's parent is the root; ns stays as the root's. */
		out->kind = PK_NS;
		return;
	}
	switch (p->kind) {
	case PK_ROOT: case PK_META_DIR: case PK_NS: case PK_NONE: case PK__COUNT:
		pfs_root(out);
		return;
	case PK_META_STATUS:
		out->kind = PK_META_DIR;	/* keeps a rooted namespace */
		return;
	case PK_POD:
		out->kind = PK_NS;
		out->pod[0] = 0;
		return;
	case PK_POD_JSON: case PK_POD_STATUS: case PK_PORTS_DIR:
	case PK_PROXY_DIR: case PK_CONTAINER:
		out->kind = PK_POD;
		out->container[0] = 0;
		return;
	case PK_PORT:
		out->kind = PK_PORTS_DIR;
		out->port = 0;
		return;
	case PK_PROXY_PORT:
		out->kind = PK_PROXY_DIR;
		out->proxy_port = 0;
		return;
	case PK_PROXY_FILE: {
		char *slash = strrchr(out->proxy_path, '/');

		if (slash)
			*slash = 0;
		else {
			out->kind = PK_PROXY_PORT;
			out->proxy_path[0] = 0;
		}
		return;
	}
	case PK_EXEC_DIR: case PK_STATE: case PK_LOG: case PK_LOG_PREVIOUS:
	case PK_LOG_FOLLOW: case PK_STDIN: case PK_STDOUT: case PK_STDERR:
		out->kind = PK_CONTAINER;
		return;
	case PK_EXEC_NEW: case PK_EXEC_SESSION:
		out->kind = PK_EXEC_DIR;
		out->exec_id[0] = 0;
		return;
	default:
		out->kind = PK_EXEC_SESSION;
		return;
	}
}
