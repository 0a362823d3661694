/* luaopen_wskit_core: the per-state context (loop, callback thread, error
 * hook), running the loop, and calling Lua from driver callbacks. */
#define _GNU_SOURCE /* RTLD_NOLOAD */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core_lua.h"

#define CTX_KEY "wskit.core.ctx"

const char *const lwc_cb_names[LWC_NCB] = {
    "on_request", "on_http", "on_connecting", "on_open", "on_message", "on_ping",
    "on_pong",    "on_drain", "on_rpc",       "on_close", "on_shutdown",
    "on_authorize", "on_first_message_auth", "on_channel_message", "on_gap", "on_channel_reply",
    "on_log"};

static int running; /* uv_run is not reentrant: refuse nested run() calls */

lwc_ctx_t *lwc_ctx(lua_State *L) {
  lua_getfield(L, LUA_REGISTRYINDEX, CTX_KEY);
  lwc_ctx_t *ctx = lua_touserdata(L, -1);
  lua_pop(L, 1);
  if (!ctx) luaL_error(L, "wskit.core: not initialised");
  return ctx;
}

int lwc_fail(lua_State *L, int err, const char *detail) {
  lua_pushnil(L);
  lua_pushfstring(L, "%s: %s", wsk_err_name(err), detail && *detail ? detail : wsk_strerror(err));
  return 2;
}

void lwc_newclass(lua_State *L, const char *name, const luaL_Reg *methods, lua_CFunction gc) {
  luaL_newmetatable(L, name);
  lua_newtable(L);
  lwc_setfuncs(L, methods);
  lua_setfield(L, -2, "__index");
  if (gc) {
    lua_pushcfunction(L, gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_pop(L, 1);
}

void *lwc_testudata(lua_State *L, int idx, const char *mt) {
  void *p = lua_touserdata(L, idx);
  if (!p || !lua_getmetatable(L, idx)) return NULL;
  luaL_getmetatable(L, mt);
  int same = lua_rawequal(L, -1, -2);
  lua_pop(L, 2);
  return same ? p : NULL;
}

/* ---- calling Lua ---- */

/* Message handler: the error with a traceback (debug.traceback on 5.1). */
static int l_traceback(lua_State *L) {
  if (lua_type(L, 1) != LUA_TSTRING && lua_type(L, 1) != LUA_TNUMBER) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return 1;
    lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    lua_replace(L, 1);
  }
#if LUA_VERSION_NUM >= 502
  luaL_traceback(L, L, lua_tostring(L, 1), 1);
#else
  lua_getglobal(L, "debug");
  if (lua_istable(L, -1)) {
    lua_getfield(L, -1, "traceback");
    if (lua_isfunction(L, -1)) {
      lua_pushvalue(L, 1);
      lua_pushinteger(L, 2);
      lua_call(L, 2, 1);
      return 1;
    }
  }
  lua_settop(L, 1);
#endif
  return 1;
}

int lwc_msgh(lua_State *L, int nargs) {
  if (lua_tocfunction(L, 1) == l_traceback) return 1;
  int func = lua_gettop(L) - nargs;
  lua_pushcfunction(L, l_traceback);
  lua_insert(L, func);
  return func;
}

void lwc_report(lwc_ctx_t *ctx, lwc_conn_t *conn) {
  lua_State *L = ctx->L;
  if (ctx->on_error_ref != LUA_NOREF && ctx->on_error_ref != LUA_REFNIL) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, ctx->on_error_ref);
    lua_pushvalue(L, -2);
    if (conn && conn->self_ref != LUA_NOREF)
      lua_rawgeti(L, LUA_REGISTRYINDEX, conn->self_ref);
    else
      lua_pushnil(L);
    int h = lwc_msgh(L, 2);
    int r = lua_pcall(L, 2, 0, h);
    if (r != 0) fprintf(stderr, "wskit: error in on_error: %s\n", lua_tostring(L, -1));
    lua_pop(L, r != 0); /* its own error */
    if (h != 1) lua_remove(L, h);
    if (r == 0) {
      lua_pop(L, 1); /* the error reported */
      return;
    }
  }
  fprintf(stderr, "wskit: %s\n", lua_tostring(L, -1));
  lua_pop(L, 1);
}

