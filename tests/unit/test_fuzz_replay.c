/* Replays the fuzzing corpora (tests/fuzz/corpus/<target>/) through the
 * same target functions that libFuzzer drives, built by gcc with ASan and
 * UBSan like every unit test, so `make check` catches a regression on any
 * input the fuzzers ever found interesting without needing clang.  The
 * targets are included here with their entry point renamed. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LLVMFuzzerTestOneInput fuzz_wsframe_one
#include "tests/fuzz/fuzz_wsframe.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_channel_one
#include "tests/fuzz/fuzz_channel.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_status_one
#include "tests/fuzz/fuzz_status.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_podlist_one
#include "tests/fuzz/fuzz_podlist.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_kubeconfig_one
#include "tests/fuzz/fuzz_kubeconfig.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_path_one
#include "tests/fuzz/fuzz_path.c"
#undef LLVMFuzzerTestOneInput

#include "tests/unit/check.h"

static const struct {
	const char *name;
	int (*fn)(const uint8_t *, size_t);
} targets[] = {
	{ "fuzz_wsframe", fuzz_wsframe_one },
	{ "fuzz_channel", fuzz_channel_one },
	{ "fuzz_status", fuzz_status_one },
	{ "fuzz_podlist", fuzz_podlist_one },
	{ "fuzz_kubeconfig", fuzz_kubeconfig_one },
	{ "fuzz_path", fuzz_path_one },
};

static int read_all(const char *path, uint8_t **out, size_t *n)
{
	FILE *f = fopen(path, "rb");
	uint8_t *p = NULL;
	size_t cap = 0, len = 0, r;

	if (!f)
		return -1;
	do {
		if (len == cap) {
			uint8_t *q = realloc(p, cap ? cap * 2 : 4096);

			if (!q) {
				free(p);
				fclose(f);
				return -1;
			}
			p = q;
			cap = cap ? cap * 2 : 4096;
		}
		r = fread(p + len, 1, cap - len, f);
		len += r;
	} while (r);
	fclose(f);
	*out = p;
	*n = len;
	return 0;
}

/* Runs every file of one corpus; returns how many ran.  A finding aborts
 * the process (that is how the targets report), which the runner counts
 * as a failure. */
static int replay(const char *dir, int (*fn)(const uint8_t *, size_t))
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int count = 0;

	if (!d)
		return -1;
	while ((e = readdir(d))) {
		char path[4096];
		uint8_t *p;
		size_t n;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (read_all(path, &p, &n) < 0)
			continue;
		fn(p ? p : (const uint8_t *)"", n);
		free(p);
		count++;
	}
	closedir(d);
	return count;
}

int main(void)
{
	const char *root = getenv("PODFS_FUZZ_CORPUS");
	int total = 0;

	if (!root)
		root = "tests/fuzz/corpus";
	for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
		char dir[1024];
		int n;

		snprintf(dir, sizeof(dir), "%s/%s", root, targets[i].name);
		n = replay(dir, targets[i].fn);
		CHECK_MSG(n > 0, "%s: no corpus (run from the repo root)", dir);
		if (n > 0)
			total += n;
	}
	fprintf(stderr, "fuzz replay: %d inputs\n", total);
	return check_report("test_fuzz_replay");
}
