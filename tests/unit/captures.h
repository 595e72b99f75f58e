/* Test helper: the server bytes of a capture in tests/captures/ (recorded
 * from containerd and a real kube-apiserver by tests/captures/record.py).
 * Each capture ends with "== all bytes after the response head (hex):"
 * and one line of hex; a capture without it is rebuilt from its "<<" frame
 * lines, where a long frame is elided as "61 61 ... (N bytes)": that frame
 * is padded to N bytes with its last shown byte.  The directory is
 * $PODFS_CAPTURES, else tests/captures from the repository root (where the
 * tests run).  A capture that cannot be read is a failed check, never a
 * skip: the captures are part of the repository. */
#ifndef PODFS_TEST_CAPTURES_H
#define PODFS_TEST_CAPTURES_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/check.h"

struct bytes {
	uint8_t *p;
	size_t n, cap;
};

static inline void bytes_add(struct bytes *b, const void *p, size_t n)
{
	if (b->n + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->n + n)
			cap *= 2;
		b->p = realloc(b->p, cap);
		if (!b->p)
			abort();
		b->cap = cap;
	}
	if (n)
		memcpy(b->p + b->n, p, n);
	b->n += n;
}

/* Parses "82 01 01 ..." into b; stops at "..." or the end.  Returns the
 * number of bytes parsed. */
static inline size_t hex_parse(struct bytes *b, const char *s)
{
	size_t k = 0;

	for (;;) {
		while (*s == ' ' || *s == '\t')
			s++;
		unsigned v;
		int used;
		if (sscanf(s, "%2x%n", &v, &used) != 1 || used != 2 ||
		    (s[2] && s[2] != ' ' && s[2] != '\n' && s[2] != '\r'))
			return k;
		uint8_t c = (uint8_t)v;
		bytes_add(b, &c, 1);
		k++;
		s += 2;
	}
}

static inline const char *cap_dir(void)
{
	const char *env = getenv("PODFS_CAPTURES");

	return env && *env ? env : "tests/captures";
}

/* The server's bytes after the response head, or p == NULL (a failed
 * check: the file is missing). */
static inline struct bytes cap_load(const char *name)
{
	struct bytes all = { 0 }, frames = { 0 };
	const char *dir = cap_dir();
	char path[1200], *line = NULL;
	size_t lcap = 0;
	int in_all = 0, have_all = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "r");
	CHECK_MSG(f != NULL, "capture %s cannot be read", path);
	if (!f)
		return all;
	while (getline(&line, &lcap, f) > 0) {
		if (!strncmp(line, "== all bytes after the response head", 36)) {
			in_all = have_all = 1;
			continue;
		}
		if (in_all) {
			hex_parse(&all, line);
			continue;
		}
		if (!strncmp(line, "<< ", 3)) {
			size_t before = frames.n;
			hex_parse(&frames, line + 3);
			const char *el = strstr(line, "... (");
			if (el && frames.n > before) {
				size_t want = strtoul(el + 5, NULL, 10);
				uint8_t last = frames.p[frames.n - 1];
				while (frames.n - before < want)
					bytes_add(&frames, &last, 1);
			}
		}
	}
	free(line);
	fclose(f);
	if (have_all) {
		free(frames.p);
		return all;
	}
	free(all.p);
	return frames;
}

/* Embedded hex (always available). */
static inline struct bytes hex_bytes(const char *hex)
{
	struct bytes b = { 0 };
	hex_parse(&b, hex);
	return b;
}

/* Deterministic PRNG for splits and data (xorshift64*). */
static inline uint64_t rnd_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

#endif