int lwc_pcall(lwc_ctx_t *ctx, int nargs, lwc_conn_t *conn) {
  int h = lwc_msgh(ctx->L, nargs);
  int ok = lua_pcall(ctx->L, nargs, 0, h) == 0;
  if (!ok) lwc_report(ctx, conn);
  if (h != 1) lua_remove(ctx->L, h);
  return ok;
}

int lwc_push_cb(lwc_owner_t *o, int ev) {
  if (o->refs[ev] == LUA_NOREF || o->ctx->closing) return 0;
  lua_State *L = o->ctx->L;
  lua_checkstack(L, 10);
  lua_rawgeti(L, LUA_REGISTRYINDEX, o->refs[ev]);
  return 1;
}

void lwc_read_callbacks(lua_State *L, int idx, lwc_owner_t *o) {
  for (int i = 0; i < LWC_NCB; i++) o->refs[i] = LUA_NOREF;
  if (lua_isnoneornil(L, idx)) return;
  luaL_checktype(L, idx, LUA_TTABLE);
  for (int i = 0; i < LWC_NCB; i++) {
    lua_getfield(L, idx, lwc_cb_names[i]);
    if (lua_isnil(L, -1)) {
      lua_pop(L, 1);
      continue;
    }
    if (!lua_isfunction(L, -1)) {
      for (int j = 0; j < i; j++) luaL_unref(L, LUA_REGISTRYINDEX, o->refs[j]);
      luaL_error(L, "wskit.core: %s must be a function", lwc_cb_names[i]);
    }
    o->refs[i] = luaL_ref(L, LUA_REGISTRYINDEX);
  }
}

/* Drop the callbacks and the self reference: the object may now be collected. */
void lwc_owner_unref(lwc_owner_t *o) {
  if (o->ctx->closing) return; /* the registry is going away with the state */
  lua_State *L = o->ctx->L;
  for (int i = 0; i < LWC_NCB; i++) {
    luaL_unref(L, LUA_REGISTRYINDEX, o->refs[i]);
    o->refs[i] = LUA_NOREF;
  }
  luaL_unref(L, LUA_REGISTRYINDEX, o->self_ref);
  o->self_ref = LUA_NOREF;
}

/* ---- module functions ---- */

/* run([mode]): "default" (until nothing is left), "once", "nowait".
 * Returns true when there is still work. */
static int l_run(lua_State *L) {
  static const char *const modes[] = {"default", "once", "nowait", NULL};
  static const uv_run_mode m[] = {UV_RUN_DEFAULT, UV_RUN_ONCE, UV_RUN_NOWAIT};
  lwc_ctx_t *ctx = lwc_ctx(L);
  int mode = luaL_checkoption(L, 1, "default", modes);
  if (running) return luaL_error(L, "wskit.run: the loop is already running");
  running = 1;
  int alive = uv_run(ctx->loop, m[mode]);
  running = 0;
  lua_pushboolean(L, alive);
  return 1;
}

static int l_stop(lua_State *L) {
  uv_stop(lwc_ctx(L)->loop);
  return 0;
}

/* now(): the loop's clock in ms (cached at the start of the iteration) */
static int l_now(lua_State *L) {
  lua_pushnumber(L, (lua_Number)uv_now(lwc_ctx(L)->loop));
  return 1;
}

static int l_update_time(lua_State *L) {
  uv_update_time(lwc_ctx(L)->loop);
  return 0;
}

static int l_running(lua_State *L) {
  lua_pushboolean(L, running);
  return 1;
}

/* on_error(fn | nil): where errors in callbacks are reported */
static int l_on_error(lua_State *L) {
  lwc_ctx_t *ctx = lwc_ctx(L);
  if (!lua_isnoneornil(L, 1)) luaL_checktype(L, 1, LUA_TFUNCTION);
  luaL_unref(L, LUA_REGISTRYINDEX, ctx->on_error_ref);
  lua_settop(L, 1);
  ctx->on_error_ref = lua_isnil(L, 1) ? LUA_NOREF : luaL_ref(L, LUA_REGISTRYINDEX);
  return 0;
}

typedef uv_loop_t *(*luv_loop_fn)(lua_State *L);

