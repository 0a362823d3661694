/* Server-side channels through the core hub (hub.h): JSON-protocol
 * connections (channels_path), raw subscribers (wsk_uv_conn_subscribe)
 * and SSE streams are all hub subscribers; the hub says what each must
 * get and this file only turns that into frames or SSE bytes.
 *
 * The hub's output callback must not call back into the hub, and sending
 * on a connection may run user callbacks (which may subscribe or close):
 * so outputs are collected during a hub call and delivered after it. */
#include "uv_internal.h"

#include <stdlib.h>
#include <string.h>

struct wsk_uv_hub {
  wsk_hub_t *hub;
  wsk_uv_bp_t *bp; /* NULL: local mode */
};

/* ---- collecting and delivering hub output ---- */

typedef struct out_item {
  wsk_uv_conn_t *c;
  wsk_broadcast_t *b; /* a WebSocket frame, or */
  uint8_t *bytes;     /* SSE bytes */
  size_t len;
  int raw;            /* a raw subscriber (skips over the limit, as broadcasts do) */
} out_item_t;

typedef struct outq {
  out_item_t *items;
  size_t n, cap;
  int oom;
  /* one message goes to many subscribers: frame it once per form */
  const wsk_chan_msg_t *memo_msg;
  uint64_t memo_seq;
  wsk_broadcast_t *memo_json, *memo_raw;
} outq_t;

static int64_t now_of(const wsk_uv_server_t *s) { return (int64_t)uv_now(s->base.loop); }

static void push(outq_t *q, wsk_uv_conn_t *c, wsk_broadcast_t *b, uint8_t *bytes, size_t len,
                 int raw) {
  if (q->n == q->cap) {
    size_t cap = q->cap ? q->cap * 2 : 8;
    out_item_t *p = realloc(q->items, cap * sizeof *p);
    if (!p) {
      q->oom = 1;
      if (b) wsk_broadcast_unref(b);
      free(bytes);
      return;
    }
    q->items = p;
    q->cap = cap;
  }
  q->items[q->n++] = (out_item_t){ c, b, bytes, len, raw };
}

static int same_msg(const outq_t *q, const wsk_hub_out_t *o) {
  return q->memo_msg == o->msg && q->memo_seq == o->seq;
}

static void memo_reset(outq_t *q, const wsk_hub_out_t *o) {
  if (same_msg(q, o)) return;
  if (q->memo_json) wsk_broadcast_unref(q->memo_json);
  if (q->memo_raw) wsk_broadcast_unref(q->memo_raw);
  q->memo_json = q->memo_raw = NULL;
  q->memo_msg = o->msg;
  q->memo_seq = o->seq;
}

/* SSE: the core's form of the output (sse.h), the same in every driver. */
static void out_sse(outq_t *q, wsk_uv_conn_t *c, const wsk_hub_out_t *o) {
  wsk_buf_t b;
  memset(&b, 0, sizeof b);
  int r = wsk_sse_hub_event(&b, o);
  if (r <= 0) { /* nothing (SUBSCRIBED: the stream's head already went) */
    if (r == WSK_ENOMEM) q->oom = 1;
    wsk_buf_free(&b);
    return;
  }
  if (b.off) memmove(b.data, b.data + b.off, wsk_buf_pending(&b));
  push(q, c, NULL, b.data, wsk_buf_pending(&b), 0);
}

static void out_cb(void *ud, void *sub, const wsk_hub_out_t *o) {
  outq_t *q = ud;
  wsk_uv_conn_t *c = sub;
  int err;
  if (c->flags & WSK_UVF_SSE) {
    out_sse(q, c, o);
    return;
  }
  if (c->flags & WSK_UVF_CHAN) {
    wsk_broadcast_t *b = NULL;
    if (o->kind == WSK_HUB_MESSAGE) {
      memo_reset(q, o);
      if (!q->memo_json) q->memo_json = wsk_broadcast_new(WSK_OP_TEXT, o->json, o->json_len, &err);
      b = q->memo_json;
      if (b) wsk_broadcast_ref(b);
    } else {
      b = wsk_broadcast_new(WSK_OP_TEXT, o->json, o->json_len, &err);
    }
    if (b) push(q, c, b, NULL, 0, 0);
    else q->oom = 1;
    return;
  }
  /* raw subscriber: the payload itself, and nothing else */
  if (o->kind != WSK_HUB_MESSAGE) return;
  memo_reset(q, o);
  if (!q->memo_raw) {
    const wsk_chan_msg_t *m = o->msg;
    wsk_opcode_t op = m->kind == WSK_PAYLOAD_BINARY ? WSK_OP_BINARY : WSK_OP_TEXT;
    q->memo_raw = wsk_broadcast_new(op, m->payload, m->payload_len, &err);
  }
  if (q->memo_raw) {
    wsk_broadcast_ref(q->memo_raw);
    push(q, c, q->memo_raw, NULL, 0, 1);
  }
}

