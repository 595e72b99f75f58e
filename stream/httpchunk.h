/* HTTP/1.1 response body framing, pure: chunked transfer coding,
 * Content-Length, or "until the connection closes".  Bytes in, body
 * slices out (pointing into the input), so the follow-log stream needs no
 * copy and the parser can be fed byte by byte in tests. */
#ifndef PODFS_HTTPCHUNK_H
#define PODFS_HTTPCHUNK_H

#include <stddef.h>
#include <stdint.h>

enum hbody_mode { HBODY_CHUNKED, HBODY_LENGTH, HBODY_CLOSE };

enum hbody_event { HB_NONE, HB_DATA, HB_DONE, HB_ERROR };

struct hbody {
	enum hbody_mode mode;
	int state;
	uint64_t remaining;	/* bytes left in this chunk / the body */
	int digits;
	int done, error;
	const char *why;
};

void hbody_init(struct hbody *b, enum hbody_mode mode, uint64_t length);
/* Decodes from in[0..len): returns HB_DATA with a slice in *p and *n, HB_DONE
 * at the end of the body, HB_ERROR on malformed framing (b->why), or
 * HB_NONE when everything was consumed.  *used says how much input was
 * taken; call again with the rest. */
enum hbody_event hbody_feed(struct hbody *b, const uint8_t *in, size_t len,
			    size_t *used, const uint8_t **p, size_t *n);

#endif