/* use_luv(path): run on the loop of the luv module already loaded from
 * `path` (its luv_loop() through dlopen(RTLD_NOLOAD), else the loop
 * pointer at the start of luv's registry context). Only before the first
 * server, client or timer. */
static int l_use_luv(lua_State *L) {
  lwc_ctx_t *ctx = lwc_ctx(L);
  const char *path = luaL_optstring(L, 1, NULL);
  uv_loop_t *loop = NULL;
  if (ctx->nobjects) return luaL_error(L, "wskit.use_luv: objects already use another loop");
  if (path) {
    void *h = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
    if (h) {
      luv_loop_fn f;
      *(void **)&f = dlsym(h, "luv_loop");
      if (f) loop = f(L);
      dlclose(h);
    }
  }
  if (!loop) {
    lua_getfield(L, LUA_REGISTRYINDEX, "luv_context");
    void **p = lua_touserdata(L, -1);
    if (p) loop = p[0];
    lua_pop(L, 1);
  }
  if (!loop) return lwc_fail(L, WSK_ENOTFOUND, "luv's loop not found (is luv loaded?)");
  ctx->loop = loop;
  ctx->owns_loop = 0;
  lua_pushboolean(L, 1);
  return 1;
}

static int l_strerror(lua_State *L) {
  int e = (int)luaL_checkinteger(L, 1);
  lua_pushstring(L, wsk_strerror(e));
  lua_pushstring(L, wsk_err_name(e));
  return 2;
}

static int l_close_code_valid(lua_State *L) {
  lua_pushboolean(L, wsk_close_code_valid((unsigned)luaL_checkinteger(L, 1)));
  return 1;
}

/* When the Lua state closes: objects still alive were freed by their own
 * __gc (without calling Lua); let libuv run their close callbacks. */
static int ctx_gc(lua_State *L) {
  lwc_ctx_t *ctx = lua_touserdata(L, 1);
  ctx->closing = 1;
  if (ctx->owns_loop && !running && ctx->nobjects) {
    uv_run(ctx->loop, UV_RUN_NOWAIT);
    uv_run(ctx->loop, UV_RUN_NOWAIT);
  }
  return 0;
}

static lwc_ctx_t *ctx_new(lua_State *L) {
  lwc_ctx_t *ctx = lua_newuserdata(L, sizeof *ctx);
  memset(ctx, 0, sizeof *ctx);
  ctx->on_error_ref = LUA_NOREF;
  ctx->loop = uv_default_loop();
  ctx->owns_loop = 1;
  lua_newtable(L);
  lua_pushcfunction(L, ctx_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  lua_setfield(L, LUA_REGISTRYINDEX, CTX_KEY);
  /* the callback thread, with the message handler at index 1 */
  ctx->L = lua_newthread(L);
  ctx->thread_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_pushcfunction(ctx->L, l_traceback);
  return ctx;
}

int luaopen_wskit_core(lua_State *L);
int luaopen_wskit_core(lua_State *L) {
  static const luaL_Reg funcs[] = {{"run", l_run},
                                   {"stop", l_stop},
                                   {"now", l_now},
                                   {"update_time", l_update_time},
                                   {"running", l_running},
                                   {"on_error", l_on_error},
                                   {"use_luv", l_use_luv},
                                   {"strerror", l_strerror},
                                   {"close_code_valid", l_close_code_valid},
                                   {"json_encode", lwc_json_encode},
                                   {"json_decode", lwc_json_decode},
                                   {NULL, NULL}};
  lua_getfield(L, LUA_REGISTRYINDEX, CTX_KEY);
  int have = lua_touserdata(L, -1) != NULL;
  lua_pop(L, 1);
  if (!have) ctx_new(L);
  lua_newtable(L);
  lwc_setfuncs(L, funcs);
  lua_pushliteral(L, WSK_VERSION_STRING);
  lua_setfield(L, -2, "version");
  lua_pushlightuserdata(L, NULL); /* JSON null, the same value as cjson.null */
  lua_setfield(L, -2, "null");
  lwc_timer_register(L);
  lwc_conn_register(L);
  lwc_server_register(L);
  lwc_client_register(L);
  lwc_chan_register(L);
  return 1;
}
