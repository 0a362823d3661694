/* Lua option tables -> the driver's option structs. Names and units are
 * the Lua API's (docs/lua.md): times in seconds, sizes in bytes, false
 * turns a limit or timer off. Every string the structs point to is copied
 * into the object's arena, so the table may change right after. */
#include <stdlib.h>
#include <string.h>

#include "core_lua.h"

void *lwc_arena_alloc(lua_State *L, lwc_arena_t *a, size_t n) {
  if (a->n == a->cap) {
    size_t cap = a->cap ? a->cap * 2 : 8;
    void **b = realloc(a->blocks, cap * sizeof *b);
    if (!b) luaL_error(L, "wskit: out of memory");
    a->blocks = b;
    a->cap = cap;
  }
  void *p = calloc(1, n ? n : 1);
  if (!p) luaL_error(L, "wskit: out of memory");
  a->blocks[a->n++] = p;
  return p;
}

void lwc_arena_free(lwc_arena_t *a) {
  for (size_t i = 0; i < a->n; i++) free(a->blocks[i]);
  free(a->blocks);
  memset(a, 0, sizeof *a);
}

const char *lwc_arena_str(lua_State *L, lwc_arena_t *a, int idx) {
  size_t len;
  const char *s = lua_tolstring(L, idx, &len);
  if (memchr(s, '\0', len)) luaL_error(L, "wskit: option strings may not contain NUL");
  char *p = lwc_arena_alloc(L, a, len + 1);
  memcpy(p, s, len);
  return p;
}

/* t.field as a copied string; NULL when nil (or false when allow_false: *was_false). */
static const char *optstr(lua_State *L, int idx, const char *field, lwc_arena_t *a,
                          int *was_false) {
  const char *s = NULL;
  lua_getfield(L, idx, field);
  if (was_false) *was_false = lua_type(L, -1) == LUA_TBOOLEAN && !lua_toboolean(L, -1);
  if (lua_type(L, -1) == LUA_TSTRING)
    s = lwc_arena_str(L, a, -1);
  else if (!lua_isnil(L, -1) && !(was_false && *was_false))
    luaL_error(L, "wskit: option %s must be a string", field);
  lua_pop(L, 1);
  return s;
}

/* t.field as a list of strings (one string counts as a list of one). */
static void optlist(lua_State *L, int idx, const char *field, lwc_arena_t *a,
                    const char *const **out, size_t *n) {
  lua_getfield(L, idx, field);
  int t = lua_type(L, -1);
  if (t == LUA_TSTRING) {
    const char **arr = lwc_arena_alloc(L, a, sizeof *arr);
    arr[0] = lwc_arena_str(L, a, -1);
    *out = arr;
    *n = 1;
  } else if (t == LUA_TTABLE) {
    size_t len = lwc_rawlen(L, -1);
    const char **arr = lwc_arena_alloc(L, a, (len ? len : 1) * sizeof *arr);
    for (size_t i = 0; i < len; i++) {
      lua_rawgeti(L, -1, (int)i + 1);
      if (lua_type(L, -1) == LUA_TLIGHTUSERDATA && !lua_touserdata(L, -1) &&
          !strcmp(field, "origins"))
        arr[i] = NULL; /* wskit.null: requests without Origin are admitted */
      else if (lua_type(L, -1) != LUA_TSTRING)
        luaL_error(L, "wskit: option %s must list strings", field);
      else
        arr[i] = lwc_arena_str(L, a, -1);
      lua_pop(L, 1);
    }
    *out = len ? arr : NULL;
    *n = len;
  } else if (t != LUA_TNIL) {
    luaL_error(L, "wskit: option %s must be a string or a list of strings", field);
  }
  lua_pop(L, 1);
}

/* A non-negative number; nil keeps dflt; false gives 0 ("off"). */
static lua_Number optnum(lua_State *L, int idx, const char *field, lua_Number dflt) {
  lua_Number v = dflt;
  lua_getfield(L, idx, field);
  int t = lua_type(L, -1);
  if (t == LUA_TNUMBER)
    v = lua_tonumber(L, -1);
  else if (t == LUA_TBOOLEAN && !lua_toboolean(L, -1))
    v = 0;
  else if (t != LUA_TNIL)
    luaL_error(L, "wskit: option %s must be a number (or false)", field);
  lua_pop(L, 1);
  if (!(v >= 0)) luaL_error(L, "wskit: option %s must not be negative", field);
  return v;
}

