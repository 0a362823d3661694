/* wskit on libuv: WebSocket servers and clients on a loop the caller owns.
 *
 * The driver moves bytes between sockets and the sans-I/O core (conn.h),
 * arms one timer per connection at the core's deadline, and turns core
 * events into the callbacks below. Every protocol decision (framing, close
 * handshake, keepalive, limits, backoff) is the core's.
 *
 * Conventions (libuv's):
 *   - every object works on a uv_loop_t the caller passes; one loop, one
 *     thread; no call is thread-safe.
 *   - every call returns 0 (or a non-negative count / id) or a negative
 *     WSK_E* code (wsk_strerror). System and network failures are WSK_EIO;
 *     the object keeps the system's text (wsk_uv_server_error, the close
 *     info's `error`).
 *   - every object has a `void *data` for the user.
 *   - callbacks get the object and a const struct (or simple arguments);
 *     pointers in those structs are valid only during the callback.
 *
 * Lifetime rules (read these before writing a callback):
 *   - A connection (wsk_uv_conn_t) is created by the library (a server
 *     accepting, a client attempting) and stays valid until its on_close
 *     callback returns. on_close runs exactly once for every connection,
 *     opened or not; the library frees the connection after it returns.
 *   - Any callback of a connection may call send, close, pause/resume and
 *     wsk_uv_conn_free on that same connection (and on others). Freeing
 *     inside a callback only marks the connection: on_close still runs
 *     (once, after the current callback returns) and the memory goes when
 *     the outermost callback has returned. Outside callbacks,
 *     wsk_uv_conn_free runs on_close before it returns.
 *   - Servers and clients are freed by the user (wsk_uv_server_free,
 *     wsk_uv_client_free), also safely from inside their own callbacks:
 *     the pointer must not be used after the call; the memory is released
 *     when libuv has closed the handles (the loop must keep running).
 *   - Strings and arrays in option structs are copied by *_new, except
 *     inside the embedded wsk_conn_opts_t (subprotocols, origins, headers)
 *     and the TLS file names (read by a server's first listen, a client's
 *     first attempt): those must stay valid while the server / client
 *     exists.
 */
#ifndef WSKIT_UV_H
#define WSKIT_UV_H

#include <jansson.h>
#include <uv.h>
#include "proto.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct wsk_uv_conn wsk_uv_conn_t;
typedef struct wsk_uv_server wsk_uv_server_t;
typedef struct wsk_uv_client wsk_uv_client_t;

/* ---- loop ---- */

/* libuv's default loop, for simple programs. */
uv_loop_t *wsk_uv_default_loop(void);
/* uv_run(loop, UV_RUN_DEFAULT): returns when nothing is left to do. */
int wsk_uv_run(uv_loop_t *loop);

/* ---- callbacks (shared by server and client connections) ---- */

/* A whole message, or a piece of one with conn.stream_fragments. */
typedef struct wsk_uv_message {
  wsk_opcode_t opcode;  /* WSK_OP_TEXT or WSK_OP_BINARY */
  const uint8_t *data;  /* valid during the callback; copy to keep */
  size_t len;
  int first, fin;       /* 1, 1 for whole messages */
} wsk_uv_message_t;

typedef struct wsk_uv_control {
  const uint8_t *data;  /* ping or pong payload */
  size_t len;
  uint32_t ping_id;     /* pong: id of the ping it answers (0 = unsolicited) */
  int64_t latency_ms;   /* pong: round trip of that ping, -1 when none */
} wsk_uv_control_t;

