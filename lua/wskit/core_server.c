/* The server object: core.server(opts, callbacks) -> server. Alive (held
 * in the registry with its callbacks) from creation until close() or the
 * end of shutdown(); connections still finishing their on_close inside a
 * callback when that happens are served before the references go. */
#include <stdlib.h>
#include <string.h>

#include "core_lua.h"

static lwc_server_t *check(lua_State *L) { return luaL_checkudata(L, 1, LWC_SERVER_MT); }

static wsk_uv_server_t *live(lua_State *L) {
  lwc_server_t *sv = check(L);
  if (!sv->s) luaL_error(L, "wskit: the server is closed");
  return sv->s;
}

/* ---- releasing after the current callbacks ---- */

typedef struct defer {
  uv_timer_t t;
  lwc_owner_t *o;
} defer_t;

static void defer_closed(uv_handle_t *h) { free(h->data); }

static void defer_fire(uv_timer_t *t) {
  defer_t *d = t->data;
  lwc_owner_unref(d->o); /* may let the userdata (and d->o) be collected */
  uv_close((uv_handle_t *)&d->t, defer_closed);
}

/* Drop the owner's references on the next loop iteration: connections
 * whose on_close the driver deferred (a free inside their callback) still
 * reach their Lua callbacks. */
void lwc_owner_release_later(lwc_owner_t *o) {
  if (o->ctx->closing) return;
  defer_t *d = malloc(sizeof *d);
  if (!d || uv_timer_init(o->ctx->loop, &d->t) != 0) {
    free(d);
    lwc_owner_unref(o); /* cannot defer: release now */
    return;
  }
  d->t.data = d;
  d->o = o;
  uv_timer_start(&d->t, defer_fire, 0, 0);
}

/* ---- creation ---- */

/* server(opts, callbacks) */
static int l_server(lua_State *L) {
  lwc_ctx_t *ctx = lwc_ctx(L);
  luaL_checktype(L, 1, LUA_TTABLE);
  lwc_server_t *sv = lwc_newudata(L, sizeof *sv);
  memset(sv, 0, sizeof *sv);
  sv->o.ctx = ctx;
  sv->o.self_ref = LUA_NOREF;
  for (int i = 0; i < LWC_NCB; i++) sv->o.refs[i] = LUA_NOREF;
  luaL_getmetatable(L, LWC_SERVER_MT);
  lua_setmetatable(L, -2); /* from here __gc frees the arena if we raise */
  wsk_uv_server_opts_t so;
  lwc_server_opts_read(L, 1, &so, &sv->o.arena);
  lua_getfield(L, 1, "headers");
  lwc_headers_read(L, -1, &sv->o.arena, &sv->o.accept_headers, &sv->o.naccept_headers);
  lua_pop(L, 1);
  lwc_read_callbacks(L, 2, &sv->o);
  lwc_conn_set_callbacks(&sv->o);
  lwc_server_hooks(&sv->o, &so);
  so.callbacks = &sv->o.cbs;
  so.data = &sv->o;
  int e = wsk_uv_server_new(ctx->loop, &so, &sv->s);
  if (e < 0) {
    for (int i = 0; i < LWC_NCB; i++) luaL_unref(L, LUA_REGISTRYINDEX, sv->o.refs[i]);
    return lwc_fail(L, e, NULL);
  }
  ctx->nobjects++;
  lua_pushvalue(L, -1);
  sv->o.self_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  return 1;
}

/* ---- methods ---- */

static int fail_sys(lua_State *L, wsk_uv_server_t *s, int e) {
  return lwc_fail(L, e, (e == WSK_EIO || e == WSK_ECRYPTO) ? wsk_uv_server_error(s) : NULL);
}

