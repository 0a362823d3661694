/* Broadcast on a server: one wsk_broadcast_t per message
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

/* Channels (subscribe, publish) are the hub's: hub.c. */