static int open_conn(const wsk_uv_conn_t *c) {
  return c->ws && !(c->flags & WSK_UVF_CLOSED) && !(c->flags & WSK_UVF_ENDED);
}

size_t wsk__uv_hub_limit(const wsk_uv_conn_t *c) {
  size_t w = c->owner->write_limit;
  if (!w) return 0;
  return 4 * w > ((size_t)2 << 20) ? 4 * w : (size_t)2 << 20;
}

/* Deliver what a hub call produced. A channel or SSE subscriber that fell
 * too far behind is closed (1013) rather than silently missing a message:
 * it resumes from the history when it comes back. Raw subscribers are
 * skipped over their write limit, as broadcasts do. */
static void deliver(wsk_uv_server_t *s, outq_t *q, wsk_uv_conn_fn on_skip, void *ud,
                    wsk_uv_broadcast_result_t *res) {
  (void)s;
  for (size_t i = 0; i < q->n; i++) {
    out_item_t *it = &q->items[i];
    wsk_uv_conn_t *c = it->c;
    if (!open_conn(c)) {
      if (res && it->raw) res->closed++;
    } else if (it->bytes) {
      wsk__uv_enter(c);
      wsk__uv_sse_write(c, it->bytes, it->len);
      wsk__uv_leave(c);
    } else if (it->raw || wsk_conn_state(c->ws) == WSK_STATE_OPEN) {
      int r = 0;
      wsk__uv_enter(c);
      if (!it->raw) {
        wsk__uv_conn_flush(c); /* a replay inside its own callback */
        size_t lim = wsk__uv_hub_limit(c);
        if (lim && wsk_uv_conn_buffered(c) > lim) r = WSK_EBUSY;
      } else if (wsk_uv_conn_over_limit(c)) {
        r = WSK_EBUSY;
      }
      if (r == 0) r = c->ws ? wsk_conn_send_broadcast(c->ws, it->b) : WSK_ECLOSED;
      wsk__uv_leave(c);
      if (it->raw && res) {
        if (r == 0) res->sent++;
        else if (r == WSK_EBUSY) res->skipped++;
        else res->closed++;
      }
      if (r == WSK_EBUSY) {
        if (it->raw) {
          if (on_skip) on_skip(ud, c);
        } else {
          wsk_uv_conn_close(c, WSK_CLOSE_TRY_AGAIN_LATER, "too slow: resume later");
        }
      }
    }
    if (it->b) wsk_broadcast_unref(it->b);
    free(it->bytes);
  }
  if (q->memo_json) wsk_broadcast_unref(q->memo_json);
  if (q->memo_raw) wsk_broadcast_unref(q->memo_raw);
  free(q->items);
  memset(q, 0, sizeof *q);
}

/* ---- the hub of a server ---- */

wsk_uv_hub_t *wsk__uv_hub(wsk_uv_server_t *s) {
  if (s->hub) return s->hub;
  wsk_uv_hub_t *u = calloc(1, sizeof *u);
  if (!u) return NULL;
  wsk_hub_opts_t ho;
  wsk_hub_opts_init(&ho);
  ho.history_size = s->o.history_size;
  ho.history_ttl_ms = s->o.history_ttl_ms;
  ho.external = s->backplane != NULL;
  int err;
  u->hub = wsk_hub_new(&ho, &err);
  if (!u->hub) {
    free(u);
    return NULL;
  }
  s->hub = u;
  if (s->backplane && wsk__uv_bp_new(s, s->backplane, &u->bp) < 0) {
    wsk__uv_server_log(s, "backplane: bad URL %s", s->backplane);
    wsk_hub_free(u->hub);
    free(u);
    s->hub = NULL;
    return NULL;
  }
  return u;
}

