/* The Kubernetes channel protocols on top of WebSocket messages, pure (no
 * I/O): v4.channel.k8s.io and v5.channel.k8s.io for exec/attach (channel
 * byte, empty ready frame, status JSON on channel 3, v5's `ff <ch>` close),
 * and v4 port-forward (two-byte little-endian port prefix on both channels
 * of each port, text errors on the odd channel).  Fed with the events of
 * the frame decoder; reports through callbacks. */
#ifndef PODFS_CHANNEL_H
#define PODFS_CHANNEL_H

#include <stddef.h>
#include <stdint.h>

#include "stream/wsframe.h"

enum { CH_STDIN = 0, CH_STDOUT = 1, CH_STDERR = 2, CH_ERROR = 3, CH_RESIZE = 4,
       CH_CLOSE_SIGNAL = 255 };

enum chan_proto {
	CHAN_V4 = 4,		/* v4.channel.k8s.io */
	CHAN_V5 = 5,		/* v5.channel.k8s.io */
};

enum chan_mode { CHAN_MODE_STREAM, CHAN_MODE_PORTFORWARD };

enum k8s_status_kind { K8S_SUCCESS, K8S_EXIT, K8S_FAILURE };

struct k8s_status {
	enum k8s_status_kind kind;
	int exit_code;		/* K8S_EXIT: 0..255 */
	char reason[64];	/* "NonZeroExitCode", "InternalError", ... */
	char message[512];
	int code;		/* "code" field, 0 when absent */
};

/* Decode a Status object as sent on channel 3.  Success -> K8S_SUCCESS;
 * a cause with reason "ExitCode" -> K8S_EXIT with its number; anything else
 * (including text that is not JSON) -> K8S_FAILURE with the text kept in
 * message.  Returns 0, or -1 when the input was not a JSON Status (st is
 * still filled as a failure). */
int k8s_status_parse(const char *p, size_t n, struct k8s_status *st);

struct chan_cb {
	/* Payload bytes of channel ch; a message may arrive in several calls.
	 * Empty messages (the ready frame) are not reported as data. */
	void (*data)(void *ud, int ch, const uint8_t *p, size_t n);
	/* First message of the session arrived (the empty ready frame or data). */
	void (*ready)(void *ud);
	/* Channel 3, decoded.  Exec/attach only. */
	void (*status)(void *ud, const struct k8s_status *st);
	/* v5: the server sent `ff <ch>`. */
	void (*closed)(void *ud, int ch);
	/* Port-forward: text on an error channel (odd), whole message. */
	void (*port_error)(void *ud, int ch, const char *msg, size_t n);
	/* A violation of the channel protocol (bad port prefix, channel
	 * the mode does not allow, status too large): the session is broken. */
	void (*proto_error)(void *ud, const char *why);
};

struct chan_dec {
	/* private */
	enum chan_proto proto;
	enum chan_mode mode;
	const struct chan_cb *cb;
	void *ud;
	int in_msg, have_ch, ch, saw_first;
	uint16_t port;			/* port-forward: expected port */
	int prefix_seen[2];		/* port-forward: prefixes on channel 0/1 */
	uint8_t prefix[3];
	size_t prefix_have;
	char *acc;			/* channel 3 / error text accumulation */
	size_t acc_len, acc_cap;
	uint8_t sig[2];			/* v5 close signal */
	size_t sig_have;
	int broken;
	int kind;			/* what the current message is */
	size_t msg_bytes;		/* payload bytes after the channel byte */
	int status_seen;		/* first Status reported, later ones ignored */
};

/* Bound on a Status (exec/attach: larger is a protocol error) and on a
 * port-forward error text (kept truncated). */
#define CHAN_ACC_MAX (64 * 1024)

void chan_dec_init(struct chan_dec *d, enum chan_proto proto, enum chan_mode mode,
		   uint16_t port, const struct chan_cb *cb, void *ud);
void chan_dec_free(struct chan_dec *d);

/* Feed one frame-decoder event (MSG_BEGIN, MSG_DATA, MSG_END; control
 * events are the caller's business).  Returns 0, or -1 once the protocol
 * was violated (proto_error was called). */
int chan_dec_event(struct chan_dec *d, const struct ws_event *ev);

/* Client messages, as complete masked binary frames (mask NULL gives an
 * unmasked frame, for a test server).  `out` must hold
 * n + CHAN_FRAME_OVERHEAD bytes; returns the frame length. */
#define CHAN_FRAME_OVERHEAD 15
size_t chan_enc_data(uint8_t *out, int ch, const void *p, size_t n,
		     const uint8_t mask[4]);
/* v5 `ff <ch>`. */
size_t chan_enc_close(uint8_t *out, int ch, const uint8_t mask[4]);
/* Resize on channel 4: {"Width":W,"Height":H} plus "\n", byte for byte as
 * client-go's json.Encoder sends it; W and H are clamped to 65535.
 * Returns 0 when cap is too small. */
size_t chan_enc_resize(uint8_t *out, size_t cap, unsigned w, unsigned h,
		       const uint8_t mask[4]);

/* The protocol name a server chose -> enum, -1 if not one we offer. */
int chan_proto_from_name(const char *name);

#endif
