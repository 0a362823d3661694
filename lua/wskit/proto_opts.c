/* Lua option tables -> wsk_conn_opts_t. Every string and array the core
 * keeps a pointer to is copied into the connection's arena, so the Lua
 * table may change or be collected right after wskit.proto.new(). */
#include <stdlib.h>
#include <string.h>

#include "proto_lua.h"

void *lwsk_arena_alloc(lwsk_arena_t *a, size_t n) {
  if (a->n == a->cap) {
    size_t cap = a->cap ? a->cap * 2 : 8;
    void **b = realloc(a->blocks, cap * sizeof *b);
    if (!b) return NULL;
    a->blocks = b;
    a->cap = cap;
  }
  void *p = calloc(1, n ? n : 1);
  if (p) a->blocks[a->n++] = p;
  return p;
}

void lwsk_arena_free(lwsk_arena_t *a) {
  for (size_t i = 0; i < a->n; i++) free(a->blocks[i]);
  free(a->blocks);
  memset(a, 0, sizeof *a);
}

static const char *arena_strdup(lua_State *L, lwsk_arena_t *a, int idx, size_t *len_out) {
  size_t len;
  const char *s = lua_tolstring(L, idx, &len);
  if (memchr(s, '\0', len)) luaL_error(L, "wskit.proto: option strings may not contain NUL");
  char *p = lwsk_arena_alloc(a, len + 1);
  if (!p) luaL_error(L, "wskit.proto: out of memory");
  memcpy(p, s, len);
  if (len_out) *len_out = len;
  return p;
}

/* t[field] as a copied string, or NULL when absent. */
static const char *optstr(lua_State *L, int idx, const char *field, lwsk_arena_t *a) {
  const char *s = NULL;
  lua_getfield(L, idx, field);
  if (!lua_isnil(L, -1)) {
    if (lua_type(L, -1) != LUA_TSTRING) luaL_error(L, "wskit.proto: option %s must be a string", field);
    s = arena_strdup(L, a, -1, NULL);
  }
  lua_pop(L, 1);
  return s;
}

/* t[field] as a list of strings (a single string counts as a list of one). */
static void optlist(lua_State *L, int idx, const char *field, lwsk_arena_t *a,
                    const char *const **out, size_t *n) {
  *out = NULL;
  *n = 0;
  lua_getfield(L, idx, field);
  int t = lua_type(L, -1);
  if (t == LUA_TSTRING) {
    const char **arr = lwsk_arena_alloc(a, sizeof *arr);
    if (!arr) luaL_error(L, "wskit.proto: out of memory");
    arr[0] = arena_strdup(L, a, -1, NULL);
    *out = arr;
    *n = 1;
  } else if (t == LUA_TTABLE) {
    size_t len = lwsk_rawlen(L, -1);
    const char **arr = lwsk_arena_alloc(a, (len ? len : 1) * sizeof *arr);
    if (!arr) luaL_error(L, "wskit.proto: out of memory");
    for (size_t i = 0; i < len; i++) {
      lua_rawgeti(L, -1, (int)i + 1);
      if (lua_type(L, -1) != LUA_TSTRING)
        luaL_error(L, "wskit.proto: option %s must list strings", field);
      arr[i] = arena_strdup(L, a, -1, NULL);
      lua_pop(L, 1);
    }
    *out = arr;
    *n = len;
  } else if (t != LUA_TNIL) {
    luaL_error(L, "wskit.proto: option %s must be a string or a list", field);
  }
  lua_pop(L, 1);
}

lua_Number lwsk_optnum(lua_State *L, int idx, const char *field, lua_Number dflt) {
  lua_Number v = dflt;
  lua_getfield(L, idx, field);
  int t = lua_type(L, -1);
  if (t == LUA_TNUMBER) v = lua_tonumber(L, -1);
  else if (t == LUA_TBOOLEAN && !lua_toboolean(L, -1)) v = 0; /* false disables */
  else if (t != LUA_TNIL) luaL_error(L, "wskit.proto: option %s must be a number", field);
  lua_pop(L, 1);
  if (v < 0) luaL_error(L, "wskit.proto: option %s must not be negative", field);
  return v;
}

