/* The connection object: a userdata per driver connection, created when
 * Lua first needs to see the connection (the driver callbacks that forward
 * its events to Lua are in core_events.c), and its methods.
 *
 * Lifetime: from creation until the driver's on_close the userdata is
 * referenced from the registry (self_ref), so an open connection is never
 * collected. After on_close the C connection is gone (u->c == NULL); the
 * userdata keeps how it ended (close_info) and is collected like any
 * value once Lua drops it. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "core_lua.h"

/* ---- the object ---- */

lwc_conn_t *lwc_conn_push(lwc_owner_t *o, lua_State *L, wsk_uv_conn_t *c) {
  lwc_conn_t *u = wsk_uv_conn_data(c);
  if (u) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, u->self_ref);
    return u;
  }
  u = lwc_newudata(L, sizeof *u);
  memset(u, 0, sizeof *u);
  u->c = c;
  u->owner = o;
  u->ctx = o->ctx;
  wsk_conn_t *ws = wsk_uv_conn_core(c);
  u->opened = ws && wsk_conn_state(ws) != WSK_STATE_CONNECTING;
  luaL_getmetatable(L, LWC_CONN_MT);
#if LUA_VERSION_NUM < 502
  /* 5.1 gives a userdata the globals as environment; the metatable marks
   * "no state table yet" (see l_state) */
  lua_pushvalue(L, -1);
  lua_setfenv(L, -3);
#endif
  lua_setmetatable(L, -2);
  lua_pushvalue(L, -1);
  u->self_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  wsk_uv_conn_set_data(c, u);
  return u;
}

lwc_conn_t *lwc_conn_check(lua_State *L, int idx) {
  return luaL_checkudata(L, idx, LWC_CONN_MT);
}

wsk_uv_conn_t *lwc_conn_live(lua_State *L, int idx) { return lwc_conn_check(L, idx)->c; }

wsk_opcode_t lwc_opcode(lua_State *L, int idx) {
  size_t n;
  const char *k = lua_tolstring(L, idx, &n);
  if (!k) {
    if (!lua_isnoneornil(L, idx)) luaL_argerror(L, idx, "kind must be \"text\" or \"binary\"");
    return WSK_OP_TEXT;
  }
  if (n == 4 && memcmp(k, "text", 4) == 0) return WSK_OP_TEXT;
  if (n == 6 && memcmp(k, "binary", 6) == 0) return WSK_OP_BINARY;
  luaL_argerror(L, idx, "kind must be \"text\" or \"binary\"");
  return WSK_OP_TEXT;
}

/* ---- methods ---- */

#define LIVE(L, c)                                                    \
  wsk_uv_conn_t *c = lwc_conn_live(L, 1);                             \
  if (!c) return lwc_fail(L, WSK_ECLOSED, "the connection is closed")

static int ret(lua_State *L, int e) {
  if (e < 0) return lwc_fail(L, e, NULL);
  lua_pushboolean(L, 1);
  return 1;
}

/* _send(data[, kind]) -> true | false (queued, but over the write limit:
 * wait for on_drain) | nil, err */
static int l_send(lua_State *L) {
  size_t len;
  const char *data = luaL_checklstring(L, 2, &len);
  wsk_opcode_t op = lwc_opcode(L, 3);
  LIVE(L, c);
  int e = wsk_uv_conn_send(c, op, data, len);
  if (e < 0) return lwc_fail(L, e, e == WSK_ESTATE ? "the connection is not open yet" : NULL);
  lua_pushboolean(L, !wsk_uv_conn_over_limit(c));
  return 1;
}

/* send_fragment(data, kind, fin) */
static int l_send_fragment(lua_State *L) {
  size_t len;
  const char *data = luaL_checklstring(L, 2, &len);
  wsk_opcode_t op = lwc_opcode(L, 3);
  int fin = lua_toboolean(L, 4);
  LIVE(L, c);
  int e = wsk_uv_conn_send_fragment(c, op, data, len, fin);
  if (e < 0) return lwc_fail(L, e, NULL);
  lua_pushboolean(L, !wsk_uv_conn_over_limit(c));
  return 1;
}

/* close([code[, reason]]): code 1000 by default */
static int l_close(lua_State *L) {
  lua_Integer code = luaL_optinteger(L, 2, 1000);
  const char *reason = luaL_optstring(L, 3, NULL);
  if (code != 0 && !wsk_close_code_valid((unsigned)code)) luaL_argerror(L, 2, "invalid close code");
  wsk_uv_conn_t *c = lwc_conn_live(L, 1);
  if (!c) return ret(L, 0); /* already closed: nothing to do */
  return ret(L, wsk_uv_conn_close(c, (unsigned)code, reason));
}