static size_t optsize(lua_State *L, int idx, const char *field, size_t dflt) {
  return (size_t)optnum(L, idx, field, (lua_Number)dflt);
}

/* seconds -> ms, capped at what a uint32_t holds */
static uint32_t optms(lua_State *L, int idx, const char *field, uint32_t dflt_ms) {
  lua_Number s = optnum(L, idx, field, dflt_ms / 1000.0);
  lua_Number ms = s * 1000.0 + 0.5;
  if (s > 0 && ms < 1) ms = 1;
  return ms > 4294967295.0 ? 4294967295u : (uint32_t)ms;
}

static int optbool(lua_State *L, int idx, const char *field, int dflt) {
  lua_getfield(L, idx, field);
  int v = lua_isnil(L, -1) ? dflt : lua_toboolean(L, -1);
  lua_pop(L, 1);
  return v;
}

void lwc_headers_read(lua_State *L, int idx, lwc_arena_t *a, wsk_http_header_t **out, size_t *n) {
  *out = NULL;
  *n = 0;
  if (lua_isnoneornil(L, idx)) return;
  if (lua_type(L, idx) != LUA_TTABLE) luaL_error(L, "wskit: headers must be a table");
  if (idx < 0) idx = lua_gettop(L) + idx + 1;
  size_t count = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    count++;
    lua_pop(L, 1);
  }
  if (!count) return;
  wsk_http_header_t *h = lwc_arena_alloc(L, a, count * sizeof *h);
  size_t i = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    if (lua_type(L, -2) == LUA_TNUMBER) { /* "Name: value" */
      if (lua_type(L, -1) != LUA_TSTRING) luaL_error(L, "wskit: bad header entry");
      char *line = (char *)lwc_arena_str(L, a, -1);
      char *colon = strchr(line, ':');
      if (!colon) luaL_error(L, "wskit: header \"%s\" has no colon", line);
      *colon = '\0';
      const char *v = colon + 1;
      while (*v == ' ' || *v == '\t') v++;
      h[i].name = line;
      h[i].value = v;
    } else {
      if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
        luaL_error(L, "wskit: headers map names to string values");
      h[i].value = lwc_arena_str(L, a, -1);
      lua_pushvalue(L, -2); /* a copy: tolstring on the key itself would confuse next() */
      h[i].name = lwc_arena_str(L, a, -1);
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
  lua_Number v = optnum(L, idx, field, 0);
  if (v != 0 && (v < 8 || v > 15)) luaL_error(L, "wskit: %s must be 8..15", field);
  return (int)v;
}

/* compression = "deflate" (default) | true | false | { deflate parameters } */
static void deflate_read(lua_State *L, int idx, wsk_deflate_opts_t *d) {
  lua_getfield(L, idx, "compression");
  int t = lua_type(L, -1);
  if (t == LUA_TBOOLEAN) {
    d->enabled = lua_toboolean(L, -1);
  } else if (t == LUA_TSTRING) {
    if (strcmp(lua_tostring(L, -1), "deflate") != 0)
      luaL_error(L, "wskit: compression must be \"deflate\", false or a table");
    d->enabled = 1;
  } else if (t == LUA_TTABLE) {
    int z = lua_gettop(L);
    d->enabled = optbool(L, z, "enabled", 1);
    d->server_no_context_takeover = optbool(L, z, "server_no_context_takeover", 0);
    d->client_no_context_takeover = optbool(L, z, "client_no_context_takeover", 0);
    d->server_max_window_bits = window_bits(L, z, "server_max_window_bits");
    d->client_max_window_bits = window_bits(L, z, "client_max_window_bits");
    d->level = (int)optnum(L, z, "level", d->level);
    d->mem_level = (int)optnum(L, z, "mem_level", d->mem_level);
    d->threshold = optsize(L, z, "threshold", d->threshold);
  } else if (t != LUA_TNIL) {
    luaL_error(L, "wskit: compression must be \"deflate\", false or a table");
  }
  lua_pop(L, 1);
}