int lwsk_optbool(lua_State *L, int idx, const char *field, int dflt) {
  int v = dflt;
  lua_getfield(L, idx, field);
  if (!lua_isnil(L, -1)) v = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return v;
}

void lwsk_headers_read(lua_State *L, int idx, lwsk_arena_t *a, wsk_http_header_t **out,
                       size_t *n) {
  *out = NULL;
  *n = 0;
  if (lua_isnoneornil(L, idx)) return;
  if (lua_type(L, idx) != LUA_TTABLE) luaL_error(L, "wskit.proto: headers must be a table");
  if (idx < 0) idx = lua_gettop(L) + idx + 1;
  size_t count = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) { count++; lua_pop(L, 1); }
  if (!count) return;
  wsk_http_header_t *h = lwsk_arena_alloc(a, count * sizeof *h);
  if (!h) luaL_error(L, "wskit.proto: out of memory");
  size_t i = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    if (lua_type(L, -2) == LUA_TNUMBER) {
      /* "Name: value", as lua-resty-websocket's client takes them */
      size_t len;
      if (lua_type(L, -1) != LUA_TSTRING) luaL_error(L, "wskit.proto: bad header entry");
      const char *line = arena_strdup(L, a, -1, &len);
      char *colon = strchr(line, ':');
      if (!colon) luaL_error(L, "wskit.proto: header \"%s\" has no colon", line);
      *colon = '\0';
      const char *v = colon + 1;
      while (*v == ' ' || *v == '\t') v++;
      h[i].name = line;
      h[i].value = v;
    } else {
      lua_pushvalue(L, -2);
      if (lua_type(L, -1) != LUA_TSTRING || lua_type(L, -2) != LUA_TSTRING)
        luaL_error(L, "wskit.proto: headers map names to string values");
      h[i].name = arena_strdup(L, a, -1, NULL);
      h[i].value = arena_strdup(L, a, -2, NULL);
      lua_pop(L, 1);
    }
    h[i].name_len = strlen(h[i].name);
    h[i].value_len = strlen(h[i].value);
    i++;
    lua_pop(L, 1);
  }
  *out = h;
  *n = i;
}

static int window_bits(lua_State *L, int idx, const char *field) {
  lua_Number v = lwsk_optnum(L, idx, field, 0);
  if (v != 0 && (v < 8 || v > 15)) luaL_error(L, "wskit.proto: %s must be 8..15", field);
  return (int)v;
}

/* compression = true | false | { ...wsk_deflate_opts_t fields... } */
static void deflate_read(lua_State *L, int idx, wsk_deflate_opts_t *d) {
  lua_getfield(L, idx, "compression");
  int t = lua_type(L, -1);
  if (t == LUA_TBOOLEAN) {
    d->enabled = lua_toboolean(L, -1);
  } else if (t == LUA_TTABLE) {
    int z = lua_gettop(L);
    d->enabled = lwsk_optbool(L, z, "enabled", 1);
    d->server_no_context_takeover = lwsk_optbool(L, z, "server_no_context_takeover", 0);
    d->client_no_context_takeover = lwsk_optbool(L, z, "client_no_context_takeover", 0);
    d->server_max_window_bits = window_bits(L, z, "server_max_window_bits");
    d->client_max_window_bits = window_bits(L, z, "client_max_window_bits");
    d->level = (int)lwsk_optnum(L, z, "level", d->level);
    d->mem_level = (int)lwsk_optnum(L, z, "mem_level", d->mem_level);
    d->threshold = (size_t)lwsk_optnum(L, z, "threshold", (lua_Number)d->threshold);
  } else if (t != LUA_TNIL) {
    luaL_error(L, "wskit.proto: compression must be a boolean or a table");
  }
  lua_pop(L, 1);
}

