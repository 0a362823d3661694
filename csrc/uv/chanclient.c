/* The client side of the JSON channel protocol: subscribe, unsubscribe,
 * publish, and resume after a reconnect. Which channels, the last seq
 * seen and duplicate filtering are the core's (wsk_chan_client_t); this
 * file sends its messages and turns incoming frames into callbacks. */
#include "uv_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct wsk_uv_chanc {
  wsk_chan_client_t *cc;
};

void wsk__uv_chanc_free(wsk_uv_chanc_t *x) {
  if (!x) return;
  wsk_chan_client_free(x->cc);
  free(x);
}

static wsk_uv_chanc_t *chanc_of(wsk_uv_client_t *cl, int create) {
  wsk_uv_chanc_t **slot = wsk__uv_client_chanc(cl);
  if (!*slot && create) {
    wsk_uv_chanc_t *x = calloc(1, sizeof *x);
    if (x && !(x->cc = wsk_chan_client_new())) {
      free(x);
      x = NULL;
    }
    *slot = x;
  }
  return *slot;
}

static wsk_uv_conn_t *open_conn(wsk_uv_client_t *cl) {
  wsk_uv_conn_t *c = wsk_uv_client_conn(cl);
  return c && c->ws && !(c->flags & WSK_UVF_CLOSED) && wsk_conn_state(c->ws) == WSK_STATE_OPEN
             ? c
             : NULL;
}

/* After each open: one subscribe per tracked channel, with since/epoch
 * when something was seen (the core builds them, '\n'-separated). */
void wsk__uv_chanc_on_open(wsk_uv_client_t *cl, wsk_uv_conn_t *c) {
  wsk_uv_chanc_t *x = chanc_of(cl, 0);
  if (!x || !wsk_chan_client_count(x->cc)) return;
  wsk_buf_t b;
  memset(&b, 0, sizeof b);
  if (wsk_chan_client_resubscribe(x->cc, &b) >= 0) {
    const uint8_t *p = b.data + b.off, *end = b.data + b.len;
    while (p < end && c->ws) {
      const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
      size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
      if (n) wsk_conn_send(c->ws, WSK_OP_TEXT, p, n);
      p += n + 1;
    }
  }
  wsk_buf_free(&b);
}

static int send_built(wsk_uv_client_t *cl, wsk_buf_t *b, int queue) {
  int r;
  wsk_uv_conn_t *c = open_conn(cl);
  if (c)
    r = wsk_uv_conn_send(c, WSK_OP_TEXT, b->data + b->off, wsk_buf_pending(b));
  else
    r = queue ? wsk_uv_client_send(cl, WSK_OP_TEXT, b->data + b->off, wsk_buf_pending(b)) : 0;
  wsk_buf_free(b);
  return r;
}

int wsk_uv_client_subscribe(wsk_uv_client_t *cl, const char *channel, size_t len) {
  wsk_uv_chanc_t *x = chanc_of(cl, 1);
  if (!x) return WSK_ENOMEM;
  if (wsk_uv_client_position(cl, channel, len, NULL, NULL, NULL)) return 0; /* already */
  int r = wsk_chan_client_add(x->cc, channel, len);
  if (r < 0) return r;
  wsk_buf_t b;
  memset(&b, 0, sizeof b);
  r = wsk_chan_build_subscribe(&b, channel, len, 0, 0, NULL, 0, NULL, 0);
  if (r < 0) {
    wsk_buf_free(&b);
    wsk_chan_client_remove(x->cc, channel, len);
    return r;
  }
  /* not open: the next open sends it with the others */
  return send_built(cl, &b, 0);
}

int wsk_uv_client_unsubscribe(wsk_uv_client_t *cl, const char *channel, size_t len) {
  wsk_uv_chanc_t *x = chanc_of(cl, 0);
  if (!x || !wsk_chan_client_remove(x->cc, channel, len)) return 0;
  wsk_buf_t b;
  memset(&b, 0, sizeof b);
  int r = wsk_chan_build_unsubscribe(&b, channel, len, NULL, 0);
  if (r < 0) {
    wsk_buf_free(&b);
    return r;
  }
  r = send_built(cl, &b, 0);
  return r < 0 ? r : 1;
}