/* write_limit = high | { high, low } */
static void write_limit_read(lua_State *L, int idx, wsk_conn_opts_t *o, size_t *low) {
  lua_getfield(L, idx, "write_limit");
  if (lua_istable(L, -1)) {
    lua_rawgeti(L, -1, 1);
    lua_rawgeti(L, -2, 2);
    if (!lua_isnumber(L, -2) || !lua_isnumber(L, -1))
      luaL_error(L, "wskit: write_limit must be a number or { high, low }");
    o->write_limit = (size_t)lua_tonumber(L, -2);
    *low = (size_t)lua_tonumber(L, -1);
    lua_pop(L, 2);
  } else {
    o->write_limit = optsize(L, idx, "write_limit", o->write_limit);
  }
  lua_pop(L, 1);
}

static void conn_read(lua_State *L, int idx, wsk_conn_opts_t *o, size_t *low) {
  o->max_message_size = optsize(L, idx, "max_size", o->max_message_size);
  o->max_frame_size = optsize(L, idx, "max_frame_size", o->max_frame_size);
  o->max_fragments = optsize(L, idx, "max_fragments", o->max_fragments);
  o->http.max_line = optsize(L, idx, "max_line", o->http.max_line);
  o->http.max_head = optsize(L, idx, "max_head", o->http.max_head);
  o->http.max_headers = optsize(L, idx, "max_headers", o->http.max_headers);
  write_limit_read(L, idx, o, low);
  o->open_timeout_ms = optms(L, idx, "open_timeout", o->open_timeout_ms);
  o->ping_interval_ms = optms(L, idx, "ping_interval", o->ping_interval_ms);
  o->ping_timeout_ms = optms(L, idx, "ping_timeout", o->ping_timeout_ms);
  o->close_timeout_ms = optms(L, idx, "close_timeout", o->close_timeout_ms);
}

/* name = "a" | "b" | ... -> its index in names (nil: dflt) */
static int optenum(lua_State *L, int idx, const char *field, const char *const *names, int dflt) {
  lua_getfield(L, idx, field);
  int v = dflt;
  if (!lua_isnil(L, -1)) {
    const char *k = lua_tostring(L, -1);
    for (v = 0; names[v] && !(k && strcmp(k, names[v]) == 0); v++) {
    }
    if (!names[v]) luaL_error(L, "wskit: option %s: unknown value %s", field, k ? k : "?");
  }
  lua_pop(L, 1);
  return v;
}

/* Who may connect and how much they may send (docs/auth.md) */
static void guard_read(lua_State *L, int idx, wsk_uv_server_opts_t *o, lwc_arena_t *a) {
  static const char *const rate_policies[] = {"error", "drop", "close", NULL};
  static const char *const ip_policies[] = {"reject", "close", NULL};
  wsk_server_hs_opts_t *s = &o->conn.server;
  optlist(L, idx, "hosts", a, &s->hosts, &s->nhosts);
  o->conn.auth_timeout_ms = optms(L, idx, "auth_timeout", o->conn.auth_timeout_ms);
  o->conn.rate = optnum(L, idx, "message_rate", 0);
  o->conn.rate_burst = optnum(L, idx, "message_burst", 0);
  o->conn.rate_policy = optenum(L, idx, "rate_policy", rate_policies, WSK_RATE_ERROR);
  o->max_connections_per_ip = optsize(L, idx, "max_connections_per_ip", 0);
  o->ip_limit_policy = optenum(L, idx, "ip_limit_policy", ip_policies, WSK_UV_IP_REJECT);
}

/* Channels, their history, the Redis backplane and SSE (docs/lua.md) */
static void channels_read(lua_State *L, int idx, wsk_uv_server_opts_t *o, lwc_arena_t *a) {
  o->channels_path = optstr(L, idx, "channels_path", a, NULL);
  o->client_publish = optbool(L, idx, "client_publish", o->client_publish);
  o->history_size = optsize(L, idx, "history_size", o->history_size);
  o->history_ttl_ms = optms(L, idx, "history_ttl", o->history_ttl_ms);
  o->backplane = optstr(L, idx, "backplane", a, NULL);
  o->backplane_prefix = optstr(L, idx, "backplane_prefix", a, NULL);
  o->sse_path = optstr(L, idx, "sse_path", a, NULL);
  o->sse_heartbeat_ms = optms(L, idx, "sse_heartbeat", o->sse_heartbeat_ms);
  o->sse_retry_ms = optms(L, idx, "sse_retry", o->sse_retry_ms);
}

