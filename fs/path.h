/* Path parsing: a path inside the mount (or a parent node plus one name)
 * becomes a struct pfs_path that says what the node is and which
 * namespace, pod, container, port or exec session it names.  Pure: no I/O,
 * no global state, so it is unit-tested on its own. */
#ifndef PODFS_PATH_H
#define PODFS_PATH_H

#include <stddef.h>

/* Kubernetes limits: namespace and container names are DNS labels (63),
 * pod names DNS subdomains (253). */
#define PFS_LABEL_MAX	63
#define PFS_SUBDOMAIN_MAX 253
#define PFS_NAME_MAX	255	/* one path component, as the kernel allows */
#define PFS_PROXY_PATH_MAX 1024
#define PFS_ROOT_PATH_MAX PFS_PROXY_PATH_MAX	/* below root/; longer is ENAMETOOLONG */

enum pfs_kind {
	PK_NONE = 0,
	PK_ROOT,		/* / */
	PK_META_DIR,		/* /.podfs */
	PK_META_STATUS,		/* /.podfs/status */
	PK_NS,			/* /<ns> */
	PK_NS_EVENTS,		/* /<ns>/.events */
	PK_NS_EVENT_LIST,	/* /<ns>/Events */
	PK_POD,			/* /<ns>/<pod> */
	PK_POD_JSON,		/* /<ns>/<pod>/Pod.json */
	PK_POD_STATUS,		/* /<ns>/<pod>/Status */
	PK_POD_EVENTS,		/* /<ns>/<pod>/Events */
	PK_PORTS_DIR,		/* /<ns>/<pod>/Ports */
	PK_PORT,		/* /<ns>/<pod>/Ports/<port> */
	PK_PROXY_DIR,		/* /<ns>/<pod>/Proxy */
	PK_PROXY_PORT,		/* /<ns>/<pod>/Proxy/<port> (a directory) */
	PK_PROXY_FILE,		/* /<ns>/<pod>/Proxy/<port>/<path...> */
	PK_CONTAINER,		/* /<ns>/<pod>/<container> */
	PK_STATE,		/* .../<container>/state */
	PK_LOG,			/* .../<container>/log */
	PK_LOG_PREVIOUS,	/* .../<container>/log.previous */
	PK_LOG_FOLLOW,		/* .../<container>/log.follow */
	PK_STDIN,		/* .../<container>/stdin */
	PK_STDOUT,		/* .../<container>/stdout */
	PK_STDERR,		/* .../<container>/stderr */
	PK_EXEC_DIR,		/* .../<container>/exec */
	PK_EXEC_NEW,		/* .../exec/new */
	PK_EXEC_SESSION,	/* .../exec/<id> */
	PK_EXEC_ARGV,		/* .../exec/<id>/argv */
	PK_EXEC_CTL,		/* .../exec/<id>/ctl */
	PK_EXEC_STDIN,		/* .../exec/<id>/stdin */
	PK_EXEC_STDOUT,		/* .../exec/<id>/stdout */
	PK_EXEC_STDERR,		/* .../exec/<id>/stderr */
	PK_EXEC_STATUS,		/* .../exec/<id>/status */
	PK_EXEC_WAIT,		/* .../exec/<id>/wait */
	PK_EXEC_EXITCODE,	/* .../exec/<id>/exitcode */
	PK_CROOT,		/* .../<container>/root: the container's "/" */
	PK_CROOT_ENTRY,		/* .../<container>/root/<path...> */
	PK__COUNT
};

struct pfs_path {
	enum pfs_kind kind;
	char ns[PFS_LABEL_MAX + 1];
	char pod[PFS_SUBDOMAIN_MAX + 1];
	char container[PFS_LABEL_MAX + 1];
	int port;			/* PK_PORT */
	char exec_id[PFS_LABEL_MAX + 1];
	int proxy_port;			/* PK_PROXY_PORT, PK_PROXY_FILE */
	int rooted;			/* -o namespace=: the mount root is the
					 * namespace ns, not the cluster */
	/* Last: the inode table keeps only the part up to its NUL. */
	union {			/* "a/b/c", no leading '/' */
		char proxy_path[PFS_PROXY_PATH_MAX];	/* PK_PROXY_FILE */
		char root_path[PFS_ROOT_PATH_MAX];	/* PK_CROOT_ENTRY: any bytes */
	};
};

/* Root node. */
void pfs_root(struct pfs_path *out);

/* Root node of a mount of one namespace (-o namespace=NS): a PK_NS node
 * with `rooted` set, whose children are its pods and ".podfs".  Every node
 * below it inherits `rooted`; its parent is itself.  -ENOENT when ns is not
 * a namespace name. */
int pfs_root_ns(struct pfs_path *out, const char *ns);

/* Is p the root of its mount (PK_ROOT, or the rooted namespace)? */
int pfs_is_root(const struct pfs_path *p);

/* The child `name` of `parent`.  Returns 0, -ENOENT when no such node can
 * exist (including names that cannot be Kubernetes names, "." and ".."),
 * -ENOTDIR when parent is not a directory, -ENAMETOOLONG past 255 bytes.
 * Whether the named object exists in the cluster is not checked here. */
int pfs_child(const struct pfs_path *parent, const char *name,
	      struct pfs_path *out);

/* A whole path, "/" or "/ns/pod/...", with the same results.  Repeated or
 * trailing slashes are accepted; "." and ".." components are not. */
int pfs_parse(const char *path, struct pfs_path *out);

/* The canonical path string ("/", "/ns/pod/app/log"); -ENAMETOOLONG when
 * it does not fit.  pfs_parse(pfs_format(p)) gives p back. */
int pfs_format(const struct pfs_path *p, char *buf, size_t len);

/* The parent node (the root's parent is the root). */
void pfs_parent(const struct pfs_path *p, struct pfs_path *out);

int pfs_is_dir(enum pfs_kind k);
/* Kinds whose name is path segments of someone else's (a proxied HTTP
 * path, a path in the container): any of them may have children. */
int pfs_is_segmented(enum pfs_kind k);
const char *pfs_kind_name(enum pfs_kind k);

/* Name checks, exposed for the tree and tests. */
int pfs_valid_label(const char *s);	/* DNS-1123 label, <= 63 */
int pfs_valid_subdomain(const char *s);	/* DNS-1123 subdomain, <= 253 */
int pfs_parse_port(const char *s);	/* 1..65535 without leading zeros, else -1 */

#endif
