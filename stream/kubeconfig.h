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
	/* Credential plugins are not run yet; these record that the user
	 * entry had one (NULL when not), so a later version can add them. */
	char *exec_command;	/* user.exec.command */
	char *auth_provider;	/* user.auth-provider.name */
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

void kc_free(struct kc_config *kc);

#endif
