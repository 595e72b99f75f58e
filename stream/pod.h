/* One pod object, fetched fresh: the few places that must look at the
 * pod right now (attach needs the container's stdin/tty spec, exec and a
 * resumed log whether the container runs) share this rather than each
 * building its own GET. */
#ifndef PODFS_POD_H
#define PODFS_POD_H

#include <stddef.h>

#include "stream/rest.h"

struct cJSON;

/* GET the pod; 0 with *doc (free with cJSON_Delete), or -errno with the
 * server's message (or the transport error) in msg. */
int pod_fetch(struct rest *r, const char *ns, const char *pod, struct cJSON **doc,
	      char *msg, size_t msglen);

/* The named container's spec (status = 0: containers, initContainers,
 * ephemeralContainers) or its status entry (status = 1: the matching
 * *Statuses list); NULL when the pod has no such container. */
const struct cJSON *pod_container(const struct cJSON *pod, const char *name, int status);
/* Does the pod's status say that container is running now? */
int pod_container_running(const struct cJSON *pod, const char *name);

#endif
