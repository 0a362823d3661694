/* The connection state machine: one object per WebSocket connection, in
 * either role, from the first handshake byte to the end. It does no I/O
 * and reads no clock.
 *
 * How a driver uses it:
 *   - bytes in:  wsk_conn_feed(c, data, len), then call wsk_conn_next_event()
 *     until it returns 0. The core reads `data` in place (and unmasks it
 *     in place: data is modified) so it must stay valid until next_event
 *     returns 0; partial frames are then copied inside the core and the
 *     driver may reuse its buffer. A driver may stop pulling events (its
 *     application fell behind) and resume later; it must then keep `data`.
 *   - end of input: wsk_conn_feed_eof(c), then drain events.
 *   - time: wsk_conn_tick(c, now) with a monotonic clock in ms, whenever a
 *     deadline passes and before feeding; it returns the next deadline.
 *     Calls that start timers (ping, close) use the last `now` seen.
 *   - bytes out: every call may append to the output buffer; the driver
 *     writes wsk_conn_output() and then wsk_conn_output_consume(), or takes
 *     the buffer whole with wsk_conn_output_take().
 *   - events: after any call, pull events. WSK_EV_CLOSED is always the
 *     last event of a connection and comes exactly once; after it the
 *     driver writes what output is left and closes the transport.
 *
 * Payload pointers in an event are valid until the next call on the
 * connection. Calls are not thread-safe; one connection, one thread. */
#ifndef WSKIT_CONN_H
#define WSKIT_CONN_H

#include "common.h"
#include "http.h"
#include "handshake.h"
#include "deflate.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct wsk_conn wsk_conn_t;

typedef enum {
  WSK_STATE_CONNECTING = 0, /* opening handshake in progress */
  WSK_STATE_OPEN = 1,
  WSK_STATE_CLOSING = 2,    /* a close frame was sent or received */
  WSK_STATE_CLOSED = 3
} wsk_state_t;

typedef struct wsk_conn_opts {
  wsk_role_t role;
  /* limits on what the peer sends */
  size_t max_message_size;  /* default 1 MiB; 0 = no limit */
  size_t max_frame_size;    /* default 0 = same as max_message_size */
  size_t max_fragments;     /* frames per message, empty ones included; default 16384 */
  wsk_http_limits_t http;   /* handshake head limits */
  size_t write_limit;       /* high-water mark of the output buffer, default 32 KiB:
                               wsk_conn_over_limit() reports it to the driver
                               (which waits before sending more) and broadcasts
                               skip connections over it */
  /* timers, in ms; 0 disables */
  uint32_t open_timeout_ms;  /* whole opening handshake, default 10000 */
  uint32_t ping_interval_ms; /* keepalive ping when open, default 20000 */
  uint32_t ping_timeout_ms;  /* fail with 1011 when no pong by then, default 20000 */
  uint32_t close_timeout_ms; /* wait for the peer's close / EOF, default 10000 */
  uint32_t auth_timeout_ms;  /* first-message authentication, default 0 = off: when
                                set, the first data message after OPEN must be
                                judged by wsk_conn_authenticate() before this
                                time, else close 1008; no later message is
                                parsed until then */
  /* message rate from the peer (token bucket over data messages); rate 0 = off */
  double rate;              /* messages per second */
  double rate_burst;        /* bucket size, default = max(rate, 1) */
  int rate_policy;          /* WSK_RATE_ERROR (default), _DROP or _CLOSE */
  /* behaviour */
  int auto_pong;            /* answer pings, default 1 */
  int stream_fragments;     /* deliver data frames as WSK_EV_FRAGMENT; default 0 */
  int validate_utf8_out;    /* check text we send, default 1 */
  /* handshake (the one matching `role` is used) */
  wsk_client_hs_opts_t client;
  wsk_server_hs_opts_t server;
  /* randomness for keys and masks; NULL = RAND_bytes */
  wsk_random_fn random;
  void *random_ud;
  void *data;               /* user pointer, wsk_conn_data() */
} wsk_conn_opts_t;

