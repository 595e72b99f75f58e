/* kubeconfig loading: good configs (certs from data and files, tokens,
 * tokenFile, relative paths, two- and three-file merges, current-context
 * precedence, namespace default) and broken ones, where the one-line error
 * must name the file and the field and never a secret. */
#include "stream/kubeconfig.h"
#include "tests/unit/check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CA_B64 "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tClptRnJaU0JEUVNCbWIzSWdkR1Z6ZEhNPQotLS0tLUVORCBDRVJUSUZJQ0FURS0tLS0tCg=="
#define CERT_B64 "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tClptRnJaU0JqYkdsbGJuUWdZMlZ5ZEE9PQotLS0tLUVORCBDRVJUSUZJQ0FURS0tLS0tCg=="
#define KEY_B64 "LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0tClptRnJaU0JqYkdsbGJuUWdhMlY1Ci0tLS0tRU5EIFBSSVZBVEUgS0VZLS0tLS0K"

static char fixdir[512];	/* tests/unit/kubeconfigs */

static int load(const char *yaml, const char *ctx, struct kc_config *kc, char *err, size_t n)
{
	return kc_load_buffer(yaml, strlen(yaml), "mem.yaml", fixdir, ctx, kc, err, n);
}

/* Expect failure whose message contains every one of the given pieces. */
static void expect_err(int line, const char *yaml, const char *ctx, const char *a,
		       const char *b, const char *secret)
{
	struct kc_config kc;
	char err[512];
	int rc = load(yaml, ctx, &kc, err, sizeof(err));

	CHECK_MSG(rc == -1, "line %d: expected an error", line);
	CHECK_MSG(a == NULL || strstr(err, a), "line %d: \"%s\" lacks \"%s\"", line, err, a);
	CHECK_MSG(b == NULL || strstr(err, b), "line %d: \"%s\" lacks \"%s\"", line, err, b);
	CHECK_MSG(secret == NULL || !strstr(err, secret), "line %d: secret in \"%s\"", line, err);
	CHECK_MSG(!strchr(err, '\n'), "line %d: multi-line error", line);
	kc_free(&kc);
}
#define EXPECT_ERR(y, ctx, a, b, s) expect_err(__LINE__, y, ctx, a, b, s)

