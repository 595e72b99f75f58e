/* The Kubernetes channel layer over WebSocket messages, pure.  A data
 * message's first payload byte names the channel; the rest goes to the
 * callbacks as the frame decoder's slices, uncopied, except for the few
 * small things that must be seen whole: the Status on channel 3, the v5
 * `ff <ch>` signal, the port-forward port prefix and port error text.
 * Those are gathered into one bounded buffer.
 *
 * Decisions (see docs/streams-codec.md):
 *   - exec/attach: channels the server never writes (0 stdin, 4 resize,
 *     5..254, and 255 under v4) are ignored, as the server ignores channels
 *     it does not expect (protocol.md 2.1).  Only the first Status is
 *     reported; later ones are dropped.  A Status over CHAN_ACC_MAX is a
 *     protocol error.
 *   - port-forward (one port per session, channels 0 and 1): any other
 *     channel, a first message that is not exactly the 3-byte prefix with
 *     our port, or a Status-like message is a protocol error.  Error text
 *     beyond CHAN_ACC_MAX is truncated (the port is dead either way).
 *   - text frames are a protocol error: we offer binary protocols only. */
#include "stream/channel.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stream/k8s.h"
#include "stream/log.h"

enum { K_NONE, K_DATA, K_STATUS, K_SIGNAL, K_IGNORE, K_PREFIX, K_PERR };

/* ---- Status decoding ---- */


static const char *json_str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) && v->valuestring ? v->valuestring : NULL;
}

/* Go's strconv.ParseUint(s, 10, 8): decimal digits only, value <= 255. */
static int parse_exit(const char *s, int *out)
{
	int v = 0;

	if (!s || !*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s - '0');
		if (v > 255)
			return -1;
	}
	*out = v;
	return 0;
}

int k8s_status_parse(const char *p, size_t n, struct k8s_status *st)
{
	cJSON *root;
	const char *s;

	memset(st, 0, sizeof(*st));
	st->kind = K8S_FAILURE;
	if (!p)
		n = 0;
	root = n ? cJSON_ParseWithLength(p, n) : NULL;
	if (!cJSON_IsObject(root)) {
		cJSON_Delete(root);
		k8s_text(st->message, sizeof(st->message), p ? p : "", n, K8S_TEXT_MULTILINE);
		return -1;
	}
	if ((s = json_str(root, "reason")))
		k8s_text(st->reason, sizeof(st->reason), s, strlen(s), K8S_TEXT_MULTILINE);
	if ((s = json_str(root, "message")))
		k8s_text(st->message, sizeof(st->message), s, strlen(s), K8S_TEXT_MULTILINE);
	const cJSON *code = cJSON_GetObjectItemCaseSensitive(root, "code");
	if (cJSON_IsNumber(code) && code->valuedouble >= 0 && code->valuedouble < 1000)
		st->code = (int)code->valuedouble;

	s = json_str(root, "status");
	if (s && !strcmp(s, "Success")) {
		st->kind = K8S_SUCCESS;
		goto out;
	}
	const cJSON *details = cJSON_GetObjectItemCaseSensitive(root, "details");
	const cJSON *causes = cJSON_GetObjectItemCaseSensitive(details, "causes");
	const cJSON *list = cJSON_IsArray(causes) ? causes : NULL;
	const cJSON *c;
	cJSON_ArrayForEach(c, list) {
		const char *r = json_str(c, "reason");
		int ec;
		if (!r || strcmp(r, "ExitCode"))
			continue;
		/* the first ExitCode cause decides, as in client-go */
		if (parse_exit(json_str(c, "message"), &ec) == 0) {
			st->kind = K8S_EXIT;
			st->exit_code = ec;
		}
		break;
	}
	if (st->kind == K8S_FAILURE && !st->message[0]) {
		/* no message: keep the raw text so the user sees something */
		k8s_text(st->message, sizeof(st->message), p, n, K8S_TEXT_MULTILINE);
	}
out:
	cJSON_Delete(root);
	return 0;
}

/* ---- decoder ---- */

void chan_dec_init(struct chan_dec *d, enum chan_proto proto, enum chan_mode mode,
		   uint16_t port, const struct chan_cb *cb, void *ud)
{
	memset(d, 0, sizeof(*d));
	d->proto = proto;
	d->mode = mode;
	d->port = port;
	d->cb = cb;
	d->ud = ud;
}

