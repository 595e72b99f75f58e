/* The node table: every kind of node of the podfs tree, declared once.
 * For each kind: where it sits (its parent kind), its name (a fixed name,
 * or a variable one with its rule), its mode, whether the shell's `>`
 * (O_TRUNC, truncate to 0) is accepted, how its existence is decided, how
 * a directory lists its variable children, and how a file opens.  Paths
 * (path.c), the router (ops.c) and the documentation test
 * (tests/unit/test_nodes.c, against docs/tree.md and docs/podfs.1) all
 * read this table.  Pure data: no I/O. */
#ifndef PODFS_NODES_H
#define PODFS_NODES_H

#include <stddef.h>
#include <sys/types.h>

#include "fs/path.h"

/* The field of struct pfs_path a variable name goes into, which also
 * says the rule the name must follow. */
enum node_field {
	NF_FIXED = 0,		/* a fixed name */
	NF_NS,			/* DNS label */
	NF_POD,			/* DNS subdomain */
	NF_CONTAINER,		/* DNS label */
	NF_EXEC_ID,		/* DNS label */
	NF_PORT,		/* 1..65535 */
	NF_PROXY_PORT,		/* 1..65535 */
	NF_PROXY_PATH,		/* any segment(s): an HTTP path */
	NF_ROOT_PATH,		/* any segment(s): a path in the container */
};

/* What decides that a node exists in the cluster.  In order: from NE_POD
 * on, each rule includes the one before (ops.c compares with >=). */
enum node_exists {
	NE_ALWAYS,		/* the mount's own nodes */
	NE_NAMESPACE,		/* in the namespace list */
	NE_POD,			/* its pod is in its namespace's pod list */
	NE_CONTAINER,		/* its container is in the pod */
	NE_EXEC,		/* its container, and its exec session exists */
};

/* The variable children of a directory (its fixed ones come from the
 * table). */
enum node_list {
	NL_NONE,
	NL_NAMESPACES,
	NL_PODS,
	NL_CONTAINERS,
	NL_PORTS,		/* the pod's declared ports */
	NL_EXEC_SESSIONS,
};

/* How a file opens. */
enum node_open {
	NO_DIR,			/* a directory: EISDIR */
	NO_SNAPSHOT,		/* fetched at open (snapshot.c) */
	NO_ATTACH,		/* attach.c */
	NO_FOLLOW,		/* follow.c */
	NO_EXEC,		/* exec.c */
	NO_PORT,		/* ports.c */
	NO_PROXY,		/* proxy.c */
	NO_EVENTS,		/* events.c */
	NO_ROOT,		/* root.c (which also answers everything below root/) */
	NO__COUNT
};

#define PN_OWNER_ONLY	1u	/* never group or world bits, whatever -o umask says */
#define PN_TRUNC	2u	/* `>` accepted (and meaningless but for argv) */
#define PN_ACTS		4u	/* acts on the cluster even when only read (a
				 * session, a connection): absent on -o ro */
#define PN_UNLISTED	8u	/* found by name, never listed: a tree walker
				 * (cp -r, tar, find, grep -r) neither blocks on
				 * it (a stream beside pods) nor enters it
				 * (root/, a container's whole filesystem) */

struct pfs_node {
	enum pfs_kind kind;
	enum pfs_kind parent;	/* PK_NONE for the root */
	const char *name;	/* NF_FIXED: the name; else the placeholder in docs */
	enum node_field field;
	const char *id;		/* short kind name for traces */
	mode_t mode;		/* file type and permission bits before -o umask */
	unsigned flags;		/* PN_* */
	enum node_exists exists;
	enum node_list list;
	enum node_open open;
};

/* Every kind, in listing order within each parent (fixed names first). */
extern const struct pfs_node pfs_nodes[];
extern const size_t pfs_nnodes;

/* The entry of kind k, or NULL for PK_NONE and unknown kinds. */
const struct pfs_node *pfs_node(enum pfs_kind k);

/* The documented pattern of kind k: "<ns>/<pod>/<container>/exec/<id>/argv",
 * "/" for the root, a trailing "/" on directories.  0 or -ENAMETOOLONG. */
int pfs_node_pattern(enum pfs_kind k, char *buf, size_t len);

#endif