static void test_data_fields(void)
{
	struct kc_config kc;
	char err[512] = "";
	const char *y =
		"apiVersion: v1\nkind: Config\ncurrent-context: x\n"
		"clusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:6443///\n"
		"    certificate-authority-data: " CA_B64 "\n"
		"users:\n- name: u\n  user:\n"
		"    client-certificate-data: |\n      LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tClptRnJaU0JqYkdsbGJuUWdZMlZ5ZEE9\n"
		"      PQotLS0tLUVORCBDRVJUSUZJQ0FURS0tLS0tCg==\n"
		"    client-key-data: " KEY_B64 "\n"
		"    exec: null\n"
		"    unknown-field: {a: [1, 2]}\n"
		"contexts:\n- name: x\n  context: {cluster: c, user: u}\n";

	CHECK_MSG(load(y, NULL, &kc, err, sizeof(err)) == 0, "%s", err);
	CHECK(kc.server && !strcmp(kc.server, "https://127.0.0.1:6443"));
	CHECK(kc.namespace && !strcmp(kc.namespace, "default"));
	CHECK(kc.ca.len > 0 && strstr(kc.ca.data, "BEGIN CERTIFICATE"));
	CHECK(kc.cert.len > 0 && strstr(kc.cert.data, "BEGIN CERTIFICATE"));
	CHECK(kc.key.len > 0 && strstr(kc.key.data, "BEGIN PRIVATE KEY"));
	CHECK(kc.key.data[kc.key.len] == 0);
	CHECK(!kc.token && !kc.username && !kc.insecure && !kc.tls_server_name);
	CHECK(!strcmp(kc.context, "x") && !strcmp(kc.user_name, "u") && !strcmp(kc.cluster_name, "c"));
	kc_free(&kc);

	/* explicit context beats current-context; token; anchors and aliases */
	y = "current-context: nope\n"
	    "clusters:\n- name: c\n  cluster: &cl {server: 'http://localhost:8080'}\n"
	    "- name: c2\n  cluster: *cl\n"
	    "users:\n- name: u\n  user: {token: abc.def}\n"
	    "contexts:\n- name: yy\n  context: {cluster: c2, user: u, namespace: kube-system}\n";
	CHECK_MSG(load(y, "yy", &kc, err, sizeof(err)) == 0, "%s", err);
	CHECK(kc.token && !strcmp(kc.token, "abc.def"));
	CHECK(!strcmp(kc.namespace, "kube-system"));
	CHECK(!strcmp(kc.server, "http://localhost:8080"));
	CHECK(kc.ca.len == 0);
	kc_free(&kc);

	/* a user-less context is anonymous; basic auth */
	y = "current-context: a\nclusters:\n- name: c\n  cluster: {server: 'https://h'}\n"
	    "users:\n- name: b\n  user: {username: bob, password: pw}\n"
	    "contexts:\n- name: a\n  context: {cluster: c}\n- name: b\n  context: {cluster: c, user: b}\n";
	CHECK_MSG(load(y, NULL, &kc, err, sizeof(err)) == 0, "%s", err);
	CHECK(!kc.token && !kc.username && !kc.cert.len);
	kc_free(&kc);
	CHECK_MSG(load(y, "b", &kc, err, sizeof(err)) == 0, "%s", err);
	CHECK(kc.username && !strcmp(kc.username, "bob") && !strcmp(kc.password, "pw"));
	kc_free(&kc);

	/* oidc: the provider's configuration, for auth to use and refresh */
	y = "current-context: a\nclusters:\n- name: c\n  cluster: {server: 'https://h'}\n"
	    "users:\n- name: o\n  user:\n    auth-provider:\n      name: oidc\n"
	    "      config: {id-token: idtok, client-id: k, idp-issuer-url: 'https://i',\n"
	    "               refresh-token: rt, client-secret: cs}\n"
	    "contexts:\n- name: a\n  context: {cluster: c, user: o}\n";
	CHECK_MSG(load(y, NULL, &kc, err, sizeof(err)) == 0, "%s", err);
	CHECK(!kc.token && kc.oidc && !strcmp(kc.oidc->id_token, "idtok") &&
	      !strcmp(kc.oidc->refresh_token, "rt") && !strcmp(kc.oidc->client_secret, "cs") &&
	      !strcmp(kc.oidc->issuer, "https://i") && !strcmp(kc.oidc->user, "o"));
	CHECK(kc.auth_provider && !strcmp(kc.auth_provider, "oidc"));
	kc_free(&kc);
}