wsk_hub_t *wsk__uv_hub_core(wsk_uv_server_t *s) { return s->hub ? s->hub->hub : NULL; }

/* The Redis connections go with the server's last user reference, so that
 * the loop can end; the hub itself goes with the memory. */
void wsk__uv_hub_stop(wsk_uv_server_t *s) {
  if (s->hub && s->hub->bp) {
    wsk__uv_bp_free(s->hub->bp);
    s->hub->bp = NULL;
  }
}

void wsk__uv_hub_free(wsk_uv_server_t *s) {
  if (!s->hub) return;
  wsk__uv_hub_stop(s);
  wsk_hub_free(s->hub->hub);
  free(s->hub);
  s->hub = NULL;
}

int wsk_uv_server_backplane_up(const wsk_uv_server_t *s) {
  if (!s->backplane) return 1;
  return s->hub && s->hub->bp && wsk__uv_bp_up(s->hub->bp);
}

void wsk__uv_hub_conn_closed(wsk_uv_conn_t *c) {
  wsk_uv_server_t *s = (wsk_uv_server_t *)c->owner;
  if (!(c->flags & WSK_UVF_HUB) || !s->hub) return;
  wsk_hub_drop(s->hub->hub, c);
  if (s->hub->bp) wsk__uv_bp_conn_closed(s->hub->bp, c);
}

void wsk__uv_hub_dispatch(wsk_uv_server_t *s, const wsk_chan_msg_t *m) {
  if (!s->hub) return;
  outq_t q;
  memset(&q, 0, sizeof q);
  wsk_hub_dispatch(s->hub->hub, m, now_of(s), out_cb, &q);
  deliver(s, &q, NULL, NULL, NULL);
}

void wsk__uv_hub_recovered(wsk_uv_server_t *s, wsk_uv_conn_t *sub, const char *ch, size_t len,
                           const wsk_hub_history_t *h) {
  if (!s->hub) return;
  outq_t q;
  memset(&q, 0, sizeof q);
  wsk_hub_recovered(s->hub->hub, sub, ch, len, h, now_of(s), out_cb, &q);
  deliver(s, &q, NULL, NULL, NULL);
}

void wsk__uv_hub_recover_failed(wsk_uv_server_t *s, wsk_uv_conn_t *sub, const char *ch,
                                size_t len) {
  if (!s->hub || !sub) return; /* a resync stays recovering until the next one */
  if (sub->flags & WSK_UVF_CHAN) {
    wsk_hub_unsubscribe(s->hub->hub, sub, ch, len);
    wsk__uv_hub_send_error(sub, "unavailable", "the backplane is unavailable", ch, len, NULL, 0);
  } else if (sub->flags & WSK_UVF_SSE) {
    wsk_uv_conn_close(sub, 0, NULL); /* EventSource reconnects with its Last-Event-ID */
  }
  /* raw subscribers stay: the resync after the reconnect finishes them */
}

/* ---- subscribing ---- */

int wsk__uv_hub_subscribe(wsk_uv_conn_t *c, const char *ch, size_t len, int has_since,
                          uint64_t since, const char *epoch, size_t epoch_len, const char *id,
                          size_t id_len) {
  wsk_uv_server_t *s = (wsk_uv_server_t *)c->owner;
  wsk_uv_hub_t *u = wsk__uv_hub(s);
  if (!u) return WSK_ENOMEM;
  int raw = !(c->flags & (WSK_UVF_CHAN | WSK_UVF_SSE));
  if (u->bp && !wsk__uv_bp_up(u->bp) && !raw) return WSK_EIO;
  wsk_hub_subscribe_t sb;
  memset(&sb, 0, sizeof sb);
  sb.channel = ch;
  sb.channel_len = len;
  sb.has_since = has_since;
  sb.since = since;
  sb.epoch = epoch;
  sb.epoch_len = epoch_len;
  sb.id = id;
  sb.id_len = id_len;
  int64_t fetch = -1;
  outq_t q;
  memset(&q, 0, sizeof q);
  int r = wsk_hub_subscribe(u->hub, c, &sb, now_of(s), &fetch, out_cb, &q);
  if (r == 0 || r == WSK_EAGAIN) c->flags |= WSK_UVF_HUB;
  deliver(s, &q, NULL, NULL, NULL);
  if (r == WSK_EAGAIN) {
    /* down: a raw subscriber waits for the resync that follows the reconnect */
    if (!wsk__uv_bp_up(u->bp)) return 0;
    r = wsk__uv_bp_recover(u->bp, c, ch, len, fetch);
    if (r < 0 && !raw) {
      wsk_hub_unsubscribe(u->hub, c, ch, len);
      return WSK_EIO;
    }
    return 0;
  }
  return r;
}

