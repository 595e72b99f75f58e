/* libFuzzer target for the kubeconfig loader (kc_load_buffer in
 * stream/kubeconfig.c): any YAML, merged and resolved, gives either a
 * config or one terminated error line.  Relative file references resolve
 * into an empty directory, so the run never reads real files by accident. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stream/kubeconfig.h"
#include "stream/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kc_config kc;
	char err[512];
	char *yaml;

	if (size > 64 * 1024)
		return 0;
	plog_level = -1;
	if (!(yaml = malloc(size + 1)))
		return 0;
	memcpy(yaml, data, size);
	yaml[size] = 0;
	memset(&kc, 0, sizeof(kc));
	memset(err, 'x', sizeof(err));
	if (kc_load_buffer(yaml, size, "fuzz.yaml", "/nonexistent-podfs-fuzz",
			   NULL, &kc, err, sizeof(err)) == 0)
		kc_free(&kc);
	else if (!memchr(err, 0, sizeof(err)))
		abort();
	free(yaml);
	return 0;
}
