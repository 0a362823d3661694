/* Sending: data frames (whole, fragmented, compressed), control frames,
 * the close frame, and pre-encoded broadcasts. */
#include "conn_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Four fresh masking bytes; random bytes are fetched 64 at a time. */
static int next_mask(wsk_conn_t *c, uint8_t mask[4]) {
  if (!c->maskpool) {
    c->maskpool = malloc(WSK_MASK_POOL);
    if (!c->maskpool) return WSK_ENOMEM;
    c->maskpool_off = WSK_MASK_POOL;
  }
  if (c->maskpool_off + 4 > WSK_MASK_POOL) {
    int r = c->rnd(c->rnd_ud, c->maskpool, WSK_MASK_POOL);
    if (r < 0) return r;
    c->maskpool_off = 0;
  }
  memcpy(mask, c->maskpool + c->maskpool_off, 4);
  c->maskpool_off += 4;
  return 0;
}

int wsk__conn_write_frame(wsk_conn_t *c, int fin, int rsv1, unsigned op, const uint8_t *p,
                          size_t len) {
  uint8_t mask[4], *maskp = NULL;
  if (c->role == WSK_ROLE_CLIENT) {
    int r = next_mask(c, mask);
    if (r < 0) return r;
    maskp = mask;
  }
  uint8_t *dst = wsk_buf_reserve(&c->out, WSK_FRAME_MAX_HEADER + len);
  if (!dst) return WSK_ENOMEM;
  size_t h = wsk_frame_header_encode(dst, fin, rsv1, op, len, maskp);
  if (maskp)
    wsk_mask_copy(dst + h, p, len, mask, 0);
  else if (len)
    memcpy(dst + h, p, len);
  c->out.len += h + len;
  return 0;
}

int wsk__conn_write_close(wsk_conn_t *c, unsigned code, const void *reason, size_t len) {
  uint8_t payload[125] = {0};
  size_t n = 0;
  if (code) {
    payload[0] = (uint8_t)(code >> 8);
    payload[1] = (uint8_t)code;
    if (len) memcpy(payload + 2, reason, len);
    n = 2 + len;
  }
  int r = wsk__conn_write_frame(c, 1, 0, WSK_OP_CLOSE, payload, n);
  if (r < 0) return r;
  c->close_sent = 1;
  c->code_sent = (uint16_t)(code ? code : WSK_CLOSE_NO_STATUS);
  return 0;
}

void wsk__conn_fail(wsk_conn_t *c, unsigned code, const char *fmt, ...) {
  char why[200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, sizeof why, fmt, ap);
  va_end(ap);
  wsk__conn_set_error(c, "%s", why);
  if (!c->close_sent && (c->state == WSK_STATE_OPEN || c->state == WSK_STATE_CLOSING)) {
    /* The reason goes on the wire too, cut to fit, at a character boundary. */
    size_t n = strlen(why);
    if (n > 123) n = 123;
    while (n > 0 && ((uint8_t)why[n] & 0xC0) == 0x80) n--;
    wsk__conn_write_close(c, code, why, n);
  }
  wsk__conn_go_closed(c);
}

static int check_open(const wsk_conn_t *c) {
  if (c->state == WSK_STATE_OPEN) return 0;
  return c->state == WSK_STATE_CONNECTING ? WSK_ESTATE : WSK_ECLOSED;
}

/* Frame a payload, compressing it first when `compress`. */
static int send_data(wsk_conn_t *c, int fin, int first, unsigned op, const uint8_t *p, size_t len,
                     int compress) {
  if (!compress) return wsk__conn_write_frame(c, fin, 0, op, p, len);
  int r = wsk_deflate_compress(c->codec, p, len, fin, &c->zbuf);
  if (r == 0)
    r = wsk__conn_write_frame(c, fin, first, op, c->zbuf.data + c->zbuf.off,
                              wsk_buf_pending(&c->zbuf));
  wsk_buf_consume(&c->zbuf, wsk_buf_pending(&c->zbuf), 64 * 1024);
  return r;
}

