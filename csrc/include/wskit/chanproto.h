/* The JSON channel protocol (docs/protocol.md): how any WebSocket client
 * subscribes to channels, resumes after a reconnect and publishes. One JSON
 * object per text message, both ways.
 *
 * client -> server
 *   {"type":"subscribe","channel":C[,"since":N,"epoch":E][,"id":ID]}
 *   {"type":"unsubscribe","channel":C[,"id":ID]}
 *   {"type":"publish","channel":C,"data":D[,"binary":true][,"id":ID]}
 * server -> client
 *   {"type":"subscribed","channel":C,"epoch":E,"seq":N,"recovered":B[,"id":ID]}
 *   {"type":"message","channel":C,"seq":N,"epoch":E,"data":D[,"binary":true]}
 *   {"type":"gap","channel":C,"epoch":E,"from":A,"to":B,"reason":R}
 *   {"type":"unsubscribed","channel":C[,"id":ID]}
 *   {"type":"published","channel":C,"seq":N[,"id":ID]}   (the ack of publish)
 *   {"type":"error","code":K,"message":M[,"channel":C][,"id":ID]}
 *
 * A message payload is one of three kinds: text (D is a JSON string),
 * binary (D is a base64 string and "binary":true) and JSON (D is any other
 * JSON value, kept as its exact text). seq counts from 1 per channel and
 * epoch; a new epoch means the channel's history was reset. "since" is the
 * last seq the client saw: the server sends what came after, or a "gap".
 *
 * Parsing is strict (RFC 8259, nesting depth <= 64, duplicate known keys
 * refused) and never allocates: strings are unescaped into caller scratch. */
#ifndef WSKIT_CHANPROTO_H
#define WSKIT_CHANPROTO_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define WSK_CHAN_MAX_EPOCH 64 /* bytes of an epoch string */

typedef enum {
  WSK_PAYLOAD_TEXT = 't',
  WSK_PAYLOAD_BINARY = 'b',
  WSK_PAYLOAD_JSON = 'j'
} wsk_payload_kind_t;

/* One channel message as every layer sees it. */
typedef struct wsk_chan_msg {
  const char *channel; size_t channel_len;
  uint64_t seq;                 /* 0 = not sequenced yet */
  const char *epoch; size_t epoch_len;
  wsk_payload_kind_t kind;
  const uint8_t *payload; size_t payload_len; /* raw bytes (text, binary or JSON text) */
} wsk_chan_msg_t;

typedef enum {
  WSK_CHAN_SUBSCRIBE = 1,
  WSK_CHAN_UNSUBSCRIBE,
  WSK_CHAN_PUBLISH,
  WSK_CHAN_SUBSCRIBED,
  WSK_CHAN_MESSAGE,
  WSK_CHAN_GAP,
  WSK_CHAN_UNSUBSCRIBED,
  WSK_CHAN_PUBLISHED,
  WSK_CHAN_ERROR
} wsk_chan_type_t;

/* A parsed frame of the protocol. Pointers go into the input or the
 * scratch buffer given to wsk_chan_parse. */
typedef struct wsk_chan_frame {
  wsk_chan_type_t type;
  const char *channel; size_t channel_len;  /* unescaped */
  int has_since; uint64_t since;            /* subscribe */
  const char *epoch; size_t epoch_len;      /* subscribe (optional), subscribed, message, gap */
  uint64_t seq;                             /* subscribed (newest), message, published */
  int recovered;                            /* subscribed */
  uint64_t from, to;                        /* gap: the missed seqs [from, to] */
  const char *reason; size_t reason_len;    /* gap: "expired" / "epoch"; unescaped */
  wsk_payload_kind_t kind;                  /* publish, message */
  const uint8_t *payload; size_t payload_len; /* publish, message: text unescaped,
                                                 binary base64-decoded, JSON as is */
  const char *id; size_t id_len;            /* raw JSON of "id" (number or string), 0 if absent */
  const char *code; size_t code_len;        /* error: unescaped */
  const char *message; size_t message_len;  /* error: unescaped */
} wsk_chan_frame_t;

/* Parse one text message. `scratch` must hold at least `len` bytes (what
 * unescaping and base64 can need). Returns 0, or WSK_EPROTO with *why
 * (static text, may be NULL) naming what is wrong: not JSON, not an
 * object, unknown type, missing/ill-typed field, empty or over-long channel
 * (> 1024 bytes), a control character in the channel (a byte < 0x20 or
 * 0x7f, \u0000 included: names go into Redis keys and SSE query
 * strings), epoch over 64 bytes, seq/since not an integer in
 * [0, 2^53). Unknown keys are ignored (forward compatible). */
int wsk_chan_parse(const char *json, size_t len, uint8_t *scratch, wsk_chan_frame_t *out,
                   const char **why);

/* 1 if [json, json+len) is exactly one valid JSON value (whitespace around
 * allowed), depth <= 64. */
