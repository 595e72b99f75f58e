/* libFuzzer target for path parsing (fs/path.c): whole paths and single
 * names under each kind of directory.  Whatever parses must format back
 * to a path that parses to the same node, and no parse may accept "..",
 * "." or a '/' inside a component. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fs/path.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_path_roundtrip(const struct pfs_path *p)
{
	char buf[4096];
	struct pfs_path q;

	if (pfs_format(p, buf, sizeof(buf)) != 0)
		return;
	if (pfs_parse(buf, &q) != 0 || q.kind != p->kind)
		abort();
	if (strcmp(q.ns, p->ns) || strcmp(q.pod, p->pod) ||
	    strcmp(q.container, p->container))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;
	struct pfs_path p, parent, child;

	if (size > 8192)
		return 0;
	if (!(s = malloc(size + 1)))
		return 0;
	memcpy(s, data, size);
	s[size] = 0;
	if (pfs_parse(s, &p) == 0) {
		fuzz_path_roundtrip(&p);
		pfs_parent(&p, &parent);
		(void)pfs_is_dir(p.kind);
		(void)pfs_kind_name(p.kind);
	}
	/* The same bytes as one name under a node of each directory kind. */
	{
		static const char *const dirs[] = {
			"/", "/ns", "/ns/pod", "/ns/pod/Ports", "/ns/pod/Proxy",
			"/ns/pod/Proxy/80", "/ns/pod/Proxy/80/a", "/ns/pod/app",
			"/ns/pod/app/exec", "/ns/pod/app/exec/1", "/.podfs",
		};
		for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
			if (pfs_parse(dirs[i], &parent) != 0)
				continue;
			if (pfs_child(&parent, s, &child) == 0) {
				if (!strcmp(s, ".") || !strcmp(s, "..") ||
				    strchr(s, '/') || !s[0])
					abort();
				fuzz_path_roundtrip(&child);
			}
		}
	}
	(void)pfs_valid_label(s);
	(void)pfs_valid_subdomain(s);
	(void)pfs_parse_port(s);
	free(s);
	return 0;
}
