/* The identity check at mount.  kubectl fails at once when the credential
 * is refused, the server's certificate does not verify or the credential
 * plugin fails; a mount that looked healthy and then failed on every
 * directory below the root would hide all three.  So before mounting podfs
 * asks GET /api (discovery, open to every authenticated user) and lists one
 * namespace, with the same REST client every later request uses, and says
 * in kubectl's words why it will not mount.  An unreachable server is not
 * fatal (podfs mounts and reports per operation, as before); a 403 on the
 * namespace list is the namespaced user's normal case and only noted. */
#include "fs/contact.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "fs/fs.h"
#include "stream/auth.h"
#include "stream/log.h"
#include "stream/rest.h"

/* The fatal cases, from the auth state the request left behind. */
static int refused(struct podfs *fs, const struct rest_resp *resp, char *err, size_t errlen)
{
	char why[512];
	enum auth_state st = auth_state(fs->auth, why, sizeof(why));
	const char *user = fs->kc.user_name && fs->kc.user_name[0] ? fs->kc.user_name : "(none)";

	switch (st) {
	case AUTH_UNAUTHORIZED:
		snprintf(err, errlen, "You must be logged in to the server (Unauthorized): %s "
			 "refused the credential of user %s (context %s)", fs->kc.server, user,
			 fs->kc.context ? fs->kc.context : "");
		return -1;
	case AUTH_TLS_ERROR:
		snprintf(err, errlen, "%s: TLS failed (is certificate-authority or "
			 "tls-server-name right?): %s", fs->kc.server, why);
		return -1;
	case AUTH_PLUGIN_ERROR:
		snprintf(err, errlen, "getting credentials for user %s: %s", user, why);
		return -1;
	default:
		break;
	}
	if (resp->code == 403) {
		/* not even discovery: an anonymous or unbound identity */
		snprintf(err, errlen, "%s refuses user %s: %s", fs->kc.server, user, resp->msg);
		return -1;
	}
	return 0;
}

int contact_check(struct podfs *fs, char *err, size_t errlen)
{
	struct rest_resp resp;
	int rc;

	memset(&resp, 0, sizeof(resp));
	rc = rest_get(fs->rest, "/api", &resp);
	if (refused(fs, &resp, err, errlen) < 0) {
		rest_resp_free(&resp);
		return -1;
	}
	if (rc < 0 || resp.code == 0 || resp.code >= 500) {
		/* not reachable now: mount, and say so in .podfs/status */
		podfs_note(fs, rc < 0 ? rc : -EAGAIN, resp.msg[0] ? resp.msg : strerror(-rc));
		pwarn("%s is not reachable now (%s); mounting anyway", fs->kc.server, resp.msg);
		rest_resp_free(&resp);
		return 0;
	}
	rest_resp_free(&resp);
	if (fs->root_ns) {
		/* -o namespace: namespaces are never listed, nothing to note */
		podfs_note(fs, 0, NULL);
		return 0;
	}
	rc = rest_get(fs->rest, "/api/v1/namespaces?limit=1", &resp);
	if (refused(fs, &resp, err, errlen) < 0 && resp.code != 403) {
		rest_resp_free(&resp);
		return -1;
	}
	if (rc == 0 && resp.code == 403)
		snprintf(fs->ns_note, sizeof(fs->ns_note), "listing namespaces is forbidden (%.300s): "
			 "showing the context's namespace %.100s only", resp.msg,
			 fs->namespace ? fs->namespace : "default");
	podfs_note(fs, 0, NULL);	/* the identity is accepted */
	rest_resp_free(&resp);
	return 0;
}
