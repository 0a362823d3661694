/* Private state of wsk_conn, shared by conn*.c. Not installed. */
#ifndef WSK_CONN_INTERNAL_H
#define WSK_CONN_INTERNAL_H

#include "wskit/conn.h"
#include "wskit/frame.h"
#include "wskit/utf8.h"
#include "wskit/ratelimit.h"

#define WSK_MAX_PINGS 128
#define WSK_REJECT_BODY_MAX (64 * 1024)
#define WSK_MASK_POOL 64

typedef struct wsk_ping_rec {
  uint32_t id;
  uint8_t len;
  uint8_t data[125];
  int64_t sent;
} wsk_ping_rec_t;

/* Handshake state: allocated at creation, freed once the connection opens,
 * so an open connection carries none of it. */
typedef struct wsk_hs {
  wsk_http_parser_t *parser;
  wsk_client_hs_opts_t copts;
  wsk_server_hs_opts_t sopts;
  char key[25];
  wsk_server_hs_request_t req;
  unsigned request_emitted : 1;
  unsigned answered : 1;
  unsigned rejected : 1;        /* client: reading the body of a refusal */
  unsigned body_until_eof : 1;
  int rej_status;
  size_t body_left;
  wsk_buf_t body;
} wsk_hs_t;

struct wsk_conn {
  uint8_t role, state;
  unsigned auto_pong : 1, stream_fragments : 1, validate_utf8_out : 1;
  unsigned eof : 1, closed_pending : 1, closed_emitted : 1, open_pending : 1;
  unsigned close_sent : 1, close_received : 1, hs_release : 1, msg_release : 1;
  unsigned have_header : 1, msg_compressed : 1, msg_started : 1, send_compressed : 1;
  unsigned gated : 1;    /* rate or first-message auth on: the slow path after a message */
  unsigned msg_skip : 1; /* streaming: the rest of a rate-limited message is dropped */
  unsigned in_is_pend : 1;
  int8_t z_level, z_mem;  /* zlib settings for compressors made at OPEN */
  uint8_t auth;          /* WSK_AUTH_* */
  uint8_t rate_policy;
  uint16_t code_sent, code_rcvd;
  uint8_t msg_op;  /* opcode of the message being received, 0 = none */
  uint8_t send_op; /* opcode of the fragmented message being sent, 0 = none */

  size_t max_message, max_frame, write_limit;
  uint32_t max_fragments;  /* options above 2^32 - 1 mean no limit in practice */
  uint32_t msg_frames;     /* frames of the message being received */
  uint32_t open_timeout, ping_interval, ping_timeout, close_timeout;
  int64_t now, open_deadline, ping_at, pong_deadline, close_deadline;
  struct wsk_conn_gate *gate; /* rate or first-message auth; NULL when neither
                                 (kept out of line: idle connections stay small) */
  wsk_conn_stats_t stats;
  uint32_t keepalive_id, next_ping_id;
  uint32_t npings;        /* <= WSK_MAX_PINGS */
  uint32_t maskpool_off;  /* <= WSK_MASK_POOL */
  wsk_utf8_t utf8_in;     /* the text message being received */
  wsk_utf8_t utf8_out;    /* fragmented text being sent */

  wsk_random_fn rnd;
  void *rnd_ud;
  void *data;
  wsk_hs_t *hs;

  char *subprotocol;
  char *error;
  wsk_deflate_params_t dparams;
  wsk_deflate_t *codec;
  size_t z_threshold;

  /* Input being parsed: the driver's buffer, or `pend` (our copy of what
   * was left over from an earlier feed). */
  uint8_t *in;
  size_t in_len, in_off;
  wsk_buf_t pend;

  wsk_frame_header_t fh;   /* frame whose payload is being read */
  uint64_t fh_left;
  wsk_buf_t msg;           /* reassembled (or inflated) message */
  uint64_t msg_size;       /* payload bytes of the message so far (uncompressed) */

  wsk_buf_t out;
  wsk_buf_t zbuf;          /* scratch for compressed output */

  wsk_ping_rec_t *pings;
  uint8_t *maskpool;
};

struct wsk_conn_gate {
  wsk_bucket_t bucket; /* message rate (bucket.rate 0 = off) */
  int64_t auth_deadline;
  uint32_t auth_timeout;
};

/* First-message authentication: OK (off or done), waiting for the first
 * data message, or that message was delivered and nothing more is parsed
 * until wsk_conn_authenticate(). */
enum { WSK_AUTH_OK = 0, WSK_AUTH_FIRST = 1, WSK_AUTH_JUDGING = 2 };

/* Input held while a server decides on its request or on a first message. */
#define WSK_HOLD_MAX (256 * 1024)

/* conn.c */
void wsk__conn_set_error(wsk_conn_t *c, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
void wsk__conn_go_closed(wsk_conn_t *c);
void wsk__conn_opened(wsk_conn_t *c, const char *subprotocol, const wsk_deflate_params_t *dp);
void wsk__hs_free(wsk_hs_t *hs);

/* conn_send.c */
int wsk__conn_write_frame(wsk_conn_t *c, int fin, int rsv1, unsigned op, const uint8_t *p,
                          size_t len);
int wsk__conn_write_close(wsk_conn_t *c, unsigned code, const void *reason, size_t len);
int wsk__conn_send_ping(wsk_conn_t *c, const void *data, size_t len);
/* Fail the connection (RFC 6455 7.1.7): send a close frame with `code` if
 * none was sent, then CLOSED without waiting. */
void wsk__conn_fail(wsk_conn_t *c, unsigned code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* conn_handshake.c */
int wsk__hs_next_event(wsk_conn_t *c, wsk_event_t *ev);
int wsk__hs_start(wsk_conn_t *c, const wsk_conn_opts_t *o);

/* conn_recv.c */
int wsk__frames_next_event(wsk_conn_t *c, wsk_event_t *ev);

#endif