int wsk_conn_send(wsk_conn_t *c, wsk_opcode_t op, const void *data, size_t len) {
  if (op != WSK_OP_TEXT && op != WSK_OP_BINARY) return WSK_EINVAL;
  int r = check_open(c);
  if (r < 0) return r;
  if (c->send_op) return WSK_ESTATE;
  if (op == WSK_OP_TEXT && c->validate_utf8_out && wsk_utf8_validate(data, len) < 0)
    return WSK_EUTF8;
  r = send_data(c, 1, 1, op, data, len, c->codec && len >= c->z_threshold);
  if (r == 0) {
    c->stats.messages_out++;
    c->stats.bytes_out += len;
  }
  return r;
}

int wsk_conn_send_fragment(wsk_conn_t *c, wsk_opcode_t op, const void *data, size_t len,
                           int fin) {
  int r = check_open(c);
  if (r < 0) return r;
  int first = c->send_op == 0;
  if (first) {
    if (op != WSK_OP_TEXT && op != WSK_OP_BINARY) return WSK_EINVAL;
    wsk_utf8_init(&c->utf8_out);
  }
  unsigned msg_op = first ? (unsigned)op : c->send_op;
  if (msg_op == WSK_OP_TEXT && c->validate_utf8_out) {
    wsk_utf8_t v = c->utf8_out;
    if (wsk_utf8_feed(&v, data, len) < 0 || (fin && wsk_utf8_finish(&v) < 0)) return WSK_EUTF8;
    c->utf8_out = v;
  }
  if (first) c->send_compressed = c->codec != NULL; /* size unknown: compress all pieces */
  r = send_data(c, fin, first, first ? msg_op : WSK_OP_CONT, data, len, c->send_compressed);
  if (r < 0) return r;
  c->send_op = fin ? 0 : (uint8_t)msg_op;
  c->stats.bytes_out += len;
  if (fin) c->stats.messages_out++;
  return 0;
}

/* Ping ids stay positive ints so a call can return them. */
static uint32_t next_id(uint32_t id) { return id >= 0x7fffffff ? 1 : id + 1; }

/* Send a ping and remember it; returns its id. */
int wsk__conn_send_ping(wsk_conn_t *c, const void *data, size_t len) {
  uint8_t auto_payload[4];
  if (c->npings >= WSK_MAX_PINGS) return WSK_E2BIG;
  if (!c->pings) {
    c->pings = malloc(sizeof *c->pings * WSK_MAX_PINGS);
    if (!c->pings) return WSK_ENOMEM;
  }
  uint32_t id = c->next_ping_id;
  for (;;) {
    if (!data) {
      auto_payload[0] = (uint8_t)(id >> 24);
      auto_payload[1] = (uint8_t)(id >> 16);
      auto_payload[2] = (uint8_t)(id >> 8);
      auto_payload[3] = (uint8_t)id;
    }
    const void *p = data ? data : auto_payload;
    size_t n = data ? len : 4;
    size_t i;
    for (i = 0; i < c->npings; i++)
      if (c->pings[i].len == n && memcmp(c->pings[i].data, p, n) == 0) break;
    if (i == c->npings) {
      int r = wsk__conn_write_frame(c, 1, 0, WSK_OP_PING, p, n);
      if (r < 0) return r;
      wsk_ping_rec_t *rec = &c->pings[c->npings++];
      rec->id = id;
      rec->len = (uint8_t)n;
      memcpy(rec->data, p, n);
      rec->sent = c->now;
      c->next_ping_id = next_id(id);
      return (int)id;
    }
    if (data) return WSK_EEXIST;
    id = next_id(id); /* our automatic payload collided with a user's */
  }
}

int wsk_conn_ping(wsk_conn_t *c, const void *data, size_t len) {
  if (len > 125 || (len && !data)) return WSK_EINVAL;
  int r = check_open(c);
  if (r < 0) return r;
  return wsk__conn_send_ping(c, data, len);
}

int wsk_conn_pong(wsk_conn_t *c, const void *data, size_t len) {
  if (len > 125 || (len && !data)) return WSK_EINVAL;
  int r = check_open(c);
  if (r < 0) return r;
  return wsk__conn_write_frame(c, 1, 0, WSK_OP_PONG, data, len);
}

/* ---- broadcast ---- */

struct wsk_broadcast {
  unsigned refs;
  uint8_t op;
  size_t len;           /* payload length */
  uint8_t *frame;       /* header + payload, unmasked, uncompressed */
  size_t frame_len;
  uint8_t *z[8];        /* compressed frame per window bits 8..15, made on demand */
  size_t z_len[8];
  uint8_t z_failed[8];
};

