/* Helpers for the wsk_conn tests: an in-memory client/server pair, an
 * event recorder, and hand-built frames. Included by test_conn_*.c. */
#ifndef WSK_CONN_HELPERS_H
#define WSK_CONN_HELPERS_H

#include <stdlib.h>
#include <string.h>

#include "testlib.h"
#include "wskit/proto.h"

/* Deterministic "random" bytes so runs are repeatable. */
static inline int seq_random(void *ud, uint8_t *out, size_t n) {
  static uint32_t x = 0x12345678;
  (void)ud;
  for (size_t i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    out[i] = (uint8_t)x;
  }
  return 0;
}

typedef struct rec {
  wsk_event_type_t type;
  uint8_t *data;
  size_t len;
  unsigned code, sent_code, ping_id;
  int clean, status, first, fin, opcode;
  int64_t latency;
} rec_t;

typedef struct evlog {
  rec_t ev[256];
  int n;
} evlog_t;

static inline void log_clear(evlog_t *l) {
  for (int i = 0; i < l->n; i++) free(l->ev[i].data);
  l->n = 0;
}

/* Pull every event, copying payloads (they are only valid until the next call). */
static inline int drain(wsk_conn_t *c, evlog_t *l) {
  wsk_event_t ev;
  int got = 0;
  while (wsk_conn_next_event(c, &ev)) {
    if (l && l->n < 256) {
      rec_t *r = &l->ev[l->n++];
      memset(r, 0, sizeof *r);
      r->type = ev.type;
      r->len = ev.len;
      r->data = malloc(ev.len + 1);
      if (ev.len) memcpy(r->data, ev.data, ev.len);
      r->data[ev.len] = 0;
      r->code = ev.code;
      r->sent_code = ev.sent_code;
      r->clean = ev.clean;
      r->status = ev.status;
      r->first = ev.first;
      r->fin = ev.fin;
      r->opcode = ev.opcode;
      r->ping_id = ev.ping_id;
      r->latency = ev.latency_ms;
    }
    got++;
  }
  return got;
}

/* Feed a copy of bytes (the core unmasks in place) and drain events. */
static inline void feed(wsk_conn_t *c, const void *p, size_t n, evlog_t *l) {
  uint8_t *copy = malloc(n ? n : 1);
  memcpy(copy, p, n);
  CHECK_INT(wsk_conn_feed(c, copy, n), 0);
  drain(c, l);
  free(copy);
}

/* Move everything `from` has written into `to`. */
static inline void pump(wsk_conn_t *from, wsk_conn_t *to, evlog_t *l) {
  size_t n;
  const uint8_t *p = wsk_conn_output(from, &n);
  if (n == 0) return;
  uint8_t *copy = malloc(n);
  memcpy(copy, p, n);
  wsk_conn_output_consume(from, n);
  if (wsk_conn_state(to) != WSK_STATE_CLOSED) {
    CHECK_INT(wsk_conn_feed(to, copy, n), 0);
  }
  drain(to, l);
  free(copy);
}

static inline void client_opts(wsk_conn_opts_t *o) {
  wsk_conn_opts_init(o, WSK_ROLE_CLIENT);
  o->client.host = "example.com";
  o->client.port = 80;
  o->client.resource = "/chat";
  o->random = seq_random;
}

static inline void server_opts(wsk_conn_opts_t *o) {
  wsk_conn_opts_init(o, WSK_ROLE_SERVER);
  o->random = seq_random;
}

/* A connected pair. Options may be NULL for the defaults. */
static inline void make_pair(const wsk_conn_opts_t *co, const wsk_conn_opts_t *so, wsk_conn_t **cli,
                      wsk_conn_t **srv) {
  wsk_conn_opts_t a, b;
  if (!co) { client_opts(&a); co = &a; }
  if (!so) { server_opts(&b); so = &b; }
  int err;
  *cli = wsk_conn_new(co, 0, &err);
  CHECK(*cli != NULL);
  *srv = wsk_conn_new(so, 0, &err);
  CHECK(*srv != NULL);
  evlog_t l = {0};
  pump(*cli, *srv, &l);
  CHECK_INT(l.n, 1);
  CHECK_INT(l.ev[0].type, WSK_EV_REQUEST);
  CHECK_INT(l.ev[0].status, 0);
  log_clear(&l);
  CHECK_INT(wsk_conn_accept(*srv, NULL), 0);
  drain(*srv, &l);
  CHECK_INT(l.n, 1);
  CHECK_INT(l.ev[0].type, WSK_EV_OPEN);
  log_clear(&l);
  pump(*srv, *cli, &l);
  CHECK_INT(l.n, 1);
  CHECK_INT(l.ev[0].type, WSK_EV_OPEN);
  log_clear(&l);
  CHECK_INT(wsk_conn_state(*cli), WSK_STATE_OPEN);
  CHECK_INT(wsk_conn_state(*srv), WSK_STATE_OPEN);
}

/* A client-to-server frame with a fixed mask; returns its length. */
static inline size_t cframe(uint8_t *out, int fin, int rsv, unsigned op, const void *payload, size_t len) {
  static const uint8_t mask[4] = {0x37, 0xfa, 0x21, 0x3d};
  size_t h = wsk_frame_header_encode(out, fin, rsv & 1, op, len, mask);
  out[0] |= (uint8_t)((rsv & 6) << 4); /* RSV2 (2) and RSV3 (4) */
  wsk_mask_copy(out + h, payload, len, mask, 0);
  return h + len;
}

/* A server-to-client (unmasked) frame. */
static inline size_t sframe(uint8_t *out, int fin, int rsv1, unsigned op, const void *payload, size_t len) {
  size_t h = wsk_frame_header_encode(out, fin, rsv1, op, len, NULL);
  memcpy(out + h, payload, len);
  return h + len;
}

/* The code of the close frame at the end of an endpoint's output (-1 none). */
static inline int output_close_code(wsk_conn_t *c) {
  size_t n;
  const uint8_t *p = wsk_conn_output(c, &n);
  int code = -1;
  while (n >= 2) {
    wsk_frame_header_t h;
    uint16_t cc;
    int hl = wsk_frame_header_decode(p, n, &h, &cc);
    if (hl <= 0 || n < (size_t)hl + h.len) break;
    if (h.opcode == WSK_OP_CLOSE) {
      uint8_t b[125];
      memcpy(b, p + hl, (size_t)h.len);
      if (h.masked) wsk_mask(b, (size_t)h.len, h.mask, 0);
      code = h.len >= 2 ? (b[0] << 8 | b[1]) : 1005;
    }
    p += (size_t)hl + h.len;
    n -= (size_t)hl + h.len;
  }
  return code;
}

/* The last event recorded. */
static inline const rec_t *last(const evlog_t *l) { return l->n ? &l->ev[l->n - 1] : NULL; }

#endif
