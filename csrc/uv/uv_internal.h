/* Private state of the libuv driver, shared by the files of csrc/uv. Not installed. */
#ifndef WSK_UV_INTERNAL_H
#define WSK_UV_INTERNAL_H

#include "wskit/uv.h"
#include "tls.h"

#define WSK_UV_READ_BUF (64 * 1024)

typedef struct wsk_uv_owner wsk_uv_owner_t;

/* Per-loop state: one shared read buffer (and one for TLS plaintext), so
 * an idle connection owns no buffer at all. Reference counted by the
 * servers and clients of the loop. */
typedef struct wsk_uv_loopctx {
  uv_loop_t *loop;
  unsigned refs;
  uint8_t *rbuf; /* NULL until first needed, or while lent to a paused conn */
  uint8_t *pbuf;
  struct wsk_uv_loopctx *next;
} wsk_uv_loopctx_t;

wsk_uv_loopctx_t *wsk__uv_loopctx_get(uv_loop_t *loop);
void wsk__uv_loopctx_put(wsk_uv_loopctx_t *x);
/* The shared buffer (allocated on demand), NULL when out of memory. */
uint8_t *wsk__uv_buf_get(wsk_uv_loopctx_t *x, int plain);
/* Give back a buffer a connection held: kept as the shared one if that
 * slot is empty, freed otherwise. */
void wsk__uv_buf_put(wsk_uv_loopctx_t *x, int plain, uint8_t *buf);

/* Connection flags. */
enum {
  WSK_UVF_CLIENT = 1 << 0,      /* owner is a client */
  WSK_UVF_PIPE = 1 << 1,        /* handle is a uv_pipe_t */
  WSK_UVF_STREAM = 1 << 2,      /* the stream handle is initialised */
  WSK_UVF_CONNECTED = 1 << 3,   /* bytes may be written */
  WSK_UVF_READING = 1 << 4,     /* uv_read_start is on */
  WSK_UVF_PAUSED = 1 << 5,      /* the user paused */
  WSK_UVF_FULL = 1 << 6,        /* reads stopped: write queue over the limit */
  WSK_UVF_OVER = 1 << 7,        /* went over the high-water mark: on_drain owed */
  WSK_UVF_CLOSED = 1 << 8,      /* CLOSED seen, on_close called */
  WSK_UVF_ENDED = 1 << 9,       /* handles are closing */
  WSK_UVF_OPENED = 1 << 10,     /* on_open ran */
  WSK_UVF_HELD_PLAIN = 1 << 11, /* `held` is a TLS plaintext buffer */
  WSK_UVF_TLS_UP = 1 << 12,     /* TLS handshake finished */
  WSK_UVF_TIMER = 1 << 13,      /* timer initialised */
  WSK_UVF_REJECTED = 1 << 14,   /* client: REJECTED seen */
  WSK_UVF_EOF = 1 << 15,        /* the peer's EOF was fed */
  /* 1 << 16 and 1 << 18 are stream.c's own */
  WSK_UVF_TUNNEL = 1 << 17,     /* client: waiting for the proxy's answer to CONNECT */
  WSK_UVF_SSE = 1 << 19,        /* server: an SSE request (streaming once accepted) */
  WSK_UVF_SSE_ON = 1 << 20,     /* ... its head is sent: the core is out of the way */
  WSK_UVF_CHAN = 1 << 21,       /* server: a channels_path connection */
  WSK_UVF_IP = 1 << 22,         /* counted in the server's per-IP limit */
  WSK_UVF_IP_OVER = 1 << 23,    /* over the per-IP limit: refused at its request */
  WSK_UVF_HUB = 1 << 24         /* may have hub subscriptions */
};

/* Rarely needed state, allocated on first use so that an idle connection
 * stays small. */
typedef struct wsk_uv_extra {
  uint8_t *held;               /* read buffer the core still reads (paused) */
  char *reason;                /* the peer's close reason (copied) */
  wsk_tls_t *tls;
  struct wsk_uv_rpc *rpc;      /* pending requests */
  uint16_t http_status;        /* client: the server's refusal */
  uint16_t proxy_status;       /* client: the proxy's refusal of CONNECT */
  void *user;                  /* wsk_uv_conn_set_user */
  char *sse_channel;           /* SSE: the channel streamed */
  char *sse_last;              /* SSE: Last-Event-ID (header or ?lastEventId=) */
  char ip[48];                 /* the peer's address as text ("" unknown) */
} wsk_uv_extra_t;

