/* The reconnect backoff of wskit.proto: the core's wsk_backoff_t behind a
 * userdata, so every driver waits the same way between attempts.
 *
 *   b = proto.backoff{ initial_delay=, min_delay=, factor=, max_delay=,
 *                      jitter=, max_attempts=, reset_after= }  -- ms
 *   delay = b:next()        -- ms before the next attempt, nil: give up
 *   b:opened(now) / b:closed(now) / b:reset() / b:attempts() */
#include <string.h>

#include "proto_lua.h"

static wsk_backoff_t *check(lua_State *L) {
  return luaL_checkudata(L, 1, LWSK_BACKOFF_MT);
}

static int l_backoff(lua_State *L) {
  wsk_backoff_opts_t o;
  wsk_backoff_opts_init(&o);
  if (!lua_isnoneornil(L, 1)) {
    luaL_checktype(L, 1, LUA_TTABLE);
    o.initial_delay_ms = (uint32_t)lwsk_optnum(L, 1, "initial_delay", o.initial_delay_ms);
    o.min_delay_ms = (uint32_t)lwsk_optnum(L, 1, "min_delay", o.min_delay_ms);
    o.factor = lwsk_optnum(L, 1, "factor", o.factor);
    o.max_delay_ms = (uint32_t)lwsk_optnum(L, 1, "max_delay", o.max_delay_ms);
    o.jitter = lwsk_optnum(L, 1, "jitter", o.jitter);
    o.max_attempts = (uint32_t)lwsk_optnum(L, 1, "max_attempts", o.max_attempts);
    o.reset_after_ms = (uint32_t)lwsk_optnum(L, 1, "reset_after", o.reset_after_ms);
  }
  wsk_backoff_t *b = lua_newuserdata(L, sizeof *b);
  wsk_backoff_init(b, &o);
  luaL_getmetatable(L, LWSK_BACKOFF_MT);
  lua_setmetatable(L, -2);
  return 1;
}

static int l_next(lua_State *L) {
  int64_t d = wsk_backoff_next(check(L));
  if (d < 0) return 0;
  lua_pushnumber(L, (lua_Number)d);
  return 1;
}

static int l_opened(lua_State *L) {
  wsk_backoff_opened(check(L), (int64_t)luaL_checknumber(L, 2));
  return 0;
}

static int l_closed(lua_State *L) {
  wsk_backoff_closed(check(L), (int64_t)luaL_checknumber(L, 2));
  return 0;
}

static int l_reset(lua_State *L) {
  wsk_backoff_reset(check(L));
  return 0;
}

static int l_attempts(lua_State *L) {
  lua_pushnumber(L, check(L)->attempts);
  return 1;
}

void lwsk_backoff_register(lua_State *L) {
  static const luaL_Reg methods[] = {{"next", l_next},   {"opened", l_opened},
                                     {"closed", l_closed}, {"reset", l_reset},
                                     {"attempts", l_attempts}, {NULL, NULL}};
  lwsk_newclass(L, LWSK_BACKOFF_MT, methods);
  lua_pushcfunction(L, l_backoff);
  lua_setfield(L, -2, "backoff");
}
