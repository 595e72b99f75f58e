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

#endif
