/* The request/response correlation table of wskit.proto (the core's
 * rpc.h): which reply answers which of our requests, and when a request
 * has waited too long. The Lua driver keeps its waiters by id; this table
 * decides which ids are pending, resolved, expired or cancelled.
 *
 *   t = proto.rpc()
 *   id = t:next_id(); t:add(id, deadline_ms or -1)
 *   t:resolve(id)        -- true once for a pending id, false otherwise
 *   ids = t:expire(now)  -- ids that timed out, earliest first
 *   ids = t:cancel_all() -- every pending id (e.g. on disconnect)
 *   t:next_deadline()    -- -1 when none;  t:count() */
#include "proto_lua.h"

typedef struct { wsk_rpc_table_t *t; } lwsk_rpc_t;

static wsk_rpc_table_t *check(lua_State *L) {
  lwsk_rpc_t *u = luaL_checkudata(L, 1, LWSK_RPC_MT);
  if (!u->t) luaL_error(L, "wskit.proto: rpc table freed");
  return u->t;
}

static int l_rpc(lua_State *L) {
  lwsk_rpc_t *u = lua_newuserdata(L, sizeof *u);
  u->t = NULL;
  luaL_getmetatable(L, LWSK_RPC_MT);
  lua_setmetatable(L, -2);
  u->t = wsk_rpc_new();
  if (!u->t) return lwsk_fail(L, WSK_ENOMEM);
  return 1;
}

static int l_gc(lua_State *L) {
  lwsk_rpc_t *u = luaL_checkudata(L, 1, LWSK_RPC_MT);
  if (u->t) wsk_rpc_free(u->t);
  u->t = NULL;
  return 0;
}

static int l_next_id(lua_State *L) {
  lua_pushnumber(L, (lua_Number)wsk_rpc_next_id(check(L)));
  return 1;
}

static uint64_t check_id(lua_State *L, int idx) {
  lua_Number n = luaL_checknumber(L, idx);
  if (n < 0 || n > 9007199254740992.0 || n != (lua_Number)(uint64_t)n)
    luaL_argerror(L, idx, "id must be a whole number in [0, 2^53]");
  return (uint64_t)n;
}

static int l_add(lua_State *L) {
  wsk_rpc_table_t *t = check(L);
  uint64_t id = check_id(L, 2);
  int r = wsk_rpc_add(t, id, (int64_t)luaL_optnumber(L, 3, -1), NULL);
  if (r < 0) return lwsk_fail(L, r);
  lua_pushboolean(L, 1);
  return 1;
}

static int l_resolve(lua_State *L) {
  wsk_rpc_table_t *t = check(L);
  lua_pushboolean(L, wsk_rpc_resolve(t, check_id(L, 2), NULL) == 0);
  return 1;
}

/* Collects ended ids into the table on top of the stack. */
static void collect(void *ctx, uint64_t id, void *ud, int reason) {
  lua_State *L = ctx;
  (void)ud;
  (void)reason;
  lua_pushnumber(L, (lua_Number)id);
  lua_rawseti(L, -2, (int)lwsk_rawlen(L, -2) + 1);
}

static int l_expire(lua_State *L) {
  wsk_rpc_table_t *t = check(L);
  int64_t now = (int64_t)luaL_checknumber(L, 2);
  lua_newtable(L);
  wsk_rpc_expire(t, now, collect, L);
  return 1;
}

static int l_cancel_all(lua_State *L) {
  wsk_rpc_table_t *t = check(L);
  lua_newtable(L);
  wsk_rpc_cancel_all(t, collect, L);
  return 1;
}

static int l_next_deadline(lua_State *L) {
  lua_pushnumber(L, (lua_Number)wsk_rpc_next_deadline(check(L)));
  return 1;
}

static int l_count(lua_State *L) {
  lua_pushnumber(L, (lua_Number)wsk_rpc_count(check(L)));
  return 1;
}

void lwsk_rpc_register(lua_State *L) {
  static const luaL_Reg methods[] = {
      {"next_id", l_next_id}, {"add", l_add},
      {"resolve", l_resolve}, {"expire", l_expire},
      {"cancel_all", l_cancel_all}, {"next_deadline", l_next_deadline},
      {"count", l_count},     {"__gc", l_gc},
      {NULL, NULL}};
  lwsk_newclass(L, LWSK_RPC_MT, methods);
  lua_pushcfunction(L, l_rpc);
  lua_setfield(L, -2, "rpc");
}
