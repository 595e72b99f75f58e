/* Unit tests of the snapshot renderers that the listing measures: a pod
 * list item and the GET of the same pod render to the same Pod.json,
 * Status and state (so st_size before an open is the size the open
 * reads), container start times from the status, and the events table. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "fs/snapshot.h"
#include "stream/cache.h"

static const char *ITEM =
	"{\"metadata\":{\"name\":\"web\",\"namespace\":\"demo\",\"resourceVersion\":\"42\","
	"\"creationTimestamp\":\"2026-01-02T03:04:05Z\"},"
	"\"spec\":{\"containers\":[{\"name\":\"app\",\"ports\":[{\"containerPort\":80}]},"
	"{\"name\":\"side\"}]},"
	"\"status\":{\"phase\":\"Running\",\"containerStatuses\":[{\"name\":\"app\","
	"\"state\":{\"running\":{\"startedAt\":\"2026-01-02T03:05:00Z\"}},\"restartCount\":2,"
	"\"ready\":true}]}}";

/* The same pod as GET returns it: kind and apiVersion, here after the
 * metadata (a server may order them so; the rendering may not care). */
static const char *GOT_PREFIX = "{\"metadata\":";

static void sizes_match(void)
{
	cJSON *item = cJSON_Parse(ITEM), *get = cJSON_Parse(ITEM);
	struct pod_info pi;
	char *json, *status, line[128];

	cJSON_AddStringToObject(get, "apiVersion", "v1");
	cJSON_AddStringToObject(get, "kind", "Pod");
	CHECK(!strncmp(ITEM, GOT_PREFIX, strlen(GOT_PREFIX)));
	CHECK(pod_info_from_json(item, &pi) == 0);
	snapshot_measure(item, &pi);
	json = snapshot_pod_json(get);
	status = snapshot_pod_status(get);
	CHECK(json && pi.json_size == strlen(json));
	CHECK(json && !strncmp(json, "{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":", 43));
	CHECK(json && json[strlen(json) - 1] == '\n');
	CHECK(status && pi.status_size == strlen(status));
	CHECK(snapshot_state_line(get, "app", line, sizeof(line)) == 0 &&
	      pi.containers[0].state_size == strlen(line) && !strcmp(line, "running, restarts 2\n"));
	CHECK(snapshot_state_line(get, "side", line, sizeof(line)) == 0 &&
	      pi.containers[1].state_size == strlen(line));
	/* times: the pod's creation, the running container's start */
	CHECK(pi.created == 1767323045);
	CHECK(pi.containers[0].started == 1767323100 && pi.containers[1].started == 0);
	CHECK(!strcmp(pi.phase, "Running") && !strcmp(pi.rv, "42"));
	free(json);
	free(status);
	pod_info_clear(&pi);
	cJSON_Delete(item);
	cJSON_Delete(get);
}

static void events(void)
{
	cJSON *l = cJSON_Parse(
		"{\"items\":[{\"type\":\"Warning\",\"reason\":\"BackOff\",\"message\":\"Back-off\\nrestarting\","
		"\"source\":{\"component\":\"kubelet\"},\"involvedObject\":{\"name\":\"web\"},"
		"\"lastTimestamp\":\"2026-01-02T03:10:00Z\"},"
		"{\"type\":\"Normal\",\"reason\":\"Scheduled\",\"message\":\"Successfully assigned\","
		"\"reportingComponent\":\"default-scheduler\",\"involvedObject\":{\"name\":\"web\"},"
		"\"eventTime\":\"2026-01-02T03:04:05Z\"}]}");
	cJSON *none = cJSON_Parse("{\"items\":[]}");
	char *t = snapshot_events(l, 0, 1767323045 + 600), *o = snapshot_events(l, 1, 1767323045);
	char *n = snapshot_events(none, 0, 0);

	CHECK(t && !strncmp(t, "Type     Reason     Age     From               Message\n", 54));
	/* oldest first, the age as kubectl says it, one line per message */
	CHECK(t && strstr(t, "Normal   Scheduled  10m     default-scheduler  Successfully assigned\n"));
	CHECK(t && strstr(t, "Warning  BackOff    4m5s    kubelet            Back-off restarting\n"));
	CHECK(t && strstr(t, "Scheduled") < strstr(t, "BackOff"));
	CHECK(o && strstr(o, "Object") && strstr(o, "  web     "));
	CHECK(n && !strcmp(n, "<none>\n"));
	free(t);
	free(o);
	free(n);
	cJSON_Delete(l);
	cJSON_Delete(none);
}

int main(void)
{
	sizes_match();
	events();
	return check_report("test_snapshot");
}