typedef struct wsk_uv_close_info {
  unsigned code;          /* peer's close code; 1005 no code, 1006 no close frame */
  const char *reason;     /* peer's reason, NUL-terminated ("" when none) */
  size_t reason_len;
  unsigned sent_code;     /* the code we sent, 0 when none */
  int clean;              /* close frames went both ways */
  int opened;             /* on_open ran for this connection */
  int err;                /* 0, or why it failed: WSK_EIO, WSK_ETIMEDOUT,
                             WSK_EHANDSHAKE (refused by the server or the
                             proxy), WSK_ECRYPTO (TLS), WSK_EPROTO ... */
  const char *error;      /* a sentence for the log ("" when none) */
  int http_status;        /* client: the server's non-101 status, else 0 */
  /* reconnecting clients */
  int will_retry;         /* 1 when another attempt follows */
  int64_t retry_delay_ms; /* ... after this long; -1 when none */
  unsigned attempt;       /* client: attempt number since the last open (1-based) */
  int proxy_status;       /* client: the proxy's non-2xx answer to CONNECT (407
                             wants credentials, 403 refused, 502...), else 0 */
} wsk_uv_close_info_t;

/* What a server's handshake hooks see: the request head (method, target,
 * headers) and the core's verdict. Valid until the request is answered. */
typedef struct wsk_uv_request {
  const wsk_http_head_t *head;
  int status;              /* 0: a valid upgrade; else what the core would
                              answer (400, 403 Origin refused, 426) */
  int is_upgrade;          /* the request carries an Upgrade header */
  const char *path;        /* target up to '?', NOT NUL-terminated */
  size_t path_len;
  const char *query;       /* after '?' (NULL when none), NOT NUL-terminated */
  size_t query_len;
} wsk_uv_request_t;

/* An incoming JSON-RPC 2.0 request or notification (see on_rpc). The
 * json_t values are borrowed from the parsed message: valid during the
 * callback (json_incref what you keep, e.g. the id for a later answer). */
typedef struct wsk_uv_rpc_call {
  const char *method;
  json_t *params;      /* array, object or NULL */
  json_t *id;          /* NULL for a notification (never answered) */
} wsk_uv_rpc_call_t;

/* A channel message (JSON channel protocol, docs/protocol.md). */
typedef struct wsk_uv_channel_message {
  const char *channel;     /* NOT NUL-terminated */
  size_t channel_len;
  uint64_t seq;            /* 1, 2, ... per channel and epoch */
  const char *epoch;       /* NOT NUL-terminated */
  size_t epoch_len;
  wsk_payload_kind_t kind; /* WSK_PAYLOAD_TEXT, _BINARY or _JSON (data is JSON text) */
  const uint8_t *data;
  size_t len;
} wsk_uv_channel_message_t;

/* Messages [from, to] of a channel that are gone. */
typedef struct wsk_uv_gap {
  const char *channel;
  size_t channel_len;
  const char *epoch;
  size_t epoch_len;
  uint64_t from, to;
  const char *reason;      /* "expired", "epoch", "overflow" ... NOT NUL-terminated */
  size_t reason_len;
} wsk_uv_gap_t;

