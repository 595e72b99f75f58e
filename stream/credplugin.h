/* client-go exec credential plugins (client.authentication.k8s.io v1 and
 * v1beta1): build KUBERNETES_EXEC_INFO, run the command with a deadline,
 * decode the ExecCredential it prints.  Caching, single-flight and the
 * refresh on 401 live in auth.c; this file only runs and decodes. */
#ifndef PODFS_CREDPLUGIN_H
#define PODFS_CREDPLUGIN_H

#include <stddef.h>
#include <time.h>

#include "stream/kubeconfig.h"

struct cred_result {
	char *token;		/* secret: never log */
	struct kc_blob cert;	/* PEM, with key */
	struct kc_blob key;	/* secret */
	time_t expiry;		/* 0 = no expirationTimestamp: valid until a 401 */
};

/* Deep copy of a kc_exec (auth keeps its own).  NULL on out of memory. */
struct kc_exec *credplugin_exec_dup(const struct kc_exec *x);
void credplugin_exec_free(struct kc_exec *x);

/* The KUBERNETES_EXEC_INFO value: an ExecCredential with spec.interactive
 * as given and, with provideClusterInfo, spec.cluster built from kc.  NULL
 * on out of memory. */
char *credplugin_exec_info(const struct kc_config *kc, int interactive);

/* May the plugin be run with the terminal (interactiveMode not Never)? */
int credplugin_can_interact(const struct kc_exec *x);

/* Run the plugin once: stdin /dev/null, its own process group, killed
 * when timeout_ms passes.  0 and *out filled, or -errno with one line in
 * err (-ETIMEDOUT for the deadline, -EACCES for anything else: no
 * credential is a permission problem to the user).  err never carries the
 * plugin's stdout; it may carry the first non-blank line of its stderr.
 * interactive: stdin and stderr are ours (the terminal), the plugin stays
 * in our process group, and interactiveMode Always is allowed. */
int credplugin_run(const struct kc_exec *x, const char *exec_info, long timeout_ms,
		   int interactive, struct cred_result *out, char *err, size_t errlen);

/* Decode the plugin's stdout (exposed for tests). */
int credplugin_parse(const char *buf, size_t len, const char *api_version,
		     struct cred_result *out, char *err, size_t errlen);

void cred_result_free(struct cred_result *r);

#endif
