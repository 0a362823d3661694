/* Request/response on a connection: JSON-RPC 2.0 envelopes from jsonrpc.c,
 * correlation and deadlines from the core's rpc.h table. The deadlines
 * share the connection's one timer (stream.c arms it at the earlier of the
 * core's deadline and ours). Every request's callback runs exactly once:
 * reply, timeout, or cancellation when the connection ends. */
#include "uv_internal.h"
#include "jsonrpc.h"

#include <stdlib.h>
#include <string.h>

typedef struct wsk_uv_rpc {
  wsk_rpc_table_t *table;
} wsk_uv_rpc_t;

typedef struct pending {
  wsk_uv_reply_cb cb;
  void *ud;
} pending_t;

static wsk_uv_rpc_t *rpc_of(wsk_uv_conn_t *c) {
  if (WSK_UVX(c, rpc)) return WSK_UVX(c, rpc);
  wsk_uv_rpc_t *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  if (!(r->table = wsk_rpc_new())) {
    free(r);
    return NULL;
  }
  if (!wsk__uv_extra(c)) {
    wsk_rpc_free(r->table);
    free(r);
    return NULL;
  }
  c->x->rpc = r;
  return r;
}

static void end_cb(void *ctx, uint64_t id, void *ud, int reason) {
  wsk_uv_conn_t *c = ctx;
  pending_t *p = ud;
  wsk_uv_reply_t r;
  memset(&r, 0, sizeof r);
  r.err = reason;
  r.id = id;
  wsk_uv_reply_cb cb = p->cb;
  void *cud = p->ud;
  free(p);
  cb(c, cud, &r);
}

int64_t wsk__uv_rpc_deadline(const wsk_uv_conn_t *c) {
  return WSK_UVX(c, rpc) ? wsk_rpc_next_deadline(WSK_UVX(c, rpc)->table) : -1;
}

void wsk__uv_rpc_expire(wsk_uv_conn_t *c, int64_t now) {
  if (WSK_UVX(c, rpc)) wsk_rpc_expire(WSK_UVX(c, rpc)->table, now, end_cb, c);
}

void wsk__uv_rpc_cancel(wsk_uv_conn_t *c) {
  if (WSK_UVX(c, rpc)) wsk_rpc_cancel_all(WSK_UVX(c, rpc)->table, end_cb, c);
}

static void drop_cb(void *ctx, uint64_t id, void *ud, int reason) {
  (void)ctx, (void)id, (void)reason;
  free(ud);
}

void wsk__uv_rpc_free(wsk_uv_conn_t *c) {
  if (!WSK_UVX(c, rpc)) return;
  wsk_rpc_cancel_all(WSK_UVX(c, rpc)->table, drop_cb, NULL); /* normally none: cancelled at close */
  wsk_rpc_free(WSK_UVX(c, rpc)->table);
  free(c->x->rpc);
  c->x->rpc = NULL;
}

static int send_text(wsk_uv_conn_t *c, const wsk_buf_t *b) {
  return wsk_uv_conn_send(c, WSK_OP_TEXT, b->data + b->off, wsk_buf_pending(b));
}

/* Register, then send; a failed send unregisters (the callback never runs). */
static int start(wsk_uv_conn_t *c, uint64_t id, const wsk_buf_t *msg, uint32_t timeout_ms,
                 wsk_uv_reply_cb cb, void *ud) {
  wsk_uv_rpc_t *r = rpc_of(c);
  if (!r) return WSK_ENOMEM;
  pending_t *p = malloc(sizeof *p);
  if (!p) return WSK_ENOMEM;
  p->cb = cb;
  p->ud = ud;
  int64_t deadline = timeout_ms ? (int64_t)uv_now(c->owner->loop) + timeout_ms : -1;
  int e = wsk_rpc_add(r->table, id, deadline, p);
  if (e < 0) {
    free(p);
    return e;
  }
  e = send_text(c, msg);
  if (e < 0) {
    void *back;
    if (WSK_UVX(c, rpc) && wsk_rpc_resolve(WSK_UVX(c, rpc)->table, id, &back) == 0) free(back);
    return e;
  }
  return 0;
}

static int check_open(const wsk_uv_conn_t *c) {
  if (!c->ws || (c->flags & WSK_UVF_CLOSED)) return WSK_ECLOSED;
  wsk_state_t st = wsk_conn_state(c->ws);
  return st == WSK_STATE_OPEN ? 0 : st == WSK_STATE_CONNECTING ? WSK_ESTATE : WSK_ECLOSED;
}

