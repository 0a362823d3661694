/* One-shot timers for wskit.sleep and timeouts: core.timer(ms, fn); and
 * signal watchers for graceful shutdowns: core.signal(name, fn).
 * Each holds its userdata and fn in the registry until it fired (timer)
 * or is stopped; its libuv handle is freed in the close callback. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "core_lua.h"

typedef struct lwc_timer {
  uv_timer_t t;
  lwc_ctx_t *ctx;
  int fn_ref, self_ref;
  struct lwc_timer **back; /* the userdata's pointer, cleared when done */
} lwc_timer_t;

static void closed_cb(uv_handle_t *h) { free(h->data); }

/* Stop, drop the references, close the handle. */
static void finish(lwc_timer_t *t) {
  *t->back = NULL;
  uv_timer_stop(&t->t);
  if (!t->ctx->closing) {
    luaL_unref(t->ctx->L, LUA_REGISTRYINDEX, t->fn_ref);
    luaL_unref(t->ctx->L, LUA_REGISTRYINDEX, t->self_ref);
  }
  uv_close((uv_handle_t *)&t->t, closed_cb);
}

static void fire(uv_timer_t *h) {
  lwc_timer_t *t = h->data;
  lwc_ctx_t *ctx = t->ctx;
  if (ctx->closing) {
    finish(t);
    return;
  }
  lua_State *L = ctx->L;
  lua_checkstack(L, 4);
  lua_rawgeti(L, LUA_REGISTRYINDEX, t->fn_ref);
  finish(t); /* before the call: fn may start new timers or stop this one */
  lwc_pcall(ctx, 0, NULL);
}

/* timer(ms, fn) -> handle */
static int l_timer(lua_State *L) {
  lwc_ctx_t *ctx = lwc_ctx(L);
  lua_Number ms = luaL_checknumber(L, 1);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  if (ms < 0) ms = 0;
  lwc_timer_t **ud = lwc_newudata(L, sizeof *ud);
  *ud = NULL;
  luaL_getmetatable(L, LWC_TIMER_MT);
  lua_setmetatable(L, -2);
  lwc_timer_t *t = malloc(sizeof *t);
  if (!t) return lwc_fail(L, WSK_ENOMEM, NULL);
  if (uv_timer_init(ctx->loop, &t->t) != 0) {
    free(t);
    return lwc_fail(L, WSK_EIO, "uv_timer_init failed");
  }
  ctx->nobjects++;
  t->t.data = t;
  t->ctx = ctx;
  t->back = ud;
  *ud = t;
  lua_pushvalue(L, 2);
  t->fn_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_pushvalue(L, -1);
  t->self_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  /* libuv counts from the time cached at the start of the loop iteration;
   * Lua code may have run (or blocked) long since: count from now */
  uv_update_time(ctx->loop);
  uv_timer_start(&t->t, fire, (uint64_t)ms, 0);
  return 1;
}

/* handle:stop() -> true when it had not fired yet */
static int l_stop(lua_State *L) {
  lwc_timer_t **ud = luaL_checkudata(L, 1, LWC_TIMER_MT);
  int pending = *ud != NULL;
  if (*ud) finish(*ud);
  lua_pushboolean(L, pending);
  return 1;
}

static int l_active(lua_State *L) {
  lwc_timer_t **ud = luaL_checkudata(L, 1, LWC_TIMER_MT);
  lua_pushboolean(L, *ud != NULL);
  return 1;
}

/* Only reached with a pending timer when the state closes (it is
 * referenced from the registry until then). */
static int l_gc(lua_State *L) {
  lwc_timer_t **ud = luaL_checkudata(L, 1, LWC_TIMER_MT);
  if (*ud) {
    (*ud)->ctx->closing = 1;
    finish(*ud);
  }
  return 0;
}

/* ---- signals ---- */

#define LWC_SIGNAL_MT "wskit.core.signal"

typedef struct lwc_signal {
  uv_signal_t s;
  lwc_ctx_t *ctx;
  int fn_ref, self_ref;
  struct lwc_signal **back;
} lwc_signal_t;

