/* Driver callbacks -> Lua: each event of a connection goes to its owner's
 * Lua function for that event (a registry reference), called on the
 * context's callback thread with the connection's userdata first. Errors
 * in those functions close the connection with 1011 (and are reported);
 * on_close is the connection's last call and drops its self reference. */
#include <stdlib.h>
#include <string.h>

#include "core_lua.h"

lwc_owner_t *lwc_owner_of(wsk_uv_conn_t *c) {
  lwc_conn_t *u = wsk_uv_conn_data(c);
  if (u) return u->owner;
  wsk_uv_server_t *s = wsk_uv_conn_server(c);
  return s ? wsk_uv_server_data(s) : wsk_uv_client_data(wsk_uv_conn_client(c));
}

static void push_kind(lua_State *L, wsk_opcode_t op) {
  if (op == WSK_OP_BINARY)
    lua_pushliteral(L, "binary");
  else
    lua_pushliteral(L, "text");
}

/* ---- driver callbacks -> Lua ---- */

/* After an error in a connection's callback: close it with 1011. */
static void failed(wsk_uv_conn_t *c) { wsk_uv_conn_close(c, WSK_CLOSE_INTERNAL_ERROR, "internal error"); }

/* Call o's Lua callback `ev` with the connection and `nargs` more
 * arguments that push() pushes; close with 1011 when it raises. */
#define FORWARD(o, ev, c, pushargs, nargs)                            \
  do {                                                                \
    if (!lwc_push_cb(o, ev)) break;                                   \
    lua_State *L_ = (o)->ctx->L;                                      \
    lwc_conn_t *u_ = lwc_conn_push(o, L_, c);                         \
    pushargs;                                                         \
    if (!lwc_pcall((o)->ctx, 1 + (nargs), u_)) failed(c);             \
  } while (0)

static void push_request(lua_State *L, const wsk_uv_request_t *r) {
  const wsk_http_head_t *h = r->head;
  lua_createtable(L, 0, 6);
  lua_pushstring(L, h->method);
  lua_setfield(L, -2, "method");
  lua_pushstring(L, h->target);
  lua_setfield(L, -2, "target");
  lua_pushlstring(L, r->path, r->path_len);
  lua_setfield(L, -2, "path");
  if (r->query) {
    lua_pushlstring(L, r->query, r->query_len);
    lua_setfield(L, -2, "query");
  }
  lua_pushinteger(L, r->status);
  lua_setfield(L, -2, "status");
  /* headers: lower-case names; repeated fields joined with ", " (RFC 9110 5.3) */
  lua_createtable(L, 0, (int)h->nheaders);
  for (size_t i = 0; i < h->nheaders; i++) {
    const wsk_http_header_t *f = &h->headers[i];
    char name[128];
    size_t n = f->name_len < sizeof name ? f->name_len : sizeof name;
    for (size_t k = 0; k < n; k++) {
      char ch = f->name[k];
      name[k] = ch >= 'A' && ch <= 'Z' ? (char)(ch + 32) : ch;
    }
    lua_pushlstring(L, name, n);
    lua_pushvalue(L, -1);
    lua_rawget(L, -3);
    if (lua_isnil(L, -1)) {
      lua_pop(L, 1);
      lua_pushlstring(L, f->value, f->value_len);
    } else {
      lua_pushliteral(L, ", ");
      lua_pushlstring(L, f->value, f->value_len);
      lua_concat(L, 3);
    }
    lua_rawset(L, -3);
  }
  lua_setfield(L, -2, "headers");
}