/* free(): abort without a close frame */
static int l_free(lua_State *L) {
  wsk_uv_conn_t *c = lwc_conn_live(L, 1);
  if (c) wsk_uv_conn_free(c);
  return 0;
}

/* ping([data]) -> id */
static int l_ping(lua_State *L) {
  size_t len = 0;
  const char *data = luaL_optlstring(L, 2, NULL, &len);
  LIVE(L, c);
  int id = wsk_uv_conn_ping(c, data, len);
  if (id < 0) return lwc_fail(L, id, NULL);
  lua_pushinteger(L, id);
  return 1;
}

static int l_pause(lua_State *L) {
  LIVE(L, c);
  return ret(L, wsk_uv_conn_pause(c));
}

static int l_resume(lua_State *L) {
  LIVE(L, c);
  return ret(L, wsk_uv_conn_resume(c));
}

static int l_buffered(lua_State *L) {
  wsk_uv_conn_t *c = lwc_conn_live(L, 1);
  lua_pushnumber(L, c ? (lua_Number)wsk_uv_conn_buffered(c) : 0);
  return 1;
}

static int l_over_limit(lua_State *L) {
  wsk_uv_conn_t *c = lwc_conn_live(L, 1);
  lua_pushboolean(L, c && wsk_uv_conn_over_limit(c));
  return 1;
}

static int l_subscribe(lua_State *L) {
  size_t n;
  const char *name = luaL_checklstring(L, 2, &n);
  LIVE(L, c);
  int r = wsk_uv_conn_subscribe(c, name, n);
  if (r < 0) return lwc_fail(L, r, NULL);
  lua_pushboolean(L, r > 0);
  return 1;
}

static int l_unsubscribe(lua_State *L) {
  size_t n;
  const char *name = luaL_checklstring(L, 2, &n);
  LIVE(L, c);
  int r = wsk_uv_conn_unsubscribe(c, name, n);
  if (r < 0) return lwc_fail(L, r, NULL);
  lua_pushboolean(L, r > 0);
  return 1;
}

static int l_request(lua_State *L) {
  lwc_conn_check(L, 1);
  return lwc_request(L, lwc_conn_live(L, 1), NULL);
}

static int l_pending_requests(lua_State *L) {
  wsk_uv_conn_t *c = lwc_conn_live(L, 1);
  lua_pushnumber(L, c ? (lua_Number)wsk_uv_pending_requests(c) : 0);
  return 1;
}

/* accept([subprotocol[, headers]]) */
static int l_accept(lua_State *L) {
  const char *sub = luaL_optstring(L, 2, NULL);
  LIVE(L, c);
  lwc_arena_t a;
  memset(&a, 0, sizeof a);
  wsk_http_header_t *h = NULL;
  size_t n = 0;
  lwc_headers_read(L, 3, &a, &h, &n); /* may raise: nothing to free before */
  lwc_owner_t *o = lwc_owner_of(c);
  if (!n && o) {
    h = o->accept_headers;
    n = o->naccept_headers;
  }
  int e = wsk_uv_conn_accept(c, sub, h, n);
  lwc_arena_free(&a);
  return ret(L, e);
}

/* reject / http_respond(status[, body[, headers]]) */
static int answer(lua_State *L, int http) {
  int status = (int)luaL_optinteger(L, 2, 0);
  size_t blen = 0;
  const char *body = luaL_optlstring(L, 3, NULL, &blen);
  LIVE(L, c);
  lwc_arena_t a;
  memset(&a, 0, sizeof a);
  wsk_http_header_t *h = NULL;
  size_t n = 0;
  lwc_headers_read(L, 4, &a, &h, &n);
  int e = http ? wsk_uv_conn_http_respond(c, status, h, n, body, blen)
               : wsk_uv_conn_reject(c, status, h, n, body, blen);
  lwc_arena_free(&a);
  return ret(L, e);
}

static int l_reject(lua_State *L) { return answer(L, 0); }
static int l_http_respond(lua_State *L) { return answer(L, 1); }

/* peername() -> ip, port */
static int l_peername(lua_State *L) {
  LIVE(L, c);
  struct sockaddr_storage ss;
  char ip[64];
  if (wsk_uv_conn_peername(c, &ss) < 0) return lwc_fail(L, WSK_EIO, "no peer address");
  int port;
  if (ss.ss_family == AF_INET6) {
    uv_ip6_name((struct sockaddr_in6 *)&ss, ip, sizeof ip);
    port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
  } else {
    uv_ip4_name((struct sockaddr_in *)&ss, ip, sizeof ip);
    port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
  }
  lua_pushstring(L, ip);
  lua_pushinteger(L, port);
  return 2;
}