/* What happens to a message over the rate: ERROR delivers WSK_EV_RATE_LIMITED
 * instead of it (the driver answers with an error message), DROP discards it
 * silently, CLOSE closes with 1008 "rate limit". Each is counted
 * (wsk_conn_stats). With stream_fragments the bucket is asked at a message's
 * first piece: RATE_LIMITED then carries that piece (fin 0 when more
 * follow) and the rest of the message is dropped. Control frames are not
 * rate limited. */
enum { WSK_RATE_ERROR = 0, WSK_RATE_DROP = 1, WSK_RATE_CLOSE = 2 };

/* Fill the defaults for a role. */
void wsk_conn_opts_init(wsk_conn_opts_t *o, wsk_role_t role);

/* Create a connection at time `now`. The options are copied, but the
 * strings and arrays they point to (client.host, subprotocols, headers...)
 * must stay valid while the connection is CONNECTING. A client writes its
 * request to the output buffer at once. Returns NULL when out of memory or
 * the options are invalid; *err (may be NULL) then says why. */
wsk_conn_t *wsk_conn_new(const wsk_conn_opts_t *o, int64_t now, int *err);
/* Free the connection and everything it holds. Never call it from inside
 * a loop over its events unless you stop using the event. */
void wsk_conn_free(wsk_conn_t *c);

void *wsk_conn_data(const wsk_conn_t *c);
void wsk_conn_set_data(wsk_conn_t *c, void *data);
wsk_state_t wsk_conn_state(const wsk_conn_t *c);
wsk_role_t wsk_conn_role(const wsk_conn_t *c);
/* Negotiated subprotocol ("" when none) and compression (after OPEN). */
const char *wsk_conn_subprotocol(const wsk_conn_t *c);
const wsk_deflate_params_t *wsk_conn_deflate(const wsk_conn_t *c);
/* A sentence saying why the connection failed or was refused ("" if it did
 * not), for logs. Static or owned by the connection. */
const char *wsk_conn_error(const wsk_conn_t *c);

/* ---- input ---- */

typedef enum {
  WSK_EV_NONE = 0,
  WSK_EV_REQUEST,   /* server: a complete request head. Answer with
                       wsk_conn_accept() or wsk_conn_reject(). */
  WSK_EV_OPEN,      /* handshake done (both roles); client: head is the
                       101 response, server: head is NULL */
  WSK_EV_REJECTED,  /* client: the server answered status != 101 (or an
                       invalid 101): status, head, data = body */
  WSK_EV_TEXT,      /* a whole text message (valid UTF-8) */
  WSK_EV_BINARY,    /* a whole binary message */
  WSK_EV_FRAGMENT,  /* stream_fragments: a piece of a message */
  WSK_EV_PING,      /* payload in data (already answered when auto_pong) */
  WSK_EV_PONG,      /* payload; acked/latency_ms when it answers our pings */
  WSK_EV_CLOSE,     /* the peer's close frame: code (1005 when none), reason */
  WSK_EV_CLOSED,    /* the end: close the transport after writing the output */
  WSK_EV_RATE_LIMITED /* a data message over the rate (policy ERROR), not
                         delivered; opcode and data/len say what it was */
} wsk_event_type_t;

