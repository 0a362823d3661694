/* luaopen_wskit_proto: the module table, plus the helpers that are not
 * objects: URL parsing, error texts, the retry classification of the
 * reconnect policy, and the Host allowlist check. */
#include <string.h>

#include "proto_lua.h"

int lwsk_fail(lua_State *L, int err) {
  lua_pushnil(L);
  lua_pushstring(L, wsk_strerror(err));
  lua_pushstring(L, wsk_err_name(err));
  return 3;
}

void lwsk_newclass(lua_State *L, const char *name, const luaL_Reg *methods) {
  luaL_newmetatable(L, name);
  lua_pushvalue(L, -1);
  lua_setfield(L, -2, "__index");
  lwsk_setfuncs(L, methods);
  lua_pop(L, 1);
}

/* proto.url(s) -> { secure, host, ipv6, port, resource, userinfo } */
static int l_url(lua_State *L) {
  wsk_url_t u;
  int r = wsk_url_parse(luaL_checkstring(L, 1), &u);
  if (r < 0) return lwsk_fail(L, r);
  lua_createtable(L, 0, 6);
  lua_pushboolean(L, u.secure);
  lua_setfield(L, -2, "secure");
  lua_pushstring(L, u.host);
  lua_setfield(L, -2, "host");
  lua_pushboolean(L, u.ipv6);
  lua_setfield(L, -2, "ipv6");
  lua_pushinteger(L, (lua_Integer)u.port);
  lua_setfield(L, -2, "port");
  lua_pushstring(L, u.resource);
  lua_setfield(L, -2, "resource");
  lua_pushstring(L, u.userinfo);
  lua_setfield(L, -2, "userinfo");
  return 1;
}

/* proto.retryable(kind, detail) -> boolean, kind one of the names below */
static int l_retryable(lua_State *L) {
  static const char *const kinds[] = {"refused", "timeout", "dns", "tls_verify", "tls",
                                      "http_status", "handshake", "closed", "io", NULL};
  wsk_failure_t f;
  f.kind = (wsk_fail_kind_t)(luaL_checkoption(L, 1, NULL, kinds) + 1);
  f.detail = (int)luaL_optinteger(L, 2, 0);
  lua_pushboolean(L, wsk_failure_retryable(&f));
  return 1;
}

static int l_strerror(lua_State *L) {
  int e = (int)luaL_checkinteger(L, 1);
  lua_pushstring(L, wsk_strerror(e));
  lua_pushstring(L, wsk_err_name(e));
  return 2;
}

/* 1 when a close code may be sent (RFC 6455 7.4) */
static int l_close_code_valid(lua_State *L) {
  lua_pushboolean(L, wsk_close_code_valid((unsigned)luaL_checkinteger(L, 1)));
  return 1;
}

/* proto.host_allowed(hosts, host) -> boolean: the core's Host allowlist
 * (hosts: list of entries, nil/empty = any; host: the Host value or nil),
 * for requests that do not go through the WebSocket handshake (SSE). */
static int l_host_allowed(lua_State *L) {
  enum { MAX_HOSTS = 256 };
  const char *list[MAX_HOSTS];
  wsk_server_hs_opts_t o;
  memset(&o, 0, sizeof o);
  if (!lua_isnoneornil(L, 1)) {
    luaL_checktype(L, 1, LUA_TTABLE);
    size_t n = lwsk_rawlen(L, 1);
    if (n > MAX_HOSTS) return luaL_argerror(L, 1, "more than 256 hosts");
    for (size_t i = 0; i < n; i++) {
      lua_rawgeti(L, 1, (int)i + 1);
      if (lua_type(L, -1) != LUA_TSTRING) return luaL_argerror(L, 1, "hosts must be strings");
      list[i] = lua_tostring(L, -1); /* a string of the table: stays alive */
      lua_pop(L, 1);
    }
    o.hosts = list;
    o.nhosts = n;
  }
  size_t hl = 0;
  const char *host = luaL_optlstring(L, 2, NULL, &hl);
  lua_pushboolean(L, wsk_server_host_allowed(&o, host, hl));
  return 1;
}

int luaopen_wskit_proto(lua_State *L);
int luaopen_wskit_proto(lua_State *L) {
  static const luaL_Reg funcs[] = {{"url", l_url},
                                   {"retryable", l_retryable},
                                   {"strerror", l_strerror},
                                   {"close_code_valid", l_close_code_valid},
                                   {"host_allowed", l_host_allowed},
                                   {NULL, NULL}};
  lua_newtable(L);
  lwsk_setfuncs(L, funcs);
  lua_pushliteral(L, WSK_VERSION_STRING);
  lua_setfield(L, -2, "version");
  lwsk_conn_register(L);
  lwsk_backoff_register(L);
  lwsk_rpc_register(L);
  lwsk_hub_register(L);
  lwsk_chan_register(L);
  return 1;
}