typedef struct wsk_uv_callbacks {
  /* Server: a WebSocket upgrade request (also an invalid one: see
   * req->status). Answer with wsk_uv_conn_accept or wsk_uv_conn_reject, now
   * or later (an asynchronous check may answer from another callback; the
   * open timeout keeps running). NULL: accept valid upgrades, refuse the
   * rest with the core's status. */
  void (*on_request)(wsk_uv_conn_t *c, const wsk_uv_request_t *req);
  /* Server: a plain HTTP request, not an upgrade (health checks, a static
   * page). Answer with wsk_uv_conn_http_respond (now or later). NULL: the
   * core answers 426 Upgrade Required. */
  void (*on_http)(wsk_uv_conn_t *c, const wsk_uv_request_t *req);
  /* Client: an attempt starts (DNS, connect, handshake). */
  void (*on_connecting)(wsk_uv_conn_t *c, unsigned attempt);
  /* Handshake done; send away. */
  void (*on_open)(wsk_uv_conn_t *c);
  void (*on_message)(wsk_uv_conn_t *c, const wsk_uv_message_t *m);
  void (*on_ping)(wsk_uv_conn_t *c, const wsk_uv_control_t *p); /* already answered */
  void (*on_pong)(wsk_uv_conn_t *c, const wsk_uv_control_t *p);
  /* The write queue went over the high-water mark before and is now at or
   * below the low-water mark. */
  void (*on_drain)(wsk_uv_conn_t *c);
  /* JSON-RPC requests and notifications arriving as text messages. NULL:
   * they are ordinary messages for on_message. Answer requests with
   * wsk_uv_rpc_result / wsk_uv_rpc_error (now or later). */
  void (*on_rpc)(wsk_uv_conn_t *c, const wsk_uv_rpc_call_t *call);
  /* The end, exactly once per connection (see the lifetime rules). */
  void (*on_close)(wsk_uv_conn_t *c, const wsk_uv_close_info_t *info);
  /* Client, JSON channel protocol (wsk_uv_client_subscribe): a channel
   * message, each exactly once across reconnects. */
  void (*on_channel_message)(wsk_uv_conn_t *c, const wsk_uv_channel_message_t *m);
  /* Client: messages of a channel that cannot be had (older than the
   * server's history, or its history was reset): never silent. When NULL
   * the gap frame goes to on_channel_reply (f->type WSK_CHAN_GAP), and
   * when that is NULL too a line is written to stderr. */
  void (*on_gap)(wsk_uv_conn_t *c, const wsk_uv_gap_t *g);
  /* Client: the server's other answers (subscribed, unsubscribed,
   * published, error; gap too when on_gap is NULL). May be NULL. */
  void (*on_channel_reply)(wsk_uv_conn_t *c, const wsk_chan_frame_t *f);
} wsk_uv_callbacks_t;

/* ---- connections ---- */

void *wsk_uv_conn_data(const wsk_uv_conn_t *c);
void wsk_uv_conn_set_data(wsk_uv_conn_t *c, void *data);
/* The owner: NULL when the connection is a client's (resp. a server's). */
wsk_uv_server_t *wsk_uv_conn_server(const wsk_uv_conn_t *c);
wsk_uv_client_t *wsk_uv_conn_client(const wsk_uv_conn_t *c);
/* The core connection (subprotocol, deflate parameters, state); NULL
 * after on_close. Do not feed it or free it. */
wsk_conn_t *wsk_uv_conn_core(const wsk_uv_conn_t *c);
/* Use another callback table for this connection (it must outlive it). */
void wsk_uv_conn_set_callbacks(wsk_uv_conn_t *c, const wsk_uv_callbacks_t *cbs);
/* The peer's address (TCP only): 0 or WSK_EIO. */
int wsk_uv_conn_peername(const wsk_uv_conn_t *c, struct sockaddr_storage *addr);

/* Send a whole message. It is queued (never dropped); watch
 * wsk_uv_conn_buffered() or on_drain for backpressure. Returns 0,
 * WSK_ESTATE before open, WSK_ECLOSED when closing, WSK_EUTF8, WSK_ENOMEM. */
int wsk_uv_conn_send(wsk_uv_conn_t *c, wsk_opcode_t op, const void *data, size_t len);
/* Send a message in pieces (see wsk_conn_send_fragment). */
int wsk_uv_conn_send_fragment(wsk_uv_conn_t *c, wsk_opcode_t op, const void *data, size_t len,
                              int fin);
/* Ping (NULL data: a unique payload); returns the ping id (>= 1) that a
 * later on_pong names. */
int wsk_uv_conn_ping(wsk_uv_conn_t *c, const void *data, size_t len);
/* Start the close handshake (code 0: no code). on_close follows when it
 * ends or the close timeout passes. In CONNECTING a client aborts and a
 * server answers a pending request with 503. */
int wsk_uv_conn_close(wsk_uv_conn_t *c, unsigned code, const char *reason);
/* Abort (no close frame; on_close reports 1006) and release the
 * connection. See the lifetime rules for calls inside callbacks. */
void wsk_uv_conn_free(wsk_uv_conn_t *c);

/* Bytes queued for the socket and not yet written by the kernel's send
 * call (our frames plus libuv's write queue). */
size_t wsk_uv_conn_buffered(const wsk_uv_conn_t *c);
/* 1 while buffered() is above the high-water mark (conn.write_limit). */
int wsk_uv_conn_over_limit(const wsk_uv_conn_t *c);

