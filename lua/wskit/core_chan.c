/* Channels beyond one connection, auth hooks and limits, for Lua: the
 * server's hub publish (local or through the Redis backplane), the
 * client's side of the JSON channel protocol (subscribe / publish and
 * resume, all done by the driver), the authorize / first_message_auth /
 * log hooks, and per-connection user data and counts.
 * Policy stays in the driver and the core; this file only converts. */
#include <stdlib.h>
#include <string.h>

#include "core_lua.h"

static const char *kind_name(wsk_payload_kind_t k) {
  return k == WSK_PAYLOAD_BINARY ? "binary" : k == WSK_PAYLOAD_JSON ? "json" : "text";
}

/* "text" (default), "binary" or "json" */
static wsk_payload_kind_t check_kind(lua_State *L, int idx) {
  static const char *const names[] = {"text", "binary", "json", NULL};
  static const wsk_payload_kind_t kinds[] = {WSK_PAYLOAD_TEXT, WSK_PAYLOAD_BINARY,
                                             WSK_PAYLOAD_JSON};
  return kinds[luaL_checkoption(L, idx, "text", names)];
}

/* Call the function below nargs arguments on ctx->L for one result;
 * leaves that result on the stack (nil after an error, reported). */
static void call1(lwc_ctx_t *ctx, int nargs, lwc_conn_t *u) {
  lua_State *L = ctx->L;
  int h = lwc_msgh(L, nargs);
  if (lua_pcall(L, nargs, 1, h) != 0) {
    lwc_report(ctx, u);
    lua_pushnil(L);
  }
  if (h != 1) lua_remove(L, h);
}

/* ---- server hooks ---- */

/* authorize(ws, action, channel) -> truthy: a synchronous Lua call (it
 * runs inside the driver's dispatch of a protocol message). An error
 * denies. */
static int h_authorize(wsk_uv_conn_t *c, const char *action, const char *ch, size_t len) {
  lwc_owner_t *o = lwc_owner_of(c);
  if (!o || !lwc_push_cb(o, LWC_ON_AUTHORIZE)) return 1;
  lua_State *L = o->ctx->L;
  lwc_conn_t *u = lwc_conn_push(o, L, c);
  lua_pushstring(L, action);
  lua_pushlstring(L, ch, len);
  call1(o->ctx, 3, u);
  int ok = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return ok;
}

/* The Lua side answers true (pass), false (close 1008) or nil: it will
 * call ws:_authenticate(ok) later (a hook that waits). */
static int h_first_message_auth(wsk_uv_conn_t *c, const wsk_uv_message_t *m) {
  lwc_owner_t *o = lwc_owner_of(c);
  if (!o || !lwc_push_cb(o, LWC_ON_FIRST_MESSAGE_AUTH)) return 0;
  lua_State *L = o->ctx->L;
  lwc_conn_t *u = lwc_conn_push(o, L, c);
  lua_pushlstring(L, (const char *)m->data, m->len);
  if (m->opcode == WSK_OP_BINARY)
    lua_pushliteral(L, "binary");
  else
    lua_pushliteral(L, "text");
  call1(o->ctx, 3, u);
  int r = lua_isnil(L, -1) ? -1 : lua_toboolean(L, -1);
  lua_pop(L, 1);
  return r;
}

static void h_log(wsk_uv_server_t *s, const char *line) {
  lwc_owner_t *o = wsk_uv_server_data(s);
  if (!o || !lwc_push_cb(o, LWC_ON_LOG)) return;
  lua_pushstring(o->ctx->L, line);
  lwc_pcall(o->ctx, 1, NULL);
}

void lwc_server_hooks(lwc_owner_t *o, wsk_uv_server_opts_t *so) {
  if (o->refs[LWC_ON_AUTHORIZE] != LUA_NOREF) so->authorize = h_authorize;
  if (o->refs[LWC_ON_FIRST_MESSAGE_AUTH] != LUA_NOREF)
    so->first_message_auth = h_first_message_auth;
  if (o->refs[LWC_ON_LOG] != LUA_NOREF) so->log = h_log;
}

