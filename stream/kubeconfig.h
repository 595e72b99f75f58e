/* kubeconfig loading: the KUBECONFIG list merged the way kubectl merges it,
 * one context resolved into everything a connection needs.  Parsed with
 * libyaml.  Relative paths resolve against the file that names them. */
#ifndef PODFS_KUBECONFIG_H
#define PODFS_KUBECONFIG_H

#include <stddef.h>

struct kc_blob {
	char *data;		/* PEM bytes, NUL-terminated for convenience */
	size_t len;
};

/* user.exec: a client-go credential plugin (client.authentication.k8s.io
 * v1 or v1beta1), run by auth when a credential is needed. */
enum kc_interactive {
	KC_INTERACTIVE_IF_AVAILABLE = 0,	/* v1beta1 default */
	KC_INTERACTIVE_NEVER,
	KC_INTERACTIVE_ALWAYS,
};

struct kc_exec {
	char *api_version;	/* "client.authentication.k8s.io/v1" or ".../v1beta1" */
	char *command;		/* a relative path with '/' is resolved against the
				 * kubeconfig's directory; a bare name is a $PATH lookup */
	char **args;		/* NULL-terminated */
	size_t nargs;
	char **env;		/* "NAME=value" strings, NULL-terminated */
	size_t nenv;
	char *install_hint;	/* NULL when unset */
	int provide_cluster_info;
	enum kc_interactive interactive;
	char *cluster_config;	/* JSON of the cluster extension
				 * client.authentication.k8s.io/exec, or NULL */
};

/* Impersonation (user.as, as-uid, as-groups, as-user-extra, or kubectl's
 * --as, --as-uid, --as-group): sent as Impersonate-* headers. */
struct kc_extra {
	char *key;		/* NULL: a group */
	char *value;
};

struct kc_impersonate {
	char *user;		/* NULL: no impersonation */
	char *uid;
	struct kc_extra *extra;	/* groups (key NULL) and extra values, in order */
	size_t nextra, ngroups;
};

/* user.auth-provider oidc (client-go's oidc provider): the id-token is the
 * bearer token; when it has expired, auth refreshes it with the
 * refresh-token at the issuer and writes both back to `file`. */
struct kc_oidc {
	char *issuer;		/* idp-issuer-url */
	char *client_id;
	char *client_secret;	/* secret, may be NULL */
	char *id_token;		/* secret, may be NULL */
	char *refresh_token;	/* secret, may be NULL */
	struct kc_blob ca;	/* idp-certificate-authority(-data); len 0 = system */
	char *file;		/* the kubeconfig file that defines the user */
	char *user;		/* the user's name in that file */
};

struct kc_config {
	char *context;		/* the context in use */
	char *cluster_name;
	char *user_name;
	char *namespace;	/* context namespace, "default" when unset */
	char *server;		/* https://host:port[/prefix], no trailing slash */
	char *tls_server_name;	/* NULL when unset */
	char *proxy_url;	/* NULL when unset */
	int insecure;		/* insecure-skip-tls-verify */
	struct kc_blob ca;	/* from certificate-authority(-data); len 0 = system CAs */
	struct kc_blob cert;	/* client-certificate(-data) */
	struct kc_blob key;	/* client-key(-data) */
	char *token;		/* bearer token (secret: never log) */
	char *token_file;	/* absolute path of tokenFile, re-read by auth */
	char *username;		/* basic auth */
	char *password;		/* secret */
	char *source;		/* the file that defined the context */
	/* What the user entry named (NULL when not), for display. */
	char *exec_command;	/* user.exec.command */
	char *auth_provider;	/* user.auth-provider.name */
	/* The plugin to run; NULL when there is none or when static
	 * credentials (token, tokenFile, certificate, basic) are also set:
	 * those win, as in client-go. */
	struct kc_exec *exec;
	struct kc_oidc *oidc;	/* NULL unless an oidc auth-provider is in use */
	struct kc_impersonate imp;
	int in_cluster;		/* from the service account, not a file */
};

/* Which files to read: explicit (from --kubeconfig) if not NULL, else the
 * $KUBECONFIG list, else ~/.kube/config.  Returns a malloc'd ':'-separated
 * list. */
char *kc_default_paths(const char *explicit_path);

/* Load and merge the ':'-separated list of files, resolve `context` (NULL =
 * current-context) into *out.  On error returns -1 and writes one line into
 * err that names the file and the field, e.g.
 *   "/home/u/.kube/config: users[0].user.client-key-data: invalid base64". */
int kc_load(const char *paths, const char *context, struct kc_config *out,
	    char *err, size_t errlen);

/* Same, from one in-memory YAML document (tests, fuzzing); `name` is used in
 * messages and `dir` to resolve relative paths. */
int kc_load_buffer(const char *yaml, size_t len, const char *name,
		   const char *dir, const char *context, struct kc_config *out,
		   char *err, size_t errlen);

/* In-cluster configuration (client-go's InClusterConfig): server from
 * KUBERNETES_SERVICE_HOST / KUBERNETES_SERVICE_PORT, token (re-read by auth
 * as a tokenFile), ca.crt and namespace from the service account directory
 * /var/run/secrets/kubernetes.io/serviceaccount, or $PODFS_SA_DIR (a test
 * hook).  kc_load falls back to it when none of the kubeconfig files
 * exists and both variables are set. */
int kc_in_cluster_available(void);
int kc_load_in_cluster(struct kc_config *out, char *err, size_t errlen);

void kc_free(struct kc_config *kc);

/* Add a group (key NULL) or an extra value to an impersonation.  0 or -1
 * (out of memory). */
int kc_imp_add(struct kc_impersonate *imp, const char *key, const char *value);
void kc_imp_free(struct kc_impersonate *imp);

/* Deep copy (NULL on out of memory) and free of an oidc configuration. */
struct kc_oidc *kc_oidc_dup(const struct kc_oidc *o);
void kc_oidc_free(struct kc_oidc *o);

/* The names of the contexts the files define, merged as kc_load merges
 * them, one per line into *out (malloc'd).  For shell completion. */
int kc_list_contexts(const char *paths, char **out, char *err, size_t errlen);

/* Write a refreshed id-token and refresh-token back into the
 * auth-provider config of user `user` in `file`, as client-go's oidc
 * persister does; the rest of the file is kept byte for byte. */
int kc_persist_oidc(const char *file, const char *user, const char *id_token,
		    const char *refresh_token, char *err, size_t errlen);

#endif
