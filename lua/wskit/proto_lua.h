/* wskit.proto: the sans-I/O core (csrc/proto) as a Lua C module, for
 * Lua 5.1, LuaJIT 2.1 (OpenResty) and Lua 5.4. No I/O here: a driver in
 * Lua (resty.wskit.*) moves the bytes and fires the timers.
 *
 * Shared declarations of the module's files:
 *   proto_module.c   luaopen_wskit_proto, URLs, errors, retry classification
 *   proto_opts.c     Lua option tables -> wsk_conn_opts_t (strings copied)
 *   proto_conn.c     the connection object (feed / event / tick / take ...)
 *   proto_backoff.c  the reconnect backoff object
 *   proto_rpc.c      the request/response correlation table
 *   proto_hub.c      the channel hub (subscribers, history, resume)
 *   proto_chan.c     channel protocol, Redis envelope and keys, SSE format
 *
 * Errors: bad arguments raise; runtime failures return nil, text, ENAME. */
#ifndef WSKIT_PROTO_LUA_H
#define WSKIT_PROTO_LUA_H

#include <lua.h>
#include <lauxlib.h>

#include "wskit/proto.h"

#if LUA_VERSION_NUM >= 502
#define lwsk_setfuncs(L, l) luaL_setfuncs(L, l, 0)
#define lwsk_rawlen(L, i) lua_rawlen(L, i)
#else
#define lwsk_setfuncs(L, l) luaL_register(L, NULL, l)
#define lwsk_rawlen(L, i) lua_objlen(L, i)
#endif

#define LWSK_CONN_MT "wskit.proto.conn"
#define LWSK_BACKOFF_MT "wskit.proto.backoff"
#define LWSK_RPC_MT "wskit.proto.rpc"
#define LWSK_HUB_MT "wskit.proto.hub"

/* Push nil, wsk_strerror(err), wsk_err_name(err); returns 3. */
int lwsk_fail(lua_State *L, int err);

/* Create a metatable `name` with __index = itself and the methods. */
void lwsk_newclass(lua_State *L, const char *name, const luaL_Reg *methods);

/* Option readers for a table at `idx`: missing or nil fields give `dflt`. */
lua_Number lwsk_optnum(lua_State *L, int idx, const char *field, lua_Number dflt);
int lwsk_optbool(lua_State *L, int idx, const char *field, int dflt);

/* ---- proto_opts.c ---- */

/* Strings and arrays the handshake options point to, owned by one
 * connection and freed with it (the core needs them while CONNECTING). */
typedef struct lwsk_arena {
  void **blocks;
  size_t n, cap;
} lwsk_arena_t;

void *lwsk_arena_alloc(lwsk_arena_t *a, size_t n);
void lwsk_arena_free(lwsk_arena_t *a);

/* Fill *o from the table at `idx` (see docs/openresty.md, "options").
 * Raises on a bad option. */
void lwsk_conn_opts_read(lua_State *L, int idx, wsk_conn_opts_t *o, lwsk_arena_t *a);
/* Read a headers option (a map name -> value, or a list of "Name: value")
 * at `idx` into *out / *n; nil gives none. Raises when malformed. */
void lwsk_headers_read(lua_State *L, int idx, lwsk_arena_t *a, wsk_http_header_t **out,
                       size_t *n);

/* ---- registration of each file's part of the module table (at -1) ---- */
void lwsk_conn_register(lua_State *L);
void lwsk_backoff_register(lua_State *L);
void lwsk_rpc_register(lua_State *L);
void lwsk_hub_register(lua_State *L);
void lwsk_chan_register(lua_State *L);

/* Push a count or sequence number: an integer where Lua has them (5.3+),
 * so 5.4 code sees 1 rather than 1.0. */
#if LUA_VERSION_NUM >= 503
#define lwsk_pushu64(L, v) lua_pushinteger(L, (lua_Integer)(v))
#else
#define lwsk_pushu64(L, v) lua_pushnumber(L, (lua_Number)(v))
#endif

/* ---- proto_chan.c: payload kinds as "t" / "b" / "j" (long names accepted) ---- */
wsk_payload_kind_t lwsk_checkkind(lua_State *L, int idx);
void lwsk_pushkind(lua_State *L, wsk_payload_kind_t k);

#endif
