/* Broadcast and channels on a server: one wsk_broadcast_t per message
 * (framed and compressed once by the core), copied into each connection
 * whose write queue has room; the others are skipped and reported. */
#include "uv_internal.h"

#include <stdlib.h>

static void send_one(wsk_uv_conn_t *c, wsk_broadcast_t *b, wsk_uv_conn_fn on_skip, void *ud,
                     wsk_uv_broadcast_result_t *res) {
  if (!c || !c->ws || (c->flags & WSK_UVF_CLOSED) || wsk_conn_state(c->ws) != WSK_STATE_OPEN ||
      !c->owner || c->owner->is_client) {
    res->closed++;
    return;
  }
  /* The core only sees its own output buffer; the bytes queued in libuv
   * count too. */
  int r = wsk_uv_conn_over_limit(c) ? WSK_EBUSY : 0;
  if (r == 0) {
    wsk__uv_enter(c);
    r = c->ws ? wsk_conn_send_broadcast(c->ws, b) : WSK_ECLOSED;
    wsk__uv_leave(c);
  }
  if (r == 0) {
    res->sent++;
  } else if (r == WSK_EBUSY) {
    res->skipped++;
    if (on_skip) on_skip(ud, c);
  } else {
    res->closed++;
  }
}

int wsk_uv_server_broadcast(wsk_uv_server_t *s, wsk_opcode_t op, const void *data, size_t len,
                            wsk_uv_conn_t *const *conns, size_t nconns, wsk_uv_conn_fn on_skip,
                            void *ud, wsk_uv_broadcast_result_t *res) {
  wsk_uv_broadcast_result_t dummy;
  if (!res) res = &dummy;
  res->sent = res->skipped = res->closed = 0;
  int err;
  wsk_broadcast_t *b = wsk_broadcast_new(op, data, len, &err);
  if (!b) return err;
  if (conns) {
    for (size_t i = 0; i < nconns; i++)
      if (!conns[i] || conns[i]->owner == &s->base) send_one(conns[i], b, on_skip, ud, res);
  } else {
    /* the list only shrinks in close callbacks: safe to walk (server.c) */
    for (wsk_uv_conn_t *c = s->conns; c; c = c->next)
      if (c->ws && !(c->flags & WSK_UVF_CLOSED) && wsk_conn_state(c->ws) == WSK_STATE_OPEN)
        send_one(c, b, on_skip, ud, res);
  }
  wsk_broadcast_unref(b);
  return 0;
}

int wsk_uv_conn_subscribe(wsk_uv_conn_t *c, const char *name, size_t len) {
  if (c->owner->is_client) return WSK_EINVAL;
  if (!c->ws || (c->flags & WSK_UVF_CLOSED)) return WSK_ECLOSED;
  wsk_uv_server_t *s = (wsk_uv_server_t *)c->owner;
  if (!s->channels && !(s->channels = wsk_channels_new())) return WSK_ENOMEM;
  return wsk_channels_subscribe(s->channels, name, len, c);
}

int wsk_uv_conn_unsubscribe(wsk_uv_conn_t *c, const char *name, size_t len) {
  if (c->owner->is_client) return WSK_EINVAL;
  wsk_uv_server_t *s = (wsk_uv_server_t *)c->owner;
  if (!s->channels) return 0;
  return wsk_channels_unsubscribe(s->channels, name, len, c);
}

size_t wsk_uv_server_channel_count(const wsk_uv_server_t *s, const char *name, size_t len) {
  return s->channels ? wsk_channels_count(s->channels, name, len) : 0;
}

int wsk_uv_server_publish(wsk_uv_server_t *s, const char *name, size_t name_len, wsk_opcode_t op,
                          const void *data, size_t len, wsk_uv_conn_fn on_skip, void *ud,
                          wsk_uv_broadcast_result_t *res) {
  wsk_uv_broadcast_result_t dummy;
  if (!res) res = &dummy;
  res->sent = res->skipped = res->closed = 0;
  size_t n = s->channels ? wsk_channels_count(s->channels, name, name_len) : 0;
  if (n == 0) {
    /* still validate the message, as a broadcast would */
    int err;
    wsk_broadcast_t *b = wsk_broadcast_new(op, data, len, &err);
    if (!b) return err;
    wsk_broadcast_unref(b);
    return 0;
  }
  /* a snapshot: on_skip may unsubscribe or close members */
  void **members = malloc(n * sizeof *members);
  if (!members) return WSK_ENOMEM;
  n = wsk_channels_members(s->channels, name, name_len, members, n);
  int r = wsk_uv_server_broadcast(s, op, data, len, (wsk_uv_conn_t *const *)members, n, on_skip, ud,
                                  res);
  free(members);
  return r;
}
