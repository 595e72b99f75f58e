/* The same kubeconfig must mean the same cluster and user to podfs and to
 * kubectl.  For every NAME.yaml in tests/unit/kubeconfigs/parity/,
 * NAME.yaml.kubectl holds what `kubectl config view --raw --minify
 * --flatten` made of it (regen.sh writes these files): either an error, and
 * then podfs must refuse the file too, or a normalised kubeconfig (one
 * context, fields merged, duplicates resolved, files inlined), and then
 * podfs's reading of NAME.yaml must equal its reading of that output, field
 * by field.  The expectations are kept in the repository so the test runs
 * without kubectl; when kubectl is installed ($KUBECTL, else
 * /usr/bin/kubectl) it is run as well and the stored output must still be
 * what it prints, so a kubectl upgrade that changes a reading shows here. */
#include "stream/kubeconfig.h"
#include "tests/unit/check.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[512];

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *b = NULL;
	size_t n = 0;

	if (!f)
		return NULL;
	b = calloc(1, 1 << 20);
	if (b)
		n = fread(b, 1, (1 << 20) - 1, f);
	(void)n;
	fclose(f);
	return b;
}

/* kubectl's output now, or NULL when kubectl is not installed. */
static char *kubectl_now(const char *name)
{
	const char *k = getenv("KUBECTL") ? getenv("KUBECTL") : "/usr/bin/kubectl";
	char cmd[2048];
	FILE *p;
	char *b;
	size_t n;

	if (access(k, X_OK) != 0)
		return NULL;
	snprintf(cmd, sizeof(cmd), "cd '%s' && '%s' --kubeconfig '%s' config view --raw "
		 "--minify --flatten 2>&1", dir, k, name);
	if (!(p = popen(cmd, "r")))
		return NULL;
	b = calloc(1, 1 << 20);
	n = b ? fread(b, 1, (1 << 20) - 1, p) : 0;
	(void)n;
	pclose(p);
	return b;
}

static int same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

static int same_blob(const struct kc_blob *a, const struct kc_blob *b)
{
	return a->len == b->len && (!a->len || !memcmp(a->data, b->data, a->len));
}

static int same_imp(const struct kc_impersonate *a, const struct kc_impersonate *b)
{
	if (!same(a->user, b->user) || !same(a->uid, b->uid) || a->nextra != b->nextra)
		return 0;
	for (size_t i = 0; i < a->nextra; i++)
		if (!same(a->extra[i].key, b->extra[i].key) || !same(a->extra[i].value, b->extra[i].value))
			return 0;
	return 1;
}

/* Everything of a resolved context that decides how podfs connects. */
static void compare(const char *name, const struct kc_config *p, const struct kc_config *k)
{
	CHECK_MSG(same(p->context, k->context) && same(p->cluster_name, k->cluster_name) &&
		  same(p->user_name, k->user_name) && same(p->namespace, k->namespace), "%s: names", name);
	CHECK_MSG(same(p->server, k->server) && same(p->tls_server_name, k->tls_server_name) &&
		  same(p->proxy_url, k->proxy_url) && p->insecure == k->insecure,
		  "%s: cluster: %s %s vs %s %s", name, p->server, p->tls_server_name ? p->tls_server_name : "-",
		  k->server, k->tls_server_name ? k->tls_server_name : "-");
	CHECK_MSG(same_blob(&p->ca, &k->ca) && same_blob(&p->cert, &k->cert) &&
		  same_blob(&p->key, &k->key), "%s: TLS material", name);
	CHECK_MSG(same(p->token, k->token) && same(p->token_file, k->token_file) &&
		  same(p->username, k->username) && same(p->password, k->password),
		  "%s: credentials", name);
	CHECK_MSG(same_imp(&p->imp, &k->imp), "%s: impersonation", name);
	CHECK_MSG(!p->exec == !k->exec && same(p->exec_command, k->exec_command) &&
		  same(p->auth_provider, k->auth_provider), "%s: plugins", name);
}

static void one(const char *name)
{
	char path[1024], expect[1100], err[1024], err2[1024];
	struct kc_config p, k;
	char *want = NULL, *now;
	int rp;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(expect, sizeof(expect), "%s.kubectl", path);
	want = slurp(expect);
	CHECK_MSG(want != NULL, "%s: no %s (run regen.sh)", name, expect);
	if (!want)
		return;
	if ((now = kubectl_now(name))) {
		CHECK_MSG(!strcmp(now, want), "%s: kubectl now prints something else (regen.sh):\n%s",
			  name, now);
		free(now);
	}
	rp = kc_load(path, NULL, &p, err, sizeof(err));
	if (!strncmp(want, "error:", 6)) {
		CHECK_MSG(rp < 0, "%s: kubectl refuses it (%.200s), podfs reads it", name, want);
		if (rp == 0)
			kc_free(&p);
		free(want);
		return;
	}
	CHECK_MSG(rp == 0, "%s: kubectl reads it, podfs: %s", name, err);
	CHECK_MSG(kc_load(expect, NULL, &k, err2, sizeof(err2)) == 0, "%s: kubectl's output: %s",
		  name, err2);
	if (rp == 0 && k.server) {
		/* tokenFile paths are the only relative ones: both resolve
		 * against this directory */
		compare(name, &p, &k);
	}
	if (rp == 0)
		kc_free(&p);
	kc_free(&k);
	free(want);
}

int main(void)
{
	const char *slash = strrchr(__FILE__, '/');
	char cwd[256];
	struct dirent **ents;
	int n, cases = 0;

	if (!getcwd(cwd, sizeof(cwd)))
		return 2;
	snprintf(dir, sizeof(dir), "%s/%.*s/kubeconfigs/parity", cwd,
		 slash ? (int)(slash - __FILE__) : 1, slash ? __FILE__ : ".");
	n = scandir(dir, &ents, NULL, alphasort);
	for (int i = 0; i < n; i++) {
		size_t l = strlen(ents[i]->d_name);

		if (l > 5 && !strcmp(ents[i]->d_name + l - 5, ".yaml")) {
			one(ents[i]->d_name);
			cases++;
		}
		free(ents[i]);
	}
	if (n >= 0)
		free(ents);
	CHECK_MSG(cases >= 10, "only %d cases in %s", cases, dir);
	return check_report("test_kubectl_parity");
}