void chan_dec_free(struct chan_dec *d)
{
	free(d->acc);
	d->acc = NULL;
	d->acc_len = d->acc_cap = 0;
}

static int broken(struct chan_dec *d, const char *why)
{
	if (!d->broken) {
		d->broken = 1;
		pdebug("channel: protocol error: %s", why);
		if (d->cb->proto_error)
			d->cb->proto_error(d->ud, why);
	}
	return -1;
}

/* Appends to the accumulator; returns -1 when it would pass the limit. */
static int acc_add(struct chan_dec *d, const uint8_t *p, size_t n)
{
	if (n > CHAN_ACC_MAX - d->acc_len)
		return -1;
	if (d->acc_len + n + 1 > d->acc_cap) {
		size_t cap = d->acc_cap ? d->acc_cap : 256;
		while (cap < d->acc_len + n + 1)
			cap *= 2;
		if (cap > CHAN_ACC_MAX + 1)
			cap = CHAN_ACC_MAX + 1;
		char *a = realloc(d->acc, cap);
		if (!a)
			return -1;
		d->acc = a;
		d->acc_cap = cap;
	}
	memcpy(d->acc + d->acc_len, p, n);
	d->acc_len += n;
	d->acc[d->acc_len] = 0;
	return 0;
}

/* The channel byte arrived: decide what this message is. */
static int begin_channel(struct chan_dec *d, int ch)
{
	d->ch = ch;
	d->have_ch = 1;
	d->acc_len = 0;
	d->sig_have = 0;
	d->prefix_have = 0;
	d->msg_bytes = 0;
	if (!d->saw_first) {
		d->saw_first = 1;
		if (d->cb->ready)
			d->cb->ready(d->ud);
	}
	if (d->mode == CHAN_MODE_PORTFORWARD) {
		if (ch > 1)
			return broken(d, "port-forward: message on a channel of a port we did not ask for");
		d->kind = !d->prefix_seen[ch] ? K_PREFIX : ch == 0 ? K_DATA : K_PERR;
		return 0;
	}
	switch (ch) {
	case CH_STDOUT: case CH_STDERR:
		d->kind = K_DATA;
		break;
	case CH_ERROR:
		d->kind = d->status_seen ? K_IGNORE : K_STATUS;
		break;
	case CH_CLOSE_SIGNAL:
		d->kind = d->proto == CHAN_V5 ? K_SIGNAL : K_IGNORE;
		break;
	default:
		pdebug("channel: ignoring a message on channel %d", ch);
		d->kind = K_IGNORE;
		break;
	}
	return 0;
}

static int payload(struct chan_dec *d, const uint8_t *p, size_t n)
{
	if (!n)
		return 0;
	d->msg_bytes += n;
	switch (d->kind) {
	case K_DATA:
		if (d->cb->data)
			d->cb->data(d->ud, d->ch, p, n);
		return 0;
	case K_STATUS:
		if (acc_add(d, p, n))
			return broken(d, "status on channel 3 is too large");
		return 0;
	case K_PERR:
		if (d->acc_len < CHAN_ACC_MAX) {
			size_t room = CHAN_ACC_MAX - d->acc_len;
			if (acc_add(d, p, n < room ? n : room))
				return broken(d, "out of memory for port error text");
		}
		return 0;
	case K_SIGNAL:
		if (d->sig_have + n > 1)
			return broken(d, "v5 close signal longer than 2 bytes");
		d->sig[1] = p[0];
		d->sig_have = 1;
		return 0;
	case K_PREFIX:
		if (d->prefix_have + n > 2)
			return broken(d, "port-forward: first message is not a 3-byte port prefix");
		memcpy(d->prefix + 1 + d->prefix_have, p, n);
		d->prefix_have += n;
		return 0;
	default:
		return 0;
	}
}

