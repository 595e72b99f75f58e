/* Incremental decoder for HTTP/1.1 response bodies.  Chunk-size lines are
 * parsed a byte at a time with a hard cap on their length, so a hostile or
 * broken server cannot make us buffer or loop; data is passed through as
 * slices of the caller's input. */
#include "stream/httpchunk.h"

enum { S_SIZE, S_EXT, S_SIZE_LF, S_DATA, S_DATA_CR, S_DATA_LF, S_TRAILER,
       S_TRAILER_LINE, S_TRAILER_LF, S_DONE };

void hbody_init(struct hbody *b, enum hbody_mode mode, uint64_t length)
{
	b->mode = mode;
	b->state = mode == HBODY_CHUNKED ? S_SIZE : S_DATA;
	b->remaining = length;
	b->digits = 0;
	b->done = b->error = 0;
	b->why = NULL;
	if (mode == HBODY_LENGTH && length == 0)
		b->state = S_DONE;
}

static enum hbody_event fail(struct hbody *b, const char *why)
{
	b->error = 1;
	b->why = why;
	return HB_ERROR;
}

static int hexval(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

enum hbody_event hbody_feed(struct hbody *b, const uint8_t *in, size_t len,
			    size_t *used, const uint8_t **p, size_t *n)
{
	size_t i = 0;

	*used = 0;
	if (b->error)
		return HB_ERROR;
	if (b->state == S_DONE) {
		if (!b->done) {
			b->done = 1;
			return HB_DONE;
		}
		return HB_NONE;
	}
	while (i < len) {
		uint8_t c = in[i];

		switch (b->state) {
		case S_SIZE: {
			int v = hexval(c);

			if (v >= 0) {
				if (++b->digits > 15)
					return fail(b, "chunk size too large");
				b->remaining = b->remaining * 16 + (uint64_t)v;
				i++;
				break;
			}
			if (b->digits == 0)
				return fail(b, "bad chunk size line");
			if (c == ';' || c == ' ' || c == '\t')
				b->state = S_EXT;
			else if (c == '\r')
				b->state = S_SIZE_LF;
			else if (c == '\n')
				goto size_done;
			else
				return fail(b, "bad chunk size line");
			i++;
			break;
		}
		case S_EXT:
			/* Extensions are ignored; the line ends at LF. */
			if (c == '\n')
				goto size_done;
			i++;
			break;
		case S_SIZE_LF:
			if (c != '\n')
				return fail(b, "bad chunk size line");
		size_done:
			i++;
			b->digits = 0;
			b->state = b->remaining ? S_DATA : S_TRAILER;
			break;
		case S_DATA: {
			size_t take = len - i;

			if (b->mode != HBODY_CLOSE && take > b->remaining)
				take = (size_t)b->remaining;
			*p = in + i;
			*n = take;
			i += take;
			if (b->mode != HBODY_CLOSE) {
				b->remaining -= take;
				if (b->remaining == 0)
					b->state = b->mode == HBODY_CHUNKED ? S_DATA_CR : S_DONE;
			}
			*used = i;
			return HB_DATA;
		}
		case S_DATA_CR:
			if (c == '\n') {	/* tolerate a bare LF */
				b->state = S_SIZE;
			} else if (c == '\r') {
				b->state = S_DATA_LF;
			} else {
				return fail(b, "missing CRLF after chunk data");
			}
			i++;
			break;
		case S_DATA_LF:
			if (c != '\n')
				return fail(b, "missing CRLF after chunk data");
			b->state = S_SIZE;
			i++;
			break;
		case S_TRAILER:
			/* Either the empty line that ends the body or a trailer. */
			if (c == '\r') {
				b->state = S_TRAILER_LF;
			} else if (c == '\n') {
				b->state = S_DONE;
			} else {
				b->state = S_TRAILER_LINE;
			}
			i++;
			break;
		case S_TRAILER_LINE:
			if (c == '\n')
				b->state = S_TRAILER;
			i++;
			break;
		case S_TRAILER_LF:
			if (c != '\n')
				return fail(b, "bad chunked trailer");
			b->state = S_DONE;
			i++;
			break;
		}
		if (b->state == S_DONE) {
			b->done = 1;
			*used = i;
			return HB_DONE;
		}
	}
	*used = i;
	return HB_NONE;
}