static void test_files(void)
{
	struct kc_config kc;
	char err[512] = "", paths[4096], a[600], b[600], c[600], d[600], missing[600];

	snprintf(a, sizeof(a), "%s/a.yaml", fixdir);
	snprintf(b, sizeof(b), "%s/b.yaml", fixdir);
	snprintf(c, sizeof(c), "%s/c.yaml", fixdir);
	snprintf(d, sizeof(d), "%s/sub/d.yaml", fixdir);
	snprintf(missing, sizeof(missing), "%s/does-not-exist.yaml", fixdir);

	/* one file: cert + key + CA from files relative to the kubeconfig */
	CHECK_MSG(kc_load(a, NULL, &kc, err, sizeof(err)) == 0, "%s", err);
	CHECK(!strcmp(kc.context, "dev") && !strcmp(kc.namespace, "team-a"));
	CHECK(kc.ca.len && strstr(kc.ca.data, "ZmFrZSBDQSBmb3IgdGVzdHM="));
	CHECK(kc.cert.len && kc.key.len);
	CHECK(!strcmp(kc.source, a));
	kc_free(&kc);

	/* two files: a wins current-context, c1 and "shared" */
	snprintf(paths, sizeof(paths), "%s:%s", a, b);
	CHECK_MSG(kc_load(paths, NULL, &kc, err, sizeof(err)) == 0, "%s", err);
	CHECK(!strcmp(kc.context, "dev"));
	kc_free(&kc);
	CHECK_MSG(kc_load(paths, "shared", &kc, err, sizeof(err)) == 0, "%s", err);
	CHECK(!strcmp(kc.server, "https://127.0.0.1:6443") && !strcmp(kc.namespace, "default"));
	CHECK(kc.cert.len && !kc.token);
	kc_free(&kc);
	/* b's own context, its tokenFile relative to b, file wins over token */
	CHECK_MSG(kc_load(paths, "other", &kc, err, sizeof(err)) == 0, "%s", err);
	CHECK(kc.token && !strcmp(kc.token, "tok-from-file"));
	CHECK(kc.token_file && kc.token_file[0] == fixdir[0] && strstr(kc.token_file, "kubeconfigs/token.txt"));
	CHECK(kc.insecure && !strcmp(kc.tls_server_name, "kubernetes"));
	CHECK(!strcmp(kc.proxy_url, "http://127.0.0.1:3128"));
	CHECK(!strcmp(kc.source, b));
	kc_free(&kc);

	/* b first: b's current-context and b's c1 */
	snprintf(paths, sizeof(paths), "%s:%s:%s", b, a, b);
	CHECK_MSG(kc_load(paths, NULL, &kc, err, sizeof(err)) == 0, "%s", err);
	CHECK(!strcmp(kc.context, "other"));
	kc_free(&kc);
	CHECK_MSG(kc_load(paths, "dev", &kc, err, sizeof(err)) == 0, "%s", err);
	CHECK(!strcmp(kc.server, "https://loser.example:1"));	/* whole entry from b */
	CHECK(kc.ca.len == 0);
	kc_free(&kc);

	/* three files, missing ones skipped, cross-file references */
	snprintf(paths, sizeof(paths), "%s::%s:%s:%s", missing, c, a, b);
	CHECK_MSG(kc_load(paths, NULL, &kc, err, sizeof(err)) == 0, "%s", err);
	CHECK(!strcmp(kc.context, "dev"));
	kc_free(&kc);
	CHECK_MSG(kc_load(paths, "third", &kc, err, sizeof(err)) == 0, "%s", err);
	CHECK(!strcmp(kc.server, "https://10.0.0.2:6443") && !strcmp(kc.username, "alice"));
	CHECK(!strcmp(kc.namespace, "ns3"));
	kc_free(&kc);

	/* relative paths against a subdirectory */
	CHECK_MSG(kc_load(d, NULL, &kc, err, sizeof(err)) == 0, "%s", err);
	CHECK(kc.ca.len && !strcmp(kc.token, "tok-from-file"));
	CHECK(!strcmp(kc.server, "https://[::1]:6443"));
	kc_free(&kc);

	/* errors from files */
	CHECK(kc_load(missing, NULL, &kc, err, sizeof(err)) == -1);
	CHECK_MSG(strstr(err, missing) && strstr(err, "no kubeconfig file found"), "%s", err);
	snprintf(paths, sizeof(paths), "%s/empty.yaml", fixdir);
	CHECK(kc_load(paths, NULL, &kc, err, sizeof(err)) == -1);
	CHECK_MSG(strstr(err, "empty.yaml") && strstr(err, "current-context"), "%s", err);
	snprintf(paths, sizeof(paths), "%s/broken-ref.yaml", fixdir);
	CHECK(kc_load(paths, NULL, &kc, err, sizeof(err)) == -1);
	CHECK_MSG(strstr(err, "broken-ref.yaml: cluster \"nope\" referenced by context \"dev\" is not defined"),
		  "%s", err);
	snprintf(paths, sizeof(paths), "%s:%s", a, b);
	CHECK(kc_load(paths, "zzz", &kc, err, sizeof(err)) == -1);
	CHECK_MSG(strstr(err, "context \"zzz\" not found in ") && strstr(err, paths), "%s", err);
	CHECK(kc_load(fixdir, NULL, &kc, err, sizeof(err)) == -1);	/* a directory */
	CHECK_MSG(strstr(err, fixdir), "%s", err);
}