wsk_broadcast_t *wsk_broadcast_new(wsk_opcode_t op, const void *data, size_t len, int *err) {
  int dummy;
  if (!err) err = &dummy;
  if (op != WSK_OP_TEXT && op != WSK_OP_BINARY) {
    *err = WSK_EINVAL;
    return NULL;
  }
  if (op == WSK_OP_TEXT && wsk_utf8_validate(data, len) < 0) {
    *err = WSK_EUTF8;
    return NULL;
  }
  wsk_broadcast_t *b = calloc(1, sizeof *b);
  if (b) b->frame = malloc(WSK_FRAME_MAX_HEADER + len);
  if (!b || !b->frame) {
    free(b);
    *err = WSK_ENOMEM;
    return NULL;
  }
  b->refs = 1;
  b->op = (uint8_t)op;
  b->len = len;
  size_t h = wsk_frame_header_encode(b->frame, 1, 0, op, len, NULL);
  if (len) memcpy(b->frame + h, data, len);
  b->frame_len = h + len;
  *err = 0;
  return b;
}

void wsk_broadcast_ref(wsk_broadcast_t *b) { b->refs++; }

void wsk_broadcast_unref(wsk_broadcast_t *b) {
  if (!b || --b->refs > 0) return;
  for (int i = 0; i < 8; i++) free(b->z[i]);
  free(b->frame);
  free(b);
}

static int send_shared(wsk_conn_t *c, wsk_broadcast_t *b);

/* The compressed frame for window `bits`, compressed on first use. */
static const uint8_t *broadcast_compressed(wsk_broadcast_t *b, int bits, int level, int mem,
                                           size_t *n) {
  int i = bits - 8;
  if (!b->z[i] && !b->z_failed[i]) {
    wsk_buf_t z = {0};
    size_t payload_off = b->frame_len - b->len;
    if (wsk_deflate_compress_once(b->frame + payload_off, b->len, bits, level, mem, &z) == 0) {
      size_t zl = wsk_buf_pending(&z);
      b->z[i] = malloc(WSK_FRAME_MAX_HEADER + zl);
      if (b->z[i]) {
        size_t h = wsk_frame_header_encode(b->z[i], 1, 1, b->op, zl, NULL);
        memcpy(b->z[i] + h, z.data + z.off, zl);
        b->z_len[i] = h + zl;
      }
    }
    wsk_buf_free(&z);
    if (!b->z[i]) b->z_failed[i] = 1; /* fall back to the plain frame */
  }
  *n = b->z_len[i];
  return b->z[i];
}

int wsk_conn_send_broadcast(wsk_conn_t *c, wsk_broadcast_t *b) {
  int r = check_open(c);
  if (r < 0) return r;
  if (c->send_op) return WSK_ESTATE;
  if (wsk_conn_over_limit(c)) return WSK_EBUSY;
  if (c->role == WSK_ROLE_CLIENT) {
    /* Clients mask every frame with a fresh key: nothing to share. */
    size_t payload_off = b->frame_len - b->len;
    r = send_data(c, 1, 1, b->op, b->frame + payload_off, b->len,
                  c->codec && b->len >= c->z_threshold);
  } else {
    r = send_shared(c, b);
  }
  if (r == 0) {
    c->stats.messages_out++;
    c->stats.bytes_out += b->len;
  }
  return r;
}

/* A server's copy of the shared frame (or of its compressed form). */
static int send_shared(wsk_conn_t *c, wsk_broadcast_t *b) {
  const uint8_t *frame = b->frame;
  size_t n = b->frame_len;
  if (c->codec && c->dparams.server_no_context_takeover && b->len >= c->z_threshold) {
    size_t zn;
    const uint8_t *z = broadcast_compressed(b, c->dparams.server_max_window_bits, c->z_level,
                                            c->z_mem, &zn);
    if (z) {
      frame = z;
      n = zn;
    }
  }
  /* With context takeover a shared compressed frame would corrupt the
   * peer's window, so those connections get the plain frame (RFC 7692
   * lets any message go uncompressed). */
  return wsk_buf_append(&c->out, frame, n);
}