/* ---- client channel callbacks ---- */

static void setlstr(lua_State *L, const char *k, const char *v, size_t n) {
  lua_pushlstring(L, v ? v : "", v ? n : 0);
  lua_setfield(L, -2, k);
}

/* counts and seqs (< 2^53): integers where Lua has them */
static void pushcount(lua_State *L, uint64_t v) {
#if LUA_VERSION_NUM >= 503
  lua_pushinteger(L, (lua_Integer)v);
#else
  lua_pushnumber(L, (lua_Number)v);
#endif
}

static void setnum(lua_State *L, const char *k, uint64_t v) {
  pushcount(L, v);
  lua_setfield(L, -2, k);
}

static void cb_channel_message(wsk_uv_conn_t *c, const wsk_uv_channel_message_t *m) {
  lwc_owner_t *o = lwc_owner_of(c);
  if (!lwc_push_cb(o, LWC_ON_CHANNEL_MESSAGE)) return;
  lua_State *L = o->ctx->L;
  lwc_conn_t *u = lwc_conn_push(o, L, c);
  lua_createtable(L, 0, 5);
  setlstr(L, "channel", m->channel, m->channel_len);
  setnum(L, "seq", m->seq);
  setlstr(L, "epoch", m->epoch, m->epoch_len);
  lua_pushstring(L, kind_name(m->kind));
  lua_setfield(L, -2, "kind");
  setlstr(L, "data", (const char *)m->data, m->len);
  if (!lwc_pcall(o->ctx, 2, u)) wsk_uv_conn_close(c, WSK_CLOSE_INTERNAL_ERROR, "internal error");
}

static void cb_gap(wsk_uv_conn_t *c, const wsk_uv_gap_t *g) {
  lwc_owner_t *o = lwc_owner_of(c);
  if (!lwc_push_cb(o, LWC_ON_GAP)) return;
  lua_State *L = o->ctx->L;
  lwc_conn_t *u = lwc_conn_push(o, L, c);
  lua_createtable(L, 0, 5);
  setlstr(L, "channel", g->channel, g->channel_len);
  setlstr(L, "epoch", g->epoch, g->epoch_len);
  setnum(L, "from", g->from);
  setnum(L, "to", g->to);
  setlstr(L, "reason", g->reason, g->reason_len);
  if (!lwc_pcall(o->ctx, 2, u)) wsk_uv_conn_close(c, WSK_CLOSE_INTERNAL_ERROR, "internal error");
}

static void cb_channel_reply(wsk_uv_conn_t *c, const wsk_chan_frame_t *f) {
  static const char *const types[] = {"?", "subscribe", "unsubscribe", "publish", "subscribed",
                                      "message", "gap", "unsubscribed", "published", "error"};
  lwc_owner_t *o = lwc_owner_of(c);
  if (!lwc_push_cb(o, LWC_ON_CHANNEL_REPLY)) return;
  lua_State *L = o->ctx->L;
  lwc_conn_t *u = lwc_conn_push(o, L, c);
  lua_createtable(L, 0, 6);
  lua_pushstring(L, f->type <= WSK_CHAN_ERROR ? types[f->type] : "?");
  lua_setfield(L, -2, "type");
  if (f->channel) setlstr(L, "channel", f->channel, f->channel_len);
  if (f->type == WSK_CHAN_SUBSCRIBED || f->type == WSK_CHAN_PUBLISHED) setnum(L, "seq", f->seq);
  if (f->epoch) setlstr(L, "epoch", f->epoch, f->epoch_len);
  if (f->type == WSK_CHAN_SUBSCRIBED) {
    lua_pushboolean(L, f->recovered);
    lua_setfield(L, -2, "recovered");
  }
  if (f->type == WSK_CHAN_GAP) { /* no on_gap: the driver hands the gap here */
    setnum(L, "from", f->from);
    setnum(L, "to", f->to);
    if (f->reason) setlstr(L, "reason", f->reason, f->reason_len);
  }
  if (f->code) setlstr(L, "code", f->code, f->code_len);
  if (f->message) setlstr(L, "message", f->message, f->message_len);
  if (!lwc_pcall(o->ctx, 2, u)) wsk_uv_conn_close(c, WSK_CLOSE_INTERNAL_ERROR, "internal error");
}

