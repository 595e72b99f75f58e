/* RFC 6455 frame codec.  The decoder is a small state machine that takes
 * any split of the input (down to single bytes) and yields the same events:
 * the header is gathered into a 14-byte scratch area, data payloads are
 * handed out as slices of the caller's buffer (unmasked in place when this
 * is the server side), control payloads (<= 125 bytes) are gathered whole.
 * Every rule the peer may break is checked here, so the layers above can
 * trust the event stream.  The encoder writes client frames only: FIN set,
 * masked, never fragmented (x/net reads one frame per message, see
 * protocol.md 2.4). */
#include "stream/wsframe.h"

#include <string.h>

enum { ST_HDR, ST_DATA, ST_CTL, ST_ERR };

void ws_dec_init(struct ws_dec *d, uint64_t max_frame, int is_server)
{
	memset(d, 0, sizeof(*d));
	d->state = ST_HDR;
	d->hdr_need = 2;
	d->max_frame = max_frame ? max_frame : UINT64_MAX;
	d->is_server = is_server;
}

static enum ws_event_type dec_fail(struct ws_dec *d, struct ws_event *ev,
				   int code, const char *why)
{
	d->state = ST_ERR;
	d->close_code_saved = code;
	d->error_saved = why;
	ev->type = WS_EV_ERROR;
	ev->close_code = code;
	ev->error = why;
	return WS_EV_ERROR;
}

static int is_control(int op)
{
	return (op & 0x8) != 0;
}

/* Checks that need only the first two header bytes; returns the total
 * header length, or 0 after reporting an error. */
static size_t hdr_first(struct ws_dec *d, struct ws_event *ev)
{
	uint8_t b0 = d->hdr[0], b1 = d->hdr[1];
	int op = b0 & 0x0f, len7 = b1 & 0x7f;
	size_t need = 2;

	if (b0 & 0x70) {
		dec_fail(d, ev, 1002, "reserved bits set (no extension negotiated)");
		return 0;
	}
	switch (op) {
	case WS_OP_CONT: case WS_OP_TEXT: case WS_OP_BINARY:
	case WS_OP_CLOSE: case WS_OP_PING: case WS_OP_PONG:
		break;
	default:
		dec_fail(d, ev, 1002, "unknown opcode");
		return 0;
	}
	d->opcode = op;
	d->fin = (b0 & 0x80) != 0;
	d->masked = (b1 & 0x80) != 0;
	if (d->masked && !d->is_server) {
		dec_fail(d, ev, 1002, "masked frame from the server");
		return 0;
	}
	if (!d->masked && d->is_server) {
		dec_fail(d, ev, 1002, "unmasked frame from the client");
		return 0;
	}
	if (is_control(op)) {
		if (!d->fin) {
			dec_fail(d, ev, 1002, "fragmented control frame");
			return 0;
		}
		if (len7 > 125) {
			dec_fail(d, ev, 1002, "control frame longer than 125 bytes");
			return 0;
		}
		if (op == WS_OP_CLOSE && len7 == 1) {
			dec_fail(d, ev, 1002, "close frame with a 1-byte payload");
			return 0;
		}
	} else if (op == WS_OP_CONT && !d->in_fragmented) {
		dec_fail(d, ev, 1002, "continuation frame without a fragmented message");
		return 0;
	} else if (op != WS_OP_CONT && d->in_fragmented) {
		dec_fail(d, ev, 1002, "new data message inside a fragmented one");
		return 0;
	}
	if (len7 == 126)
		need += 2;
	else if (len7 == 127)
		need += 8;
	if (d->masked)
		need += 4;
	return need;
}

/* The header is complete: decode length and mask, start the payload. */
static enum ws_event_type hdr_done(struct ws_dec *d, struct ws_event *ev)
{
	int len7 = d->hdr[1] & 0x7f;
	size_t p = 2;
	uint64_t len = (uint64_t)len7;

	if (len7 == 126) {
		len = (uint64_t)d->hdr[2] << 8 | d->hdr[3];
		p = 4;
		if (len < 126)
			return dec_fail(d, ev, 1002, "non-minimal 16-bit length");
	} else if (len7 == 127) {
		len = 0;
		for (int i = 0; i < 8; i++)
			len = len << 8 | d->hdr[2 + i];
		p = 10;
		if (len >> 63)
			return dec_fail(d, ev, 1002, "64-bit length with the top bit set");
		if (len < 65536)
			return dec_fail(d, ev, 1002, "non-minimal 64-bit length");
	}
	if (d->masked)
		memcpy(d->mask, d->hdr + p, 4);
	d->payload_len = len;
	d->remaining = len;
	d->pos = 0;
	d->hdr_have = 0;
	d->hdr_need = 2;
	if (is_control(d->opcode)) {
		d->ctl_have = 0;
		d->state = ST_CTL;
		return WS_EV_NONE;	/* the caller loop goes on to ST_CTL */
	}
	if (len > d->max_frame)
		return dec_fail(d, ev, 1009, "frame larger than the limit");
	d->state = ST_DATA;
	ev->type = WS_EV_MSG_BEGIN;
	ev->opcode = d->opcode;
	ev->fin = d->fin;
	ev->length = len;
	return WS_EV_MSG_BEGIN;
}

