/* Unit test for a mount of one namespace (-o namespace=): the rooted
 * namespace node from pfs_root_ns, its children (pods and .podfs), parents
 * that stop at the root, and names that are refused. */
#include "fs/path.h"
#include "tests/unit/check.h"

#include <errno.h>
#include <string.h>

int main(void)
{
	struct pfs_path r, c, d, e, up;
	char buf[512];

	CHECK(pfs_root_ns(&r, "Bad_Name") == -ENOENT);
	CHECK(pfs_root_ns(&r, "") == -ENOENT);
	CHECK(pfs_root_ns(&r, NULL) == -ENOENT);
	CHECK(pfs_root_ns(&r, "demo") == 0);
	CHECK(r.kind == PK_NS && r.rooted && !strcmp(r.ns, "demo"));
	CHECK(pfs_is_root(&r));
	CHECK(pfs_is_dir(r.kind));

	/* The root's parent is the root. */
	pfs_parent(&r, &up);
	CHECK(pfs_is_root(&up) && up.kind == PK_NS && !strcmp(up.ns, "demo"));

	/* .podfs lives at the rooted namespace, and its parent is the root. */
	CHECK(pfs_child(&r, ".podfs", &c) == 0 && c.kind == PK_META_DIR);
	CHECK(!pfs_is_root(&c));
	pfs_parent(&c, &up);
	CHECK(pfs_is_root(&up) && !strcmp(up.ns, "demo"));
	CHECK(pfs_child(&c, "status", &d) == 0 && d.kind == PK_META_STATUS);
	pfs_parent(&d, &up);
	CHECK(up.kind == PK_META_DIR && up.rooted);
	CHECK(pfs_format(&d, buf, sizeof(buf)) == 0 && !strcmp(buf, "/.podfs/status"));

	/* Pods directly below the root, in namespace demo. */
	CHECK(pfs_child(&r, "web-0", &c) == 0 && c.kind == PK_POD);
	CHECK(!strcmp(c.ns, "demo") && !strcmp(c.pod, "web-0") && c.rooted);
	CHECK(!pfs_is_root(&c));
	pfs_parent(&c, &up);
	CHECK(pfs_is_root(&up));
	CHECK(pfs_child(&c, "app", &d) == 0 && d.kind == PK_CONTAINER);
	CHECK(pfs_child(&d, "stdin", &e) == 0 && e.kind == PK_STDIN && !strcmp(e.ns, "demo"));
	CHECK(pfs_format(&e, buf, sizeof(buf)) == 0 && !strcmp(buf, "/demo/web-0/app/stdin"));
	CHECK(pfs_child(&c, "Ports", &d) == 0 && pfs_child(&d, "80", &e) == 0 &&
	      e.kind == PK_PORT && e.port == 80);

	/* Not pod names. */
	CHECK(pfs_child(&r, "Web", &c) == -ENOENT);
	CHECK(pfs_child(&r, "..", &c) == -ENOENT);
	CHECK(pfs_child(&r, ".other", &c) == -ENOENT);

	/* An ordinary namespace below the cluster root is not a root, and
	 * has no .podfs. */
	pfs_root(&r);
	CHECK(pfs_is_root(&r));
	CHECK(pfs_child(&r, "demo", &c) == 0 && c.kind == PK_NS && !c.rooted);
	CHECK(!pfs_is_root(&c));
	CHECK(pfs_child(&c, ".podfs", &d) == -ENOENT);
	return check_report("test_path_rootns");
}
