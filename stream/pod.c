/* The one pod GET (built on k8s_path) and finding a container in it. */
#include "stream/pod.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "stream/k8s.h"

int pod_fetch(struct rest *r, const char *ns, const char *pod, cJSON **doc,
	      char *msg, size_t msglen)
{
	struct rest_resp resp;
	char path[1024];
	int e;

	*doc = NULL;
	if (k8s_path(path, sizeof(path), ns, pod, 0, NULL) < 0) {
		snprintf(msg, msglen, "pod name too long");
		return -ENAMETOOLONG;
	}
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

	if (!name)
		return NULL;
	for (size_t i = 0; i < 3; i++) {
		cJSON_ArrayForEach(c, cJSON_GetObjectItem(where, (status ? stats : specs)[i])) {
			const cJSON *n = cJSON_GetObjectItem(c, "name");

			if (cJSON_IsString(n) && !strcmp(n->valuestring, name))
				return c;
		}
	}
	return NULL;
}

int pod_container_running(const cJSON *pod, const char *name)
{
	const cJSON *st = pod_container(pod, name, 1);

	return cJSON_GetObjectItem(cJSON_GetObjectItem(st, "state"), "running") != NULL;
}
