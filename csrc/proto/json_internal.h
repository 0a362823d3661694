/* Internal JSON and base64 helpers shared by the channel protocol
 * (chanproto.c), the backplane envelope and SSE/hub users.
 *
 * The JSON scanner works on byte offsets into one buffer: each function
 * takes the text, its length and a position, and reports the position
 * after what it read. Strict RFC 8259: strings must be UTF-8 without raw
 * control characters, \u escapes must not leave lone surrogates, nesting
 * is limited to WSK_JSON_MAX_DEPTH. */
#ifndef WSKIT_PROTO_JSON_INTERNAL_H
#define WSKIT_PROTO_JSON_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "wskit/chanproto.h"

#define WSK_JSON_MAX_DEPTH 64

/* The first position at or after i that is not JSON whitespace. */
size_t wsk_json_skip_ws(const char *s, size_t len, size_t i);

/* Validate one JSON value starting exactly at s[i], nested inside `depth`
 * containers already. 0 and *end = the position after it, or -1. */
int wsk_json_value(const char *s, size_t len, size_t i, int depth, size_t *end);

/* Validate the string whose opening quote is at s[i] and, when out is not
 * NULL, write its unescaped bytes there (never more than the raw length
 * of the string). 0 with *out_len and *end (after the closing quote), or
 * -1. */
int wsk_json_string(const char *s, size_t len, size_t i, uint8_t *out, size_t *out_len,
                    size_t *end);

/* Append v as a plain decimal. */
int wsk_json_append_u64(wsk_buf_t *out, uint64_t v);

/* Append base64 (RFC 4648, padded) of n bytes. 0 or WSK_ENOMEM. */
int wsk_base64_append(wsk_buf_t *out, const void *p, size_t n);
/* Decode strict padded base64 into out (which may be `in` itself: the
 * output never overtakes the input). Bytes written, or WSK_EINVAL. */
long wsk_base64_decode_strict(const char *in, size_t n, uint8_t *out);

/* A channel name: 1..WSK_CHANNEL_MAX_NAME bytes, none of them a control
 * character (< 0x20 or 0x7f, NUL included): a name is also part of Redis
 * keys, log lines and SSE query strings. 1 if valid. (UTF-8 validity is
 * checked where the name goes into JSON.) */
int wsk_chan_name_ok(const char *s, size_t n);

#endif