static void test_broken(void)
{
	const char *head = "current-context: x\nclusters:\n- name: c\n  cluster: {server: 'https://h'}\n"
			   "contexts:\n- name: x\n  context: {cluster: c, user: u}\n";
	char y[4096];

	EXPECT_ERR("key: [unclosed\n", NULL, "mem.yaml: not valid YAML: line", NULL, NULL);
	EXPECT_ERR("\t- tab\n:\n", NULL, "mem.yaml: not valid YAML", NULL, NULL);
	EXPECT_ERR("- a\n- b\n", NULL, "mem.yaml: top level: expected a mapping", NULL, NULL);
	EXPECT_ERR("just a string\n", NULL, "mem.yaml: top level", NULL, NULL);
	EXPECT_ERR("", NULL, "mem.yaml: current-context: not set", NULL, NULL);
	EXPECT_ERR("clusters: {a: 1}\n", NULL, "mem.yaml: clusters: expected a list", NULL, NULL);
	EXPECT_ERR("users: [1]\n", NULL, "mem.yaml: users[0]: expected a mapping", NULL, NULL);
	EXPECT_ERR("contexts: [{context: {}}]\n", NULL, "mem.yaml: contexts[0].name: missing", NULL, NULL);
	EXPECT_ERR("clusters: [{name: a, cluster: [1]}]\n", NULL, "clusters[0].cluster: expected a mapping", NULL, NULL);
	EXPECT_ERR("current-context: [a]\n", NULL, "mem.yaml: current-context: expected a string", NULL, NULL);
	EXPECT_ERR("current-context: x\nclusters:\n- name: c\n  cluster: {insecure-skip-tls-verify: true}\n"
		   "contexts:\n- name: x\n  context: {cluster: c}\n", NULL,
		   "mem.yaml: clusters[0].cluster.server: missing", NULL, NULL);
	EXPECT_ERR("current-context: x\nclusters:\n- name: c\n  cluster: {server: 'ftp://h'}\n"
		   "contexts:\n- name: x\n  context: {cluster: c}\n", NULL,
		   "clusters[0].cluster.server:", "not an http(s) URL", NULL);
	EXPECT_ERR("current-context: x\nclusters:\n- name: c\n  cluster: {server: 'https://h', insecure-skip-tls-verify: maybe}\n"
		   "contexts:\n- name: x\n  context: {cluster: c}\n", NULL,
		   "clusters[0].cluster.insecure-skip-tls-verify: expected true or false", NULL, NULL);
	EXPECT_ERR("current-context: x\ncontexts:\n- name: x\n  context: {user: u}\n", NULL,
		   "mem.yaml: contexts[0].context.cluster: missing", NULL, NULL);
	EXPECT_ERR("current-context: x\nclusters:\n- name: c\n  cluster: {server: 'https://h'}\n"
		   "contexts:\n- name: x\n  context: {cluster: c, user: ghost}\n", NULL,
		   "mem.yaml: user \"ghost\" referenced by context \"x\" is not defined", NULL, NULL);
	EXPECT_ERR(head, "nope", "context \"nope\" not found in mem.yaml", NULL, NULL);
	EXPECT_ERR("current-context: zz\n", NULL, "mem.yaml: current-context: context \"zz\" not found", NULL, NULL);

	/* TLS material */
	EXPECT_ERR("current-context: x\nclusters:\n- name: c\n  cluster: {server: 'https://h', certificate-authority-data: 'not*base64!'}\n"
		   "contexts:\n- name: x\n  context: {cluster: c}\n", NULL,
		   "mem.yaml: clusters[0].cluster.certificate-authority-data: invalid base64", NULL, "not*base64");
	EXPECT_ERR("current-context: x\nclusters:\n- name: c\n  cluster: {server: 'https://h', certificate-authority-data: 'QUJD='}\n"
		   "contexts:\n- name: x\n  context: {cluster: c}\n", NULL,
		   "certificate-authority-data: invalid base64", NULL, NULL);
	EXPECT_ERR("current-context: x\nclusters:\n- name: c\n  cluster: {server: 'https://h', certificate-authority-data: 'aGVsbG8gd29ybGQ='}\n"
		   "contexts:\n- name: x\n  context: {cluster: c}\n", NULL,
		   "certificate-authority-data: decoded data is not PEM", NULL, NULL);
	EXPECT_ERR("current-context: x\nclusters:\n- name: c\n  cluster: {server: 'https://h', certificate-authority: nosuch.pem}\n"
		   "contexts:\n- name: x\n  context: {cluster: c}\n", NULL,
		   "clusters[0].cluster.certificate-authority: cannot read", "kubeconfigs/nosuch.pem", NULL);
	EXPECT_ERR("current-context: x\nclusters:\n- name: c\n  cluster: {server: 'https://h', certificate-authority: token.txt}\n"
		   "contexts:\n- name: x\n  context: {cluster: c}\n", NULL,
		   "certificate-authority:", "is not a PEM file", NULL);
	EXPECT_ERR("current-context: x\nclusters:\n- name: c\n  cluster: {server: 'https://h', insecure-skip-tls-verify: true,\n"
		   "    certificate-authority-data: " CA_B64 "}\n"
		   "contexts:\n- name: x\n  context: {cluster: c}\n", NULL,
		   "mem.yaml: clusters[0].cluster:", "insecure", NULL);
	snprintf(y, sizeof(y), "%susers:\n- name: other\n  user: {}\n- name: u\n  user:\n    client-certificate-data: %s\n", head, CERT_B64);
	EXPECT_ERR(y, NULL, "mem.yaml: users[1].user: client certificate given without client-key", NULL, NULL);
	snprintf(y, sizeof(y), "%susers:\n- name: u\n  user:\n    client-key-data: %s\n", head, KEY_B64);
	EXPECT_ERR(y, NULL, "users[0].user: client key given without", NULL, NULL);
	snprintf(y, sizeof(y), "%susers:\n- name: u\n  user:\n    client-certificate-data: %s\n"
		 "    client-certificate: certs/client.pem\n    client-key: certs/client-key.pem\n", head, CERT_B64);
	EXPECT_ERR(y, NULL, "mem.yaml: users[0].user: client-certificate and client-certificate-data are both set",
		   NULL, NULL);
	snprintf(y, sizeof(y), "%susers:\n- name: u\n  user:\n    client-certificate-data: %s\n"
		 "    client-key-data: \"%.20s%%%%%%%%\"\n", head, CERT_B64, KEY_B64);
	EXPECT_ERR(y, NULL, "mem.yaml: users[0].user.client-key-data: invalid base64", NULL, "LS0tLS1CRUdJTiBQUkl");

	/* credentials */
	snprintf(y, sizeof(y), "%susers:\n- name: u\n  user: {token: hunter2, username: a, password: sekrit}\n", head);
	EXPECT_ERR(y, NULL, "mem.yaml: users[0].user: more than one authentication method found", NULL, "hunter2");
	snprintf(y, sizeof(y), "%susers:\n- name: u\n  user: {password: sekrit}\n", head);
	EXPECT_ERR(y, NULL, "users[0].user.username: missing", NULL, "sekrit");
	snprintf(y, sizeof(y), "%susers:\n- name: u\n  user: {tokenFile: nope.txt}\n", head);
	EXPECT_ERR(y, NULL, "users[0].user.tokenFile: cannot read", "nope.txt", NULL);
	snprintf(y, sizeof(y), "%susers:\n- name: u\n  user: {token: \"a\\r\\nX-Evil: 1\"}\n", head);
	EXPECT_ERR(y, NULL, "users[0].user.token: contains control characters", NULL, "Evil");
	snprintf(y, sizeof(y), "%susers:\n- name: u\n  user:\n    exec:\n      command: aws\n      apiVersion: client.authentication.k8s.io/v1\n", head);
	EXPECT_ERR(y, NULL, "mem.yaml: users[0].user.exec.interactiveMode: missing (required for client.authentication.k8s.io/v1", NULL, NULL);
	snprintf(y, sizeof(y), "%susers:\n- name: u\n  user:\n    exec: {apiVersion: client.authentication.k8s.io/v1alpha1, command: x}\n", head);
	EXPECT_ERR(y, NULL, "users[0].user.exec.apiVersion: \"client.authentication.k8s.io/v1alpha1\" is not supported", NULL, NULL);
	snprintf(y, sizeof(y), "%susers:\n- name: u\n  user:\n    exec: {apiVersion: client.authentication.k8s.io/v1beta1}\n", head);
	EXPECT_ERR(y, NULL, "users[0].user.exec.command: missing", NULL, NULL);
	snprintf(y, sizeof(y), "%susers:\n- name: u\n  user:\n    exec: {command: x}\n", head);
	EXPECT_ERR(y, NULL, "users[0].user.exec.apiVersion: missing", NULL, NULL);
	snprintf(y, sizeof(y), "%susers:\n- name: u\n  user:\n    exec: {command: x, apiVersion: client.authentication.k8s.io/v1, interactiveMode: Sometimes}\n", head);
	EXPECT_ERR(y, NULL, "users[0].user.exec.interactiveMode: \"Sometimes\" is not one of Never, IfAvailable, Always", NULL, NULL);
	snprintf(y, sizeof(y), "%susers:\n- name: u\n  user:\n    exec: {command: x, apiVersion: client.authentication.k8s.io/v1beta1, env: [{value: v}]}\n", head);
	EXPECT_ERR(y, NULL, "users[0].user.exec.env[0].name: missing", NULL, NULL);
	snprintf(y, sizeof(y), "%susers:\n- name: u\n  user:\n    exec: {command: x, apiVersion: client.authentication.k8s.io/v1beta1, args: [{a: b}]}\n", head);
	EXPECT_ERR(y, NULL, "users[0].user.exec.args[0]: expected a string", NULL, NULL);
	snprintf(y, sizeof(y), "%susers:\n- name: u\n  user:\n    auth-provider: {name: gcp, config: {access-token: zzz}}\n", head);
	EXPECT_ERR(y, NULL, "users[0].user.auth-provider: the gcp auth plugin has been removed", "gke-gcloud-auth-plugin", "zzz");
	snprintf(y, sizeof(y), "%susers:\n- name: u\n  user:\n    auth-provider: {name: azure, config: {access-token: zzz}}\n", head);
	EXPECT_ERR(y, NULL, "users[0].user.auth-provider: the azure auth plugin has been removed", "kubelogin", "zzz");
	snprintf(y, sizeof(y), "%susers:\n- name: u\n  user:\n    auth-provider: {name: oidc, config: {refresh-token: zzz, client-id: k}}\n", head);
	EXPECT_ERR(y, NULL, "users[0].user.auth-provider.config.idp-issuer-url: missing", NULL, "zzz");
	snprintf(y, sizeof(y), "%susers:\n- name: u\n  user:\n    auth-provider: {name: oidc, config: {idp-issuer-url: 'https://i', client-id: k}}\n", head);
	EXPECT_ERR(y, NULL, "users[0].user.auth-provider.config.id-token: missing, and no refresh-token", NULL, NULL);
	snprintf(y, sizeof(y), "%susers:\n- name: u\n  user:\n    auth-provider: {name: openstack}\n", head);
	EXPECT_ERR(y, NULL, "users[0].user.auth-provider: provider \"openstack\" is not supported", NULL, NULL);
	snprintf(y, sizeof(y), "%susers:\n- name: u\n  user:\n    auth-provider: {name: gcp}\n    exec: {command: x}\n", head);
	EXPECT_ERR(y, NULL, "users[0].user: exec and auth-provider are both set", NULL, NULL);
}