struct wsk_uv_conn {
  wsk_conn_t *ws;              /* the core; NULL after on_close */
  const wsk_uv_callbacks_t *cbs;
  void *data;
  wsk_uv_owner_t *owner;       /* the wsk_uv_server_t or wsk_uv_client_t */
  wsk_uv_conn_t *prev, *next;  /* the server's list */
  wsk_uv_extra_t *x;           /* NULL until needed */
  size_t inflight;             /* bytes in uv_write requests not completed */
  uint32_t flags;
  uint16_t depth;              /* callbacks on the stack (deferred free) */
  uint8_t refs;                /* open handles + 1 until ended */
  int8_t err;                  /* driver-side cause for the close info */
  uv_timer_t timer;
  union {                      /* last: TCP connections allocate only a uv_tcp_t */
    uv_handle_t h;
    uv_stream_t s;
    uv_tcp_t tcp;
    uv_pipe_t pipe;
  } io;
};

/* Readers of the extra state (NULL / 0 when never set) and its allocator
 * (NULL when out of memory). */
#define WSK_UVX(c, field) ((c)->x ? (c)->x->field : 0)
wsk_uv_extra_t *wsk__uv_extra(wsk_uv_conn_t *c);

/* stream.c: the glue between one stream, its timer and the core. */
wsk_uv_conn_t *wsk__uv_conn_alloc(wsk_uv_owner_t *owner, int pipe);
/* Initialise the timer; the stream is initialised by the owner. */
int wsk__uv_conn_init(wsk_uv_conn_t *c, uv_loop_t *loop, const wsk_conn_opts_t *o,
                      const wsk_uv_callbacks_t *cbs);
/* Drop a connection whose setup failed before it started (no callbacks). */
void wsk__uv_conn_discard(wsk_uv_conn_t *c);
/* Free the memory (all handles closed). */
void wsk__uv_conn_release(wsk_uv_conn_t *c);
/* The stream is connected: start TLS (may be NULL), reading and writing. */
void wsk__uv_conn_start(wsk_uv_conn_t *c, wsk_tls_t *tls);
/* The stream is connected to a proxy: write `req` (malloc'd, taken) and
 * pass what is read to wsk__uv_client_tunnel_read until the client calls
 * wsk__uv_conn_start; the core's bytes wait until then. */
void wsk__uv_conn_start_tunnel(wsk_uv_conn_t *c, uint8_t *req, size_t len);
/* Enter/leave a section that may call user callbacks; leaving the
 * outermost one drains, writes, re-arms the timer, and finishes a closed
 * connection. */
void wsk__uv_enter(wsk_uv_conn_t *c);
void wsk__uv_leave(wsk_uv_conn_t *c);
/* Fail with a system error (cause for the close info and the log). */
void wsk__uv_conn_fail(wsk_uv_conn_t *c, int err, const char *what, int uverr);

/* reqresp.c: 1 when a text message was a reply or call and was consumed;
 * the earliest request deadline (-1 none); expire due requests; cancel
 * all (on close); free. */
int wsk__uv_rpc_message(wsk_uv_conn_t *c, const uint8_t *data, size_t len);
int64_t wsk__uv_rpc_deadline(const wsk_uv_conn_t *c);
void wsk__uv_rpc_expire(wsk_uv_conn_t *c, int64_t now);
void wsk__uv_rpc_cancel(wsk_uv_conn_t *c);
void wsk__uv_rpc_free(wsk_uv_conn_t *c);

/* hub.c: channels of a server through the core hub (local or Redis). */
typedef struct wsk_uv_hub wsk_uv_hub_t;
/* The server's hub, created on first use (NULL when out of memory). */
wsk_uv_hub_t *wsk__uv_hub(wsk_uv_server_t *s);
void wsk__uv_hub_free(wsk_uv_server_t *s);
/* Stop the backplane (the server's user reference is gone). */
void wsk__uv_hub_stop(wsk_uv_server_t *s);
/* A connection (or SSE stream) is gone: leave every channel. */
void wsk__uv_hub_conn_closed(wsk_uv_conn_t *c);
/* A text message on a channels_path connection. */
void wsk__uv_hub_chan_message(wsk_uv_conn_t *c, const uint8_t *data, size_t len);
/* Subscribe a connection (JSON, raw or SSE by its flags); since/epoch as
 * the protocol's (has_since 0: from now). id is raw JSON or NULL. */
