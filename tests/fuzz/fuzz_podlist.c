/* libFuzzer target for the listing cache's JSON handling (stream/cache.c):
 * one list page as pods and as namespaces.  Names the kernel cannot take
 * must be dropped, which pod_info_from_json is checked for directly. */
#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stream/cache.h"
#include "stream/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fuzz_podlist_bad_name(const char *s)
{
	return !s[0] || strlen(s) > 255 || strchr(s, '/') || !strcmp(s, ".") ||
	       !strcmp(s, "..");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t count = 0;
	char *cont = NULL;
	cJSON *doc, *items, *it;

	if (size > 1 << 20)
		return 0;
	plog_level = -1;	/* the skipped-name warnings would flood the run */
	(void)cache_parse_page((const char *)data, size, 1, &count, &cont);
	free(cont);
	cont = NULL;
	(void)cache_parse_page((const char *)data, size, 0, &count, &cont);
	free(cont);
	doc = cJSON_ParseWithLength((const char *)data, size);
	items = cJSON_GetObjectItemCaseSensitive(doc, "items");
	cJSON_ArrayForEach(it, items) {
		struct pod_info pi;

		if (pod_info_from_json(it, &pi) != 0)
			continue;
		if (fuzz_podlist_bad_name(pi.name))
			abort();
		for (size_t i = 0; i < pi.ncontainers; i++) {
			if (fuzz_podlist_bad_name(pi.containers[i].name))
				abort();
			if (!pod_has_container(&pi, pi.containers[i].name))
				abort();
		}
		for (size_t i = 0; i < pi.nports; i++)
			if (pi.ports[i] < 1 || pi.ports[i] > 65535 ||
			    (i && pi.ports[i - 1] >= pi.ports[i]))
				abort();
		pod_info_clear(&pi);
	}
	cJSON_Delete(doc);
	return 0;
}