static void test_limits(void)
{
	size_t depth = 100000;
	char *y = malloc(depth * 2 + 16), *p = y;
	struct kc_config kc;
	char err[512];

	/* deep nesting must not recurse or overflow */
	for (size_t i = 0; i < depth; i++)
		*p++ = '[';
	for (size_t i = 0; i < depth; i++)
		*p++ = ']';
	*p = 0;
	CHECK(kc_load_buffer(y, strlen(y), "deep.yaml", ".", NULL, &kc, err, sizeof(err)) == -1);
	CHECK_MSG(strstr(err, "deep.yaml:") && strstr(err, "nested deeper"), "%s", err);
	free(y);

	/* billion laughs: aliases are shared, not expanded */
	{
		const char *lol =
			"a: &a [x, x, x, x, x, x, x, x, x, x]\n"
			"b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
			"c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
			"d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
			"e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
			"f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
			"g: [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n";
		CHECK(kc_load_buffer(lol, strlen(lol), "lol.yaml", ".", NULL, &kc, err, sizeof(err)) == -1);
		CHECK_MSG(strstr(err, "current-context"), "%s", err);
	}
	/* NULs and binary garbage */
	{
		const char bin[] = "current-context: \0\xff\xfe garbage";
		CHECK(kc_load_buffer(bin, sizeof(bin), "bin.yaml", ".", NULL, &kc, err, sizeof(err)) == -1);
		CHECK_MSG(strstr(err, "bin.yaml:"), "%s", err);
	}
	/* a tiny error buffer truncates but never overflows */
	{
		char small[8];
		CHECK(kc_load_buffer("- a", 3, "x.yaml", ".", NULL, &kc, small, sizeof(small)) == -1);
		CHECK(strlen(small) == 7);
	}
}

