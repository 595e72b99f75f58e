/* Fetching one pod and finding a container in it. */
#include "stream/pod.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

int pod_fetch(struct rest *r, const char *ns, const char *pod, cJSON **doc,
	      char *msg, size_t msglen)
{
	char *ens = url_escape(ns), *epod = url_escape(pod), path[1024];
	struct rest_resp resp;
	int e;

	*doc = NULL;
	if (!ens || !epod) {
		free(ens);
		free(epod);
		snprintf(msg, msglen, "out of memory");
		return -ENOMEM;
	}
	snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods/%s", ens, epod);
	free(ens);
	free(epod);
	e = rest_get(r, path, &resp);
	if (e == 0 && resp.code != 200)
		e = -http_errno(resp.code);
	if (e < 0) {
		snprintf(msg, msglen, "%s", resp.msg);
		rest_resp_free(&resp);
		return e;
	}
	*doc = cJSON_ParseWithLength(resp.body, resp.len);
	rest_resp_free(&resp);
	if (!*doc) {
		snprintf(msg, msglen, "malformed pod object from the server");
		return -EIO;
	}
	return 0;
}

const cJSON *pod_container(const cJSON *pod, const char *name, int status)
{
	static const char *const specs[] = { "containers", "initContainers", "ephemeralContainers" };
	static const char *const stats[] = { "containerStatuses", "initContainerStatuses",
					     "ephemeralContainerStatuses" };
	const cJSON *where = cJSON_GetObjectItem(pod, status ? "status" : "spec");
	const cJSON *c;

	for (size_t i = 0; i < 3; i++) {
		cJSON_ArrayForEach(c, cJSON_GetObjectItem(where, (status ? stats : specs)[i])) {
			const cJSON *n = cJSON_GetObjectItem(c, "name");

			if (cJSON_IsString(n) && !strcmp(n->valuestring, name))
				return c;
		}
	}
	return NULL;
}