void lwc_server_opts_read(lua_State *L, int idx, wsk_uv_server_opts_t *o, lwc_arena_t *a) {
  luaL_checktype(L, idx, LUA_TTABLE);
  wsk_uv_server_opts_init(o);
  conn_read(L, idx, &o->conn, &o->low_water);
  wsk_server_hs_opts_t *s = &o->conn.server;
  optlist(L, idx, "subprotocols", a, &s->subprotocols, &s->nsubprotocols);
  optlist(L, idx, "origins", a, &s->origins, &s->norigins);
  deflate_read(L, idx, &s->deflate);
  o->backlog = (int)optnum(L, idx, "backlog", o->backlog);
  o->reuseport = optbool(L, idx, "reuseport", 0);
  o->ipv6only = optbool(L, idx, "ipv6only", 0);
  o->tls_cert_file = optstr(L, idx, "tls_cert_file", a, NULL);
  o->tls_key_file = optstr(L, idx, "tls_key_file", a, NULL);
  o->tls_client_ca_file = optstr(L, idx, "tls_client_ca_file", a, NULL);
  if (o->tls_cert_file && !o->tls_key_file) o->tls_key_file = o->tls_cert_file;
  guard_read(L, idx, o, a);
  channels_read(L, idx, o, a);
}

static void backoff_read(lua_State *L, int idx, wsk_backoff_opts_t *b) {
  lua_getfield(L, idx, "backoff");
  if (lua_istable(L, -1)) {
    int z = lua_gettop(L);
    b->initial_delay_ms = optms(L, z, "initial_delay", b->initial_delay_ms);
    b->min_delay_ms = optms(L, z, "min_delay", b->min_delay_ms);
    b->factor = optnum(L, z, "factor", b->factor);
    b->max_delay_ms = optms(L, z, "max_delay", b->max_delay_ms);
    b->jitter = optnum(L, z, "jitter", b->jitter);
    b->max_attempts = (uint32_t)optnum(L, z, "max_attempts", b->max_attempts);
    b->reset_after_ms = optms(L, z, "reset_after", b->reset_after_ms);
  } else if (!lua_isnil(L, -1)) {
    luaL_error(L, "wskit: backoff must be a table");
  }
  lua_pop(L, 1);
}

void lwc_client_opts_read(lua_State *L, int idx, wsk_uv_client_opts_t *o, lwc_arena_t *a) {
  luaL_checktype(L, idx, LUA_TTABLE);
  wsk_uv_client_opts_init(o);
  conn_read(L, idx, &o->conn, &o->low_water);
  wsk_client_hs_opts_t *c = &o->conn.client;
  optlist(L, idx, "subprotocols", a, &c->subprotocols, &c->nsubprotocols);
  c->origin = optstr(L, idx, "origin", a, NULL);
  int no_ua;
  c->user_agent = optstr(L, idx, "user_agent", a, &no_ua);
  if (no_ua) c->user_agent = "";
  c->authorization = optstr(L, idx, "authorization", a, NULL);
  wsk_http_header_t *h;
  lua_getfield(L, idx, "headers");
  lwc_headers_read(L, -1, a, &h, &c->nheaders);
  c->headers = h;
  lua_pop(L, 1);
  deflate_read(L, idx, &c->deflate);
  o->reconnect = optbool(L, idx, "reconnect", 0);
  backoff_read(L, idx, &o->backoff);
  o->offline_queue_bytes = optsize(L, idx, "offline_queue", 0);
  o->tls_ca_file = optstr(L, idx, "tls_ca_file", a, NULL);
  o->tls_insecure = optbool(L, idx, "tls_insecure", 0);
  o->tls_cert_file = optstr(L, idx, "tls_cert_file", a, NULL);
  o->tls_key_file = optstr(L, idx, "tls_key_file", a, NULL);
  if (o->tls_cert_file && !o->tls_key_file) o->tls_key_file = o->tls_cert_file;
  int no_proxy;
  o->proxy = optstr(L, idx, "proxy", a, &no_proxy);
  if (no_proxy) o->proxy = ""; /* false: never a proxy; nil: from the environment */
}