static void test_default_paths(void)
{
	char *p;

	p = kc_default_paths("/explicit");
	CHECK(p && !strcmp(p, "/explicit"));
	free(p);
	setenv("KUBECONFIG", "/a:/b", 1);
	p = kc_default_paths(NULL);
	CHECK(p && !strcmp(p, "/a:/b"));
	free(p);
	unsetenv("KUBECONFIG");
	setenv("HOME", "/home/tester", 1);
	p = kc_default_paths(NULL);
	CHECK(p && !strcmp(p, "/home/tester/.kube/config"));
	free(p);
}

/* user.exec parsed into kc->exec: args, env, relative command, the cluster
 * extension, v1beta1's default interactiveMode; static credentials win. */
static void test_exec(void)
{
	struct kc_config kc;
	char err[512], want[600];
	const char *y =
		"current-context: a\nclusters:\n- name: c\n  cluster:\n    server: 'https://h:6443'\n"
		"    extensions:\n    - name: other\n      extension: {x: 1}\n"
		"    - name: client.authentication.k8s.io/exec\n"
		"      extension: {audience: api, n: 3, ok: true, list: [a, b]}\n"
		"users:\n- name: x\n  user:\n    exec:\n"
		"      apiVersion: client.authentication.k8s.io/v1beta1\n"
		"      command: ./bin/plugin\n      args: [get-token, --cluster, prod]\n"
		"      env: [{name: A, value: '1'}, {name: B}]\n"
		"      installHint: 'brew install plugin'\n      provideClusterInfo: true\n"
		"- name: yy\n  user:\n    token: static\n    exec: {apiVersion: client.authentication.k8s.io/v1, "
		"command: p, interactiveMode: Never}\n"
		"- name: z\n  user:\n    exec: {apiVersion: client.authentication.k8s.io/v1, "
		"command: p, interactiveMode: Always}\n"
		"contexts:\n- name: a\n  context: {cluster: c, user: x}\n"
		"- name: b\n  context: {cluster: c, user: yy}\n- name: z\n  context: {cluster: c, user: z}\n";

	CHECK_MSG(load(y, NULL, &kc, err, sizeof(err)) == 0, "%s", err);
	CHECK(kc.exec != NULL);
	if (kc.exec) {
		snprintf(want, sizeof(want), "%s/bin/plugin", fixdir);
		CHECK_MSG(!strcmp(kc.exec->command, want), "%s", kc.exec->command);
		CHECK(kc.exec->nargs == 3 && !strcmp(kc.exec->args[2], "prod") && !kc.exec->args[3]);
		CHECK(kc.exec->nenv == 2 && !strcmp(kc.exec->env[0], "A=1") && !strcmp(kc.exec->env[1], "B="));
		CHECK(kc.exec->interactive == KC_INTERACTIVE_IF_AVAILABLE);
		CHECK(kc.exec->provide_cluster_info);
		CHECK(!strcmp(kc.exec->install_hint, "brew install plugin"));
		CHECK_MSG(kc.exec->cluster_config &&
			  !strcmp(kc.exec->cluster_config,
				  "{\"audience\":\"api\",\"n\":3,\"ok\":true,\"list\":[\"a\",\"b\"]}"),
			  "%s", kc.exec->cluster_config ? kc.exec->cluster_config : "(null)");
	}
	CHECK(kc.exec_command && !strcmp(kc.exec_command, "./bin/plugin"));
	kc_free(&kc);
	CHECK_MSG(load(y, "b", &kc, err, sizeof(err)) == 0, "%s", err);
	CHECK(!kc.exec && kc.token && !strcmp(kc.token, "static") && kc.exec_command);
	kc_free(&kc);
	CHECK_MSG(load(y, "z", &kc, err, sizeof(err)) == 0, "%s", err);
	CHECK(kc.exec && kc.exec->interactive == KC_INTERACTIVE_ALWAYS && !strcmp(kc.exec->command, "p"));
	CHECK(kc.exec && !kc.exec->cluster_config);	/* only with provideClusterInfo */
	kc_free(&kc);
}