void lwc_chan_set_callbacks(lwc_owner_t *o) {
  wsk_uv_callbacks_t *cb = &o->cbs;
  if (o->refs[LWC_ON_CHANNEL_MESSAGE] != LUA_NOREF) cb->on_channel_message = cb_channel_message;
  if (o->refs[LWC_ON_GAP] != LUA_NOREF) cb->on_gap = cb_gap;
  if (o->refs[LWC_ON_CHANNEL_REPLY] != LUA_NOREF) cb->on_channel_reply = cb_channel_reply;
}

/* ---- connection methods ---- */

/* _authenticate(ok[, reason]): the judgement of a hook that waited */
static int c_authenticate(lua_State *L) {
  wsk_uv_conn_t *c = lwc_conn_live(L, 1);
  int ok = lua_toboolean(L, 2);
  const char *reason = luaL_optstring(L, 3, NULL);
  if (!c) return lwc_fail(L, WSK_ECLOSED, "the connection is closed");
  int e = wsk_uv_conn_authenticate(c, ok, reason);
  if (e < 0) return lwc_fail(L, e, NULL);
  lua_pushboolean(L, 1);
  return 1;
}

/* stats() -> { messages_in, messages_out, bytes_in, bytes_out, rate_limited } */
static int c_stats(lua_State *L) {
  wsk_uv_conn_t *c = lwc_conn_live(L, 1);
  wsk_conn_stats_t st;
  memset(&st, 0, sizeof st);
  if (c) wsk_uv_conn_stats(c, &st);
  lua_createtable(L, 0, 5);
  setnum(L, "messages_in", st.messages_in);
  setnum(L, "messages_out", st.messages_out);
  setnum(L, "bytes_in", st.bytes_in);
  setnum(L, "bytes_out", st.bytes_out);
  setnum(L, "rate_limited", st.rate_limited);
  return 1;
}

/* ip() -> the peer's address as text ("" for Unix sockets), nil once closed */
static int c_ip(lua_State *L) {
  wsk_uv_conn_t *c = lwc_conn_live(L, 1);
  if (!c) return 0;
  lua_pushstring(L, wsk_uv_conn_ip(c));
  return 1;
}

/* kind() -> "websocket", "channels" (served by the server's hub) or "sse" */
static int c_kind(lua_State *L) {
  wsk_uv_conn_t *c = lwc_conn_live(L, 1);
  int k = c ? wsk_uv_conn_kind(c) : 0;
  lua_pushstring(L, k == 1 ? "sse" : k == 2 ? "channels" : "websocket");
  return 1;
}

/* __newindex: only ws.user may be set (user data of auth hooks) */
static int c_newindex(lua_State *L) {
  size_t n;
  const char *k = lua_tolstring(L, 2, &n);
  if (!k || n != 4 || memcmp(k, "user", 4) != 0)
    return luaL_error(L, "wskit: a connection has no field %s (only ws.user may be set)",
                      k ? k : luaL_typename(L, 2));
  lua_getfield(L, lua_upvalueindex(1), "_state");
  lua_pushvalue(L, 1);
  lua_call(L, 1, 1);
  lua_pushvalue(L, 3);
  lua_setfield(L, -2, "user");
  return 0;
}

/* ---- server methods ---- */

#define SERVER_LIVE(L)                                        \
  lwc_server_t *sv_ = luaL_checkudata(L, 1, LWC_SERVER_MT);   \
  wsk_uv_server_t *s = sv_->s;                                \
  if (!s) return lwc_fail(L, WSK_ECLOSED, "the server is closed")

typedef struct pub_ud {
  lwc_ctx_t *ctx;
  int ref;
} pub_ud_t;