typedef struct wsk_event {
  wsk_event_type_t type;
  const uint8_t *data; /* payload / reason / body; NUL is not guaranteed */
  size_t len;
  wsk_opcode_t opcode; /* FRAGMENT: TEXT or BINARY (of the whole message) */
  int first, fin;      /* FRAGMENT: first / last piece of its message */
  unsigned code;       /* CLOSE: peer's code; CLOSED: the peer's close code,
                          1005 if its close had none, 1006 if none came */
  unsigned sent_code;  /* CLOSED: the code we sent, 0 when we sent none */
  int clean;           /* CLOSED: close frames went both ways, then EOF/close */
  int status;          /* REQUEST: status the core would answer (0 = valid
                          upgrade; 400/403/426 otherwise, see handshake.h);
                          REJECTED: the HTTP status */
  const wsk_http_head_t *head; /* REQUEST, OPEN (client), REJECTED */
  uint32_t ping_id;    /* PONG: id of the ping it answers (see wsk_conn_ping);
                          it acknowledges every earlier ping too. 0 when it
                          answers none of ours (unsolicited pong) */
  int64_t latency_ms;  /* PONG: now minus the send time of that ping, -1 if none */
} wsk_event_t;

/* Hand bytes to the connection (see the top of this file). Returns 0,
 * WSK_ESTATE when called before the previous input was fully consumed,
 * WSK_ECLOSED after CLOSED (the bytes are ignored). */
int wsk_conn_feed(wsk_conn_t *c, uint8_t *data, size_t len);
/* The transport reached end of input (or failed). */
void wsk_conn_feed_eof(wsk_conn_t *c);
/* Produce the next event into *ev. Returns 1 with an event, 0 when there is
 * none until more input, time or calls. */
int wsk_conn_next_event(wsk_conn_t *c, wsk_event_t *ev);
/* Bytes fed but not yet parsed into events. */
size_t wsk_conn_input_pending(const wsk_conn_t *c);

/* ---- first-message authentication (auth_timeout_ms) ---- */

/* Judge the first message: ok 1 lets later messages through (pull events
 * again: what arrived meanwhile is parsed then); ok 0 closes with 1008 and
 * `reason` (NULL = "authentication failed"; at most 123 bytes of UTF-8,
 * else WSK_EINVAL). ok 1 may also come before the first message, even
 * before OPEN (a handshake hook already authenticated); ok 0 before OPEN
 * is WSK_ESTATE (refuse the request with wsk_conn_reject instead).
 * WSK_ESTATE when no judgement is awaited. While a first message awaits judgement nothing after it is
 * parsed (pings wait too) and at most 256 KiB of input is held; more
 * fails the connection with 1008. The deadline (auth_timeout_ms after
 * OPEN) closes with 1008 "authentication timeout". */
int wsk_conn_authenticate(wsk_conn_t *c, int ok, const char *reason);
/* 1 when authenticated or auth_timeout_ms is off. */
int wsk_conn_authenticated(const wsk_conn_t *c);

typedef struct wsk_conn_stats {
  uint64_t messages_in, messages_out; /* whole data messages (in: rate
                                         limited ones included) */
  uint64_t bytes_in, bytes_out;       /* payload bytes of those */
  uint64_t rate_limited;              /* messages over the rate (any policy) */
} wsk_conn_stats_t;
void wsk_conn_stats(const wsk_conn_t *c, wsk_conn_stats_t *out);

/* ---- time ---- */

/* Set the clock and act on deadlines that passed (open timeout, keepalive
 * ping, pong timeout, close timeout). Returns the next deadline, or -1
 * when there is none. */
int64_t wsk_conn_tick(wsk_conn_t *c, int64_t now);
/* The next deadline without acting, -1 when none. */
int64_t wsk_conn_deadline(const wsk_conn_t *c);

/* ---- server handshake answers (state CONNECTING after WSK_EV_REQUEST) ---- */

typedef struct wsk_accept {
  const char *subprotocol;  /* NULL: the default choice; "" : none. Must be
                               one the client offered (else WSK_EINVAL) */
  const wsk_http_header_t *headers; size_t nheaders; /* extra response headers */
} wsk_accept_t;

/* Accept the request (`a` may be NULL): writes the 101 response, OPEN.
 * WSK_ESTATE when there is no request to answer or the request was not a
 * valid upgrade (event status != 0: reject it). */