static void cb_request(wsk_uv_conn_t *c, const wsk_uv_request_t *r) {
  lwc_owner_t *o = lwc_owner_of(c);
  if (r->status != 0) { /* not a valid upgrade: the core's answer, no Lua */
    wsk_uv_conn_reject(c, 0, NULL, 0, NULL, 0);
    return;
  }
  if (o->refs[LWC_ON_REQUEST] == LUA_NOREF || o->ctx->closing) {
    wsk_uv_conn_accept(c, NULL, o->accept_headers, o->naccept_headers);
    return;
  }
  if (!lwc_push_cb(o, LWC_ON_REQUEST)) return;
  lua_State *L = o->ctx->L;
  lwc_conn_t *u = lwc_conn_push(o, L, c);
  push_request(L, r);
  if (!lwc_pcall(o->ctx, 2, u)) wsk_uv_conn_reject(c, 500, NULL, 0, NULL, 0);
}

static void cb_http(wsk_uv_conn_t *c, const wsk_uv_request_t *r) {
  lwc_owner_t *o = lwc_owner_of(c);
  if (!lwc_push_cb(o, LWC_ON_HTTP)) {
    wsk_uv_conn_reject(c, 0, NULL, 0, NULL, 0);
    return;
  }
  lua_State *L = o->ctx->L;
  lwc_conn_t *u = lwc_conn_push(o, L, c);
  push_request(L, r);
  if (!lwc_pcall(o->ctx, 2, u)) wsk_uv_conn_http_respond(c, 500, NULL, 0, NULL, 0);
}

static void cb_connecting(wsk_uv_conn_t *c, unsigned attempt) {
  lwc_owner_t *o = lwc_owner_of(c);
  FORWARD(o, LWC_ON_CONNECTING, c, lua_pushinteger(L_, (lua_Integer)attempt), 1);
}

static void cb_open(wsk_uv_conn_t *c) {
  lwc_owner_t *o = lwc_owner_of(c);
  lwc_conn_t *u = wsk_uv_conn_data(c);
  if (u) u->opened = 1;
  FORWARD(o, LWC_ON_OPEN, c, (void)0, 0);
}

static void cb_message(wsk_uv_conn_t *c, const wsk_uv_message_t *m) {
  lwc_owner_t *o = lwc_owner_of(c);
  FORWARD(o, LWC_ON_MESSAGE, c,
          (lua_pushlstring(L_, (const char *)m->data, m->len), push_kind(L_, m->opcode)), 2);
}

static void cb_ping(wsk_uv_conn_t *c, const wsk_uv_control_t *p) {
  lwc_owner_t *o = lwc_owner_of(c);
  FORWARD(o, LWC_ON_PING, c, lua_pushlstring(L_, (const char *)p->data, p->len), 1);
}

static void cb_pong(wsk_uv_conn_t *c, const wsk_uv_control_t *p) {
  lwc_owner_t *o = lwc_owner_of(c);
  FORWARD(o, LWC_ON_PONG, c,
          (lua_pushlstring(L_, (const char *)p->data, p->len),
           lua_pushinteger(L_, (lua_Integer)p->ping_id),
           lua_pushnumber(L_, p->latency_ms >= 0 ? p->latency_ms / 1000.0 : -1)),
          3);
}

static void cb_drain(wsk_uv_conn_t *c) {
  lwc_owner_t *o = lwc_owner_of(c);
  FORWARD(o, LWC_ON_DRAIN, c, (void)0, 0);
}

static void cb_rpc(wsk_uv_conn_t *c, const wsk_uv_rpc_call_t *call) {
  lwc_owner_t *o = lwc_owner_of(c);
  FORWARD(o, LWC_ON_RPC, c, lwc_push_rpc_call(L_, call), 3);
}

static char *dup_str(const char *s) {
  if (!s) return NULL;
  size_t n = strlen(s) + 1;
  char *p = malloc(n);
  if (p) memcpy(p, s, n);
  return p;
}

