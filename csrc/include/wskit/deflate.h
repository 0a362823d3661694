/* permessage-deflate (RFC 7692): negotiation and the per-message codec.
 *
 * Window bits 8 are negotiated as the RFC allows, but zlib refuses to
 * deflate raw streams with an 8-bit window: the core uses 9 for both.
 * That is safe because zlib's deflate never emits a distance beyond
 * window - 262 bytes (250 for a 512-byte window), which any peer's 256-byte
 * window accepts, and a larger inflate window accepts any smaller one. */
#ifndef WSKIT_DEFLATE_H
#define WSKIT_DEFLATE_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What one side is willing to do. Used by clients to build the offer and
 * check the answer, by servers to choose among offers. One struct serves
 * both roles; the window bits default to 0, read as shown per role. */
typedef struct wsk_deflate_opts {
  int enabled;                    /* offer (client) / accept (server); default 1 */
  int server_no_context_takeover; /* client: ask for it; server: always reply with it */
  int client_no_context_takeover; /* client: offer it; server: always reply with it */
  int server_max_window_bits;     /* 0 or 8..15, default 0; client: ask for it (0 =
                                     don't ask); server: the most it will use (0 = 15) */
  int client_max_window_bits;     /* 0 or 8..15, default 0; client: offer it with this
                                     value (0 = offer the bare parameter, meaning "any");
                                     the parameter is always offered. server: ask the
                                     client to use at most this (0 = 15), possible only
                                     when the client offered the parameter */
  int level;                      /* zlib level 0..9, default 6 */
  int mem_level;                  /* zlib memLevel 1..9, default 8 */
  size_t threshold;               /* messages shorter than this are sent uncompressed; default 128 */
} wsk_deflate_opts_t;

void wsk_deflate_opts_init(wsk_deflate_opts_t *o);

/* The agreed parameters of one connection. */
typedef struct wsk_deflate_params {
  int enabled;
  int server_no_context_takeover;
  int client_no_context_takeover;
  int server_max_window_bits; /* 8..15, 15 when not negotiated */
  int client_max_window_bits; /* 8..15, 15 when not negotiated */
  int server_bits_asked;      /* the offer named server_max_window_bits, so
                                 the response names it too, even at 15
                                 (RFC 7692 7.1.2.1) */
} wsk_deflate_params_t;

/* Client: append the offer (a Sec-WebSocket-Extensions value, no CRLF):
 * "permessage-deflate" [; server_no_context_takeover]
 * [; client_no_context_takeover] [; server_max_window_bits=N]
 * "; client_max_window_bits" ["=N"]. WSK_EINVAL for bits not 0 or 8..15. */
int wsk_deflate_offer_build(const wsk_deflate_opts_t *o, wsk_buf_t *out);

/* Server: look at every Sec-WebSocket-Extensions value of the request (the
 * header may appear several times; pass each value in order) and pick the
 * first permessage-deflate offer it can accept. Returns 1 with *out filled
 * when one was accepted, 0 when none was (no compression), WSK_EHTTP when a
 * header value is malformed anywhere (answer 400), WSK_EINVAL for bad server
 * opts, WSK_ENOMEM. Offers with unknown parameters, repeated parameters or
 * invalid values are declined, not errors. Values are 8..15 without leading
 * zeros, token or quoted. The answer: no_context_takeover on a side when
 * the offer asked or our opts want it; server window = min(offered, ours)
 * or ours; client window = min(offered value or 15, ours) when the client
 * offered client_max_window_bits, else 15. *out is all-off (bits 15)
 * unless 1 is returned. */
int wsk_deflate_negotiate(const wsk_deflate_opts_t *server, const char *const *values,
                          const size_t *lens, size_t nvalues, wsk_deflate_params_t *out);

/* Server: append the response value for accepted params (no CRLF).
 * Window bits of 15 are left out as they are the default (so an offer of
 * server_max_window_bits=15 answered with 15 is not echoed; our client
 * check accepts that). WSK_EINVAL unless enabled and bits are 8..15. */