/* Stop delivering messages and reading the socket (the application fell
 * behind). Inside on_message it takes effect at once: no further
 * on_message until wsk_uv_conn_resume. Close and timeouts still work. */
int wsk_uv_conn_pause(wsk_uv_conn_t *c);
int wsk_uv_conn_resume(wsk_uv_conn_t *c);

/* ---- server handshake answers (from on_request / on_http, or later) ---- */

/* Accept the upgrade: `subprotocol` NULL = the default choice (the first
 * the client offered that the server supports), "" = none, else one the
 * client offered (WSK_EINVAL otherwise). Extra response headers may be
 * NULL. WSK_ESTATE when there is no pending valid request. */
int wsk_uv_conn_accept(wsk_uv_conn_t *c, const char *subprotocol,
                       const wsk_http_header_t *headers, size_t nheaders);
/* Refuse with any status (0: the core's status for the request) and an
 * optional body; the connection then ends (on_close). */
int wsk_uv_conn_reject(wsk_uv_conn_t *c, int status, const wsk_http_header_t *headers,
                       size_t nheaders, const void *body, size_t body_len);
/* Answer a plain HTTP request (any status, e.g. 200 with a page). Sends
 * Connection: close and ends the connection. */
int wsk_uv_conn_http_respond(wsk_uv_conn_t *c, int status, const wsk_http_header_t *headers,
                             size_t nheaders, const void *body, size_t body_len);

/* Helpers for auth hooks. Copy the value of a header / query parameter /
 * cookie into out (NUL-terminated, truncated to cap - 1). Return the value's
 * full length (>= 0), WSK_ENOTFOUND when absent. Query values are
 * percent-decoded ('+' is a space). */
long wsk_uv_request_header(const wsk_uv_request_t *r, const char *name, char *out, size_t cap);
long wsk_uv_request_query(const wsk_uv_request_t *r, const char *key, char *out, size_t cap);
long wsk_uv_request_cookie(const wsk_uv_request_t *r, const char *name, char *out, size_t cap);

/* ---- server ---- */