static void publish_done(wsk_uv_server_t *s, void *ud, int err, uint64_t seq) {
  (void)s;
  pub_ud_t *p = ud;
  lwc_ctx_t *ctx = p->ctx;
  if (!ctx->closing) {
    lua_State *L = ctx->L;
    lua_checkstack(L, 4);
    lua_rawgeti(L, LUA_REGISTRYINDEX, p->ref);
    luaL_unref(L, LUA_REGISTRYINDEX, p->ref);
    if (err) {
      lua_pushnil(L);
      lua_pushfstring(L, "%s: %s", wsk_err_name(err),
                      err == WSK_EIO ? "the backplane is unavailable" : wsk_strerror(err));
    } else {
      pushcount(L, seq);
      lua_pushnil(L);
    }
    lwc_pcall(ctx, 2, NULL);
  }
  free(p);
}

/* publish_message(channel, data, kind[, fn]) -> true | nil, err. fn(seq)
 * or fn(nil, err) runs once the message is numbered (at once without a
 * backplane; later, from Redis, with one). */
static int s_publish_message(lua_State *L) {
  SERVER_LIVE(L);
  size_t clen, len;
  const char *ch = luaL_checklstring(L, 2, &clen);
  const char *data = luaL_checklstring(L, 3, &len);
  wsk_payload_kind_t kind = check_kind(L, 4);
  pub_ud_t *p = NULL;
  if (!lua_isnoneornil(L, 5)) {
    luaL_checktype(L, 5, LUA_TFUNCTION);
    p = malloc(sizeof *p);
    if (!p) return lwc_fail(L, WSK_ENOMEM, NULL);
    p->ctx = sv_->o.ctx;
    lua_pushvalue(L, 5);
    p->ref = luaL_ref(L, LUA_REGISTRYINDEX);
  }
  int e = wsk_uv_server_publish_message(s, ch, clen, kind, data, len, p ? publish_done : NULL, p);
  if (e < 0) {
    if (p) {
      luaL_unref(L, LUA_REGISTRYINDEX, p->ref);
      free(p);
    }
    return lwc_fail(L, e, e == WSK_EIO ? "the backplane is unavailable" : NULL);
  }
  lua_pushboolean(L, 1);
  return 1;
}

static int s_ip_count(lua_State *L) {
  SERVER_LIVE(L);
  pushcount(L, wsk_uv_server_ip_count(s, luaL_checkstring(L, 2)));
  return 1;
}

static int s_backplane_up(lua_State *L) {
  SERVER_LIVE(L);
  lua_pushboolean(L, wsk_uv_server_backplane_up(s));
  return 1;
}

/* ---- client methods ---- */

#define CLIENT_LIVE(L)                                       \
  wsk_uv_client_t *cl = ((lwc_client_t *)luaL_checkudata(L, 1, LWC_CLIENT_MT))->cl; \
  if (!cl) return lwc_fail(L, WSK_ECLOSED, "the client is closed")

static int ret(lua_State *L, int e) {
  if (e < 0) return lwc_fail(L, e, e == WSK_ECLOSED ? "not connected" : NULL);
  lua_pushboolean(L, 1);
  return 1;
}

/* subscribe(channel): sent now when open, else on the next open; kept
 * across reconnects (resumed from the last seq seen) */
static int k_subscribe(lua_State *L) {
  size_t n;
  const char *ch = luaL_checklstring(L, 2, &n);
  CLIENT_LIVE(L);
  return ret(L, wsk_uv_client_subscribe(cl, ch, n));
}

static int k_unsubscribe(lua_State *L) {
  size_t n;
  const char *ch = luaL_checklstring(L, 2, &n);
  CLIENT_LIVE(L);
  return ret(L, wsk_uv_client_unsubscribe(cl, ch, n));
}

/* _publish(channel, data, kind) */
static int k_publish(lua_State *L) {
  size_t n, len;
  const char *ch = luaL_checklstring(L, 2, &n);
  const char *data = luaL_checklstring(L, 3, &len);
  wsk_payload_kind_t kind = check_kind(L, 4);
  CLIENT_LIVE(L);
  return ret(L, wsk_uv_client_publish(cl, ch, n, kind, data, len));
}