int wsk_conn_accept(wsk_conn_t *c, const wsk_accept_t *a);
/* Answer with any status (0 = the event's status, with a default body),
 * headers and body; the connection then ends (WSK_EV_CLOSED follows). */
int wsk_conn_reject(wsk_conn_t *c, int status, const wsk_http_header_t *headers,
                    size_t nheaders, const void *body, size_t body_len);

/* ---- output ---- */

/* Send a whole text or binary message (compressed when negotiated and not
 * below the threshold). WSK_ESTATE before OPEN, WSK_ECLOSED after close,
 * WSK_EUTF8 for invalid text, WSK_ESTATE while a fragmented send is open. */
int wsk_conn_send(wsk_conn_t *c, wsk_opcode_t op, const void *data, size_t len);
/* Send a message in pieces: the first call's op (TEXT or BINARY) starts a
 * message, later calls continue it (op ignored), fin=1 ends it. Control
 * frames may be sent between pieces. UTF-8 is checked across pieces. */
int wsk_conn_send_fragment(wsk_conn_t *c, wsk_opcode_t op, const void *data, size_t len,
                           int fin);
/* Ping with up to 125 bytes of payload and remember it: returns its id
 * (>= 1), which a later WSK_EV_PONG names. NULL data picks a unique 4-byte
 * payload. WSK_EEXIST when a ping with the same payload is still waiting
 * for its pong; WSK_E2BIG when 128 pings are waiting. */
int wsk_conn_ping(wsk_conn_t *c, const void *data, size_t len);
int wsk_conn_pong(wsk_conn_t *c, const void *data, size_t len);
/* Start the close handshake: code 0 sends a close frame without a code;
 * else a sendable code (1000-1003, 1007-1014, 3000-4999) and a UTF-8
 * reason of at most 123 bytes (WSK_EINVAL otherwise). Calling it again
 * while CLOSING or CLOSED returns 0 and does nothing. In CONNECTING a
 * client aborts (CLOSED with 1006); a server refuses with 503 unless the
 * request was already answered. */
int wsk_conn_close(wsk_conn_t *c, unsigned code, const void *reason, size_t len);
/* Abort now: no close frame, CLOSED with 1006 (e.g. the driver's write failed). */
void wsk_conn_abort(wsk_conn_t *c, const char *why);

/* Pending output. */
const uint8_t *wsk_conn_output(const wsk_conn_t *c, size_t *len);
void wsk_conn_output_consume(wsk_conn_t *c, size_t n);
/* Take the pending output buffer: *data (free it with wsk_free) and *len;
 * returns 0 with *data NULL when there is nothing. The connection starts
 * a new buffer. */
int wsk_conn_output_take(wsk_conn_t *c, uint8_t **data, size_t *len);
size_t wsk_conn_output_len(const wsk_conn_t *c);
/* 1 while the output buffer is over write_limit. */
int wsk_conn_over_limit(const wsk_conn_t *c);

/* ---- broadcast ---- */

/* A message framed once (server to client, unmasked) for many connections;
 * compressed once per window size for connections that negotiated
 * server_no_context_takeover. Reference counted so drivers can share it. */
typedef struct wsk_broadcast wsk_broadcast_t;

/* NULL on failure, with *err (may be NULL) set: WSK_EINVAL for a bad
 * opcode, WSK_EUTF8 for invalid text, WSK_ENOMEM. */
wsk_broadcast_t *wsk_broadcast_new(wsk_opcode_t op, const void *data, size_t len, int *err);
void wsk_broadcast_ref(wsk_broadcast_t *b);
void wsk_broadcast_unref(wsk_broadcast_t *b);
/* Append the message to the connection's output. WSK_EBUSY (and nothing
 * written) when the connection is over its write_limit; WSK_ECLOSED when
 * not open. Client connections (masked frames) encode it for themselves. */
int wsk_conn_send_broadcast(wsk_conn_t *c, wsk_broadcast_t *b);

#ifdef __cplusplus
}
#endif
#endif