static void test_proxy_schemes(void)
{
	struct kc_config kc;
	char err[512], y[512];
	const char *ok[] = { "http://127.0.0.1:3128", "https://127.0.0.1:3129", "socks5://127.0.0.1:1080" };

	for (size_t i = 0; i < 3; i++) {
		snprintf(y, sizeof(y), "current-context: a\nclusters:\n- name: c\n  cluster: "
			 "{server: 'https://h', proxy-url: '%s'}\ncontexts:\n- name: a\n  context: {cluster: c}\n", ok[i]);
		CHECK_MSG(load(y, NULL, &kc, err, sizeof(err)) == 0, "%s", err);
		CHECK(kc.proxy_url && !strcmp(kc.proxy_url, ok[i]));
		kc_free(&kc);
	}
	snprintf(y, sizeof(y), "current-context: a\nclusters:\n- name: c\n  cluster: "
		 "{server: 'https://h', proxy-url: 'ftp://u:pw@p'}\ncontexts:\n- name: a\n  context: {cluster: c}\n");
	EXPECT_ERR(y, NULL, "clusters[0].cluster.proxy-url: scheme not supported", NULL, "pw");
}

/* In-cluster: env + a service account directory (PODFS_SA_DIR). */
static void test_in_cluster(void)
{
	struct kc_config kc;
	char err[512], dir[] = "/tmp/podfs-sa-XXXXXX", p[600], missing[600];
	FILE *f;

	if (!mkdtemp(dir)) {
		CHECK(0);
		return;
	}
	unsetenv("KUBERNETES_SERVICE_HOST");
	unsetenv("KUBERNETES_SERVICE_PORT");
	CHECK(!kc_in_cluster_available());
	CHECK(kc_load_in_cluster(&kc, err, sizeof(err)) == -1 && strstr(err, "KUBERNETES_SERVICE_HOST"));
	setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
	setenv("KUBERNETES_SERVICE_PORT", "443", 1);
	setenv("PODFS_SA_DIR", dir, 1);
	CHECK(kc_in_cluster_available());
	CHECK(kc_load_in_cluster(&kc, err, sizeof(err)) == -1 &&
	      strstr(err, "cannot read the service account token") && strstr(err, dir));
	snprintf(p, sizeof(p), "%s/token", dir);
	if ((f = fopen(p, "w"))) { fputs("sa-token-1\n", f); fclose(f); }
	snprintf(p, sizeof(p), "%s/ca.crt", dir);
	if ((f = fopen(p, "w"))) { fputs("-----BEGIN CERTIFICATE-----\nZmFrZQ==\n-----END CERTIFICATE-----\n", f); fclose(f); }
	CHECK_MSG(kc_load_in_cluster(&kc, err, sizeof(err)) == 0, "%s", err);
	CHECK(kc.in_cluster && !strcmp(kc.server, "https://10.96.0.1:443"));
	CHECK(kc.token && !strcmp(kc.token, "sa-token-1"));
	snprintf(p, sizeof(p), "%s/token", dir);
	CHECK(kc.token_file && !strcmp(kc.token_file, p));
	CHECK(kc.ca.len && strstr(kc.ca.data, "ZmFrZQ=="));
	CHECK(!strcmp(kc.namespace, "default"));
	kc_free(&kc);
	snprintf(p, sizeof(p), "%s/namespace", dir);
	if ((f = fopen(p, "w"))) { fputs("team-b", f); fclose(f); }
	setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
	CHECK_MSG(kc_load_in_cluster(&kc, err, sizeof(err)) == 0, "%s", err);
	CHECK(!strcmp(kc.server, "https://[fd00::1]:443") && !strcmp(kc.namespace, "team-b"));
	kc_free(&kc);
	/* kc_load falls back to it when no kubeconfig file exists */
	snprintf(missing, sizeof(missing), "%s/no-such-config", dir);
	CHECK_MSG(kc_load(missing, NULL, &kc, err, sizeof(err)) == 0, "%s", err);
	CHECK(kc.in_cluster && !strcmp(kc.context, "in-cluster"));
	kc_free(&kc);
	setenv("KUBERNETES_SERVICE_PORT", "44x", 1);
	CHECK(kc_load_in_cluster(&kc, err, sizeof(err)) == -1 && strstr(err, "do not form an address"));
	unsetenv("KUBERNETES_SERVICE_HOST");
	unsetenv("KUBERNETES_SERVICE_PORT");
	unsetenv("PODFS_SA_DIR");
	CHECK(kc_load(missing, NULL, &kc, err, sizeof(err)) == -1 && strstr(err, "no kubeconfig file found"));
	snprintf(p, sizeof(p), "rm -rf '%s'", dir);
	if (system(p) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

int main(void)
{
	const char *slash = strrchr(__FILE__, '/');
	char cwd[256];

	/* fixtures sit beside this file; make the path absolute so messages
	 * and tokenFile paths can be checked for it */
	if (!getcwd(cwd, sizeof(cwd)))
		return 2;
	snprintf(fixdir, sizeof(fixdir), "%s/%.*s/kubeconfigs", cwd,
		 slash ? (int)(slash - __FILE__) : 1, slash ? __FILE__ : ".");
	test_data_fields();
	test_files();
	test_broken();
	test_limits();
	test_default_paths();
	test_exec();
	test_proxy_schemes();
	test_in_cluster();
	return check_report("test_kubeconfig");
}