/* position(channel) -> seq, epoch (nil when not subscribed) */
static int k_position(lua_State *L) {
  size_t n, elen;
  const char *ch = luaL_checklstring(L, 2, &n);
  CLIENT_LIVE(L);
  uint64_t seq;
  const char *epoch;
  if (!wsk_uv_client_position(cl, ch, n, &seq, &epoch, &elen)) return 0;
  pushcount(L, seq);
  lua_pushlstring(L, epoch ? epoch : "", epoch ? elen : 0);
  return 2;
}

/* ---- credentials in a handshake request (the driver's readers) ---- */

/* request_query(query, key) -> the percent-decoded value or nil */
static int m_request_query(lua_State *L) {
  size_t n;
  const char *q = luaL_checklstring(L, 1, &n);
  const char *key = luaL_checkstring(L, 2);
  wsk_uv_request_t r;
  memset(&r, 0, sizeof r);
  r.query = q;
  r.query_len = n;
  char *out = malloc(n + 1);
  if (!out) return luaL_error(L, "wskit: out of memory");
  long len = wsk_uv_request_query(&r, key, out, n + 1);
  if (len >= 0) lua_pushlstring(L, out, (size_t)len);
  free(out);
  return len >= 0 ? 1 : 0;
}

/* request_cookie(cookie_header, name) -> the cookie's value or nil */
static int m_request_cookie(lua_State *L) {
  size_t n;
  const char *v = luaL_checklstring(L, 1, &n);
  const char *name = luaL_checkstring(L, 2);
  wsk_http_header_t h = {"Cookie", 6, v, n};
  wsk_http_head_t head;
  memset(&head, 0, sizeof head);
  head.headers = &h;
  head.nheaders = 1;
  wsk_uv_request_t r;
  memset(&r, 0, sizeof r);
  r.head = &head;
  char *out = malloc(n + 1);
  if (!out) return luaL_error(L, "wskit: out of memory");
  long len = wsk_uv_request_cookie(&r, name, out, n + 1);
  if (len >= 0) lua_pushlstring(L, out, (size_t)len);
  free(out);
  return len >= 0 ? 1 : 0;
}

static void add_methods(lua_State *L, const char *mt, const luaL_Reg *l) {
  luaL_getmetatable(L, mt);
  lua_getfield(L, -1, "__index");
  lwc_setfuncs(L, l);
  lua_pop(L, 2);
}

void lwc_chan_register(lua_State *L) {
  static const luaL_Reg conn[] = {{"_authenticate", c_authenticate},
                                  {"stats", c_stats},
                                  {"ip", c_ip},
                                  {"kind", c_kind},
                                  {NULL, NULL}};
  static const luaL_Reg server[] = {{"publish_message", s_publish_message},
                                    {"ip_count", s_ip_count},
                                    {"backplane_up", s_backplane_up},
                                    {NULL, NULL}};
  static const luaL_Reg client[] = {{"subscribe", k_subscribe},
                                    {"unsubscribe", k_unsubscribe},
                                    {"_publish", k_publish},
                                    {"position", k_position},
                                    {NULL, NULL}};
  lua_pushcfunction(L, m_request_query); /* the module table is on top */
  lua_setfield(L, -2, "request_query");
  lua_pushcfunction(L, m_request_cookie);
  lua_setfield(L, -2, "request_cookie");
  add_methods(L, LWC_CONN_MT, conn);
  add_methods(L, LWC_SERVER_MT, server);
  add_methods(L, LWC_CLIENT_MT, client);
  /* conn: ws.user may be set; conn.lua reads it in a Lua __index
   * (LuaJIT compiles that one, not a C function) */
  luaL_getmetatable(L, LWC_CONN_MT);
  lua_getfield(L, -1, "__index");
  lua_pushcclosure(L, c_newindex, 1);
  lua_setfield(L, -2, "__newindex");
  lua_setfield(L, -2, "conn_mt"); /* the module table is below it */
}
