/* libFuzzer target for the channel-3 Status decoder (k8s_status_parse in
 * stream/channel.c): any bytes, JSON or not, give a bounded, terminated
 * result and an exit code in 0..255. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stream/channel.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct k8s_status st;

	if (size > CHAN_ACC_MAX)
		return 0;
	memset(&st, 0xa5, sizeof(st));
	(void)k8s_status_parse((const char *)data, size, &st);
	if (!memchr(st.reason, 0, sizeof(st.reason)) ||
	    !memchr(st.message, 0, sizeof(st.message)))
		abort();
	if (st.kind == K8S_EXIT && (st.exit_code < 0 || st.exit_code > 255))
		abort();
	if (st.kind != K8S_SUCCESS && st.kind != K8S_EXIT && st.kind != K8S_FAILURE)
		abort();
	return 0;
}