int wsk_json_valid(const char *json, size_t len);
/* Append s as a JSON string (quotes included; control characters, quote
 * and backslash escaped; bytes >= 0x80 copied: s must be UTF-8). */
int wsk_json_append_string(wsk_buf_t *out, const void *s, size_t len);

/* Builders: append one protocol message. `id` is raw JSON (NULL = none).
 * WSK_EINVAL for a bad kind, a channel the parser would refuse (empty,
 * over 1024 bytes, control characters) or a JSON payload that is not
 * valid JSON;
 * WSK_EUTF8 for a text payload that is not UTF-8. */
int wsk_chan_build_message(wsk_buf_t *out, const wsk_chan_msg_t *m);
int wsk_chan_build_subscribe(wsk_buf_t *out, const char *channel, size_t channel_len,
                             int has_since, uint64_t since, const char *epoch, size_t epoch_len,
                             const char *id, size_t id_len);
int wsk_chan_build_unsubscribe(wsk_buf_t *out, const char *channel, size_t channel_len,
                               const char *id, size_t id_len);
/* m->seq and m->epoch are ignored. */
int wsk_chan_build_publish(wsk_buf_t *out, const wsk_chan_msg_t *m, const char *id, size_t id_len);
int wsk_chan_build_subscribed(wsk_buf_t *out, const char *channel, size_t channel_len,
                              const char *epoch, size_t epoch_len, uint64_t seq, int recovered,
                              const char *id, size_t id_len);
int wsk_chan_build_gap(wsk_buf_t *out, const char *channel, size_t channel_len, const char *epoch,
                       size_t epoch_len, uint64_t from, uint64_t to, const char *reason);
int wsk_chan_build_unsubscribed(wsk_buf_t *out, const char *channel, size_t channel_len,
                                const char *id, size_t id_len);
int wsk_chan_build_published(wsk_buf_t *out, const char *channel, size_t channel_len,
                             uint64_t seq, const char *id, size_t id_len);
/* channel may be NULL. code is a short token: "bad_request", "forbidden",
 * "rate_limited", "not_subscribed", "too_many_channels", "unavailable". */
int wsk_chan_build_error(wsk_buf_t *out, const char *code, const char *message,
                         const char *channel, size_t channel_len, const char *id, size_t id_len);

/* Append an error answering `request`, the text message being refused
 * (e.g. over the message rate): its "id" and "channel" are copied into
 * the error when it parses as a protocol frame, so the client can match
 * the answer; otherwise (or when the len bytes of scratch the parse
 * needs cannot be allocated) the error has neither. */
int wsk_chan_build_refusal(wsk_buf_t *out, const char *code, const char *message,
                           const void *request, size_t len);

/* ---- the client's side of resume ---- */

/* Remembers, per subscribed channel, the epoch and the last seq seen, so a
 * reconnecting client can resubscribe with "since" and drop duplicates. */
typedef struct wsk_chan_client wsk_chan_client_t;

wsk_chan_client_t *wsk_chan_client_new(void);
void wsk_chan_client_free(wsk_chan_client_t *cc);

/* Start tracking a channel (no-op when tracked). 0 or WSK_EINVAL/ENOMEM. */
int wsk_chan_client_add(wsk_chan_client_t *cc, const char *channel, size_t len);
/* Stop tracking; 1 if it was tracked. */
int wsk_chan_client_remove(wsk_chan_client_t *cc, const char *channel, size_t len);
size_t wsk_chan_client_count(const wsk_chan_client_t *cc);

typedef enum {
  WSK_CHAN_DELIVER = 0, /* new: hand it to the user */
  WSK_CHAN_DUPLICATE,   /* seq already seen in this epoch: drop it */
  WSK_CHAN_IGNORE       /* not a tracked channel (or not a message) */
} wsk_chan_verdict_t;

/* Feed a parsed server frame: updates the tracked epoch/seq from
 * subscribed, message and gap frames (a gap moves the position to its
 * "to"). Returns what to do with a message frame. */
wsk_chan_verdict_t wsk_chan_client_on_frame(wsk_chan_client_t *cc, const wsk_chan_frame_t *f);

/* Append one subscribe message per tracked channel (with since/epoch when
 * something was seen), each followed by a '\n' byte: the driver splits on
 * it and sends each as its own text message after reconnecting. Returns
 * how many, or a negative error. */
int wsk_chan_client_resubscribe(const wsk_chan_client_t *cc, wsk_buf_t *out);

/* The position of a tracked channel: 1 and *seq, *epoch (epoch not NUL-
 * terminated, valid until the next call that changes cc), 0 if untracked. */
int wsk_chan_client_position(const wsk_chan_client_t *cc, const char *channel, size_t len,
                             uint64_t *seq, const char **epoch, size_t *epoch_len);

#ifdef __cplusplus
}
#endif
#endif
