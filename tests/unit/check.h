/* Minimal unit-test helpers: CHECK records a failure with its line and goes
 * on; main() ends with check_report(), which prints "N passed, N failed"
 * and returns the exit status. */
#ifndef PODFS_CHECK_H
#define PODFS_CHECK_H

#include <stdio.h>

static int check_pass, check_fail;

#define CHECK(cond) do { \
	if (cond) check_pass++; \
	else { check_fail++; fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); } \
} while (0)

#define CHECK_MSG(cond, ...) do { \
	if (cond) check_pass++; \
	else { check_fail++; fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
	       fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } \
} while (0)

static inline int check_report(const char *name)
{
	printf("%s: %d passed, %d failed\n", name, check_pass, check_fail);
	return check_fail ? 1 : 0;
}

#endif