int wsk_uv_request(wsk_uv_conn_t *c, const char *method, const char *params, size_t params_len,
                   uint32_t timeout_ms, wsk_uv_reply_cb cb, void *ud, uint64_t *id_out) {
  if (!cb || !method) return WSK_EINVAL;
  int e = check_open(c);
  if (e < 0) return e;
  wsk_uv_rpc_t *r = rpc_of(c);
  if (!r) return WSK_ENOMEM;
  uint64_t id = wsk_rpc_next_id(r->table);
  wsk_buf_t b;
  memset(&b, 0, sizeof b);
  e = wsk_jsonrpc_request_text(&b, id, method, params, params ? params_len : 0);
  if (e == 0) e = start(c, id, &b, timeout_ms, cb, ud);
  wsk_buf_free(&b);
  if (e == 0 && id_out) *id_out = id;
  return e;
}

int wsk_uv_request_raw(wsk_uv_conn_t *c, uint64_t id, const char *text, size_t len,
                       uint32_t timeout_ms, wsk_uv_reply_cb cb, void *ud) {
  if (!cb || !text || id > (uint64_t)INT64_MAX) return WSK_EINVAL;
  int e = check_open(c);
  if (e < 0) return e;
  wsk_buf_t b;
  b.data = (uint8_t *)(uintptr_t)text; /* read only: send copies it */
  b.off = 0;
  b.len = b.cap = len;
  return start(c, id, &b, timeout_ms, cb, ud);
}

size_t wsk_uv_pending_requests(const wsk_uv_conn_t *c) {
  return WSK_UVX(c, rpc) ? wsk_rpc_count(WSK_UVX(c, rpc)->table) : 0;
}

int wsk_uv_rpc_result(wsk_uv_conn_t *c, const json_t *id, const char *result, size_t len) {
  wsk_buf_t b;
  memset(&b, 0, sizeof b);
  int e = wsk_jsonrpc_result_text(&b, id, result, result ? len : 0);
  if (e == 0) e = send_text(c, &b);
  wsk_buf_free(&b);
  return e;
}

int wsk_uv_rpc_error(wsk_uv_conn_t *c, const json_t *id, int64_t code, const char *message) {
  wsk_buf_t b;
  memset(&b, 0, sizeof b);
  int e = wsk_jsonrpc_error(&b, id, code, message, NULL);
  if (e == 0) e = send_text(c, &b);
  wsk_buf_free(&b);
  return e;
}

/* Incoming text: a reply to one of our pending requests, or a call for
 * on_rpc. Only parsed when requests are pending or on_rpc is set, so
 * plain messaging pays nothing. */
int wsk__uv_rpc_message(wsk_uv_conn_t *c, const uint8_t *data, size_t len) {
  int want_replies = WSK_UVX(c, rpc) && wsk_rpc_count(WSK_UVX(c, rpc)->table) > 0;
  if (!want_replies && !c->cbs->on_rpc) return 0;
  wsk_jsonrpc_msg_t m;
  if (wsk_jsonrpc_parse((const char *)data, len, &m) < 0) return 0;
  int used = 0;
  void *ud;
  if ((m.kind == WSK_JSONRPC_RESULT || m.kind == WSK_JSONRPC_ERROR) && m.has_u64_id && WSK_UVX(c, rpc) &&
      wsk_rpc_resolve(WSK_UVX(c, rpc)->table, m.u64_id, &ud) == 0) {
    pending_t *p = ud;
    wsk_uv_reply_t r;
    memset(&r, 0, sizeof r);
    r.id = m.u64_id;
    r.is_error = m.kind == WSK_JSONRPC_ERROR;
    r.result = m.result;
    r.code = m.code;
    r.message = m.message;
    r.data = m.data;
    r.text = (const char *)data;
    r.len = len;
    wsk_uv_reply_cb cb = p->cb;
    void *cud = p->ud;
    free(p);
    cb(c, cud, &r);
    used = 1;
  } else if ((m.kind == WSK_JSONRPC_REQUEST || m.kind == WSK_JSONRPC_NOTIFICATION) &&
             c->cbs->on_rpc) {
    wsk_uv_rpc_call_t call;
    call.method = m.method;
    call.params = m.params;
    call.id = m.kind == WSK_JSONRPC_REQUEST ? m.id : NULL;
    c->cbs->on_rpc(c, &call);
    used = 1;
  }
  wsk_jsonrpc_msg_free(&m);
  return used;
}