int wsk__uv_hub_subscribe(wsk_uv_conn_t *c, const char *ch, size_t len, int has_since,
                          uint64_t since, const char *epoch, size_t epoch_len, const char *id,
                          size_t id_len);
/* A NUL-terminated copy of n bytes (NULL when out of memory). */
char *wsk__uv_dup_n(const char *p, size_t n);
/* The application's authorize hook (1 when there is none): the channel is
 * handed NUL-terminated, with its length. */
int wsk__uv_authorize(wsk_uv_conn_t *c, const char *action, const char *ch, size_t len);
/* Send a hub error message on a channel connection. */
void wsk__uv_hub_send_error(wsk_uv_conn_t *c, const char *code, const char *message,
                            const char *ch, size_t ch_len, const char *id, size_t id_len);
/* the backplane's entry points into the hub */
wsk_hub_t *wsk__uv_hub_core(wsk_uv_server_t *s);
void wsk__uv_hub_dispatch(wsk_uv_server_t *s, const wsk_chan_msg_t *m);
/* A history fetched for `sub` (NULL: a resync of the channel). */
void wsk__uv_hub_recovered(wsk_uv_server_t *s, wsk_uv_conn_t *sub, const char *ch, size_t len,
                           const wsk_hub_history_t *h);
/* A fetch for `sub` failed (the backplane is down). */
void wsk__uv_hub_recover_failed(wsk_uv_server_t *s, wsk_uv_conn_t *sub, const char *ch, size_t len);
/* A publish finished: answer the publishing connection / callback. */
typedef struct wsk_uv_pub_done {
  wsk_uv_conn_t *conn;         /* channel connection to ack, NULL when gone */
  wsk_uv_publish_cb cb;
  void *ud;
  char *id;                    /* raw JSON id of the publish, NULL none */
  size_t id_len;
  char *channel;
  size_t channel_len;
} wsk_uv_pub_done_t;
void wsk__uv_hub_published(wsk_uv_server_t *s, wsk_uv_pub_done_t *p, int err, uint64_t seq);

/* backplane.c: Redis over hiredis (NULL when not configured). */
typedef struct wsk_uv_bp wsk_uv_bp_t;
int wsk__uv_bp_new(wsk_uv_server_t *s, const char *url, wsk_uv_bp_t **out);
void wsk__uv_bp_free(wsk_uv_bp_t *bp);
int wsk__uv_bp_up(const wsk_uv_bp_t *bp);
/* EVAL publish; `p` is taken (completed through wsk__uv_hub_published). */
int wsk__uv_bp_publish(wsk_uv_bp_t *bp, const wsk_chan_msg_t *m, wsk_uv_pub_done_t *p);
/* EVAL recover after `since` (-1 = position only) for sub (NULL = resync). */
int wsk__uv_bp_recover(wsk_uv_bp_t *bp, wsk_uv_conn_t *sub, const char *ch, size_t len,
                       int64_t since);
/* A connection is gone: forget it in pending fetches and acks. */
void wsk__uv_bp_conn_closed(wsk_uv_bp_t *bp, wsk_uv_conn_t *c);

/* sse.c */
int wsk__uv_sse_is_request(const wsk_uv_server_t *s, const wsk_uv_request_t *r);
/* Keep what the stream needs from its request; 0, or an HTTP status to refuse. */
int wsk__uv_sse_prepare(wsk_uv_conn_t *c, const wsk_uv_request_t *r);
void wsk__uv_sse_free(wsk_uv_conn_t *c);
/* accept on an SSE request: send the head and subscribe. */
int wsk__uv_sse_accept(wsk_uv_conn_t *c);
/* Raw bytes on an SSE stream (SSE_ON); over the write limit it ends. */
void wsk__uv_sse_write(wsk_uv_conn_t *c, const void *data, size_t len);
void wsk__uv_sse_timer(wsk_uv_conn_t *c);

