/* RFC 6455 frame codec, pure: bytes in, events out, no I/O and no
 * allocation on the data path.  The decoder hands out payload slices that
 * point into the caller's input, so data frames are never copied here.
 * Control frames (at most 125 bytes) are collected whole. */
#ifndef PODFS_WSFRAME_H
#define PODFS_WSFRAME_H

#include <stddef.h>
#include <stdint.h>

enum ws_opcode {
	WS_OP_CONT = 0x0, WS_OP_TEXT = 0x1, WS_OP_BINARY = 0x2,
	WS_OP_CLOSE = 0x8, WS_OP_PING = 0x9, WS_OP_PONG = 0xA,
};

enum ws_event_type {
	WS_EV_NONE = 0,		/* consumed everything, need more input */
	WS_EV_MSG_BEGIN,	/* a data frame starts: opcode, fin, length */
	WS_EV_MSG_DATA,		/* payload slice: data, len (unmasked, in place) */
	WS_EV_MSG_END,		/* the data frame is complete */
	WS_EV_CONTROL,		/* a whole control frame: opcode, data, len */
	WS_EV_ERROR,		/* protocol error: close_code says which (1002, 1009) */
};

struct ws_event {
	enum ws_event_type type;
	int opcode;
	int fin;
	uint64_t length;	/* MSG_BEGIN: the frame's payload length */
	const uint8_t *data;	/* MSG_DATA / CONTROL */
	size_t len;
	int close_code;		/* ERROR */
	const char *error;	/* ERROR: static text */
};

struct ws_dec {
	/* private */
	int state;
	uint8_t hdr[14];
	size_t hdr_have, hdr_need;
	int opcode, fin, masked;
	uint8_t mask[4];
	uint64_t remaining, payload_len, pos;
	uint8_t ctl[125];
	size_t ctl_have;
	uint64_t max_frame;	/* larger frames are an error (1009) */
	int in_fragmented;	/* a non-FIN data frame was seen */
	int is_server;		/* server side expects masked frames */
	int close_code_saved;	/* the error, repeated once in ST_ERR */
	const char *error_saved;
};

/* max_frame: largest payload accepted (podfs: 32 MiB, as x/net); 0 means
 * no limit below 2^63.  is_server: 0 for podfs (server frames must be
 * unmasked); 1 is for tests and a fixture server. */
void ws_dec_init(struct ws_dec *d, uint64_t max_frame, int is_server);

/* Feed input: decodes at most one event from in[0..len) and stores in
 * *used how many bytes it took.  Call again with the rest until it returns
 * WS_EV_NONE with *used == len (WS_EV_NONE always takes everything).  Every
 * data frame gives MSG_BEGIN, zero or more MSG_DATA, MSG_END (opcode and
 * fin are set on all three; a CONT frame reports WS_OP_CONT), whatever the
 * split of the input.  MSG_END of an empty frame is returned even for
 * len == 0.  CONTROL data points into the decoder and is valid until the
 * next call.  For WS_EV_MSG_DATA the payload was
 * unmasked in place (in must be writable).  After WS_EV_ERROR the decoder
 * stays in error. */
enum ws_event_type ws_dec_feed(struct ws_dec *d, uint8_t *in, size_t len,
			       size_t *used, struct ws_event *ev);

/* Frame header for a client frame (always FIN, always masked when mask !=
 * NULL).  Writes 2..14 bytes into out and returns the count. */
size_t ws_enc_header(uint8_t out[14], int opcode, uint64_t len,
		     const uint8_t mask[4]);
/* XOR data with mask starting at key offset `off` (for split buffers). */
void ws_mask(uint8_t *data, size_t len, const uint8_t mask[4], size_t off);

#endif