/* listen(host, port) -> true | nil, err */
static int l_listen(lua_State *L) {
  wsk_uv_server_t *s = live(L);
  const char *host = luaL_optstring(L, 2, NULL);
  lua_Integer port = luaL_optinteger(L, 3, 0);
  if (port < 0 || port > 65535) return luaL_argerror(L, 3, "port must be 0..65535");
  int e = wsk_uv_server_listen(s, host, (unsigned)port);
  if (e < 0) return fail_sys(L, s, e);
  lua_pushboolean(L, 1);
  return 1;
}

static int l_listen_unix(lua_State *L) {
  wsk_uv_server_t *s = live(L);
  int e = wsk_uv_server_listen_unix(s, luaL_checkstring(L, 2));
  if (e < 0) return fail_sys(L, s, e);
  lua_pushboolean(L, 1);
  return 1;
}

static int l_port(lua_State *L) {
  int p = wsk_uv_server_port(live(L));
  if (p < 0) return lwc_fail(L, p, "not listening on TCP");
  lua_pushinteger(L, p);
  return 1;
}

static int l_count(lua_State *L) {
  lwc_server_t *sv = check(L);
  lua_pushnumber(L, sv->s ? (lua_Number)wsk_uv_server_count(sv->s) : 0);
  return 1;
}

typedef struct collect {
  lua_State *L;
  lwc_owner_t *o;
  int n;
} collect_t;

static void collect_one(void *ud, wsk_uv_conn_t *c) {
  collect_t *k = ud;
  lwc_conn_push(k->o, k->L, c);
  lua_rawseti(k->L, -2, ++k->n);
}

/* connections() -> list of the open connections */
static int l_connections(lua_State *L) {
  lwc_server_t *sv = check(L);
  lua_newtable(L);
  if (!sv->s) return 1;
  collect_t k = {L, &sv->o, 0};
  wsk_uv_server_foreach(sv->s, collect_one, &k);
  return 1;
}

static int push_result(lua_State *L, int e, const wsk_uv_broadcast_result_t *r) {
  if (e < 0) return lwc_fail(L, e, NULL);
  lua_pushnumber(L, (lua_Number)r->sent);
  lua_pushnumber(L, (lua_Number)r->skipped);
  lua_pushnumber(L, (lua_Number)r->closed);
  return 3;
}

/* broadcast(data[, kind[, conns]]) -> sent, skipped, closed. Connections
 * over their write limit are skipped (counted), never queued further. */
static int l_broadcast(lua_State *L) {
  wsk_uv_server_t *s = live(L);
  size_t len;
  const char *data = luaL_checklstring(L, 2, &len);
  wsk_opcode_t op = lwc_opcode(L, 3);
  wsk_uv_broadcast_result_t r;
  memset(&r, 0, sizeof r);
  int e;
  if (lua_isnoneornil(L, 4)) {
    e = wsk_uv_server_broadcast(s, op, data, len, NULL, 0, NULL, NULL, &r);
  } else {
    luaL_checktype(L, 4, LUA_TTABLE);
    size_t n = lwc_rawlen(L, 4), k = 0;
    wsk_uv_conn_t **v = n ? malloc(n * sizeof *v) : NULL;
    if (n && !v) return lwc_fail(L, WSK_ENOMEM, NULL);
    for (size_t i = 1; i <= n; i++) {
      lua_rawgeti(L, 4, (int)i);
      lwc_conn_t *u = lwc_testudata(L, -1, LWC_CONN_MT);
      lua_pop(L, 1);
      if (!u) {
        free(v);
        return luaL_argerror(L, 4, "a list of connections");
      }
      if (u->c && wsk_uv_conn_server(u->c) == s)
        v[k++] = u->c;
      else
        r.closed++;
    }
    size_t gone = r.closed;
    e = k ? wsk_uv_server_broadcast(s, op, data, len, v, k, NULL, NULL, &r) : 0;
    r.closed += gone;
    free(v);
  }
  return push_result(L, e, &r);
}