/* guard.c: connection-level policies. */
/* Accepting: count the peer's IP; 0 to go on. */
void wsk__uv_guard_accepted(wsk_uv_conn_t *c);
void wsk__uv_guard_closed(wsk_uv_conn_t *c);
/* A request: 1 when the guard answered it (IP over limit, SSE, channels). */
int wsk__uv_guard_request(wsk_uv_conn_t *c, const wsk_uv_request_t *r);
/* A data message before authentication: 1 when taken. */
int wsk__uv_guard_message(wsk_uv_conn_t *c, const wsk_event_t *ev);
void wsk__uv_guard_rate_limited(wsk_uv_conn_t *c, const wsk_event_t *ev);
void wsk__uv_server_log(wsk_uv_server_t *s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* stream.c: raw bytes to the socket (TLS aware), for SSE; and writing
 * the core's output now (inside callbacks too). */
void wsk__uv_conn_write_raw(wsk_uv_conn_t *c, const void *data, size_t len);
void wsk__uv_conn_flush(wsk_uv_conn_t *c);
/* How far a hub subscriber (channel protocol, SSE) may fall behind before
 * it is closed to resume later: max(4 x write_limit, 2 MiB); 0 = never. */
size_t wsk__uv_hub_limit(const wsk_uv_conn_t *c);

/* chanclient.c: the client side of the channel protocol. */
typedef struct wsk_uv_chanc wsk_uv_chanc_t;
void wsk__uv_chanc_free(wsk_uv_chanc_t *cc);
void wsk__uv_chanc_on_open(wsk_uv_client_t *cl, wsk_uv_conn_t *c);
/* 1 when the text message was a channel frame (consumed). */
int wsk__uv_chanc_message(wsk_uv_conn_t *c, const uint8_t *data, size_t len);
wsk_uv_chanc_t **wsk__uv_client_chanc(wsk_uv_client_t *cl);

/* server.c, client.c and hooks.c: called by stream.c */
void wsk__uv_server_on_open(wsk_uv_conn_t *c);
void wsk__uv_server_on_closed(wsk_uv_conn_t *c);
void wsk__uv_server_conn_gone(wsk_uv_conn_t *c);
void wsk__uv_server_request(wsk_uv_conn_t *c, const wsk_event_t *ev);
void wsk__uv_client_on_open(wsk_uv_conn_t *c);
void wsk__uv_client_on_closed(wsk_uv_conn_t *c, wsk_uv_close_info_t *info);
void wsk__uv_client_conn_gone(wsk_uv_conn_t *c);
/* The proxy's answer, in pieces: returns the bytes it took; when the head
 * is complete the tunnel is up (TUNNEL cleared, wsk__uv_conn_start called)
 * and the rest of `data` belongs to it, or the attempt failed. `data` NULL
 * is the end of input. */
size_t wsk__uv_client_tunnel_read(wsk_uv_conn_t *c, const uint8_t *data, size_t len);

/* The common start of a server and a client: what their connections need. */
struct wsk_uv_owner {
  uv_loop_t *loop;
  wsk_uv_loopctx_t *lctx;
  int is_client;
  int pause_when_full;
  size_t low_water;
  size_t write_limit;
  uint32_t close_timeout_ms;
};

typedef struct wsk_uv_listener {
  wsk_uv_server_t *server;
  struct wsk_uv_listener *next;
  int pipe;
  union {
    uv_handle_t h;
    uv_stream_t s;
    uv_tcp_t tcp;
    uv_pipe_t pipe;
  } io;
} wsk_uv_listener_t;

struct wsk_uv_server {
  wsk_uv_owner_t base;
  wsk_uv_server_opts_t o;       /* copy; o.conn.role is SERVER */
  wsk_uv_listener_t *listeners;
  wsk_uv_conn_t *conns;         /* every connection whose handles are open */
  size_t nconns;                /* of those, not yet CLOSED */
  size_t nalive;                /* in the list */
  wsk_uv_hub_t *hub;            /* channels: created on first use */
  struct wsk_iplimit *iplimit;  /* max_connections_per_ip > 0 */
  char *channels_path, *sse_path, *backplane, *backplane_prefix; /* copies */
  wsk_tls_ctx_t *tls;
  uv_timer_t timer;             /* shutdown deadline */
  wsk_uv_shutdown_cb done;
  size_t aborted;
  unsigned refs;                /* handles and connections still open, +1 until freed */
  unsigned shutting_down : 1, done_called : 1, freed : 1;
  char err[512];
  void *data;
};

#endif
