/* The oidc auth-provider's offline parts: when an id-token counts as fresh
 * (its exp claim, client-go's 10 s margin, not-a-JWT refused), and the
 * write-back of refreshed tokens into the kubeconfig (block and flow
 * mappings, a missing refresh-token key added, every other byte kept, the
 * file's mode kept, a user that is gone reported).  The refresh round trip
 * itself is tested against a loopback issuer in tests/integ/test_auth_paths.py. */
#include "stream/kubeconfig.h"
#include "stream/oidc.h"
#include "tests/unit/check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[64];

/* header {"alg":"none"}, payload as given, base64url without padding */
static void jwt_with(const char *payload_b64url, char *out, size_t n)
{
	snprintf(out, n, "eyJhbGciOiJub25lIn0.%s.c2ln", payload_b64url);
}

static void test_fresh(void)
{
	char t[256];

	/* {"exp":1000} */
	jwt_with("eyJleHAiOjEwMDB9", t, sizeof(t));
	CHECK(oidc_token_fresh(t, 900) == 1);
	CHECK(oidc_token_fresh(t, 990) == 0);	/* within client-go's 10 s */
	CHECK(oidc_token_fresh(t, 2000) == 0);
	/* {"sub":"x"}: no exp = expired, as client-go's zero time */
	jwt_with("eyJzdWIiOiJ4In0", t, sizeof(t));
	CHECK(oidc_token_fresh(t, 0) == 0);
	CHECK(oidc_token_fresh("not-a-jwt", 0) == -1);
	CHECK(oidc_token_fresh("a.b", 0) == -1);
	CHECK(oidc_token_fresh("a.b.c.d", 0) == -1);
	CHECK(oidc_token_fresh("x.!!!.y", 0) == -1);
	CHECK(oidc_token_fresh(NULL, 0) == -1);
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *b = calloc(1, 65536);
	size_t n = 0;

	if (f && b)
		n = fread(b, 1, 65535, f);
	(void)n;
	if (f)
		fclose(f);
	return b;
}

static void put(const char *path, const char *s)
{
	FILE *f = fopen(path, "w");

	if (f) {
		fputs(s, f);
		fclose(f);
	}
}

/* Write `before`, persist, compare with `after`. */
static void persist_case(int line, const char *before, const char *user, const char *rt,
			 const char *after)
{
	char path[128], err[256];
	char *got;
	int rc;

	snprintf(path, sizeof(path), "%s/kc-%d", tmpdir, line);
	put(path, before);
	chmod(path, 0640);
	rc = kc_persist_oidc(path, user, "NEW.ID.TOKEN", rt, err, sizeof(err));
	got = slurp(path);
	CHECK_MSG(rc == 0, "line %d: %s", line, err);
	CHECK_MSG(got && !strcmp(got, after), "line %d: got\n%s\nwant\n%s", line, got, after);
	{
		struct stat st;
		CHECK_MSG(stat(path, &st) == 0 && (st.st_mode & 0777) == 0640, "line %d: mode", line);
	}
	free(got);
}

static void test_persist(void)
{
	char path[128], err[256];
	const char *head = "# my kubeconfig\napiVersion: v1\nusers:\n- name: other\n  user: {token: x}\n";
	char before[2048], after[2048];

	/* block mapping: both values replaced in place */
	snprintf(before, sizeof(before), "%s- name: me\n  user:\n    auth-provider:\n"
		 "      name: oidc\n      config:\n        client-id: k   # keep me\n"
		 "        id-token: OLD\n        refresh-token: 'R1'\n"
		 "contexts: []\n", head);
	snprintf(after, sizeof(after), "%s- name: me\n  user:\n    auth-provider:\n"
		 "      name: oidc\n      config:\n        client-id: k   # keep me\n"
		 "        id-token: \"NEW.ID.TOKEN\"\n        refresh-token: \"R2\"\n"
		 "contexts: []\n", head);
	persist_case(__LINE__, before, "me", "R2", after);

	/* no new refresh token: only the id-token changes */
	snprintf(after, sizeof(after), "%s- name: me\n  user:\n    auth-provider:\n"
		 "      name: oidc\n      config:\n        client-id: k   # keep me\n"
		 "        id-token: \"NEW.ID.TOKEN\"\n        refresh-token: 'R1'\n"
		 "contexts: []\n", head);
	persist_case(__LINE__, before, "me", NULL, after);

	/* block mapping without the keys: added before the first key */
	snprintf(before, sizeof(before), "%s- name: me\n  user:\n    auth-provider:\n"
		 "      config:\n        client-id: k\n      name: oidc\n", head);
	snprintf(after, sizeof(after), "%s- name: me\n  user:\n    auth-provider:\n"
		 "      config:\n        id-token: \"NEW.ID.TOKEN\"\n        refresh-token: \"R2\"\n"
		 "        client-id: k\n      name: oidc\n", head);
	persist_case(__LINE__, before, "me", "R2", after);

	/* flow mapping, a value with a quote to escape */
	snprintf(before, sizeof(before), "%s- name: me\n  user: {auth-provider: {name: oidc, "
		 "config: {client-id: k, id-token: OLD}}}\n", head);
	snprintf(after, sizeof(after), "%s- name: me\n  user: {auth-provider: {name: oidc, "
		 "config: {refresh-token: \"a\\\"b\", client-id: k, id-token: \"NEW.ID.TOKEN\"}}}\n", head);
	persist_case(__LINE__, before, "me", "a\"b", after);

	/* the user is gone from the file: an error, the file untouched */
	snprintf(path, sizeof(path), "%s/kc-gone", tmpdir);
	put(path, head);
	CHECK(kc_persist_oidc(path, "me", "NEW", NULL, err, sizeof(err)) < 0 &&
	      strstr(err, "user \"me\" has no auth-provider config"));
	{
		char *got = slurp(path);
		CHECK(got && !strcmp(got, head));
		free(got);
	}
	CHECK(kc_persist_oidc("/nonexistent/kc", "me", "NEW", NULL, err, sizeof(err)) < 0);
}

int main(void)
{
	char cmd[128];

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/podfs-oidc-XXXXXX");
	if (!mkdtemp(tmpdir))
		return 2;
	test_fresh();
	test_persist();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmpdir);
	return check_report("test_oidc");
}