void lwsk_conn_opts_read(lua_State *L, int idx, wsk_conn_opts_t *o, lwsk_arena_t *a) {
  luaL_checktype(L, idx, LUA_TTABLE);
  if (idx < 0) idx = lua_gettop(L) + idx + 1;
  lua_getfield(L, idx, "role");
  const char *role = lua_tostring(L, -1);
  wsk_role_t r;
  if (role && !strcmp(role, "server")) r = WSK_ROLE_SERVER;
  else if (role && !strcmp(role, "client")) r = WSK_ROLE_CLIENT;
  else return (void)luaL_error(L, "wskit.proto: role must be \"client\" or \"server\"");
  lua_pop(L, 1);

  wsk_conn_opts_init(o, r);
  o->max_message_size = (size_t)lwsk_optnum(L, idx, "max_message_size", (lua_Number)o->max_message_size);
  o->max_frame_size = (size_t)lwsk_optnum(L, idx, "max_frame_size", (lua_Number)o->max_frame_size);
  o->max_fragments = (size_t)lwsk_optnum(L, idx, "max_fragments", (lua_Number)o->max_fragments);
  o->write_limit = (size_t)lwsk_optnum(L, idx, "write_limit", (lua_Number)o->write_limit);
  o->http.max_line = (size_t)lwsk_optnum(L, idx, "max_line", (lua_Number)o->http.max_line);
  o->http.max_head = (size_t)lwsk_optnum(L, idx, "max_head", (lua_Number)o->http.max_head);
  o->http.max_headers = (size_t)lwsk_optnum(L, idx, "max_headers", (lua_Number)o->http.max_headers);
  o->open_timeout_ms = (uint32_t)lwsk_optnum(L, idx, "open_timeout", o->open_timeout_ms);
  o->ping_interval_ms = (uint32_t)lwsk_optnum(L, idx, "ping_interval", o->ping_interval_ms);
  o->ping_timeout_ms = (uint32_t)lwsk_optnum(L, idx, "ping_timeout", o->ping_timeout_ms);
  o->close_timeout_ms = (uint32_t)lwsk_optnum(L, idx, "close_timeout", o->close_timeout_ms);
  o->auth_timeout_ms = (uint32_t)lwsk_optnum(L, idx, "auth_timeout", o->auth_timeout_ms);
  o->rate = lwsk_optnum(L, idx, "message_rate", o->rate);
  o->rate_burst = lwsk_optnum(L, idx, "message_burst", o->rate_burst);
  lua_getfield(L, idx, "rate_policy");
  if (!lua_isnil(L, -1)) {
    static const char *const policies[] = {"error", "drop", "close", NULL};
    o->rate_policy = luaL_checkoption(L, -1, NULL, policies); /* WSK_RATE_* order */
  }
  lua_pop(L, 1);
  o->auto_pong = lwsk_optbool(L, idx, "auto_pong", o->auto_pong);
  o->stream_fragments = lwsk_optbool(L, idx, "stream_fragments", o->stream_fragments);
  o->validate_utf8_out = lwsk_optbool(L, idx, "validate_utf8_out", o->validate_utf8_out);

  if (r == WSK_ROLE_CLIENT) {
    wsk_client_hs_opts_t *c = &o->client;
    c->host = optstr(L, idx, "host", a);
    if (!c->host) luaL_error(L, "wskit.proto: a client needs host");
    c->port = (unsigned)lwsk_optnum(L, idx, "port", 0);
    c->secure = lwsk_optbool(L, idx, "secure", 0);
    c->resource = optstr(L, idx, "resource", a);
    c->origin = optstr(L, idx, "origin", a);
    c->user_agent = optstr(L, idx, "user_agent", a);
    c->authorization = optstr(L, idx, "authorization", a);
    optlist(L, idx, "protocols", a, &c->subprotocols, &c->nsubprotocols);
    lua_getfield(L, idx, "headers");
    wsk_http_header_t *h;
    lwsk_headers_read(L, -1, a, &h, &c->nheaders);
    c->headers = h;
    lua_pop(L, 1);
    deflate_read(L, idx, &c->deflate);
  } else {
    wsk_server_hs_opts_t *s = &o->server;
    optlist(L, idx, "protocols", a, &s->subprotocols, &s->nsubprotocols);
    optlist(L, idx, "origins", a, &s->origins, &s->norigins);
    optlist(L, idx, "hosts", a, &s->hosts, &s->nhosts);
    deflate_read(L, idx, &s->deflate);
  }
}
