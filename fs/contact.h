/* First contact with the API server at mount time (contact.c). */
#ifndef PODFS_CONTACT_H
#define PODFS_CONTACT_H

#include <stddef.h>

struct podfs;

/* Prove the identity before mounting: GET /api, then a one-item namespace
 * list.  Returns 0 when podfs may mount (also when the server cannot be
 * reached: that is reported later, per operation), or -1 with one line in
 * err when kubectl would fail too: the credential refused (401), TLS
 * failed, the exec plugin or the OIDC refresh gave no credential.  A 403 on
 * the namespace list is not fatal: fs->ns_note says the context's
 * namespace is shown instead. */
int contact_check(struct podfs *fs, char *err, size_t errlen);

#endif
