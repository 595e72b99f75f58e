/* client-go's oidc auth-provider, the refresh side: is an id-token still
 * fresh, and get a new one with the refresh token at the issuer's token
 * endpoint (found through OpenID Connect discovery).  auth.c decides when;
 * kubeconfig.c writes the result back. */
#ifndef PODFS_OIDC_H
#define PODFS_OIDC_H

#include <stddef.h>
#include <time.h>

#include "stream/kubeconfig.h"

/* 1 when the JWT's exp claim is more than 10 s after now (client-go's
 * expiryDelta), 0 when it has expired or has no exp, -1 when jwt is not a
 * JWT (client-go refuses such an id-token). */
int oidc_token_fresh(const char *jwt, time_t now);

/* GET <issuer>/.well-known/openid-configuration, then POST
 * grant_type=refresh_token to its token_endpoint (client id and secret as
 * HTTP Basic, or the id as a form field when there is no secret).  0 with
 * *id_token (and *refresh_token when the issuer sent a new one, else NULL)
 * malloc'd, or -errno with one line in err, never a token. */
int oidc_refresh(const struct kc_oidc *o, long timeout_ms, char **id_token,
		 char **refresh_token, char *err, size_t errlen);

#endif