static int l_subprotocol(lua_State *L) {
  wsk_uv_conn_t *c = lwc_conn_live(L, 1);
  wsk_conn_t *ws = c ? wsk_uv_conn_core(c) : NULL;
  const char *s = ws ? wsk_conn_subprotocol(ws) : NULL;
  if (s && *s)
    lua_pushstring(L, s);
  else
    lua_pushnil(L);
  return 1;
}

/* compression() -> table of the agreed permessage-deflate parameters, or nil */
static int l_compression(lua_State *L) {
  wsk_uv_conn_t *c = lwc_conn_live(L, 1);
  wsk_conn_t *ws = c ? wsk_uv_conn_core(c) : NULL;
  const wsk_deflate_params_t *d = ws ? wsk_conn_deflate(ws) : NULL;
  if (!d || !d->enabled) {
    lua_pushnil(L);
    return 1;
  }
  lua_createtable(L, 0, 4);
  lua_pushboolean(L, d->server_no_context_takeover);
  lua_setfield(L, -2, "server_no_context_takeover");
  lua_pushboolean(L, d->client_no_context_takeover);
  lua_setfield(L, -2, "client_no_context_takeover");
  lua_pushinteger(L, d->server_max_window_bits);
  lua_setfield(L, -2, "server_max_window_bits");
  lua_pushinteger(L, d->client_max_window_bits);
  lua_setfield(L, -2, "client_max_window_bits");
  return 1;
}

static int l_state_name(lua_State *L) {
  static const char *const names[] = {"connecting", "open", "closing", "closed"};
  wsk_uv_conn_t *c = lwc_conn_live(L, 1);
  wsk_conn_t *ws = c ? wsk_uv_conn_core(c) : NULL;
  lua_pushstring(L, ws ? names[wsk_conn_state(ws)] : "closed");
  return 1;
}

/* close_info() -> { code, reason, sent_code, clean, opened, err, error,
 * http_status } once closed, else nil */
static int l_close_info(lua_State *L) {
  lwc_conn_t *u = lwc_conn_check(L, 1);
  if (!u->closed) return 0;
  lwc_push_close_info(L, u, NULL);
  return 1;
}

/* _state() -> the connection's Lua table (created on first use) */
static int l_state(lua_State *L) {
  lwc_conn_check(L, 1);
#if LUA_VERSION_NUM < 502
  lua_getfenv(L, 1);
  lua_getmetatable(L, 1);
  int fresh = lua_rawequal(L, -1, -2);
  lua_pop(L, 1);
  if (fresh) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_setfenv(L, 1);
  }
#else
  lua_getiuservalue(L, 1, 1);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_setiuservalue(L, 1, 1);
  }
#endif
  return 1;
}

static int l_tostring(lua_State *L) {
  lwc_conn_t *u = lwc_conn_check(L, 1);
  lua_pushfstring(L, "wskit.conn (%s): %p", u->c ? "live" : "closed", (void *)u);
  return 1;
}

/* Only a live connection's userdata when the state closes: abort it
 * without calling Lua. */
static int l_gc(lua_State *L) {
  lwc_conn_t *u = lwc_conn_check(L, 1);
  if (u->c) {
    u->ctx->closing = 1;
    wsk_uv_conn_t *c = u->c;
    u->c = NULL;
    wsk_uv_conn_set_data(c, NULL);
    wsk_uv_conn_free(c);
  }
  free(u->reason);
  free(u->error);
  u->reason = u->error = NULL;
  return 0;
}

void lwc_conn_register(lua_State *L) {
  static const luaL_Reg methods[] = {{"_send", l_send},
                                     {"send_fragment", l_send_fragment},
                                     {"close", l_close},
                                     {"free", l_free},
                                     {"_ping", l_ping},
                                     {"pause", l_pause},
                                     {"resume", l_resume},
                                     {"buffered", l_buffered},
                                     {"over_limit", l_over_limit},
                                     {"subscribe", l_subscribe},
                                     {"unsubscribe", l_unsubscribe},
                                     {"_request", l_request},
                                     {"pending_requests", l_pending_requests},
                                     {"rpc_result", lwc_rpc_result},
                                     {"rpc_error", lwc_rpc_error},
                                     {"accept", l_accept},
                                     {"reject", l_reject},
                                     {"http_respond", l_http_respond},
                                     {"peername", l_peername},
                                     {"subprotocol", l_subprotocol},
                                     {"compression", l_compression},
                                     {"state", l_state_name},
                                     {"close_info", l_close_info},
                                     {"_state", l_state},
                                     {NULL, NULL}};
  lwc_newclass(L, LWC_CONN_MT, methods, l_gc);
  luaL_getmetatable(L, LWC_CONN_MT);
  lua_pushcfunction(L, l_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_getfield(L, -1, "__index");
  lua_setfield(L, -3, "conn_methods"); /* the Lua layer adds send, receive ... */
  lua_pop(L, 1);
}
