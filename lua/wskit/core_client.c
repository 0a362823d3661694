/* The client object: core.client(url, opts, callbacks) -> client. Each
 * attempt is a new connection object (on_connecting, on_open, on_close
 * with will_retry). The client is alive (held in the registry with its
 * callbacks) until its last attempt ended without a retry, close() found
 * no attempt running, or free() was called. */
#include <stdlib.h>
#include <string.h>

#include "core_lua.h"

static lwc_client_t *check(lua_State *L) { return luaL_checkudata(L, 1, LWC_CLIENT_MT); }

static void end_client(lwc_client_t *k) {
  wsk_uv_client_t *cl = k->cl;
  k->cl = NULL;
  wsk_uv_client_free(cl); /* safe inside the client's callbacks */
  lwc_owner_release_later(&k->o);
}

/* the last attempt ended: nothing will happen any more */
static void after_close(lwc_owner_t *o, const wsk_uv_close_info_t *info) {
  lwc_client_t *k = (lwc_client_t *)o;
  if (!info->will_retry && k->cl) end_client(k);
}

/* client(url, opts, callbacks) -> client | nil, err (a bad URL) */
static int l_client(lua_State *L) {
  lwc_ctx_t *ctx = lwc_ctx(L);
  const char *url = luaL_checkstring(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  lwc_client_t *k = lwc_newudata(L, sizeof *k);
  memset(k, 0, sizeof *k);
  k->o.ctx = ctx;
  k->o.is_client = 1;
  k->o.self_ref = LUA_NOREF;
  k->o.after_close = after_close;
  for (int i = 0; i < LWC_NCB; i++) k->o.refs[i] = LUA_NOREF;
  luaL_getmetatable(L, LWC_CLIENT_MT);
  lua_setmetatable(L, -2);
  wsk_uv_client_opts_t co;
  lwc_client_opts_read(L, 2, &co, &k->o.arena);
  lwc_read_callbacks(L, 3, &k->o);
  lwc_conn_set_callbacks(&k->o);
  co.callbacks = &k->o.cbs;
  co.data = &k->o;
  int e = wsk_uv_client_new(ctx->loop, url, &co, &k->cl);
  if (e < 0) {
    for (int i = 0; i < LWC_NCB; i++) luaL_unref(L, LUA_REGISTRYINDEX, k->o.refs[i]);
    return lwc_fail(L, e, e == WSK_EURL ? lua_pushfstring(L, "bad WebSocket URL: %s", url) : NULL);
  }
  ctx->nobjects++;
  lua_pushvalue(L, -1);
  k->o.self_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  return 1;
}

/* _send(data[, kind]) -> true | false (queued, over the write limit) | nil, err.
 * While not connected the message waits in the offline queue (option
 * offline_queue, bytes) or fails with ECLOSED. */
static int l_send(lua_State *L) {
  lwc_client_t *k = check(L);
  size_t len;
  const char *data = luaL_checklstring(L, 2, &len);
  wsk_opcode_t op = lwc_opcode(L, 3);
  if (!k->cl) return lwc_fail(L, WSK_ECLOSED, "the client is closed");
  int e = wsk_uv_client_send(k->cl, op, data, len);
  if (e < 0)
    return lwc_fail(L, e, e == WSK_ECLOSED ? "not connected" : e == WSK_EBUSY ? "offline queue full" : NULL);
  wsk_uv_conn_t *c = wsk_uv_client_conn(k->cl);
  lua_pushboolean(L, !(c && wsk_uv_conn_over_limit(c)));
  return 1;
}

static int l_request(lua_State *L) {
  lwc_client_t *k = check(L);
  if (!k->cl) {
    luaL_checkstring(L, 2);
    return lwc_fail(L, WSK_ECLOSED, "the client is closed");
  }
  return lwc_request(L, NULL, k->cl);
}

/* close([code[, reason]]) -> true, ended: no more attempts; the current
 * connection closes with code (its on_close reports will_retry = false).
 * `ended` is true when no attempt was running (the client ended now,
 * without a further on_close). */
static int l_close(lua_State *L) {
  lwc_client_t *k = check(L);
  lua_Integer code = luaL_optinteger(L, 2, 1000);
  const char *reason = luaL_optstring(L, 3, NULL);
  if (code != 0 && !wsk_close_code_valid((unsigned)code)) luaL_argerror(L, 2, "invalid close code");
  if (!k->cl) {
    lua_pushboolean(L, 1);
    lua_pushboolean(L, 0);
    return 2;
  }
  int e = wsk_uv_client_close(k->cl, (unsigned)code, reason);
  if (e < 0) return lwc_fail(L, e, NULL);
  int ended = wsk_uv_client_conn(k->cl) == NULL;
  if (ended) end_client(k);
  lua_pushboolean(L, 1);
  lua_pushboolean(L, ended);
  return 2;
}

/* free(): abort the current attempt (its on_close runs) and stop */
static int l_free(lua_State *L) {
  lwc_client_t *k = check(L);
  if (k->cl) end_client(k);
  return 0;
}

/* conn() -> the current connection (open or connecting) or nil */
static int l_conn(lua_State *L) {
  lwc_client_t *k = check(L);
  wsk_uv_conn_t *c = k->cl ? wsk_uv_client_conn(k->cl) : NULL;
  if (!c) return 0;
  lwc_conn_push(&k->o, L, c);
  return 1;
}

static int l_closed(lua_State *L) {
  lua_pushboolean(L, check(L)->cl == NULL);
  return 1;
}

static int l_gc(lua_State *L) {
  lwc_client_t *k = check(L);
  if (k->cl) { /* alive: only when the state closes */
    k->o.ctx->closing = 1;
    wsk_uv_client_t *cl = k->cl;
    k->cl = NULL;
    wsk_uv_client_free(cl);
  }
  lwc_arena_free(&k->o.arena);
  return 0;
}

void lwc_client_register(lua_State *L) {
  static const luaL_Reg methods[] = {{"_send", l_send},   {"_request", l_request},
                                     {"close", l_close},  {"free", l_free},
                                     {"conn", l_conn},    {"closed", l_closed},
                                     {NULL, NULL}};
  lwc_newclass(L, LWC_CLIENT_MT, methods, l_gc);
  lua_pushcfunction(L, l_client);
  lua_setfield(L, -2, "client");
  luaL_getmetatable(L, LWC_CLIENT_MT);
  lua_getfield(L, -1, "__index");
  lua_setfield(L, -3, "client_methods");
  lua_pop(L, 1);
}
