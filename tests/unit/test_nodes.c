/* Unit test for the node table (fs/nodes.c): every kind has exactly one
 * entry whose parent chain reaches the root, directories list and files
 * open, and the documentation cannot drift from it: docs/tree.md's node
 * table and the man page's PERMISSIONS list must give each node the
 * table's mode and O_TRUNC rule, with no row the table does not have.
 * Run from the repository root (tests/run does). */
#include "fs/nodes.h"
#include "fs/path.h"
#include "tests/unit/check.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define LINE_MAX_ 1024

static void table_shape(void)
{
	for (int k = PK_NONE + 1; k < PK__COUNT; k++) {
		const struct pfs_node *n = pfs_node(k);
		int count = 0, depth = 0;

		for (size_t i = 0; i < pfs_nnodes; i++)
			count += pfs_nodes[i].kind == (enum pfs_kind)k;
		CHECK_MSG(count == 1, "kind %d has %d entries", k, count);
		if (!n)
			continue;
		for (const struct pfs_node *p = n; p && p->parent != PK_NONE; p = pfs_node(p->parent))
			depth++;
		CHECK_MSG(depth < 8, "kind %s: parent chain does not reach the root", n->id);
		CHECK(S_ISDIR(n->mode) == (n->open == NO_DIR));
		CHECK(S_ISDIR(n->mode) || n->list == NL_NONE);
		/* owner-only nodes have no group or world bits to take */
		CHECK(!(n->flags & PN_OWNER_ONLY) || !(n->mode & 077));
		/* only something written can be truncated */
		CHECK(!(n->flags & PN_TRUNC) || (n->mode & 0200));
	}
	CHECK(pfs_node(PK_NONE) == NULL);
	/* at most one variable child per directory: a name is classified by
	 * its position alone */
	for (int k = PK_NONE + 1; k < PK__COUNT; k++) {
		int vars = 0;

		for (size_t i = 0; i < pfs_nnodes; i++)
			vars += pfs_nodes[i].parent == (enum pfs_kind)k && pfs_nodes[i].field != NF_FIXED;
		CHECK_MSG(vars <= 1, "kind %d has %d variable children", k, vars);
	}
}

static void patterns(void)
{
	char buf[256];

	CHECK(pfs_node_pattern(PK_ROOT, buf, sizeof(buf)) == 0 && !strcmp(buf, "/"));
	CHECK(pfs_node_pattern(PK_META_STATUS, buf, sizeof(buf)) == 0 &&
	      !strcmp(buf, ".podfs/status"));
	CHECK(pfs_node_pattern(PK_EXEC_ARGV, buf, sizeof(buf)) == 0 &&
	      !strcmp(buf, "<ns>/<pod>/<container>/exec/<id>/argv"));
	CHECK(pfs_node_pattern(PK_EXEC_SESSION, buf, sizeof(buf)) == 0 &&
	      !strcmp(buf, "<ns>/<pod>/<container>/exec/<id>/"));
	CHECK(pfs_node_pattern(PK_EXEC_ARGV, buf, 10) == -ENAMETOOLONG);
}

/* A documented row: path, mode and O_TRUNC ("yes"/"no"). */
struct row {
	char path[128], mode[8], trunc[8];
};

/* Rows of the markdown table after the line "<!-- node table -->":
 * "| `path` | 0555 | no |". */
static int read_tree_md(const char *file, struct row *rows, int max)
{
	FILE *f = fopen(file, "r");
	char line[LINE_MAX_];
	int n = 0, in = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (strstr(line, "<!-- node table -->")) {
			in = 1;
			continue;
		}
		if (!in)
			continue;
		if (line[0] != '|') {
			if (n)
				break;	/* the table ended */
			continue;
		}
		if (strncmp(line, "| `", 3) || n == max)
			continue;	/* the header and its rule */
		if (sscanf(line, "| `%127[^`]` | %7s | %7s |", rows[n].path, rows[n].mode,
			   rows[n].trunc) == 3)
			n++;
	}
	fclose(f);
	return n;
}

/* Lines of the .EX block after ".\" node table" in the man page:
 * "path mode yes|no", a leading "\&" (for a path that starts with a dot)
 * dropped. */
static int read_man(const char *file, struct row *rows, int max)
{
	FILE *f = fopen(file, "r");
	char line[LINE_MAX_];
	int n = 0, in = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		const char *s = line;

		if (strstr(line, ".\\\" node table")) {
			in = 1;
			continue;
		}
		if (!in || !strncmp(line, ".EX", 3))
			continue;
		if (!strncmp(line, ".EE", 3))
			break;
		if (!strncmp(s, "\\&", 2))
			s += 2;
		if (n < max && sscanf(s, "%127s %7s %7s", rows[n].path, rows[n].mode,
				      rows[n].trunc) == 3 && strcmp(rows[n].path, "path"))
			n++;
	}
	fclose(f);
	return n;
}

static void against(const char *file, int (*reader)(const char *, struct row *, int))
{
	struct row rows[64];
	int n = reader(file, rows, 64);

	CHECK_MSG(n >= 0, "%s: cannot read it (run from the repository root)", file);
	if (n < 0)
		return;
	CHECK_MSG((size_t)n == pfs_nnodes, "%s: %d rows, the node table has %zu", file, n,
		  pfs_nnodes);
	for (size_t i = 0; i < pfs_nnodes; i++) {
		const struct pfs_node *nd = &pfs_nodes[i];
		char pat[256], mode[8];
		const char *trunc = nd->flags & PN_TRUNC ? "yes" : "no";
		int found = -1;

		pfs_node_pattern(nd->kind, pat, sizeof(pat));
		snprintf(mode, sizeof(mode), "%04o", (unsigned)(nd->mode & 07777));
		for (int r = 0; r < n; r++)
			if (!strcmp(rows[r].path, pat))
				found = r;
		CHECK_MSG(found >= 0, "%s: no row for %s (want: %s %s %s)", file, pat, pat, mode,
			  trunc);
		if (found < 0)
			continue;
		CHECK_MSG(!strcmp(rows[found].mode, mode), "%s: %s is documented %s, the code gives %s",
			  file, pat, rows[found].mode, mode);
		CHECK_MSG(!strcmp(rows[found].trunc, trunc), "%s: %s: O_TRUNC documented %s, the code: %s",
			  file, pat, rows[found].trunc, trunc);
	}
}

int main(void)
{
	table_shape();
	patterns();
	against("docs/tree.md", read_tree_md);
	against("docs/podfs.1", read_man);
	return check_report("test_nodes");
}