typedef struct wsk_uv_server_opts {
  wsk_conn_opts_t conn;       /* role is forced to SERVER; limits, timers,
                                 subprotocols, Origin allowlist, deflate */
  size_t low_water;           /* on_drain below this; default write_limit / 4 */
  int pause_when_full;        /* stop reading a connection while its write
                                 queue is over write_limit; default 1 */
  int backlog;                /* listen backlog, default 511 */
  int reuseport;              /* SO_REUSEPORT on TCP listeners */
  int ipv6only;               /* IPv6 listeners do not take IPv4 */
  const wsk_uv_callbacks_t *callbacks; /* for every connection; must outlive the server */
  /* TLS (wss) on every listener: PEM certificate chain (leaf first) and
   * key; tls_client_ca_file requires client certificates signed by those
   * CAs. ALPN http/1.1 when offered. NULL = plain ws. Files are read by
   * the first listen (WSK_ECRYPTO, wsk_uv_server_error names the file);
   * a failed TLS handshake ends its connection with err WSK_ECRYPTO after
   * the alert is sent. */
  const char *tls_cert_file, *tls_key_file, *tls_client_ca_file;
  void *data;

  /* ---- channels beyond one process (docs/c-api.md "Channels") ----
   * Limits that are per connection live in `conn`, as the others do:
   * conn.server.hosts (Host allowlist, 403), conn.server.origins,
   * conn.auth_timeout_ms (first-message authentication, see first_message_auth),
   * conn.rate / conn.rate_burst / conn.rate_policy (message rate). */
  const char *channels_path;  /* e.g. "/channels": WebSocket connections to this
                                 path speak the JSON channel protocol, served by
                                 the server (no on_message); NULL = off */
  int client_publish;         /* channel clients may publish; default 1 */
  /* May a connection (or an SSE request) "subscribe" / "publish" on a
   * channel? 1 yes, 0 no (error "forbidden"). NULL = yes. */
  int (*authorize)(wsk_uv_conn_t *c, const char *action, const char *channel, size_t len);
  size_t history_size;        /* messages kept per channel, default 100 */
  uint32_t history_ttl_ms;    /* their age limit, default 300000 */
  /* "redis://HOST[:PORT][/DB]": publishes reach every instance sharing the
   * Redis server, history lives there (streams). NULL = in this process. */
  const char *backplane;
  const char *backplane_prefix; /* key prefix, default "wskit:" */
  wsk_backoff_opts_t backplane_backoff; /* reconnecting to Redis */
  /* Server-Sent Events on the same port: GET <sse_path>?channel=NAME.
   * SSE requests go through on_request too when it is set (accept starts
   * the stream; reject refuses it), for auth. NULL = off. */
  const char *sse_path;
  uint32_t sse_heartbeat_ms;  /* comment line every..., default 15000 */
  uint32_t sse_retry_ms;      /* "retry:" sent first, default 2000 */
  /* First-message authentication (conn.auth_timeout_ms > 0): judges the
   * first message of each connection; return 1 to let later messages
   * through, 0 to close with 1008, or a negative value to judge later with
   * wsk_uv_conn_authenticate (the deadline keeps running). NULL: the first
   * message goes to on_message and the application calls
   * wsk_uv_conn_authenticate. The handshake hook (credentials in the
   * query, a cookie or a header; the other bindings' `authenticate`) is
   * callbacks->on_request with wsk_uv_conn_set_user. */
  int (*first_message_auth)(wsk_uv_conn_t *c, const wsk_uv_message_t *m);
  /* Open connections per client IP address; 0 = no limit (and no count). */
  size_t max_connections_per_ip;
  int ip_limit_policy;        /* WSK_UV_IP_REJECT (HTTP 429, default) or
                                 WSK_UV_IP_CLOSE (accept, then close 1013) */
  /* Log lines of the server (backplane state); NULL = stderr. */
  void (*log)(wsk_uv_server_t *s, const char *line);
} wsk_uv_server_opts_t;

enum { WSK_UV_IP_REJECT = 0, WSK_UV_IP_CLOSE = 1 };

void wsk_uv_server_opts_init(wsk_uv_server_opts_t *o);

/* Create a server on `loop` (not listening yet). */
int wsk_uv_server_new(uv_loop_t *loop, const wsk_uv_server_opts_t *o, wsk_uv_server_t **out);
/* Listen on host:port (an IPv4/IPv6 literal or a name resolved now; NULL
 * = "::" with IPv4 too unless ipv6only). Port 0 picks a free port: see
 * wsk_uv_server_port. May be called several times. */
int wsk_uv_server_listen(wsk_uv_server_t *s, const char *host, unsigned port);
/* Listen on a Unix socket path (an existing socket file is not removed). */
int wsk_uv_server_listen_unix(wsk_uv_server_t *s, const char *path);
/* The port of the first TCP listener, or a negative code. */
int wsk_uv_server_port(const wsk_uv_server_t *s);
/* Text of the last system failure ("" when none). */
const char *wsk_uv_server_error(const wsk_uv_server_t *s);
void *wsk_uv_server_data(const wsk_uv_server_t *s);
void wsk_uv_server_set_data(wsk_uv_server_t *s, void *data);
uv_loop_t *wsk_uv_server_loop(const wsk_uv_server_t *s);

/* Connections: every accepted one (open or still in the handshake). */
size_t wsk_uv_server_count(const wsk_uv_server_t *s);
typedef void (*wsk_uv_conn_fn)(void *ud, wsk_uv_conn_t *c);
/* Call fn for each OPEN connection; fn may close or free any of them. */
size_t wsk_uv_server_foreach(wsk_uv_server_t *s, wsk_uv_conn_fn fn, void *ud);

/* Graceful shutdown: stop accepting, close every connection with `code`
 * (1001 going away, 1012 restart; CONNECTING ones get 503), wait up to
 * timeout_ms (0: conn.close_timeout_ms), then abort the rest. `done` (may
 * be NULL) runs exactly once when no connection is left, with how many
 * were aborted. Free the server afterwards (even from `done`). */