void lwc_push_close_info(lua_State *L, const lwc_conn_t *u, const wsk_uv_close_info_t *i) {
  lua_createtable(L, 0, 12);
  lua_pushinteger(L, u->code);
  lua_setfield(L, -2, "code");
  lua_pushstring(L, u->reason ? u->reason : "");
  lua_setfield(L, -2, "reason");
  lua_pushinteger(L, u->sent_code);
  lua_setfield(L, -2, "sent_code");
  lua_pushboolean(L, u->clean);
  lua_setfield(L, -2, "clean");
  lua_pushboolean(L, u->opened);
  lua_setfield(L, -2, "opened");
  if (u->err) {
    lua_pushstring(L, wsk_err_name(u->err));
    lua_setfield(L, -2, "err");
  }
  if (u->error && *u->error) {
    lua_pushstring(L, u->error);
    lua_setfield(L, -2, "error");
  }
  if (u->http_status) {
    lua_pushinteger(L, u->http_status);
    lua_setfield(L, -2, "http_status");
  }
  if (u->proxy_status) {
    lua_pushinteger(L, u->proxy_status);
    lua_setfield(L, -2, "proxy_status");
  }
  if (i) {
    lua_pushboolean(L, i->will_retry);
    lua_setfield(L, -2, "will_retry");
    if (i->will_retry) {
      lua_pushnumber(L, (lua_Number)i->retry_delay_ms / 1000.0);
      lua_setfield(L, -2, "retry_delay");
    }
    if (i->attempt) {
      lua_pushinteger(L, (lua_Integer)i->attempt);
      lua_setfield(L, -2, "attempt");
    }
  }
}

static void cb_close(wsk_uv_conn_t *c, const wsk_uv_close_info_t *info) {
  lwc_conn_t *u = wsk_uv_conn_data(c);
  lwc_owner_t *o = lwc_owner_of(c);
  lwc_ctx_t *ctx = o->ctx;
  int want = o->refs[LWC_ON_CLOSE] != LUA_NOREF && !ctx->closing;
  /* connections Lua never saw end without a trace (refused or plain
   * HTTP requests of a server without hooks) */
  if (!u && !info->opened && !o->is_client) want = 0;
  if (u || want) {
    lua_State *L = ctx->L;
    if (want) {
      lwc_push_cb(o, LWC_ON_CLOSE);
      u = lwc_conn_push(o, L, c);
    }
    u->closed = 1;
    u->code = info->code;
    u->sent_code = info->sent_code;
    u->clean = info->clean;
    u->opened = info->opened;
    u->err = info->err;
    u->http_status = info->http_status;
    u->proxy_status = info->proxy_status;
    u->reason = dup_str(info->reason);
    u->error = dup_str(info->error);
    u->c = NULL;
    u->owner = NULL;
    wsk_uv_conn_set_data(c, NULL);
    if (want) {
      lwc_push_close_info(L, u, o->is_client ? info : NULL);
      lwc_pcall(ctx, 2, u);
    }
    if (!ctx->closing) { /* from now on the userdata lives as long as Lua holds it */
      luaL_unref(L, LUA_REGISTRYINDEX, u->self_ref);
      u->self_ref = LUA_NOREF;
    }
  }
  if (o->after_close) o->after_close(o, info);
}

void lwc_conn_set_callbacks(lwc_owner_t *o) {
  wsk_uv_callbacks_t *cb = &o->cbs;
  memset(cb, 0, sizeof *cb);
  int *r = o->refs;
#define SET(ev, field, fn) \
  if (r[ev] != LUA_NOREF) cb->field = fn
  SET(LWC_ON_REQUEST, on_request, cb_request);
  SET(LWC_ON_HTTP, on_http, cb_http);
  SET(LWC_ON_CONNECTING, on_connecting, cb_connecting);
  SET(LWC_ON_MESSAGE, on_message, cb_message);
  SET(LWC_ON_PING, on_ping, cb_ping);
  SET(LWC_ON_PONG, on_pong, cb_pong);
  SET(LWC_ON_DRAIN, on_drain, cb_drain);
  SET(LWC_ON_RPC, on_rpc, cb_rpc);
#undef SET
  if (o->naccept_headers) cb->on_request = cb_request;
  cb->on_open = cb_open; /* records `opened` even without a Lua hook */
  cb->on_close = cb_close;
  lwc_chan_set_callbacks(o);
}