int wsk_uv_client_publish(wsk_uv_client_t *cl, const char *channel, size_t channel_len,
                          wsk_payload_kind_t kind, const void *data, size_t len) {
  wsk_chan_msg_t m;
  memset(&m, 0, sizeof m);
  m.channel = channel;
  m.channel_len = channel_len;
  m.kind = kind;
  m.payload = data;
  m.payload_len = len;
  wsk_buf_t b;
  memset(&b, 0, sizeof b);
  int r = wsk_chan_build_publish(&b, &m, NULL, 0);
  if (r < 0) {
    wsk_buf_free(&b);
    return r;
  }
  return send_built(cl, &b, 1);
}

int wsk_uv_client_position(const wsk_uv_client_t *cl, const char *channel, size_t len,
                           uint64_t *seq, const char **epoch, size_t *epoch_len) {
  wsk_uv_chanc_t *x = *wsk__uv_client_chanc((wsk_uv_client_t *)cl);
  uint64_t s0;
  const char *e0;
  size_t el0;
  if (!x) return 0;
  return wsk_chan_client_position(x->cc, channel, len, seq ? seq : &s0, epoch ? epoch : &e0,
                                  epoch_len ? epoch_len : &el0);
}

/* A gap is never silent (uv.h): without on_gap it goes to
 * on_channel_reply as the gap frame, and without that to stderr. */
static void gap_fallback(wsk_uv_conn_t *c, const wsk_chan_frame_t *f) {
  if (c->cbs->on_channel_reply) {
    c->cbs->on_channel_reply(c, f);
    return;
  }
  fprintf(stderr, "wskit: channel %.*s: messages %llu..%llu are gone (%.*s); no on_gap callback\n",
          (int)f->channel_len, f->channel, (unsigned long long)f->from, (unsigned long long)f->to,
          (int)f->reason_len, f->reason ? f->reason : "");
}

/* A text message on a client that uses channels: a server frame of the
 * protocol is consumed here, anything else goes on to on_message. */
int wsk__uv_chanc_message(wsk_uv_conn_t *c, const uint8_t *data, size_t len) {
  wsk_uv_client_t *cl = wsk_uv_conn_client(c);
  wsk_uv_chanc_t *x = cl ? chanc_of(cl, 0) : NULL;
  if (!x) return 0;
  size_t i = 0;
  while (i < len && (data[i] == ' ' || data[i] == '\t' || data[i] == '\r' || data[i] == '\n')) i++;
  if (i == len || data[i] != '{') return 0;
  uint8_t small[512];
  uint8_t *scratch = len <= sizeof small ? small : malloc(len);
  if (!scratch) return 0;
  wsk_chan_frame_t f;
  int consumed = 0;
  if (wsk_chan_parse((const char *)data, len, scratch, &f, NULL) == 0 &&
      f.type >= WSK_CHAN_SUBSCRIBED) {
    consumed = 1;
    wsk_chan_verdict_t v = wsk_chan_client_on_frame(x->cc, &f);
    const wsk_uv_callbacks_t *cb = c->cbs;
    if (f.type == WSK_CHAN_MESSAGE) {
      if (v == WSK_CHAN_DELIVER && cb->on_channel_message) {
        wsk_uv_channel_message_t m;
        m.channel = f.channel;
        m.channel_len = f.channel_len;
        m.seq = f.seq;
        m.epoch = f.epoch;
        m.epoch_len = f.epoch_len;
        m.kind = f.kind;
        m.data = f.payload;
        m.len = f.payload_len;
        cb->on_channel_message(c, &m);
      }
    } else if (f.type == WSK_CHAN_GAP) {
      if (cb->on_gap) {
        wsk_uv_gap_t g;
        g.channel = f.channel;
        g.channel_len = f.channel_len;
        g.epoch = f.epoch;
        g.epoch_len = f.epoch_len;
        g.from = f.from;
        g.to = f.to;
        g.reason = f.reason;
        g.reason_len = f.reason_len;
        cb->on_gap(c, &g);
      } else {
        gap_fallback(c, &f);
      }
    } else if (cb->on_channel_reply) {
      cb->on_channel_reply(c, &f);
    }
  }
  if (scratch != small) free(scratch);
  return consumed;
}