typedef void (*wsk_uv_shutdown_cb)(wsk_uv_server_t *s, size_t aborted);
int wsk_uv_server_shutdown(wsk_uv_server_t *s, unsigned code, uint32_t timeout_ms,
                           wsk_uv_shutdown_cb done);
/* Stop listening, abort every connection (each gets on_close), run a
 * pending shutdown's `done`, and release the server. */
void wsk_uv_server_free(wsk_uv_server_t *s);

/* ---- broadcast and channels (server connections) ---- */

typedef struct wsk_uv_broadcast_result {
  size_t sent;     /* connections that got the message */
  size_t skipped;  /* over their write limit: not sent (reported to on_skip) */
  size_t closed;   /* not open */
} wsk_uv_broadcast_result_t;

/* Send one message, framed (and compressed where possible) once, to
 * `conns` (NULL: every open connection of the server). Connections whose
 * write queue is over the limit are skipped and passed to on_skip (may be
 * NULL), which may close or free them. res may be NULL. Returns 0 or
 * WSK_EINVAL / WSK_EUTF8 / WSK_ENOMEM (nothing sent). */
int wsk_uv_server_broadcast(wsk_uv_server_t *s, wsk_opcode_t op, const void *data, size_t len,
                            wsk_uv_conn_t *const *conns, size_t nconns, wsk_uv_conn_fn on_skip,
                            void *ud, wsk_uv_broadcast_result_t *res);
/* Channels: a connection leaves all its channels when it closes. Return
 * as wsk_channels_subscribe / _unsubscribe (1 changed, 0 no change, <0). */
int wsk_uv_conn_subscribe(wsk_uv_conn_t *c, const char *name, size_t len);
int wsk_uv_conn_unsubscribe(wsk_uv_conn_t *c, const char *name, size_t len);
size_t wsk_uv_server_channel_count(const wsk_uv_server_t *s, const char *name, size_t len);
/* Broadcast to a channel's subscribers. */
int wsk_uv_server_publish(wsk_uv_server_t *s, const char *name, size_t name_len, wsk_opcode_t op,
                          const void *data, size_t len, wsk_uv_conn_fn on_skip, void *ud,
                          wsk_uv_broadcast_result_t *res);

/* Channels through the hub (hub.h): `kind` says how JSON-protocol
 * subscribers get the data (text string, base64 binary, or JSON value);
 * raw subscribers (wsk_uv_conn_subscribe) get it as a text frame (text,
 * JSON) or a binary frame; SSE subscribers as an event. With a backplane
 * the message goes through Redis and reaches every instance; `cb` (may be
 * NULL) then runs later with its seq, or err WSK_EIO when Redis is
 * unavailable. Without one it runs before this call returns. Returns 0
 * or WSK_EINVAL (bad channel, kind, JSON), WSK_EUTF8, WSK_ENOMEM,
 * WSK_EIO (the backplane is down: nothing was sent, cb does not run). */
typedef void (*wsk_uv_publish_cb)(wsk_uv_server_t *s, void *ud, int err, uint64_t seq);
int wsk_uv_server_publish_message(wsk_uv_server_t *s, const char *channel, size_t channel_len,
                                  wsk_payload_kind_t kind, const void *data, size_t len,
                                  wsk_uv_publish_cb cb, void *ud);
/* 1 when the backplane is connected (or none is configured). */
int wsk_uv_server_backplane_up(const wsk_uv_server_t *s);
/* Open connections from one IP address (textual form, as
 * wsk_uv_conn_ip gives it); counted when max_connections_per_ip > 0. */
size_t wsk_uv_server_ip_count(const wsk_uv_server_t *s, const char *ip);
/* The peer's IP address as text ("" for Unix sockets). */
const char *wsk_uv_conn_ip(wsk_uv_conn_t *c);

