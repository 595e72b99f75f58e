/* The node table (see nodes.h).  The names are the public contract
 * (design.md §1).  Modes: directories 0555 and snapshot files 0444; stream
 * and session files act on the cluster with the mount owner's identity,
 * so they are the owner's alone (PN_OWNER_ONLY): -o umask= can only take
 * bits away, and never leaves group or world bits on them.  On -o ro the
 * nodes that act on the cluster even when only read or that can only be
 * written (PN_ACTS) do not exist, so a read-only mount has no side
 * effects on the cluster. */
#include "fs/nodes.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define DIR_	(S_IFDIR | 0555)
#define SNAP	(S_IFREG | 0444)
#define OWN	PN_OWNER_ONLY
#define ACTS	PN_ACTS

const struct pfs_node pfs_nodes[] = {
	/* kind, parent, name, field, id, mode, flags, exists, list, open */
	{ PK_ROOT, PK_NONE, "/", NF_FIXED, "root", DIR_, 0, NE_ALWAYS, NL_NAMESPACES, NO_DIR },
	{ PK_META_DIR, PK_ROOT, ".podfs", NF_FIXED, "meta-dir", DIR_, 0, NE_ALWAYS, NL_NONE, NO_DIR },
	{ PK_META_STATUS, PK_META_DIR, "status", NF_FIXED, "meta-status", SNAP, 0,
	  NE_ALWAYS, NL_NONE, NO_SNAPSHOT },
	{ PK_NS, PK_ROOT, "<ns>", NF_NS, "namespace", DIR_, 0, NE_NAMESPACE, NL_PODS, NO_DIR },
	/* one line per change of the namespace's pods, while open */
	{ PK_NS_EVENTS, PK_NS, ".events", NF_FIXED, "ns-events", S_IFREG | 0444, PN_UNLISTED,
	  NE_NAMESPACE,
	  NL_NONE, NO_EVENTS },
	/* not listed either: `ls NS` is exactly its pods */
	{ PK_NS_EVENT_LIST, PK_NS, "Events", NF_FIXED, "ns-event-list", SNAP, PN_UNLISTED,
	  NE_NAMESPACE, NL_NONE, NO_SNAPSHOT },
	{ PK_POD, PK_NS, "<pod>", NF_POD, "pod", DIR_, 0, NE_POD, NL_CONTAINERS, NO_DIR },
	{ PK_POD_JSON, PK_POD, "Pod.json", NF_FIXED, "pod-json", SNAP, 0, NE_POD, NL_NONE,
	  NO_SNAPSHOT },
	/* every open of a port is a connection into the pod */
	{ PK_PORTS_DIR, PK_POD, "Ports", NF_FIXED, "ports-dir", DIR_, ACTS, NE_POD, NL_PORTS,
	  NO_DIR },
	{ PK_PORT, PK_PORTS_DIR, "<port>", NF_PORT, "port", S_IFREG | 0600, OWN | PN_TRUNC | ACTS,
	  NE_POD, NL_NONE, NO_PORT },
	{ PK_PROXY_DIR, PK_POD, "Proxy", NF_FIXED, "proxy-dir", DIR_, 0, NE_POD, NL_PORTS, NO_DIR },
	/* HTTP has no listing: Proxy/<port>/ lists nothing */
	{ PK_PROXY_PORT, PK_PROXY_DIR, "<port>", NF_PROXY_PORT, "proxy-port", DIR_, 0, NE_POD,
	  NL_NONE, NO_DIR },
	{ PK_PROXY_FILE, PK_PROXY_PORT, "<path>", NF_PROXY_PATH, "proxy-file", S_IFREG | 0400, OWN,
	  NE_POD, NL_NONE, NO_PROXY },
	{ PK_POD_STATUS, PK_POD, "Status", NF_FIXED, "pod-status", SNAP, 0, NE_POD, NL_NONE,
	  NO_SNAPSHOT },
	{ PK_POD_EVENTS, PK_POD, "Events", NF_FIXED, "pod-events", SNAP, 0, NE_POD, NL_NONE,
	  NO_SNAPSHOT },
	{ PK_CONTAINER, PK_POD, "<container>", NF_CONTAINER, "container", DIR_, 0, NE_CONTAINER,
	  NL_NONE, NO_DIR },
	/* mkdir in exec/ makes a session */
	{ PK_EXEC_DIR, PK_CONTAINER, "exec", NF_FIXED, "exec-dir", S_IFDIR | 0700, OWN,
	  NE_CONTAINER, NL_EXEC_SESSIONS, NO_DIR },
	{ PK_LOG, PK_CONTAINER, "log", NF_FIXED, "log", SNAP, 0, NE_CONTAINER, NL_NONE,
	  NO_SNAPSHOT },
	{ PK_LOG_FOLLOW, PK_CONTAINER, "log.follow", NF_FIXED, "log-follow", S_IFREG | 0444, 0,
	  NE_CONTAINER, NL_NONE, NO_FOLLOW },
	{ PK_LOG_PREVIOUS, PK_CONTAINER, "log.previous", NF_FIXED, "log-previous", SNAP, 0,
	  NE_CONTAINER, NL_NONE, NO_SNAPSHOT },
	/* the container's own files: root.c answers below it, with the
	 * container's names, types and modes (the next row's mode is a
	 * placeholder).  Unlisted: walking the mount must not start a shell
	 * in every container and walk every image. */
	{ PK_CROOT, PK_CONTAINER, "root", NF_FIXED, "croot", S_IFDIR | 0755, PN_UNLISTED,
	  NE_CONTAINER, NL_NONE, NO_DIR },
	{ PK_CROOT_ENTRY, PK_CROOT, "<path>", NF_ROOT_PATH, "croot-entry", S_IFREG | 0644,
	  PN_TRUNC, NE_CONTAINER, NL_NONE, NO_ROOT },
	{ PK_STATE, PK_CONTAINER, "state", NF_FIXED, "state", SNAP, 0, NE_CONTAINER, NL_NONE,
	  NO_SNAPSHOT },
	{ PK_STDERR, PK_CONTAINER, "stderr", NF_FIXED, "stderr", S_IFREG | 0400, OWN,
	  NE_CONTAINER, NL_NONE, NO_ATTACH },
	{ PK_STDIN, PK_CONTAINER, "stdin", NF_FIXED, "stdin", S_IFREG | 0200, OWN | PN_TRUNC | ACTS,
	  NE_CONTAINER, NL_NONE, NO_ATTACH },
	{ PK_STDOUT, PK_CONTAINER, "stdout", NF_FIXED, "stdout", S_IFREG | 0400, OWN,
	  NE_CONTAINER, NL_NONE, NO_ATTACH },
	/* reading it makes a session */
	{ PK_EXEC_NEW, PK_EXEC_DIR, "new", NF_FIXED, "exec-new", S_IFREG | 0400, OWN | ACTS,
	  NE_CONTAINER, NL_NONE, NO_EXEC },
	{ PK_EXEC_SESSION, PK_EXEC_DIR, "<id>", NF_EXEC_ID, "exec-session", S_IFDIR | 0700, OWN,
	  NE_EXEC, NL_NONE, NO_DIR },
	/* argv and ctl read back what was set */
	{ PK_EXEC_ARGV, PK_EXEC_SESSION, "argv", NF_FIXED, "exec-argv", S_IFREG | 0600,
	  OWN | PN_TRUNC, NE_EXEC, NL_NONE, NO_EXEC },
	{ PK_EXEC_CTL, PK_EXEC_SESSION, "ctl", NF_FIXED, "exec-ctl", S_IFREG | 0600,
	  OWN | PN_TRUNC | ACTS, NE_EXEC, NL_NONE, NO_EXEC },
	{ PK_EXEC_EXITCODE, PK_EXEC_SESSION, "exitcode", NF_FIXED, "exec-exitcode",
	  S_IFREG | 0400, OWN, NE_EXEC, NL_NONE, NO_EXEC },
	{ PK_EXEC_STATUS, PK_EXEC_SESSION, "status", NF_FIXED, "exec-status", S_IFREG | 0400,
	  OWN, NE_EXEC, NL_NONE, NO_EXEC },
	{ PK_EXEC_STDERR, PK_EXEC_SESSION, "stderr", NF_FIXED, "exec-stderr", S_IFREG | 0400,
	  OWN, NE_EXEC, NL_NONE, NO_EXEC },
	{ PK_EXEC_STDIN, PK_EXEC_SESSION, "stdin", NF_FIXED, "exec-stdin", S_IFREG | 0200,
	  OWN | PN_TRUNC | ACTS, NE_EXEC, NL_NONE, NO_EXEC },
	{ PK_EXEC_STDOUT, PK_EXEC_SESSION, "stdout", NF_FIXED, "exec-stdout", S_IFREG | 0400,
	  OWN, NE_EXEC, NL_NONE, NO_EXEC },
	{ PK_EXEC_WAIT, PK_EXEC_SESSION, "wait", NF_FIXED, "exec-wait", S_IFREG | 0400, OWN,
	  NE_EXEC, NL_NONE, NO_EXEC },
};

const size_t pfs_nnodes = sizeof(pfs_nodes) / sizeof(pfs_nodes[0]);

const struct pfs_node *pfs_node(enum pfs_kind k)
{
	for (size_t i = 0; i < pfs_nnodes; i++)
		if (pfs_nodes[i].kind == k)
			return &pfs_nodes[i];
	return NULL;
}

int pfs_node_pattern(enum pfs_kind k, char *buf, size_t len)
{
	const struct pfs_node *n = pfs_node(k);
	size_t at;
	int r;

	if (!n || len < 2)
		return -ENAMETOOLONG;
	if (n->parent == PK_NONE) {
		snprintf(buf, len, "/");
		return 0;
	}
	if (n->parent == PK_ROOT)
		buf[0] = 0;
	else if ((r = pfs_node_pattern(n->parent, buf, len)))
		return r;
	at = strlen(buf);
	r = snprintf(buf + at, len - at, "%s%s", n->name, S_ISDIR(n->mode) ? "/" : "");
	return r < 0 || (size_t)r >= len - at ? -ENAMETOOLONG : 0;
}