int wsk_uv_conn_subscribe(wsk_uv_conn_t *c, const char *name, size_t len) {
  if (c->owner->is_client) return WSK_EINVAL;
  if (!c->ws || (c->flags & WSK_UVF_CLOSED)) return WSK_ECLOSED;
  wsk_uv_server_t *s = (wsk_uv_server_t *)c->owner;
  if (s->hub && wsk_hub_is_member(s->hub->hub, c, name, len)) return 0;
  int r = wsk__uv_hub_subscribe(c, name, len, 0, 0, NULL, 0, NULL, 0);
  return r < 0 ? r : 1;
}

int wsk_uv_conn_unsubscribe(wsk_uv_conn_t *c, const char *name, size_t len) {
  if (c->owner->is_client) return WSK_EINVAL;
  wsk_uv_server_t *s = (wsk_uv_server_t *)c->owner;
  if (!s->hub) return 0;
  return wsk_hub_unsubscribe(s->hub->hub, c, name, len);
}

size_t wsk_uv_server_channel_count(const wsk_uv_server_t *s, const char *name, size_t len) {
  return s->hub ? wsk_hub_count(s->hub->hub, name, len) : 0;
}

/* ---- publishing ---- */

static void pub_done_free(wsk_uv_pub_done_t *p) {
  if (!p) return;
  free(p->id);
  free(p->channel);
  free(p);
}

void wsk__uv_hub_published(wsk_uv_server_t *s, wsk_uv_pub_done_t *p, int err, uint64_t seq) {
  if (p->conn && open_conn(p->conn)) {
    if (err == 0) {
      wsk_buf_t b;
      memset(&b, 0, sizeof b);
      if (wsk_chan_build_published(&b, p->channel, p->channel_len, seq, p->id, p->id_len) == 0)
        wsk_uv_conn_send(p->conn, WSK_OP_TEXT, b.data + b.off, wsk_buf_pending(&b));
      wsk_buf_free(&b);
    } else {
      wsk__uv_hub_send_error(p->conn, err == WSK_EIO ? "unavailable" : "bad_request",
                             err == WSK_EIO ? "the backplane is unavailable" : wsk_strerror(err),
                             p->channel, p->channel_len, p->id, p->id_len);
    }
  }
  if (p->cb) p->cb(s, p->ud, err, seq);
  pub_done_free(p);
}

/* Validate a message as the protocol would carry it (the core's rules),
 * before it goes to Redis where every instance would refuse it. */
static int check_msg(const wsk_chan_msg_t *m) {
  if (m->channel_len == 0) return WSK_EINVAL;
  wsk_buf_t b;
  memset(&b, 0, sizeof b);
  int r = wsk_chan_build_publish(&b, m, NULL, 0);
  wsk_buf_free(&b);
  return r < 0 ? r : 0;
}

/* Publish; `p` (may be NULL) is taken and completed exactly once unless
 * an error is returned. Raw results go to res/on_skip (local mode). */