/* Per-connection user data set by auth hooks (on_request, first_message_auth). */
void *wsk_uv_conn_user(const wsk_uv_conn_t *c);
int wsk_uv_conn_set_user(wsk_uv_conn_t *c, void *user);
/* Judge first-message authentication later (first_message_auth returned < 0). */
int wsk_uv_conn_authenticate(wsk_uv_conn_t *c, int ok, const char *reason);
/* Message counts of the connection (core: wsk_conn_stats); zeros after close. */
void wsk_uv_conn_stats(const wsk_uv_conn_t *c, wsk_conn_stats_t *out);
/* 1 when the connection is an SSE stream, 2 a channel-protocol connection, 0 else. */
int wsk_uv_conn_kind(const wsk_uv_conn_t *c);

/* ---- request/response (JSON-RPC 2.0 over text messages) ---- */

/* How a request ended: exactly one call of its callback. */
typedef struct wsk_uv_reply {
  int err;              /* 0: a reply came; WSK_ETIMEDOUT; WSK_ECANCELED: the
                           connection ended (or was freed) first */
  uint64_t id;
  int is_error;         /* the reply is a JSON-RPC error */
  json_t *result;       /* reply: the result (borrowed, valid during the callback) */
  int64_t code;         /* error reply: code, message, data (may be NULL) */
  const char *message;
  json_t *data;
  const char *text;     /* the whole reply message, not NUL-terminated */
  size_t len;
} wsk_uv_reply_t;

typedef void (*wsk_uv_reply_cb)(wsk_uv_conn_t *c, void *ud, const wsk_uv_reply_t *r);

/* Send {"jsonrpc":"2.0","id":ID,"method":method,"params":params} where
 * params is JSON text (an array or object; NULL/0 for none) and wait up to
 * timeout_ms (0 = no timeout) for the reply with the same id; *id_out (may
 * be NULL) gets the id. cb runs exactly once, never inside this call.
 * Replies are recognised among incoming text messages and not passed to
 * on_message. Returns 0, or WSK_ESTATE/WSK_ECLOSED when not open,
 * WSK_EINVAL, WSK_ENOMEM (and cb will not run). */
int wsk_uv_request(wsk_uv_conn_t *c, const char *method, const char *params, size_t params_len,
                   uint32_t timeout_ms, wsk_uv_reply_cb cb, void *ud, uint64_t *id_out);
/* The same with an envelope the caller built with its own JSON library:
 * `text` is sent as is and `id` (below 2^63, not pending) is the id it
 * carries. WSK_EEXIST when that id is pending. */
int wsk_uv_request_raw(wsk_uv_conn_t *c, uint64_t id, const char *text, size_t len,
                       uint32_t timeout_ms, wsk_uv_reply_cb cb, void *ud);
/* Number of requests waiting for a reply on the connection. */
size_t wsk_uv_pending_requests(const wsk_uv_conn_t *c);
/* Answer a request received by on_rpc: result is JSON text (NULL = null). */
int wsk_uv_rpc_result(wsk_uv_conn_t *c, const json_t *id, const char *result, size_t len);
/* ... or an error (message NULL: the specification's text for the code). */
int wsk_uv_rpc_error(wsk_uv_conn_t *c, const json_t *id, int64_t code, const char *message);

/* ---- client ---- */