static int end_message(struct chan_dec *d)
{
	struct k8s_status st;

	if (!d->have_ch) {
		/* a zero-length message has no channel: nothing to deliver */
		if (!d->saw_first) {
			d->saw_first = 1;
			if (d->cb->ready)
				d->cb->ready(d->ud);
		}
		return 0;
	}
	switch (d->kind) {
	case K_STATUS:
		if (!d->msg_bytes)
			return 0;	/* an empty ch-3 message (a ready frame) */
		d->status_seen = 1;
		k8s_status_parse(d->acc, d->acc_len, &st);
		if (d->cb->status)
			d->cb->status(d->ud, &st);
		return 0;
	case K_SIGNAL:
		if (d->sig_have != 1)
			return broken(d, "v5 close signal is not exactly 2 bytes");
		if (d->sig[1] >= 5)
			return broken(d, "v5 close signal for a channel >= 5");
		if (d->cb->closed)
			d->cb->closed(d->ud, d->sig[1]);
		return 0;
	case K_PREFIX: {
		uint16_t got = (uint16_t)(d->prefix[1] | d->prefix[2] << 8);
		if (d->prefix_have != 2)
			return broken(d, "port-forward: first message is not a 3-byte port prefix");
		if (got != d->port)
			return broken(d, "port-forward: port prefix names another port");
		d->prefix_seen[d->ch] = 1;
		return 0;
	}
	case K_PERR:
		if (d->msg_bytes && d->cb->port_error)
			d->cb->port_error(d->ud, d->ch, d->acc ? d->acc : "", d->acc_len);
		return 0;
	default:
		return 0;
	}
}

int chan_dec_event(struct chan_dec *d, const struct ws_event *ev)
{
	if (d->broken)
		return -1;
	switch (ev->type) {
	case WS_EV_MSG_BEGIN:
		if (ev->opcode == WS_OP_CONT && d->in_msg)
			return 0;	/* next fragment of the same message */
		if (ev->opcode == WS_OP_TEXT)
			return broken(d, "text frame on a binary channel protocol");
		if (ev->opcode != WS_OP_BINARY)
			return broken(d, "unexpected frame type");
		d->in_msg = 1;
		d->have_ch = 0;
		d->kind = K_NONE;
		return 0;
	case WS_EV_MSG_DATA: {
		const uint8_t *p = ev->data;
		size_t n = ev->len;
		if (!d->in_msg)
			return broken(d, "data outside a message");
		if (!n)
			return 0;
		if (!d->have_ch) {
			if (begin_channel(d, p[0]))
				return -1;
			p++;
			n--;
		}
		return payload(d, p, n);
	}
	case WS_EV_MSG_END:
		if (!d->in_msg)
			return broken(d, "message end outside a message");
		if (!ev->fin)
			return 0;
		d->in_msg = 0;
		return end_message(d);
	default:
		return 0;
	}
}

/* ---- encoder ---- */

size_t chan_enc_data(uint8_t *out, int ch, const void *p, size_t n,
		     const uint8_t mask[4])
{
	size_t h = ws_enc_header(out, WS_OP_BINARY, (uint64_t)n + 1, mask);

	out[h] = (uint8_t)ch;
	if (n)
		memcpy(out + h + 1, p, n);
	if (mask)
		ws_mask(out + h, n + 1, mask, 0);
	return h + 1 + n;
}

size_t chan_enc_close(uint8_t *out, int ch, const uint8_t mask[4])
{
	uint8_t b = (uint8_t)ch;

	return chan_enc_data(out, CH_CLOSE_SIGNAL, &b, 1, mask);
}

size_t chan_enc_resize(uint8_t *out, size_t cap, unsigned w, unsigned h,
		       const uint8_t mask[4])
{
	char js[64];
	int n;

	/* the server decodes uint16 fields: a bigger value would end its
	 * resize loop, so clamp */
	if (w > 65535)
		w = 65535;
	if (h > 65535)
		h = 65535;
	n = snprintf(js, sizeof(js), "{\"Width\":%u,\"Height\":%u}\n", w, h);
	if (n < 0 || (size_t)n + CHAN_FRAME_OVERHEAD > cap)
		return 0;
	return chan_enc_data(out, CH_RESIZE, js, (size_t)n, mask);
}

int chan_proto_from_name(const char *name)
{
	size_t n;

	if (!name)
		return -1;
	while (*name == ' ' || *name == '\t')
		name++;
	n = strlen(name);
	while (n && (name[n - 1] == ' ' || name[n - 1] == '\t' || name[n - 1] == '\r'))
		n--;
	if (n == 17 && !strncmp(name, "v4.channel.k8s.io", n))
		return CHAN_V4;
	if (n == 17 && !strncmp(name, "v5.channel.k8s.io", n))
		return CHAN_V5;
	return -1;
}