static int publish(wsk_uv_server_t *s, const wsk_chan_msg_t *m, wsk_uv_pub_done_t *p,
                   wsk_uv_conn_fn on_skip, void *ud, wsk_uv_broadcast_result_t *res) {
  wsk_uv_hub_t *u = wsk__uv_hub(s);
  if (!u) {
    pub_done_free(p);
    return WSK_ENOMEM;
  }
  if (u->bp) {
    int r = check_msg(m);
    if (r == 0 && !wsk__uv_bp_up(u->bp)) r = WSK_EIO;
    if (r == 0) {
      if (!p && !(p = calloc(1, sizeof *p))) return WSK_ENOMEM;
      return wsk__uv_bp_publish(u->bp, m, p); /* takes p, also on failure */
    }
    pub_done_free(p);
    return r;
  }
  outq_t q;
  memset(&q, 0, sizeof q);
  int64_t seq = wsk_hub_publish(u->hub, m, now_of(s), out_cb, &q);
  deliver(s, &q, on_skip, ud, res);
  if (seq < 0) {
    pub_done_free(p);
    return (int)seq;
  }
  if (p) wsk__uv_hub_published(s, p, 0, (uint64_t)seq);
  return 0;
}

int wsk_uv_server_publish_message(wsk_uv_server_t *s, const char *channel, size_t channel_len,
                                  wsk_payload_kind_t kind, const void *data, size_t len,
                                  wsk_uv_publish_cb cb, void *ud) {
  wsk_chan_msg_t m;
  memset(&m, 0, sizeof m);
  m.channel = channel;
  m.channel_len = channel_len;
  m.kind = kind;
  m.payload = data;
  m.payload_len = len;
  wsk_uv_pub_done_t *p = NULL;
  if (cb) {
    p = calloc(1, sizeof *p);
    if (!p) return WSK_ENOMEM;
    p->cb = cb;
    p->ud = ud;
  }
  return publish(s, &m, p, NULL, NULL, NULL);
}

int wsk_uv_server_publish(wsk_uv_server_t *s, const char *name, size_t name_len, wsk_opcode_t op,
                          const void *data, size_t len, wsk_uv_conn_fn on_skip, void *ud,
                          wsk_uv_broadcast_result_t *res) {
  wsk_uv_broadcast_result_t dummy;
  if (!res) res = &dummy;
  res->sent = res->skipped = res->closed = 0;
  if (op != WSK_OP_TEXT && op != WSK_OP_BINARY) return WSK_EINVAL;
  wsk_chan_msg_t m;
  memset(&m, 0, sizeof m);
  m.channel = name;
  m.channel_len = name_len;
  m.kind = op == WSK_OP_TEXT ? WSK_PAYLOAD_TEXT : WSK_PAYLOAD_BINARY;
  m.payload = data;
  m.payload_len = len;
  return publish(s, &m, NULL, on_skip, ud, res);
}

/* ---- the JSON channel protocol on channels_path connections ---- */

void wsk__uv_hub_send_error(wsk_uv_conn_t *c, const char *code, const char *message,
                            const char *ch, size_t ch_len, const char *id, size_t id_len) {
  wsk_buf_t b;
  memset(&b, 0, sizeof b);
  if (wsk_chan_build_error(&b, code, message, ch, ch_len, id, id_len) == 0)
    wsk_uv_conn_send(c, WSK_OP_TEXT, b.data + b.off, wsk_buf_pending(&b));
  wsk_buf_free(&b);
}

char *wsk__uv_dup_n(const char *p, size_t n) {
  char *d = malloc(n + 1);
  if (d) {
    if (n) memcpy(d, p, n);
    d[n] = 0;
  }
  return d;
}

int wsk__uv_authorize(wsk_uv_conn_t *c, const char *action, const char *ch, size_t len) {
  wsk_uv_server_t *s = (wsk_uv_server_t *)c->owner;
  if (!s->o.authorize) return 1;
  /* the protocol's parse refuses names with control characters and SSE
   * does the same; a NUL here would make the hook's C string and its
   * length disagree, so such a name is refused rather than judged */
  if (memchr(ch, 0, len)) return 0;
  char *name = wsk__uv_dup_n(ch, len);
  if (!name) return 0;
  int ok = s->o.authorize(c, action, name, len);
  free(name);
  return ok;
}