enum ws_event_type ws_dec_feed(struct ws_dec *d, uint8_t *in, size_t len,
			       size_t *used, struct ws_event *ev)
{
	size_t off = 0;

	memset(ev, 0, sizeof(*ev));
	*used = 0;
	if (d->state == ST_ERR) {
		ev->type = WS_EV_ERROR;
		ev->close_code = d->close_code_saved;
		ev->error = d->error_saved;
		return WS_EV_ERROR;
	}
	for (;;) {
		switch (d->state) {
		case ST_HDR: {
			if (off == len) {
				*used = off;
				return WS_EV_NONE;
			}
			size_t take = d->hdr_need - d->hdr_have;
			if (take > len - off)
				take = len - off;
			memcpy(d->hdr + d->hdr_have, in + off, take);
			d->hdr_have += take;
			off += take;
			if (d->hdr_have < d->hdr_need)
				continue;
			if (d->hdr_have == 2) {
				size_t need = hdr_first(d, ev);
				if (!need) {
					*used = off;
					return WS_EV_ERROR;
				}
				d->hdr_need = need;
				if (need > 2)
					continue;
			}
			enum ws_event_type t = hdr_done(d, ev);
			if (t != WS_EV_NONE) {
				*used = off;
				return t;
			}
			continue;
		}
		case ST_DATA: {
			if (d->remaining == 0) {
				/* The frame is complete (also for length 0). */
				d->state = ST_HDR;
				if (!is_control(d->opcode))
					d->in_fragmented = !d->fin;
				ev->type = WS_EV_MSG_END;
				ev->opcode = d->opcode;
				ev->fin = d->fin;
				ev->length = d->payload_len;
				*used = off;
				return WS_EV_MSG_END;
			}
			if (off == len) {
				*used = off;
				return WS_EV_NONE;
			}
			size_t take = len - off;
			if (take > d->remaining)
				take = (size_t)d->remaining;
			if (d->masked)
				ws_mask(in + off, take, d->mask, (size_t)(d->pos & 3));
			ev->type = WS_EV_MSG_DATA;
			ev->opcode = d->opcode;
			ev->fin = d->fin;
			ev->data = in + off;
			ev->len = take;
			d->remaining -= take;
			d->pos += take;
			*used = off + take;
			return WS_EV_MSG_DATA;
		}
		case ST_CTL: {
			size_t take = (size_t)d->remaining;
			if (take > len - off)
				take = len - off;
			if (take)
				memcpy(d->ctl + d->ctl_have, in + off, take);
			d->ctl_have += take;
			d->remaining -= take;
			off += take;
			if (d->remaining) {
				*used = off;
				return WS_EV_NONE;
			}
			if (d->masked)
				ws_mask(d->ctl, d->ctl_have, d->mask, 0);
			d->state = ST_HDR;
			ev->type = WS_EV_CONTROL;
			ev->opcode = d->opcode;
			ev->fin = 1;
			ev->length = d->ctl_have;
			ev->data = d->ctl;
			ev->len = d->ctl_have;
			*used = off;
			return WS_EV_CONTROL;
		}
		default:
			*used = off;
			return dec_fail(d, ev, 1002, "decoder in a bad state");
		}
	}
}

size_t ws_enc_header(uint8_t out[14], int opcode, uint64_t len,
		     const uint8_t mask[4])
{
	size_t n = 0;
	uint8_t mbit = mask ? 0x80 : 0;

	out[n++] = (uint8_t)(0x80 | (opcode & 0x0f));
	if (len < 126) {
		out[n++] = (uint8_t)(mbit | len);
	} else if (len <= 0xffff) {
		out[n++] = mbit | 126;
		out[n++] = (uint8_t)(len >> 8);
		out[n++] = (uint8_t)len;
	} else {
		out[n++] = mbit | 127;
		for (int i = 7; i >= 0; i--)
			out[n++] = (uint8_t)(len >> (8 * i));
	}
	if (mask) {
		memcpy(out + n, mask, 4);
		n += 4;
	}
	return n;
}

/* Bytes up to an 8-byte boundary one at a time, then 64-bit words with the
 * key rotated to that position (8 is a multiple of 4, so one rotated word
 * serves all of them), then the tail.  memcpy keeps it free of aliasing
 * and alignment trouble; compilers turn it into plain loads and stores. */
void ws_mask(uint8_t *data, size_t len, const uint8_t mask[4], size_t off)
{
	size_t i = 0;
	uint8_t k8[8];
	uint64_t key, w;

	while (i < len && ((uintptr_t)(data + i) & 7)) {
		data[i] ^= mask[(off + i) & 3];
		i++;
	}
	if (len - i >= 8) {
		for (int j = 0; j < 8; j++)
			k8[j] = mask[(off + i + (size_t)j) & 3];
		memcpy(&key, k8, 8);
		for (; len - i >= 8; i += 8) {
			memcpy(&w, data + i, 8);
			w ^= key;
			memcpy(data + i, &w, 8);
		}
	}
	for (; i < len; i++)
		data[i] ^= mask[(off + i) & 3];
}
