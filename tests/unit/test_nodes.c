/* Unit test for the node table (fs/nodes.c): every kind has exactly one
 * entry whose parent chain reaches the root, directories list and files
 * open, and the documentation cannot drift from it: docs/tree.md's node
 * table and the man page's PERMISSIONS list must give each node the
 * table's mode, O_TRUNC rule and "acts" mark (absent on -o ro), with no
 * row the table does not have.
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

/* A documented row: path, mode, O_TRUNC and acts ("yes"/"no"). */
struct row {
	char path[128], mode[8], trunc[8], acts[8];
};

/* A markdown row "| `path` | 0555 | no | no | ... |"; 1 if line is one. */
static int md_row(const char *line, struct row *r)
{
	return !strncmp(line, "| `", 3) &&
	       sscanf(line, "| `%127[^`]` | %7s | %7s | %7s |", r->path, r->mode, r->trunc,
		      r->acts) == 4;
}

/* A man page line "path mode yes|no yes|no" inside .EX/.EE, a leading "\&" (for
 * a path that starts with a dot) dropped; the header line is not a row. */
static int man_row(const char *line, struct row *r)
{
	if (line[0] == '.')
		return 0;	/* a request: .EX */
	if (!strncmp(line, "\\&", 2))
		line += 2;
	return sscanf(line, "%127s %7s %7s %7s", r->path, r->mode, r->trunc, r->acts) == 4 &&
	       strcmp(r->path, "path");
}

/* The rows of the block that follows the line holding `marker` and ends
 * at the first line starting with `end` (after a row was seen); -1 when
 * the file cannot be read. */
static int read_rows(const char *file, const char *marker, const char *end,
		     int (*parse)(const char *, struct row *), struct row *rows, int max)
{
	FILE *f = fopen(file, "r");
	char line[LINE_MAX_];
	int n = 0, in = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (!in) {
			in = strstr(line, marker) != NULL;
			continue;
		}
		if (n && !strncmp(line, end, strlen(end)))
			break;
		if (n < max && parse(line, &rows[n]))
			n++;
	}
	fclose(f);
	return n;
}

static void against(const char *file, const char *marker, const char *end,
		    int (*parse)(const char *, struct row *))
{
	struct row rows[64];
	int n = read_rows(file, marker, end, parse, rows, 64);

	CHECK_MSG(n >= 0, "%s: cannot read it (run from the repository root)", file);
	if (n < 0)
		return;
	CHECK_MSG((size_t)n == pfs_nnodes, "%s: %d rows, the node table has %zu", file, n,
		  pfs_nnodes);
	for (size_t i = 0; i < pfs_nnodes; i++) {
		const struct pfs_node *nd = &pfs_nodes[i];
		char pat[256], mode[8];
		const char *trunc = nd->flags & PN_TRUNC ? "yes" : "no";
		const char *acts = nd->flags & PN_ACTS ? "yes" : "no";
		int found = -1;

		pfs_node_pattern(nd->kind, pat, sizeof(pat));
		snprintf(mode, sizeof(mode), "%04o", (unsigned)(nd->mode & 07777));
		for (int r = 0; r < n; r++)
			if (!strcmp(rows[r].path, pat))
				found = r;
		CHECK_MSG(found >= 0, "%s: no row for %s (want: %s %s %s %s)", file, pat, pat, mode,
			  trunc, acts);
		if (found < 0)
			continue;
		CHECK_MSG(!strcmp(rows[found].mode, mode), "%s: %s is documented %s, the code gives %s",
			  file, pat, rows[found].mode, mode);
		CHECK_MSG(!strcmp(rows[found].trunc, trunc), "%s: %s: O_TRUNC documented %s, the code: %s",
			  file, pat, rows[found].trunc, trunc);
		CHECK_MSG(!strcmp(rows[found].acts, acts), "%s: %s: acts documented %s, the code: %s",
			  file, pat, rows[found].acts, acts);
	}
}

int main(void)
{
	table_shape();
	patterns();
	against("docs/tree.md", "<!-- node table -->", "\n", md_row);
	against("docs/podfs.1", ".\\\" node table", ".EE", man_row);
	return check_report("test_nodes");
}