static void sig_finish(lwc_signal_t *g) {
  *g->back = NULL;
  uv_signal_stop(&g->s);
  if (!g->ctx->closing) {
    luaL_unref(g->ctx->L, LUA_REGISTRYINDEX, g->fn_ref);
    luaL_unref(g->ctx->L, LUA_REGISTRYINDEX, g->self_ref);
  }
  uv_close((uv_handle_t *)&g->s, closed_cb);
}

static const struct { const char *name; int num; } signames[] = {
    {"SIGINT", SIGINT}, {"SIGTERM", SIGTERM}, {"SIGHUP", SIGHUP},
    {"SIGUSR1", SIGUSR1}, {"SIGUSR2", SIGUSR2}, {NULL, 0}};

static void sig_fire(uv_signal_t *h, int num) {
  lwc_signal_t *g = h->data;
  lwc_ctx_t *ctx = g->ctx;
  if (ctx->closing) return;
  lua_State *L = ctx->L;
  lua_checkstack(L, 4);
  lua_rawgeti(L, LUA_REGISTRYINDEX, g->fn_ref);
  const char *name = NULL;
  for (int i = 0; signames[i].name; i++)
    if (signames[i].num == num) name = signames[i].name;
  lua_pushstring(L, name ? name : "?");
  lwc_pcall(ctx, 1, NULL);
}

/* signal(name, fn) -> handle: fn(name) on each delivery until
 * handle:stop(). The watcher does not keep the loop running. */
static int l_signal(lua_State *L) {
  lwc_ctx_t *ctx = lwc_ctx(L);
  const char *name = luaL_checkstring(L, 1);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  int num = 0;
  for (int i = 0; signames[i].name; i++)
    if (!strcmp(signames[i].name, name)) num = signames[i].num;
  if (!num) return luaL_argerror(L, 1, "SIGINT, SIGTERM, SIGHUP, SIGUSR1 or SIGUSR2");
  lwc_signal_t **ud = lwc_newudata(L, sizeof *ud);
  *ud = NULL;
  luaL_getmetatable(L, LWC_SIGNAL_MT);
  lua_setmetatable(L, -2);
  lwc_signal_t *g = malloc(sizeof *g);
  if (!g) return lwc_fail(L, WSK_ENOMEM, NULL);
  if (uv_signal_init(ctx->loop, &g->s) != 0) {
    free(g);
    return lwc_fail(L, WSK_EIO, "uv_signal_init failed");
  }
  ctx->nobjects++;
  g->s.data = g;
  g->ctx = ctx;
  g->back = ud;
  *ud = g;
  lua_pushvalue(L, 2);
  g->fn_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_pushvalue(L, -1);
  g->self_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  uv_signal_start(&g->s, sig_fire, num);
  uv_unref((uv_handle_t *)&g->s);
  return 1;
}

static int l_sig_stop(lua_State *L) {
  lwc_signal_t **ud = luaL_checkudata(L, 1, LWC_SIGNAL_MT);
  int active = *ud != NULL;
  if (*ud) sig_finish(*ud);
  lua_pushboolean(L, active);
  return 1;
}

static int l_sig_gc(lua_State *L) {
  lwc_signal_t **ud = luaL_checkudata(L, 1, LWC_SIGNAL_MT);
  if (*ud) {
    (*ud)->ctx->closing = 1;
    sig_finish(*ud);
  }
  return 0;
}

void lwc_timer_register(lua_State *L) {
  static const luaL_Reg methods[] = {{"stop", l_stop}, {"active", l_active}, {NULL, NULL}};
  static const luaL_Reg sig_methods[] = {{"stop", l_sig_stop}, {NULL, NULL}};
  lwc_newclass(L, LWC_TIMER_MT, methods, l_gc);
  lwc_newclass(L, LWC_SIGNAL_MT, sig_methods, l_sig_gc);
  lua_pushcfunction(L, l_timer);
  lua_setfield(L, -2, "timer");
  lua_pushcfunction(L, l_signal);
  lua_setfield(L, -2, "signal");
}