typedef struct wsk_uv_client_opts {
  wsk_conn_opts_t conn;       /* role is forced to CLIENT; limits, timers
                                 (open_timeout_ms covers DNS, connect, TLS and
                                 the handshake), origin, subprotocols, extra
                                 headers, deflate offer. host/port/resource/
                                 authorization come from the URL. */
  size_t low_water;           /* as for servers */
  int pause_when_full;        /* default 0 for clients */
  const wsk_uv_callbacks_t *callbacks; /* must outlive the client */
  /* reconnecting: 0 = one attempt */
  int reconnect;
  wsk_backoff_opts_t backoff;
  wsk_retry_fn retry;         /* override which failures retry (NULL: default) */
  void *retry_ud;
  /* wsk_uv_client_send while not open: 0 = fail with WSK_ECLOSED; else
   * queue up to this many bytes (sent in order on the next open). */
  size_t offline_queue_bytes;
  /* TLS (wss://): the server's certificate chain and host name (SNI, DNS
   * names; IP literals against IP addresses) are verified against the
   * system store, or only tls_ca_file (PEM) when set; tls_insecure = 1
   * turns verification off. A verification failure ends the client
   * (WSK_ECRYPTO, not retried). tls_cert_file/tls_key_file (PEM, both or
   * neither): a client certificate for servers that require one. */
  const char *tls_ca_file;
  int tls_insecure;
  const char *tls_cert_file, *tls_key_file;
  /* HTTP CONNECT proxy: "http://[user:pass@]host[:port]" (Basic
   * credentials from the userinfo), "" = none (the environment is not
   * read), NULL = the environment, as curl reads it: https_proxy /
   * HTTPS_PROXY for wss://, http_proxy for ws://, no_proxy / NO_PROXY
   * (read once, by wsk_uv_client_new). TLS and the WebSocket handshake
   * go through the tunnel, end to end with the server. */
  const char *proxy;
  void *data;
} wsk_uv_client_opts_t;

void wsk_uv_client_opts_init(wsk_uv_client_opts_t *o);

/* Create a client for a ws:// or wss:// URL (IPv6 literals, default
 * ports, userinfo sent as Basic auth) and start the first attempt.
 * WSK_EURL for a bad URL or a bad proxy URL (option or environment). */
int wsk_uv_client_new(uv_loop_t *loop, const char *url, const wsk_uv_client_opts_t *o,
                      wsk_uv_client_t **out);
/* The current connection (open or connecting), NULL between attempts. */
wsk_uv_conn_t *wsk_uv_client_conn(const wsk_uv_client_t *cl);
/* Send on the current connection when open; otherwise queue it (see
 * offline_queue_bytes) or fail with WSK_ECLOSED (WSK_EBUSY when the queue
 * is full). */
int wsk_uv_client_send(wsk_uv_client_t *cl, wsk_opcode_t op, const void *data, size_t len);
/* wsk_uv_request on the current connection; WSK_ECLOSED when not open
 * (requests are never queued: each would time out or be cancelled). */
int wsk_uv_client_request(wsk_uv_client_t *cl, const char *method, const char *params,
                          size_t params_len, uint32_t timeout_ms, wsk_uv_reply_cb cb, void *ud,
                          uint64_t *id_out);
/* Close for good: no more attempts; the current connection closes with
 * `code` (its on_close reports will_retry = 0). */
int wsk_uv_client_close(wsk_uv_client_t *cl, unsigned code, const char *reason);
/* Abort the current connection (its on_close runs), stop retrying, free. */
void wsk_uv_client_free(wsk_uv_client_t *cl);
void *wsk_uv_client_data(const wsk_uv_client_t *cl);
void wsk_uv_client_set_data(wsk_uv_client_t *cl, void *data);

/* The JSON channel protocol from a client (the server's channels_path).
 * Subscriptions are remembered (wsk_chan_client_t): after a reconnect
 * they are sent again with the last seq seen, so on_channel_message gets
 * what was missed, in order, exactly once, or on_gap says what is gone.
 * Calls while not open are kept and sent on the next open (subscribe) or
 * fail with WSK_ECLOSED (publish, unless offline_queue_bytes). Channel
 * frames are not passed to on_message. */
int wsk_uv_client_subscribe(wsk_uv_client_t *cl, const char *channel, size_t len);
int wsk_uv_client_unsubscribe(wsk_uv_client_t *cl, const char *channel, size_t len);
int wsk_uv_client_publish(wsk_uv_client_t *cl, const char *channel, size_t channel_len,
                          wsk_payload_kind_t kind, const void *data, size_t len);
/* The last seq seen on a channel (and its epoch): 1, or 0 when not
 * subscribed. */
int wsk_uv_client_position(const wsk_uv_client_t *cl, const char *channel, size_t len,
                           uint64_t *seq, const char **epoch, size_t *epoch_len);

#ifdef __cplusplus
}
#endif
#endif