static void on_subscribe(wsk_uv_conn_t *c, const wsk_chan_frame_t *f) {
  if (!wsk__uv_authorize(c, "subscribe", f->channel, f->channel_len)) {
    wsk__uv_hub_send_error(c, "forbidden", "not allowed to subscribe", f->channel, f->channel_len,
                           f->id, f->id_len);
    return;
  }
  int r = wsk__uv_hub_subscribe(c, f->channel, f->channel_len, f->has_since, f->since, f->epoch,
                                f->epoch_len, f->id, f->id_len);
  if (r >= 0) return;
  const char *code = r == WSK_E2BIG ? "too_many_channels"
                     : r == WSK_EIO ? "unavailable"
                                    : "bad_request";
  const char *msg = r == WSK_E2BIG ? "too many channels"
                    : r == WSK_EIO ? "the backplane is unavailable"
                                   : wsk_strerror(r);
  wsk__uv_hub_send_error(c, code, msg, f->channel, f->channel_len, f->id, f->id_len);
}

static void on_unsubscribe(wsk_uv_conn_t *c, const wsk_chan_frame_t *f) {
  wsk_uv_server_t *s = (wsk_uv_server_t *)c->owner;
  if (!s->hub || wsk_hub_unsubscribe(s->hub->hub, c, f->channel, f->channel_len) != 1) {
    wsk__uv_hub_send_error(c, "not_subscribed", "not subscribed", f->channel, f->channel_len,
                           f->id, f->id_len);
    return;
  }
  wsk_buf_t b;
  memset(&b, 0, sizeof b);
  if (wsk_chan_build_unsubscribed(&b, f->channel, f->channel_len, f->id, f->id_len) == 0)
    wsk_uv_conn_send(c, WSK_OP_TEXT, b.data + b.off, wsk_buf_pending(&b));
  wsk_buf_free(&b);
}

static void on_publish(wsk_uv_conn_t *c, const wsk_chan_frame_t *f) {
  wsk_uv_server_t *s = (wsk_uv_server_t *)c->owner;
  if (!s->o.client_publish || !wsk__uv_authorize(c, "publish", f->channel, f->channel_len)) {
    wsk__uv_hub_send_error(c, "forbidden", "not allowed to publish", f->channel, f->channel_len,
                           f->id, f->id_len);
    return;
  }
  wsk_uv_pub_done_t *p = calloc(1, sizeof *p);
  if (p) {
    p->conn = c;
    p->channel = wsk__uv_dup_n(f->channel, f->channel_len);
    p->channel_len = f->channel_len;
    if (f->id_len) {
      p->id = wsk__uv_dup_n(f->id, f->id_len);
      p->id_len = f->id_len;
    }
  }
  if (!p || !p->channel || (f->id_len && !p->id)) {
    pub_done_free(p);
    return;
  }
  wsk_chan_msg_t m;
  memset(&m, 0, sizeof m);
  m.channel = f->channel;
  m.channel_len = f->channel_len;
  m.kind = f->kind;
  m.payload = f->payload;
  m.payload_len = f->payload_len;
  int r = publish(s, &m, p, NULL, NULL, NULL);
  if (r < 0)
    wsk__uv_hub_send_error(c, r == WSK_EIO ? "unavailable" : "bad_request",
                           r == WSK_EIO ? "the backplane is unavailable" : wsk_strerror(r),
                           f->channel, f->channel_len, f->id, f->id_len);
}

void wsk__uv_hub_chan_message(wsk_uv_conn_t *c, const uint8_t *data, size_t len) {
  uint8_t small[512];
  uint8_t *scratch = len <= sizeof small ? small : malloc(len);
  if (!scratch) return;
  wsk_chan_frame_t f;
  const char *why = NULL;
  if (wsk_chan_parse((const char *)data, len, scratch, &f, &why) < 0) {
    wsk__uv_hub_send_error(c, "bad_request", why ? why : "not a channel protocol message", NULL, 0,
                           NULL, 0);
  } else if (f.type == WSK_CHAN_SUBSCRIBE) {
    on_subscribe(c, &f);
  } else if (f.type == WSK_CHAN_UNSUBSCRIBE) {
    on_unsubscribe(c, &f);
  } else if (f.type == WSK_CHAN_PUBLISH) {
    on_publish(c, &f);
  } else {
    wsk__uv_hub_send_error(c, "bad_request", "a server message type", NULL, 0, f.id, f.id_len);
  }
  if (scratch != small) free(scratch);
}