/* publish(channel, data[, kind]) -> sent, skipped, closed */
static int l_publish(lua_State *L) {
  wsk_uv_server_t *s = live(L);
  size_t nlen, len;
  const char *name = luaL_checklstring(L, 2, &nlen);
  const char *data = luaL_checklstring(L, 3, &len);
  wsk_opcode_t op = lwc_opcode(L, 4);
  wsk_uv_broadcast_result_t r;
  memset(&r, 0, sizeof r);
  int e = wsk_uv_server_publish(s, name, nlen, op, data, len, NULL, NULL, &r);
  return push_result(L, e, &r);
}

static int l_channel_count(lua_State *L) {
  wsk_uv_server_t *s = live(L);
  size_t n;
  const char *name = luaL_checklstring(L, 2, &n);
  lua_pushnumber(L, (lua_Number)wsk_uv_server_channel_count(s, name, n));
  return 1;
}

static void finish(lwc_server_t *sv) {
  wsk_uv_server_t *s = sv->s;
  sv->s = NULL;
  wsk_uv_server_free(s); /* every connection gets on_close (some deferred) */
  lwc_owner_release_later(&sv->o);
}

static void shutdown_done(wsk_uv_server_t *s, size_t aborted) {
  lwc_server_t *sv = wsk_uv_server_data(s);
  if (!sv->s) return;
  lwc_owner_t *o = &sv->o;
  if (lwc_push_cb(o, LWC_ON_SHUTDOWN)) {
    lua_rawgeti(o->ctx->L, LUA_REGISTRYINDEX, o->self_ref);
    lua_pushnumber(o->ctx->L, (lua_Number)aborted);
    lwc_pcall(o->ctx, 2, NULL);
  }
  if (sv->s) finish(sv);
}

/* shutdown([code[, timeout_s]]): stop accepting, close every connection
 * with code (1001 by default), abort what is left after timeout; the
 * on_shutdown callback runs once (maybe inside this call), then the
 * server is closed. */
static int l_shutdown(lua_State *L) {
  lwc_server_t *sv = check(L);
  lua_Integer code = luaL_optinteger(L, 2, 1001);
  lua_Number t = luaL_optnumber(L, 3, 0);
  if (!sv->s) return lwc_fail(L, WSK_ESTATE, "the server is closed");
  uint32_t ms = t > 0 ? (uint32_t)(t * 1000.0 + 0.5) : 0;
  if (t > 0 && ms == 0) ms = 1;
  int e = wsk_uv_server_shutdown(sv->s, (unsigned)code, ms, shutdown_done);
  if (e < 0) return lwc_fail(L, e, e == WSK_ESTATE ? "already shutting down" : NULL);
  lua_pushboolean(L, 1);
  return 1;
}

/* close(): stop at once; every connection is aborted (on_close runs) */
static int l_close(lua_State *L) {
  lwc_server_t *sv = check(L);
  if (sv->s) finish(sv);
  return 0;
}

static int l_closed(lua_State *L) {
  lua_pushboolean(L, check(L)->s == NULL);
  return 1;
}

static int l_gc(lua_State *L) {
  lwc_server_t *sv = check(L);
  if (sv->s) { /* alive: only when the state closes */
    sv->o.ctx->closing = 1;
    wsk_uv_server_t *s = sv->s;
    sv->s = NULL;
    wsk_uv_server_free(s);
  }
  lwc_arena_free(&sv->o.arena);
  return 0;
}

void lwc_server_register(lua_State *L) {
  static const luaL_Reg methods[] = {{"listen", l_listen},
                                     {"listen_unix", l_listen_unix},
                                     {"port", l_port},
                                     {"count", l_count},
                                     {"connections", l_connections},
                                     {"broadcast", l_broadcast},
                                     {"publish", l_publish},
                                     {"channel_count", l_channel_count},
                                     {"shutdown", l_shutdown},
                                     {"close", l_close},
                                     {"closed", l_closed},
                                     {NULL, NULL}};
  lwc_newclass(L, LWC_SERVER_MT, methods, l_gc);
  lua_pushcfunction(L, l_server);
  lua_setfield(L, -2, "server");
}