int wsk_deflate_response_build(const wsk_deflate_params_t *p, wsk_buf_t *out);

/* Client: check the server's Sec-WebSocket-Extensions values against what
 * was offered. Returns 1 with *out filled when permessage-deflate was
 * accepted validly, 0 when the server did not use it, WSK_EHANDSHAKE when
 * the answer is invalid (an extension not offered, a parameter not allowed
 * or out of range, repeated parameters, more than one extension, a
 * client_max_window_bits without value, a server_max_window_bits above the
 * one asked for, or a server_no_context_takeover / server_max_window_bits
 * below 15 that was asked for and is missing), WSK_ENOMEM. Our client
 * window is the smaller of the server's value and our offered one. */
int wsk_deflate_check_response(const wsk_deflate_opts_t *offer, const char *const *values,
                               const size_t *lens, size_t nvalues, wsk_deflate_params_t *out);

/* The codec of one connection: a compressor for what we send and a
 * decompressor for what we receive, each created lazily on first use.
 * We compress with our own side's window bits and no_context_takeover
 * (client_* as a client, server_* as a server) and decompress with the
 * peer's. wsk_deflate_new returns NULL when out of memory or when a window
 * size is not 8..15 (0 counts as 15), level not -1..9 or mem_level not
 * 0..9 (0 counts as 8). After any error from compress or decompress that direction's
 * context is reset (the message is lost: fail the connection). */
typedef struct wsk_deflate wsk_deflate_t;

wsk_deflate_t *wsk_deflate_new(const wsk_deflate_params_t *p, wsk_role_t role, int level,
                               int mem_level);
void wsk_deflate_free(wsk_deflate_t *d);

/* Compress part of an outgoing message and append the compressed bytes to
 * `out`. Call once per fragment; `fin` marks the last one, whose output
 * has the trailing 00 00 ff ff removed (RFC 7692 7.2.1). An empty message,
 * or an empty last fragment, gives the single octet 0x00 (RFC 7692
 * 7.2.3.6). Resets the context after the message when our side has
 * no_context_takeover. Returns 0, WSK_EINVAL, WSK_ENOMEM or WSK_EZLIB; on
 * error nothing is appended. */
int wsk_deflate_compress(wsk_deflate_t *d, const uint8_t *in, size_t len, int fin, wsk_buf_t *out);

/* Decompress part of an incoming message and append to `out`. `fin` marks
 * the last fragment (the core appends 00 00 ff ff itself). Never lets
 * out's pending size exceed `max_out` (0 = no limit) nor grows its
 * capacity past it: returns WSK_E2BIG as soon as more output would
 * be needed (close with 1009), WSK_EZLIB for corrupt data (close with
 * 1007), including a message that does not end on a DEFLATE block
 * boundary. Blocks with BFINAL set are accepted and blocks after them
 * continue in the same window (RFC 7692 7.2.1), at most 8 such per
 * message; a message ending with one needs no trailer. On error nothing of
 * this call's output stays in `out`. Resets the context after the message
 * when the peer's side has no_context_takeover. */
int wsk_deflate_decompress(wsk_deflate_t *d, const uint8_t *in, size_t len, int fin,
                           size_t max_out, wsk_buf_t *out);

/* Compress a whole message with a fresh context and window `bits` (server
 * to client, for broadcasts to connections with server_no_context_takeover).
 * Appends to out exactly what a fresh wsk_deflate_t with the same settings
 * would send. WSK_EINVAL unless bits is 8..15 (0 counts as 15), level
 * -1..9, mem_level 0..9 (0 counts as 8). */
int wsk_deflate_compress_once(const uint8_t *in, size_t len, int bits, int level, int mem_level,
                              wsk_buf_t *out);

#ifdef __cplusplus
}
#endif
#endif
